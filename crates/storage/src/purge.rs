//! What compaction does to a table's entries: expired cells become tombstones, data shadowed by
//! a deletion disappears, and tombstones older than `gc_grace_seconds` are purged.
//!
//! Rules, applied by every compaction (background or major, bottommost or not):
//! - an expiring cell past its expiry is rewritten as `Expired` (no value, same place in the
//!   reconciliation order);
//! - an entry whose timestamp is `<=` a deletion covering it (partition, range, row or
//!   collection deletion seen earlier in the same partition in this compaction) is removed: it
//!   can never be read again, and removing it together with the deletion is what makes purging
//!   the deletion safe;
//! - a tombstone (or expired cell) whose local deletion time is older than
//!   `now - gc_grace_seconds` is removed when its timestamp is below the minimum timestamp of
//!   everything outside the compaction that overlaps its partition (the other files, from
//!   their user properties, and the memtables; see [`crate::timestamps`]). Writes arrive in any
//!   order, so a newer file may hold data with an older timestamp that the tombstone still
//!   shadows; the minimum timestamp says no such data exists. This is Cassandra's rule.
//!
//! A removal drops the entry without leaving an engine tombstone ([`ilion_lsm::Decision::Drop`]):
//! versions of the same key in files outside the compaction stay visible and are reconciled by
//! timestamp as before, which is right because each of them either wins over the removed one
//! anyway or is shadowed by the same deletion, which stays until it is purgeable too.
//!
//! The filter sees entries in key order, and the key layout puts every deletion before what it
//! covers (partition deletion, then range deletions, then statics, then per row: row deletion,
//! marker, cells; per collection: its deletion, then elements). Deletions seen are remembered
//! for the length of one compaction job and forgotten at the next: a deletion purged by an
//! earlier job must not remove data written after it was purged.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::cell::{Deletion, Record, State};
use crate::clock::Clock;
use crate::key;
use crate::repair_history::RepairHistory;
use crate::schema::{TableOptions, TableSchema, TombstoneGc};

/// Tombstones of partition `token` deleted before this time (seconds since the epoch) may be
/// purged at `now`: `gc_grace_seconds` ago ([`TombstoneGc::Timeout`]), or when the range holding
/// the partition was last repaired, less the propagation delay ([`TombstoneGc::Repair`]; never
/// when it was not repaired).
pub(crate) fn gc_before(
    options: &TableOptions,
    history: &RepairHistory,
    token: i64,
    now: i64,
) -> i64 {
    match options.tombstone_gc {
        TombstoneGc::Timeout => now.saturating_sub(i64::from(options.gc_grace_seconds)),
        TombstoneGc::Repair {
            propagation_delay_seconds,
        } => history.repaired_at(token).map_or(i64::MIN, |at| {
            at.saturating_sub(i64::from(propagation_delay_seconds))
                .min(now)
        }),
    }
}

/// The purge horizon of the partitions between the table keys `start` and `end`: the
/// earliest [`gc_before`] of any token in between (`None`: some of them may never purge, or a
/// key does not parse).
pub(crate) fn horizon(
    options: &TableOptions,
    history: &RepairHistory,
    start: &[u8],
    end: &[u8],
    now: i64,
) -> Option<i64> {
    match options.tombstone_gc {
        TombstoneGc::Timeout => Some(gc_before(options, history, 0, now)),
        TombstoneGc::Repair {
            propagation_delay_seconds,
        } => {
            let (lo, _, _) = key::parse_partition(start)?;
            let (hi, _, _) = key::parse_partition(end)?;
            // Ranges are (start, end]: the range holding `lo` starts just below it.
            let oldest = history.oldest_in(lo.checked_sub(1), Some(hi))?;
            Some(
                oldest
                    .saturating_sub(i64::from(propagation_delay_seconds))
                    .min(now),
            )
        }
    }
}

/// What to do with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Keep,
    Remove,
    Change(Vec<u8>),
}

#[derive(Debug, Default)]
struct Walk {
    /// The compaction job this walk belongs to.
    job: u64,
    partition: Vec<u8>,
    /// The minimum timestamp outside the compaction for this partition, once asked.
    outside_min: Option<i64>,
    partition_deletion: Option<Deletion>,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>, Deletion)>,
    row: Vec<u8>,
    /// The current row's own deletion (partition and range deletions are added per entry).
    row_deletion: Option<Deletion>,
    collection: Option<(u16, Deletion)>,
}

impl Walk {
    fn covering_ranges(&self, clustering: &[u8]) -> Option<Deletion> {
        let mut d = None;
        for (lo, hi, del) in &self.ranges {
            if lo.as_slice() <= clustering && hi.as_ref().is_none_or(|h| clustering < h.as_slice())
            {
                d = Deletion::max(d, Some(*del));
            }
        }
        d
    }
}

/// A deletion covering every version of a cell whose column id was retired by a column drop
/// (`cell` = the cell suffix, starting with the column id): such a key can never be read again.
fn retired(schema: &TableSchema, cell: &[u8]) -> Option<Deletion> {
    let (id, _) = cell.split_first_chunk::<2>()?;
    schema
        .is_dropped_id(u16::from_be_bytes(*id))
        .then_some(Deletion::new(i64::MAX, 0))
}

/// The cover of a column dropped and re-added under the same name: cells written at or before
/// the drop are dead.
fn dropped(schema: &TableSchema, name: &str) -> Option<Deletion> {
    schema.dropped_at(name).map(|ts| Deletion::new(ts, 0))
}

/// The table's compaction filter.
#[derive(Debug)]
pub(crate) struct PurgeFilter {
    schema: Arc<TableSchema>,
    clock: Arc<dyn Clock>,
    /// When each range was last repaired ([`TombstoneGc::Repair`]).
    repaired: Arc<RwLock<RepairHistory>>,
    /// Jobs of one table run one at a time (the engine's per-tree compaction lock), so one walk
    /// serves them all; a new job id resets it.
    walk: Mutex<Walk>,
}

impl PurgeFilter {
    pub(crate) fn new(
        schema: Arc<TableSchema>,
        clock: Arc<dyn Clock>,
        repaired: Arc<RwLock<RepairHistory>>,
    ) -> PurgeFilter {
        PurgeFilter {
            schema,
            clock,
            repaired,
            walk: Mutex::new(Walk::default()),
        }
    }

    /// The purge horizon of the table keys `[start, end]` now ([`horizon`]); the keys their
    /// deletions may hide are those of the partitions from `start`'s to `end`'s (a partition,
    /// range or row deletion hides keys after its own), as Cassandra judges overlap by
    /// partition.
    pub(crate) fn purge_horizon(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Option<ilion_lsm::PurgeHorizon> {
        let before = horizon(
            self.schema.options(),
            &self.repaired.read(),
            start,
            end,
            self.clock.now_seconds(),
        )?;
        let (_, _, first) = key::parse_partition(start)?;
        let (_, _, last) = key::parse_partition(end)?;
        let mut scope_end = end.get(..last)?.to_vec();
        scope_end.push(u8::MAX);
        Some(ilion_lsm::PurgeHorizon {
            before,
            scope_start: start.get(..first)?.to_vec(),
            scope_end,
        })
    }

    /// What compaction job `job` does with entry `k`: `outside_min(start, end)` gives the
    /// minimum timestamp of the data outside the job with keys in `[start, end]` (asked at most
    /// once per partition, only when a tombstone is old enough to purge).
    pub(crate) fn decide(
        &self,
        job: u64,
        k: &[u8],
        value: &[u8],
        outside_min: &mut dyn FnMut(&[u8], &[u8]) -> i64,
    ) -> Decision {
        let Some(record) = Record::decode(value) else {
            return Decision::Keep;
        };
        let Some((token, _, used)) = key::parse_partition(k) else {
            return Decision::Keep;
        };
        let (partition, rest) = k.split_at(used);
        let now = self.clock.now_seconds();
        let mut walk = self.walk.lock();
        if walk.job != job || walk.partition != partition {
            *walk = Walk {
                job,
                partition: partition.to_vec(),
                ..Walk::default()
            };
        }
        let own = record.as_deletion(now);
        let cover = match self.cover(&mut walk, rest, own) {
            Some(c) => c,
            None => return Decision::Keep,
        };
        if cover.is_some_and(|d| record.timestamp <= d.timestamp) {
            return Decision::Remove;
        }
        if let Some(d) = own
            && d.local_deletion_time
                < gc_before(self.schema.options(), &self.repaired.read(), token, now)
        {
            let min = *walk.outside_min.get_or_insert_with(|| {
                let mut end = partition.to_vec();
                end.push(u8::MAX);
                outside_min(partition, &end)
            });
            if d.timestamp < min {
                return Decision::Remove;
            }
        }
        match &record.state {
            State::Expiring { ttl, .. } if !record.is_live(now) => Decision::Change(
                Record {
                    timestamp: record.timestamp,
                    state: State::Expired { ttl: *ttl },
                }
                .encode(),
            ),
            _ => Decision::Keep,
        }
    }

    /// The deletion covering the entry with key suffix `rest` (after the partition), updating
    /// the walk with the entry's own deletion. Outer None: the key does not parse.
    fn cover(
        &self,
        walk: &mut Walk,
        rest: &[u8],
        own: Option<Deletion>,
    ) -> Option<Option<Deletion>> {
        let (&section, tail) = rest.split_first()?;
        let schema = &*self.schema;
        match section {
            key::PARTITION_DELETION => {
                walk.partition_deletion = Deletion::max(walk.partition_deletion, own);
                Some(None)
            }
            key::RANGE_DELETION => {
                let (start, end) = key::parse_range_deletion(schema, tail).ok()?;
                if let Some(d) = own {
                    let (lo, hi) = key::bound_interval(schema, &start, &end).ok()?;
                    walk.ranges.push((lo, hi, d));
                }
                Some(walk.partition_deletion)
            }
            key::STATIC => {
                if let Some(d) = retired(schema, tail) {
                    return Some(Some(d));
                }
                let name = key::parse_cell_suffix(schema, tail).ok()?;
                let col = schema.cell_column(name.column)?;
                let multi = col.ty.is_multi_cell();
                let cover = self.cell_cover(
                    walk,
                    walk.partition_deletion,
                    name.column,
                    name.path.is_none() && multi,
                    own,
                );
                Some(Deletion::max(cover, dropped(schema, &col.name)))
            }
            key::ROWS => {
                let (_, used) =
                    key::decode_clustering(schema, tail, schema.clustering_len()).ok()?;
                let (clustering, sub) = tail.split_at(used);
                if walk.row != clustering {
                    walk.row = clustering.to_vec();
                    walk.row_deletion = None;
                    walk.collection = None;
                }
                // Recomputed for every entry: the partition and range deletions may have been
                // learnt after this row was first seen (state carried between compactions).
                let outer =
                    Deletion::max(walk.partition_deletion, walk.covering_ranges(clustering));
                let (&kind, cell) = sub.split_first()?;
                match kind {
                    key::ROW_DELETION => {
                        walk.row_deletion = Deletion::max(walk.row_deletion, own);
                        Some(outer)
                    }
                    key::ROW_MARKER => Some(Deletion::max(outer, walk.row_deletion)),
                    key::ROW_CELL => {
                        if let Some(d) = retired(schema, cell) {
                            return Some(Some(d));
                        }
                        let name = key::parse_cell_suffix(schema, cell).ok()?;
                        let col = schema.cell_column(name.column)?;
                        let multi = col.ty.is_multi_cell();
                        let base = Deletion::max(outer, walk.row_deletion);
                        let cover = self.cell_cover(
                            walk,
                            base,
                            name.column,
                            name.path.is_none() && multi,
                            own,
                        );
                        Some(Deletion::max(cover, dropped(schema, &col.name)))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn cell_cover(
        &self,
        walk: &mut Walk,
        base: Option<Deletion>,
        column: u16,
        is_collection_deletion: bool,
        own: Option<Deletion>,
    ) -> Option<Deletion> {
        if is_collection_deletion {
            if let Some(d) = own {
                walk.collection = Some((column, d));
            }
            return base;
        }
        match walk.collection {
            Some((c, d)) if c == column => Deletion::max(base, Some(d)),
            _ => base,
        }
    }
}
