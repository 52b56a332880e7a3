//! Whole-cluster scenarios on the simulated clock and network (`gossip::sim`), at 100 and 500
//! nodes. They assert the properties (convergence, conviction, no false conviction) and
//! print the figures; the full-length runs (10 minutes of 20% loss at 1,000 nodes) are in
//! `examples/simulate.rs`, run in release. Seeds are fixed and printed: a run replays exactly.

use std::time::Duration;

use gossip::sim::{self, SimConfig, Simulation};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The profile docs/gossip.md recommends for detection within about 10 s at a 1 s interval.
fn fast_detection(mut cfg: SimConfig) -> SimConfig {
    cfg.gossip.fanout = 3;
    cfg.gossip.failure_detector.phi_convict_threshold = 3.5;
    cfg
}

fn converged(cfg: SimConfig, settle: u64) -> Simulation {
    println!(
        "nodes={} seed={} fanout={} phi={}",
        cfg.nodes, cfg.seed, cfg.gossip.fanout, cfg.gossip.failure_detector.phi_convict_threshold
    );
    let mut s = Simulation::new_converged(cfg);
    s.run_until(secs(settle), &mut |_, _, _| {});
    assert!(
        s.fully_converged(),
        "cluster not up everywhere after {settle} s"
    );
    s
}

fn assert_spreads_within_log2_n_plus_5(s: &mut Simulation, origin: usize) {
    let n = s.len() as f64;
    let r = sim::scenario_spread(s, origin, 100);
    println!(
        "spread: {:?} rounds to reach {} nodes (target log2(N)+5 = {:.1}), {:.0} bytes/node/round",
        r.rounds,
        r.reached,
        n.log2() + 5.0,
        r.bytes_per_node_per_round
    );
    let rounds = r.rounds.expect("the change reached every node");
    assert!(rounds <= n.log2() + 5.0, "{rounds} rounds");
}

#[test]
fn a_cluster_of_100_forms_from_seeds_through_shadow_rounds() {
    let (s, report) = sim::scenario_form(SimConfig::new(100, 1), secs(120), secs(0));
    println!("formed after {:?} s", report.formed_after);
    assert!(report.formed_after.is_some());
    assert_eq!(s.message_counts().2, 0, "undecodable messages");
}

#[test]
fn a_change_reaches_all_100_nodes_within_log2_n_plus_5_rounds() {
    let mut s = converged(SimConfig::new(100, 2), 10);
    assert_spreads_within_log2_n_plus_5(&mut s, 17);
    assert_spreads_within_log2_n_plus_5(&mut s, 0);
}

#[test]
fn every_live_node_of_100_convicts_a_stopped_node_and_no_live_one() {
    for cfg in [
        SimConfig::new(100, 3),
        fast_detection(SimConfig::new(100, 3)),
    ] {
        let mut s = converged(cfg, 20);
        let c = sim::scenario_convict(&mut s, 42, secs(60));
        println!(
            "convicted by all after {:?} s (mean {:.1} s)",
            c.all_convicted_after, c.mean_after
        );
        assert!(
            c.all_convicted_after.is_some(),
            "{} of 99 convicted",
            c.convicted
        );
        assert_eq!(c.false_convictions, 0);
    }
}

#[test]
fn no_live_node_of_100_is_convicted_under_20_percent_message_loss() {
    let mut s = converged(fast_detection(SimConfig::new(100, 4)), 30);
    let l = sim::scenario_loss(&mut s, 0.2, secs(60));
    println!(
        "1 min at 20% loss: {} false convictions, max phi {:.2}, mean interval {:.3} s, {:.0} bytes/node/round, {:?} sent/lost",
        l.false_convictions,
        l.max_phi,
        l.mean_arrival_interval,
        l.bytes_per_node_per_round,
        l.messages
    );
    assert!(l.messages.1 > 0, "the network lost nothing");
    assert_eq!(l.false_convictions, 0);
}

#[test]
fn partitioned_halves_convict_each_other_and_all_come_back_up_after_the_heal() {
    let mut s = converged(fast_detection(SimConfig::new(100, 5)), 20);
    let p = sim::scenario_partition(&mut s, secs(30), secs(120));
    println!("healed after {:?} s", p.healed_after);
    assert!(p.sides_convicted_each_other);
    assert!(p.healed_after.is_some());
    assert_eq!(p.false_convictions, 0);
}

#[test]
fn a_change_reaches_all_500_nodes_within_log2_n_plus_5_rounds() {
    // No settling: spreading a change does not need the nodes to have marked each other up.
    let mut s = Simulation::new_converged(SimConfig::new(500, 6));
    assert_spreads_within_log2_n_plus_5(&mut s, 123);
}

// 1,000 nodes are too slow for a debug test on a shared machine: examples/simulate.rs runs them
// in release (`cargo run --release -p ilion-gossip --example simulate -- --nodes 1000`).
