//! `ilion-sim`: whole-cluster scenarios of Ilion on a seeded, simulated network.
//!
//! A [`Sim`] runs N real [`Coordinator`]s (each with its own in-memory store and
//! [`ManualClock`]) joined by a simulated network that implements the coordinator's
//! [`Messenger`] and [`Membership`] seams. Everything runs on the calling thread: a request is
//! delivered (or dropped, or queued for later, or its answer lost) the moment it is sent, as a
//! seeded random generator decides, so a seed replays exactly. Between client operations the
//! simulation crashes and restarts nodes, partitions and heals links, lets the failure
//! detector catch up, delivers late messages, advances the clocks and runs hint delivery and
//! batchlog replay. Writes are single INSERTs (CQL) and logged batches of two partitions
//! (through the data path, so through the batchlog).
//!
//! The check ([`Sim::run`]): a write acknowledged at QUORUM (or ALL) is never lost, and a
//! QUORUM read that starts after it finished sees it or something newer (by write timestamp:
//! every write has a unique timestamp and writes it as its value).
//!
//! ```
//! let report = ilion_sim::Sim::new(ilion_sim::SimConfig { seed: 7, operations: 60, ..ilion_sim::SimConfig::default() })?
//!     .run()?;
//! assert!(report.acknowledged_writes > 0);
//! # Ok::<(), ilion_sim::SimError>(())
//! ```
//!
//! [`Sim::run_lwt`] plays lightweight transactions instead: compare-and-set and SERIAL reads
//! under the same faults, the history checked by [`linearizability`].
//!
//! What it is not: a model of concurrent clients (operations run one at a time), of disk
//! failures (a crashed node keeps its store, as with a synced commit log), or of time-based
//! behaviour such as speculative retry (delays are "delivered later", not durations).

pub mod linearizability;
mod lwt;
mod movement;
mod net;
mod repair;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::{
    Cluster, Coordinator, CoordinatorConfig, Member, MemberStatus, ReplicationConfig, Session,
    SpeculativeRetry,
};
use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};
use ilion_storage::ManualClock;
pub use lwt::LwtReport;
pub use movement::Movement;
use net::{Net, NetState, SimMembership, SimMessenger, address};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// What went wrong in a simulation: a broken invariant names the seed to replay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("seed {seed}: {what}")]
    Violation { seed: u64, what: String },
    #[error("seed {seed}: setting the cluster up failed: {reason}")]
    Setup { seed: u64, reason: String },
}

/// A scenario's knobs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    pub replication_factor: usize,
    /// Client operations to run.
    pub operations: usize,
    /// Distinct partition keys written and read.
    pub keys: i32,
    /// Probability that a request is lost.
    pub drop: f64,
    /// Probability that a request arrives only later (the sender sees a timeout).
    pub delay: f64,
    /// Probability that a delivered request's answer is lost.
    pub drop_answer: f64,
    /// Probability, per operation, of a crash, a restart, a partition, a heal.
    pub crash: f64,
    pub partition: f64,
    /// A range movement played a third of the way through ([`Movement`]): the nodes it
    /// changes become pending replicas (taking writes on top of what the level needs, serving
    /// no reads), the ranges stream with the real streaming code while operations and faults
    /// go on, and the ring change completes when every range is in.
    pub movement: Movement,
    /// Deletes, compactions and repairs among the operations ([`Sim::repair`]), and a final
    /// repair and compaction on every node before the last check: every replica then holds
    /// the same data and no deleted row has come back. Needs `replication_factor == nodes`.
    pub repair: bool,
    /// Appended to `CREATE TABLE sim.kv (...)`, e.g. `WITH gc_grace_seconds = 0`.
    pub table_options: String,
    /// Hinted handoff (on by default).
    pub hints: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            nodes: 3,
            replication_factor: 3,
            operations: 300,
            keys: 8,
            drop: 0.05,
            delay: 0.05,
            drop_answer: 0.05,
            crash: 0.03,
            partition: 0.03,
            movement: Movement::None,
            repair: false,
            table_options: String::new(),
            hints: true,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub acknowledged_writes: usize,
    pub failed_writes: usize,
    pub reads_checked: usize,
    pub failed_reads: usize,
    pub messages: usize,
    pub crashes: usize,
    pub hints_delivered: usize,
    /// Rows (partitions) a range movement streamed.
    pub streamed: usize,
    /// Deletes acknowledged.
    pub acknowledged_deletes: usize,
    /// Partitions repairs streamed between replicas.
    pub repaired_partitions: usize,
    /// Every event and outcome, in order: equal for equal seeds.
    pub trace: Vec<String>,
}

/// A simulated cluster.
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    net: Arc<Net>,
    clocks: Vec<Arc<ManualClock>>,
    /// Stopped nodes keep their coordinator (and store) here until they restart.
    parked: Vec<Option<Arc<Coordinator>>>,
    rng: StdRng,
    _dirs: Vec<tempfile::TempDir>,
    next_timestamp: i64,
    /// Per key: the newest timestamp acknowledged at QUORUM or ALL.
    acknowledged: BTreeMap<i32, i64>,
    /// Per key: the newest timestamp acknowledged at ALL (on every replica, pending ones
    /// included).
    acknowledged_all: BTreeMap<i32, i64>,
    /// Per key: the newest delete acknowledged at QUORUM or ALL: no read may see an older value.
    deleted: BTreeMap<i32, i64>,
    /// Per key: the newest delete tried, acknowledged or not (it may have been applied).
    delete_tried: BTreeMap<i32, i64>,
    report: Report,
    /// The range movement under way, if any.
    movement: Option<movement::Running>,
    /// Nodes out for good (left, replaced or removed): never restarted.
    gone: Vec<bool>,
}

const START_SECONDS: i64 = 1_700_000_000;

/// How far the clocks move before the final repair of a repair scenario: past any propagation
/// delay a scenario's table sets (keep theirs below it).
pub const FINAL_REPAIR_AFTER: i64 = 1_000_000;

impl Sim {
    /// Builds the cluster: nodes with seeded tokens, a keyspace `sim` with the configured
    /// replication factor and a table `sim.kv (k int PRIMARY KEY, v bigint)` on every node.
    pub fn new(config: SimConfig) -> Result<Sim, SimError> {
        let seed = config.seed;
        let setup = |reason: String| SimError::Setup { seed, reason };
        let mut rng = StdRng::seed_from_u64(seed);
        let n = config.nodes;
        let mut members: Vec<Member> = Vec::new();
        for i in 0..n {
            let mut tokens: Vec<i64> = (0..8).map(|_| rng.random::<i64>()).collect();
            tokens.sort_unstable();
            tokens.dedup();
            let last = i + 1 == n;
            // A replacement takes the dead node's tokens; until then it is not in the ring.
            if last
                && config.movement == Movement::Replace
                && let Some(victim) = members.last()
            {
                tokens.clone_from(&victim.tokens);
            }
            members.push(Member {
                address: address(i),
                host_id: Uuid::from_u128(i as u128 + 1),
                data_center: "datacenter1".into(),
                rack: "rack1".into(),
                tokens,
                status: match config.movement {
                    Movement::Join if last => MemberStatus::Joining,
                    Movement::Replace if last => MemberStatus::Left,
                    _ => MemberStatus::Normal,
                },
                alive: true,
                native_address: address(i),
                native_port: 9042,
                release_version: ilion_coordinator::RELEASE_VERSION.into(),
                schema_version: Uuid::nil(),
                load: 0.0,
                replaces: None,
                removing: None,
            });
        }
        let net = Arc::new(Net {
            state: Mutex::new(NetState {
                rng: StdRng::seed_from_u64(seed ^ 0x5eed),
                crashed: vec![false; n],
                cut: Vec::new(),
                view: vec![vec![true; n]; n],
                late: VecDeque::new(),
                messages: 0,
                drop: config.drop,
                delay: config.delay,
                drop_answer: config.drop_answer,
            }),
            nodes: Mutex::new(vec![None; n]),
            members: Mutex::new(members),
            topology_version: std::sync::atomic::AtomicU64::new(1),
        });
        let mut clocks = Vec::new();
        let mut dirs = Vec::new();
        let mut nodes = Vec::new();
        let ddl = [
            format!(
                "CREATE KEYSPACE sim WITH replication = {{'class': 'SimpleStrategy', \
                 'replication_factor': {}}}",
                config.replication_factor
            ),
            format!(
                "CREATE TABLE sim.kv (k int PRIMARY KEY, v bigint) {}",
                config.table_options
            ),
        ];
        for i in 0..n {
            let dir = tempfile::tempdir().map_err(|e| setup(e.to_string()))?;
            let clock = Arc::new(ManualClock::new(START_SECONDS));
            let mut c = Coordinator::builder(CoordinatorConfig {
                cluster_name: "sim".into(),
                listen_address: address(i),
                native_address: address(i),
                native_port: 9042,
                storage_port: 7000,
                data_center: "datacenter1".into(),
                rack: "rack1".into(),
                num_tokens: 8,
                data_dir: dir.path().to_owned(),
            })
            .clock(clock.clone())
            .in_memory()
            .open()
            .map_err(|e| setup(e.to_string()))?;
            c.enable_replication(Cluster {
                membership: Arc::new(SimMembership {
                    net: net.clone(),
                    me: i,
                }),
                messenger: Arc::new(SimMessenger {
                    net: net.clone(),
                    me: i,
                }),
                config: ReplicationConfig {
                    // Simulated time is not wall time: nothing here may depend on it.
                    write_request_timeout: Duration::from_secs(3600),
                    counter_write_request_timeout: Duration::from_secs(3600),
                    read_request_timeout: Duration::from_secs(3600),
                    range_request_timeout: Duration::from_secs(3600),
                    speculative_retry: SpeculativeRetry::None,
                    batchlog_replay_after: Duration::from_secs(4),
                    hinted_handoff_enabled: config.hints,
                    cas_contention_timeout: Duration::from_secs(3600),
                    cas_contention_backoff: Duration::ZERO,
                    ..ReplicationConfig::default()
                },
            });
            for stmt in &ddl {
                c.query(
                    &Session::default(),
                    stmt,
                    &QueryParameters::new(Consistency::One),
                )
                .map_err(|e| setup(e.to_string()))?;
            }
            clocks.push(clock);
            dirs.push(dir);
            nodes.push(Some(Arc::new(c)));
        }
        *net.nodes.lock() = nodes.clone();
        Ok(Sim {
            rng,
            net,
            clocks,
            parked: vec![None; n],
            _dirs: dirs,
            next_timestamp: 1,
            acknowledged: BTreeMap::new(),
            acknowledged_all: BTreeMap::new(),
            deleted: BTreeMap::new(),
            delete_tried: BTreeMap::new(),
            report: Report::default(),
            movement: movement::Running::new(config.movement),
            gone: vec![false; n],
            config,
        })
    }

    fn bump_topology(&self) {
        self.net
            .topology_version
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn violation(&self, what: String) -> SimError {
        // `ILION_SIM_TRACE=1`: print the run's trace, to see how the seed got there.
        if std::env::var_os("ILION_SIM_TRACE").is_some() {
            for line in &self.report.trace {
                eprintln!("{line}");
            }
        }
        SimError::Violation {
            seed: self.config.seed,
            what,
        }
    }

    fn node(&self, i: usize) -> Option<Arc<Coordinator>> {
        self.net.nodes.lock().get(i).cloned().flatten()
    }

    fn live_nodes(&self) -> Vec<usize> {
        (0..self.config.nodes)
            .filter(|i| self.node(*i).is_some())
            .collect()
    }

    fn trace(&mut self, line: String) {
        self.report.trace.push(line);
    }

    fn acknowledge(&mut self, keys: &[i32], ts: i64, consistency: Consistency) {
        for &k in keys {
            if matches!(consistency, Consistency::Quorum | Consistency::All) {
                let e = self.acknowledged.entry(k).or_insert(0);
                *e = (*e).max(ts);
            }
            if consistency == Consistency::All {
                let e = self.acknowledged_all.entry(k).or_insert(0);
                *e = (*e).max(ts);
            }
        }
    }

    fn write(&mut self, node: usize, key: i32, consistency: Consistency) {
        let Some(c) = self.node(node) else { return };
        let ts = self.next_timestamp;
        self.next_timestamp += 1;
        let text = format!("INSERT INTO sim.kv (k, v) VALUES ({key}, {ts}) USING TIMESTAMP {ts}");
        let outcome = c.query(
            &Session::default(),
            &text,
            &QueryParameters::new(consistency),
        );
        match &outcome {
            Ok(_) => {
                self.report.acknowledged_writes += 1;
                self.acknowledge(&[key], ts, consistency);
            }
            Err(_) => self.report.failed_writes += 1,
        }
        self.trace(format!(
            "write n{node} k{key} ts{ts} {consistency:?} -> {}",
            outcome.map_or_else(|e| e.to_string(), |_| "ok".into())
        ));
    }

    /// Deletes `key` at a new timestamp through `node`; whether it was acknowledged.
    pub fn delete(&mut self, node: usize, key: i32, consistency: Consistency) -> bool {
        let Some(c) = self.node(node) else {
            return false;
        };
        let ts = self.next_timestamp;
        self.next_timestamp += 1;
        let tried = self.delete_tried.entry(key).or_insert(0);
        *tried = (*tried).max(ts);
        let text = format!("DELETE FROM sim.kv USING TIMESTAMP {ts} WHERE k = {key}");
        let outcome = c.query(
            &Session::default(),
            &text,
            &QueryParameters::new(consistency),
        );
        let acked = outcome.is_ok();
        if acked {
            self.report.acknowledged_deletes += 1;
            if matches!(consistency, Consistency::Quorum | Consistency::All) {
                let e = self.deleted.entry(key).or_insert(0);
                *e = (*e).max(ts);
            }
        }
        self.trace(format!(
            "delete n{node} k{key} ts{ts} {consistency:?} -> {}",
            outcome.map_or_else(|e| e.to_string(), |_| "ok".into())
        ));
        acked
    }

    /// Writes `key` at a new timestamp through `node`; whether it was acknowledged.
    pub fn insert(&mut self, node: usize, key: i32, consistency: Consistency) -> bool {
        let before = self.report.acknowledged_writes;
        self.write(node, key, consistency);
        self.report.acknowledged_writes > before
    }

    /// Node `i` stops (its store kept) and every failure detector learns it.
    pub fn stop(&mut self, i: usize) {
        self.crash(i);
        self.gossip();
    }

    /// Node `i` starts again and every failure detector learns it.
    pub fn start(&mut self, i: usize) {
        self.restart(i);
        self.gossip();
    }

    /// Every node's clock moves `seconds` forward.
    pub fn advance_clocks(&mut self, seconds: i64) {
        for c in &self.clocks {
            c.advance(seconds);
        }
        self.trace(format!("clocks +{seconds} s"));
    }

    /// Reads `key` at ALL through the first node that serves clients and checks it against
    /// every acknowledged write and delete.
    pub fn check_key(&mut self, key: i32) -> Result<(), SimError> {
        let reader = (0..self.config.nodes)
            .find(|i| self.serves_clients(*i))
            .unwrap_or(0);
        self.read(reader, key, Consistency::All)
    }

    /// A logged batch writing two keys through the coordinator's data path (and its batchlog).
    fn batch(
        &mut self,
        node: usize,
        keys: [i32; 2],
        consistency: Consistency,
    ) -> Result<(), SimError> {
        use ilion_coordinator::DataPath;
        let Some(c) = self.node(node) else {
            return Ok(());
        };
        let ts = self.next_timestamp;
        self.next_timestamp += 1;
        let schema = c.schema();
        let (Ok(ks), Some(r)) = (schema.keyspace("sim"), c.replication()) else {
            return Err(self.violation("the sim keyspace or replication is missing".into()));
        };
        let Some(table) = ks.tables.get("kv") else {
            return Err(self.violation("table sim.kv is missing".into()));
        };
        let v = r
            .table_schema(table)
            .ok()
            .and_then(|s| s.column_id("v"))
            .ok_or_else(|| self.violation("column v is missing".into()))?;
        let now = self.clocks.get(node).map_or(START_SECONDS, |c| {
            use ilion_storage::Clock;
            c.now_seconds()
        });
        let writes: Vec<ilion_coordinator::TableWrite<'_>> = keys
            .iter()
            .map(|k| {
                let key = k.to_be_bytes().to_vec();
                let token = ilion_ring::Murmur3Partitioner.token(&key).value();
                let mut m = ilion_storage::Mutation::new(token, key, now);
                m.row(Vec::new()).set(v, ts, ts.to_be_bytes().to_vec());
                ilion_coordinator::TableWrite {
                    keyspace: ks,
                    table,
                    mutation: m,
                }
            })
            .collect();
        let outcome = r.write(&writes, consistency, true);
        match &outcome {
            Ok(()) => {
                self.report.acknowledged_writes += 1;
                self.acknowledge(&keys, ts, consistency);
            }
            Err(_) => self.report.failed_writes += 1,
        }
        self.trace(format!(
            "batch n{node} k{keys:?} ts{ts} {consistency:?} -> {}",
            outcome.map_or_else(|e| e.to_string(), |()| "ok".into())
        ));
        Ok(())
    }

    /// The value of `key` read through `node` at `consistency` (`Ok(None)`: no row), or why
    /// the read failed.
    fn read_value(
        &self,
        node: usize,
        key: i32,
        consistency: Consistency,
    ) -> Result<Option<i64>, String> {
        let Some(c) = self.node(node) else {
            return Err(format!("n{node} is down"));
        };
        let text = format!("SELECT v FROM sim.kv WHERE k = {key}");
        match c.query(
            &Session::default(),
            &text,
            &QueryParameters::new(consistency),
        ) {
            Ok(ResultBody::Rows(rows)) => Ok(rows
                .rows()
                .next()
                .and_then(|r| r.first().cloned().flatten())
                .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
                .map(i64::from_be_bytes)),
            Ok(other) => Err(format!("a SELECT answered {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn read(&mut self, node: usize, key: i32, consistency: Consistency) -> Result<(), SimError> {
        if self.node(node).is_none() {
            return Ok(());
        }
        let seen = match self.read_value(node, key, consistency) {
            Ok(seen) => seen,
            Err(e) => {
                self.report.failed_reads += 1;
                self.trace(format!("read n{node} k{key} {consistency:?} -> {e}"));
                return Ok(());
            }
        };
        self.report.reads_checked += 1;
        self.trace(format!("read n{node} k{key} {consistency:?} -> {seen:?}"));
        let deleted = self.deleted.get(&key).copied().unwrap_or(0);
        if let Some(s) = seen
            && s < deleted
        {
            return Err(self.violation(format!(
                "read of k{key} at {consistency:?} on node {node} saw the value written at \
                 {s}, deleted at {deleted} by an acknowledged delete: the row came back"
            )));
        }
        // A delete newer than the write, even one not acknowledged, may have won.
        let tried = self.delete_tried.get(&key).copied().unwrap_or(0);
        if let Some(acked) = self.acknowledged.get(&key).copied()
            && matches!(consistency, Consistency::Quorum | Consistency::All)
            && match seen {
                Some(s) => s < acked,
                None => tried < acked,
            }
        {
            return Err(self.violation(format!(
                "read of k{key} at {consistency:?} on node {node} saw {seen:?}, but the write \
                 at timestamp {acked} was acknowledged"
            )));
        }
        Ok(())
    }

    fn crash(&mut self, i: usize) {
        let taken = self.net.nodes.lock().get_mut(i).and_then(Option::take);
        if let Some(c) = taken {
            self.parked[i] = Some(c);
            let mut s = self.net.state.lock();
            if let Some(x) = s.crashed.get_mut(i) {
                *x = true;
            }
            s.late.retain(|(_, to, _)| *to != i);
            self.report.crashes += 1;
        }
        self.trace(format!("crash n{i}"));
    }

    fn restart(&mut self, i: usize) {
        if self.gone.get(i).copied().unwrap_or(true) {
            return;
        }
        if let Some(c) = self.parked.get_mut(i).and_then(Option::take) {
            if let Some(slot) = self.net.nodes.lock().get_mut(i) {
                *slot = Some(c);
            }
            if let Some(x) = self.net.state.lock().crashed.get_mut(i) {
                *x = false;
            }
        }
        self.trace(format!("restart n{i}"));
    }

    /// Cuts the link between `a` and `b` (both ways).
    fn cut(&mut self, a: usize, b: usize) {
        if a != b {
            self.net.state.lock().cut.push((a.min(b), a.max(b)));
            self.trace(format!("cut n{a}-n{b}"));
        }
    }

    /// Every cut link works again.
    fn heal(&mut self) {
        self.net.state.lock().cut.clear();
        self.trace("heal".into());
    }

    /// Every failure detector learns the truth.
    fn gossip(&mut self) {
        let mut s = self.net.state.lock();
        let n = s.crashed.len();
        for me in 0..n {
            for other in 0..n {
                let up = s.reachable(me, other);
                if let Some(v) = s.view.get_mut(me).and_then(|v| v.get_mut(other)) {
                    *v = up;
                }
            }
        }
        drop(s);
        // Liveness decides whether a removal counts (its coordinator must be up).
        self.bump_topology();
        self.trace("gossip".into());
    }

    fn deliver_late(&mut self, all: bool) {
        loop {
            let next = {
                let mut s = self.net.state.lock();
                if s.late.is_empty() {
                    None
                } else {
                    let len = s.late.len();
                    let at = s.rng.random_range(0..len);
                    s.late.remove(at)
                }
            };
            let Some((from, to, payload)) = next else {
                break;
            };
            let outcome = self.net.deliver(from, to, payload);
            self.trace(format!("late n{from}->n{to}: {}", outcome.is_ok()));
            if !all {
                break;
            }
        }
    }

    fn tick(&mut self) -> Result<(), SimError> {
        for c in &self.clocks {
            c.advance(1);
        }
        for i in self.live_nodes() {
            let Some(c) = self.node(i) else { continue };
            let Some(r) = c.replication() else { continue };
            let delivered = r
                .deliver_hints()
                .map_err(|e| self.violation(format!("hint delivery on n{i}: {e}")))?;
            let replayed = r
                .replay_batchlog()
                .map_err(|e| self.violation(format!("batchlog replay on n{i}: {e}")))?;
            self.report.hints_delivered += delivered;
            self.trace(format!("tick n{i}: {delivered} hints, {replayed} batches"));
        }
        Ok(())
    }

    /// Runs the scenario and checks the invariants; the report's trace replays with the seed.
    pub fn run(mut self) -> Result<Report, SimError> {
        let n = self.config.nodes;
        let levels = [
            Consistency::Quorum,
            Consistency::Quorum,
            Consistency::Quorum,
            Consistency::All,
            Consistency::One,
            Consistency::Two,
            Consistency::Any,
        ];
        for op in 0..self.config.operations {
            if self.moving() && op >= self.config.operations / 3 {
                self.movement_step()?;
            }
            let r: f64 = self.rng.random();
            let drawn = self.rng.random_range(0..n);
            // Clients only reach nodes that serve them (not one still joining, not one gone).
            let client = if self.serves_clients(drawn) {
                drawn
            } else {
                (0..n).find(|i| self.serves_clients(*i)).unwrap_or(0)
            };
            let key = self.rng.random_range(0..self.config.keys);
            let crash = self.config.crash;
            let partition = self.config.partition;
            if self.config.repair && r < 0.12 {
                // Deletes, compactions and repairs take part of the writes' share.
                let cl = levels[self.rng.random_range(0..levels.len())];
                if r < 0.08 {
                    self.delete(client, key, cl);
                } else if r < 0.1 {
                    self.compact(drawn)?;
                } else {
                    self.repair(drawn)?;
                }
            } else if r < 0.42 {
                let cl = levels[self.rng.random_range(0..levels.len())];
                self.write(client, key, cl);
            } else if r < 0.5 {
                let other = self.rng.random_range(0..self.config.keys);
                if other != key {
                    let cl = levels[self.rng.random_range(0..levels.len())];
                    self.batch(client, [key, other], cl)?;
                }
            } else if r < 0.8 {
                self.read(client, key, Consistency::Quorum)?;
            } else if r < 0.8 + crash {
                if self.parked.iter().all(Option::is_none) {
                    self.crash(drawn);
                }
            } else if r < 0.8 + crash + 0.05 {
                self.restart(drawn);
            } else if r < 0.8 + crash + 0.05 + partition {
                let other = self.rng.random_range(0..n);
                self.cut(drawn, other);
            } else if r < 0.8 + crash + 0.05 + partition + 0.03 {
                self.heal();
            } else if r < 0.95 {
                self.gossip();
            } else if r < 0.98 {
                self.deliver_late(false);
            } else {
                self.tick()?;
            }
        }
        // Heal everything, let hints and late messages arrive, then every acknowledged write
        // must be readable at ALL.
        for i in 0..n {
            self.restart(i);
        }
        self.net.state.lock().cut.clear();
        self.gossip();
        // A movement still under way finishes now (bounded: each step streams a page or ends).
        for _ in 0..100_000 {
            if !self.moving() {
                break;
            }
            self.movement_step()?;
        }
        if self.config.movement != Movement::None {
            self.check_replicas_hold_writes_acknowledged_at_all()?;
        }
        self.deliver_late(true);
        let saved = {
            let mut s = self.net.state.lock();
            let saved = (s.drop, s.delay, s.drop_answer);
            s.drop = 0.0;
            s.delay = 0.0;
            s.drop_answer = 0.0;
            saved
        };
        self.tick()?;
        if self.config.repair {
            // Past every propagation delay, a last repair and a major compaction everywhere:
            // the replicas agree, and what was deleted was purged without coming back.
            self.advance_clocks(FINAL_REPAIR_AFTER);
            if !self.repair(0)? {
                return Err(self.violation("the final repair could not run".into()));
            }
            for i in 0..n {
                self.compact(i)?;
            }
            if !self.replicas_agree()? {
                return Err(self.violation("the replicas differ after the final repair".into()));
            }
            self.trace("the replicas agree after the final repair".into());
        }
        let reader = (0..n).find(|i| self.serves_clients(*i)).unwrap_or(0);
        for key in 0..self.config.keys {
            self.read(reader, key, Consistency::All)?;
        }
        {
            let mut s = self.net.state.lock();
            (s.drop, s.delay, s.drop_answer) = saved;
            self.report.messages = s.messages;
        }
        Ok(self.report)
    }
}
