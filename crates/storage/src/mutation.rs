//! What a write carries: cells with timestamps and TTLs, and deletions of every scope.

use crate::cell::{CounterShard, Deletion, Ttl};
use crate::schema::ColumnId;

/// One bound of a clustering slice or range deletion. A bound names a clustering *prefix*:
/// `Inclusive([a])` as a start includes every row whose first component is `a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bound {
    Unbounded,
    Inclusive(Vec<Vec<u8>>),
    Exclusive(Vec<Vec<u8>>),
}

/// Deletion of the rows between two bounds (in clustering order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDeletion {
    pub start: Bound,
    pub end: Bound,
    pub deletion: Deletion,
}

/// The INSERT row marker: keeps a row alive without any non-key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub timestamp: i64,
    pub ttl: Option<Ttl>,
}

/// What happens to one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellOp {
    /// Writes a value (a whole simple/frozen value, or one element of a multi-cell column).
    /// `ttl: None` means the table's `default_time_to_live`, if any.
    Set {
        timestamp: i64,
        value: Vec<u8>,
        ttl: Option<Ttl>,
    },
    /// Deletes the cell (or the one element named by the path).
    Delete(Deletion),
    /// Deletes every element of a multi-cell column (written before a whole-collection write).
    DeleteCollection(Deletion),
    /// Merges counter shards into a counter cell (absolute shard states: applying them again
    /// changes nothing). What a counter leader sends its replicas, and what raw reads return.
    Counter {
        timestamp: i64,
        shards: Vec<CounterShard>,
    },
    /// Adds `delta` to a counter. Only [`Table::apply_counter`](crate::Table::apply_counter)
    /// takes it (turning it into this node's shard); [`Table::apply`](crate::Table::apply)
    /// refuses it.
    Increment { timestamp: i64, delta: i64 },
}

/// One cell of a row. `path` is the element key of a multi-cell column, serialized as its key
/// type (the set element, the map key, the list element's timeuuid, or the UDT field index as a
/// big-endian u16); `None` for simple columns and whole-collection deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellWrite {
    pub column: ColumnId,
    pub path: Option<Vec<u8>>,
    pub op: CellOp,
}

/// Changes to one row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowWrite {
    /// Serialized clustering values, one per clustering column.
    pub clustering: Vec<Vec<u8>>,
    pub marker: Option<Liveness>,
    pub deletion: Option<Deletion>,
    pub cells: Vec<CellWrite>,
}

/// Every change to one partition of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The partition's token, computed by the caller (Murmur3 of the partition key).
    pub token: i64,
    /// The serialized partition key (a composite key in Cassandra's composite form).
    pub partition_key: Vec<u8>,
    /// The coordinator's clock (seconds) when it built the mutation: the start of the table's
    /// default TTL, so every replica computes the same expiry.
    pub now: i64,
    pub partition_deletion: Option<Deletion>,
    pub range_deletions: Vec<RangeDeletion>,
    pub static_cells: Vec<CellWrite>,
    pub rows: Vec<RowWrite>,
}

impl Mutation {
    /// An empty mutation of the partition `(token, partition_key)`.
    pub fn new(token: i64, partition_key: Vec<u8>, now: i64) -> Mutation {
        Mutation {
            token,
            partition_key,
            now,
            partition_deletion: None,
            range_deletions: Vec::new(),
            static_cells: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// The row write for `clustering`, added if absent.
    pub fn row(&mut self, clustering: Vec<Vec<u8>>) -> &mut RowWrite {
        let at = match self.rows.iter().position(|r| r.clustering == clustering) {
            Some(i) => i,
            None => {
                self.rows.push(RowWrite {
                    clustering,
                    ..RowWrite::default()
                });
                self.rows.len() - 1
            }
        };
        // `at` indexes an element that exists: found above or just pushed.
        &mut self.rows[at]
    }

    /// Number of cells, markers and deletions this mutation carries.
    pub fn len(&self) -> usize {
        usize::from(self.partition_deletion.is_some())
            + self.range_deletions.len()
            + self.static_cells.len()
            + self
                .rows
                .iter()
                .map(|r| {
                    usize::from(r.marker.is_some())
                        + usize::from(r.deletion.is_some())
                        + r.cells.len()
                })
                .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RowWrite {
    /// Sets a simple (or frozen) column.
    pub fn set(&mut self, column: ColumnId, timestamp: i64, value: Vec<u8>) -> &mut Self {
        self.cells.push(CellWrite {
            column,
            path: None,
            op: CellOp::Set {
                timestamp,
                value,
                ttl: None,
            },
        });
        self
    }
}
