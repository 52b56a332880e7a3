//! An in-memory cluster for the replication and counter tests: coordinators joined by a
//! messenger whose nodes can be up, down, silent, hung, or dropping mutations.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use ilion_coordinator::cluster::BoxFuture;
use ilion_coordinator::{
    Cluster, Coordinator, CoordinatorConfig, DataPath, Error, Member, Membership, MessagingError,
    Messenger, ReplicationConfig, Session, SpeculativeRetry, TableWrite,
};
use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};
use ilion_storage::{ManualClock, ReadCommand, TombstoneThresholds};
use parking_lot::Mutex;

/// How node `i` treats requests sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// Down, and every failure detector knows it.
    Down,
    /// Believed alive, never answers: requests time out at once.
    Silent,
    /// Believed alive, answers only when the request's timeout has passed (a real wait).
    Hung,
    /// Answers everything but mutations, which time out.
    DropsMutations,
    /// Applies mutations but its acknowledgement is lost: the sender sees a timeout (and
    /// hints the mutation, which then arrives a second time).
    LosesAcks,
}

#[derive(Debug)]
pub struct Net {
    pub nodes: Mutex<Vec<Option<Arc<Coordinator>>>>,
    pub modes: Mutex<Vec<Mode>>,
    /// Per node: which others it believes down regardless of their mode (an isolated view).
    pub isolated: Mutex<Vec<bool>>,
    pub members: Vec<Member>,
    pub sent: AtomicUsize,
}

pub fn addr(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, u8::try_from(i + 1).unwrap()])
}

pub fn index(a: IpAddr) -> usize {
    match a {
        IpAddr::V4(v) => usize::from(v.octets()[3]) - 1,
        IpAddr::V6(_) => unreachable!(),
    }
}

/// An answer to come, and the waker of whoever waits for it.
pub type Slot = Arc<Mutex<(Option<Result<Bytes, MessagingError>>, Option<Waker>)>>;

/// A future resolved by another thread after a delay.
pub struct Later {
    pub slot: Slot,
}

impl std::future::Future for Later {
    type Output = Result<Bytes, MessagingError>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        match s.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[derive(Debug)]
pub struct TestMessenger {
    pub net: Arc<Net>,
    pub me: usize,
}

impl Messenger for TestMessenger {
    fn request(
        &self,
        to: IpAddr,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, MessagingError>> {
        self.net.sent.fetch_add(1, Ordering::SeqCst);
        let i = index(to);
        let mode = self.net.modes.lock()[i];
        let timed_out = MessagingError::Timeout {
            address: to,
            timeout,
        };
        match mode {
            Mode::Down | Mode::Silent => Box::pin(std::future::ready(Err(timed_out))),
            Mode::Hung => {
                let slot: Slot = Arc::new(Mutex::new((None, None)));
                let s2 = slot.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(timeout);
                    let mut s = s2.lock();
                    s.0 = Some(Err(timed_out));
                    if let Some(w) = s.1.take() {
                        w.wake();
                    }
                });
                Box::pin(Later { slot })
            }
            Mode::DropsMutations
                if matches!(
                    ilion_coordinator::replication::messages::Request::decode_bytes(&payload),
                    Ok(ilion_coordinator::replication::messages::request::Body::Mutation(_))
                ) =>
            {
                Box::pin(std::future::ready(Err(timed_out)))
            }
            Mode::LosesAcks
                if matches!(
                    ilion_coordinator::replication::messages::Request::decode_bytes(&payload),
                    Ok(ilion_coordinator::replication::messages::request::Body::Mutation(_))
                ) =>
            {
                let node = self.net.nodes.lock()[i].clone().unwrap();
                let _ = node.handle_message(addr(self.me), payload);
                Box::pin(std::future::ready(Err(timed_out)))
            }
            Mode::Up | Mode::DropsMutations | Mode::LosesAcks => {
                let node = self.net.nodes.lock()[i].clone().unwrap();
                let answer = node.handle_message(addr(self.me), payload).map_err(|e| {
                    MessagingError::Remote {
                        address: to,
                        reason: e.to_string(),
                    }
                });
                Box::pin(std::future::ready(answer))
            }
        }
    }
}

#[derive(Debug)]
pub struct TestMembership {
    pub net: Arc<Net>,
    pub me: usize,
}

impl Membership for TestMembership {
    fn local_address(&self) -> IpAddr {
        addr(self.me)
    }
    fn members(&self) -> Vec<Member> {
        self.net.members.clone()
    }
    fn topology_version(&self) -> u64 {
        1
    }
    fn is_alive(&self, a: IpAddr) -> bool {
        let i = index(a);
        i == self.me
            || (!self.net.isolated.lock()[self.me] && self.net.modes.lock()[i] != Mode::Down)
    }
}

pub struct TestCluster {
    pub net: Arc<Net>,
    pub nodes: Vec<Arc<Coordinator>>,
    pub clocks: Vec<Arc<ManualClock>>,
    pub _dirs: Vec<tempfile::TempDir>,
}

pub fn config() -> ReplicationConfig {
    ReplicationConfig {
        write_request_timeout: Duration::from_millis(300),
        counter_write_request_timeout: Duration::from_millis(600),
        read_request_timeout: Duration::from_millis(300),
        range_request_timeout: Duration::from_millis(300),
        speculative_retry: SpeculativeRetry::None,
        ..ReplicationConfig::default()
    }
}

/// `dcs` datacenters of `per_dc` nodes; node i has tokens spread evenly, interleaved.
pub fn cluster_with(
    dcs: usize,
    per_dc: usize,
    replication: &str,
    cfg: ReplicationConfig,
) -> TestCluster {
    cluster_shaped(
        dcs,
        per_dc,
        replication,
        cfg,
        TombstoneThresholds::default(),
        |_| {},
    )
}

/// [`cluster_with`], each node's reads limited to `thresholds` tombstones.
pub fn cluster_with_thresholds(
    dcs: usize,
    per_dc: usize,
    replication: &str,
    cfg: ReplicationConfig,
    thresholds: TombstoneThresholds,
) -> TestCluster {
    cluster_shaped(dcs, per_dc, replication, cfg, thresholds, |_| {})
}

/// [`cluster_with`], with tombstone thresholds and the members changed by `shape` first (a
/// joining node, ...).
pub fn cluster_shaped(
    dcs: usize,
    per_dc: usize,
    replication: &str,
    cfg: ReplicationConfig,
    thresholds: TombstoneThresholds,
    shape: impl FnOnce(&mut Vec<Member>),
) -> TestCluster {
    let n = dcs * per_dc;
    let mut members: Vec<Member> = (0..n)
        .map(|i| super::member(i, n, 4, format!("dc{}", i / per_dc + 1)))
        .collect();
    shape(&mut members);
    let net = Arc::new(Net {
        nodes: Mutex::new(vec![None; n]),
        modes: Mutex::new(vec![Mode::Up; n]),
        isolated: Mutex::new(vec![false; n]),
        members: members.clone(),
        sent: AtomicUsize::new(0),
    });
    let mut nodes = Vec::new();
    let mut clocks = Vec::new();
    let mut dirs = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let mut c = Coordinator::builder(CoordinatorConfig {
            cluster_name: "test".into(),
            listen_address: addr(i),
            native_address: addr(i),
            native_port: 9042,
            storage_port: 7000,
            data_center: m.data_center.clone(),
            rack: "r1".into(),
            num_tokens: 4,
            data_dir: dir.path().to_owned(),
        })
        .clock(clock.clone())
        .tombstone_thresholds(thresholds)
        .in_memory()
        .open()
        .unwrap();
        c.enable_replication(Cluster {
            membership: Arc::new(TestMembership {
                net: net.clone(),
                me: i,
            }),
            messenger: Arc::new(TestMessenger {
                net: net.clone(),
                me: i,
            }),
            config: cfg.clone(),
        });
        for stmt in [
            format!("CREATE KEYSPACE ks WITH replication = {replication}"),
            "CREATE TABLE ks.kv (k int PRIMARY KEY, v text)".to_owned(),
        ] {
            c.query(
                &Session::default(),
                &stmt,
                &QueryParameters::new(Consistency::One),
            )
            .unwrap();
        }
        let c = Arc::new(c);
        net.nodes.lock()[i] = Some(c.clone());
        nodes.push(c);
        clocks.push(clock);
        dirs.push(dir);
    }
    TestCluster {
        net,
        nodes,
        clocks,
        _dirs: dirs,
    }
}

pub const RF3: &str = "{'class': 'SimpleStrategy', 'replication_factor': 3}";
/// NetworkTopologyStrategy with 3 replicas in each of dc1 and dc2. (CREATE KEYSPACE validates
/// datacenters against this node's own only, so the tests hand the map to the data path.)
pub fn nts33() -> std::collections::BTreeMap<String, String> {
    [
        (
            "class",
            "org.apache.cassandra.locator.NetworkTopologyStrategy",
        ),
        ("dc1", "3"),
        ("dc2", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestCluster {
    pub fn set(&self, i: usize, mode: Mode) {
        self.net.modes.lock()[i] = mode;
    }

    /// Node `i` believes every other node down (so it reads and writes only itself).
    pub fn isolate(&self, i: usize, on: bool) {
        self.net.isolated.lock()[i] = on;
    }

    pub fn write(
        &self,
        node: usize,
        key: i32,
        value: &str,
        ts: i64,
        cl: Consistency,
    ) -> Result<(), Error> {
        self.nodes[node]
            .query(
                &Session::default(),
                &format!("INSERT INTO ks.kv (k, v) VALUES ({key}, '{value}') USING TIMESTAMP {ts}"),
                &QueryParameters::new(cl),
            )
            .map(|_| ())
    }

    pub fn read(&self, node: usize, key: i32, cl: Consistency) -> Result<Option<String>, Error> {
        Ok(self
            .first_cell(node, &format!("SELECT v FROM ks.kv WHERE k = {key}"), cl)?
            .map(|b| String::from_utf8(b.to_vec()).unwrap()))
    }

    /// The first column of the first row `select` returns through node `node` at `cl`.
    pub fn first_cell(
        &self,
        node: usize,
        select: &str,
        cl: Consistency,
    ) -> Result<Option<Bytes>, Error> {
        let r = self.nodes[node].query(&Session::default(), select, &QueryParameters::new(cl))?;
        let ResultBody::Rows(rows) = r else {
            panic!("not rows")
        };
        Ok(rows.rows().next().and_then(|r| r[0].clone()))
    }

    /// What node `i` alone holds for `key`.
    pub fn local_value(&self, i: usize, key: i32) -> Option<String> {
        self.isolate(i, true);
        let v = self.read(i, key, Consistency::One);
        self.isolate(i, false);
        match v {
            Ok(v) => v,
            // Not a replica of `key`.
            Err(Error::Unavailable { .. }) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// A write through the data path, with the keyspace's replication map replaced by `map`.
    pub fn dp_write(
        &self,
        node: usize,
        map: &std::collections::BTreeMap<String, String>,
        key: i32,
        value: &str,
        ts: i64,
        cl: Consistency,
    ) -> Result<(), Error> {
        let schema = self.nodes[node].schema();
        let mut ks = schema.keyspace("ks").unwrap().clone();
        ks.replication = map.clone();
        let table = ks.tables.get("kv").unwrap();
        let data = self.replication(node);
        let v = data.table_schema(table).unwrap().column_id("v").unwrap();
        let k = key.to_be_bytes().to_vec();
        let token = ilion_ring::Murmur3Partitioner.token(&k).value();
        let mut m = ilion_storage::Mutation::new(token, k, 1_700_000_000);
        m.row(Vec::new()).set(v, ts, value.as_bytes().to_vec());
        data.write(
            &[TableWrite {
                keyspace: &ks,
                table,
                mutation: m,
            }],
            cl,
            false,
        )
    }

    pub fn dp_read(
        &self,
        node: usize,
        map: &std::collections::BTreeMap<String, String>,
        key: i32,
        cl: Consistency,
    ) -> Result<Option<String>, Error> {
        let schema = self.nodes[node].schema();
        let mut ks = schema.keyspace("ks").unwrap().clone();
        ks.replication = map.clone();
        let table = ks.tables.get("kv").unwrap();
        let k = key.to_be_bytes().to_vec();
        let token = ilion_ring::Murmur3Partitioner.token(&k).value();
        let r = self
            .replication(node)
            .read(&ks, table, &ReadCommand::partition(token, k), cl)?;
        Ok(r.partitions
            .first()
            .and_then(|p| p.rows.first())
            .and_then(|row| row.cells.first())
            .map(|c| String::from_utf8(c.value.clone()).unwrap()))
    }

    pub fn replication(&self, i: usize) -> &Arc<ilion_coordinator::Replication> {
        self.nodes[i].replication().unwrap()
    }
}
