//! Streaming a token range from one node's store to another's (bootstrap, decommission,
//! replace, removenode): what arrives is what the sender stores, deletions included, even
//! where a range holds nothing but tombstones.

mod common;

use common::{RF1, config, run, select};
use ilion_coordinator::Coordinator;
use ilion_cql::protocol::Value;

fn open(dir: &std::path::Path, fail_after_tombstones: u64) -> Coordinator {
    Coordinator::builder(config(dir))
        .in_memory()
        .tombstone_thresholds(ilion_storage::TombstoneThresholds {
            warn: fail_after_tombstones,
            fail: fail_after_tombstones,
        })
        .open()
        .unwrap()
}

fn schema(c: &Coordinator) {
    run(c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        c,
        "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))",
    )
    .unwrap();
}

/// Streams the whole ring of ks.t from `from` to `to`, `rows` live rows a page.
fn stream_all(from: &Coordinator, to: &Coordinator, rows: u32) -> u32 {
    let mut resume: Option<Vec<u8>> = None;
    let mut partitions = 0;
    for _ in 0..100_000 {
        let page = from
            .stream_page("ks", "t", (None, None), resume.as_deref(), rows, &[])
            .unwrap();
        partitions += to.apply_stream_page(&page.payload).unwrap();
        resume = page.next;
        if resume.is_none() {
            return partitions;
        }
    }
    panic!("the stream never ended");
}

#[test]
fn a_streamed_range_carries_partitions_that_hold_only_tombstones() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A low tombstone failure threshold: a stream must not fail where a read would.
    let (source, target) = (open(d1.path(), 50), open(d2.path(), 100_000));
    schema(&source);
    schema(&target);
    // 300 partitions deleted whole (nothing else in them), one live partition, and one with a
    // deleted row next to a live one.
    for k in 0..300 {
        run(
            &source,
            &format!("DELETE FROM ks.t USING TIMESTAMP 100 WHERE k = {k}"),
        )
        .unwrap();
    }
    run(
        &source,
        "INSERT INTO ks.t (k, c, v) VALUES (1000, 1, 'live') USING TIMESTAMP 100",
    )
    .unwrap();
    run(
        &source,
        "INSERT INTO ks.t (k, c, v) VALUES (1001, 1, 'a') USING TIMESTAMP 100",
    )
    .unwrap();
    run(
        &source,
        "INSERT INTO ks.t (k, c, v) VALUES (1001, 2, 'b') USING TIMESTAMP 100",
    )
    .unwrap();
    run(
        &source,
        "DELETE FROM ks.t USING TIMESTAMP 101 WHERE k = 1001 AND c = 2",
    )
    .unwrap();
    // A partition of 200 deleted rows (more tombstones than a read may scan), and one with a
    // range deletion only.
    for c in 0..200 {
        run(
            &source,
            &format!("DELETE FROM ks.t USING TIMESTAMP 100 WHERE k = 2000 AND c = {c}"),
        )
        .unwrap();
    }
    run(
        &source,
        "DELETE FROM ks.t USING TIMESTAMP 100 WHERE k = 2001 AND c > 5",
    )
    .unwrap();

    let streamed = stream_all(&source, &target, 2);
    assert_eq!(
        streamed, 304,
        "every partition, tombstones only or not, is streamed"
    );

    // The target now holds the deletions: older writes that reach it late stay deleted.
    for k in [0, 150, 299] {
        run(
            &target,
            &format!("INSERT INTO ks.t (k, c, v) VALUES ({k}, 1, 'old') USING TIMESTAMP 50"),
        )
        .unwrap();
        assert_eq!(
            select(&target, &format!("SELECT v FROM ks.t WHERE k = {k}")),
            Vec::<Vec<Option<Value>>>::new()
        );
    }
    run(
        &target,
        "INSERT INTO ks.t (k, c, v) VALUES (1001, 2, 'old') USING TIMESTAMP 50",
    )
    .unwrap();
    run(
        &target,
        "INSERT INTO ks.t (k, c, v) VALUES (2000, 199, 'old') USING TIMESTAMP 50",
    )
    .unwrap();
    run(
        &target,
        "INSERT INTO ks.t (k, c, v) VALUES (2001, 9, 'old') USING TIMESTAMP 50",
    )
    .unwrap();
    run(
        &target,
        "INSERT INTO ks.t (k, c, v) VALUES (2001, 1, 'new') USING TIMESTAMP 50",
    )
    .unwrap();
    assert_eq!(
        select(&target, "SELECT c FROM ks.t WHERE k IN (2000, 2001)"),
        vec![vec![Some(Value::Int(1))]]
    );
    assert_eq!(
        select(&target, "SELECT c, v FROM ks.t WHERE k = 1001"),
        vec![vec![Some(Value::Int(1)), Some(Value::Text("a".into()))]]
    );
    assert_eq!(
        select(&target, "SELECT v FROM ks.t WHERE k = 1000"),
        vec![vec![Some(Value::Text("live".into()))]]
    );
}
