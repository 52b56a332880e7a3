//! This node as a Paxos acceptor: the promise, accept and commit steps of each partition's
//! Paxos instance, with the state they keep (the highest promised ballot, the last accepted
//! proposal, the last committed ballot) in the local `system.paxos` table, rewritten under one
//! lock before the answer goes out, so a promise or an acceptance survives a restart.
//!
//! The read of a prepare runs under the same lock as commits, after the promise: it sees every
//! proposal committed here before the promise, as Paxos v2's combined prepare-and-read needs.

use bytes::Bytes;
use ilion_storage::{CqlType, Mutation, ReadCommand, TableSchema};
use prost::Message;

use super::super::local::LocalReplica;
use super::super::messages::{
    PaxosAcceptance, PaxosPrepare, PaxosPromise, PaxosProposal, PaxosState, Response, WireMutation,
    response,
};
use super::ballot::Ballot;
use crate::data::storage_error;
use crate::{Error, Result};

pub(crate) const PAXOS_TABLE: &str = "paxos";

/// `system.paxos`: one row per partition that ran a lightweight transaction here.
pub(crate) fn paxos_schema() -> Result<TableSchema> {
    TableSchema::builder("system", PAXOS_TABLE)
        .partition_key("instance", CqlType::Blob)
        .regular("state", CqlType::Blob)
        .build()
        .map_err(storage_error)
}

/// The key of a partition's Paxos instance: `u16 length | keyspace | u16 length | table |
/// partition key` (big-endian lengths).
pub(crate) fn instance_key(keyspace: &str, table: &str, partition_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + keyspace.len() + table.len() + partition_key.len());
    for part in [keyspace.as_bytes(), table.as_bytes()] {
        let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(partition_key);
    out
}

fn ballot(bytes: &[u8]) -> Result<Option<Ballot>> {
    Ballot::from_bytes(bytes).map_err(|e| Error::server(e.to_string()))
}

fn token_of(key: &[u8]) -> i64 {
    ilion_ring::Murmur3Partitioner.token(key).value()
}

impl LocalReplica {
    /// A partition's Paxos state and the write timestamp of its stored form (0: none).
    fn paxos_state_at(&self, key: &[u8]) -> Result<(PaxosState, i64)> {
        let r = self
            .paxos
            .read(&ReadCommand::partition(token_of(key), key.to_vec()))
            .map_err(storage_error)?;
        let cell = r
            .partitions
            .first()
            .and_then(|p| p.rows.first())
            .and_then(|row| row.cells.first());
        match cell {
            None => Ok((PaxosState::default(), 0)),
            Some(c) => PaxosState::decode(c.value.as_slice())
                .map(|s| (s, c.timestamp))
                .map_err(|e| Error::server(format!("undecodable paxos state: {e}"))),
        }
    }

    #[cfg(test)]
    fn paxos_state(&self, key: &[u8]) -> Result<PaxosState> {
        self.paxos_state_at(key).map(|(s, _)| s)
    }

    /// Rewrites the state stored at `previous`: always with a later timestamp, even when this
    /// node's clock is behind the one that wrote it (a restart after a clock step back).
    fn save_paxos_state(&self, key: &[u8], state: &PaxosState, previous: i64) -> Result<()> {
        let schema = self.paxos.schema();
        let col = schema
            .column_id("state")
            .ok_or_else(|| Error::server("system.paxos without its state column"))?;
        let mut m = Mutation::new(token_of(key), key.to_vec(), self.clock.now_seconds());
        let at = self.micros().max(previous.saturating_add(1));
        m.row(Vec::new()).set(col, at, state.encode_to_vec());
        self.paxos.apply(&m).map_err(storage_error)
    }

    /// Promises the ballot if it is the highest seen, and reads the partition.
    pub(crate) fn paxos_prepare(&self, p: PaxosPrepare) -> Result<Bytes> {
        let wire = p
            .read
            .ok_or_else(|| Error::server("paxos prepare without a read"))?;
        let cmd = wire
            .to_command()
            .map_err(|e| Error::server(e.to_string()))?;
        let key = wire
            .single_key
            .as_deref()
            .ok_or_else(|| Error::server("paxos prepare of more than one partition"))?;
        let proposed =
            ballot(&p.ballot)?.ok_or_else(|| Error::server("prepare without a ballot"))?;
        self.ballots.observe(proposed);
        let instance = instance_key(&wire.keyspace, &wire.table, key);
        let _guard = self.paxos_lock.lock();
        let (mut state, stored_at) = self.paxos_state_at(&instance)?;
        let promised = ballot(&state.promised)?;
        if promised.is_some_and(|b| b >= proposed) {
            return Ok(Response::new(response::Body::Promise(PaxosPromise {
                promised: false,
                promised_ballot: state.promised,
                ..PaxosPromise::default()
            }))
            .to_bytes());
        }
        state.promised = proposed.to_bytes();
        self.save_paxos_state(&instance, &state, stored_at)?;
        let data = match self.read(&wire.keyspace, &wire.table, &cmd) {
            Ok(d) => d,
            Err(f) => return Ok(f.to_bytes()),
        };
        Ok(Response::new(response::Body::Promise(PaxosPromise {
            promised: true,
            promised_ballot: state.promised,
            accepted: state.accepted,
            committed_ballot: state.committed,
            data: Some(data),
        }))
        .to_bytes())
    }

    /// Accepts the proposal unless a higher ballot was promised.
    pub(crate) fn paxos_propose(&self, p: PaxosProposal) -> Result<Bytes> {
        let proposed =
            ballot(&p.ballot)?.ok_or_else(|| Error::server("proposal without a ballot"))?;
        self.ballots.observe(proposed);
        let m = p
            .mutation
            .as_ref()
            .ok_or_else(|| Error::server("proposal without a mutation"))?;
        let instance = instance_key(&m.keyspace, &m.table, &m.partition_key);
        let _guard = self.paxos_lock.lock();
        let (mut state, stored_at) = self.paxos_state_at(&instance)?;
        if ballot(&state.promised)?.is_some_and(|b| b > proposed) {
            return Ok(Response::new(response::Body::Acceptance(PaxosAcceptance {
                accepted: false,
                promised_ballot: state.promised,
            }))
            .to_bytes());
        }
        state.promised = proposed.to_bytes();
        state.accepted = Some(p);
        self.save_paxos_state(&instance, &state, stored_at)?;
        Ok(Response::new(response::Body::Acceptance(PaxosAcceptance {
            accepted: true,
            promised_ballot: state.promised,
        }))
        .to_bytes())
    }

    /// Applies a chosen proposal and remembers its ballot as the last committed.
    pub(crate) fn paxos_commit(&self, p: PaxosProposal) -> Result<Bytes> {
        let chosen = ballot(&p.ballot)?.ok_or_else(|| Error::server("commit without a ballot"))?;
        self.ballots.observe(chosen);
        let m: WireMutation = p
            .mutation
            .ok_or_else(|| Error::server("commit without a mutation"))?;
        let instance = instance_key(&m.keyspace, &m.table, &m.partition_key);
        let _guard = self.paxos_lock.lock();
        if let Err(f) = self.apply(std::slice::from_ref(&m)) {
            return Ok(f.to_bytes());
        }
        let (mut state, stored_at) = self.paxos_state_at(&instance)?;
        if ballot(&state.committed)?.is_none_or(|b| b < chosen) {
            state.committed = chosen.to_bytes();
        }
        let accepted = match &state.accepted {
            Some(a) => ballot(&a.ballot)?,
            None => None,
        };
        if accepted.is_some_and(|a| a <= chosen) {
            state.accepted = None;
        }
        self.save_paxos_state(&instance, &state, stored_at)?;
        Ok(Response::new(response::Body::Ack(super::super::messages::Ack {})).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ilion_storage::{Clock, ManualClock, Store};

    use super::super::super::messages::{Request, request};
    use super::*;

    fn replica(dir: &std::path::Path, clock: &Arc<ManualClock>) -> LocalReplica {
        let clock: Arc<dyn Clock> = clock.clone();
        let open =
            |name: &str| Arc::new(Store::builder(clock.clone()).open(dir.join(name)).unwrap());
        let snapshots = Arc::new(crate::snapshots::Snapshots::new(dir, Arc::default()));
        LocalReplica::new(open("data"), open("system"), clock.clone(), snapshots).unwrap()
    }

    fn ballot(micros: i64) -> Vec<u8> {
        Ballot { micros, node: 1 }.to_bytes()
    }

    fn answer(r: &LocalReplica, body: request::Body) -> response::Body {
        let bytes = r.handle(&Request::new(body).to_bytes()).unwrap();
        Response::decode_bytes(&bytes).unwrap()
    }

    #[test]
    fn promises_and_acceptances_survive_a_restart_even_with_the_clock_behind() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let mutation = WireMutation {
            keyspace: "ks".into(),
            table: "t".into(),
            partition_key: b"k".to_vec(),
            ..WireMutation::default()
        };
        let proposal = |micros| PaxosProposal {
            ballot: ballot(micros),
            mutation: Some(mutation.clone()),
        };
        {
            let r = replica(dir.path(), &clock);
            // Accepting ballot 20 promises it too.
            let accepted = answer(&r, request::Body::PaxosPropose(proposal(20)));
            assert!(matches!(accepted, response::Body::Acceptance(a) if a.accepted));
            r.flush().unwrap();
        }
        // The node comes back with its clock an hour behind the one that wrote the state.
        let behind = Arc::new(ManualClock::new(1_700_000_000 - 3600));
        let r = replica(dir.path(), &behind);
        let lower = answer(&r, request::Body::PaxosPropose(proposal(10)));
        assert!(
            matches!(&lower, response::Body::Acceptance(a) if !a.accepted && a.promised_ballot == ballot(20)),
            "{lower:?}"
        );
        let state = r.paxos_state(&instance_key("ks", "t", b"k")).unwrap();
        assert_eq!(state.accepted.map(|a| a.ballot), Some(ballot(20)));
        // A later acceptance replaces the state, whatever the clock says.
        let higher = answer(&r, request::Body::PaxosPropose(proposal(30)));
        assert!(matches!(higher, response::Body::Acceptance(a) if a.accepted));
        let state = r.paxos_state(&instance_key("ks", "t", b"k")).unwrap();
        assert_eq!(state.accepted.map(|a| a.ballot), Some(ballot(30)));
    }

    #[test]
    fn instance_keys_do_not_collide_across_tables() {
        assert_ne!(instance_key("ab", "c", b"k"), instance_key("a", "bc", b"k"));
        assert_ne!(instance_key("a", "b", b"k1"), instance_key("a", "b", b"k"));
    }
}
