//! Behaviour of the table store, one rule per test.

use std::sync::Arc;

use ilion_storage::{
    Bound, CellOp, CellWrite, CompactionStrategy, Compression, CqlType, Deletion, Error, Liveness,
    ManualClock, Mutation, Order, PartitionRange, RangeDeletion, ReadCommand, ReadWarning, Slice,
    Store, Table, TableOptions, TableSchema, TombstoneThresholds, Ttl,
};

fn schema(options: TableOptions) -> TableSchema {
    TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .static_column("s", CqlType::Text)
        .regular("v", CqlType::Text)
        .regular("tags", CqlType::set(CqlType::Text))
        .options(options)
        .build()
        .unwrap()
}

const S: u16 = 0;
const V: u16 = 1;
const TAGS: u16 = 2;

fn pk(k: i32) -> Vec<u8> {
    k.to_be_bytes().to_vec()
}

fn ck(c: i32) -> Vec<Vec<u8>> {
    vec![c.to_be_bytes().to_vec()]
}

fn setup(options: TableOptions) -> (Arc<ManualClock>, Store, Table) {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::in_memory(clock.clone());
    let table = store.create_table(schema(options)).unwrap();
    (clock, store, table)
}

fn write(table: &Table, k: i32, c: i32, ts: i64, v: &str, ttl: Option<Ttl>) {
    let mut m = Mutation::new(i64::from(k), pk(k), 1_000);
    m.row(ck(c)).cells.push(CellWrite {
        column: V,
        path: None,
        op: CellOp::Set {
            timestamp: ts,
            value: v.into(),
            ttl,
        },
    });
    table.apply(&m).unwrap();
}

fn values(table: &Table, cmd: &ReadCommand) -> Vec<(i32, String)> {
    let r = table.read(cmd).unwrap();
    r.partitions
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|row| {
            let c = i32::from_be_bytes(row.clustering[0].as_slice().try_into().unwrap());
            let v = row
                .cells
                .iter()
                .find(|c| c.column == V)
                .map(|c| String::from_utf8(c.value.clone()).unwrap());
            (c, v.unwrap_or_default())
        })
        .collect()
}

#[test]
fn a_ttl_cell_disappears_at_its_expiry_without_sleeping() {
    let (clock, _s, t) = setup(TableOptions::default());
    write(&t, 1, 1, 10, "x", Some(Ttl::new(60, 1_000)));
    assert_eq!(
        values(&t, &ReadCommand::partition(1, pk(1))),
        vec![(1, "x".into())]
    );
    clock.set(1_059);
    assert_eq!(values(&t, &ReadCommand::partition(1, pk(1))).len(), 1);
    clock.set(1_060);
    assert!(values(&t, &ReadCommand::partition(1, pk(1))).is_empty());
}

#[test]
fn the_default_time_to_live_applies_from_the_mutation_clock() {
    let (clock, _s, t) = setup(TableOptions {
        default_time_to_live: 100,
        ..TableOptions::default()
    });
    write(&t, 1, 1, 10, "x", None);
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    assert_eq!(
        r.partitions[0].rows[0].cells[0].ttl,
        Some(Ttl {
            seconds: 100,
            local_expiry: 1_100
        })
    );
    clock.set(1_100);
    assert!(
        t.read(&ReadCommand::partition(1, pk(1)))
            .unwrap()
            .partitions
            .is_empty()
    );
}

#[test]
fn an_insert_marker_keeps_a_row_whose_cells_were_deleted() {
    let (_c, _s, t) = setup(TableOptions::default());
    let mut m = Mutation::new(1, pk(1), 1_000);
    let row = m.row(ck(1));
    row.marker = Some(Liveness {
        timestamp: 5,
        ttl: None,
    });
    row.set(V, 5, b"x".to_vec());
    t.apply(&m).unwrap();
    let mut d = Mutation::new(1, pk(1), 1_000);
    d.row(ck(1)).cells.push(CellWrite {
        column: V,
        path: None,
        op: CellOp::Delete(Deletion::new(6, 1_000)),
    });
    t.apply(&d).unwrap();
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    assert_eq!(r.partitions[0].rows.len(), 1);
    assert!(r.partitions[0].rows[0].cells.is_empty());
    assert_eq!(r.tombstones_scanned, 1);
}

#[test]
fn a_whole_collection_write_replaces_older_elements_but_not_newer_ones() {
    let (_c, _s, t) = setup(TableOptions::default());
    let elem = |ts: i64, e: &str| CellWrite {
        column: TAGS,
        path: Some(e.into()),
        op: CellOp::Set {
            timestamp: ts,
            value: Vec::new(),
            ttl: None,
        },
    };
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(1))
        .cells
        .extend([elem(5, "old"), elem(20, "newer")]);
    t.apply(&m).unwrap();
    // tags = {'fresh'} at ts 10: collection deletion at 9, then the element.
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(1)).cells.extend([
        CellWrite {
            column: TAGS,
            path: None,
            op: CellOp::DeleteCollection(Deletion::new(9, 1_000)),
        },
        elem(10, "fresh"),
    ]);
    t.apply(&m).unwrap();
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    let paths: Vec<_> = r.partitions[0].rows[0]
        .cells
        .iter()
        .map(|c| c.path.clone().unwrap())
        .collect();
    assert_eq!(paths, vec![b"fresh".to_vec(), b"newer".to_vec()]);
}

#[test]
fn range_deletions_and_reversed_slices_honour_bounds() {
    let (_c, _s, t) = setup(TableOptions::default());
    for c in 0..10 {
        write(&t, 1, c, 10, &c.to_string(), None);
    }
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.range_deletions.push(RangeDeletion {
        start: Bound::Exclusive(ck(2)),
        end: Bound::Inclusive(ck(4)),
        deletion: Deletion::new(10, 1_000),
    });
    t.apply(&m).unwrap();
    let cmd = ReadCommand {
        slice: Slice {
            start: Bound::Inclusive(ck(1)),
            end: Bound::Exclusive(ck(7)),
        },
        reversed: true,
        ..ReadCommand::partition(1, pk(1))
    };
    let got: Vec<i32> = values(&t, &cmd).into_iter().map(|x| x.0).collect();
    assert_eq!(got, vec![6, 5, 2, 1]);
}

#[test]
fn token_range_scans_exclude_the_start_and_include_the_end() {
    let (_c, _s, t) = setup(TableOptions::default());
    for k in [-5, 0, 3, 7] {
        write(&t, k, 0, 1, "v", None);
    }
    let r = t
        .read(&ReadCommand::token_range(Some(-5), Some(3)))
        .unwrap();
    let tokens: Vec<i64> = r.partitions.iter().map(|p| p.token).collect();
    assert_eq!(tokens, vec![0, 3]);
    let r = t.read(&ReadCommand::token_range(None, None)).unwrap();
    assert_eq!(r.partitions.len(), 4);
}

#[test]
fn static_cells_are_returned_with_every_page_and_alone_when_no_rows_exist() {
    let (_c, _s, t) = setup(TableOptions::default());
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.static_cells.push(CellWrite {
        column: S,
        path: None,
        op: CellOp::Set {
            timestamp: 1,
            value: b"st".to_vec(),
            ttl: None,
        },
    });
    t.apply(&m).unwrap();
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    assert_eq!(r.partitions[0].static_cells[0].value, b"st");
    assert!(r.partitions[0].rows.is_empty());
    write(&t, 1, 1, 1, "a", None);
    write(&t, 1, 2, 1, "b", None);
    let r = t
        .read(&ReadCommand {
            limit: Some(1),
            ..ReadCommand::partition(1, pk(1))
        })
        .unwrap();
    let page2 = t
        .read(&ReadCommand {
            limit: Some(1),
            resume: r.next_page.clone(),
            ..ReadCommand::partition(1, pk(1))
        })
        .unwrap();
    assert_eq!(page2.partitions[0].static_cells[0].value, b"st");
    assert_eq!(page2.partitions[0].rows[0].clustering, ck(2));
}

#[test]
fn scanning_many_tombstones_warns_and_too_many_fails() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::builder(clock.clone())
        .tombstone_thresholds(TombstoneThresholds { warn: 5, fail: 20 })
        .table(schema(TableOptions::default()))
        .in_memory()
        .unwrap();
    let t = store.table("ks", "t").unwrap();
    let mut m = Mutation::new(1, pk(1), 1_000);
    for c in 0..10 {
        m.row(ck(c)).cells.push(CellWrite {
            column: V,
            path: None,
            op: CellOp::Delete(Deletion::new(1, 1_000)),
        });
    }
    t.apply(&m).unwrap();
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    assert_eq!(r.tombstones_scanned, 10);
    assert_eq!(
        r.warnings,
        vec![ReadWarning::TombstoneThreshold {
            scanned: 10,
            threshold: 5
        }]
    );
    let mut m = Mutation::new(1, pk(1), 1_000);
    for c in 10..30 {
        m.row(ck(c)).cells.push(CellWrite {
            column: V,
            path: None,
            op: CellOp::Delete(Deletion::new(1, 1_000)),
        });
    }
    t.apply(&m).unwrap();
    let e = t.read(&ReadCommand::partition(1, pk(1))).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TombstoneOverwhelming {
                scanned: 21,
                threshold: 20,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn tombstones_are_purged_only_after_gc_grace() {
    let (clock, _s, t) = setup(TableOptions {
        gc_grace_seconds: 100,
        ..TableOptions::default()
    });
    write(&t, 1, 1, 5, "x", None);
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.partition_deletion = Some(Deletion::new(6, 1_000));
    t.apply(&m).unwrap();
    t.compact().unwrap();
    // Before gc grace: the deletion stays and the data it shadows is gone.
    let stats = t.statistics().unwrap();
    assert_eq!(
        (stats.entries, stats.tombstones, stats.live_rows),
        (1, 1, 0)
    );
    clock.set(1_101);
    t.compact().unwrap();
    let stats = t.statistics().unwrap();
    assert_eq!((stats.entries, stats.tombstones), (0, 0));
}

#[test]
fn expired_cells_become_tombstones_then_vanish_after_gc_grace() {
    let (clock, _s, t) = setup(TableOptions {
        gc_grace_seconds: 100,
        ..TableOptions::default()
    });
    write(&t, 1, 1, 5, "x", Some(Ttl::new(10, 1_000)));
    clock.set(1_050);
    t.compact().unwrap();
    let stats = t.statistics().unwrap();
    assert_eq!((stats.entries, stats.tombstones), (1, 1));
    // gc grace counts from the write (expiry - ttl), like Cassandra.
    clock.set(1_101);
    t.compact().unwrap();
    assert_eq!(t.statistics().unwrap().entries, 0);
}

#[test]
fn statistics_count_partitions_rows_and_cells() {
    let (_c, _s, t) = setup(TableOptions::default());
    for k in 0..3 {
        for c in 0..4 {
            write(&t, k, c, 1, "v", None);
        }
    }
    let s = t.statistics().unwrap();
    assert_eq!(
        (s.partitions, s.live_rows, s.live_cells, s.tombstones),
        (3, 12, 12, 0)
    );
}

#[test]
fn malformed_writes_are_refused() {
    let (_c, _s, t) = setup(TableOptions::default());
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(vec![vec![1, 2]]).set(V, 1, b"x".to_vec());
    assert!(matches!(t.apply(&m), Err(Error::InvalidValue { .. })));
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(1)).set(S, 1, b"x".to_vec());
    assert!(matches!(t.apply(&m), Err(Error::InvalidColumn { .. })));
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(1)).set(TAGS, 1, b"x".to_vec());
    assert!(matches!(t.apply(&m), Err(Error::InvalidColumn { .. })));
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.row(ck(1)).set(99, 1, b"x".to_vec());
    assert!(matches!(t.apply(&m), Err(Error::InvalidColumn { .. })));
    let mut m = Mutation::new(1, pk(1), 1_000);
    m.rows.push(ilion_storage::RowWrite {
        clustering: vec![],
        ..Default::default()
    });
    assert!(matches!(
        t.apply(&m),
        Err(Error::ClusteringArity {
            expected: 1,
            got: 0,
            ..
        })
    ));
}

#[test]
fn bad_table_descriptions_are_refused() {
    let b = || TableSchema::builder("ks", "bad");
    assert!(matches!(
        b().regular("v", CqlType::Int).build(),
        Err(Error::InvalidSchema { .. })
    ));
    assert!(matches!(
        b().partition_key("k", CqlType::list(CqlType::Int)).build(),
        Err(Error::InvalidSchema { .. })
    ));
    assert!(matches!(
        b().partition_key("k", CqlType::Duration).build(),
        Err(Error::InvalidSchema { .. })
    ));
    assert!(matches!(
        b().partition_key("k", CqlType::Int)
            .static_column("s", CqlType::Int)
            .build(),
        Err(Error::InvalidSchema { .. })
    ));
    assert!(matches!(
        b().partition_key("k", CqlType::Int)
            .regular("k", CqlType::Int)
            .build(),
        Err(Error::InvalidSchema { .. })
    ));
    let bad_options = TableOptions {
        compaction: CompactionStrategy::SizeTiered {
            min_threshold: 1,
            max_threshold: 4,
        },
        ..TableOptions::default()
    };
    assert!(matches!(
        b().partition_key("k", CqlType::Int)
            .options(bad_options)
            .build(),
        Err(Error::InvalidSchema { .. })
    ));
    let bad_zstd = TableOptions {
        compression: Compression::Zstd(99),
        ..TableOptions::default()
    };
    assert!(matches!(
        b().partition_key("k", CqlType::Int)
            .options(bad_zstd)
            .build(),
        Err(Error::InvalidSchema { .. })
    ));
}

#[test]
fn data_survives_a_restart_on_disk_with_every_compaction_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let strategies = [
        (
            "stcs",
            CompactionStrategy::SizeTiered {
                min_threshold: 2,
                max_threshold: 8,
            },
            Compression::None,
        ),
        (
            "lcs",
            CompactionStrategy::Leveled { sstable_size_mb: 1 },
            Compression::Zstd(3),
        ),
        (
            "twcs",
            CompactionStrategy::TimeWindow {
                window_seconds: 3600,
                timestamps_per_second: 1_000_000,
                min_threshold: 4,
                max_threshold: 32,
            },
            Compression::Default,
        ),
    ];
    let schemas: Vec<TableSchema> = strategies
        .iter()
        .map(|(name, compaction, compression)| {
            TableSchema::builder("ks", name)
                .partition_key("k", CqlType::Int)
                .clustering("c", CqlType::Int, Order::Desc)
                .regular("v", CqlType::Text)
                .options(TableOptions {
                    compaction: compaction.clone(),
                    compression: *compression,
                    ..TableOptions::default()
                })
                .build()
                .unwrap()
        })
        .collect();
    let open = || {
        let mut b = Store::builder(clock.clone());
        for s in &schemas {
            b = b.table(s.clone());
        }
        b.open(dir.path()).unwrap()
    };
    {
        let store = open();
        for (name, ..) in &strategies {
            let t = store.table("ks", name).unwrap();
            for round in 0..3 {
                for c in 0..20 {
                    let mut m = Mutation::new(7, pk(7), 1_000);
                    m.row(ck(c))
                        .set(0, round, format!("{name}{round}").into_bytes());
                    t.apply(&m).unwrap();
                }
                t.flush().unwrap();
            }
        }
        store.close().unwrap();
    }
    let store = open();
    for (name, ..) in &strategies {
        let t = store.table("ks", name).unwrap();
        t.compact().unwrap();
        let r = t
            .read(&ReadCommand {
                partitions: PartitionRange::Single {
                    token: 7,
                    key: pk(7),
                },
                ..ReadCommand::partition(7, pk(7))
            })
            .unwrap();
        let rows = &r.partitions[0].rows;
        assert_eq!(rows.len(), 20);
        assert_eq!(rows[0].clustering, ck(19), "DESC clustering");
        assert!(
            rows.iter()
                .all(|row| row.cells[0].value == format!("{name}2").into_bytes())
        );
    }
}

#[test]
fn list_elements_read_in_timeuuid_order_and_udt_fields_by_index() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::in_memory(clock);
    let schema = TableSchema::builder("ks", "coll")
        .partition_key("k", CqlType::Int)
        .clustering(
            "c",
            CqlType::Tuple(vec![CqlType::Int, CqlType::Text]),
            Order::Desc,
        )
        .regular("l", CqlType::list(CqlType::Text))
        .regular(
            "u",
            CqlType::Udt(ilion_types::UdtType {
                keyspace: None,
                name: "addr".into(),
                fields: vec![("a".into(), CqlType::Text), ("b".into(), CqlType::Int)],
                frozen: false,
            }),
        )
        .build()
        .unwrap();
    let t = store.create_table(schema).unwrap();
    // Version-1 uuids whose time order differs from their byte order (time_low comes first).
    let tu = |time_low: u32, time_hi: u16| {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&time_low.to_be_bytes());
        b[6..8].copy_from_slice(&(0x1000 | time_hi).to_be_bytes());
        b.to_vec()
    };
    let tuple = |i: i32, s: &str| {
        let mut v = 4i32.to_be_bytes().to_vec();
        v.extend_from_slice(&i.to_be_bytes());
        v.extend_from_slice(&(s.len() as i32).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    };
    let mut m = Mutation::new(1, pk(1), 1_000);
    let set = |column: u16, path: Vec<u8>, v: &str| CellWrite {
        column,
        path: Some(path),
        op: CellOp::Set {
            timestamp: 1,
            value: v.into(),
            ttl: None,
        },
    };
    m.row(vec![tuple(1, "a")]).cells.extend([
        set(0, tu(0xFFFF_FFFF, 1), "second"),
        set(0, tu(0, 2), "third"),
        set(0, tu(5, 0), "first"),
        set(1, 1u16.to_be_bytes().to_vec(), "b-field"),
    ]);
    m.row(vec![tuple(2, "a")]).set(1, 1, b"x".to_vec());
    // A UDT field path must be a 2-byte index.
    let mut bad = Mutation::new(1, pk(1), 1_000);
    bad.row(vec![tuple(1, "a")])
        .cells
        .push(set(1, vec![1], "x"));
    assert!(matches!(t.apply(&bad), Err(Error::InvalidColumn { .. })));
    m.rows[1].cells[0].path = Some(0u16.to_be_bytes().to_vec());
    t.apply(&m).unwrap();
    let r = t.read(&ReadCommand::partition(1, pk(1))).unwrap();
    let rows = &r.partitions[0].rows;
    assert_eq!(
        rows[0].clustering,
        vec![tuple(2, "a")],
        "DESC tuple clustering"
    );
    let values: Vec<&[u8]> = rows[1].cells.iter().map(|c| c.value.as_slice()).collect();
    assert_eq!(values, vec![&b"first"[..], b"second", b"third", b"b-field"]);
}
