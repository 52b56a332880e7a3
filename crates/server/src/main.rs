//! `ilion`: run a node. With no arguments: one node on 127.0.0.1, data under `./data`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use clap::{Parser, Subcommand};
use ilion_server::cluster::progress::Operation;
use ilion_server::cluster::{self, AdminClientError};
use ilion_server::{Config, Seed};

/// The allocator of the `ilion` binary: mimalloc, whose thread-local free lists cost a
/// fraction of glibc malloc's instructions on the request path (benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A masterless, Cassandra-compatible wide-column database node.
#[derive(Debug, Parser)]
#[command(name = "ilion", version)]
struct Args {
    /// Without a command: run a node.
    #[command(subcommand)]
    command: Option<Admin>,
    /// YAML configuration file; flags below override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address for node-to-node traffic and (by default) clients.
    #[arg(long)]
    listen_address: Option<IpAddr>,
    /// Comma-separated seeds: `address` (at this node's storage port) or `address:port`.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<Seed>>,
    /// Directory for data, commit log and hints.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    cluster_name: Option<String>,
    /// Data center name.
    #[arg(long)]
    dc: Option<String>,
    #[arg(long)]
    rack: Option<String>,
    /// CQL native protocol port.
    #[arg(long)]
    native_port: Option<u16>,
    /// Node-to-node gRPC port.
    #[arg(long)]
    storage_port: Option<u16>,
    /// Admin and Prometheus metrics HTTP port.
    #[arg(long)]
    admin_port: Option<u16>,
    /// Replace the dead node that listened at this address: take its tokens and stream its
    /// ranges from the surviving replicas (`replace_address_first_boot`; first boot only).
    #[arg(long, value_name = "IP")]
    replace_address: Option<IpAddr>,
}

/// Operator commands, asking a running node over its node-to-node gRPC port.
#[derive(Debug, Subcommand)]
enum Admin {
    /// The cluster as a node sees it, as `nodetool status` prints it.
    Status {
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// The token ring, one line per token sorted by token, as `nodetool ring` prints it. With
    /// a keyspace, "Owns" is the share of the ring each node holds a replica of under that
    /// keyspace's replication; without one, the ranges ending at its tokens.
    Ring {
        /// Show the effective ownership for this keyspace.
        keyspace: Option<String>,
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Every token range of a keyspace with its replicas, as `nodetool describering` prints.
    Describering {
        keyspace: String,
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// The node itself (host ID, gossip and native transport, load, generation, uptime, data
    /// center, rack, tokens), as `nodetool info` prints it.
    Info {
        /// List every token.
        #[arg(short = 'T', long)]
        tokens: bool,
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Ask the node to leave the ring: it streams its ranges to their new owners, leaves and
    /// stops (as `nodetool decommission`). Refused when a keyspace would keep fewer nodes
    /// than its replication factor.
    Decommission {
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up waiting after this many seconds (the node carries on).
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Delete the data of ranges the node no longer replicates (after nodes joined), then
    /// compact, as `nodetool cleanup`.
    Cleanup {
        /// Only this keyspace (default: every user keyspace).
        keyspace: Option<String>,
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Remove a dead node from the ring: the surviving replicas re-replicate its ranges (as
    /// `nodetool removenode`). `ilion removenode status` shows the removal under way;
    /// `ilion removenode force` completes it at once (the ranges not streamed yet need a repair).
    Removenode {
        /// The dead node's host ID (as `ilion status` lists it), or `status`.
        target: String,
        /// The node that runs the removal: its gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up waiting after this many seconds (the node carries on).
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Turn the node's audit log on (as `nodetool enableauditlog`): its
    /// `audit_logging_options`, with the lists given here in their place.
    #[command(name = "enableauditlog")]
    EnableAuditLog {
        #[command(flatten)]
        options: AuditLogArgs,
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Turn the node's audit log off (as `nodetool disableauditlog`).
    #[command(name = "disableauditlog")]
    DisableAuditLog {
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Repair (as `nodetool repair`): for each table and each range the node replicates, every
    /// replica builds a Merkle tree of its data, and the ranges where they differ are streamed
    /// between them. Incremental unless `--full`: only what was written since the last repair
    /// is validated. `-pr`, `-st`, `-et`, `-full` and
    /// `-local` are read as nodetool spells them. `ilion repair status` shows the node's
    /// continuous repair schedule.
    Repair {
        /// Only this keyspace (default: every replicated keyspace).
        keyspace: Option<String>,
        /// Only these tables of the keyspace.
        tables: Vec<String>,
        /// A full repair: validate every range whole. Without it the repair is incremental:
        /// only the parts some replica wrote since their last repair are validated.
        #[arg(long)]
        full: bool,
        /// Only the ranges the node is the first replica of (`-pr`).
        #[arg(long)]
        partitioner_range: bool,
        /// Only the replicas in the node's data center (`-local`).
        #[arg(long)]
        in_local_dc: bool,
        /// Only tokens after this one (`-st`; with --end-token).
        #[arg(long, allow_hyphen_values = true, requires = "end_token")]
        start_token: Option<i64>,
        /// Only tokens up to this one (`-et`; with --start-token).
        #[arg(long, allow_hyphen_values = true, requires = "start_token")]
        end_token: Option<i64>,
        /// The node that runs the repair: its gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up waiting after this many seconds (the node carries on).
        #[arg(long, default_value_t = 86400)]
        timeout: u64,
    },
    #[command(flatten)]
    Operator(cluster::OperatorCommand),
    /// The cluster's name, partitioner, schema versions, node counts and versions, as
    /// `nodetool describecluster` prints it.
    #[command(name = "describecluster")]
    DescribeCluster {
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// The node's mode and its streams (bytes, rate, state), as `nodetool netstats` prints.
    Netstats {
        /// The node's gRPC address (listen address and storage port).
        #[arg(long, default_value = "127.0.0.1:7000")]
        host: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

/// What `ilion enableauditlog` puts in place of the node's `audit_logging_options`.
#[derive(Debug, clap::Args)]
struct AuditLogArgs {
    /// FileAuditLogger (the only logger).
    #[arg(long)]
    logger: Option<String>,
    /// Comma-separated keyspaces: only these are recorded.
    #[arg(long)]
    included_keyspaces: Option<String>,
    /// Comma-separated keyspaces never recorded.
    #[arg(long)]
    excluded_keyspaces: Option<String>,
    /// Comma-separated categories (QUERY, DML, DDL, DCL, OTHER, AUTH, ERROR, PREPARE).
    #[arg(long)]
    included_categories: Option<String>,
    /// Comma-separated categories never recorded.
    #[arg(long)]
    excluded_categories: Option<String>,
    /// Comma-separated roles: only theirs are recorded.
    #[arg(long)]
    included_users: Option<String>,
    /// Comma-separated roles never recorded.
    #[arg(long)]
    excluded_users: Option<String>,
}

impl From<AuditLogArgs> for cluster::proto::EnableAuditLogRequest {
    fn from(a: AuditLogArgs) -> Self {
        cluster::proto::EnableAuditLogRequest {
            logger: a.logger,
            included_keyspaces: a.included_keyspaces,
            excluded_keyspaces: a.excluded_keyspaces,
            included_categories: a.included_categories,
            excluded_categories: a.excluded_categories,
            included_users: a.included_users,
            excluded_users: a.excluded_users,
        }
    }
}

impl Args {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen_address {
            config.listen_address = v;
        }
        if let Some(v) = self.seeds {
            config.seeds = v;
        }
        if let Some(v) = self.data_dir {
            config.data_dir = v;
        }
        if let Some(v) = self.cluster_name {
            config.cluster_name = v;
        }
        if let Some(v) = self.dc {
            config.dc = v;
        }
        if let Some(v) = self.rack {
            config.rack = v;
        }
        if let Some(v) = self.native_port {
            config.native_port = v;
        }
        if let Some(v) = self.storage_port {
            config.storage_port = v;
        }
        if let Some(v) = self.admin_port {
            config.admin_port = v;
        }
        if let Some(v) = self.replace_address {
            config.replace_address_first_boot = Some(v);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Installs the SIGINT and SIGTERM handlers now (so a signal that arrives while the node is
/// still starting is not fatal) and returns a future that completes on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        match (int, term) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            (int, term) => {
                let e = int
                    .err()
                    .or(term.err())
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                tracing::warn!(error = %e, "cannot listen for signals; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

fn main() -> ExitCode {
    ilion_server::logging::init();
    let mut args = Args::parse_from(nodetool_spellings(std::env::args()));
    if let Some(command) = args.command.take() {
        // With `--config`, the node's `server_encryption_options` reach it in TLS.
        if let Some(path) = &args.config
            && let Err(e) = internode_tls(path)
        {
            eprintln!("ilion: {e:#}");
            return ExitCode::from(2);
        }
        return admin(command);
    }
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ilion: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ilion: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(async {
        let stop = shutdown_signal();
        ilion_server::run(config, stop).await
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ilion: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an operator command.
/// Sets up internode TLS from the config file at `path`, for the admin commands.
fn internode_tls(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::from_file(path)?;
    if ilion_server::tls::internode::enabled(&config.server_encryption_options) {
        ilion_server::tls::internode::set_process(std::sync::Arc::new(
            ilion_server::tls::internode::Internode::new(&config.server_encryption_options)?,
        ))?;
    }
    Ok(())
}

fn admin(command: Admin) -> ExitCode {
    let runtime = match cluster::command_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match command {
        Admin::Status { host, timeout } => report(
            "status",
            runtime.block_on(cluster::fetch_status(&host, secs(timeout))),
            |s| shown(&cluster::format_status(&s)),
        ),
        Admin::Ring {
            keyspace,
            host,
            timeout,
        } => {
            let keyspace = keyspace.unwrap_or_default();
            match runtime.block_on(cluster::fetch_ring(&host, &keyspace, secs(timeout))) {
                // nodetool's words and exit status for an unknown keyspace.
                Err(AdminClientError::Refused { reason, .. }) => {
                    print!("\nError: {reason}\n");
                    ExitCode::FAILURE
                }
                answer => report("ring", answer, |r| shown(&cluster::format_ring(&r))),
            }
        }
        Admin::Describering {
            keyspace,
            host,
            timeout,
        } => match runtime.block_on(cluster::fetch_describe_ring(
            &host,
            &keyspace,
            secs(timeout),
        )) {
            // nodetool's words and exit status for an error the node reports.
            Err(AdminClientError::Refused { reason, .. }) => {
                eprintln!("error: {reason}");
                ExitCode::from(2)
            }
            answer => report("describering", answer, |d| {
                shown(&cluster::format_describe_ring(&d))
            }),
        },
        Admin::Info {
            tokens,
            host,
            timeout,
        } => report(
            "info",
            runtime.block_on(cluster::fetch_info(&host, secs(timeout))),
            |i| shown(&cluster::format_info(&i, tokens)),
        ),
        Admin::Decommission { host, timeout } => {
            println!("decommissioning {host}: streaming its ranges to their new owners");
            let work = cluster::request_decommission(&host, secs(timeout));
            report(
                "decommission",
                runtime.block_on(cluster::with_progress(&host, Operation::Decommission, work)),
                |d| {
                    println!(
                        "decommissioned: {} ranges, {} partitions, {} bytes streamed, {} hints handed over; the node left the ring and stops",
                        d.ranges, d.partitions, d.bytes, d.hints
                    );
                    ExitCode::SUCCESS
                },
            )
        }
        Admin::Cleanup {
            keyspace,
            host,
            timeout,
        } => {
            let keyspace = keyspace.unwrap_or_default();
            let work = cluster::request_cleanup(&host, &keyspace, secs(timeout));
            report(
                "cleanup",
                runtime.block_on(cluster::with_progress(&host, Operation::Cleanup, work)),
                |c| {
                    println!(
                        "cleanup finished: {} tables, {} ranges dropped",
                        c.tables, c.ranges
                    );
                    ExitCode::SUCCESS
                },
            )
        }
        Admin::Removenode {
            target,
            host,
            timeout,
        } => match target.as_str() {
            "status" => report(
                "removenode",
                runtime.block_on(cluster::fetch_removenode_status(&host, secs(timeout))),
                |s| shown(&cluster::format_removal_status(&s)),
            ),
            "force" => report(
                "removenode",
                runtime.block_on(cluster::request_removenode_force(&host, secs(timeout))),
                |s| {
                    println!(
                        "RemovalStatus: forcing the removal of {} ({}): {} of {} ranges re-replicated",
                        s.host_id, s.address, s.ranges_done, s.ranges_total
                    );
                    ExitCode::SUCCESS
                },
            ),
            host_id => {
                println!(
                    "removing {host_id}: re-replicating its ranges from the surviving replicas"
                );
                let work = cluster::request_removenode(&host, host_id, secs(timeout));
                report(
                    "removenode",
                    runtime.block_on(cluster::with_progress(&host, Operation::RemoveNode, work)),
                    |r| {
                        println!(
                            "removed {}: {} ranges, {} partitions, {} bytes re-replicated",
                            r.address, r.ranges, r.partitions, r.bytes
                        );
                        if r.forced {
                            eprintln!(
                                "warning: the removal was forced after {} of {} ranges; run a repair to re-replicate the rest",
                                r.ranges, r.ranges_planned
                            );
                        }
                        if r.lost_ranges > 0 {
                            eprintln!(
                                "warning: {} ranges were on the removed node only (replication factor 1); their data is lost",
                                r.lost_ranges
                            );
                        }
                        ExitCode::SUCCESS
                    },
                )
            }
        },
        Admin::EnableAuditLog {
            options,
            host,
            timeout,
        } => report(
            "enableauditlog",
            runtime.block_on(cluster::request_enable_audit_log(
                &host,
                options.into(),
                secs(timeout),
            )),
            |r| shown(&format!("audit log enabled: writing to {}\n", r.dir)),
        ),
        Admin::DisableAuditLog { host, timeout } => report(
            "disableauditlog",
            runtime.block_on(cluster::request_disable_audit_log(&host, secs(timeout))),
            |r| {
                shown(if r.was_enabled {
                    "audit log disabled\n"
                } else {
                    "audit log was not enabled\n"
                })
            },
        ),
        Admin::Repair {
            keyspace,
            tables,
            host,
            timeout,
            ..
        } if keyspace.as_deref() == Some("status") && tables.is_empty() => report(
            "repair status",
            runtime.block_on(cluster::fetch_repair_status(&host, secs(timeout.min(60)))),
            |s| shown(&cluster::format_repair_status(&s)),
        ),
        Admin::Repair {
            keyspace,
            tables,
            full,
            partitioner_range,
            in_local_dc,
            start_token,
            end_token,
            host,
            timeout,
        } => {
            let what = keyspace
                .clone()
                .unwrap_or_else(|| "every keyspace".to_owned());
            println!("repairing {what} from {host}");
            let work = cluster::request_repair(
                &host,
                cluster::proto::RepairRequest {
                    keyspace: keyspace.unwrap_or_default(),
                    tables,
                    primary_range: partitioner_range,
                    in_local_dc,
                    start_token,
                    end_token,
                    full,
                },
                secs(timeout),
            );
            report(
                "repair",
                runtime.block_on(cluster::with_progress(&host, Operation::Repair, work)),
                |r| {
                    for ks in &r.skipped {
                        println!(
                            "Replication factor is 1. No repair is needed for keyspace '{ks}'"
                        );
                    }
                    println!(
                        "repair finished: {} tables, {} ranges ({} in sync, {} unwritten since their last repair), \
                         {} partitions ({} bytes) validated; \
                         {} mismatching leaves, {} streams, {} partitions and {} bytes streamed",
                        r.tables,
                        r.ranges,
                        r.ranges_in_sync,
                        r.ranges_unwritten,
                        r.partitions_validated,
                        r.bytes_validated,
                        r.mismatching_leaves,
                        r.streams,
                        r.partitions_streamed,
                        r.bytes_streamed
                    );
                    ExitCode::SUCCESS
                },
            )
        }
        Admin::Operator(command) => cluster::run_operator_command(command),
        Admin::DescribeCluster { host, timeout } => report(
            "describecluster",
            runtime.block_on(cluster::fetch_status(&host, secs(timeout))),
            |s| shown(&cluster::format_describe_cluster(&s)),
        ),
        Admin::Netstats { host, timeout } => report(
            "netstats",
            runtime.block_on(cluster::fetch_netstats(&host, secs(timeout))),
            |n| shown(&cluster::format_netstats(&n)),
        ),
    }
}

/// The arguments with nodetool's one-dash repair flags (`-pr`, `-st`, `-et`, `-full`,
/// `-local`) in their long form, so scripts written for nodetool run unchanged.
fn nodetool_spellings(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|a| {
        match a.as_str() {
            "-pr" => "--partitioner-range",
            "-st" => "--start-token",
            "-et" => "--end-token",
            "-full" => "--full",
            "-local" => "--in-local-dc",
            _ => return a,
        }
        .to_owned()
    })
    .collect()
}

/// A command's `--timeout` (at least a second).
fn secs(timeout: u64) -> Duration {
    Duration::from_secs(timeout.max(1))
}

/// Prints a command's text; the command succeeded.
fn shown(text: &str) -> ExitCode {
    print!("{text}");
    ExitCode::SUCCESS
}

/// Hands the node's answer to `on_answer`, or reports why there is none (exit 1).
fn report<T>(
    command: &str,
    answer: Result<T, AdminClientError>,
    on_answer: impl FnOnce(T) -> ExitCode,
) -> ExitCode {
    match answer {
        Ok(a) => on_answer(a),
        Err(e) => {
            eprintln!("ilion {command}: {e}");
            ExitCode::FAILURE
        }
    }
}
