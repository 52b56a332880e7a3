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
//! - Logged batches are first written to the batchlog of up to two other live nodes of the
//!   local datacenter, then applied, then removed; [`Replication::replay_batchlog`] replays
//!   entries whose coordinator never removed them.
//!
//! Messages are [`messages`] (prost, mirrored in proto/replica.proto); the receiving side is
//! `Coordinator::handle_message`.

mod cleanup;
mod consistency;
pub(crate) mod local;
pub mod messages;
mod pending;
mod reconcile;
mod stats;
mod wait;

pub use cleanup::Cleaned;
pub use stats::ReplicationStats;

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
use stats::Counters;
use wait::{Answer, Inflight};

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
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            write_request_timeout: Duration::from_millis(2000),
            read_request_timeout: Duration::from_millis(5000),
            range_request_timeout: Duration::from_millis(10000),
            truncate_request_timeout: Duration::from_millis(60000),
            max_hint_window: Duration::from_secs(3 * 3600),
            speculative_retry: SpeculativeRetry::Percentile(99.0),
            batchlog_replay_after: Duration::from_millis(4000),
            hinted_handoff_enabled: true,
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

/// A replica as the ring knows it.
#[derive(Debug, Clone)]
struct Endpoint {
    host_id: Uuid,
    address: IpAddr,
    dc: String,
}

/// A keyspace's replication map parsed, and its replica map on one topology.
#[derive(Debug)]
struct Placement {
    strategy: ReplicationStrategy,
    map: ReplicaMap,
    /// Where writes must also go while nodes join (`None` when no node joins).
    pending: Option<ilion_ring::PendingRanges>,
}

/// The ring for one topology version, with the placements of the replication maps used so
/// far (parsing a replication map on every request was a few percent of a point read).
#[derive(Debug)]
struct Topology {
    version: u64,
    meta: TokenMetadata,
    nodes: HashMap<NodeId, Endpoint>,
    local: Option<NodeId>,
    /// Ring changes under way: joining members (pending replicas of the ranges they will
    /// own) and leaving ones (whose ranges are pending on their next owners).
    changes: Vec<ilion_ring::TopologyChange>,
    maps: Mutex<HashMap<BTreeMap<String, String>, Arc<Placement>>>,
}

impl Topology {
    fn build(membership: &dyn Membership) -> Topology {
        let version = membership.topology_version();
        let local_address = membership.local_address();
        let mut meta = TokenMetadata::new();
        let mut nodes = HashMap::new();
        let mut local = None;
        let mut changes = Vec::new();
        let mut members = membership.members();
        members.sort_by_key(|m| m.address);
        for m in members {
            if m.tokens.is_empty() || m.status == MemberStatus::Left {
                continue;
            }
            let id = NodeId::from_u128(m.host_id.as_u128());
            if m.status == MemberStatus::Joining {
                changes.push(pending::join_of(id, &m));
            } else if let Err(e) = meta.add_node(
                id,
                &m.data_center,
                &m.rack,
                m.tokens.iter().map(|t| Token::new(*t)),
            ) {
                tracing::warn!(node = %m.address, error = %e, "member left out of the ring");
                continue;
            } else if m.status == MemberStatus::Leaving {
                changes.push(ilion_ring::TopologyChange::Leave { id });
            }
            if m.address == local_address {
                local = Some(id);
            }
            nodes.insert(
                id,
                Endpoint {
                    host_id: m.host_id,
                    address: m.address,
                    dc: m.data_center.clone(),
                },
            );
        }
        Topology {
            version,
            meta,
            nodes,
            local,
            changes,
            maps: Mutex::new(HashMap::new()),
        }
    }

    fn placement(&self, ks: &Keyspace) -> Result<Arc<Placement>> {
        if let Some(m) = self.maps.lock().get(&ks.replication) {
            return Ok(m.clone());
        }
        let strategy = strategy_of(ks)?;
        let map = strategy
            .replica_map(&self.meta)
            .map_err(|e| Error::server(format!("replica placement failed: {e}")))?;
        let pending = self.pending_ranges(&strategy);
        let placement = Arc::new(Placement {
            strategy,
            map,
            pending,
        });
        self.maps
            .lock()
            .insert(ks.replication.clone(), placement.clone());
        Ok(placement)
    }

    fn endpoints(&self, ids: &[NodeId]) -> Vec<Endpoint> {
        ids.iter()
            .filter_map(|i| self.nodes.get(i).cloned())
            .collect()
    }
}

/// Counts a message another node's coordinator sent this node as a replica.
pub(crate) fn count_replica_request(local: &LocalReplica) {
    Counters::add(&local.counters.replica_requests, 1);
}

fn strategy_of(ks: &Keyspace) -> Result<ReplicationStrategy> {
    ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
        .map_err(|e| Error::config(format!("keyspace {}: {e}", ks.name)))
}

/// Recent read latencies, for the speculative-retry percentile.
#[derive(Debug, Default)]
struct Latencies {
    samples: Vec<Duration>,
    next: usize,
    /// Samples recorded since the last percentile was computed.
    since: usize,
    /// The last percentile computed: (its `p` as bits, the value). Sorting the window on every
    /// read was a fifth of a point read's time; the threshold may lag by
    /// `LATENCY_RECOMPUTE_EVERY` samples.
    cached: Option<(u64, Duration)>,
}

/// How many new samples make the cached percentile stale.
const LATENCY_RECOMPUTE_EVERY: usize = 64;

const LATENCY_WINDOW: usize = 1000;
const LATENCY_MIN_SAMPLES: usize = 20;

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

/// Write requests still in flight after their write completed: their failures become hints.
struct Followup {
    inflight: Inflight<(Uuid, usize)>,
    mutations: Vec<WireMutation>,
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

/// How a write's answers are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// Complete when the level is met.
    Level,
    /// Batch replay: every replica either acknowledges or gets a hint.
    Replay,
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

    fn topology(&self) -> Arc<Topology> {
        let version = self.membership.topology_version();
        let mut cached = self.topology.lock();
        if let Some(t) = cached.as_ref().filter(|t| t.version == version) {
            return t.clone();
        }
        let t = Arc::new(Topology::build(&*self.membership));
        *cached = Some(t.clone());
        t
    }

    fn is_local(&self, topo: &Topology, e: &Endpoint) -> bool {
        topo.local
            .and_then(|l| topo.nodes.get(&l))
            .is_some_and(|l| l.address == e.address)
    }

    fn alive(&self, topo: &Topology, e: &Endpoint) -> bool {
        self.is_local(topo, e) || self.membership.is_alive(e.address)
    }

    fn replicas(&self, topo: &Topology, ks: &Keyspace, token: i64) -> Result<Vec<Endpoint>> {
        let placement = topo.placement(ks)?;
        Ok(topo.endpoints(placement.map.replicas(Token::new(token))))
    }

    fn window_seconds(&self) -> u32 {
        u32::try_from(self.config.max_hint_window.as_secs()).unwrap_or(u32::MAX)
    }

    /// Stores a hint for `target`; false when hinted handoff is off or storing failed.
    fn hint(&self, target: Uuid, mutation: &WireMutation) -> bool {
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

    fn followup(&self, f: Followup) {
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

    // ---------------------------------------------------------------- writes

    fn wire_writes(&self, writes: &[TableWrite<'_>]) -> Result<Vec<(Keyspace, WireMutation)>> {
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
    fn write_mutations(
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
            if mode == WriteMode::Level {
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
                if *a {
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
                WriteMode::Level => plans
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

    /// A logged batch: batchlog, mutations, batchlog removal.
    fn write_logged(
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
    fn batchlog_endpoints(&self, topo: &Topology, key: &BatchlogKey) -> Vec<Endpoint> {
        let mut others: Vec<Endpoint> = topo
            .nodes
            .iter()
            .filter(|(id, e)| {
                Some(**id) != topo.local
                    && e.dc == self.local_dc
                    && self.membership.is_alive(e.address)
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

    // ---------------------------------------------------------------- reads

    fn read_timeout(&self, cmd: &ReadCommand) -> Duration {
        match cmd.partitions {
            PartitionRange::Single { .. } => self.config.read_request_timeout,
            PartitionRange::Tokens { .. } => self.config.range_request_timeout,
        }
    }

    fn speculation_threshold(&self) -> Option<Duration> {
        match self.config.speculative_retry {
            SpeculativeRetry::None => None,
            SpeculativeRetry::Fixed(d) => Some(d),
            SpeculativeRetry::Percentile(p) => self.latencies.lock().percentile(p),
        }
    }

    /// Live replicas in the order reads contact them: this node, its datacenter, the others;
    /// only the local datacenter for LOCAL_ levels.
    fn read_candidates(
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
    fn read_targets(&self, req: &Requirement, candidates: &[Endpoint]) -> Vec<usize> {
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
    fn read_replicas(
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
                        Ok(response::Body::Ack(_) | response::Body::Failure(_)) => {
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

    /// Blocking read repair: sends each replica what it lacks of `merged` and waits until as
    /// many replicas as the level needs hold it.
    #[allow(clippy::too_many_arguments)]
    fn repair(
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

    /// A token-range read: one read per ring range the request covers, in token order, until
    /// the limit is reached.
    fn read_range(
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

    // ---------------------------------------------------------------- background work

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

    /// Truncates a table on every node of the ring (Cassandra's `truncateBlocking`): refused
    /// as Unavailable at ALL unless every node is alive, then every node must confirm within
    /// `truncate_request_timeout`, else a truncate error. Rows written meanwhile may survive
    /// on some nodes, as in Cassandra.
    pub fn truncate(&self, keyspace: &str, table: &str) -> Result<()> {
        let topo = self.topology();
        let mut nodes: Vec<Endpoint> = topo.nodes.values().cloned().collect();
        nodes.sort_by_key(|e| e.address);
        if nodes.is_empty() {
            // Not in the ring yet: only this node's data exists.
            return self
                .local
                .store
                .truncate(keyspace, table)
                .map_err(|e| Error::server(format!("truncate failed: {e}")));
        }
        let alive = nodes.iter().filter(|e| self.alive(&topo, e)).count();
        if alive < nodes.len() {
            return self.count(Err(Error::Unavailable {
                consistency: Consistency::All,
                required: i32::try_from(nodes.len()).unwrap_or(i32::MAX),
                alive: i32::try_from(alive).unwrap_or(i32::MAX),
            }));
        }
        let payload = Request::new(request::Body::Truncate(messages::TruncateRequest {
            keyspace: keyspace.to_owned(),
            table: table.to_owned(),
        }))
        .to_bytes();
        let timeout = self.config.truncate_request_timeout;
        let deadline = Instant::now() + timeout;
        let mut inflight: Inflight<usize> = Inflight::new();
        for (i, e) in nodes.iter().enumerate() {
            inflight.push(i, self.send(&topo, e, payload.clone(), timeout));
        }
        let mut acked = 0;
        while acked < nodes.len() {
            let Some((i, answer)) = inflight.next(deadline) else {
                break;
            };
            let Some(e) = nodes.get(i) else { continue };
            if let Err(err) = answer.and_then(|b| ack_of(e.address, &b)) {
                return Err(Error::truncate(format!(
                    "Error during truncate: {}: {err}",
                    e.address
                )));
            }
            acked += 1;
        }
        if acked < nodes.len() {
            return Err(Error::truncate(format!(
                "Truncate timed out - received only {acked} responses of {}",
                nodes.len()
            )));
        }
        Ok(())
    }

    /// Counts the failure kinds operators watch.
    fn count<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            let c = &self.local.counters;
            match e {
                Error::Unavailable { .. } => Counters::add(&c.unavailables, 1),
                Error::ReadTimeout { .. } => Counters::add(&c.read_timeouts, 1),
                Error::WriteTimeout { .. } => Counters::add(&c.write_timeouts, 1),
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

/// Rows as a limit counts them (a partition with only static cells is one row).
fn count_rows(r: &WireResult) -> u32 {
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

fn last_position(r: &WireResult) -> Option<PagingPosition> {
    let p = r.partitions.last()?;
    Some(PagingPosition {
        token: p.token,
        partition_key: p.key.clone(),
        clustering: None,
        rows_in_partition: u32::try_from(p.rows.len()).unwrap_or(u32::MAX),
    })
}

fn followup_worker(rx: mpsc::Receiver<Followup>, local: Weak<LocalReplica>, window: u32) {
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

    fn read(
        &self,
        keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        consistency: Consistency,
    ) -> Result<ReadResult> {
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
