//! The pure core: a state machine fed with ticks and messages, that returns messages to send and
//! events for the layers above. No I/O, no clock, no global randomness:
//! `(state, input, now, rng) -> (state', Output)`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::codec;
use crate::error::{Error, Result};
use crate::failure_detector::{FailureDetector, FailureDetectorConfig};
use crate::messages::{Ack, Ack2, Digest, Envelope, Message, Syn};
use crate::rng::SeededRng;
use crate::state::{
    ApplicationState, Endpoint, EndpointState, HeartbeatState, NodeStatus, VersionedValue,
};

/// A generation this far above the one we know is rejected as corrupt (Cassandra: one year).
const MAX_GENERATION_DIFFERENCE: u64 = 86_400 * 365;
/// Slack for the varint counts at the front of lists when filling a message up to its limit.
const COUNT_SLACK: usize = 20;
/// Below this many bytes left, no further state is worth trying to fit.
const MIN_USEFUL_STATE: usize = 16;

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
    /// Random live nodes sent a SYN each round (default 1, as Cassandra). More spreads
    /// heartbeats faster, which shortens the gaps the failure detector sees, at the cost of one
    /// digest list (about 12 bytes per known node) per extra target; see docs/gossip.md.
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
            fanout: 1,
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
    state: EndpointState,
    alive: bool,
    /// When a dead state (LEFT, removed) was first seen, for eviction.
    dead_since: Option<Duration>,
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
    /// Everything known, including the local node.
    peers: BTreeMap<Endpoint, Peer>,
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
        let mut peers = BTreeMap::new();
        peers.insert(
            local,
            Peer {
                state: EndpointState::new(generation),
                alive: true,
                dead_since: None,
            },
        );
        // Seeds are the cluster's memory and start gossiping at once; everyone else first
        // learns the cluster from a seed (Cassandra's shadow round).
        let phase = if !cfg.seeds.is_empty() && !cfg.seeds.contains(&local) {
            Phase::Shadow {
                deadline: now + cfg.shadow_round_timeout,
            }
        } else {
            Phase::Normal
        };
        Ok(Gossiper {
            fd: FailureDetector::new(cfg.failure_detector.clone()),
            cfg,
            local,
            version: 0,
            peers,
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

    /// What this node knows of `ep` (including itself).
    pub fn endpoint_state(&self, ep: Endpoint) -> Option<&EndpointState> {
        self.peers.get(&ep).map(|p| &p.state)
    }

    /// Every known endpoint and its state, the local node included.
    pub fn endpoint_states(&self) -> impl Iterator<Item = (Endpoint, &EndpointState)> {
        self.peers.iter().map(|(e, p)| (*e, &p.state))
    }

    /// True when `ep` is considered up (the local node always is).
    pub fn is_alive(&self, ep: Endpoint) -> bool {
        self.peers.get(&ep).is_some_and(|p| p.alive)
    }

    /// Up endpoints other than the local one.
    pub fn live_endpoints(&self) -> Vec<Endpoint> {
        self.peers
            .iter()
            .filter(|(e, p)| **e != self.local && p.alive)
            .map(|(e, _)| *e)
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
        if let Some(me) = self.peers.get_mut(&self.local) {
            me.state.states.insert(
                key,
                VersionedValue {
                    value: value.into(),
                    version,
                },
            );
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

    /// Runs one gossip round: beat the heartbeat, send a SYN to a live node, maybe to an
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
        if let Some(me) = self.peers.get_mut(&self.local) {
            me.state.heartbeat.version = hb;
        }

        let syn = Envelope {
            from: self.local,
            message: Message::Syn(self.syn(rng)),
        };
        let mut live = Vec::new();
        let mut unreachable = Vec::new();
        for (ep, p) in &self.peers {
            if *ep == self.local || p.dead_since.is_some() {
                continue;
            }
            if p.alive {
                live.push(*ep);
            } else {
                unreachable.push(*ep);
            }
        }
        let mut gossiped_to_seed = false;
        // `fanout` distinct random live nodes (Cassandra: one).
        for k in 0..self.cfg.fanout.min(live.len()) {
            let j = k + rng.below(live.len() - k);
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
        for (ep, p) in self.peers.iter_mut() {
            if *ep == self.local {
                continue;
            }
            if let Some(since) = p.dead_since {
                if now.saturating_sub(since) >= self.cfg.dead_state_retention {
                    evict.push(*ep);
                }
                continue;
            }
            if may_convict && p.alive && self.fd.convicts(*ep, now) {
                p.alive = false;
                out.events.push(Event::Down { endpoint: *ep });
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
        if self.peers.remove(&ep).is_some() {
            self.fd.remove(ep);
            self.quarantine.insert(ep, now);
            out.events.push(Event::Evicted { endpoint: ep });
        }
    }

    /// Drops `ep` from membership now and ignores gossip about it for the quarantine delay
    /// (Cassandra's `removeEndpoint` + `quarantineEndpoint`).
    pub fn remove_endpoint(&mut self, ep: Endpoint, now: Duration) -> Output {
        let mut out = Output::default();
        if ep != self.local {
            if self.peers.get(&ep).is_some_and(|p| p.alive) {
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
        let Some(peer) = self.peers.get(&ep) else {
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
        self.apply(ep, state, now, &mut out);
        out
    }

    /// Marks the local node as shut down and pushes that to every live node (Cassandra's
    /// `GossipShutdown`), so they mark it down at once instead of waiting for the detector.
    pub fn announce_shutdown(&mut self) -> Output {
        self.set_status(NodeStatus::Shutdown);
        let hb = self.next_version();
        let mut out = Output::default();
        let Some(me) = self.peers.get_mut(&self.local) else {
            return out;
        };
        me.state.heartbeat.version = hb;
        let state = me.state.clone();
        let msg = Envelope {
            from: self.local,
            message: Message::Ack2(Ack2 {
                states: vec![(self.local, state)],
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
            .filter(|(e, _)| **e != self.local)
            .map(|(e, p)| Digest {
                endpoint: *e,
                generation: p.state.heartbeat.generation,
                max_version: p.state.max_version(),
            })
            .collect();
        // Cassandra shuffles the digests; when the limit binds, a random subset goes each round.
        rng.shuffle(&mut digests);
        if let Some(me) = self.peers.get(&self.local) {
            digests.insert(
                0,
                Digest {
                    endpoint: self.local,
                    generation: me.state.heartbeat.generation,
                    max_version: me.state.max_version(),
                },
            );
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
                let ack = self.ack_for(&syn.digests, rng);
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
                    for (ep, state) in ack.states {
                        self.apply(ep, state, now, &mut out);
                    }
                    self.phase = Phase::Normal;
                    out.events.push(Event::ShadowRoundComplete { seed: from });
                    return out;
                }
                for (ep, state) in ack.states {
                    self.apply(ep, state, now, &mut out);
                }
                if !ack.requests.is_empty() {
                    let ack2 = self.ack2_for(&ack.requests, rng);
                    out.messages.push((
                        from,
                        Envelope {
                            from: self.local,
                            message: Message::Ack2(ack2),
                        },
                    ));
                }
            }
            Message::Ack2(ack2) => {
                for (ep, state) in ack2.states {
                    self.apply(ep, state, now, &mut out);
                }
            }
        }
        out
    }

    /// Cassandra's `examineGossiper`: compare the sender's digests with ours.
    fn ack_for(&self, digests: &[Digest], rng: &mut SeededRng) -> Ack {
        let mut requests = Vec::new();
        // (endpoint, send state above this version)
        let mut sends: Vec<(Endpoint, u64)> = Vec::new();
        if digests.is_empty() {
            // Shadow round: everything we know.
            sends.extend(self.peers.keys().map(|e| (*e, 0)));
        }
        for d in digests {
            if self.quarantine.contains_key(&d.endpoint) {
                continue;
            }
            match self.peers.get(&d.endpoint) {
                None => requests.push(Digest {
                    max_version: 0,
                    ..*d
                }),
                Some(p) => {
                    let local_gen = p.state.heartbeat.generation;
                    let local_max = p.state.max_version();
                    if d.generation > local_gen {
                        requests.push(Digest {
                            max_version: 0,
                            ..*d
                        });
                    } else if d.generation < local_gen {
                        sends.push((d.endpoint, 0));
                    } else if d.max_version > local_max {
                        requests.push(Digest {
                            max_version: local_max,
                            ..*d
                        });
                    } else if d.max_version < local_max {
                        sends.push((d.endpoint, d.max_version));
                    }
                }
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
        let states = self.fill(sends, budget, rng);
        Ack { requests, states }
    }

    fn ack2_for(&self, requests: &[Digest], rng: &mut SeededRng) -> Ack2 {
        let mut sends = Vec::new();
        for r in requests {
            if let Some(p) = self.peers.get(&r.endpoint) {
                let local_gen = p.state.heartbeat.generation;
                if r.generation < local_gen {
                    sends.push((r.endpoint, 0));
                } else if r.generation == local_gen {
                    sends.push((r.endpoint, r.max_version));
                }
            }
        }
        let budget = self.cfg.max_message_bytes - codec::header_len(self.local) - COUNT_SLACK;
        Ack2 {
            states: self.fill(sends, budget, rng),
        }
    }

    /// Deltas for `sends` that fit in `budget` bytes: our own state first, the rest in random
    /// order so that what does not fit this round gets its turn in later ones. A delta that does
    /// not fit whole is cut after its oldest application states, with its heartbeat version
    /// lowered to the newest version sent, so the receiver asks for the rest next round.
    fn fill(
        &self,
        mut sends: Vec<(Endpoint, u64)>,
        mut budget: usize,
        rng: &mut SeededRng,
    ) -> Vec<(Endpoint, EndpointState)> {
        rng.shuffle(&mut sends);
        if let Some(i) = sends.iter().position(|(e, _)| *e == self.local) {
            let me = sends.remove(i);
            sends.insert(0, me);
        }
        let mut out = Vec::new();
        for (ep, above) in sends {
            if budget < MIN_USEFUL_STATE {
                break;
            }
            let Some(p) = self.peers.get(&ep) else {
                continue;
            };
            let len = codec::delta_len(ep, &p.state, above);
            if len <= budget {
                budget -= len;
                out.push((ep, p.state.delta_above(above)));
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
            let mut len = codec::state_len(ep, &partial) + 2;
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
                out.push((ep, partial));
            }
        }
        out
    }

    /// Cassandra's `applyStateLocally` with `notifyFailureDetector`: merge a remote state.
    fn apply(&mut self, ep: Endpoint, remote: EndpointState, now: Duration, out: &mut Output) {
        if ep == self.local || self.quarantine.contains_key(&ep) {
            return;
        }
        let Some(local) = self.peers.get_mut(&ep) else {
            let dead = remote.is_dead_state();
            self.fd.report(ep, now);
            self.peers.insert(
                ep,
                Peer {
                    state: remote,
                    alive: false,
                    dead_since: dead.then_some(now),
                },
            );
            out.events.push(Event::Joined { endpoint: ep });
            if let Some(p) = self.peers.get(&ep) {
                for (k, v) in &p.state.states {
                    out.events.push(Event::Changed {
                        endpoint: ep,
                        key: *k,
                        value: v.value.clone(),
                    });
                }
            }
            return;
        };
        let local_gen = local.state.heartbeat.generation;
        let remote_gen = remote.heartbeat.generation;
        if remote_gen > local_gen {
            if remote_gen > local_gen.saturating_add(MAX_GENERATION_DIFFERENCE) {
                tracing::warn!(%ep, local_gen, remote_gen, "ignoring implausible generation");
                return;
            }
            // A restart: the new generation replaces everything. The old arrival intervals
            // describe the previous incarnation only if the node never looked dead.
            if !local.alive {
                self.fd.remove(ep);
            }
            self.fd.report(ep, now);
            let was_alive = local.alive;
            local.state = remote;
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
            let status = local.state.status();
            if status.is_some_and(NodeStatus::is_dead_state) {
                local.dead_since.get_or_insert(now);
                local.alive = false;
                self.fd.remove(ep);
                if was_alive {
                    out.events.push(Event::Down { endpoint: ep });
                }
            } else {
                local.dead_since = None;
                let up = status != Some(NodeStatus::Shutdown);
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
            if local.dead_since.is_none() {
                self.fd.report(ep, now);
            }
        }
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
            }
        }
        let status = local.state.status();
        if status.is_some_and(NodeStatus::is_dead_state) {
            if local.dead_since.is_none() {
                local.dead_since = Some(now);
                self.fd.remove(ep);
                if local.alive {
                    local.alive = false;
                    out.events.push(Event::Down { endpoint: ep });
                }
            }
        } else if status == Some(NodeStatus::Shutdown) {
            if local.alive {
                local.alive = false;
                out.events.push(Event::Down { endpoint: ep });
            }
        } else if beat && !local.alive {
            local.alive = true;
            out.events.push(Event::Up { endpoint: ep });
        }
    }
}
