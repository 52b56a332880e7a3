//! The operator commands on a node's tables, snapshots, settings and logs, with nodetool's
//! names, arguments and text (`--format json` for scripts where nodetool has output). Each
//! asks the node's `Operations` service; a refusal or an unreachable node exits 1 with the
//! reason on stderr, as nodetool does.

use std::process::ExitCode;
use std::time::Duration;

use super::client::AdminClientError;
use super::operations_client::operate;
use super::operations_format as text;
use crate::cluster::proto::{
    ClearSnapshotRequest, CompactionStatsRequest, ImportRequest, ListSnapshotsRequest,
    LoggingLevelsRequest, SetLoggingLevelRequest, SnapshotRequest, TablesRequest, Throughput,
    ThroughputRequest, VersionRequest,
};

/// Where a command goes and how long it may take.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The node's gRPC address (listen address and storage port).
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub host: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// How a command prints its answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// nodetool's text.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Keyspace and tables, as nodetool's `flush`, `compact` and `garbagecollect` take them.
#[derive(Debug, Clone, clap::Args)]
pub struct Tables {
    /// The keyspace (default: every user keyspace).
    pub keyspace: Option<String>,
    /// Tables of the keyspace (default: all of them).
    pub tables: Vec<String>,
}

impl From<Tables> for TablesRequest {
    fn from(t: Tables) -> TablesRequest {
        TablesRequest {
            keyspace: t.keyspace.unwrap_or_default(),
            tables: t.tables,
        }
    }
}

/// Operator commands on the node's own tables, snapshots, settings and logs.
#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// The Cassandra release the node reports (`ReleaseVersion`), as `nodetool version`.
    Version {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Write the tables' memtables to files, as `nodetool flush`.
    Flush {
        #[command(flatten)]
        tables: Tables,
        #[command(flatten)]
        target: Target,
    },
    /// Major compaction: each table's files into one sorted run, as `nodetool compact`.
    Compact {
        #[command(flatten)]
        tables: Tables,
        #[command(flatten)]
        target: Target,
    },
    /// Remove deleted and overwritten data from the tables' files, as `nodetool
    /// garbagecollect` (here: by rewriting them in one major compaction).
    #[command(name = "garbagecollect")]
    GarbageCollect {
        #[command(flatten)]
        tables: Tables,
        #[command(flatten)]
        target: Target,
    },
    /// Files, sizes and row counts per table, as `nodetool tablestats`.
    #[command(name = "tablestats", alias = "cfstats")]
    TableStats {
        /// `keyspace` or `keyspace.table` (default: every user table).
        name: Option<String>,
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// What compaction wrote and its throughput cap, as `nodetool compactionstats`.
    #[command(name = "compactionstats")]
    CompactionStats {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// The compaction throughput cap in MiB/s (0 = unthrottled).
    #[command(name = "getcompactionthroughput")]
    GetCompactionThroughput {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Set the compaction throughput cap in MiB/s (0 = unthrottled); running compactions
    /// follow it at once. Lasts until the node restarts (then `compaction_throughput`).
    #[command(name = "setcompactionthroughput")]
    SetCompactionThroughput {
        value_in_mib: u64,
        #[command(flatten)]
        target: Target,
    },
    /// The outbound streaming cap in megabits per second (0 = unthrottled).
    #[command(name = "getstreamthroughput")]
    GetStreamThroughput {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Set the outbound streaming cap in megabits per second (0 = unthrottled); running
    /// streams follow it at once. Lasts until the node restarts.
    #[command(name = "setstreamthroughput")]
    SetStreamThroughput {
        value_in_megabits: u64,
        #[command(flatten)]
        target: Target,
    },
    /// The node's log levels: ROOT and each logger (module path) with its own.
    #[command(name = "getlogginglevels")]
    GetLoggingLevels {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Set a logger's level (TRACE, DEBUG, INFO, WARN, ERROR, OFF): a module path such as
    /// `ilion_server::cluster`, or ROOT. With no arguments: back to the start-up levels.
    #[command(name = "setlogginglevel")]
    SetLoggingLevel {
        logger: Option<String>,
        level: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Hard-link every file of the keyspaces' tables into `<data_dir>/snapshots/TAG/`, with
    /// each table's schema.cql, as `nodetool snapshot`.
    Snapshot {
        /// The snapshot's name.
        #[arg(short = 't', long = "tag")]
        tag: String,
        /// Only this table (of the one keyspace given).
        #[arg(long = "table", visible_alias = "column-family", short = 'c')]
        table: Option<String>,
        /// Keyspaces (default: every keyspace with tables).
        keyspaces: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Every snapshot with its tables and sizes, as `nodetool listsnapshots`.
    #[command(name = "listsnapshots")]
    ListSnapshots {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove a snapshot (`-t TAG`) or all (`--all`), as `nodetool clearsnapshot`.
    #[command(name = "clearsnapshot")]
    ClearSnapshot {
        #[arg(short = 't', long = "tag")]
        tag: Option<String>,
        #[arg(long)]
        all: bool,
        /// Only these keyspaces' part.
        keyspaces: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Add the table files of directories on the node (a snapshot's table directory, from
    /// this node or another) to a table, as `nodetool import`: the restore of a snapshot.
    Import {
        keyspace: String,
        table: String,
        /// Directories holding the files (`tbl-*.sst`).
        #[arg(required = true)]
        dirs: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

/// The runtime an operator command runs on (one thread: it waits on one node), or the exit
/// code after saying why there is none.
pub fn command_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("ilion: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Runs `command` against its node and prints the answer.
pub fn run_operator_command(command: OperatorCommand) -> ExitCode {
    let runtime = match command_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(run(command))
}

fn secs(t: &Target) -> Duration {
    Duration::from_secs(t.timeout.max(1))
}

/// Prints `text` (or `json`) for an answer, or the reason there is none (exit 1).
fn show<T>(
    name: &str,
    answer: Result<T, AdminClientError>,
    format: Format,
    text: impl FnOnce(&T) -> String,
    json: impl FnOnce(&T) -> serde_json::Value,
) -> ExitCode {
    match answer {
        Ok(a) => {
            match format {
                Format::Text => print!("{}", text(&a)),
                Format::Json => println!("{}", json(&a)),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ilion {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A command that prints nothing when it succeeds (as nodetool's).
fn done<T>(name: &str, answer: Result<T, AdminClientError>) -> ExitCode {
    show(
        name,
        answer,
        Format::Text,
        |_| String::new(),
        |_| serde_json::Value::Null,
    )
}

async fn run(command: OperatorCommand) -> ExitCode {
    use OperatorCommand as C;
    match command {
        C::Version { target, format } => show(
            "version",
            operate(&target.host, secs(&target), |mut c| async move {
                c.version(VersionRequest {}).await
            })
            .await,
            format,
            |v| format!("ReleaseVersion: {}\n", v.release_version),
            |v| serde_json::json!({"releaseVersion": v.release_version, "ilionVersion": v.ilion_version}),
        ),
        C::Flush { tables, target } => {
            let request = TablesRequest::from(tables);
            done(
                "flush",
                operate(&target.host, secs(&target), |mut c| async move {
                    c.flush(request).await
                })
                .await,
            )
        }
        C::Compact { tables, target } => {
            let request = TablesRequest::from(tables);
            done(
                "compact",
                operate(&target.host, secs(&target), |mut c| async move {
                    c.compact(request).await
                })
                .await,
            )
        }
        C::GarbageCollect { tables, target } => {
            let request = TablesRequest::from(tables);
            done(
                "garbagecollect",
                operate(&target.host, secs(&target), |mut c| async move {
                    c.garbage_collect(request).await
                })
                .await,
            )
        }
        C::TableStats {
            name,
            target,
            format,
        } => {
            let name = name.unwrap_or_default();
            let (keyspace, tables) = match name.split_once('.') {
                Some((k, t)) => (k.to_owned(), vec![t.to_owned()]),
                None => (name, Vec::new()),
            };
            show(
                "tablestats",
                operate(&target.host, secs(&target), |mut c| async move {
                    c.table_stats(TablesRequest { keyspace, tables }).await
                })
                .await,
                format,
                text::table_stats,
                text::table_stats_json,
            )
        }
        C::CompactionStats { target, format } => show(
            "compactionstats",
            operate(&target.host, secs(&target), |mut c| async move {
                c.compaction_stats(CompactionStatsRequest {}).await
            })
            .await,
            format,
            text::compaction_stats,
            text::compaction_stats_json,
        ),
        C::GetCompactionThroughput { target, format } => show(
            "getcompactionthroughput",
            operate(&target.host, secs(&target), |mut c| async move {
                c.get_compaction_throughput(ThroughputRequest {}).await
            })
            .await,
            format,
            |t| format!("Current compaction throughput: {} MiB/s\n", t.value),
            |t| serde_json::json!({"compactionThroughputMiBPerSecond": t.value}),
        ),
        C::SetCompactionThroughput {
            value_in_mib,
            target,
        } => done(
            "setcompactionthroughput",
            operate(&target.host, secs(&target), |mut c| async move {
                c.set_compaction_throughput(Throughput {
                    value: value_in_mib,
                })
                .await
            })
            .await,
        ),
        C::GetStreamThroughput { target, format } => show(
            "getstreamthroughput",
            operate(&target.host, secs(&target), |mut c| async move {
                c.get_stream_throughput(ThroughputRequest {}).await
            })
            .await,
            format,
            |t| match t.value {
                0 => "Current stream throughput: unlimited\n".to_owned(),
                v => format!("Current stream throughput: {v} Mb/s\n"),
            },
            |t| serde_json::json!({"streamThroughputMegabitsPerSecond": t.value}),
        ),
        C::SetStreamThroughput {
            value_in_megabits,
            target,
        } => done(
            "setstreamthroughput",
            operate(&target.host, secs(&target), |mut c| async move {
                c.set_stream_throughput(Throughput {
                    value: value_in_megabits,
                })
                .await
            })
            .await,
        ),
        C::GetLoggingLevels { target, format } => show(
            "getlogginglevels",
            operate(&target.host, secs(&target), |mut c| async move {
                c.get_logging_levels(LoggingLevelsRequest {}).await
            })
            .await,
            format,
            |l| text::logging_levels(&l.levels),
            |l| serde_json::json!(l.levels),
        ),
        C::SetLoggingLevel {
            logger,
            level,
            target,
        } => {
            if logger.is_some() && level.is_none() {
                eprintln!("ilion setlogginglevel: give a level after the logger, or neither");
                return ExitCode::FAILURE;
            }
            let request = SetLoggingLevelRequest {
                logger: logger.unwrap_or_default(),
                level: level.unwrap_or_default(),
            };
            done(
                "setlogginglevel",
                operate(&target.host, secs(&target), |mut c| async move {
                    c.set_logging_level(request).await
                })
                .await,
            )
        }
        C::Snapshot {
            tag,
            table,
            keyspaces,
            target,
        } => {
            let which = if keyspaces.is_empty() {
                "all keyspaces".to_owned()
            } else {
                keyspaces.join(", ")
            };
            println!(
                "Requested creating snapshot(s) for [{which}] with snapshot name [{tag}] and options {{skipFlush=false}}"
            );
            let request = SnapshotRequest {
                tag: tag.clone(),
                keyspaces,
                table: table.unwrap_or_default(),
            };
            show(
                "snapshot",
                operate(&target.host, secs(&target), |mut c| async move {
                    c.snapshot(request).await
                })
                .await,
                Format::Text,
                |_| format!("Snapshot directory: {tag}\n"),
                |_| serde_json::Value::Null,
            )
        }
        C::ListSnapshots { target, format } => show(
            "listsnapshots",
            operate(&target.host, secs(&target), |mut c| async move {
                c.list_snapshots(ListSnapshotsRequest {}).await
            })
            .await,
            format,
            text::snapshots,
            text::snapshots_json,
        ),
        C::ClearSnapshot {
            tag,
            all,
            keyspaces,
            target,
        } => {
            let which = if keyspaces.is_empty() {
                "all keyspaces".to_owned()
            } else {
                keyspaces.join(", ")
            };
            let request = ClearSnapshotRequest {
                tag: tag.clone().unwrap_or_default(),
                all,
                keyspaces,
            };
            let answer = operate(&target.host, secs(&target), |mut c| async move {
                c.clear_snapshot(request).await
            })
            .await;
            show(
                "clearsnapshot",
                answer,
                Format::Text,
                |_| match &tag {
                    Some(t) => format!(
                        "Requested clearing snapshot(s) for [{which}] with snapshot name [{t}]\n"
                    ),
                    None => format!("Requested clearing snapshot(s) for [{which}]\n"),
                },
                |_| serde_json::Value::Null,
            )
        }
        C::Import {
            keyspace,
            table,
            dirs,
            target,
        } => show(
            "import",
            operate(&target.host, secs(&target), |mut c| async move {
                c.import(ImportRequest {
                    keyspace,
                    table,
                    dirs,
                })
                .await
            })
            .await,
            Format::Text,
            |i| format!("imported {} files ({} entries)\n", i.files, i.entries),
            |_| serde_json::Value::Null,
        ),
    }
}
