//! The ring as the data path sees it: endpoints, the placement of each replication map on one
//! topology version (replicas and pending replicas), cached until membership changes.

use super::*;
use crate::cluster::Member;

/// A replica as the ring knows it.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    pub(super) host_id: Uuid,
    pub(super) address: IpAddr,
    pub(super) dc: String,
    /// A dead node replaced at its own address: gossip lists only its replacement there, so
    /// it is kept in the ring from the replacement's state until the replacement is NORMAL.
    /// Never alive and never local, whatever runs at its address now.
    pub(super) replaced_here: bool,
}

/// A keyspace's replication map parsed, and its replica map on one topology.
#[derive(Debug)]
pub(super) struct Placement {
    pub(super) strategy: ReplicationStrategy,
    pub(super) map: ReplicaMap,
    /// Where writes must also go while nodes join (`None` when no node joins).
    pub(super) pending: Option<ilion_ring::PendingRanges>,
}

/// The ring for one topology version, with the placements of the replication maps used so
/// far (parsing a replication map on every request was a few percent of a point read).
#[derive(Debug)]
pub(super) struct Topology {
    pub(super) version: u64,
    pub(super) meta: TokenMetadata,
    /// Looked up on every request (foldhash: SipHash was several percent of a point read).
    pub(super) nodes: foldhash::HashMap<NodeId, Endpoint>,
    pub(super) local: Option<NodeId>,
    /// Ring changes under way: joining members (pending replicas of the ranges they will
    /// own) and leaving ones (whose ranges are pending on their next owners).
    pub(super) changes: Vec<ilion_ring::TopologyChange>,
    pub(super) maps: Mutex<foldhash::HashMap<BTreeMap<String, String>, Arc<Placement>>>,
}

impl Topology {
    pub(super) fn build(membership: &dyn Membership) -> Topology {
        let version = membership.topology_version();
        let local_address = membership.local_address();
        let mut meta = TokenMetadata::new();
        let mut nodes = foldhash::HashMap::default();
        let mut local = None;
        let mut changes = Vec::new();
        let mut members = membership.members();
        members.sort_by_key(|m| m.address);
        // A replacement at the dead node's own address took its place in gossip: the dead
        // node is rebuilt from the replacement (same tokens, dc and rack) so the replacement
        // stays a pending replica of exactly its ranges, as at another address.
        let phantoms: Vec<Member> = members
            .iter()
            .filter(|m| m.status == MemberStatus::Joining)
            .filter_map(|m| {
                let old = m.replaces?;
                (!members.iter().any(|o| o.host_id == old)).then(|| Member {
                    host_id: old,
                    status: MemberStatus::Normal,
                    alive: false,
                    replaces: None,
                    ..m.clone()
                })
            })
            .collect();
        let phantom_ids: Vec<Uuid> = phantoms.iter().map(|m| m.host_id).collect();
        members.extend(phantoms);
        for m in members {
            if m.tokens.is_empty() || m.status == MemberStatus::Left {
                continue;
            }
            let id = NodeId::from_u128(m.host_id.as_u128());
            if m.status == MemberStatus::Joining {
                changes.push(match m.replaces {
                    // A replacement takes the dead node's tokens: it is the pending replica
                    // of exactly that node's ranges.
                    Some(old) => ilion_ring::TopologyChange::Replace {
                        old: NodeId::from_u128(old.as_u128()),
                        new: id,
                    },
                    None => pending::join_of(id, &m),
                });
            } else if let Err(e) = meta.add_node(
                id,
                &m.data_center,
                &m.rack,
                m.tokens.iter().map(|t| Token::new(*t)),
            ) {
                tracing::warn!(node = %m.address, error = %e, "member left out of the ring");
                continue;
            } else if m.status == MemberStatus::Leaving {
                changes.push(ilion_ring::TopologyChange::Leave { id });
            }
            let replaced_here = phantom_ids.contains(&m.host_id);
            if m.address == local_address && !replaced_here {
                local = Some(id);
            }
            nodes.insert(
                id,
                Endpoint {
                    host_id: m.host_id,
                    address: m.address,
                    dc: m.data_center.clone(),
                    replaced_here,
                },
            );
        }
        Topology {
            version,
            meta,
            nodes,
            local,
            changes,
            maps: Mutex::new(foldhash::HashMap::default()),
        }
    }

    pub(super) fn placement(&self, ks: &Keyspace) -> Result<Arc<Placement>> {
        if let Some(m) = self.maps.lock().get(&ks.replication) {
            return Ok(m.clone());
        }
        let strategy = strategy_of(ks)?;
        let map = strategy
            .replica_map(&self.meta)
            .map_err(|e| Error::server(format!("replica placement failed: {e}")))?;
        let pending = self.pending_ranges(&strategy);
        let placement = Arc::new(Placement {
            strategy,
            map,
            pending,
        });
        self.maps
            .lock()
            .insert(ks.replication.clone(), placement.clone());
        Ok(placement)
    }

    pub(super) fn endpoints(&self, ids: &[NodeId]) -> Vec<Endpoint> {
        ids.iter()
            .filter_map(|i| self.nodes.get(i).cloned())
            .collect()
    }
}

pub(super) fn strategy_of(ks: &Keyspace) -> Result<ReplicationStrategy> {
    ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
        .map_err(|e| Error::config(format!("keyspace {}: {e}", ks.name)))
}

impl Replication {
    pub(super) fn topology(&self) -> Arc<Topology> {
        let version = self.membership.topology_version();
        let mut cached = self.topology.lock();
        if let Some(t) = cached.as_ref().filter(|t| t.version == version) {
            return t.clone();
        }
        let t = Arc::new(Topology::build(&*self.membership));
        *cached = Some(t.clone());
        t
    }

    pub(super) fn replicas(
        &self,
        topo: &Topology,
        ks: &Keyspace,
        token: i64,
    ) -> Result<Vec<Endpoint>> {
        let placement = topo.placement(ks)?;
        Ok(topo.endpoints(placement.map.replicas(Token::new(token))))
    }
}
