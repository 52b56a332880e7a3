//! `ilion-gossip`: gossip and phi-accrual failure detection.
//!
//! Being built (issue #5).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
