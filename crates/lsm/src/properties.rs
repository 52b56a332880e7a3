//! User properties: a small summary of each table file's entries, computed by a collector the
//! layer above plugs in (a tree option), stored in the file's properties block and in the
//! manifest, and shown to compaction filters for the files a compaction does not read.
//!
//! What a summary holds is the collector's business (the engine stores opaque bytes, at most
//! [`MAX_USER_PROPERTIES`]): typically a minimum or maximum of something the layer above encodes
//! in its values, such as a write timestamp. The motivating use: a compaction filter may drop a
//! deletion marker of the layer above only when no file outside the compaction can still hold
//! older data the marker hides, and [`crate::FilterContext::outside`] tells it what the other
//! files (and the memtables) hold without reading them.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use crate::key::{self, Kind, MAX_SEQ};
use crate::tree::{MemSet, TreeInner};

/// Largest summary the engine stores; a collector returning more is logged and the file gets no
/// summary (it reads back as unknown).
pub const MAX_USER_PROPERTIES: usize = 64 << 10;

/// What an entry shown to a [`PropertiesCollector`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A value written by `put` (or the result of merging).
    Value,
    /// A merge operand that is not combined with a base value in this file.
    MergeOperand,
    /// A point deletion (the value is empty).
    Deletion,
    /// A range deletion: the key is the range's start, the value its exclusive end.
    RangeDeletion,
}

impl EntryKind {
    pub(crate) fn of(kind: Kind) -> EntryKind {
        match kind {
            Kind::Put => EntryKind::Value,
            Kind::Merge => EntryKind::MergeOperand,
            Kind::Delete => EntryKind::Deletion,
            Kind::RangeDelete => EntryKind::RangeDeletion,
        }
    }
}

/// Summarises the entries of one table file (or of a memtable's range, see
/// [`crate::FilterContext::outside`]). Sees every entry written, in key order (for one key,
/// newest version first).
pub trait PropertiesCollector: Send {
    /// One entry; `key` is the user key.
    fn add(&mut self, key: &[u8], kind: EntryKind, value: &[u8]);
    /// The summary of everything added.
    fn finish(&mut self) -> Vec<u8>;
}

/// Makes a [`PropertiesCollector`] per table file (a tree option).
pub trait PropertiesCollectorFactory: Send + Sync {
    fn collector(&self) -> Box<dyn PropertiesCollector>;

    /// The time facts of a file, read from the summary this factory's collectors make. They
    /// let compaction follow the layer's own clock: time-window compaction buckets files by
    /// [`FileTimes::max_timestamp`], a file whose every entry is a deletion past the purge
    /// horizon is dropped whole, and a file with many such entries is compacted alone (see
    /// [`crate::CompactionFilter::purge_horizon`]). `None` (the default): the summary has no
    /// time facts, and the engine falls back to when the file's data was flushed.
    fn file_times(&self, properties: &[u8]) -> Option<FileTimes> {
        let _ = properties;
        None
    }
}

/// What may be purged from a table file, as the layer above judges it for the file's key range
/// ([`crate::CompactionFilter::purge_horizon`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeHorizon {
    /// Deletions made before this time (seconds, the clock of [`FileTimes`]) may be purged.
    pub before: i64,
    /// The first user key the file's deletions may hide: at most the file's smallest key. A
    /// deletion may hide keys other than its own (a partition deletion hides every key of its
    /// partition), so what may hold data under the file's deletions is judged on this range.
    pub scope_start: Vec<u8>,
    /// The last user key the file's deletions may hide: at least the file's largest key.
    pub scope_end: Vec<u8>,
}

/// What the layer above says about the times in one table file (or memtable range), in its own
/// units: `timestamp`s order versions (Cassandra's write timestamps), `deletion time`s are
/// seconds on the clock the layer's [`crate::CompactionFilter::purge_horizon`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTimes {
    /// Smallest version timestamp of any entry.
    pub min_timestamp: i64,
    /// Largest version timestamp of any entry.
    pub max_timestamp: i64,
    /// The latest deletion time of any entry: when a deletion was made, or when an expiring
    /// entry expires; `i64::MAX` when some entry never becomes a deletion (a plain live value)
    /// or cannot be judged. A file whose `max_deletion_time` is below the purge horizon holds
    /// nothing but purgeable deletions.
    pub max_deletion_time: i64,
    /// Entries summarised.
    pub entries: u64,
    /// Deletion-time histogram: `(upper bound, count)` pairs, bounds ascending; `count` entries
    /// have a deletion time at or below `upper bound` (and above the previous bound). Entries
    /// that never become deletions are not in it.
    pub deletion_times: Vec<(i64, u64)>,
}

impl FileTimes {
    /// The share of entries whose deletion time is below `horizon` (Cassandra's estimated
    /// droppable tombstone ratio); 0 for an empty file. Bins straddling the horizon do not
    /// count, so the estimate errs low.
    pub fn droppable_ratio(&self, horizon: i64) -> f64 {
        if self.entries == 0 {
            return 0.0;
        }
        let droppable: u64 = self
            .deletion_times
            .iter()
            .take_while(|(bound, _)| *bound < horizon)
            .map(|(_, n)| *n)
            .sum();
        droppable as f64 / self.entries as f64
    }

    /// Whether every entry is a deletion made (or an expiry reached) before `horizon`.
    pub fn fully_expired(&self, horizon: i64) -> bool {
        self.max_deletion_time < horizon
    }
}

/// Runs `factory`'s collector over entries, for a file being written.
pub(crate) struct Collecting {
    collector: Box<dyn PropertiesCollector>,
}

impl Collecting {
    pub(crate) fn new(factory: &dyn PropertiesCollectorFactory) -> Collecting {
        Collecting {
            collector: factory.collector(),
        }
    }

    /// Shows the collector an entry given by its internal key.
    pub(crate) fn add(&mut self, internal_key: &[u8], value: &[u8]) {
        if let Some(p) = key::parse(internal_key) {
            self.collector.add(p.user_key, EntryKind::of(p.kind), value);
        }
    }

    /// The summary to store, `None` when it is too large.
    pub(crate) fn finish(mut self, file: &std::path::Path) -> Option<Vec<u8>> {
        let out = self.collector.finish();
        if out.len() > MAX_USER_PROPERTIES {
            tracing::warn!(file = %file.display(), len = out.len(), limit = MAX_USER_PROPERTIES, "user properties too large; stored none");
            return None;
        }
        Some(out)
    }
}

/// A place a tree's data lives outside a running compaction, as
/// [`crate::FilterContext::outside`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideSource {
    /// The level of a table file; `None` for a memtable.
    pub level: Option<usize>,
    /// The collector's summary: for a file, as stored when the file was written; for a memtable,
    /// computed at the call over its entries in the asked range. `None` when unknown: the tree
    /// has no collector, the file was written without one (or by format version 1), or the
    /// summary was too large. Treat unknown as "may hold anything".
    pub properties: Option<Vec<u8>>,
}

/// What a compaction job knows of its tree besides its inputs.
pub(crate) struct OutsideView {
    pub(crate) tree: Arc<TreeInner>,
    /// The compaction's input files.
    pub(crate) inputs: HashSet<u64>,
    pub(crate) collector: Option<Arc<dyn PropertiesCollectorFactory>>,
}

impl std::fmt::Debug for OutsideView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutsideView")
            .field("tree", &self.tree.name)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

/// Memtable entries read per step while summarising a range.
const MEM_CHUNK: usize = 256;

impl OutsideView {
    /// The sources outside the compaction that may hold user keys in `[start, end]`, as they are
    /// now (a flush during the compaction adds a file and removes a memtable; both are seen).
    pub(crate) fn sources(&self, start: &[u8], end: &[u8]) -> Vec<OutsideSource> {
        // Memtables before the version: a flush installs its file before it drops the
        // memtable, so this order never misses data.
        let mut out = self.memtables(start, end);
        let version = self.tree.version.read().clone();
        for (level, files) in version.levels.iter().enumerate() {
            for f in files {
                if self.inputs.contains(&f.entry.id)
                    || f.largest_user_key() < start
                    || f.smallest_user_key() > end
                {
                    continue;
                }
                out.push(OutsideSource {
                    level: Some(level),
                    properties: f.entry.meta.user_properties.clone(),
                });
            }
        }
        out
    }

    /// The tree's memtables that hold a key in `[start, end]` (or a range deletion reaching
    /// it), each summarised over that range.
    pub(crate) fn memtables(&self, start: &[u8], end: &[u8]) -> Vec<OutsideSource> {
        let mem = self.tree.mem.read().clone();
        self.memtables_of(&mem, start, end)
    }

    /// [`OutsideView::memtables`] of the memtables `mem` (taken before a version, so that a
    /// flush in between is seen in one or the other).
    pub(crate) fn memtables_of(
        &self,
        mem: &MemSet,
        start: &[u8],
        end: &[u8],
    ) -> Vec<OutsideSource> {
        let mut out = Vec::new();
        let mems = std::iter::once(&mem.active).chain(mem.frozen.iter().map(|(m, _)| m));
        for m in mems {
            let mut collecting = self.collector.as_deref().map(Collecting::new);
            let mut found = false;
            let mut from = key::encode(start, MAX_SEQ, Kind::RangeDelete);
            let mut inclusive = true;
            let mut chunk = Vec::new();
            loop {
                let ended = m.chunk_after(
                    Some(&from),
                    inclusive,
                    MEM_CHUNK,
                    Bound::Included(end),
                    &mut chunk,
                );
                for e in &chunk {
                    found = true;
                    if let Some(c) = &mut collecting {
                        c.add(e.key(), e.value());
                    }
                }
                match chunk.last() {
                    Some(e) if !ended => {
                        from = e.key().to_vec();
                        inclusive = false;
                    }
                    _ => break,
                }
            }
            // A range deletion that starts before `start` may still cover keys in the range.
            let mut rds = Vec::new();
            m.range_deletes(MAX_SEQ, &mut rds);
            for t in rds
                .iter()
                .filter(|t| t.start.as_slice() < start && t.end.as_slice() > start)
            {
                found = true;
                if let Some(c) = &mut collecting {
                    c.add(&key::encode(&t.start, t.seq, Kind::RangeDelete), &t.end);
                }
            }
            if found {
                out.push(OutsideSource {
                    level: None,
                    properties: collecting.and_then(|c| c.finish(std::path::Path::new("memtable"))),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::db::Db;
    use crate::options::TreeOptions;
    use crate::vfs::MemVfs;

    /// Summary: the user keys seen, comma-separated.
    struct Names;
    struct NamesCollector(Vec<u8>);

    impl PropertiesCollectorFactory for Names {
        fn collector(&self) -> Box<dyn PropertiesCollector> {
            Box::new(NamesCollector(Vec::new()))
        }
    }

    impl PropertiesCollector for NamesCollector {
        fn add(&mut self, key: &[u8], _kind: EntryKind, _value: &[u8]) {
            if !self.0.is_empty() {
                self.0.push(b',');
            }
            self.0.extend_from_slice(key);
        }
        fn finish(&mut self) -> Vec<u8> {
            self.0.clone()
        }
    }

    #[test]
    fn memtables_are_summarised_over_the_asked_range_and_files_by_their_stored_summary() {
        let db = Db::builder()
            .default_tree_options(TreeOptions {
                properties_collector: Some(Arc::new(Names)),
                ..TreeOptions::default()
            })
            .open_with_vfs(Arc::new(MemVfs::new()), Path::new("/db"))
            .unwrap();
        let t = db.tree("t").unwrap();
        t.put(b"a", b"1").unwrap();
        t.put(b"c", b"1").unwrap();
        t.flush().unwrap();
        let file = t.inner.version.read().levels[0][0].entry.id;
        t.put(b"b", b"2").unwrap();
        t.put(b"b2", b"2").unwrap();
        t.put(b"x", b"2").unwrap();
        t.delete_range(b"0", b"bb").unwrap();
        let view = OutsideView {
            tree: t.inner.clone(),
            inputs: HashSet::new(),
            collector: Some(Arc::new(Names)),
        };
        let mut got = view.sources(b"b", b"c");
        got.sort_by_key(|s| s.level);
        assert_eq!(
            got,
            vec![
                OutsideSource {
                    level: None,
                    properties: Some(b"b,b2,0".to_vec()),
                },
                OutsideSource {
                    level: Some(0),
                    properties: Some(b"a,c".to_vec()),
                },
            ]
        );
        // Inputs are not outside; a range nothing meets has no sources.
        let view = OutsideView {
            inputs: HashSet::from([file]),
            ..view
        };
        assert_eq!(view.sources(b"c", b"c").len(), 0);
        assert_eq!(view.sources(b"y", b"z").len(), 0);
        assert_eq!(view.sources(b"x", b"x").len(), 1);
    }
}
