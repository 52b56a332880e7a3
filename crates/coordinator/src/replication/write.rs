//! Writes: every replica of each mutation (pending ones on top), counted against the level;
//! answers that come after the level is met are finished by the follow-up thread (hints).

use super::*;

/// Write requests still in flight after their write completed: their failures become hints.
pub(super) struct Followup {
    pub(super) inflight: Inflight<(Uuid, usize)>,
    pub(super) mutations: Vec<WireMutation>,
}

/// How a write's answers are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteMode {
    /// Complete when the level is met.
    Level,
    /// Batch replay: every replica either acknowledges or gets a hint.
    Replay,
    /// A counter write this node leads: as `Level`, but this node applied the mutation
    /// already (its own replica counts as an acknowledgement and is not sent it again).
    LedHere,
}

pub(super) fn followup_worker(
    rx: mpsc::Receiver<Followup>,
    local: Weak<LocalReplica>,
    window: u32,
) {
    let mut sets: Vec<Followup> = Vec::new();
    loop {
        loop {
            match rx.try_recv() {
                Ok(f) => sets.push(f),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    if sets.is_empty() {
                        return;
                    }
                    break;
                }
            }
        }
        if sets.is_empty() {
            match rx.recv() {
                Ok(f) => sets.push(f),
                Err(_) => return,
            }
        }
        for set in &mut sets {
            while let Some(((target, k), answer)) = set.inflight.poll_ready() {
                let failed = match &answer {
                    Ok(b) => Response::decode_bytes(b).is_err(),
                    Err(MessagingError::Remote { .. }) => false,
                    Err(_) => true,
                };
                if failed
                    && let Some(m) = set.mutations.get(k)
                    && let Some(l) = local.upgrade()
                    && let Err(e) = l.store_hint(target, m, window)
                {
                    tracing::warn!(%target, error = %e, "storing a hint failed");
                }
            }
        }
        sets.retain(|s| !s.inflight.is_empty());
        if !sets.is_empty() {
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }
}

impl Replication {
    pub(super) fn followup(&self, f: Followup) {
        let mut slot = self.followups.lock();
        if !self.config.hinted_handoff_enabled {
            // The follow-up's only job is hinting the replicas that answer late or fail.
            return;
        }
        if slot.is_none() {
            let (tx, rx) = mpsc::channel::<Followup>();
            let local = Arc::downgrade(&self.local);
            let window = self.window_seconds();
            let handle = std::thread::Builder::new()
                .name("ilion-write-followup".into())
                .spawn(move || followup_worker(rx, local, window));
            match handle {
                Ok(h) => *slot = Some((tx, h.thread().clone())),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the write follow-up thread");
                    return;
                }
            }
        }
        if let Some((tx, thread)) = slot.as_ref() {
            if tx.send(f).is_err() {
                *slot = None;
            } else {
                thread.unpark();
            }
        }
    }

    pub(super) fn wire_writes(
        &self,
        writes: &[TableWrite<'_>],
    ) -> Result<Vec<(Keyspace, WireMutation)>> {
        writes
            .iter()
            .map(|w| {
                let schema = self.table_schema(w.table)?;
                let wire = WireMutation::from_mutation(&schema, &w.mutation)
                    .map_err(|e| Error::server(e.to_string()))?;
                Ok((w.keyspace.clone(), wire))
            })
            .collect()
    }

    /// Writes each mutation to its replicas at `consistency`.
    pub(super) fn write_mutations(
        &self,
        mutations: &[(Keyspace, WireMutation)],
        consistency: Consistency,
        write_type: WriteType,
        mode: WriteMode,
    ) -> Result<()> {
        let topo = self.topology();
        let timeout = self.config.write_request_timeout;
        let mut plans = Vec::with_capacity(mutations.len());
        for (ks, m) in mutations {
            let mut req =
                Requirement::new(consistency, &topo.placement(ks)?.strategy, &self.local_dc)?;
            let replicas = self.write_replicas(&topo, ks, m.token, &mut req)?;
            let alive: Vec<bool> = replicas.iter().map(|e| self.alive(&topo, e)).collect();
            if mode != WriteMode::Replay {
                req.check_alive(
                    replicas
                        .iter()
                        .zip(&alive)
                        .map(|(e, a)| (e.dc.as_str(), *a)),
                )?;
            }
            plans.push((req, replicas, alive));
        }
        let deadline = Instant::now() + timeout;
        let mut inflight: Inflight<(usize, usize)> = Inflight::new();
        let mut trackers: Vec<Tracker> = plans.iter().map(|(r, _, _)| r.tracker()).collect();
        let mut hinted = vec![0usize; plans.len()];
        let mut outstanding = vec![0usize; plans.len()];
        let mut failures: Vec<Vec<(IpAddr, FailureReason)>> = vec![Vec::new(); plans.len()];
        for (i, ((_, m), (_, replicas, alive))) in mutations.iter().zip(&plans).enumerate() {
            let payload = Request::new(request::Body::Mutation(MutationRequest {
                mutations: vec![m.clone()],
            }))
            .to_bytes();
            for (j, (e, a)) in replicas.iter().zip(alive).enumerate() {
                if mode == WriteMode::LedHere && self.is_local(&topo, e) {
                    let ack = Response::new(response::Body::Ack(messages::Ack {})).to_bytes();
                    inflight.push((i, j), Box::pin(std::future::ready(Ok(ack))));
                    if let Some(o) = outstanding.get_mut(i) {
                        *o += 1;
                    }
                } else if *a {
                    inflight.push((i, j), self.send(&topo, e, payload.clone(), timeout));
                    if let Some(o) = outstanding.get_mut(i) {
                        *o += 1;
                    }
                } else {
                    if self.hint(e.host_id, m)
                        && let Some(h) = hinted.get_mut(i)
                    {
                        *h += 1;
                    }
                }
            }
        }
        let done = |i: usize, trackers: &[Tracker], outstanding: &[usize]| -> bool {
            match mode {
                WriteMode::Level | WriteMode::LedHere => plans
                    .get(i)
                    .zip(trackers.get(i))
                    .is_some_and(|((req, _, _), t)| req.met(t)),
                WriteMode::Replay => outstanding.get(i).is_some_and(|o| *o == 0),
            }
        };
        while !(0..plans.len()).all(|i| done(i, &trackers, &outstanding)) {
            let Some(((i, j), answer)) = inflight.next(deadline) else {
                break;
            };
            if let Some(o) = outstanding.get_mut(i) {
                *o = o.saturating_sub(1);
            }
            let (Some((req, replicas, _)), Some((_, m))) = (plans.get(i), mutations.get(i)) else {
                continue;
            };
            let Some(e) = replicas.get(j) else { continue };
            match answer.and_then(|b| ack_of(e.address, &b)) {
                Ok(()) => {
                    if let Some(t) = trackers.get_mut(i) {
                        t.add(req, &e.dc);
                    }
                }
                Err(err) => {
                    tracing::debug!(replica = %e.address, error = %err, "write failed");
                    if let Some(f) = failure_of(&err)
                        && let Some(fs) = failures.get_mut(i)
                    {
                        fs.push(f);
                    }
                    if hintable(&err)
                        && self.hint(e.host_id, m)
                        && let Some(h) = hinted.get_mut(i)
                    {
                        *h += 1;
                    }
                }
            }
        }
        // Answers already there are taken now (failures become hints at once)...
        while let Some(((i, j), answer)) = inflight.poll_ready() {
            let (Some((_, replicas, _)), Some((_, m))) = (plans.get(i), mutations.get(i)) else {
                continue;
            };
            let Some(e) = replicas.get(j) else { continue };
            if let Err(err) = answer.and_then(|b| ack_of(e.address, &b))
                && hintable(&err)
            {
                self.hint(e.host_id, m);
            }
        }
        // ...and what is still in flight is finished in the background.
        let mut rest = Inflight::new();
        let mut rest_mutations = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::new();
        for ((i, j), f) in inflight.into_pending() {
            if mode == WriteMode::Replay {
                // Past the deadline: the transport failed to time out; hint and move on.
                if let (Some((_, replicas, _)), Some((_, m))) = (plans.get(i), mutations.get(i))
                    && let Some(e) = replicas.get(j)
                {
                    self.hint(e.host_id, m);
                }
                continue;
            }
            let (Some((_, replicas, _)), Some((_, m))) = (plans.get(i), mutations.get(i)) else {
                continue;
            };
            let Some(e) = replicas.get(j) else { continue };
            let k = *index.entry(i).or_insert_with(|| {
                rest_mutations.push(m.clone());
                rest_mutations.len() - 1
            });
            rest.push((e.host_id, k), f);
        }
        if !rest.is_empty() {
            self.followup(Followup {
                inflight: rest,
                mutations: rest_mutations,
            });
        }
        if mode == WriteMode::Replay {
            return Ok(());
        }
        for (i, (req, _, _)) in plans.iter().enumerate() {
            let t = trackers.get(i).map_or(0, |t| t.received);
            let ok = req.met(trackers.get(i).unwrap_or(&req.tracker()))
                || (consistency == Consistency::Any && hinted.get(i).is_some_and(|h| *h > 0));
            if !ok {
                let received = i32::try_from(t).unwrap_or(i32::MAX);
                let block_for = i32::try_from(req.block_for).unwrap_or(i32::MAX);
                return Err(match failures.get(i).filter(|f| !f.is_empty()) {
                    Some(failures) => Error::WriteFailure {
                        consistency,
                        received,
                        block_for,
                        failures: failures.clone(),
                        write_type,
                    },
                    None => Error::WriteTimeout {
                        consistency,
                        received,
                        block_for,
                        write_type,
                    },
                });
            }
        }
        Ok(())
    }
}
