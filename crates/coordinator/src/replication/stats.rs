//! Counters of the distributed data path since the node started, for operators (the server
//! exposes them as Prometheus metrics). Plain relaxed atomics: each is exact on its own, a
//! snapshot of several is not one instant.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters, owned by this node's replica state.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hints_stored: AtomicU64,
    pub(crate) hints_delivered: AtomicU64,
    pub(crate) hints_dropped: AtomicU64,
    pub(crate) batchlog_replays: AtomicU64,
    pub(crate) read_repairs: AtomicU64,
    pub(crate) speculative_retries: AtomicU64,
    pub(crate) unavailables: AtomicU64,
    pub(crate) read_timeouts: AtomicU64,
    pub(crate) write_timeouts: AtomicU64,
    pub(crate) replica_requests: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A snapshot of [`Replication::stats`](super::Replication::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    /// Hints written for replicas that were down or did not answer.
    pub hints_stored: u64,
    /// Hints a returning replica acknowledged (then deleted).
    pub hints_delivered: u64,
    /// Hints that could not be stored (the write to that replica is lost to repair).
    pub hints_dropped: u64,
    /// Hints waiting for their target now (those past the hint window have expired).
    pub hints_pending: u64,
    /// Batchlog entries replayed because their coordinator did not finish them.
    pub batchlog_replays: u64,
    /// Replicas sent a read repair (one per stale replica per read).
    pub read_repairs: u64,
    /// Extra read requests sent because the first replicas were slow.
    pub speculative_retries: u64,
    /// Requests refused as Unavailable.
    pub unavailables: u64,
    /// Reads that failed with ReadTimeout.
    pub read_timeouts: u64,
    /// Writes that failed with WriteTimeout.
    pub write_timeouts: u64,
    /// Messages this node answered as a replica for another node's coordinator.
    pub replica_requests: u64,
}

impl ReplicationStats {
    /// `(metric name, help, value)` of every counter, Prometheus style (`_total` counters and
    /// the `ilion_hints_pending` gauge).
    pub fn metrics(&self) -> [(&'static str, &'static str, u64); 11] {
        [
            (
                "ilion_hints_stored_total",
                "Hints stored for unreachable replicas",
                self.hints_stored,
            ),
            (
                "ilion_hints_delivered_total",
                "Hints delivered to returning replicas",
                self.hints_delivered,
            ),
            (
                "ilion_hints_dropped_total",
                "Hints that could not be stored",
                self.hints_dropped,
            ),
            (
                "ilion_hints_pending",
                "Hints waiting for their target",
                self.hints_pending,
            ),
            (
                "ilion_batchlog_replays_total",
                "Batchlog entries replayed",
                self.batchlog_replays,
            ),
            (
                "ilion_read_repairs_total",
                "Replicas repaired by reads",
                self.read_repairs,
            ),
            (
                "ilion_speculative_retries_total",
                "Speculative read requests",
                self.speculative_retries,
            ),
            (
                "ilion_unavailables_total",
                "Requests refused as Unavailable",
                self.unavailables,
            ),
            (
                "ilion_read_timeouts_total",
                "Reads that timed out",
                self.read_timeouts,
            ),
            (
                "ilion_write_timeouts_total",
                "Writes that timed out",
                self.write_timeouts,
            ),
            (
                "ilion_replica_requests_total",
                "Messages answered as a replica for other coordinators",
                self.replica_requests,
            ),
        ]
    }
}
