//! Bloom filter probes: one xxh3 hash, one cache line.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ilion_lsm::harness::BenchFilter;

fn bloom_probe(c: &mut Criterion) {
    let n = 1_000_000u64;
    let keys: Vec<[u8; 16]> = (0..n)
        .map(|i| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_be_bytes());
            k[8..].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes());
            k
        })
        .collect();
    let filter = BenchFilter::build(keys.iter().map(|k| &k[..]), 10);
    let mut i = 0usize;
    c.bench_function("bloom_probe_hit_1M_keys_10_bits", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(filter.may_contain(black_box(&keys[i])))
        })
    });
    let mut j = 0u64;
    c.bench_function("bloom_probe_miss_1M_keys_10_bits", |b| {
        b.iter(|| {
            j += 1;
            let mut k = [0xffu8; 16];
            k[..8].copy_from_slice(&j.to_le_bytes());
            black_box(filter.may_contain(black_box(&k)))
        })
    });
}

criterion_group!(benches, bloom_probe);
criterion_main!(benches);
