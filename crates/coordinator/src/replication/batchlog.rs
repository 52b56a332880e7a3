//! Logged batches: stored on up to two other live nodes of the local datacenter before they
//! are applied, removed after, and replayed from there when their coordinator never removed them.

use super::*;

impl Replication {
    /// A logged batch: batchlog, mutations, batchlog removal.
    pub(super) fn write_logged(
        &self,
        mutations: &[(Keyspace, WireMutation)],
        consistency: Consistency,
    ) -> Result<()> {
        let topo = self.topology();
        // Check availability before anything is stored.
        for (ks, m) in mutations {
            let req = Requirement::new(consistency, &topo.placement(ks)?.strategy, &self.local_dc)?;
            let replicas = self.replicas(&topo, ks, m.token)?;
            req.check_alive(
                replicas
                    .iter()
                    .map(|e| (e.dc.as_str(), self.alive(&topo, e))),
            )?;
        }
        let written_at = self.local.micros();
        let local_bits = topo
            .local
            .map_or(0, |l| l.as_u128() as u64)
            .wrapping_add(u64::from(self.membership.local_address().is_ipv6()));
        let key = BatchlogKey {
            id: Uuid::from_u64_pair(written_at as u64, local_bits)
                .as_bytes()
                .to_vec(),
            written_at,
        };
        let entry = BatchlogEntry {
            key: Some(key.clone()),
            mutations: mutations.iter().map(|(_, m)| m.clone()).collect(),
        };
        let endpoints = self.batchlog_endpoints(&topo, &key);
        let timeout = self.config.write_request_timeout;
        let payload = Request::new(request::Body::BatchlogStore(entry)).to_bytes();
        let mut inflight = Inflight::new();
        for e in &endpoints {
            inflight.push(e.address, self.send(&topo, e, payload.clone(), timeout));
        }
        let deadline = Instant::now() + timeout;
        let mut acked = 0usize;
        while let Some((address, answer)) = inflight.next(deadline) {
            match answer.and_then(|b| ack_of(address, &b)) {
                Ok(()) => acked += 1,
                Err(e) => tracing::debug!(%address, error = %e, "batchlog write failed"),
            }
        }
        if acked < endpoints.len() {
            return Err(Error::WriteTimeout {
                consistency,
                received: i32::try_from(acked).unwrap_or(i32::MAX),
                block_for: i32::try_from(endpoints.len()).unwrap_or(i32::MAX),
                write_type: WriteType::BatchLog,
            });
        }
        self.write_mutations(mutations, consistency, WriteType::Batch, WriteMode::Level)?;
        let remove = Request::new(request::Body::BatchlogRemove(key)).to_bytes();
        let mut inflight = Inflight::new();
        for e in &endpoints {
            inflight.push(e.address, self.send(&topo, e, remove.clone(), timeout));
        }
        while let Some((address, answer)) = inflight.poll_ready() {
            if let Err(e) = answer.and_then(|b| ack_of(address, &b)) {
                tracing::debug!(%address, error = %e, "batchlog removal failed; replay will");
            }
        }
        if !inflight.is_empty() {
            // Removal is best effort: a missed one is replayed (idempotently) later.
            self.followup(Followup {
                inflight: {
                    let mut f = Inflight::new();
                    for (_, fut) in inflight.into_pending() {
                        f.push((Uuid::nil(), usize::MAX), fut);
                    }
                    f
                },
                mutations: Vec::new(),
            });
        }
        Ok(())
    }

    /// Up to two other live nodes of the local datacenter (Cassandra's choice), or this node
    /// when it is alone there.
    pub(super) fn batchlog_endpoints(&self, topo: &Topology, key: &BatchlogKey) -> Vec<Endpoint> {
        let mut others: Vec<Endpoint> = topo
            .nodes
            .iter()
            .filter(|(id, e)| {
                Some(**id) != topo.local && e.dc == self.local_dc && self.alive(topo, e)
            })
            .map(|(_, e)| e.clone())
            .collect();
        others.sort_by_key(|e| e.address);
        if others.is_empty() {
            return topo
                .local
                .and_then(|l| topo.nodes.get(&l).cloned())
                .into_iter()
                .collect();
        }
        // Rotate by the batch id so batches spread over the nodes.
        let n = others.len();
        let start = (key.written_at.unsigned_abs() % n as u64) as usize;
        others.rotate_left(start);
        others.truncate(2);
        others
    }

    /// Replays batchlog entries older than `batchlog_replay_after` whose coordinator did not
    /// remove them: every mutation goes to its replicas (hints for those that do not answer),
    /// then the entry is removed. Returns how many batches were replayed.
    pub fn replay_batchlog(&self) -> Result<usize> {
        let after =
            i64::try_from(self.config.batchlog_replay_after.as_micros()).unwrap_or(i64::MAX);
        let before = self.local.micros().saturating_sub(after);
        let entries = self.local.batches_before(before)?;
        let mut replayed = 0;
        for entry in entries {
            let schema = self.schema.read().clone();
            let mutations: Vec<(Keyspace, WireMutation)> = entry
                .mutations
                .iter()
                .filter_map(|m| {
                    let ks = schema.keyspaces.get(&m.keyspace)?;
                    ks.tables
                        .contains_key(&m.table)
                        .then(|| (ks.clone(), m.clone()))
                })
                .collect();
            self.write_mutations(
                &mutations,
                Consistency::One,
                WriteType::Batch,
                WriteMode::Replay,
            )?;
            if let Some(key) = &entry.key {
                self.local.remove_batch(key)?;
            }
            replayed += 1;
            Counters::add(&self.local.counters.batchlog_replays, 1);
        }
        Ok(replayed)
    }
}
