//! Replica lookup: 1,000 nodes x 16 vnodes in 3 datacenters (3 racks each),
//! NetworkTopologyStrategy with RF 3 per datacenter, through a precomputed `ReplicaMap`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ilion_ring::{
    DEFAULT_NUM_TOKENS, Murmur3Partitioner, NodeId, ReplicationStrategy, Token, TokenMetadata,
    random_tokens,
};

fn cluster() -> TokenMetadata {
    let mut meta = TokenMetadata::new();
    for n in 0..1000u64 {
        let dc = format!("dc{}", n % 3 + 1);
        let rack = format!("rack{}", (n / 3) % 3 + 1);
        let tokens = random_tokens(&meta, DEFAULT_NUM_TOKENS, n).expect("tokens");
        meta.add_node(NodeId::from_u128(u128::from(n) + 1), &dc, &rack, tokens)
            .expect("node");
    }
    meta
}

fn bench_replicas(c: &mut Criterion) {
    let meta = cluster();
    let strategy = ReplicationStrategy::from_replication_map(
        [
            ("class", "NetworkTopologyStrategy"),
            ("dc1", "3"),
            ("dc2", "3"),
            ("dc3", "3"),
        ],
        Some(&meta),
    )
    .expect("strategy");
    let map = strategy.replica_map(&meta).expect("replica map");
    let tokens: Vec<Token> = (0..4096u32)
        .map(|i| Murmur3Partitioner.token(&i.to_le_bytes()))
        .collect();

    let mut group = c.benchmark_group("replicas");
    let mut i = 0usize;
    group.bench_function("nts_rf3x3_1000_nodes_16_vnodes_lookup", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(map.replicas(black_box(tokens[i])).len())
        })
    });
    group.sample_size(10);
    group.bench_function("nts_rf3x3_1000_nodes_16_vnodes_build", |b| {
        b.iter(|| black_box(strategy.replica_map(&meta).expect("map")))
    });
    group.finish();
}

criterion_group!(benches, bench_replicas);
criterion_main!(benches);
