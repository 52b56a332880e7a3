//! Blocking read repair: each replica that answered a mismatched read gets what it lacks of
//! the reconciled result before the read answers.

use super::*;

impl Replication {
    /// Blocking read repair: sends each replica what it lacks of `merged` and waits until as
    /// many replicas as the level needs hold it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn repair(
        &self,
        topo: &Topology,
        req: &Requirement,
        consistency: Consistency,
        candidates: &[Endpoint],
        responses: &[(usize, WireResult)],
        merged: &WireResult,
        ks: &Keyspace,
        table: &Table,
    ) -> Result<()> {
        let timeout = self.config.write_request_timeout;
        let mut tracker = req.tracker();
        let mut inflight: Inflight<usize> = Inflight::new();
        for (i, r) in responses {
            let Some(e) = candidates.get(*i) else {
                continue;
            };
            let diff = reconcile::diff(
                &ks.name,
                &table.name,
                merged,
                r,
                self.local.clock.now_seconds(),
            );
            if diff.is_empty() {
                tracker.add(req, &e.dc);
                continue;
            }
            tracing::debug!(replica = %e.address, partitions = diff.len(), "read repair");
            Counters::add(&self.local.counters.read_repairs, 1);
            let payload =
                Request::new(request::Body::Mutation(MutationRequest { mutations: diff }))
                    .to_bytes();
            inflight.push(*i, self.send(topo, e, payload, timeout));
        }
        let deadline = Instant::now() + timeout;
        while !inflight.is_empty() {
            let Some((i, answer)) = inflight.next(deadline) else {
                break;
            };
            let Some(e) = candidates.get(i) else { continue };
            if answer.and_then(|b| ack_of(e.address, &b)).is_ok() {
                tracker.add(req, &e.dc);
            }
        }
        if req.met(&tracker) {
            Ok(())
        } else {
            Err(Error::ReadTimeout {
                consistency,
                received: i32::try_from(tracker.received).unwrap_or(i32::MAX),
                block_for: i32::try_from(req.block_for).unwrap_or(i32::MAX),
                data_present: true,
            })
        }
    }
}
