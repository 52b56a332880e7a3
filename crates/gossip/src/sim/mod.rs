//! A discrete-event simulator for whole clusters: a simulated clock, a simulated network with
//! latency, loss and partitions, and every message really encoded and decoded. Seeded and
//! replayable; no tokio, no sleeps.
//!
//! [`Simulation`] is the mechanism; the `scenario_*` functions (in `scenario`) measure what the
//! crate promises (convergence rounds, conviction time, false convictions under loss, partition
//! and heal, bytes per node per round) and are shared by the tests and `examples/simulate.rs`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::codec;
use crate::gossiper::{Config, Event, Gossiper};
use crate::rng::SeededRng;
use crate::state::{ApplicationState, Endpoint, NodeStatus, format_tokens};

mod scenario;

pub use scenario::{
    ConvictReport, FalseConviction, FormReport, LossReport, PartitionReport, SpreadReport,
    scenario_convict, scenario_form, scenario_loss, scenario_partition, scenario_partition_sides,
    scenario_spread,
};

/// Settings of a simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Number of seeds (the first nodes).
    pub seeds: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// One-way latency range, uniform.
    pub latency: (Duration, Duration),
    /// Template for every node's gossip settings (cluster name and seeds are filled in).
    pub gossip: Config,
    /// Threads that step nodes in parallel (default: the machine's cores, at most 4, or
    /// `GOSSIP_SIM_THREADS`). Results do not depend on it: see [`Simulation::run_until`].
    pub threads: usize,
}

impl SimConfig {
    /// `nodes` nodes, 3 seeds, no loss, 1-10 ms latency, default gossip settings.
    pub fn new(nodes: usize, seed: u64) -> SimConfig {
        SimConfig {
            nodes,
            seeds: 3.min(nodes),
            seed,
            loss: 0.0,
            latency: (Duration::from_millis(1), Duration::from_millis(10)),
            gossip: Config::new("sim", Vec::new()),
            threads: default_threads(),
        }
    }
}

fn default_threads() -> usize {
    std::env::var("GOSSIP_SIM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
        })
        .max(1)
}

/// Below this many nodes a window's steps are too cheap to be worth a thread.
const PARALLEL_MIN_NODES: usize = 200;

/// What stepping one node for one action produced, before the network sees it.
#[derive(Debug)]
enum Stepped {
    /// The action found no running node (or a stale tick): nothing happened.
    Nothing,
    /// The delivered bytes did not decode.
    Undecodable,
    /// The node ticked (its next tick is due) or handled a message: its output, each message
    /// already encoded.
    Ran {
        ticked: bool,
        events: Vec<Event>,
        messages: Vec<(Endpoint, Vec<u8>)>,
    },
}

/// Runs one action on one node: the part of a step that touches only that node.
fn step_node(n: &mut SimNode, action: Action, now: Duration, max_bytes: usize) -> Stepped {
    let (ticked, out) = match action {
        Action::Tick { generation, .. } => {
            if n.generation != generation {
                return Stepped::Nothing;
            }
            let Some(g) = n.gossiper.as_mut() else {
                return Stepped::Nothing;
            };
            (true, g.tick(now, &mut n.rng))
        }
        Action::Deliver { bytes, .. } => {
            let Some(g) = n.gossiper.as_mut() else {
                return Stepped::Nothing;
            };
            match codec::decode(&bytes, max_bytes) {
                Ok(env) => (false, g.handle(env, now, &mut n.rng)),
                Err(_) => return Stepped::Undecodable,
            }
        }
    };
    Stepped::Ran {
        ticked,
        events: out.events,
        messages: out
            .messages
            .into_iter()
            .map(|(to, env)| (to, codec::encode(&env)))
            .collect(),
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Tick { node: usize, generation: u64 },
    Deliver { to: usize, bytes: Vec<u8> },
}

#[derive(Debug)]
struct SimNode {
    addr: Endpoint,
    gossiper: Option<Gossiper>,
    rng: SeededRng,
    generation: u64,
    /// Partition group: messages cross only between nodes of the same group.
    group: u32,
}

/// A running simulated cluster.
#[derive(Debug)]
pub struct Simulation {
    cfg: SimConfig,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<(Duration, u64, Action)>>,
    nodes: Vec<SimNode>,
    net_rng: SeededRng,
    /// Bytes and messages sent, per node.
    bytes_sent: Vec<u64>,
    messages_sent: u64,
    messages_lost: u64,
    decode_errors: u64,
}

/// The address of simulated node `i`.
pub fn node_addr(i: usize) -> Endpoint {
    let n = i as u32 + 1;
    SocketAddr::new(
        Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8).into(),
        7000,
    )
}

impl Simulation {
    /// Starts every node at a random phase within the first gossip interval, with realistic
    /// application states (status NORMAL, 16 tokens, dc, rack, host id, ...).
    pub fn new(cfg: SimConfig) -> Simulation {
        let mut net_rng = SeededRng::new(cfg.seed);
        let seeds: Vec<Endpoint> = (0..cfg.seeds).map(node_addr).collect();
        let mut sim = Simulation {
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: Vec::with_capacity(cfg.nodes),
            net_rng: SeededRng::new(0),
            bytes_sent: vec![0; cfg.nodes],
            messages_sent: 0,
            messages_lost: 0,
            decode_errors: 0,
            cfg,
        };
        sim.cfg.gossip.seeds = seeds;
        for i in 0..sim.cfg.nodes {
            let rng = SeededRng::new(net_rng.next_u64());
            sim.nodes.push(SimNode {
                addr: node_addr(i),
                gossiper: None,
                rng,
                generation: 0,
                group: 0,
            });
            sim.start(i);
        }
        sim.net_rng = net_rng;
        sim
    }

    /// Like [`Simulation::new`], but every node starts knowing every node's state, as after a
    /// shadow round answered by a seed that already knew the whole cluster: the scenarios that
    /// measure a formed cluster skip the (expensive) formation. Nodes are marked up as their
    /// heartbeats advance during the first rounds.
    pub fn new_converged(cfg: SimConfig) -> Simulation {
        let mut sim = Simulation::new(cfg);
        let now = sim.now;
        let states: Vec<crate::messages::Delta> = (0..sim.len())
            .filter_map(|i| {
                sim.node(i)
                    .and_then(|g| g.endpoint_state(node_addr(i)))
                    .map(|s| crate::messages::Delta {
                        endpoint: node_addr(i),
                        state: s.clone(),
                        heartbeat_age_ms: 0,
                    })
            })
            .collect();
        for n in &mut sim.nodes {
            if let Some(g) = n.gossiper.as_mut() {
                g.learn_quietly(states.clone(), now);
            }
        }
        sim
    }

    /// The current simulated time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Number of nodes (running or stopped).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True with no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The gossiper of node `i`, when running.
    pub fn node(&self, i: usize) -> Option<&Gossiper> {
        self.nodes.get(i).and_then(|n| n.gossiper.as_ref())
    }

    /// The gossiper of node `i`, when running, for changes (e.g. `set_local`).
    pub fn node_mut(&mut self, i: usize) -> Option<&mut Gossiper> {
        self.nodes.get_mut(i).and_then(|n| n.gossiper.as_mut())
    }

    /// The address of node `i`.
    pub fn addr(&self, i: usize) -> Endpoint {
        node_addr(i)
    }

    /// True when node `i` is running.
    pub fn is_running(&self, i: usize) -> bool {
        self.node(i).is_some()
    }

    /// Sets the loss probability.
    pub fn set_loss(&mut self, loss: f64) {
        self.cfg.loss = loss;
    }

    /// Puts node `i` in partition group `group`; messages only flow within a group.
    pub fn set_group(&mut self, i: usize, group: u32) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.group = group;
        }
    }

    /// Puts every node back in group 0.
    pub fn heal(&mut self) {
        for n in &mut self.nodes {
            n.group = 0;
        }
    }

    /// Stops node `i` abruptly (no shutdown announcement).
    pub fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes.get_mut(i) {
            n.gossiper = None;
        }
    }

    /// Starts (or restarts) node `i` with a new, higher generation.
    pub fn start(&mut self, i: usize) {
        let now = self.now;
        let gossip = self.cfg.gossip.clone();
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        n.generation += 1;
        // Generations are start times in seconds in a real node; here: 1000 + restarts.
        let generation = 1000 * n.generation + now.as_secs();
        let Ok(mut g) = Gossiper::new(gossip, n.addr, generation, now) else {
            return;
        };
        let mut tokens = Vec::with_capacity(16);
        for _ in 0..16 {
            tokens.push(n.rng.next_u64() as i64);
        }
        g.set_local(
            ApplicationState::HostId,
            format!("00000000-0000-4000-8000-{:012x}", i),
        );
        g.set_local(ApplicationState::Dc, "dc1");
        g.set_local(ApplicationState::Rack, format!("rack{}", i % 3 + 1));
        g.set_local(ApplicationState::Tokens, format_tokens(&tokens));
        g.set_local(ApplicationState::ReleaseVersion, "4.1.0");
        g.set_local(
            ApplicationState::NativeAddress,
            format!("{}:9042", n.addr.ip()),
        );
        g.set_local(
            ApplicationState::SchemaVersion,
            "59adb24e-f3cd-3e02-97f0-5b395827453f",
        );
        g.set_local(ApplicationState::Load, "0");
        g.set_status(NodeStatus::Normal);
        n.gossiper = Some(g);
        let phase = Duration::from_nanos(
            n.rng
                .below(self.cfg.gossip.gossip_interval.as_nanos() as usize) as u64,
        );
        let generation = n.generation;
        self.schedule(
            now + phase,
            Action::Tick {
                node: i,
                generation,
            },
        );
    }

    fn schedule(&mut self, at: Duration, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, action)));
    }

    /// Runs until `until`, passing every event to `on_event(now, node, event)`.
    ///
    /// Events are taken in windows as long as the shortest latency: nothing that happens in a
    /// window can cause another event in it (a message arrives at least that much later, a
    /// node's next tick a gossip interval later). So the nodes of a window step in parallel,
    /// each on its own state and random stream, and their outputs then meet the network (loss
    /// and latency draws, sequence numbers, `on_event`) one by one in (time, sequence) order:
    /// exactly what stepping them one at a time would do. The thread count never changes a
    /// result.
    pub fn run_until(
        &mut self,
        until: Duration,
        on_event: &mut dyn FnMut(Duration, usize, &Event),
    ) {
        let lookahead = self.cfg.latency.0;
        let parallel =
            self.cfg.threads > 1 && !lookahead.is_zero() && self.nodes.len() >= PARALLEL_MIN_NODES;
        let mut batch: Vec<(Duration, u64, Action)> = Vec::new();
        while let Some(Reverse((first, _, _))) = self.queue.peek() {
            if *first > until {
                break;
            }
            if !parallel {
                let Some(Reverse((at, _, action))) = self.queue.pop() else {
                    break;
                };
                self.now = at;
                let node = match &action {
                    Action::Tick { node, .. } => *node,
                    Action::Deliver { to, .. } => *to,
                };
                let max = self.cfg.gossip.max_message_bytes;
                let stepped = match self.nodes.get_mut(node) {
                    Some(n) => step_node(n, action, at, max),
                    None => Stepped::Nothing,
                };
                self.settle(at, node, stepped, on_event);
                continue;
            }
            let end = *first + lookahead;
            batch.clear();
            while let Some(Reverse((at, _, _))) = self.queue.peek() {
                if *at >= end || *at > until {
                    break;
                }
                let Some(Reverse(item)) = self.queue.pop() else {
                    break;
                };
                batch.push(item);
            }
            let results = self.step_parallel(&mut batch);
            for ((at, node), stepped) in results {
                self.now = at;
                self.settle(at, node, stepped, on_event);
            }
        }
        self.now = until;
    }

    /// Steps every action of a window, the nodes split in contiguous ranges over the threads;
    /// returns the results in the window's order.
    fn step_parallel(
        &mut self,
        batch: &mut Vec<(Duration, u64, Action)>,
    ) -> Vec<((Duration, usize), Stepped)> {
        let threads = self.cfg.threads.min(batch.len()).max(1);
        let chunk = self.nodes.len().div_ceil(threads).max(1);
        let max = self.cfg.gossip.max_message_bytes;
        let len = batch.len();
        // Per range: (position in the window, time, node, action).
        let mut work: Vec<Vec<(usize, Duration, usize, Action)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (pos, (at, _, action)) in batch.drain(..).enumerate() {
            let node = match &action {
                Action::Tick { node, .. } => *node,
                Action::Deliver { to, .. } => *to,
            };
            if let Some(w) = work.get_mut(node / chunk) {
                w.push((pos, at, node, action));
            }
        }
        let mut results: Vec<Option<((Duration, usize), Stepped)>> =
            (0..len).map(|_| None).collect();
        let run =
            |nodes: &mut [SimNode], base: usize, items: Vec<(usize, Duration, usize, Action)>| {
                items
                    .into_iter()
                    .map(|(pos, at, node, action)| {
                        let stepped = match nodes.get_mut(node - base) {
                            Some(n) => step_node(n, action, at, max),
                            None => Stepped::Nothing,
                        };
                        (pos, (at, node), stepped)
                    })
                    .collect::<Vec<_>>()
            };
        let outputs: Vec<Vec<_>> = std::thread::scope(|scope| {
            let mut handles = Vec::new();
            let mut mine = None;
            for (k, (nodes, items)) in self.nodes.chunks_mut(chunk).zip(work).enumerate() {
                if items.is_empty() {
                    continue;
                }
                if mine.is_none() {
                    // The calling thread takes the first busy range itself.
                    mine = Some((nodes, k * chunk, items));
                    continue;
                }
                handles.push(scope.spawn(move || run(nodes, k * chunk, items)));
            }
            let mut all = Vec::new();
            if let Some((nodes, base, items)) = mine {
                all.push(run(nodes, base, items));
            }
            for h in handles {
                match h.join() {
                    Ok(v) => all.push(v),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            all
        });
        for (pos, key, stepped) in outputs.into_iter().flatten() {
            if let Some(slot) = results.get_mut(pos) {
                *slot = Some((key, stepped));
            }
        }
        results.into_iter().flatten().collect()
    }

    /// The network's part of a step, in event order: schedule the next tick, report events,
    /// count, lose or delay every message.
    fn settle(
        &mut self,
        at: Duration,
        node: usize,
        stepped: Stepped,
        on_event: &mut dyn FnMut(Duration, usize, &Event),
    ) {
        match stepped {
            Stepped::Nothing => {}
            Stepped::Undecodable => self.decode_errors += 1,
            Stepped::Ran {
                ticked,
                events,
                messages,
            } => {
                if ticked && let Some(n) = self.nodes.get(node) {
                    let generation = n.generation;
                    let interval = self.cfg.gossip.gossip_interval;
                    self.schedule(at + interval, Action::Tick { node, generation });
                }
                self.dispatch(node, events, messages, on_event);
            }
        }
    }
    /// Runs until `done` holds (checked every `check_every` of simulated time) or until
    /// `deadline`; returns whether `done` held.
    pub fn run_while(
        &mut self,
        deadline: Duration,
        check_every: Duration,
        on_event: &mut dyn FnMut(Duration, usize, &Event),
        done: &mut dyn FnMut(&Simulation) -> bool,
    ) -> bool {
        let step = check_every.max(Duration::from_millis(1));
        while self.now < deadline {
            let next = (self.now + step).min(deadline);
            self.run_until(next, on_event);
            if done(self) {
                return true;
            }
        }
        false
    }

    fn dispatch(
        &mut self,
        from: usize,
        events: Vec<Event>,
        messages: Vec<(Endpoint, Vec<u8>)>,
        on_event: &mut dyn FnMut(Duration, usize, &Event),
    ) {
        for e in &events {
            on_event(self.now, from, e);
        }
        let from_group = self.nodes.get(from).map_or(0, |n| n.group);
        for (to_addr, bytes) in messages {
            if let Some(b) = self.bytes_sent.get_mut(from) {
                *b += bytes.len() as u64;
            }
            self.messages_sent += 1;
            let Some(to) = addr_index(to_addr) else {
                continue;
            };
            let to_group = self.nodes.get(to).map_or(u32::MAX, |n| n.group);
            if to_group != from_group || self.net_rng.unit() < self.cfg.loss {
                self.messages_lost += 1;
                continue;
            }
            let (lo, hi) = self.cfg.latency;
            let span = hi.saturating_sub(lo).as_nanos() as usize;
            let latency = lo + Duration::from_nanos(self.net_rng.below(span + 1) as u64);
            self.schedule(self.now + latency, Action::Deliver { to, bytes });
        }
    }

    /// Total bytes sent by each node since the start.
    pub fn bytes_sent(&self) -> &[u64] {
        &self.bytes_sent
    }

    /// Messages sent, lost and undecodable since the start.
    pub fn message_counts(&self) -> (u64, u64, u64) {
        (self.messages_sent, self.messages_lost, self.decode_errors)
    }

    /// True when every running node knows every other running node and sees it up.
    pub fn fully_converged(&self) -> bool {
        let running: Vec<Endpoint> = (0..self.len())
            .filter(|i| self.is_running(*i))
            .map(node_addr)
            .collect();
        running.iter().all(|me| {
            let Some(g) = addr_index(*me).and_then(|i| self.node(i)) else {
                return false;
            };
            running
                .iter()
                .all(|other| other == me || g.is_alive(*other))
        })
    }
}

/// The simulated node index of an address made by [`node_addr`].
pub fn addr_index(ep: Endpoint) -> Option<usize> {
    match ep.ip() {
        std::net::IpAddr::V4(ip) => {
            let o = ip.octets();
            let n = (u32::from(o[1]) << 16) | (u32::from(o[2]) << 8) | u32::from(o[3]);
            (n as usize).checked_sub(1)
        }
        std::net::IpAddr::V6(_) => None,
    }
}
