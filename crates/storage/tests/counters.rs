//! Counter cells: increments applied by a leader, shards merged by replicas, deletions, and
//! the value surviving flush, compaction and a restart.

use std::sync::Arc;

use ilion_storage::{
    CellOp, CellWrite, CounterShard, CqlType, Deletion, Error, ManualClock, Mutation, Order,
    ReadCommand, Store, Table, TableSchema,
};

fn schema() -> TableSchema {
    TableSchema::builder("ks", "hits")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .static_column("s", CqlType::Counter)
        .regular("n", CqlType::Counter)
        .regular("m", CqlType::Counter)
        .build()
        .unwrap()
}

fn pk(k: i32) -> Vec<u8> {
    k.to_be_bytes().to_vec()
}

fn ck(c: i32) -> Vec<Vec<u8>> {
    vec![c.to_be_bytes().to_vec()]
}

fn col(t: &Table, name: &str) -> u16 {
    t.schema().column_id(name).unwrap()
}

fn increment(t: &Table, column: &str, delta: i64) -> CellWrite {
    CellWrite {
        column: col(t, column),
        path: None,
        op: CellOp::Increment {
            timestamp: 100,
            delta,
        },
    }
}

/// Adds `delta` to counter `column` of row `c` as the leader `node`; returns what replicas get.
fn add(t: &Table, node: u8, column: &str, c: i32, delta: i64, now: i64) -> Mutation {
    let mut m = Mutation::new(1, pk(1), 1_000);
    let cell = increment(t, column, delta);
    m.row(ck(c)).cells.push(cell);
    t.apply_counter(&m, [node; 16], now).unwrap()
}

/// The value of counter `column` in row `c`, if live.
fn value(t: &Table, column: &str, c: i32) -> Option<i64> {
    let id = col(t, column);
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    r.partitions
        .iter()
        .flat_map(|p| p.rows.iter())
        .filter(|row| row.clustering == ck(c))
        .flat_map(|row| row.cells.iter())
        .find(|cell| cell.column == id)
        .map(|cell| i64::from_be_bytes(cell.value.as_slice().try_into().unwrap()))
}

fn store() -> (Store, Table) {
    let store = Store::in_memory(Arc::new(ManualClock::new(1_000)));
    let t = store.create_table(schema()).unwrap();
    (store, t)
}

#[test]
fn increments_add_up_and_the_leader_sends_one_absolute_shard() {
    let (_s, t) = store();
    add(&t, 1, "n", 0, 5, 10);
    add(&t, 1, "n", 0, -2, 10);
    let sent = add(&t, 1, "n", 0, 4, 10);
    assert_eq!(value(&t, "n", 0), Some(7));
    let CellOp::Counter { shards, timestamp } = &sent.rows[0].cells[0].op else {
        panic!("not a counter shard: {sent:?}");
    };
    assert_eq!(*timestamp, 100);
    // The clock passes both the current one and the time given: 10, 11, 12.
    assert_eq!(
        shards.as_slice(),
        &[CounterShard {
            id: [1; 16],
            clock: 12,
            value: 7
        }]
    );
}

#[test]
fn a_replica_given_a_shard_twice_or_out_of_order_counts_it_once() {
    let (_s, leader) = store();
    let (_r, replica) = store();
    let first = add(&leader, 1, "n", 0, 5, 10);
    let second = add(&leader, 1, "n", 0, 3, 10);
    replica.apply(&second).unwrap();
    replica.apply(&first).unwrap();
    replica.apply(&second).unwrap();
    assert_eq!(value(&replica, "n", 0), Some(8));
    // Another leader's shard adds to it.
    let other = add(&replica, 2, "n", 0, 100, 10);
    leader.apply(&other).unwrap();
    assert_eq!(value(&leader, "n", 0), Some(108));
    assert_eq!(value(&replica, "n", 0), Some(108));
}

#[test]
fn the_same_counter_twice_in_one_mutation_counts_both() {
    let (_s, t) = store();
    let mut m = Mutation::new(1, pk(1), 1_000);
    let a = increment(&t, "n", 2);
    let b = increment(&t, "n", 3);
    let s = increment(&t, "s", 9);
    m.row(ck(0)).cells.extend([a, b]);
    m.static_cells.push(s);
    t.apply_counter(&m, [1; 16], 1).unwrap();
    assert_eq!(value(&t, "n", 0), Some(5));
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    assert_eq!(r.partitions[0].static_cells[0].value, 9i64.to_be_bytes());
}

#[test]
fn a_deleted_counter_cell_stays_deleted_and_a_deleted_row_counts_from_zero() {
    let (_s, t) = store();
    add(&t, 1, "n", 0, 5, 10);
    add(&t, 1, "m", 0, 5, 10);
    let mut del = Mutation::new(1, pk(1), 1_000);
    del.row(ck(0)).cells.push(CellWrite {
        column: col(&t, "n"),
        path: None,
        op: CellOp::Delete(Deletion::new(50, 1_000)),
    });
    t.apply(&del).unwrap();
    add(&t, 1, "n", 0, 1, 10);
    // A tombstone beats a counter whatever the timestamps (Cassandra's rule).
    assert_eq!(value(&t, "n", 0), None);
    assert_eq!(value(&t, "m", 0), Some(5));
    let mut row_del = Mutation::new(1, pk(1), 1_000);
    row_del.row(ck(0)).deletion = Some(Deletion::new(100, 1_000));
    t.apply(&row_del).unwrap();
    assert_eq!(value(&t, "m", 0), None);
    // Incremented after the row deletion (a later timestamp, and a later clock: the clock
    // follows time), it restarts from zero.
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(0)).cells.push(CellWrite {
        column: col(&t, "m"),
        path: None,
        op: CellOp::Increment {
            timestamp: 200,
            delta: 2,
        },
    });
    t.apply_counter(&m, [1; 16], 20).unwrap();
    assert_eq!(value(&t, "m", 0), Some(2));
}

#[test]
fn plain_writes_to_counters_and_unled_increments_are_refused() {
    let (_s, t) = store();
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(0))
        .set(col(&t, "n"), 1, 5i64.to_be_bytes().to_vec());
    assert!(matches!(t.apply(&m), Err(Error::InvalidColumn { .. })));
    let mut m = Mutation::new(1, pk(1), 1_000);
    let inc = increment(&t, "n", 1);
    m.row(ck(0)).cells.push(inc);
    assert!(matches!(t.apply(&m), Err(Error::InvalidColumn { .. })));
}

#[test]
fn concurrent_leaders_on_one_node_lose_no_increment() {
    let (_s, t) = store();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..200 {
                    add(&t, 1, "n", 0, 1, 10);
                }
            });
        }
    });
    assert_eq!(value(&t, "n", 0), Some(800));
}

#[test]
fn counters_survive_flush_compaction_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    {
        let store = Store::builder(clock.clone()).open(dir.path()).unwrap();
        let t = store.create_table(schema()).unwrap();
        for i in 0..5 {
            add(&t, 1, "n", 0, 10, i);
            add(&t, 2, "n", 0, 1, i);
            t.flush().unwrap();
        }
        t.compact().unwrap();
        add(&t, 1, "n", 0, 100, 0);
        assert_eq!(value(&t, "n", 0), Some(155));
        store.flush().unwrap();
    }
    let store = Store::builder(clock.clone()).open(dir.path()).unwrap();
    let t = store.table("ks", "hits").unwrap();
    assert_eq!(value(&t, "n", 0), Some(155));
    add(&t, 1, "n", 0, 1, 0);
    assert_eq!(value(&t, "n", 0), Some(156));
}
