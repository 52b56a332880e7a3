//! The handle of one table, and the incarnation (view) it points at under one schema.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::kv::Kv;
use crate::mutation::Mutation;
use crate::read::{ReadCommand, ReadResult, TableStats, TombstoneThresholds};
use crate::schema::TableSchema;

/// A handle to one table; cheap to clone. Every handle of a table follows its schema changes
/// and truncations; after [`Store::drop_table`] its operations fail with
/// [`Error::UnknownTable`].
#[derive(Debug, Clone)]
pub struct Table {
    pub(super) shared: Arc<RwLock<View>>,
    /// Local reads and writes of this table (every handle shares them).
    pub(super) latencies: Arc<super::TableLatencies>,
    /// When each part of the ring was last written here, for incremental repair.
    pub(super) written: Arc<crate::WriteTimes>,
}

impl Table {
    /// The current schema.
    pub fn schema(&self) -> Arc<TableSchema> {
        self.shared.read().inner.schema.clone()
    }

    /// The current incarnation; an error once the table is dropped.
    pub(super) fn view(&self) -> Result<View> {
        let v = self.shared.read().clone();
        if v.inner.dropped {
            return Err(Error::UnknownTable(v.inner.schema.qualified_name()));
        }
        Ok(v)
    }

    /// Applies a mutation atomically. Every entry is a merge operand, so applying the same
    /// mutations in any order, any number of times, gives the same table.
    pub fn apply(&self, m: &Mutation) -> Result<()> {
        let started = std::time::Instant::now();
        let view = self.view()?;
        self.written.note(m.token, view.inner.clock.now_seconds());
        let done = view.apply(m);
        self.latencies.writes.record(started.elapsed());
        done
    }

    /// The parts of `(start, end]` (never wrapping) written here since their last repair, or
    /// never repaired: what an incremental repair validates ([`crate::WriteTimes`]).
    pub fn unrepaired_in(
        &self,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<(Option<i64>, Option<i64>)>> {
        self.view()?;
        Ok(self.written.unrepaired_in(start, end))
    }

    /// A repair found `ranges` in sync on every replica, having first asked this node at
    /// `asked` (this node's clock, [`Table::now_seconds`]): incremental repairs skip them
    /// until they are written again. Kept in memory only.
    pub fn record_validated(
        &self,
        ranges: &[(Option<i64>, Option<i64>)],
        asked: i64,
    ) -> Result<()> {
        self.view()?;
        self.written.record_repair(ranges, asked);
        Ok(())
    }

    /// This node's clock (seconds since the epoch), as the table's writes are timed.
    pub fn now_seconds(&self) -> Result<i64> {
        Ok(self.view()?.inner.clock.now_seconds())
    }

    /// How often and how fast this table was read and written here since the node started.
    pub fn latencies(&self) -> &super::TableLatencies {
        &self.latencies
    }

    /// Writes in-memory data to files (a no-op in memory).
    pub fn flush(&self) -> Result<()> {
        self.view()?.flush()
    }

    /// Deletes every partition with a token in `(start, end]` (`None` = unbounded on that
    /// side; never wrapping): what `cleanup` drops of ranges this node no longer owns. The
    /// space comes back with the next compaction ([`Table::compact`]).
    pub fn delete_token_range(&self, start: Option<i64>, end: Option<i64>) -> Result<()> {
        let now = self.view()?.inner.clock.now_seconds();
        self.written.note_range(start, end, now);
        let Some((from, to)) = crate::key::token_range_keys(start, end) else {
            return Ok(());
        };
        self.view()?.inner.kv.delete_range(&from, to.as_deref())
    }

    /// Major compaction: everything into one sorted run, expiring TTLs and purging tombstones
    /// past `gc_grace_seconds` and the cells of dropped columns.
    pub fn compact(&self) -> Result<()> {
        self.view()?.inner.kv.compact()
    }

    /// Runs, on this thread, the compactions the table's strategy picks now (what background
    /// compaction does on its own; it keeps running too). They purge like any compaction:
    /// tombstones past `gc_grace_seconds` whose partition holds no older data outside them.
    /// For tests and tools that need compaction to have happened at a known point.
    pub fn compact_pending(&self) -> Result<()> {
        self.view()?.inner.kv.compact_pending()
    }

    /// Answers a read at the clock's current time.
    pub fn read(&self, cmd: &ReadCommand) -> Result<ReadResult> {
        let started = std::time::Instant::now();
        let result = self.view()?.read(cmd);
        self.latencies.reads.record(started.elapsed());
        result
    }

    /// What is stored in the extent `cmd` reads, deletions included, as mutations that
    /// reproduce it (see the `raw` module): for reconciling replicas and read repair. The
    /// limits count live rows, as [`Table::read`] does; no tombstone threshold applies.
    pub fn read_raw(&self, cmd: &ReadCommand) -> Result<Vec<Mutation>> {
        let v = self.view()?;
        let live = v.read_unchecked(cmd)?;
        crate::raw::read(
            &v.inner.schema,
            &*v.inner.kv,
            v.inner.clock.now_seconds(),
            cmd,
            &live,
        )
    }

    /// One page of everything stored for the partitions with a token in `(start, end]`
    /// (`None` = unbounded; a wrapping range is two calls), for streaming a token range:
    /// every partition whole, deletions, TTLs and tombstone-only partitions included, read
    /// with one scan of the store. `resume` is a previous page's position (opaque). Returns
    /// the page and the next page's position, `None` when the range is finished.
    pub fn stream_page(
        &self,
        start: Option<i64>,
        end: Option<i64>,
        resume: Option<&[u8]>,
        budget: crate::PageBudget,
    ) -> Result<(Vec<Mutation>, Option<Vec<u8>>)> {
        self.stream_page_without_files(start, end, resume, budget, &[])
    }

    /// [`Table::stream_page`] over what the table holds outside the files `exclude` names
    /// ([`ilion_lsm::LiveFile::id`], from [`Table::files_in_token_range`]): the rows left to
    /// stream once those files went whole. Every entry is a merge operand, so the files and
    /// these rows together reproduce the range.
    pub fn stream_page_without_files(
        &self,
        start: Option<i64>,
        end: Option<i64>,
        resume: Option<&[u8]>,
        budget: crate::PageBudget,
        exclude: &[u64],
    ) -> Result<(Vec<Mutation>, Option<Vec<u8>>)> {
        let v = self.view()?;
        let (mutations, next, _) = crate::raw::range_page(
            &v.inner.schema,
            &*v.inner.kv,
            v.inner.clock.now_seconds(),
            (start, end),
            resume,
            budget,
            exclude,
        )?;
        Ok((mutations, next))
    }

    /// One page of digests ([`crate::partition_digest`]) of the partitions with a token in
    /// `(start, end]`, in token order, with the stored bytes read, for repair's Merkle trees:
    /// what
    /// [`Table::stream_page`] would send of each partition, hashed, leaving out the tombstones
    /// compaction may already have purged (older than `gc_grace_seconds`).
    pub fn digest_page(
        &self,
        start: Option<i64>,
        end: Option<i64>,
        resume: Option<&[u8]>,
        budget: crate::PageBudget,
    ) -> Result<(Vec<crate::PartitionDigest>, Option<Vec<u8>>, usize)> {
        let v = self.view()?;
        let now = v.inner.clock.now_seconds();
        let (mutations, next, bytes) = crate::raw::range_page(
            &v.inner.schema,
            &*v.inner.kv,
            now,
            (start, end),
            resume,
            budget,
            &[],
        )?;
        let history = v.inner.repaired.read();
        let digests = mutations
            .iter()
            .map(|m| {
                let purge_before =
                    crate::purge::gc_before(v.inner.schema.options(), &history, m.token, now);
                crate::PartitionDigest {
                    token: m.token,
                    digest: crate::partition_digest(&v.inner.schema, m, now, purge_before),
                }
            })
            .collect();
        Ok((digests, next, bytes))
    }

    /// The oldest last repair over `(start, end]` (seconds since the epoch): `None` when some
    /// part of the range was never repaired.
    pub fn oldest_repair_in(&self, start: Option<i64>, end: Option<i64>) -> Result<Option<i64>> {
        Ok(self.view()?.inner.repaired.read().oldest_in(start, end))
    }

    /// The table's repair history.
    pub fn repair_history(&self) -> Result<crate::RepairHistory> {
        Ok(self.view()?.inner.repaired.read().clone())
    }

    /// When the range holding `token` was last repaired (seconds since the epoch), if ever.
    pub fn repaired_at(&self, token: i64) -> Result<Option<i64>> {
        Ok(self.view()?.inner.repaired.read().repaired_at(token))
    }

    /// Counts over the whole table at the clock's current time (a full scan).
    pub fn statistics(&self) -> Result<TableStats> {
        self.view()?.statistics()
    }
}

/// One table incarnation under one schema version.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub(super) inner: Arc<TableInner>,
}

#[derive(Debug)]
pub(super) struct TableInner {
    pub(super) schema: Arc<TableSchema>,
    pub(super) kv: Arc<dyn Kv>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) thresholds: TombstoneThresholds,
    /// Set on the last view of a dropped table.
    pub(super) dropped: bool,
    /// When each range was last repaired (shared with the purge filter).
    pub(super) repaired: Arc<RwLock<crate::RepairHistory>>,
}

impl View {
    pub(super) fn schema(&self) -> &TableSchema {
        &self.inner.schema
    }

    pub(super) fn corrupt(&self, reason: &'static str) -> Error {
        Error::Corruption {
            table: self.inner.schema.qualified_name(),
            reason,
        }
    }

    /// Applies a mutation atomically. Every entry is a merge operand, so applying the same
    /// mutations in any order, any number of times, gives the same table.
    fn apply(&self, m: &Mutation) -> Result<()> {
        let batch = self.encode_mutation(m)?;
        self.inner.kv.merge_batch(&batch)
    }

    /// Writes in-memory data to files (a no-op in memory).
    fn flush(&self) -> Result<()> {
        self.inner.kv.flush()
    }
}
