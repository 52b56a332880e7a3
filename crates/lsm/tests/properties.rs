//! User properties (a per-file summary from a collector), what compaction filters learn of the
//! files outside a compaction, `Decision::Drop`, and tree options changed while open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ilion_lsm::vfs::MemVfs;
use ilion_lsm::{
    CompactionConfig, CompactionFilter, Db, Decision, EntryKind, Error, FilterContext,
    OutsideSource, PropertiesCollector, PropertiesCollectorFactory, SyncMode, TreeOptions, Vfs,
};
use parking_lot::Mutex;

/// Summary: the entry count and the user keys' first bytes, e.g. `2:ab`.
struct Keys;

struct KeysCollector(Vec<u8>, u32);

impl PropertiesCollectorFactory for Keys {
    fn collector(&self) -> Box<dyn PropertiesCollector> {
        Box::new(KeysCollector(Vec::new(), 0))
    }
}

impl PropertiesCollector for KeysCollector {
    fn add(&mut self, key: &[u8], kind: EntryKind, _value: &[u8]) {
        if kind != EntryKind::RangeDeletion {
            self.1 += 1;
            self.0.extend(key.first());
        }
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut out = format!("{}:", self.1).into_bytes();
        out.extend_from_slice(&self.0);
        out
    }
}

/// Records what `outside` reports for the whole key space, once per key filtered, and decides
/// by a fixed rule.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(Vec<u8>, Vec<OutsideSource>)>>,
    drop_value: Option<Vec<u8>>,
    remove_value: Option<Vec<u8>>,
}

impl CompactionFilter for Recorder {
    fn filter(&self, ctx: &FilterContext, key: &[u8], value: &[u8]) -> Decision {
        let mut outside = ctx.outside(b"", b"\xff");
        outside.sort_by_key(|s| (s.level, s.properties.clone()));
        self.seen.lock().push((key.to_vec(), outside));
        if self.drop_value.as_deref() == Some(value) {
            Decision::Drop
        } else if self.remove_value.as_deref() == Some(value) {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}

fn leveled(l0_trigger: usize, base_level_bytes: u64) -> CompactionConfig {
    CompactionConfig::Leveled {
        l0_trigger,
        level_size_multiplier: 10,
        base_level_bytes,
        target_file_size: 1 << 30,
    }
}

/// Leveled with a trigger no test reaches: only explicit compactions run.
fn manual() -> CompactionConfig {
    leveled(1000, 1 << 30)
}

/// Pushes everything of `t` down to the deepest level, then sets `then` as its strategy.
fn sink(t: &ilion_lsm::Tree, then: CompactionConfig) {
    t.compact_range(None, None).unwrap();
    t.set_options(TreeOptions {
        compaction: leveled(1000, 1),
        ..t.options()
    })
    .unwrap();
    t.compact_pending().unwrap();
    t.set_options(TreeOptions {
        compaction: then,
        ..t.options()
    })
    .unwrap();
}

fn options(filter: Arc<Recorder>) -> TreeOptions {
    TreeOptions {
        compaction: manual(),
        compaction_filter: Some(filter),
        properties_collector: Some(Arc::new(Keys)),
        ..TreeOptions::default()
    }
}

fn open(vfs: &MemVfs, filter: Arc<Recorder>) -> Db {
    Db::builder()
        .sync_mode(SyncMode::Batch)
        .default_tree_options(options(filter))
        .open_with_vfs(Arc::new(vfs.clone()), Path::new("/db"))
        .unwrap()
}

fn table_files(vfs: &MemVfs, dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = vfs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .map(|n| dir.join(n))
        .collect();
    names.sort();
    names
}

#[test]
fn a_files_summary_survives_reopen_and_is_shown_for_files_outside_a_compaction() {
    let vfs = MemVfs::new();
    let rec = Arc::new(Recorder::default());
    let db = open(&vfs, rec.clone());
    let t = db.tree("t").unwrap();
    t.put(b"a1", b"v").unwrap();
    t.put(b"b1", b"v").unwrap();
    t.flush().unwrap();
    t.put(b"c1", b"v").unwrap();
    t.flush().unwrap();
    drop(t);
    db.close().unwrap();

    let db = open(&vfs, rec.clone());
    let t = db.tree("t").unwrap();
    // The newer file only ([c1]); the older one ([a1, b1]) stays outside.
    t.compact_range(Some(b"c1"), Some(b"c1")).unwrap();
    // compact_range may rewrite its output once more in place; each pass sees the same.
    let mut seen = rec.seen.lock().clone();
    seen.dedup();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, b"c1");
    assert_eq!(
        seen[0].1,
        vec![OutsideSource {
            level: Some(0),
            properties: Some(b"2:ab".to_vec()),
        }]
    );
}

#[test]
fn a_damaged_summary_is_a_checksum_error_at_open() {
    let vfs = MemVfs::new();
    let db = open(&vfs, Arc::new(Recorder::default()));
    let t = db.tree("t").unwrap();
    t.put(b"a1", b"v").unwrap();
    t.flush().unwrap();
    drop(t);
    db.close().unwrap();

    let path = table_files(&vfs, Path::new("/db")).pop().unwrap();
    let bytes = vfs.open_read(&path).unwrap().bytes().to_vec();
    // Footer: the properties handle is at bytes 48..64 of the last 88.
    let footer = bytes.len() - 88;
    let props = u64::from_le_bytes(bytes[footer + 48..footer + 56].try_into().unwrap()) as usize;
    let props_len =
        u64::from_le_bytes(bytes[footer + 56..footer + 64].try_into().unwrap()) as usize;
    // The summary is the block's tail: flip its last byte.
    let mut damaged = bytes.clone();
    damaged[props + props_len - 1] ^= 0x20;
    let mut w = vfs.create(&path).unwrap();
    w.append(&damaged).unwrap();
    w.sync().unwrap();
    drop(w);
    let err = Db::builder()
        .open_with_vfs(Arc::new(vfs.clone()), Path::new("/db"))
        .unwrap_err();
    assert!(
        matches!(err, Error::ChecksumMismatch { ref file, .. } if *file == path),
        "{err}"
    );
}

/// Copies the fixture directory (written by format version 1) into `vfs` at `/db`.
fn load_v1_fixture(vfs: &MemVfs) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-db");
    vfs.create_dir_all(Path::new("/db")).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        let mut w = vfs.create(&Path::new("/db").join(e.file_name())).unwrap();
        w.append(&bytes).unwrap();
        w.sync().unwrap();
    }
}

#[test]
fn files_of_format_version_1_open_with_an_unknown_summary_and_compact_into_known_ones() {
    let vfs = MemVfs::new();
    load_v1_fixture(&vfs);
    let manifest = vfs.open_read(Path::new("/db/MANIFEST")).unwrap().bytes()[4..8].to_vec();
    assert_eq!(
        manifest,
        1u32.to_le_bytes(),
        "the fixture is a version-1 database"
    );
    let rec = Arc::new(Recorder::default());
    let db = open(&vfs, rec.clone());
    let t = db.tree("t").unwrap();
    let all: Vec<(Vec<u8>, Vec<u8>)> = t.iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        all,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
        ]
    );
    t.put(b"e", b"5").unwrap();
    t.flush().unwrap();
    // Only the new file: the version-1 file is outside and its summary is unknown.
    t.compact_range(Some(b"e"), Some(b"e")).unwrap();
    // compact_range may rewrite its output once more in place; each pass sees the same.
    let mut seen = rec.seen.lock().clone();
    seen.dedup();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].1,
        vec![OutsideSource {
            level: Some(0),
            properties: None,
        }]
    );
    // Everything into one new file, then a compaction of nothing else sees its summary.
    t.compact_range(None, None).unwrap();
    t.put(b"f", b"6").unwrap();
    t.flush().unwrap();
    rec.seen.lock().clear();
    t.compact_range(Some(b"f"), Some(b"f")).unwrap();
    let mut seen = rec.seen.lock().clone();
    seen.dedup();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].1.len(), 1);
    assert_eq!(seen[0].1[0].properties, Some(b"4:abde".to_vec()));
    drop(t);
    db.close().unwrap();
    let manifest = vfs.open_read(Path::new("/db/MANIFEST")).unwrap().bytes()[4..8].to_vec();
    assert_eq!(manifest, 2u32.to_le_bytes(), "rewritten as version 2");
}

#[test]
fn a_manifest_of_a_newer_version_is_refused_by_name() {
    let vfs = MemVfs::new();
    let db = open(&vfs, Arc::new(Recorder::default()));
    db.close().unwrap();
    let path = Path::new("/db/MANIFEST");
    let mut bytes = vfs.open_read(path).unwrap().bytes().to_vec();
    bytes[4] = 3;
    let mut w = vfs.create(path).unwrap();
    w.append(&bytes).unwrap();
    w.sync().unwrap();
    drop(w);
    let err = Db::builder()
        .open_with_vfs(Arc::new(vfs.clone()), Path::new("/db"))
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 3, .. }),
        "{err}"
    );
}

/// `old` in a deep level, `new` in L0, then an L0 -> L1 compaction (not bottommost).
fn shadowed(rec: Arc<Recorder>) -> ilion_lsm::Tree {
    let vfs = MemVfs::new();
    let db = open(&vfs, rec);
    let t = db.tree("t").unwrap();
    t.put(b"k", b"old").unwrap();
    sink(&t, leveled(1, 1 << 30));
    t.put(b"k", b"new").unwrap();
    t.flush().unwrap();
    t.compact_pending().unwrap();
    let stats = db.stats();
    let levels = &stats.trees.iter().find(|s| s.name == "t").unwrap().levels;
    assert_eq!(levels[0].files, 0, "{levels:?}");
    assert!(
        levels[2..].iter().any(|l| l.files > 0),
        "old stays below: {levels:?}"
    );
    t
}

#[test]
fn drop_uncovers_older_versions_outside_the_compaction_and_remove_hides_them() {
    let dropping = Arc::new(Recorder {
        drop_value: Some(b"new".to_vec()),
        ..Recorder::default()
    });
    let t = shadowed(dropping.clone());
    assert!(
        dropping.seen.lock().iter().any(|(k, _)| k == b"k"),
        "the compaction ran the filter"
    );
    assert_eq!(t.get(b"k").unwrap(), Some(b"old".to_vec()));

    let removing = Arc::new(Recorder {
        remove_value: Some(b"new".to_vec()),
        ..Recorder::default()
    });
    let t = shadowed(removing);
    assert_eq!(t.get(b"k").unwrap(), None);
}

/// Max of u64 operands; combines operands without a base.
struct Max;

impl ilion_lsm::MergeOperator for Max {
    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Vec<u8> {
        existing
            .into_iter()
            .chain(operands.iter().copied())
            .max()
            .unwrap_or_default()
            .to_vec()
    }
    fn partial_merge(&self, _key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        operands.iter().max().map(|o| o.to_vec())
    }
}

/// Records merge operands shown to it and drops `9`.
#[derive(Default)]
struct Operands(Mutex<Vec<Vec<u8>>>);

impl CompactionFilter for Operands {
    fn filter(&self, _ctx: &FilterContext, _key: &[u8], _value: &[u8]) -> Decision {
        Decision::Keep
    }
    fn filter_merge_operand(&self, _ctx: &FilterContext, _key: &[u8], op: &[u8]) -> Decision {
        self.0.lock().push(op.to_vec());
        if op == b"9" {
            Decision::Drop
        } else {
            Decision::Keep
        }
    }
}

#[test]
fn operands_without_a_base_are_combined_then_shown_to_the_filter_once() {
    let filter = Arc::new(Operands::default());
    let db = Db::builder()
        .default_tree_options(TreeOptions {
            compaction: manual(),
            merge_operator: Some(Arc::new(Max)),
            compaction_filter: Some(filter.clone()),
            ..TreeOptions::default()
        })
        .open_with_vfs(Arc::new(MemVfs::new()), Path::new("/db"))
        .unwrap();
    let t = db.tree("t").unwrap();
    // An operand in a deep level keeps the later compaction from being bottommost.
    t.merge(b"k", b"1").unwrap();
    sink(&t, manual());
    for op in [b"3", b"9", b"5"] {
        t.merge(b"k", op).unwrap();
        t.flush().unwrap();
    }
    filter.0.lock().clear();
    t.set_options(TreeOptions {
        compaction: leveled(3, 1 << 30),
        ..t.options()
    })
    .unwrap();
    t.compact_pending().unwrap();
    assert_eq!(
        *filter.0.lock(),
        vec![b"9".to_vec()],
        "one combined operand"
    );
    // The combined operand was dropped; the one below it remains.
    assert_eq!(t.get(b"k").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn tree_options_are_set_at_creation_and_changed_while_open_but_not_the_merge_operator() {
    let db = Db::builder()
        .open_with_vfs(Arc::new(MemVfs::new()), Path::new("/db"))
        .unwrap();
    let t = db
        .tree_with_options(
            "t",
            TreeOptions {
                compaction: CompactionConfig::size_tiered(),
                compression: ilion_lsm::Compression::Lz4,
                ..TreeOptions::default()
            },
        )
        .unwrap();
    assert_eq!(t.options().compaction, CompactionConfig::size_tiered());
    assert_eq!(t.options().compression, ilion_lsm::Compression::Lz4);
    for i in 0..10u32 {
        t.put(&i.to_be_bytes(), b"v").unwrap();
        t.flush().unwrap();
    }
    // From size-tiered (everything in L0) to leveled (seven levels). A background size-tiered
    // compaction may have merged the ten files into one L0 file first: with a trigger of one
    // file, leveled moves L0 down either way.
    t.set_options(TreeOptions {
        compaction: CompactionConfig::Leveled {
            l0_trigger: 1,
            level_size_multiplier: 10,
            base_level_bytes: 1 << 20,
            target_file_size: 1 << 20,
        },
        ..TreeOptions::default()
    })
    .unwrap();
    t.compact_pending().unwrap();
    let stats = db.stats();
    let levels = &stats.trees.iter().find(|s| s.name == "t").unwrap().levels;
    assert_eq!(levels[0].files, 0, "{levels:?}");
    assert_eq!(t.iter().count(), 10);
    let err = t
        .set_options(TreeOptions {
            merge_operator: Some(Arc::new(Max)),
            ..TreeOptions::default()
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "merge_operator",
                ..
            }
        ),
        "{err}"
    );
    let err = t
        .set_options(TreeOptions {
            compression: ilion_lsm::Compression::Zstd(99),
            ..TreeOptions::default()
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "compression",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_trees_own_block_size_bloom_bits_and_compression_shape_its_files() {
    let db = Db::builder()
        .open_with_vfs(Arc::new(ilion_lsm::vfs::MemVfs::new()), Path::new("/db"))
        .unwrap();
    let bytes = |name: &str, opts: TreeOptions| {
        let t = db.tree_with_options(name, opts).unwrap();
        for i in 0..2_000u32 {
            t.put(format!("key{i:06}").as_bytes(), &[b'x'; 40]).unwrap();
        }
        t.flush().unwrap();
        for i in (0..2_000u32).step_by(97) {
            assert_eq!(
                t.get(format!("key{i:06}").as_bytes()).unwrap(),
                Some(vec![b'x'; 40])
            );
        }
        db.stats()
            .trees
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .levels
            .iter()
            .map(|l| l.bytes)
            .sum::<u64>()
    };
    let plain = || TreeOptions {
        bloom_bits_per_key: Some(0),
        ..TreeOptions::default()
    };
    let base = bytes("plain", plain());
    let bloom = bytes(
        "bloom",
        TreeOptions {
            bloom_bits_per_key: Some(32),
            ..TreeOptions::default()
        },
    );
    // 32 bits for each of 2000 keys: 8000 bytes of filter (in 64-byte blocks).
    assert!(bloom >= base + 7_900, "{bloom} vs {base}");
    let small_blocks = bytes(
        "small",
        TreeOptions {
            block_size: Some(256),
            ..plain()
        },
    );
    assert!(
        small_blocks > base,
        "more blocks, more index: {small_blocks} vs {base}"
    );
    for c in [
        ilion_lsm::Compression::Lz4,
        ilion_lsm::Compression::Snappy,
        ilion_lsm::Compression::Deflate(6),
        ilion_lsm::Compression::Zstd(3),
    ] {
        let compressed = bytes(
            &format!("{c:?}"),
            TreeOptions {
                compression: c,
                ..plain()
            },
        );
        assert!(compressed * 2 < base, "{c:?}: {compressed} vs {base}");
    }
    let bad = TreeOptions {
        block_size: Some(1),
        ..TreeOptions::default()
    };
    assert!(matches!(
        db.tree_with_options("bad", bad),
        Err(Error::InvalidOption {
            option: "block_size",
            ..
        })
    ));
}

#[test]
fn a_tree_with_a_flush_period_flushes_its_memtable_by_itself() {
    let db = Db::builder()
        .open_with_vfs(Arc::new(ilion_lsm::vfs::MemVfs::new()), Path::new("/db"))
        .unwrap();
    let periodic = db
        .tree_with_options(
            "periodic",
            TreeOptions {
                flush_period: Some(std::time::Duration::from_millis(50)),
                ..TreeOptions::default()
            },
        )
        .unwrap();
    let other = db.tree("other").unwrap();
    periodic.put(b"k", b"v").unwrap();
    other.put(b"k", b"v").unwrap();
    let files = |name: &str| {
        db.stats()
            .trees
            .iter()
            .find(|t| t.name == name)
            .map_or(0, |t| t.levels.iter().map(|l| l.files).sum::<usize>())
    };
    // The flush thread looks once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files("periodic") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(files("periodic"), 1);
    assert_eq!(
        files("other"),
        0,
        "a tree without a period keeps its memtable"
    );
    assert_eq!(periodic.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn an_unlogged_tree_skips_the_commit_log_and_loses_only_its_unflushed_writes_in_a_crash() {
    let vfs = Arc::new(ilion_lsm::vfs::MemVfs::new());
    let open = || {
        let db = Db::builder()
            .sync_mode(SyncMode::Batch)
            .open_with_vfs(vfs.clone(), Path::new("/db"))
            .unwrap();
        let unlogged = db
            .tree_with_options(
                "unlogged",
                TreeOptions {
                    durable: false,
                    ..TreeOptions::default()
                },
            )
            .unwrap();
        let logged = db.tree("logged").unwrap();
        (db, unlogged, logged)
    };
    let (db, unlogged, logged) = open();
    let log_bytes = db.stats().log_bytes_written;
    unlogged.put(b"flushed", b"1").unwrap();
    unlogged.flush().unwrap();
    unlogged.put(b"in-memory", b"2").unwrap();
    assert_eq!(unlogged.get(b"in-memory").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db.stats().log_bytes_written, log_bytes, "nothing logged");
    logged.put(b"k", b"3").unwrap();
    assert!(db.stats().log_bytes_written > log_bytes);
    // A batch touching a logged tree is logged whole, the unlogged part with it.
    let mut b = ilion_lsm::WriteBatch::new();
    b.put(&unlogged, b"batched", b"4");
    b.put(&logged, b"batched", b"4");
    db.write(b).unwrap();
    // A crash: the process goes without flushing its memtables.
    drop((unlogged, logged));
    drop(db);
    let (_db, unlogged, logged) = open();
    assert_eq!(unlogged.get(b"flushed").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        unlogged.get(b"in-memory").unwrap(),
        None,
        "lost with the memtable"
    );
    assert_eq!(unlogged.get(b"batched").unwrap(), Some(b"4".to_vec()));
    assert_eq!(logged.get(b"k").unwrap(), Some(b"3".to_vec()));
    // Written after the crash: newer than what was flushed before it.
    unlogged.put(b"flushed", b"5").unwrap();
    assert_eq!(unlogged.get(b"flushed").unwrap(), Some(b"5".to_vec()));
}
