//! Trees (column families): named key spaces sharing the database's commit log.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use parking_lot::{Mutex, RwLock};

use crate::batch::OpRef;
use crate::compaction::{CompactionStrategy, FileInfo};
use crate::error::{Error, Result};
use crate::ingest::{IngestOptions, Ingested, LiveFile};
use crate::iter::{Iter, Sources, prefix_end, resolve};
use crate::key::{self, Kind, SeqNo};
use crate::manifest::FileEntry;
use crate::memtable::Memtable;
use crate::options::TreeOptions;
use crate::snapshot::SnapshotGuard;
use crate::sstable::Table;
use crate::vfs::Vfs;

/// A live table file; deleted from disk when it is obsolete and its last reader is gone.
#[derive(Debug)]
pub(crate) struct TableFile {
    pub(crate) entry: FileEntry,
    pub(crate) table: Arc<Table>,
    pub(crate) path: PathBuf,
    pub(crate) obsolete: AtomicBool,
    pub(crate) vfs: Arc<dyn Vfs>,
}

impl TableFile {
    pub(crate) fn smallest_user_key(&self) -> &[u8] {
        key::user_key(&self.entry.meta.smallest)
    }
    pub(crate) fn largest_user_key(&self) -> &[u8] {
        key::user_key(&self.entry.meta.largest)
    }
    fn may_hold(&self, user_key: &[u8]) -> bool {
        self.smallest_user_key() <= user_key && user_key <= self.largest_user_key()
    }
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if self.obsolete.load(AtomicOrdering::Acquire)
            && let Err(e) = self.vfs.remove_file(&self.path)
        {
            tracing::warn!(file = %self.path.display(), error = %e, "could not delete obsolete table");
        }
    }
}

/// The table files of a tree at one moment.
#[derive(Debug, Default)]
pub(crate) struct Version {
    /// `levels[0]` newest first (may overlap); deeper levels sorted and non-overlapping.
    pub(crate) levels: Vec<Vec<Arc<TableFile>>>,
}

impl Version {
    /// Files of `level` that may hold `user_key`, in read order.
    fn files_for<'a>(
        &'a self,
        level: usize,
        user_key: &'a [u8],
    ) -> impl Iterator<Item = &'a Arc<TableFile>> + 'a {
        let files = self.levels.get(level).map_or(&[][..], Vec::as_slice);
        // L0 files may overlap: every one is a candidate; deeper levels are sorted and
        // disjoint, so at most the files from the first whose range ends at or after the key.
        let start = if level == 0 {
            0
        } else {
            files.partition_point(|f| f.largest_user_key() < user_key)
        };
        files
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(move |f| level == 0 || f.smallest_user_key() <= user_key)
            .filter(move |f| f.may_hold(user_key))
    }

    /// What the pickers see of the files, without time facts.
    #[cfg(test)]
    pub(crate) fn file_infos(&self, compacting: &HashSet<u64>) -> Vec<Vec<FileInfo>> {
        self.file_infos_with(compacting, None)
    }

    /// What the pickers see of the files; with the tree's tuned options, the time facts its
    /// collector reads from each file's user properties and the purge horizon its compaction
    /// filter gives for each file's key range.
    pub(crate) fn file_infos_with(
        &self,
        compacting: &HashSet<u64>,
        tree: Option<(&str, &Tuned)>,
    ) -> Vec<Vec<FileInfo>> {
        let collector = tree.and_then(|(_, t)| t.opts.properties_collector.as_deref());
        let filter = tree.and_then(|(name, t)| Some((name, t.opts.compaction_filter.as_deref()?)));
        self.levels
            .iter()
            .map(|level| {
                level
                    .iter()
                    .map(|f| {
                        let times = collector
                            .and_then(|c| c.file_times(f.entry.meta.user_properties.as_deref()?));
                        let (lo, hi) = (f.smallest_user_key(), f.largest_user_key());
                        let purge_horizon = match (&times, filter) {
                            // The scope never narrows below the file's own keys.
                            (Some(_), Some((name, filter))) => {
                                filter.purge_horizon(name, lo, hi).map(|mut h| {
                                    if h.scope_start.as_slice() > lo {
                                        h.scope_start = lo.to_vec();
                                    }
                                    if h.scope_end.as_slice() < hi {
                                        h.scope_end = hi.to_vec();
                                    }
                                    h
                                })
                            }
                            _ => None,
                        };
                        FileInfo {
                            id: f.entry.id,
                            size: f.entry.meta.file_size,
                            smallest_user_key: f.smallest_user_key().to_vec(),
                            largest_user_key: f.largest_user_key().to_vec(),
                            min_seq: f.entry.meta.min_seq,
                            max_seq: f.entry.meta.max_seq,
                            created_micros: f.entry.created_micros,
                            being_compacted: compacting.contains(&f.entry.id),
                            times,
                            purge_horizon,
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// The memtables of a tree: the active one and frozen ones waiting for flush.
#[derive(Debug, Default)]
pub(crate) struct MemSet {
    pub(crate) active: Arc<Memtable>,
    /// Frozen memtables, newest first, each with the last sequence number assigned when it was
    /// frozen (every write to the tree up to it is in this memtable or an older one).
    pub(crate) frozen: Vec<(Arc<Memtable>, SeqNo)>,
}

/// A tree's shared state.
pub(crate) struct TreeInner {
    pub(crate) id: u32,
    pub(crate) name: String,
    /// The options the tree was opened (or created) with. Only its merge operator is read
    /// from here: it is fixed for the tree's life. The rest can change, see `tuned`.
    pub(crate) opts: TreeOptions,
    /// The current options and the strategy built from them ([`Tree::set_options`]).
    pub(crate) tuned: RwLock<Arc<Tuned>>,
    pub(crate) mem: RwLock<Arc<MemSet>>,
    pub(crate) version: RwLock<Arc<Version>>,
    /// Ids of files an ongoing compaction reads.
    pub(crate) compacting: Mutex<HashSet<u64>>,
    /// Held while flushing (flushes of a tree install oldest first, one at a time).
    pub(crate) flush_lock: Mutex<()>,
    /// Held while running a compaction of this tree.
    pub(crate) compaction_lock: Mutex<()>,
    /// Set (with the write lock held) once the tree is dropped; never cleared after the drop
    /// is in the manifest.
    pub(crate) dropped: AtomicBool,
    /// When the tree was last searched for fully expired files (engine clock, micros; 0:
    /// never).
    pub(crate) expired_checked_micros: AtomicU64,
    /// When the tree's memtable was last flushed, or the tree opened (engine clock, micros):
    /// [`TreeOptions::flush_period`] counts from here.
    pub(crate) flushed_micros: AtomicU64,
}

impl std::fmt::Debug for TreeInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeInner")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A tree's alterable options with the compaction strategy they describe.
pub(crate) struct Tuned {
    pub(crate) opts: TreeOptions,
    pub(crate) strategy: Box<dyn CompactionStrategy>,
}

impl Tuned {
    pub(crate) fn new(opts: TreeOptions) -> Tuned {
        Tuned {
            strategy: opts.compaction.build(),
            opts,
        }
    }
}

impl TreeInner {
    /// The current alterable options.
    pub(crate) fn tuned(&self) -> Arc<Tuned> {
        self.tuned.read().clone()
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(AtomicOrdering::Acquire)
    }

    /// `Err(TreeDropped)` once the tree is dropped.
    pub(crate) fn check_live(&self) -> Result<()> {
        if self.is_dropped() {
            return Err(Error::TreeDropped(self.name.clone()));
        }
        Ok(())
    }

    pub(crate) fn sources(&self) -> Sources {
        // Memtables before the version: a flush installs its table before it drops the frozen
        // memtable, so reading in this order never misses data.
        let mem = self.mem.read().clone();
        let version = self.version.read().clone();
        let mut mems = vec![mem.active.clone()];
        mems.extend(mem.frozen.iter().map(|(m, _)| m.clone()));
        Sources {
            mems,
            l0: version.levels.first().cloned().unwrap_or_default(),
            levels: version.levels.iter().skip(1).cloned().collect(),
        }
    }

    pub(crate) fn get_at(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Option<Vec<u8>>> {
        let mem = self.mem.read().clone();
        let version = self.version.read().clone();
        let mems = || std::iter::once(&mem.active).chain(mem.frozen.iter().map(|(m, _)| m));
        let candidates =
            || (0..version.levels.len()).flat_map(|level| version.files_for(level, user_key));
        // The newest range deletion covering the key decides which versions are deleted.
        let mut covered = 0;
        let mut cover = |t: &crate::sstable::RangeTombstone| {
            if t.seq <= snapshot && t.start.as_slice() <= user_key && user_key < t.end.as_slice() {
                covered = covered.max(t.seq);
            }
        };
        for m in mems() {
            if m.has_range_deletes() {
                let mut rds = Vec::new();
                m.range_deletes(snapshot, &mut rds);
                rds.iter().for_each(&mut cover);
            }
        }
        for f in candidates() {
            f.table.range_deletes().iter().for_each(&mut cover);
        }
        // (seq, kind, value) of the versions found, newest first.
        let mut versions: Vec<(SeqNo, Kind, Vec<u8>)> = Vec::new();
        let done = |versions: &Vec<(SeqNo, Kind, Vec<u8>)>| {
            versions
                .last()
                .is_some_and(|(seq, kind, _)| *kind != Kind::Merge || *seq < covered)
        };
        for m in mems() {
            if m.is_empty() {
                continue;
            }
            m.get_versions(user_key, snapshot, &mut versions);
            if done(&versions) {
                break;
            }
        }
        if !done(&versions) {
            // Hashed once, and only when some file's key range holds the key (a key outside
            // every file, as most missing keys are, costs no hash).
            let mut hash = None;
            for f in candidates() {
                let h = *hash.get_or_insert_with(|| crate::sstable::filter::key_hash(user_key));
                if !f.table.may_contain_hash(h) {
                    continue;
                }
                match f.table.get_version(user_key, snapshot)? {
                    None => continue,
                    Some((_, Kind::Merge, _)) => {
                        for (k, v) in f.table.get_all(user_key, snapshot)? {
                            let Some(p) = key::parse(&k) else { continue };
                            versions.push((p.seq, p.kind, v));
                            if p.kind != Kind::Merge {
                                break;
                            }
                        }
                    }
                    Some(found) => versions.push(found),
                }
                if done(&versions) {
                    break;
                }
            }
        }
        // The common case, one live put: hand its value over without another copy.
        if let [(seq, Kind::Put, _)] = versions.as_slice()
            && *seq >= covered
        {
            return Ok(versions.pop().map(|(_, _, v)| v));
        }
        let parsed = versions
            .iter()
            .map(|(seq, kind, v)| (*seq, *kind, v.as_slice()));
        Ok(resolve(
            user_key,
            parsed,
            covered,
            self.opts.merge_operator.as_deref(),
        ))
    }
}

fn bound_to_vec<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A named key space. Cheap to clone; all clones are the same tree.
///
/// ```
/// # fn main() -> ilion_lsm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = ilion_lsm::Db::builder().open(dir.path())?;
/// let t = db.tree("t")?;
/// for k in [b"a1", b"a2", b"b1"] {
///     t.put(k, b"v")?;
/// }
/// let keys: Vec<Vec<u8>> = t.prefix(b"a").rev().map(|r| r.map(|(k, _)| k)).collect::<Result<_, _>>()?;
/// assert_eq!(keys, vec![b"a2".to_vec(), b"a1".to_vec()]);
/// t.delete_range(b"a", b"b")?;
/// assert_eq!(t.range::<&[u8], _>(..).count(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tree {
    pub(crate) db: crate::db::UserHandle,
    pub(crate) inner: Arc<TreeInner>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Tree {
    pub(crate) fn id(&self) -> u32 {
        self.inner.id
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn write_one(&self, kind: Kind, key: &[u8], value: &[u8]) -> Result<()> {
        let user_bytes = (key.len() + value.len()) as u64;
        self.db.write_ops(
            &[OpRef {
                kind,
                tree: self.inner.id,
                key,
                value,
            }],
            user_bytes,
        )
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write_one(Kind::Put, key, value)
    }

    /// Deletes `key`.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.write_one(Kind::Delete, key, &[])
    }

    /// Deletes every key in `[start, end)`; an empty range does nothing.
    pub fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        self.write_one(Kind::RangeDelete, start, end)
    }

    /// Adds a merge operand for `key` (needs a merge operator in the tree's options).
    pub fn merge(&self, key: &[u8], operand: &[u8]) -> Result<()> {
        if self.inner.opts.merge_operator.is_none() {
            return Err(Error::InvalidOption {
                option: "merge_operator",
                reason: format!("tree `{}` has no merge operator", self.inner.name),
            });
        }
        self.write_one(Kind::Merge, key, operand)
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.check_open()?;
        self.inner.check_live()?;
        self.inner.get_at(key, self.db.visible_seq())
    }

    pub(crate) fn get_at(&self, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
        self.db.check_open()?;
        self.inner.check_live()?;
        self.inner.get_at(key, seq)
    }

    pub(crate) fn iter_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        seq: SeqNo,
        guard: Arc<SnapshotGuard>,
    ) -> Iter {
        self.iter_over(self.inner.sources(), range, seq, guard)
    }

    fn iter_over<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        sources: Sources,
        range: R,
        seq: SeqNo,
        guard: Arc<SnapshotGuard>,
    ) -> Iter {
        if let Err(e) = self.inner.check_live() {
            return Iter::failed(e, guard);
        }
        Iter::new(
            sources,
            seq,
            guard,
            self.inner.opts.merge_operator.clone(),
            bound_to_vec(range.start_bound()),
            bound_to_vec(range.end_bound()),
        )
    }

    pub(crate) fn prefix_at(&self, prefix: &[u8], seq: SeqNo, guard: Arc<SnapshotGuard>) -> Iter {
        let lo = Bound::Included(prefix.to_vec());
        let hi = prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.iter_at((lo, hi), seq, guard)
    }

    /// Live keys in `range`, ascending (`.rev()` for descending).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        // An iterator pins a snapshot so compaction keeps what it reads.
        let guard = self.db.pin();
        self.iter_at(range, guard.seq, guard)
    }

    /// Live keys in `range` as the tree's memtables and files other than those named in
    /// `exclude` (file ids, [`LiveFile::id`]) hold them: what is left to send after the excluded
    /// files were sent whole. Meant for trees of commutative merge operands, where the two
    /// parts combine into the whole; deletions in the excluded files do not apply here.
    pub fn range_without_files<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        exclude: &[u64],
    ) -> Iter {
        let guard = self.db.pin();
        let mut sources = self.inner.sources();
        let kept = |f: &Arc<TableFile>| !exclude.contains(&f.entry.id);
        sources.l0.retain(kept);
        for level in &mut sources.levels {
            level.retain(kept);
        }
        self.iter_over(sources, range, guard.seq, guard)
    }

    /// Every live key, ascending.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }

    /// Live keys starting with `prefix`, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        let guard = self.db.pin();
        self.prefix_at(prefix, guard.seq, guard)
    }

    /// Flushes this tree's memtable and compacts every file overlapping `[start, end]`
    /// (`None` = unbounded) into the last level.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.inner.check_live()?;
        self.db.flush_tree(&self.inner, true)?;
        self.db.compact_range(&self.inner, start, end)
    }

    /// The live table files whose every key lies in `[start, end)` (`None`: unbounded) and
    /// that no range deletion of the tree touches, each pinned (readable, even if compaction
    /// replaces it, until the handle is dropped), with its size and bytes. Flush first to have
    /// the memtable's data in files too.
    pub fn files_within(&self, start: &[u8], end: Option<&[u8]>) -> Result<Vec<LiveFile>> {
        self.db.files_within(&self.inner, start, end)
    }

    /// Adds the table file at `path` (written by this engine, possibly for another tree or
    /// database) to this tree, as the newest data: every entry gets a fresh sequence number
    /// newer than anything the tree holds, in the file's order. The file is checked in full
    /// first (footer, every block checksum, keys in order and inside `opts`' range); a damaged
    /// or foreign file is refused with an error naming it, before the tree changes. The file
    /// is copied (rewritten with the new sequence numbers) into the database directory and
    /// added by one manifest update: after a crash the tree is as before or has all of it.
    /// `path` itself is left alone. Flushes this tree's memtable (see `db/ingest.rs`).
    pub fn ingest(&self, path: &std::path::Path, opts: &IngestOptions) -> Result<Ingested> {
        self.db.ingest(&self.inner, path, opts)
    }

    /// Flushes this tree and hard-links each of its table files into `dest` (created if
    /// missing; the same file system as the database): a snapshot of the tree that costs no
    /// copy, whose files [`Tree::ingest`] can add back to a tree. Answers each file's name and
    /// size.
    pub fn checkpoint(&self, dest: &std::path::Path) -> Result<Vec<(String, u64)>> {
        self.db.checkpoint_tree(&self.inner, dest)
    }

    /// Flushes this tree's memtable to a table file.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_live()?;
        self.db.flush_tree(&self.inner, true)
    }

    /// Runs, on this thread, the compactions the tree's strategy picks now, until it picks no
    /// more: the work background compaction would do (which keeps running too; the two take
    /// turns). For tests and tools that need compaction to have happened at a known point.
    pub fn compact_pending(&self) -> Result<()> {
        self.inner.check_live()?;
        self.db.compact_pending(&self.inner)
    }

    /// Changes the tree's options while the database is open: compression (for files written
    /// from now on), compaction strategy, compaction filter and properties collector. The merge
    /// operator cannot change (a tree without one cannot get one, and the reverse): the tree
    /// keeps the operator it was opened with. Not persisted, like every tree option: pass the
    /// new options at the next open.
    pub fn set_options(&self, opts: TreeOptions) -> Result<()> {
        self.inner.check_live()?;
        self.db.set_tree_options(&self.inner, opts)
    }

    /// The tree's current options.
    pub fn options(&self) -> TreeOptions {
        let mut opts = self.inner.tuned().opts.clone();
        opts.merge_operator
            .clone_from(&self.inner.opts.merge_operator);
        opts
    }
}

/// Orders level files by smallest key (levels >= 1).
pub(crate) fn by_smallest(a: &Arc<TableFile>, b: &Arc<TableFile>) -> Ordering {
    key::compare(&a.entry.meta.smallest, &b.entry.meta.smallest)
}
