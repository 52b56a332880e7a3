//! The `Operations` gRPC service: what `ilion version`, `flush`, `compact`,
//! `garbagecollect`, `tablestats`, `compactionstats`, `snapshot`, `listsnapshots`,
//! `clearsnapshot`, `import`, `get/setcompactionthroughput`, `get/setstreamthroughput`,
//! `getlogginglevels` and `setlogginglevel` ask a node. Work on tables runs on the blocking
//! pool: a flush or a compaction writes files.

use std::path::PathBuf;
use std::sync::Arc;

use ilion_coordinator::Coordinator;
use ilion_coordinator::schema::is_system_keyspace;
use ilion_coordinator::snapshots::SnapshotError;
use tonic::{Request, Response, Status};

use crate::cluster::proto::operations_server::Operations;
use crate::cluster::proto::{
    ClearSnapshotRequest, ClearSnapshotResponse, CompactionStatsRequest, CompactionStatsResponse,
    ImportRequest, ImportResponse, ListSnapshotsRequest, ListSnapshotsResponse, LoggingLevels,
    LoggingLevelsRequest, SetLoggingLevelRequest, SnapshotEntry, SnapshotRequest, SnapshotResponse,
    TableStats, TableStatsResponse, TablesRequest, TablesResponse, Throughput, ThroughputRequest,
    VersionRequest, VersionResponse,
};
use crate::cluster::streaming::Throttle;

/// The `Operations` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct OperationsService {
    pub coordinator: Arc<Coordinator>,
    pub compaction_throttle: Arc<ilion_lsm::Throttle>,
    pub stream_throttle: Arc<Throttle>,
    /// The Cassandra release the node reports.
    pub release_version: String,
}

const MIB: u64 = 1 << 20;

/// The tables a request names: `keyspace` (empty: every user keyspace) and `tables` (empty:
/// all of the keyspace's), as `keyspace.table` with their handles. Unknown names are refused
/// with nodetool's words.
fn selected(
    coordinator: &Coordinator,
    keyspace: &str,
    tables: &[String],
) -> Result<Vec<(String, ilion_storage::Table)>, Status> {
    let schema = coordinator.schema();
    let mut names: Vec<(String, String)> = Vec::new();
    if keyspace.is_empty() {
        if !tables.is_empty() {
            return Err(Status::invalid_argument("tables given without a keyspace"));
        }
        for ks in schema.keyspaces.values() {
            if !is_system_keyspace(&ks.name) {
                names.extend(ks.tables.keys().map(|t| (ks.name.clone(), t.clone())));
            }
        }
    } else {
        let ks = schema
            .keyspaces
            .get(keyspace)
            .ok_or_else(|| Status::not_found(format!("Keyspace [{keyspace}] does not exist.")))?;
        if tables.is_empty() {
            names.extend(ks.tables.keys().map(|t| (ks.name.clone(), t.clone())));
        }
        for t in tables {
            if !ks.tables.contains_key(t) {
                return Err(Status::not_found(format!(
                    "Table {t} does not exist in keyspace {keyspace}"
                )));
            }
            names.push((ks.name.clone(), t.clone()));
        }
    }
    let store = coordinator.store();
    names
        .into_iter()
        .map(|(ks, t)| {
            let table = store
                .table(&ks, &t)
                .map_err(|e| Status::internal(e.to_string()))?;
            Ok((format!("{ks}.{t}"), table))
        })
        .collect()
}

/// Runs `work` on each selected table on the blocking pool; answers the tables done.
async fn each_table(
    coordinator: &Arc<Coordinator>,
    request: TablesRequest,
    what: &'static str,
    work: fn(&ilion_storage::Table) -> ilion_storage::Result<()>,
) -> Result<Response<TablesResponse>, Status> {
    let tables = selected(coordinator, &request.keyspace, &request.tables)?;
    let done = tokio::task::spawn_blocking(move || {
        let mut done = Vec::with_capacity(tables.len());
        for (name, table) in tables {
            work(&table).map_err(|e| Status::internal(format!("{what} of {name} failed: {e}")))?;
            tracing::debug!(table = %name, "{what} done");
            done.push(name);
        }
        Ok::<_, Status>(done)
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))??;
    Ok(Response::new(TablesResponse { tables: done }))
}

fn snapshot_status(e: SnapshotError) -> Status {
    match e {
        SnapshotError::NoTag | SnapshotError::BadTag(_) => Status::invalid_argument(e.to_string()),
        SnapshotError::Exists(_) => Status::already_exists(e.to_string()),
        SnapshotError::UnknownKeyspace(_) | SnapshotError::UnknownTable { .. } => {
            Status::not_found(e.to_string())
        }
        other => Status::internal(other.to_string()),
    }
}

fn levels_response(levels: crate::logging::Levels) -> Response<LoggingLevels> {
    Response::new(LoggingLevels {
        levels: levels.into_iter().collect(),
    })
}

#[tonic::async_trait]
impl Operations for OperationsService {
    async fn version(
        &self,
        _request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            release_version: self.release_version.clone(),
            ilion_version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn flush(
        &self,
        request: Request<TablesRequest>,
    ) -> Result<Response<TablesResponse>, Status> {
        each_table(&self.coordinator, request.into_inner(), "flush", |t| {
            t.flush()
        })
        .await
    }

    async fn compact(
        &self,
        request: Request<TablesRequest>,
    ) -> Result<Response<TablesResponse>, Status> {
        each_table(&self.coordinator, request.into_inner(), "compaction", |t| {
            t.compact()
        })
        .await
    }

    /// Every compaction of this engine drops what is overwritten or deleted (merge operands
    /// fold, shadowed cells go, tombstones past gc_grace_seconds are purged); rewriting all of
    /// a table's files in one major compaction is how its garbage goes at once.
    async fn garbage_collect(
        &self,
        request: Request<TablesRequest>,
    ) -> Result<Response<TablesResponse>, Status> {
        each_table(
            &self.coordinator,
            request.into_inner(),
            "garbage collection",
            |t| t.compact(),
        )
        .await
    }

    async fn table_stats(
        &self,
        request: Request<TablesRequest>,
    ) -> Result<Response<TableStatsResponse>, Status> {
        let r = request.into_inner();
        let tables = selected(&self.coordinator, &r.keyspace, &r.tables)?;
        let stats = tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(tables.len());
            for (name, table) in tables {
                let fail = |e: ilion_storage::Error| Status::internal(format!("{name}: {e}"));
                let engine = table.engine_stats().map_err(fail)?;
                let counts = table.statistics().map_err(fail)?;
                let (keyspace, t) = name.split_once('.').unwrap_or((&name, ""));
                let levels: Vec<u64> = engine
                    .as_ref()
                    .map(|e| e.levels.iter().map(|l| l.files as u64).collect())
                    .unwrap_or_default();
                out.push(TableStats {
                    keyspace: keyspace.to_owned(),
                    table: t.to_owned(),
                    sstable_count: levels.iter().sum(),
                    sstables_in_each_level: levels,
                    space_used_live: engine
                        .as_ref()
                        .map_or(0, |e| e.levels.iter().map(|l| l.bytes).sum()),
                    memtable_data_size: engine.as_ref().map_or(0, |e| e.memtable_bytes),
                    partitions: counts.partitions,
                    rows: counts.live_rows,
                    tombstones: counts.tombstones,
                    local_read_count: table.latencies().reads.snapshot().count,
                    local_write_count: table.latencies().writes.snapshot().count,
                });
            }
            Ok::<_, Status>(out)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(TableStatsResponse { tables: stats }))
    }

    async fn compaction_stats(
        &self,
        _request: Request<CompactionStatsRequest>,
    ) -> Result<Response<CompactionStatsResponse>, Status> {
        let t = &self.compaction_throttle;
        Ok(Response::new(CompactionStatsResponse {
            throughput_bytes_per_sec: t.rate(),
            bytes_compacted: t.bytes(),
            throttled_ms: u64::try_from(t.throttled().as_millis()).unwrap_or(u64::MAX),
        }))
    }

    async fn get_compaction_throughput(
        &self,
        _request: Request<ThroughputRequest>,
    ) -> Result<Response<Throughput>, Status> {
        Ok(Response::new(Throughput {
            value: self.compaction_throttle.rate() / MIB,
        }))
    }

    async fn set_compaction_throughput(
        &self,
        request: Request<Throughput>,
    ) -> Result<Response<Throughput>, Status> {
        let mib = request.into_inner().value;
        let bytes = mib
            .checked_mul(MIB)
            .ok_or_else(|| Status::invalid_argument(format!("{mib} MiB/s is too large")))?;
        self.compaction_throttle.set_rate(bytes);
        tracing::info!(mib_per_second = mib, "compaction throughput set");
        Ok(Response::new(Throughput { value: mib }))
    }

    async fn get_stream_throughput(
        &self,
        _request: Request<ThroughputRequest>,
    ) -> Result<Response<Throughput>, Status> {
        Ok(Response::new(Throughput {
            value: u64::from(self.stream_throttle.rate_megabits()),
        }))
    }

    async fn set_stream_throughput(
        &self,
        request: Request<Throughput>,
    ) -> Result<Response<Throughput>, Status> {
        let value = request.into_inner().value;
        let megabits = u32::try_from(value).map_err(|_| {
            Status::invalid_argument(format!("{value} megabits per second is too large"))
        })?;
        self.stream_throttle.set_megabits(megabits);
        tracing::info!(megabits_per_second = megabits, "stream throughput set");
        Ok(Response::new(Throughput { value }))
    }

    async fn get_logging_levels(
        &self,
        _request: Request<LoggingLevelsRequest>,
    ) -> Result<Response<LoggingLevels>, Status> {
        crate::logging::levels()
            .map(levels_response)
            .map_err(|e| Status::failed_precondition(e.to_string()))
    }

    async fn set_logging_level(
        &self,
        request: Request<SetLoggingLevelRequest>,
    ) -> Result<Response<LoggingLevels>, Status> {
        let r = request.into_inner();
        crate::logging::set_level(&r.logger, &r.level)
            .map(levels_response)
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }

    async fn snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        let r = request.into_inner();
        if !r.table.is_empty() && r.keyspaces.len() != 1 {
            return Err(Status::invalid_argument(
                "When specifying the table for a snapshot, you must specify one and only one keyspace",
            ));
        }
        let coordinator = self.coordinator.clone();
        let taken = tokio::task::spawn_blocking(move || {
            let table = Some(r.table.as_str()).filter(|t| !t.is_empty());
            coordinator
                .snapshots()
                .take(coordinator.store(), &r.tag, &r.keyspaces, table)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(snapshot_status)?;
        tracing::info!(dir = %taken.dir.display(), tables = taken.tables, "snapshot taken");
        Ok(Response::new(SnapshotResponse {
            dir: taken.dir.display().to_string(),
            tables: taken.tables as u64,
            files: taken.files as u64,
        }))
    }

    async fn list_snapshots(
        &self,
        _request: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let list = self
            .coordinator
            .snapshots()
            .list()
            .map_err(snapshot_status)?;
        Ok(Response::new(ListSnapshotsResponse {
            snapshots: list
                .into_iter()
                .map(|s| SnapshotEntry {
                    tag: s.tag,
                    keyspace: s.keyspace,
                    table: s.table,
                    size_on_disk: s.size_on_disk,
                    true_size: s.true_size,
                    created_at: s.created_at,
                })
                .collect(),
        }))
    }

    async fn clear_snapshot(
        &self,
        request: Request<ClearSnapshotRequest>,
    ) -> Result<Response<ClearSnapshotResponse>, Status> {
        let r = request.into_inner();
        // nodetool's rule: a tag, or --all, not both and not neither.
        let tag = match (r.tag.is_empty(), r.all) {
            (false, false) => Some(r.tag.as_str()),
            (true, true) => None,
            (false, true) => {
                return Err(Status::invalid_argument(
                    "Specify only one of snapshot name or all snapshots",
                ));
            }
            (true, false) => {
                return Err(Status::invalid_argument(
                    "Specify snapshot name or --all to clear all snapshots",
                ));
            }
        };
        let cleared = self
            .coordinator
            .snapshots()
            .clear(tag, &r.keyspaces)
            .map_err(snapshot_status)?;
        Ok(Response::new(ClearSnapshotResponse { cleared }))
    }

    async fn import(
        &self,
        request: Request<ImportRequest>,
    ) -> Result<Response<ImportResponse>, Status> {
        let r = request.into_inner();
        if r.dirs.is_empty() {
            return Err(Status::invalid_argument("no directory to import from"));
        }
        let coordinator = self.coordinator.clone();
        let (files, entries) = tokio::task::spawn_blocking(move || {
            let dirs: Vec<PathBuf> = r.dirs.iter().map(PathBuf::from).collect();
            coordinator
                .snapshots()
                .import(coordinator.store(), &r.keyspace, &r.table, &dirs)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(snapshot_status)?;
        Ok(Response::new(ImportResponse {
            files: files as u64,
            entries,
        }))
    }
}
