//! Compactions of an open database: the tasks a tree's strategy picks run as jobs (in the
//! background, on request or over a key range), and their outputs replace their inputs in
//! the manifest and the tree's version.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::compaction::job::{self, JobSpec};
use crate::compaction::{CompactionTask, FileInfo, PickContext, Purpose, expired};
use crate::error::{Error, Result};
use crate::iter::{Cursor, LevelCursor, MergingCursor};
use crate::manifest::{self, FileEntry};
use crate::properties::OutsideView;
use crate::tree::{MemSet, TableFile, TreeInner, Tuned, Version, by_smallest};

use super::{DbInner, now_micros, open_table};

/// When a compaction's outputs were "created": the newest data among the inputs, so compacting
/// an old time window keeps its outputs in that window.
fn output_created_micros(inputs: &[(usize, Arc<TableFile>)]) -> u64 {
    inputs
        .iter()
        .map(|(_, f)| f.entry.created_micros)
        .max()
        .unwrap_or_else(now_micros)
}

impl DbInner {
    pub(super) fn compact_all(&self) {
        let trees = self.trees.read().clone();
        for t in trees.iter().filter(|t| !t.is_dropped()) {
            let mut single = true;
            loop {
                if self.closed.load(Ordering::Acquire) || self.stopped.lock().is_some() {
                    return;
                }
                let task = self.compact_one(t, &mut single);
                match task {
                    None => break,
                    Some(Ok(())) => {
                        self.stall_cv.notify_all();
                    }
                    Some(Err(e)) => {
                        self.stop(&e);
                        return;
                    }
                }
            }
        }
    }

    /// Drops the tree's fully expired files, or else runs the next compaction the tree's
    /// strategy picks, if any. A single-file tombstone compaction is picked only while
    /// `single` holds, and clears it: one per round of picks, so a file whose deletions cannot
    /// be purged yet is not rewritten again and again within a round, whatever the interval.
    fn compact_one(&self, t: &Arc<TreeInner>, single: &mut bool) -> Option<Result<()>> {
        let _g = t.compaction_lock.lock();
        let tuned = t.tuned();
        // Memtables before the version: a flush installs its file before it drops the
        // memtable, so data being flushed meanwhile is seen in one or the other.
        let mem = t.mem.read().clone();
        let v = t.version.read().clone();
        let infos = v.file_infos_with(&t.compacting.lock(), Some((&t.name, &tuned)));
        let now = now_micros();
        let every = u64::try_from(tuned.opts.tombstones.expired_check_interval.as_micros())
            .unwrap_or(u64::MAX);
        let last = t.expired_checked_micros.load(Ordering::Acquire);
        if last == 0 || now >= last.saturating_add(every) {
            t.expired_checked_micros
                .store(now.max(1), Ordering::Release);
            let expired = self.fully_expired(t, &tuned, &mem, &infos);
            if !expired.is_empty() {
                return Some(self.drop_files(t, &expired));
            }
        }
        let ctx = PickContext {
            now_micros: now,
            tombstones: tuned.opts.tombstones.clone(),
            single_file: *single,
        };
        let task = tuned.strategy.pick_at(&infos, &ctx)?;
        if task.purpose == Purpose::Tombstones {
            *single = false;
        }
        Some(self.run_task(t, &task))
    }

    /// The files of `infos` to drop whole (`compaction::expired`).
    fn fully_expired(
        &self,
        t: &Arc<TreeInner>,
        tuned: &Tuned,
        mem: &MemSet,
        infos: &[Vec<FileInfo>],
    ) -> Vec<u64> {
        let Some(collector) = tuned.opts.properties_collector.clone() else {
            return Vec::new();
        };
        let view = OutsideView {
            tree: t.clone(),
            inputs: HashSet::new(),
            collector: Some(collector.clone()),
        };
        expired::fully_expired(infos, &mut |lo, hi| {
            view.memtables_of(mem, lo, hi)
                .iter()
                .map(|m| {
                    m.properties
                        .as_deref()
                        .and_then(|p| collector.file_times(p))
                        .map_or(i64::MIN, |times| times.min_timestamp)
                })
                .min()
                .unwrap_or(i64::MAX)
        })
    }

    /// Removes the files `ids` from the tree without reading them (they are fully expired).
    fn drop_files(&self, tree: &Arc<TreeInner>, ids: &[u64]) -> Result<()> {
        let version = tree.version.read().clone();
        let dropped: Vec<Arc<TableFile>> = version
            .levels
            .iter()
            .flatten()
            .filter(|f| ids.contains(&f.entry.id))
            .cloned()
            .collect();
        if dropped.is_empty() {
            return Ok(());
        }
        let ids: HashSet<u64> = dropped.iter().map(|f| f.entry.id).collect();
        self.install(tree, &ids, &[], Vec::new(), 0)?;
        for f in &dropped {
            tracing::info!(tree = %tree.name, file = f.entry.id, bytes = f.entry.meta.file_size, "dropped fully expired file");
            f.obsolete.store(true, Ordering::Release);
        }
        self.expired_files_dropped
            .fetch_add(dropped.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Runs picked compactions of `tree` on this thread until none is picked.
    pub(crate) fn compact_pending(&self, tree: &Arc<TreeInner>) -> Result<()> {
        self.check_writable()?;
        let mut single = true;
        while let Some(r) = self.compact_one(tree, &mut single) {
            r?;
            self.stall_cv.notify_all();
            tree.check_live()?;
        }
        Ok(())
    }

    pub(crate) fn compact_range(
        &self,
        tree: &Arc<TreeInner>,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Result<()> {
        self.check_writable()?;
        let _g = tree.compaction_lock.lock();
        // Fully expired files go first, unread, as in every Cassandra compaction.
        let tuned = tree.tuned();
        let mem = tree.mem.read().clone();
        let v = tree.version.read().clone();
        let infos = v.file_infos_with(&tree.compacting.lock(), Some((&tree.name, &tuned)));
        let expired = self.fully_expired(tree, &tuned, &mem, &infos);
        if !expired.is_empty() {
            self.drop_files(tree, &expired)?;
        }
        for _ in 0..2 {
            let v = tree.version.read().clone();
            let infos = v.file_infos_with(&tree.compacting.lock(), None);
            let Some(task) = tree.tuned().strategy.pick_range(&infos, start, end) else {
                break;
            };
            let in_place = task.inputs.iter().all(|(l, _)| *l == task.output_level);
            self.run_task(tree, &task)?;
            if in_place {
                break;
            }
        }
        self.stall_cv.notify_all();
        Ok(())
    }

    /// Runs a picked task and installs its outputs. Call with the tree's compaction lock held.
    fn run_task(&self, tree: &Arc<TreeInner>, task: &CompactionTask) -> Result<()> {
        let version = tree.version.read().clone();
        let mut inputs: Vec<(usize, Arc<TableFile>)> = Vec::new();
        for (level, ids) in &task.inputs {
            let Some(files) = version.levels.get(*level) else {
                return Ok(());
            };
            for id in ids {
                match files.iter().find(|f| f.entry.id == *id) {
                    Some(f) => inputs.push((*level, f.clone())),
                    None => return Ok(()), // stale task
                }
            }
        }
        if inputs.is_empty() {
            return Ok(());
        }
        let ids: HashSet<u64> = inputs.iter().map(|(_, f)| f.entry.id).collect();
        tree.compacting.lock().extend(ids.iter().copied());
        let result = self.run_task_inner(tree, task, &inputs, &ids);
        let mut c = tree.compacting.lock();
        for id in &ids {
            c.remove(id);
        }
        result
    }

    fn run_task_inner(
        &self,
        tree: &Arc<TreeInner>,
        task: &CompactionTask,
        inputs: &[(usize, Arc<TableFile>)],
        ids: &HashSet<u64>,
    ) -> Result<()> {
        let mut children: Vec<Box<dyn Cursor>> = Vec::new();
        let mut by_level: HashMap<usize, Vec<Arc<TableFile>>> = HashMap::new();
        let mut tombstones = Vec::new();
        for (level, f) in inputs {
            tombstones.extend(f.table.range_deletes().iter().cloned());
            if *level == 0 {
                children.push(Box::new(f.table.iter()));
            } else {
                by_level.entry(*level).or_default().push(f.clone());
            }
        }
        for (_, mut files) in by_level {
            files.sort_by(by_smallest);
            children.push(Box::new(LevelCursor::new(files)));
        }
        let mut cursor = MergingCursor::new(children);
        let tuned = tree.tuned();
        // The ids this job allocates: on failure exactly these files are removed. (Sweeping
        // the directory for files the manifest does not list would also delete a concurrent
        // flush's output before that flush installs it.)
        let created = std::cell::RefCell::new(Vec::new());
        let alloc = || {
            let id = self.alloc_file_id();
            created.borrow_mut().push(id);
            id
        };
        let spec = JobSpec {
            vfs: &self.vfs,
            dir: &self.dir,
            table_opts: self.table_options(tree),
            target_file_size: task.target_file_size.max(1),
            oldest_snapshot: self.snapshots.oldest_or_visible(&self.visible),
            bottommost: task.bottommost,
            output_level: task.output_level,
            tree_name: &tree.name,
            filter: tuned.opts.compaction_filter.as_deref(),
            merge: tree.opts.merge_operator.as_deref(),
            collector: tuned.opts.properties_collector.as_deref(),
            outside: Some(Arc::new(OutsideView {
                tree: tree.clone(),
                inputs: ids.clone(),
                collector: tuned.opts.properties_collector.clone(),
            })),
            next_file_id: &alloc,
            created_micros: match task.purpose {
                Purpose::Merge => output_created_micros(inputs),
                Purpose::Tombstones => now_micros(),
            },
            throttle: self.opts.compaction_throttle.as_deref(),
        };
        let out = match job::run(&spec, &mut cursor, tombstones) {
            Ok(out) => out,
            Err(e) => {
                self.remove_job_outputs(&created.borrow());
                return Err(e);
            }
        };
        let mut new_files = Vec::new();
        for f in &out.files {
            new_files.push(open_table(&self.vfs, &self.dir, &self.cache, f.clone())?);
        }
        self.install(tree, ids, &out.files, new_files, task.output_level)?;
        for (_, f) in inputs {
            f.obsolete.store(true, Ordering::Release);
        }
        self.compaction_bytes
            .fetch_add(out.bytes_written, Ordering::Relaxed);
        Ok(())
    }

    /// Replaces the files `ids` of `tree` by `out` (opened as `new_files`) at `output_level`,
    /// in the manifest and then in the tree's version.
    fn install(
        &self,
        tree: &Arc<TreeInner>,
        ids: &HashSet<u64>,
        out: &[FileEntry],
        new_files: Vec<Arc<TableFile>>,
        output_level: usize,
    ) -> Result<()> {
        let mut m = self.manifest.lock();
        let mut next = m.clone();
        let Some(ts) = next.trees.get_mut(tree.id as usize) else {
            return Err(Error::UnknownTree(tree.name.clone()));
        };
        let nlevels = tree.version.read().levels.len().max(output_level + 1);
        if ts.levels.len() < nlevels {
            ts.levels.resize_with(nlevels, Vec::new);
        }
        for level in ts.levels.iter_mut() {
            level.retain(|f| !ids.contains(&f.id));
        }
        if let Some(level) = ts.levels.get_mut(output_level) {
            level.extend(out.iter().cloned());
            if output_level > 0 {
                level.sort_by(|a, b| crate::key::compare(&a.meta.smallest, &b.meta.smallest));
            } else {
                // The same newest-first order as the version below: the manifest's order is the
                // read order after a reopen.
                level.sort_by_key(|f| std::cmp::Reverse(f.meta.max_seq));
            }
        }
        next.next_file_id = self.next_file_id.load(Ordering::Acquire);
        next.store(self.vfs.as_ref(), &self.dir)?;
        *m = next;
        let mut v = tree.version.write();
        let mut levels: Vec<Vec<Arc<TableFile>>> = v
            .levels
            .iter()
            .map(|l| {
                l.iter()
                    .filter(|f| !ids.contains(&f.entry.id))
                    .cloned()
                    .collect()
            })
            .collect();
        if levels.len() < nlevels {
            levels.resize_with(nlevels, Vec::new);
        }
        if let Some(level) = levels.get_mut(output_level) {
            if output_level == 0 {
                // Outputs of an L0 -> L0 compaction hold older data than the remaining L0
                // files that were not inputs; keep newest-first order by max sequence.
                level.extend(new_files);
                level.sort_by_key(|f| std::cmp::Reverse(f.entry.meta.max_seq));
            } else {
                level.extend(new_files);
                level.sort_by(by_smallest);
            }
        }
        *v = Arc::new(Version { levels });
        Ok(())
    }

    /// Removes the files a failed job wrote; none of them is in the manifest.
    fn remove_job_outputs(&self, ids: &[u64]) {
        for id in ids {
            let path = self.dir.join(manifest::table_name(*id));
            if let Err(e) = self.vfs.remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove a failed job's output");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use crate::compaction::CompactionConfig;
    use crate::db::{DEFAULT_TREE, Db};
    use crate::options::TreeOptions;
    use crate::tree::{TableFile, TreeInner, Version};
    use crate::vfs::MemVfs;

    const HOUR: u64 = 3_600_000_000;

    /// Sets the creation time of the tree's L0 files (newest first) as if written long ago.
    fn backdate(tree: &TreeInner, created: &[Option<u64>]) {
        let _g = tree.compaction_lock.lock();
        let mut v = tree.version.write();
        let mut levels = v.levels.clone();
        for (f, c) in levels[0].iter_mut().zip(created) {
            if let Some(c) = c {
                let mut entry = f.entry.clone();
                entry.created_micros = *c;
                *f = Arc::new(TableFile {
                    entry,
                    table: f.table.clone(),
                    path: f.path.clone(),
                    obsolete: AtomicBool::new(false),
                    vfs: f.vfs.clone(),
                });
            }
        }
        *v = Arc::new(Version { levels });
    }

    #[test]
    fn compacting_an_old_time_window_keeps_its_output_in_that_window() {
        let db = Db::builder()
            .default_tree_options(TreeOptions {
                compaction: CompactionConfig::time_window(HOUR),
                ..TreeOptions::default()
            })
            .open_with_vfs(Arc::new(MemVfs::new()), Path::new("/db"))
            .unwrap();
        let t = db.tree(DEFAULT_TREE).unwrap();
        for i in 0..3u8 {
            t.put(&[i], b"v").unwrap();
            db.flush().unwrap();
        }
        // L0, newest first: one file of now, two of the 5h window.
        backdate(&t.inner, &[None, Some(5 * HOUR + 2), Some(5 * HOUR + 1)]);
        db.inner.compact_all();

        let v = t.inner.version.read().clone();
        let created: Vec<u64> = v.levels[0].iter().map(|f| f.entry.created_micros).collect();
        assert_eq!(
            created.len(),
            2,
            "the old window became one file: {created:?}"
        );
        assert!(created[0] / HOUR > 5, "the newest file is untouched");
        assert_eq!(
            created[1],
            5 * HOUR + 2,
            "the output carries its newest input's time"
        );
        let m = db.inner.manifest.lock().clone();
        let l0 = &m.trees[0].levels[0];
        assert!(l0.iter().any(|f| f.created_micros == 5 * HOUR + 2));
        // Nothing more to do: the old window is one file, the newest holds one file.
        let infos = v.file_infos(&HashSet::new());
        assert_eq!(t.inner.tuned().strategy.pick(&infos), None);
        for i in 0..3u8 {
            assert_eq!(t.get(&[i]).unwrap(), Some(b"v".to_vec()));
        }
    }

    /// Found by the storage model test with time-window compaction: an L0 -> L0 compaction of
    /// the newest files was listed last in the manifest, so after a reopen the older file
    /// shadowed its output.
    #[test]
    fn an_l0_compaction_of_newer_files_keeps_them_newer_across_a_reopen() {
        let vfs = Arc::new(MemVfs::new());
        let open = || {
            Db::builder()
                .default_tree_options(TreeOptions {
                    compaction: CompactionConfig::SizeTiered {
                        min_threshold: 32,
                        max_threshold: 32,
                        bucket_low: 0.5,
                        bucket_high: 1.5,
                        min_sstable_size: 1,
                    },
                    ..TreeOptions::default()
                })
                .open_with_vfs(vfs.clone(), Path::new("/db"))
                .unwrap()
        };
        let db = open();
        let t = db.tree(DEFAULT_TREE).unwrap();
        for v in [b"1", b"2", b"3"] {
            t.put(b"k", v).unwrap();
            db.flush().unwrap();
        }
        let l0: Vec<u64> = t.inner.version.read().levels[0]
            .iter()
            .map(|f| f.entry.id)
            .collect();
        let task = crate::compaction::CompactionTask {
            inputs: vec![(0, l0[..2].to_vec())],
            output_level: 0,
            target_file_size: u64::MAX,
            bottommost: false,
            purpose: crate::compaction::Purpose::Merge,
        };
        {
            let _g = t.inner.compaction_lock.lock();
            db.inner.run_task(&t.inner, &task).unwrap();
        }
        assert_eq!(t.get(b"k").unwrap(), Some(b"3".to_vec()));
        drop(t);
        db.close().unwrap();
        let db = open();
        let t = db.tree(DEFAULT_TREE).unwrap();
        assert_eq!(t.get(b"k").unwrap(), Some(b"3".to_vec()));
    }
}
