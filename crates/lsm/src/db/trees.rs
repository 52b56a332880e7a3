//! The trees of an open database: looked up or created by name, dropped, and given new
//! options.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::manifest::{self, TreeState};
use crate::options::TreeOptions;
use crate::tree::{MemSet, TableFile, TreeInner, Tuned, Version};

use super::{DbInner, Work};

pub(super) fn new_tree(
    topts: TreeOptions,
    id: u32,
    name: &str,
    mut levels: Vec<Vec<Arc<TableFile>>>,
) -> TreeInner {
    let tuned = Tuned::new(topts.clone());
    let n = tuned.strategy.num_levels().max(levels.len()).max(2);
    levels.resize_with(n, Vec::new);
    TreeInner {
        id,
        name: name.to_owned(),
        opts: topts,
        tuned: RwLock::new(Arc::new(tuned)),
        mem: RwLock::new(Arc::new(MemSet::default())),
        version: RwLock::new(Arc::new(Version { levels })),
        compacting: Mutex::new(HashSet::new()),
        flush_lock: Mutex::new(()),
        compaction_lock: Mutex::new(()),
        dropped: AtomicBool::new(false),
        expired_checked_micros: AtomicU64::new(0),
        flushed_micros: AtomicU64::new(super::now_micros()),
    }
}

impl DbInner {
    fn live_tree(&self, name: &str) -> Option<Arc<TreeInner>> {
        self.trees
            .read()
            .iter()
            .find(|t| t.name == name && !t.is_dropped())
            .cloned()
    }

    /// The live tree called `name`, created with `opts` (or the builder's options for it).
    pub(super) fn tree_by_name(
        &self,
        name: &str,
        opts: Option<TreeOptions>,
    ) -> Result<Arc<TreeInner>> {
        if let Some(t) = self.live_tree(name) {
            return Ok(t);
        }
        let mut m = self.manifest.lock();
        let mut trees_guard = self.trees.write();
        if let Some(t) = trees_guard
            .iter()
            .find(|t| t.name == name && !t.is_dropped())
        {
            return Ok(t.clone());
        }
        let id = trees_guard.len() as u32;
        let mut next = m.clone();
        next.trees.push(TreeState {
            id,
            name: name.to_owned(),
            flushed_seq: 0,
            levels: Vec::new(),
        });
        next.next_file_id = self.next_file_id.load(Ordering::Acquire);
        next.store(self.vfs.as_ref(), &self.dir)?;
        *m = next;
        let opts = opts.unwrap_or_else(|| self.opts.options_for(name));
        let tree = Arc::new(new_tree(opts, id, name, Vec::new()));
        let mut all: Vec<Arc<TreeInner>> = trees_guard.iter().cloned().collect();
        all.push(tree.clone());
        *trees_guard = Arc::new(all);
        Ok(tree)
    }

    pub(super) fn drop_tree(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let tree = self
            .live_tree(name)
            .ok_or_else(|| Error::UnknownTree(name.to_owned()))?;
        // No flush or compaction of the tree runs while it is dropped (each installs into the
        // manifest under these locks), and no write reaches its memtable (write lock).
        let _f = tree.flush_lock.lock();
        let _c = tree.compaction_lock.lock();
        {
            let next_seq = self.write_lock.lock();
            tree.check_live()?;
            let mut m = self.manifest.lock();
            let mut next = m.clone();
            let Some(ts) = next.trees.get_mut(tree.id as usize) else {
                return Err(Error::UnknownTree(name.to_owned()));
            };
            ts.flushed_seq = manifest::DROPPED_SEQ;
            ts.levels.clear();
            next.last_seq = next.last_seq.max(*next_seq - 1);
            next.next_file_id = self.next_file_id.load(Ordering::Acquire);
            next.store(self.vfs.as_ref(), &self.dir)?;
            *m = next;
            tree.dropped.store(true, Ordering::Release);
            *tree.mem.write() = Arc::new(MemSet::default());
            let mut v = tree.version.write();
            for f in v.levels.iter().flatten() {
                // Deleted from disk once the last reader lets go (at once when none reads).
                f.obsolete.store(true, Ordering::Release);
            }
            let nlevels = v.levels.len();
            *v = Arc::new(Version {
                levels: vec![Vec::new(); nlevels],
            });
        }
        self.stall_cv.notify_all();
        self.delete_obsolete_logs()
    }

    /// Replaces the alterable options of `tree`.
    pub(crate) fn set_tree_options(&self, tree: &Arc<TreeInner>, opts: TreeOptions) -> Result<()> {
        self.check_open()?;
        opts.validate()?;
        if opts.merge_operator.is_some() != tree.opts.merge_operator.is_some() {
            return Err(Error::InvalidOption {
                option: "merge_operator",
                reason: format!(
                    "tree `{}` was opened {} a merge operator; it cannot change while open",
                    tree.name,
                    if tree.opts.merge_operator.is_some() {
                        "with"
                    } else {
                        "without"
                    }
                ),
            });
        }
        let tuned = Tuned::new(opts);
        {
            // Under the compaction lock: no job runs with half of the old options, and the
            // version gets the levels the new strategy uses.
            let _g = tree.compaction_lock.lock();
            let n = tuned.strategy.num_levels();
            let mut v = tree.version.write();
            if v.levels.len() < n {
                let mut levels = v.levels.clone();
                levels.resize_with(n, Vec::new);
                *v = Arc::new(Version { levels });
            }
            *tree.tuned.write() = Arc::new(tuned);
        }
        let _ = self.compact_tx.send(Work::Go);
        Ok(())
    }
}
