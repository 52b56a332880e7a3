//! [`Sources`]: the memtables and table files a cursor over one tree reads, captured at
//! creation.

use std::ops::Bound;
use std::sync::Arc;

use super::cursor::{Cursor, LevelCursor, MemCursor};
use super::merging::MergingCursor;
use crate::key::SeqNo;
use crate::memtable::Memtable;
use crate::sstable::RangeTombstone;
use crate::tree::TableFile;

/// Everything a cursor over one tree needs, captured at creation.
pub(crate) struct Sources {
    pub(crate) mems: Vec<Arc<Memtable>>,
    /// L0 files newest first, then one entry per deeper level.
    pub(crate) l0: Vec<Arc<TableFile>>,
    pub(crate) levels: Vec<Vec<Arc<TableFile>>>,
}

impl Sources {
    /// A cursor over every source; memtable cursors copy nothing outside the user-key bounds
    /// `lo` and `hi` (the caller still checks them: table cursors are not bounded).
    pub(crate) fn cursor(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> MergingCursor {
        let mut children: Vec<Box<dyn Cursor>> = Vec::new();
        for m in &self.mems {
            children.push(Box::new(MemCursor::bounded(
                m.clone(),
                lo.clone(),
                hi.clone(),
            )));
        }
        for f in &self.l0 {
            children.push(Box::new(f.table.iter()));
        }
        for level in &self.levels {
            if !level.is_empty() {
                children.push(Box::new(LevelCursor::new(level.clone())));
            }
        }
        MergingCursor::new(children)
    }

    pub(crate) fn range_deletes(&self, snapshot: SeqNo) -> Vec<RangeTombstone> {
        let mut out = Vec::new();
        for m in &self.mems {
            m.range_deletes(snapshot, &mut out);
        }
        for f in self.l0.iter().chain(self.levels.iter().flatten()) {
            out.extend(
                f.table
                    .range_deletes()
                    .iter()
                    .filter(|t| t.seq <= snapshot)
                    .cloned(),
            );
        }
        out
    }
}
