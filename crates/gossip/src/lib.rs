//! `ilion-gossip`: cluster state dissemination and failure detection, as Cassandra's gossiper.
//!
//! Every node keeps an [`EndpointState`] per known node: a heartbeat (generation, version) and
//! versioned application states (status, tokens, dc, rack, schema version, ...). Each round
//! ([`Gossiper::tick`], every second) a node sends a digest [`Syn`] to `fanout` (3) random live
//! nodes (plus, with Cassandra's probabilities, to a seed and to an unreachable node); the
//! receiver answers with an [`Ack`] carrying newer states and requests, and the round closes with
//! an [`Ack2`]. A phi-accrual [`FailureDetector`] over the age of each node's freshest heartbeat
//! (carried on the wire) marks nodes down and up.
//!
//! The core is pure: [`Gossiper`] is a state machine of (state, input, now, rng) -> [`Output`]
//! (messages to send and [`Event`]s). [`driver::run`] runs it with tokio against a
//! [`Transport`]; `sim` (feature `testkit`) runs whole clusters on a simulated clock. Messages cross the wire in the
//! binary format of [`codec`] (see `docs/gossip.md`).
//!
//! ```
//! use std::time::Duration;
//! use ilion_gossip::{codec, ApplicationState, Config, Gossiper, NodeStatus, SeededRng};
//!
//! let a_addr = "10.0.0.1:7000".parse().unwrap();
//! let b_addr = "10.0.0.2:7000".parse().unwrap();
//! let cfg = Config::new("Test Cluster", vec![a_addr]);
//! let mut rng = SeededRng::new(42);
//! let mut a = Gossiper::new(cfg.clone(), a_addr, 1, Duration::ZERO).unwrap();
//! let mut b = Gossiper::new(cfg, b_addr, 1, Duration::ZERO).unwrap();
//! a.set_status(NodeStatus::Normal);
//! b.set_local(ApplicationState::Dc, "dc1");
//!
//! // Ten rounds: both tick, then every message is delivered (through the codec) until quiet.
//! let mut now = Duration::ZERO;
//! for _ in 0..10 {
//!     now += Duration::from_secs(1);
//!     let mut queue: Vec<(ilion_gossip::Endpoint, ilion_gossip::Envelope)> = Vec::new();
//!     queue.extend(a.tick(now, &mut rng).messages);
//!     queue.extend(b.tick(now, &mut rng).messages);
//!     while let Some((to, env)) = queue.pop() {
//!         let env = codec::decode(&codec::encode(&env), 64 * 1024).unwrap();
//!         let node = if to == a_addr { &mut a } else { &mut b };
//!         queue.extend(node.handle(env, now, &mut rng).messages);
//!     }
//! }
//! assert_eq!(b.endpoint_state(a_addr).unwrap().status(), Some(NodeStatus::Normal));
//! assert_eq!(a.endpoint_state(b_addr).unwrap().get(ApplicationState::Dc), Some("dc1"));
//! ```
//!
//! What it is not: it opens no sockets (the node's gRPC service carries the encoded messages as
//! opaque bytes), keeps no token metadata and persists nothing (the caller chooses a generation
//! higher than the last one, e.g. the start time in seconds).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod codec;
pub mod driver;
mod error;
mod failure_detector;
mod gossiper;
mod messages;
mod rng;
#[cfg(feature = "testkit")]
pub mod sim;
mod state;
mod transport;

pub use error::{Error, Result};
pub use failure_detector::{FailureDetector, FailureDetectorConfig};
pub use gossiper::{Config, Event, Gossiper, Input, Output};
pub use messages::{Ack, Ack2, Delta, Digest, Envelope, Message, Syn};
pub use rng::SeededRng;
pub use state::{
    ApplicationState, Endpoint, EndpointState, HeartbeatState, NodeStatus, VersionedValue,
    format_tokens,
};
pub use transport::{InMemoryNetwork, InMemoryTransport, LinkFaults, Transport};
