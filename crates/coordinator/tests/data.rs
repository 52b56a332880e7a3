//! The single-node data path: writes and reads on user tables through the coordinator.

mod common;

use common::{RF1, open, run, select};
use ilion_coordinator::{Coordinator, Error};
use ilion_cql::protocol::Value;

fn setup(c: &Coordinator) {
    run(c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        c,
        "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c)) \
         WITH CLUSTERING ORDER BY (c DESC)",
    )
    .unwrap();
}

fn ints(rows: &[Vec<Option<Value>>]) -> Vec<i32> {
    rows.iter()
        .map(|r| match r.first() {
            Some(Some(Value::Int(i))) => *i,
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

#[test]
fn rows_written_are_read_back_in_clustering_order_and_sliced() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    for i in 0..6 {
        run(
            &c,
            &format!("INSERT INTO ks.t (k, c, v) VALUES (1, {i}, 'v{i}')"),
        )
        .unwrap();
    }
    run(&c, "INSERT INTO ks.t (k, c, v) VALUES (2, 0, 'other')").unwrap();
    let all = select(&c, "SELECT c FROM ks.t WHERE k = 1");
    assert_eq!(ints(&all), vec![5, 4, 3, 2, 1, 0]);
    let slice = select(&c, "SELECT c FROM ks.t WHERE k = 1 AND c > 1 AND c <= 4");
    assert_eq!(ints(&slice), vec![4, 3, 2]);
    let limited = select(&c, "SELECT c FROM ks.t WHERE k = 1 AND c < 5 LIMIT 2");
    assert_eq!(ints(&limited), vec![4, 3]);
    let one = select(&c, "SELECT * FROM ks.t WHERE k = 1 AND c = 3");
    assert_eq!(
        one,
        vec![vec![
            Some(Value::Int(1)),
            Some(Value::Int(3)),
            Some(Value::Text("v3".into()))
        ]]
    );
}

#[test]
fn the_newest_timestamp_wins_and_deletes_respect_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'new') USING TIMESTAMP 20",
    )
    .unwrap();
    run(
        &c,
        "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'old') USING TIMESTAMP 10",
    )
    .unwrap();
    let q = "SELECT v FROM ks.t WHERE k = 1 AND c = 1";
    assert_eq!(select(&c, q), vec![vec![Some(Value::Text("new".into()))]]);
    run(
        &c,
        "DELETE FROM ks.t USING TIMESTAMP 15 WHERE k = 1 AND c = 1",
    )
    .unwrap();
    assert_eq!(select(&c, q), vec![vec![Some(Value::Text("new".into()))]]);
    run(&c, "DELETE FROM ks.t WHERE k = 1").unwrap();
    assert!(select(&c, q).is_empty());
}

#[test]
fn drop_and_recreate_start_empty_and_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path());
        setup(&c);
        run(&c, "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'kept')").unwrap();
        run(&c, "CREATE TABLE ks.gone (k int PRIMARY KEY, v int)").unwrap();
        run(&c, "INSERT INTO ks.gone (k, v) VALUES (1, 1)").unwrap();
        run(&c, "DROP TABLE ks.gone").unwrap();
        run(&c, "CREATE TABLE ks.gone (k int PRIMARY KEY, v int)").unwrap();
        assert!(select(&c, "SELECT * FROM ks.gone WHERE k = 1").is_empty());
        run(&c, "ALTER TABLE ks.t ADD w int").unwrap();
        run(&c, "UPDATE ks.t SET w = 7 WHERE k = 1 AND c = 1").unwrap();
    }
    let c = open(dir.path());
    assert_eq!(
        select(&c, "SELECT v, w FROM ks.t WHERE k = 1"),
        vec![vec![Some(Value::Text("kept".into())), Some(Value::Int(7))]]
    );
    run(&c, "ALTER TABLE ks.t RENAME c TO cc").unwrap();
    assert_eq!(
        select(&c, "SELECT cc, v FROM ks.t WHERE k = 1 AND cc = 1"),
        vec![vec![Some(Value::Int(1)), Some(Value::Text("kept".into()))]]
    );
    run(&c, "ALTER TABLE ks.t DROP w").unwrap();
    run(&c, "ALTER TABLE ks.t ADD w int").unwrap();
    assert_eq!(
        select(&c, "SELECT w FROM ks.t WHERE k = 1"),
        vec![vec![None]],
        "a re-added column does not show the dropped one's data"
    );
    run(&c, "TRUNCATE ks.t").unwrap();
    assert!(select(&c, "SELECT * FROM ks.t WHERE k = 1").is_empty());
}

#[test]
fn unsupported_reads_and_writes_are_invalid_and_name_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    for (stmt, feature) in [
        ("SELECT * FROM ks.t WHERE k = 1 AND v = 'x'", "filtering"),
        ("UPDATE ks.t SET v = 'a' WHERE k = 1", "clustering"),
    ] {
        let err = run(&c, stmt).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{stmt}: {err:?}");
        assert!(err.to_string().contains(feature), "{stmt}: {err}");
    }
}

#[test]
fn a_range_after_an_equality_prefix_on_ascending_columns_selects_the_right_rows() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.m (k text, a int, b int, v int, PRIMARY KEY ((k), a, b))",
    )
    .unwrap();
    for a in 0..3 {
        for b in 0..4 {
            run(
                &c,
                &format!(
                    "INSERT INTO ks.m (k, a, b, v) VALUES ('p', {a}, {b}, {})",
                    a * 10 + b
                ),
            )
            .unwrap();
        }
    }
    let v = |q: &str| -> Vec<i32> {
        select(&c, q)
            .iter()
            .map(|r| match r.first() {
                Some(Some(Value::Int(i))) => *i,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(
        v("SELECT v FROM ks.m WHERE k = 'p' AND a = 1"),
        vec![10, 11, 12, 13]
    );
    assert_eq!(
        v("SELECT v FROM ks.m WHERE k = 'p' AND a = 1 AND b >= 1 AND b < 3"),
        vec![11, 12]
    );
    assert_eq!(
        v("SELECT v FROM ks.m WHERE k = 'p' AND a > 1"),
        vec![20, 21, 22, 23]
    );
    // Like Cassandra: no restriction after a range (it would need filtering).
    let err = run(&c, "SELECT v FROM ks.m WHERE k = 'p' AND a <= 0 AND b > 2").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[derive(Debug, Clone)]
enum Op {
    Insert { k: i32, c: i32, v: i32 },
    DeleteRow { k: i32, c: i32 },
    DeletePartition { k: i32 },
}

fn op() -> impl proptest::strategy::Strategy<Value = (Op, i64)> {
    use proptest::prelude::*;
    let op = prop_oneof![
        4 => (0..3i32, 0..5i32, 0..100i32).prop_map(|(k, c, v)| Op::Insert { k, c, v }),
        1 => (0..3i32, 0..5i32).prop_map(|(k, c)| Op::DeleteRow { k, c }),
        1 => (0..3i32).prop_map(|k| Op::DeletePartition { k }),
    ];
    (op, 1..1000i64)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 24,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x11_10_4e),
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Writes with timestamps in any order read back as the model says: a row is live when its
    /// newest insert is newer than every deletion covering it, with that insert's value.
    #[test]
    fn reads_match_a_model_of_timestamped_writes_and_deletions(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
        run(&c, "CREATE TABLE ks.t (k int, c int, v int, PRIMARY KEY (k, c))").unwrap();
        // Unique timestamps (the random part orders them, the index breaks ties).
        let mut inserts: std::collections::BTreeMap<(i32, i32), (i64, i32)> = Default::default();
        let mut deletions: Vec<(i32, Option<i32>, i64)> = Vec::new();
        for (i, (o, t)) in ops.iter().enumerate() {
            let ts = t * 100 + i as i64;
            match o {
                Op::Insert { k, c: ck, v } => {
                    run(&c, &format!(
                        "INSERT INTO ks.t (k, c, v) VALUES ({k}, {ck}, {v}) USING TIMESTAMP {ts}"
                    )).unwrap();
                    let e = inserts.entry((*k, *ck)).or_insert((ts, *v));
                    if ts > e.0 {
                        *e = (ts, *v);
                    }
                }
                Op::DeleteRow { k, c: ck } => {
                    run(&c, &format!(
                        "DELETE FROM ks.t USING TIMESTAMP {ts} WHERE k = {k} AND c = {ck}"
                    )).unwrap();
                    deletions.push((*k, Some(*ck), ts));
                }
                Op::DeletePartition { k } => {
                    run(&c, &format!("DELETE FROM ks.t USING TIMESTAMP {ts} WHERE k = {k}"))
                        .unwrap();
                    deletions.push((*k, None, ts));
                }
            }
        }
        for k in 0..3 {
            let expected: Vec<Vec<Option<Value>>> = inserts
                .iter()
                .filter(|((pk, _), _)| *pk == k)
                .filter(|((pk, ck), (ts, _))| {
                    deletions
                        .iter()
                        .filter(|(dk, dc, _)| dk == pk && dc.is_none_or(|d| d == *ck))
                        .all(|(_, _, dts)| ts > dts)
                })
                .map(|((_, ck), (_, v))| vec![Some(Value::Int(*ck)), Some(Value::Int(*v))])
                .collect();
            let got = select(&c, &format!("SELECT c, v FROM ks.t WHERE k = {k}"));
            proptest::prop_assert_eq!(got, expected, "partition {}", k);
        }
    }
}

#[test]
fn static_columns_are_shared_by_the_rows_of_a_partition() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.s (k int, c int, s text static, v int, PRIMARY KEY (k, c))",
    )
    .unwrap();
    run(&c, "INSERT INTO ks.s (k, s) VALUES (1, 'shared')").unwrap();
    assert_eq!(
        select(&c, "SELECT * FROM ks.s WHERE k = 1"),
        vec![vec![
            Some(Value::Int(1)),
            None,
            Some(Value::Text("shared".into())),
            None
        ]]
    );
    run(&c, "INSERT INTO ks.s (k, c, v) VALUES (1, 1, 10)").unwrap();
    run(&c, "INSERT INTO ks.s (k, c, v) VALUES (1, 2, 20)").unwrap();
    assert_eq!(
        select(&c, "SELECT c, s, v FROM ks.s WHERE k = 1"),
        vec![
            vec![
                Some(Value::Int(1)),
                Some(Value::Text("shared".into())),
                Some(Value::Int(10))
            ],
            vec![
                Some(Value::Int(2)),
                Some(Value::Text("shared".into())),
                Some(Value::Int(20))
            ],
        ]
    );
    let err = run(&c, "INSERT INTO ks.s (k, v) VALUES (1, 5)").unwrap_err();
    assert!(err.to_string().contains("clustering"), "{err}");
}

#[test]
fn prepared_single_partition_statements_are_quick_and_scans_and_schema_changes_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let session = ilion_coordinator::Session::default();
    let quick = |text: &str| {
        let p = c.prepare(&session, text, None).unwrap();
        c.is_quick(&p.id)
    };
    assert!(quick("INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)"));
    assert!(quick("UPDATE ks.t SET v = ? WHERE k = ? AND c = ?"));
    assert!(quick("DELETE FROM ks.t WHERE k = ?"));
    assert!(quick("SELECT v FROM ks.t WHERE k = ?"));
    assert!(quick("SELECT v FROM ks.t WHERE k = 1 AND c > ?"));
    assert!(quick(
        "SELECT release_version FROM system.local WHERE key = 'local'"
    ));
    assert!(!quick("SELECT v FROM ks.t"));
    assert!(!quick("SELECT v FROM ks.t WHERE c = ? ALLOW FILTERING"));
    assert!(!quick("SELECT v FROM ks.t WHERE token(k) > ?"));
    assert!(!quick("SELECT * FROM system_schema.tables"));
    assert!(!quick("CREATE TABLE ks.u (k int PRIMARY KEY)"));
    assert!(!c.is_quick(b"not a prepared id"));
}

#[test]
fn update_and_delete_with_in_touch_every_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    for k in 1..=3 {
        for ck in 1..=3 {
            run(
                &c,
                &format!("INSERT INTO ks.t (k, c, v) VALUES ({k}, {ck}, 'old')"),
            )
            .unwrap();
        }
    }
    // IN on the partition key and on the clustering column: the cartesian product.
    run(
        &c,
        "UPDATE ks.t SET v = 'new' WHERE k IN (1, 2, 2) AND c IN (1, 3)",
    )
    .unwrap();
    let v = |k: i32| -> Vec<String> {
        select(&c, &format!("SELECT v FROM ks.t WHERE k = {k}"))
            .into_iter()
            .map(|r| match r.first() {
                Some(Some(Value::Text(s))) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    // Clustering order is DESC: c = 3, 2, 1.
    assert_eq!(v(1), vec!["new", "old", "new"]);
    assert_eq!(v(2), vec!["new", "old", "new"]);
    assert_eq!(v(3), vec!["old", "old", "old"]);

    run(&c, "DELETE FROM ks.t WHERE k = 1 AND c IN (2, 3)").unwrap();
    assert_eq!(ints(&select(&c, "SELECT c FROM ks.t WHERE k = 1")), vec![1]);
    run(&c, "DELETE v FROM ks.t WHERE k IN (2, 3) AND c = 1").unwrap();
    assert_eq!(
        select(&c, "SELECT v FROM ks.t WHERE k = 3 AND c = 1"),
        vec![vec![None]]
    );
    run(&c, "DELETE FROM ks.t WHERE k IN (2, 3)").unwrap();
    assert!(select(&c, "SELECT * FROM ks.t WHERE k IN (2, 3)").is_empty());
    assert_eq!(ints(&select(&c, "SELECT c FROM ks.t WHERE k = 1")), vec![1]);

    // The cartesian product is bounded, as Cassandra bounds it.
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let list = many.join(", ");
    let err = run(
        &c,
        &format!("UPDATE ks.t SET v = 'x' WHERE k IN ({list}) AND c IN ({list})"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("10201"), "{err}");
    // IN on a regular column is not a key restriction.
    let err = run(&c, "DELETE FROM ks.t WHERE k = 1 AND v IN ('a')").unwrap_err();
    assert!(err.to_string().contains("Non PRIMARY KEY"), "{err}");
}
