//! Pending replicas: while a node joins (bootstraps), it receives the writes of the ranges it
//! will own, on top of what the consistency level needs, and serves no reads; while a node
//! leaves (decommissions), the nodes that take its ranges do (Cassandra's consistent range
//! movement). As in Cassandra, each pending replica a write reaches raises
//! the number of acknowledgements it needs (`blockFor` grows by the pending replicas that
//! count for the level), so a write acknowledged at QUORUM during the movement is on a quorum
//! of the replica set both before and after the movement completes.

use ilion_ring::{NodeId, PendingRanges, ReplicationStrategy, Token, TopologyChange};

use super::consistency::Requirement;
use super::{Endpoint, Replication, Topology};
use crate::Result;
use crate::cluster::Member;
use crate::schema::Keyspace;

/// The ring change a joining member makes.
pub(super) fn join_of(id: NodeId, m: &Member) -> TopologyChange {
    TopologyChange::Join {
        id,
        dc: m.data_center.clone(),
        rack: m.rack.clone(),
        tokens: m.tokens.iter().map(|t| Token::new(*t)).collect(),
    }
}

impl Topology {
    /// The pending ranges of `strategy` while the ring's members join or leave; `None` when
    /// none does (or the future ring cannot be built, which is logged: the writes then reach
    /// the current replicas only, as before the join was seen).
    pub(super) fn pending_ranges(&self, strategy: &ReplicationStrategy) -> Option<PendingRanges> {
        if self.changes.is_empty() {
            return None;
        }
        match PendingRanges::compute(&self.meta, strategy, &self.changes) {
            Ok(p) if p.is_empty() => None,
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "pending ranges of the joining nodes failed");
                None
            }
        }
    }
}

/// Raises `req` by the pending replicas that count for its level (Cassandra's
/// `ConsistencyLevel.blockForWrite(pending)`): all of them for ONE, QUORUM, ALL, ...; those of
/// the local datacenter for LOCAL_*; per datacenter for EACH_QUORUM.
pub(super) fn raise_for_pending(req: &mut Requirement, pending: &[Endpoint]) {
    for e in pending {
        if let Some(need) = req.per_dc.get_mut(&e.dc) {
            *need += 1;
            req.block_for += 1;
        } else if req.per_dc.is_empty() && req.counts(&e.dc) {
            req.block_for += 1;
        }
    }
}

/// Whether a write to `token` of `ks` has pending replicas (then it is never served by this
/// node alone, even when it is the only natural replica).
pub(super) fn has_pending(topo: &Topology, ks: &Keyspace, token: i64) -> bool {
    !topo.changes.is_empty()
        && topo.placement(ks).is_ok_and(|p| {
            p.pending
                .as_ref()
                .is_some_and(|p| !p.pending_for(Token::new(token)).is_empty())
        })
}

impl Replication {
    /// The replicas a write to `token` goes to: the natural ones, then the pending ones
    /// (nodes joining to own the token), with `req` raised for the pending ones.
    pub(super) fn write_replicas(
        &self,
        topo: &Topology,
        ks: &Keyspace,
        token: i64,
        req: &mut Requirement,
    ) -> Result<Vec<Endpoint>> {
        let placement = topo.placement(ks)?;
        let token = Token::new(token);
        let mut replicas = topo.endpoints(placement.map.replicas(token));
        if let Some(pending) = &placement.pending {
            let extra: Vec<Endpoint> = topo
                .endpoints(pending.pending_for(token))
                .into_iter()
                .filter(|e| !replicas.iter().any(|r| r.host_id == e.host_id))
                .collect();
            raise_for_pending(req, &extra);
            replicas.extend(extra);
        }
        Ok(replicas)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use ilion_cql::protocol::Consistency;
    use ilion_ring::SimpleStrategy;
    use uuid::Uuid;

    use super::*;

    fn endpoint(dc: &str) -> Endpoint {
        Endpoint {
            host_id: Uuid::new_v4(),
            address: IpAddr::from([127, 0, 0, 9]),
            dc: dc.to_owned(),
            replaced_here: false,
        }
    }

    #[test]
    fn a_pending_replica_raises_block_for_as_cassandra() {
        let simple = ReplicationStrategy::Simple(SimpleStrategy::new(1));
        let mut req = Requirement::new(Consistency::Quorum, &simple, "dc1").unwrap();
        assert_eq!(req.block_for, 1);
        raise_for_pending(&mut req, &[endpoint("dc1")]);
        assert_eq!(req.block_for, 2);
    }

    #[test]
    fn a_pending_replica_in_another_dc_does_not_raise_a_local_level() {
        let simple = ReplicationStrategy::Simple(SimpleStrategy::new(3));
        let mut req = Requirement::new(Consistency::LocalQuorum, &simple, "dc1").unwrap();
        raise_for_pending(&mut req, &[endpoint("dc2")]);
        assert_eq!(req.block_for, 2);
        raise_for_pending(&mut req, &[endpoint("dc1")]);
        assert_eq!(req.block_for, 3);
    }
}
