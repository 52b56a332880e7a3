//! The [`Kv`] seam on ilion-lsm: one tree per table in one shared database.
//!
//! Why a tree per table: the engine's per-tree options are exactly the per-table options
//! (compaction strategy, compression), a table can be flushed, compacted, dropped or streamed
//! on its own, and compaction of one table never rewrites another's files. All trees share the
//! one commit log, so a node still has a single sequential write stream.

use std::collections::HashMap;
use std::ops::Bound as RangeBound;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::kv::{Kv, merge_records};
use crate::purge::{Decision, PurgeFilter};
use crate::schema::{CompactionStrategy, Compression, TableSchema};
use crate::timestamps::{self, TimesCollector};

fn engine(e: ilion_lsm::Error) -> Error {
    Error::Engine(e)
}

/// The reconciliation rule as the engine's merge operator (the same for every table).
pub(crate) struct Reconcile;

impl ilion_lsm::MergeOperator for Reconcile {
    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Vec<u8> {
        merge_records(existing, operands)
    }

    /// Reconciliation picks the greatest record: associative, so operands combine without
    /// their base.
    fn partial_merge(&self, _key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        Some(merge_records(None, operands))
    }
}

/// Routes the engine's compaction filter calls to each table's purge filter by tree name.
#[derive(Default)]
pub(crate) struct Filters {
    by_tree: RwLock<HashMap<String, Arc<PurgeFilter>>>,
}

impl Filters {
    pub(crate) fn register(&self, tree: &str, filter: Arc<PurgeFilter>) {
        self.by_tree.write().insert(tree.to_owned(), filter);
    }

    pub(crate) fn unregister(&self, tree: &str) {
        self.by_tree.write().remove(tree);
    }
}

impl Filters {
    fn decide(
        &self,
        ctx: &ilion_lsm::FilterContext,
        key: &[u8],
        value: &[u8],
    ) -> ilion_lsm::Decision {
        let Some(f) = self.by_tree.read().get(&ctx.tree).cloned() else {
            return ilion_lsm::Decision::Keep;
        };
        let mut outside_min =
            |start: &[u8], end: &[u8]| timestamps::min_outside(&ctx.outside(start, end));
        match f.decide(ctx.job_id, key, value, &mut outside_min) {
            Decision::Keep => ilion_lsm::Decision::Keep,
            // Never an engine tombstone: older engine versions of the key may carry newer
            // timestamps (purge.rs).
            Decision::Remove => ilion_lsm::Decision::Drop,
            Decision::Change(v) => ilion_lsm::Decision::Change(v),
        }
    }
}

impl ilion_lsm::CompactionFilter for Filters {
    fn filter(
        &self,
        ctx: &ilion_lsm::FilterContext,
        key: &[u8],
        value: &[u8],
    ) -> ilion_lsm::Decision {
        self.decide(ctx, key, value)
    }

    fn purge_horizon(
        &self,
        tree: &str,
        start: &[u8],
        end: &[u8],
    ) -> Option<ilion_lsm::PurgeHorizon> {
        let f = self.by_tree.read().get(tree).cloned()?;
        f.purge_horizon(start, end)
    }

    /// Operands reach here already reconciled into one ([`Reconcile::partial_merge`]), so the
    /// rules are those of a value.
    fn filter_merge_operand(
        &self,
        ctx: &ilion_lsm::FilterContext,
        key: &[u8],
        operand: &[u8],
    ) -> ilion_lsm::Decision {
        self.decide(ctx, key, operand)
    }
}

/// The engine options of a table's tree.
pub(crate) fn tree_options(schema: &TableSchema, filters: &Arc<Filters>) -> ilion_lsm::TreeOptions {
    const MIB: u64 = 1 << 20;
    let o = schema.options();
    let compaction = match o.compaction {
        CompactionStrategy::SizeTiered {
            min_threshold,
            max_threshold,
        } => match ilion_lsm::CompactionConfig::size_tiered() {
            ilion_lsm::CompactionConfig::SizeTiered {
                bucket_low,
                bucket_high,
                min_sstable_size,
                ..
            } => ilion_lsm::CompactionConfig::SizeTiered {
                min_threshold,
                max_threshold,
                bucket_low,
                bucket_high,
                min_sstable_size,
            },
            other => other,
        },
        CompactionStrategy::Leveled { sstable_size_mb } => ilion_lsm::CompactionConfig::Leveled {
            l0_trigger: 4,
            level_size_multiplier: 10,
            // Cassandra's LCS: L1 holds ten files of sstable_size_in_mb.
            base_level_bytes: 10 * sstable_size_mb * MIB,
            target_file_size: sstable_size_mb * MIB,
        },
        CompactionStrategy::TimeWindow {
            window_seconds,
            timestamps_per_second,
            min_threshold,
            max_threshold,
        } => ilion_lsm::CompactionConfig::TimeWindow {
            window_micros: window_seconds.saturating_mul(1_000_000),
            timestamps_per_second,
            min_threshold,
            max_threshold,
        },
    };
    let compression = match o.compression {
        Compression::None => ilion_lsm::Compression::None,
        Compression::Zstd(level) => ilion_lsm::Compression::Zstd(level),
        Compression::Lz4 | Compression::Default => ilion_lsm::Compression::Lz4,
        Compression::Snappy => ilion_lsm::Compression::Snappy,
        Compression::Deflate => ilion_lsm::Compression::Deflate(6),
    };
    ilion_lsm::TreeOptions {
        compression,
        block_size: o
            .block_size
            .map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
        bloom_bits_per_key: o.bloom_bits_per_key,
        durable: o.durable_writes,
        flush_period: (o.memtable_flush_period_ms > 0)
            .then(|| Duration::from_millis(u64::from(o.memtable_flush_period_ms))),
        compaction,
        merge_operator: Some(Arc::new(Reconcile)),
        compaction_filter: Some(filters.clone()),
        properties_collector: Some(Arc::new(TimesCollector)),
        tombstones: ilion_lsm::TombstoneCompaction {
            threshold: o.tombstone_compaction.threshold,
            interval: Duration::from_secs(o.tombstone_compaction.interval_seconds),
            unchecked: o.tombstone_compaction.unchecked,
            expired_check_interval: Duration::from_secs(
                o.tombstone_compaction.expired_check_seconds,
            ),
        },
    }
}

/// A table's tree.
pub(crate) struct LsmKv {
    pub(crate) db: Arc<ilion_lsm::Db>,
    pub(crate) tree: ilion_lsm::Tree,
    pub(crate) filters: Arc<Filters>,
}

impl std::fmt::Debug for LsmKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmKv")
            .field("tree", &self.tree.name())
            .finish()
    }
}

impl Kv for LsmKv {
    fn merge_batch(&self, batch: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut b = ilion_lsm::WriteBatch::new();
        for (k, v) in batch {
            b.merge(&self.tree, k, v);
        }
        self.db.write(b).map_err(engine)
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        let upper = end.map_or(RangeBound::Unbounded, RangeBound::Excluded);
        let iter = self
            .tree
            .range::<&[u8], _>((RangeBound::Included(start), upper));
        let out: ilion_lsm::Result<Vec<_>> = if reverse {
            iter.rev().take(max).collect()
        } else {
            iter.take(max).collect()
        };
        out.map_err(engine)
    }

    fn scan_without_files(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        max: usize,
        exclude: &[u64],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        let upper = end.map_or(RangeBound::Unbounded, RangeBound::Excluded);
        self.tree
            .range_without_files::<&[u8], _>((RangeBound::Included(start), upper), exclude)
            .take(max)
            .collect::<ilion_lsm::Result<Vec<_>>>()
            .map_err(engine)
    }

    fn flush(&self) -> Result<()> {
        self.tree.flush().map_err(engine)
    }

    fn compact(&self) -> Result<()> {
        self.tree.compact_range(None, None).map_err(engine)
    }

    /// The engine has no way to drop a tree: one range deletion covers every key (from the
    /// empty key to just past the last one), then a full compaction of the tree drops the
    /// covered entries and their files. The (empty) tree itself stays in the engine's manifest.
    fn clear(&self) -> Result<()> {
        self.filters.unregister(self.tree.name());
        let last = self.tree.iter().next_back().transpose().map_err(engine)?;
        if let Some((mut k, _)) = last {
            k.push(0);
            self.tree.delete_range(&[], &k).map_err(engine)?;
            self.tree.compact_range(None, None).map_err(engine)?;
        }
        Ok(())
    }

    fn delete_range(&self, start: &[u8], end: Option<&[u8]>) -> Result<()> {
        let end = match end {
            Some(e) => e.to_vec(),
            None => {
                // Past the last key there is.
                let last = self.tree.iter().next_back().transpose().map_err(engine)?;
                match last {
                    Some((mut k, _)) => {
                        k.push(0);
                        k
                    }
                    None => return Ok(()),
                }
            }
        };
        if start < end.as_slice() {
            self.tree.delete_range(start, &end).map_err(engine)?;
        }
        Ok(())
    }

    fn compact_pending(&self) -> Result<()> {
        self.tree.compact_pending().map_err(engine)
    }

    fn reconfigure(&self, schema: &TableSchema, filter: Arc<PurgeFilter>) -> Result<()> {
        self.filters.register(self.tree.name(), filter);
        self.tree
            .set_options(tree_options(schema, &self.filters))
            .map_err(engine)
    }

    fn lsm(&self) -> Option<(&Arc<ilion_lsm::Db>, &ilion_lsm::Tree)> {
        Some((&self.db, &self.tree))
    }
}
