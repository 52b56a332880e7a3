//! `ilion-lsm`: an embeddable LSM key-value engine.
//!
//! Being built (issue #3): one shared commit log, named trees, checksummed sorted files read
//! through mmap, leveled / size-tiered / time-window compaction.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
