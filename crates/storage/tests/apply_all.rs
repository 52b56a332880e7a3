//! `Store::apply_all`: mutations to several tables applied all or nothing (logged batches).

use std::sync::Arc;

use ilion_storage::{
    CqlType, Error, ManualClock, Mutation, Order, ReadCommand, Store, Table, TableSchema,
};

fn schema(name: &str) -> TableSchema {
    TableSchema::builder("ks", name)
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .regular("v", CqlType::Text)
        .build()
        .unwrap()
}

const V: u16 = 0;

fn set(k: i32, c: i32, column: u16, v: &str) -> Mutation {
    let mut m = Mutation::new(i64::from(k), k.to_be_bytes().to_vec(), 1_000);
    m.row(vec![c.to_be_bytes().to_vec()])
        .set(column, 10, v.as_bytes().to_vec());
    m
}

/// (clustering, value) of partition `k`.
fn rows(t: &Table, k: i32) -> Vec<(i32, String)> {
    let r = t
        .read(&ReadCommand::partition(
            i64::from(k),
            k.to_be_bytes().to_vec(),
        ))
        .unwrap();
    r.partitions
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|row| {
            let c = i32::from_be_bytes(row.clustering[0].as_slice().try_into().unwrap());
            (c, String::from_utf8(row.cells[0].value.clone()).unwrap())
        })
        .collect()
}

fn both_tables_or_neither(store: &Store) {
    let a = store.create_table(schema("a")).unwrap();
    let b = store.create_table(schema("b")).unwrap();
    let (m1, m2, m3) = (set(1, 1, V, "a1"), set(2, 1, V, "b2"), set(1, 2, V, "a1'"));
    store.apply_all(&[(&a, &m1), (&b, &m2), (&a, &m3)]).unwrap();
    assert_eq!(rows(&a, 1), vec![(1, "a1".into()), (2, "a1'".into())]);
    assert_eq!(rows(&b, 2), vec![(1, "b2".into())]);

    // A mutation naming a column the table lacks fails the whole call: the valid one before
    // it in the list is not applied either.
    let (good, bad) = (set(3, 1, V, "kept?"), set(3, 1, 9, "bad"));
    assert!(matches!(
        store.apply_all(&[(&a, &good), (&b, &bad)]),
        Err(Error::InvalidColumn { .. })
    ));
    assert_eq!(rows(&a, 3), vec![]);
    assert_eq!(rows(&b, 3), vec![]);
}

#[test]
fn in_memory_writes_to_several_tables_apply_together_or_not_at_all() {
    let store = Store::in_memory(Arc::new(ManualClock::new(1_000)));
    both_tables_or_neither(&store);
}

#[test]
fn on_disk_writes_to_several_tables_apply_together_or_not_at_all_and_survive_a_restart() {
    let clock = Arc::new(ManualClock::new(1_000));
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::builder(clock.clone()).open(dir.path()).unwrap();
        both_tables_or_neither(&store);
        store.close().unwrap();
    }
    let store = Store::builder(clock).open(dir.path()).unwrap();
    let (a, b) = (
        store.table("ks", "a").unwrap(),
        store.table("ks", "b").unwrap(),
    );
    assert_eq!(rows(&a, 1), vec![(1, "a1".into()), (2, "a1'".into())]);
    assert_eq!(rows(&b, 2), vec![(1, "b2".into())]);
}

#[test]
fn a_dropped_table_in_the_list_fails_the_call_before_anything_is_written() {
    let store = Store::in_memory(Arc::new(ManualClock::new(1_000)));
    let a = store.create_table(schema("a")).unwrap();
    let b = store.create_table(schema("b")).unwrap();
    store.drop_table("ks", "b").unwrap();
    let (m1, m2) = (set(1, 1, V, "x"), set(1, 1, V, "y"));
    assert!(matches!(
        store.apply_all(&[(&a, &m1), (&b, &m2)]),
        Err(Error::UnknownTable(_))
    ));
    assert_eq!(rows(&a, 1), vec![]);
}
