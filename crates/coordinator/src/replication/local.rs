//! This node as a replica: applies mutations, answers reads and digests, and keeps the hints
//! and batchlog entries other nodes (or this one) hand it, in a store of its own (`system.hints`
//! and `system.batchlog`, under the data directory, so they survive restarts), and its Paxos
//! state (`system.paxos`, see `paxos::acceptor`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use ilion_storage::{Clock, CqlType, Mutation, Order, ReadCommand, Store, TableSchema, Ttl};
use prost::Message;
use uuid::Uuid;

use super::messages::{
    Ack, BatchlogEntry, BatchlogKey, MutationRequest, Response, WireMutation, WireReadCommand,
    WireResult, decode_request, request, response,
};
use crate::data::storage_error;
use crate::{Error, FailureReason, Result};

const SYSTEM: &str = "system";
const HINTS: &str = "hints";
const BATCHLOG: &str = "batchlog";

/// A stored hint: a mutation waiting for `target` to come back.
#[derive(Debug, Clone)]
pub(crate) struct Hint {
    pub(crate) target: Uuid,
    pub(crate) created: i64,
    pub(crate) id: Vec<u8>,
    pub(crate) mutation: WireMutation,
}

/// This node's replica-local state: the user tables' store and the hint and batchlog tables.
#[derive(Debug)]
pub(crate) struct LocalReplica {
    pub(crate) store: Arc<Store>,
    system: Arc<Store>,
    hints: ilion_storage::Table,
    batchlog: ilion_storage::Table,
    /// `system.paxos`: each partition's Paxos state (see `paxos::acceptor`).
    pub(super) paxos: ilion_storage::Table,
    /// Held while a Paxos step reads and rewrites a partition's state (and while a commit
    /// applies its mutation), so the steps of one instance never interleave.
    pub(super) paxos_lock: parking_lot::Mutex<()>,
    /// The hybrid logical clock of this node's ballots (every ballot seen moves it).
    pub(crate) ballots: super::paxos::BallotClock,
    pub(crate) clock: Arc<dyn Clock>,
    last_micros: AtomicI64,
    pub(crate) counters: super::stats::Counters,
    /// `auto_snapshot` before a truncation.
    pub(crate) snapshots: Arc<crate::snapshots::Snapshots>,
}

fn hints_schema() -> Result<TableSchema> {
    TableSchema::builder(SYSTEM, HINTS)
        .partition_key("target", CqlType::Uuid)
        .clustering("created", CqlType::Bigint, Order::Asc)
        .clustering("id", CqlType::Blob, Order::Asc)
        .regular("mutation", CqlType::Blob)
        .build()
        .map_err(storage_error)
}

fn batchlog_schema() -> Result<TableSchema> {
    TableSchema::builder(SYSTEM, BATCHLOG)
        .partition_key("bucket", CqlType::Int)
        .clustering("written_at", CqlType::Bigint, Order::Asc)
        .clustering("id", CqlType::Blob, Order::Asc)
        .regular("mutations", CqlType::Blob)
        .build()
        .map_err(storage_error)
}

fn token_of(key: &[u8]) -> i64 {
    ilion_ring::Murmur3Partitioner.token(key).value()
}

const BATCH_BUCKET: [u8; 4] = 0i32.to_be_bytes();

impl LocalReplica {
    /// `system` is the store of the hint and batchlog tables (created if missing).
    pub(crate) fn new(
        store: Arc<Store>,
        system: Arc<Store>,
        clock: Arc<dyn Clock>,
        snapshots: Arc<crate::snapshots::Snapshots>,
    ) -> Result<LocalReplica> {
        let open = |schema: TableSchema| -> Result<ilion_storage::Table> {
            match system.table(SYSTEM, schema.name()) {
                Ok(t) => Ok(t),
                Err(_) => system.create_table(schema).map_err(storage_error),
            }
        };
        Ok(LocalReplica {
            hints: open(hints_schema()?)?,
            batchlog: open(batchlog_schema()?)?,
            paxos: open(super::paxos::paxos_schema()?)?,
            paxos_lock: parking_lot::Mutex::new(()),
            ballots: super::paxos::BallotClock::new(clock.clone()),
            store,
            system,
            clock,
            last_micros: AtomicI64::new(0),
            counters: super::stats::Counters::default(),
            snapshots,
        })
    }

    /// Truncates a table of this replica, snapshotting it first (`auto_snapshot`).
    pub(crate) fn truncate(&self, keyspace: &str, table: &str) -> Result<()> {
        self.snapshots
            .before_truncate(&self.store, keyspace, table)?;
        self.store
            .truncate(keyspace, table)
            .map_err(|e| Error::server(format!("truncate failed: {e}")))
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.system.flush().map_err(storage_error)
    }

    /// A write timestamp from this node's clock, strictly increasing.
    pub(crate) fn micros(&self) -> i64 {
        let now = self.clock.now_micros();
        let mut prev = self.last_micros.load(Ordering::SeqCst);
        loop {
            let next = now.max(prev + 1);
            match self
                .last_micros
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }

    /// Applies mutations named by column name to this node's tables.
    pub(crate) fn apply(&self, mutations: &[WireMutation]) -> Result<(), Failure> {
        for w in mutations {
            let table = self.store.table(&w.keyspace, &w.table)?;
            let m = w.to_mutation(&table.schema()).map_err(Failure::unknown)?;
            table.apply(&m)?;
        }
        Ok(())
    }

    /// Runs a read on this node, the result named by column name.
    pub(crate) fn read(
        &self,
        keyspace: &str,
        table: &str,
        cmd: &ReadCommand,
    ) -> Result<WireResult, Failure> {
        let table = self.store.table(keyspace, table)?;
        let r = table.read(cmd)?;
        let schema = table.schema();
        let mut out = WireResult::from_result(&schema, &r).map_err(Failure::unknown)?;
        out.raw = raw(&schema, &table, cmd).map_err(Failure::unknown)?;
        Ok(out)
    }

    /// The entry point for messages from other coordinators.
    pub(crate) fn handle(&self, payload: &[u8]) -> Result<Bytes> {
        let body = decode_request(payload).map_err(|e| Error::server(e.to_string()))?;
        self.handle_body(body)
    }

    /// [`LocalReplica::handle`] of a decoded request.
    pub(crate) fn handle_body(&self, body: request::Body) -> Result<Bytes> {
        let ack = || Response::new(response::Body::Ack(Ack {})).to_bytes();
        match body {
            // Leading a counter write needs the replication path (`Coordinator::handle_message`).
            request::Body::CounterWrite(_) => Err(Error::server(
                "this node cannot lead counter writes (it is not part of a cluster)",
            )),
            request::Body::Mutation(MutationRequest { mutations })
            | request::Body::Hint(MutationRequest { mutations }) => {
                Ok(match self.apply(&mutations) {
                    Ok(()) => ack(),
                    Err(f) => f.to_bytes(),
                })
            }
            request::Body::Read(r) => {
                let wire: WireReadCommand = r
                    .command
                    .ok_or_else(|| Error::server("read without a command"))?;
                let cmd = wire
                    .to_command()
                    .map_err(|e| Error::server(e.to_string()))?;
                let body = match self.read(&wire.keyspace, &wire.table, &cmd) {
                    Ok(result) if r.digest => response::Body::Digest(result.digest()),
                    Ok(result) => response::Body::Data(result),
                    Err(f) => return Ok(f.to_bytes()),
                };
                Ok(Response::new(body).to_bytes())
            }
            request::Body::BatchlogStore(entry) => {
                self.store_batch(&entry)?;
                Ok(ack())
            }
            request::Body::Truncate(t) => {
                self.truncate(&t.keyspace, &t.table)?;
                Ok(ack())
            }
            request::Body::BatchlogRemove(key) => {
                self.remove_batch(&key)?;
                Ok(ack())
            }
            request::Body::PaxosPrepare(p) => self.paxos_prepare(p),
            request::Body::PaxosPropose(p) => self.paxos_propose(p),
            request::Body::PaxosCommit(p) => self.paxos_commit(p),
            request::Body::HintTransfer(t) => {
                let target = Uuid::from_slice(&t.target)
                    .map_err(|_| Error::server("hint transfer without a 16-byte target"))?;
                for m in &t.mutations {
                    self.store_hint(target, m, t.window_seconds)?;
                }
                Ok(ack())
            }
        }
    }

    // ---- hints ----

    /// Keeps `mutation` for `target` for `window_seconds` (then it expires).
    pub(crate) fn store_hint(
        &self,
        target: Uuid,
        mutation: &WireMutation,
        window_seconds: u32,
    ) -> Result<()> {
        let schema = self.hints.schema();
        let col = schema
            .column_id("mutation")
            .ok_or_else(|| Error::server("hints table without its mutation column"))?;
        let key = target.as_bytes().to_vec();
        let now = self.clock.now_seconds();
        let ts = self.micros();
        let mut m = Mutation::new(token_of(&key), key, now);
        let ttl = Some(Ttl::new(window_seconds.max(1), now));
        let row = m.row(vec![
            now.to_be_bytes().to_vec(),
            Uuid::new_v4().as_bytes().to_vec(),
        ]);
        row.marker = Some(ilion_storage::Liveness { timestamp: ts, ttl });
        row.cells.push(ilion_storage::CellWrite {
            column: col,
            path: None,
            op: ilion_storage::CellOp::Set {
                timestamp: ts,
                value: mutation.encode_to_vec(),
                ttl,
            },
        });
        let stored = self.hints.apply(&m).map_err(storage_error);
        let c = &self.counters;
        super::stats::Counters::add(
            if stored.is_ok() {
                &c.hints_stored
            } else {
                &c.hints_dropped
            },
            1,
        );
        stored
    }

    /// Every unexpired hint, by target then age.
    pub(crate) fn hints(&self) -> Result<Vec<Hint>> {
        let r = self
            .hints
            .read(&ReadCommand::token_range(None, None))
            .map_err(storage_error)?;
        let mut out = Vec::new();
        for p in r.partitions {
            let Ok(target) = Uuid::from_slice(&p.key) else {
                continue;
            };
            for row in p.rows {
                let (Some(created), Some(id)) = (row.clustering.first(), row.clustering.get(1))
                else {
                    continue;
                };
                let Some(cell) = row.cells.first() else {
                    continue;
                };
                let Ok(created) = <[u8; 8]>::try_from(created.as_slice()) else {
                    continue;
                };
                match WireMutation::decode(cell.value.as_slice()) {
                    Ok(mutation) => out.push(Hint {
                        target,
                        created: i64::from_be_bytes(created),
                        id: id.clone(),
                        mutation,
                    }),
                    Err(e) => tracing::warn!(error = %e, "dropping an undecodable hint"),
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn delete_hint(&self, hint: &Hint) -> Result<()> {
        let key = hint.target.as_bytes().to_vec();
        let now = self.clock.now_seconds();
        let mut m = Mutation::new(token_of(&key), key, now);
        m.row(vec![hint.created.to_be_bytes().to_vec(), hint.id.clone()])
            .deletion = Some(ilion_storage::Deletion::new(self.micros(), now));
        self.hints.apply(&m).map_err(storage_error)
    }

    // ---- batchlog ----

    pub(crate) fn store_batch(&self, entry: &BatchlogEntry) -> Result<()> {
        let key = entry
            .key
            .as_ref()
            .ok_or_else(|| Error::server("batchlog entry without a key"))?;
        let schema = self.batchlog.schema();
        let col = schema
            .column_id("mutations")
            .ok_or_else(|| Error::server("batchlog table without its mutations column"))?;
        let now = self.clock.now_seconds();
        let mut m = Mutation::new(token_of(&BATCH_BUCKET), BATCH_BUCKET.to_vec(), now);
        let body = MutationRequest {
            mutations: entry.mutations.clone(),
        };
        m.row(vec![key.written_at.to_be_bytes().to_vec(), key.id.clone()])
            .set(col, key.written_at, body.encode_to_vec());
        self.batchlog.apply(&m).map_err(storage_error)
    }

    pub(crate) fn remove_batch(&self, key: &BatchlogKey) -> Result<()> {
        let now = self.clock.now_seconds();
        let mut m = Mutation::new(token_of(&BATCH_BUCKET), BATCH_BUCKET.to_vec(), now);
        m.row(vec![key.written_at.to_be_bytes().to_vec(), key.id.clone()])
            .deletion = Some(ilion_storage::Deletion::new(
            self.micros().max(key.written_at + 1),
            now,
        ));
        self.batchlog.apply(&m).map_err(storage_error)
    }

    /// Batchlog entries written before `before` (micros).
    pub(crate) fn batches_before(&self, before: i64) -> Result<Vec<BatchlogEntry>> {
        let r = self
            .batchlog
            .read(&ReadCommand::partition(
                token_of(&BATCH_BUCKET),
                BATCH_BUCKET.to_vec(),
            ))
            .map_err(storage_error)?;
        let mut out = Vec::new();
        for p in r.partitions {
            for row in p.rows {
                let (Some(at), Some(id)) = (row.clustering.first(), row.clustering.get(1)) else {
                    continue;
                };
                let Ok(at) = <[u8; 8]>::try_from(at.as_slice()) else {
                    continue;
                };
                let written_at = i64::from_be_bytes(at);
                if written_at >= before {
                    continue;
                }
                let Some(cell) = row.cells.first() else {
                    continue;
                };
                match MutationRequest::decode(cell.value.as_slice()) {
                    Ok(body) => out.push(BatchlogEntry {
                        key: Some(BatchlogKey {
                            id: id.clone(),
                            written_at,
                        }),
                        mutations: body.mutations,
                    }),
                    Err(e) => tracing::warn!(error = %e, "dropping an undecodable batch"),
                }
            }
        }
        Ok(out)
    }
}

/// What `table` stores in the extent of `cmd`, deletions included, cells in canonical order.
pub(crate) fn raw(
    schema: &ilion_storage::TableSchema,
    table: &ilion_storage::Table,
    cmd: &ReadCommand,
) -> Result<Vec<WireMutation>> {
    table
        .read_raw(cmd)
        .map_err(storage_error)?
        .iter()
        .map(|m| {
            WireMutation::from_mutation(schema, m)
                .map(WireMutation::canonical)
                .map_err(|e| Error::server(e.to_string()))
        })
        .collect()
}

/// Why this replica failed a read or a write it tried: answered to the coordinator as a
/// failure (`proto/replica.proto`'s `Failure`), so the client gets Read_failure or
/// Write_failure with the reason, not a timeout or a server error.
#[derive(Debug)]
pub(crate) struct Failure {
    reason: FailureReason,
    message: String,
}

impl Failure {
    fn unknown(e: impl std::fmt::Display) -> Failure {
        Failure {
            reason: FailureReason::Unknown,
            message: e.to_string(),
        }
    }

    pub(super) fn to_bytes(&self) -> Bytes {
        tracing::debug!(reason = self.reason.name(), message = %self.message, "replica request failed");
        Response::new(response::Body::Failure(super::messages::Failure {
            reason: u32::from(self.reason.code()),
            message: self.message.clone(),
        }))
        .to_bytes()
    }
}

impl From<ilion_storage::Error> for Failure {
    fn from(e: ilion_storage::Error) -> Failure {
        Failure {
            reason: FailureReason::of_storage(&e),
            message: e.to_string(),
        }
    }
}

/// A failure outside a replica request (a stream page applied here): this node's own error.
impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::server(format!("{} ({})", f.message, f.reason.name()))
    }
}
