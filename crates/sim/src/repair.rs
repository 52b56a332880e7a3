//! Repair in the simulation: deletes, compactions and Merkle-tree repairs interleaved with the
//! other operations and faults, played with the coordinators' own validation
//! ([`ilion_coordinator::Coordinator::merkle_tree`]), comparison, pull plan
//! ([`ilion_coordinator::repair::Difference::pulls`]) and streaming pages, as `ilion repair`
//! plays them over gRPC.
//!
//! A repair here covers the whole ring and needs every node up and reachable from the node
//! running it (the scenario's replication factor equals its node count, so every node
//! replicates everything); otherwise it fails, as a real repair with a dead neighbour does.
//! Like the real one it first delivers every node's hints, is incremental (only the union of
//! the parts some node wrote since a repair last found them in sync is validated,
//! [`ilion_coordinator::Coordinator::unrepaired_ranges`]), then records the repair on every
//! replica at its start time, which is what `tombstone_gc = {'mode': 'repair'}` purges by.

use ilion_coordinator::repair::differences;
use ilion_storage::Clock;

use crate::{Sim, SimError};

/// Partitions per streamed page.
const PAGE: u32 = 16;

impl Sim {
    /// Repairs table `sim.kv` from node `node`: `Ok(false)` when a node is down or cut off
    /// from it (nothing was repaired).
    pub fn repair(&mut self, node: usize) -> Result<bool, SimError> {
        let n = self.config.nodes;
        if self.config.replication_factor != n {
            return Err(self.violation(format!(
                "a simulated repair needs every node to replicate everything (RF {} on {n} nodes)",
                self.config.replication_factor
            )));
        }
        let reachable = {
            let s = self.net.state.lock();
            (0..n).all(|i| i == node || s.reachable(node, i))
        };
        let nodes: Vec<_> = (0..n).filter_map(|i| self.node(i)).collect();
        if !reachable || nodes.len() != n {
            self.trace(format!("repair n{node} -> a replica is down or cut off"));
            return Ok(false);
        }
        // Hints first, as the real repair asks every live node.
        for (i, c) in nodes.iter().enumerate() {
            if let Some(r) = c.replication() {
                let delivered = r
                    .deliver_hints()
                    .map_err(|e| self.violation(format!("hint delivery on n{i}: {e}")))?;
                self.report.hints_delivered += delivered;
            }
        }
        let at = self
            .clocks
            .get(node)
            .map_or(crate::START_SECONDS, |c| c.now_seconds());
        let range = (None, None);
        let mut asked = Vec::with_capacity(n);
        let mut parts = Vec::new();
        for (i, c) in nodes.iter().enumerate() {
            let (written, now) = c
                .unrepaired_ranges("sim", "kv", range)
                .map_err(|e| self.violation(format!("write times on n{i}: {e}")))?;
            parts.extend(written);
            asked.push(now);
        }
        let parts = ilion_coordinator::repair::ranges::union(parts);
        let mut diffs = Vec::new();
        for part in &parts {
            let mut trees = Vec::with_capacity(n);
            for (i, c) in nodes.iter().enumerate() {
                let v = c
                    .merkle_tree("sim", "kv", *part)
                    .map_err(|e| self.violation(format!("validation on n{i}: {e}")))?;
                trees.push(v.tree);
            }
            diffs.extend(differences(&trees).map_err(|e| self.violation(e.to_string()))?);
        }
        let mut streamed = 0usize;
        for d in &diffs {
            for (target, source) in d.pulls() {
                let (Some(to), Some(from)) = (nodes.get(target), nodes.get(source)) else {
                    continue;
                };
                let mut resume: Option<Vec<u8>> = None;
                loop {
                    let page = from
                        .stream_page("sim", "kv", d.range, resume.as_deref(), PAGE, &[])
                        .map_err(|e| self.violation(format!("repair stream: {e}")))?;
                    streamed += to
                        .apply_stream_page(&page.payload)
                        .map_err(|e| self.violation(format!("repair apply: {e}")))?
                        as usize;
                    match page.next {
                        Some(next) => resume = Some(next),
                        None => break,
                    }
                }
            }
        }
        for (i, (c, asked)) in nodes.iter().zip(asked).enumerate() {
            c.record_repair("sim", "kv", &[range], at, Some(asked))
                .map_err(|e| self.violation(format!("recording the repair on n{i}: {e}")))?;
        }
        self.report.repaired_partitions += streamed;
        self.trace(format!(
            "repair n{node} at {at}: {} unrepaired parts, {} mismatching runs, {streamed} partitions streamed",
            parts.len(),
            diffs.len()
        ));
        Ok(true)
    }

    /// A major compaction of `sim.kv` on node `node` (if up): purges what its table's
    /// `tombstone_gc` rule allows.
    pub fn compact(&mut self, node: usize) -> Result<(), SimError> {
        let Some(c) = self.node(node) else {
            return Ok(());
        };
        let compacted = c.store().table("sim", "kv").and_then(|t| t.compact());
        if let Err(e) = compacted {
            return Err(self.violation(format!("compaction on n{node}: {e}")));
        }
        self.trace(format!("compact n{node}"));
        Ok(())
    }

    /// Whether every node holds exactly the same `sim.kv` (equal Merkle trees).
    pub fn replicas_agree(&self) -> Result<bool, SimError> {
        let mut roots = Vec::new();
        for i in 0..self.config.nodes {
            let Some(c) = self.node(i) else {
                return Ok(false);
            };
            let v = c
                .merkle_tree("sim", "kv", (None, None))
                .map_err(|e| self.violation(format!("validation on n{i}: {e}")))?;
            roots.push(v.tree.root());
        }
        Ok(roots.windows(2).all(|w| w[0] == w[1]))
    }
}
