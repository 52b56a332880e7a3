//! Memtable insert throughput through the public write path (periodic sync, so no fsync per
//! write; the memtable is large enough that nothing flushes during a sample).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn memtable_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable");
    const N: u64 = 10_000;
    g.throughput(Throughput::Elements(N));
    let value = [7u8; 100];
    g.bench_function("insert_10k_random_16b_keys_100b_values", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let db = ilion_lsm::Db::builder()
                    .memtable_size(256 << 20)
                    .sync_mode(ilion_lsm::SyncMode::Periodic(Duration::from_secs(60)))
                    .open(dir.path())
                    .unwrap();
                let tree = db.tree("bench").unwrap();
                (dir, db, tree)
            },
            |(dir, db, tree)| {
                for i in 0..N {
                    tree.put(&key(i), &value).unwrap();
                }
                // Returned so that closing the database is not timed.
                (dir, db, tree)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, memtable_insert);
criterion_main!(benches);
