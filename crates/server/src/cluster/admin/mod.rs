//! The `Admin` gRPC service: what `ilion status`, `ring`, `describering`, `info`,
//! `netstats`, `decommission`, `cleanup` and `removenode` ask a node. The commands' side is
//! [`client`]; their text, as nodetool prints it, is [`format`]; the long operations'
//! progress on the command line is [`progress_bar`].

mod client;
mod commands;
mod format;
mod operations;
mod operations_client;
mod operations_format;
mod progress_bar;
mod ring;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ilion_coordinator::{Member, MemberStatus, Membership};
use tonic::{Request, Response, Status};

use super::progress::{Operation, Operations};
use super::proto::admin_server::Admin;
use super::proto::{
    CleanupRequest, CleanupResponse, DecommissionRequest, DecommissionResponse,
    DescribeRingRequest, DescribeRingResponse, DisableAuditLogRequest, DisableAuditLogResponse,
    EnableAuditLogRequest, EnableAuditLogResponse, InfoRequest, InfoResponse,
    MemberStatus as ProtoMember, NetstatsRequest, NetstatsResponse, ProgressRequest,
    ProgressResponse, RemoveNodeForceRequest, RemoveNodeRequest, RemoveNodeResponse,
    RemoveNodeStatusRequest, RemoveNodeStatusResponse, RepairRequest, RepairResponse,
    RepairStatusRequest, RepairStatusResponse, RingRequest, RingResponse, StatusRequest,
    StatusResponse, StreamStatus,
};
use super::streaming::{Direction, Streams};
use super::view::ClusterView;

pub use client::{
    AdminClientError, fetch_describe_ring, fetch_info, fetch_netstats, fetch_removenode_status,
    fetch_repair_status, fetch_ring, fetch_status, request_cleanup, request_decommission,
    request_disable_audit_log, request_enable_audit_log, request_removenode,
    request_removenode_force, request_repair,
};
pub use commands::{OperatorCommand, command_runtime, run_operator_command};
pub use format::{
    format_describe_cluster, format_describe_ring, format_info, format_netstats, format_ring,
    format_status,
};
pub(crate) use operations::OperationsService;
pub use operations_client::operate;
pub use progress_bar::with_progress;

/// The `Admin` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub view: Arc<ClusterView>,
    pub cluster_name: String,
    pub streams: Arc<Streams>,
    pub leave: super::decommission::Leave,
    pub removal: super::removenode::Removal,
    pub repairs: super::repair::Repairs,
    pub continuous: Arc<super::repair::Continuous>,
    /// This node's gossip generation.
    pub generation: u64,
    /// When the node started.
    pub started: Instant,
    /// The long operations running on this node, with their progress.
    pub operations: Arc<Operations>,
    /// Whether the gossip task runs.
    pub gossip_active: Arc<AtomicBool>,
    /// Whether the node serves CQL clients.
    pub native_transport_active: Arc<AtomicBool>,
    /// The audit log, and the options `enableauditlog` starts from.
    pub audit: Arc<crate::audit::AuditLog>,
    pub audit_options: crate::audit::AuditLoggingOptions,
}

fn status_name(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Joining => "JOINING",
        MemberStatus::Normal => "NORMAL",
        MemberStatus::Leaving => "LEAVING",
        MemberStatus::Left => "LEFT",
    }
}

impl AdminService {
    fn proto_member(&self, m: Member) -> ProtoMember {
        ProtoMember {
            address: m.address.to_string(),
            host_id: m.host_id.to_string(),
            data_center: m.data_center,
            rack: m.rack,
            tokens: m.tokens,
            status: status_name(m.status).to_owned(),
            up: m.alive,
            load: m.load,
            schema_version: m.schema_version.to_string(),
            release_version: m.release_version,
            native_address: m.native_address.to_string(),
            native_port: u32::from(m.native_port),
            storage_port: u32::from(self.view.storage_endpoint(m.address).port()),
        }
    }
}

/// A refusal to show a keyspace's ring, as a gRPC status.
fn ring_refusal(e: ring::RingError) -> Status {
    match e {
        ring::RingError::UnknownKeyspace(_) | ring::RingError::NoSuchKeyspace(_) => {
            Status::not_found(e.to_string())
        }
        ring::RingError::NoRing(_) | ring::RingError::Placement { .. } => {
            Status::failed_precondition(e.to_string())
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let members = self
            .view
            .members()
            .into_iter()
            .map(|m| self.proto_member(m))
            .collect();
        Ok(Response::new(StatusResponse {
            cluster_name: self.cluster_name.clone(),
            local_address: self.view.local_address().to_string(),
            members,
        }))
    }

    async fn ring(&self, request: Request<RingRequest>) -> Result<Response<RingResponse>, Status> {
        let keyspace = request.into_inner().keyspace;
        let members = self.view.members();
        let schema = self.leave.node.coordinator.schema();
        let keyspace = Some(keyspace.as_str()).filter(|k| !k.is_empty());
        let ownership = ring::ownership(&members, &schema, keyspace).map_err(ring_refusal)?;
        Ok(Response::new(RingResponse {
            members: members
                .into_iter()
                .filter(|m| m.status != MemberStatus::Left)
                .map(|m| self.proto_member(m))
                .collect(),
            owns: ownership.owns.into_iter().collect(),
            note: ownership.note,
        }))
    }

    async fn describe_ring(
        &self,
        request: Request<DescribeRingRequest>,
    ) -> Result<Response<DescribeRingResponse>, Status> {
        let keyspace = request.into_inner().keyspace;
        let coordinator = &self.leave.node.coordinator;
        let ranges = ring::describe_ring(&self.view.members(), &coordinator.schema(), &keyspace)
            .map_err(ring_refusal)?;
        Ok(Response::new(DescribeRingResponse {
            schema_version: coordinator.schema_version().to_string(),
            ranges,
        }))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let local = self.view.local();
        Ok(Response::new(InfoResponse {
            host_id: local.host_id.to_string(),
            gossip_active: self.gossip_active.load(Ordering::SeqCst),
            native_transport_active: self.native_transport_active.load(Ordering::SeqCst),
            load: local.load,
            generation: self.generation,
            uptime_seconds: self.started.elapsed().as_secs(),
            data_center: local.data_center,
            rack: local.rack,
            tokens: local.tokens,
            status: status_name(local.status).to_owned(),
            decommissioning: self.operations.is_running(Operation::Decommission),
            decommission_failed: self.leave.failed.load(Ordering::SeqCst),
        }))
    }

    async fn decommission(
        &self,
        _request: Request<DecommissionRequest>,
    ) -> Result<Response<DecommissionResponse>, Status> {
        match self.leave.run().await {
            Ok(done) => Ok(Response::new(done)),
            Err(e) if e.is_refusal() => Err(Status::failed_precondition(e.to_string())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn cleanup(
        &self,
        request: Request<CleanupRequest>,
    ) -> Result<Response<CleanupResponse>, Status> {
        let keyspace = Some(request.into_inner().keyspace).filter(|k| !k.is_empty());
        let coordinator = self.leave.node.coordinator.clone();
        let tracker = self
            .operations
            .try_start(Operation::Cleanup)
            .ok_or_else(|| {
                Status::failed_precondition("a cleanup is already running on this node")
            })?;
        let cleaned = tokio::task::spawn_blocking(move || match coordinator.replication() {
            Some(r) => r
                .cleanup_with_progress(keyspace.as_deref(), |done, total| {
                    if done == 0 {
                        tracker.planned(
                            total as u64,
                            "deleting the ranges it no longer replicates, then compacting",
                        );
                    } else {
                        tracker.done(done as u64);
                    }
                })
                .map_err(|e| e.to_string()),
            None => Err("this node does not replicate".to_owned()),
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::failed_precondition)?;
        Ok(Response::new(CleanupResponse {
            tables: cleaned.tables as u64,
            ranges: cleaned.ranges as u64,
        }))
    }

    async fn remove_node(
        &self,
        request: Request<RemoveNodeRequest>,
    ) -> Result<Response<RemoveNodeResponse>, Status> {
        match self.removal.run(&request.into_inner().host_id).await {
            Ok(done) => Ok(Response::new(done)),
            Err(e) if e.is_refusal() => Err(Status::failed_precondition(e.to_string())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn remove_node_status(
        &self,
        _request: Request<RemoveNodeStatusRequest>,
    ) -> Result<Response<RemoveNodeStatusResponse>, Status> {
        Ok(Response::new(self.removal.status()))
    }

    async fn remove_node_force(
        &self,
        _request: Request<RemoveNodeForceRequest>,
    ) -> Result<Response<RemoveNodeStatusResponse>, Status> {
        self.removal
            .force()
            .map(Response::new)
            .map_err(|e| Status::failed_precondition(e.to_string()))
    }

    async fn enable_audit_log(
        &self,
        request: Request<EnableAuditLogRequest>,
    ) -> Result<Response<EnableAuditLogResponse>, Status> {
        let r = request.into_inner();
        let mut options = self.audit_options.clone();
        if let Some(class_name) = r.logger {
            options.logger = Some(crate::audit::options::Logger { class_name });
        }
        for (set, field) in [
            (r.included_keyspaces, &mut options.included_keyspaces),
            (r.excluded_keyspaces, &mut options.excluded_keyspaces),
            (r.included_categories, &mut options.included_categories),
            (r.excluded_categories, &mut options.excluded_categories),
            (r.included_users, &mut options.included_users),
            (r.excluded_users, &mut options.excluded_users),
        ] {
            if let Some(v) = set {
                *field = v;
            }
        }
        let dir = self
            .audit
            .enable(&options)
            .map_err(Status::invalid_argument)?;
        Ok(Response::new(EnableAuditLogResponse {
            dir: dir.display().to_string(),
        }))
    }

    async fn disable_audit_log(
        &self,
        _request: Request<DisableAuditLogRequest>,
    ) -> Result<Response<DisableAuditLogResponse>, Status> {
        Ok(Response::new(DisableAuditLogResponse {
            was_enabled: self.audit.disable(),
        }))
    }

    async fn repair(
        &self,
        request: Request<RepairRequest>,
    ) -> Result<Response<RepairResponse>, Status> {
        match self.repairs.run(request.into_inner()).await {
            Ok(done) => Ok(Response::new(done)),
            Err(e) if e.is_refusal() => Err(Status::failed_precondition(e.to_string())),
            Err(e) => Err(Status::aborted(e.to_string())),
        }
    }

    async fn repair_status(
        &self,
        _: Request<RepairStatusRequest>,
    ) -> Result<Response<RepairStatusResponse>, Status> {
        let continuous = self.continuous.clone();
        let status = tokio::task::spawn_blocking(move || continuous.status())
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(status))
    }

    async fn progress(
        &self,
        request: Request<ProgressRequest>,
    ) -> Result<Response<ProgressResponse>, Status> {
        let name = request.into_inner().operation;
        let operation = Operation::parse(&name).ok_or_else(|| {
            Status::invalid_argument(format!(
                "unknown operation {name}: decommission, removenode, cleanup or repair"
            ))
        })?;
        Ok(Response::new(self.operations.progress(operation)))
    }

    async fn netstats(
        &self,
        _request: Request<NetstatsRequest>,
    ) -> Result<Response<NetstatsResponse>, Status> {
        let streams = self
            .streams
            .list()
            .into_iter()
            .map(|s| StreamStatus {
                direction: match s.direction {
                    Direction::Inbound => "receiving",
                    Direction::Outbound => "sending",
                }
                .to_owned(),
                peer: s.peer,
                keyspace: s.keyspace,
                table: s.table,
                bytes: s.bytes,
                partitions: s.partitions,
                elapsed_ms: u64::try_from(s.elapsed.as_millis()).unwrap_or(u64::MAX),
                state: match s.finished {
                    None => "running",
                    Some(true) => "done",
                    Some(false) => "failed",
                }
                .to_owned(),
            })
            .collect();
        Ok(Response::new(NetstatsResponse {
            mode: status_name(self.view.local().status).to_owned(),
            streams,
        }))
    }
}
