//! Received states merged into what is known (Cassandra's `applyStateLocally`): new
//! endpoints, restarts, newer heartbeats and application states, and the events they raise.

use std::time::Duration;

use crate::messages::Delta;
use crate::state::{ApplicationState, Endpoint, EndpointState, NodeStatus};

#[cfg(feature = "testkit")]
use super::Phase;
use super::{Event, Gossiper, Output, Peer};

/// A generation this far above the one we know is rejected as corrupt (Cassandra: one year).
const MAX_GENERATION_DIFFERENCE: u64 = 86_400 * 365;

impl Gossiper {
    /// Applies the states of one message.
    ///
    /// A message carries a state for most known endpoints, in random order, and each one's peer
    /// entry and detector history are a cache miss: first every endpoint is looked up and its
    /// entries read in short loops of independent loads, which the processor overlaps, then
    /// each state is applied to entries now in the cache (about twice as fast at 1000 nodes).
    /// `from` is the node that sent them.
    pub(super) fn apply_all(
        &mut self,
        from: Endpoint,
        deltas: Vec<Delta>,
        now: Duration,
        out: &mut Output,
    ) {
        if let Some(mine) = deltas.iter().find(|d| d.endpoint == self.local) {
            self.check_fenced(from, &mine.state, out);
        }
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

    /// Raises [`Event::Fenced`] when `remote`, a state of this node as `from` holds it, is a
    /// dead state (LEFT or removed) under this node's own host ID while this node is not
    /// leaving: it was taken out of the cluster while it was down.
    fn check_fenced(&mut self, from: Endpoint, remote: &EndpointState, out: &mut Output) {
        let Some(status) = remote.status().filter(|s| s.is_dead_state()) else {
            return;
        };
        let Some(me) = self.peers.first() else {
            return;
        };
        if me.is_dead_state() || self.fenced_by.is_some() {
            return;
        }
        let mine = me.state.get(ApplicationState::HostId);
        if mine.is_none() || mine != remote.get(ApplicationState::HostId) {
            return;
        }
        self.fenced_by = Some(from);
        out.events.push(Event::Fenced { by: from, status });
    }

    /// Whether `remote`, a new generation of `ep`, is a node the cluster removed (or that
    /// left) coming back under the same host ID: its state is not taken, so it never owns
    /// its old tokens again (it learns it is fenced from our answer, see `ack_for`). A node
    /// wiped and started again has a new host ID and joins as usual.
    fn is_fenced_return(
        &mut self,
        ep: Endpoint,
        local: &EndpointState,
        remote: &EndpointState,
    ) -> bool {
        if !local.is_dead_state() || remote.is_dead_state() {
            return false;
        }
        let held = local.get(ApplicationState::HostId);
        if held.is_none() || held != remote.get(ApplicationState::HostId) {
            return false;
        }
        if self.fenced_peers.insert(ep) {
            tracing::warn!(
                %ep,
                host_id = held.unwrap_or_default(),
                "ignoring a node the cluster removed coming back with its old host ID; wipe its \
                 data directory to join it again as a new node"
            );
        }
        true
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
    pub(super) fn apply(
        &mut self,
        delta: Delta,
        found: Option<usize>,
        now: Duration,
        out: &mut Output,
    ) {
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
            let held = local.state.clone();
            if self.is_fenced_return(ep, &held, &remote) {
                return;
            }
            let Some(local) = self.peers.get_mut(i) else {
                return;
            };
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
                // A restart is a DOWN and an UP to those who saw the old incarnation alive
                // (Cassandra's onRestart): Up follows Restarted even when the node was never
                // convicted in between (restarted within a few seconds).
                if up {
                    out.events.push(Event::Up { endpoint: ep });
                } else if was_alive {
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
