//! Read commands and their results.

use crate::cell::Ttl;
use crate::error::{Error, Result};
use crate::mutation::{Bound, Liveness};
use crate::schema::ColumnId;

/// Which partitions a read visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionRange {
    /// One partition.
    Single { token: i64, key: Vec<u8> },
    /// Every partition with a token in `(start, end]` (Cassandra's token range semantics;
    /// `None` = unbounded on that side). A wrapping range is two reads.
    Tokens {
        start: Option<i64>,
        end: Option<i64>,
    },
}

/// The clustering interval of a read, in the table's clustering order (whatever the read
/// direction): `start` is the bound nearest the first row of the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub start: Bound,
    pub end: Bound,
}

impl Slice {
    /// Every row.
    pub fn all() -> Slice {
        Slice {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }
}

/// A read of one table on this replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCommand {
    pub partitions: PartitionRange,
    pub slice: Slice,
    /// Rows in descending clustering order within each partition.
    pub reversed: bool,
    /// At most this many rows per partition (CQL `PER PARTITION LIMIT`).
    pub per_partition_limit: Option<u32>,
    /// At most this many rows in total (a partition with only static cells counts as one row).
    pub limit: Option<u32>,
    /// Continue after this position (from a previous [`ReadResult::next_page`]).
    pub resume: Option<PagingPosition>,
}

impl ReadCommand {
    /// Every row of one partition, forward, no limits.
    pub fn partition(token: i64, key: Vec<u8>) -> ReadCommand {
        ReadCommand {
            partitions: PartitionRange::Single { token, key },
            slice: Slice::all(),
            reversed: false,
            per_partition_limit: None,
            limit: None,
            resume: None,
        }
    }
    /// Every row of every partition with a token in `(start, end]`.
    pub fn token_range(start: Option<i64>, end: Option<i64>) -> ReadCommand {
        ReadCommand {
            partitions: PartitionRange::Tokens { start, end },
            ..ReadCommand::partition(0, Vec::new())
        }
    }
}

/// Where a paged read stopped: the last partition it returned from and the last row returned
/// in it (`None` when the partition was finished). Serializable, so a client paging state can
/// carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingPosition {
    pub token: i64,
    pub partition_key: Vec<u8>,
    pub clustering: Option<Vec<Vec<u8>>>,
    /// Rows already returned from this partition (for the per-partition limit).
    pub rows_in_partition: u32,
}

const PAGING_VERSION: u8 = 1;

impl PagingPosition {
    /// Byte layout (big-endian): `version u8 (1) | token i64 | key_len u32 | key |
    /// has_clustering u8 | [count u16 | (len u32 | bytes)*] | rows_in_partition u32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PAGING_VERSION];
        out.extend_from_slice(&self.token.to_be_bytes());
        out.extend_from_slice(&(self.partition_key.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.partition_key);
        match &self.clustering {
            None => out.push(0),
            Some(c) => {
                out.push(1);
                out.extend_from_slice(&(c.len() as u16).to_be_bytes());
                for v in c {
                    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
        }
        out.extend_from_slice(&self.rows_in_partition.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<PagingPosition> {
        let bad = |reason| Error::InvalidPagingPosition { reason };
        let mut r = bytes;
        let mut take = |n: usize| -> Result<&[u8]> {
            if r.len() < n {
                return Err(bad("truncated"));
            }
            let (a, b) = r.split_at(n);
            r = b;
            Ok(a)
        };
        let version = take(1)?;
        if version != [PAGING_VERSION] {
            return Err(bad("unknown version"));
        }
        let token = i64::from_be_bytes(take(8)?.try_into().map_err(|_| bad("truncated"))?);
        let klen = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("truncated"))?);
        let partition_key = take(klen as usize)?.to_vec();
        let clustering = match take(1)? {
            [0] => None,
            [1] => {
                let n = u16::from_be_bytes(take(2)?.try_into().map_err(|_| bad("truncated"))?);
                let mut c = Vec::with_capacity(usize::from(n).min(64));
                for _ in 0..n {
                    let len =
                        u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("truncated"))?);
                    c.push(take(len as usize)?.to_vec());
                }
                Some(c)
            }
            _ => return Err(bad("bad clustering flag")),
        };
        let rows_in_partition =
            u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("truncated"))?);
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(PagingPosition {
            token,
            partition_key,
            clustering,
            rows_in_partition,
        })
    }
}

/// A live cell as a read returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellData {
    pub column: ColumnId,
    /// Element key of a multi-cell column (serialized as its key type).
    pub path: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub timestamp: i64,
    pub ttl: Option<Ttl>,
}

/// A live row. Cells are ordered by column id, then element key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowData {
    pub clustering: Vec<Vec<u8>>,
    /// The live row marker, if any.
    pub marker: Option<Liveness>,
    pub cells: Vec<CellData>,
}

/// What a read found in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionData {
    pub token: i64,
    pub key: Vec<u8>,
    /// Live static cells (returned with every page of the partition).
    pub static_cells: Vec<CellData>,
    pub rows: Vec<RowData>,
}

/// Something the coordinator passes on to the client with the result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadWarning {
    /// More tombstones than the warning threshold were scanned.
    TombstoneThreshold { scanned: u64, threshold: u64 },
}

/// The outcome of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    pub partitions: Vec<PartitionData>,
    /// Where to resume; `None` when the read is complete.
    pub next_page: Option<PagingPosition>,
    /// Tombstones and expired cells scanned (Cassandra's tombstone count).
    pub tombstones_scanned: u64,
    pub warnings: Vec<ReadWarning>,
}

/// Tombstones a single read may scan. Defaults are Cassandra's
/// (`tombstone_warn_threshold` 1000, `tombstone_failure_threshold` 100000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TombstoneThresholds {
    pub warn: u64,
    pub fail: u64,
}

impl Default for TombstoneThresholds {
    fn default() -> Self {
        TombstoneThresholds {
            warn: 1_000,
            fail: 100_000,
        }
    }
}

/// Counts over a whole table (for `tablestats` and size estimates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    pub partitions: u64,
    pub live_rows: u64,
    pub live_cells: u64,
    pub tombstones: u64,
    /// Entries stored (live or not), and their key and value bytes.
    pub entries: u64,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_positions_round_trip_and_reject_garbage() {
        let p = PagingPosition {
            token: -5,
            partition_key: b"pk".to_vec(),
            clustering: Some(vec![b"a".to_vec(), Vec::new()]),
            rows_in_partition: 7,
        };
        assert_eq!(PagingPosition::decode(&p.encode()).unwrap(), p);
        let q = PagingPosition {
            clustering: None,
            ..p.clone()
        };
        assert_eq!(PagingPosition::decode(&q.encode()).unwrap(), q);
        let bytes = p.encode();
        for cut in 0..bytes.len() {
            assert!(PagingPosition::decode(&bytes[..cut]).is_err());
        }
        assert!(matches!(
            PagingPosition::decode(&[9]),
            Err(Error::InvalidPagingPosition { .. })
        ));
    }
}
