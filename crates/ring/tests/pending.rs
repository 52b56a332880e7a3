//! Pending ranges for joins, leaves, replacements and moves on small, hand-checked rings.

use ilion_ring::{
    NodeId, PendingRanges, ReplicationStrategy, SimpleStrategy, Token, TokenMetadata, TokenRange,
    TopologyChange,
};

fn id(n: u128) -> NodeId {
    NodeId::from_u128(n)
}

fn t(v: i64) -> Token {
    Token::new(v)
}

fn r(l: i64, rr: i64) -> TokenRange {
    TokenRange::new(t(l), t(rr))
}

/// Nodes 1, 2, 3 at tokens 100, 200, 300, one rack.
fn three() -> TokenMetadata {
    let mut m = TokenMetadata::new();
    for (n, tok) in [(1, 100), (2, 200), (3, 300)] {
        m.add_node(id(n), "dc1", "r1", [t(tok)]).unwrap();
    }
    m
}

fn simple(rf: usize) -> ReplicationStrategy {
    ReplicationStrategy::Simple(SimpleStrategy::new(rf))
}

fn pending(rf: usize, change: TopologyChange) -> PendingRanges {
    PendingRanges::compute(&three(), &simple(rf), &[change]).unwrap()
}

fn join_4_at_150() -> TopologyChange {
    TopologyChange::Join {
        id: id(4),
        dc: "dc1".into(),
        rack: "r1".into(),
        tokens: vec![t(150)],
    }
}

#[test]
fn a_joining_node_is_pending_for_the_ranges_it_will_replicate() {
    // RF 1: node 4 takes (100, 150] from node 2.
    let p = pending(1, join_4_at_150());
    assert_eq!(p.ranges(), vec![(r(100, 150), vec![id(4)])]);
    assert_eq!(p.pending_for(t(120)), &[id(4)]);
    assert!(p.pending_for(t(151)).is_empty());
    assert!(p.pending_for(t(100)).is_empty());

    // RF 2: node 4 also becomes the second replica of (300, 100]; adjacent ranges merge.
    let p = pending(2, join_4_at_150());
    assert_eq!(p.ranges(), vec![(r(300, 150), vec![id(4)])]);
    assert_eq!(p.pending_for(Token::MIN), &[id(4)]);
    assert_eq!(p.by_node()[&id(4)], vec![r(300, 150)]);
}

#[test]
fn a_leaving_nodes_ranges_are_pending_on_their_next_owners() {
    let p = pending(1, TopologyChange::Leave { id: id(2) });
    assert_eq!(p.ranges(), vec![(r(100, 200), vec![id(3)])]);
    // RF 3 with 3 nodes: everyone already holds everything; nothing is pending.
    assert!(pending(3, TopologyChange::Leave { id: id(2) }).is_empty());
}

#[test]
fn a_replacement_is_pending_for_exactly_the_replaced_nodes_ranges() {
    let p = pending(
        2,
        TopologyChange::Replace {
            old: id(2),
            new: id(5),
        },
    );
    // Node 2 replicates (300, 100] and (100, 200] at RF 2.
    assert_eq!(p.ranges(), vec![(r(300, 200), vec![id(5)])]);
}

#[test]
fn a_moving_node_is_pending_for_its_new_ranges_and_others_for_its_old_ones() {
    let p = pending(
        1,
        TopologyChange::Move {
            id: id(1),
            tokens: vec![t(250)],
        },
    );
    assert_eq!(
        p.ranges(),
        vec![(r(300, 100), vec![id(2)]), (r(200, 250), vec![id(1)])]
    );
}

#[test]
fn invalid_changes_are_errors() {
    let m = three();
    let bad = [
        TopologyChange::Leave { id: id(9) },
        TopologyChange::Join {
            id: id(1),
            dc: "dc1".into(),
            rack: "r1".into(),
            tokens: vec![t(5)],
        },
        TopologyChange::Join {
            id: id(4),
            dc: "dc1".into(),
            rack: "r1".into(),
            tokens: vec![t(100)],
        },
        TopologyChange::Replace {
            old: id(1),
            new: id(2),
        },
    ];
    for change in bad {
        assert!(
            PendingRanges::compute(&m, &simple(1), std::slice::from_ref(&change)).is_err(),
            "{change:?}"
        );
    }
}

#[test]
fn overlapping_changes_combine() {
    let p = PendingRanges::compute(
        &three(),
        &simple(1),
        &[join_4_at_150(), TopologyChange::Leave { id: id(3) }],
    )
    .unwrap();
    // Node 4 takes (100, 150]; node 3's (200, 300] goes to node 1.
    assert_eq!(
        p.ranges(),
        vec![(r(100, 150), vec![id(4)]), (r(200, 300), vec![id(1)])]
    );
}
