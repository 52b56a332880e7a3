//! Lightweight transactions under faults: every seed's history of compare-and-set and SERIAL
//! reads is linearizable. 200 seeds run in CI; `ILION_SIM_SEEDS=<n>` runs n more (seeds
//! 10_000..10_000+n, what `cargo xtask sim --seeds n` does). A seed that ever fails becomes a named
//! test below.

use ilion_sim::{LwtReport, Sim, SimConfig};

fn config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        operations: 80,
        keys: 3,
        ..SimConfig::default()
    }
}

fn run(config: SimConfig) -> LwtReport {
    match Sim::new(config).and_then(Sim::run_lwt) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn compare_and_set_and_serial_reads_are_linearizable_over_200_seeds() {
    let (mut applied, mut not_applied, mut unknown) = (0, 0, 0);
    for seed in 1..=200 {
        let r = run(config(seed));
        applied += r.applied;
        not_applied += r.not_applied;
        unknown += r.unknown;
    }
    // The scenario exercises every outcome, or it proves little.
    assert!(applied > 200, "{applied} applied");
    assert!(not_applied > 100, "{not_applied} not applied");
    assert!(unknown > 0, "no transaction ever timed out");
}

#[test]
fn a_harsh_network_keeps_transactions_linearizable() {
    for seed in 1..=20 {
        run(SimConfig {
            drop: 0.2,
            delay: 0.2,
            drop_answer: 0.2,
            crash: 0.1,
            partition: 0.1,
            ..config(seed)
        });
    }
}

#[test]
fn more_seeds_when_asked() {
    let n: u64 = std::env::var("ILION_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in 10_000..10_000 + n {
        run(config(seed));
    }
}
