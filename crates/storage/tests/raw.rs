//! Raw reads: what is stored in a read's extent, deletions included, as mutations that
//! reproduce it on another replica.

use std::sync::Arc;

use ilion_storage::{
    Bound, CellOp, CellWrite, CqlType, Deletion, Liveness, ManualClock, Mutation, Order,
    RangeDeletion, ReadCommand, Store, Table, TableOptions, TableSchema, Ttl,
};

fn schema(default_ttl: u32) -> TableSchema {
    TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .static_column("s", CqlType::Text)
        .regular("v", CqlType::Text)
        .regular(
            "tags",
            CqlType::Set {
                element: Box::new(CqlType::Text),
                frozen: false,
            },
        )
        .options(TableOptions {
            default_time_to_live: default_ttl,
            ..TableOptions::default()
        })
        .build()
        .unwrap()
}

fn table(clock: &Arc<ManualClock>, default_ttl: u32) -> (Store, Table) {
    let store = Store::in_memory(clock.clone());
    let t = store.create_table(schema(default_ttl)).unwrap();
    (store, t)
}

fn pk() -> Vec<u8> {
    1i32.to_be_bytes().to_vec()
}

fn ck(c: i32) -> Vec<Vec<u8>> {
    vec![c.to_be_bytes().to_vec()]
}

fn col(t: &Table, name: &str) -> u16 {
    t.schema().column_id(name).unwrap()
}

fn set(t: &Table, m: &mut Mutation, c: i32, ts: i64, v: &str, ttl: Option<Ttl>) {
    let v_id = col(t, "v");
    m.row(ck(c)).cells.push(CellWrite {
        column: v_id,
        path: None,
        op: CellOp::Set {
            timestamp: ts,
            value: v.as_bytes().to_vec(),
            ttl,
        },
    });
}

/// (clustering, value of v) of every live row.
fn live(t: &Table) -> Vec<(i32, Option<String>)> {
    let v_id = col(t, "v");
    let r = t.read(&ReadCommand::partition(1, pk())).unwrap();
    r.partitions
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|row| {
            let c = i32::from_be_bytes(row.clustering[0].as_slice().try_into().unwrap());
            let v = row
                .cells
                .iter()
                .find(|c| c.column == v_id)
                .map(|c| String::from_utf8(c.value.clone()).unwrap());
            (c, v)
        })
        .collect()
}

/// A partition with every kind of entry: live, expiring, row-deleted, cell-deleted,
/// range-deleted rows, a collection deletion and a static cell.
fn populate(t: &Table) {
    let mut m = Mutation::new(1, pk(), 1_000);
    set(t, &mut m, 1, 10, "live", None);
    set(t, &mut m, 2, 10, "ttl", Some(Ttl::new(100, 1_000)));
    set(t, &mut m, 3, 10, "old", None);
    set(t, &mut m, 4, 10, "gone", None);
    m.row(ck(5)).marker = Some(Liveness {
        timestamp: 10,
        ttl: None,
    });
    let s = col(t, "s");
    m.static_cells.push(CellWrite {
        column: s,
        path: None,
        op: CellOp::Set {
            timestamp: 10,
            value: b"st".to_vec(),
            ttl: None,
        },
    });
    t.apply(&m).unwrap();
    let mut d = Mutation::new(1, pk(), 1_000);
    d.row(ck(3)).deletion = Some(Deletion::new(20, 1_000));
    let v = col(t, "v");
    d.row(ck(4)).cells.push(CellWrite {
        column: v,
        path: None,
        op: CellOp::Delete(Deletion::new(20, 1_000)),
    });
    d.range_deletions.push(RangeDeletion {
        start: Bound::Inclusive(ck(5)),
        end: Bound::Inclusive(ck(6)),
        deletion: Deletion::new(20, 1_000),
    });
    let tags = col(t, "tags");
    d.row(ck(1)).cells.push(CellWrite {
        column: tags,
        path: None,
        op: CellOp::DeleteCollection(Deletion::new(5, 1_000)),
    });
    t.apply(&d).unwrap();
}

#[test]
fn a_raw_read_carries_every_deletion_and_rebuilds_the_same_table_elsewhere() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_s, a) = table(&clock, 0);
    populate(&a);
    let raw = a.read_raw(&ReadCommand::partition(1, pk())).unwrap();
    assert_eq!(raw.len(), 1);
    let m = &raw[0];
    assert_eq!(m.range_deletions.len(), 1);
    let row3 = m.rows.iter().find(|r| r.clustering == ck(3)).unwrap();
    assert_eq!(row3.deletion, Some(Deletion::new(20, 1_000)));
    assert!(row3.cells.is_empty(), "the shadowed cell is left out");
    let row4 = m.rows.iter().find(|r| r.clustering == ck(4)).unwrap();
    assert!(matches!(row4.cells[0].op, CellOp::Delete(_)));
    let row1 = m.rows.iter().find(|r| r.clustering == ck(1)).unwrap();
    assert!(
        row1.cells
            .iter()
            .any(|c| matches!(c.op, CellOp::DeleteCollection(_)))
    );
    assert!(
        m.rows.iter().all(|r| r.clustering != ck(5)),
        "the range deletion shadows row 5"
    );
    assert_eq!(m.static_cells.len(), 1);

    // A replica that holds the data alive: the newer deletions win there.
    let (_s2, b) = table(&clock, 0);
    let mut stale = Mutation::new(1, pk(), 1_000);
    set(&b, &mut stale, 3, 10, "old", None);
    set(&b, &mut stale, 4, 10, "gone", None);
    set(&b, &mut stale, 5, 10, "ranged", None);
    b.apply(&stale).unwrap();
    for m in &raw {
        b.apply(m).unwrap();
    }
    assert_eq!(live(&b), live(&a));
    assert_eq!(b.read_raw(&ReadCommand::partition(1, pk())).unwrap(), raw);
}

#[test]
fn cells_without_ttl_stay_without_ttl_in_a_table_with_a_default_ttl() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_s, a) = table(&clock, 0);
    populate(&a);
    let raw = a.read_raw(&ReadCommand::partition(1, pk())).unwrap();
    let (_s2, b) = table(&clock, 50);
    for m in &raw {
        b.apply(m).unwrap();
    }
    clock.set(1_060);
    // Past the receiving table's default TTL, yet the cells written without TTL live on;
    // the cell with its own 100 s TTL is still alive too.
    assert_eq!(
        live(&b),
        vec![(1, Some("live".into())), (2, Some("ttl".into()))]
    );
    clock.set(1_101);
    assert_eq!(live(&b), vec![(1, Some("live".into()))]);
    // The expired cell travels with its expiry and stays dead where it lands.
    let raw = b.read_raw(&ReadCommand::partition(1, pk())).unwrap();
    let (_s3, c) = table(&clock, 0);
    let mut fresh = Mutation::new(1, pk(), 1_000);
    set(&c, &mut fresh, 2, 9, "older", None);
    c.apply(&fresh).unwrap();
    for m in &raw {
        c.apply(m).unwrap();
    }
    assert_eq!(live(&c), vec![(1, Some("live".into()))]);
}

#[test]
fn the_limit_counts_live_rows_and_takes_the_tombstones_before_the_last_one() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_s, a) = table(&clock, 0);
    let mut m = Mutation::new(1, pk(), 1_000);
    for c in 1..=5 {
        set(&a, &mut m, c, 10, "x", None);
    }
    a.apply(&m).unwrap();
    let mut d = Mutation::new(1, pk(), 1_000);
    d.row(ck(2)).deletion = Some(Deletion::new(20, 1_000));
    a.apply(&d).unwrap();
    let cmd = ReadCommand {
        limit: Some(2),
        ..ReadCommand::partition(1, pk())
    };
    let raw = a.read_raw(&cmd).unwrap();
    let rows: Vec<_> = raw[0].rows.iter().map(|r| r.clustering.clone()).collect();
    assert_eq!(rows, vec![ck(1), ck(2), ck(3)]);
    let reversed = ReadCommand {
        reversed: true,
        ..cmd.clone()
    };
    let raw = a.read_raw(&reversed).unwrap();
    let rows: Vec<_> = raw[0].rows.iter().map(|r| r.clustering.clone()).collect();
    assert_eq!(rows, vec![ck(5), ck(4)]);
}

#[test]
fn a_deleted_partition_shows_its_deletion_in_a_token_range_read() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_s, a) = table(&clock, 0);
    let mut m = Mutation::new(1, pk(), 1_000);
    set(&a, &mut m, 1, 10, "x", None);
    a.apply(&m).unwrap();
    let mut d = Mutation::new(1, pk(), 1_000);
    d.partition_deletion = Some(Deletion::new(20, 1_000));
    a.apply(&d).unwrap();
    assert!(live(&a).is_empty());
    let raw = a.read_raw(&ReadCommand::token_range(None, None)).unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].partition_deletion, Some(Deletion::new(20, 1_000)));
    assert!(raw[0].rows.is_empty(), "the deleted row is shadowed");
}

/// Streams `(start, end]` of `from` into `to` with `budget` a page; returns the pages' sizes.
fn stream(
    from: &Table,
    to: &Table,
    range: (Option<i64>, Option<i64>),
    budget: ilion_storage::PageBudget,
) -> Vec<usize> {
    let mut resume: Option<Vec<u8>> = None;
    let mut sizes = Vec::new();
    for _ in 0..10_000 {
        let (page, next) = from
            .stream_page(range.0, range.1, resume.as_deref(), budget)
            .unwrap();
        sizes.push(page.len());
        for m in &page {
            to.apply(m).unwrap();
        }
        resume = next;
        if resume.is_none() {
            return sizes;
        }
    }
    panic!("the stream never ended");
}

#[test]
fn streamed_pages_rebuild_every_partition_of_a_range_tombstones_alone_included() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_s, a) = table(&clock, 0);
    // Partition 1 as `populate` makes it, a wide partition (3,000 rows: more than one scan of
    // the store), partitions holding only a partition deletion, and live ones.
    populate(&a);
    let mut wide = Mutation::new(7, 7i32.to_be_bytes().to_vec(), 1_000);
    for c in 0..3_000 {
        set(&a, &mut wide, c, 10, "w", None);
    }
    a.apply(&wide).unwrap();
    for k in 100..160i32 {
        let mut m = Mutation::new(i64::from(k) * 1_000, k.to_be_bytes().to_vec(), 1_000);
        if k % 2 == 0 {
            m.partition_deletion = Some(Deletion::new(30, 1_000));
        } else {
            set(&a, &mut m, 1, 10, "x", None);
        }
        a.apply(&m).unwrap();
    }
    let everything = ReadCommand::token_range(None, None);
    let expected = a.read_raw(&everything).unwrap();
    assert_eq!(
        expected.len(),
        62,
        "tombstone-only partitions are in the raw read"
    );

    for budget in [
        ilion_storage::PageBudget {
            partitions: 1,
            bytes: usize::MAX,
        },
        ilion_storage::PageBudget {
            partitions: 7,
            bytes: usize::MAX,
        },
        ilion_storage::PageBudget {
            partitions: usize::MAX,
            bytes: 500,
        },
        ilion_storage::PageBudget {
            partitions: usize::MAX,
            bytes: usize::MAX,
        },
    ] {
        let (_s2, b) = table(&clock, 0);
        let sizes = stream(&a, &b, (None, None), budget);
        assert_eq!(sizes.iter().sum::<usize>(), 62, "{budget:?}: {sizes:?}");
        assert_eq!(b.read_raw(&everything).unwrap(), expected, "{budget:?}");
    }

    // Two halves of the ring give the same as the whole.
    let (_s3, c) = table(&clock, 0);
    let mid = 120_000;
    let all = ilion_storage::PageBudget {
        partitions: 5,
        bytes: usize::MAX,
    };
    stream(&a, &c, (None, Some(mid)), all);
    stream(&a, &c, (Some(mid), None), all);
    assert_eq!(c.read_raw(&everything).unwrap(), expected);
    // An empty range is one empty page.
    let (_s4, d) = table(&clock, 0);
    assert_eq!(stream(&a, &d, (Some(5), Some(6)), all), vec![0]);
}
