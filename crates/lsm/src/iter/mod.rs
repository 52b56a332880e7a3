//! Cursors over internal keys (memtables, tables, levels), the merging cursor that combines
//! them, range-tombstone lookup, and the user-facing [`Iter`] over one tree.
//!
//! - `cursor`: the [`Cursor`] trait and the cursors over one memtable, table or level;
//! - `merging`: [`MergingCursor`], one ordered walk over several cursors;
//! - `sources`: [`Sources`], what a cursor over one tree reads;
//! - `range_del`: [`RangeDelSet`], which range deletion covers a key;
//! - `resolve`: [`resolve`], the value a reader sees from one key's versions;
//! - this file: [`Iter`], the user-facing iterator, and its bounds.

mod cursor;
mod merging;
mod range_del;
mod resolve;
mod sources;

use std::ops::Bound;
use std::sync::Arc;

pub(crate) use cursor::{Cursor, LevelCursor, MemCursor};
pub(crate) use merging::MergingCursor;
pub(crate) use range_del::RangeDelSet;
pub(crate) use resolve::resolve;
pub(crate) use sources::Sources;

use crate::error::{Error, Result};
use crate::key::{self, Kind, MAX_SEQ, SeqNo};
use crate::options::MergeOperator;
use crate::snapshot::SnapshotGuard;

/// The smallest user key greater than every key starting with `prefix` (none when the prefix
/// is all 0xff).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An iterator over the live keys of a tree in a range, at one snapshot, in either direction
/// (it implements [`DoubleEndedIterator`]: call `.rev()` or mix `next` and `next_back`).
/// Items are `(key, value)`; an error (a damaged file) ends the iteration.
pub struct Iter {
    sources: Sources,
    snapshot: SeqNo,
    _guard: Arc<SnapshotGuard>,
    merge: Option<Arc<dyn MergeOperator>>,
    range_dels: RangeDelSet,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    front: Option<MergingCursor>,
    back: Option<MergingCursor>,
    /// Last key returned from the front / back: the two ends must not cross.
    last_front: Option<Vec<u8>>,
    last_back: Option<Vec<u8>>,
    done: bool,
    /// Returned by the first call when the iterator could not start (a dropped tree).
    pending: Option<Error>,
    /// Scratch for the versions of the key being stepped over (kept to avoid an allocation
    /// per key).
    versions: Vec<(SeqNo, Kind, Vec<u8>)>,
}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("snapshot", &self.snapshot)
            .field("lo", &self.lo)
            .field("hi", &self.hi)
            .finish_non_exhaustive()
    }
}

impl Iter {
    pub(crate) fn new(
        sources: Sources,
        snapshot: SeqNo,
        guard: Arc<SnapshotGuard>,
        merge: Option<Arc<dyn MergeOperator>>,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
    ) -> Iter {
        let range_dels = RangeDelSet::new(sources.range_deletes(snapshot));
        Iter {
            sources,
            snapshot,
            _guard: guard,
            merge,
            range_dels,
            lo,
            hi,
            front: None,
            back: None,
            last_front: None,
            last_back: None,
            done: false,
            pending: None,
            versions: Vec::new(),
        }
    }

    /// An iterator that yields `e` once, then nothing.
    pub(crate) fn failed(e: Error, guard: Arc<SnapshotGuard>) -> Iter {
        let mut it = Iter::new(
            Sources {
                mems: Vec::new(),
                l0: Vec::new(),
                levels: Vec::new(),
            },
            0,
            guard,
            None,
            Bound::Unbounded,
            Bound::Unbounded,
        );
        it.pending = Some(e);
        it
    }

    fn below_hi(hi: &Bound<Vec<u8>>, uk: &[u8]) -> bool {
        match hi {
            Bound::Unbounded => true,
            Bound::Included(h) => uk <= h.as_slice(),
            Bound::Excluded(h) => uk < h.as_slice(),
        }
    }

    fn above_lo(lo: &Bound<Vec<u8>>, uk: &[u8]) -> bool {
        match lo {
            Bound::Unbounded => true,
            Bound::Included(l) => uk >= l.as_slice(),
            Bound::Excluded(l) => uk > l.as_slice(),
        }
    }

    fn fail(&mut self, e: Error) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        self.done = true;
        Some(Err(e))
    }

    fn step_front(&mut self) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        if self.front.is_none() {
            let mut c = self.sources.cursor(&self.lo, &self.hi);
            match &self.lo {
                Bound::Unbounded => c.seek_to_first(),
                Bound::Included(l) => c.seek(&key::encode(l, MAX_SEQ, Kind::RangeDelete)),
                Bound::Excluded(l) => c.seek(&key::encode(l, 0, Kind::Delete)),
            }
            self.front = Some(c);
        }
        loop {
            let c = self.front.as_mut()?;
            if !c.valid() {
                let st = c.status();
                self.done = true;
                return st.err().map(Err);
            }
            let uk = key::user_key(c.key()).to_vec();
            if !Self::below_hi(&self.hi, &uk) || self.last_back.as_ref().is_some_and(|b| &uk >= b) {
                self.done = true;
                return None;
            }
            // Gather this key's versions (newest first) into the kept buffer and step past
            // them. Versions older than the first put or delete cannot matter: not copied.
            let mut versions = std::mem::take(&mut self.versions);
            versions.clear();
            let mut settled = false;
            while c.valid() && key::user_key(c.key()) == uk.as_slice() {
                if !settled
                    && let Some(p) = key::parse(c.key())
                    && p.seq <= self.snapshot
                    && p.kind != Kind::RangeDelete
                {
                    settled = p.kind != Kind::Merge;
                    versions.push((p.seq, p.kind, c.value().to_vec()));
                }
                c.next();
            }
            if let Err(e) = c.status() {
                return self.fail(e);
            }
            if !Self::above_lo(&self.lo, &uk) {
                versions.clear();
                self.versions = versions;
                continue;
            }
            let covered = self.range_dels.covering_seq(&uk);
            let value = match versions.as_slice() {
                // The common case, one live put: hand its value over without another copy.
                [(seq, Kind::Put, _)] if *seq >= covered => versions.pop().map(|(_, _, v)| v),
                _ => resolve(
                    &uk,
                    versions.iter().map(|(s, k, v)| (*s, *k, v.as_slice())),
                    covered,
                    self.merge.as_deref(),
                ),
            };
            versions.clear();
            self.versions = versions;
            if let Some(v) = value {
                match &mut self.last_front {
                    Some(last) => {
                        last.clear();
                        last.extend_from_slice(&uk);
                    }
                    None => self.last_front = Some(uk.clone()),
                }
                return Some(Ok((uk, v)));
            }
        }
    }

    fn step_back(&mut self) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        if self.back.is_none() {
            let mut c = self.sources.cursor(&self.lo, &self.hi);
            match &self.hi {
                Bound::Unbounded => c.seek_to_last(),
                Bound::Included(h) => c.seek_for_prev(&key::encode(h, 0, Kind::Delete)),
                Bound::Excluded(h) => c.seek_for_prev(&key::encode(h, MAX_SEQ, Kind::RangeDelete)),
            }
            self.back = Some(c);
        }
        loop {
            let c = self.back.as_mut()?;
            if !c.valid() {
                let st = c.status();
                self.done = true;
                return st.err().map(Err);
            }
            let uk = key::user_key(c.key()).to_vec();
            if !Self::above_lo(&self.lo, &uk) || self.last_front.as_ref().is_some_and(|f| &uk <= f)
            {
                self.done = true;
                return None;
            }
            let mut versions: Vec<(SeqNo, Kind, Vec<u8>)> = Vec::new();
            while c.valid() && key::user_key(c.key()) == uk.as_slice() {
                if let Some(p) = key::parse(c.key())
                    && p.seq <= self.snapshot
                    && p.kind != Kind::RangeDelete
                {
                    versions.push((p.seq, p.kind, c.value().to_vec()));
                }
                c.prev();
            }
            if let Err(e) = c.status() {
                return self.fail(e);
            }
            if !Self::below_hi(&self.hi, &uk) {
                continue;
            }
            // Collected oldest first; the same entry may appear twice (a memtable and the
            // table it was just flushed to), which `resolve` tolerates.
            versions.reverse();
            let covered = self.range_dels.covering_seq(&uk);
            let value = resolve(
                &uk,
                versions.iter().map(|(s, k, v)| (*s, *k, v.as_slice())),
                covered,
                self.merge.as_deref(),
            );
            if let Some(v) = value {
                self.last_back = Some(uk.clone());
                return Some(Ok((uk, v)));
            }
        }
    }
}

impl Iterator for Iter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return self.fail(e);
        }
        if self.done {
            return None;
        }
        self.step_front()
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return self.fail(e);
        }
        if self.done {
            return None;
        }
        self.step_back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
