//! Opening a database: the directory lock, the manifest (or a new one), the removal of
//! leftovers of interrupted jobs, the trees' table files, and the replay of the commit log
//! into the memtables.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam::channel;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::cache::BlockCache;
use crate::commitlog::{self, CommitLog};
use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::manifest::{self, FileEntry, Manifest, TreeState};
use crate::options::Builder;
use crate::snapshot::SnapshotList;
use crate::sstable::Table;
use crate::tree::{TableFile, TreeInner};
use crate::vfs::Vfs;

use super::{DEFAULT_TREE, Db, DbInner, UserHandle, Work, freeze, new_tree};

const LOCK_NAME: &str = "LOCK";

impl Db {
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
            // L0 is read newest first. Manifests written before 0.x kept an L0 -> L0
            // compaction's outputs last whatever their age; order by sequence number.
            if let Some(l0) = levels.first_mut() {
                l0.sort_by_key(|f| std::cmp::Reverse(f.entry.meta.max_seq));
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
            has_stopped: AtomicBool::new(false),
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
            expired_files_dropped: AtomicU64::new(0),
            _lock: lock,
        });
        inner.start_threads(flush_rx, compact_rx);
        let _ = inner.flush_tx.send(Work::Go);
        let _ = inner.compact_tx.send(Work::Go);
        Ok(Db {
            inner: UserHandle::new(inner),
        })
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

pub(super) fn open_table(
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
