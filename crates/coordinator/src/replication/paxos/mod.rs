//! Lightweight transactions: Paxos per partition, with Cassandra 4.1's (Paxos v2) round trips.
//!
//! A conditional write ([`Replication::cas`]) runs, against the partition's replicas (pending
//! ones included), at SERIAL (a quorum of every replica) or LOCAL_SERIAL (a quorum of the
//! local datacenter's):
//!
//! 1. **prepare and read**: a fresh ballot from the node's hybrid logical clock; each replica
//!    promises it unless it promised a higher one, and answers with the proposal it accepted
//!    last, the ballot it committed last and its data for the read. The quorum's data is
//!    reconciled; the caller's `decide` turns it into the write to propose, or `None` (the
//!    condition does not hold: nothing is written, the answer is the data read).
//! 2. **propose**: the write, its timestamps set to the ballot's, to be accepted by a quorum.
//! 3. **commit**: every replica applies it; the client's consistency level says how many
//!    acknowledgements to wait for (ANY: none). Replicas that miss it get a hint.
//!
//! A prepare that finds a proposal accepted by some replica and newer than every commit it
//! saw completes that proposal first (re-proposed under the new ballot, then committed) and
//! starts again. A rejected ballot (another proposer promised a higher one) is contention:
//! the proposer waits a random part of `cas_contention_backoff` and retries with a higher
//! ballot until `cas_contention_timeout`. A proposal no replica accepted is retried; one that
//! some replica may have accepted but not a quorum is a WriteTimeout of write type CAS (the
//! write may still be chosen by the next proposer: the client cannot know), never a retry
//! that could apply it twice or report "not applied" for a write that was chosen.
//!
//! A SERIAL read ([`Replication::serial_read`]) is step 1 alone: it completes any proposal in
//! progress first, so it sees every write chosen before it started.
//!
//! `ballot` (ballots and their clock) and `acceptor` (the replica side and its durable state)
//! are the other files.

mod acceptor;
mod ballot;

pub(crate) use acceptor::paxos_schema;
pub(crate) use ballot::BallotClock;

use std::cell::Cell;
use std::time::{Duration, Instant};

use ilion_storage::{Mutation, ReadCommand, ReadResult};
use rand::Rng;

use super::consistency::{Requirement, Tracker};
use super::messages::{
    PaxosPrepare, PaxosProposal, WireMutation, WireReadCommand, WireResult, request,
};
use super::topology::{Endpoint, Topology};
use super::*;
use ballot::{Ballot, node_id};

/// What a statement's `decide` callback returns: the write to propose, or `None` when its
/// condition does not hold.
pub type Decision = Option<Mutation>;

/// The replicas of one Paxos instance and the quorum they must reach.
struct Participants {
    topo: Arc<Topology>,
    replicas: Vec<Endpoint>,
    alive: Vec<bool>,
    quorum: Requirement,
    serial: Consistency,
}

/// What a prepare round found.
enum Prepared {
    /// A quorum promised: the reconciled data, and the newest accepted proposal no replica of
    /// the quorum saw committed (to complete first).
    Promised {
        data: Box<WireResult>,
        in_progress: Option<Box<PaxosProposal>>,
        /// The newest ballot accepted or committed among the answers.
        newest: Ballot,
    },
    /// A replica promised a higher ballot.
    Rejected(Ballot),
    /// Too few answers in time.
    Timeout { received: usize },
}

/// What a propose round found.
enum Proposed {
    Accepted,
    /// Every replica asked answered no: nobody accepted it, retrying is safe.
    Rejected(Ballot),
    /// Some replica may have accepted it, not a quorum.
    Partial {
        accepted: usize,
    },
}

impl Replication {
    fn participants(&self, ks: &Keyspace, token: i64, serial: Consistency) -> Result<Participants> {
        let level = match serial {
            Consistency::Serial => Consistency::Quorum,
            Consistency::LocalSerial => Consistency::LocalQuorum,
            _ => {
                return Err(Error::invalid(
                    "Invalid consistency for conditional update. Must be one of SERIAL or \
                     LOCAL_SERIAL",
                ));
            }
        };
        let topo = self.topology();
        let mut quorum = Requirement::new(level, &topo.placement(ks)?.strategy, &self.local_dc)?;
        let replicas = self.write_replicas(&topo, ks, token, &mut quorum)?;
        let alive: Vec<bool> = replicas.iter().map(|e| self.alive(&topo, e)).collect();
        quorum
            .check_alive(
                replicas
                    .iter()
                    .zip(&alive)
                    .map(|(e, a)| (e.dc.as_str(), *a)),
            )
            .map_err(|e| match e {
                Error::Unavailable {
                    required, alive, ..
                } => Error::Unavailable {
                    consistency: serial,
                    required,
                    alive,
                },
                other => other,
            })?;
        Ok(Participants {
            topo,
            replicas,
            alive,
            quorum,
            serial,
        })
    }

    fn node(&self) -> u64 {
        node_id(self.membership.local_address())
    }

    /// Sends `payload` to every live participant; answers are taken until `done` says so, every
    /// answer is in, or the deadline passes. What is still in flight is dropped.
    fn paxos_round(
        &self,
        p: &Participants,
        payload: &Bytes,
        mut done: impl FnMut(&Endpoint, Result<response::Body, MessagingError>) -> bool,
    ) -> usize {
        let deadline = Instant::now() + self.config.write_request_timeout;
        let mut inflight: Inflight<usize> = Inflight::new();
        let mut sent = 0;
        for (i, (e, alive)) in p.replicas.iter().zip(&p.alive).enumerate() {
            if *alive {
                inflight.push(
                    i,
                    self.send(
                        &p.topo,
                        e,
                        payload.clone(),
                        self.config.write_request_timeout,
                    ),
                );
                sent += 1;
            }
        }
        while let Some((i, answer)) = inflight.next(deadline) {
            let Some(e) = p.replicas.get(i) else { continue };
            if done(e, answer.and_then(|b| answer_of(e.address, &b))) {
                break;
            }
        }
        sent
    }

    fn prepare(
        &self,
        p: &Participants,
        schema: &TableSchema,
        cmd: &ReadCommand,
        wire: &WireReadCommand,
        ballot: Ballot,
    ) -> Result<Prepared> {
        let payload = Request::new(request::Body::PaxosPrepare(PaxosPrepare {
            ballot: ballot.to_bytes(),
            read: Some(wire.clone()),
        }))
        .to_bytes();
        let mut tracker: Tracker = p.quorum.tracker();
        let mut rejected: Option<Ballot> = None;
        let mut promises = Vec::new();
        let mut bad: Option<Error> = None;
        self.paxos_round(p, &payload, |e, answer| {
            match answer {
                Ok(response::Body::Promise(promise)) if promise.promised => {
                    if p.quorum.counts(&e.dc) {
                        tracker.add(&p.quorum, &e.dc);
                        promises.push(promise);
                    }
                }
                Ok(response::Body::Promise(promise)) => {
                    match Ballot::from_bytes(&promise.promised_ballot) {
                        Ok(b) => rejected = Some(b.unwrap_or_default().max(ballot)),
                        Err(err) => bad = Some(Error::server(err.to_string())),
                    }
                    return true;
                }
                Ok(_) => {
                    tracing::debug!(replica = %e.address, "unexpected answer to a paxos prepare");
                }
                Err(err) => {
                    tracing::debug!(replica = %e.address, error = %err, "paxos prepare failed")
                }
            }
            p.quorum.met(&tracker)
        });
        if let Some(e) = bad {
            return Err(e);
        }
        if let Some(b) = rejected {
            return Ok(Prepared::Rejected(b));
        }
        if !p.quorum.met(&tracker) {
            return Ok(Prepared::Timeout {
                received: tracker.received,
            });
        }
        let mut newest = Ballot::default();
        let mut committed = Ballot::default();
        let mut in_progress: Option<(Ballot, PaxosProposal)> = None;
        let mut results = Vec::with_capacity(promises.len());
        for promise in promises {
            let c = Ballot::from_bytes(&promise.committed_ballot)
                .map_err(|e| Error::server(e.to_string()))?
                .unwrap_or_default();
            committed = committed.max(c);
            newest = newest.max(c);
            if let Some(a) = promise.accepted {
                let b = Ballot::from_bytes(&a.ballot)
                    .map_err(|e| Error::server(e.to_string()))?
                    .unwrap_or_default();
                newest = newest.max(b);
                if in_progress.as_ref().is_none_or(|(best, _)| b > *best) {
                    in_progress = Some((b, a));
                }
            }
            results.push(promise.data.unwrap_or_default());
        }
        let refs: Vec<&WireResult> = results.iter().collect();
        let data = reconcile::merge(schema, self.local.clock.clone(), cmd, &refs)?;
        Ok(Prepared::Promised {
            data: Box::new(data),
            in_progress: in_progress
                .filter(|(b, _)| *b > committed)
                .map(|(_, a)| Box::new(a)),
            newest,
        })
    }

    fn propose(&self, p: &Participants, proposal: &PaxosProposal) -> Result<Proposed> {
        let payload = Request::new(request::Body::PaxosPropose(proposal.clone())).to_bytes();
        let mut tracker: Tracker = p.quorum.tracker();
        let (mut accepted, mut refused) = (0usize, 0usize);
        let mut higher = Ballot::default();
        let sent = self.paxos_round(p, &payload, |e, answer| {
            match answer {
                Ok(response::Body::Acceptance(a)) if a.accepted => {
                    accepted += 1;
                    tracker.add(&p.quorum, &e.dc);
                }
                Ok(response::Body::Acceptance(a)) => {
                    refused += 1;
                    if let Ok(Some(b)) = Ballot::from_bytes(&a.promised_ballot) {
                        higher = higher.max(b);
                    }
                }
                _ => {}
            }
            p.quorum.met(&tracker)
        });
        Ok(if p.quorum.met(&tracker) {
            Proposed::Accepted
        } else if accepted == 0 && refused == sent {
            Proposed::Rejected(higher)
        } else {
            Proposed::Partial { accepted }
        })
    }

    /// Commits a chosen proposal: every participant is sent it (dead ones get a hint); waits
    /// for `consistency`'s acknowledgements (none for ANY), the rest finish in the background.
    fn commit(
        &self,
        p: &Participants,
        ks: &Keyspace,
        proposal: &PaxosProposal,
        consistency: Consistency,
    ) -> Result<()> {
        let Some(m) = proposal.mutation.as_ref() else {
            return Err(Error::server("a proposal without its mutation"));
        };
        let level = if consistency == Consistency::Any {
            None
        } else {
            Some(Requirement::new(
                consistency,
                &p.topo.placement(ks)?.strategy,
                &self.local_dc,
            )?)
        };
        let payload = Request::new(request::Body::PaxosCommit(proposal.clone())).to_bytes();
        let timeout = self.config.write_request_timeout;
        let deadline = Instant::now() + timeout;
        let mut inflight: Inflight<(Uuid, usize)> = Inflight::new();
        let mut index: Vec<usize> = Vec::new();
        for (i, (e, alive)) in p.replicas.iter().zip(&p.alive).enumerate() {
            if *alive {
                inflight.push(
                    (e.host_id, 0),
                    self.send(&p.topo, e, payload.clone(), timeout),
                );
                index.push(i);
            } else {
                self.hint(e.host_id, m);
            }
        }
        let mut tracker = level.as_ref().map(Requirement::tracker);
        let met = |t: &Option<Tracker>| match (&level, t) {
            (Some(l), Some(t)) => l.met(t),
            _ => true,
        };
        while !met(&tracker) {
            let Some(((host, _), answer)) = inflight.next(deadline) else {
                break;
            };
            let Some(e) = p.replicas.iter().find(|e| e.host_id == host) else {
                continue;
            };
            match answer.and_then(|b| ack_of(e.address, &b)) {
                Ok(()) => {
                    if let (Some(l), Some(t)) = (&level, tracker.as_mut()) {
                        t.add(l, &e.dc);
                    }
                }
                Err(err) => {
                    tracing::debug!(replica = %e.address, error = %err, "paxos commit failed");
                    if hintable(&err) {
                        self.hint(e.host_id, m);
                    }
                }
            }
        }
        if !inflight.is_empty() {
            self.followup(Followup {
                inflight,
                mutations: vec![m.clone()],
            });
        }
        match (&level, &tracker) {
            (Some(l), Some(t)) if !l.met(t) => Err(Error::CasWriteTimeout {
                consistency,
                received: i32::try_from(t.received).unwrap_or(i32::MAX),
                block_for: i32::try_from(l.block_for).unwrap_or(i32::MAX),
                contentions: 0,
            }),
            _ => Ok(()),
        }
    }

    /// Waits a random part of the contention backoff.
    fn backoff(&self) {
        let max = self.config.cas_contention_backoff;
        if max.is_zero() {
            return;
        }
        let micros = rand::rng().random_range(0..=max.as_micros().min(u128::from(u64::MAX)) as u64);
        std::thread::sleep(Duration::from_micros(micros));
    }

    /// Rounds of prepare (completing what is in progress) until a quorum promised a ballot
    /// with nothing in progress: the ballot and the reconciled data. `timeout` makes the error
    /// of a round that did not get enough answers, or of running out of time or attempts.
    fn promised(
        &self,
        ks: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        p: &Participants,
        contentions: &Cell<u16>,
        timeout: &dyn Fn(usize, usize, u16) -> Error,
    ) -> Result<(Ballot, ReadResult)> {
        let schema = self.table_schema(table)?;
        let wire = WireReadCommand::from_command(&table.keyspace, &table.name, cmd);
        let deadline = Instant::now() + self.config.cas_contention_timeout;
        let block_for = p.quorum.block_for;
        for _ in 0..self.config.cas_max_attempts {
            if Instant::now() >= deadline {
                break;
            }
            let ballot = self.local.ballots.next(self.node());
            match self.prepare(p, &schema, cmd, &wire, ballot)? {
                Prepared::Timeout { received } => {
                    return Err(timeout(received, block_for, contentions.get()));
                }
                Prepared::Rejected(higher) => {
                    self.local.ballots.observe(higher);
                    contend(contentions);
                    self.backoff();
                }
                Prepared::Promised {
                    in_progress: Some(found),
                    ..
                } => {
                    // Someone's proposal was accepted but maybe not committed: finish it
                    // under our ballot (its timestamps moved to ours) before our own.
                    let Some(m) = found.mutation.clone() else {
                        return Err(Error::server("an accepted proposal without its mutation"));
                    };
                    let refreshed = PaxosProposal {
                        ballot: ballot.to_bytes(),
                        mutation: Some(with_timestamp(m, ballot.micros)),
                    };
                    match self.propose(p, &refreshed)? {
                        Proposed::Accepted => {
                            let level = match p.serial {
                                Consistency::LocalSerial => Consistency::LocalQuorum,
                                _ => Consistency::Quorum,
                            };
                            if let Err(e) = self.commit(p, ks, &refreshed, level) {
                                tracing::debug!(error = %e, "completing a paxos proposal");
                            }
                        }
                        Proposed::Rejected(higher) => {
                            self.local.ballots.observe(higher);
                            contend(contentions);
                            self.backoff();
                        }
                        Proposed::Partial { .. } => {
                            contend(contentions);
                            self.backoff();
                        }
                    }
                }
                Prepared::Promised { newest, .. } if newest.micros >= ballot.micros => {
                    // A chosen proposal at our ballot's timestamp or later: ours must be
                    // newer for its cells to win reconciliation. Again with a later ballot.
                    self.local.ballots.observe(newest);
                }
                Prepared::Promised { data, .. } => {
                    let result = data
                        .to_result(&schema)
                        .map_err(|e| Error::server(e.to_string()))?;
                    return Ok((ballot, result));
                }
            }
        }
        Err(timeout(0, block_for, contentions.get()))
    }

    /// A lightweight transaction on the partition `cmd` reads: `decide` gets the partition's
    /// current data (read under a Paxos promise) and answers the write to make, if any; the
    /// write is proposed and committed at `commit` consistency. `decide` may be called more
    /// than once (when the round must start again); its last call saw the state the outcome
    /// rests on. `Ok(true)`: the write was chosen; `Ok(false)`: `decide` answered `None`.
    pub fn cas(
        &self,
        ks: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        serial: Consistency,
        commit: Consistency,
        decide: &mut dyn FnMut(&ReadResult) -> Result<Decision>,
    ) -> Result<bool> {
        let PartitionRange::Single { token, .. } = &cmd.partitions else {
            return Err(Error::server(
                "a lightweight transaction reads one partition",
            ));
        };
        if matches!(commit, Consistency::Serial | Consistency::LocalSerial) {
            return Err(Error::invalid(format!(
                "{} is not supported as conditional update commit consistency. Use ANY if you \
                 mean \"make sure it is accepted but I don't care how many replicas commit it \
                 for non-SERIAL reads\"",
                consistency_name(commit)
            )));
        }
        let schema = self.table_schema(table)?;
        let p = self.participants(ks, *token, serial)?;
        let cas_timeout =
            |received: usize, block_for: usize, contentions: u16| Error::CasWriteTimeout {
                consistency: serial,
                received: i32::try_from(received).unwrap_or(i32::MAX),
                block_for: i32::try_from(block_for).unwrap_or(i32::MAX),
                contentions,
            };
        let contentions = Cell::new(0u16);
        let deadline = Instant::now() + self.config.cas_contention_timeout;
        for _ in 0..self.config.cas_max_attempts {
            if Instant::now() >= deadline {
                break;
            }
            let (ballot, current) =
                self.promised(ks, table, cmd, &p, &contentions, &cas_timeout)?;
            let Some(m) = decide(&current)? else {
                return Ok(false);
            };
            let wire = WireMutation::from_mutation(&schema, &m)
                .map_err(|e| Error::server(e.to_string()))?;
            let proposal = PaxosProposal {
                ballot: ballot.to_bytes(),
                mutation: Some(with_timestamp(wire, ballot.micros)),
            };
            match self.propose(&p, &proposal)? {
                Proposed::Accepted => {
                    self.count(self.commit(&p, ks, &proposal, commit))?;
                    return Ok(true);
                }
                Proposed::Rejected(higher) => {
                    self.local.ballots.observe(higher);
                    contend(&contentions);
                    self.backoff();
                }
                Proposed::Partial { accepted } => {
                    // Pre-empted part way: another proposer's ballot won some replicas.
                    contend(&contentions);
                    let e = cas_timeout(accepted, p.quorum.block_for, contentions.get());
                    return self.count(Err(e));
                }
            }
        }
        self.count(Err(cas_timeout(0, p.quorum.block_for, contentions.get())))
    }

    /// A read at SERIAL or LOCAL_SERIAL of one partition: under a Paxos promise of a quorum,
    /// after completing any proposal in progress. Too few answers is a ReadTimeout at `serial`.
    pub fn serial_read(
        &self,
        ks: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        serial: Consistency,
    ) -> Result<ReadResult> {
        let PartitionRange::Single { token, .. } = &cmd.partitions else {
            return Err(Error::invalid(
                "SERIAL/LOCAL_SERIAL consistency may only be requested for one partition at a \
                 time",
            ));
        };
        let p = self.participants(ks, *token, serial)?;
        let read_timeout = |received: usize, block_for: usize, _: u16| Error::ReadTimeout {
            consistency: serial,
            received: i32::try_from(received).unwrap_or(i32::MAX),
            block_for: i32::try_from(block_for).unwrap_or(i32::MAX),
            data_present: false,
        };
        self.count(
            self.promised(ks, table, cmd, &p, &Cell::new(0), &read_timeout)
                .map(|(_, r)| r),
        )
    }
}

/// Counts a round lost to another proposer.
fn contend(contentions: &Cell<u16>) {
    contentions.set(contentions.get().saturating_add(1));
}

/// A consistency level as Cassandra names it in messages.
fn consistency_name(c: Consistency) -> &'static str {
    match c {
        Consistency::Serial => "SERIAL",
        Consistency::LocalSerial => "LOCAL_SERIAL",
        _ => "this level",
    }
}

/// `m` with its timestamps (cells, row markers, deletions) moved so the newest is `micros`,
/// keeping their differences (a whole-collection write's tombstone stays just before its
/// elements): a chosen proposal's writes carry its ballot's time.
pub(crate) fn with_timestamp(mut m: WireMutation, micros: i64) -> WireMutation {
    let mut newest = i64::MIN;
    visit_timestamps(&mut m, &mut |t| newest = newest.max(*t));
    if newest == i64::MIN {
        return m;
    }
    let shift = micros.saturating_sub(newest);
    visit_timestamps(&mut m, &mut |t| *t = t.saturating_add(shift));
    m
}

fn visit_timestamps(m: &mut WireMutation, f: &mut dyn FnMut(&mut i64)) {
    if let Some(d) = m.partition_deletion.as_mut() {
        f(&mut d.timestamp);
    }
    for r in &mut m.range_deletions {
        if let Some(d) = r.deletion.as_mut() {
            f(&mut d.timestamp);
        }
    }
    for c in &mut m.static_cells {
        f(&mut c.timestamp);
    }
    for row in &mut m.rows {
        if let Some(l) = row.marker.as_mut() {
            f(&mut l.timestamp);
        }
        if let Some(d) = row.deletion.as_mut() {
            f(&mut d.timestamp);
        }
        for c in &mut row.cells {
            f(&mut c.timestamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::messages::{WireCellWrite, WireDeletion, WireLiveness, WireRowWrite};
    use super::*;

    #[test]
    fn a_proposal_moves_to_its_ballot_time_keeping_the_collection_tombstone_first() {
        let m = WireMutation {
            rows: vec![WireRowWrite {
                marker: Some(WireLiveness {
                    timestamp: 10,
                    ttl: None,
                }),
                cells: vec![
                    WireCellWrite {
                        op: 2,
                        timestamp: 9,
                        ..WireCellWrite::default()
                    },
                    WireCellWrite {
                        op: 0,
                        timestamp: 10,
                        ..WireCellWrite::default()
                    },
                ],
                deletion: Some(WireDeletion {
                    timestamp: 10,
                    local_deletion_time: 0,
                }),
                ..WireRowWrite::default()
            }],
            ..WireMutation::default()
        };
        let moved = with_timestamp(m, 1_000);
        let row = &moved.rows[0];
        assert_eq!(row.marker.map(|l| l.timestamp), Some(1_000));
        assert_eq!(row.cells[0].timestamp, 999);
        assert_eq!(row.cells[1].timestamp, 1_000);
        assert_eq!(row.deletion.map(|d| d.timestamp), Some(1_000));
    }
}
