//! SELECT on user tables: range scans, token ranges, IN, multi-column slices, filtering,
//! aggregates, GROUP BY, DISTINCT, ORDER BY, limits, selector functions and paging, checked
//! against hand-computed answers and, with proptest, against a naive model of the table.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::{RF1, open, run, select};
use ilion_coordinator::{Coordinator, Error, Session};
use ilion_cql::protocol::{
    Consistency, CqlType, QueryParameters, RawValue, ResultBody, Value, Values,
};
use proptest::prelude::*;

type Rows = Vec<Vec<Option<Value>>>;

fn int(i: i32) -> Option<Value> {
    Some(Value::Int(i))
}

/// Runs `text` with `page_size`, following paging states to the end; returns every page.
fn pages(c: &Coordinator, text: &str, page_size: i32) -> Vec<Rows> {
    let mut params = QueryParameters::new(Consistency::One);
    params.page_size = Some(page_size);
    let mut out = Vec::new();
    loop {
        let ResultBody::Rows(rows) = c.query(&Session::default(), text, &params).unwrap() else {
            panic!("{text}: not rows")
        };
        let types: Vec<CqlType> = rows
            .metadata
            .columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.ty.clone())
            .collect();
        out.push(
            rows.rows()
                .map(|r| {
                    r.iter()
                        .zip(&types)
                        .map(|(v, t)| v.as_ref().map(|b| t.decode(b).unwrap()))
                        .collect()
                })
                .collect(),
        );
        match rows.metadata.paging_state {
            Some(state) => params.paging_state = Some(state),
            None => return out,
        }
        assert!(out.len() < 10_000, "{text}: paging does not end");
    }
}

fn paged(c: &Coordinator, text: &str, page_size: i32) -> Rows {
    pages(c, text, page_size).concat()
}

fn raw(ty: &CqlType, v: &Value) -> RawValue {
    let mut out = bytes::BytesMut::new();
    ty.encode(v, &mut out).unwrap();
    RawValue::Bytes(out.freeze())
}

fn token_of(k: i32) -> i64 {
    ilion_ring::Murmur3Partitioner
        .token(&k.to_be_bytes())
        .value()
}

fn setup(c: &Coordinator) {
    run(c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        c,
        "CREATE TABLE ks.m (k int, c1 int, c2 int, v int, s int static, \
         PRIMARY KEY (k, c1, c2))",
    )
    .unwrap();
}

fn fill(c: &Coordinator, parts: i32, c1s: i32, c2s: i32) {
    for k in 0..parts {
        for a in 0..c1s {
            for b in 0..c2s {
                run(
                    c,
                    &format!(
                        "INSERT INTO ks.m (k, c1, c2, v) VALUES ({k}, {a}, {b}, {})",
                        k * 100 + a * 10 + b
                    ),
                )
                .unwrap();
            }
        }
        run(c, &format!("INSERT INTO ks.m (k, s) VALUES ({k}, {k})")).unwrap();
    }
}

fn invalid(c: &Coordinator, text: &str) -> String {
    match run(c, text) {
        Err(e @ Error::Invalid { .. }) => e.to_string(),
        other => panic!("{text}: expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_full_scan_returns_every_partition_in_token_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 8, 2, 1);
    let rows = select(&c, "SELECT k, token(k) FROM ks.m");
    let mut expected: Vec<i32> = (0..8).flat_map(|k| [k, k]).collect();
    expected.sort_by_key(|k| token_of(*k));
    assert_eq!(
        rows,
        expected
            .iter()
            .map(|k| vec![int(*k), Some(Value::Bigint(token_of(*k)))])
            .collect::<Rows>()
    );
}

#[test]
fn token_ranges_split_the_table_into_disjoint_covering_scans() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 20, 1, 1);
    let bounds = [i64::MIN, -4_000_000_000_000_000_000, 0, 123_456, i64::MAX];
    let mut seen = Vec::new();
    for w in bounds.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        let q = format!("SELECT k FROM ks.m WHERE token(k) > {lo} AND token(k) <= {hi}");
        for r in select(&c, &q) {
            let Some(Value::Int(k)) = r[0] else { panic!() };
            assert!(token_of(k) > lo && token_of(k) <= hi);
            seen.push(k);
        }
    }
    seen.sort();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    let t = token_of(7);
    assert_eq!(
        select(&c, &format!("SELECT k FROM ks.m WHERE token(k) = {t}")),
        vec![vec![int(7)]]
    );
    assert_eq!(
        select(
            &c,
            &format!("SELECT k FROM ks.m WHERE token(k) >= {t} AND token(k) < {t}")
        ),
        Rows::new()
    );
    assert_eq!(
        select(&c, "SELECT k FROM ks.m WHERE token(k) = token(7)"),
        vec![vec![int(7)]]
    );
    assert!(invalid(&c, "SELECT k FROM ks.m WHERE token(k) > 0 AND k = 1").contains("token"));
}

#[test]
fn in_on_partition_and_clustering_keys_and_multi_column_slices() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 4, 3, 3);
    let rows = select(
        &c,
        "SELECT k, c1, c2 FROM ks.m WHERE k IN (3, 1, 3) AND c1 IN (2, 0) AND c2 = 1",
    );
    let mut keys = [1, 3];
    keys.sort_by_key(|k| token_of(*k));
    let expected: Rows = keys
        .iter()
        .flat_map(|k| [0, 2].map(|a| vec![int(*k), int(a), int(1)]))
        .collect();
    assert_eq!(rows, expected);
    let rows = select(
        &c,
        "SELECT c1, c2 FROM ks.m WHERE k = 1 AND (c1, c2) > (1, 1) AND (c1, c2) <= (2, 0)",
    );
    assert_eq!(rows, vec![vec![int(1), int(2)], vec![int(2), int(0)]]);
    let rows = select(
        &c,
        "SELECT c1, c2 FROM ks.m WHERE k = 1 AND (c1, c2) IN ((2, 2), (0, 1))",
    );
    assert_eq!(rows, vec![vec![int(0), int(1)], vec![int(2), int(2)]]);
    let rows = select(&c, "SELECT c2 FROM ks.m WHERE k = 1 AND c1 = 1 AND c2 >= 1");
    assert_eq!(rows, vec![vec![int(1)], vec![int(2)]]);
    assert!(
        invalid(
            &c,
            "SELECT * FROM ks.m WHERE k = 1 AND c1 = 1 AND (c1, c2) > (0, 0)"
        )
        .contains("Mixing")
    );
}

#[test]
fn filtering_needs_allow_filtering_and_then_filters() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 3, 3, 3);
    const MSG: &str = "Cannot execute this query as it might involve data filtering and thus may \
        have unpredictable performance. If you want to execute this query despite the performance \
        unpredictability, use ALLOW FILTERING";
    for q in [
        "SELECT * FROM ks.m WHERE v = 5",
        "SELECT * FROM ks.m WHERE k = 1 AND v = 5",
        "SELECT * FROM ks.m WHERE c1 = 1",
        "SELECT * FROM ks.m WHERE k = 1 AND c2 = 1",
        "SELECT * FROM ks.m WHERE s = 1",
    ] {
        assert_eq!(invalid(&c, q), MSG, "{q}");
    }
    let rows = select(
        &c,
        "SELECT v FROM ks.m WHERE v > 120 AND v < 200 ALLOW FILTERING",
    );
    let mut got: Vec<i32> = rows
        .iter()
        .map(|r| match r[0] {
            Some(Value::Int(v)) => v,
            _ => panic!(),
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![121, 122]);
    let rows = select(
        &c,
        "SELECT k, c1, c2 FROM ks.m WHERE k = 2 AND c2 = 2 ALLOW FILTERING",
    );
    assert_eq!(
        rows,
        (0..3)
            .map(|a| vec![int(2), int(a), int(2)])
            .collect::<Rows>()
    );
    // Regression (found by the driver test): a clustering restriction after an unrestricted
    // column in a full scan was dropped instead of filtered.
    let rows = select(
        &c,
        "SELECT v FROM ks.m WHERE v >= 200 AND c2 = 2 ALLOW FILTERING",
    );
    assert_eq!(rows, vec![vec![int(202)], vec![int(212)], vec![int(222)]]);
    let rows = paged(
        &c,
        "SELECT v FROM ks.m WHERE c1 = 1 AND c2 = 0 ALLOW FILTERING",
        1,
    );
    assert_eq!(rows.len(), 3);
}

#[test]
fn contains_and_contains_key_filter_frozen_collections() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.f (k int PRIMARY KEY, tags frozen<set<text>>, m frozen<map<text, int>>)",
    )
    .unwrap();
    let set = |items: &[&str]| Value::Set(items.iter().map(|s| Value::Text((*s).into())).collect());
    let map = |k: &str, v: i32| Value::Map(vec![(Value::Text(k.into()), Value::Int(v))]);
    let set_ty = CqlType::set(CqlType::Text);
    let map_ty = CqlType::map(CqlType::Text, CqlType::Int);
    for (k, tags, m) in [
        (1, set(&["a", "b"]), map("x", 1)),
        (2, set(&["b"]), map("y", 2)),
    ] {
        let mut params = QueryParameters::new(Consistency::One);
        params.values = Values::Positional(vec![
            raw(&CqlType::Int, &Value::Int(k)),
            raw(&set_ty, &tags),
            raw(&map_ty, &m),
        ]);
        c.query(
            &Session::default(),
            "INSERT INTO ks.f (k, tags, m) VALUES (?, ?, ?)",
            &params,
        )
        .unwrap();
    }
    let ks = |q: &str| -> Vec<i32> {
        let mut v: Vec<i32> = select(&c, q)
            .iter()
            .map(|r| match r[0] {
                Some(Value::Int(k)) => k,
                _ => panic!(),
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ks("SELECT k FROM ks.f WHERE tags CONTAINS 'a' ALLOW FILTERING"),
        vec![1]
    );
    assert_eq!(
        ks("SELECT k FROM ks.f WHERE tags CONTAINS 'b' ALLOW FILTERING"),
        vec![1, 2]
    );
    assert_eq!(
        ks("SELECT k FROM ks.f WHERE m CONTAINS KEY 'y' ALLOW FILTERING"),
        vec![2]
    );
    assert_eq!(
        ks("SELECT k FROM ks.f WHERE m CONTAINS 1 ALLOW FILTERING"),
        vec![1]
    );
}

#[test]
fn aggregates_are_typed_as_cassandra_types_them_and_span_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 3, 4, 5);
    run(&c, "INSERT INTO ks.m (k, c1, c2) VALUES (9, 0, 0)").unwrap();
    let rows = paged(
        &c,
        "SELECT count(*), count(v), min(v), max(v), sum(v), avg(v), sum(c1) AS total FROM ks.m",
        7,
    );
    let vs: Vec<i32> = (0..3)
        .flat_map(|k| (0..4).flat_map(move |a| (0..5).map(move |b| k * 100 + a * 10 + b)))
        .collect();
    let sum: i32 = vs.iter().sum();
    assert_eq!(
        rows,
        vec![vec![
            Some(Value::Bigint(61)),
            Some(Value::Bigint(60)),
            int(0),
            int(234),
            int(sum),
            int(sum / 60),
            int(3 * 5 * 6),
        ]]
    );
    assert_eq!(
        select(&c, "SELECT count(*) FROM ks.m WHERE k = 42"),
        vec![vec![Some(Value::Bigint(0))]]
    );
    assert_eq!(
        select(&c, "SELECT k, count(*) FROM ks.m WHERE k = 1 AND c1 = 2"),
        vec![vec![int(1), Some(Value::Bigint(5))]]
    );
    let ResultBody::Rows(r) =
        run(&c, "SELECT max(v), count(1), avg(v) FROM ks.m WHERE k = 1").unwrap()
    else {
        panic!()
    };
    let specs = r.metadata.columns.unwrap();
    assert_eq!(specs[0].name, "system.max(v)");
    assert_eq!(specs[1].ty, CqlType::Bigint);
    assert_eq!(specs[2].ty, CqlType::Int);
}

#[test]
fn group_by_folds_each_group_and_pages_by_groups() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 3, 4, 5);
    let rows = paged(
        &c,
        "SELECT k, c1, count(*), max(c2) FROM ks.m WHERE k = 1 GROUP BY k, c1",
        3,
    );
    assert_eq!(
        rows,
        (0..4)
            .map(|a| vec![int(1), int(a), Some(Value::Bigint(5)), int(4)])
            .collect::<Rows>()
    );
    let by_partition = paged(&c, "SELECT k, count(*) FROM ks.m GROUP BY k", 1);
    let mut keys: Vec<i32> = (0..3).collect();
    keys.sort_by_key(|k| token_of(*k));
    assert_eq!(
        by_partition,
        keys.iter()
            .map(|k| vec![int(*k), Some(Value::Bigint(20))])
            .collect::<Rows>()
    );
    let limited = paged(
        &c,
        "SELECT k, c1, count(*) FROM ks.m GROUP BY k, c1 LIMIT 5",
        2,
    );
    assert_eq!(limited.len(), 5);
    let ppl = paged(
        &c,
        "SELECT k, c1 FROM ks.m GROUP BY k, c1 PER PARTITION LIMIT 2",
        1,
    );
    assert_eq!(ppl.len(), 6);
    assert!(invalid(&c, "SELECT count(*) FROM ks.m GROUP BY c1").contains("Group by"));
}

#[test]
fn distinct_returns_each_partition_key_once_with_its_static() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 5, 2, 2);
    run(&c, "INSERT INTO ks.m (k, s) VALUES (50, 77)").unwrap();
    let rows = paged(&c, "SELECT DISTINCT k, s FROM ks.m", 2);
    let mut keys: Vec<i32> = (0..5).chain([50]).collect();
    keys.sort_by_key(|k| token_of(*k));
    assert_eq!(
        rows,
        keys.iter()
            .map(|k| vec![int(*k), int(if *k == 50 { 77 } else { *k })])
            .collect::<Rows>()
    );
    assert!(invalid(&c, "SELECT DISTINCT k, v FROM ks.m").contains("DISTINCT"));
}

#[test]
fn order_by_reverses_the_clustering_order_within_a_partition() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 3, 3, 2);
    let rows = paged(
        &c,
        "SELECT c1, c2 FROM ks.m WHERE k = 1 ORDER BY c1 DESC, c2 DESC",
        4,
    );
    let mut expected: Rows = (0..3)
        .flat_map(|a| (0..2).map(move |b| vec![int(a), int(b)]))
        .collect();
    expected.reverse();
    assert_eq!(rows, expected);
    let rows = select(
        &c,
        "SELECT c1 FROM ks.m WHERE k = 1 AND c1 IN (0, 2) ORDER BY c1 DESC LIMIT 3",
    );
    assert_eq!(rows, vec![vec![int(2)], vec![int(2)], vec![int(0)]]);
    assert!(invalid(&c, "SELECT * FROM ks.m ORDER BY c1 DESC").contains("ORDER BY"));
    assert!(
        invalid(
            &c,
            "SELECT * FROM ks.m WHERE k = 1 ORDER BY c1 DESC, c2 ASC"
        )
        .contains("order by")
    );
    // IN on the key: sorted in memory, which cannot page.
    let rows = select(
        &c,
        "SELECT k, c1, c2 FROM ks.m WHERE k IN (0, 2) ORDER BY c1 DESC, c2 DESC",
    );
    let firsts: Vec<Option<Value>> = rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        firsts,
        [2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0].map(int).to_vec()
    );
    let mut params = QueryParameters::new(Consistency::One);
    params.page_size = Some(10);
    let err = c
        .query(
            &Session::default(),
            "SELECT * FROM ks.m WHERE k IN (0, 2) ORDER BY c1 DESC",
            &params,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Cannot page queries with both ORDER BY and a IN")
    );
}

#[test]
fn per_partition_limit_and_limit_cut_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 4, 3, 3);
    assert_eq!(
        select(&c, "SELECT * FROM ks.m PER PARTITION LIMIT 2").len(),
        8
    );
    assert_eq!(
        paged(&c, "SELECT * FROM ks.m PER PARTITION LIMIT 2", 3).len(),
        8
    );
    assert_eq!(
        paged(&c, "SELECT * FROM ks.m PER PARTITION LIMIT 4 LIMIT 10", 3).len(),
        10
    );
    assert_eq!(
        paged(
            &c,
            "SELECT * FROM ks.m WHERE v > 0 PER PARTITION LIMIT 1 ALLOW FILTERING",
            1
        )
        .len(),
        4
    );
    assert!(invalid(&c, "SELECT * FROM ks.m LIMIT 0").contains("LIMIT"));
}

#[test]
fn writetime_and_ttl_come_from_the_cells() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "INSERT INTO ks.m (k, c1, c2, v) VALUES (1, 1, 1, 5) USING TIMESTAMP 12345 AND TTL 1000",
    )
    .unwrap();
    run(
        &c,
        "INSERT INTO ks.m (k, c1, c2, v) VALUES (1, 1, 2, 6) USING TIMESTAMP 999",
    )
    .unwrap();
    let rows = select(&c, "SELECT writetime(v), ttl(v) FROM ks.m WHERE k = 1");
    assert_eq!(rows[0][0], Some(Value::Bigint(12345)));
    let Some(Value::Int(ttl)) = rows[0][1] else {
        panic!("{rows:?}")
    };
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert_eq!(rows[1], vec![Some(Value::Bigint(999)), None]);
    assert!(invalid(&c, "SELECT writetime(c1) FROM ks.m WHERE k = 1").contains("PRIMARY KEY"));
}

#[test]
fn a_table_default_ttl_applies_unless_the_write_says_ttl_0() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.d (k int PRIMARY KEY, v int) WITH default_time_to_live = 5000",
    )
    .unwrap();
    run(&c, "INSERT INTO ks.d (k, v) VALUES (1, 1)").unwrap();
    run(&c, "INSERT INTO ks.d (k, v) VALUES (2, 2) USING TTL 0").unwrap();
    run(&c, "INSERT INTO ks.d (k, v) VALUES (3, 3) USING TTL 100").unwrap();
    run(&c, "UPDATE ks.d USING TTL 0 SET v = 4 WHERE k = 4").unwrap();
    let ttl = |k: i32| {
        let rows = select(&c, &format!("SELECT ttl(v) FROM ks.d WHERE k = {k}"));
        match rows.first().and_then(|r| r.first()) {
            Some(Some(Value::Int(t))) => Some(*t),
            Some(None) => None,
            other => panic!("{other:?}"),
        }
    };
    assert!(
        ttl(1).is_some_and(|t| (4990..=5000).contains(&t)),
        "{:?}",
        ttl(1)
    );
    assert_eq!(ttl(2), None, "USING TTL 0 overrides the table's default");
    assert!(
        ttl(3).is_some_and(|t| (90..=100).contains(&t)),
        "{:?}",
        ttl(3)
    );
    assert_eq!(
        ttl(4),
        None,
        "UPDATE USING TTL 0 overrides the table's default"
    );
}

#[test]
fn native_functions_and_casts_compute_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.fn (k int PRIMARY KEY, t timeuuid, ts timestamp, i int, b blob)",
    )
    .unwrap();
    run(&c, "INSERT INTO ks.fn (k, t, ts, i, b) VALUES (1, 50554d6e-29bb-11e5-b345-feff819cdc9f, 86400000, 7, 0x0000002a)").unwrap();
    let rows = select(
        &c,
        "SELECT toUnixTimestamp(t), toDate(ts), toTimestamp(t), blobAsInt(b), intAsBlob(i), \
         CAST(i AS text), CAST(i AS double), uuid(), now() FROM ks.fn WHERE k = 1",
    );
    let r = &rows[0];
    assert_eq!(r[0], Some(Value::Bigint(1_436_832_018_805)));
    assert_eq!(r[1], Some(Value::Date((1 << 31) + 1)));
    assert_eq!(r[2], Some(Value::Timestamp(1_436_832_018_805)));
    assert_eq!(r[3], int(42));
    assert_eq!(r[4], Some(Value::Blob(Bytes::from_static(&[0, 0, 0, 7]))));
    assert_eq!(r[5], Some(Value::Text("7".into())));
    assert_eq!(r[6], Some(Value::Double(7.0)));
    assert!(matches!(r[7], Some(Value::Uuid(_))));
    assert!(matches!(r[8], Some(Value::Timeuuid(_))));
    assert!(invalid(&c, "SELECT nosuch(i) FROM ks.fn WHERE k = 1").contains("nosuch"));
}

#[test]
fn selectors_compute_arithmetic_elements_fields_and_collection_functions() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(&c, "CREATE TYPE ks.pt (x int, y int)").unwrap();
    run(
        &c,
        "CREATE TABLE ks.sel (k int PRIMARY KEY, i int, bi bigint, m map<text, int>, \
         st set<int>, l list<int>, p frozen<pt>, ts timestamp)",
    )
    .unwrap();
    run(
        &c,
        "INSERT INTO ks.sel (k, i, bi, m, st, l, p, ts) VALUES (1, -7, 3, {'a': 10}, {2, 9}, \
         [5, 1], {x: 4, y: 6}, '2020-01-31 00:00:00+0000')",
    )
    .unwrap();
    let rows = select(
        &c,
        "SELECT i + bi, i / 2, -i, m['a'], st[9], p.y, map_keys(m), collection_max(l), \
         abs(i), ts + 1mo FROM ks.sel WHERE k = 1",
    );
    assert_eq!(
        rows[0],
        vec![
            Some(Value::Bigint(-4)),
            int(-3),
            int(7),
            int(10),
            int(9),
            int(6),
            Some(Value::Set(vec![Value::Text("a".into())])),
            int(5),
            int(7),
            Some(Value::Timestamp(1_582_934_400_000)),
        ]
    );
    assert_eq!(
        invalid(&c, "SELECT l[0] FROM ks.sel"),
        "Element selection is only allowed on sets and maps, but l is a list"
    );
    match run(&c, "SELECT i / 0 FROM ks.sel") {
        Err(e @ Error::FunctionFailure { .. }) => {
            assert_eq!(e.to_string(), "the operation 'int / int' failed: / by zero")
        }
        other => panic!("expected a function failure, got {other:?}"),
    }
}

#[test]
fn markers_in_selectors_and_function_arguments_are_typed_and_bound() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 2, 1, 1);
    let text = "SELECT intAsBlob(?), v FROM ks.m WHERE k = blobAsInt(?) LIMIT ?";
    let p = c.prepare(&Session::default(), text, None).unwrap();
    let names: Vec<(String, CqlType)> = p
        .metadata
        .columns
        .iter()
        .map(|s| (s.name.clone(), s.ty.clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("arg0(system.intasblob)".to_owned(), CqlType::Int),
            ("arg0(system.blobasint)".to_owned(), CqlType::Blob),
            ("[limit]".to_owned(), CqlType::Int),
        ]
    );
    let mut params = QueryParameters::new(Consistency::One);
    params.values = Values::Positional(vec![
        raw(&CqlType::Int, &Value::Int(9)),
        raw(
            &CqlType::Blob,
            &Value::Blob(Bytes::from_static(&[0, 0, 0, 1])),
        ),
        RawValue::Unset,
    ]);
    let ResultBody::Rows(rows) = c.execute(&p.id, &params).unwrap() else {
        panic!("not rows")
    };
    let got: Vec<Vec<Option<Bytes>>> = rows.rows().map(|r| r.to_vec()).collect();
    assert_eq!(
        got,
        vec![vec![
            Some(Bytes::from_static(&[0, 0, 0, 9])),
            Some(Bytes::from_static(&[0, 0, 0, 100])),
        ]]
    );
}

#[test]
fn static_only_partitions_show_unless_clustering_is_restricted() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(&c, "INSERT INTO ks.m (k, s) VALUES (1, 3)").unwrap();
    assert_eq!(
        select(&c, "SELECT k, c1, s FROM ks.m"),
        vec![vec![int(1), None, int(3)]]
    );
    assert_eq!(
        select(&c, "SELECT k FROM ks.m WHERE k = 1 AND c1 = 0"),
        Rows::new()
    );
}

#[test]
fn a_corrupt_paging_state_is_invalid_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    fill(&c, 2, 2, 2);
    for state in [
        &b""[..],
        &[2],
        &[2, 0, 1, 0],
        &[9, 9, 9],
        &[2, 7, 0, 0, 0, 0],
    ] {
        let mut params = QueryParameters::new(Consistency::One);
        params.page_size = Some(2);
        params.paging_state = Some(Bytes::copy_from_slice(state));
        let r = c.query(&Session::default(), "SELECT * FROM ks.m", &params);
        assert!(matches!(r, Err(Error::Invalid { .. })), "{state:?}: {r:?}");
    }
}

#[test]
fn thousands_of_rows_page_in_order_with_no_loss_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(&c, "CREATE TABLE ks.big (k int, c int, PRIMARY KEY (k, c))").unwrap();
    for k in 0..4 {
        for i in 0..500 {
            run(&c, &format!("INSERT INTO ks.big (k, c) VALUES ({k}, {i})")).unwrap();
        }
    }
    let all = pages(&c, "SELECT k, c FROM ks.big", 333);
    assert!(all.iter().all(|p| p.len() <= 333));
    let rows = all.concat();
    assert_eq!(rows.len(), 2_000);
    assert_eq!(rows, select(&c, "SELECT k, c FROM ks.big"));
}

/// A naive model of `ks.m`: partitions by key, rows by (c1, c2), a static per partition.
#[derive(Debug, Default, Clone)]
struct Part {
    s: Option<i32>,
    rows: BTreeMap<(i32, i32), Option<i32>>,
}

#[derive(Debug, Clone)]
struct Query {
    keys: Option<Vec<i32>>,
    c1_eq: Option<i32>,
    c2_gt: Option<i32>,
    /// `c2 = x` without a restriction on c1 (a filter after a gap).
    c2_eq: Option<i32>,
    v_ge: Option<i32>,
    desc: bool,
    ppl: Option<u32>,
    limit: Option<u32>,
    page: i32,
}

impl Query {
    fn cql(&self) -> String {
        let mut w = Vec::new();
        if let Some(keys) = &self.keys {
            let ks: Vec<String> = keys.iter().map(i32::to_string).collect();
            w.push(format!("k IN ({})", ks.join(", ")));
        }
        if let Some(a) = self.c1_eq {
            w.push(format!("c1 = {a}"));
            if let Some(b) = self.c2_gt {
                w.push(format!("c2 > {b}"));
            }
        } else if let Some(b) = self.c2_eq {
            w.push(format!("c2 = {b}"));
        }
        if let Some(v) = self.v_ge {
            w.push(format!("v >= {v}"));
        }
        let mut q = "SELECT k, c1, c2, v, s FROM ks.m".to_owned();
        if !w.is_empty() {
            q += &format!(" WHERE {}", w.join(" AND "));
        }
        if self.desc {
            q += " ORDER BY c1 DESC";
        }
        if let Some(p) = self.ppl {
            q += &format!(" PER PARTITION LIMIT {p}");
        }
        if let Some(l) = self.limit {
            q += &format!(" LIMIT {l}");
        }
        if self.v_ge.is_some()
            || self.c2_eq.is_some()
            || (self.keys.is_none() && self.c1_eq.is_some())
        {
            q += " ALLOW FILTERING";
        }
        q
    }

    fn expected(&self, model: &BTreeMap<i32, Part>) -> Rows {
        let mut keys: Vec<i32> = model.keys().copied().collect();
        if let Some(only) = &self.keys {
            keys.retain(|k| only.contains(k));
        }
        keys.sort_by_key(|k| (token_of(*k), *k));
        let mut out = Vec::new();
        for k in keys {
            let p = &model[&k];
            let mut rows: Vec<Rows> = Vec::new();
            let mut in_part = Vec::new();
            for (&(a, b), &v) in &p.rows {
                if self.c1_eq.is_some_and(|x| x != a)
                    || self.c2_gt.is_some_and(|x| self.c1_eq.is_some() && b <= x)
                {
                    continue;
                }
                if self.c1_eq.is_none() && self.c2_eq.is_some_and(|x| x != b) {
                    continue;
                }
                if self.v_ge.is_some_and(|x| v.is_none_or(|v| v < x)) {
                    continue;
                }
                in_part.push(vec![
                    int(k),
                    int(a),
                    int(b),
                    v.map(Value::Int),
                    p.s.map(Value::Int),
                ]);
            }
            if p.rows.is_empty()
                && p.s.is_some()
                && self.c1_eq.is_none()
                && self.c2_eq.is_none()
                && self.v_ge.is_none()
            {
                in_part.push(vec![int(k), None, None, None, p.s.map(Value::Int)]);
            }
            if self.desc {
                in_part.reverse();
            }
            in_part.truncate(self.ppl.map_or(usize::MAX, |p| p as usize));
            rows.push(in_part);
            out.extend(rows.concat());
        }
        out.truncate(self.limit.map_or(usize::MAX, |l| l as usize));
        out
    }
}

fn query_strategy() -> impl Strategy<Value = Query> {
    (
        prop::option::of(prop::collection::vec(0..6i32, 1..3)),
        prop::option::of(0..3i32),
        prop::option::of(0..3i32),
        prop::option::of(0..3i32),
        prop::option::of(0..60i32),
        any::<bool>(),
        prop::option::of(1..4u32),
        prop::option::of(1..12u32),
        1..6i32,
    )
        .prop_map(
            |(keys, c1_eq, c2_gt, c2_eq, v_ge, desc, ppl, limit, page)| Query {
                // ORDER BY needs one partition (a key IN sorts in memory and cannot page).
                desc: desc && keys.as_ref().is_some_and(|k| k.len() == 1),
                keys,
                c1_eq,
                c2_gt,
                c2_eq,
                v_ge,
                ppl,
                limit,
                page,
            },
        )
}

type Writes = Vec<(i32, i32, i32, Option<i32>, Option<i32>)>;

fn writes_strategy() -> impl Strategy<Value = Writes> {
    prop::collection::vec(
        (
            0..6i32,
            0..3i32,
            0..3i32,
            prop::option::of(0..60i32),
            prop::option::of(0..9i32),
        ),
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5e1ec7),
        ..ProptestConfig::default()
    })]

    #[test]
    fn paged_selects_agree_with_a_naive_model(writes in writes_strategy(), queries in prop::collection::vec(query_strategy(), 6)) {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        setup(&c);
        let mut model: BTreeMap<i32, Part> = BTreeMap::new();
        for (k, a, b, v, s) in &writes {
            let p = model.entry(*k).or_default();
            match s {
                // A static-only write: no row.
                Some(s) if *a == 0 && *b == 0 => {
                    run(&c, &format!("INSERT INTO ks.m (k, s) VALUES ({k}, {s})")).unwrap();
                    p.s = Some(*s);
                }
                _ => {
                    let v_text = v.map_or("null".to_owned(), |v| v.to_string());
                    run(&c, &format!("INSERT INTO ks.m (k, c1, c2, v) VALUES ({k}, {a}, {b}, {v_text})")).unwrap();
                    p.rows.insert((*a, *b), *v);
                }
            }
        }
        for q in &queries {
            let got = paged(&c, &q.cql(), q.page);
            prop_assert_eq!(got, q.expected(&model), "{}", q.cql());
        }
    }
}

#[test]
fn multi_column_slices_compare_tuples_by_value_over_mixed_clustering_orders() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.x (k int, a int, b int, PRIMARY KEY (k, a, b)) \
         WITH CLUSTERING ORDER BY (a ASC, b DESC)",
    )
    .unwrap();
    for a in 0..3 {
        for b in 0..3 {
            run(
                &c,
                &format!("INSERT INTO ks.x (k, a, b) VALUES (1, {a}, {b})"),
            )
            .unwrap();
        }
    }
    let rows = select(
        &c,
        "SELECT a, b FROM ks.x WHERE k = 1 AND (a, b) > (0, 1) AND (a, b) <= (2, 0)",
    );
    // Clustering order: a ascending, b descending; the tuple bounds compare values.
    let expected: Rows = [(0, 2), (1, 2), (1, 1), (1, 0), (2, 0)]
        .iter()
        .map(|(a, b)| vec![int(*a), int(*b)])
        .collect();
    assert_eq!(rows, expected);
    let desc = select(
        &c,
        "SELECT b FROM ks.x WHERE k = 1 AND a = 1 AND b < 2 ORDER BY a DESC, b ASC",
    );
    assert_eq!(desc, vec![vec![int(0)], vec![int(1)]]);
}
