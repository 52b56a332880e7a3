//! Repair (`ilion repair`): anti-entropy between the replicas of this node's ranges.
//!
//! For each table and each token range this node replicates (or only its primary ranges,
//! `-pr`; only the replicas of its data center, `--in-local-dc`; only inside
//! `--start-token`/`--end-token`):
//!
//! 1. Every replica, this node included, builds the Merkle tree of what it stores in the range
//!    (`Streaming.Validate`, [`ilion_coordinator::repair::merkle`]): a digest per partition over
//!    its cells, tombstones and TTLs, so equal data gives equal trees whatever the files.
//! 2. The trees are compared top-down; runs of adjacent leaves where they differ are the ranges
//!    to sync.
//! 3. For each such range, each replica pulls it (rows only, `Streaming.Fetch`) from one
//!    replica of every other version seen there, so data flows in both directions. Applying a
//!    stream is applying writes: every cell reconciles by timestamp, so afterwards every
//!    replica holds the newest version of everything any of them held.
//!
//! A repair is incremental unless `-full` is given, as `nodetool repair` since Cassandra 4.0:
//! before step 1 every replica says which parts of the range it wrote since their last repair
//! (`Streaming.Unrepaired`, [`ilion_storage::WriteTimes`]), and only the union of those parts
//! is validated; a part nobody wrote is still as in sync as its last repair left it. A full
//! repair validates the whole range.
//!
//! A replica that is down fails the ranges it replicates, with Cassandra's message; the other
//! ranges are still repaired and the command exits non-zero naming the failures. Keyspaces with
//! a single replica are skipped (Cassandra's "Replication factor is 1" notice).

mod continuous;
mod format;
mod plan;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::Membership;
use ilion_coordinator::repair::{MerkleTree, differences};
use tonic::transport::Channel;

use super::movement::Node;
use super::progress::{Operation, Operations, Tracker};
use super::proto::streaming_client::StreamingClient;
use super::proto::{
    DeliverHintsRequest, FetchRequest, MarkRepairedRequest, RepairRequest, RepairResponse,
    RepairedRange, UnrepairedRequest, ValidateRequest,
};
pub(crate) use continuous::Continuous;
pub use format::format_repair_status;
use plan::{Job, plan};
pub use stats::RepairStats;

/// Why a repair could not run, or did not repair everything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepairError {
    /// Cassandra's words.
    #[error("Keyspace [{0}] does not exist.")]
    UnknownKeyspace(String),
    /// Cassandra's words.
    #[error("Unknown keyspace/cf pair ({keyspace}.{table})")]
    UnknownTable { keyspace: String, table: String },
    #[error("a repair is already running on this node (waited a minute for it)")]
    AlreadyRunning,
    #[error("this node owns no token yet: it replicates no range to repair")]
    NoTokens,
    #[error("cannot place {keyspace}'s replicas: {reason}")]
    Placement { keyspace: String, reason: String },
    #[error("{failed} of {total} ranges failed to repair (the others were repaired): {first}")]
    Failed {
        failed: u64,
        total: u64,
        first: String,
    },
}

impl RepairError {
    /// Whether the repair was refused before it started (as opposed to failing part way).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, RepairError::Failed { .. })
    }
}

/// Runs repairs on this node.
#[derive(Debug, Clone)]
pub(crate) struct Repairs {
    pub node: Node,
    pub operations: Arc<Operations>,
    pub stats: Arc<RepairStats>,
}

/// gRPC channels to the replicas of one repair, opened once each.
#[derive(Default)]
struct Channels {
    open: HashMap<SocketAddr, Channel>,
}

impl Channels {
    async fn get(&mut self, peer: SocketAddr) -> Result<StreamingClient<Channel>, String> {
        if let Some(c) = self.open.get(&peer) {
            return Ok(StreamingClient::new(c.clone()).max_decoding_message_size(usize::MAX));
        }
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{peer}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(10));
        let channel = crate::tls::internode::connect(&endpoint)
            .await
            .map_err(|e| format!("cannot reach {peer}: {e}"))?;
        self.open.insert(peer, channel.clone());
        Ok(StreamingClient::new(channel).max_decoding_message_size(usize::MAX))
    }
}

/// How long `ilion repair` waits for the range continuous repair is doing (or another repair)
/// before it is refused: `SLOT_WAIT_TRIES` waits of `SLOT_WAIT`.
const SLOT_WAIT: Duration = Duration::from_millis(250);
const SLOT_WAIT_TRIES: u32 = 240;

/// Seconds since the epoch now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Repairs {
    /// Repairs what `request` names; answers what was done, or why it was refused or which
    /// ranges failed.
    pub async fn run(&self, request: RepairRequest) -> Result<RepairResponse, RepairError> {
        // Continuous repair holds the slot for one range at a time: wait for it a little.
        let mut tracker = self.operations.try_start(Operation::Repair);
        for _ in 0..SLOT_WAIT_TRIES {
            if tracker.is_some() {
                break;
            }
            tokio::time::sleep(SLOT_WAIT).await;
            tracker = self.operations.try_start(Operation::Repair);
        }
        let tracker = tracker.ok_or(RepairError::AlreadyRunning)?;
        let planned = plan(&self.node, &request)?;
        let mut done = RepairResponse {
            keyspaces: planned.keyspaces,
            tables: planned.tables,
            skipped: planned.skipped.clone(),
            ..RepairResponse::default()
        };
        for ks in &planned.skipped {
            tracing::info!("Replication factor is 1. No repair is needed for keyspace '{ks}'");
        }
        self.record_single(&planned.single, i64::MAX).await;
        let failures = self
            .execute(&planned.jobs, request.full, &tracker, &mut done)
            .await;
        if let Some(first) = failures.first() {
            return Err(RepairError::Failed {
                failed: failures.len() as u64,
                total: planned.jobs.len() as u64,
                first: first.clone(),
            });
        }
        Ok(done)
    }

    /// Records the ranges whose only replica is this node as repaired now (nothing to compare:
    /// they are in sync), those last recorded before `older_than` (`i64::MAX`: all), so
    /// repair-aware tombstone purging goes on in them.
    pub(super) async fn record_single(&self, single: &[plan::SingleRange], older_than: i64) {
        let mut by_table: BTreeMap<(String, String), Vec<ilion_coordinator::repair::Range>> =
            BTreeMap::new();
        let store = self.node.coordinator.store();
        for (keyspace, table, range) in single {
            let last = store
                .table(keyspace, table)
                .ok()
                .and_then(|t| t.oldest_repair_in(range.0, range.1).ok())
                .flatten();
            if last.is_none_or(|at| at < older_than) {
                by_table
                    .entry((keyspace.clone(), table.clone()))
                    .or_default()
                    .push(*range);
            }
        }
        if by_table.is_empty() {
            return;
        }
        let coordinator = self.node.coordinator.clone();
        let now = unix_now();
        let recorded = tokio::task::spawn_blocking(move || {
            for ((keyspace, table), ranges) in by_table {
                coordinator.record_repair(&keyspace, &table, &ranges, now, Some(now))?;
            }
            Ok::<(), ilion_coordinator::Error>(())
        })
        .await;
        match recorded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not record single-replica ranges as repaired")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record single-replica ranges as repaired")
            }
        }
    }

    /// Repairs `jobs` one after another, counting into `done`, then records the repaired
    /// ranges on their replicas; answers the failures (one line per failed range).
    async fn execute(
        &self,
        jobs: &[Job],
        full: bool,
        tracker: &Tracker,
        done: &mut RepairResponse,
    ) -> Vec<String> {
        // What replicas record as the repair's time: its start, so that every write made
        // before it (and propagated since) is covered.
        let started_at = unix_now();
        tracker.planned(
            jobs.len() as u64,
            "validating each range on its replicas and syncing the differences",
        );
        let local = self.node.view.local().address;
        let mut channels = Channels::default();
        // Hints first: a write older than this repair that a coordinator still holds for a
        // replica reaches it now, not after the repair (and after a tombstone purge).
        tracker.phase("delivering the hints every live node holds");
        for m in self.node.view.members().into_iter().filter(|m| m.alive) {
            let endpoint = self.node.view.storage_endpoint(m.address);
            let delivered = match channels.get(endpoint).await {
                Ok(mut c) => c
                    .deliver_hints(DeliverHintsRequest {})
                    .await
                    .map(|r| r.into_inner().delivered)
                    .map_err(|s| s.message().to_owned()),
                Err(e) => Err(e),
            };
            match delivered {
                Ok(0) => {}
                Ok(n) => tracing::info!(%endpoint, hints = n, "repair: hints delivered first"),
                Err(reason) => {
                    tracing::warn!(%endpoint, %reason, "repair: could not deliver a node's hints");
                }
            }
        }
        tracker.phase("validating each range on its replicas and syncing the differences");
        let mut failures = Vec::new();
        // Per replica and table, the ranges repaired and the replica's clock when the repair
        // first asked it about them: each replica records them at the end.
        let mut repaired: BTreeMap<(SocketAddr, String, String), (Vec<RepairedRange>, i64)> =
            BTreeMap::new();
        for job in jobs {
            match self
                .repair_range(job, full, local, &mut channels, tracker, done)
                .await
            {
                Ok(asked) => {
                    self.stats.repaired(&job.keyspace, &job.table);
                    for (r, asked) in job.replicas.iter().zip(asked) {
                        let (ranges, first_asked) = repaired
                            .entry((r.endpoint, job.keyspace.clone(), job.table.clone()))
                            .or_insert((Vec::new(), asked));
                        ranges.push(RepairedRange {
                            start: job.range.0,
                            end: job.range.1,
                        });
                        *first_asked = (*first_asked).min(asked);
                    }
                }
                Err(reason) => {
                    tracing::warn!(keyspace = %job.keyspace, table = %job.table,
                        range = %job.describe_range(), %reason, "repair of a range failed");
                    self.stats.failed();
                    failures.push(format!(
                        "{}.{} range {}: {reason}",
                        job.keyspace,
                        job.table,
                        job.describe_range()
                    ));
                }
            }
            tracker.advance();
        }
        tracker.phase("recording the repaired ranges on their replicas");
        for ((endpoint, keyspace, table), (ranges, asked)) in repaired {
            let marked = match channels.get(endpoint).await {
                Ok(mut c) => c
                    .mark_repaired(MarkRepairedRequest {
                        keyspace: keyspace.clone(),
                        table: table.clone(),
                        ranges,
                        repaired_at: started_at,
                        asked: Some(asked),
                    })
                    .await
                    .map(|_| ())
                    .map_err(|s| s.message().to_owned()),
                Err(e) => Err(e),
            };
            // Not recorded: that replica purges those tombstones at its next repair instead;
            // nothing is lost.
            if let Err(reason) = marked {
                tracing::warn!(%endpoint, %keyspace, %table, %reason,
                    "could not record the repaired ranges on a replica");
            }
        }
        failures
    }

    /// Validates one table's range on its replicas (all of it when `full`, else the parts some
    /// replica wrote since their last repair) and syncs where they differ. Answers each
    /// replica's clock when it was first asked (what it records the repair by).
    async fn repair_range(
        &self,
        job: &Job,
        full: bool,
        local: IpAddr,
        channels: &mut Channels,
        tracker: &Tracker,
        done: &mut RepairResponse,
    ) -> Result<Vec<i64>, String> {
        if let Some(down) = job.replicas.iter().find(|r| !r.alive) {
            return Err(format!(
                "Cannot proceed on repair because a neighbor (/{}) is dead: session failed",
                down.endpoint
            ));
        }
        let (written, asked) = unrepaired_parts(job, channels).await?;
        let parts = if full { vec![job.range] } else { written };
        done.ranges += 1;
        if parts.is_empty() {
            done.ranges_unwritten += 1;
            done.ranges_in_sync += 1;
            return Ok(asked);
        }
        let mut in_sync = true;
        for part in parts {
            in_sync &= self
                .sync_part(job, part, local, channels, tracker, done)
                .await?;
        }
        if in_sync {
            done.ranges_in_sync += 1;
        }
        Ok(asked)
    }

    /// Validates `part` of a job's range on every replica and syncs the runs where their
    /// trees differ; answers whether they already agreed.
    async fn sync_part(
        &self,
        job: &Job,
        part: (Option<i64>, Option<i64>),
        local: IpAddr,
        channels: &mut Channels,
        tracker: &Tracker,
        done: &mut RepairResponse,
    ) -> Result<bool, String> {
        // 1. Validation on every replica at once.
        let mut clients = Vec::with_capacity(job.replicas.len());
        for r in &job.replicas {
            clients.push(channels.get(r.endpoint).await?);
        }
        let asks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                let request = ValidateRequest {
                    from: local.to_string(),
                    keyspace: job.keyspace.clone(),
                    table: job.table.clone(),
                    start: part.0,
                    end: part.1,
                };
                tokio::spawn(async move { c.validate(request).await })
            })
            .collect();
        let mut trees = Vec::with_capacity(job.replicas.len());
        for (ask, r) in asks.into_iter().zip(&job.replicas) {
            let v = ask
                .await
                .map_err(|e| format!("validation on {} failed: {e}", r.endpoint))?
                .map_err(|s| format!("validation on {} failed: {}", r.endpoint, s.message()))?
                .into_inner();
            let depth = u8::try_from(v.depth).unwrap_or(u8::MAX);
            let tree = MerkleTree::from_leaves(part, depth, &v.leaves, v.partitions)
                .map_err(|e| format!("validation from {}: {e}", r.endpoint))?;
            done.partitions_validated += v.partitions;
            done.bytes_validated += v.bytes_read;
            trees.push(tree);
        }
        self.stats.validated();
        // 2. Where the trees differ.
        let diffs = differences(&trees).map_err(|e| e.to_string())?;
        if diffs.is_empty() {
            return Ok(true);
        }
        let leaves: u64 = diffs.iter().map(|d| d.leaves as u64).sum();
        done.mismatches += diffs.len() as u64;
        done.mismatching_leaves += leaves;
        self.stats.mismatched(leaves);
        tracing::info!(keyspace = %job.keyspace, table = %job.table,
            range = %job.describe_range(), runs = diffs.len(), leaves,
            "replicas differ: syncing the mismatching leaves");
        // 3. Each replica pulls every other version of each mismatching run.
        for d in &diffs {
            for (i, j) in d.pulls() {
                let (Some(target), Some(source)) = (job.replicas.get(i), job.replicas.get(j))
                else {
                    continue;
                };
                let mut client = channels.get(target.endpoint).await?;
                let got = client
                    .fetch(FetchRequest {
                        source: source.endpoint.to_string(),
                        keyspace: job.keyspace.clone(),
                        table: job.table.clone(),
                        start: d.range.0,
                        end: d.range.1,
                        rows_only: true,
                    })
                    .await
                    .map_err(|s| {
                        format!(
                            "{} could not stream from {}: {}",
                            target.endpoint,
                            source.endpoint,
                            s.message()
                        )
                    })?
                    .into_inner();
                done.streams += 1;
                done.partitions_streamed += got.partitions;
                done.bytes_streamed += got.bytes;
                tracker.streamed(got.bytes);
                self.stats.streamed(got.partitions, got.bytes);
            }
        }
        Ok(false)
    }
}

/// The union of the parts of a job's range that some replica wrote since their last repair
/// (asked of every replica at once), and each replica's clock when it answered.
async fn unrepaired_parts(
    job: &Job,
    channels: &mut Channels,
) -> Result<(Vec<(Option<i64>, Option<i64>)>, Vec<i64>), String> {
    let mut asks = Vec::with_capacity(job.replicas.len());
    for r in &job.replicas {
        let mut c = channels.get(r.endpoint).await?;
        let request = UnrepairedRequest {
            keyspace: job.keyspace.clone(),
            table: job.table.clone(),
            start: job.range.0,
            end: job.range.1,
        };
        asks.push(tokio::spawn(async move { c.unrepaired(request).await }));
    }
    let mut parts = Vec::new();
    let mut clocks = Vec::with_capacity(job.replicas.len());
    for (ask, r) in asks.into_iter().zip(&job.replicas) {
        let answer = ask
            .await
            .map_err(|e| format!("asking {} what it wrote failed: {e}", r.endpoint))?
            .map_err(|s| {
                format!(
                    "asking {} what it wrote failed: {}",
                    r.endpoint,
                    s.message()
                )
            })?
            .into_inner();
        parts.extend(answer.ranges.into_iter().map(|p| (p.start, p.end)));
        clocks.push(answer.now);
    }
    Ok((ilion_coordinator::repair::ranges::union(parts), clocks))
}
