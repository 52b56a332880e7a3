//! Replication strategies built from CQL replication maps, and their placement on small,
//! hand-checked rings.

use std::collections::BTreeMap;

use ilion_ring::{
    Error, NetworkTopologyStrategy, NodeId, ReplicationStrategy, SimpleStrategy, Token,
    TokenMetadata,
};

fn id(n: u128) -> NodeId {
    NodeId::from_u128(n)
}

fn t(v: i64) -> Token {
    Token::new(v)
}

fn parse(
    pairs: &[(&str, &str)],
    topo: Option<&TokenMetadata>,
) -> Result<ReplicationStrategy, Error> {
    ReplicationStrategy::from_replication_map(pairs.iter().copied(), topo)
}

/// dc1: nodes 1..=4 at tokens 10, 20, 30, 40 in racks a, a, b, b; dc2: nodes 5, 6 at 15, 35 in
/// rack c.
fn two_dcs() -> TokenMetadata {
    let mut m = TokenMetadata::new();
    m.add_node(id(1), "dc1", "a", [t(10)]).unwrap();
    m.add_node(id(2), "dc1", "a", [t(20)]).unwrap();
    m.add_node(id(3), "dc1", "b", [t(30)]).unwrap();
    m.add_node(id(4), "dc1", "b", [t(40)]).unwrap();
    m.add_node(id(5), "dc2", "c", [t(15)]).unwrap();
    m.add_node(id(6), "dc2", "c", [t(35)]).unwrap();
    m
}

#[test]
fn simple_strategy_parses_short_and_qualified_class_names() {
    for class in [
        "SimpleStrategy",
        "org.apache.cassandra.locator.SimpleStrategy",
    ] {
        let s = parse(&[("class", class), ("replication_factor", "3")], None).unwrap();
        assert_eq!(s, ReplicationStrategy::Simple(SimpleStrategy::new(3)));
    }
}

#[test]
fn network_topology_strategy_parses_per_dc_factors_including_zero() {
    let m = two_dcs();
    let s = parse(
        &[
            ("class", "NetworkTopologyStrategy"),
            ("dc1", "3"),
            ("dc2", "0"),
        ],
        Some(&m),
    )
    .unwrap();
    let expected: BTreeMap<String, usize> = [("dc1".to_owned(), 3), ("dc2".to_owned(), 0)]
        .into_iter()
        .collect();
    assert_eq!(
        s,
        ReplicationStrategy::NetworkTopology(NetworkTopologyStrategy::new(expected))
    );
    // Round trip through the stored form.
    let map = s.replication_map();
    assert_eq!(
        map["class"],
        "org.apache.cassandra.locator.NetworkTopologyStrategy"
    );
    assert_eq!(
        ReplicationStrategy::from_replication_map(&map, Some(&m)).unwrap(),
        s
    );
}

#[test]
fn network_topology_replication_factor_shorthand_expands_to_every_known_dc() {
    let m = two_dcs();
    let s = parse(
        &[
            ("class", "NetworkTopologyStrategy"),
            ("replication_factor", "2"),
            ("dc2", "1"),
        ],
        Some(&m),
    )
    .unwrap();
    let ReplicationStrategy::NetworkTopology(n) = s else {
        panic!("expected NTS, got {s:?}");
    };
    assert_eq!(n.replication_factor("dc1"), 2);
    assert_eq!(n.replication_factor("dc2"), 1);
    assert!(matches!(
        parse(
            &[
                ("class", "NetworkTopologyStrategy"),
                ("replication_factor", "2")
            ],
            None
        ),
        Err(Error::ReplicationFactorNeedsTopology)
    ));
}

#[test]
fn invalid_replication_maps_are_rejected_with_specific_errors() {
    let m = two_dcs();
    assert!(matches!(
        parse(&[("replication_factor", "3")], None),
        Err(Error::MissingStrategyClass)
    ));
    assert!(matches!(
        parse(&[("class", "EverywhereStrategy")], None),
        Err(Error::UnknownStrategyClass { class }) if class == "EverywhereStrategy"
    ));
    assert!(matches!(
        parse(
            &[("class", "simplestrategy"), ("replication_factor", "3")],
            None
        ),
        Err(Error::UnknownStrategyClass { .. })
    ));
    assert!(matches!(
        parse(&[("class", "SimpleStrategy")], None),
        Err(Error::MissingReplicationFactor)
    ));
    assert!(matches!(
        parse(
            &[("class", "SimpleStrategy"), ("replication_factor", "-1")],
            None
        ),
        Err(Error::NegativeReplicationFactor { value: -1, .. })
    ));
    assert!(matches!(
        parse(
            &[("class", "SimpleStrategy"), ("replication_factor", "three")],
            None
        ),
        Err(Error::NonNumericReplicationFactor { .. })
    ));
    assert!(matches!(
        parse(
            &[("class", "SimpleStrategy"), ("replication_factor", "3/1")],
            None
        ),
        Err(Error::TransientReplicationUnsupported { .. })
    ));
    assert!(matches!(
        parse(&[("class", "SimpleStrategy"), ("replication_factor", "3"), ("dc1", "3")], None),
        Err(Error::UnrecognizedOption { class: "SimpleStrategy", option }) if option == "dc1"
    ));
    assert!(matches!(
        parse(&[("class", "NetworkTopologyStrategy"), ("dc9", "3")], Some(&m)),
        Err(Error::UnrecognizedOption { class: "NetworkTopologyStrategy", option }) if option == "dc9"
    ));
    assert!(matches!(
        parse(
            &[("class", "NetworkTopologyStrategy"), ("dc1", "x")],
            Some(&m)
        ),
        Err(Error::NonNumericReplicationFactor { .. })
    ));
    assert!(matches!(
        parse(
            &[("class", "LocalStrategy"), ("replication_factor", "1")],
            None
        ),
        Err(Error::UnrecognizedOption {
            class: "LocalStrategy",
            ..
        })
    ));
    // Without a topology any datacenter name is accepted (it may join later).
    assert!(parse(&[("class", "NetworkTopologyStrategy"), ("dc9", "3")], None).is_ok());
    // A keyspace with no replica anywhere is refused: its writes could never be stored.
    assert!(matches!(
        parse(
            &[("class", "SimpleStrategy"), ("replication_factor", "0")],
            None
        ),
        Err(Error::NoReplicas {
            class: "SimpleStrategy"
        })
    ));
    assert!(matches!(
        parse(
            &[
                ("class", "NetworkTopologyStrategy"),
                ("dc1", "0"),
                ("dc2", "0")
            ],
            Some(&m)
        ),
        Err(Error::NoReplicas {
            class: "NetworkTopologyStrategy"
        })
    ));
    assert!(matches!(
        parse(&[("class", "NetworkTopologyStrategy")], None),
        Err(Error::NoReplicas { .. })
    ));
}

#[test]
fn simple_strategy_takes_the_next_distinct_nodes_clockwise() {
    let m = two_dcs();
    let s = parse(
        &[("class", "SimpleStrategy"), ("replication_factor", "3")],
        None,
    )
    .unwrap();
    // Ring: 10:1 15:5 20:2 30:3 35:6 40:4
    assert_eq!(s.replicas(&m, t(12)).unwrap(), vec![id(5), id(2), id(3)]);
    assert_eq!(s.replicas(&m, t(15)).unwrap(), vec![id(5), id(2), id(3)]);
    // Past the last token the walk wraps to the first.
    assert_eq!(s.replicas(&m, t(41)).unwrap(), vec![id(1), id(5), id(2)]);
    assert_eq!(
        s.replicas(&m, Token::MIN).unwrap(),
        vec![id(1), id(5), id(2)]
    );
    let map = s.replica_map(&m).unwrap();
    for tok in [-5, 10, 12, 15, 16, 33, 40, 41, i64::MAX] {
        assert_eq!(map.replicas(t(tok)), &s.replicas(&m, t(tok)).unwrap()[..]);
    }
}

#[test]
fn simple_strategy_with_more_replicas_than_nodes_uses_every_node_once() {
    let mut m = TokenMetadata::new();
    m.add_node(id(1), "dc1", "a", [t(0), t(100)]).unwrap();
    m.add_node(id(2), "dc1", "a", [t(50)]).unwrap();
    let s = ReplicationStrategy::Simple(SimpleStrategy::new(5));
    assert_eq!(s.replicas(&m, t(1)).unwrap(), vec![id(2), id(1)]);
}

#[test]
fn network_topology_prefers_distinct_racks_then_fills_in_ring_order() {
    let m = two_dcs();
    let s = parse(
        &[
            ("class", "NetworkTopologyStrategy"),
            ("dc1", "2"),
            ("dc2", "1"),
        ],
        Some(&m),
    )
    .unwrap();
    // From 11: 15:5(dc2) 20:2(a) 30:3(b) -> dc1 gets 2 (rack a) then 3 (rack b).
    assert_eq!(s.replicas(&m, t(11)).unwrap(), vec![id(5), id(2), id(3)]);
    // From 0: 10:1(a) 15:5 20:2(a, skipped: rack seen, 2 racks >= rf 2) 30:3(b).
    assert_eq!(s.replicas(&m, t(0)).unwrap(), vec![id(1), id(5), id(3)]);

    // rf 3 with 2 racks: one rack repeat allowed, the first met in ring order.
    let s3 = parse(
        &[("class", "NetworkTopologyStrategy"), ("dc1", "3")],
        Some(&m),
    )
    .unwrap();
    // From 0: 1(a) 2(a, repeat accepted) 3(b) -> done.
    assert_eq!(s3.replicas(&m, t(0)).unwrap(), vec![id(1), id(2), id(3)]);
    // From 21: 3(b) 6(dc2) 4(b, repeat accepted) 1(a) -> done.
    assert_eq!(s3.replicas(&m, t(21)).unwrap(), vec![id(3), id(4), id(1)]);
}

#[test]
fn network_topology_ignores_datacenters_without_nodes_or_with_factor_zero() {
    let m = two_dcs();
    let s = parse(
        &[
            ("class", "NetworkTopologyStrategy"),
            ("dc1", "1"),
            ("dc2", "0"),
        ],
        Some(&m),
    )
    .unwrap();
    assert_eq!(s.replicas(&m, t(11)).unwrap(), vec![id(2)]);
    let unknown_dc = parse(&[("class", "NetworkTopologyStrategy"), ("dc7", "3")], None).unwrap();
    assert!(unknown_dc.replicas(&m, t(11)).unwrap().is_empty());
}

#[test]
fn local_strategy_places_everything_on_the_local_node() {
    let mut m = two_dcs();
    let s = parse(&[("class", "LocalStrategy")], None).unwrap();
    assert!(matches!(s.replica_map(&m), Err(Error::NoLocalNode)));
    m.set_local(id(4)).unwrap();
    let map = s.replica_map(&m).unwrap();
    for tok in [i64::MIN, 0, 17, i64::MAX] {
        assert_eq!(map.replicas(t(tok)), &[id(4)]);
    }
    assert_eq!(map.ownership()[&id(4)], 1.0);
}

#[test]
fn replicated_ownership_sums_to_the_replication_factor() {
    let m = two_dcs();
    let s = parse(
        &[("class", "SimpleStrategy"), ("replication_factor", "3")],
        None,
    )
    .unwrap();
    let own = s.replica_map(&m).unwrap().ownership();
    let total: f64 = own.values().sum();
    assert!((total - 3.0).abs() < 1e-9, "{total}");
}

#[test]
fn an_empty_ring_has_no_replicas() {
    let m = TokenMetadata::new();
    let s = ReplicationStrategy::Simple(SimpleStrategy::new(3));
    assert!(s.replica_map(&m).unwrap().replicas(t(1)).is_empty());
    assert!(s.replicas(&m, t(1)).unwrap().is_empty());
}

#[test]
fn a_replica_map_records_the_topology_version_it_was_built_from() {
    let mut m = two_dcs();
    let s = ReplicationStrategy::Simple(SimpleStrategy::new(2));
    let before = s.replica_map(&m).unwrap();
    assert_eq!(before.topology_version(), m.version());
    m.add_node(id(7), "dc1", "a", [t(25)]).unwrap();
    assert!(m.version() > before.topology_version());
    let after = s.replica_map(&m).unwrap();
    assert_eq!(after.replicas(t(22)), &[id(7), id(3)]);
    assert_eq!(before.replicas(t(22)), &[id(3), id(6)]);
}
