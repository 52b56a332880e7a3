//! Per-node endpoint state, as Cassandra's `EndpointState`: a heartbeat (generation, version)
//! and a map of versioned application states.
//!
//! Versions come from one counter per node (see [`crate::Gossiper`]): the heartbeat and every
//! application state draw from it, so "everything newer than version v" is a well-defined delta.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

/// A node's identity on the gossip network: its listen address (Cassandra's `InetAddressAndPort`).
pub type Endpoint = SocketAddr;

/// Builds the hasher of the crate's endpoint-keyed maps: a multiply-rotate hash (as rustc's
/// FxHash), several times faster than SipHash on a socket address. The maps are only looked up,
/// never iterated, so their order cannot leak into what a node does; and the keys are the
/// cluster's own addresses, not attacker-chosen at scale.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EndpointHasher;

impl std::hash::BuildHasher for EndpointHasher {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

#[derive(Debug)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A node's heartbeat: the generation changes on every restart (Cassandra uses the start time in
/// seconds), the version increases every gossip round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeartbeatState {
    /// Incarnation of the node; a higher generation replaces all state of the lower one.
    pub generation: u64,
    /// Heartbeat version within the generation.
    pub version: u64,
}

/// The keys of a node's application state. The discriminant is the wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ApplicationState {
    /// Lifecycle status, see [`NodeStatus`].
    Status = 0,
    /// Owned tokens, comma-separated signed decimal.
    Tokens = 1,
    /// Data centre name.
    Dc = 2,
    /// Rack name.
    Rack = 3,
    /// Schema version (UUID text).
    SchemaVersion = 4,
    /// Address clients connect to (`ip:port`).
    NativeAddress = 5,
    /// Release version string (e.g. `4.1.0`).
    ReleaseVersion = 6,
    /// Host id (UUID text).
    HostId = 7,
    /// Load on disk in bytes (decimal).
    Load = 8,
    /// The host id of the dead node this one replaces (`replace_address`): it takes that
    /// node's tokens, and once it is NORMAL the replaced node is gone from the ring.
    Replaces = 9,
    /// The host id of a dead node this one is removing (`removenode`), empty when none: the
    /// removed node's ranges are pending on their next owners until the removal ends.
    Removing = 10,
}

impl ApplicationState {
    /// Every key, in wire-code order.
    pub const ALL: [ApplicationState; 11] = [
        ApplicationState::Status,
        ApplicationState::Tokens,
        ApplicationState::Dc,
        ApplicationState::Rack,
        ApplicationState::SchemaVersion,
        ApplicationState::NativeAddress,
        ApplicationState::ReleaseVersion,
        ApplicationState::HostId,
        ApplicationState::Load,
        ApplicationState::Replaces,
        ApplicationState::Removing,
    ];

    /// The key for a wire code, if known.
    pub fn from_code(code: u8) -> Option<ApplicationState> {
        ApplicationState::ALL.get(usize::from(code)).copied()
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A value with the version at which it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedValue {
    /// The value, as text (Cassandra's gossip values are strings).
    pub value: String,
    /// The owner's version counter when the value was set.
    pub version: u64,
}

/// A node's lifecycle status, the value of [`ApplicationState::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    /// Joining the ring (bootstrapping).
    Boot,
    /// A full member serving its tokens.
    Normal,
    /// Decommissioning.
    Leaving,
    /// Left the ring; the state is kept for a while so everyone learns it.
    Left,
    /// Stopped cleanly; others mark it down at once instead of waiting for the detector.
    Shutdown,
    /// Removed by an operator on another node (Cassandra's removenode).
    Removed,
}

impl NodeStatus {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Boot => "BOOT",
            NodeStatus::Normal => "NORMAL",
            NodeStatus::Leaving => "LEAVING",
            NodeStatus::Left => "LEFT",
            NodeStatus::Shutdown => "shutdown",
            NodeStatus::Removed => "removed",
        }
    }

    /// Parses the wire text.
    pub fn parse(s: &str) -> Option<NodeStatus> {
        Some(match s {
            "BOOT" => NodeStatus::Boot,
            "NORMAL" => NodeStatus::Normal,
            "LEAVING" => NodeStatus::Leaving,
            "LEFT" => NodeStatus::Left,
            "shutdown" => NodeStatus::Shutdown,
            "removed" => NodeStatus::Removed,
            _ => return None,
        })
    }

    /// A dead state: the node is gone for good, is not gossiped to and not tracked by the
    /// failure detector (Cassandra's `DEAD_STATES` minus shutdown, which can come back).
    pub fn is_dead_state(self) -> bool {
        matches!(self, NodeStatus::Left | NodeStatus::Removed)
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one node knows about one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointState {
    /// The heartbeat.
    pub heartbeat: HeartbeatState,
    /// Application states by key.
    pub states: BTreeMap<ApplicationState, VersionedValue>,
}

impl EndpointState {
    /// A fresh state at `generation`, version 0, no application states.
    pub fn new(generation: u64) -> EndpointState {
        EndpointState {
            heartbeat: HeartbeatState {
                generation,
                version: 0,
            },
            states: BTreeMap::new(),
        }
    }

    /// The highest version in this state (heartbeat or any application state).
    pub fn max_version(&self) -> u64 {
        self.states
            .values()
            .map(|v| v.version)
            .fold(self.heartbeat.version, u64::max)
    }

    /// The value of one key.
    pub fn get(&self, key: ApplicationState) -> Option<&str> {
        self.states.get(&key).map(|v| v.value.as_str())
    }

    /// The status, if set and known.
    pub fn status(&self) -> Option<NodeStatus> {
        self.get(ApplicationState::Status)
            .and_then(NodeStatus::parse)
    }

    /// True when the status is a dead state (LEFT or removed).
    pub fn is_dead_state(&self) -> bool {
        self.status().is_some_and(NodeStatus::is_dead_state)
    }

    /// The tokens, parsed; malformed entries are skipped.
    pub fn tokens(&self) -> Vec<i64> {
        self.get(ApplicationState::Tokens)
            .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The part of this state with versions strictly above `version`: the heartbeat (always) and
    /// the application states newer than `version`.
    pub fn delta_above(&self, version: u64) -> EndpointState {
        EndpointState {
            heartbeat: self.heartbeat,
            states: self
                .states
                .iter()
                .filter(|(_, v)| v.version > version)
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
        }
    }
}

/// Formats tokens as the value of [`ApplicationState::Tokens`].
pub fn format_tokens(tokens: &[i64]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&t.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_version_covers_heartbeat_and_application_states() {
        let mut s = EndpointState::new(7);
        s.heartbeat.version = 3;
        assert_eq!(s.max_version(), 3);
        s.states.insert(
            ApplicationState::Load,
            VersionedValue {
                value: "1".into(),
                version: 9,
            },
        );
        assert_eq!(s.max_version(), 9);
    }

    #[test]
    fn status_text_round_trips_and_dead_states_are_left_and_removed() {
        for st in [
            NodeStatus::Boot,
            NodeStatus::Normal,
            NodeStatus::Leaving,
            NodeStatus::Left,
            NodeStatus::Shutdown,
            NodeStatus::Removed,
        ] {
            assert_eq!(NodeStatus::parse(st.as_str()), Some(st));
        }
        assert!(NodeStatus::Left.is_dead_state());
        assert!(NodeStatus::Removed.is_dead_state());
        assert!(!NodeStatus::Shutdown.is_dead_state());
    }

    #[test]
    fn tokens_round_trip_through_their_text_form() {
        let mut s = EndpointState::new(1);
        let toks = vec![-9_223_372_036_854_775_808, 0, 42];
        s.states.insert(
            ApplicationState::Tokens,
            VersionedValue {
                value: format_tokens(&toks),
                version: 1,
            },
        );
        assert_eq!(s.tokens(), toks);
    }
}
