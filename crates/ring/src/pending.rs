//! Pending ranges: where writes must also go while the ring changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::Error;
use crate::replica_map::ReplicaMap;
use crate::strategy::ReplicationStrategy;
use crate::token::{Token, TokenRange};
use crate::topology::{NodeId, TokenMetadata};

/// A change of the ring that is under way: until it completes, writes must reach both the
/// current replicas and the nodes that will become replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopologyChange {
    /// A new node bootstraps with these tokens.
    Join {
        /// The joining node.
        id: NodeId,
        /// Its datacenter.
        dc: String,
        /// Its rack.
        rack: String,
        /// The tokens it will own.
        tokens: Vec<Token>,
    },
    /// A node decommissions (or is removed): its ranges move to the next nodes.
    Leave {
        /// The leaving node.
        id: NodeId,
    },
    /// A new node takes over a node's tokens, datacenter and rack (`replace_address`).
    Replace {
        /// The node being replaced.
        old: NodeId,
        /// The replacement.
        new: NodeId,
    },
    /// A node moves to other tokens.
    Move {
        /// The moving node.
        id: NodeId,
        /// Its new tokens.
        tokens: Vec<Token>,
    },
}

impl TopologyChange {
    /// Applies the change to `meta`, as it will be when the change completes.
    pub fn apply(&self, meta: &mut TokenMetadata) -> Result<(), Error> {
        match self {
            TopologyChange::Join {
                id,
                dc,
                rack,
                tokens,
            } => meta.add_node(*id, dc, rack, tokens.iter().copied()),
            TopologyChange::Leave { id } => meta.remove_node(*id).map(drop),
            TopologyChange::Replace { old, new } => meta.replace_node(*old, *new),
            TopologyChange::Move { id, tokens } => meta.move_node(*id, tokens.iter().copied()),
        }
    }
}

/// The tokens of both rings, ascending and without repeats: no token of either ring lies
/// strictly inside a range between two of them, so both placements are constant over it.
fn boundaries(now: &TokenMetadata, future: &TokenMetadata) -> Vec<Token> {
    now.ring()
        .iter()
        .chain(future.ring())
        .map(|&(t, _)| t)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The ranges `me` gains when the ring changes from `now` to `future` (a join), each with the
/// node to stream it from: the node that gives the range up (Cassandra's strict source for a
/// consistent range movement), or, where nobody gives it up, the first current replica.
/// Adjacent ranges with the same source are merged. In ring order.
pub fn range_sources(
    now: &TokenMetadata,
    future: &TokenMetadata,
    strategy: &ReplicationStrategy,
    me: NodeId,
) -> Result<Vec<(TokenRange, NodeId)>, Error> {
    match live_range_sources(now, future, strategy, me, |_| true, true)? {
        Ok(out) => Ok(out),
        // Every node counts as up: the strict source is always taken.
        Err(_) => Ok(Vec::new()),
    }
}

/// A range a join cannot stream consistently: its strict source is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDown {
    /// The range (one placement: not merged with its neighbours).
    pub range: TokenRange,
    /// The node that gives it up.
    pub source: NodeId,
}

/// As [`range_sources`], with `is_up` telling which nodes can be streamed from. With
/// `consistent` (Cassandra's default, `cassandra.consistent.rangemovement`), a range whose
/// strict source is down is `Err(SourceDown)`: streaming it from another replica may miss
/// writes that only the source holds. Without, such a range streams from the first current
/// replica that is up (the operator's choice; a repair brings it up to date); it is still
/// `SourceDown` when none is up.
pub fn live_range_sources(
    now: &TokenMetadata,
    future: &TokenMetadata,
    strategy: &ReplicationStrategy,
    me: NodeId,
    is_up: impl Fn(NodeId) -> bool,
    consistent: bool,
) -> Result<Result<Vec<(TokenRange, NodeId)>, SourceDown>, Error> {
    if now.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let before = strategy.replica_map(now)?;
    let after = strategy.replica_map(future)?;
    let ends = boundaries(now, future);
    let Some(&last) = ends.last() else {
        return Ok(Ok(Vec::new()));
    };
    let mut out: Vec<(TokenRange, NodeId)> = Vec::new();
    let mut previous = last;
    for &end in &ends {
        let start = std::mem::replace(&mut previous, end);
        let old = before.replicas(end);
        let new = after.replicas(end);
        if !new.contains(&me) || old.contains(&me) {
            continue;
        }
        let Some(strict) = old
            .iter()
            .find(|n| !new.contains(n))
            .or_else(|| old.first())
            .copied()
        else {
            continue;
        };
        let source = if is_up(strict) {
            strict
        } else {
            let fallback = (!consistent)
                .then(|| old.iter().copied().find(|n| *n != strict && is_up(*n)))
                .flatten();
            match fallback {
                Some(n) => n,
                None => {
                    return Ok(Err(SourceDown {
                        range: TokenRange::new(start, end),
                        source: strict,
                    }));
                }
            }
        };
        match out.last_mut() {
            Some((range, s)) if *s == source && range.right == start => range.right = end,
            _ => out.push((TokenRange::new(start, end), source)),
        }
    }
    // The first and last ranges meet at the ring's end: one range when they share a source.
    if out.len() > 1
        && let (Some(&(first, a)), Some(&(lastr, b))) = (out.first(), out.last())
        && a == b
        && lastr.right == first.left
    {
        out.remove(0);
        if let Some((r, _)) = out.last_mut() {
            r.right = first.right;
        }
    }
    Ok(Ok(out))
}

/// One range a node must fetch after a replica is lost: `to` gains `range`, and `from` are
/// the surviving replicas of it that can give it (empty: no usable replica holds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeFetch {
    /// The range, `(left, right]`.
    pub range: TokenRange,
    /// The node that gains it.
    pub to: NodeId,
    /// Where to stream it from: every usable surviving replica, those in the gainer's
    /// datacenter first.
    pub from: Vec<NodeId>,
}

/// The streams that rebuild the replicas of `dead` (a node that will not come back) when the
/// ring changes from `now` to `future` (`dead` replaced by a new node, or removed): every
/// range whose replica set gains a node, with the replicas in `now` other than `dead` for which
/// `usable` holds. The gainer should stream from every one of them: a write acknowledged at
/// QUORUM is on at least one survivor, but not on any particular one, so one source could
/// miss it (Cassandra streams from one and leaves the rest to repair). Per elementary range,
/// adjacent ranges with the same gainer and sources merged, in ring order.
pub fn fetches_without(
    now: &TokenMetadata,
    future: &TokenMetadata,
    strategy: &ReplicationStrategy,
    dead: NodeId,
    usable: impl Fn(NodeId) -> bool,
) -> Result<Vec<RangeFetch>, Error> {
    let before = strategy.replica_map(now)?;
    let after = strategy.replica_map(future)?;
    let ends = boundaries(now, future);
    let Some(&last) = ends.last() else {
        return Ok(Vec::new());
    };
    let dc_of = |meta: &TokenMetadata, n: NodeId| meta.node(n).map(|x| x.dc().to_owned());
    let mut out: Vec<RangeFetch> = Vec::new();
    let mut previous = last;
    for &end in &ends {
        let start = std::mem::replace(&mut previous, end);
        let old = before.replicas(end);
        for &to in after.replicas(end) {
            if old.contains(&to) {
                continue;
            }
            let home = dc_of(future, to);
            let mut from: Vec<NodeId> = old
                .iter()
                .copied()
                .filter(|&n| n != dead && n != to && usable(n))
                .collect();
            // Stable: the gainer's datacenter first, then replica order.
            from.sort_by_key(|&n| dc_of(now, n) != home);
            match out.last_mut() {
                Some(f) if f.to == to && f.from == from && f.range.right == start => {
                    f.range.right = end;
                }
                _ => out.push(RangeFetch {
                    range: TokenRange::new(start, end),
                    to,
                    from,
                }),
            }
        }
    }
    Ok(out)
}

/// For one keyspace strategy and a set of changes under way: the ranges whose replica set will
/// gain nodes, and those nodes. For each range, pending = (replicas after the changes) minus
/// (replicas now), as Cassandra's `calculatePendingRanges`; a write to a token goes to its
/// current replicas plus its pending ones.
#[derive(Clone, Debug)]
pub struct PendingRanges {
    /// Boundaries of both rings, ascending: elementary range `i` is `(ends[i - 1], ends[i]]`.
    ends: Vec<Token>,
    /// Pending nodes per elementary range (mostly empty, sharing one allocation).
    pending: Vec<Arc<[NodeId]>>,
}

impl PendingRanges {
    /// Computes the pending ranges of `strategy` on `meta` while `changes` are under way
    /// (several changes may overlap: they are applied in order to get the future ring).
    pub fn compute(
        meta: &TokenMetadata,
        strategy: &ReplicationStrategy,
        changes: &[TopologyChange],
    ) -> Result<Self, Error> {
        let mut future = meta.clone();
        for change in changes {
            change.apply(&mut future)?;
        }
        let now = ReplicaMap::build(meta, strategy)?;
        let after = ReplicaMap::build(&future, strategy)?;
        let ends: BTreeSet<Token> = meta
            .ring()
            .iter()
            .chain(future.ring())
            .map(|&(t, _)| t)
            .collect();
        let ends: Vec<Token> = if ends.is_empty() {
            // LocalStrategy or an empty ring: one range covering the ring.
            vec![Token::MIN]
        } else {
            ends.into_iter().collect()
        };
        let none: Arc<[NodeId]> = Arc::from(Vec::new());
        let mut pending = Vec::with_capacity(ends.len());
        for &end in &ends {
            // Both rings have no token strictly inside the elementary range ending at `end`, so
            // both placements are constant over it and evaluating at `end` is exact.
            let current = now.replicas(end);
            let gained: Vec<NodeId> = after
                .replicas(end)
                .iter()
                .filter(|n| !current.contains(n))
                .copied()
                .collect();
            pending.push(if gained.is_empty() {
                none.clone()
            } else {
                Arc::from(gained)
            });
        }
        Ok(PendingRanges { ends, pending })
    }

    /// The nodes a write to `token` must reach besides its current replicas.
    pub fn pending_for(&self, token: Token) -> &[NodeId] {
        let i = self.ends.partition_point(|&t| t < token);
        let i = if i == self.ends.len() { 0 } else { i };
        self.pending.get(i).map_or(&[], |p| p)
    }

    /// Whether no range has pending nodes.
    pub fn is_empty(&self) -> bool {
        self.pending.iter().all(|p| p.is_empty())
    }

    /// Every range with pending nodes, adjacent ranges with the same nodes merged, in ring order.
    pub fn ranges(&self) -> Vec<(TokenRange, Vec<NodeId>)> {
        let mut out: Vec<(TokenRange, Vec<NodeId>)> = Vec::new();
        let last = self.ends.last().copied().unwrap_or(Token::MIN);
        for (i, (&end, set)) in self.ends.iter().zip(&self.pending).enumerate() {
            if set.is_empty() {
                continue;
            }
            let start = match i.checked_sub(1).and_then(|p| self.ends.get(p)) {
                Some(&p) => p,
                None => last,
            };
            match out.last_mut() {
                Some((range, nodes)) if range.right == start && nodes[..] == set[..] => {
                    range.right = end;
                }
                _ => out.push((TokenRange::new(start, end), set.to_vec())),
            }
        }
        out
    }

    /// The ranges each pending node is gaining.
    pub fn by_node(&self) -> BTreeMap<NodeId, Vec<TokenRange>> {
        let mut out: BTreeMap<NodeId, Vec<TokenRange>> = BTreeMap::new();
        for (range, nodes) in self.ranges() {
            for n in nodes {
                out.entry(n).or_default().push(range);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimpleStrategy;

    fn node(n: u128) -> NodeId {
        NodeId::from_u128(n)
    }

    /// Nodes 1 (token 0) and 2 (token 100), then node 3 joining at 50.
    fn a_third_node_joins_two() -> (TokenMetadata, TokenMetadata) {
        let mut now = TokenMetadata::new();
        now.add_node(node(1), "dc1", "r1", [Token::new(0)]).unwrap();
        now.add_node(node(2), "dc1", "r1", [Token::new(100)])
            .unwrap();
        let mut future = now.clone();
        future
            .add_node(node(3), "dc1", "r1", [Token::new(50)])
            .unwrap();
        (now, future)
    }

    #[test]
    fn a_joining_node_fetches_each_gained_range_from_the_node_that_gives_it_up() {
        let (now, future) = a_third_node_joins_two();
        let rf1 = ReplicationStrategy::Simple(SimpleStrategy::new(1));
        let plan = range_sources(&now, &future, &rf1, node(3)).unwrap();
        // At RF 1 node 3 takes (0, 50] from node 2, which owned (0, 100].
        assert_eq!(
            plan,
            vec![(TokenRange::new(Token::new(0), Token::new(50)), node(2))]
        );
        let rf2 = ReplicationStrategy::Simple(SimpleStrategy::new(2));
        let plan = range_sources(&now, &future, &rf2, node(3)).unwrap();
        // At RF 2: (0, 50] (replicas 2, 1 -> 3, 2: node 1 gives it up) and (100, 0]
        // (replicas 1, 2 -> 1, 3: node 2 gives it up).
        assert!(plan.contains(&(TokenRange::new(Token::new(0), Token::new(50)), node(1))));
        assert!(plan.contains(&(TokenRange::new(Token::new(100), Token::new(0)), node(2))));
        assert_eq!(plan.len(), 2, "{plan:?}");
    }

    #[test]
    fn a_down_source_stops_a_consistent_join_and_an_inconsistent_one_takes_another_replica() {
        let (now, future) = a_third_node_joins_two();
        let rf2 = ReplicationStrategy::Simple(SimpleStrategy::new(2));
        let node1_down = |n: NodeId| n != node(1);
        // (0, 50] is given up by node 1, which is down.
        let strict = live_range_sources(&now, &future, &rf2, node(3), node1_down, true).unwrap();
        assert_eq!(
            strict,
            Err(SourceDown {
                range: TokenRange::new(Token::new(0), Token::new(50)),
                source: node(1)
            })
        );
        let relaxed = live_range_sources(&now, &future, &rf2, node(3), node1_down, false)
            .unwrap()
            .unwrap();
        // Node 2, the other replica of (0, 50], serves it; (100, 0] still comes from node 2.
        assert!(relaxed.iter().all(|(_, s)| *s == node(2)), "{relaxed:?}");
        let covered: Vec<_> = relaxed.iter().map(|(r, _)| *r).collect();
        assert!(
            covered.contains(&TokenRange::new(Token::new(100), Token::new(50))),
            "{covered:?}"
        );
        // With nobody up there is no source at all.
        let none = live_range_sources(&now, &future, &rf2, node(3), |_| false, false).unwrap();
        assert!(none.is_err());
        // Everyone up: the strict plan.
        assert_eq!(
            live_range_sources(&now, &future, &rf2, node(3), |_| true, true)
                .unwrap()
                .unwrap(),
            range_sources(&now, &future, &rf2, node(3)).unwrap()
        );
    }

    fn three_nodes() -> TokenMetadata {
        let mut now = TokenMetadata::new();
        for (n, t) in [(1, 0), (2, 100), (3, 200)] {
            now.add_node(node(n), "dc1", "r1", [Token::new(t)]).unwrap();
        }
        now
    }

    #[test]
    fn a_replacement_fetches_every_range_of_the_dead_node_from_a_live_replica() {
        let now = three_nodes();
        let mut future = now.clone();
        future.replace_node(node(3), node(4)).unwrap();
        let rf2 = ReplicationStrategy::Simple(SimpleStrategy::new(2));
        // Node 2 is down too: the sources are whatever else holds each range.
        let plan = fetches_without(&now, &future, &rf2, node(3), |n| n != node(2)).unwrap();
        // Node 3 replicated (100, 200] (with node 1) and (0, 100] (with node 2).
        assert_eq!(
            plan,
            vec![
                RangeFetch {
                    range: TokenRange::new(Token::new(0), Token::new(100)),
                    to: node(4),
                    from: vec![],
                },
                RangeFetch {
                    range: TokenRange::new(Token::new(100), Token::new(200)),
                    to: node(4),
                    from: vec![node(1)],
                },
            ]
        );
    }

    #[test]
    fn a_replacement_fetches_from_every_surviving_replica() {
        let mut now = three_nodes();
        now.add_node(node(5), "dc1", "r1", [Token::new(300)])
            .unwrap();
        let mut future = now.clone();
        future.replace_node(node(3), node(4)).unwrap();
        let rf3 = ReplicationStrategy::Simple(SimpleStrategy::new(3));
        let plan = fetches_without(&now, &future, &rf3, node(3), |_| true).unwrap();
        // (100, 200] is on 3, 5, 1: a QUORUM write may be on 3 and 1 only, so from 5 and 1.
        let range = TokenRange::new(Token::new(100), Token::new(200));
        let from = plan
            .iter()
            .find(|f| f.range == range)
            .map(|f| f.from.clone());
        assert_eq!(from, Some(vec![node(5), node(1)]));
        assert!(
            plan.iter().all(|f| f.to == node(4) && f.from.len() == 2),
            "{plan:?}"
        );
    }

    #[test]
    fn a_removed_node_s_ranges_go_to_their_next_owners_from_survivors() {
        let now = three_nodes();
        let mut future = now.clone();
        future.remove_node(node(3)).unwrap();
        let rf2 = ReplicationStrategy::Simple(SimpleStrategy::new(2));
        let plan = fetches_without(&now, &future, &rf2, node(3), |_| true).unwrap();
        // (0, 100]: 2,3 -> 2,1 (node 1 fetches from 2); (100, 200]: 3,1 -> 1,2 (node 2
        // fetches from 1); (200, 0]: 1,2 unchanged.
        assert_eq!(
            plan,
            vec![
                RangeFetch {
                    range: TokenRange::new(Token::new(0), Token::new(100)),
                    to: node(1),
                    from: vec![node(2)],
                },
                RangeFetch {
                    range: TokenRange::new(Token::new(100), Token::new(200)),
                    to: node(2),
                    from: vec![node(1)],
                },
            ]
        );
    }
}
