//! The pure core: a state machine fed with ticks and messages, that returns messages to send and
//! events for the layers above. No I/O, no clock, no global randomness:
//! `(state, input, now, rng) -> (state', Output)`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::codec;
use crate::error::{Error, Result};
use crate::failure_detector::{FailureDetector, FailureDetectorConfig};
use crate::messages::{Ack, Ack2, Delta, Digest, Envelope, Message, Syn};
use crate::rng::SeededRng;
use crate::state::{
    ApplicationState, Endpoint, EndpointHasher, EndpointState, HeartbeatState, NodeStatus,
    VersionedValue,
};

/// A generation this far above the one we know is rejected as corrupt (Cassandra: one year).
const MAX_GENERATION_DIFFERENCE: u64 = 86_400 * 365;
/// Slack for the varint counts at the front of lists when filling a message up to its limit.
const COUNT_SLACK: usize = 20;
/// Below this many bytes left, no further state is worth trying to fit.
const MIN_USEFUL_STATE: usize = 16;
/// When more than one live node in this many is overdue, gossip targets are drawn from the
/// others only.
const OVERDUE_SHARE: usize = 5;

/// Gossip settings. Defaults are Cassandra's where it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Nodes with another cluster name are ignored.
    pub cluster_name: String,
    /// Seeds: contacted for the shadow round and, with Cassandra's probabilities, every round.
    pub seeds: Vec<Endpoint>,
    /// Time between rounds (default 1 s). The core does not read it; drivers and the simulator
    /// tick at this rate.
    pub gossip_interval: Duration,
    /// Random live nodes sent a SYN each round (default 3; Cassandra: 1). Fresh heartbeats then
    /// reach every node within a few rounds even under loss, which is what lets the detector
    /// convict within 10 s without convicting live nodes; each extra target costs one digest
    /// list (about 14 bytes per known node) per round. See docs/gossip.md.
    pub fanout: usize,
    /// Failure detector settings.
    pub failure_detector: FailureDetectorConfig,
    /// Largest message, encoded, in bytes (default 64 KiB). Digests and deltas that do not fit
    /// go in later rounds; received messages over the limit are rejected.
    pub max_message_bytes: usize,
    /// How long gossip about a removed endpoint is ignored (default 60 s, `QUARANTINE_DELAY`).
    pub quarantine_delay: Duration,
    /// How long a LEFT or removed endpoint's state is kept and spread before it is evicted
    /// (default 3 days, Cassandra's `VERY_LONG_TIME`).
    pub dead_state_retention: Duration,
    /// How long to wait for a seed to answer the shadow round (default 30 s, `RING_DELAY`).
    pub shadow_round_timeout: Duration,
}

impl Config {
    /// Defaults for a cluster name and seed list.
    pub fn new(cluster_name: impl Into<String>, seeds: Vec<Endpoint>) -> Config {
        Config {
            cluster_name: cluster_name.into(),
            seeds,
            gossip_interval: Duration::from_secs(1),
            fanout: 3,
            failure_detector: FailureDetectorConfig::default(),
            max_message_bytes: 64 * 1024,
            quarantine_delay: Duration::from_secs(60),
            dead_state_retention: Duration::from_secs(3 * 86_400),
            shadow_round_timeout: Duration::from_secs(30),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.failure_detector.validate()?;
        if self.gossip_interval.is_zero() {
            return Err(Error::InvalidConfig {
                field: "gossip_interval",
                reason: "must be positive",
            });
        }
        if self.fanout == 0 {
            return Err(Error::InvalidConfig {
                field: "fanout",
                reason: "must be at least 1",
            });
        }
        if self.max_message_bytes < 1024 {
            return Err(Error::InvalidConfig {
                field: "max_message_bytes",
                reason: "must be at least 1024",
            });
        }
        if self.cluster_name.len() > 256 {
            return Err(Error::InvalidConfig {
                field: "cluster_name",
                reason: "longer than 256 bytes",
            });
        }
        Ok(())
    }
}

/// What the core tells the layers above.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new endpoint was learned (not yet up: it is marked up when its heartbeat advances).
    /// A [`Event::Changed`] follows for each of its application states.
    Joined {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// An endpoint came back with a higher generation.
    Restarted {
        /// The endpoint.
        endpoint: Endpoint,
        /// Its new generation.
        generation: u64,
    },
    /// An endpoint is up: its heartbeat advanced.
    Up {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// An endpoint is down: convicted by the failure detector, shut down, or left.
    Down {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// An application state of an endpoint changed (or was learned with the endpoint).
    Changed {
        /// The endpoint.
        endpoint: Endpoint,
        /// The key.
        key: ApplicationState,
        /// The new value.
        value: String,
    },
    /// An endpoint was dropped from membership and quarantined.
    Evicted {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// A seed answered the shadow round; the node now gossips and announces itself.
    ShadowRoundComplete {
        /// The seed that answered.
        seed: Endpoint,
    },
    /// No seed answered the shadow round in time; the node gossips anyway.
    ShadowRoundTimedOut,
}

/// What one step of the core produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Messages to send, with their destination.
    pub messages: Vec<(Endpoint, Envelope)>,
    /// Events, in order.
    pub events: Vec<Event>,
}

/// One input to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The gossip interval elapsed: run a round.
    Tick,
    /// A message arrived.
    Message(Envelope),
}

#[derive(Debug, Clone)]
struct Peer {
    endpoint: Endpoint,
    state: EndpointState,
    /// `state.max_version()`, kept current: every digest of every round needs it.
    max_version: u64,
    /// The highest application state version: deltas above it are heartbeat-only.
    app_max: u64,
    /// `state.status()`, kept current.
    status: Option<NodeStatus>,
    /// When the endpoint produced the heartbeat in `state`, on the local clock: the time it
    /// arrived minus the age it came with. Sent on as the heartbeat's age.
    beat_at: Duration,
    alive: bool,
    /// When a dead state (LEFT, removed) was first seen, for eviction.
    dead_since: Option<Duration>,
    /// The failure detector's slot for this endpoint (unused for the local node).
    fd_slot: usize,
}

impl Peer {
    fn new(endpoint: Endpoint, state: EndpointState, beat_at: Duration, fd_slot: usize) -> Peer {
        Peer {
            fd_slot,
            endpoint,
            max_version: state.max_version(),
            app_max: app_max(&state),
            status: state.status(),
            state,
            beat_at,
            alive: false,
            dead_since: None,
        }
    }

    fn refresh(&mut self) {
        self.max_version = self.state.max_version();
        self.app_max = app_max(&self.state);
        self.status = self.state.status();
    }

    fn is_dead_state(&self) -> bool {
        self.status.is_some_and(NodeStatus::is_dead_state)
    }

    fn age_ms(&self, now: Duration) -> u64 {
        u64::try_from(now.saturating_sub(self.beat_at).as_millis()).unwrap_or(u64::MAX)
    }
}

fn app_max(state: &EndpointState) -> u64 {
    state.states.values().map(|v| v.version).max().unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Shadow { deadline: Duration },
    Normal,
}

/// The gossip state machine of one node.
#[derive(Debug, Clone)]
pub struct Gossiper {
    cfg: Config,
    local: Endpoint,
    /// The local version counter: the heartbeat and all local application states draw from it.
    version: u64,
    /// Everything known, the local node first, the others in the order they were learned (a
    /// round walks them all, so a vector; `index` finds one).
    peers: Vec<Peer>,
    index: HashMap<Endpoint, usize, EndpointHasher>,
    fd: FailureDetector,
    /// Removed endpoints and when they were quarantined.
    quarantine: BTreeMap<Endpoint, Duration>,
    phase: Phase,
}

impl Gossiper {
    /// A node at `local` in its `generation` (use the start time in seconds, and make it higher
    /// than any previous generation of this node). A node that is not a seed starts in a shadow
    /// round; a seed gossips at once.
    pub fn new(cfg: Config, local: Endpoint, generation: u64, now: Duration) -> Result<Gossiper> {
        cfg.validate()?;
        let mut me = Peer::new(local, EndpointState::new(generation), now, usize::MAX);
        me.alive = true;
        // Seeds are the cluster's memory and start gossiping at once; everyone else first
        // learns the cluster from a seed (Cassandra's shadow round).
        let phase = if !cfg.seeds.is_empty() && !cfg.seeds.contains(&local) {
            Phase::Shadow {
                deadline: now + cfg.shadow_round_timeout,
            }
        } else {
            Phase::Normal
        };
        let mut index = HashMap::default();
        index.insert(local, 0);
        Ok(Gossiper {
            fd: FailureDetector::new(cfg.failure_detector.clone()),
            cfg,
            local,
            version: 0,
            peers: vec![me],
            index,
            quarantine: BTreeMap::new(),
            phase,
        })
    }

    /// The local endpoint.
    pub fn local(&self) -> Endpoint {
        self.local
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// True until a seed answered the shadow round (or it timed out).
    pub fn in_shadow_round(&self) -> bool {
        matches!(self.phase, Phase::Shadow { .. })
    }

    fn peer(&self, ep: Endpoint) -> Option<&Peer> {
        self.index.get(&ep).and_then(|i| self.peers.get(*i))
    }

    fn insert_peer(&mut self, peer: Peer) {
        self.index.insert(peer.endpoint, self.peers.len());
        self.peers.push(peer);
    }

    fn remove_peer(&mut self, ep: Endpoint) -> Option<Peer> {
        let i = self.index.remove(&ep)?;
        if i >= self.peers.len() {
            return None;
        }
        let removed = self.peers.swap_remove(i);
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.endpoint, i);
        }
        Some(removed)
    }

    /// What this node knows of `ep` (including itself).
    pub fn endpoint_state(&self, ep: Endpoint) -> Option<&EndpointState> {
        self.peer(ep).map(|p| &p.state)
    }

    /// Every known endpoint and its state: the local node first, then the others in the order
    /// they were learned.
    pub fn endpoint_states(&self) -> impl Iterator<Item = (Endpoint, &EndpointState)> {
        self.peers.iter().map(|p| (p.endpoint, &p.state))
    }

    /// True when `ep` is considered up (the local node always is).
    pub fn is_alive(&self, ep: Endpoint) -> bool {
        self.peer(ep).is_some_and(|p| p.alive)
    }

    /// Up endpoints other than the local one.
    pub fn live_endpoints(&self) -> Vec<Endpoint> {
        self.peers
            .iter()
            .skip(1)
            .filter(|p| p.alive)
            .map(|p| p.endpoint)
            .collect()
    }

    /// True while gossip about `ep` is ignored.
    pub fn is_quarantined(&self, ep: Endpoint) -> bool {
        self.quarantine.contains_key(&ep)
    }

    /// Phi of `ep` at `now`.
    pub fn phi(&self, ep: Endpoint, now: Duration) -> Option<f64> {
        self.fd.phi(ep, now)
    }

    /// The failure detector.
    pub fn failure_detector(&self) -> &FailureDetector {
        &self.fd
    }

    /// The failure detector, for resetting its statistics.
    pub fn failure_detector_mut(&mut self) -> &mut FailureDetector {
        &mut self.fd
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Sets a local application state; it spreads with the next rounds.
    pub fn set_local(&mut self, key: ApplicationState, value: impl Into<String>) {
        let version = self.next_version();
        if let Some(me) = self.peers.first_mut() {
            me.state.states.insert(
                key,
                VersionedValue {
                    value: value.into(),
                    version,
                },
            );
            me.refresh();
        }
    }

    /// Sets the local status.
    pub fn set_status(&mut self, status: NodeStatus) {
        self.set_local(ApplicationState::Status, status.as_str());
    }

    /// Feeds one input.
    pub fn step(&mut self, input: Input, now: Duration, rng: &mut SeededRng) -> Output {
        match input {
            Input::Tick => self.tick(now, rng),
            Input::Message(env) => self.handle(env, now, rng),
        }
    }

    /// Runs one gossip round: beat the heartbeat, send a SYN to `fanout` live nodes, maybe to an
    /// unreachable one and maybe to a seed (Cassandra's `GossipTask`), then check every
    /// endpoint's phi.
    pub fn tick(&mut self, now: Duration, rng: &mut SeededRng) -> Output {
        let mut out = Output::default();
        if let Phase::Shadow { deadline } = self.phase {
            if now < deadline {
                // Ask every seed for its view, without a digest of our own: we are not announced.
                let syn = Envelope {
                    from: self.local,
                    message: Message::Syn(Syn {
                        cluster_name: self.cfg.cluster_name.clone(),
                        digests: Vec::new(),
                    }),
                };
                for seed in self.cfg.seeds.iter().filter(|s| **s != self.local) {
                    out.messages.push((*seed, syn.clone()));
                }
                return out;
            }
            self.phase = Phase::Normal;
            out.events.push(Event::ShadowRoundTimedOut);
        }

        let hb = self.next_version();
        if let Some(me) = self.peers.first_mut() {
            me.state.heartbeat.version = hb;
            me.max_version = me.max_version.max(hb);
            me.beat_at = now;
        }

        let syn = Envelope {
            from: self.local,
            message: Message::Syn(self.syn(rng)),
        };
        let mut live = Vec::new();
        let mut unreachable = Vec::new();
        // Live nodes whose heartbeat is overdue (older than its usual age plus the acceptable
        // pause, phi about 0.3): not yet convicted, maybe cut off. They go last in `live`.
        let mut late = Vec::new();
        for p in self.peers.iter().skip(1) {
            if p.dead_since.is_some() {
                continue;
            }
            if !p.alive {
                unreachable.push(p.endpoint);
            } else if self.fd.overdue_slot(p.fd_slot, now) {
                late.push(p.endpoint);
            } else {
                live.push(p.endpoint);
            }
        }
        let on_time = live.len();
        live.append(&mut late);
        // `fanout` distinct random live nodes (Cassandra: one). When many live nodes are overdue
        // at once, as in the first seconds of a partition before the far side is convicted, the
        // targets are drawn from the others first: SYNs sent across the cut would be lost, and
        // the near side must keep hearing every near peer in time (docs/gossip.md,
        // "Partitions"). A few overdue nodes, as under random loss, are no sign of a cut: they
        // keep their share of SYNs, which is how their heartbeats catch up.
        let cut = (live.len() - on_time) * OVERDUE_SHARE > live.len();
        let mut gossiped_to_seed = false;
        for k in 0..self.cfg.fanout.min(live.len()) {
            let pool = if cut && k < on_time {
                on_time
            } else {
                live.len()
            };
            let j = k + rng.below(pool - k);
            live.swap(k, j);
            if let Some(to) = live.get(k).copied() {
                gossiped_to_seed |= self.cfg.seeds.contains(&to);
                out.messages.push((to, syn.clone()));
            }
        }
        if !unreachable.is_empty() {
            let probability = unreachable.len() as f64 / (live.len() + 1) as f64;
            if rng.unit() < probability
                && let Some(to) = rng.pick(&unreachable).copied()
            {
                out.messages.push((to, syn.clone()));
            }
        }
        if !gossiped_to_seed || live.len() < self.cfg.seeds.len() {
            let seeds: Vec<Endpoint> = self
                .cfg
                .seeds
                .iter()
                .copied()
                .filter(|s| *s != self.local)
                .collect();
            if !seeds.is_empty() {
                let probability =
                    self.cfg.seeds.len() as f64 / (live.len() + unreachable.len()).max(1) as f64;
                if (live.is_empty() || rng.unit() <= probability)
                    && let Some(to) = rng.pick(&seeds).copied()
                {
                    out.messages.push((to, syn));
                }
            }
        }

        self.status_check(now, &mut out);
        out
    }

    fn status_check(&mut self, now: Duration, out: &mut Output) {
        let may_convict = self.fd.begin_check(now);
        let mut evict = Vec::new();
        for p in self.peers.iter_mut().skip(1) {
            if let Some(since) = p.dead_since {
                if now.saturating_sub(since) >= self.cfg.dead_state_retention {
                    evict.push(p.endpoint);
                }
                continue;
            }
            if may_convict && p.alive && self.fd.convicts_slot(p.fd_slot, now) {
                p.alive = false;
                out.events.push(Event::Down {
                    endpoint: p.endpoint,
                });
            }
        }
        for ep in evict {
            self.evict(ep, now, out);
        }
        let delay = self.cfg.quarantine_delay;
        self.quarantine
            .retain(|_, since| now.saturating_sub(*since) < delay);
    }

    fn evict(&mut self, ep: Endpoint, now: Duration, out: &mut Output) {
        if ep != self.local && self.remove_peer(ep).is_some() {
            self.fd.release(ep);
            self.quarantine.insert(ep, now);
            out.events.push(Event::Evicted { endpoint: ep });
        }
    }

    /// Drops `ep` from membership now and ignores gossip about it for the quarantine delay
    /// (Cassandra's `removeEndpoint` + `quarantineEndpoint`).
    pub fn remove_endpoint(&mut self, ep: Endpoint, now: Duration) -> Output {
        let mut out = Output::default();
        if ep != self.local {
            if self.peer(ep).is_some_and(|p| p.alive) {
                out.events.push(Event::Down { endpoint: ep });
            }
            self.evict(ep, now, &mut out);
        }
        out
    }

    /// Announces that `ep` (a dead node) is removed from the cluster, as Cassandra's removenode:
    /// its state gets a newer generation with status removed, which spreads to every node; each
    /// keeps it for `dead_state_retention`, then evicts and quarantines it.
    pub fn remove_node(&mut self, ep: Endpoint, now: Duration) -> Output {
        let mut out = Output::default();
        if ep == self.local {
            return out;
        }
        let Some(peer) = self.peer(ep) else {
            return out;
        };
        let mut state = EndpointState::new(peer.state.heartbeat.generation + 1);
        state.heartbeat.version = 1;
        for (k, v) in &peer.state.states {
            state.states.insert(
                *k,
                VersionedValue {
                    value: v.value.clone(),
                    version: 1,
                },
            );
        }
        state.states.insert(
            ApplicationState::Status,
            VersionedValue {
                value: NodeStatus::Removed.as_str().into(),
                version: 2,
            },
        );
        let delta = Delta {
            endpoint: ep,
            state,
            heartbeat_age_ms: 0,
        };
        self.apply(delta, None, now, &mut out);
        out
    }

    /// Marks the local node as shut down and pushes that to every live node (Cassandra's
    /// `GossipShutdown`), so they mark it down at once instead of waiting for the detector.
    /// A node in a dead state (it left the ring, or was removed) stops silently, as in
    /// Cassandra: `shutdown` would replace `LEFT`, and a node that first hears of it then would
    /// take it for a member that is merely down.
    pub fn announce_shutdown(&mut self) -> Output {
        if self
            .endpoint_state(self.local)
            .is_some_and(EndpointState::is_dead_state)
        {
            return Output::default();
        }
        self.set_status(NodeStatus::Shutdown);
        let hb = self.next_version();
        let mut out = Output::default();
        let Some(me) = self.peers.first_mut() else {
            return out;
        };
        me.state.heartbeat.version = hb;
        me.max_version = me.max_version.max(hb);
        let msg = Envelope {
            from: self.local,
            message: Message::Ack2(Ack2 {
                states: vec![Delta {
                    endpoint: self.local,
                    state: me.state.clone(),
                    heartbeat_age_ms: 0,
                }],
            }),
        };
        for ep in self.live_endpoints() {
            out.messages.push((ep, msg.clone()));
        }
        out
    }

    fn syn(&self, rng: &mut SeededRng) -> Syn {
        let mut budget = self.cfg.max_message_bytes
            - codec::header_len(self.local)
            - COUNT_SLACK
            - self.cfg.cluster_name.len();
        let mut digests: Vec<Digest> = self
            .peers
            .iter()
            .map(|p| Digest {
                endpoint: p.endpoint,
                generation: p.state.heartbeat.generation,
                max_version: p.max_version,
            })
            .collect();
        // Our own digest first; Cassandra shuffles the rest: when the limit binds, a random
        // subset goes each round.
        if let Some(others) = digests.get_mut(1..) {
            rng.shuffle(others);
        }
        let mut keep = 0;
        for d in &digests {
            let len = codec::digest_len(d);
            if len > budget {
                break;
            }
            budget -= len;
            keep += 1;
        }
        digests.truncate(keep);
        Syn {
            cluster_name: self.cfg.cluster_name.clone(),
            digests,
        }
    }

    /// Handles one received message.
    pub fn handle(&mut self, env: Envelope, now: Duration, rng: &mut SeededRng) -> Output {
        let mut out = Output::default();
        let from = env.from;
        match env.message {
            Message::Syn(syn) => {
                if syn.cluster_name != self.cfg.cluster_name {
                    tracing::warn!(%from, theirs = %syn.cluster_name, "ignoring gossip from another cluster");
                    return out;
                }
                if self.in_shadow_round() {
                    return out;
                }
                let ack = self.ack_for(&syn.digests, now, rng);
                out.messages.push((
                    from,
                    Envelope {
                        from: self.local,
                        message: Message::Ack(ack),
                    },
                ));
            }
            Message::Ack(ack) => {
                if let Phase::Shadow { .. } = self.phase {
                    if !self.cfg.seeds.contains(&from) {
                        return out;
                    }
                    self.apply_all(ack.states, now, &mut out);
                    self.phase = Phase::Normal;
                    out.events.push(Event::ShadowRoundComplete { seed: from });
                    return out;
                }
                self.apply_all(ack.states, now, &mut out);
                if !ack.requests.is_empty() {
                    let ack2 = self.ack2_for(&ack.requests, now, rng);
                    out.messages.push((
                        from,
                        Envelope {
                            from: self.local,
                            message: Message::Ack2(ack2),
                        },
                    ));
                }
            }
            Message::Ack2(ack2) => self.apply_all(ack2.states, now, &mut out),
        }
        out
    }

    /// Cassandra's `examineGossiper`: compare the sender's digests with ours.
    fn ack_for(&self, digests: &[Digest], now: Duration, rng: &mut SeededRng) -> Ack {
        let mut requests = Vec::new();
        // (peer index, send state above this version)
        let mut sends: Vec<(usize, u64)> = Vec::new();
        if digests.is_empty() {
            // Shadow round: everything we know.
            sends.extend((0..self.peers.len()).map(|i| (i, 0)));
        }
        // Look every endpoint up first, in a loop of independent loads the processor overlaps
        // (see `apply_all`).
        let found: Vec<Option<usize>> = digests
            .iter()
            .map(|d| self.index.get(&d.endpoint).copied())
            .collect();
        for (d, found) in digests.iter().zip(found) {
            if !self.quarantine.is_empty() && self.quarantine.contains_key(&d.endpoint) {
                continue;
            }
            let Some((i, p)) = found.and_then(|i| self.peers.get(i).map(|p| (i, p))) else {
                requests.push(Digest {
                    max_version: 0,
                    ..*d
                });
                continue;
            };
            let local_gen = p.state.heartbeat.generation;
            let local_max = p.max_version;
            if d.generation > local_gen {
                requests.push(Digest {
                    max_version: 0,
                    ..*d
                });
            } else if d.generation < local_gen {
                sends.push((i, 0));
            } else if d.max_version > local_max {
                requests.push(Digest {
                    max_version: local_max,
                    ..*d
                });
            } else if d.max_version < local_max {
                sends.push((i, d.max_version));
            }
        }
        let mut budget = self.cfg.max_message_bytes - codec::header_len(self.local) - COUNT_SLACK;
        let mut keep = 0;
        for r in &requests {
            let len = codec::digest_len(r);
            if len > budget {
                break;
            }
            budget -= len;
            keep += 1;
        }
        requests.truncate(keep);
        let states = self.fill(sends, budget, now, rng);
        Ack { requests, states }
    }

    fn ack2_for(&self, requests: &[Digest], now: Duration, rng: &mut SeededRng) -> Ack2 {
        let mut sends = Vec::new();
        for r in requests {
            let Some(&i) = self.index.get(&r.endpoint) else {
                continue;
            };
            if let Some(p) = self.peers.get(i) {
                let local_gen = p.state.heartbeat.generation;
                if r.generation < local_gen {
                    sends.push((i, 0));
                } else if r.generation == local_gen {
                    sends.push((i, r.max_version));
                }
            }
        }
        let budget = self.cfg.max_message_bytes - codec::header_len(self.local) - COUNT_SLACK;
        Ack2 {
            states: self.fill(sends, budget, now, rng),
        }
    }

    /// Deltas for `sends` (peer index, above version) that fit in `budget` bytes: our own state
    /// first, the rest in random order so that what does not fit this round gets its turn in
    /// later ones. A delta that does not fit whole is cut after its oldest application states,
    /// with its heartbeat version lowered to the newest version sent, so the receiver asks for
    /// the rest next round.
    fn fill(
        &self,
        mut sends: Vec<(usize, u64)>,
        mut budget: usize,
        now: Duration,
        rng: &mut SeededRng,
    ) -> Vec<Delta> {
        rng.shuffle(&mut sends);
        if let Some(i) = sends.iter().position(|(p, _)| *p == 0) {
            sends.swap(0, i);
        }
        let mut out = Vec::new();
        for (i, above) in sends {
            if budget < MIN_USEFUL_STATE {
                break;
            }
            let Some(p) = self.peers.get(i) else {
                continue;
            };
            let ep = p.endpoint;
            let age = p.age_ms(now);
            if above >= p.app_max {
                // The common case every round: only the heartbeat is newer.
                let len = codec::empty_delta_len(ep, &p.state, age);
                if len <= budget {
                    budget -= len;
                    out.push(Delta {
                        endpoint: ep,
                        state: EndpointState {
                            heartbeat: p.state.heartbeat,
                            states: BTreeMap::new(),
                        },
                        heartbeat_age_ms: age,
                    });
                }
                continue;
            }
            let len = codec::delta_len(ep, &p.state, above, age);
            if len <= budget {
                budget -= len;
                out.push(Delta {
                    endpoint: ep,
                    state: p.state.delta_above(above),
                    heartbeat_age_ms: age,
                });
                continue;
            }
            let delta = p.state.delta_above(above);
            let mut entries: Vec<(ApplicationState, VersionedValue)> =
                delta.states.into_iter().collect();
            entries.sort_by_key(|(_, v)| v.version);
            let mut partial = EndpointState {
                heartbeat: HeartbeatState {
                    generation: delta.heartbeat.generation,
                    version: 0,
                },
                states: BTreeMap::new(),
            };
            // An upper bound: the lowered heartbeat version is no longer than the real one.
            let mut len = codec::empty_delta_len(ep, &p.state, age);
            for (k, v) in entries {
                let add = codec::app_state_len(&v);
                if len + add > budget {
                    break;
                }
                len += add;
                partial.heartbeat.version = v.version.min(delta.heartbeat.version);
                partial.states.insert(k, v);
            }
            if !partial.states.is_empty() {
                budget -= len;
                out.push(Delta {
                    endpoint: ep,
                    state: partial,
                    heartbeat_age_ms: age,
                });
            }
        }
        out
    }

    /// Applies the states of one message.
    ///
    /// A message carries a state for most known endpoints, in random order, and each one's peer
    /// entry and detector history are a cache miss: first every endpoint is looked up and its
    /// entries read in short loops of independent loads, which the processor overlaps, then
    /// each state is applied to entries now in the cache (about twice as fast at 1000 nodes).
    fn apply_all(&mut self, deltas: Vec<Delta>, now: Duration, out: &mut Output) {
        let found: Vec<Option<usize>> = deltas
            .iter()
            .map(|d| self.index.get(&d.endpoint).copied())
            .collect();
        let mut touch = 0u64;
        for p in found.iter().flatten().filter_map(|i| self.peers.get(*i)) {
            touch = touch.wrapping_add(p.state.heartbeat.version);
        }
        for p in found.iter().flatten().filter_map(|i| self.peers.get(*i)) {
            touch = touch.wrapping_add(self.fd.touch(p.fd_slot));
        }
        std::hint::black_box(touch);
        for (delta, i) in deltas.into_iter().zip(found) {
            self.apply(delta, i, now, out);
        }
    }

    /// A new endpoint, as learned from `remote` (no events).
    fn add_peer(
        &mut self,
        ep: Endpoint,
        remote: EndpointState,
        produced_at: Duration,
        now: Duration,
    ) {
        let slot = self.fd.slot(ep);
        let mut peer = Peer::new(ep, remote, produced_at, slot);
        if peer.is_dead_state() {
            peer.dead_since = Some(now);
        } else {
            self.fd.report_slot(slot, now, produced_at);
        }
        self.insert_peer(peer);
    }

    /// Learns the states of endpoints not known yet as a completed shadow round would, but
    /// without the events (for the simulator's pre-converged clusters: a million `Changed` events of 1000
    /// nodes cost more than the states themselves). Known endpoints are merged as usual.
    #[cfg(feature = "testkit")]
    pub(crate) fn learn_quietly(&mut self, deltas: Vec<Delta>, now: Duration) {
        self.phase = Phase::Normal;
        let mut out = Output::default();
        for d in deltas {
            if d.endpoint == self.local
                || self.quarantine.contains_key(&d.endpoint)
                || self.index.contains_key(&d.endpoint)
            {
                self.apply(d, None, now, &mut out);
                out.events.clear();
                continue;
            }
            let produced_at = now.saturating_sub(Duration::from_millis(d.heartbeat_age_ms));
            self.add_peer(d.endpoint, d.state, produced_at, now);
        }
    }

    /// Cassandra's `applyStateLocally` with `notifyFailureDetector`: merge a remote state.
    /// `found` is the endpoint's index in `peers` if it was looked up already.
    fn apply(&mut self, delta: Delta, found: Option<usize>, now: Duration, out: &mut Output) {
        let Delta {
            endpoint: ep,
            state: remote,
            heartbeat_age_ms,
        } = delta;
        if ep == self.local || self.quarantine.contains_key(&ep) {
            return;
        }
        // When the endpoint produced this heartbeat, on our clock.
        let produced_at = now.saturating_sub(Duration::from_millis(heartbeat_age_ms));
        // Indices only change when a peer is evicted, never while a message is applied; an
        // endpoint not found may have been added by an earlier state of the same message.
        let Some(i) = found.or_else(|| self.index.get(&ep).copied()) else {
            out.events.push(Event::Joined { endpoint: ep });
            for (k, v) in &remote.states {
                out.events.push(Event::Changed {
                    endpoint: ep,
                    key: *k,
                    value: v.value.clone(),
                });
            }
            self.add_peer(ep, remote, produced_at, now);
            return;
        };
        let Some(local) = self.peers.get_mut(i) else {
            return;
        };
        let local_gen = local.state.heartbeat.generation;
        let remote_gen = remote.heartbeat.generation;
        if remote_gen > local_gen {
            if remote_gen > local_gen.saturating_add(MAX_GENERATION_DIFFERENCE) {
                tracing::warn!(%ep, local_gen, remote_gen, "ignoring implausible generation");
                return;
            }
            // A restart: the new generation replaces everything. The old samples describe the
            // previous incarnation only if the node never looked dead.
            let slot = local.fd_slot;
            if !local.alive {
                self.fd.clear_slot(slot);
            }
            self.fd.report_slot(slot, now, produced_at);
            let was_alive = local.alive;
            local.state = remote;
            local.beat_at = produced_at;
            local.refresh();
            out.events.push(Event::Restarted {
                endpoint: ep,
                generation: remote_gen,
            });
            for (k, v) in &local.state.states {
                out.events.push(Event::Changed {
                    endpoint: ep,
                    key: *k,
                    value: v.value.clone(),
                });
            }
            if local.is_dead_state() {
                local.dead_since.get_or_insert(now);
                local.alive = false;
                self.fd.clear_slot(slot);
                if was_alive {
                    out.events.push(Event::Down { endpoint: ep });
                }
            } else {
                local.dead_since = None;
                // News of a restart can itself be old: up only while the heartbeat is fresh.
                let up =
                    local.status != Some(NodeStatus::Shutdown) && !self.fd.convicts_slot(slot, now);
                local.alive = up;
                if up && !was_alive {
                    out.events.push(Event::Up { endpoint: ep });
                } else if !up && was_alive {
                    out.events.push(Event::Down { endpoint: ep });
                }
            }
            return;
        }
        if remote_gen < local_gen {
            return;
        }
        let beat = remote.heartbeat.version > local.state.heartbeat.version;
        if beat {
            local.state.heartbeat.version = remote.heartbeat.version;
            local.max_version = local.max_version.max(remote.heartbeat.version);
            local.beat_at = local.beat_at.max(produced_at);
            if local.dead_since.is_none() {
                self.fd.report_slot(local.fd_slot, now, produced_at);
            }
        }
        let mut changed = false;
        for (k, v) in remote.states {
            let newer = local
                .state
                .states
                .get(&k)
                .is_none_or(|old| v.version > old.version);
            if newer {
                out.events.push(Event::Changed {
                    endpoint: ep,
                    key: k,
                    value: v.value.clone(),
                });
                local.state.states.insert(k, v);
                changed = true;
            }
        }
        if changed {
            local.refresh();
        }
        if local.is_dead_state() {
            if local.dead_since.is_none() {
                local.dead_since = Some(now);
                self.fd.clear_slot(local.fd_slot);
                if local.alive {
                    local.alive = false;
                    out.events.push(Event::Down { endpoint: ep });
                }
            }
        } else if local.status == Some(NodeStatus::Shutdown) {
            if local.alive {
                local.alive = false;
                out.events.push(Event::Down { endpoint: ep });
            }
        } else if beat && !local.alive && !self.fd.convicts_slot(local.fd_slot, now) {
            // A heartbeat that is already too old (relayed after the endpoint died) does not
            // bring it back.
            local.alive = true;
            out.events.push(Event::Up { endpoint: ep });
        }
    }
}
