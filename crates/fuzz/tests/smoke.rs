//! Every fuzz target over its seeds and a seeded stream of generated inputs, one test per
//! target so they run in parallel. `ILION_FUZZ_SMOKE_ITERATIONS` (default 20,000) and
//! `ILION_FUZZ_SMOKE_SEED` (default 4368) change the stream; a failure prints the input in hex.

use ilion_fuzz::smoke::smoke;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(name: &str) {
    let (_, target) = ilion_fuzz::targets()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target named {name}"));
    let iterations = env_or("ILION_FUZZ_SMOKE_ITERATIONS", 20_000usize);
    let seed = env_or("ILION_FUZZ_SMOKE_SEED", 0x1110u64);
    // The targets' own panics are caught and reported by `smoke`; keep the default hook quiet.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    match smoke(name, target, iterations, seed) {
        Ok(done) => {
            assert!(done.seeds > 0, "{name} has no seeds in fuzz/seeds/{name}");
            println!(
                "fuzz smoke: {name}: {} seeds + {} generated inputs, no panic",
                done.seeds, done.generated
            );
        }
        Err(report) => panic!("{report}"),
    }
}

#[test]
fn every_target_has_a_smoke_test() {
    let mut names: Vec<&str> = ilion_fuzz::targets().iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cql_frame",
            "cql_parse",
            "cql_value",
            "gossip_message",
            "lsm_commitlog",
            "lsm_ingest",
            "lsm_ops",
            "lsm_table",
            "merkle_tree",
            "replica_message",
            "sasl_plain"
        ]
    );
    let wrappers = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for name in names {
        let wrapper = wrappers.join(format!("{name}.rs"));
        assert!(
            wrapper.exists(),
            "no libFuzzer wrapper {}",
            wrapper.display()
        );
    }
}

#[test]
fn cql_frame_survives_its_smoke() {
    run("cql_frame");
}

#[test]
fn cql_value_survives_its_smoke() {
    run("cql_value");
}

#[test]
fn cql_parse_survives_its_smoke() {
    run("cql_parse");
}

#[test]
fn gossip_message_survives_its_smoke() {
    run("gossip_message");
}

#[test]
fn lsm_table_survives_its_smoke() {
    run("lsm_table");
}

#[test]
fn lsm_commitlog_survives_its_smoke() {
    run("lsm_commitlog");
}

#[test]
fn lsm_ingest_survives_its_smoke() {
    run("lsm_ingest");
}

#[test]
fn lsm_ops_survives_its_smoke() {
    run("lsm_ops");
}

#[test]
fn replica_message_survives_its_smoke() {
    run("replica_message");
}

#[test]
fn merkle_tree_survives_its_smoke() {
    run("merkle_tree");
}

#[test]
fn sasl_plain_survives_its_smoke() {
    run("sasl_plain");
}
