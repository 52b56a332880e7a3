//! The write path: a batch appended to the commit log and inserted into the memtables under
//! the write lock, full memtables frozen, and writers stalled while flushes or compactions
//! fall behind.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::batch::OpRef;
use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::memtable::Memtable;
use crate::options::SyncMode;
use crate::tree::{MemSet, TreeInner};

use super::{DbInner, Work};

/// Freezes the tree's active memtable (if not empty); `last_seq` is the last sequence number
/// assigned so far. Call with the write lock held (or during recovery).
pub(super) fn freeze(tree: &TreeInner, last_seq: SeqNo) -> bool {
    let mut m = tree.mem.write();
    if m.active.is_empty() {
        return false;
    }
    let mut frozen = vec![(m.active.clone(), last_seq)];
    frozen.extend(m.frozen.iter().cloned());
    *m = Arc::new(MemSet {
        active: Arc::new(Memtable::new()),
        frozen,
    });
    true
}

impl DbInner {
    fn tree_stalled(&self, t: &TreeInner) -> bool {
        if t.mem.read().frozen.len() >= self.opts.max_immutable_memtables {
            return true;
        }
        let v = t.version.read().clone();
        if v.levels.first().map_or(0, Vec::len) < self.opts.l0_stop_files {
            return false;
        }
        // Only while compaction can make progress: some strategies leave L0 alone.
        let infos = v.file_infos_with(&t.compacting.lock(), None);
        t.tuned().strategy.pick(&infos).is_some()
    }

    fn maybe_stall(&self, trees: &[Arc<TreeInner>], ids: &[u32]) -> Result<()> {
        loop {
            let stalled = ids
                .iter()
                .filter_map(|id| trees.get(*id as usize))
                .any(|t| self.tree_stalled(t));
            if !stalled {
                return Ok(());
            }
            self.check_writable()?;
            let _ = self.flush_tx.send(Work::Go);
            let _ = self.compact_tx.send(Work::Go);
            let mut g = self.stall_lock.lock();
            self.stall_cv.wait_for(&mut g, Duration::from_millis(20));
        }
    }

    pub(crate) fn write_ops(&self, ops: &[OpRef<'_>], user_bytes: u64) -> Result<()> {
        self.check_writable()?;
        if ops.is_empty() {
            return Ok(());
        }
        let trees = self.trees.read().clone();
        // The trees the batch writes to; a batch for one tree (every single put) needs no
        // allocation for this.
        let first = ops.first().map_or(0, |op| op.tree);
        let many: Vec<u32>;
        let ids: &[u32] = if ops.iter().all(|op| op.tree == first) {
            std::slice::from_ref(&first)
        } else {
            let mut v: Vec<u32> = Vec::with_capacity(2);
            for op in ops {
                if !v.contains(&op.tree) {
                    v.push(op.tree);
                }
            }
            many = v;
            &many
        };
        for id in ids {
            if trees.get(*id as usize).is_none() {
                return Err(Error::UnknownTree(format!("#{id}")));
            }
        }
        self.maybe_stall(&trees, ids)?;
        let n = ops.len() as u64;
        let logged = ids.iter().any(|id| {
            trees
                .get(*id as usize)
                .is_none_or(|t| t.tuned().opts.durable)
        });
        let (lsn, froze, last) = {
            let mut next = self.write_lock.lock();
            self.check_writable()?;
            for id in ids {
                if let Some(t) = trees.get(*id as usize) {
                    t.check_live()?;
                }
            }
            let seq = *next;
            // An unlogged batch waits only for the log records before it (so publishing it
            // never shows a logged write before that write is durable).
            let lsn = if logged {
                self.log.append(seq, ops)?
            } else {
                self.log.end_lsn()
            };
            *next += n;
            // The memtable set cannot change meanwhile: freezing needs the write lock.
            for (i, op) in ops.iter().enumerate() {
                if let Some(t) = trees.get(op.tree as usize) {
                    t.mem
                        .read()
                        .active
                        .insert(op.key, seq + i as u64, op.kind, op.value);
                }
            }
            let last = seq + n - 1;
            self.inserted.store(last, Ordering::Release);
            let mut froze = false;
            for id in ids {
                if let Some(t) = trees.get(*id as usize)
                    && t.mem.read().active.approximate_size() >= self.opts.memtable_size
                {
                    froze |= freeze(t, last);
                }
            }
            if matches!(self.opts.sync, SyncMode::Periodic(_)) {
                self.visible.fetch_max(last, Ordering::AcqRel);
            }
            (lsn, froze, last)
        };
        self.user_bytes.fetch_add(user_bytes, Ordering::Relaxed);
        if froze {
            let _ = self.flush_tx.send(Work::Go);
        }
        if self.opts.sync == SyncMode::Batch {
            let durable = self.log.sync_to(lsn)?;
            self.publish(durable);
            if !logged {
                // Every write before it is durable or unlogged too, and all are inserted.
                self.visible.fetch_max(last, Ordering::AcqRel);
            }
        } else {
            self.log.write_to(lsn)?;
        }
        Ok(())
    }
}
