//! Options: database-wide ([`Builder`]) and per tree ([`TreeOptions`]), validated in `open()`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::compaction::{CompactionConfig, TombstoneCompaction};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::properties::{OutsideSource, OutsideView, PropertiesCollectorFactory, PurgeHorizon};
use crate::sstable::Compression;
use crate::vfs::{StdVfs, Vfs};

/// When commit log writes become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// A write returns once its log record is written to the operating system (no fsync); a
    /// background thread fsyncs the log every period. A crash of the process loses no
    /// acknowledged write; a crash of the machine loses at most about one period of them.
    Periodic(Duration),
    /// A write returns only after an fsync covering it. Concurrent writers share one fsync
    /// (group commit), so throughput grows with the number of writers.
    Batch,
}

/// Combines merge operands with an existing value (counters, appends, ...).
pub trait MergeOperator: Send + Sync {
    /// `existing` is the value under the operands (none when absent or deleted); `operands` are
    /// oldest first. Returns the new value.
    fn full_merge(&self, key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Vec<u8>;

    /// Combines operands (oldest first) into one operand that stands for all of them, when the
    /// operator can do so without the base value (it is associative). Compaction uses it for
    /// operands with no base value in reach; `None` (the default) keeps them apart.
    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        let _ = (key, operands);
        None
    }
}

/// What compaction asks a [`CompactionFilter`] about.
#[derive(Debug, Clone)]
pub struct FilterContext {
    /// No older data for these keys exists below the compaction's output: a removed entry can
    /// vanish instead of leaving a tombstone.
    pub bottommost: bool,
    /// The level the compaction writes to.
    pub output_level: usize,
    /// The tree being compacted.
    pub tree: String,
    /// Identifies the compaction (or flush) job; unique within the process. A filter that keeps
    /// state across the entries of one job resets it when this changes.
    pub job_id: u64,
    /// The tree's sources outside this job; `None` when the job cannot tell.
    pub(crate) outside: Option<Arc<OutsideView>>,
}

impl FilterContext {
    /// The places outside this compaction that may hold user keys in `[start, end]`
    /// (inclusive): the tree's table files that are not inputs of the compaction and whose key
    /// range meets it, and its memtables that hold a key in it (or a range deletion reaching
    /// it), with the summaries the tree's [`PropertiesCollectorFactory`] made of them (see
    /// [`OutsideSource`]). Answered from the manifest and the memtables; no file is read.
    ///
    /// A filter uses it to decide whether dropping an entry could expose older data kept
    /// elsewhere. When the job has no view of its tree, one source of unknown content is
    /// reported, so a careful filter keeps what it would otherwise drop.
    pub fn outside(&self, start: &[u8], end: &[u8]) -> Vec<OutsideSource> {
        match &self.outside {
            Some(view) => view.sources(start, end),
            None => vec![OutsideSource {
                level: None,
                properties: None,
            }],
        }
    }
}

/// What to do with an entry seen by a compaction filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// Drop the entry (a tombstone takes its place unless the compaction is bottommost, so
    /// older versions of the key below the compaction stay hidden).
    Remove,
    /// Drop only this version and leave nothing in its place: older versions of the key in
    /// files outside the compaction become visible again. For layers whose versions carry
    /// their own order (a write timestamp) rather than the engine's; in a bottommost compaction
    /// it is the same as [`Decision::Remove`].
    Drop,
    /// Replace the value.
    Change(Vec<u8>),
}

/// A hook the layer above uses to drop or rewrite entries while they are compacted
/// (tombstone purge, TTL expiry). Sees the newest value of a key that every snapshot sees.
pub trait CompactionFilter: Send + Sync {
    fn filter(&self, ctx: &FilterContext, key: &[u8], value: &[u8]) -> Decision;

    /// A merge operand the compaction cannot combine with a base value (none is among its
    /// inputs and it is not bottommost); called for each such operand of a key, newest first.
    /// [`Decision::Change`] rewrites the operand, [`Decision::Drop`] drops it alone,
    /// [`Decision::Remove`] drops it and every older version (a tombstone takes their place).
    /// The default keeps every operand.
    fn filter_merge_operand(&self, ctx: &FilterContext, key: &[u8], operand: &[u8]) -> Decision {
        let _ = (ctx, key, operand);
        Decision::Keep
    }

    /// The purge horizon of tree `tree`'s user keys `[start, end]` (a table file's range): a
    /// deletion made (in the sense of [`crate::FileTimes::max_deletion_time`]) before
    /// [`PurgeHorizon::before`] may be purged, and the keys such deletions may hide.
    /// Compaction uses it with the files' time facts to drop fully expired files whole and to
    /// pick single-file tombstone compactions ([`crate::TombstoneCompaction`]). `None` (the
    /// default): never judge a file purgeable without reading it.
    ///
    /// A file is dropped whole only when the layer's own order says nothing in it matters: its
    /// newest timestamp is below the oldest timestamp of every other non-expired source of its
    /// keys. Layers that order versions by the engine's sequence numbers alone should keep the
    /// default.
    fn purge_horizon(&self, tree: &str, start: &[u8], end: &[u8]) -> Option<PurgeHorizon> {
        let _ = (tree, start, end);
        None
    }
}

/// Options of one tree (column family). Not persisted: pass the same options at every open.
/// [`crate::Tree::set_options`] changes them while the database is open (all but the merge
/// operator).
#[derive(Clone)]
pub struct TreeOptions {
    /// Data block compression. Default none (fastest reads; zstd level 3 halves typical data).
    pub compression: Compression,
    /// Target uncompressed data block size of this tree's files; `None` (the default) takes
    /// the database's [`Builder::block_size`].
    pub block_size: Option<usize>,
    /// Bloom filter bits per key of this tree's files (0: no filter); `None` (the default)
    /// takes the database's [`Builder::bloom_bits_per_key`].
    pub bloom_bits_per_key: Option<u32>,
    /// Compaction strategy. Default leveled.
    pub compaction: CompactionConfig,
    /// Required for [`crate::Tree::merge`].
    pub merge_operator: Option<Arc<dyn MergeOperator>>,
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
    /// Summarises each table file written (flush or compaction) into its user properties.
    /// Default none.
    pub properties_collector: Option<Arc<dyn PropertiesCollectorFactory>>,
    /// Single-file tombstone compactions and the search for fully expired files (they need
    /// the collector's file times and the filter's purge horizon).
    pub tombstones: TombstoneCompaction,
    /// Flush the tree's memtable once it holds data this much older than the last flush
    /// (Cassandra's `memtable_flush_period_in_ms`), so the commit log it pins can go; checked
    /// about once a second. Default `None`: flush only when full or asked.
    pub flush_period: Option<Duration>,
    /// Whether writes to the tree go through the commit log. Default true. An unlogged tree
    /// (Cassandra's keyspace `durable_writes = false`) skips the log: its writes cost no log
    /// append or fsync, and those not yet flushed are lost in a crash (a clean close flushes
    /// them). A batch that also writes to a logged tree is logged whole.
    pub durable: bool,
}

impl Default for TreeOptions {
    fn default() -> TreeOptions {
        TreeOptions {
            compression: Compression::None,
            block_size: None,
            bloom_bits_per_key: None,
            compaction: CompactionConfig::default(),
            merge_operator: None,
            compaction_filter: None,
            properties_collector: None,
            tombstones: TombstoneCompaction::default(),
            flush_period: None,
            durable: true,
        }
    }
}

impl fmt::Debug for TreeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeOptions")
            .field("compression", &self.compression)
            .field("block_size", &self.block_size)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("compaction", &self.compaction)
            .field("merge_operator", &self.merge_operator.is_some())
            .field("compaction_filter", &self.compaction_filter.is_some())
            .field("properties_collector", &self.properties_collector.is_some())
            .field("tombstones", &self.tombstones)
            .field("flush_period", &self.flush_period)
            .field("durable", &self.durable)
            .finish()
    }
}

impl TreeOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        self.compaction.validate()?;
        self.tombstones.validate()?;
        if let Compression::Zstd(level) = self.compression
            && !(1..=22).contains(&level)
        {
            return Err(Error::InvalidOption {
                option: "compression",
                reason: format!("zstd level {level} is outside 1..=22"),
            });
        }
        if let Some(b) = self.block_size
            && !(256..=(4 << 20)).contains(&b)
        {
            return Err(Error::InvalidOption {
                option: "block_size",
                reason: format!("{b} is outside 256 B..=4 MiB"),
            });
        }
        if let Some(b) = self.bloom_bits_per_key
            && b > 64
        {
            return Err(Error::InvalidOption {
                option: "bloom_bits_per_key",
                reason: format!("{b} is above 64"),
            });
        }
        if let Compression::Deflate(level) = self.compression
            && level > 9
        {
            return Err(Error::InvalidOption {
                option: "compression",
                reason: format!("deflate level {level} is outside 0..=9"),
            });
        }
        Ok(())
    }
}

/// Database options; `open` validates them.
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) memtable_size: usize,
    pub(crate) block_size: usize,
    pub(crate) block_cache_size: usize,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) sync: SyncMode,
    pub(crate) max_immutable_memtables: usize,
    pub(crate) l0_stop_files: usize,
    pub(crate) log_segment_size: u64,
    pub(crate) default_tree: TreeOptions,
    pub(crate) trees: HashMap<String, TreeOptions>,
    pub(crate) compaction_throttle: Option<Arc<crate::Throttle>>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            memtable_size: 64 << 20,
            block_size: 4096,
            block_cache_size: 64 << 20,
            bloom_bits_per_key: 10,
            sync: SyncMode::Batch,
            max_immutable_memtables: 2,
            l0_stop_files: 24,
            log_segment_size: 64 << 20,
            default_tree: TreeOptions::default(),
            trees: HashMap::new(),
            compaction_throttle: None,
        }
    }
}

impl Builder {
    /// Memtable size before it is frozen and flushed. Default 64 MiB; bigger means fewer, larger
    /// L0 files and less write amplification, at the cost of memory and recovery time.
    pub fn memtable_size(mut self, bytes: usize) -> Builder {
        self.memtable_size = bytes;
        self
    }

    /// Target uncompressed data block size. Default 4 KiB (cheap point reads).
    pub fn block_size(mut self, bytes: usize) -> Builder {
        self.block_size = bytes;
        self
    }

    /// Block cache capacity. Default 64 MiB.
    pub fn block_cache_size(mut self, bytes: usize) -> Builder {
        self.block_cache_size = bytes;
        self
    }

    /// Bloom filter bits per key; 0 disables filters. Default 10 (about 1% false positives).
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Builder {
        self.bloom_bits_per_key = bits;
        self
    }

    /// Commit log sync mode. Default [`SyncMode::Batch`] (no acknowledged write is lost).
    pub fn sync_mode(mut self, mode: SyncMode) -> Builder {
        self.sync = mode;
        self
    }

    /// Frozen memtables waiting for flush before writers stall. Default 2.
    pub fn max_immutable_memtables(mut self, n: usize) -> Builder {
        self.max_immutable_memtables = n;
        self
    }

    /// L0 files at which writers stall until compaction catches up. Default 24.
    pub fn l0_stop_files(mut self, n: usize) -> Builder {
        self.l0_stop_files = n;
        self
    }

    /// Commit log segment size before rolling to a new one. Default 64 MiB.
    pub fn log_segment_size(mut self, bytes: u64) -> Builder {
        self.log_segment_size = bytes;
        self
    }

    /// Caps the bytes compactions write per second; one throttle may be shared by several
    /// databases, capping them together. Default: unthrottled. Flushes are never throttled.
    pub fn compaction_throttle(mut self, throttle: Arc<crate::Throttle>) -> Builder {
        self.compaction_throttle = Some(throttle);
        self
    }

    /// Options for trees without options of their own.
    pub fn default_tree_options(mut self, opts: TreeOptions) -> Builder {
        self.default_tree = opts;
        self
    }

    /// Options for the tree called `name`.
    pub fn tree_options(mut self, name: &str, opts: TreeOptions) -> Builder {
        self.trees.insert(name.to_owned(), opts);
        self
    }

    pub(crate) fn options_for(&self, name: &str) -> TreeOptions {
        self.trees
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.default_tree.clone())
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad =
            |option: &'static str, reason: String| Err(Error::InvalidOption { option, reason });
        if self.memtable_size < 4096 {
            return bad(
                "memtable_size",
                format!("{} is below 4096 bytes", self.memtable_size),
            );
        }
        if !(256..=(4 << 20)).contains(&self.block_size) {
            return bad(
                "block_size",
                format!("{} is outside 256 B..=4 MiB", self.block_size),
            );
        }
        if self.bloom_bits_per_key > 64 {
            return bad(
                "bloom_bits_per_key",
                format!("{} is above 64", self.bloom_bits_per_key),
            );
        }
        if let SyncMode::Periodic(d) = self.sync
            && d.is_zero()
        {
            return bad(
                "sync_mode",
                "a periodic sync needs a non-zero period".into(),
            );
        }
        if self.max_immutable_memtables == 0 {
            return bad("max_immutable_memtables", "must be at least 1".into());
        }
        if self.l0_stop_files < 2 {
            return bad("l0_stop_files", "must be at least 2".into());
        }
        if self.log_segment_size < 4096 {
            return bad("log_segment_size", "must be at least 4096 bytes".into());
        }
        self.default_tree.validate()?;
        for t in self.trees.values() {
            t.validate()?;
        }
        Ok(())
    }

    /// Opens (or creates) the database in `path` on the real file system, locking the directory.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Db> {
        Db::open_inner(self, Arc::new(StdVfs), path.as_ref(), true)
    }

    /// Opens (or creates) the database in `path` on `vfs` (in-memory or fault-injecting file
    /// systems in tests). No OS-level directory lock is taken.
    pub fn open_with_vfs(self, vfs: Arc<dyn Vfs>, path: impl AsRef<Path>) -> Result<Db> {
        Db::open_inner(self, vfs, path.as_ref(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_options_are_rejected_by_name() {
        let cases = [
            (Builder::default().memtable_size(10), "memtable_size"),
            (Builder::default().block_size(1), "block_size"),
            (
                Builder::default().bloom_bits_per_key(1000),
                "bloom_bits_per_key",
            ),
            (
                Builder::default().sync_mode(SyncMode::Periodic(Duration::ZERO)),
                "sync_mode",
            ),
            (
                Builder::default().default_tree_options(TreeOptions {
                    compression: Compression::Zstd(99),
                    ..TreeOptions::default()
                }),
                "compression",
            ),
        ];
        for (b, name) in cases {
            assert!(
                matches!(b.validate(), Err(Error::InvalidOption { option, .. }) if option == name),
                "{name}"
            );
        }
        assert!(Builder::default().validate().is_ok());
    }
}
