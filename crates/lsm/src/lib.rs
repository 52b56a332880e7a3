//! `ilion-lsm`: an embeddable LSM key-value engine.
//!
//! Being built (issue #3): one shared commit log, named trees, checksummed sorted files read
//! through mmap, leveled / size-tiered / time-window compaction.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod error;
#[allow(dead_code)] // used by the memtable, table files and commit log as they land
mod key;
pub mod vfs;

pub use error::{Error, Result};
pub use vfs::{ReadableFile, StdVfs, Vfs, WritableFile};
