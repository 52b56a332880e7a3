//! Fuzz targets for every decoder, as plain functions so that both libFuzzer (the cargo-fuzz
//! crate in `fuzz/`, one `fuzz_targets/<name>.rs` wrapper per target) and the stable-toolchain
//! smoke run ([`smoke`], run by `tests/smoke.rs` in every `cargo nextest run`) call the same
//! code. Seeds live in `fuzz/seeds/<name>/`.
//!
//! A target must never panic on any input: a panic is a bug in the decoder under test.
//! Targets that check a model panic on a divergence, which is also a bug.

pub mod auth;
pub mod coordinator;
pub mod cql_language;
pub mod cql_protocol;
pub mod gossip;
pub mod lsm_engine;
pub mod lsm_ingest;
pub mod lsm_table;
pub mod repair;
pub mod smoke;

/// A fuzz target: takes arbitrary bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/<name>.rs` binary.
pub fn targets() -> Vec<(&'static str, Target)> {
    vec![
        ("cql_frame", cql_protocol::cql_frame),
        ("cql_value", cql_protocol::cql_value),
        ("cql_parse", cql_language::cql_parse),
        ("gossip_message", gossip::gossip_message),
        ("lsm_table", lsm_table::lsm_table),
        ("lsm_commitlog", lsm_engine::lsm_commitlog),
        ("lsm_ops", lsm_engine::lsm_ops),
        ("lsm_ingest", lsm_ingest::lsm_ingest),
        ("replica_message", coordinator::replica_message),
        ("merkle_tree", repair::merkle_tree),
        ("sasl_plain", auth::sasl_plain),
    ]
}
