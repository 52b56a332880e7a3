//! What a repair covers: per keyspace and table, the token ranges this node replicates (as the
//! store reads them, never wrapping) with their replicas, after the command's filters.

use std::net::SocketAddr;

use ilion_coordinator::{MemberStatus, Membership};
use ilion_ring::{NodeId, ReplicationStrategy, Token, TokenRange};

use super::super::movement::{Node, pieces, ring_of};
use super::super::proto::RepairRequest;
use super::RepairError;

/// One replica of a range.
#[derive(Debug, Clone)]
pub(super) struct Replica {
    pub endpoint: SocketAddr,
    pub alive: bool,
}

/// One table's range to repair.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub keyspace: String,
    pub table: String,
    pub range: (Option<i64>, Option<i64>),
    pub replicas: Vec<Replica>,
}

impl Job {
    pub fn describe_range(&self) -> String {
        let show = |b: Option<i64>, unbounded: i64| b.unwrap_or(unbounded).to_string();
        format!(
            "({}, {}]",
            show(self.range.0, i64::MIN),
            show(self.range.1, i64::MAX)
        )
    }
}

/// A table's range whose only replica is this node: keyspace, table, `(start, end]`.
pub(super) type SingleRange = (String, String, (Option<i64>, Option<i64>));

/// The whole repair.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub jobs: Vec<Job>,
    pub keyspaces: u64,
    pub tables: u64,
    /// Keyspaces with a single replica.
    pub skipped: Vec<String>,
    /// Per table, the ranges (of the request) whose only replica is this node: trivially in
    /// sync, recorded as repaired without work so repair-aware purging goes on there.
    pub single: Vec<SingleRange>,
}

/// The part of `(start, end]` inside `(lo, hi]`, both never wrapping (`None` unbounded).
fn intersect(
    (start, end): (Option<i64>, Option<i64>),
    (lo, hi): (Option<i64>, Option<i64>),
) -> Option<(Option<i64>, Option<i64>)> {
    let s = match (start, lo) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let e = match (end, hi) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match (s, e) {
        (Some(a), Some(b)) if a >= b => None,
        _ => Some((s, e)),
    }
}

/// The ranges and replicas `request` asks this node to repair.
pub(super) fn plan(node: &Node, request: &RepairRequest) -> Result<Plan, RepairError> {
    let members = node.view.members();
    let local = node.view.local();
    if local.tokens.is_empty() {
        return Err(RepairError::NoTokens);
    }
    let ring = ring_of(&members, |m| {
        matches!(m.status, MemberStatus::Normal | MemberStatus::Leaving)
    });
    let local_id = NodeId::from_u128(local.host_id.as_u128());
    let movable = node
        .coordinator
        .movable_keyspaces()
        .map_err(|e| RepairError::Placement {
            keyspace: "system_auth".to_owned(),
            reason: e.to_string(),
        })?;
    let keyspaces: Vec<_> = if request.keyspace.is_empty() {
        movable
    } else {
        match movable.into_iter().find(|k| k.name == request.keyspace) {
            Some(k) => vec![k],
            // A keyspace local to each node (system, system_schema, ...) has one replica.
            None if node
                .coordinator
                .schema()
                .keyspaces
                .contains_key(&request.keyspace) =>
            {
                return Ok(Plan {
                    keyspaces: 1,
                    skipped: vec![request.keyspace.clone()],
                    ..Plan::default()
                });
            }
            None => return Err(RepairError::UnknownKeyspace(request.keyspace.clone())),
        }
    };
    // The window of `--start-token`/`--end-token`, as pieces that never wrap.
    let window: Vec<(Option<i64>, Option<i64>)> = match (request.start_token, request.end_token) {
        (Some(s), Some(e)) => pieces(TokenRange {
            left: Token::new(s),
            right: Token::new(e),
        }),
        _ => vec![(None, None)],
    };
    let mut plan = Plan::default();
    for ks in &keyspaces {
        let tables: Vec<String> = if request.tables.is_empty() {
            ks.tables.keys().cloned().collect()
        } else {
            for t in &request.tables {
                if !ks.tables.contains_key(t) {
                    return Err(RepairError::UnknownTable {
                        keyspace: ks.name.clone(),
                        table: t.clone(),
                    });
                }
            }
            request.tables.clone()
        };
        let placement = |reason: String| RepairError::Placement {
            keyspace: ks.name.clone(),
            reason,
        };
        let strategy = ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
            .map_err(|e| placement(e.to_string()))?;
        let map = strategy
            .replica_map(&ring.meta)
            .map_err(|e| placement(e.to_string()))?;
        plan.keyspaces += 1;
        let mut jobs = Vec::new();
        let mut replicated = false;
        for (range, replicas) in map.ranges() {
            if !replicas.contains(&local_id) {
                continue;
            }
            if request.primary_range && replicas.first() != Some(&local_id) {
                continue;
            }
            if replicas.len() == 1 {
                for piece in pieces(range) {
                    for part in window.iter().filter_map(|w| intersect(piece, *w)) {
                        for table in &tables {
                            plan.single.push((ks.name.clone(), table.clone(), part));
                        }
                    }
                }
                continue;
            }
            let chosen: Vec<Replica> = replicas
                .iter()
                .filter(|r| {
                    !request.in_local_dc
                        || ring
                            .meta
                            .node(**r)
                            .is_some_and(|n| n.dc() == local.data_center)
                })
                .filter_map(|r| {
                    ring.address(*r).map(|a| Replica {
                        endpoint: node.view.storage_endpoint(a),
                        alive: ring.is_up(*r),
                    })
                })
                .collect();
            if chosen.len() < 2 {
                continue;
            }
            replicated = true;
            for piece in pieces(range) {
                for w in &window {
                    let Some(part) = intersect(piece, *w) else {
                        continue;
                    };
                    for table in &tables {
                        jobs.push(Job {
                            keyspace: ks.name.clone(),
                            table: table.clone(),
                            range: part,
                            replicas: chosen.clone(),
                        });
                    }
                }
            }
        }
        if !replicated {
            plan.skipped.push(ks.name.clone());
            continue;
        }
        plan.tables += tables.len() as u64;
        plan.jobs.extend(jobs);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::intersect;

    #[test]
    fn a_window_cuts_ranges_as_the_store_reads_them() {
        assert_eq!(
            intersect((Some(0), Some(10)), (None, None)),
            Some((Some(0), Some(10)))
        );
        assert_eq!(
            intersect((Some(0), Some(10)), (Some(5), Some(20))),
            Some((Some(5), Some(10)))
        );
        assert_eq!(intersect((Some(0), Some(10)), (Some(10), Some(20))), None);
        assert_eq!(
            intersect((None, Some(10)), (Some(-5), None)),
            Some((Some(-5), Some(10)))
        );
        assert_eq!(
            intersect((Some(3), None), (None, None)),
            Some((Some(3), None))
        );
        assert_eq!(intersect((Some(3), Some(4)), (Some(-9), Some(3))), None);
    }
}
