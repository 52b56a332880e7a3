//! Nodes leaving: an endpoint removed and quarantined, a dead node announced removed
//! (removenode), and the local node's shutdown announced.

use std::time::Duration;

use crate::messages::{Ack2, Delta, Envelope, Message};
use crate::state::{ApplicationState, Endpoint, EndpointState, NodeStatus, VersionedValue};

use super::{Event, Gossiper, Output};

impl Gossiper {
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
}
