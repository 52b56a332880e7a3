//! removenode (`ilion removenode HOST_ID`): a dead node that will not come back leaves the ring,
//! and the surviving replicas re-replicate its ranges (Cassandra's `nodetool removenode`).
//!
//! 1. Refused unless the node is known, is not this node, is down, and no other node joins,
//!    leaves or is being removed (Cassandra's messages).
//! 2. This node gossips `Removing = HOST_ID`: every node then counts the dead node as leaving,
//!    so its ranges are pending on their next owners (writes reach them too). It waits until
//!    every live member sees that.
//! 3. Each next owner pulls the ranges it gains from a surviving replica (`Streaming.Fetch`);
//!    `ilion removenode status` shows who is still streaming.
//! 4. Then it announces the dead node removed (its gossip state becomes `removed` everywhere:
//!    it is gone from the ring, `system.peers` and `ilion status`) and clears `Removing`. A
//!    failed stream clears `Removing` and leaves the dead node in the ring; the removal can be
//!    run again.
//! 5. `ilion removenode force` completes a removal under way at once (Cassandra's
//!    `forceRemoveCompletion`): streaming stops and the dead node is announced removed; the
//!    ranges not re-replicated yet stay under-replicated until a repair.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ilion_coordinator::{Member, MemberStatus, Membership};
use ilion_gossip::ApplicationState;
use ilion_gossip::driver::Command;
use ilion_ring::{NodeId, ReplicationStrategy};
use parking_lot::Mutex;
use uuid::Uuid;

use super::decommission::ask_to_fetch;
use super::movement::{Node, fmt_range, pieces, ring_of};
use super::progress::{Operation, Operations, Tracker};
use super::proto::{FetchRequest, RemoveNodeResponse, RemoveNodeStatusResponse};
use super::view::ClusterView;

/// Why a node cannot be removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoveNodeError {
    /// Cassandra's words.
    #[error("Host ID not found.")]
    UnknownHost,
    #[error("{0} is not a host ID (a UUID, as `ilion status` lists them)")]
    BadHostId(String),
    /// Cassandra's words.
    #[error("Cannot remove self")]
    IsSelf,
    /// Cassandra's words.
    #[error(
        "Node {address} is alive and owns this ID. Use decommission command to remove it from \
         the ring"
    )]
    Alive { address: IpAddr },
    /// Cassandra's words.
    #[error(
        "This node is already processing a removal. Wait for it to complete, or use \
         'removenode force' if this has failed."
    )]
    AlreadyRunning,
    #[error(
        "other bootstrapping/leaving/moving nodes detected, cannot remove a node: {address} \
         is {status}"
    )]
    MovementRunning { address: IpAddr, status: String },
    /// Cassandra's words (`forceRemoveCompletion` with nothing to remove).
    #[error("No tokens to force removal on, call 'removenode' first")]
    NothingToForce,
    #[error("the cluster did not learn of the removal: {reason}")]
    NotSeen { reason: String },
    #[error("keyspace {keyspace}: {reason}")]
    Placement { keyspace: String, reason: String },
    #[error(
        "cannot re-replicate {what}: {address}, one of its surviving replicas, is down (it may \
         hold writes no other replica has); start it again, then run the removal again"
    )]
    SourceDown { what: String, address: String },
    /// `what`: the keyspace, table and range.
    #[error("streaming {what} from {from} to {target} failed: {reason}")]
    Stream {
        what: String,
        from: IpAddr,
        target: IpAddr,
        reason: String,
    },
}

impl RemoveNodeError {
    /// Whether the request was refused before anything changed (as opposed to failing).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            RemoveNodeError::NotSeen { .. }
                | RemoveNodeError::Placement { .. }
                | RemoveNodeError::SourceDown { .. }
                | RemoveNodeError::Stream { .. }
        )
    }
}

/// The removal under way, for `removenode status`.
#[derive(Debug, Clone, Default)]
struct Progress {
    host_id: Uuid,
    address: Option<IpAddr>,
    /// Per gaining node, the ranges it still has to stream.
    remaining: BTreeMap<IpAddr, u64>,
    done: u64,
    total: u64,
}

/// What a removal needs of the running node.
#[derive(Debug, Clone)]
pub(crate) struct Removal {
    node: Node,
    progress: Arc<Mutex<Option<Progress>>>,
    /// The operations running on this node (a removal is one, with its progress).
    operations: Arc<Operations>,
    /// Set by `removenode force` while a removal runs; cleared when the next one starts.
    forced: Arc<tokio::sync::watch::Sender<bool>>,
}

/// One stream of the plan: `to` pulls `range` of every table of `keyspace` from `from`.
struct Step {
    keyspace: String,
    tables: Vec<String>,
    range: ilion_ring::TokenRange,
    to: IpAddr,
    from: IpAddr,
}

impl Removal {
    pub fn new(node: Node, operations: Arc<Operations>) -> Removal {
        Removal {
            node,
            progress: Arc::new(Mutex::new(None)),
            operations,
            forced: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// `removenode force`: completes the removal under way at once. Answers with its state
    /// when forced.
    pub fn force(&self) -> Result<RemoveNodeStatusResponse, RemoveNodeError> {
        let status = self.status();
        if status.host_id.is_empty() {
            return Err(RemoveNodeError::NothingToForce);
        }
        tracing::warn!(host_id = %status.host_id, done = status.ranges_done,
            total = status.ranges_total, "removenode forced: the ranges not re-replicated yet need a repair");
        self.forced.send_replace(true);
        Ok(status)
    }

    /// `removenode status`: the removal this node runs, if any.
    pub fn status(&self) -> RemoveNodeStatusResponse {
        match self.progress.lock().as_ref() {
            None => RemoveNodeStatusResponse::default(),
            Some(p) => RemoveNodeStatusResponse {
                host_id: p.host_id.to_string(),
                address: p.address.map(|a| a.to_string()).unwrap_or_default(),
                waiting_for: p
                    .remaining
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(a, _)| a.to_string())
                    .collect(),
                ranges_done: p.done,
                ranges_total: p.total,
            },
        }
    }

    fn set_removing(&self, host_id: Option<Uuid>) {
        self.node.view.set_local_removing(host_id);
        let _ = self.node.commands.send(Command::Set(
            ApplicationState::Removing,
            host_id.map(|h| h.to_string()).unwrap_or_default(),
        ));
    }

    /// Removes the node with host id `host_id`; answers when it is gone from the ring.
    pub async fn run(&self, host_id: &str) -> Result<RemoveNodeResponse, RemoveNodeError> {
        let id = host_id
            .trim()
            .parse::<Uuid>()
            .map_err(|_| RemoveNodeError::BadHostId(host_id.to_owned()))?;
        let Some(tracker) = self.operations.try_start(Operation::RemoveNode) else {
            return Err(RemoveNodeError::AlreadyRunning);
        };
        self.forced.send_replace(false);
        *self.progress.lock() = Some(Progress {
            host_id: id,
            ..Progress::default()
        });
        let result = self.remove(id, &tracker).await;
        if let Err(e) = &result
            && !e.is_refusal()
        {
            tracing::warn!(host_id = %id, error = %e, "removenode failed; the node stays in the ring");
        }
        // Over, one way or the other: the dead node no longer counts as leaving.
        self.set_removing(None);
        *self.progress.lock() = None;
        result
    }

    async fn remove(
        &self,
        id: Uuid,
        tracker: &Tracker,
    ) -> Result<RemoveNodeResponse, RemoveNodeError> {
        let local = self.node.view.local_address();
        let members = self.node.view.members();
        let dead = check_removable(&members, local, id)?.clone();
        if let Some(p) = self.progress.lock().as_mut() {
            p.address = Some(dead.address);
        }

        // Every node counts the dead one as leaving: its ranges become pending on their next
        // owners, which from now on receive the writes of those ranges.
        self.set_removing(Some(id));
        let mut done = RemoveNodeResponse {
            address: dead.address.to_string(),
            ..RemoveNodeResponse::default()
        };
        let mut forced = self.forced.subscribe();
        let streamed = tokio::select! {
            streamed = self.rereplicate(&dead, tracker, &mut done) => Some(streamed),
            _ = forced.wait_for(|f| *f) => None,
        };
        match streamed {
            Some(result) => result?,
            None => done.forced = true,
        }
        // Every range has its replicas again (or the removal was forced): the dead node is
        // gone for good.
        let _ = self
            .node
            .commands
            .send(Command::RemoveNode(removed_endpoint(
                &self.node.view,
                &dead,
            )));
        tracing::info!(address = %dead.address, host_id = %id, ranges = done.ranges,
            planned = done.ranges_planned, forced = done.forced, partitions = done.partitions,
            bytes = done.bytes, lost = done.lost_ranges, "removenode finished");
        Ok(done)
    }

    /// Waits until every node counts `dead` as leaving, then streams each range it replicated
    /// to its next owner from a surviving replica, counting into `done`.
    async fn rereplicate(
        &self,
        dead: &Member,
        tracker: &Tracker,
        done: &mut RemoveNodeResponse,
    ) -> Result<(), RemoveNodeError> {
        tracker.phase(&format!(
            "waiting until every node sees {} LEAVING",
            dead.address
        ));
        self.node
            .wait_until_seen_as(dead.address, "LEAVING")
            .await
            .map_err(|reason| RemoveNodeError::NotSeen { reason })?;

        let (steps, lost) = self.plan(dead)?;
        tracker.planned(
            steps.len() as u64,
            "re-replicating its ranges from the surviving replicas",
        );
        if let Some(p) = self.progress.lock().as_mut() {
            p.total = steps.len() as u64;
            for s in &steps {
                *p.remaining.entry(s.to).or_default() += 1;
            }
        }
        done.lost_ranges = lost;
        done.ranges_planned = steps.len() as u64;
        for step in &steps {
            let source = self.node.view.storage_endpoint(step.from);
            let target = self.node.view.storage_endpoint(step.to);
            for table in &step.tables {
                for (start, end) in pieces(step.range) {
                    let got = ask_to_fetch(
                        target,
                        FetchRequest {
                            source: source.to_string(),
                            keyspace: step.keyspace.clone(),
                            table: table.clone(),
                            start,
                            end,
                            rows_only: false,
                        },
                    )
                    .await
                    .map_err(|reason| RemoveNodeError::Stream {
                        what: format!("{}.{table} range {}", step.keyspace, fmt_range(step.range)),
                        from: step.from,
                        target: step.to,
                        reason,
                    })?;
                    done.partitions += got.partitions;
                    done.bytes += got.bytes;
                    tracker.streamed(got.bytes);
                }
            }
            done.ranges += 1;
            tracker.advance();
            if let Some(p) = self.progress.lock().as_mut() {
                p.done += 1;
                if let Some(n) = p.remaining.get_mut(&step.to) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        Ok(())
    }

    /// The streams that restore every keyspace's replicas without the dead node, and how many
    /// ranges no surviving replica holds (their data was on the dead node only: RF 1).
    fn plan(&self, dead: &Member) -> Result<(Vec<Step>, u64), RemoveNodeError> {
        let ring = ring_of(&self.node.view.members(), |m| {
            matches!(m.status, MemberStatus::Normal | MemberStatus::Leaving)
        });
        let dead_id = NodeId::from_u128(dead.host_id.as_u128());
        let mut future = ring.meta.clone();
        if let Err(e) = future.remove_node(dead_id) {
            return Err(RemoveNodeError::Placement {
                keyspace: "(all)".to_owned(),
                reason: e.to_string(),
            });
        }
        // User keyspaces and system_auth (replicated like one); local system keyspaces stay.
        let keyspaces =
            self.node
                .coordinator
                .movable_keyspaces()
                .map_err(|e| RemoveNodeError::Placement {
                    keyspace: "system_auth".to_owned(),
                    reason: e.to_string(),
                })?;
        let mut steps = Vec::new();
        let mut lost = 0;
        for ks in &keyspaces {
            let placement = |reason: String| RemoveNodeError::Placement {
                keyspace: ks.name.clone(),
                reason,
            };
            let strategy = ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
                .map_err(|e| placement(e.to_string()))?;
            // Every survivor, up or not: one that is down fails the removal (below) rather
            // than being skipped, since it may hold writes no other survivor has.
            let fetches =
                ilion_ring::fetches_without(&ring.meta, &future, &strategy, dead_id, |_| true)
                    .map_err(|e| placement(e.to_string()))?;
            for f in fetches {
                let Some(to) = ring.address(f.to) else {
                    continue;
                };
                let from: Vec<IpAddr> = f.from.iter().filter_map(|n| ring.address(*n)).collect();
                if let Some(down) = f.from.iter().find(|n| !ring.is_up(**n)) {
                    return Err(RemoveNodeError::SourceDown {
                        what: format!("{} range {}", ks.name, fmt_range(f.range)),
                        address: ring
                            .address(*down)
                            .map_or_else(|| "?".to_owned(), |a| a.to_string()),
                    });
                }
                if from.is_empty() {
                    tracing::warn!(keyspace = %ks.name, range = %fmt_range(f.range),
                        "no surviving replica holds this range of the removed node; its data is lost");
                    lost += 1;
                }
                // From every surviving replica: a write acknowledged at QUORUM is on one of
                // them, not necessarily on any particular one.
                for from in from {
                    steps.push(Step {
                        keyspace: ks.name.clone(),
                        tables: ks.tables.keys().cloned().collect(),
                        range: f.range,
                        to,
                        from,
                    });
                }
            }
        }
        Ok((steps, lost))
    }
}

/// The gossip endpoint of the dead node.
fn removed_endpoint(view: &ClusterView, dead: &Member) -> SocketAddr {
    view.storage_endpoint(dead.address)
}

/// The member with host id `id`, if it may be removed: known, not this node, down, and no
/// other range movement under way (Cassandra's checks and words).
fn check_removable(
    members: &[Member],
    local: IpAddr,
    id: Uuid,
) -> Result<&Member, RemoveNodeError> {
    let dead = members
        .iter()
        .find(|m| m.host_id == id && m.status != MemberStatus::Left)
        .ok_or(RemoveNodeError::UnknownHost)?;
    if dead.address == local {
        return Err(RemoveNodeError::IsSelf);
    }
    if dead.alive {
        return Err(RemoveNodeError::Alive {
            address: dead.address,
        });
    }
    for m in members {
        if m.host_id != id && matches!(m.status, MemberStatus::Joining | MemberStatus::Leaving) {
            return Err(RemoveNodeError::MovementRunning {
                address: m.address,
                status: format!("{:?}", m.status).to_uppercase(),
            });
        }
    }
    Ok(dead)
}

/// `nodetool removenode status`'s text.
pub fn format_removal_status(s: &RemoveNodeStatusResponse) -> String {
    if s.host_id.is_empty() {
        return "RemovalStatus: No removals in process.\n".to_owned();
    }
    format!(
        "RemovalStatus: Removing token ({}) of {}. Waiting for replication confirmation from [{}]. \
         {}/{} ranges re-replicated.\n",
        s.host_id,
        s.address,
        s.waiting_for.join(","),
        s.ranges_done,
        s.ranges_total
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: u8, alive: bool, status: MemberStatus) -> Member {
        Member {
            alive,
            ..crate::cluster::movement::member_for_tests(i, status)
        }
    }

    #[test]
    fn removenode_is_refused_as_cassandra_refuses_it() {
        let members = vec![
            member(1, true, MemberStatus::Normal),
            member(2, true, MemberStatus::Normal),
            member(3, false, MemberStatus::Normal),
        ];
        let local = members[0].address;
        let text = |r: Result<&Member, RemoveNodeError>| r.unwrap_err().to_string();
        assert_eq!(
            text(check_removable(&members, local, Uuid::from_u128(9))),
            "Host ID not found."
        );
        assert_eq!(
            text(check_removable(&members, local, Uuid::from_u128(1))),
            "Cannot remove self"
        );
        assert_eq!(
            text(check_removable(&members, local, Uuid::from_u128(2))),
            "Node 127.0.0.2 is alive and owns this ID. Use decommission command to remove it \
             from the ring"
        );
        let dead = check_removable(&members, local, Uuid::from_u128(3)).unwrap();
        assert_eq!(dead.address, IpAddr::from([127, 0, 0, 3]));
        let mut joining = members.clone();
        joining.push(member(4, true, MemberStatus::Joining));
        assert!(matches!(
            check_removable(&joining, local, Uuid::from_u128(3)),
            Err(RemoveNodeError::MovementRunning { .. })
        ));
    }

    #[test]
    fn removal_status_reads_as_nodetool_s() {
        assert_eq!(
            format_removal_status(&RemoveNodeStatusResponse::default()),
            "RemovalStatus: No removals in process.\n"
        );
        let s = RemoveNodeStatusResponse {
            host_id: Uuid::from_u128(3).to_string(),
            address: "127.0.0.3".into(),
            waiting_for: vec!["127.0.0.1".into(), "127.0.0.2".into()],
            ranges_done: 1,
            ranges_total: 4,
        };
        let text = format_removal_status(&s);
        assert!(text.starts_with("RemovalStatus: Removing token (00000000-0000-0000-0000-000000000003) of 127.0.0.3. Waiting for replication confirmation from [127.0.0.1,127.0.0.2]."), "{text}");
        assert!(text.contains("1/4 ranges"), "{text}");
    }
}
