//! The balanced allocator evens out replicated ownership measurably better than random tokens.

use ilion_ring::{
    DEFAULT_NUM_TOKENS, NodeId, ReplicationStrategy, SimpleStrategy, TokenMetadata,
    balanced_tokens, random_tokens,
};

fn spread(meta: &TokenMetadata, rf: usize) -> f64 {
    let own = ReplicationStrategy::Simple(SimpleStrategy::new(rf))
        .replica_map(meta)
        .unwrap()
        .ownership();
    let max = own.values().copied().fold(0.0, f64::max);
    let min = own.values().copied().fold(f64::INFINITY, f64::min);
    max / min
}

fn grow(nodes: u64, balanced: bool) -> TokenMetadata {
    let mut meta = TokenMetadata::new();
    for n in 0..nodes {
        let tokens = if balanced {
            balanced_tokens(&meta, "dc1", "r1", DEFAULT_NUM_TOKENS, 3).unwrap()
        } else {
            random_tokens(&meta, DEFAULT_NUM_TOKENS, 1000 + n).unwrap()
        };
        assert_eq!(tokens.len(), DEFAULT_NUM_TOKENS);
        meta.add_node(NodeId::from_u128(u128::from(n) + 1), "dc1", "r1", tokens)
            .unwrap();
    }
    meta
}

#[test]
fn balanced_allocation_keeps_replicated_ownership_within_a_quarter_of_even() {
    let balanced = spread(&grow(12, true), 3);
    let random = spread(&grow(12, false), 3);
    assert!(balanced < 1.25, "balanced spread {balanced}");
    assert!(balanced < random, "balanced {balanced} vs random {random}");
}

#[test]
fn balanced_allocation_is_deterministic() {
    let a = grow(5, true);
    let b = grow(5, true);
    assert_eq!(a.ring(), b.ring());
}

#[test]
fn balanced_allocation_respects_racks_and_other_datacenters() {
    let mut meta = TokenMetadata::new();
    for n in 0..9u64 {
        let (dc, rack) = (
            if n % 3 == 2 { "dc2" } else { "dc1" },
            format!("r{}", n % 3),
        );
        let tokens = balanced_tokens(&meta, dc, &rack, 8, 2).unwrap();
        // Never a token another datacenter already owns.
        meta.add_node(NodeId::from_u128(u128::from(n) + 1), dc, &rack, tokens)
            .unwrap();
    }
    assert_eq!(meta.ring().len(), 72);
}
