//! The node in a cluster: the node-to-node gRPC server (`proto/ilion.proto`: Gossip, Schema,
//! Admin, Replica) on the listen address and storage port, the gossiper with its failure
//! detector, the [`ClusterView`] the coordinator reads as its `Membership`, schema agreement,
//! and the STATUS_CHANGE / TOPOLOGY_CHANGE events pushed to registered clients.
//!
//! Each node may have its own storage port: gossip names every node by its gRPC endpoint
//! (listen address and storage port), seeds may carry a port (`host:port`), and messages to a
//! member go to the endpoint it gossips from. A member is still one listen address: two nodes
//! may not share an address.

mod admin;
pub mod bootstrap;
pub mod decommission;
mod movement;
mod peers;
pub mod progress;
pub mod removenode;
pub mod repair;
mod replica;
mod schema;
pub mod streaming;
mod transport;
mod view;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ilion_coordinator::{Coordinator, Member, MemberStatus, SchemaListener};
use ilion_cql::protocol::Event;
use ilion_gossip::driver::Command;
use ilion_gossip::{ApplicationState, NodeStatus, SeededRng};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

pub use admin::{
    AdminClientError, fetch_describe_ring, fetch_info, fetch_netstats, fetch_removenode_status,
    fetch_repair_status, fetch_ring, fetch_status, format_describe_cluster, format_describe_ring,
    format_info, format_netstats, format_ring, format_status, request_cleanup,
    request_decommission, request_disable_audit_log, request_enable_audit_log, request_removenode,
    request_removenode_force, request_repair, with_progress,
};
pub use admin::{OperatorCommand, command_runtime, operate, run_operator_command};
pub use peers::{CHANNELS_PER_PEER, Peers};
pub use removenode::format_removal_status;
pub use repair::format_repair_status;
pub use replica::{GrpcMessenger, ReplicaHandler, ReplicaService};
pub use transport::{GossipService, GrpcTransport, grpc_transport};
pub use view::ClusterView;

/// The generated gRPC code of `proto/ilion.proto`.
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod proto {
    tonic::include_proto!("ilion.v1");
}

/// Cluster settings of a node.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub cluster_name: String,
    pub listen_address: IpAddr,
    pub storage_port: u16,
    /// Seed gRPC endpoints.
    pub seeds: Vec<SocketAddr>,
    /// Where the last gossip generation is kept.
    pub data_dir: PathBuf,
    /// Failure detector conviction threshold (Cassandra: 8).
    pub phi_convict_threshold: f64,
    /// Live nodes sent a SYN per round (Cassandra: 1).
    pub gossip_fanout: usize,
    /// Timeout of node-to-node calls that are not the coordinator's (gossip, schema).
    pub rpc_timeout: Duration,
    /// The connections to other nodes (shared with the coordinator's [`GrpcMessenger`]).
    pub peers: Arc<Peers>,
    /// The cap on the node's compactions (`ilion setcompactionthroughput` changes it).
    pub compaction_throttle: Arc<ilion_lsm::Throttle>,
    /// The cap on outbound streams (`ilion setstreamthroughput` changes it).
    pub stream_throttle: Arc<streaming::Throttle>,
    /// How long a range movement waits for the cluster to see it (`ring_delay_ms`).
    pub ring_delay: Duration,
    /// When the node started (`ilion info`'s uptime).
    pub started: std::time::Instant,
    /// The audit log (`ilion enableauditlog`/`disableauditlog`), and the configured options
    /// enabling starts from.
    pub audit: Arc<crate::audit::AuditLog>,
    pub audit_options: crate::audit::AuditLoggingOptions,
    /// What the repairs this node coordinates did (rendered with the node's metrics).
    pub repair_stats: Arc<repair::RepairStats>,
    /// Continuous repair: on, its minimum interval (seconds) and its I/O budget (MB/s).
    pub continuous_repair_enabled: bool,
    pub continuous_repair_min_interval_seconds: u64,
    pub repair_throughput_mb_per_sec: u32,
}

/// Why the cluster service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("cannot listen for node-to-node traffic on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot keep the gossip generation in {path}: {source}")]
    Generation {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid gossip settings: {0}")]
    Gossip(#[from] ilion_gossip::Error),
}

/// This node as a [`Member`], for the view, before any gossip.
pub fn local_member(
    coordinator: &Coordinator,
    listen_address: IpAddr,
    native: SocketAddr,
    data_center: &str,
    rack: &str,
    tokens: Vec<i64>,
) -> Member {
    Member {
        address: listen_address,
        host_id: coordinator.host_id(),
        data_center: data_center.to_owned(),
        rack: rack.to_owned(),
        tokens,
        status: MemberStatus::Normal,
        alive: true,
        native_address: native.ip(),
        native_port: native.port(),
        release_version: ilion_coordinator::RELEASE_VERSION.to_owned(),
        schema_version: coordinator.schema_version(),
        load: 0.0,
        replaces: None,
        removing: None,
    }
}

/// The running cluster service; [`Cluster::stop`] announces the shutdown to the other nodes.
#[derive(Debug)]
pub struct Cluster {
    view: Arc<ClusterView>,
    messenger: GrpcMessenger,
    replica: ReplicaService,
    stop: watch::Sender<bool>,
    gossip: JoinHandle<()>,
    gossip_in_flight: Arc<AtomicUsize>,
    server: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    commands: mpsc::UnboundedSender<Command>,
    streams: Arc<streaming::Streams>,
    left: Arc<tokio::sync::Notify>,
    /// Set when the cluster holds this node removed ([`Cluster::fenced`]).
    fenced: watch::Receiver<Option<Fenced>>,
    native_transport_active: Arc<AtomicBool>,
}

/// Written to the data directory of a node the cluster removed (removenode, or replaced by
/// another node) while it was down: it never starts again with that data.
pub const REMOVED_FILE: &str = "removed";

/// This node was taken out of the cluster while it was down: how we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced {
    /// The node that holds us removed.
    pub by: SocketAddr,
    /// `removed` or `LEFT`, as gossiped.
    pub status: String,
}

impl Cluster {
    /// Binds the gRPC port and starts gossip and schema agreement. `view` must be the
    /// coordinator's membership; `client_events` reach registered CQL clients.
    pub async fn start(
        settings: ClusterSettings,
        coordinator: Arc<Coordinator>,
        view: Arc<ClusterView>,
        client_events: broadcast::Sender<Event>,
    ) -> Result<Cluster, ClusterError> {
        let address = SocketAddr::new(settings.listen_address, settings.storage_port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| ClusterError::Bind { address, source })?;
        let generation = next_generation(&settings.data_dir)?;
        view.set_generation(generation);
        let mut config =
            ilion_gossip::Config::new(settings.cluster_name.clone(), settings.seeds.clone());
        config.fanout = settings.gossip_fanout;
        config.failure_detector.phi_convict_threshold = settings.phi_convict_threshold;
        let max_message_bytes = config.max_message_bytes;
        let mut gossiper =
            ilion_gossip::Gossiper::new(config, address, generation, Duration::ZERO)?;
        let local = view.local();
        for (key, value) in [
            (ApplicationState::HostId, local.host_id.to_string()),
            (ApplicationState::Dc, local.data_center.clone()),
            (ApplicationState::Rack, local.rack.clone()),
            (
                ApplicationState::Tokens,
                ilion_gossip::format_tokens(&local.tokens),
            ),
            (
                ApplicationState::NativeAddress,
                SocketAddr::new(local.native_address, local.native_port).to_string(),
            ),
            (
                ApplicationState::ReleaseVersion,
                local.release_version.clone(),
            ),
            (
                ApplicationState::SchemaVersion,
                coordinator.schema_version().to_string(),
            ),
            (ApplicationState::Load, "0".to_owned()),
            (
                ApplicationState::Replaces,
                local.replaces.map(|id| id.to_string()).unwrap_or_default(),
            ),
            // A removal this node ran before it restarted is over.
            (ApplicationState::Removing, String::new()),
        ] {
            gossiper.set_local(key, value);
        }
        // A bootstrapping node joins as BOOT and says NORMAL when its streams finished.
        gossiper.set_status(match local.status {
            MemberStatus::Joining => NodeStatus::Boot,
            _ => NodeStatus::Normal,
        });

        let peers = settings.peers.clone();
        let (transport, gossip_service) =
            grpc_transport(peers.clone(), settings.rpc_timeout, max_message_bytes);
        let gossip_in_flight = transport.in_flight();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let (check_tx, check_rx) = mpsc::unbounded_channel();
        let (local_tx, local_rx) = mpsc::unbounded_channel();

        let sync = schema::SchemaSync {
            coordinator: coordinator.clone(),
            view: view.clone(),
            client_events: client_events.clone(),
            gossip: commands.clone(),
            peers: peers.clone(),
            timeout: settings.rpc_timeout,
        };
        coordinator.set_schema_listener(SchemaListener(Arc::new(move |version| {
            let _ = local_tx.send(version);
        })));
        let replica = ReplicaService::new();
        let streams = Arc::new(streaming::Streams::default());
        streaming::remove_leftovers(&coordinator.stream_incoming_dir());
        let left = Arc::new(tokio::sync::Notify::new());
        let movement = movement::Node {
            view: view.clone(),
            coordinator: coordinator.clone(),
            commands: commands.clone(),
            ring_delay: settings.ring_delay,
            settle: settings.rpc_timeout.min(Duration::from_secs(2)),
        };
        let operations = Arc::new(progress::Operations::default());
        let repairs = repair::Repairs {
            node: movement.clone(),
            operations: operations.clone(),
            stats: settings.repair_stats.clone(),
        };
        let continuous = Arc::new(repair::Continuous::new(
            repairs.clone(),
            settings.continuous_repair_enabled,
            settings.continuous_repair_min_interval_seconds,
            settings.repair_throughput_mb_per_sec,
        ));
        let stream_throttle = settings.stream_throttle.clone();
        let gossip_active = Arc::new(AtomicBool::new(true));
        let native_transport_active = Arc::new(AtomicBool::new(false));
        let admin = admin::AdminService {
            view: view.clone(),
            cluster_name: settings.cluster_name.clone(),
            streams: streams.clone(),
            leave: decommission::Leave {
                node: movement.clone(),
                endpoint: address,
                left: left.clone(),
                operations: operations.clone(),
                failed: Arc::new(AtomicBool::new(false)),
                data_dir: settings.data_dir.clone(),
            },
            removal: removenode::Removal::new(movement.clone(), operations.clone()),
            repairs: repairs.clone(),
            continuous: continuous.clone(),
            operations,
            generation,
            started: settings.started,
            gossip_active: gossip_active.clone(),
            native_transport_active: native_transport_active.clone(),
            audit: settings.audit.clone(),
            audit_options: settings.audit_options.clone(),
        };
        let mut tasks = Vec::new();

        // The gRPC server.
        let mut server_stop = stopped.clone();
        let router = tonic::transport::Server::builder()
            .add_service(
                proto::gossip_server::GossipServer::new(gossip_service)
                    .max_decoding_message_size(max_message_bytes + 1024),
            )
            .add_service(
                proto::schema_server::SchemaServer::new(schema::SchemaService {
                    sync: sync.clone(),
                })
                .max_decoding_message_size(usize::MAX),
            )
            .add_service(proto::admin_server::AdminServer::new(admin))
            .add_service(proto::operations_server::OperationsServer::new(
                admin::OperationsService {
                    coordinator: coordinator.clone(),
                    compaction_throttle: settings.compaction_throttle.clone(),
                    stream_throttle: stream_throttle.clone(),
                    release_version: view.local().release_version,
                },
            ))
            .add_service(replica.clone().into_server())
            .add_service(proto::streaming_server::StreamingServer::new(
                streaming::StreamingService {
                    coordinator: coordinator.clone(),
                    throttle: stream_throttle.clone(),
                    streams: streams.clone(),
                    local: settings.listen_address,
                    chunk_timeout: Duration::from_secs(30),
                },
            ));
        let incoming = crate::tls::internode::incoming(listener, stopped.clone());
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                tracing::error!(error = %e, "node-to-node gRPC server failed");
            }
        });

        // Gossip.
        let mut gossip_stop = stopped.clone();
        let rng = SeededRng::new(rand::random());
        let gossip = tokio::spawn(async move {
            let shutdown = async move {
                let _ = gossip_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = ilion_gossip::driver::run(
                gossiper,
                transport,
                rng,
                commands_rx,
                events_tx,
                shutdown,
            )
            .await
            {
                tracing::error!(error = %e, "gossip stopped");
            }
            gossip_active.store(false, Ordering::SeqCst);
        });

        // Gossip events: the view, client events, schema checks.
        let event_view = view.clone();
        let event_clients = client_events.clone();
        let (fenced_tx, fenced) = watch::channel(None);
        let removed_marker = settings.data_dir.join(REMOVED_FILE);
        tasks.push(tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                tracing::debug!(?event, "gossip");
                if let ilion_gossip::Event::Fenced { by, status } = &event {
                    let fenced = Fenced {
                        by: *by,
                        status: status.as_str().to_owned(),
                    };
                    tracing::error!(by = %fenced.by, status = %fenced.status,
                        "the cluster removed this node while it was down; it stops and will not start again with this data directory");
                    let note = format!(
                        "the cluster removed this node while it was down ({} holds it {})\n",
                        fenced.by, fenced.status
                    );
                    if let Err(e) = std::fs::write(&removed_marker, note) {
                        tracing::warn!(path = %removed_marker.display(), error = %e, "cannot mark the data directory removed");
                    }
                    let _ = fenced_tx.send(Some(fenced));
                    continue;
                }
                for e in event_view.apply(&event) {
                    tracing::info!(event = ?e, "cluster event");
                    let _ = event_clients.send(e);
                }
                if matches!(
                    event,
                    ilion_gossip::Event::Up { .. }
                        | ilion_gossip::Event::Changed {
                            key: ApplicationState::SchemaVersion,
                            ..
                        }
                ) {
                    let _ = check_tx.send(());
                }
            }
        }));

        // Schema agreement.
        tasks.push(tokio::spawn(schema::run(
            sync,
            local_rx,
            check_rx,
            stopped.clone(),
        )));

        // Load: the size of the data directory, gossiped every minute.
        let load_dir = settings.data_dir.clone();
        let load_view = view.clone();
        let load_commands = commands.clone();
        let mut load_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = load_stop.changed() => return,
                    _ = interval.tick() => {
                        let dir = load_dir.clone();
                        let bytes = tokio::task::spawn_blocking(move || dir_size(&dir))
                            .await
                            .unwrap_or(0);
                        #[allow(clippy::cast_precision_loss)]
                        let load = bytes as f64;
                        load_view.set_local_load(load);
                        let _ = load_commands.send(Command::Set(ApplicationState::Load, bytes.to_string()));
                    }
                }
            }
        }));

        // Continuous repair.
        if settings.continuous_repair_enabled {
            tasks.push(tokio::spawn(continuous.run(stopped.clone())));
        }

        tracing::info!(%address, generation, "node-to-node gRPC and gossip running");
        Ok(Cluster {
            messenger: GrpcMessenger::with_view(peers, view.clone()),
            view,
            replica,
            stop,
            gossip,
            gossip_in_flight,
            server,
            tasks,
            commands,
            streams,
            left,
            fenced,
            native_transport_active,
        })
    }

    /// Tells `ilion info` whether the node serves CQL clients now.
    pub fn set_native_transport_active(&self, active: bool) {
        self.native_transport_active.store(active, Ordering::SeqCst);
    }

    /// Completes when this node has left the ring (`ilion decommission`): it should stop.
    pub async fn left(&self) {
        self.left.notified().await;
    }

    /// Completes when the cluster holds this node removed under its own host ID (it was
    /// removed or replaced while it was down): it must stop at once, and [`REMOVED_FILE`]
    /// keeps it from starting again with this data.
    pub async fn fenced(&self) -> Fenced {
        let mut rx = self.fenced.clone();
        loop {
            if let Some(f) = rx.borrow_and_update().clone() {
                return f;
            }
            if rx.changed().await.is_err() {
                // The gossip event task is gone (the node is stopping): never fenced.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Streams in progress, to and from this node (`ilion netstats`).
    pub fn streams(&self) -> &Arc<streaming::Streams> {
        &self.streams
    }

    /// Announces this node's new status to the cluster (and sets it in the view).
    pub fn set_status(&self, status: NodeStatus) {
        let member = match status {
            NodeStatus::Boot => MemberStatus::Joining,
            NodeStatus::Leaving => MemberStatus::Leaving,
            NodeStatus::Left | NodeStatus::Removed => MemberStatus::Left,
            NodeStatus::Normal | NodeStatus::Shutdown => MemberStatus::Normal,
        };
        self.view.set_local_status(member);
        let _ = self.commands.send(Command::Set(
            ApplicationState::Status,
            status.as_str().to_owned(),
        ));
    }

    /// Announces that the dead node at `address` is gone for good (its replacement owns its
    /// tokens, or `removenode` re-replicated its ranges): every node drops it from the ring.
    pub fn announce_removed(&self, address: IpAddr) {
        let endpoint = self.view.storage_endpoint(address);
        let _ = self.commands.send(Command::RemoveNode(endpoint));
    }

    /// The cluster view (the coordinator's `Membership`).
    pub fn view(&self) -> &Arc<ClusterView> {
        &self.view
    }

    /// The coordinator's `Messenger` to the other nodes.
    pub fn messenger(&self) -> &GrpcMessenger {
        &self.messenger
    }

    /// Sets what answers other nodes' replica messages.
    pub fn set_replica_handler(&self, handler: ReplicaHandler) {
        self.replica.set_handler(handler);
    }

    /// Announces the shutdown to the live nodes, then stops serving.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.gossip.await {
            tracing::warn!(error = %e, "gossip task failed");
        }
        // Let the shutdown announcement leave (bounded: a dead peer must not hold us up).
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.gossip_in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        for t in self.tasks {
            let _ = t.await;
        }
        // Graceful: in-flight calls finish; peers' idle connections are told to go away.
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

/// A generation higher than any this node used before: the time in seconds, or one more
/// than the last one if the clock went back. Kept in `gossip_generation` in the data dir.
fn next_generation(data_dir: &Path) -> Result<u64, ClusterError> {
    let path = data_dir.join("gossip_generation");
    let last = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let generation = now.max(last + 1);
    std::fs::write(&path, generation.to_string())
        .map_err(|source| ClusterError::Generation { path, source })?;
    Ok(generation)
}

/// Bytes in the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generation_is_higher_than_the_last_even_if_the_clock_went_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gossip_generation"),
            (u64::MAX / 2).to_string(),
        )
        .unwrap();
        let a = next_generation(dir.path()).unwrap();
        assert_eq!(a, u64::MAX / 2 + 1);
        let b = next_generation(dir.path()).unwrap();
        assert_eq!(b, a + 1);
    }
}
