//! Choosing tokens for a new node: random, or balanced for a replication factor.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::Error;
use crate::murmur3::murmur3;
use crate::partitioner::Murmur3Partitioner;
use crate::strategy::network_topology::{self, DcProgress};
use crate::strategy::placement::Scratch;
use crate::token::Token;
use crate::topology::{NodeId, RingView, TokenMetadata};

/// How many of the most loaded ranges the balanced allocator tries to split, per token.
const CANDIDATES_PER_TOKEN: usize = 24;

/// Of those, how many are also tried split at a third and two thirds, not only halved: halves
/// alone cannot give a node a third of a range, which matters in small datacenters (up to
/// `THIRDS_UP_TO_NODES` nodes); in larger ones uneven splits made the ring harder to balance
/// later (measured with the `ownership_spread` example).
const THIRDS_CANDIDATES: usize = 4;
const THIRDS_UP_TO_NODES: usize = 3;

/// Weight of the primary-ownership term in the balanced allocator's cost (a tie-breaker).
const PRIMARY_WEIGHT: f64 = 0.1;

/// SplitMix64: a tiny, well-mixed, seedable generator, so allocation is a pure function of its
/// inputs and a seed.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `num_tokens` random tokens for a new node, none already in `meta`, drawn from a generator
/// seeded with `seed` (so the same inputs give the same tokens). This is Cassandra's behaviour
/// without a token allocator: simple, but with few vnodes ownership is uneven (see
/// `docs/token-placement.md`).
pub fn random_tokens(
    meta: &TokenMetadata,
    num_tokens: usize,
    seed: u64,
) -> Result<Vec<Token>, Error> {
    if num_tokens == 0 {
        return Err(Error::Allocation {
            requested: 0,
            reason: "a node needs at least one token",
        });
    }
    let mut rng = SplitMix64(seed);
    let taken: BTreeSet<Token> = meta.ring().iter().map(|&(t, _)| t).collect();
    let mut chosen = BTreeSet::new();
    while chosen.len() < num_tokens {
        let t = Murmur3Partitioner.token_from_random(rng.next_u64());
        if !taken.contains(&t) {
            chosen.insert(t);
        }
    }
    Ok(chosen.into_iter().collect())
}

/// `num_tokens` tokens for a new node in `dc`/`rack` chosen to even out the *replicated*
/// ownership of the datacenter's nodes for `replication_factor` (the idea of Cassandra's
/// `allocate_tokens_for_local_replication_factor`).
///
/// The datacenter's first node gets evenly spaced tokens. Every later node gets its tokens one
/// at a time, greedily: the candidates split (at 1/3, 1/2 or 2/3) the ranges whose replicas are
/// most over their fair share (range size times the replicas' excess), and the candidate kept
/// is the one that minimises the sum of squared deviations of every node's replicated
/// ownership from the ideal `min(rf, nodes) / nodes` (plus a small weight on primary
/// ownership, as a tie-breaker). Replicated ownership follows NetworkTopologyStrategy's
/// placement within the datacenter (racks included), which for one rack is SimpleStrategy's.
pub fn balanced_tokens(
    meta: &TokenMetadata,
    dc: &str,
    rack: &str,
    num_tokens: usize,
    replication_factor: usize,
) -> Result<Vec<Token>, Error> {
    if num_tokens == 0 {
        return Err(Error::Allocation {
            requested: 0,
            reason: "a node needs at least one token",
        });
    }
    if replication_factor == 0 {
        return Err(Error::Allocation {
            requested: num_tokens,
            reason: "balancing needs a replication factor of at least 1",
        });
    }
    let taken: BTreeSet<Token> = meta.ring().iter().map(|&(t, _)| t).collect();
    let mut dc_ring = DcRing::new(meta, dc, rack, replication_factor);
    if dc_ring.ring.is_empty() {
        return Ok(evenly_spaced(dc, num_tokens, &taken));
    }

    let mut chosen = Vec::with_capacity(num_tokens);
    for _ in 0..num_tokens {
        let own = dc_ring.ownership();
        let ideal = dc_ring.ideal_share();
        let excess = |n: u32| own.get(n as usize).copied().unwrap_or(0.0) - ideal;

        // Score every range by how much its replicas are over their share.
        let sets = dc_ring.replica_sets();
        let len = dc_ring.ring.len();
        let mut scored: Vec<(f64, usize)> = (0..len)
            .map(|i| {
                let prev = dc_ring.ring[(i + len - 1) % len].0;
                let size = prev.size_to(dc_ring.ring[i].0);
                let load: f64 = sets[i].iter().map(|&n| excess(n)).sum();
                (size * (1.0 + load.max(-0.999)), i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));

        let mut best: Option<(f64, Token)> = None;
        let thirds = if dc_ring.node_rack.len() <= THIRDS_UP_TO_NODES {
            THIRDS_CANDIDATES
        } else {
            0
        };
        let mut splits = Vec::with_capacity(CANDIDATES_PER_TOKEN + 2 * thirds);
        for (rank, &(_, i)) in scored.iter().take(CANDIDATES_PER_TOKEN).enumerate() {
            let prev = dc_ring.ring[(i + len - 1) % len].0;
            let width = prev.distance_to(dc_ring.ring[i].0);
            let points: &[(u128, u128)] = if rank < thirds {
                &[(1, 2), (1, 3), (2, 3)]
            } else {
                &[(1, 2)]
            };
            splits.extend(
                points
                    .iter()
                    .map(|&(num, den)| prev.wrapping_add((width * num / den) as u64)),
            );
        }
        for split in splits {
            let Some(candidate) = free_token(split, &taken, &dc_ring) else {
                continue;
            };
            dc_ring.insert(candidate);
            let cost = dc_ring.cost();
            dc_ring.remove(candidate);
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, candidate));
            }
        }
        let Some((_, token)) = best else {
            return Err(Error::Allocation {
                requested: num_tokens,
                reason: "no free token left to split the ring",
            });
        };
        dc_ring.insert(token);
        chosen.push(token);
    }
    chosen.sort_unstable();
    Ok(chosen)
}

/// The first free token at or after `t` (a few steps at most in practice).
fn free_token(mut t: Token, taken: &BTreeSet<Token>, dc_ring: &DcRing) -> Option<Token> {
    for _ in 0..64 {
        if !taken.contains(&t) && !dc_ring.contains(t) {
            return Some(t);
        }
        t = t.wrapping_add(1);
    }
    None
}

/// Evenly spaced tokens, offset by a hash of the datacenter name so that several datacenters'
/// first nodes do not collide.
fn evenly_spaced(dc: &str, num_tokens: usize, taken: &BTreeSet<Token>) -> Vec<Token> {
    let step = (1u128 << 64) / num_tokens as u128;
    let offset = murmur3(dc.as_bytes()) as u64 as u128 % step.max(1);
    let mut out: Vec<Token> = (0..num_tokens as u128)
        .map(|k| {
            let mut t = Token::MIN.wrapping_add(((k * step + offset) % (1u128 << 64)) as u64);
            while taken.contains(&t) || t == Token::MIN {
                t = t.wrapping_add(1);
            }
            t
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// One datacenter's sub-ring with the new node (number `new_node`) added, for evaluating
/// candidate tokens. Placement within a datacenter only depends on the order of that
/// datacenter's tokens, so the other datacenters can be left out.
struct DcRing {
    /// (token, node number), ascending.
    ring: Vec<(Token, u32)>,
    node_rack: Vec<u32>,
    rack_count: usize,
    new_node: u32,
    new_node_tokens: usize,
    replication_factor: usize,
    scratch: Scratch,
    progress: Vec<DcProgress>,
}

impl DcRing {
    fn new(meta: &TokenMetadata, dc: &str, rack: &str, replication_factor: usize) -> Self {
        let mut racks: Vec<&str> = Vec::new();
        let mut node_rack = Vec::new();
        let mut ring = Vec::new();
        for node in meta.nodes().filter(|n| n.dc() == dc) {
            let r = match racks.iter().position(|&x| x == node.rack()) {
                Some(r) => r,
                None => {
                    racks.push(node.rack());
                    racks.len() - 1
                }
            };
            let number = node_rack.len() as u32;
            node_rack.push(r as u32);
            ring.extend(node.tokens().iter().map(|&t| (t, number)));
        }
        let new_rack = match racks.iter().position(|&x| x == rack) {
            Some(r) => r,
            None => {
                racks.push(rack);
                racks.len() - 1
            }
        };
        let new_node = node_rack.len() as u32;
        node_rack.push(new_rack as u32);
        ring.sort_unstable();
        let nodes = node_rack.len();
        DcRing {
            ring,
            node_rack,
            rack_count: racks.len(),
            new_node,
            new_node_tokens: 0,
            replication_factor,
            scratch: Scratch::new(nodes, racks.len()),
            progress: Vec::new(),
        }
    }

    fn contains(&self, t: Token) -> bool {
        self.ring.binary_search_by_key(&t, |&(x, _)| x).is_ok()
    }

    fn insert(&mut self, t: Token) {
        if let Err(i) = self.ring.binary_search_by_key(&t, |&(x, _)| x) {
            self.ring.insert(i, (t, self.new_node));
            self.new_node_tokens += 1;
        }
    }

    fn remove(&mut self, t: Token) {
        if let Ok(i) = self.ring.binary_search_by_key(&t, |&(x, _)| x) {
            self.ring.remove(i);
            self.new_node_tokens -= 1;
        }
    }

    /// Nodes that own tokens now (the new node only once it has some).
    fn active_nodes(&self) -> usize {
        self.node_rack.len() - usize::from(self.new_node_tokens == 0)
    }

    fn ideal_share(&self) -> f64 {
        let nodes = self.node_rack.len();
        self.replication_factor.min(nodes) as f64 / nodes as f64
    }

    fn view(&self) -> RingView {
        let nodes = self.node_rack.len();
        let active_racks: BTreeSet<u32> = if self.new_node_tokens == 0 {
            self.node_rack[..nodes - 1].iter().copied().collect()
        } else {
            self.node_rack.iter().copied().collect()
        };
        RingView {
            tokens: self.ring.iter().map(|&(t, _)| t).collect(),
            owners: self.ring.iter().map(|&(_, n)| n).collect(),
            ids: (0..nodes as u128).map(NodeId::from_u128).collect(),
            node_dc: vec![0; nodes],
            node_rack: self.node_rack.clone(),
            dc_names: vec![Arc::from("dc")],
            dc_nodes: vec![self.active_nodes() as u32],
            dc_racks: vec![active_racks.len() as u32],
            rack_count: self.rack_count,
        }
    }

    /// The replica set (node numbers) of every range, by ring index.
    fn replica_sets(&mut self) -> Vec<Vec<u32>> {
        let view = self.view();
        let targets = [(0u32, self.replication_factor)];
        (0..view.tokens.len())
            .map(|i| {
                let mut out = Vec::with_capacity(self.replication_factor);
                network_topology::place(
                    &view,
                    i,
                    &targets,
                    &mut self.scratch,
                    &mut self.progress,
                    &mut out,
                );
                out
            })
            .collect()
    }

    /// How far the datacenter is from balance: the sum of squared deviations of the nodes'
    /// replicated ownership from the ideal, plus a small weight on the primary (RF 1)
    /// ownership, which breaks ties (e.g. when every node holds everything) in favour of even
    /// primary ranges.
    fn cost(&mut self) -> f64 {
        let ideal = self.ideal_share();
        let ideal_primary = 1.0 / self.node_rack.len() as f64;
        let replicated: f64 = self.ownership().iter().map(|o| (o - ideal).powi(2)).sum();
        let len = self.ring.len();
        let mut primary = vec![0.0; self.node_rack.len()];
        for i in 0..len {
            let size = self.ring[(i + len - 1) % len].0.size_to(self.ring[i].0);
            primary[self.ring[i].1 as usize] += size;
        }
        let primary: f64 = primary.iter().map(|o| (o - ideal_primary).powi(2)).sum();
        replicated + PRIMARY_WEIGHT * primary
    }

    /// Replicated ownership of every node number (including the new node).
    fn ownership(&mut self) -> Vec<f64> {
        let view = self.view();
        let targets = [(0u32, self.replication_factor)];
        let mut own = vec![0.0; self.node_rack.len()];
        let mut out = Vec::with_capacity(self.replication_factor);
        let len = view.tokens.len();
        for i in 0..len {
            out.clear();
            network_topology::place(
                &view,
                i,
                &targets,
                &mut self.scratch,
                &mut self.progress,
                &mut out,
            );
            let size = view.tokens[(i + len - 1) % len].size_to(view.tokens[i]);
            for &n in &out {
                if let Some(o) = own.get_mut(n as usize) {
                    *o += size;
                }
            }
        }
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_deterministic_per_seed_and_avoid_taken_tokens() {
        let mut meta = TokenMetadata::new();
        let a = random_tokens(&meta, 16, 7).unwrap();
        assert_eq!(a, random_tokens(&meta, 16, 7).unwrap());
        assert_ne!(a, random_tokens(&meta, 16, 8).unwrap());
        assert_eq!(a.len(), 16);
        meta.add_node(NodeId::from_u128(1), "dc1", "r1", a.clone())
            .unwrap();
        let b = random_tokens(&meta, 16, 7).unwrap();
        assert!(b.iter().all(|t| !a.contains(t)));
    }

    #[test]
    fn the_first_node_of_a_datacenter_gets_evenly_spaced_tokens() {
        let meta = TokenMetadata::new();
        let t = balanced_tokens(&meta, "dc1", "r1", 4, 3).unwrap();
        assert_eq!(t.len(), 4);
        let gaps: Vec<u128> = t.windows(2).map(|w| w[0].distance_to(w[1])).collect();
        assert!(gaps.iter().all(|&g| g == 1u128 << 62));
    }

    #[test]
    fn zero_tokens_or_zero_replication_is_refused() {
        let meta = TokenMetadata::new();
        assert!(matches!(
            random_tokens(&meta, 0, 1),
            Err(Error::Allocation { .. })
        ));
        assert!(matches!(
            balanced_tokens(&meta, "dc1", "r1", 16, 0),
            Err(Error::Allocation { .. })
        ));
    }
}
