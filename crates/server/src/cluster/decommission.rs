//! Decommission (`ilion decommission`): a node leaves the ring without losing a row
//! (Cassandra's consistent range movement, the other way round from a bootstrap).
//!
//! 1. Refused unless this node is NORMAL, no other node joins or leaves, and every keyspace
//!    keeps enough nodes for its replication factor (Cassandra's message).
//! 2. The node gossips LEAVING: every coordinator makes the nodes that will take its ranges
//!    pending replicas of them (writes reach them too). It waits until every live peer sees it
//!    leaving.
//! 3. Each new owner pulls the ranges it gains from this node (`Streaming.Fetch`).
//! 4. Only then does it gossip LEFT (its ranges belong to the new owners) and stop. A failed
//!    stream puts it back to NORMAL: it still owns its ranges, and the decommission can be
//!    run again.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ilion_coordinator::{MemberStatus, Membership};
use ilion_gossip::driver::Command;
use ilion_gossip::{ApplicationState, NodeStatus};
use ilion_ring::{NodeId, PendingRanges, ReplicationStrategy, TopologyChange};
use tokio::sync::Notify;

use super::movement::{Node, fmt_range, not_yet_seen_as, pieces, ring_of};
use super::progress::{Operation, Operations, Tracker};
use super::proto::streaming_client::StreamingClient;
use super::proto::{DecommissionResponse, FetchRequest};

/// Why a node cannot leave.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecommissionError {
    /// Cassandra's words.
    #[error(
        "Not enough live nodes to maintain replication factor in keyspace {keyspace} \
         (RF = {rf}, N = {n}). Perform a forceful decommission to ignore."
    )]
    ReplicationFactor {
        keyspace: String,
        rf: usize,
        n: usize,
    },
    #[error("a decommission of this node is already running")]
    AlreadyRunning,
    #[error("this node is {status}: only a NORMAL node can leave the ring")]
    NotNormal { status: String },
    #[error(
        "other bootstrapping/leaving/moving nodes detected, cannot decommission: \
         {address} is {status}"
    )]
    MovementRunning { address: String, status: String },
    #[error("handing this node's hints over failed: {reason}")]
    Hints { reason: String },
    #[error("the cluster did not learn that this node leaves: {reason}")]
    NotSeen { reason: String },
    #[error("keyspace {keyspace}: {reason}")]
    Placement { keyspace: String, reason: String },
    #[error("streaming {keyspace}.{table} range {range} to {peer} failed: {reason}")]
    Stream {
        keyspace: String,
        table: String,
        range: String,
        peer: IpAddr,
        reason: String,
    },
}

impl DecommissionError {
    /// Whether the decommission was refused before the node started leaving.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            DecommissionError::ReplicationFactor { .. }
                | DecommissionError::NotNormal { .. }
                | DecommissionError::MovementRunning { .. }
                | DecommissionError::AlreadyRunning
        )
    }
}

/// What a decommission needs of the running node.
#[derive(Debug, Clone)]
pub(crate) struct Leave {
    pub node: Node,
    /// This node's gRPC endpoint (the new owners stream from it).
    pub endpoint: SocketAddr,
    /// Notified once the node has left: the node then stops.
    pub left: Arc<Notify>,
    /// The operations running on this node (a decommission is one: `ilion info`'s
    /// "Decommissioning", and its progress).
    pub operations: Arc<Operations>,
    /// The last decommission failed after the node started leaving (`ilion info`).
    pub failed: Arc<AtomicBool>,
    /// The data directory: a node that left marks it ([`DECOMMISSIONED_FILE`]).
    pub data_dir: std::path::PathBuf,
}

/// Written to the data directory of a node that left the ring: it never starts again with
/// that data (its ranges belong to others now), as Cassandra refuses to.
pub const DECOMMISSIONED_FILE: &str = "decommissioned";

impl Leave {
    fn set_status(&self, status: NodeStatus, member: MemberStatus) {
        self.node.view.set_local_status(member);
        let _ = self.node.commands.send(Command::Set(
            ApplicationState::Status,
            status.as_str().to_owned(),
        ));
    }

    /// Runs the decommission; the node stops after an `Ok`.
    pub async fn run(&self) -> Result<DecommissionResponse, DecommissionError> {
        let Some(tracker) = self.operations.try_start(Operation::Decommission) else {
            return Err(DecommissionError::AlreadyRunning);
        };
        self.failed.store(false, Ordering::SeqCst);
        let result = self.leave(&tracker).await;
        if let Err(e) = &result {
            // Still the owner of every range it had: back to NORMAL, retryable.
            self.set_status(NodeStatus::Normal, MemberStatus::Normal);
            self.failed.store(!e.is_refusal(), Ordering::SeqCst);
        }
        result
    }

    async fn leave(&self, tracker: &Tracker) -> Result<DecommissionResponse, DecommissionError> {
        let local = self.endpoint.ip();
        let me_member = self.node.view.local();
        if me_member.status != MemberStatus::Normal {
            return Err(DecommissionError::NotNormal {
                status: format!("{:?}", me_member.status).to_uppercase(),
            });
        }
        let members = self.node.view.members();
        for m in &members {
            if m.address != local
                && matches!(m.status, MemberStatus::Joining | MemberStatus::Leaving)
            {
                return Err(DecommissionError::MovementRunning {
                    address: m.address.to_string(),
                    status: format!("{:?}", m.status).to_uppercase(),
                });
            }
        }
        let ring = ring_of(&members, |m| m.status == MemberStatus::Normal);
        let me = NodeId::from_u128(me_member.host_id.as_u128());
        // User keyspaces and system_auth (replicated like one); local system keyspaces stay.
        let keyspaces = self.node.coordinator.movable_keyspaces().map_err(|e| {
            DecommissionError::Placement {
                keyspace: "system_auth".to_owned(),
                reason: e.to_string(),
            }
        })?;
        let mut plans = Vec::new();
        for ks in &keyspaces {
            let placement = |reason: String| DecommissionError::Placement {
                keyspace: ks.name.clone(),
                reason,
            };
            let strategy = ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
                .map_err(|e| placement(e.to_string()))?;
            check_replication_factor(&ks.name, &strategy, &members, local, &me_member)?;
            let pending =
                PendingRanges::compute(&ring.meta, &strategy, &[TopologyChange::Leave { id: me }])
                    .map_err(|e| placement(e.to_string()))?;
            plans.push((
                ks.name.clone(),
                ks.tables.keys().cloned().collect::<Vec<_>>(),
                pending,
            ));
        }

        // LEAVING, and wait until the ring sees it.
        self.set_status(NodeStatus::Leaving, MemberStatus::Leaving);
        tracker.phase("waiting until every node sees this node LEAVING");
        self.node
            .wait_until_seen_as(local, "LEAVING")
            .await
            .map_err(|reason| DecommissionError::NotSeen { reason })?;

        let mut done = DecommissionResponse::default();
        // One unit per (range, new owner) streamed, as `done.ranges` counts them.
        let total = plans
            .iter()
            .flat_map(|(_, _, pending)| pending.ranges())
            .flat_map(|(_, nodes)| nodes)
            .filter(|n| ring.address(*n).is_some())
            .count() as u64;
        tracker.planned(total, "streaming its ranges to their new owners");
        for (keyspace, tables, pending) in &plans {
            for (range, nodes) in pending.ranges() {
                for node in nodes {
                    let Some(address) = ring.address(node) else {
                        continue;
                    };
                    let peer = self.node.view.storage_endpoint(address);
                    for table in tables {
                        for (start, end) in pieces(range) {
                            let stream_error = |reason: String| DecommissionError::Stream {
                                keyspace: keyspace.clone(),
                                table: table.clone(),
                                range: fmt_range(range),
                                peer: address,
                                reason,
                            };
                            let got = ask_to_fetch(
                                peer,
                                FetchRequest {
                                    source: self.endpoint.to_string(),
                                    keyspace: keyspace.clone(),
                                    table: table.clone(),
                                    start,
                                    end,
                                    rows_only: false,
                                },
                            )
                            .await
                            .map_err(stream_error)?;
                            done.partitions += got.partitions;
                            done.bytes += got.bytes;
                            tracker.streamed(got.bytes);
                        }
                    }
                    done.ranges += 1;
                    tracker.advance();
                }
            }
        }

        // The hints this node keeps reach their targets, or another node that keeps them.
        done.hints = self.hand_over_hints().await?;

        // Every range has its new owner: LEFT, then stop once the ring has heard it.
        let marker = self.data_dir.join(DECOMMISSIONED_FILE);
        if let Err(e) = std::fs::write(&marker, b"this node left the ring\n") {
            tracing::warn!(path = %marker.display(), error = %e, "cannot mark the data directory decommissioned");
        }
        self.set_status(NodeStatus::Left, MemberStatus::Left);
        tracker.phase("waiting until every node sees this node LEFT");
        let deadline = Instant::now() + self.node.ring_delay.min(Duration::from_secs(10));
        loop {
            let members = self.node.view.members();
            let seen = not_yet_seen_as(
                &self.node.view,
                &self.node.coordinator,
                local,
                &members,
                "LEFT",
            )
            .await;
            if seen.is_none() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let left = self.left.clone();
        tokio::spawn(async move {
            // The operator's command gets its answer before the node stops.
            tokio::time::sleep(Duration::from_millis(300)).await;
            left.notify_one();
        });
        tracing::info!(
            ranges = done.ranges,
            partitions = done.partitions,
            bytes = done.bytes,
            "decommissioned: left the ring"
        );
        Ok(done)
    }
}

impl Leave {
    async fn hand_over_hints(&self) -> Result<u64, DecommissionError> {
        let coordinator = self.node.coordinator.clone();
        let handed = tokio::task::spawn_blocking(move || {
            coordinator.replication().map(|r| r.hand_over_hints())
        })
        .await
        .map_err(|e| DecommissionError::Hints {
            reason: e.to_string(),
        })?;
        match handed {
            None => Ok(0),
            Some(Ok(h)) => {
                tracing::info!(
                    delivered = h.delivered,
                    handed_over = h.transferred,
                    "hints handed over"
                );
                Ok((h.delivered + h.transferred) as u64)
            }
            Some(Err(e)) => Err(DecommissionError::Hints {
                reason: e.to_string(),
            }),
        }
    }
}

/// Refuses when fewer nodes than the keyspace's replication factor would remain (per
/// datacenter for NetworkTopologyStrategy), as Cassandra.
fn check_replication_factor(
    keyspace: &str,
    strategy: &ReplicationStrategy,
    members: &[ilion_coordinator::Member],
    local: IpAddr,
    me: &ilion_coordinator::Member,
) -> Result<(), DecommissionError> {
    let remaining = |dc: Option<&str>| {
        members
            .iter()
            .filter(|m| m.address != local && m.status == MemberStatus::Normal)
            .filter(|m| dc.is_none_or(|d| m.data_center == d))
            .count()
    };
    let short = |rf: usize, n: usize| DecommissionError::ReplicationFactor {
        keyspace: keyspace.to_owned(),
        rf,
        n,
    };
    match strategy {
        ReplicationStrategy::Simple(s) => {
            let n = remaining(None);
            if s.replication_factor() > n {
                return Err(short(s.replication_factor(), n));
            }
        }
        ReplicationStrategy::NetworkTopology(nts) => {
            let rf = nts.replication_factor(&me.data_center);
            let n = remaining(Some(&me.data_center));
            if rf > n {
                return Err(short(rf, n));
            }
        }
        _ => {}
    }
    Ok(())
}

pub(super) async fn ask_to_fetch(
    peer: SocketAddr,
    request: FetchRequest,
) -> Result<super::proto::FetchResponse, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{peer}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(10));
    let channel = crate::tls::internode::connect(&endpoint)
        .await
        .map_err(|e| e.to_string())?;
    StreamingClient::new(channel)
        .fetch(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| s.message().to_owned())
}

#[cfg(test)]
mod tests {
    use ilion_ring::SimpleStrategy;

    use super::*;
    use crate::cluster::movement::member_for_tests as member;

    #[test]
    fn a_decommission_that_would_leave_fewer_nodes_than_the_rf_is_refused_as_cassandra() {
        let members = vec![
            member(1, MemberStatus::Normal),
            member(2, MemberStatus::Normal),
        ];
        let rf2 = ReplicationStrategy::Simple(SimpleStrategy::new(2));
        let err = check_replication_factor("ks", &rf2, &members, members[1].address, &members[1])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Not enough live nodes to maintain replication factor in keyspace ks (RF = 2, N = 1). \
             Perform a forceful decommission to ignore."
        );
        let rf1 = ReplicationStrategy::Simple(SimpleStrategy::new(1));
        check_replication_factor("ks", &rf1, &members, members[1].address, &members[1]).unwrap();
    }
}
