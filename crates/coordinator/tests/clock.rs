//! One injected clock: a coordinator built with a manual clock takes every time a statement
//! needs from it (write timestamps, TTL expiry, `now()`-style functions), so tests and the
//! simulator never depend on the wall clock.

mod common;

use std::sync::Arc;

use common::{RF1, config, run, select};
use ilion_coordinator::Coordinator;
use ilion_cql::protocol::Value;
use ilion_storage::ManualClock;

/// 2023-11-14T22:13:20Z.
const T: i64 = 1_700_000_000;

fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> Coordinator {
    Coordinator::builder(config(dir))
        .clock(clock)
        .in_memory()
        .open()
        .unwrap()
}

#[test]
fn write_timestamps_and_time_functions_come_from_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T));
    let c = open(dir.path(), clock.clone());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.t (k int PRIMARY KEY, v text, at timestamp)",
    )
    .unwrap();
    run(
        &c,
        "INSERT INTO ks.t (k, v, at) VALUES (1, 'a', currentTimestamp())",
    )
    .unwrap();
    assert_eq!(
        select(&c, "SELECT writetime(v), at FROM ks.t WHERE k = 1"),
        vec![vec![
            Some(Value::Bigint(T * 1_000_000)),
            Some(Value::Timestamp(T * 1_000)),
        ]]
    );
    // A later write, one second on, wins by the clock's timestamp alone.
    clock.advance(1);
    run(&c, "INSERT INTO ks.t (k, v) VALUES (1, 'b')").unwrap();
    assert_eq!(
        select(&c, "SELECT v, writetime(v) FROM ks.t WHERE k = 1"),
        vec![vec![
            Some(Value::Text("b".into())),
            Some(Value::Bigint((T + 1) * 1_000_000)),
        ]]
    );
    assert_eq!(
        select(&c, "SELECT currentDate() FROM ks.t WHERE k = 1"),
        // 2023-11-14: 19,675 days after the epoch, stored with 2^31 as the epoch.
        vec![vec![Some(Value::Date((1u32 << 31) + 19_675))]]
    );
}

#[test]
fn a_ttl_runs_on_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T));
    let c = open(dir.path(), clock.clone());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(&c, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)").unwrap();
    run(&c, "INSERT INTO ks.t (k, v) VALUES (1, 'a') USING TTL 100").unwrap();
    clock.advance(99);
    assert_eq!(
        select(&c, "SELECT ttl(v) FROM ks.t WHERE k = 1"),
        vec![vec![Some(Value::Int(1))]]
    );
    clock.advance(1);
    assert!(select(&c, "SELECT v FROM ks.t WHERE k = 1").is_empty());
}
