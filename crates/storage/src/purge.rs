//! What compaction does to a table's entries: expired cells become tombstones, data shadowed by
//! a deletion disappears, and tombstones older than `gc_grace_seconds` are purged.
//!
//! Rules (applied only in bottommost compactions, where no older version of a key can remain
//! below the output; elsewhere the engine would turn a removal into a point delete that hides
//! older versions of the key, which may carry *newer* timestamps):
//! - an expiring cell past its expiry is rewritten as `Expired` (no value, same place in the
//!   reconciliation order);
//! - an entry whose timestamp is `<=` a deletion covering it (partition, range, row or
//!   collection deletion seen earlier in the same partition) is removed: it can never be read
//!   again, and removing it together with the deletion is what makes purging the deletion safe;
//! - a tombstone (or expired cell) whose local deletion time is older than
//!   `now - gc_grace_seconds` is removed, in major compactions only ([`major`]: every file of
//!   the tree in one job). A partial compaction cannot know whether a newer file outside it
//!   holds data with an older timestamp that the tombstone still shadows (writes arrive in any
//!   order); Cassandra checks the other files' minimum timestamps, which the engine does not
//!   expose, so purging waits for a compaction that sees everything.
//!
//! The filter sees entries in key order, and the key layout puts every deletion before what it
//! covers (partition deletion, then range deletions, then statics, then per row: row deletion,
//! marker, cells; per collection: its deletion, then elements). Deletions seen are remembered
//! per compacting thread; a deletion remembered from an earlier compaction of the same tree is
//! still true (what it shadowed stays shadowed), so carrying it over is safe.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::Mutex;

use crate::cell::{Deletion, Record, State};
use crate::clock::Clock;
use crate::key;
use crate::schema::TableSchema;

thread_local! {
    /// Set while this thread runs a major compaction (every file of the tree in one job).
    static MAJOR: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a major compaction on this thread) with tombstone purging allowed.
pub(crate) fn major<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MAJOR.with(|m| m.set(false));
        }
    }
    MAJOR.with(|m| m.set(true));
    let _reset = Reset;
    f()
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
    partition: Vec<u8>,
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
    walks: Mutex<HashMap<ThreadId, Walk>>,
}

impl PurgeFilter {
    pub(crate) fn new(schema: Arc<TableSchema>, clock: Arc<dyn Clock>) -> PurgeFilter {
        PurgeFilter {
            schema,
            clock,
            walks: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn decide(&self, bottommost: bool, k: &[u8], value: &[u8]) -> Decision {
        if !bottommost {
            return Decision::Keep;
        }
        let Some(record) = Record::decode(value) else {
            return Decision::Keep;
        };
        let Some((_, _, used)) = key::parse_partition(k) else {
            return Decision::Keep;
        };
        let (partition, rest) = k.split_at(used);
        let now = self.clock.now_seconds();
        let gc_before = now.saturating_sub(i64::from(self.schema.options().gc_grace_seconds));
        let mut walks = self.walks.lock();
        let walk = walks.entry(std::thread::current().id()).or_default();
        if walk.partition != partition {
            *walk = Walk {
                partition: partition.to_vec(),
                ..Walk::default()
            };
        }
        let own = record.as_deletion(now);
        let cover = match self.cover(walk, rest, own) {
            Some(c) => c,
            None => return Decision::Keep,
        };
        if cover.is_some_and(|d| record.timestamp <= d.timestamp) {
            return Decision::Remove;
        }
        if MAJOR.with(Cell::get) && own.is_some_and(|d| d.local_deletion_time < gc_before) {
            return Decision::Remove;
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
