//! Property tests: the fast placement (`ReplicaMap`, one-pass walks over index arrays) against a
//! deliberately naive model (sort the tokens, scan linearly, place each datacenter in two plain
//! passes), on random topologies. Seeded, so a failure replays; a failing seed becomes a named
//! regression test below.

use std::collections::{BTreeMap, BTreeSet};

use ilion_ring::{
    NetworkTopologyStrategy, NodeId, PendingRanges, ReplicaMap, ReplicationStrategy,
    SimpleStrategy, Token, TokenMetadata, TopologyChange,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// A node of a generated topology: (dc, rack, tokens).
#[derive(Clone, Debug)]
struct Spec {
    dc: usize,
    rack: usize,
    tokens: Vec<i64>,
}

#[derive(Clone, Debug)]
struct Case {
    nodes: Vec<Spec>,
    /// Replication factor per dc (index), or `None` for SimpleStrategy with `simple_rf`.
    dc_rf: Option<Vec<usize>>,
    simple_rf: usize,
    probes: Vec<i64>,
    /// A node to add: (dc, rack, tokens).
    joiner: Spec,
}

fn spec(dcs: usize) -> impl Strategy<Value = Spec> {
    (
        0..dcs,
        0..3usize,
        prop::collection::vec(any::<i64>(), 1..=4),
    )
        .prop_map(|(dc, rack, tokens)| Spec { dc, rack, tokens })
}

fn case() -> impl Strategy<Value = Case> {
    (1..=3usize).prop_flat_map(|dcs| {
        (
            prop::collection::vec(spec(dcs), 1..=10),
            prop::option::of(prop::collection::vec(0..=4usize, dcs)),
            1..=5usize,
            prop::collection::vec(any::<i64>(), 8),
            spec(dcs),
        )
            .prop_map(|(nodes, dc_rf, simple_rf, probes, joiner)| Case {
                nodes,
                dc_rf,
                simple_rf,
                probes,
                joiner,
            })
    })
}

fn dc_name(dc: usize) -> String {
    format!("dc{dc}")
}

fn rack_name(rack: usize) -> String {
    format!("rack{rack}")
}

/// Builds the metadata, dropping tokens already taken (the generator may repeat them).
fn build(case: &Case) -> TokenMetadata {
    let mut meta = TokenMetadata::new();
    let mut taken = BTreeSet::new();
    for (i, n) in case.nodes.iter().enumerate() {
        let tokens: Vec<Token> = n
            .tokens
            .iter()
            .filter(|t| taken.insert(**t))
            .map(|&t| Token::new(t))
            .collect();
        if tokens.is_empty() {
            continue;
        }
        meta.add_node(node(i), &dc_name(n.dc), &rack_name(n.rack), tokens)
            .unwrap();
    }
    meta
}

fn node(i: usize) -> NodeId {
    NodeId::from_u128(i as u128 + 1)
}

fn strategy(case: &Case) -> ReplicationStrategy {
    match &case.dc_rf {
        Some(rfs) => ReplicationStrategy::NetworkTopology(NetworkTopologyStrategy::new(
            rfs.iter()
                .enumerate()
                .map(|(dc, &rf)| (dc_name(dc), rf))
                .collect(),
        )),
        None => ReplicationStrategy::Simple(SimpleStrategy::new(case.simple_rf)),
    }
}

/// The naive placement.
struct Naive {
    /// (token, node, dc, rack), sorted by token.
    ring: Vec<(i64, NodeId, String, String)>,
}

impl Naive {
    fn new(meta: &TokenMetadata) -> Self {
        let mut ring = Vec::new();
        for n in meta.nodes() {
            for t in n.tokens() {
                ring.push((t.value(), n.id(), n.dc().to_owned(), n.rack().to_owned()));
            }
        }
        ring.sort_by_key(|e| e.0);
        Naive { ring }
    }

    /// The walk order from `token`: every ring entry once, starting at the first token >= it.
    fn walk(&self, token: i64) -> Vec<&(i64, NodeId, String, String)> {
        let mut start = 0;
        while start < self.ring.len() && self.ring[start].0 < token {
            start += 1;
        }
        if start == self.ring.len() {
            start = 0;
        }
        let mut out = Vec::new();
        for k in 0..self.ring.len() {
            out.push(&self.ring[(start + k) % self.ring.len()]);
        }
        out
    }

    fn simple(&self, token: i64, rf: usize) -> Vec<NodeId> {
        let mut out = Vec::new();
        for e in self.walk(token) {
            if out.len() < rf && !out.contains(&e.1) {
                out.push(e.1);
            }
        }
        out
    }

    /// Per datacenter: first the first node of each rack met (up to rf), then, when the
    /// datacenter has fewer racks than rf, the next nodes in ring order, up to min(rf, nodes).
    fn nts(&self, token: i64, rfs: &BTreeMap<String, usize>) -> BTreeSet<NodeId> {
        let walk = self.walk(token);
        let mut out = BTreeSet::new();
        for (dc, &rf) in rfs {
            let dc_nodes: BTreeSet<NodeId> =
                walk.iter().filter(|e| &e.2 == dc).map(|e| e.1).collect();
            let want = rf.min(dc_nodes.len());
            let mut chosen: Vec<NodeId> = Vec::new();
            let mut racks = BTreeSet::new();
            for e in walk.iter().filter(|e| &e.2 == dc) {
                if chosen.len() < want && racks.insert(e.3.clone()) {
                    chosen.push(e.1);
                }
            }
            for e in walk.iter().filter(|e| &e.2 == dc) {
                if chosen.len() < want && !chosen.contains(&e.1) {
                    chosen.push(e.1);
                }
            }
            out.extend(chosen);
        }
        out
    }
}

fn probes(case: &Case, meta: &TokenMetadata) -> Vec<i64> {
    let mut p: Vec<i64> = case.probes.clone();
    p.extend([i64::MIN, i64::MAX, 0]);
    for &(t, _) in meta.ring() {
        p.extend([
            t.value(),
            t.value().wrapping_add(1),
            t.value().wrapping_sub(1),
        ]);
    }
    p
}

fn config() -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x11_10_4e),
        failure_persistence: None,
        ..Config::default()
    }
}

fn check_against_model(case: &Case) -> Result<(), TestCaseError> {
    let meta = build(case);
    let strat = strategy(case);
    let map = ReplicaMap::build(&meta, &strat).unwrap();
    let naive = Naive::new(&meta);
    let dcs = meta.datacenters();
    for p in probes(case, &meta) {
        let fast = map.replicas(Token::new(p));
        let distinct: BTreeSet<NodeId> = fast.iter().copied().collect();
        prop_assert_eq!(distinct.len(), fast.len(), "replicas must be distinct");
        prop_assert_eq!(fast, &strat.replicas(&meta, Token::new(p)).unwrap()[..]);
        match &strat {
            ReplicationStrategy::Simple(s) => {
                prop_assert_eq!(fast.to_vec(), naive.simple(p, s.replication_factor()));
                prop_assert_eq!(fast.len(), s.replication_factor().min(meta.node_count()));
            }
            ReplicationStrategy::NetworkTopology(n) => {
                prop_assert_eq!(&distinct, &naive.nts(p, n.datacenters()));
                for (dc, racks) in &dcs {
                    let rf = n.replication_factor(dc);
                    let nodes: usize = racks.values().sum();
                    let in_dc: Vec<&str> = fast
                        .iter()
                        .filter_map(|id| meta.node(*id))
                        .filter(|node| node.dc() == *dc)
                        .map(|node| node.rack())
                        .collect();
                    // Per-dc counts hold.
                    prop_assert_eq!(in_dc.len(), rf.min(nodes), "dc {}", dc);
                    // Racks are distinct when possible.
                    let distinct_racks: BTreeSet<&str> = in_dc.iter().copied().collect();
                    prop_assert_eq!(distinct_racks.len(), rf.min(nodes).min(racks.len()));
                }
            }
            other => prop_assert!(false, "unexpected strategy {other:?}"),
        }
    }
    Ok(())
}

/// Adding one node changes only the ranges it takes over: wherever it is not a replica the set
/// is unchanged, and where it is, it replaced at most one node (the others stay).
fn check_join_moves_only_taken_ranges(case: &Case) -> Result<(), TestCaseError> {
    let meta = build(case);
    let strat = strategy(case);
    let taken: BTreeSet<i64> = meta.ring().iter().map(|(t, _)| t.value()).collect();
    let tokens: Vec<Token> = case
        .joiner
        .tokens
        .iter()
        .filter(|t| !taken.contains(t))
        .map(|&t| Token::new(t))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if tokens.is_empty() {
        return Ok(());
    }
    let x = NodeId::from_u128(999);
    let change = TopologyChange::Join {
        id: x,
        dc: dc_name(case.joiner.dc),
        rack: rack_name(case.joiner.rack),
        tokens: tokens.clone(),
    };
    let mut after = meta.clone();
    change.apply(&mut after).unwrap();
    let before_map = ReplicaMap::build(&meta, &strat).unwrap();
    let after_map = ReplicaMap::build(&after, &strat).unwrap();
    let pending = PendingRanges::compute(&meta, &strat, std::slice::from_ref(&change)).unwrap();
    for p in probes(case, &after) {
        let old: BTreeSet<NodeId> = before_map.replicas(Token::new(p)).iter().copied().collect();
        let new: BTreeSet<NodeId> = after_map.replicas(Token::new(p)).iter().copied().collect();
        if new.contains(&x) {
            let others: BTreeSet<NodeId> = new.iter().copied().filter(|n| *n != x).collect();
            prop_assert!(
                others.is_subset(&old),
                "token {}: {:?} -> {:?}",
                p,
                old,
                new
            );
            prop_assert!(old.len() - others.len() <= 1);
            prop_assert_eq!(pending.pending_for(Token::new(p)), &[x]);
        } else {
            prop_assert_eq!(&old, &new, "token {} changed without the new node", p);
            prop_assert!(pending.pending_for(Token::new(p)).is_empty());
        }
    }
    Ok(())
}

/// For any change, the pending nodes of a token are exactly its future replicas (by the naive
/// model of the future ring) that are not current replicas.
fn check_pending_matches_model(case: &Case, kind: u8) -> Result<(), TestCaseError> {
    let meta = build(case);
    if meta.node_count() < 2 {
        return Ok(());
    }
    let strat = strategy(case);
    let victim = meta.nodes().next().map(|n| n.id()).unwrap();
    let change = match kind % 3 {
        0 => TopologyChange::Leave { id: victim },
        1 => TopologyChange::Replace {
            old: victim,
            new: NodeId::from_u128(777),
        },
        _ => {
            let taken: BTreeSet<i64> = meta.ring().iter().map(|(t, _)| t.value()).collect();
            let tokens: BTreeSet<Token> = case
                .joiner
                .tokens
                .iter()
                .filter(|t| !taken.contains(t))
                .map(|&t| Token::new(t))
                .collect();
            if tokens.is_empty() {
                return Ok(());
            }
            TopologyChange::Move {
                id: victim,
                tokens: tokens.into_iter().collect(),
            }
        }
    };
    let mut after = meta.clone();
    change.apply(&mut after).unwrap();
    let pending = PendingRanges::compute(&meta, &strat, std::slice::from_ref(&change)).unwrap();
    let now = Naive::new(&meta);
    let future = Naive::new(&after);
    let sets = |naive: &Naive, p: i64| -> BTreeSet<NodeId> {
        match &strat {
            ReplicationStrategy::Simple(s) => naive
                .simple(p, s.replication_factor())
                .into_iter()
                .collect(),
            ReplicationStrategy::NetworkTopology(n) => naive.nts(p, n.datacenters()),
            _ => BTreeSet::new(),
        }
    };
    for p in probes(case, &after).into_iter().chain(probes(case, &meta)) {
        let expected: BTreeSet<NodeId> = sets(&future, p)
            .difference(&sets(&now, p))
            .copied()
            .collect();
        let got: BTreeSet<NodeId> = pending.pending_for(Token::new(p)).iter().copied().collect();
        prop_assert_eq!(got, expected, "token {} for {:?}", p, change);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fast_placement_matches_the_naive_model(case in case()) {
        check_against_model(&case)?;
    }

    #[test]
    fn adding_a_node_moves_only_the_ranges_it_takes_over(case in case()) {
        check_join_moves_only_taken_ranges(&case)?;
    }

    #[test]
    fn pending_nodes_are_future_replicas_that_are_not_current_ones(case in case(), kind in any::<u8>()) {
        check_pending_matches_model(&case, kind)?;
    }
}
