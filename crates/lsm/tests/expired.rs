//! Compaction that follows the layer above's clock: fully expired files dropped whole, unread,
//! and single-file tombstone compactions, driven by `PropertiesCollectorFactory::file_times`
//! and `CompactionFilter::purge_horizon`.
//!
//! The layer here is a toy: a value is `timestamp i64 BE | deletion time i64 BE` (deletion
//! time `i64::MAX` for a live value), newer timestamps win (a merge operator), and a value
//! whose deletion time is below the horizon is dropped by the filter.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ilion_lsm::vfs::MemVfs;
use ilion_lsm::{
    CompactionConfig, CompactionFilter, Db, Decision, EntryKind, FileTimes, FilterContext,
    MergeOperator, PropertiesCollector, PropertiesCollectorFactory, PurgeHorizon,
    TombstoneCompaction, Tree, TreeOptions,
};

fn value(ts: i64, deletion: i64) -> Vec<u8> {
    let mut v = ts.to_be_bytes().to_vec();
    v.extend_from_slice(&deletion.to_be_bytes());
    v
}

fn parse(v: &[u8]) -> Option<(i64, i64)> {
    let ts = i64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let del = i64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    Some((ts, del))
}

/// Newest timestamp wins.
struct Newest;

impl MergeOperator for Newest {
    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Vec<u8> {
        existing
            .into_iter()
            .chain(operands.iter().copied())
            .max_by_key(|v| parse(v).map_or(i64::MIN, |(ts, _)| ts))
            .unwrap_or_default()
            .to_vec()
    }
    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        Some(self.full_merge(key, None, operands))
    }
}

/// Summary: `min ts | max ts | max deletion | entries | droppable-before-horizon-bins`, kept
/// as a `FileTimes` with one histogram bin per distinct deletion time.
struct Times;

#[derive(Default)]
struct TimesCollector(Vec<(i64, i64)>);

impl PropertiesCollectorFactory for Times {
    fn collector(&self) -> Box<dyn PropertiesCollector> {
        Box::new(TimesCollector::default())
    }
    fn file_times(&self, p: &[u8]) -> Option<FileTimes> {
        let pairs: Vec<(i64, i64)> = p.chunks_exact(16).filter_map(parse).collect();
        let mut bins: Vec<(i64, u64)> = Vec::new();
        let mut dels: Vec<i64> = pairs
            .iter()
            .map(|p| p.1)
            .filter(|d| *d != i64::MAX)
            .collect();
        dels.sort_unstable();
        for d in dels {
            match bins.last_mut() {
                Some((b, n)) if *b == d => *n += 1,
                _ => bins.push((d, 1)),
            }
        }
        Some(FileTimes {
            min_timestamp: pairs.iter().map(|p| p.0).min().unwrap_or(i64::MAX),
            max_timestamp: pairs.iter().map(|p| p.0).max().unwrap_or(i64::MIN),
            max_deletion_time: pairs.iter().map(|p| p.1).max().unwrap_or(i64::MIN),
            entries: pairs.len() as u64,
            deletion_times: bins,
        })
    }
}

impl PropertiesCollector for TimesCollector {
    fn add(&mut self, _key: &[u8], kind: EntryKind, v: &[u8]) {
        match (kind, parse(v)) {
            (EntryKind::Value | EntryKind::MergeOperand, Some(p)) => self.0.push(p),
            _ => self.0.push((i64::MIN, i64::MAX)),
        }
    }
    fn finish(&mut self) -> Vec<u8> {
        self.0.iter().flat_map(|(t, d)| value(*t, *d)).collect()
    }
}

/// Drops values deleted before the horizon; reports the horizon.
#[derive(Default)]
struct Horizon(AtomicI64);

impl CompactionFilter for Horizon {
    fn filter(&self, _ctx: &FilterContext, _key: &[u8], v: &[u8]) -> Decision {
        match parse(v) {
            Some((_, del)) if del < self.0.load(Ordering::SeqCst) => Decision::Drop,
            _ => Decision::Keep,
        }
    }
    fn filter_merge_operand(&self, ctx: &FilterContext, key: &[u8], v: &[u8]) -> Decision {
        self.filter(ctx, key, v)
    }
    fn purge_horizon(&self, _tree: &str, start: &[u8], end: &[u8]) -> Option<PurgeHorizon> {
        Some(PurgeHorizon {
            before: self.0.load(Ordering::SeqCst),
            scope_start: start.to_vec(),
            scope_end: end.to_vec(),
        })
    }
}

fn open(compaction: CompactionConfig, horizon: &Arc<Horizon>) -> (Db, Tree) {
    let db = Db::builder()
        .default_tree_options(TreeOptions {
            compaction,
            merge_operator: Some(Arc::new(Newest)),
            compaction_filter: Some(horizon.clone()),
            properties_collector: Some(Arc::new(Times)),
            tombstones: TombstoneCompaction {
                interval: Duration::ZERO,
                expired_check_interval: Duration::ZERO,
                ..TombstoneCompaction::default()
            },
            ..TreeOptions::default()
        })
        .open_with_vfs(Arc::new(MemVfs::new()), Path::new("/db"))
        .unwrap();
    let t = db.tree("t").unwrap();
    (db, t)
}

fn l0_files(db: &Db) -> usize {
    db.stats()
        .trees
        .iter()
        .find(|t| t.name == "t")
        .unwrap()
        .levels[0]
        .files
}

fn write(t: &Tree, keys: &[&str], ts: i64, deletion: i64) {
    for k in keys {
        t.merge(k.as_bytes(), &value(ts, deletion)).unwrap();
    }
    t.flush().unwrap();
}

#[test]
fn a_fully_expired_file_is_dropped_whole_and_live_data_stays() {
    let horizon = Arc::new(Horizon::default());
    let (db, t) = open(CompactionConfig::size_tiered(), &horizon);
    write(&t, &["a", "b", "c"], 10, 100);
    write(&t, &["b", "x"], 20, i64::MAX);
    horizon.0.store(50, Ordering::SeqCst);
    t.compact_pending().unwrap();
    assert_eq!(db.stats().expired_files_dropped, 0, "100 is not past 50");
    assert_eq!(l0_files(&db), 2);

    horizon.0.store(101, Ordering::SeqCst);
    t.compact_pending().unwrap();
    assert_eq!(db.stats().expired_files_dropped, 1);
    assert_eq!(l0_files(&db), 1);
    assert_eq!(t.get(b"a").unwrap(), None);
    assert_eq!(t.get(b"b").unwrap(), Some(value(20, i64::MAX)));
    assert_eq!(t.get(b"x").unwrap(), Some(value(20, i64::MAX)));
}

#[test]
fn an_expired_file_whose_deletions_still_shadow_older_data_elsewhere_stays() {
    let horizon = Arc::new(Horizon::default());
    let (db, t) = open(CompactionConfig::size_tiered(), &horizon);
    write(&t, &["a"], 5, i64::MAX);
    write(&t, &["a", "b"], 10, 100);
    horizon.0.store(1_000, Ordering::SeqCst);
    t.compact_pending().unwrap();
    assert_eq!(db.stats().expired_files_dropped, 0);
    assert_eq!(l0_files(&db), 2);
    // The newer deletion still hides the older live value.
    assert_eq!(t.get(b"a").unwrap(), Some(value(10, 100)));
}

#[test]
fn older_data_in_a_memtable_keeps_an_expired_file_until_it_is_gone() {
    let horizon = Arc::new(Horizon::default());
    let (db, t) = open(CompactionConfig::time_window(3_600_000_000), &horizon);
    write(&t, &["a", "c"], 10, 100);
    t.merge(b"b", &value(5, i64::MAX)).unwrap();
    horizon.0.store(1_000, Ordering::SeqCst);
    t.compact_pending().unwrap();
    assert_eq!(
        db.stats().expired_files_dropped,
        0,
        "the memtable holds b at 5"
    );
    t.merge(b"b", &value(6, 200)).unwrap();
    t.flush().unwrap();
    t.compact_pending().unwrap();
    // The flush purged b's old deletion; the a-c file goes now.
    assert_eq!(db.stats().expired_files_dropped, 1);
    assert_eq!(l0_files(&db), 0);
    assert_eq!(t.get(b"b").unwrap(), None);
}

#[test]
fn a_file_with_enough_purgeable_deletions_is_compacted_alone() {
    let horizon = Arc::new(Horizon::default());
    // Thresholds high enough that size-tiered never merges here.
    let stcs = CompactionConfig::SizeTiered {
        min_threshold: 32,
        max_threshold: 32,
        bucket_low: 0.5,
        bucket_high: 1.5,
        min_sstable_size: 1 << 20,
    };
    let (db, t) = open(stcs, &horizon);
    write(&t, &["a", "b"], 10, 100);
    write(&t, &["c", "d", "e"], 10, i64::MAX);
    write(&t, &["f", "g", "h", "i"], 10, i64::MAX);
    t.merge(b"j", &value(10, 100)).unwrap();
    t.flush().unwrap();
    horizon.0.store(150, Ordering::SeqCst);
    // Files a-b and j are fully expired: dropped. Then nothing is worth compacting.
    t.compact_pending().unwrap();
    assert_eq!(db.stats().expired_files_dropped, 2);
    let written = db.stats().compaction_bytes_written;
    assert_eq!(written, 0);

    // 1 of 4 entries purgeable (0.25 > 0.2): rewritten alone, without it.
    write(&t, &["k", "l", "m"], 10, i64::MAX);
    t.merge(b"n", &value(10, 100)).unwrap();
    t.merge(b"k", &value(11, i64::MAX)).unwrap();
    t.merge(b"l", &value(11, i64::MAX)).unwrap();
    t.merge(b"m", &value(11, i64::MAX)).unwrap();
    t.flush().unwrap();
    // Not yet: the newest file meets the k-m file.
    t.compact_pending().unwrap();
    assert_eq!(db.stats().compaction_bytes_written, 0);
    t.compact_range(Some(b"k"), Some(b"n")).unwrap();
    let before = db.stats().compaction_bytes_written;
    assert!(before > 0);
    assert_eq!(t.get(b"n").unwrap(), None, "the major compaction purged n");
    // One file of c-e, f-i, k-n; write one more with a purgeable share and nothing overlapping.
    t.merge(b"p", &value(10, 100)).unwrap();
    t.merge(b"q", &value(10, i64::MAX)).unwrap();
    t.merge(b"r", &value(10, i64::MAX)).unwrap();
    t.flush().unwrap();
    let files = l0_files(&db);
    t.compact_pending().unwrap();
    assert!(
        db.stats().compaction_bytes_written > before,
        "p..r was rewritten"
    );
    assert_eq!(l0_files(&db), files);
    assert_eq!(t.get(b"p").unwrap(), None);
    assert_eq!(t.get(b"q").unwrap(), Some(value(10, i64::MAX)));
    // Its output holds nothing purgeable: nothing more happens.
    let after = db.stats().compaction_bytes_written;
    t.compact_pending().unwrap();
    assert_eq!(db.stats().compaction_bytes_written, after);
}
