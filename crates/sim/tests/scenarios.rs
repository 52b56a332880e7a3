//! Seeded whole-cluster scenarios. A few fixed seeds run in CI; `ILION_SIM_SEEDS=<n>` runs n
//! more (seeds 1000..1000+n). A seed that ever fails becomes a named test below.

use ilion_sim::{Sim, SimConfig};

fn run(config: SimConfig) -> ilion_sim::Report {
    match Sim::new(config).and_then(Sim::run) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn fixed_seeds_never_lose_an_acknowledged_quorum_write() {
    for seed in 1..=4 {
        let r = run(SimConfig {
            seed,
            ..SimConfig::default()
        });
        assert!(
            r.acknowledged_writes > 0,
            "seed {seed} acknowledged nothing"
        );
        assert!(r.reads_checked > 0, "seed {seed} checked no read");
    }
}

#[test]
fn a_seed_replays_exactly() {
    let a = run(SimConfig {
        seed: 99,
        operations: 150,
        ..SimConfig::default()
    });
    let b = run(SimConfig {
        seed: 99,
        operations: 150,
        ..SimConfig::default()
    });
    assert_eq!(a, b);
    let c = run(SimConfig {
        seed: 100,
        operations: 150,
        ..SimConfig::default()
    });
    assert_ne!(a.trace, c.trace);
}

#[test]
fn a_harsh_network_still_keeps_acknowledged_writes() {
    let r = run(SimConfig {
        seed: 5,
        drop: 0.2,
        delay: 0.15,
        drop_answer: 0.15,
        crash: 0.08,
        partition: 0.08,
        ..SimConfig::default()
    });
    assert!(r.failed_writes > 0, "the network was not harsh");
    assert!(r.hints_delivered > 0, "no hint was ever delivered");
}

#[test]
fn five_nodes_at_replication_factor_three() {
    run(SimConfig {
        seed: 11,
        nodes: 5,
        ..SimConfig::default()
    });
}

#[test]
fn more_seeds_from_the_environment() {
    let n: u64 = std::env::var("ILION_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for seed in 1000..1000 + n {
        run(SimConfig {
            seed,
            ..SimConfig::default()
        });
    }
}

#[test]
fn quorum_writes_acknowledged_while_a_node_joins_are_seen_by_later_quorum_reads() {
    for seed in 1..=6 {
        let r = run(SimConfig {
            seed,
            nodes: 4,
            keys: 24,
            operations: 400,
            join: true,
            ..SimConfig::default()
        });
        assert!(
            r.acknowledged_writes > 0,
            "seed {seed} acknowledged nothing"
        );
        assert!(r.reads_checked > 0, "seed {seed} checked no read");
        assert!(
            r.trace.iter().any(|l| l.starts_with("n3 joined")),
            "seed {seed}: the join never finished"
        );
    }
}

#[test]
fn a_join_at_rf_1_keeps_every_acknowledged_write_even_under_a_harsh_network() {
    for seed in 20..=23 {
        let r = run(SimConfig {
            seed,
            nodes: 3,
            keys: 64,
            operations: 600,
            replication_factor: 1,
            join: true,
            crash: 0.0,
            partition: 0.0,
            ..SimConfig::default()
        });
        assert!(r.streamed > 0, "seed {seed}: nothing streamed");
    }
    let r = run(SimConfig {
        seed: 23,
        nodes: 3,
        keys: 24,
        operations: 400,
        replication_factor: 1,
        join: true,
        drop: 0.1,
        delay: 0.1,
        drop_answer: 0.1,
        ..SimConfig::default()
    });
    assert!(
        r.streamed > 0,
        "nothing streamed: {:?}",
        r.trace.iter().rev().take(5).collect::<Vec<_>>()
    );
}
