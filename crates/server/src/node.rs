//! The node's life: take the data directory, serve until shut down, release everything.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::{Coordinator, CoordinatorConfig};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::cluster::{self, Cluster, ClusterError, ClusterSettings, ClusterView};
use crate::config::{Config, ConfigError};
use crate::{metrics, native};

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory {path} is in use by another ilion process")]
    DataDirLocked { path: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the node's schema and state: {0}")]
    Coordinator(#[from] ilion_coordinator::Error),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot join the cluster: {0}")]
    Bootstrap(#[from] cluster::bootstrap::BootstrapError),
    /// Cassandra's refusal, in its words.
    #[error(
        "This node was decommissioned and will not rejoin the ring ({path} exists); remove \
         its data directory to join again as a new node"
    )]
    Decommissioned { path: PathBuf },
    /// A node removed (removenode) or replaced while it was down never rejoins with its old
    /// data: its ranges belong to others, and its tokens to its replacement.
    #[error(
        "This node was removed from the cluster while it was down ({path} exists: {reason}); \
         remove its data directory to join again as a new node"
    )]
    Removed { path: PathBuf, reason: String },
}

/// Holds the data directory for as long as the node runs; dropping it releases the lock.
#[derive(Debug)]
struct DataDirLock {
    _file: File,
}

fn lock_data_dir(config: &Config) -> Result<DataDirLock, NodeError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| NodeError::DataDir {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join("ilion.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| NodeError::Lock {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(NodeError::DataDirLocked { path: dir.clone() })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(NodeError::Lock { path, source }),
    }
}

/// Runs a node with `config` until `shutdown` completes, then stops cleanly.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let started = std::time::Instant::now();
    config.validate()?;
    // TLS files are read before anything else opens: a bad certificate stops the node at once.
    let client_tls = if config.client_encryption_options.enabled {
        Some(Arc::new(crate::tls::ServerTls::new(
            &config.client_encryption_options,
            "client_encryption_options",
        )?))
    } else {
        None
    };
    let audit = Arc::new(
        crate::audit::AuditLog::new(
            &config.audit_logging_options,
            SocketAddr::new(config.listen_address, config.storage_port),
            &config.data_dir,
        )
        .map_err(|reason| ConfigError::Invalid {
            setting: "audit_logging_options",
            reason,
        })?,
    );
    if crate::tls::internode::enabled(&config.server_encryption_options) {
        crate::tls::internode::set_process(Arc::new(crate::tls::internode::Internode::new(
            &config.server_encryption_options,
        )?))?;
    }
    let lock = lock_data_dir(&config)?;
    tracing::info!(
        cluster = %config.cluster_name,
        address = %config.listen_address,
        dc = %config.dc,
        rack = %config.rack,
        data_dir = %config.data_dir.display(),
        "node starting"
    );
    println!(
        "ilion {}: node {} in cluster '{}' (dc {}, rack {}), data under {}",
        env!("CARGO_PKG_VERSION"),
        config.listen_address,
        config.cluster_name,
        config.dc,
        config.rack,
        config.data_dir.display()
    );
    let auth = config.auth().map_err(|(setting, reason)| {
        NodeError::Config(crate::config::ConfigError::Invalid {
            setting,
            reason: reason.to_owned(),
        })
    })?;
    let sync = match config.commitlog_sync {
        crate::config::CommitLogSync::Periodic => ilion_lsm::SyncMode::Periodic(
            std::time::Duration::from_millis(config.commitlog_sync_period_ms),
        ),
        crate::config::CommitLogSync::Batch => ilion_lsm::SyncMode::Batch,
    };
    // One cap over the compactions of the data and the system store, as Cassandra's.
    let compaction_throttle = Arc::new(ilion_lsm::Throttle::new(
        config.compaction_throughput.bytes_per_second(),
    ));
    let engine = ilion_lsm::Builder::default()
        .sync_mode(sync)
        .compaction_throttle(compaction_throttle.clone());
    let decommissioned = config
        .data_dir
        .join(cluster::decommission::DECOMMISSIONED_FILE);
    if decommissioned.exists() {
        return Err(NodeError::Decommissioned {
            path: decommissioned,
        });
    }
    let removed = config.data_dir.join(cluster::REMOVED_FILE);
    if removed.exists() {
        let reason = std::fs::read_to_string(&removed)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        return Err(NodeError::Removed {
            path: removed,
            reason,
        });
    }
    // A new node that is not a seed streams its ranges before it owns them (bootstrap).
    let bootstrap = cluster::bootstrap::prepare(&config).await?;
    let initial_tokens = bootstrap
        .as_ref()
        .map(|plan| plan.tokens.clone())
        .or_else(|| config.initial_tokens().ok().flatten())
        .unwrap_or_default();
    let mut coordinator = Coordinator::builder(CoordinatorConfig {
        cluster_name: config.cluster_name.clone(),
        listen_address: config.listen_address,
        native_address: config.native_address(),
        native_port: config.native_port,
        storage_port: config.storage_port,
        data_center: config.dc.clone(),
        rack: config.rack.clone(),
        num_tokens: config.num_tokens,
        data_dir: config.data_dir.clone(),
    })
    .engine(engine)
    .tombstone_thresholds(ilion_storage::TombstoneThresholds {
        warn: config.tombstone_warn_threshold,
        fail: config.tombstone_failure_threshold,
    })
    .initial_tokens(initial_tokens)
    .auth(auth)
    .open()?;
    let address = SocketAddr::new(config.native_address(), config.native_port);
    let mut local = cluster::local_member(
        &coordinator,
        config.listen_address,
        address,
        &config.dc,
        &config.rack,
        coordinator.tokens().to_vec(),
    );
    if let Some(plan) = &bootstrap {
        local.status = ilion_coordinator::MemberStatus::Joining;
        local.replaces = plan.replaces.map(|r| r.host_id);
    }
    let view = Arc::new(ClusterView::new(local, config.storage_port));
    coordinator.set_membership(view.clone());
    let clients = Arc::new(native::clients::Registry::default());
    coordinator.set_clients(clients.clone());
    let stream_throttle = Arc::new(cluster::streaming::Throttle::megabits(
        config.stream_throughput_outbound_megabits_per_sec,
    ));
    coordinator.set_settings(Arc::new(crate::config::NodeSettings::new(
        &config,
        compaction_throttle.clone(),
        stream_throttle.clone(),
    )));
    // Replicated reads and writes: the coordinator's messages to other nodes go over gRPC.
    let rpc_timeout = Duration::from_millis(config.write_request_timeout_in_ms.max(2_000));
    let peers = Arc::new(cluster::Peers::new(rpc_timeout));
    let messenger = cluster::GrpcMessenger::with_view(peers.clone(), view.clone());
    let replication = coordinator.enable_replication(ilion_coordinator::Cluster {
        config: config.replication(),
        ..ilion_coordinator::Cluster::new(view.clone(), Arc::new(messenger))
    });
    let background = replication.spawn_background(Duration::from_secs(10));
    coordinator
        .snapshots()
        .set_auto_snapshot(config.auto_snapshot);
    let coordinator = Arc::new(coordinator);
    // A joining node serves clients only once it has joined (as Cassandra starts its native
    // transport after the bootstrap): it binds the CQL port then.
    let early_listener = match bootstrap {
        None => Some(
            TcpListener::bind(address)
                .await
                .map_err(|source| NodeError::Bind { address, source })?,
        ),
        Some(_) => None,
    };
    // The default superuser exists before clients can log in. A joining node leaves it to
    // the cluster it joins (its view holds only itself until gossip runs).
    if bootstrap.is_none() {
        setup_auth(coordinator.clone()).await;
    }
    let admin_address = SocketAddr::new(config.listen_address, config.admin_port);
    let admin_listener =
        TcpListener::bind(admin_address)
            .await
            .map_err(|source| NodeError::Bind {
                address: admin_address,
                source,
            })?;
    let metrics = Arc::new(metrics::Metrics::default());
    metrics.set_replication(replication.clone());
    let repair_stats = Arc::new(cluster::repair::RepairStats::default());
    metrics.set_repair(repair_stats.clone());
    metrics.set_storage(metrics::StorageSources {
        store: coordinator.store().clone(),
        compaction: compaction_throttle.clone(),
        stream: stream_throttle.clone(),
    });
    let (events, _) = broadcast::channel(1024);
    let shared = Arc::new(native::Shared {
        metrics: metrics.clone(),
        coordinator: coordinator.clone(),
        events,
        max_frame_body: config
            .native_transport_max_frame_size_mb
            .saturating_mul(1024 * 1024),
        // In batch mode a write waits for its group's fsync: never on an I/O thread.
        quick_inline: matches!(
            config.commitlog_sync,
            crate::config::CommitLogSync::Periodic
        ),
        in_flight: Arc::new(native::limits::InFlight::new(
            config.native_transport_max_request_data_in_flight.bytes(),
            config
                .native_transport_max_request_data_in_flight_per_ip
                .bytes(),
        )),
        tls: client_tls,
        audit: audit.clone(),
        clients: clients.clone(),
    });
    let client_events = shared.events.clone();
    let (stop, stopped) = watch::channel(false);
    let admin = tokio::spawn(metrics::serve(admin_listener, metrics, stopped.clone()));
    let mut server = early_listener
        .map(|listener| tokio::spawn(native::serve(listener, shared.clone(), stopped.clone())));
    if server.is_some() {
        println!("CQL native protocol listening on {address}");
    }
    println!("metrics (Prometheus) on http://{admin_address}/metrics");
    let cluster = Cluster::start(
        ClusterSettings {
            cluster_name: config.cluster_name.clone(),
            listen_address: config.listen_address,
            storage_port: config.storage_port,
            seeds: config.effective_seeds(),
            data_dir: config.data_dir.clone(),
            phi_convict_threshold: config.phi_convict_threshold,
            gossip_fanout: config.gossip_fanout,
            rpc_timeout,
            peers,
            stream_throttle,
            compaction_throttle,
            ring_delay: Duration::from_millis(config.ring_delay_ms),
            started,
            audit,
            audit_options: config.audit_logging_options.clone(),
            repair_stats,
            continuous_repair_enabled: config.continuous_repair_enabled,
            continuous_repair_min_interval_seconds: config.continuous_repair_min_interval_seconds,
            repair_throughput_mb_per_sec: config.repair_throughput_mb_per_sec,
        },
        coordinator.clone(),
        view,
        client_events,
    )
    .await;
    let cluster = match cluster {
        Ok(c) => {
            let replica = coordinator.clone();
            c.set_replica_handler(Arc::new(move |from, payload| {
                replica
                    .handle_message(from, payload)
                    .map_err(|e| e.to_string())
            }));
            c.set_native_transport_active(server.is_some());
            c
        }
        Err(e) => {
            let _ = stop.send(true);
            if let Some(server) = server {
                let _ = server.await;
            }
            let _ = admin.await;
            return Err(e.into());
        }
    };
    println!(
        "node-to-node gRPC listening on {}:{} (seeds: {})",
        config.listen_address,
        config.storage_port,
        config
            .effective_seeds()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    tokio::pin!(shutdown);
    let mut failed = None;
    if let Some(plan) = &bootstrap {
        match plan.replaces {
            Some(r) => println!(
                "replacing {} (JOINING): streaming its ranges from the surviving replicas",
                r.address
            ),
            None => println!("joining the cluster (JOINING): streaming the ranges this node takes"),
        }
        tokio::select! {
            joined = cluster::bootstrap::join(&cluster, &coordinator, &config, plan) => match joined {
                Ok(j) => {
                    tracing::info!(ranges = j.ranges, partitions = j.received.partitions,
                        bytes = j.received.bytes, files = j.received.files, elapsed = ?j.elapsed,
                        "bootstrap finished");
                    println!(
                        "joined the ring (NORMAL): {} ranges, {} partitions, {} bytes streamed in {:.1} s (streams {:.1} s), {} files whole",
                        j.ranges,
                        j.received.partitions,
                        j.received.bytes,
                        j.elapsed.as_secs_f64(),
                        j.streaming.as_secs_f64(),
                        j.received.files
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "bootstrap failed; stopping (start the node again to retry)");
                    failed = Some(NodeError::Bootstrap(e));
                }
            },
            () = &mut shutdown => {
                tracing::warn!("stopped while joining; starting the node again resumes the join");
                failed = Some(NodeError::Bootstrap(cluster::bootstrap::BootstrapError::Interrupted));
            }
        }
        if failed.is_none() {
            match TcpListener::bind(address).await {
                Ok(listener) => {
                    server = Some(tokio::spawn(native::serve(listener, shared, stopped)));
                    cluster.set_native_transport_active(true);
                    println!("CQL native protocol listening on {address}");
                }
                Err(source) => failed = Some(NodeError::Bind { address, source }),
            }
        }
    }
    if failed.is_none() {
        println!("running; stop with Ctrl-C or SIGTERM");
        tokio::select! {
            () = &mut shutdown => {}
            () = cluster.left() => println!("decommissioned: this node left the ring"),
            fenced = cluster.fenced() => {
                failed = Some(NodeError::Removed {
                    path: config.data_dir.join(cluster::REMOVED_FILE),
                    reason: format!("{} holds it {}", fenced.by, fenced.status),
                });
            }
        }
    }

    tracing::info!("node stopping");
    cluster.set_native_transport_active(false);
    // Stop accepting, close every connection, then let go of the storage (the schema is
    // written durably on every change, so there is nothing left to flush yet).
    let _ = stop.send(true);
    if let Some(server) = server
        && let Err(e) = server.await
    {
        tracing::warn!(error = %e, "cql listener task failed");
    }
    if let Err(e) = admin.await {
        tracing::warn!(error = %e, "metrics listener task failed");
    }
    // Tell the other nodes we are going (they mark us down at once), then stop serving them.
    cluster.stop().await;
    drop(background);
    drop(coordinator);
    drop(lock);
    if let Some(e) = failed {
        return Err(e);
    }
    println!("stopped cleanly");
    Ok(())
}

/// Creates the default superuser if the cluster has no roles (see
/// [`Coordinator::setup_auth`]): once now, then every 10 s in the background until it
/// succeeds (the replicas of `system_auth` may not be reachable yet).
async fn setup_auth(coordinator: Arc<Coordinator>) {
    let attempt = |c: Arc<Coordinator>| async move {
        tokio::task::spawn_blocking(move || c.setup_auth())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    if let Err(e) = attempt(coordinator.clone()).await {
        tracing::info!(error = %e, "cannot set up the default superuser yet; retrying");
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                match attempt(coordinator.clone()).await {
                    Ok(()) => break,
                    Err(e) => tracing::debug!(error = %e, "default superuser setup failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_node_cannot_take_a_data_dir_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let first = lock_data_dir(&config).unwrap();
        assert!(matches!(
            lock_data_dir(&config),
            Err(NodeError::DataDirLocked { .. })
        ));
        drop(first);
        lock_data_dir(&config).unwrap();
    }

    #[tokio::test]
    async fn node_stops_when_its_shutdown_future_completes() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("nested"),
            native_port: free_port(),
            storage_port: free_port(),
            admin_port: free_port(),
            ..Config::default()
        };
        run(config, async {}).await.unwrap();
        assert!(dir.path().join("nested/ilion.lock").exists());
    }

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_node_with_password_authentication_starts_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            native_port: free_port(),
            admin_port: free_port(),
            authenticator: "PasswordAuthenticator".to_owned(),
            authorizer: "CassandraAuthorizer".to_owned(),
            ..Config::default()
        };
        run(config, async {}).await.unwrap();
    }

    #[tokio::test]
    async fn an_authorizer_without_an_authenticator_stops_the_node_naming_the_setting() {
        let config = Config {
            authorizer: "CassandraAuthorizer".to_owned(),
            ..Config::default()
        };
        assert!(matches!(
            run(config, async {}).await,
            Err(NodeError::Config(crate::config::ConfigError::Invalid {
                setting: "authorizer",
                ..
            }))
        ));
    }

    #[tokio::test]
    async fn a_port_in_use_is_an_error_naming_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            native_port: taken.local_addr().unwrap().port(),
            ..Config::default()
        };
        let err = run(config, async {}).await.unwrap_err();
        assert!(matches!(err, NodeError::Bind { .. }), "{err}");
    }

    #[tokio::test]
    async fn invalid_config_is_an_error_not_a_panic() {
        let config = Config {
            num_tokens: 0,
            ..Config::default()
        };
        assert!(matches!(
            run(config, async {}).await,
            Err(NodeError::Config(_))
        ));
    }
}
