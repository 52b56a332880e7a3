//! The three messages of a gossip round, as Cassandra's `GossipDigestSyn`, `GossipDigestAck` and
//! `GossipDigestAck2`:
//!
//! ```text
//!   A --SYN(digests of everything A knows)------------------------------> B
//!   A <--ACK(states newer than A's digests, requests for what A has newer)-- B
//!   A --ACK2(the states B requested)------------------------------------> B
//! ```
//!
//! A SYN with no digests opens a shadow round: the receiver answers with everything it knows and
//! the sender does not announce itself.

use crate::state::{Endpoint, EndpointState};

/// What a node knows of one endpoint: its generation and the highest version it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// The endpoint described.
    pub endpoint: Endpoint,
    /// The generation known.
    pub generation: u64,
    /// The highest version known within that generation (0: nothing, send everything).
    pub max_version: u64,
}

/// Opens a round: the sender's digests (empty for a shadow round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syn {
    /// The sender's cluster name; a receiver in another cluster ignores the message.
    pub cluster_name: String,
    /// One digest per endpoint the sender knows (possibly a subset, when the size limit binds).
    pub digests: Vec<Digest>,
}

/// The part of one endpoint's state that the receiver lacks, with the age of its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The endpoint described.
    pub endpoint: Endpoint,
    /// The heartbeat (always) and the application states newer than what the receiver has.
    pub state: EndpointState,
    /// How long ago, in milliseconds, the endpoint produced this heartbeat, as far as the sender
    /// knows: the age it arrived with plus how long the sender has held it (0 for the sender's
    /// own). The failure detector measures heartbeat age, not arrival time (docs/gossip.md).
    pub heartbeat_age_ms: u64,
}

/// Answers a SYN: states the SYN's sender lacks, and requests for states it has newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Requests: send me `endpoint`'s state above `max_version` (in `generation`).
    pub requests: Vec<Digest>,
    /// Deltas for the SYN's sender.
    pub states: Vec<Delta>,
}

/// Closes a round: the states the ACK requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack2 {
    /// Deltas for the ACK's sender.
    pub states: Vec<Delta>,
}

/// One gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Round opener.
    Syn(Syn),
    /// Answer to a SYN.
    Ack(Ack),
    /// Answer to an ACK.
    Ack2(Ack2),
}

/// A message with its sender, the unit the codec encodes and a [`crate::Transport`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The sending node's gossip address.
    pub from: Endpoint,
    /// The message.
    pub message: Message,
}
