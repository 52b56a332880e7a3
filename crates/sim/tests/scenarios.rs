//! Seeded whole-cluster scenarios. A few fixed seeds run in CI; `ILION_SIM_SEEDS=<n>` runs n
//! more (seeds 1000..1000+n). A seed that ever fails becomes a named test below.

use ilion_sim::{Movement, Sim, SimConfig};

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
        run(repair_scenario(seed));
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
            movement: Movement::Join,
            ..SimConfig::default()
        });
        assert!(
            r.acknowledged_writes > 0,
            "seed {seed} acknowledged nothing"
        );
        assert!(r.reads_checked > 0, "seed {seed} checked no read");
        assert!(
            r.trace.iter().any(|l| l.starts_with("Join finished")),
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
            movement: Movement::Join,
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
        movement: Movement::Join,
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

/// Runs `movement` on seeds `seeds` with the default faults (message loss, late messages,
/// lost answers, crashes, partitions) and checks that it finished (and, with `streams`, that
/// it streamed: a seed may crash the source before it got any write).
fn movement_under_faults(
    movement: Movement,
    nodes: usize,
    seeds: std::ops::RangeInclusive<u64>,
    streams: bool,
) {
    let finished = format!("{movement:?} finished");
    for seed in seeds {
        let r = run(SimConfig {
            seed,
            nodes,
            // Many keys: some are not written again once the movement starts, so what the
            // gaining nodes hold of them came by streaming.
            keys: 96,
            operations: 400,
            movement,
            ..SimConfig::default()
        });
        assert!(r.reads_checked > 0, "seed {seed} checked no read");
        assert!(!streams || r.streamed > 0, "seed {seed}: nothing streamed");
        assert!(
            r.trace.iter().any(|l| l.starts_with(&finished)),
            "seed {seed}: the {movement:?} never finished"
        );
        assert!(
            r.trace
                .iter()
                .any(|l| l == "every replica holds the writes acknowledged at ALL"),
            "seed {seed}: the replicas were not checked"
        );
    }
}

#[test]
fn quorum_writes_acknowledged_while_a_node_leaves_are_seen_by_later_quorum_reads() {
    movement_under_faults(Movement::Leave, 5, 30..=35, true);
}

/// Seed 45 found that a replacement streaming each range from one surviving replica can miss
/// a write acknowledged at QUORUM by the dead node and the other survivor: it now streams
/// from every survivor.
#[test]
fn quorum_writes_acknowledged_while_a_dead_node_is_replaced_are_seen_by_later_quorum_reads() {
    movement_under_faults(Movement::Replace, 5, 40..=45, true);
}

#[test]
fn quorum_writes_acknowledged_while_a_dead_node_is_removed_are_seen_by_later_quorum_reads() {
    movement_under_faults(Movement::Remove, 5, 50..=55, true);
}

#[test]
fn more_movement_seeds_from_the_environment() {
    let n: u64 = std::env::var("ILION_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for movement in [
        Movement::Join,
        Movement::Leave,
        Movement::Replace,
        Movement::Remove,
    ] {
        if n > 0 {
            movement_under_faults(movement, 5, 2000..=2000 + n - 1, false);
        }
    }
}

/// Repair-aware tombstone purging, in the table options of the repair scenarios: a tombstone
/// is purged only once its range was repaired after the delete (less a minute).
const REPAIR_MODE: &str = "WITH gc_grace_seconds = 0 AND tombstone_gc = \
                           {'mode': 'repair', 'propagation_delay_in_seconds': '60'}";

/// Writes, deletes, compactions and repairs under the default faults, in repair mode.
fn repair_scenario(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        keys: 16,
        operations: 400,
        repair: true,
        table_options: REPAIR_MODE.to_owned(),
        ..SimConfig::default()
    }
}

#[test]
fn deletes_never_come_back_and_replicas_agree_after_repairs_under_faults() {
    for seed in 60..=67 {
        let r = run(repair_scenario(seed));
        assert!(r.acknowledged_deletes > 0, "seed {seed} deleted nothing");
        assert!(
            r.trace.iter().filter(|l| l.starts_with("repair n")).count() > 1,
            "seed {seed}: no repair ran before the final one"
        );
        assert!(
            r.trace
                .iter()
                .any(|l| l == "the replicas agree after the final repair"),
            "seed {seed}: the replicas were not compared"
        );
    }
}

/// A delete a replica missed (down, no hints), purged on the others by compaction, then a
/// repair: with Cassandra's rule and gc_grace_seconds 0 the deleted row comes back (the check
/// sees it); with repair-aware purging the tombstone waits for the repair, which carries it to
/// the replica that missed it.
fn missed_delete_then_compaction_then_repair(
    table_options: &str,
) -> Result<(), ilion_sim::SimError> {
    use ilion_cql::protocol::Consistency;

    let mut sim = Sim::new(SimConfig {
        seed: 1,
        drop: 0.0,
        delay: 0.0,
        drop_answer: 0.0,
        crash: 0.0,
        partition: 0.0,
        hints: false,
        repair: true,
        table_options: table_options.to_owned(),
        ..SimConfig::default()
    })?;
    assert!(sim.insert(0, 1, Consistency::All));
    sim.stop(2);
    assert!(sim.delete(0, 1, Consistency::Quorum));
    sim.advance_clocks(120);
    sim.compact(0)?;
    sim.compact(1)?;
    sim.start(2);
    assert!(sim.repair(0)?, "the repair could not run");
    sim.compact(0)?;
    sim.compact(1)?;
    sim.compact(2)?;
    sim.check_key(1)
}

#[test]
fn a_missed_delete_comes_back_with_gc_grace_0_but_never_with_repair_aware_purging() {
    let err = missed_delete_then_compaction_then_repair(
        "WITH gc_grace_seconds = 0 AND tombstone_gc = {'mode': 'timeout'}",
    )
    .expect_err("with gc_grace_seconds 0 and no repair first, the row must come back");
    assert!(err.to_string().contains("the row came back"), "{err}");
    missed_delete_then_compaction_then_repair(REPAIR_MODE).unwrap();
}
