//! Whole files in and out of a tree: listing the live files inside a key range
//! ([`crate::LiveFile`]), and installing an external table file ([`crate::Tree::ingest`]).
//!
//! The ingest, in order:
//! 1. the file is checked in full (`crate::ingest::check`) before anything changes;
//! 2. with the tree's flush lock held (no other flush of the tree until the end), the write
//!    lock freezes the active memtable and reserves `span` fresh sequence numbers after every
//!    one assigned so far; writes then go on into a new memtable, above the reserved block;
//! 3. the frozen memtables (every write below the block) are flushed, so each memtable and
//!    file of the tree is wholly below or wholly above the block, and level 0 stays ordered
//!    newest first when the new file goes in front of it;
//! 4. the file is rewritten into a new `tbl-` file with its sequence numbers moved into the
//!    block (synced), then added to level 0 by one manifest rewrite, which also records the
//!    block's last sequence number as `last_seq`, so recovery never hands it out again;
//! 5. the commit log is synced (every write below the block is durable) and the block is made
//!    visible.
//!
//! A crash before the manifest rewrite leaves an unlisted `tbl-` file, deleted at the next
//! open as any interrupted job's output: the tree is as before. After it, the file is in
//! whole. A snapshot taken between steps 2 and 4 may see the file appear (its sequence number
//! can be past the block when writes came in meanwhile); reads through iterators opened
//! before the install do not.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions, Ingested, LiveFile, Rewrite};
use crate::manifest::{FileEntry, table_name};
use crate::sstable::{RangeTombstone, TableWriter};
use crate::tree::{TreeInner, Version};

use super::{DbInner, Work, freeze, now_micros, open_table};

impl DbInner {
    /// The live files of `tree` whose every key lies in `[start, end)` (`None`: unbounded)
    /// and that no range deletion of the tree touches (in the file or in any other file or
    /// memtable): for those, the file's entries are what the tree holds of them, so sending
    /// the file is exact for a store of merge operands. Pinned while the handles live.
    pub(crate) fn files_within(
        &self,
        tree: &TreeInner,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<Vec<LiveFile>> {
        self.check_open()?;
        tree.check_live()?;
        let mem = tree.mem.read().clone();
        let version = tree.version.read().clone();
        let mut dels: Vec<RangeTombstone> = Vec::new();
        for m in std::iter::once(&mem.active).chain(mem.frozen.iter().map(|(m, _)| m)) {
            if m.has_range_deletes() {
                m.range_deletes(crate::key::MAX_SEQ, &mut dels);
            }
        }
        for f in version.levels.iter().flatten() {
            dels.extend(f.table.range_deletes().iter().cloned());
        }
        let inside = |lo: &[u8], hi: &[u8]| lo >= start && end.is_none_or(|e| hi < e);
        let touched = |lo: &[u8], hi: &[u8]| {
            dels.iter()
                .any(|t| t.start.as_slice() <= hi && lo < t.end.as_slice())
        };
        Ok(version
            .levels
            .iter()
            .flatten()
            .filter(|f| f.entry.meta.entry_count > 0)
            .filter(|f| inside(f.smallest_user_key(), f.largest_user_key()))
            .filter(|f| !touched(f.smallest_user_key(), f.largest_user_key()))
            .map(|f| LiveFile { file: f.clone() })
            .collect())
    }

    /// Adds the table file at `path` to `tree` (see the module documentation).
    pub(crate) fn ingest(
        &self,
        tree: &TreeInner,
        path: &std::path::Path,
        opts: &IngestOptions,
    ) -> Result<Ingested> {
        self.check_writable()?;
        tree.check_live()?;
        if opts.as_merge_operands && tree.opts.merge_operator.is_none() {
            return Err(Error::InvalidOption {
                option: "as_merge_operands",
                reason: format!("tree `{}` has no merge operator", tree.name),
            });
        }
        let checked = ingest::check(self.vfs.as_ref(), path, opts)?;
        if checked.span == 0 {
            return Ok(Ingested {
                file_id: 0,
                entries: 0,
                bytes: 0,
                first_seq: 1,
                last_seq: 0,
            });
        }
        let _flushing = tree.flush_lock.lock();
        let base = {
            let mut next = self.write_lock.lock();
            self.check_writable()?;
            tree.check_live()?;
            freeze(tree, *next - 1);
            let base = *next;
            *next += checked.span;
            base
        };
        let last = base + checked.span - 1;
        self.flush_frozen(tree)?;
        let id = self.alloc_file_id();
        let out_path = self.dir.join(table_name(id));
        let installed = self.write_and_install(tree, &checked, base, last, id, &out_path);
        let entry = match installed {
            Ok(entry) => entry,
            Err(e) => {
                if let Err(re) = self.vfs.remove_file(&out_path)
                    && re.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(file = %out_path.display(), error = %re, "cannot remove a failed ingest's output");
                }
                return Err(e);
            }
        };
        // Every write below the block was appended before it was reserved: once the log is
        // synced they are durable, and the block may become visible.
        let durable = self.log.sync_all()?;
        self.publish(durable);
        self.inserted.fetch_max(last, Ordering::AcqRel);
        self.visible.fetch_max(last, Ordering::AcqRel);
        self.stall_cv.notify_all();
        let _ = self.compact_tx.send(Work::Go);
        tracing::debug!(tree = %tree.name, file = %path.display(), id, entries = entry.meta.entry_count, "ingested a table file");
        Ok(Ingested {
            file_id: id,
            entries: entry.meta.entry_count,
            bytes: entry.meta.file_size,
            first_seq: base,
            last_seq: last,
        })
    }

    fn write_and_install(
        &self,
        tree: &TreeInner,
        checked: &ingest::Checked,
        base: u64,
        last: u64,
        id: u64,
        out_path: &std::path::Path,
    ) -> Result<FileEntry> {
        let file = self
            .vfs
            .create(out_path)
            .map_err(|e| Error::io(out_path, e))?;
        let tuned = tree.tuned();
        let writer = TableWriter::new(file, out_path.to_owned(), &self.table_options(tree));
        let meta = ingest::rewrite(
            checked,
            base,
            Rewrite {
                writer,
                path: out_path.to_owned(),
                collector: tuned.opts.properties_collector.as_deref(),
            },
        )?;
        let entry = FileEntry {
            id,
            created_micros: now_micros(),
            meta,
        };
        let table = open_table(&self.vfs, &self.dir, &self.cache, entry.clone())?;
        let mut m = self.manifest.lock();
        let mut next = m.clone();
        let Some(ts) = next.trees.get_mut(tree.id as usize) else {
            return Err(Error::UnknownTree(tree.name.clone()));
        };
        if ts.levels.is_empty() {
            ts.levels.push(Vec::new());
        }
        if let Some(l0) = ts.levels.first_mut() {
            l0.insert(0, entry.clone());
        }
        next.last_seq = next.last_seq.max(last);
        next.next_file_id = self.next_file_id.load(Ordering::Acquire);
        next.store(self.vfs.as_ref(), &self.dir)?;
        *m = next;
        let mut v = tree.version.write();
        let mut levels = v.levels.clone();
        if levels.is_empty() {
            levels.push(Vec::new());
        }
        if let Some(l0) = levels.first_mut() {
            l0.insert(0, table);
        }
        *v = Arc::new(Version { levels });
        Ok(entry)
    }
}
