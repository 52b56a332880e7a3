//! What a node knows of one endpoint: its state, when its heartbeat was produced, whether it
//! is alive, and its failure detector slot.

use std::time::Duration;

use crate::state::{Endpoint, EndpointState, NodeStatus};

#[derive(Debug, Clone)]
pub(super) struct Peer {
    pub(super) endpoint: Endpoint,
    pub(super) state: EndpointState,
    /// `state.max_version()`, kept current: every digest of every round needs it.
    pub(super) max_version: u64,
    /// The highest application state version: deltas above it are heartbeat-only.
    pub(super) app_max: u64,
    /// `state.status()`, kept current.
    pub(super) status: Option<NodeStatus>,
    /// When the endpoint produced the heartbeat in `state`, on the local clock: the time it
    /// arrived minus the age it came with. Sent on as the heartbeat's age.
    pub(super) beat_at: Duration,
    pub(super) alive: bool,
    /// When a dead state (LEFT, removed) was first seen, for eviction.
    pub(super) dead_since: Option<Duration>,
    /// The failure detector's slot for this endpoint (unused for the local node).
    pub(super) fd_slot: usize,
}

impl Peer {
    pub(super) fn new(
        endpoint: Endpoint,
        state: EndpointState,
        beat_at: Duration,
        fd_slot: usize,
    ) -> Peer {
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

    pub(super) fn refresh(&mut self) {
        self.max_version = self.state.max_version();
        self.app_max = app_max(&self.state);
        self.status = self.state.status();
    }

    pub(super) fn is_dead_state(&self) -> bool {
        self.status.is_some_and(NodeStatus::is_dead_state)
    }

    pub(super) fn age_ms(&self, now: Duration) -> u64 {
        u64::try_from(now.saturating_sub(self.beat_at).as_millis()).unwrap_or(u64::MAX)
    }
}

fn app_max(state: &EndpointState) -> u64 {
    state.states.values().map(|v| v.version).max().unwrap_or(0)
}
