//! The coordinator's two seams to the rest of the cluster, implemented by the server (gossip
//! and gRPC) and by the simulator (a seeded in-memory network):
//!
//! - [`Membership`]: who is in the cluster, with their tokens, dc, rack and liveness (from
//!   gossip). `system.peers` and the ring the data path routes by are built from it.
//! - [`Messenger`]: sends one request to another node and returns its answer. The payloads are
//!   the coordinator's own messages (encoded by the coordinator); the transport only carries
//!   bytes, so the same replica logic runs over gRPC and in simulation.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

/// A node's gossiped status (Cassandra's `STATUS` application state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Joining the ring (bootstrapping): receives writes for its pending ranges.
    Joining,
    /// A full member of the ring.
    Normal,
    /// Leaving (decommissioning): still owns its ranges.
    Leaving,
    /// Has left; no longer owns anything.
    Left,
}

/// What this node knows of one member of the cluster (itself included).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The node-to-node (listen) address: the member's identity on the network.
    pub address: IpAddr,
    pub host_id: Uuid,
    pub data_center: String,
    pub rack: String,
    pub tokens: Vec<i64>,
    pub status: MemberStatus,
    /// The failure detector's verdict (always true for the local node).
    pub alive: bool,
    /// Where clients reach it (`rpc_address` / `native_address`) and on which port.
    pub native_address: IpAddr,
    pub native_port: u16,
    pub release_version: String,
    pub schema_version: Uuid,
    /// Bytes of data on disk, as gossiped.
    pub load: f64,
    /// The host id of the dead node this member replaces (`replace_address`): while joining
    /// it is the pending replica of that node's ranges; once NORMAL the replaced node is gone.
    pub replaces: Option<Uuid>,
    /// The host id of a dead node this member is removing (`removenode`): while the removal
    /// runs, that node counts as leaving, so its ranges are pending on their next owners.
    pub removing: Option<Uuid>,
}

/// Applies replacements and removals to a membership as gossip reports it: a node replaced
/// by a NORMAL member is dropped (its replacement owns its tokens), and a node that a live
/// member is removing counts as [`MemberStatus::Leaving`]. Every [`Membership`] returns its
/// members through this, so routing, `system.peers` and the admin views agree.
pub fn resolve_ring_changes(members: &mut Vec<Member>) {
    let replaced: Vec<Uuid> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Normal)
        .filter_map(|m| m.replaces)
        .collect();
    let removing: Vec<Uuid> = members
        .iter()
        .filter(|m| m.alive && m.status != MemberStatus::Left)
        .filter_map(|m| m.removing)
        .collect();
    if replaced.is_empty() && removing.is_empty() {
        return;
    }
    members.retain(|m| !replaced.contains(&m.host_id));
    for m in members.iter_mut() {
        if removing.contains(&m.host_id) && m.status == MemberStatus::Normal {
            m.status = MemberStatus::Leaving;
        }
    }
}

/// The cluster as this node sees it.
pub trait Membership: Send + Sync + std::fmt::Debug {
    /// This node's listen address.
    fn local_address(&self) -> IpAddr;

    /// Every known member, this node included, in no particular order. Removed (quarantined)
    /// nodes are not listed.
    fn members(&self) -> Vec<Member>;

    /// Changes whenever a member's tokens, status, dc or rack change (not on liveness or load
    /// changes), so callers can cache the ring they build from [`Membership::members`].
    fn topology_version(&self) -> u64;

    /// The failure detector's current verdict on `address`.
    fn is_alive(&self, address: IpAddr) -> bool;

    /// This node's gossip generation (`system.local.gossip_generation`), once gossip runs.
    fn local_generation(&self) -> Option<u64> {
        None
    }
}

/// Why a request to another node got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessagingError {
    #[error("no answer from {address} within {timeout:?}")]
    Timeout { address: IpAddr, timeout: Duration },
    #[error("cannot reach {address}: {reason}")]
    Unreachable { address: IpAddr, reason: String },
    /// The other node answered with an error of its own.
    #[error("{address} failed the request: {reason}")]
    Remote { address: IpAddr, reason: String },
    /// The replica tried the read or write and failed (its answer was a failure).
    #[error("{address} failed the request ({}): {message}", reason.name())]
    Failed {
        address: IpAddr,
        reason: crate::FailureReason,
        message: String,
    },
}

/// A boxed future, as [`Messenger`] returns (the trait stays object-safe).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Sends a coordinator message to another node and waits for its answer. The transport never
/// looks inside `payload`; the receiving node hands it to
/// `Coordinator::handle_message` (or whatever the data path names its entry point).
pub trait Messenger: Send + Sync + std::fmt::Debug {
    fn request(
        &self,
        to: IpAddr,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, MessagingError>>;
}
