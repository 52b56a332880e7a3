//! `ilion-cql`: the CQL native protocol (v4, v5) and the CQL language.
//!
//! Being built (issue #6).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
