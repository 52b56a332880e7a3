//! Lightweight transactions through the coordinator: every conditional form with Cassandra's
//! `[applied]` answers, the errors Cassandra gives, SERIAL reads, and Paxos on an in-memory
//! three-node cluster with replicas down.

mod common;

use common::net::*;
use common::{RF1, open, run};
use ilion_coordinator::{Coordinator, Error, Session};
use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody, Value};

/// The columns and the single row of a conditional write's answer, decoded.
fn answer(r: ResultBody) -> Vec<(String, Option<Value>)> {
    let ResultBody::Rows(rows) = r else {
        panic!("a conditional write answers rows, not {r:?}")
    };
    assert_eq!(rows.rows_count, 1);
    let names: Vec<String> = rows
        .metadata
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, rows.value(0, i).unwrap()))
        .collect()
}

fn applied(r: &[(String, Option<Value>)]) -> bool {
    assert_eq!(r[0].0, "[applied]");
    match r[0].1 {
        Some(Value::Boolean(b)) => b,
        ref other => panic!("[applied] is {other:?}"),
    }
}

fn setup(c: &Coordinator) {
    for s in [
        format!("CREATE KEYSPACE ks WITH replication = {RF1}"),
        "CREATE TYPE ks.addr (street text, n int)".to_owned(),
        "CREATE TABLE ks.t (k int, c int, s int static, v int, w text, m map<text, int>, \
         l list<int>, a addr, PRIMARY KEY (k, c))"
            .to_owned(),
        "CREATE TABLE ks.n (k int PRIMARY KEY, n counter)".to_owned(),
    ] {
        run(c, &s).unwrap();
    }
}

fn invalid(c: &Coordinator, text: &str) -> String {
    match run(c, text) {
        Err(Error::Invalid { message }) => message,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn insert_if_not_exists_applies_once_and_then_shows_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let first = answer(
        run(
            &c,
            "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 10) IF NOT EXISTS",
        )
        .unwrap(),
    );
    assert_eq!(first.len(), 1);
    assert!(applied(&first));
    let second = answer(
        run(
            &c,
            "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 20) IF NOT EXISTS",
        )
        .unwrap(),
    );
    assert!(!applied(&second));
    // Every column, in SELECT *'s order.
    let names: Vec<&str> = second.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["[applied]", "k", "c", "a", "l", "m", "s", "v", "w"]);
    assert_eq!(second[7].1, Some(Value::Int(10)));
    assert_eq!(
        common::select(&c, "SELECT v FROM ks.t WHERE k = 1 AND c = 1"),
        vec![vec![Some(Value::Int(10))]]
    );
}

#[test]
fn update_and_delete_conditions_compare_columns_elements_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "INSERT INTO ks.t (k, c, s, v, w, m, l, a) VALUES (1, 1, 7, 10, 'x', {'a': 1}, [5, 6], \
         {street: 'main', n: 3})",
    )
    .unwrap();
    let holds = [
        "IF v = 10",
        "IF v != 11",
        "IF v < 11 AND v <= 10 AND v > 9 AND v >= 10",
        "IF v IN (1, 10)",
        "IF m['a'] = 1",
        "IF m['zz'] = null",
        "IF l[1] = 6",
        "IF a.n = 3 AND a.street = 'main'",
        "IF s = 7",
        "IF w IS NOT NULL",
        "IF v = 10 AND w = 'x'",
        "IF EXISTS",
    ];
    for cond in holds {
        let r = answer(
            run(
                &c,
                &format!("UPDATE ks.t SET w = 'x' WHERE k = 1 AND c = 1 {cond}"),
            )
            .unwrap(),
        );
        assert!(applied(&r), "{cond}: {r:?}");
        assert_eq!(r.len(), 1, "{cond}");
    }
    let fails = [
        ("IF v = 11", vec!["v"]),
        ("IF v > 10", vec!["v"]),
        ("IF v IN (1, 2)", vec!["v"]),
        ("IF m['a'] = 2", vec!["m"]),
        ("IF v = 10 AND w = 'y' AND v < 5", vec!["v", "w"]),
        ("IF w IS NULL", vec!["w"]),
    ];
    for (cond, shown) in fails {
        let r = answer(
            run(
                &c,
                &format!("UPDATE ks.t SET v = 0 WHERE k = 1 AND c = 1 {cond}"),
            )
            .unwrap(),
        );
        assert!(!applied(&r), "{cond}");
        let names: Vec<&str> = r.iter().skip(1).map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, shown, "{cond}");
    }
    let missing = answer(run(&c, "UPDATE ks.t SET v = 1 WHERE k = 9 AND c = 9 IF EXISTS").unwrap());
    assert_eq!(missing.len(), 1, "no row: [applied] alone");
    assert!(!applied(&missing));
    let gone = answer(run(&c, "DELETE FROM ks.t WHERE k = 1 AND c = 1 IF v = 10").unwrap());
    assert!(applied(&gone));
    assert!(common::select(&c, "SELECT v FROM ks.t WHERE k = 1 AND c = 1").is_empty());
    let again = answer(run(&c, "DELETE FROM ks.t WHERE k = 1 AND c = 1 IF EXISTS").unwrap());
    assert!(!applied(&again));
}

#[test]
fn conditional_writes_are_refused_as_cassandra_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    assert_eq!(
        invalid(&c, "UPDATE ks.n SET n = n + 1 WHERE k = 1 IF EXISTS"),
        "Conditional updates are not supported on counter tables"
    );
    assert_eq!(
        invalid(
            &c,
            "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 1) IF NOT EXISTS USING TIMESTAMP 5"
        ),
        "Cannot provide custom timestamp for conditional updates"
    );
    assert_eq!(
        invalid(&c, "UPDATE ks.t SET v = 1 WHERE k = 1 AND c = 1 IF c = 1"),
        "PRIMARY KEY column 'c' cannot have IF conditions"
    );
    assert_eq!(
        invalid(
            &c,
            "UPDATE ks.t SET v = 1 WHERE k IN (1, 2) AND c = 1 IF v = 1"
        ),
        "IN on the partition key is not supported with conditional updates"
    );
    assert_eq!(
        invalid(&c, "DELETE FROM ks.t WHERE k = 1 AND c IN (1, 2) IF v = 1"),
        "IN on the clustering key columns is not supported with conditional deletions"
    );
    assert_eq!(
        invalid(&c, "DELETE FROM ks.t WHERE k = 1 IF v = 1"),
        "DELETE statements must restrict all PRIMARY KEY columns with equality relations in \
         order to use IF conditions, but column 'c' is not restricted"
    );
    assert_eq!(
        invalid(
            &c,
            "UPDATE ks.t SET v = 1 WHERE k = 1 AND c = 1 IF v < null"
        ),
        "Invalid comparison with null for operator \"<\""
    );
    let serial_commit = c.query(
        &Session::default(),
        "UPDATE ks.t SET v = 1 WHERE k = 1 AND c = 1 IF EXISTS",
        &QueryParameters::new(Consistency::Serial),
    );
    assert!(
        matches!(&serial_commit, Err(Error::Invalid { message }) if message.starts_with("SERIAL is not supported as conditional update commit consistency")),
        "{serial_commit:?}"
    );
    let mut params = QueryParameters::new(Consistency::One);
    params.serial_consistency = Some(Consistency::Quorum);
    let bad_serial = c.query(
        &Session::default(),
        "UPDATE ks.t SET v = 1 WHERE k = 1 AND c = 1 IF EXISTS",
        &params,
    );
    assert!(
        matches!(&bad_serial, Err(Error::Invalid { message }) if message == "Invalid consistency for conditional update. Must be one of SERIAL or LOCAL_SERIAL"),
        "{bad_serial:?}"
    );
}

fn cas(c: &TestCluster, node: usize, text: &str) -> Result<bool, Error> {
    c.nodes[node]
        .query(
            &Session::default(),
            text,
            &QueryParameters::new(Consistency::Quorum),
        )
        .map(|r| applied(&answer(r)))
}

#[test]
fn paxos_on_three_replicas_survives_one_down_and_refuses_with_two_down() {
    let c = cluster_with(1, 3, RF3, config());
    assert!(
        cas(
            &c,
            0,
            "INSERT INTO ks.kv (k, v) VALUES (1, 'a') IF NOT EXISTS"
        )
        .unwrap()
    );
    assert!(
        !cas(
            &c,
            1,
            "INSERT INTO ks.kv (k, v) VALUES (1, 'b') IF NOT EXISTS"
        )
        .unwrap()
    );
    c.set(2, Mode::Down);
    assert!(cas(&c, 1, "UPDATE ks.kv SET v = 'c' WHERE k = 1 IF v = 'a'").unwrap());
    assert!(!cas(&c, 0, "UPDATE ks.kv SET v = 'd' WHERE k = 1 IF v = 'a'").unwrap());
    assert_eq!(
        c.read(0, 1, Consistency::Serial).unwrap().as_deref(),
        Some("c")
    );
    c.set(1, Mode::Down);
    let refused = cas(&c, 0, "UPDATE ks.kv SET v = 'e' WHERE k = 1 IF v = 'c'");
    assert!(
        matches!(
            refused,
            Err(Error::Unavailable {
                consistency: Consistency::Serial,
                required: 2,
                alive: 1
            })
        ),
        "{refused:?}"
    );
    let read = c.read(0, 1, Consistency::Serial);
    assert!(matches!(read, Err(Error::Unavailable { .. })), "{read:?}");
    c.set(1, Mode::Up);
    c.set(2, Mode::Up);
    assert_eq!(
        c.read(2, 1, Consistency::Serial).unwrap().as_deref(),
        Some("c")
    );
}

#[test]
fn a_replica_that_never_answers_makes_a_cas_timeout_of_write_type_cas() {
    let c = cluster_with(1, 3, RF3, config());
    c.set(1, Mode::Silent);
    c.set(2, Mode::Silent);
    let r = cas(
        &c,
        0,
        "INSERT INTO ks.kv (k, v) VALUES (1, 'a') IF NOT EXISTS",
    );
    assert!(
        matches!(
            r,
            Err(Error::CasWriteTimeout {
                consistency: Consistency::Serial,
                ..
            })
        ),
        "{r:?}"
    );
    let read = c.read(0, 1, Consistency::Serial);
    assert!(
        matches!(
            read,
            Err(Error::ReadTimeout {
                consistency: Consistency::Serial,
                ..
            })
        ),
        "{read:?}"
    );
}

#[test]
fn a_range_read_at_serial_is_refused() {
    let c = cluster_with(1, 3, RF3, config());
    let r = c.nodes[0].query(
        &Session::default(),
        "SELECT * FROM ks.kv",
        &QueryParameters::new(Consistency::Serial),
    );
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
}

#[test]
fn a_conditional_batch_applies_all_or_shows_each_checked_row() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(&c, "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 10)").unwrap();
    let batch = |cond: &str| {
        answer(
            run(
                &c,
                &format!(
                    "BEGIN BATCH \
                       UPDATE ks.t SET v = 11 WHERE k = 1 AND c = 1 {cond}; \
                       INSERT INTO ks.t (k, c, v) VALUES (1, 2, 20) IF NOT EXISTS; \
                       UPDATE ks.t SET s = 5 WHERE k = 1; \
                     APPLY BATCH"
                ),
            )
            .unwrap(),
        )
    };
    let refused = batch("IF v = 9");
    assert!(!applied(&refused));
    // The primary key first in a batch; IF NOT EXISTS makes every column shown.
    let names: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["[applied]", "k", "c", "a", "l", "m", "s", "v", "w"]);
    assert!(common::select(&c, "SELECT v FROM ks.t WHERE k = 1 AND c = 2").is_empty());
    let done = batch("IF v = 10");
    assert!(applied(&done));
    assert_eq!(
        common::select(&c, "SELECT c, s, v FROM ks.t WHERE k = 1"),
        vec![
            vec![
                Some(Value::Int(1)),
                Some(Value::Int(5)),
                Some(Value::Int(11))
            ],
            vec![
                Some(Value::Int(2)),
                Some(Value::Int(5)),
                Some(Value::Int(20))
            ],
        ]
    );
    assert_eq!(
        invalid(
            &c,
            "BEGIN BATCH USING TIMESTAMP 5 INSERT INTO ks.t (k, c, v) VALUES (1, 3, 1) \
             IF NOT EXISTS; APPLY BATCH"
        ),
        "Cannot provide custom timestamp for conditional BATCH"
    );
    for (statements, message) in [
        (
            "INSERT INTO ks.t (k, c, v) VALUES (1, 5, 1) IF NOT EXISTS; \
             DELETE FROM ks.t WHERE k = 1 AND c = 5 IF EXISTS;",
            "Cannot mix IF EXISTS and IF NOT EXISTS conditions for the same row",
        ),
        (
            "INSERT INTO ks.t (k, c, v) VALUES (1, 5, 1) IF NOT EXISTS; \
             UPDATE ks.t SET w = 'a' WHERE k = 1 AND c = 5 IF v = 1;",
            "Cannot mix IF conditions and IF NOT EXISTS for the same row",
        ),
        (
            "UPDATE ks.t SET w = 'a' WHERE k = 1 AND c = 5 IF v = 1; \
             DELETE FROM ks.t WHERE k = 1 AND c = 5 IF EXISTS;",
            "Cannot mix IF conditions and IF EXISTS for the same row",
        ),
    ] {
        assert_eq!(
            invalid(&c, &format!("BEGIN BATCH {statements} APPLY BATCH")),
            message
        );
    }
}
