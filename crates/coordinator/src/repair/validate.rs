//! Validation: the Merkle tree of what this replica stores in a token range of a table.

use crate::Coordinator;
use crate::data::storage_error;
use crate::repair::merkle::{MerkleTree, Range, TreeBuilder};
use crate::{Error, Result};

/// Partitions read per page while building a tree.
const PARTITIONS_PER_PAGE: usize = 1024;

/// Stored bytes read per page while building a tree (about; a partition is never split).
const PAGE_BYTES: usize = 4 << 20;

/// What a validation read.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The tree at the depth it is sent ([`MerkleTree::fit`]).
    pub tree: MerkleTree,
    /// Stored bytes read.
    pub bytes: u64,
}

impl Coordinator {
    /// The Merkle tree of `keyspace.table` over `(start, end]` on this replica (a range that
    /// never wraps), fitted to the partitions found. Reads the range once; blocks.
    pub fn merkle_tree(&self, keyspace: &str, table: &str, range: Range) -> Result<Validated> {
        if let (Some(s), Some(e)) = range
            && s >= e
        {
            return Err(Error::invalid(format!(
                "token range ({s}, {e}] wraps or is empty"
            )));
        }
        let t = self.store().table(keyspace, table).map_err(storage_error)?;
        let mut builder = TreeBuilder::new(range);
        let mut resume: Option<Vec<u8>> = None;
        let mut bytes = 0u64;
        loop {
            let (page, next, read) = t
                .digest_page(
                    range.0,
                    range.1,
                    resume.as_deref(),
                    ilion_storage::PageBudget {
                        partitions: PARTITIONS_PER_PAGE,
                        bytes: PAGE_BYTES,
                    },
                )
                .map_err(storage_error)?;
            bytes += read as u64;
            for p in page {
                builder.add(p.token, p.digest).map_err(Error::server)?;
            }
            match next {
                Some(n) => resume = Some(n),
                None => break,
            }
        }
        Ok(Validated {
            tree: builder.finish().fit(),
            bytes,
        })
    }

    /// The parts of `(start, end]` (never wrapping) of `keyspace.table` this replica wrote
    /// since a repair last found them in sync (or that no repair did since the node
    /// started): what an incremental repair validates. With this node's clock now (seconds),
    /// what the repair hands back to [`Coordinator::record_repair`] as `asked`.
    pub fn unrepaired_ranges(
        &self,
        keyspace: &str,
        table: &str,
        range: Range,
    ) -> Result<(Vec<Range>, i64)> {
        let t = self.store().table(keyspace, table).map_err(storage_error)?;
        let now = t.now_seconds().map_err(storage_error)?;
        let parts = t.unrepaired_in(range.0, range.1).map_err(storage_error)?;
        Ok((parts, now))
    }

    /// Records that `ranges` of `keyspace.table` were repaired on every replica by a repair
    /// that started at `at` (seconds since the epoch): tombstones deleted before then become
    /// purgeable under `tombstone_gc = {'mode': 'repair'}`. With `asked`, this node's clock
    /// when the repair first asked it ([`Coordinator::unrepaired_ranges`]), incremental
    /// repairs skip the ranges until they are written again. Blocks (the catalogue is synced).
    pub fn record_repair(
        &self,
        keyspace: &str,
        table: &str,
        ranges: &[Range],
        at: i64,
        asked: Option<i64>,
    ) -> Result<()> {
        let store = self.store();
        store
            .record_repair(keyspace, table, ranges, at)
            .map_err(storage_error)?;
        if let Some(asked) = asked {
            store
                .table(keyspace, table)
                .and_then(|t| t.record_validated(ranges, asked))
                .map_err(storage_error)?;
        }
        Ok(())
    }
}
