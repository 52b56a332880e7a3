//! The seam between the table store and an ordered key-value engine.
//!
//! The store writes every entry as a merge operand and relies on the engine to combine operands
//! with [`merge_records`] (reconciliation), and to run [`crate::purge::PurgeFilter`] over entries
//! while it compacts. [`MemKv`] is the in-memory engine the unit tests and the model test use;
//! [`crate::lsm_kv`] adapts ilion-lsm.

use std::collections::BTreeMap;
use std::ops::Bound as RangeBound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::cell::Record;
use crate::error::Result;
use crate::purge::{Decision, PurgeFilter};
use crate::schema::TableSchema;

/// An ordered key-value engine with merge semantics.
pub(crate) trait Kv: Send + Sync + std::fmt::Debug {
    /// Applies the merge operands atomically.
    fn merge_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) -> Result<()>;
    /// At most `max` entries with keys in `[start, end)` (`end` None = no upper limit), in key
    /// order, or descending when `reverse`; values fully merged.
    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// [`Kv::scan`] forward over every source except the engine files `exclude` names (an
    /// engine without files has nothing to leave out).
    fn scan_without_files(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        max: usize,
        exclude: &[u64],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let _ = exclude;
        self.scan(start, end, false, max)
    }
    /// Writes in-memory data to files.
    fn flush(&self) -> Result<()>;
    /// Compacts everything into the bottom level, running the purge filter.
    fn compact(&self) -> Result<()>;
    /// Runs the compactions the engine would run in the background now (each runs the purge
    /// filter), on this thread.
    fn compact_pending(&self) -> Result<()>;
    /// Deletes every entry (a dropped or truncated incarnation of a table).
    fn clear(&self) -> Result<()>;
    /// Deletes every entry with a key in `[start, end)` (`end` None = no upper limit): the
    /// partitions of token ranges this node no longer owns (cleanup).
    fn delete_range(&self, start: &[u8], end: Option<&[u8]>) -> Result<()>;
    /// Applies a changed schema: its purge filter and its engine options (compaction strategy,
    /// compression).
    fn reconfigure(&self, schema: &TableSchema, filter: Arc<PurgeFilter>) -> Result<()>;
    /// The engine and tree behind this table, when it is an ilion-lsm tree (so writes to
    /// several tables can go in one engine batch).
    fn lsm(&self) -> Option<(&Arc<ilion_lsm::Db>, &ilion_lsm::Tree)> {
        None
    }
}

/// Reconciles an existing value with merge operands (cell.rs): the greatest record wins, and
/// counter cells merge their shards. A winner taken whole keeps its bytes; a merge of counters
/// is encoded anew. Bytes that do not decode as a record are kept only when nothing decodes, so
/// a read reports the corruption instead of a silent loss.
pub(crate) fn merge_records(existing: Option<&[u8]>, operands: &[&[u8]]) -> Vec<u8> {
    // The winner so far, its bytes, and whether it is a merge (its bytes are then stale).
    let mut best: Option<(Record, &[u8], bool)> = None;
    let mut undecodable = None;
    for bytes in existing.into_iter().chain(operands.iter().copied()) {
        match Record::decode(bytes) {
            Some(r) => {
                best = match best {
                    Some((b, bb, _)) if b.is_counter() && r.is_counter() => {
                        Some((b.reconcile(r), bb, true))
                    }
                    Some((b, _, _)) if r.beats(&b) => Some((r, bytes, false)),
                    Some(kept) => Some(kept),
                    None => Some((r, bytes, false)),
                }
            }
            None => {
                tracing::error!(len = bytes.len(), "undecodable storage record in merge");
                undecodable = Some(bytes);
            }
        }
    }
    match (best, undecodable) {
        (Some((r, _, true)), _) => r.encode(),
        (Some((_, bytes, false)), _) => bytes.to_vec(),
        (None, Some(bytes)) => bytes.to_vec(),
        (None, None) => Vec::new(),
    }
}

/// A `BTreeMap` engine: merges on write, compaction = one pass of the purge filter over
/// everything (nothing lies outside it). Flush is a no-op.
#[derive(Debug)]
pub(crate) struct MemKv {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    filter: Mutex<Arc<PurgeFilter>>,
    compactions: AtomicU64,
}

impl MemKv {
    pub(crate) fn new(filter: Arc<PurgeFilter>) -> MemKv {
        MemKv {
            map: Mutex::new(BTreeMap::new()),
            filter: Mutex::new(filter),
            compactions: AtomicU64::new(0),
        }
    }
}

impl Kv for MemKv {
    fn merge_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut map = self.map.lock();
        for (k, v) in batch {
            let merged = merge_records(map.get(k).map(Vec::as_slice), &[v.as_slice()]);
            map.insert(k.clone(), merged);
        }
        Ok(())
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let map = self.map.lock();
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        let upper = end.map_or(RangeBound::Unbounded, RangeBound::Excluded);
        let range = map.range::<[u8], _>((RangeBound::Included(start), upper));
        let clone = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if reverse {
            range.rev().take(max).map(clone).collect()
        } else {
            range.take(max).map(clone).collect()
        })
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn compact(&self) -> Result<()> {
        let mut map = self.map.lock();
        let old = std::mem::take(&mut *map);
        let filter = self.filter.lock().clone();
        let job = self.compactions.fetch_add(1, Ordering::Relaxed) + 1;
        for (k, v) in old {
            match filter.decide(job, &k, &v, &mut |_, _| i64::MAX) {
                Decision::Keep => {
                    map.insert(k, v);
                }
                Decision::Change(nv) => {
                    map.insert(k, nv);
                }
                Decision::Remove => {}
            }
        }
        Ok(())
    }

    /// Nothing is ever pending: there are no files.
    fn compact_pending(&self) -> Result<()> {
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        self.map.lock().clear();
        Ok(())
    }

    fn delete_range(&self, start: &[u8], end: Option<&[u8]>) -> Result<()> {
        self.map
            .lock()
            .retain(|k, _| k.as_slice() < start || end.is_some_and(|e| k.as_slice() >= e));
        Ok(())
    }

    fn reconfigure(&self, _schema: &TableSchema, filter: Arc<PurgeFilter>) -> Result<()> {
        *self.filter.lock() = filter;
        Ok(())
    }
}
