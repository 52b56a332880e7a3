//! Table lifecycle: drop, truncate, ALTER TABLE, and the catalogue surviving a restart.

use std::sync::Arc;

use ilion_storage::{
    CellOp, CellWrite, CompactionStrategy, CqlType, Deletion, Error, Liveness, ManualClock,
    Mutation, Order, ReadCommand, SchemaChange, Store, Table, TableOptions, TableSchema,
};

fn schema(name: &str) -> TableSchema {
    TableSchema::builder("ks", name)
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .static_column("s", CqlType::Text)
        .regular("v", CqlType::Text)
        .regular("w", CqlType::Text)
        .build()
        .unwrap()
}

const V: u16 = 1;
const W: u16 = 2;

fn pk(k: i32) -> Vec<u8> {
    k.to_be_bytes().to_vec()
}

fn ck(c: i32) -> Vec<Vec<u8>> {
    vec![c.to_be_bytes().to_vec()]
}

fn write(t: &Table, c: i32, column: u16, ts: i64, v: &str) -> Result<(), Error> {
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(c)).set(column, ts, v.as_bytes().to_vec());
    t.apply(&m)
}

fn insert(t: &Table, c: i32, ts: i64) {
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(c)).marker = Some(Liveness {
        timestamp: ts,
        ttl: None,
    });
    t.apply(&m).unwrap();
}

/// (clustering, column, value) of every live regular cell of partition 1, rows without cells
/// as (clustering, u16::MAX, "").
fn cells(t: &Table) -> Vec<(i32, u16, String)> {
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    let mut out = Vec::new();
    for row in r.partitions.iter().flat_map(|p| p.rows.iter()) {
        let c = i32::from_be_bytes(row.clustering[0].as_slice().try_into().unwrap());
        if row.cells.is_empty() {
            out.push((c, u16::MAX, String::new()));
        }
        for cell in &row.cells {
            out.push((
                c,
                cell.column,
                String::from_utf8(cell.value.clone()).unwrap(),
            ));
        }
    }
    out
}

fn on_disk(clock: &Arc<ManualClock>, dir: &std::path::Path) -> Store {
    Store::builder(clock.clone()).open(dir).unwrap()
}

#[test]
fn a_dropped_table_recreated_under_the_same_name_starts_empty() {
    let clock = Arc::new(ManualClock::new(1_000));
    let dir = tempfile::tempdir().unwrap();
    let store = on_disk(&clock, dir.path());
    let old = store.create_table(schema("t")).unwrap();
    write(&old, 1, V, 10, "old").unwrap();
    old.flush().unwrap();
    write(&old, 2, V, 10, "in memtable").unwrap();
    let table_bytes = || -> u64 {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".sst"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    assert!(table_bytes() > 0);
    store.drop_table("ks", "t").unwrap();
    assert!(matches!(
        store.table("ks", "t"),
        Err(Error::UnknownTable(_))
    ));
    assert!(matches!(
        old.read(&ReadCommand::partition(1, pk(1))),
        Err(Error::UnknownTable(_))
    ));
    assert!(matches!(
        write(&old, 3, V, 10, "x"),
        Err(Error::UnknownTable(_))
    ));
    assert!(matches!(
        store.drop_table("ks", "t"),
        Err(Error::UnknownTable(_))
    ));

    assert_eq!(table_bytes(), 0, "the dropped table's files are gone");
    let new = store.create_table(schema("t")).unwrap();
    assert_eq!(cells(&new), vec![]);
    write(&new, 5, V, 1, "new").unwrap();
    assert_eq!(cells(&new), vec![(5, V, "new".into())]);
    drop((old, new));
    store.close().unwrap();

    let store = on_disk(&clock, dir.path());
    let t = store.table("ks", "t").unwrap();
    assert_eq!(cells(&t), vec![(5, V, "new".into())], "after a restart too");
}

#[test]
fn truncate_removes_every_row_and_keeps_later_writes_whatever_their_timestamp() {
    let clock = Arc::new(ManualClock::new(1_000));
    let dir = tempfile::tempdir().unwrap();
    let store = on_disk(&clock, dir.path());
    let t = store.create_table(schema("t")).unwrap();
    let other = store.create_table(schema("other")).unwrap();
    write(&other, 1, V, 100, "kept").unwrap();
    write(&t, 1, V, 100, "a").unwrap();
    t.flush().unwrap();
    write(&t, 2, V, 100, "b").unwrap();
    store.truncate("ks", "t").unwrap();
    assert_eq!(
        cells(&t),
        vec![],
        "the existing handle follows the truncation"
    );
    assert_eq!(t.statistics().unwrap().entries, 0);
    // Older timestamp than the truncated data: still kept (truncate is not a tombstone).
    write(&t, 1, V, 50, "late").unwrap();
    assert_eq!(cells(&t), vec![(1, V, "late".into())]);
    assert_eq!(cells(&other), vec![(1, V, "kept".into())]);
    assert!(matches!(
        store.truncate("ks", "nope"),
        Err(Error::UnknownTable(_))
    ));
    drop((t, other));
    store.close().unwrap();

    let store = on_disk(&clock, dir.path());
    let t = store.table("ks", "t").unwrap();
    assert_eq!(cells(&t), vec![(1, V, "late".into())]);
}

#[test]
fn a_dropped_columns_cells_vanish_and_a_re_added_column_does_not_see_them() {
    dropped_columns(&Store::in_memory(Arc::new(ManualClock::new(1_000))));
}

#[test]
fn a_dropped_columns_cells_vanish_on_disk_and_compaction_purges_them() {
    let dir = tempfile::tempdir().unwrap();
    dropped_columns(&on_disk(&Arc::new(ManualClock::new(1_000)), dir.path()));
}

fn dropped_columns(store: &Store) {
    let t = store.create_table(schema("t")).unwrap();
    insert(&t, 1, 10);
    write(&t, 1, V, 10, "v1").unwrap();
    write(&t, 1, W, 10, "w1").unwrap();
    write(&t, 2, V, 10, "only v").unwrap();
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.static_cells.push(CellWrite {
        column: 0,
        path: None,
        op: CellOp::Set {
            timestamp: 10,
            value: b"static".to_vec(),
            ttl: None,
        },
    });
    t.apply(&m).unwrap();

    let drop_v = SchemaChange::DropColumn {
        name: "v".into(),
        timestamp: 200,
    };
    store.alter_table("ks", "t", &drop_v).unwrap();
    store
        .alter_table(
            "ks",
            "t",
            &SchemaChange::DropColumn {
                name: "s".into(),
                timestamp: 200,
            },
        )
        .unwrap();
    let schema = t.schema();
    assert_eq!(schema.column_id("v"), None);
    assert_eq!(schema.column_id("w"), Some(W), "ids of other columns stay");
    assert!(schema.is_dropped_id(V));
    assert_eq!(schema.dropped_columns().get("v"), Some(&200));
    // Row 2 had only the dropped column: it is gone; row 1 keeps its marker and w.
    assert_eq!(cells(&t), vec![(1, W, "w1".into())]);
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    assert!(r.partitions[0].static_cells.is_empty());
    assert!(matches!(
        write(&t, 1, V, 300, "x"),
        Err(Error::InvalidColumn { .. })
    ));

    let add_v = SchemaChange::AddColumn {
        name: "v".into(),
        ty: CqlType::Text,
        is_static: false,
    };
    store.alter_table("ks", "t", &add_v).unwrap();
    let v2 = t.schema().column_id("v").unwrap();
    assert_eq!(v2, 3, "a re-added column gets a new id");
    assert_eq!(cells(&t), vec![(1, W, "w1".into())]);
    // Cassandra's rule: cells at or before the drop timestamp stay invisible.
    write(&t, 2, v2, 200, "before drop").unwrap();
    assert_eq!(cells(&t), vec![(1, W, "w1".into())]);
    write(&t, 1, v2, 201, "after drop").unwrap();
    assert_eq!(
        cells(&t),
        vec![(1, W, "w1".into()), (1, v2, "after drop".into())]
    );

    // Compaction purges the retired column's cells (and the static ones).
    let before = t.statistics().unwrap().entries;
    t.compact().unwrap();
    let after = t.statistics().unwrap().entries;
    // Gone: v1, "only v", the static cell, and the re-added v's cell at the drop timestamp.
    assert_eq!(before - after, 4);
    assert_eq!(
        cells(&t),
        vec![(1, W, "w1".into()), (1, v2, "after drop".into())]
    );
}

#[test]
fn adding_columns_keeps_ids_and_bad_changes_are_refused() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::in_memory(clock);
    let t = store.create_table(schema("t")).unwrap();
    write(&t, 1, V, 10, "v").unwrap();
    let add = |name: &str, is_static| SchemaChange::AddColumn {
        name: name.into(),
        ty: CqlType::set(CqlType::Int),
        is_static,
    };
    store.alter_table("ks", "t", &add("x", false)).unwrap();
    store.alter_table("ks", "t", &add("st", true)).unwrap();
    let s = t.schema();
    assert_eq!(
        (s.column_id("v"), s.column_id("x"), s.column_id("st")),
        (Some(V), Some(3), Some(4))
    );
    assert_eq!(cells(&t), vec![(1, V, "v".into())]);
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(1)).cells.push(CellWrite {
        column: 3,
        path: Some(7i32.to_be_bytes().to_vec()),
        op: CellOp::Set {
            timestamp: 10,
            value: Vec::new(),
            ttl: None,
        },
    });
    t.apply(&m).unwrap();
    assert_eq!(cells(&t), vec![(1, V, "v".into()), (1, 3, String::new())]);

    let refused = |change: SchemaChange| {
        assert!(
            matches!(
                store.alter_table("ks", "t", &change),
                Err(Error::InvalidSchema { .. })
            ),
            "{change:?}"
        );
    };
    refused(add("v", false));
    refused(add("k", false));
    refused(SchemaChange::DropColumn {
        name: "c".into(),
        timestamp: 1,
    });
    refused(SchemaChange::DropColumn {
        name: "nope".into(),
        timestamp: 1,
    });
    refused(SchemaChange::Options(TableOptions {
        default_time_to_live: u32::MAX,
        ..TableOptions::default()
    }));
    let no_clustering = TableSchema::builder("ks", "flat")
        .partition_key("k", CqlType::Int)
        .build()
        .unwrap();
    store.create_table(no_clustering).unwrap();
    assert!(matches!(
        store.alter_table("ks", "flat", &add("st", true)),
        Err(Error::InvalidSchema { .. })
    ));
    assert!(matches!(
        store.alter_table("ks", "none", &add("x", false)),
        Err(Error::UnknownTable(_))
    ));
    assert_eq!(store.table_names(), vec!["ks.flat", "ks.t"]);
}

#[test]
fn changed_options_apply_to_ttl_and_purge_at_once() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::in_memory(clock.clone());
    let t = store.create_table(schema("t")).unwrap();
    // A row deletion at 1_000 s, not purgeable under the default 10-day gc grace.
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(9)).deletion = Some(Deletion::new(50, 1_000));
    t.apply(&m).unwrap();
    clock.set(2_000);
    t.compact().unwrap();
    assert_eq!(t.statistics().unwrap().entries, 1);

    let options = TableOptions {
        gc_grace_seconds: 0,
        default_time_to_live: 60,
        ..TableOptions::default()
    };
    store
        .alter_table("ks", "t", &SchemaChange::Options(options.clone()))
        .unwrap();
    assert_eq!(*t.schema().options(), options);
    t.compact().unwrap();
    assert_eq!(t.statistics().unwrap().entries, 0, "gc grace 0 purges");

    let mut m = Mutation::new(1, pk(1), 2_000);
    m.row(ck(1)).set(V, 10, b"ttl".to_vec());
    t.apply(&m).unwrap();
    assert_eq!(cells(&t), vec![(1, V, "ttl".into())]);
    clock.set(2_060);
    assert_eq!(cells(&t), vec![], "the default TTL applied");
}

#[test]
fn a_restart_keeps_drops_truncations_and_schema_changes() {
    let clock = Arc::new(ManualClock::new(1_000));
    let dir = tempfile::tempdir().unwrap();
    let leveled = TableOptions {
        gc_grace_seconds: 5,
        compaction: CompactionStrategy::Leveled { sstable_size_mb: 1 },
        ..TableOptions::default()
    };
    let (expected, v2) = {
        let store = on_disk(&clock, dir.path());
        let t = store.create_table(schema("t")).unwrap();
        let gone = store.create_table(schema("gone")).unwrap();
        write(&gone, 1, V, 1, "x").unwrap();
        write(&t, 1, V, 10, "v").unwrap();
        write(&t, 1, W, 10, "w").unwrap();
        t.flush().unwrap();
        store.drop_table("ks", "gone").unwrap();
        for change in [
            SchemaChange::DropColumn {
                name: "v".into(),
                timestamp: 20,
            },
            SchemaChange::AddColumn {
                name: "v".into(),
                ty: CqlType::Int,
                is_static: false,
            },
            SchemaChange::Options(leveled.clone()),
        ] {
            store.alter_table("ks", "t", &change).unwrap();
        }
        let v2 = t.schema().column_id("v").unwrap();
        write(&t, 2, v2, 30, "new v").unwrap();
        let expected = (*t.schema()).clone();
        drop((t, gone));
        store.close().unwrap();
        (expected, v2)
    };
    let store = on_disk(&clock, dir.path());
    assert_eq!(store.table_names(), vec!["ks.t"]);
    let t = store.table("ks", "t").unwrap();
    assert_eq!(*t.schema(), expected);
    assert_eq!(t.schema().options().compaction, leveled.compaction);
    assert_eq!(cells(&t), vec![(1, W, "w".into()), (2, v2, "new v".into())]);
    // Declaring the table's original schema again conflicts with the altered one.
    drop(t);
    store.close().unwrap();
    assert!(matches!(
        Store::builder(clock.clone())
            .table(schema("t"))
            .open(dir.path()),
        Err(Error::TableExists(_))
    ));
    // The re-created "gone" starts empty after a restart as well.
    let store = Store::builder(clock.clone())
        .table(schema("gone"))
        .open(dir.path())
        .unwrap();
    assert_eq!(cells(&store.table("ks", "gone").unwrap()), vec![]);
    store.truncate("ks", "t").unwrap();
    store.close().unwrap();
    let store = on_disk(&clock, dir.path());
    assert_eq!(cells(&store.table("ks", "t").unwrap()), vec![]);
}
