//! Block seek and table point reads: the inner loops of readrandom and seekrandom.
//!
//! Shapes follow BENCHMARKS.md: 16-byte keys, 100-byte values, 4 KiB blocks.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ilion_lsm::harness::{BenchBlock, BenchTable};

fn key(i: u64) -> Vec<u8> {
    format!("{:016}", i.wrapping_mul(0x9E37_79B9) % 10_000_000_000).into_bytes()
}

fn keys(n: u64) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = (0..n).map(key).collect();
    k.sort();
    k.dedup();
    k
}

/// xorshift for reproducible probe order without a dependency.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn block_seek(c: &mut Criterion) {
    // About 4 KiB: 32 entries of 16 + 100 bytes plus headers.
    let ks = keys(32);
    let mut block = BenchBlock::build(&ks, &[7u8; 100]);
    let mut x = 88172645463325252u64;
    c.bench_function(&format!("block_seek_{}B_32_entries", block.len()), |b| {
        b.iter(|| {
            let k = &ks[(next(&mut x) % ks.len() as u64) as usize];
            black_box(block.seek(black_box(k)))
        })
    });
}

fn table_reads(c: &mut Criterion) {
    let n = 200_000;
    let ks = keys(n);
    let value = vec![b'v'; 100];
    for (name, zstd) in [("uncompressed", None), ("zstd1", Some(1))] {
        let table = BenchTable::build(
            ks.iter().map(|k| (k.as_slice(), value.as_slice())),
            4096,
            zstd,
            10,
            64 << 20,
        )
        .unwrap();
        let mut x = 88172645463325252u64;
        c.bench_function(&format!("table_get_hit_{name}_200k"), |b| {
            b.iter(|| {
                let k = &ks[(next(&mut x) % ks.len() as u64) as usize];
                black_box(table.get(black_box(k)).unwrap())
            })
        });
        c.bench_function(&format!("table_get_miss_{name}_200k"), |b| {
            b.iter(|| {
                let k = format!("x{:015}", next(&mut x) % 1_000_000);
                black_box(table.get(black_box(k.as_bytes())).unwrap())
            })
        });
        c.bench_function(&format!("table_seek_100_next_{name}_200k"), |b| {
            b.iter(|| {
                let k = &ks[(next(&mut x) % ks.len() as u64) as usize];
                black_box(table.seek_and_next(black_box(k), 100).unwrap())
            })
        });
    }
}

criterion_group!(benches, block_seek, table_reads);
criterion_main!(benches);
