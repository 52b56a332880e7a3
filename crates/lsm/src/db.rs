//! The database: open and recovery, the write path, flushes, compactions, checkpoints and
//! statistics. Background work runs on plain threads fed by crossbeam channels.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::batch::{Op, WriteBatch};
use crate::cache::BlockCache;
use crate::commitlog::{self, CommitLog};
use crate::compaction::CompactionTask;
use crate::compaction::job::{self, JobSpec};
use crate::error::{Error, Result};
use crate::iter::{Cursor, LevelCursor, MemCursor, MergingCursor};
use crate::key::{Kind, MAX_SEQ, SeqNo};
use crate::manifest::{self, FileEntry, Manifest, TreeState};
use crate::memtable::Memtable;
use crate::options::{Builder, SyncMode, TreeOptions};
use crate::properties::OutsideView;
use crate::snapshot::{Snapshot, SnapshotGuard, SnapshotList};
use crate::sstable::{Table, TableOptions};
use crate::stats::{LevelStats, Stats, TreeStats};
use crate::tree::{MemSet, TableFile, Tree, TreeInner, Tuned, Version, by_smallest};
use crate::vfs::Vfs;

const LOCK_NAME: &str = "LOCK";
/// The tree every database has.
pub const DEFAULT_TREE: &str = "default";

#[derive(Debug, Clone, Copy)]
enum Work {
    Go,
    Stop,
}

/// An open database. Cheap to clone; the last handle (and every [`Tree`]) dropped closes it.
///
/// See the crate documentation for an example.
#[derive(Debug, Clone)]
pub struct Db {
    inner: UserHandle,
}

/// One of the user's handles (a [`Db`] or a [`Tree`]) on the engine. Background threads hold
/// the engine too, for the length of a job, so the engine's own `Drop` can come later than the
/// user's last drop. When the last user handle goes, background work is stopped and joined on
/// the dropping thread, before that drop returns: once a caller has dropped every handle, no
/// thread of this instance writes a file again, and the directory can be opened anew.
#[derive(Debug)]
pub(crate) struct UserHandle(Arc<DbInner>);

impl UserHandle {
    fn new(inner: Arc<DbInner>) -> UserHandle {
        inner.user_handles.fetch_add(1, Ordering::AcqRel);
        UserHandle(inner)
    }
}

impl Clone for UserHandle {
    fn clone(&self) -> UserHandle {
        UserHandle::new(Arc::clone(&self.0))
    }
}

impl Drop for UserHandle {
    fn drop(&mut self) {
        if self.0.user_handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.shutdown();
        }
    }
}

impl std::ops::Deref for UserHandle {
    type Target = Arc<DbInner>;
    fn deref(&self) -> &Arc<DbInner> {
        &self.0
    }
}

pub(crate) struct DbInner {
    pub(crate) dir: PathBuf,
    pub(crate) vfs: Arc<dyn Vfs>,
    opts: Builder,
    cache: Arc<BlockCache>,
    pub(crate) log: CommitLog,
    /// Next sequence number to assign; held for the whole append + memtable insert.
    write_lock: Mutex<SeqNo>,
    /// Highest sequence number readers may see.
    visible: AtomicU64,
    /// Highest sequence number inserted into memtables.
    inserted: AtomicU64,
    trees: RwLock<Arc<Vec<Arc<TreeInner>>>>,
    manifest: Mutex<Manifest>,
    next_file_id: AtomicU64,
    pub(crate) snapshots: Arc<SnapshotList>,
    stopped: Mutex<Option<String>>,
    closed: AtomicBool,
    /// How many [`UserHandle`]s exist.
    user_handles: AtomicUsize,
    stall_lock: Mutex<()>,
    stall_cv: Condvar,
    flush_tx: Sender<Work>,
    compact_tx: Sender<Work>,
    sync_stop: Mutex<Option<Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    user_bytes: AtomicU64,
    flush_bytes: AtomicU64,
    compaction_bytes: AtomicU64,
    _lock: Option<File>,
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// When a compaction's outputs were "created": the newest data among the inputs, so compacting
/// an old time window keeps its outputs in that window.
fn output_created_micros(inputs: &[(usize, Arc<TableFile>)]) -> u64 {
    inputs
        .iter()
        .map(|(_, f)| f.entry.created_micros)
        .max()
        .unwrap_or_else(now_micros)
}

impl Db {
    /// Options for a new [`Db`]; finish with [`Builder::open`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Opens (or creates) a database in `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Builder::default().open(path)
    }

    pub(crate) fn open_inner(
        opts: Builder,
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        os_lock: bool,
    ) -> Result<Db> {
        opts.validate()?;
        vfs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = if os_lock { Some(lock_dir(dir)?) } else { None };
        let names = vfs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
        let manifest = match Manifest::load(vfs.as_ref(), dir)? {
            Some(m) => m,
            None => {
                if names
                    .iter()
                    .any(|n| n.ends_with(".log") || n.ends_with(".sst"))
                {
                    return Err(Error::Corruption {
                        file: dir.join(manifest::FILE_NAME),
                        offset: 0,
                        reason: "the manifest is missing but data files exist",
                    });
                }
                let m = Manifest {
                    next_file_id: 1,
                    last_seq: 0,
                    trees: vec![TreeState {
                        id: 0,
                        name: DEFAULT_TREE.to_owned(),
                        flushed_seq: 0,
                        levels: Vec::new(),
                    }],
                };
                m.store(vfs.as_ref(), dir)?;
                m
            }
        };
        // Leftovers of interrupted flushes and compactions.
        let live: HashSet<u64> = manifest
            .trees
            .iter()
            .flat_map(|t| t.levels.iter().flatten().map(|f| f.id))
            .collect();
        for name in &names {
            let orphan = manifest::parse_table_name(name).is_some_and(|id| !live.contains(&id));
            if orphan || name == "MANIFEST.tmp" {
                let p = dir.join(name);
                match vfs.remove_file(&p) {
                    // Already gone is what we wanted.
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::io(&p, e));
                    }
                    _ => {}
                }
            }
        }
        let cache = Arc::new(BlockCache::new(opts.block_cache_size));
        let mut trees: Vec<Arc<TreeInner>> = Vec::new();
        for (i, t) in manifest.trees.iter().enumerate() {
            if t.id as usize != i {
                return Err(Error::Corruption {
                    file: dir.join(manifest::FILE_NAME),
                    offset: 0,
                    reason: "manifest tree ids are not dense",
                });
            }
            let mut levels = Vec::new();
            for level in &t.levels {
                let mut files = Vec::new();
                for f in level {
                    files.push(open_table(&vfs, dir, &cache, f.clone())?);
                }
                levels.push(files);
            }
            let tree = new_tree(opts.options_for(&t.name), t.id, &t.name, levels);
            tree.dropped.store(t.is_dropped(), Ordering::Release);
            trees.push(Arc::new(tree));
        }
        // Replay the log into the memtables.
        let mem_limit = opts.memtable_size;
        let flushed: Vec<SeqNo> = manifest.trees.iter().map(|t| t.flushed_seq).collect();
        let recovered =
            CommitLog::recover(vfs.clone(), dir, opts.log_segment_size, 0, |seq, ops| {
                for (i, op) in ops.into_iter().enumerate() {
                    let s = seq + i as u64;
                    let idx = op.tree as usize;
                    let (Some(tree), Some(&done)) = (trees.get(idx), flushed.get(idx)) else {
                        return Err(Error::Corruption {
                            file: dir.join(commitlog::segment_name(0)),
                            offset: 0,
                            reason: "commit log names a tree the manifest does not know",
                        });
                    };
                    if s <= done {
                        continue;
                    }
                    let mem = tree.mem.read().clone();
                    mem.active.insert(&op.key, s, op.kind, &op.value);
                    if mem.active.approximate_size() >= mem_limit {
                        freeze(tree, s);
                    }
                }
                Ok(())
            })?;
        let last_seq = recovered.last_seq.max(manifest.last_seq);
        let (flush_tx, flush_rx) = channel::unbounded();
        let (compact_tx, compact_rx) = channel::unbounded();
        let next_file_id = AtomicU64::new(manifest.next_file_id);
        let inner = Arc::new(DbInner {
            dir: dir.to_owned(),
            vfs,
            opts,
            cache,
            log: recovered.log,
            write_lock: Mutex::new(last_seq + 1),
            visible: AtomicU64::new(last_seq),
            inserted: AtomicU64::new(last_seq),
            trees: RwLock::new(Arc::new(trees)),
            manifest: Mutex::new(manifest),
            next_file_id,
            snapshots: Arc::new(SnapshotList::default()),
            stopped: Mutex::new(None),
            closed: AtomicBool::new(false),
            user_handles: AtomicUsize::new(0),
            stall_lock: Mutex::new(()),
            stall_cv: Condvar::new(),
            flush_tx,
            compact_tx,
            sync_stop: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
            user_bytes: AtomicU64::new(0),
            flush_bytes: AtomicU64::new(0),
            compaction_bytes: AtomicU64::new(0),
            _lock: lock,
        });
        inner.start_threads(flush_rx, compact_rx);
        let _ = inner.flush_tx.send(Work::Go);
        let _ = inner.compact_tx.send(Work::Go);
        Ok(Db {
            inner: UserHandle::new(inner),
        })
    }

    /// The tree called `name`, created (durably) if it does not exist yet, with the options
    /// the [`Builder`] gave for it.
    pub fn tree(&self, name: &str) -> Result<Tree> {
        self.inner.check_open()?;
        let inner = self.inner.tree_by_name(name, None)?;
        Ok(Tree {
            db: self.inner.clone(),
            inner,
        })
    }

    /// The tree called `name` with options `opts`: created with them if it does not exist yet,
    /// otherwise changed to them as [`Tree::set_options`] does (the merge operator of an
    /// existing tree stays).
    pub fn tree_with_options(&self, name: &str, opts: TreeOptions) -> Result<Tree> {
        self.inner.check_open()?;
        opts.validate()?;
        let inner = self.inner.tree_by_name(name, Some(opts.clone()))?;
        let tree = Tree {
            db: self.inner.clone(),
            inner,
        };
        tree.set_options(opts)?;
        Ok(tree)
    }

    /// Names of the trees, in creation order.
    pub fn tree_names(&self) -> Vec<String> {
        self.inner
            .trees
            .read()
            .iter()
            .filter(|t| !t.is_dropped())
            .map(|t| t.name.clone())
            .collect()
    }

    /// Removes the tree called `name`: its table files, its manifest entry and its memtable
    /// contents. The drop is one manifest rewrite, so after a crash the tree is either whole or
    /// gone; commit log records for it are ignored on replay. Handles to it fail with
    /// [`Error::TreeDropped`] afterwards, and [`Db::tree`] with the same name creates a fresh,
    /// empty tree.
    pub fn drop_tree(&self, name: &str) -> Result<()> {
        self.inner.drop_tree(name)
    }

    /// Applies a batch atomically (all of it or, after a crash, none of it).
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        for op in &batch.ops {
            if op.kind == Kind::Merge
                && let Some(t) = self.inner.trees.read().get(op.tree as usize)
                && t.opts.merge_operator.is_none()
            {
                return Err(Error::InvalidOption {
                    option: "merge_operator",
                    reason: format!("tree `{}` has no merge operator", t.name),
                });
            }
        }
        self.inner.write_ops(batch.ops, batch.user_bytes)
    }

    /// A consistent view of every tree as of now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            guard: self.inner.pin(),
        }
    }

    /// Flushes every tree's memtable to table files and waits for it.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        let trees = self.inner.trees.read().clone();
        {
            let next = self.inner.write_lock.lock();
            for t in trees.iter() {
                freeze(t, *next - 1);
            }
        }
        for t in trees.iter() {
            self.inner.flush_tree(t, false)?;
        }
        Ok(())
    }

    /// Makes every write so far durable (useful in periodic sync mode).
    pub fn sync(&self) -> Result<()> {
        let d = self.inner.log.sync_all()?;
        self.inner.publish(d);
        Ok(())
    }

    /// Writes a consistent copy of the database into `dest` (a new or empty directory): table
    /// files are hard-linked, commit log segments copied, and a manifest written. The copy opens
    /// like any database.
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<()> {
        self.inner.checkpoint(dest.as_ref())
    }

    /// Statistics: files and bytes per level, bytes written, amplification, cache hits.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Stops background work, syncs the log and releases the directory. Other handles and trees
    /// of this database fail with [`Error::Closed`] afterwards.
    pub fn close(self) -> Result<()> {
        self.inner.shutdown();
        let d = self.inner.log.sync_all();
        d.map(|_| ())
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_NAME);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

fn open_table(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    cache: &Arc<BlockCache>,
    entry: FileEntry,
) -> Result<Arc<TableFile>> {
    let path = dir.join(manifest::table_name(entry.id));
    let table = Table::open(vfs.as_ref(), &path, entry.id, cache.clone())?;
    Ok(Arc::new(TableFile {
        entry,
        table: Arc::new(table),
        path,
        obsolete: AtomicBool::new(false),
        vfs: vfs.clone(),
    }))
}

fn new_tree(
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
    }
}

/// Freezes the tree's active memtable (if not empty); `last_seq` is the last sequence number
/// assigned so far. Call with the write lock held (or during recovery).
fn freeze(tree: &TreeInner, last_seq: SeqNo) -> bool {
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
    fn start_threads(self: &Arc<Self>, flush_rx: Receiver<Work>, compact_rx: Receiver<Work>) {
        let mut threads = self.threads.lock();
        let weak = Arc::downgrade(self);
        threads.push(spawn("lsm-flush", weak.clone(), flush_rx, |db| {
            db.flush_all_pending()
        }));
        threads.push(spawn("lsm-compact", weak.clone(), compact_rx, |db| {
            db.compact_all()
        }));
        if let SyncMode::Periodic(period) = self.opts.sync {
            let (tx, rx) = channel::bounded::<()>(1);
            *self.sync_stop.lock() = Some(tx);
            let handle = std::thread::Builder::new()
                .name("lsm-sync".into())
                .spawn(move || {
                    loop {
                        match rx.recv_timeout(period) {
                            Err(RecvTimeoutError::Timeout) => {}
                            _ => return,
                        }
                        let Some(db) = weak.upgrade() else { return };
                        if let Ok(d) = db.log.sync_all() {
                            db.publish(d);
                        }
                    }
                });
            if let Ok(h) = handle {
                threads.push(h);
            }
        }
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if let Some(reason) = &*self.stopped.lock() {
            return Err(Error::WritesStopped {
                reason: reason.clone(),
            });
        }
        self.log.check()
    }

    /// Records a background failure: writes stop for good.
    fn stop(&self, e: &Error) {
        tracing::error!(error = %e, "background work failed; refusing further writes");
        let mut s = self.stopped.lock();
        if s.is_none() {
            *s = Some(e.to_string());
        }
        self.stall_cv.notify_all();
    }

    pub(crate) fn visible_seq(&self) -> SeqNo {
        self.visible.load(Ordering::Acquire)
    }

    pub(crate) fn pin(&self) -> Arc<SnapshotGuard> {
        self.snapshots.acquire(&self.visible)
    }

    /// Makes writes up to the durable sequence number visible (batch mode shows only durable
    /// writes; every inserted write up to it is in the memtables).
    fn publish(&self, durable: SeqNo) {
        let upto = durable.min(self.inserted.load(Ordering::Acquire));
        self.visible.fetch_max(upto, Ordering::AcqRel);
    }

    fn live_tree(&self, name: &str) -> Option<Arc<TreeInner>> {
        self.trees
            .read()
            .iter()
            .find(|t| t.name == name && !t.is_dropped())
            .cloned()
    }

    /// The live tree called `name`, created with `opts` (or the builder's options for it).
    fn tree_by_name(&self, name: &str, opts: Option<TreeOptions>) -> Result<Arc<TreeInner>> {
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

    fn drop_tree(&self, name: &str) -> Result<()> {
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

    fn tree_stalled(&self, t: &TreeInner) -> bool {
        if t.mem.read().frozen.len() >= self.opts.max_immutable_memtables {
            return true;
        }
        let v = t.version.read().clone();
        if v.levels.first().map_or(0, Vec::len) < self.opts.l0_stop_files {
            return false;
        }
        // Only while compaction can make progress: some strategies leave L0 alone.
        let infos = v.file_infos(&t.compacting.lock());
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

    pub(crate) fn write_ops(&self, ops: Vec<Op>, user_bytes: u64) -> Result<()> {
        self.check_writable()?;
        if ops.is_empty() {
            return Ok(());
        }
        let trees = self.trees.read().clone();
        let mut ids: Vec<u32> = Vec::with_capacity(2);
        for op in &ops {
            if trees.get(op.tree as usize).is_none() {
                return Err(Error::UnknownTree(format!("#{}", op.tree)));
            }
            if !ids.contains(&op.tree) {
                ids.push(op.tree);
            }
        }
        self.maybe_stall(&trees, &ids)?;
        let n = ops.len() as u64;
        let (lsn, froze) = {
            let mut next = self.write_lock.lock();
            self.check_writable()?;
            for id in &ids {
                if let Some(t) = trees.get(*id as usize) {
                    t.check_live()?;
                }
            }
            let seq = *next;
            let lsn = self.log.append(seq, &ops)?;
            *next += n;
            for (i, op) in ops.iter().enumerate() {
                if let Some(t) = trees.get(op.tree as usize) {
                    let mem = t.mem.read().clone();
                    mem.active
                        .insert(&op.key, seq + i as u64, op.kind, &op.value);
                }
            }
            let last = seq + n - 1;
            self.inserted.store(last, Ordering::Release);
            let mut froze = false;
            for id in &ids {
                if let Some(t) = trees.get(*id as usize)
                    && t.mem.read().active.approximate_size() >= self.opts.memtable_size
                {
                    froze |= freeze(t, last);
                }
            }
            if matches!(self.opts.sync, SyncMode::Periodic(_)) {
                self.visible.fetch_max(last, Ordering::AcqRel);
            }
            (lsn, froze)
        };
        self.user_bytes.fetch_add(user_bytes, Ordering::Relaxed);
        if froze {
            let _ = self.flush_tx.send(Work::Go);
        }
        if self.opts.sync == SyncMode::Batch {
            let durable = self.log.sync_to(lsn)?;
            self.publish(durable);
        } else {
            self.log.write_to(lsn)?;
        }
        Ok(())
    }

    fn table_options(&self, tree: &TreeInner) -> TableOptions {
        TableOptions {
            block_size: self.opts.block_size,
            compression: tree.tuned().opts.compression,
            bloom_bits_per_key: self.opts.bloom_bits_per_key,
        }
    }

    fn alloc_file_id(&self) -> u64 {
        self.next_file_id.fetch_add(1, Ordering::AcqRel)
    }

    fn flush_all_pending(&self) {
        let trees = self.trees.read().clone();
        for t in trees.iter().filter(|t| !t.is_dropped()) {
            if let Err(e) = self.flush_tree(t, false) {
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
        }
        let _g = tree.flush_lock.lock();
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
        // The table must not hold writes the log could still lose.
        let durable = self.log.sync_all()?;
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
    fn delete_obsolete_logs(&self) -> Result<()> {
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

    fn compact_all(&self) {
        let trees = self.trees.read().clone();
        for t in trees.iter().filter(|t| !t.is_dropped()) {
            loop {
                if self.closed.load(Ordering::Acquire) || self.stopped.lock().is_some() {
                    return;
                }
                let task = self.compact_one(t);
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

    /// Runs the next compaction the tree's strategy picks, if any.
    fn compact_one(&self, t: &Arc<TreeInner>) -> Option<Result<()>> {
        let _g = t.compaction_lock.lock();
        let v = t.version.read().clone();
        let infos = v.file_infos(&t.compacting.lock());
        let task = t.tuned().strategy.pick(&infos);
        task.map(|task| self.run_task(t, &task))
    }

    /// Runs picked compactions of `tree` on this thread until none is picked.
    pub(crate) fn compact_pending(&self, tree: &Arc<TreeInner>) -> Result<()> {
        self.check_writable()?;
        while let Some(r) = self.compact_one(tree) {
            r?;
            self.stall_cv.notify_all();
            tree.check_live()?;
        }
        Ok(())
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

    pub(crate) fn compact_range(
        &self,
        tree: &Arc<TreeInner>,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Result<()> {
        self.check_writable()?;
        let _g = tree.compaction_lock.lock();
        for _ in 0..2 {
            let v = tree.version.read().clone();
            let infos = v.file_infos(&tree.compacting.lock());
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
            created_micros: output_created_micros(inputs),
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
        {
            let mut m = self.manifest.lock();
            let mut next = m.clone();
            let Some(ts) = next.trees.get_mut(tree.id as usize) else {
                return Err(Error::UnknownTree(tree.name.clone()));
            };
            let nlevels = tree.version.read().levels.len().max(task.output_level + 1);
            if ts.levels.len() < nlevels {
                ts.levels.resize_with(nlevels, Vec::new);
            }
            for level in ts.levels.iter_mut() {
                level.retain(|f| !ids.contains(&f.id));
            }
            if let Some(level) = ts.levels.get_mut(task.output_level) {
                level.extend(out.files.iter().cloned());
                if task.output_level > 0 {
                    level.sort_by(|a, b| crate::key::compare(&a.meta.smallest, &b.meta.smallest));
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
            if let Some(level) = levels.get_mut(task.output_level) {
                if task.output_level == 0 {
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
        }
        for (_, f) in inputs {
            f.obsolete.store(true, Ordering::Release);
        }
        self.compaction_bytes
            .fetch_add(out.bytes_written, Ordering::Relaxed);
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

    fn checkpoint(&self, dest: &Path) -> Result<()> {
        self.check_open()?;
        if self.vfs.exists(dest) {
            let names = self.vfs.list_dir(dest).map_err(|e| Error::io(dest, e))?;
            if !names.is_empty() {
                return Err(Error::InvalidOption {
                    option: "checkpoint",
                    reason: format!("{} is not empty", dest.display()),
                });
            }
        }
        self.vfs
            .create_dir_all(dest)
            .map_err(|e| Error::io(dest, e))?;
        let durable = self.log.sync_all()?;
        self.publish(durable);
        // Holding the manifest lock stops installs and log deletions while we copy.
        let m = self.manifest.lock();
        for t in &m.trees {
            for f in t.levels.iter().flatten() {
                let name = manifest::table_name(f.id);
                let to = dest.join(&name);
                self.vfs
                    .hard_link(&self.dir.join(&name), &to)
                    .map_err(|e| Error::io(&to, e))?;
            }
        }
        for name in self.log.segment_names() {
            let from = self.dir.join(&name);
            let to = dest.join(&name);
            let src = self.vfs.open_read(&from).map_err(|e| Error::io(&from, e))?;
            let mut w = self.vfs.create(&to).map_err(|e| Error::io(&to, e))?;
            w.append(src.bytes())
                .and_then(|()| w.sync())
                .map_err(|e| Error::io(&to, e))?;
        }
        let mut copy = m.clone();
        copy.next_file_id = self.next_file_id.load(Ordering::Acquire);
        copy.store(self.vfs.as_ref(), dest)
    }

    fn stats(&self) -> Stats {
        let mut trees = Vec::new();
        let mut total_table = 0u64;
        let mut bottom = 0u64;
        for t in self.trees.read().iter().filter(|t| !t.is_dropped()) {
            let v = t.version.read().clone();
            let ms = t.mem.read().clone();
            let levels: Vec<LevelStats> = v
                .levels
                .iter()
                .map(|l| LevelStats {
                    files: l.len(),
                    bytes: l.iter().map(|f| f.entry.meta.file_size).sum(),
                })
                .collect();
            total_table += levels.iter().map(|l| l.bytes).sum::<u64>();
            bottom += levels
                .iter()
                .rev()
                .find(|l| l.files > 0)
                .map_or(0, |l| l.bytes);
            let memtable_bytes = std::iter::once(&ms.active)
                .chain(ms.frozen.iter().map(|(m, _)| m))
                .map(|m| m.approximate_size() as u64)
                .sum();
            trees.push(TreeStats {
                name: t.name.clone(),
                levels,
                memtable_bytes,
            });
        }
        let user = self.user_bytes.load(Ordering::Relaxed);
        let log = self.log.bytes_written();
        let flush = self.flush_bytes.load(Ordering::Relaxed);
        let compaction = self.compaction_bytes.load(Ordering::Relaxed);
        Stats {
            trees,
            user_bytes_written: user,
            log_bytes_written: log,
            flush_bytes_written: flush,
            compaction_bytes_written: compaction,
            write_amplification: if user == 0 {
                0.0
            } else {
                (log + flush + compaction) as f64 / user as f64
            },
            space_amplification: if bottom == 0 {
                0.0
            } else {
                total_table as f64 / bottom as f64
            },
            table_bytes: total_table,
            cache: self.cache.stats(),
            last_seq: self.visible_seq(),
        }
    }

    /// Stops background threads (joining all but the current one).
    fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.flush_tx.send(Work::Stop);
        let _ = self.compact_tx.send(Work::Stop);
        if let Some(tx) = self.sync_stop.lock().take() {
            let _ = tx.send(());
        }
        self.stall_cv.notify_all();
        let me = std::thread::current().id();
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        self.shutdown();
        if let Err(e) = self.log.sync_all() {
            tracing::warn!(error = %e, "final commit log sync failed");
        }
    }
}

fn spawn(
    name: &str,
    weak: Weak<DbInner>,
    rx: Receiver<Work>,
    work: fn(&DbInner),
) -> JoinHandle<()> {
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Ok(msg) = rx.recv() {
                if let Work::Stop = msg {
                    return;
                }
                // Coalesce queued wake-ups.
                while let Ok(m) = rx.try_recv() {
                    if let Work::Stop = m {
                        return;
                    }
                }
                let Some(db) = weak.upgrade() else { return };
                if db.closed.load(Ordering::Acquire) {
                    return;
                }
                work(&db);
            }
        });
    match spawned {
        Ok(h) => h,
        // Could not start a thread: run nothing in the background; writers stall and report.
        Err(e) => {
            tracing::error!(error = %e, "could not start a background thread");
            std::thread::spawn(|| {})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::CompactionConfig;
    use crate::options::TreeOptions;
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
}
