//! Merkle trees over a token range, as repair compares replicas (Cassandra's validation).
//!
//! A tree splits a range `(start, end]` into `2^depth` leaves of equal token width. A leaf's
//! hash is XXH3-128 over the digests of its partitions in token order (each a
//! [`ilion_storage::partition_digest`]); an empty leaf hashes to 0; an inner node is XXH3-128
//! of its two children. Two replicas holding the same data in a range build the same tree.
//!
//! A replica builds its tree at [`MAX_DEPTH`] while it reads, then keeps the level where a
//! leaf holds about [`PARTITIONS_PER_LEAF`] partitions ([`MerkleTree::fit`]); a tree can be
//! coarsened to any smaller depth ([`MerkleTree::coarsen`]) with the same result as building
//! it there, so trees of several replicas are compared at the smallest depth among them
//! ([`differences`]), top-down: equal roots end the comparison at once.

use xxhash_rust::xxh3::{Xxh3, xxh3_128};

/// The deepest tree a replica builds (32,768 leaves, 512 KiB of hashes).
pub const MAX_DEPTH: u8 = 15;

/// About how many partitions a leaf of a fitted tree holds: a mismatching leaf streams that
/// many partitions, so fewer means less streamed and a larger tree sent.
pub const PARTITIONS_PER_LEAF: u64 = 4;

/// A token range `(start, end]` as the store reads it; `None` is unbounded on that side.
pub type Range = (Option<i64>, Option<i64>);

/// A Merkle tree of one token range (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    range: Range,
    depth: u8,
    /// The leaves' hashes, left to right.
    leaves: Vec<u128>,
    /// Partitions hashed into the tree.
    partitions: u64,
}

/// Why a tree received from another node cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("a Merkle tree of depth {0} is deeper than {MAX_DEPTH}")]
    TooDeep(u8),
    #[error("a Merkle tree of depth {depth} needs {want} bytes of leaves, got {got}")]
    Leaves { depth: u8, want: usize, got: usize },
    #[error("Merkle trees of different ranges cannot be compared")]
    OtherRange,
}

fn low(r: Range) -> i128 {
    i128::from(r.0.unwrap_or(i64::MIN))
}

fn high(r: Range) -> i128 {
    i128::from(r.1.unwrap_or(i64::MAX))
}

/// Width of the range in tokens (a range never wraps here; an empty one is 1 wide so leaf
/// arithmetic never divides by zero, and no token falls in it).
fn width(r: Range) -> u128 {
    u128::try_from(high(r) - low(r)).unwrap_or(0).max(1)
}

/// The hasher of the leaf being filled.
struct Leaf(Xxh3);

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leaf")
    }
}

fn combine(left: u128, right: u128) -> u128 {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&left.to_be_bytes());
    b[16..].copy_from_slice(&right.to_be_bytes());
    xxh3_128(&b)
}

/// The leaf at `depth` holding `token` (which lies in `range`).
pub fn leaf_of(range: Range, depth: u8, token: i64) -> usize {
    let offset = u128::try_from(i128::from(token) - low(range) - 1).unwrap_or(0);
    let n = 1u128 << depth;
    usize::try_from((offset * n / width(range)).min(n - 1)).unwrap_or(0)
}

/// The token range `(start, end]` of leaf `i` at `depth`: every token `t` with
/// [`leaf_of`]`(range, depth, t) == i`. The first leaf starts and the last ends where
/// `range` does.
pub fn leaf_range(range: Range, depth: u8, i: usize) -> Range {
    let n = 1u128 << depth;
    let w = width(range);
    let bound = |k: u128| -> i64 {
        // low + ceil(k * w / n), within i64 since it is at most the range's high end.
        let step = (k * w).div_ceil(n);
        i64::try_from(low(range) + i128::try_from(step).unwrap_or(0)).unwrap_or(i64::MAX)
    };
    let i = i as u128;
    let start = if i == 0 { range.0 } else { Some(bound(i)) };
    let end = if i + 1 >= n {
        range.1
    } else {
        Some(bound(i + 1))
    };
    (start, end)
}

/// Builds a tree from partition digests arriving in token order.
#[derive(Debug)]
pub struct TreeBuilder {
    range: Range,
    leaves: Vec<u128>,
    current: Option<(usize, Leaf)>,
    partitions: u64,
    last_token: Option<i64>,
}

impl TreeBuilder {
    /// A builder at [`MAX_DEPTH`] for `range`.
    pub fn new(range: Range) -> TreeBuilder {
        TreeBuilder {
            range,
            leaves: vec![0; 1 << MAX_DEPTH],
            current: None,
            partitions: 0,
            last_token: None,
        }
    }

    /// Adds the next partition (tokens never decrease; a token outside the range is a bug
    /// of the caller and is refused).
    pub fn add(&mut self, token: i64, digest: u128) -> Result<(), String> {
        let r = self.range;
        let t = i128::from(token);
        if t <= low(r) || t > high(r) || self.last_token.is_some_and(|l| token < l) {
            return Err(format!(
                "partition with token {token} out of order or outside ({:?}, {:?}]",
                r.0, r.1
            ));
        }
        self.last_token = Some(token);
        let leaf = leaf_of(r, MAX_DEPTH, token);
        match &mut self.current {
            Some((i, h)) if *i == leaf => h.0.update(&digest.to_be_bytes()),
            _ => {
                self.finish_leaf();
                let mut h = Xxh3::new();
                h.update(&digest.to_be_bytes());
                self.current = Some((leaf, Leaf(h)));
            }
        }
        self.partitions += 1;
        Ok(())
    }

    fn finish_leaf(&mut self) {
        if let Some((i, h)) = self.current.take()
            && let Some(slot) = self.leaves.get_mut(i)
        {
            *slot = h.0.digest128();
        }
    }

    /// The tree at [`MAX_DEPTH`].
    pub fn finish(mut self) -> MerkleTree {
        self.finish_leaf();
        MerkleTree {
            range: self.range,
            depth: MAX_DEPTH,
            leaves: self.leaves,
            partitions: self.partitions,
        }
    }
}

impl MerkleTree {
    /// A tree received from another node: `leaves` is `2^depth` big-endian 16-byte hashes.
    pub fn from_leaves(
        range: Range,
        depth: u8,
        leaves: &[u8],
        partitions: u64,
    ) -> Result<MerkleTree, TreeError> {
        if depth > MAX_DEPTH {
            return Err(TreeError::TooDeep(depth));
        }
        let want = 16usize << depth;
        if leaves.len() != want {
            return Err(TreeError::Leaves {
                depth,
                want,
                got: leaves.len(),
            });
        }
        let leaves = leaves
            .chunks_exact(16)
            .map(|c| {
                let mut b = [0u8; 16];
                b.copy_from_slice(c);
                u128::from_be_bytes(b)
            })
            .collect();
        Ok(MerkleTree {
            range,
            depth,
            leaves,
            partitions,
        })
    }

    /// The leaves as `from_leaves` reads them.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        self.leaves.iter().flat_map(|l| l.to_be_bytes()).collect()
    }

    pub fn range(&self) -> Range {
        self.range
    }

    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// Partitions hashed into the tree.
    pub fn partitions(&self) -> u64 {
        self.partitions
    }

    /// The root's hash.
    pub fn root(&self) -> u128 {
        self.coarsen(0).leaves.first().copied().unwrap_or(0)
    }

    /// The same tree at `depth` (at most its own): each leaf the inner node above its old
    /// leaves.
    pub fn coarsen(&self, depth: u8) -> MerkleTree {
        let mut leaves = self.leaves.clone();
        let mut d = self.depth;
        while d > depth {
            leaves = half(&leaves);
            d -= 1;
        }
        MerkleTree {
            range: self.range,
            depth: d,
            leaves,
            partitions: self.partitions,
        }
    }

    /// The tree at the depth where a leaf holds about [`PARTITIONS_PER_LEAF`] partitions
    /// (what a replica sends).
    pub fn fit(&self) -> MerkleTree {
        let leaves = (self.partitions / PARTITIONS_PER_LEAF).max(1);
        // The smallest depth with at least `leaves` leaves.
        let depth = u8::try_from(u64::BITS - (leaves - 1).leading_zeros()).unwrap_or(MAX_DEPTH);
        self.coarsen(depth.min(self.depth))
    }
}

/// The level above `nodes`: each pair combined.
fn half(nodes: &[u128]) -> Vec<u128> {
    nodes
        .chunks(2)
        .map(|p| combine(p[0], p[p.len() - 1]))
        .collect()
}

/// The leaves (at the smallest depth among `trees`) where the trees do not all agree, as
/// token ranges, adjacent ones merged; with, for each, which trees differ from the first
/// tree's hash. Found top-down: a subtree whose hashes agree is not descended into.
pub fn differences(trees: &[MerkleTree]) -> Result<Vec<Difference>, TreeError> {
    let Some(first) = trees.first() else {
        return Ok(Vec::new());
    };
    if trees.iter().any(|t| t.range != first.range) {
        return Err(TreeError::OtherRange);
    }
    let depth = trees.iter().map(|t| t.depth).min().unwrap_or(0);
    // Each tree's levels, root first, built once from its leaves at `depth`.
    let levels: Vec<Vec<Vec<u128>>> = trees
        .iter()
        .map(|t| {
            let mut up = vec![t.coarsen(depth).leaves];
            while up.last().is_some_and(|l| l.len() > 1) {
                let next = up.last().map(|l| half(l)).unwrap_or_default();
                up.push(next);
            }
            up.reverse();
            up
        })
        .collect();
    let mut mismatched: Vec<(usize, Vec<u128>)> = Vec::new();
    let mut stack = vec![(0u8, 0usize)];
    while let Some((level, i)) = stack.pop() {
        let hashes: Vec<u128> = levels.iter().map(|l| l[usize::from(level)][i]).collect();
        if hashes.iter().all(|h| *h == hashes[0]) {
            continue;
        }
        if level == depth {
            mismatched.push((i, hashes));
        } else {
            // Right first so the left pops first: leaves come out in order.
            stack.push((level + 1, 2 * i + 1));
            stack.push((level + 1, 2 * i));
        }
    }
    let mut out: Vec<Difference> = Vec::new();
    for (i, hashes) in mismatched {
        // Tree k's group: the first tree with the same hash (same data there).
        let groups: Vec<usize> = hashes
            .iter()
            .map(|h| hashes.iter().position(|x| x == h).unwrap_or(0))
            .collect();
        let range = leaf_range(first.range, depth, i);
        match out.last_mut() {
            Some(d) if d.last_leaf + 1 == i && d.groups == groups => {
                d.range.1 = range.1;
                d.last_leaf = i;
                d.leaves += 1;
            }
            _ => out.push(Difference {
                range,
                last_leaf: i,
                leaves: 1,
                groups,
            }),
        }
    }
    Ok(out)
}

impl Difference {
    /// The streams that make every tree's replica hold the run's data of every other: each
    /// replica `target` pulls from one `source` of every group but its own, as
    /// `(target, source)` indexes of the trees compared.
    pub fn pulls(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (target, mine) in self.groups.iter().enumerate() {
            let mut seen: Vec<usize> = Vec::new();
            for (source, g) in self.groups.iter().enumerate() {
                if g != mine && !seen.contains(g) {
                    seen.push(*g);
                    out.push((target, source));
                }
            }
        }
        out
    }
}

/// A run of adjacent leaves where the trees disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The leaves' token range `(start, end]`.
    pub range: Range,
    last_leaf: usize,
    /// How many leaves the run holds.
    pub leaves: usize,
    /// For each tree compared (in order), the first tree whose leaves hash the same over the
    /// whole run: trees of one group hold the same data there.
    pub groups: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn tree(range: Range, parts: &[(i64, u128)]) -> MerkleTree {
        let mut b = TreeBuilder::new(range);
        for (t, d) in parts {
            b.add(*t, *d).unwrap();
        }
        b.finish()
    }

    #[test]
    fn leaves_tile_the_range_exactly() {
        for range in [
            (None, None),
            (Some(-10), Some(10)),
            (Some(0), Some(3)),
            (Some(i64::MAX - 5), None),
            (None, Some(i64::MIN + 7)),
        ] {
            for depth in [0u8, 1, 3, 15] {
                let n = 1usize << depth;
                assert_eq!(leaf_range(range, depth, 0).0, range.0);
                assert_eq!(leaf_range(range, depth, n - 1).1, range.1);
                for i in 1..n.min(64) {
                    assert_eq!(
                        leaf_range(range, depth, i - 1).1,
                        leaf_range(range, depth, i).0
                    );
                }
            }
        }
    }

    proptest! {
        // Trees of 32,768 leaves: fewer cases keep the debug build's run short.
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn a_token_falls_in_the_leaf_whose_range_holds_it(
            lo in any::<i64>(), span in 1u64..u64::MAX, pick in any::<u64>(), depth in 0u8..=15,
        ) {
            let hi = i64::try_from((i128::from(lo) + i128::from(span)).min(i128::from(i64::MAX))).unwrap();
            prop_assume!(hi > lo);
            let range = (Some(lo), Some(hi));
            let w = u64::try_from(i128::from(hi) - i128::from(lo)).unwrap();
            let token = i64::try_from(i128::from(lo) + 1 + i128::from(pick % w)).unwrap();
            let i = leaf_of(range, depth, token);
            let (s, e) = leaf_range(range, depth, i);
            prop_assert!(s.is_none_or(|s| s < token) && e.is_none_or(|e| token <= e),
                "token {} in leaf {} = ({:?}, {:?}]", token, i, s, e);
        }

        #[test]
        fn coarsening_is_building_at_that_depth(
            parts in proptest::collection::btree_map(any::<i64>(), any::<u128>(), 0..200),
            depth in 0u8..=15,
        ) {
            let parts: Vec<(i64, u128)> = parts.into_iter().filter(|(t, _)| *t != i64::MIN).collect();
            let t = tree((None, None), &parts);
            let c = t.coarsen(depth);
            prop_assert_eq!(c.depth(), depth);
            // Coarsening in steps is coarsening at once, so trees sent at different depths
            // compare at the smaller one.
            for lower in [0, depth / 2, depth] {
                prop_assert_eq!(c.coarsen(lower), t.coarsen(lower));
            }
            prop_assert_eq!(c.root(), t.root());
        }

        #[test]
        fn differences_name_exactly_the_leaves_holding_a_changed_partition(
            parts in proptest::collection::btree_map(-1000i64..1000, any::<u128>(), 1..100),
            change in any::<prop::sample::Index>(),
        ) {
            let parts: Vec<(i64, u128)> = parts.into_iter().collect();
            let range = (Some(-1001), Some(1000));
            let a = tree(range, &parts);
            let mut changed = parts.clone();
            let k = change.index(changed.len());
            changed[k].1 ^= 1;
            let b = tree(range, &changed);
            prop_assert_eq!(differences(&[a.clone(), a.fit()]).unwrap(), vec![]);
            for (x, y) in [(a.fit(), b.fit()), (a.clone(), b.fit()), (a.fit(), b.clone())] {
                let d = differences(&[x, y]).unwrap();
                prop_assert_eq!(d.len(), 1);
                let (s, e) = d[0].range;
                let token = changed[k].0;
                prop_assert!(s.is_none_or(|s| s < token) && e.is_none_or(|e| token <= e));
                prop_assert_eq!(&d[0].groups, &vec![0, 1]);
            }
        }
    }

    #[test]
    fn every_replica_pulls_each_other_version_once() {
        let d = |groups: Vec<usize>| Difference {
            range: (None, None),
            last_leaf: 0,
            leaves: 1,
            groups,
        };
        // One replica differs: it pulls from one of the two that agree; each of them from it.
        assert_eq!(d(vec![0, 0, 2]).pulls(), vec![(0, 2), (1, 2), (2, 0)]);
        // All differ: everyone pulls from everyone else.
        assert_eq!(
            d(vec![0, 1, 2]).pulls(),
            vec![(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
        );
    }

    #[test]
    fn a_fitted_tree_has_about_the_wanted_partitions_per_leaf() {
        let parts: Vec<(i64, u128)> = (0..1000)
            .map(|i| (i * 1_000_000_000_000, i as u128))
            .collect();
        let t = tree((None, None), &parts).fit();
        assert_eq!(t.depth(), 8, "1000 partitions / 4 per leaf -> 256 leaves");
        assert_eq!(tree((None, None), &[]).fit().depth(), 0);
    }

    #[test]
    fn trees_from_the_wire_are_checked() {
        let t = tree((None, None), &[(1, 2)]).fit();
        let back = MerkleTree::from_leaves((None, None), t.depth(), &t.leaf_bytes(), 1).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            MerkleTree::from_leaves((None, None), 16, &[], 0),
            Err(TreeError::TooDeep(16))
        );
        assert_eq!(
            MerkleTree::from_leaves((None, None), 1, &[0; 16], 0),
            Err(TreeError::Leaves {
                depth: 1,
                want: 32,
                got: 16
            })
        );
        assert_eq!(
            differences(&[t.clone(), tree((Some(0), None), &[])]),
            Err(TreeError::OtherRange)
        );
    }

    #[test]
    fn out_of_order_or_outside_partitions_are_refused() {
        let mut b = TreeBuilder::new((Some(0), Some(10)));
        assert!(b.add(0, 1).is_err(), "the start is exclusive");
        assert!(b.add(11, 1).is_err());
        b.add(5, 1).unwrap();
        assert!(b.add(4, 1).is_err());
        b.add(10, 1).unwrap();
    }
}
