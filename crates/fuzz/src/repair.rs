//! Repair's Merkle trees as received from another node (`Streaming.Validate`'s answer:
//! a depth and the leaves' bytes) and as built from partition digests.

use ilion_coordinator::repair::merkle::{
    MerkleTree, TreeBuilder, differences, leaf_of, leaf_range,
};

fn i64_at(data: &[u8], at: usize) -> Option<i64> {
    let b: [u8; 8] = data.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_le_bytes(b))
}

/// Bytes: start (8, little-endian; `i64::MIN` = unbounded), end (8), depth (1), then either
/// leaves (a received tree) or, when the depth byte is 17, (token, digest) pairs for a builder
/// (a builder holds 32,768 leaves: one depth value keeps the smoke run short). Nothing may panic; a tree that is accepted round-trips, agrees with itself
/// at every depth, and places every token in the leaf whose range holds it.
pub fn merkle_tree(data: &[u8]) {
    let (Some(s), Some(e), Some(&depth)) = (i64_at(data, 0), i64_at(data, 8), data.get(16)) else {
        return;
    };
    let bound = |v: i64| (v != i64::MIN).then_some(v);
    let range = (bound(s), bound(e));
    let rest = data.get(17..).unwrap_or_default();
    if depth == 17 {
        let mut b = TreeBuilder::new(range);
        for pair in rest.chunks_exact(24) {
            let token = i64_at(pair, 0).unwrap_or(0);
            let digest = u128::from_le_bytes(pair[8..24].try_into().unwrap_or([0; 16]));
            // Out of order or outside: refused, never a panic.
            let _ = b.add(token, digest);
        }
        let t = b.finish();
        assert!(
            differences(&[t.clone(), t.fit()])
                .unwrap_or_default()
                .is_empty()
        );
        return;
    }
    let Ok(tree) = MerkleTree::from_leaves(range, depth, rest, 0) else {
        return;
    };
    assert_eq!(tree.leaf_bytes(), rest, "leaves do not round-trip");
    let coarse = tree.coarsen(depth / 2);
    assert_eq!(coarse.root(), tree.root(), "coarsening changed the root");
    assert!(
        differences(&[tree.clone(), coarse])
            .unwrap_or_default()
            .is_empty(),
        "a tree differs from itself coarsened"
    );
    if let (Some(lo), Some(hi)) = range
        && lo < hi
    {
        let token = lo.wrapping_add(1);
        let i = leaf_of(range, depth, token);
        let (a, b) = leaf_range(range, depth, i);
        assert!(a.is_none_or(|a| a < token) && b.is_none_or(|b| token <= b));
    }
}
