//! `ilion-lsm`: an embeddable LSM key-value engine.
//!
//! One write-ahead commit log is shared by any number of named trees (column families); each
//! tree keeps its newest writes in a lock-free memtable and flushes them to immutable,
//! checksummed table files read through mmap, which background threads compact (leveled,
//! size-tiered or time-window). Write batches are atomic across trees; snapshots give
//! consistent reads; iterators run forward and backward over ranges and prefixes.
//!
//! ```
//! # fn main() -> ilion_lsm::Result<()> {
//! use ilion_lsm::{Db, SyncMode, WriteBatch};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::builder()
//!     .memtable_size(1 << 20)
//!     .sync_mode(SyncMode::Batch) // a write returns after the fsync that covers it
//!     .open(dir.path())?;
//! let users = db.tree("users")?;
//! users.put(b"alice", b"1")?;
//! users.put(b"bob", b"2")?;
//! users.delete(b"bob")?;
//!
//! let emails = db.tree("emails")?;
//! let mut batch = WriteBatch::new();
//! batch.put(&users, b"carol", b"3");
//! batch.put(&emails, b"carol@example.com", b"carol");
//! db.write(batch)?; // both or neither, even across a crash
//!
//! db.flush()?;
//! let keys: Vec<Vec<u8>> = users.iter().map(|r| r.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, vec![b"alice".to_vec(), b"carol".to_vec()]);
//! drop((users, emails));
//! db.close()?;
//!
//! let db = Db::open(dir.path())?; // recovery replays the commit log
//! assert_eq!(db.tree("users")?.get(b"carol")?, Some(b"3".to_vec()));
//! # Ok(()) }
//! ```
//!
//! What it is not: a database server, a SQL or CQL engine, or a distributed store. Keys and
//! values are byte strings; the data model, TTLs and tombstone rules of a wide-column store
//! belong to the layer above (which plugs in through [`CompactionFilter`], [`MergeOperator`]
//! and [`PropertiesCollectorFactory`]). There is no async API: calls block, and background work runs on plain
//! threads.
//!
//! File formats are described in `docs/lsm-commitlog-and-manifest.md` and beside the types
//! that write them.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod batch;
mod cache;
mod commitlog;
mod compaction;
mod db;
mod error;
mod ingest;
mod iter;
mod key;
mod manifest;
mod memtable;
mod options;
mod properties;
mod snapshot;
mod sstable;
mod stats;
mod throttle;
mod tree;
pub mod vfs;

pub use batch::WriteBatch;
pub use cache::CacheStats;
pub use compaction::{CompactionConfig, CompactionStrategy, TombstoneCompaction};
pub use db::{DEFAULT_TREE, Db};
pub use error::{Error, Result};
pub use ingest::{IngestOptions, Ingested, LiveFile};
pub use iter::Iter;
pub use options::{
    Builder, CompactionFilter, Decision, FilterContext, MergeOperator, SyncMode, TreeOptions,
};
pub use properties::{
    EntryKind, FileTimes, MAX_USER_PROPERTIES, OutsideSource, PropertiesCollector,
    PropertiesCollectorFactory, PurgeHorizon,
};
pub use snapshot::Snapshot;
pub use sstable::Compression;
#[doc(hidden)] // benchmarks and fuzz targets reach the table code through this
pub use sstable::harness;
pub use stats::{LevelStats, Stats, TreeStats};
pub use throttle::Throttle;
pub use tree::Tree;
pub use vfs::{ReadableFile, StdVfs, Vfs, WritableFile};
