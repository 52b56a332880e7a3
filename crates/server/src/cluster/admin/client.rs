//! The operator commands' side of the Admin service: one call per command, each on its own
//! connection to the node's gRPC port.

use std::future::Future;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use crate::cluster::progress::Operation;
use crate::cluster::proto::admin_client::AdminClient;
use crate::cluster::proto::{
    CleanupRequest, CleanupResponse, DecommissionRequest, DecommissionResponse,
    DescribeRingRequest, DescribeRingResponse, DisableAuditLogRequest, DisableAuditLogResponse,
    EnableAuditLogRequest, EnableAuditLogResponse, InfoRequest, InfoResponse, NetstatsRequest,
    NetstatsResponse, ProgressRequest, ProgressResponse, RemoveNodeForceRequest, RemoveNodeRequest,
    RemoveNodeResponse, RemoveNodeStatusRequest, RemoveNodeStatusResponse, RepairRequest,
    RepairResponse, RepairStatusRequest, RepairStatusResponse, RingRequest, RingResponse,
    StatusRequest, StatusResponse,
};

/// Why an operator command got no answer, or a refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminClientError {
    #[error("bad node address {0}: {1}")]
    Address(String, String),
    #[error("cannot reach the node at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The node answered no; `reason` is its message (Cassandra's words where it has them).
    #[error("the node at {address} refused: {reason}")]
    Refused { address: String, reason: String },
}

/// A client of the Admin service at `host` (`ip:port`).
async fn admin_client(
    host: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<AdminClient<Channel>, AdminClientError> {
    Ok(AdminClient::new(
        channel(host, connect_timeout, timeout).await?,
    ))
}

/// A channel to the gRPC port at `host` (`ip:port`), in TLS when internode TLS is set.
pub(super) async fn channel(
    host: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Channel, AdminClientError> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{host}"))
        .map_err(|e| AdminClientError::Address(host.to_owned(), e.to_string()))?
        .connect_timeout(connect_timeout)
        .timeout(timeout);
    crate::tls::internode::connect(&endpoint)
        .await
        .map_err(|e| unreachable(host, &e.to_string()))
}

pub(super) fn unreachable(host: &str, reason: &str) -> AdminClientError {
    AdminClientError::Unreachable {
        address: host.to_owned(),
        reason: reason.to_owned(),
    }
}

/// An error answer to an operation (decommission, cleanup, removenode): a refusal, whatever
/// its code (a stream that failed is the node's answer too).
pub(super) fn refused(host: &str, status: &Status) -> AdminClientError {
    AdminClientError::Refused {
        address: host.to_owned(),
        reason: status.message().to_owned(),
    }
}

/// An error answer to a question (status, ring, ...): the node's refusal when it says what it
/// cannot answer (an unknown keyspace), else the node is taken for unreachable.
fn read_error(host: &str, status: &Status) -> AdminClientError {
    match status.code() {
        Code::NotFound | Code::FailedPrecondition | Code::InvalidArgument => refused(host, status),
        _ => unreachable(host, status.message()),
    }
}

/// Connects to `host` and makes one call.
async fn call<T, F, Fut>(
    host: &str,
    connect_timeout: Duration,
    timeout: Duration,
    on_error: fn(&str, &Status) -> AdminClientError,
    make: F,
) -> Result<T, AdminClientError>
where
    F: FnOnce(AdminClient<Channel>) -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    let client = admin_client(host, connect_timeout, timeout).await?;
    make(client)
        .await
        .map(Response::into_inner)
        .map_err(|s| on_error(host, &s))
}

/// A question to the node: connecting and answering each within `timeout`.
async fn ask<T, F, Fut>(host: &str, timeout: Duration, make: F) -> Result<T, AdminClientError>
where
    F: FnOnce(AdminClient<Channel>) -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    call(host, timeout, timeout, read_error, make).await
}

/// An operation the node runs until it is done (up to `timeout`); connecting takes 10 s at most.
async fn request<T, F, Fut>(host: &str, timeout: Duration, make: F) -> Result<T, AdminClientError>
where
    F: FnOnce(AdminClient<Channel>) -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    call(host, Duration::from_secs(10), timeout, refused, make).await
}

/// Asks the node whose gRPC service is at `host` (`ip:port`) for its view of the cluster.
pub async fn fetch_status(
    host: &str,
    timeout: Duration,
) -> Result<StatusResponse, AdminClientError> {
    ask(host, timeout, |mut c| async move {
        c.status(StatusRequest {}).await
    })
    .await
}

/// Asks the node at `host` for the token ring (`ilion ring`), with the effective ownership
/// under `keyspace`'s replication (empty: raw token ownership).
pub async fn fetch_ring(
    host: &str,
    keyspace: &str,
    timeout: Duration,
) -> Result<RingResponse, AdminClientError> {
    let keyspace = keyspace.to_owned();
    ask(host, timeout, |mut c| async move {
        c.ring(RingRequest { keyspace }).await
    })
    .await
}

/// Asks the node at `host` for every range of `keyspace` with its replicas (`ilion
/// describering`).
pub async fn fetch_describe_ring(
    host: &str,
    keyspace: &str,
    timeout: Duration,
) -> Result<DescribeRingResponse, AdminClientError> {
    let keyspace = keyspace.to_owned();
    ask(host, timeout, |mut c| async move {
        c.describe_ring(DescribeRingRequest { keyspace }).await
    })
    .await
}

/// Asks the node at `host` about itself (`ilion info`).
pub async fn fetch_info(host: &str, timeout: Duration) -> Result<InfoResponse, AdminClientError> {
    ask(host, timeout, |mut c| async move {
        c.info(InfoRequest {}).await
    })
    .await
}

/// Asks the node whose gRPC service is at `host` for its streams (`ilion netstats`).
pub async fn fetch_netstats(
    host: &str,
    timeout: Duration,
) -> Result<NetstatsResponse, AdminClientError> {
    ask(host, timeout, |mut c| async move {
        c.netstats(NetstatsRequest {}).await
    })
    .await
}

/// Turns the audit log of the node at `host` on (`ilion enableauditlog`).
pub async fn request_enable_audit_log(
    host: &str,
    request: EnableAuditLogRequest,
    timeout: Duration,
) -> Result<EnableAuditLogResponse, AdminClientError> {
    ask(host, timeout, |mut c| async move {
        c.enable_audit_log(request).await
    })
    .await
}

/// Turns the audit log of the node at `host` off (`ilion disableauditlog`).
pub async fn request_disable_audit_log(
    host: &str,
    timeout: Duration,
) -> Result<DisableAuditLogResponse, AdminClientError> {
    ask(host, timeout, |mut c| async move {
        c.disable_audit_log(DisableAuditLogRequest {}).await
    })
    .await
}

/// Asks the node at `host` which removal it runs (`ilion removenode status`).
pub async fn fetch_removenode_status(
    host: &str,
    timeout: Duration,
) -> Result<RemoveNodeStatusResponse, AdminClientError> {
    ask(host, timeout, |mut c| async move {
        c.remove_node_status(RemoveNodeStatusRequest {}).await
    })
    .await
}

/// Asks the node at `host` to complete the removal it runs at once (`ilion removenode
/// force`); answers with the removal as it stood.
pub async fn request_removenode_force(
    host: &str,
    timeout: Duration,
) -> Result<RemoveNodeStatusResponse, AdminClientError> {
    request(host, timeout, |mut c| async move {
        c.remove_node_force(RemoveNodeForceRequest {}).await
    })
    .await
}

/// Asks the node at `host` how far `operation` has got.
pub(crate) async fn fetch_progress(
    host: &str,
    operation: Operation,
    timeout: Duration,
) -> Result<ProgressResponse, AdminClientError> {
    let operation = operation.name().to_owned();
    ask(host, timeout, |mut c| async move {
        c.progress(ProgressRequest { operation }).await
    })
    .await
}

/// Asks the node at `host` to leave the ring; answers once it has left.
pub async fn request_decommission(
    host: &str,
    timeout: Duration,
) -> Result<DecommissionResponse, AdminClientError> {
    request(host, timeout, |mut c| async move {
        c.decommission(DecommissionRequest {}).await
    })
    .await
}

/// Asks the node at `host` to clean up `keyspace` (empty: every user keyspace).
pub async fn request_cleanup(
    host: &str,
    keyspace: &str,
    timeout: Duration,
) -> Result<CleanupResponse, AdminClientError> {
    let keyspace = keyspace.to_owned();
    request(host, timeout, |mut c| async move {
        c.cleanup(CleanupRequest { keyspace }).await
    })
    .await
}

/// Asks the node at `host` to repair what `repair` names; answers when the repair is done.
pub async fn request_repair(
    host: &str,
    repair: RepairRequest,
    timeout: Duration,
) -> Result<RepairResponse, AdminClientError> {
    request(host, timeout, |mut c| async move { c.repair(repair).await }).await
}

/// The continuous repair schedule of the node at `host`.
pub async fn fetch_repair_status(
    host: &str,
    timeout: Duration,
) -> Result<RepairStatusResponse, AdminClientError> {
    request(host, timeout, |mut c| async move {
        c.repair_status(RepairStatusRequest {}).await
    })
    .await
}

/// Asks the node at `host` to remove the dead node `host_id`; answers once it is removed.
pub async fn request_removenode(
    host: &str,
    host_id: &str,
    timeout: Duration,
) -> Result<RemoveNodeResponse, AdminClientError> {
    let host_id = host_id.to_owned();
    request(host, timeout, |mut c| async move {
        c.remove_node(RemoveNodeRequest { host_id }).await
    })
    .await
}
