//! The pure core: a state machine fed with ticks and messages, that returns messages to send and
//! events for the layers above. No I/O, no clock, no global randomness:
//! `(state, input, now, rng) -> (state', Output)`.
//!
//! One file per job: `config` (the settings), `peer` (what is known of one endpoint), `round`
//! (a gossip round: heartbeat, targets, convictions), `exchange` (SYN, ACK and ACK2 built
//! within the message size limit), `merge` (received states applied) and `departure`
//! (removal and shutdown).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::error::Result;
use crate::failure_detector::FailureDetector;
use crate::messages::Envelope;
use crate::rng::SeededRng;
use crate::state::{
    ApplicationState, Endpoint, EndpointHasher, EndpointState, NodeStatus, VersionedValue,
};

mod config;
mod departure;
mod exchange;
mod merge;
mod peer;
mod round;

pub use config::Config;
use peer::Peer;

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
    /// An endpoint is up: its heartbeat advanced, or the new incarnation of one that
    /// restarted is live (after [`Event::Restarted`], even if it never looked down).
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
    /// The cluster holds this node removed (removenode, or replaced by another node) or left,
    /// under this node's own host ID: it was taken out while it was down and must not rejoin
    /// with its old data and tokens. The node should stop.
    Fenced {
        /// The node that told us.
        by: Endpoint,
        /// The dead state it holds for us (LEFT or removed).
        status: NodeStatus,
    },
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
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
    /// The node that told us this node is fenced ([`Event::Fenced`], raised once).
    fenced_by: Option<Endpoint>,
    /// Removed nodes seen coming back under their old host ID (warned about once each).
    fenced_peers: std::collections::BTreeSet<Endpoint>,
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
            fenced_by: None,
            fenced_peers: std::collections::BTreeSet::new(),
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
}
