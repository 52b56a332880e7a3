//! Roles and permissions across two nodes that replicate `system_auth` (SimpleStrategy, one
//! replica): a role created through one node logs in through the other, and a grant made on
//! one node reaches the other's cached permissions once `permissions_validity` has passed.

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ilion_coordinator::cluster::BoxFuture;
use ilion_coordinator::{
    AuthConfig, Authenticator, Authorizer, Cluster, Coordinator, CoordinatorConfig, Error, Member,
    Membership, MessagingError, Messenger, Session,
};
use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};
use ilion_storage::ManualClock;
use parking_lot::Mutex;

const NODES: usize = 2;

fn addr(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, u8::try_from(i + 1).unwrap_or(1)])
}

/// Every node answers every message at once.
#[derive(Debug)]
struct Net(Mutex<Vec<Option<Arc<Coordinator>>>>, Vec<Member>);

#[derive(Debug)]
struct Node(Arc<Net>, usize);

impl Messenger for Node {
    fn request(
        &self,
        to: IpAddr,
        payload: Bytes,
        _timeout: Duration,
    ) -> BoxFuture<Result<Bytes, MessagingError>> {
        let i = (0..NODES).find(|i| addr(*i) == to).unwrap();
        let node = self.0.0.lock()[i].clone().unwrap();
        let answer =
            node.handle_message(addr(self.1), payload)
                .map_err(|e| MessagingError::Remote {
                    address: to,
                    reason: e.to_string(),
                });
        Box::pin(std::future::ready(answer))
    }
}

impl Membership for Node {
    fn local_address(&self) -> IpAddr {
        addr(self.1)
    }
    fn members(&self) -> Vec<Member> {
        self.0.1.clone()
    }
    fn topology_version(&self) -> u64 {
        1
    }
    fn is_alive(&self, _: IpAddr) -> bool {
        true
    }
}

fn cluster(
    validity: Duration,
) -> (
    Vec<Arc<Coordinator>>,
    Vec<Arc<ManualClock>>,
    Vec<tempfile::TempDir>,
) {
    let net = Arc::new(Net(
        Mutex::new(vec![None; NODES]),
        (0..NODES)
            .map(|i| common::member(i, NODES, 8, "dc1".into()))
            .collect(),
    ));
    let (mut nodes, mut clocks, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..NODES {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let mut c = Coordinator::builder(CoordinatorConfig {
            listen_address: addr(i),
            native_address: addr(i),
            data_center: "dc1".into(),
            num_tokens: 8,
            ..common::config(dir.path())
        })
        .clock(clock.clone())
        .in_memory()
        .auth(AuthConfig {
            authenticator: Authenticator::Password,
            authorizer: Authorizer::Cassandra,
            roles_validity: validity,
            permissions_validity: validity,
        })
        .open()
        .unwrap();
        c.enable_replication(Cluster::new(
            Arc::new(Node(net.clone(), i)),
            Arc::new(Node(net.clone(), i)),
        ));
        let c = Arc::new(c);
        net.0.lock()[i] = Some(c.clone());
        nodes.push(c);
        clocks.push(clock);
        dirs.push(dir);
    }
    (nodes, clocks, dirs)
}

fn run(c: &Coordinator, user: &str, text: &str) -> Result<ResultBody, Error> {
    c.query_as(
        Some(user),
        &Session::default(),
        text,
        &QueryParameters::new(Consistency::One),
    )
    .map(|e| e.result)
}

#[test]
fn a_role_made_on_one_node_logs_in_on_the_other_and_grants_reach_it_after_the_validity() {
    let (nodes, clocks, _dirs) = cluster(Duration::from_secs(10));
    nodes[0].setup_auth().unwrap();
    // The other node finds roles: it does not create a second default superuser.
    nodes[1].setup_auth().unwrap();
    for n in &nodes {
        run(
            n,
            "cassandra",
            "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}",
        )
        .unwrap();
        run(n, "cassandra", "CREATE TABLE ks.t (k int PRIMARY KEY)").unwrap();
    }
    run(
        &nodes[0],
        "cassandra",
        "CREATE ROLE alice WITH PASSWORD = 'pw' AND LOGIN = true",
    )
    .unwrap();
    for n in &nodes {
        assert_eq!(n.authenticate(b"\0alice\0pw").unwrap(), "alice");
    }
    let refusal = "User alice has no SELECT permission on <table ks.t> or any of its parents";
    assert!(matches!(
        run(&nodes[1], "alice", "SELECT * FROM ks.t"),
        Err(Error::Unauthorized { message }) if message == refusal
    ));
    run(&nodes[0], "cassandra", "GRANT SELECT ON ks.t TO alice").unwrap();
    // At once on the node that granted; the other still answers from its cache...
    run(&nodes[0], "alice", "SELECT * FROM ks.t").unwrap();
    assert!(matches!(
        run(&nodes[1], "alice", "SELECT * FROM ks.t"),
        Err(Error::Unauthorized { message }) if message == refusal
    ));
    // ... until its entries are older than permissions_validity.
    clocks[1].advance(11);
    run(&nodes[1], "alice", "SELECT * FROM ks.t").unwrap();
}

/// How many `system_auth.roles` partitions `node` stores itself.
fn stored_roles(node: &Coordinator) -> u32 {
    node.stream_page("system_auth", "roles", (None, None), None, 1000, &[])
        .unwrap()
        .partitions
}

/// `system_schema.keyspaces.replication` of `system_auth` as `node` shows it.
fn system_auth_replication(node: &Coordinator) -> String {
    let Ok(ResultBody::Rows(rows)) = run(
        node,
        "cassandra",
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'",
    ) else {
        panic!("no rows");
    };
    let columns = rows.metadata.columns.clone().unwrap();
    let cells = rows.rows().next().unwrap();
    format!(
        "{:?}",
        columns[0].ty.decode(cells[0].as_ref().unwrap()).unwrap()
    )
}

/// Sets `system_auth` to SimpleStrategy with `rf` replicas through `node`; the warnings.
fn alter_system_auth(node: &Coordinator, rf: u32) -> Vec<String> {
    let alter = format!(
        "ALTER KEYSPACE system_auth WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"
    );
    node.query_as(
        Some("cassandra"),
        &Session::default(),
        &alter,
        &QueryParameters::new(Consistency::One),
    )
    .unwrap()
    .warnings
}

#[test]
fn alter_keyspace_system_auth_replicates_new_roles_to_every_node_once_the_schema_spreads() {
    let (nodes, _clocks, _dirs) = cluster(Duration::from_secs(10));
    nodes[0].setup_auth().unwrap();
    nodes[1].setup_auth().unwrap();
    for i in 0..8 {
        let create = format!("CREATE ROLE early{i} WITH PASSWORD = 'pw' AND LOGIN = true");
        run(&nodes[0], "cassandra", &create).unwrap();
    }
    // One replica each: the nine roles (the default superuser too) are split between the nodes.
    assert_eq!(stored_roles(&nodes[0]) + stored_roles(&nodes[1]), 9);
    let one_replica = system_auth_replication(&nodes[1]);
    assert!(one_replica.contains("Text(\"1\")"), "{one_replica}");

    assert_eq!(
        alter_system_auth(&nodes[0], 2),
        vec![
            "When increasing replication factor you need to run a full (-full) repair to \
             distribute the data."
        ]
    );
    assert_ne!(nodes[0].schema_version(), nodes[1].schema_version());
    nodes[1].merge_schema(&nodes[0].schema()).unwrap();
    assert_eq!(nodes[0].schema_version(), nodes[1].schema_version());
    for n in &nodes {
        let shown = system_auth_replication(n);
        assert!(shown.contains("Text(\"2\")"), "{shown}");
        assert_eq!(n.movable_keyspaces().unwrap().len(), 1);
        assert_eq!(
            n.movable_keyspaces().unwrap()[0].replication["replication_factor"],
            "2"
        );
    }
    let before = [stored_roles(&nodes[0]), stored_roles(&nodes[1])];
    for i in 0..4 {
        let create = format!("CREATE ROLE late{i} WITH PASSWORD = 'pw' AND LOGIN = true");
        run(&nodes[1], "cassandra", &create).unwrap();
    }
    // Two replicas: every new role is on both nodes (and read repair may have copied the
    // superuser's row, read at QUORUM to authorize each statement).
    assert!(stored_roles(&nodes[0]) >= before[0] + 4);
    assert!(stored_roles(&nodes[1]) >= before[1] + 4);
    for n in &nodes {
        assert_eq!(n.authenticate(b"\0late3\0pw").unwrap(), "late3");
    }
    // Lowering it back warns of nothing; the local system keyspaces stay unchangeable, and
    // system_auth keeps its commit log.
    assert!(alter_system_auth(&nodes[0], 1).is_empty());
    assert!(matches!(
        run(&nodes[0], "cassandra", "ALTER KEYSPACE system WITH replication = \
             {'class': 'SimpleStrategy', 'replication_factor': 2}"),
        Err(Error::Invalid { message }) if message == "system keyspace is not user-modifiable"
    ));
    assert!(matches!(
        run(&nodes[0], "cassandra", "ALTER KEYSPACE system_auth WITH durable_writes = false"),
        Err(Error::Config { message }) if message.starts_with("durable_writes = false is not allowed")
    ));
}
