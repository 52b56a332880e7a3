//! The sparse index: one entry per data block, decoded once when the table opens.
//!
//! On disk the index is a block (see [`super::block`]) whose keys are the last internal key of
//! each data block and whose values are the block's handle (`varint offset, varint size`). In
//! memory it is flattened into one key buffer plus offsets, so a lookup is a binary search over
//! contiguous memory with no decoding.

use std::cmp::Ordering;

use super::block::BlockCursor;
use super::footer::BlockHandle;
use crate::key;

/// The decoded index.
#[derive(Debug, Default)]
pub(crate) struct Index {
    keys: Vec<u8>,
    /// `key_ends[i]` is where block `i`'s last key ends in `keys`.
    key_ends: Vec<usize>,
    handles: Vec<BlockHandle>,
}

impl Index {
    /// Decodes an index block. Handles must tile `[0, data_end)` exactly, each followed by its
    /// trailer, and keys must ascend.
    pub(crate) fn decode(block: &[u8], data_end: u64) -> Result<Index, &'static str> {
        let mut index = Index::default();
        let mut c = BlockCursor::default();
        c.reset(block)?;
        c.seek_to_first(block)?;
        let mut expected_offset = 0u64;
        while c.valid() {
            let handle =
                BlockHandle::decode_varint(c.value(block)).ok_or("malformed block handle")?;
            if handle.offset != expected_offset {
                return Err("index handles do not tile the data region");
            }
            expected_offset = handle.end_with_trailer().ok_or("block handle overflows")?;
            if expected_offset > data_end {
                return Err("block handle beyond the data region");
            }
            if let Some(prev) = index.last_key(index.len().wrapping_sub(1))
                && key::compare(prev, c.key()) != Ordering::Less
            {
                return Err("index keys out of order");
            }
            index.keys.extend_from_slice(c.key());
            index.key_ends.push(index.keys.len());
            index.handles.push(handle);
            c.next(block)?;
        }
        if expected_offset != data_end {
            return Err("index does not cover the data region");
        }
        Ok(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }

    pub(crate) fn handle(&self, i: usize) -> Option<BlockHandle> {
        self.handles.get(i).copied()
    }

    /// The last key of block `i`.
    pub(crate) fn last_key(&self, i: usize) -> Option<&[u8]> {
        let end = *self.key_ends.get(i)?;
        let start = if i == 0 {
            0
        } else {
            *self.key_ends.get(i - 1)?
        };
        self.keys.get(start..end)
    }

    /// The first block whose last key is `>= target` (so the only block that can hold the first
    /// entry `>= target`); `len()` when every key is smaller.
    #[inline]
    pub(crate) fn find(&self, target: &[u8]) -> usize {
        let mut lo = 0;
        let mut hi = self.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let less = self
                .last_key(mid)
                .is_some_and(|k| key::compare(k, target) == Ordering::Less);
            if less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}
