//! Scenarios on a [`Simulation`]: cluster formation, spreading a change, conviction of a dead
//! node, false convictions under loss, and a partition and its heal, each returning what it
//! measured.

use std::cell::Cell;
use std::time::Duration;

use crate::gossiper::{Event, Gossiper};
use crate::state::ApplicationState;

use super::{SimConfig, Simulation, addr_index, node_addr};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// What [`scenario_form`] measured.
#[derive(Debug, Clone)]
pub struct FormReport {
    /// Seconds until every node saw every node up (None: not within the limit).
    pub formed_after: Option<f64>,
    /// Gossip rounds the formation took.
    pub rounds: Option<f64>,
}

/// Starts a cluster and runs it until every node sees every node up, then `settle` longer so
/// the failure detectors have samples.
pub fn scenario_form(
    cfg: SimConfig,
    limit: Duration,
    settle: Duration,
) -> (Simulation, FormReport) {
    let interval = cfg.gossip.gossip_interval;
    let mut sim = Simulation::new(cfg);
    let progress = std::env::var_os("GOSSIP_SIM_PROGRESS").is_some();
    let wall = std::time::Instant::now();
    let mut last_print = Duration::ZERO;
    let ok = sim.run_while(limit, interval, &mut |_, _, _| {}, &mut |s| {
        if progress && s.now() >= last_print + Duration::from_secs(5) {
            last_print = s.now();
            let known: usize = (0..s.len())
                .filter_map(|i| s.node(i))
                .map(|g| g.live_endpoints().len())
                .sum();
            eprintln!(
                "form: t={:.0}s wall={:.1}s live pairs {known}",
                secs(s.now()),
                wall.elapsed().as_secs_f64()
            );
        }
        s.fully_converged()
    });
    let formed = ok.then(|| secs(sim.now()));
    let t = sim.now();
    sim.run_until(t + settle, &mut |_, _, _| {});
    let report = FormReport {
        formed_after: formed,
        rounds: formed.map(|f| f / secs(interval)),
    };
    (sim, report)
}

/// What [`scenario_spread`] measured.
#[derive(Debug, Clone)]
pub struct SpreadReport {
    /// Gossip rounds until every running node had the new value (None: not within the limit).
    pub rounds: Option<f64>,
    /// How many nodes had it at the end.
    pub reached: usize,
    /// Bytes per node per round during the spread.
    pub bytes_per_node_per_round: f64,
}

/// Changes an application state on one node and counts the rounds until every running node has
/// the new value.
pub fn scenario_spread(sim: &mut Simulation, origin: usize, limit_rounds: u32) -> SpreadReport {
    let interval = sim.config().gossip.gossip_interval;
    let value = format!("schema-{}", sim.now().as_nanos());
    let Some(g) = sim.node_mut(origin) else {
        return SpreadReport {
            rounds: None,
            reached: 0,
            bytes_per_node_per_round: 0.0,
        };
    };
    g.set_local(ApplicationState::SchemaVersion, value.clone());
    let origin_addr = sim.addr(origin);
    let running = (0..sim.len()).filter(|i| sim.is_running(*i)).count();
    let mut have = vec![false; sim.len()];
    if let Some(h) = have.get_mut(origin) {
        *h = true;
    }
    let reached = Cell::new(1usize);
    let start = sim.now();
    let bytes_before: u64 = sim.bytes_sent().iter().sum();
    let deadline = start + interval * limit_rounds;
    let mut on_event = |_: Duration, node: usize, e: &Event| {
        if let Event::Changed {
            endpoint,
            key: ApplicationState::SchemaVersion,
            value: v,
        } = e
            && *endpoint == origin_addr
            && *v == value
            && let Some(h) = have.get_mut(node)
            && !*h
        {
            *h = true;
            reached.set(reached.get() + 1);
        }
    };
    let mut done_at = None;
    while sim.now() < deadline {
        let next = sim.now() + Duration::from_millis(10);
        sim.run_until(next, &mut on_event);
        if reached.get() >= running {
            done_at = Some(sim.now());
            break;
        }
    }
    let elapsed = sim.now() - start;
    let bytes: u64 = sim.bytes_sent().iter().sum::<u64>() - bytes_before;
    let rounds_elapsed = secs(elapsed) / secs(interval);
    SpreadReport {
        rounds: done_at.map(|t| secs(t - start) / secs(interval)),
        reached: reached.get(),
        bytes_per_node_per_round: bytes as f64 / running as f64 / rounds_elapsed.max(1e-9),
    }
}

/// What [`scenario_convict`] measured.
#[derive(Debug, Clone)]
pub struct ConvictReport {
    /// Seconds from the stop until the last running node convicted (None: not all did).
    pub all_convicted_after: Option<f64>,
    /// Mean seconds from the stop to a node's conviction.
    pub mean_after: f64,
    /// Median seconds from the stop to a node's conviction.
    pub median_after: f64,
    /// Nodes that convicted.
    pub convicted: usize,
    /// Live nodes wrongly convicted meanwhile.
    pub false_convictions: usize,
}

/// Stops node `victim` abruptly and measures when every running node marks it down.
pub fn scenario_convict(sim: &mut Simulation, victim: usize, limit: Duration) -> ConvictReport {
    let victim_addr = sim.addr(victim);
    sim.stop(victim);
    let start = sim.now();
    let running = (0..sim.len()).filter(|i| sim.is_running(*i)).count();
    let mut convicted_at: Vec<Option<Duration>> = vec![None; sim.len()];
    let count = Cell::new(0usize);
    let mut false_convictions = 0;
    let mut on_event = |now: Duration, node: usize, e: &Event| {
        if let Event::Down { endpoint } = e {
            if *endpoint == victim_addr {
                if let Some(slot) = convicted_at.get_mut(node)
                    && slot.is_none()
                {
                    *slot = Some(now);
                    count.set(count.get() + 1);
                }
            } else {
                false_convictions += 1;
            }
        }
    };
    let deadline = start + limit;
    while sim.now() < deadline && count.get() < running {
        let next = sim.now() + Duration::from_millis(10);
        sim.run_until(next, &mut on_event);
    }
    let mut times: Vec<f64> = convicted_at
        .iter()
        .flatten()
        .map(|t| secs(*t - start))
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    let mean = if times.is_empty() {
        0.0
    } else {
        times.iter().sum::<f64>() / times.len() as f64
    };
    ConvictReport {
        all_convicted_after: (count.get() >= running)
            .then(|| times.iter().copied().fold(0.0, f64::max)),
        mean_after: mean,
        median_after: median,
        convicted: count.get(),
        false_convictions,
    }
}

/// What [`scenario_loss`] measured.
#[derive(Debug, Clone)]
pub struct LossReport {
    /// Down events about running nodes.
    pub false_convictions: usize,
    /// Highest phi any node reached for any endpoint before its next heartbeat arrived.
    pub max_phi: f64,
    /// The oldest any node's known heartbeat of a live endpoint got before a fresher one
    /// arrived (seconds).
    pub max_heartbeat_age: f64,
    /// Mean heartbeat arrival interval in the detectors' windows (seconds), over a sample of
    /// observers, at the end.
    pub mean_arrival_interval: f64,
    /// Bytes per node per round.
    pub bytes_per_node_per_round: f64,
    /// Messages sent and lost.
    pub messages: (u64, u64),
}

/// Runs the cluster for `duration` with message loss `loss` and counts false convictions.
pub fn scenario_loss(sim: &mut Simulation, loss: f64, duration: Duration) -> LossReport {
    let interval = sim.config().gossip.gossip_interval;
    sim.set_loss(loss);
    let start = sim.now();
    let (sent0, lost0, _) = sim.message_counts();
    let bytes_before: u64 = sim.bytes_sent().iter().sum();
    let false_convictions = Cell::new(0usize);
    let mut on_event = |_: Duration, _: usize, e: &Event| {
        if matches!(e, Event::Down { .. }) {
            false_convictions.set(false_convictions.get() + 1);
        }
    };
    for i in 0..sim.len() {
        if let Some(g) = sim.node_mut(i) {
            g.failure_detector_mut().reset_max_phi();
        }
    }
    // In steps of a simulated minute, with a progress line when GOSSIP_SIM_PROGRESS is set (a
    // long run then reports what it has measured so far).
    let progress = std::env::var_os("GOSSIP_SIM_PROGRESS").is_some();
    let wall = std::time::Instant::now();
    let end = start + duration;
    while sim.now() < end {
        let next = (sim.now() + Duration::from_secs(60)).min(end);
        sim.run_until(next, &mut on_event);
        if progress {
            let phi = (0..sim.len())
                .filter_map(|i| sim.node(i))
                .map(|g| g.failure_detector().max_phi_at_arrival())
                .fold(0.0, f64::max);
            let age = (0..sim.len())
                .filter_map(|i| sim.node(i))
                .map(|g| g.failure_detector().max_sample().as_secs_f64())
                .fold(0.0, f64::max);
            eprintln!(
                "loss: {:.0} of {:.0} s, false convictions {}, max phi at arrival {phi:.2}, max heartbeat age {age:.2} s, wall {:.0} s",
                secs(sim.now() - start),
                secs(duration),
                false_convictions.get(),
                wall.elapsed().as_secs_f64()
            );
        }
    }
    let max_phi = (0..sim.len())
        .filter_map(|i| sim.node(i))
        .map(|g| g.failure_detector().max_phi_at_arrival())
        .fold(0.0, f64::max);
    let max_heartbeat_age = (0..sim.len())
        .filter_map(|i| sim.node(i))
        .map(|g| g.failure_detector().max_sample().as_secs_f64())
        .fold(0.0, f64::max);
    let (mut sum, mut n) = (0.0, 0usize);
    for obs in (0..sim.len()).step_by((sim.len() / 10).max(1)) {
        if let Some(g) = sim.node(obs) {
            for ep in g.live_endpoints() {
                if let Some(m) = g.failure_detector().mean_interval(ep) {
                    sum += m.as_secs_f64();
                    n += 1;
                }
            }
        }
    }
    sim.set_loss(0.0);
    let running = (0..sim.len()).filter(|i| sim.is_running(*i)).count();
    let bytes: u64 = sim.bytes_sent().iter().sum::<u64>() - bytes_before;
    let (sent, lost, _) = sim.message_counts();
    LossReport {
        false_convictions: false_convictions.get(),
        max_phi,
        max_heartbeat_age,
        mean_arrival_interval: sum / n.max(1) as f64,
        bytes_per_node_per_round: bytes as f64 / running as f64 / (secs(duration) / secs(interval)),
        messages: (sent - sent0, lost - lost0),
    }
}

/// What [`scenario_partition`] measured.
#[derive(Debug, Clone)]
pub struct PartitionReport {
    /// Every node on each side convicted every node of the other side.
    pub sides_convicted_each_other: bool,
    /// Seconds from the heal until every node saw every node up again (None: not in the limit).
    pub healed_after: Option<f64>,
    /// Down events within a side (false convictions).
    pub false_convictions: usize,
    /// Each false conviction, with what the observer's detector knew of the convicted node at
    /// most 100 ms later (by then a fresher heartbeat may have arrived and been sampled).
    pub false_conviction_details: Vec<FalseConviction>,
}

/// One live node wrongly convicted, and the observer's detector for it just after.
#[derive(Debug, Clone)]
pub struct FalseConviction {
    /// Seconds from the split (more than the split lasted: after the heal).
    pub after_split: f64,
    /// The node that convicted.
    pub observer: usize,
    /// The node it convicted.
    pub convicted: usize,
    /// Age of the freshest heartbeat the observer had of it (seconds).
    pub heartbeat_age: f64,
    /// Mean of the observer's samples of it (seconds).
    pub mean: f64,
    /// Observed standard deviation (before the floor).
    pub std_deviation: f64,
    /// The age at which it is convicted, given those samples (seconds).
    pub conviction_age: f64,
}

/// Splits the cluster in two halves for `split`, then heals and measures recovery.
pub fn scenario_partition(
    sim: &mut Simulation,
    split: Duration,
    limit: Duration,
) -> PartitionReport {
    let half = sim.len() / 2;
    scenario_partition_sides(sim, half, split, limit)
}

/// Cuts nodes `0..first` off from the rest for `split`, then heals and measures recovery.
pub fn scenario_partition_sides(
    sim: &mut Simulation,
    first: usize,
    split: Duration,
    limit: Duration,
) -> PartitionReport {
    let n = sim.len();
    for i in 0..n {
        sim.set_group(i, u32::from(i >= first));
    }
    let found: std::cell::RefCell<Vec<(Duration, usize, usize)>> = Default::default();
    let mut on_event = |now: Duration, node: usize, e: &Event| {
        if let Event::Down { endpoint } = e
            && let Some(j) = addr_index(*endpoint)
            && (j >= first) == (node >= first)
        {
            found.borrow_mut().push((now, node, j));
        }
    };
    let t = sim.now();
    let mut details = Vec::new();
    // In steps of 100 ms, so that a false conviction's detector state is looked at right after.
    let describe = |sim: &Simulation, details: &mut Vec<FalseConviction>| {
        let now = sim.now();
        for (at, observer, convicted) in found.borrow_mut().drain(..) {
            let fd = sim.node(observer).map(Gossiper::failure_detector);
            let ep = node_addr(convicted);
            let get =
                |f: &dyn Fn(&crate::failure_detector::FailureDetector) -> Option<Duration>| {
                    fd.and_then(f).map_or(f64::NAN, secs)
                };
            details.push(FalseConviction {
                after_split: secs(at.saturating_sub(t)),
                observer,
                convicted,
                heartbeat_age: get(&|fd| fd.heartbeat_age(ep, now)),
                mean: get(&|fd| fd.mean_interval(ep)),
                std_deviation: get(&|fd| fd.std_deviation(ep)),
                conviction_age: get(&|fd| fd.conviction_age(ep)),
            });
        }
    };
    while sim.now() < t + split {
        let next = (sim.now() + Duration::from_millis(100)).min(t + split);
        sim.run_until(next, &mut on_event);
        describe(sim, &mut details);
    }
    let sides_convicted_each_other = (0..n).all(|i| {
        sim.node(i).is_none_or(|g| {
            (0..n).all(|j| (j >= first) == (i >= first) || !g.is_alive(node_addr(j)))
        })
    });
    sim.heal();
    let start = sim.now();
    let check = sim.config().gossip.gossip_interval / 10;
    let mut healed_at = None;
    let mut quiet_until = start + limit;
    while sim.now() < quiet_until {
        let next = (sim.now() + check).min(quiet_until);
        sim.run_until(next, &mut on_event);
        describe(sim, &mut details);
        if healed_at.is_none() && sim.fully_converged() {
            healed_at = Some(sim.now());
            // Watch a while longer for late false convictions.
            quiet_until = quiet_until.min(sim.now() + Duration::from_secs(10));
        }
    }
    PartitionReport {
        sides_convicted_each_other,
        healed_after: healed_at.map(|h| secs(h - start)),
        false_convictions: details.len(),
        false_conviction_details: details,
    }
}
