//! What `ilion ring` and `ilion describering` show, computed from the members and the schema
//! as Cassandra's `getOwnership` / `effectiveOwnership` and `describeRing` do: the ring is the
//! NORMAL and LEAVING members' tokens (the ring coordinators route by), placement is
//! `ilion_ring`'s.

use std::collections::{BTreeMap, HashMap};

use ilion_coordinator::schema::{Schema, is_system_keyspace};
use ilion_coordinator::{Member, MemberStatus};
use ilion_ring::{NodeId, ReplicaMap, ReplicationStrategy};

use crate::cluster::movement::{Ring, ring_of};
use crate::cluster::proto::{EndpointDetails, TokenRangeEndpoints};

/// nodetool's note when ownership is raw token ownership.
pub(crate) const RAW_OWNERSHIP_NOTE: &str =
    "Ownership information does not include topology; please specify a keyspace.";
/// Cassandra's note for a keyspace replicated by LocalStrategy.
pub(crate) const LOCAL_STRATEGY_NOTE: &str =
    "Ownership values for keyspaces with LocalStrategy are meaningless";

/// Why the ring of a keyspace cannot be shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RingError {
    /// Cassandra's words (`nodetool ring KEYSPACE`).
    #[error("The keyspace {0}, does not exist")]
    UnknownKeyspace(String),
    /// Cassandra's words (`nodetool describering KEYSPACE`).
    #[error("No such keyspace: {0}")]
    NoSuchKeyspace(String),
    /// Cassandra's words: a keyspace each node keeps for itself has no ring.
    #[error("There is no ring for the keyspace: {0}")]
    NoRing(String),
    #[error("keyspace {keyspace}: {reason}")]
    Placement { keyspace: String, reason: String },
}

/// Ownership per member address, and nodetool's note when it is not the effective ownership.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ownership {
    pub owns: BTreeMap<String, f64>,
    pub note: String,
}

/// The ring coordinators route by.
fn routing_ring(members: &[Member]) -> Ring {
    ring_of(members, |m| {
        matches!(m.status, MemberStatus::Normal | MemberStatus::Leaving)
    })
}

/// `keyspace`'s strategy; `None` when the keyspace is unknown. The system keyspaces, which the
/// schema does not list, are each node's own (LocalStrategy).
fn strategy_of(schema: &Schema, keyspace: &str) -> Option<Result<ReplicationStrategy, RingError>> {
    match schema.keyspaces.get(keyspace) {
        Some(ks) => Some(
            ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
                .map_err(|e| placement_error(keyspace, &e)),
        ),
        None if is_system_keyspace(keyspace) => {
            Some(Ok(ReplicationStrategy::Local(ilion_ring::LocalStrategy)))
        }
        None => None,
    }
}

fn placement_error(keyspace: &str, e: &ilion_ring::Error) -> RingError {
    RingError::Placement {
        keyspace: keyspace.to_owned(),
        reason: e.to_string(),
    }
}

fn replica_map(
    strategy: &ReplicationStrategy,
    ring: &Ring,
    keyspace: &str,
) -> Result<ReplicaMap, RingError> {
    strategy
        .replica_map(&ring.meta)
        .map_err(|e| placement_error(keyspace, &e))
}

fn by_address(ring: &Ring, shares: BTreeMap<NodeId, f64>) -> BTreeMap<String, f64> {
    shares
        .into_iter()
        .filter_map(|(id, share)| Some((ring.address(id)?.to_string(), share)))
        .collect()
}

/// Each member's share of the ring: without a keyspace, the ranges ending at its tokens (raw
/// ownership); with one, the ranges it holds a replica of under the keyspace's replication
/// (effective ownership). A LocalStrategy keyspace has no meaningful ownership (none, and
/// Cassandra's note).
pub(crate) fn ownership(
    members: &[Member],
    schema: &Schema,
    keyspace: Option<&str>,
) -> Result<Ownership, RingError> {
    let ring = routing_ring(members);
    let Some(keyspace) = keyspace else {
        return Ok(Ownership {
            owns: by_address(&ring, ring.meta.primary_ownership()),
            note: RAW_OWNERSHIP_NOTE.to_owned(),
        });
    };
    let strategy = strategy_of(schema, keyspace)
        .ok_or_else(|| RingError::UnknownKeyspace(keyspace.to_owned()))??;
    if matches!(strategy, ReplicationStrategy::Local(_)) {
        return Ok(Ownership {
            owns: BTreeMap::new(),
            note: LOCAL_STRATEGY_NOTE.to_owned(),
        });
    }
    let map = replica_map(&strategy, &ring, keyspace)?;
    Ok(Ownership {
        owns: by_address(&ring, map.ownership()),
        note: String::new(),
    })
}

/// Every range of `keyspace` with its replicas, primary first, in ring order (sorted by end
/// token: the first range wraps), as Cassandra's `describeRing` (whose order is a hash map's).
pub(crate) fn describe_ring(
    members: &[Member],
    schema: &Schema,
    keyspace: &str,
) -> Result<Vec<TokenRangeEndpoints>, RingError> {
    let strategy = strategy_of(schema, keyspace)
        .ok_or_else(|| RingError::NoSuchKeyspace(keyspace.to_owned()))??;
    if matches!(strategy, ReplicationStrategy::Local(_)) {
        return Err(RingError::NoRing(keyspace.to_owned()));
    }
    let ring = routing_ring(members);
    let map = replica_map(&strategy, &ring, keyspace)?;
    let by_id: HashMap<NodeId, &Member> = members
        .iter()
        .map(|m| (NodeId::from_u128(m.host_id.as_u128()), m))
        .collect();
    let ranges: Vec<TokenRangeEndpoints> = map
        .ranges()
        .map(|(range, replicas)| {
            let replicas: Vec<&Member> = replicas
                .iter()
                .filter_map(|id| by_id.get(id).copied())
                .collect();
            TokenRangeEndpoints {
                start_token: range.left.value(),
                end_token: range.right.value(),
                endpoints: replicas.iter().map(|m| m.address.to_string()).collect(),
                rpc_endpoints: replicas
                    .iter()
                    .map(|m| m.native_address.to_string())
                    .collect(),
                endpoint_details: replicas
                    .iter()
                    .map(|m| EndpointDetails {
                        host: m.address.to_string(),
                        datacenter: m.data_center.clone(),
                        rack: m.rack.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use ilion_coordinator::schema::Keyspace;

    use super::*;

    fn member(i: u8, tokens: Vec<i64>, status: MemberStatus) -> Member {
        Member {
            tokens,
            native_address: IpAddr::from([10, 0, 0, i]),
            ..crate::cluster::movement::member_for_tests(i, status)
        }
    }

    fn schema(keyspace: &str, rf: &str) -> Schema {
        let mut schema = Schema::default();
        schema.keyspaces.insert(
            keyspace.to_owned(),
            Keyspace {
                name: keyspace.to_owned(),
                durable_writes: true,
                replication: [
                    ("class", "org.apache.cassandra.locator.SimpleStrategy"),
                    ("replication_factor", rf),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                tables: BTreeMap::new(),
                types: BTreeMap::new(),
            },
        );
        schema
    }

    /// Three members a quarter, a quarter and half of the ring apart; a fourth one joining.
    fn members() -> Vec<Member> {
        vec![
            member(1, vec![0], MemberStatus::Normal),
            member(2, vec![i64::MAX / 2 + 1], MemberStatus::Normal),
            member(3, vec![i64::MIN], MemberStatus::Normal),
            member(4, vec![-5], MemberStatus::Joining),
        ]
    }

    #[test]
    fn without_a_keyspace_ownership_is_the_ranges_ending_at_each_members_tokens() {
        let o = ownership(&members(), &Schema::default(), None).unwrap();
        assert_eq!(o.note, RAW_OWNERSHIP_NOTE);
        // (MIN, 0] is half the ring; (0, MAX/2+1] and (MAX/2+1, MIN] a quarter each. The
        // joining member owns nothing yet.
        assert_eq!(o.owns.get("127.0.0.1"), Some(&0.5));
        assert_eq!(o.owns.get("127.0.0.2"), Some(&0.25));
        assert_eq!(o.owns.get("127.0.0.3"), Some(&0.25));
        assert_eq!(o.owns.get("127.0.0.4"), None);
    }

    #[test]
    fn with_a_keyspace_ownership_is_the_share_each_member_holds_a_replica_of() {
        let o = ownership(&members(), &schema("ks", "2"), Some("ks")).unwrap();
        assert_eq!(o.note, "");
        // RF 2: each member also replicates its predecessor's range.
        assert_eq!(o.owns.get("127.0.0.1"), Some(&0.75));
        assert_eq!(o.owns.get("127.0.0.2"), Some(&0.75));
        assert_eq!(o.owns.get("127.0.0.3"), Some(&0.5));
        let total: f64 = o.owns.values().sum();
        assert!((total - 2.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn ownership_of_an_unknown_or_local_keyspace_is_refused_or_noted_as_cassandra() {
        let err = ownership(&members(), &Schema::default(), Some("nosuchks")).unwrap_err();
        assert_eq!(err.to_string(), "The keyspace nosuchks, does not exist");
        let local = ownership(&members(), &Schema::default(), Some("system")).unwrap();
        assert!(local.owns.is_empty());
        assert_eq!(local.note, LOCAL_STRATEGY_NOTE);
    }

    #[test]
    fn describering_lists_every_range_in_ring_order_with_its_replicas_primary_first() {
        let ranges = describe_ring(&members(), &schema("ks", "2"), "ks").unwrap();
        let summary: Vec<(i64, i64, Vec<String>)> = ranges
            .iter()
            .map(|r| (r.start_token, r.end_token, r.endpoints.clone()))
            .collect();
        let half = i64::MAX / 2 + 1;
        assert_eq!(
            summary,
            vec![
                (half, i64::MIN, vec!["127.0.0.3".into(), "127.0.0.1".into()]),
                (i64::MIN, 0, vec!["127.0.0.1".into(), "127.0.0.2".into()]),
                (0, half, vec!["127.0.0.2".into(), "127.0.0.3".into()]),
            ]
        );
        let first = &ranges[1];
        assert_eq!(first.rpc_endpoints, vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            first.endpoint_details[1],
            EndpointDetails {
                host: "127.0.0.2".into(),
                datacenter: "dc1".into(),
                rack: "r1".into(),
            }
        );
    }

    #[test]
    fn describering_of_an_unknown_or_local_keyspace_is_refused_with_cassandras_words() {
        let err = describe_ring(&members(), &Schema::default(), "nosuchks").unwrap_err();
        assert_eq!(err.to_string(), "No such keyspace: nosuchks");
        let err = describe_ring(&members(), &Schema::default(), "system").unwrap_err();
        assert_eq!(err.to_string(), "There is no ring for the keyspace: system");
    }
}
