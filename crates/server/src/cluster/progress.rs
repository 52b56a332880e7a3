//! How far this node's long operations (decommission, removenode, cleanup, repair) have got,
//! for the `Admin.Progress` RPC that `ilion decommission`, `removenode`, `cleanup` and
//! `repair` poll to draw their progress. Each operation holds a [`Tracker`] while it runs and reports to it as it
//! goes; the record disappears when the tracker is dropped (finished or failed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::proto::ProgressResponse;

/// A long operation an operator runs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Decommission,
    RemoveNode,
    Cleanup,
    Repair,
}

impl Operation {
    /// The name the CLI and the RPC use.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Decommission => "decommission",
            Operation::RemoveNode => "removenode",
            Operation::Cleanup => "cleanup",
            Operation::Repair => "repair",
        }
    }

    /// The operation named `name`.
    pub fn parse(name: &str) -> Option<Operation> {
        [
            Operation::Decommission,
            Operation::RemoveNode,
            Operation::Cleanup,
            Operation::Repair,
        ]
        .into_iter()
        .find(|o| o.name() == name)
    }

    /// What its units of work are: token ranges streamed or repaired (per table), or tables
    /// cleaned.
    fn unit(self) -> &'static str {
        match self {
            Operation::Decommission | Operation::RemoveNode | Operation::Repair => "ranges",
            Operation::Cleanup => "tables",
        }
    }
}

#[derive(Debug)]
struct Running {
    started: Instant,
    phase: String,
    /// When the work was planned (`total` known): rates count from then.
    planned: Option<Instant>,
    done: u64,
    total: u64,
    bytes: u64,
}

/// The operations running on this node, at most one of each kind.
#[derive(Debug, Default)]
pub(crate) struct Operations {
    running: Mutex<BTreeMap<Operation, Running>>,
}

impl Operations {
    /// Starts recording `operation`; `None` when one of that kind already runs.
    pub fn try_start(self: &Arc<Self>, operation: Operation) -> Option<Tracker> {
        let mut running = self.running.lock();
        if running.contains_key(&operation) {
            return None;
        }
        running.insert(
            operation,
            Running {
                started: Instant::now(),
                phase: "starting".to_owned(),
                planned: None,
                done: 0,
                total: 0,
                bytes: 0,
            },
        );
        Some(Tracker {
            operations: self.clone(),
            operation,
        })
    }

    /// Whether `operation` runs now.
    pub fn is_running(&self, operation: Operation) -> bool {
        self.running.lock().contains_key(&operation)
    }

    /// How far `operation` has got (`running` false when it does not run).
    pub fn progress(&self, operation: Operation) -> ProgressResponse {
        let running = self.running.lock();
        let Some(r) = running.get(&operation) else {
            return ProgressResponse::default();
        };
        let ms = |since: Instant| u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
        ProgressResponse {
            running: true,
            phase: r.phase.clone(),
            done: r.done,
            total: r.total,
            unit: operation.unit().to_owned(),
            bytes: r.bytes,
            working_ms: r.planned.map_or(0, ms),
            elapsed_ms: ms(r.started),
        }
    }
}

/// The record of one running operation; dropping it ends the record.
#[derive(Debug)]
pub(crate) struct Tracker {
    operations: Arc<Operations>,
    operation: Operation,
}

impl Tracker {
    fn update(&self, f: impl FnOnce(&mut Running)) {
        if let Some(r) = self.operations.running.lock().get_mut(&self.operation) {
            f(r);
        }
    }

    /// What the operation does now, in a few words.
    pub fn phase(&self, phase: &str) {
        self.update(|r| phase.clone_into(&mut r.phase));
    }

    /// The work is planned: `total` units, starting now.
    pub fn planned(&self, total: u64, phase: &str) {
        self.update(|r| {
            r.total = total;
            r.planned = Some(Instant::now());
            phase.clone_into(&mut r.phase);
        });
    }

    /// `bytes` more were streamed.
    pub fn streamed(&self, bytes: u64) {
        self.update(|r| r.bytes += bytes);
    }

    /// One more unit is done.
    pub fn advance(&self) {
        self.update(|r| r.done += 1);
    }

    /// `done` units are done.
    pub fn done(&self, done: u64) {
        self.update(|r| r.done = done);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.operations.running.lock().remove(&self.operation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_is_tracked_once_until_its_tracker_is_dropped() {
        let ops = Arc::new(Operations::default());
        assert!(!ops.progress(Operation::Cleanup).running);
        let tracker = ops.try_start(Operation::Cleanup).unwrap();
        assert!(ops.try_start(Operation::Cleanup).is_none());
        assert!(ops.is_running(Operation::Cleanup));
        assert!(!ops.is_running(Operation::Decommission));
        tracker.planned(4, "cleaning");
        tracker.advance();
        tracker.streamed(10);
        tracker.streamed(5);
        let p = ops.progress(Operation::Cleanup);
        assert!(p.running);
        assert_eq!(
            (p.phase.as_str(), p.done, p.total, p.unit.as_str(), p.bytes),
            ("cleaning", 1, 4, "tables", 15)
        );
        drop(tracker);
        assert!(!ops.progress(Operation::Cleanup).running);
        assert!(ops.try_start(Operation::Cleanup).is_some());
    }

    #[test]
    fn operations_are_named_as_the_cli_names_them() {
        for op in [
            Operation::Decommission,
            Operation::RemoveNode,
            Operation::Cleanup,
            Operation::Repair,
        ] {
            assert_eq!(Operation::parse(op.name()), Some(op));
        }
        assert_eq!(Operation::parse("compact"), None);
    }
}
