//! Continuous repair: every node repairs, table by table, each range it is the first replica
//! of, at least once per `gc_grace_seconds / 2` (and at most once per
//! `continuous_repair_min_interval_seconds`), so no operator has to remember to, and a delete
//! is repaired long before its tombstone may be purged.
//!
//! - Only a range's first replica repairs it, so each range has one repairer in the cluster,
//!   and the repairs of one node run one range at a time (sharing the `repair` slot with
//!   `ilion repair`: they never run together on a node).
//! - A range is due `period` after its oldest last repair (the history its replicas record,
//!   [`ilion_storage::RepairHistory`]); one never repaired is due `period` after this node
//!   first saw it, so a new cluster does not start by repairing everything.
//! - Paused while a node joins or leaves (the ranges are moving); a range with a replica down
//!   waits until it is back; a range that failed waits a minute before it is tried again.
//! - Paced: after each range the scheduler waits as long as its bytes (read by the
//!   validations, and streamed) take at `repair_throughput_mb_per_sec`.
//! - A range whose only replica is this node (a keyspace at RF 1) has nothing to compare: it
//!   is recorded as repaired once per `continuous_repair_min_interval_seconds`, so
//!   repair-aware tombstone purging goes on there too.

use std::collections::HashMap;
use std::time::Duration;

use ilion_coordinator::{MemberStatus, Membership};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::plan::{Job, SingleRange, plan};
use super::{Repairs, unix_now};
use crate::cluster::progress::Operation;
use crate::cluster::proto::{
    RepairRequest, RepairResponse, RepairStatusResponse, TableRepairStatus,
};

/// How often the scheduler looks for due ranges.
const TICK: Duration = Duration::from_secs(2);

/// How long a range that failed waits before it is tried again, at most (and at most its
/// period).
const RETRY_SECONDS: i64 = 60;

/// A range's place in the schedule.
type Key = (String, String, Option<i64>, Option<i64>);

fn key(job: &Job) -> Key {
    (
        job.keyspace.clone(),
        job.table.clone(),
        job.range.0,
        job.range.1,
    )
}

/// One range of a table with when it is due.
#[derive(Debug)]
struct Scheduled {
    job: Job,
    /// Its oldest last repair, if every part of it was ever repaired.
    last: Option<i64>,
    period: i64,
    due_at: i64,
}

/// The continuous repair scheduler of a node.
#[derive(Debug)]
pub(crate) struct Continuous {
    pub repairs: Repairs,
    pub enabled: bool,
    /// `continuous_repair_min_interval_seconds`.
    pub min_interval: i64,
    /// `repair_throughput_mb_per_sec` in bytes per second; 0 unthrottled.
    pub budget: u64,
    /// When this node first saw each range (a range never repaired is due a period later).
    first_seen: Mutex<HashMap<Key, i64>>,
    /// Ranges that failed, and when they may be tried again.
    retry_at: Mutex<HashMap<Key, i64>>,
}

impl Continuous {
    pub fn new(repairs: Repairs, enabled: bool, min_interval: u64, budget_mb: u32) -> Continuous {
        Continuous {
            repairs,
            enabled,
            min_interval: i64::try_from(min_interval).unwrap_or(i64::MAX),
            budget: u64::from(budget_mb) * 1024 * 1024,
            first_seen: Mutex::new(HashMap::new()),
            retry_at: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a node joins, leaves or is being removed: ranges are moving.
    fn movement_running(&self) -> bool {
        self.repairs
            .node
            .view
            .members()
            .iter()
            .any(|m| matches!(m.status, MemberStatus::Joining | MemberStatus::Leaving))
    }

    /// Every range this node is the first replica of, per table, with when it is due; and
    /// the ranges it is the only replica of.
    fn schedule(&self) -> (Vec<Scheduled>, Vec<SingleRange>) {
        let request = RepairRequest {
            primary_range: true,
            ..RepairRequest::default()
        };
        let Ok(planned) = plan(&self.repairs.node, &request) else {
            return (Vec::new(), Vec::new());
        };
        let single = planned.single;
        let Ok(keyspaces) = self.repairs.node.coordinator.movable_keyspaces() else {
            return (Vec::new(), single);
        };
        let store = self.repairs.node.coordinator.store();
        let now = unix_now();
        let mut first_seen = self.first_seen.lock();
        let mut out = Vec::with_capacity(planned.jobs.len());
        for job in planned.jobs {
            let Some(gc) = keyspaces
                .iter()
                .find(|k| k.name == job.keyspace)
                .and_then(|k| k.tables.get(&job.table))
                .map(|t| i64::from(t.params.gc_grace_seconds))
            else {
                continue;
            };
            let period = (gc / 2).max(self.min_interval);
            let last = store
                .table(&job.keyspace, &job.table)
                .ok()
                .and_then(|t| t.oldest_repair_in(job.range.0, job.range.1).ok())
                .flatten();
            let seen = *first_seen.entry(key(&job)).or_insert(now);
            let due_at = last.unwrap_or(seen).saturating_add(period);
            out.push(Scheduled {
                job,
                last,
                period,
                due_at,
            });
        }
        (out, single)
    }

    /// Runs the scheduler until `stop` turns true.
    pub async fn run(self: std::sync::Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            if self.movement_running() {
                continue;
            }
            let now = unix_now();
            let (scheduled, single) = self.schedule();
            self.repairs
                .record_single(&single, now.saturating_sub(self.min_interval))
                .await;
            let mut due: Vec<Scheduled> = scheduled
                .into_iter()
                .filter(|s| s.due_at <= now)
                .filter(|s| s.job.replicas.iter().all(|r| r.alive))
                .filter(|s| {
                    self.retry_at
                        .lock()
                        .get(&key(&s.job))
                        .is_none_or(|at| *at <= now)
                })
                .collect();
            due.sort_by_key(|s| s.due_at);
            for s in due {
                if *stop.borrow() || self.movement_running() {
                    break;
                }
                // `ilion repair` runs: it repairs these ranges too; look again later.
                let Some(tracker) = self.repairs.operations.try_start(Operation::Repair) else {
                    break;
                };
                let mut done = RepairResponse::default();
                let failures = self
                    .repairs
                    .execute(std::slice::from_ref(&s.job), false, &tracker, &mut done)
                    .await;
                drop(tracker);
                if failures.is_empty() {
                    self.retry_at.lock().remove(&key(&s.job));
                    tracing::info!(keyspace = %s.job.keyspace, table = %s.job.table,
                        range = %s.job.describe_range(), streamed = done.bytes_streamed,
                        "continuous repair: range repaired");
                } else {
                    let at = unix_now().saturating_add(RETRY_SECONDS.min(s.period));
                    self.retry_at.lock().insert(key(&s.job), at);
                }
                let bytes = done.bytes_validated + done.bytes_streamed;
                if self.budget > 0 && bytes > 0 {
                    let pause = Duration::from_secs_f64(bytes as f64 / self.budget as f64);
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    /// Per table: its ranges here, how many are due, the oldest last repair and the next due
    /// time (`ilion repair status`).
    pub fn status(&self) -> RepairStatusResponse {
        let now = unix_now();
        let mut tables: Vec<TableRepairStatus> = Vec::new();
        for s in self.schedule().0 {
            let i = match tables
                .iter()
                .position(|t| t.keyspace == s.job.keyspace && t.table == s.job.table)
            {
                Some(i) => i,
                None => {
                    tables.push(TableRepairStatus {
                        keyspace: s.job.keyspace.clone(),
                        table: s.job.table.clone(),
                        period_seconds: s.period,
                        next_due: i64::MAX,
                        oldest_repair: i64::MAX,
                        ..TableRepairStatus::default()
                    });
                    tables.len() - 1
                }
            };
            let t = &mut tables[i];
            t.ranges += 1;
            if s.due_at <= now {
                t.ranges_due += 1;
            }
            match s.last {
                Some(at) => t.oldest_repair = t.oldest_repair.min(at),
                None => t.never_repaired += 1,
            }
            t.next_due = t.next_due.min(s.due_at);
        }
        for t in &mut tables {
            if t.oldest_repair == i64::MAX {
                t.oldest_repair = 0;
            }
        }
        RepairStatusResponse {
            continuous_enabled: self.enabled,
            now,
            tables,
        }
    }
}
