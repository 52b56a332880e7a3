//! What repairs did on this node, for the Prometheus exposition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Counters of the repairs this node coordinated.
#[derive(Debug, Default)]
pub struct RepairStats {
    ranges_validated: AtomicU64,
    ranges_mismatched: AtomicU64,
    ranges_failed: AtomicU64,
    mismatching_leaves: AtomicU64,
    partitions_streamed: AtomicU64,
    bytes_streamed: AtomicU64,
    /// When each table (keyspace, table) last had a range repaired, seconds since the epoch.
    last_repaired: Mutex<BTreeMap<(String, String), u64>>,
}

impl RepairStats {
    pub(crate) fn validated(&self) {
        self.ranges_validated.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn mismatched(&self, leaves: u64) {
        self.ranges_mismatched.fetch_add(1, Ordering::Relaxed);
        self.mismatching_leaves.fetch_add(leaves, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.ranges_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn streamed(&self, partitions: u64, bytes: u64) {
        self.partitions_streamed
            .fetch_add(partitions, Ordering::Relaxed);
        self.bytes_streamed.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A range of `keyspace.table` was repaired just now.
    pub(crate) fn repaired(&self, keyspace: &str, table: &str) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_repaired
            .lock()
            .insert((keyspace.to_owned(), table.to_owned()), now);
    }

    /// The Prometheus exposition of these counters.
    pub(crate) fn render(&self, out: &mut String) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "ilion_repair_ranges_validated_total",
                "Table ranges whose replicas' Merkle trees this node compared",
                get(&self.ranges_validated),
            ),
            (
                "ilion_repair_ranges_mismatched_total",
                "Table ranges where the replicas' trees differed and were synced",
                get(&self.ranges_mismatched),
            ),
            (
                "ilion_repair_ranges_failed_total",
                "Table ranges a repair could not complete (a replica down or unreachable)",
                get(&self.ranges_failed),
            ),
            (
                "ilion_repair_mismatching_leaves_total",
                "Merkle tree leaves that differed between replicas",
                get(&self.mismatching_leaves),
            ),
            (
                "ilion_repair_partitions_streamed_total",
                "Partitions streamed between replicas by repairs",
                get(&self.partitions_streamed),
            ),
            (
                "ilion_repair_bytes_streamed_total",
                "Bytes streamed between replicas by repairs",
                get(&self.bytes_streamed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}.\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out.push_str(
            "# HELP ilion_repair_last_success_seconds When a range of the table was last \
             repaired by this node (seconds since the epoch).\n\
             # TYPE ilion_repair_last_success_seconds gauge\n",
        );
        for ((ks, table), at) in self.last_repaired.lock().iter() {
            let _ = writeln!(
                out,
                "ilion_repair_last_success_seconds{{keyspace=\"{ks}\",table=\"{table}\"}} {at}"
            );
        }
    }
}
