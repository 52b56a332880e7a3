//! Replication strategies: which nodes hold the replicas of a token.

pub(crate) mod local;
pub(crate) mod network_topology;
pub(crate) mod placement;
pub(crate) mod simple;

use std::collections::BTreeMap;

use crate::error::Error;
use crate::replica_map::ReplicaMap;
use crate::token::Token;
use crate::topology::{NodeId, RingView, TokenMetadata, datacenter_names};

pub use local::LocalStrategy;
pub use network_topology::NetworkTopologyStrategy;
pub use simple::SimpleStrategy;

use network_topology::DcProgress;
use placement::Scratch;

/// The package Cassandra's strategy classes live in; short class names are resolved in it.
const LOCATOR_PACKAGE: &str = "org.apache.cassandra.locator.";

/// A keyspace's replication strategy, as its CQL replication map names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicationStrategy {
    /// `SimpleStrategy`.
    Simple(SimpleStrategy),
    /// `NetworkTopologyStrategy`.
    NetworkTopology(NetworkTopologyStrategy),
    /// `LocalStrategy`.
    Local(LocalStrategy),
}

impl ReplicationStrategy {
    /// Builds a strategy from a CQL replication map, e.g. `{'class': 'SimpleStrategy',
    /// 'replication_factor': '3'}` or `{'class': 'NetworkTopologyStrategy', 'dc1': '3', 'dc2':
    /// '2'}`. Values are the strings `system_schema.keyspaces.replication` stores (a CQL integer
    /// literal arrives as its decimal text).
    ///
    /// Follows Cassandra's validation:
    /// - `class` is required; a short name is resolved in `org.apache.cassandra.locator`, so
    ///   `SimpleStrategy` and `org.apache.cassandra.locator.SimpleStrategy` are the same class.
    ///   Class names are case-sensitive, as Java class names.
    /// - A factor must be a non-negative integer. One datacenter at 0 is allowed (no replicas
    ///   there, as when moving a keyspace out of a dc), but a keyspace with no replica anywhere
    ///   (SimpleStrategy at 0, every dc at 0) is refused with [`Error::NoReplicas`].
    ///   Transient replication (`'3/1'`) is not supported.
    /// - SimpleStrategy requires `replication_factor` and accepts no other option.
    /// - NetworkTopologyStrategy takes one option per datacenter. When `topology` is given, a
    ///   datacenter it does not know is an error (Cassandra: "Unrecognized strategy option"),
    ///   and the `replication_factor` shorthand sets the factor of every known datacenter not
    ///   named explicitly (Cassandra 4.0+); without a topology the shorthand is an error.
    /// - LocalStrategy accepts no option.
    pub fn from_replication_map<K, V>(
        map: impl IntoIterator<Item = (K, V)>,
        topology: Option<&TokenMetadata>,
    ) -> Result<Self, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut class = None;
        let mut options: Vec<(String, String)> = Vec::new();
        for (k, v) in map {
            let (k, v) = (k.as_ref(), v.as_ref());
            if k == "class" {
                class = Some(v.to_owned());
            } else {
                options.push((k.to_owned(), v.to_owned()));
            }
        }
        let class = class.ok_or(Error::MissingStrategyClass)?;
        let short = class.strip_prefix(LOCATOR_PACKAGE).unwrap_or(&class);
        match short {
            "SimpleStrategy" => {
                let mut rf = None;
                for (k, v) in &options {
                    if k != "replication_factor" {
                        return Err(Error::UnrecognizedOption {
                            class: "SimpleStrategy",
                            option: k.clone(),
                        });
                    }
                    rf = Some(parse_replication_factor(k, v)?);
                }
                let rf = rf.ok_or(Error::MissingReplicationFactor)?;
                if rf == 0 {
                    return Err(Error::NoReplicas {
                        class: "SimpleStrategy",
                    });
                }
                Ok(ReplicationStrategy::Simple(SimpleStrategy::new(rf)))
            }
            "NetworkTopologyStrategy" => {
                let known = topology.map(datacenter_names);
                let mut datacenters = BTreeMap::new();
                let mut default_rf = None;
                for (k, v) in &options {
                    let rf = parse_replication_factor(k, v)?;
                    if k.eq_ignore_ascii_case("replication_factor") {
                        default_rf = Some(rf);
                        continue;
                    }
                    if let Some(known) = &known
                        && !known.contains(k.as_str())
                    {
                        return Err(Error::UnrecognizedOption {
                            class: "NetworkTopologyStrategy",
                            option: k.clone(),
                        });
                    }
                    datacenters.insert(k.clone(), rf);
                }
                if let Some(rf) = default_rf {
                    let known = known.ok_or(Error::ReplicationFactorNeedsTopology)?;
                    for dc in known {
                        datacenters.entry(dc.to_owned()).or_insert(rf);
                    }
                }
                if datacenters.values().all(|rf| *rf == 0) {
                    return Err(Error::NoReplicas {
                        class: "NetworkTopologyStrategy",
                    });
                }
                Ok(ReplicationStrategy::NetworkTopology(
                    NetworkTopologyStrategy::new(datacenters),
                ))
            }
            "LocalStrategy" => match options.first() {
                Some((k, _)) => Err(Error::UnrecognizedOption {
                    class: "LocalStrategy",
                    option: k.clone(),
                }),
                None => Ok(ReplicationStrategy::Local(LocalStrategy)),
            },
            _ => Err(Error::UnknownStrategyClass { class }),
        }
    }

    /// The fully qualified class name, as `system_schema.keyspaces.replication['class']`.
    pub fn class_name(&self) -> &'static str {
        match self {
            ReplicationStrategy::Simple(_) => "org.apache.cassandra.locator.SimpleStrategy",
            ReplicationStrategy::NetworkTopology(_) => {
                "org.apache.cassandra.locator.NetworkTopologyStrategy"
            }
            ReplicationStrategy::Local(_) => "org.apache.cassandra.locator.LocalStrategy",
        }
    }

    /// How many replicas each token has across the cluster (every datacenter's factor summed;
    /// LocalStrategy's one copy per node counts as 1).
    pub fn total_replication_factor(&self) -> usize {
        match self {
            ReplicationStrategy::Simple(s) => s.replication_factor(),
            ReplicationStrategy::NetworkTopology(n) => n.total_replication_factor(),
            ReplicationStrategy::Local(_) => 1,
        }
    }

    /// The replication map as `system_schema.keyspaces.replication` stores it; feeding it back
    /// to [`from_replication_map`](Self::from_replication_map) gives the same strategy.
    pub fn replication_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        map.insert("class".to_owned(), self.class_name().to_owned());
        match self {
            ReplicationStrategy::Simple(s) => {
                map.insert(
                    "replication_factor".to_owned(),
                    s.replication_factor().to_string(),
                );
            }
            ReplicationStrategy::NetworkTopology(n) => {
                for (dc, rf) in n.datacenters() {
                    map.insert(dc.clone(), rf.to_string());
                }
            }
            ReplicationStrategy::Local(_) => {}
        }
        map
    }

    /// The replicas of `token`, computed by walking the ring (the primary replica first). For
    /// many lookups build a [`ReplicaMap`] once instead.
    pub fn replicas(&self, meta: &TokenMetadata, token: Token) -> Result<Vec<NodeId>, Error> {
        let view = meta.view();
        let mut placer = Placer::new(self, &view, meta.local())?;
        let mut out = Vec::new();
        let start = view.first_index_at_or_after(token);
        placer.place(start, &mut out);
        Ok(out.into_iter().map(|i| placer.id(i)).collect())
    }

    /// Precomputes the replicas of every range of `meta` for fast lookups.
    pub fn replica_map(&self, meta: &TokenMetadata) -> Result<ReplicaMap, Error> {
        ReplicaMap::build(meta, self)
    }
}

/// Parses one replication factor option as Cassandra's `ReplicationFactor.fromString`.
fn parse_replication_factor(option: &str, value: &str) -> Result<usize, Error> {
    if value.contains('/') {
        return Err(Error::TransientReplicationUnsupported {
            option: option.to_owned(),
            value: value.to_owned(),
        });
    }
    let parsed: i64 = value
        .parse()
        .map_err(|_| Error::NonNumericReplicationFactor {
            option: option.to_owned(),
            value: value.to_owned(),
        })?;
    usize::try_from(parsed).map_err(|_| Error::NegativeReplicationFactor {
        option: option.to_owned(),
        value: parsed,
    })
}

/// A strategy bound to one ring view, with its scratch space: places ranges by ring index.
pub(crate) struct Placer<'a> {
    view: &'a RingView,
    kind: PlacerKind,
    scratch: Scratch,
    progress: Vec<DcProgress>,
}

enum PlacerKind {
    Simple(usize),
    NetworkTopology(Vec<(u32, usize)>),
    /// The local node, by id: it may own no token of the view.
    Local(NodeId),
}

impl<'a> Placer<'a> {
    pub(crate) fn new(
        strategy: &ReplicationStrategy,
        view: &'a RingView,
        local: Option<NodeId>,
    ) -> Result<Self, Error> {
        let kind = match strategy {
            ReplicationStrategy::Simple(s) => PlacerKind::Simple(s.replication_factor()),
            ReplicationStrategy::NetworkTopology(n) => PlacerKind::NetworkTopology(n.targets(view)),
            ReplicationStrategy::Local(_) => PlacerKind::Local(local.ok_or(Error::NoLocalNode)?),
        };
        Ok(Placer {
            view,
            kind,
            scratch: Scratch::new(view.node_count(), view.rack_count),
            progress: Vec::new(),
        })
    }

    /// Whether the strategy places every token on the same fixed replicas (LocalStrategy).
    pub(crate) fn fixed_replicas(&self) -> Option<NodeId> {
        match self.kind {
            PlacerKind::Local(id) => Some(id),
            _ => None,
        }
    }

    /// Appends the node numbers of the replicas of the range ending at ring index `start`.
    /// For LocalStrategy use [`fixed_replicas`](Self::fixed_replicas).
    pub(crate) fn place(&mut self, start: usize, out: &mut Vec<u32>) {
        match &self.kind {
            PlacerKind::Simple(rf) => simple::place(self.view, start, *rf, &mut self.scratch, out),
            PlacerKind::NetworkTopology(targets) => network_topology::place(
                self.view,
                start,
                targets,
                &mut self.scratch,
                &mut self.progress,
                out,
            ),
            PlacerKind::Local(id) => {
                if let Some(i) = self.view.ids.iter().position(|x| x == id) {
                    out.push(i as u32);
                }
            }
        }
    }

    pub(crate) fn id(&self, node: u32) -> NodeId {
        self.view
            .ids
            .get(node as usize)
            .copied()
            .unwrap_or(NodeId::from_u128(0))
    }
}
