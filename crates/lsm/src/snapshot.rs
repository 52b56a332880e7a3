//! Snapshots: a fixed sequence number that reads can use, kept alive against compaction.

use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use parking_lot::Mutex;

use crate::error::Result;
use crate::iter::Iter;
use crate::key::SeqNo;
use crate::tree::Tree;

/// The live snapshots of a database: compaction keeps every version they can see.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    /// Registers a snapshot at the current visible sequence number. Reading `visible` under
    /// the list's lock orders this against [`SnapshotList::oldest_or_visible`]: compaction never
    /// drops a version a snapshot being taken could still read.
    pub(crate) fn acquire(self: &Arc<Self>, visible: &AtomicU64) -> Arc<SnapshotGuard> {
        let mut live = self.live.lock();
        let seq = visible.load(AtomicOrdering::Acquire);
        *live.entry(seq).or_insert(0) += 1;
        Arc::new(SnapshotGuard {
            list: self.clone(),
            seq,
        })
    }

    /// The oldest sequence number any reader can use: the oldest snapshot, else the visible one.
    pub(crate) fn oldest_or_visible(&self, visible: &AtomicU64) -> SeqNo {
        let live = self.live.lock();
        live.keys()
            .next()
            .copied()
            .unwrap_or_else(|| visible.load(AtomicOrdering::Acquire))
    }
}

/// Unregisters its sequence number when dropped.
#[derive(Debug)]
pub(crate) struct SnapshotGuard {
    list: Arc<SnapshotList>,
    pub(crate) seq: SeqNo,
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        let mut live = self.list.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

/// A consistent, read-only view of every tree as of the moment it was taken. Writes made later
/// are invisible through it; compaction keeps what it can see until it is dropped.
///
/// ```
/// # fn main() -> ilion_lsm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = ilion_lsm::Db::builder().open(dir.path())?;
/// let tree = db.tree("t")?;
/// tree.put(b"k", b"old")?;
/// let snap = db.snapshot();
/// tree.put(b"k", b"new")?;
/// assert_eq!(snap.get(&tree, b"k")?, Some(b"old".to_vec()));
/// assert_eq!(tree.get(b"k")?, Some(b"new".to_vec()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) guard: Arc<SnapshotGuard>,
}

impl Snapshot {
    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.guard.seq
    }

    pub fn get(&self, tree: &Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        tree.get_at(key, self.guard.seq)
    }

    /// Keys in `range`, as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, tree: &Tree, range: R) -> Iter {
        tree.iter_at(range, self.guard.seq, self.guard.clone())
    }

    /// Keys starting with `prefix`, as of the snapshot.
    pub fn prefix(&self, tree: &Tree, prefix: &[u8]) -> Iter {
        tree.prefix_at(prefix, self.guard.seq, self.guard.clone())
    }
}
