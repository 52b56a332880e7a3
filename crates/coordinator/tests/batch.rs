//! BATCH, as CQL text and as the protocol message, on a single node.

mod common;

use bytes::Bytes;
use common::{RF1, open, run, select};
use ilion_coordinator::{Coordinator, Error, Executed, Session};
use ilion_cql::protocol::{
    Batch, BatchKind, BatchQuery, BatchStatement, Consistency, QueryParameters, RawValue,
    ResultBody, Value, Values,
};

fn setup(c: &Coordinator) {
    run(c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        c,
        "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))",
    )
    .unwrap();
    run(c, "CREATE TABLE ks.u (id int PRIMARY KEY, name text)").unwrap();
}

fn query(c: &Coordinator, text: &str) -> Result<Executed, Error> {
    c.query_warned(
        &Session::default(),
        text,
        &QueryParameters::new(Consistency::One),
    )
}

/// (c, v) of partition `k` of ks.t.
fn rows(c: &Coordinator, k: i32) -> Vec<(i32, Option<String>)> {
    select(c, &format!("SELECT c, v FROM ks.t WHERE k = {k}"))
        .into_iter()
        .map(|r| match (&r[0], &r[1]) {
            (Some(Value::Int(c)), Some(Value::Text(v))) => (*c, Some(v.clone())),
            (Some(Value::Int(c)), None) => (*c, None),
            other => panic!("unexpected row {other:?}"),
        })
        .collect()
}

fn name(c: &Coordinator, id: i32) -> Option<String> {
    let r = select(c, &format!("SELECT name FROM ks.u WHERE id = {id}"));
    match r.first().map(|r| &r[0]) {
        Some(Some(Value::Text(n))) => Some(n.clone()),
        None => None,
        other => panic!("unexpected {other:?}"),
    }
}

fn invalid_message(r: Result<Executed, Error>) -> String {
    match r {
        Err(Error::Invalid { message }) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn text(v: &str) -> RawValue {
    RawValue::Bytes(Bytes::copy_from_slice(v.as_bytes()))
}

fn int(v: i32) -> RawValue {
    RawValue::Bytes(Bytes::copy_from_slice(&v.to_be_bytes()))
}

fn protocol_batch(kind: BatchKind, statements: Vec<(BatchQuery, Vec<RawValue>)>) -> Batch {
    Batch {
        kind,
        statements: statements
            .into_iter()
            .map(|(query, values)| BatchStatement {
                query,
                values: Values::Positional(values),
            })
            .collect(),
        consistency: Consistency::One,
        serial_consistency: None,
        default_timestamp: None,
        keyspace: None,
        now_in_seconds: None,
    }
}

#[test]
fn a_text_batch_applies_inserts_updates_and_deletes_to_several_tables() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(&c, "INSERT INTO ks.t (k, c, v) VALUES (1, 9, 'doomed')").unwrap();
    let done = query(
        &c,
        "BEGIN BATCH \
           INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a'); \
           INSERT INTO ks.t (k, c, v) VALUES (1, 2, 'b'); \
           UPDATE ks.t SET v = 'b2' WHERE k = 1 AND c = 2; \
           DELETE FROM ks.t WHERE k = 1 AND c = 9; \
           INSERT INTO ks.u (id, name) VALUES (7, 'seven') USING TTL 1000; \
         APPLY BATCH",
    )
    .unwrap();
    assert_eq!(done.result, ResultBody::Void);
    assert_eq!(done.warnings, Vec::<String>::new());
    assert_eq!(
        rows(&c, 1),
        vec![(1, Some("a".into())), (2, Some("b2".into()))]
    );
    assert_eq!(name(&c, 7), Some("seven".into()));
}

#[test]
fn statements_of_a_batch_share_one_timestamp_so_a_delete_beats_an_insert_of_the_same_row() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    query(
        &c,
        "BEGIN UNLOGGED BATCH \
           INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'x'); \
           DELETE FROM ks.t WHERE k = 1 AND c = 1; \
           INSERT INTO ks.t (k, c, v) VALUES (1, 2, 'kept'); \
         APPLY BATCH",
    )
    .unwrap();
    assert_eq!(rows(&c, 1), vec![(2, Some("kept".into()))]);
}

#[test]
fn the_batch_timestamp_applies_to_every_statement() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'at 100') USING TIMESTAMP 100",
    )
    .unwrap();
    query(
        &c,
        "BEGIN BATCH USING TIMESTAMP 50 \
           UPDATE ks.t SET v = 'at 50' WHERE k = 1 AND c = 1; \
           INSERT INTO ks.t (k, c, v) VALUES (1, 2, 'new at 50'); \
         APPLY BATCH",
    )
    .unwrap();
    assert_eq!(
        rows(&c, 1),
        vec![(1, Some("at 100".into())), (2, Some("new at 50".into()))]
    );
    query(
        &c,
        "BEGIN BATCH USING TIMESTAMP 150 \
           UPDATE ks.t SET v = 'at 150' WHERE k = 1 AND c = 1; \
           DELETE FROM ks.t WHERE k = 1 AND c = 2; \
         APPLY BATCH",
    )
    .unwrap();
    assert_eq!(rows(&c, 1), vec![(1, Some("at 150".into()))]);
}

#[test]
fn a_timestamp_on_both_the_batch_and_a_statement_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let message = invalid_message(query(
        &c,
        "BEGIN BATCH USING TIMESTAMP 50 \
           INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 60; \
         APPLY BATCH",
    ));
    assert_eq!(
        message,
        "Timestamp must be set either on BATCH or individual statements"
    );
    // A statement's own timestamp without one on the batch is fine.
    query(
        &c,
        "BEGIN BATCH INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a') USING TIMESTAMP 60; \
         APPLY BATCH",
    )
    .unwrap();
    assert_eq!(rows(&c, 1), vec![(1, Some("a".into()))]);
}

#[test]
fn counter_cross_partition_conditional_and_batch_ttl_batches_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let counter = invalid_message(query(
        &c,
        "BEGIN COUNTER BATCH INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a'); APPLY BATCH",
    ));
    assert_eq!(
        counter,
        "Cannot include non-counter statement in a counter batch"
    );
    let conditional = invalid_message(query(
        &c,
        "BEGIN BATCH \
           INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a'); \
           INSERT INTO ks.t (k, c, v) VALUES (2, 2, 'b') IF NOT EXISTS; \
         APPLY BATCH",
    ));
    assert_eq!(
        conditional,
        "Batch with conditions cannot span multiple partitions"
    );
    // The grammar allows only a timestamp on the batch itself.
    assert!(matches!(
        query(
            &c,
            "BEGIN BATCH USING TTL 10 INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a'); APPLY BATCH",
        ),
        Err(Error::Syntax { .. })
    ));
    assert_eq!(rows(&c, 1), vec![]);
}

#[test]
fn a_batch_with_one_bad_statement_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let message = invalid_message(query(
        &c,
        "BEGIN BATCH \
           INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a'); \
           INSERT INTO ks.u (id, nope) VALUES (1, 'x'); \
         APPLY BATCH",
    ));
    assert!(message.contains("nope"), "{message}");
    assert_eq!(rows(&c, 1), vec![]);
}

#[test]
fn a_protocol_batch_mixes_prepared_and_text_statements_each_with_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let session = Session {
        keyspace: Some("ks".into()),
    };
    let prepared = c
        .prepare(&session, "INSERT INTO t (k, c, v) VALUES (?, ?, ?)", None)
        .unwrap();
    let batch = protocol_batch(
        BatchKind::Logged,
        vec![
            (
                BatchQuery::Prepared(prepared.id.clone()),
                vec![int(1), int(1), text("one")],
            ),
            (
                BatchQuery::Prepared(prepared.id.clone()),
                vec![int(1), int(2), RawValue::Unset],
            ),
            (
                BatchQuery::Text("UPDATE u SET name = ? WHERE id = ?".into()),
                vec![text("named"), int(5)],
            ),
            (
                BatchQuery::Text("INSERT INTO ks.t (k, c, v) VALUES (2, 1, 'literal')".into()),
                vec![],
            ),
        ],
    );
    let done = c.batch(&session, &batch).unwrap();
    assert_eq!(done.result, ResultBody::Void);
    assert_eq!(rows(&c, 1), vec![(1, Some("one".into())), (2, None)]);
    assert_eq!(rows(&c, 2), vec![(1, Some("literal".into()))]);
    assert_eq!(name(&c, 5), Some("named".into()));
}

#[test]
fn a_protocol_batch_refuses_selects_and_unknown_prepared_ids() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let session = Session::default();
    let select = protocol_batch(
        BatchKind::Logged,
        vec![
            (
                BatchQuery::Text("INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a')".into()),
                vec![],
            ),
            (
                BatchQuery::Text("SELECT * FROM ks.t WHERE k = 1".into()),
                vec![],
            ),
        ],
    );
    assert_eq!(
        invalid_message(c.batch(&session, &select)),
        "Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed."
    );
    let unknown = protocol_batch(
        BatchKind::Unlogged,
        vec![(BatchQuery::Prepared(Bytes::from_static(b"nope")), vec![])],
    );
    assert!(matches!(
        c.batch(&session, &unknown),
        Err(Error::Unprepared { id }) if id == b"nope"
    ));
    assert_eq!(rows(&c, 1), vec![]);
}

#[test]
fn the_client_timestamp_of_a_protocol_batch_applies_to_its_statements() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'at 100') USING TIMESTAMP 100",
    )
    .unwrap();
    let mut batch = protocol_batch(
        BatchKind::Logged,
        vec![(
            BatchQuery::Text("UPDATE ks.t SET v = 'older' WHERE k = 1 AND c = 1".into()),
            vec![],
        )],
    );
    batch.default_timestamp = Some(99);
    c.batch(&Session::default(), &batch).unwrap();
    assert_eq!(rows(&c, 1), vec![(1, Some("at 100".into()))]);
    batch.default_timestamp = Some(101);
    c.batch(&Session::default(), &batch).unwrap();
    assert_eq!(rows(&c, 1), vec![(1, Some("older".into()))]);
}

#[test]
fn a_prepared_text_batch_binds_markers_across_its_statements() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let session = Session::default();
    let prepared = c
        .prepare(
            &session,
            "BEGIN BATCH USING TIMESTAMP ? \
               INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?); \
               UPDATE ks.u SET name = ? WHERE id = ?; \
             APPLY BATCH",
            None,
        )
        .unwrap();
    let names: Vec<&str> = prepared
        .metadata
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, vec!["[timestamp]", "k", "c", "v", "name", "id"]);
    let mut params = QueryParameters::new(Consistency::One);
    params.values = Values::Positional(vec![
        RawValue::Bytes(Bytes::copy_from_slice(&1000i64.to_be_bytes())),
        int(3),
        int(4),
        text("three-four"),
        text("bob"),
        int(9),
    ]);
    c.execute(&prepared.id, &params).unwrap();
    assert_eq!(rows(&c, 3), vec![(4, Some("three-four".into()))]);
    assert_eq!(name(&c, 9), Some("bob".into()));
}

fn big_batch(kind: &str, partitions: usize, bytes_each: usize) -> String {
    let value = "x".repeat(bytes_each);
    let mut q = format!("BEGIN {kind} BATCH ");
    for k in 0..partitions {
        q.push_str(&format!(
            "INSERT INTO ks.t (k, c, v) VALUES ({k}, 1, '{value}'); "
        ));
    }
    q.push_str("APPLY BATCH");
    q
}

#[test]
fn a_batch_over_the_warn_threshold_warns_and_over_the_fail_threshold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    // Two partitions of 3000 bytes each: over 5 KiB, under 50 KiB.
    let warned = query(&c, &big_batch("", 2, 3000)).unwrap();
    assert_eq!(warned.warnings.len(), 1, "{:?}", warned.warnings);
    assert!(
        warned.warnings[0].starts_with("Batch for [ks.t] is of size "),
        "{}",
        warned.warnings[0]
    );
    assert!(
        warned.warnings[0].contains("exceeding specified threshold of 5120 by"),
        "{}",
        warned.warnings[0]
    );
    // One partition is never warned about, however large.
    let single = query(&c, &big_batch("", 1, 8000)).unwrap();
    assert_eq!(single.warnings, Vec::<String>::new());
    // Over 50 KiB: refused, and nothing of it written.
    run(&c, "TRUNCATE ks.t").unwrap();
    let message = invalid_message(query(&c, &big_batch("", 2, 30_000)));
    assert_eq!(message, "Batch too large");
    assert_eq!(rows(&c, 0), vec![]);
}

#[test]
fn an_unlogged_batch_over_more_than_ten_partitions_warns() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    let ten = query(&c, &big_batch("UNLOGGED", 10, 1)).unwrap();
    assert_eq!(ten.warnings, Vec::<String>::new());
    let eleven = query(&c, &big_batch("UNLOGGED", 11, 1)).unwrap();
    assert_eq!(
        eleven.warnings,
        vec![
            "Unlogged batch covering 11 partitions detected against table [ks.t]. You should \
             use a logged batch for atomicity, or asynchronous writes for performance."
                .to_owned()
        ]
    );
    let logged = query(&c, &big_batch("", 11, 1)).unwrap();
    assert_eq!(logged.warnings, Vec::<String>::new());
    assert_eq!(rows(&c, 10), vec![(1, Some("x".into()))]);
}

#[test]
fn a_logged_batch_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path());
        setup(&c);
        query(
            &c,
            "BEGIN BATCH INSERT INTO ks.t (k, c, v) VALUES (1, 1, 'a'); \
             INSERT INTO ks.u (id, name) VALUES (1, 'one'); APPLY BATCH",
        )
        .unwrap();
    }
    let c = open(dir.path());
    assert_eq!(rows(&c, 1), vec![(1, Some("a".into()))]);
    assert_eq!(name(&c, 1), Some("one".into()));
}
