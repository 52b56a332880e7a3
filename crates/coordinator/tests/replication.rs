//! The distributed data path on in-memory clusters (3 nodes, and 2 datacenters of 3): every
//! consistency level, Unavailable and timeout counts, hints, read repair, range reads,
//! speculative retry and the batchlog.

mod common;

use common::net::*;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ilion_coordinator::{
    Cluster, Coordinator, CoordinatorConfig, DataPath, Error, FailureReason, MemberStatus,
    ReplicationConfig, Session, SpeculativeRetry, TableWrite,
};
use ilion_cql::protocol::{Consistency, QueryParameters, WriteType};
use ilion_storage::{ManualClock, ReadCommand, TombstoneThresholds};
use uuid::Uuid;

#[test]
fn every_level_writes_and_reads_when_all_replicas_are_up() {
    let c = cluster_with(1, 3, RF3, config());
    let levels = [
        Consistency::Any,
        Consistency::One,
        Consistency::Two,
        Consistency::Three,
        Consistency::Quorum,
        Consistency::All,
        Consistency::LocalOne,
        Consistency::LocalQuorum,
        Consistency::EachQuorum,
    ];
    for (n, cl) in levels.into_iter().enumerate() {
        let key = n as i32;
        c.write(n % 3, key, &format!("v{n}"), 10, cl).unwrap();
        if cl != Consistency::Any {
            assert_eq!(
                c.read((n + 1) % 3, key, cl).unwrap(),
                Some(format!("v{n}")),
                "{cl:?}"
            );
        }
        for i in 0..3 {
            assert_eq!(
                c.local_value(i, key),
                Some(format!("v{n}")),
                "{cl:?} on node {i}"
            );
        }
    }
    assert!(matches!(
        c.read(0, 0, Consistency::Any),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        c.write(0, 0, "x", 1, Consistency::Serial),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn too_few_live_replicas_is_unavailable_with_required_and_alive_counts() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(1, Mode::Down);
    assert_eq!(
        c.write(0, 1, "x", 1, Consistency::All),
        Err(Error::Unavailable {
            consistency: Consistency::All,
            required: 3,
            alive: 2
        })
    );
    c.write(0, 1, "x", 1, Consistency::Quorum).unwrap();
    c.set(2, Mode::Down);
    assert_eq!(
        c.write(0, 1, "x", 1, Consistency::Quorum),
        Err(Error::Unavailable {
            consistency: Consistency::Quorum,
            required: 2,
            alive: 1
        })
    );
    assert_eq!(
        c.read(0, 1, Consistency::Two),
        Err(Error::Unavailable {
            consistency: Consistency::Two,
            required: 2,
            alive: 1
        })
    );
    let e = c.write(0, 1, "x", 1, Consistency::Three).unwrap_err();
    let response = e.to_response();
    assert!(matches!(
        response.kind,
        ilion_cql::protocol::ErrorKind::Unavailable {
            consistency: Consistency::Three,
            required: 3,
            alive: 1
        }
    ));
}

#[test]
fn silent_replicas_give_write_and_read_timeouts_with_received_counts() {
    let c = cluster_with(1, 3, RF3, config());
    c.write(0, 5, "old", 1, Consistency::All).unwrap();
    c.set(1, Mode::Silent);
    c.set(2, Mode::Silent);
    assert_eq!(
        c.write(0, 5, "new", 2, Consistency::Quorum),
        Err(Error::WriteTimeout {
            consistency: Consistency::Quorum,
            received: 1,
            block_for: 2,
            write_type: WriteType::Simple,
        })
    );
    assert_eq!(
        c.read(0, 5, Consistency::Quorum),
        Err(Error::ReadTimeout {
            consistency: Consistency::Quorum,
            received: 1,
            block_for: 2,
            data_present: true,
        })
    );
    // ONE was met by the coordinator's own replica.
    assert_eq!(c.read(0, 5, Consistency::One).unwrap(), Some("new".into()));
}

#[test]
fn replicas_that_scan_too_many_tombstones_fail_the_read_with_their_reason() {
    let c = cluster_with_thresholds(
        1,
        3,
        RF3,
        config(),
        TombstoneThresholds { warn: 2, fail: 5 },
    );
    let session = Session::default();
    let all = QueryParameters::new(Consistency::All);
    for k in 0..300 {
        c.nodes[0]
            .query(&session, &format!("DELETE FROM ks.kv WHERE k = {k}"), &all)
            .unwrap();
    }
    // Every replica's part of the scan holds more than 5 partition tombstones: each fails it,
    // and the coordinator answers Read_failure naming them and the reason.
    let err = c.nodes[0]
        .query(
            &session,
            "SELECT * FROM ks.kv",
            &QueryParameters::new(Consistency::Quorum),
        )
        .unwrap_err();
    let Error::ReadFailure {
        consistency,
        received,
        block_for,
        failures,
        ..
    } = &err
    else {
        panic!("expected Read_failure, got {err:?}");
    };
    assert_eq!(
        (*consistency, *received, *block_for),
        (Consistency::Quorum, 0, 2)
    );
    assert!(failures.len() >= 2, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|(_, r)| *r == FailureReason::ReadTooManyTombstones),
        "{failures:?}"
    );
    assert!(
        err.to_string()
            .contains("READ_TOO_MANY_TOMBSTONES from /127.0.0."),
        "{err}"
    );
    // The client sees code 0x1300 with the reason map.
    let response = err.to_response();
    assert_eq!(response.kind.code(), 0x1300);
}

#[test]
fn a_coordinator_that_is_the_only_replica_fails_a_tombstone_heavy_read_as_read_failure() {
    let c = cluster_with_thresholds(
        1,
        3,
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        config(),
        TombstoneThresholds { warn: 2, fail: 5 },
    );
    let session = Session::default();
    let one = QueryParameters::new(Consistency::One);
    for stmt in [
        "CREATE TABLE ks.wide (k int, c int, v int, PRIMARY KEY (k, c))".to_owned(),
        "DELETE FROM ks.wide WHERE k = 1 AND c = 0".to_owned(),
    ] {
        for node in &c.nodes {
            node.query(&session, &stmt, &one).unwrap();
        }
    }
    // Ten row tombstones in partition 1, written on every node (each keeps its own copy).
    for ck in 1..10 {
        for node in &c.nodes {
            node.query(
                &session,
                &format!("DELETE FROM ks.wide WHERE k = 1 AND c = {ck}"),
                &one,
            )
            .unwrap();
        }
    }
    // Whichever node owns partition 1 reads it from itself, without messages.
    let owner = (0..3)
        .find(|i| {
            let before = c.net.sent.load(Ordering::SeqCst);
            let r = c.nodes[*i].query(&session, "SELECT * FROM ks.wide WHERE k = 1", &one);
            let sent = c.net.sent.load(Ordering::SeqCst) - before;
            sent == 0 && r.is_err()
        })
        .expect("the owner of partition 1 fails its own read");
    let err = c.nodes[owner]
        .query(&session, "SELECT * FROM ks.wide WHERE k = 1", &one)
        .unwrap_err();
    assert_eq!(
        err,
        Error::ReadFailure {
            consistency: Consistency::One,
            received: 0,
            block_for: 1,
            failures: vec![(addr(owner), FailureReason::ReadTooManyTombstones)],
            data_present: false,
        }
    );
}

/// A key whose replicas (RF 1) do not include node 0.
fn key_not_on(c: &TestCluster, node: usize) -> i32 {
    (0..1000)
        .find(|k| {
            c.write(0, *k, "probe", 1, Consistency::One).unwrap();
            c.local_value(node, *k).is_none()
        })
        .unwrap()
}

#[test]
fn any_succeeds_with_only_a_hint_and_the_hint_arrives_later() {
    let c = cluster_with(
        1,
        3,
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        config(),
    );
    let key = key_not_on(&c, 0);
    let owner = (1..3).find(|i| c.local_value(*i, key).is_some()).unwrap();
    c.set(owner, Mode::Down);
    assert!(matches!(
        c.write(0, key, "hinted", 5, Consistency::One),
        Err(Error::Unavailable { .. })
    ));
    c.write(0, key, "hinted", 5, Consistency::Any).unwrap();
    assert_eq!(
        c.replication(0).deliver_hints().unwrap(),
        0,
        "the owner is still down"
    );
    c.set(owner, Mode::Up);
    assert_eq!(c.replication(0).deliver_hints().unwrap(), 1);
    assert_eq!(c.local_value(owner, key), Some("hinted".into()));
    assert_eq!(
        c.replication(0).deliver_hints().unwrap(),
        0,
        "delivered hints are deleted"
    );
}

#[test]
fn hints_for_a_down_replica_are_replayed_when_it_returns() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(2, Mode::Down);
    c.write(0, 7, "while-down", 3, Consistency::Quorum).unwrap();
    c.set(2, Mode::Up);
    assert_eq!(c.local_value(2, 7), None);
    assert_eq!(c.replication(0).deliver_hints().unwrap(), 1);
    assert_eq!(c.local_value(2, 7), Some("while-down".into()));
}

#[test]
fn a_leaving_node_hands_its_hints_over_and_they_still_reach_their_target() {
    let c = cluster_with(1, 4, RF3, config());
    // Node 0 keeps hints for node 3 (down) and node 2 (back up by the time node 0 leaves).
    c.set(3, Mode::Down);
    c.set(2, Mode::Down);
    for k in 0..40 {
        c.write(0, k, "while-down", 3, Consistency::One).unwrap();
    }
    c.set(2, Mode::Up);
    let pending = c.replication(0).stats().hints_pending;
    assert!(pending > 0, "node 0 kept no hint");
    let done = c.replication(0).hand_over_hints().unwrap();
    assert!(done.delivered > 0, "{done:?}");
    assert!(done.transferred > 0, "{done:?}");
    assert_eq!(
        (done.delivered + done.transferred) as u64,
        pending,
        "every hint went somewhere"
    );
    assert_eq!(c.replication(0).stats().hints_pending, 0);
    // Node 1 kept node 3's hints and delivers them when it is back.
    c.set(3, Mode::Up);
    let delivered = c.replication(1).deliver_hints().unwrap();
    assert_eq!(delivered, done.transferred);
    // Each hint for node 3 was one key it replicates: it now holds each of them.
    let held = (0..40).filter(|k| c.local_value(3, *k).is_some()).count();
    assert_eq!(held, done.transferred);
}

#[test]
fn hints_that_can_go_nowhere_stay_and_the_hand_over_fails() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(2, Mode::Down);
    c.write(0, 5, "kept", 3, Consistency::One).unwrap();
    c.set(1, Mode::Down);
    let err = c.replication(0).hand_over_hints().unwrap_err();
    assert!(err.to_string().contains("no other live node"), "{err}");
    assert!(c.replication(0).stats().hints_pending > 0);
}

#[test]
fn timed_out_replicas_get_hints_too() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(2, Mode::Silent);
    c.write(0, 8, "late", 3, Consistency::One).unwrap();
    c.set(2, Mode::Up);
    assert_eq!(c.replication(0).deliver_hints().unwrap(), 1);
    assert_eq!(c.local_value(2, 8), Some("late".into()));
}

#[test]
fn hints_expire_after_the_hint_window() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(2, Mode::Down);
    c.write(0, 9, "too-late", 3, Consistency::Quorum).unwrap();
    c.clocks[0].advance(3 * 3600 + 1);
    c.set(2, Mode::Up);
    assert_eq!(c.replication(0).deliver_hints().unwrap(), 0);
    assert_eq!(c.local_value(2, 9), None);
}

#[test]
fn hints_survive_a_coordinator_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let cfg = CoordinatorConfig {
        cluster_name: "test".into(),
        listen_address: addr(0),
        native_address: addr(0),
        native_port: 9042,
        storage_port: 7000,
        data_center: "dc1".into(),
        rack: "r1".into(),
        num_tokens: 4,
        data_dir: dir.path().to_owned(),
    };
    // A cluster of 3 whose node 0 is on disk: built by hand around the in-memory others.
    let c = cluster_with(1, 3, RF3, config());
    let open = || {
        let mut node = Coordinator::builder(cfg.clone())
            .clock(clock.clone())
            .open()
            .unwrap();
        node.enable_replication(Cluster {
            membership: Arc::new(TestMembership {
                net: c.net.clone(),
                me: 0,
            }),
            messenger: Arc::new(TestMessenger {
                net: c.net.clone(),
                me: 0,
            }),
            config: config(),
        });
        node
    };
    let node = open();
    for stmt in [
        format!("CREATE KEYSPACE ks WITH replication = {RF3}"),
        "CREATE TABLE ks.kv (k int PRIMARY KEY, v text)".to_owned(),
    ] {
        node.query(
            &Session::default(),
            &stmt,
            &QueryParameters::new(Consistency::One),
        )
        .unwrap();
    }
    c.set(2, Mode::Down);
    node.query(
        &Session::default(),
        "INSERT INTO ks.kv (k, v) VALUES (11, 'durable') USING TIMESTAMP 4",
        &QueryParameters::new(Consistency::Quorum),
    )
    .unwrap();
    drop(node);
    let node = open();
    c.set(2, Mode::Up);
    assert_eq!(node.replication().unwrap().deliver_hints().unwrap(), 1);
    assert_eq!(c.local_value(2, 11), Some("durable".into()));
}

#[test]
fn read_repair_leaves_every_replica_with_the_newest_data() {
    let c = cluster_with(1, 3, RF3, config());
    c.write(0, 20, "old", 1, Consistency::All).unwrap();
    c.set(1, Mode::Silent);
    c.set(2, Mode::Silent);
    c.write(0, 20, "new", 2, Consistency::One).unwrap();
    c.set(1, Mode::Up);
    c.set(2, Mode::Up);
    // No hint delivery: only the read can fix replicas 1 and 2.
    assert_eq!(c.local_value(1, 20), Some("old".into()));
    assert_eq!(c.read(1, 20, Consistency::All).unwrap(), Some("new".into()));
    for i in 0..3 {
        assert_eq!(c.local_value(i, 20), Some("new".into()), "replica {i}");
    }
}

#[test]
fn a_deletion_missed_by_a_replica_wins_the_quorum_read_and_is_repaired_onto_it() {
    let c = cluster_with(1, 3, RF3, config());
    c.write(0, 30, "doomed", 1, Consistency::All).unwrap();
    c.set(2, Mode::Down);
    c.nodes[0]
        .query(
            &Session::default(),
            "DELETE FROM ks.kv USING TIMESTAMP 2 WHERE k = 30",
            &QueryParameters::new(Consistency::Quorum),
        )
        .unwrap();
    c.set(2, Mode::Up);
    // No hint delivery: node 2 still holds the deleted value.
    assert_eq!(c.local_value(2, 30), Some("doomed".into()));
    // Node 2 coordinates (its own stale data first): the newer deletion wins.
    assert_eq!(c.read(2, 30, Consistency::Quorum).unwrap(), None);
    assert_eq!(
        c.local_value(2, 30),
        None,
        "read repair carried the deletion"
    );
    assert!(c.replication(2).stats().read_repairs >= 1);
    let s0 = c.replication(0).stats();
    assert_eq!(
        (s0.hints_stored, s0.hints_pending),
        (1, 1),
        "the deletion's hint for node 2"
    );
    assert_eq!(c.replication(0).deliver_hints().unwrap(), 1);
    let s0 = c.replication(0).stats();
    assert_eq!((s0.hints_delivered, s0.hints_pending), (1, 0));
    for i in 0..3 {
        assert_eq!(c.read(i, 30, Consistency::All).unwrap(), None, "from {i}");
    }
}

#[test]
fn a_coordinator_that_is_a_replica_reads_one_from_itself_without_messages() {
    let c = cluster_with(1, 3, RF3, config());
    c.write(0, 31, "here", 1, Consistency::All).unwrap();
    let before = c.net.sent.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(
            c.read(1, 31, Consistency::One).unwrap(),
            Some("here".into())
        );
        assert_eq!(
            c.read(1, 31, Consistency::LocalOne).unwrap(),
            Some("here".into())
        );
    }
    assert_eq!(c.net.sent.load(Ordering::SeqCst), before, "no remote read");
}

#[test]
fn a_quorum_read_after_a_quorum_write_sees_it_from_any_coordinator() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(2, Mode::Silent);
    c.write(0, 21, "q", 5, Consistency::Quorum).unwrap();
    c.set(2, Mode::Up);
    c.set(0, Mode::Silent);
    // Node 2 (stale) coordinates; it must reach node 1 and reconcile.
    assert_eq!(
        c.read(2, 21, Consistency::Quorum).unwrap(),
        Some("q".into())
    );
    assert_eq!(c.local_value(2, 21), Some("q".into()));
}

#[test]
fn range_reads_merge_every_replica_in_token_order() {
    let c = cluster_with(1, 3, RF3, config());
    for k in 0..20 {
        c.write(k as usize % 3, k, &format!("v{k}"), 1, Consistency::All)
            .unwrap();
    }
    c.set(2, Mode::Silent);
    c.write(0, 3, "newer", 2, Consistency::One).unwrap();
    c.set(2, Mode::Up);
    let schema = c.nodes[2].schema();
    let ks = schema.keyspace("ks").unwrap();
    let table = ks.tables.get("kv").unwrap();
    let r = c
        .replication(2)
        .read(
            ks,
            table,
            &ReadCommand::token_range(None, None),
            Consistency::All,
        )
        .unwrap();
    assert_eq!(r.partitions.len(), 20);
    let tokens: Vec<i64> = r.partitions.iter().map(|p| p.token).collect();
    let mut sorted = tokens.clone();
    sorted.sort();
    assert_eq!(tokens, sorted);
    let key3 = r
        .partitions
        .iter()
        .find(|p| p.key == 3i32.to_be_bytes())
        .unwrap();
    assert_eq!(key3.rows[0].cells[0].value, b"newer");
    assert_eq!(
        c.local_value(2, 3),
        Some("newer".into()),
        "repaired by the range read"
    );
    // A limit stops the scan and says where to resume.
    let limited = ReadCommand {
        limit: Some(5),
        ..ReadCommand::token_range(None, None)
    };
    let r = c
        .replication(0)
        .read(ks, table, &limited, Consistency::Quorum)
        .unwrap();
    assert_eq!(r.partitions.len(), 5);
    assert!(r.next_page.is_some());
}

#[test]
fn two_datacenters_count_local_and_each_quorums_per_datacenter() {
    let c = cluster_with(2, 3, RF3, config());
    let nts = nts33();
    let w = |node, key, value: &str, ts, cl| c.dp_write(node, &nts, key, value, ts, cl);
    let r = |node, key, cl| c.dp_read(node, &nts, key, cl);
    for i in 3..6 {
        c.set(i, Mode::Down);
    }
    w(0, 30, "local", 1, Consistency::LocalQuorum).unwrap();
    assert_eq!(
        r(1, 30, Consistency::LocalQuorum).unwrap(),
        Some("local".into())
    );
    w(0, 30, "one", 2, Consistency::LocalOne).unwrap();
    assert_eq!(r(2, 30, Consistency::LocalOne).unwrap(), Some("one".into()));
    assert_eq!(
        w(0, 30, "x", 3, Consistency::EachQuorum),
        Err(Error::Unavailable {
            consistency: Consistency::EachQuorum,
            required: 2,
            alive: 0
        })
    );
    assert_eq!(
        w(0, 30, "x", 3, Consistency::Quorum),
        Err(Error::Unavailable {
            consistency: Consistency::Quorum,
            required: 4,
            alive: 3
        })
    );
    assert_eq!(
        r(0, 30, Consistency::All),
        Err(Error::Unavailable {
            consistency: Consistency::All,
            required: 6,
            alive: 3
        })
    );
    for i in 3..6 {
        c.set(i, Mode::Up);
    }
    c.set(0, Mode::Down);
    c.set(1, Mode::Down);
    // From dc2, dc1 has one live replica: LOCAL_QUORUM in dc2 works, EACH_QUORUM does not.
    w(3, 31, "dc2", 1, Consistency::LocalQuorum).unwrap();
    assert_eq!(
        w(3, 31, "x", 2, Consistency::EachQuorum),
        Err(Error::Unavailable {
            consistency: Consistency::EachQuorum,
            required: 2,
            alive: 1
        })
    );
    c.set(0, Mode::Up);
    w(3, 31, "each", 3, Consistency::EachQuorum).unwrap();
    assert_eq!(
        r(4, 31, Consistency::EachQuorum).unwrap(),
        Some("each".into())
    );
    assert_eq!(r(1, 31, Consistency::Quorum).unwrap(), Some("each".into()));
    // Silent remote replicas do not count for LOCAL_QUORUM, and do not stop it.
    c.set(1, Mode::Up);
    for i in 3..6 {
        c.set(i, Mode::Silent);
    }
    w(0, 32, "l", 1, Consistency::LocalQuorum).unwrap();
    assert_eq!(
        w(0, 32, "l", 1, Consistency::Quorum),
        Err(Error::WriteTimeout {
            consistency: Consistency::Quorum,
            received: 3,
            block_for: 4,
            write_type: WriteType::Simple,
        })
    );
    assert_eq!(
        w(0, 32, "l", 1, Consistency::EachQuorum),
        Err(Error::WriteTimeout {
            consistency: Consistency::EachQuorum,
            received: 3,
            block_for: 4,
            write_type: WriteType::Simple,
        })
    );
}

#[test]
fn a_hung_replica_is_overtaken_by_a_speculative_read() {
    let cfg = ReplicationConfig {
        read_request_timeout: Duration::from_secs(5),
        speculative_retry: SpeculativeRetry::Fixed(Duration::from_millis(20)),
        ..config()
    };
    let c = cluster_with(
        1,
        3,
        "{'class': 'SimpleStrategy', 'replication_factor': 2}",
        cfg,
    );
    let key = (0..1000)
        .find(|k| {
            c.write(1, *k, "spec", 1, Consistency::All).unwrap();
            c.local_value(0, *k).is_none()
        })
        .unwrap();
    // Whichever replica node 0 asks first hangs; the speculative request to the other answers
    // long before the 5 s read timeout.
    for hung in [1, 2] {
        c.set(hung, Mode::Hung);
        assert_eq!(
            c.read(0, key, Consistency::One).unwrap(),
            Some("spec".into()),
            "{hung} hung"
        );
        c.set(hung, Mode::Up);
    }
}

fn logged_batch(
    c: &TestCluster,
    node: usize,
    keys: &[i32],
    value: &str,
    ts: i64,
    cl: Consistency,
) -> Result<(), Error> {
    let schema = c.nodes[node].schema();
    let ks = schema.keyspace("ks").unwrap();
    let table = ks.tables.get("kv").unwrap();
    let data = c.replication(node);
    let ts_schema = data.table_schema(table).unwrap();
    let v = ts_schema.column_id("v").unwrap();
    let writes: Vec<TableWrite<'_>> = keys
        .iter()
        .map(|k| {
            let key = k.to_be_bytes().to_vec();
            let token = ilion_ring::Murmur3Partitioner.token(&key).value();
            let mut m = ilion_storage::Mutation::new(token, key, 1_700_000_000);
            m.row(Vec::new()).set(v, ts, value.as_bytes().to_vec());
            TableWrite {
                keyspace: ks,
                table,
                mutation: m,
            }
        })
        .collect();
    data.write(&writes, cl, true)
}

#[test]
fn a_logged_batch_is_applied_and_its_batchlog_removed() {
    let c = cluster_with(1, 3, RF3, config());
    logged_batch(&c, 0, &[40, 41, 42], "b", 1, Consistency::Quorum).unwrap();
    for i in 0..3 {
        for k in [40, 41, 42] {
            assert_eq!(c.local_value(i, k), Some("b".into()));
        }
        c.clocks[i].advance(60);
    }
    for i in 0..3 {
        assert_eq!(
            c.replication(i).replay_batchlog().unwrap(),
            0,
            "node {i} kept a batch"
        );
    }
}

#[test]
fn a_batch_whose_mutations_failed_is_replayed_from_the_batchlog() {
    let c = cluster_with(1, 3, RF3, config());
    // Node 2 keeps the batchlog entry but loses the batch's mutations: ALL cannot be met.
    c.set(2, Mode::DropsMutations);
    assert_eq!(
        logged_batch(&c, 0, &[50, 51], "replayed", 7, Consistency::All),
        Err(Error::WriteTimeout {
            consistency: Consistency::All,
            received: 2,
            block_for: 3,
            write_type: WriteType::Batch,
        })
    );
    c.set(2, Mode::Up);
    assert_eq!(c.local_value(2, 50), None);
    // Too young to replay: its coordinator may still be working on it.
    let young: usize = (1..3)
        .map(|i| c.replication(i).replay_batchlog().unwrap())
        .sum();
    assert_eq!(young, 0);
    for clock in &c.clocks {
        clock.advance(60);
    }
    // No hint delivery: only the batchlog replay (on the nodes holding it) can fix node 2.
    let replayed: usize = (1..3)
        .map(|i| c.replication(i).replay_batchlog().unwrap())
        .sum();
    assert!(replayed >= 1);
    for k in [50, 51] {
        assert_eq!(c.local_value(2, k), Some("replayed".into()));
    }
    let again: usize = (0..3)
        .map(|i| c.replication(i).replay_batchlog().unwrap())
        .sum();
    assert_eq!(again, 0, "replayed entries are removed");
}

#[test]
fn a_logged_batch_with_too_few_live_replicas_is_unavailable_before_anything_is_stored() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(1, Mode::Down);
    c.set(2, Mode::Down);
    assert_eq!(
        logged_batch(&c, 0, &[60, 61], "x", 1, Consistency::Quorum),
        Err(Error::Unavailable {
            consistency: Consistency::Quorum,
            required: 2,
            alive: 1
        })
    );
    c.clocks[0].advance(60);
    assert_eq!(c.replication(0).replay_batchlog().unwrap(), 0);
}

#[test]
fn network_topology_replication_factor_expands_to_every_datacenter_of_the_cluster() {
    let c = cluster_with(
        2,
        2,
        "{'class': 'NetworkTopologyStrategy', 'replication_factor': 2}",
        config(),
    );
    let expected: std::collections::BTreeMap<String, String> = [
        (
            "class",
            "org.apache.cassandra.locator.NetworkTopologyStrategy",
        ),
        ("dc1", "2"),
        ("dc2", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for node in &c.nodes {
        assert_eq!(node.schema().keyspace("ks").unwrap().replication, expected);
    }
    // Two replicas in each datacenter of two nodes: every node holds every key.
    c.write(3, 7, "both dcs", 10, Consistency::EachQuorum)
        .unwrap();
    for i in 0..4 {
        assert_eq!(c.local_value(i, 7).as_deref(), Some("both dcs"), "node {i}");
    }
}

#[test]
fn a_datacenter_named_next_to_the_replication_factor_shorthand_keeps_its_own_factor() {
    let c = cluster_with(
        2,
        2,
        "{'class': 'NetworkTopologyStrategy', 'replication_factor': 2, 'dc2': 1}",
        config(),
    );
    let schema = c.nodes[0].schema();
    let r = &schema.keyspace("ks").unwrap().replication;
    assert_eq!(r.get("dc1").map(String::as_str), Some("2"));
    assert_eq!(r.get("dc2").map(String::as_str), Some("1"));
    assert_eq!(r.len(), 3, "{r:?}");
}

#[test]
fn speculative_retry_reads_cassandras_words() {
    use ilion_coordinator::SpeculativeRetry as S;
    assert_eq!(S::parse("99p"), Some(S::Percentile(99.0)));
    assert_eq!(S::parse("95PERCENTILE"), Some(S::Percentile(95.0)));
    assert_eq!(S::parse("50ms"), Some(S::Fixed(Duration::from_millis(50))));
    assert_eq!(S::parse("NONE"), Some(S::None));
    assert_eq!(S::parse("ALWAYS"), Some(S::Fixed(Duration::ZERO)));
    for bad in ["", "0p", "101p", "-5ms", "fast", "99"] {
        assert_eq!(S::parse(bad), None, "{bad}");
    }
}

#[test]
fn truncate_empties_the_table_on_every_node() {
    let c = cluster_with(1, 3, RF3, config());
    for key in 0..10 {
        c.write(key as usize % 3, key, "v", 1, Consistency::All)
            .unwrap();
    }
    c.nodes[1]
        .query(
            &Session::default(),
            "TRUNCATE ks.kv",
            &QueryParameters::new(Consistency::One),
        )
        .unwrap();
    for i in 0..3 {
        for key in 0..10 {
            assert_eq!(c.local_value(i, key), None, "node {i} key {key}");
        }
    }
}

#[test]
fn truncate_with_a_node_down_is_unavailable_and_with_a_silent_node_a_truncate_error() {
    let c = cluster_with(1, 3, RF3, config());
    c.write(0, 1, "kept", 1, Consistency::All).unwrap();
    let truncate = |node: usize| {
        c.nodes[node].query(
            &Session::default(),
            "TRUNCATE ks.kv",
            &QueryParameters::new(Consistency::One),
        )
    };
    c.set(2, Mode::Down);
    assert_eq!(
        truncate(0).unwrap_err(),
        Error::Unavailable {
            consistency: Consistency::All,
            required: 3,
            alive: 2
        }
    );
    c.set(2, Mode::Silent);
    assert!(matches!(truncate(0), Err(Error::Truncate { .. })));
    c.set(2, Mode::Up);
    // The down node kept its rows (nothing was sent to it while it was down).
    assert_eq!(c.local_value(2, 1).as_deref(), Some("kept"));
}

/// What node `i`'s own store holds for `key` (whatever the ring says it owns).
fn stored(c: &TestCluster, i: usize, key: i32) -> bool {
    let k = key.to_be_bytes().to_vec();
    let token = ilion_ring::Murmur3Partitioner.token(&k).value();
    let table = c.nodes[i].store().table("ks", "kv").unwrap();
    !table
        .read(&ReadCommand::partition(token, k))
        .unwrap()
        .partitions
        .is_empty()
}

#[test]
fn a_joining_node_gets_the_writes_of_its_pending_ranges_on_top_of_the_level_and_no_reads() {
    // Three nodes at RF 1; node 3 is joining: a pending replica of the ranges it will own.
    let rf1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    let c = cluster_shaped(1, 3, rf1, config(), TombstoneThresholds::default(), |m| {
        m[2].status = MemberStatus::Joining;
    });
    for key in 0..300 {
        c.write(0, key, "v", 1, Consistency::Quorum).unwrap();
    }
    let pending: Vec<i32> = (0..300).filter(|k| stored(&c, 2, *k)).collect();
    // Node 3's tokens take about a third of the ring.
    assert!(
        pending.len() > 50 && pending.len() < 200,
        "{} keys",
        pending.len()
    );
    for k in 0..300 {
        // Every write reached its current owner too (nodes 1 or 2, exactly one at RF 1).
        assert_eq!(
            u8::from(stored(&c, 0, k)) + u8::from(stored(&c, 1, k)),
            1,
            "key {k}"
        );
    }
    // The pending replica raises blockFor: with it down, even ONE needs two live replicas
    // (Cassandra's Unavailable for a write to a pending range whose new owner is down)...
    let key = pending[0];
    c.set(2, Mode::Down);
    assert_eq!(
        c.write(0, key, "w", 2, Consistency::One),
        Err(Error::Unavailable {
            consistency: Consistency::One,
            required: 2,
            alive: 1
        })
    );
    // ...a key outside its pending ranges needs one...
    let other = (0..300).find(|k| !pending.contains(k)).unwrap();
    c.write(0, other, "w", 2, Consistency::One).unwrap();
    // ...and reads never go to it.
    assert_eq!(
        c.read(0, key, Consistency::One).unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(
        c.read(1, key, Consistency::All).unwrap().as_deref(),
        Some("v")
    );
    // A silent pending replica makes the write time out with blockFor counting it.
    c.set(2, Mode::Silent);
    assert!(matches!(
        c.write(0, key, "w", 3, Consistency::Quorum),
        Err(Error::WriteTimeout {
            received: 1,
            block_for: 2,
            ..
        })
    ));
}

#[test]
fn a_replacement_at_the_dead_nodes_own_address_gets_its_writes_and_serves_none_of_its_reads() {
    // Three nodes at RF 2; node 3 replaces a dead node at that node's own address: gossip
    // lists only node 3 there, so the dead node (down) is rebuilt from node 3's state.
    let rf2 = "{'class': 'SimpleStrategy', 'replication_factor': 2}";
    let c = cluster_shaped(1, 3, rf2, config(), TombstoneThresholds::default(), |m| {
        m[2].status = MemberStatus::Joining;
        m[2].replaces = Some(Uuid::from_u128(0xdead));
    });
    for key in 0..300 {
        c.write(0, key, "v", 1, Consistency::One).unwrap();
    }
    // The replacement got the writes of the dead node's ranges (about two thirds at RF 2).
    let pending: Vec<i32> = (0..300).filter(|k| stored(&c, 2, *k)).collect();
    assert!(
        pending.len() > 120 && pending.len() < 280,
        "{} keys",
        pending.len()
    );
    for &key in &pending {
        // One live natural replica is left: ONE reads from it; TWO is unavailable, since
        // neither the dead node nor its replacement (at the same address) serves reads.
        assert_eq!(
            c.read(0, key, Consistency::One).unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(
            c.read(2, key, Consistency::Two),
            Err(Error::Unavailable {
                consistency: Consistency::Two,
                required: 2,
                alive: 1
            })
        );
    }
}

#[test]
fn a_leaving_nodes_ranges_are_written_to_their_next_owners_too() {
    // Three nodes at RF 1; node 3 is leaving: the nodes taking its ranges are pending.
    let rf1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    let c = cluster_shaped(1, 3, rf1, config(), TombstoneThresholds::default(), |m| {
        m[2].status = MemberStatus::Leaving;
    });
    for key in 0..300 {
        c.write(0, key, "v", 1, Consistency::Quorum).unwrap();
    }
    let owned: Vec<i32> = (0..300).filter(|k| stored(&c, 2, *k)).collect();
    assert!(owned.len() > 50, "{} keys", owned.len());
    for k in 0..300 {
        let others = u8::from(stored(&c, 0, k)) + u8::from(stored(&c, 1, k));
        // Its keys reach their next owner as well; the others only their owner.
        assert_eq!(others, 1, "key {k}");
    }
    // It still serves reads of its ranges until it has left.
    assert_eq!(
        c.read(1, owned[0], Consistency::One).unwrap().as_deref(),
        Some("v")
    );
}

#[test]
fn cleanup_drops_exactly_the_partitions_of_ranges_the_node_does_not_replicate() {
    let rf1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    let c = cluster_with(1, 3, rf1, config());
    // Node 1 stores every key, as an old owner does after nodes joined.
    let table = c.nodes[0].store().table("ks", "kv").unwrap();
    let v = table.schema().column_id("v").unwrap();
    for key in 0..300i32 {
        let k = key.to_be_bytes().to_vec();
        let token = ilion_ring::Murmur3Partitioner.token(&k).value();
        let mut m = ilion_storage::Mutation::new(token, k, 1_700_000_000);
        m.row(Vec::new()).set(v, 1, b"v".to_vec());
        table.apply(&m).unwrap();
    }
    let owned: Vec<i32> = (0..300)
        .filter(|k| c.local_value(0, *k).is_some())
        .collect();
    assert!(owned.len() > 50 && owned.len() < 250, "{}", owned.len());
    let cleaned = c.replication(0).cleanup(Some("ks")).unwrap();
    assert_eq!(cleaned.tables, 1);
    for k in 0..300 {
        assert_eq!(stored(&c, 0, k), owned.contains(&k), "key {k}");
    }
    // Unknown keyspaces are an error, not a panic.
    assert!(c.replication(0).cleanup(Some("nope")).is_err());
}

#[test]
fn cleanup_is_refused_while_a_node_joins() {
    let rf1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    let c = cluster_shaped(1, 3, rf1, config(), TombstoneThresholds::default(), |m| {
        m[2].status = MemberStatus::Joining;
    });
    let err = c.replication(0).cleanup(None).unwrap_err();
    assert!(err.to_string().contains("Not safe to run cleanup"), "{err}");
}
