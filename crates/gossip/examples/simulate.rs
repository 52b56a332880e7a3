//! Runs the gossip scenarios on a simulated cluster and prints the figures.
//!
//! `cargo run --release -p ilion-gossip --example simulate -- --nodes 1000 [--seed N]
//!  [--minutes 10] [--loss 0.2] [--phi 8] [--fanout F] [--settle 30] [--split 60] [--form] [--loss-only]`
//!
//! `--form` starts every node empty and measures cluster formation through shadow rounds and
//! gossip; without it the cluster starts converged (faster, for the other scenarios).

use std::time::{Duration, Instant};

use ilion_gossip::sim::{self, SimConfig};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The machine's load averages (1, 5, 15 min), for the record: figures from a loaded machine
/// take longer in wall time, never differ in simulated time.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU seconds this process used (user + system), from /proc (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces, so split after its ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the state.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = arg(&args, "--nodes", 100);
    let seed: u64 = arg(&args, "--seed", 1);
    let minutes: f64 = arg(&args, "--minutes", 10.0);
    let loss: f64 = arg(&args, "--loss", 0.2);
    let defaults = ilion_gossip::Config::new("sim", Vec::new());
    let phi: f64 = arg(
        &args,
        "--phi",
        defaults.failure_detector.phi_convict_threshold,
    );
    let fanout: usize = arg(&args, "--fanout", defaults.fanout);
    let settle = Duration::from_secs(arg(&args, "--settle", 30));
    let split = Duration::from_secs(arg(&args, "--split", 60));
    let wall = Instant::now();
    let lap = |what: &str| {
        eprintln!(
            "[{what} done, wall {:.1} s, cpu {:.1} s, load {}]",
            wall.elapsed().as_secs_f64(),
            cpu_seconds(),
            load()
        )
    };

    let mut cfg = SimConfig::new(nodes, seed);
    cfg.gossip.failure_detector.phi_convict_threshold = phi;
    cfg.gossip.fanout = fanout;
    println!(
        "nodes={nodes} seed={seed} phi_convict_threshold={phi} fanout={fanout} interval=1s max_message_bytes={} load {}",
        cfg.gossip.max_message_bytes,
        load()
    );

    let mut s = if args.iter().any(|a| a == "--form") {
        let (s, form) = sim::scenario_form(cfg.clone(), Duration::from_secs(600), settle);
        println!(
            "form: every node sees every node up after {:?} s ({:?} rounds)",
            form.formed_after, form.rounds
        );
        s
    } else {
        let mut s = sim::Simulation::new_converged(cfg.clone());
        s.run_until(settle, &mut |_, _, _| {});
        println!(
            "start: pre-converged cluster settled {} s; every node up everywhere: {}",
            settle.as_secs(),
            s.fully_converged()
        );
        s
    };
    lap("start");

    // `--loss-only`: just the loss scenario (and its progress lines), for long runs.
    let loss_only = args.iter().any(|a| a == "--loss-only");
    let loss_run = |s: &mut sim::Simulation| {
        let l = sim::scenario_loss(s, loss, Duration::from_secs_f64(60.0 * minutes));
        println!(
            "loss {loss}: {minutes} min, false convictions {}, max phi at arrival {:.2}, max heartbeat age {:.2} s, mean arrival interval {:.3} s, bytes/node/round {:.0}, messages sent {} lost {}",
            l.false_convictions,
            l.max_phi,
            l.max_heartbeat_age,
            l.mean_arrival_interval,
            l.bytes_per_node_per_round,
            l.messages.0,
            l.messages.1
        );
        lap("loss");
        l
    };
    if loss_only {
        loss_run(&mut s);
        return;
    }

    let (mut spread_min, mut spread_max, mut spread_bytes) = (f64::MAX, 0.0f64, 0.0f64);
    for k in 0..3 {
        let origin = (k * 7919 + 11) % nodes;
        let r = sim::scenario_spread(&mut s, origin, 100);
        println!(
            "spread #{k}: rounds to reach all {} nodes = {:?} (log2(N)+5 = {:.1}), bytes/node/round = {:.0}",
            r.reached,
            r.rounds,
            (nodes as f64).log2() + 5.0,
            r.bytes_per_node_per_round
        );
        let rounds = r.rounds.unwrap_or(f64::INFINITY);
        spread_min = spread_min.min(rounds);
        spread_max = spread_max.max(rounds);
        spread_bytes = spread_bytes.max(r.bytes_per_node_per_round);
        let t = s.now();
        s.run_until(t + Duration::from_secs(5), &mut |_, _, _| {});
    }
    lap("spread");

    let victim = nodes / 2;
    let c = sim::scenario_convict(&mut s, victim, Duration::from_secs(120));
    println!(
        "convict: all {} live nodes convicted the stopped node after {:?} s (median {:.2} s, mean {:.2} s), false convictions {}",
        c.convicted, c.all_convicted_after, c.median_after, c.mean_after, c.false_convictions
    );
    s.start(victim);
    let t = s.now();
    let back = s.run_while(
        t + Duration::from_secs(120),
        Duration::from_millis(100),
        &mut |_, _, _| {},
        &mut |s| s.fully_converged(),
    );
    let restart = back.then(|| (s.now() - t).as_secs_f64());
    println!("restart: restarted node (new generation) seen up by every node after {restart:?} s");
    lap("convict");

    let p = sim::scenario_partition(&mut s, split, Duration::from_secs(300));
    println!(
        "partition {} s: sides convicted each other {}, false convictions {}, healed (all up everywhere) after {:?} s",
        split.as_secs(),
        p.sides_convicted_each_other,
        p.false_convictions,
        p.healed_after
    );
    for f in &p.false_conviction_details {
        println!(
            "  false conviction {:.2} s after the split: node {} convicted node {} (heartbeat age {:.2} s, samples mean {:.3} s, std deviation {:.3} s, conviction age {:.2} s)",
            f.after_split,
            f.observer,
            f.convicted,
            f.heartbeat_age,
            f.mean,
            f.std_deviation,
            f.conviction_age
        );
    }
    // Let the detectors forget the partition's long gaps before the loss run.
    let t = s.now();
    s.run_until(t + settle, &mut |_, _, _| {});
    lap("partition");

    let l = loss_run(&mut s);
    let (sent, lost, bad) = s.message_counts();
    println!(
        "total messages {sent}, lost {lost}, undecodable {bad}; wall {:.1} s, cpu {:.1} s, load {}",
        wall.elapsed().as_secs_f64(),
        cpu_seconds(),
        load()
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |v| format!("{v:.2} s"));
    println!(
        "| nodes | spread rounds (log2 N + 5) | conviction median / all | restart seen up | {:.0}% loss, {minutes} min: false convictions, max phi, max age | partition {} s: healed after, false convictions | bytes/node/round |",
        loss * 100.0,
        split.as_secs()
    );
    println!(
        "| {nodes} | {spread_min:.1}-{spread_max:.1} ({:.1}) | {:.2} s / {} | {} | {}, {:.2}, {:.2} s | {}, {} | {:.1} KB |",
        (nodes as f64).log2() + 5.0,
        c.median_after,
        opt(c.all_convicted_after),
        opt(restart),
        l.false_convictions,
        l.max_phi,
        l.max_heartbeat_age,
        opt(p.healed_after),
        p.false_convictions + c.false_convictions,
        spread_bytes / 1000.0
    );
}
