//! Flushes: frozen memtables written to L0 table files and installed in the manifest, and
//! the commit log segments every tree has flushed past deleted.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::compaction::job::{self, JobSpec};
use crate::error::{Error, Result};
use crate::iter::MemCursor;
use crate::key::{MAX_SEQ, SeqNo};
use crate::memtable::Memtable;
use crate::tree::{MemSet, TreeInner, Version};

use super::{DbInner, Work, freeze, now_micros, open_table};

impl DbInner {
    pub(super) fn flush_all_pending(&self) {
        let trees = self.trees.read().clone();
        for t in trees.iter().filter(|t| !t.is_dropped()) {
            if let Err(e) = self.flush_tree(t, false) {
                self.stop(&e);
                return;
            }
        }
    }

    /// Flushes every tree whose [`crate::TreeOptions::flush_period`] has passed since its last
    /// flush and whose memtable holds data.
    pub(super) fn flush_due(&self) {
        let now = super::now_micros();
        let trees = self.trees.read().clone();
        for t in trees.iter().filter(|t| !t.is_dropped()) {
            let Some(period) = t.tuned().opts.flush_period else {
                continue;
            };
            let period = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
            let last = t.flushed_micros.load(Ordering::Acquire);
            if now < last.saturating_add(period) {
                continue;
            }
            if t.mem.read().active.is_empty() {
                t.flushed_micros.store(now, Ordering::Release);
                continue;
            }
            if let Err(e) = self.flush_tree(t, true) {
                self.stop(&e);
                return;
            }
        }
    }

    /// Flushes the tree's frozen memtables, oldest first (after freezing the active one when
    /// `freeze_active`).
    pub(crate) fn flush_tree(&self, tree: &TreeInner, freeze_active: bool) -> Result<()> {
        self.check_open()?;
        if freeze_active {
            let next = self.write_lock.lock();
            freeze(tree, *next - 1);
            tree.flushed_micros
                .store(super::now_micros(), Ordering::Release);
        }
        let _g = tree.flush_lock.lock();
        self.flush_frozen(tree)
    }

    /// Flushes the tree's frozen memtables, oldest first. Call with the tree's flush lock held.
    pub(super) fn flush_frozen(&self, tree: &TreeInner) -> Result<()> {
        let mut flushed = false;
        loop {
            if let Some(reason) = &*self.stopped.lock() {
                return Err(Error::WritesStopped {
                    reason: reason.clone(),
                });
            }
            let oldest = tree.mem.read().frozen.last().cloned();
            let Some((mem, switch_seq)) = oldest else {
                break;
            };
            self.flush_memtable(tree, &mem, switch_seq)?;
            flushed = true;
        }
        if flushed {
            self.stall_cv.notify_all();
            let _ = self.compact_tx.send(Work::Go);
        }
        Ok(())
    }

    fn flush_memtable(
        &self,
        tree: &TreeInner,
        mem: &Arc<Memtable>,
        switch_seq: SeqNo,
    ) -> Result<()> {
        // The table must not hold writes the log could still lose. Rolling the log here lets
        // the segment holding this memtable's writes be deleted once they are flushed, instead
        // of waiting for the segment to fill.
        let durable = self.log.sync_and_roll()?;
        self.publish(durable);
        let mut cursor = MemCursor::new(mem.clone());
        let tuned = tree.tuned();
        let mut tombstones = Vec::new();
        mem.range_deletes(MAX_SEQ, &mut tombstones);
        let alloc = || self.alloc_file_id();
        let spec = JobSpec {
            vfs: &self.vfs,
            dir: &self.dir,
            table_opts: self.table_options(tree),
            target_file_size: u64::MAX,
            oldest_snapshot: self.snapshots.oldest_or_visible(&self.visible),
            bottommost: false,
            output_level: 0,
            tree_name: &tree.name,
            filter: None,
            merge: tree.opts.merge_operator.as_deref(),
            collector: tuned.opts.properties_collector.as_deref(),
            outside: None,
            next_file_id: &alloc,
            created_micros: now_micros(),
            throttle: None,
        };
        let out = job::run(&spec, &mut cursor, tombstones)?;
        let mut new_files = Vec::new();
        for f in &out.files {
            new_files.push(open_table(&self.vfs, &self.dir, &self.cache, f.clone())?);
        }
        {
            let mut m = self.manifest.lock();
            let mut next = m.clone();
            let Some(ts) = next.trees.get_mut(tree.id as usize) else {
                return Err(Error::UnknownTree(tree.name.clone()));
            };
            let nlevels = tree.version.read().levels.len();
            if ts.levels.len() < nlevels {
                ts.levels.resize_with(nlevels, Vec::new);
            }
            if let Some(l0) = ts.levels.first_mut() {
                for f in out.files.iter().rev() {
                    l0.insert(0, f.clone());
                }
            }
            ts.flushed_seq = ts.flushed_seq.max(switch_seq);
            next.last_seq = next.last_seq.max(switch_seq);
            next.next_file_id = self.next_file_id.load(Ordering::Acquire);
            next.store(self.vfs.as_ref(), &self.dir)?;
            *m = next;
            let mut v = tree.version.write();
            let mut levels = v.levels.clone();
            if let Some(l0) = levels.first_mut() {
                for f in new_files.into_iter().rev() {
                    l0.insert(0, f);
                }
            }
            *v = Arc::new(Version { levels });
        }
        {
            let mut ms = tree.mem.write();
            let frozen = ms
                .frozen
                .iter()
                .filter(|(m, _)| !Arc::ptr_eq(m, mem))
                .cloned()
                .collect();
            *ms = Arc::new(MemSet {
                active: ms.active.clone(),
                frozen,
            });
        }
        self.flush_bytes
            .fetch_add(out.bytes_written, Ordering::Relaxed);
        self.delete_obsolete_logs()
    }

    /// Deletes log segments every tree has flushed past.
    pub(super) fn delete_obsolete_logs(&self) -> Result<()> {
        let floor = {
            let next = self.write_lock.lock();
            let mut floor = *next - 1;
            for t in self.trees.read().iter() {
                let ms = t.mem.read().clone();
                for m in std::iter::once(&ms.active).chain(ms.frozen.iter().map(|(m, _)| m)) {
                    if let Some(min) = m.min_seq() {
                        floor = floor.min(min.saturating_sub(1));
                    }
                }
            }
            floor
        };
        self.log.delete_obsolete(floor)?;
        Ok(())
    }
}
