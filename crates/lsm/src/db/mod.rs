//! The database: the [`Db`] handle, the engine state its handles share, and the checks every
//! operation makes. The jobs live in one file each: `open` (open and recovery), `trees`
//! (creating, dropping and re-tuning trees), `write` (the write path and write stalls),
//! `flush` (memtables into L0 files), `compaction` (running the strategies' tasks),
//! `background` (the threads that flush, compact and sync, and shutdown), `checkpoint` and
//! `stats`. Background work runs on plain threads fed by crossbeam channels.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam::channel::Sender;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::batch::{Op, OpRef, WriteBatch};
use crate::cache::BlockCache;
use crate::commitlog::CommitLog;
use crate::error::{Error, Result};
use crate::key::{Kind, SeqNo};
use crate::manifest::Manifest;
use crate::options::{Builder, TreeOptions};
use crate::snapshot::{Snapshot, SnapshotGuard, SnapshotList};
use crate::sstable::TableOptions;
use crate::stats::Stats;
use crate::tree::{Tree, TreeInner};
use crate::vfs::Vfs;

mod background;
mod checkpoint;
mod compaction;
mod flush;
mod ingest;
mod open;
mod stats;
mod trees;
mod write;

use background::Work;
use open::open_table;
use trees::new_tree;
use write::freeze;

/// The tree every database has.
pub const DEFAULT_TREE: &str = "default";

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
    /// Set once `stopped` holds a reason (the write path checks this without locking).
    has_stopped: AtomicBool,
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
    /// Fully expired files dropped since open.
    expired_files_dropped: AtomicU64,
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

impl Db {
    /// Options for a new [`Db`]; finish with [`Builder::open`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Opens (or creates) a database in `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Builder::default().open(path)
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
        let ops: Vec<OpRef<'_>> = batch.ops.iter().map(Op::borrowed).collect();
        self.inner.write_ops(&ops, batch.user_bytes)
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

impl DbInner {
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.has_stopped.load(Ordering::Acquire)
            && let Some(reason) = &*self.stopped.lock()
        {
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
        self.has_stopped.store(true, Ordering::Release);
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

    fn table_options(&self, tree: &TreeInner) -> TableOptions {
        let tuned = tree.tuned();
        TableOptions {
            block_size: tuned.opts.block_size.unwrap_or(self.opts.block_size),
            compression: tuned.opts.compression,
            bloom_bits_per_key: tuned
                .opts
                .bloom_bits_per_key
                .unwrap_or(self.opts.bloom_bits_per_key),
        }
    }

    fn alloc_file_id(&self) -> u64 {
        self.next_file_id.fetch_add(1, Ordering::AcqRel)
    }
}
