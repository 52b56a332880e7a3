//! The distributed data path (Cassandra's `StorageProxy`): every write and read on a user table
//! goes to the replicas of its partition, placed by the keyspace's replication strategy on the
//! ring built from [`Membership::members`], at the client's consistency level.
//!
//! - Writes go to every replica (this node's own replica is applied in-process, the others
//!   through the [`Messenger`]) and complete when the level is met; too few live replicas is
//!   [`Error::Unavailable`], too few answers in time [`Error::WriteTimeout`]. Replicas that are
//!   down or do not answer get a hint, kept durably here and replayed when they are alive
//!   again ([`Replication::deliver_hints`]); ANY succeeds with only a hint.
//! - Reads ask one replica for data and as many others for digests as the level needs; on a
//!   mismatch every contacted replica is asked for data, the answers are reconciled by the
//!   storage engine's own merge, and the stale replicas are repaired before the answer goes
//!   back. A replica slower than the speculative-retry threshold gets company: one more
//!   request to another replica. Range reads split the token range by the ring.
//! - Lightweight transactions (conditional writes) and SERIAL reads run Paxos on the
//!   partition's replicas ([`paxos`]); each replica keeps its Paxos state durably.
//! - Logged batches are first written to the batchlog of up to two other live nodes of the
//!   local datacenter, then applied, then removed; [`Replication::replay_batchlog`] replays
//!   entries whose coordinator never removed them.
//!
//! Messages are [`messages`] (generated from proto/replica.proto); the receiving side is
//! `Coordinator::handle_message`.
//!
//! One file per job: `topology` (the ring and placements), `write`, `batchlog`, `read`,
//! `read_repair`, `hints`, `truncate`, with `consistency` (levels and their counts),
//! `pending` (pending replicas), `reconcile`, `local` (this node as a replica), `wait` (the
//! in-flight answers) and `stats`; this file holds the settings, the [`Replication`] value,
//! what every job shares (sending, answers, the background thread) and the `DataPath` entry.

mod batchlog;
mod cleanup;
mod consistency;
mod counter;
mod hints;
pub(crate) mod local;
pub mod messages;
mod paxos;
mod pending;
mod read;
mod read_repair;
mod reconcile;
mod stats;
mod topology;
mod truncate;
mod wait;
mod write;

pub use cleanup::Cleaned;
pub use hints::HandedOver;
pub use stats::ReplicationStats;

pub(crate) use paxos::with_timestamp;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ilion_cql::protocol::{Consistency, WriteType};
use ilion_ring::{NodeId, ReplicaMap, ReplicationStrategy, Token, TokenMetadata};
use ilion_storage::{PagingPosition, PartitionRange, ReadCommand, ReadResult, TableSchema};
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::cluster::{MemberStatus, Membership, MessagingError, Messenger};
use crate::data::{DataPath, TableWrite, storage_error};
use crate::schema::{Keyspace, Schema, Table};
use crate::{Error, FailureReason, Result};

use consistency::{Requirement, Tracker};
use local::LocalReplica;
use messages::{
    BatchlogEntry, BatchlogKey, MutationRequest, ReadRequest, Request, Response, WireMutation,
    WireReadCommand, WireResult, request, response,
};
use pending::has_pending;
use read::Latencies;
use stats::Counters;
use topology::{Endpoint, Topology};
use wait::{Answer, Inflight};
use write::{Followup, WriteMode};

/// When to send a read to one more replica because the first ones are slow (a table's
/// `speculative_retry`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpeculativeRetry {
    /// Never.
    None,
    /// After this long.
    Fixed(Duration),
    /// After this percentile of this node's recent read latencies (Cassandra's `99p`).
    Percentile(f64),
}

impl SpeculativeRetry {
    /// Reads Cassandra's `speculative_retry` words: `NONE`, `ALWAYS` (at once), `99p` or
    /// `99PERCENTILE` (a percentile in (0, 100]), `50ms` (a fixed delay); case-insensitive.
    /// `None` for anything else.
    pub fn parse(text: &str) -> Option<SpeculativeRetry> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "none" => return Some(SpeculativeRetry::None),
            "always" => return Some(SpeculativeRetry::Fixed(Duration::ZERO)),
            _ => {}
        }
        if let Some(ms) = t.strip_suffix("ms") {
            let ms: f64 = ms.trim().parse().ok()?;
            // A delay longer than a day never speculates in practice and would overflow
            // deadlines; NaN, negative and infinite delays are not delays.
            if !(0.0..=86_400_000.0).contains(&ms) {
                return None;
            }
            return Duration::try_from_secs_f64(ms / 1000.0)
                .ok()
                .map(SpeculativeRetry::Fixed);
        }
        let p = t
            .strip_suffix("percentile")
            .or_else(|| t.strip_suffix('p'))?;
        let p: f64 = p.trim().parse().ok()?;
        (p > 0.0 && p <= 100.0).then_some(SpeculativeRetry::Percentile(p))
    }
}

/// Timeouts and limits of the distributed data path. The defaults are Cassandra's.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// `write_request_timeout_in_ms` (2000).
    pub write_request_timeout: Duration,
    /// `counter_write_request_timeout_in_ms` (5000): how long a coordinator waits for the
    /// replica leading a counter write.
    pub counter_write_request_timeout: Duration,
    /// `read_request_timeout_in_ms` (5000).
    pub read_request_timeout: Duration,
    /// `range_request_timeout_in_ms` (10000).
    pub range_request_timeout: Duration,
    /// `truncate_request_timeout_in_ms` (60000).
    pub truncate_request_timeout: Duration,
    /// `max_hint_window_in_ms` (3 hours): hints older than this are dropped.
    pub max_hint_window: Duration,
    /// `speculative_retry` (99p).
    pub speculative_retry: SpeculativeRetry,
    /// A batchlog entry older than this whose coordinator did not remove it is replayed
    /// (Cassandra: twice the write timeout).
    pub batchlog_replay_after: Duration,
    /// `hinted_handoff_enabled` (true): when false, writes a replica missed are not hinted
    /// (ANY then needs a replica's acknowledgement; read repair and repair reconcile).
    pub hinted_handoff_enabled: bool,
    /// `cas_contention_timeout_in_ms` (1000): how long a lightweight transaction or SERIAL
    /// read retries under contention before a timeout (WriteTimeout of type CAS, ReadTimeout).
    pub cas_contention_timeout: Duration,
    /// A contended Paxos round waits a random time up to this before it retries (100 ms;
    /// zero in the simulator, whose time does not pass by sleeping).
    pub cas_contention_backoff: Duration,
    /// At most this many Paxos rounds per request, whatever the time (100).
    pub cas_max_attempts: usize,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            write_request_timeout: Duration::from_millis(2000),
            counter_write_request_timeout: Duration::from_millis(5000),
            read_request_timeout: Duration::from_millis(5000),
            range_request_timeout: Duration::from_millis(10000),
            truncate_request_timeout: Duration::from_millis(60000),
            max_hint_window: Duration::from_secs(3 * 3600),
            speculative_retry: SpeculativeRetry::Percentile(99.0),
            batchlog_replay_after: Duration::from_millis(4000),
            hinted_handoff_enabled: true,
            cas_contention_timeout: Duration::from_millis(1000),
            cas_contention_backoff: Duration::from_millis(100),
            cas_max_attempts: 100,
        }
    }
}

/// What a coordinator needs to join a cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub membership: Arc<dyn Membership>,
    pub messenger: Arc<dyn Messenger>,
    pub config: ReplicationConfig,
}

impl Cluster {
    /// A cluster with the default [`ReplicationConfig`].
    pub fn new(membership: Arc<dyn Membership>, messenger: Arc<dyn Messenger>) -> Cluster {
        Cluster {
            membership,
            messenger,
            config: ReplicationConfig::default(),
        }
    }
}

/// Counts a message another node's coordinator sent this node as a replica.
pub(crate) fn count_replica_request(local: &LocalReplica) {
    Counters::add(&local.counters.replica_requests, 1);
}

/// The distributed data path. Built by `Coordinator::enable_replication`.
pub struct Replication {
    local: Arc<LocalReplica>,
    schema: Arc<RwLock<Arc<Schema>>>,
    membership: Arc<dyn Membership>,
    messenger: Arc<dyn Messenger>,
    config: ReplicationConfig,
    local_dc: String,
    topology: Mutex<Option<Arc<Topology>>>,
    latencies: Mutex<Latencies>,
    followups: Mutex<Option<(mpsc::Sender<Followup>, std::thread::Thread)>>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("local_dc", &self.local_dc)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Replication {
    pub(crate) fn new(
        local: Arc<LocalReplica>,
        schema: Arc<RwLock<Arc<Schema>>>,
        cluster: Cluster,
        local_dc: String,
    ) -> Replication {
        Replication {
            local,
            schema,
            membership: cluster.membership,
            messenger: cluster.messenger,
            config: cluster.config,
            local_dc,
            topology: Mutex::new(None),
            latencies: Mutex::new(Latencies::default()),
            followups: Mutex::new(None),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ReplicationConfig {
        &self.config
    }

    /// The cluster membership replicas are placed on.
    pub(crate) fn membership(&self) -> &Arc<dyn Membership> {
        &self.membership
    }

    fn is_local(&self, topo: &Topology, e: &Endpoint) -> bool {
        !e.replaced_here
            && topo
                .local
                .and_then(|l| topo.nodes.get(&l))
                .is_some_and(|l| l.address == e.address)
    }

    fn alive(&self, topo: &Topology, e: &Endpoint) -> bool {
        !e.replaced_here && (self.is_local(topo, e) || self.membership.is_alive(e.address))
    }

    /// Sends `payload` to `e`, or runs it here when `e` is this node.
    fn send(&self, topo: &Topology, e: &Endpoint, payload: Bytes, timeout: Duration) -> Inflight1 {
        if self.is_local(topo, e) {
            let answer = self
                .local
                .handle(&payload)
                .map_err(|err| MessagingError::Remote {
                    address: e.address,
                    reason: err.to_string(),
                });
            Box::pin(std::future::ready(answer))
        } else {
            self.messenger.request(e.address, payload, timeout)
        }
    }

    // ---------------------------------------------------------------- writes

    // ---------------------------------------------------------------- reads

    // ---------------------------------------------------------------- background work

    /// The counters of this node's data path since it started, with the hints pending now
    /// (a scan of the hint table).
    pub fn stats(&self) -> ReplicationStats {
        let c = &self.local.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        ReplicationStats {
            hints_stored: get(&c.hints_stored),
            hints_delivered: get(&c.hints_delivered),
            hints_dropped: get(&c.hints_dropped),
            hints_pending: self.local.hints().map_or(0, |h| h.len() as u64),
            batchlog_replays: get(&c.batchlog_replays),
            read_repairs: get(&c.read_repairs),
            speculative_retries: get(&c.speculative_retries),
            unavailables: get(&c.unavailables),
            read_timeouts: get(&c.read_timeouts),
            write_timeouts: get(&c.write_timeouts),
            replica_requests: get(&c.replica_requests),
        }
    }

    /// Counts the failure kinds operators watch.
    fn count<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            let c = &self.local.counters;
            match e {
                Error::Unavailable { .. } => Counters::add(&c.unavailables, 1),
                Error::ReadTimeout { .. } => Counters::add(&c.read_timeouts, 1),
                Error::WriteTimeout { .. } | Error::CasWriteTimeout { .. } => {
                    Counters::add(&c.write_timeouts, 1);
                }
                _ => {}
            }
        }
        r
    }

    /// Runs [`Replication::deliver_hints`] and [`Replication::replay_batchlog`] every
    /// `interval` on a thread of its own until the handle is dropped.
    pub fn spawn_background(self: &Arc<Self>, interval: Duration) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let weak: Weak<Replication> = Arc::downgrade(self);
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ilion-hints-batchlog".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    std::thread::park_timeout(interval);
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(r) = weak.upgrade() else { break };
                    // A bug in one round must not end hint delivery for the node's lifetime.
                    let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        if let Err(e) = r.deliver_hints() {
                            tracing::warn!(error = %e, "hint delivery failed");
                        }
                        if let Err(e) = r.replay_batchlog() {
                            tracing::warn!(error = %e, "batchlog replay failed");
                        }
                    }));
                    if round.is_err() {
                        tracing::error!("hint delivery or batchlog replay panicked; next round");
                    }
                }
            })
            .ok();
        Background { stop, handle }
    }
}

/// The background hint and batchlog thread; stops when dropped.
#[derive(Debug)]
pub struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

type Inflight1 = crate::cluster::BoxFuture<Answer>;

fn ack_of(address: IpAddr, bytes: &[u8]) -> Result<(), MessagingError> {
    match answer_of(address, bytes)? {
        response::Body::Ack(_) => Ok(()),
        _ => Err(MessagingError::Remote {
            address,
            reason: "unexpected answer to a write".into(),
        }),
    }
}

/// Decodes a replica's answer; a failure answer becomes [`MessagingError::Failed`].
fn answer_of(address: IpAddr, bytes: &[u8]) -> Result<response::Body, MessagingError> {
    match Response::decode_bytes(bytes) {
        Ok(response::Body::Failure(f)) => Err(MessagingError::Failed {
            address,
            reason: FailureReason::from_code(f.reason),
            message: f.message,
        }),
        Ok(body) => Ok(body),
        Err(e) => Err(MessagingError::Remote {
            address,
            reason: e.to_string(),
        }),
    }
}

/// Whether a write that met `err` is kept as a hint: only when the replica may not have seen
/// it (no answer, unreachable), never when it answered with an error or a failure.
fn hintable(err: &MessagingError) -> bool {
    matches!(
        err,
        MessagingError::Timeout { .. } | MessagingError::Unreachable { .. }
    )
}

/// The failed replica and its reason, when `err` is a failure answer.
fn failure_of(err: &MessagingError) -> Option<(IpAddr, FailureReason)> {
    match err {
        MessagingError::Failed {
            address, reason, ..
        } => Some((*address, *reason)),
        _ => None,
    }
}

impl Replication {
    /// Whether the ring holds no node but this one: then every request is served here and
    /// none waits on another node.
    pub fn is_alone(&self) -> bool {
        let topo = self.topology();
        topo.nodes.values().all(|e| self.is_local(&topo, e))
    }

    /// Whether `replicas` is this node alone and its answer meets `consistency`: then a
    /// request needs no messages, no digests and no waiting (a node on its own, or keys of a
    /// keyspace with one replica that this node owns).
    fn only_here(
        &self,
        topo: &Topology,
        ks: &Keyspace,
        consistency: Consistency,
        replicas: &[Endpoint],
    ) -> bool {
        let [only] = replicas else {
            return false;
        };
        if !self.is_local(topo, only) {
            return false;
        }
        let Ok(req) = topo
            .placement(ks)
            .and_then(|p| Requirement::new(consistency, &p.strategy, &self.local_dc))
        else {
            return false;
        };
        let mut tracker = req.tracker();
        tracker.add(&req, &only.dc);
        req.met(&tracker)
    }

    /// Applies `writes` to the local store directly when every partition's only replica is
    /// this node ([`Replication::only_here`]); `None` when some write needs the general path.
    /// A logged batch of several mutations keeps the batchlog path. A failed local apply
    /// answers as the general path would: the level was not met.
    fn write_here(
        &self,
        writes: &[TableWrite<'_>],
        consistency: Consistency,
        logged: bool,
    ) -> Option<Result<()>> {
        if writes.is_empty() || (logged && writes.len() > 1) {
            return None;
        }
        let topo = self.topology();
        for w in writes {
            let replicas = self.replicas(&topo, w.keyspace, w.mutation.token).ok()?;
            if !self.only_here(&topo, w.keyspace, consistency, &replicas)
                || has_pending(&topo, w.keyspace, w.mutation.token)
            {
                return None;
            }
        }
        let write_type = if writes.len() > 1 {
            WriteType::UnloggedBatch
        } else {
            WriteType::Simple
        };
        for w in writes {
            let applied = self
                .local
                .store
                .table(&w.table.keyspace, &w.table.name)
                .and_then(|t| t.apply(&w.mutation));
            if let Err(e) = applied {
                tracing::debug!(error = %e, "local write failed");
                return Some(Err(Error::WriteFailure {
                    consistency,
                    received: 0,
                    block_for: 1,
                    failures: vec![(
                        self.membership.local_address(),
                        FailureReason::of_storage(&e),
                    )],
                    write_type,
                }));
            }
        }
        Some(Ok(()))
    }
}

impl DataPath for Replication {
    fn table_schema(&self, table: &Table) -> Result<Arc<TableSchema>> {
        Ok(self
            .local
            .store
            .table(&table.keyspace, &table.name)
            .map_err(storage_error)?
            .schema())
    }

    fn write(
        &self,
        writes: &[TableWrite<'_>],
        consistency: Consistency,
        logged: bool,
    ) -> Result<()> {
        if matches!(consistency, Consistency::Serial | Consistency::LocalSerial) {
            return Err(Error::invalid(
                "You must use conditional updates for serializable writes",
            ));
        }
        if let Some(done) = self.write_here(writes, consistency, logged) {
            return self.count(done);
        }
        let mutations = self.wire_writes(writes)?;
        if logged && mutations.len() > 1 {
            return self.count(self.write_logged(&mutations, consistency));
        }
        let write_type = if mutations.len() > 1 {
            WriteType::UnloggedBatch
        } else {
            WriteType::Simple
        };
        self.count(self.write_mutations(&mutations, consistency, write_type, WriteMode::Level))
    }

    fn write_counter(&self, writes: &[TableWrite<'_>], consistency: Consistency) -> Result<()> {
        self.write_counters(writes, consistency)
    }

    fn cas(
        &self,
        keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        serial: Consistency,
        commit: Consistency,
        decide: &mut dyn FnMut(&ReadResult) -> Result<Option<ilion_storage::Mutation>>,
    ) -> Result<bool> {
        Replication::cas(self, keyspace, table, cmd, serial, commit, decide)
    }

    fn read(
        &self,
        keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        consistency: Consistency,
    ) -> Result<ReadResult> {
        if matches!(consistency, Consistency::Serial | Consistency::LocalSerial) {
            return self.serial_read(keyspace, table, cmd, consistency);
        }
        let result = self.count(match &cmd.partitions {
            PartitionRange::Single { token, .. } => {
                let topo = self.topology();
                let replicas = self.replicas(&topo, keyspace, *token)?;
                if self.only_here(&topo, keyspace, consistency, &replicas)
                    && consistency != Consistency::Any
                {
                    // Nothing to compare or repair: the local result as the store gives it.
                    let read = self
                        .local
                        .store
                        .table(&table.keyspace, &table.name)
                        .and_then(|t| t.read(cmd))
                        .map_err(|e| {
                            crate::data::read_failure(
                                &e,
                                consistency,
                                self.membership.local_address(),
                            )
                        });
                    return self.count(read);
                }
                self.read_replicas(&topo, keyspace, table, cmd, consistency, replicas)
            }
            PartitionRange::Tokens { start, end } => {
                self.read_range(keyspace, table, cmd, consistency, *start, *end)
            }
        })?;
        let schema = self.table_schema(table)?;
        result
            .to_result(&schema)
            .map_err(|e| Error::server(e.to_string()))
    }
}
