//! Hints: writes a replica missed, kept durably for `max_hint_window` and delivered when it is
//! alive again.

use super::*;

/// What [`Replication::hand_over_hints`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandedOver {
    /// Hints delivered to their targets.
    pub delivered: usize,
    /// Hints given to another node to keep for their targets (which were down).
    pub transferred: usize,
}

impl Replication {
    pub(super) fn window_seconds(&self) -> u32 {
        u32::try_from(self.config.max_hint_window.as_secs()).unwrap_or(u32::MAX)
    }

    /// Stores a hint for `target`; false when hinted handoff is off or storing failed.
    pub(super) fn hint(&self, target: Uuid, mutation: &WireMutation) -> bool {
        if !self.config.hinted_handoff_enabled {
            return false;
        }
        match self
            .local
            .store_hint(target, mutation, self.window_seconds())
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%target, error = %e, "storing a hint failed");
                false
            }
        }
    }

    /// Hands every stored hint over before this node leaves the ring (decommission, as
    /// Cassandra's `transferHints`): hints whose target is up are delivered to it; the others
    /// go to another live node (this datacenter's first), which keeps them for their targets.
    /// Each hint is deleted here once acknowledged. Fails, keeping what was not handed over,
    /// when a hint can go nowhere.
    pub fn hand_over_hints(&self) -> Result<HandedOver> {
        let delivered = self.deliver_hints()?;
        let hints = self.local.hints()?;
        let mut done = HandedOver {
            delivered,
            transferred: 0,
        };
        if hints.is_empty() {
            return Ok(done);
        }
        let topo = self.topology();
        let timeout = self.config.write_request_timeout;
        for h in hints {
            let mut receivers: Vec<&Endpoint> = topo
                .nodes
                .values()
                .filter(|e| {
                    e.host_id != h.target && !self.is_local(&topo, e) && self.alive(&topo, e)
                })
                .collect();
            receivers.sort_by_key(|e| (e.dc != self.local_dc, e.address));
            let Some(to) = receivers.first() else {
                return Err(Error::server(format!(
                    "cannot hand the hints for {} over: no other live node",
                    h.target
                )));
            };
            let payload = Request::new(request::Body::HintTransfer(messages::HintTransfer {
                target: h.target.as_bytes().to_vec(),
                mutations: vec![h.mutation.clone()],
                window_seconds: self.window_seconds(),
            }))
            .to_bytes();
            let mut inflight = Inflight::new();
            inflight.push((), self.send(&topo, to, payload, timeout));
            let answer = inflight
                .next(Instant::now() + timeout)
                .map(|(_, a)| a)
                .unwrap_or(Err(MessagingError::Timeout {
                    address: to.address,
                    timeout,
                }));
            answer.and_then(|b| ack_of(to.address, &b)).map_err(|e| {
                Error::server(format!("handing a hint over to {}: {e}", to.address))
            })?;
            self.local.delete_hint(&h)?;
            done.transferred += 1;
        }
        Ok(done)
    }

    /// Delivers stored hints to their targets that are alive again; delivered hints are
    /// deleted. Returns how many were delivered.
    pub fn deliver_hints(&self) -> Result<usize> {
        let hints = self.local.hints()?;
        if hints.is_empty() {
            return Ok(0);
        }
        let topo = self.topology();
        let timeout = self.config.write_request_timeout;
        let mut delivered = 0;
        let mut failed: Vec<Uuid> = Vec::new();
        for h in hints {
            if failed.contains(&h.target) {
                continue;
            }
            let Some(e) = topo.nodes.values().find(|e| e.host_id == h.target) else {
                continue;
            };
            if !self.alive(&topo, e) {
                continue;
            }
            let payload = Request::new(request::Body::Hint(MutationRequest {
                mutations: vec![h.mutation.clone()],
            }))
            .to_bytes();
            let mut inflight = Inflight::new();
            inflight.push((), self.send(&topo, e, payload, timeout));
            let answer = inflight
                .next(Instant::now() + timeout)
                .map(|(_, a)| a)
                .unwrap_or(Err(MessagingError::Timeout {
                    address: e.address,
                    timeout,
                }));
            match answer.and_then(|b| ack_of(e.address, &b)) {
                Ok(()) => {
                    self.local.delete_hint(&h)?;
                    delivered += 1;
                    Counters::add(&self.local.counters.hints_delivered, 1);
                }
                Err(err) => {
                    tracing::debug!(target = %e.address, error = %err, "hint delivery failed");
                    failed.push(h.target);
                }
            }
        }
        Ok(delivered)
    }
}
