//! Whole engine files of a token range, out and in: what streaming sends without re-encoding
//! (Cassandra 4.0's zero-copy streaming of sstables that lie inside the streamed range).
//!
//! A token range `(start, end]` is the key range `[token_start(start + 1), token_start(end +
//! 1))` (`crate::key::token_range_keys`): keys begin with the partition's token, biased so
//! that they sort as tokens do. Every entry the store writes is a merge operand of the
//! reconciliation rule, so a file sent whole can be added to the receiver's tree with its
//! values as merge operands (its engine puts, which compaction folds operands into, included):
//! they combine with whatever the receiver holds exactly as the same rows streamed as writes
//! would. Adding the same file twice (a retried stream) is harmless for the same reason.

use std::path::Path;

use ilion_lsm::{IngestOptions, Ingested, LiveFile};

use super::Table;
use crate::error::{Error, Result};

impl Table {
    /// The table's engine files whose every partition has a token in `(start, end]` (`None`
    /// = unbounded; never wrapping), that hold no engine deletion and that no engine range
    /// deletion touches (cleanup's and truncation's deletions are not merge operands). Each is pinned while its handle lives.
    /// Data still in memory is not in any file: flush first ([`Table::flush`]). An in-memory
    /// store has no files.
    pub fn files_in_token_range(
        &self,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<LiveFile>> {
        let v = self.view()?;
        let Some((_, tree)) = v.inner.kv.lsm() else {
            return Ok(Vec::new());
        };
        let Some((first, end)) = crate::key::token_range_keys(start, end) else {
            return Ok(Vec::new());
        };
        let mut files = tree.files_within(&first, end.as_deref())?;
        // The store writes no engine deletions but range deletions (which `files_within`
        // already leaves out); a file holding any other cannot be taken as merge operands.
        files.retain(|f| f.deletion_count() == 0);
        Ok(files)
    }

    /// Adds the engine file at `path` (another node's file of this table, sent whole) to the
    /// table; every key must have a token in `(start, end]`. The file is checked in full
    /// first and refused, naming it, when damaged or outside the range; its values are merge
    /// operands, so the table ends up as if its rows had been applied as writes. `path` is left
    /// in place (the caller removes it).
    pub fn ingest_file(
        &self,
        path: &Path,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Ingested> {
        let v = self.view()?;
        let Some((_, tree)) = v.inner.kv.lsm() else {
            return Err(Error::InMemory {
                operation: "ingesting a file",
            });
        };
        let (first_token, last_token) = (start, end);
        let Some((first, end)) = crate::key::token_range_keys(start, end) else {
            return Err(Error::Engine(ilion_lsm::Error::IngestRefused {
                file: path.to_owned(),
                reason: "the token range is empty",
            }));
        };
        let opts = IngestOptions {
            start: first,
            end,
            as_merge_operands: true,
        };
        self.written
            .note_range(first_token, last_token, v.inner.clock.now_seconds());
        Ok(tree.ingest(path, &opts)?)
    }
}

impl Table {
    /// Flushes the table and hard-links each of its engine files into `dest` (created if
    /// missing, on the data directory's file system): a snapshot of the table as of the call
    /// (`nodetool snapshot`). Answers each file's name and size. [`Table::import_file`] adds
    /// such files back, on this node or another.
    pub fn snapshot_files(&self, dest: &Path) -> Result<Vec<(String, u64)>> {
        let v = self.view()?;
        let Some((_, tree)) = v.inner.kv.lsm() else {
            return Err(Error::InMemory {
                operation: "a snapshot",
            });
        };
        Ok(tree.checkpoint(dest)?)
    }

    /// Adds an engine file of this table taken by [`Table::snapshot_files`] (on any node)
    /// back to the table, whatever its tokens (`nodetool import`): its rows are reconciled
    /// with what the table holds, as if written again. A damaged file, or one holding an
    /// engine range deletion (which `cleanup` writes), is refused naming it.
    pub fn import_file(&self, path: &Path) -> Result<Ingested> {
        self.ingest_file(path, None, None)
    }

    /// The engine's figures for this table (files per level, their bytes, memtable bytes);
    /// `None` in memory.
    pub fn engine_stats(&self) -> Result<Option<ilion_lsm::TreeStats>> {
        let v = self.view()?;
        let Some((db, tree)) = v.inner.kv.lsm() else {
            return Ok(None);
        };
        let name = tree.name();
        Ok(db.stats().trees.into_iter().find(|t| t.name == name))
    }
}

impl super::Store {
    /// The engine's figures (log, flush and compaction bytes, the block cache, every tree);
    /// `None` in memory.
    pub fn engine_stats(&self) -> Option<ilion_lsm::Stats> {
        match &self.backend {
            super::Backend::Memory => None,
            super::Backend::Lsm { db, .. } => Some(db.stats()),
        }
    }
}
