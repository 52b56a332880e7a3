//! Table store micro-benchmarks on ilion-lsm (real files in a temp dir, periodic log sync).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ilion_storage::{
    Bound, CqlType, ManualClock, Mutation, Order, ReadCommand, Slice, Store, Table, TableSchema,
};

const COLUMNS: u16 = 10;

fn open(dir: &std::path::Path) -> (Store, Table) {
    let mut b = TableSchema::builder("bench", "t")
        .partition_key("k", CqlType::Bigint)
        .clustering("c", CqlType::Int, Order::Asc);
    for i in 0..COLUMNS {
        b = b.regular(&format!("v{i}"), CqlType::Text);
    }
    let schema = b.build().unwrap();
    let store = Store::builder(Arc::new(ManualClock::new(1_700_000_000)))
        .table(schema)
        .engine(
            ilion_lsm::Builder::default()
                .sync_mode(ilion_lsm::SyncMode::Periodic(Duration::from_millis(100))),
        )
        .open(dir)
        .unwrap();
    let table = store.table("bench", "t").unwrap();
    (store, table)
}

fn row_mutation(k: i64, c: i32, ts: i64) -> Mutation {
    let mut m = Mutation::new(k, k.to_be_bytes().to_vec(), 1_700_000_000);
    let row = m.row(vec![c.to_be_bytes().to_vec()]);
    for col in 0..COLUMNS {
        row.set(col, ts, format!("value-{col}-{c:08}").into_bytes());
    }
    m
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (_store, table) = open(dir.path());

    let mut g = c.benchmark_group("storage");
    g.throughput(Throughput::Elements(1));
    let mut n = 0i64;
    g.bench_function("apply_10_cell_row", |b| {
        b.iter(|| {
            n += 1;
            table
                .apply(&row_mutation(n % 1_000 + 1_000_000, (n / 1_000) as i32, n))
                .unwrap();
        })
    });

    // One partition of 10,000 rows, flushed to files.
    for c in 0..10_000 {
        table.apply(&row_mutation(1, c, 1)).unwrap();
    }
    table.flush().unwrap();
    table.compact().unwrap();

    g.throughput(Throughput::Elements(100));
    let mut start = 0i32;
    g.bench_function("read_100_row_slice", |b| {
        b.iter(|| {
            start = (start + 997) % 9_900;
            let cmd = ReadCommand {
                slice: Slice {
                    start: Bound::Inclusive(vec![start.to_be_bytes().to_vec()]),
                    end: Bound::Exclusive(vec![(start + 100).to_be_bytes().to_vec()]),
                },
                ..ReadCommand::partition(1, 1i64.to_be_bytes().to_vec())
            };
            let r = table.read(&cmd).unwrap();
            assert_eq!(r.partitions[0].rows.len(), 100);
            black_box(r);
        })
    });

    // The same read on the in-memory engine: what the store itself costs.
    let mem = Store::builder(Arc::new(ManualClock::new(1_700_000_000)))
        .table((*table.schema()).clone())
        .in_memory()
        .unwrap();
    let mem_table = mem.table("bench", "t").unwrap();
    for c in 0..10_000 {
        mem_table.apply(&row_mutation(1, c, 1)).unwrap();
    }
    g.bench_function("read_100_row_slice_in_memory_engine", |b| {
        b.iter(|| {
            start = (start + 997) % 9_900;
            let cmd = ReadCommand {
                slice: Slice {
                    start: Bound::Inclusive(vec![start.to_be_bytes().to_vec()]),
                    end: Bound::Exclusive(vec![(start + 100).to_be_bytes().to_vec()]),
                },
                ..ReadCommand::partition(1, 1i64.to_be_bytes().to_vec())
            };
            black_box(mem_table.read(&cmd).unwrap());
        })
    });

    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.bench_function("scan_10000_row_partition", |b| {
        b.iter(|| {
            let r = table
                .read(&ReadCommand::partition(1, 1i64.to_be_bytes().to_vec()))
                .unwrap();
            assert_eq!(r.partitions[0].rows.len(), 10_000);
            black_box(r);
        })
    });
    g.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
