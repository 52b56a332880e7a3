//! Precomputed replica sets per range: the fast path of every read and write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::Error;
use crate::strategy::{Placer, ReplicationStrategy};
use crate::token::{Token, TokenRange};
use crate::topology::{NodeId, TokenMetadata};

/// The replicas of every range of one topology version under one strategy, computed once.
///
/// Placement is a function of (topology, strategy); it only changes when either does, so the
/// walk of the ring is done once per range here and a lookup is a search over the ring's tokens
/// (narrowed by a bucket index on the token's top bits to a few candidates) plus an index into
/// a `Vec` of shared replica sets. Build a new map when
/// [`TokenMetadata::version`] moves on; [`topology_version`](Self::topology_version) says which
/// version a map was built from. The map is immutable and cheap to share (`Arc<ReplicaMap>`).
#[derive(Clone, Debug)]
pub struct ReplicaMap {
    topology_version: u64,
    strategy: ReplicationStrategy,
    /// Ring tokens ascending: range `i` is `(ends[i - 1], ends[i]]`, range 0 wraps.
    ends: Vec<Token>,
    /// Replicas of range `i`; identical sets share one allocation. For LocalStrategy there are
    /// no ends and one set that covers the whole ring.
    replicas: Vec<Arc<[NodeId]>>,
    /// Search index over `ends`, so a lookup scans a handful of tokens instead of binary
    /// searching them all.
    index: BucketIndex,
}

/// The ring cut into `2^bits` equal buckets by the top bits of the token: `starts[b]` is the
/// first index of `ends` whose token is in bucket `b` or later. Tokens are roughly uniform, so
/// with about one bucket per token a bucket holds a few ends.
#[derive(Clone, Debug, Default)]
struct BucketIndex {
    bits: u32,
    /// `2^bits + 1` entries; the last is `ends.len()`.
    starts: Vec<u32>,
}

impl BucketIndex {
    fn new(ends: &[Token]) -> Self {
        if ends.is_empty() {
            return BucketIndex::default();
        }
        let bits = (usize::BITS - ends.len().leading_zeros()).clamp(1, 16);
        let buckets = 1usize << bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut i = 0usize;
        for b in 0..buckets {
            while i < ends.len() && Self::bucket(bits, ends[i]) < b {
                i += 1;
            }
            starts.push(i as u32);
        }
        starts.push(ends.len() as u32);
        BucketIndex { bits, starts }
    }

    /// The bucket of `token`: the top `bits` bits of its offset from `Token::MIN`.
    #[inline]
    fn bucket(bits: u32, token: Token) -> usize {
        (((token.value() as u64) ^ (1 << 63)) >> (64 - bits)) as usize
    }

    /// Index of the first of `ends` that is `>= token`, or `ends.len()`.
    #[inline]
    fn first_at_or_after(&self, ends: &[Token], token: Token) -> usize {
        if self.bits == 0 {
            return ends.partition_point(|&t| t < token);
        }
        let b = Self::bucket(self.bits, token);
        let lo = self.starts.get(b).map_or(0, |&s| s as usize);
        let hi = self.starts.get(b + 1).map_or(ends.len(), |&s| s as usize);
        // Every end before `lo` is in an earlier bucket (so < token) and `ends[hi]`, if any, is
        // in a later bucket (so > token): the answer is in lo..=hi.
        lo + ends
            .get(lo..hi)
            .map_or(0, |slice| slice.partition_point(|&t| t < token))
    }
}

impl ReplicaMap {
    /// Computes the replicas of every range of `meta` under `strategy`.
    pub fn build(meta: &TokenMetadata, strategy: &ReplicationStrategy) -> Result<Self, Error> {
        let view = meta.view();
        let mut placer = Placer::new(strategy, &view, meta.local())?;
        if let Some(local) = placer.fixed_replicas() {
            return Ok(ReplicaMap {
                topology_version: meta.version(),
                strategy: strategy.clone(),
                ends: Vec::new(),
                replicas: vec![Arc::from([local].as_slice())],
                index: BucketIndex::default(),
            });
        }
        let mut interned: HashMap<Vec<u32>, Arc<[NodeId]>> = HashMap::new();
        let mut replicas = Vec::with_capacity(view.tokens.len());
        let mut scratch = Vec::new();
        for start in 0..view.tokens.len() {
            scratch.clear();
            placer.place(start, &mut scratch);
            let set = match interned.get(&scratch) {
                Some(set) => set.clone(),
                None => {
                    let set: Arc<[NodeId]> = scratch.iter().map(|&n| placer.id(n)).collect();
                    interned.insert(scratch.clone(), set.clone());
                    set
                }
            };
            replicas.push(set);
        }
        Ok(ReplicaMap {
            topology_version: meta.version(),
            strategy: strategy.clone(),
            index: BucketIndex::new(&view.tokens),
            ends: view.tokens.clone(),
            replicas,
        })
    }

    /// The replicas of `token`, primary first. Empty when the ring is empty or the strategy
    /// places nothing (a factor of 0).
    #[inline]
    pub fn replicas(&self, token: Token) -> &[NodeId] {
        let i = self.index.first_at_or_after(&self.ends, token);
        let i = if i == self.ends.len() { 0 } else { i };
        self.replicas.get(i).map_or(&[], |r| r)
    }

    /// The replicas of `token` as a shared set (cheap to clone and keep).
    pub fn replicas_shared(&self, token: Token) -> Option<Arc<[NodeId]>> {
        let i = self.index.first_at_or_after(&self.ends, token);
        let i = if i == self.ends.len() { 0 } else { i };
        self.replicas.get(i).cloned()
    }

    /// The topology version the map was built from.
    pub fn topology_version(&self) -> u64 {
        self.topology_version
    }

    /// The strategy the map was built for.
    pub fn strategy(&self) -> &ReplicationStrategy {
        &self.strategy
    }

    /// Every range with its replicas, in ring order (the first range wraps). LocalStrategy and
    /// single-token rings give one range covering the whole ring.
    pub fn ranges(&self) -> impl Iterator<Item = (TokenRange, &[NodeId])> + '_ {
        let whole = if self.ends.is_empty() {
            self.replicas
                .first()
                .map(|r| (TokenRange::new(Token::MIN, Token::MIN), &r[..]))
        } else {
            None
        };
        let last = self.ends.last().copied();
        whole
            .into_iter()
            .chain(
                self.ends
                    .iter()
                    .zip(&self.replicas)
                    .enumerate()
                    .map(move |(i, (&end, set))| {
                        let start = match i.checked_sub(1).and_then(|p| self.ends.get(p)) {
                            Some(&p) => p,
                            None => last.unwrap_or(end),
                        };
                        (TokenRange::new(start, end), &set[..])
                    }),
            )
    }

    /// The ranges `node` holds a replica of.
    pub fn ranges_of(&self, node: NodeId) -> Vec<TokenRange> {
        self.ranges()
            .filter(|(_, set)| set.contains(&node))
            .map(|(r, _)| r)
            .collect()
    }

    /// The fraction of the ring each node holds a replica of (its "effective ownership", as
    /// `nodetool status <keyspace>`). With factor `rf` and enough nodes the fractions sum to
    /// `rf`. Nodes holding nothing are absent.
    pub fn ownership(&self) -> BTreeMap<NodeId, f64> {
        let mut out: BTreeMap<NodeId, f64> = BTreeMap::new();
        for (range, set) in self.ranges() {
            let size = range.size();
            for &n in set {
                *out.entry(n).or_default() += size;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_index_finds_the_same_position_as_a_binary_search() {
        let mut x: u64 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        };
        for len in [1usize, 2, 3, 7, 100, 1000] {
            let mut ends: Vec<Token> = (0..len).map(|_| Token::new(next())).collect();
            ends.extend([Token::MIN, Token::MAX].iter().take(len % 3));
            ends.sort_unstable();
            ends.dedup();
            let index = BucketIndex::new(&ends);
            let mut probes: Vec<Token> = (0..500).map(|_| Token::new(next())).collect();
            probes.extend([Token::MIN, Token::MAX, Token::new(0)]);
            probes.extend(
                ends.iter()
                    .flat_map(|t| [*t, t.wrapping_add(1), t.wrapping_add(u64::MAX)]),
            );
            for p in probes {
                assert_eq!(
                    index.first_at_or_after(&ends, p),
                    ends.partition_point(|&t| t < p),
                    "len {len} probe {p}"
                );
            }
        }
    }
}
