//! Reads: one replica for data and others for digests as the level needs, speculative retry
//! past a latency percentile, reconciliation on a mismatch, and token-range reads.

use super::*;

/// Recent read latencies, for the speculative-retry percentile.
#[derive(Debug, Default)]
pub(super) struct Latencies {
    pub(super) samples: Vec<Duration>,
    pub(super) next: usize,
    /// Samples recorded since the last percentile was computed.
    pub(super) since: usize,
    /// The last percentile computed: (its `p` as bits, the value). Sorting the window on every
    /// read was a fifth of a point read's time; the threshold may lag by
    /// `LATENCY_RECOMPUTE_EVERY` samples.
    pub(super) cached: Option<(u64, Duration)>,
}

/// How many new samples make the cached percentile stale.
pub(super) const LATENCY_RECOMPUTE_EVERY: usize = 64;

pub(super) const LATENCY_WINDOW: usize = 1000;

pub(super) const LATENCY_MIN_SAMPLES: usize = 20;

impl Latencies {
    fn record(&mut self, d: Duration) {
        if self.samples.len() < LATENCY_WINDOW {
            self.samples.push(d);
        } else if let Some(s) = self.samples.get_mut(self.next) {
            *s = d;
        }
        self.next = (self.next + 1) % LATENCY_WINDOW;
        self.since += 1;
    }

    fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.samples.len() < LATENCY_MIN_SAMPLES {
            return None;
        }
        if let Some((bits, d)) = self.cached
            && bits == p.to_bits()
            && self.since < LATENCY_RECOMPUTE_EVERY
        {
            return Some(d);
        }
        let mut v = self.samples.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * (v.len() as f64)).ceil() as usize;
        let d = v.get(rank.saturating_sub(1).min(v.len() - 1)).copied()?;
        self.cached = Some((p.to_bits(), d));
        self.since = 0;
        Some(d)
    }
}

/// Rows as a limit counts them (a partition with only static cells is one row).
pub(super) fn count_rows(r: &WireResult) -> u32 {
    r.partitions
        .iter()
        .map(|p| {
            if p.rows.is_empty() {
                u32::from(!p.static_cells.is_empty())
            } else {
                u32::try_from(p.rows.len()).unwrap_or(u32::MAX)
            }
        })
        .fold(0u32, u32::saturating_add)
}

pub(super) fn last_position(r: &WireResult) -> Option<PagingPosition> {
    let p = r.partitions.last()?;
    Some(PagingPosition {
        token: p.token,
        partition_key: p.key.clone(),
        clustering: None,
        rows_in_partition: u32::try_from(p.rows.len()).unwrap_or(u32::MAX),
    })
}

impl Replication {
    pub(super) fn read_timeout(&self, cmd: &ReadCommand) -> Duration {
        match cmd.partitions {
            PartitionRange::Single { .. } => self.config.read_request_timeout,
            PartitionRange::Tokens { .. } => self.config.range_request_timeout,
        }
    }

    pub(super) fn speculation_threshold(&self) -> Option<Duration> {
        match self.config.speculative_retry {
            SpeculativeRetry::None => None,
            SpeculativeRetry::Fixed(d) => Some(d),
            SpeculativeRetry::Percentile(p) => self.latencies.lock().percentile(p),
        }
    }

    /// Live replicas in the order reads contact them: this node, its datacenter, the others;
    /// only the local datacenter for LOCAL_ levels.
    pub(super) fn read_candidates(
        &self,
        topo: &Topology,
        req: &Requirement,
        replicas: Vec<Endpoint>,
    ) -> Vec<Endpoint> {
        let mut live: Vec<Endpoint> = replicas
            .into_iter()
            .filter(|e| self.alive(topo, e) && req.counts(&e.dc))
            .collect();
        live.sort_by_key(|e| (!self.is_local(topo, e), e.dc != self.local_dc));
        live
    }

    /// The first replicas that satisfy the level (per datacenter for EACH_QUORUM).
    pub(super) fn read_targets(&self, req: &Requirement, candidates: &[Endpoint]) -> Vec<usize> {
        if req.per_dc.is_empty() {
            return (0..candidates.len().min(req.block_for)).collect();
        }
        let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for (i, e) in candidates.iter().enumerate() {
            let need = req.per_dc.get(&e.dc).copied().unwrap_or(0);
            let t = taken.entry(e.dc.as_str()).or_insert(0);
            if *t < need {
                *t += 1;
                out.push(i);
            }
        }
        out
    }

    /// One read of one partition or one token range owned by the same replicas.
    pub(super) fn read_replicas(
        &self,
        topo: &Topology,
        ks: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        consistency: Consistency,
        replicas: Vec<Endpoint>,
    ) -> Result<WireResult> {
        let started = Instant::now();
        let timeout = self.read_timeout(cmd);
        let deadline = started + timeout;
        let placement = topo.placement(ks)?;
        let strategy = &placement.strategy;
        if consistency == Consistency::Any {
            return Err(Error::invalid(
                "ANY ConsistencyLevel is only supported for writes",
            ));
        }
        let req = Requirement::new(consistency, strategy, &self.local_dc)?;
        req.check_alive(
            replicas
                .iter()
                .map(|e| (e.dc.as_str(), self.alive(topo, e))),
        )?;
        let candidates = self.read_candidates(topo, &req, replicas);
        let targets = self.read_targets(&req, &candidates);
        let wire_cmd = WireReadCommand::from_command(&ks.name, &table.name, cmd);
        let request_for = |digest: bool| {
            Request::new(request::Body::Read(ReadRequest {
                command: Some(wire_cmd.clone()),
                digest,
            }))
            .to_bytes()
        };
        let mut inflight: Inflight<(usize, bool)> = Inflight::new();
        let mut contacted = vec![false; candidates.len()];
        for (n, i) in targets.iter().enumerate() {
            let Some(e) = candidates.get(*i) else {
                continue;
            };
            let digest = n > 0;
            inflight.push(
                (*i, digest),
                self.send(topo, e, request_for(digest), timeout),
            );
            if let Some(c) = contacted.get_mut(*i) {
                *c = true;
            }
        }
        let mut tracker = req.tracker();
        let mut data: Option<(usize, WireResult)> = None;
        let mut digests: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut failures: Vec<(IpAddr, FailureReason)> = Vec::new();
        let mut speculated = false;
        let threshold = self.speculation_threshold();
        loop {
            if data.is_some() && req.met(&tracker) {
                break;
            }
            let wait_until = match threshold {
                Some(t) if !speculated => (started + t).min(deadline),
                _ => deadline,
            };
            match inflight.next(wait_until) {
                Some(((i, _), answer)) => {
                    let Some(e) = candidates.get(i) else { continue };
                    match answer.and_then(|b| answer_of(e.address, &b)) {
                        Ok(response::Body::Data(r)) => {
                            tracker.add(&req, &e.dc);
                            if data.is_none() {
                                data = Some((i, r));
                            } else {
                                digests.push((i, r.digest()));
                            }
                        }
                        Ok(response::Body::Digest(d)) => {
                            tracker.add(&req, &e.dc);
                            digests.push((i, d));
                        }
                        Ok(
                            response::Body::Ack(_)
                            | response::Body::Failure(_)
                            | response::Body::WriteError(_)
                            | response::Body::Promise(_)
                            | response::Body::Acceptance(_),
                        ) => {
                            tracing::debug!(replica = %e.address, "a read answered with an ack");
                        }
                        Err(err) => {
                            tracing::debug!(replica = %e.address, error = %err, "read failed");
                            failures.extend(failure_of(&err));
                            // A replica that failed fast is replaced by the next live one.
                            if Instant::now() < deadline
                                && let Some(n) = (0..candidates.len())
                                    .find(|n| !contacted.get(*n).copied().unwrap_or(true))
                                && let Some(next) = candidates.get(n)
                            {
                                let digest = data.is_some();
                                inflight.push(
                                    (n, digest),
                                    self.send(topo, next, request_for(digest), timeout),
                                );
                                if let Some(c) = contacted.get_mut(n) {
                                    *c = true;
                                }
                            }
                        }
                    }
                }
                None => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    if !speculated && threshold.is_some() {
                        speculated = true;
                        // One more replica: for data when none came yet, else for a digest.
                        if let Some(i) = (0..candidates.len())
                            .find(|i| !contacted.get(*i).copied().unwrap_or(true))
                            && let Some(e) = candidates.get(i)
                        {
                            let digest = data.is_some();
                            tracing::debug!(replica = %e.address, "speculative read");
                            Counters::add(&self.local.counters.speculative_retries, 1);
                            inflight.push(
                                (i, digest),
                                self.send(topo, e, request_for(digest), timeout),
                            );
                            if let Some(c) = contacted.get_mut(i) {
                                *c = true;
                            }
                            continue;
                        }
                    }
                    if inflight.is_empty() {
                        break;
                    }
                }
            }
        }
        let data_present = data.is_some();
        let Some((data_from, result)) = data.filter(|_| req.met(&tracker)) else {
            if !failures.is_empty() {
                return Err(Error::ReadFailure {
                    consistency,
                    received: i32::try_from(tracker.received).unwrap_or(i32::MAX),
                    block_for: i32::try_from(req.block_for).unwrap_or(i32::MAX),
                    failures,
                    data_present,
                });
            }
            return Err(Error::ReadTimeout {
                consistency,
                received: i32::try_from(tracker.received).unwrap_or(i32::MAX),
                block_for: i32::try_from(req.block_for).unwrap_or(i32::MAX),
                data_present,
            });
        };
        self.latencies.lock().record(started.elapsed());
        let expected = result.digest();
        if digests.iter().all(|(_, d)| *d == expected) {
            return Ok(result);
        }
        // Digest mismatch: full data from every replica that answered, then reconcile.
        let mut responses = vec![(data_from, result)];
        let mut inflight: Inflight<usize> = Inflight::new();
        for (i, _) in &digests {
            if let Some(e) = candidates.get(*i) {
                inflight.push(*i, self.send(topo, e, request_for(false), timeout));
            }
        }
        let mut tracker = req.tracker();
        if let Some(e) = candidates.get(data_from) {
            tracker.add(&req, &e.dc);
        }
        let deadline = Instant::now() + timeout;
        while !req.met(&tracker) || !inflight.is_empty() {
            let Some((i, answer)) = inflight.next(deadline) else {
                break;
            };
            let Some(e) = candidates.get(i) else { continue };
            match answer.and_then(|b| answer_of(e.address, &b)) {
                Ok(response::Body::Data(r)) => {
                    tracker.add(&req, &e.dc);
                    responses.push((i, r));
                }
                Ok(_) => {}
                Err(err) => failures.extend(failure_of(&err)),
            }
            if req.met(&tracker) && inflight.is_empty() {
                break;
            }
        }
        if !req.met(&tracker) {
            let received = i32::try_from(tracker.received).unwrap_or(i32::MAX);
            let block_for = i32::try_from(req.block_for).unwrap_or(i32::MAX);
            if !failures.is_empty() {
                return Err(Error::ReadFailure {
                    consistency,
                    received,
                    block_for,
                    failures,
                    data_present: true,
                });
            }
            return Err(Error::ReadTimeout {
                consistency,
                received,
                block_for,
                data_present: true,
            });
        }
        let schema = self.table_schema(table)?;
        let results: Vec<&WireResult> = responses.iter().map(|(_, r)| r).collect();
        let merged = reconcile::merge(&schema, self.local.clock.clone(), cmd, &results)?;
        self.repair(
            topo,
            &req,
            consistency,
            &candidates,
            &responses,
            &merged,
            ks,
            table,
        )?;
        Ok(merged)
    }

    /// A token-range read: one read per ring range the request covers, in token order, until
    /// the limit is reached.
    pub(super) fn read_range(
        &self,
        ks: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        consistency: Consistency,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<WireResult> {
        let topo = self.topology();
        let placement = topo.placement(ks)?;
        let map = &placement.map;
        let s = start.unwrap_or(i64::MIN);
        let e = end.unwrap_or(i64::MAX);
        // A wrapping request is the part up to the end of the ring and the part from its start.
        let pieces: Vec<(i64, i64)> = if s < e {
            vec![(s, e)]
        } else {
            vec![(s, i64::MAX), (i64::MIN, e)]
        };
        let mut bounds: Vec<i64> = topo.meta.ring().iter().map(|(t, _)| t.value()).collect();
        bounds.dedup();
        let mut out = WireResult::default();
        let mut rows = 0u32;
        let mut resume = cmd.resume.clone();
        for (ps, pe) in pieces {
            // Sub-ranges (a, b] between consecutive ring tokens, then past the last token.
            let mut cuts: Vec<(i64, i64)> = Vec::new();
            let mut left = ps;
            for b in bounds.iter().copied().filter(|b| *b > ps && *b < pe) {
                cuts.push((left, b));
                left = b;
            }
            cuts.push((left, pe));
            for (a, b) in cuts {
                if let Some(pos) = &resume
                    && pos.token > b
                {
                    continue;
                }
                let remaining = cmd.limit.map(|l| l.saturating_sub(rows));
                if remaining == Some(0) {
                    if out.next_page.is_none() {
                        out.next_page = last_position(&out).map(|p| p.encode());
                    }
                    return Ok(out);
                }
                let sub = ReadCommand {
                    partitions: PartitionRange::Tokens {
                        start: Some(a),
                        end: Some(b),
                    },
                    limit: remaining,
                    resume: resume.take(),
                    ..cmd.clone()
                };
                let replicas = topo.endpoints(map.replicas(Token::new(b)));
                let r = self.read_replicas(&topo, ks, table, &sub, consistency, replicas)?;
                rows = rows.saturating_add(count_rows(&r));
                out.tombstones_scanned += r.tombstones_scanned;
                out.partitions.extend(r.partitions);
                if r.next_page.is_some() {
                    out.next_page = r.next_page;
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_speculation_percentile_needs_enough_samples_and_follows_the_window() {
        let mut l = Latencies::default();
        for ms in 1..LATENCY_MIN_SAMPLES as u64 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile(99.0), None);
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        // 119 samples (1..=19 twice, then 20..=100): the nearest-rank median is the 60th, 41 ms.
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(41)));
        // A full window of slow reads replaces every fast one.
        for _ in 0..LATENCY_WINDOW {
            l.record(Duration::from_millis(500));
        }
        assert_eq!(l.percentile(1.0), Some(Duration::from_millis(500)));
    }
}
