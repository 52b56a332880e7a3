//! `Table::delete_token_range`: what `cleanup` drops, on disk and in memory.

use std::sync::Arc;

use ilion_storage::{CqlType, ManualClock, Mutation, ReadCommand, Store, TableSchema};

fn fill(store: &Store) -> ilion_storage::Table {
    let schema = TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .regular("v", CqlType::Text)
        .build()
        .unwrap();
    let table = store.create_table(schema).unwrap();
    let v = table.schema().column_id("v").unwrap();
    // Tokens -50..=50 and the extremes.
    for token in (-50i64..=50).chain([i64::MIN + 1, i64::MAX]) {
        let mut m = Mutation::new(token, token.to_be_bytes().to_vec(), 1_000);
        m.row(Vec::new()).set(v, 1, b"x".to_vec());
        table.apply(&m).unwrap();
    }
    table
}

fn tokens(table: &ilion_storage::Table) -> Vec<i64> {
    table
        .read(&ReadCommand::token_range(None, None))
        .unwrap()
        .partitions
        .iter()
        .map(|p| p.token)
        .collect()
}

#[test]
fn a_deleted_token_range_loses_exactly_its_partitions_on_disk_and_in_memory() {
    let clock = Arc::new(ManualClock::new(1_000));
    let dir = tempfile::tempdir().unwrap();
    let on_disk = Store::builder(clock.clone()).open(dir.path()).unwrap();
    let in_memory = Store::in_memory(clock);
    for store in [&on_disk, &in_memory] {
        let table = fill(store);
        // (-10, 10]: tokens -9..=10 go.
        table.delete_token_range(Some(-10), Some(10)).unwrap();
        // (40, MAX]: 41..=50 and MAX go; (MIN, -45]: MIN+1 and -50..=-45 go.
        table.delete_token_range(Some(40), None).unwrap();
        table.delete_token_range(None, Some(-45)).unwrap();
        table.compact().unwrap();
        let want: Vec<i64> = (-44..=-10).chain(11..=40).collect();
        assert_eq!(tokens(&table), want);
    }
}
