//! Cursors over internal keys (memtables, tables, levels), the merging cursor that combines
//! them, range-tombstone lookup, and the user-facing [`Iter`] over one tree.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key::{self, Kind, MAX_SEQ, SeqNo};
use crate::memtable::{MemEntry, Memtable};
use crate::options::MergeOperator;
use crate::snapshot::SnapshotGuard;
use crate::sstable::{RangeTombstone, TableIter};
use crate::tree::TableFile;

/// A positioned walk over internal keys in [`key::compare`] order.
pub(crate) trait Cursor: Send {
    fn seek(&mut self, target: &[u8]);
    fn seek_for_prev(&mut self, target: &[u8]);
    fn seek_to_first(&mut self);
    fn seek_to_last(&mut self);
    fn next(&mut self);
    fn prev(&mut self);
    fn valid(&self) -> bool;
    fn key(&self) -> &[u8];
    fn value(&self) -> &[u8];
    fn status(&self) -> Result<()>;
}

/// Entries copied per memtable chunk: small first (a seek often reads a few entries), growing
/// while a scan keeps going. A chunk never reaches past the cursor's bounds, so a seek for a
/// short range copies only the entries in it.
const FIRST_CHUNK: usize = 8;
const MAX_CHUNK: usize = 256;

/// A cursor over a memtable that copies out a chunk of entries at a time (walking the
/// skiplist under one epoch guard per chunk), never past its user-key bounds.
pub(crate) struct MemCursor {
    mem: Arc<Memtable>,
    buf: Vec<MemEntry>,
    pos: usize,
    /// Whether `buf` holds ascending entries (else descending).
    forward: bool,
    /// Whether `buf` ends where the memtable or the bound in its direction ends: stepping
    /// past its last entry needs no further walk.
    ended: bool,
    chunk: usize,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
}

impl MemCursor {
    /// A cursor over every entry of `mem`.
    pub(crate) fn new(mem: Arc<Memtable>) -> MemCursor {
        MemCursor::bounded(mem, Bound::Unbounded, Bound::Unbounded)
    }

    /// A cursor over the entries of `mem` whose user keys lie within `lo` and `hi`.
    pub(crate) fn bounded(mem: Arc<Memtable>, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> MemCursor {
        MemCursor {
            mem,
            buf: Vec::new(),
            pos: 0,
            forward: true,
            ended: true,
            chunk: FIRST_CHUNK,
            lo,
            hi,
        }
    }

    fn current(&self) -> Option<&MemEntry> {
        self.buf.get(self.pos)
    }

    fn fill_forward(&mut self, from: Option<&[u8]>, inclusive: bool) {
        let mut buf = std::mem::take(&mut self.buf);
        self.ended = self.mem.chunk_after(
            from,
            inclusive,
            self.chunk,
            as_ref_bound(&self.hi),
            &mut buf,
        );
        self.buf = buf;
        self.pos = 0;
        self.forward = true;
    }

    fn fill_backward(&mut self, to: Option<&[u8]>, inclusive: bool) {
        let mut buf = std::mem::take(&mut self.buf);
        self.ended =
            self.mem
                .chunk_before(to, inclusive, self.chunk, as_ref_bound(&self.lo), &mut buf);
        self.buf = buf;
        self.pos = 0;
        self.forward = false;
    }

    /// Moves one entry on in `forward` direction, fetching the next chunk when needed.
    fn step(&mut self, forward: bool) {
        let Some(e) = self.current() else { return };
        if self.forward == forward {
            if self.pos + 1 < self.buf.len() {
                self.pos += 1;
                return;
            }
            if self.ended {
                self.pos = self.buf.len();
                return;
            }
        }
        let from = e.key().to_vec();
        self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        if forward {
            self.fill_forward(Some(&from), false);
        } else {
            self.fill_backward(Some(&from), false);
        }
    }
}

fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
    }
}

impl Cursor for MemCursor {
    fn seek(&mut self, target: &[u8]) {
        self.chunk = FIRST_CHUNK;
        self.fill_forward(Some(target), true);
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.chunk = FIRST_CHUNK;
        self.fill_backward(Some(target), true);
    }
    fn seek_to_first(&mut self) {
        self.chunk = FIRST_CHUNK;
        self.fill_forward(None, false);
    }
    fn seek_to_last(&mut self) {
        self.chunk = FIRST_CHUNK;
        self.fill_backward(None, false);
    }
    fn next(&mut self) {
        self.step(true);
    }
    fn prev(&mut self) {
        self.step(false);
    }
    fn valid(&self) -> bool {
        self.pos < self.buf.len()
    }
    fn key(&self) -> &[u8] {
        self.current().map_or(&[], MemEntry::key)
    }
    fn value(&self) -> &[u8] {
        self.current().map_or(&[], MemEntry::value)
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
}

impl Cursor for TableIter {
    fn seek(&mut self, target: &[u8]) {
        TableIter::seek(self, target);
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        TableIter::seek_for_prev(self, target);
    }
    fn seek_to_first(&mut self) {
        TableIter::seek_to_first(self);
    }
    fn seek_to_last(&mut self) {
        TableIter::seek_to_last(self);
    }
    fn next(&mut self) {
        TableIter::next(self);
    }
    fn prev(&mut self) {
        TableIter::prev(self);
    }
    fn valid(&self) -> bool {
        TableIter::valid(self)
    }
    fn key(&self) -> &[u8] {
        TableIter::key(self)
    }
    fn value(&self) -> &[u8] {
        TableIter::value(self)
    }
    fn status(&self) -> Result<()> {
        TableIter::status(self)
    }
}

/// Concatenates the sorted, non-overlapping files of one level, opening one at a time.
pub(crate) struct LevelCursor {
    files: Vec<Arc<TableFile>>,
    idx: usize,
    iter: Option<TableIter>,
    error: Option<Error>,
}

impl LevelCursor {
    pub(crate) fn new(files: Vec<Arc<TableFile>>) -> LevelCursor {
        LevelCursor {
            files,
            idx: 0,
            iter: None,
            error: None,
        }
    }

    fn open(&mut self, idx: usize) -> bool {
        self.idx = idx;
        self.iter = self.files.get(idx).map(|f| f.table.iter());
        self.iter.is_some()
    }

    fn check(&mut self) -> bool {
        if let Some(it) = &self.iter
            && let Err(e) = it.status()
        {
            self.error = Some(e);
            self.iter = None;
            return false;
        }
        true
    }

    fn skip_forward(&mut self) {
        while self.check() && self.iter.as_ref().is_some_and(|i| !i.valid()) {
            if !self.open(self.idx + 1) {
                return;
            }
            if let Some(it) = &mut self.iter {
                it.seek_to_first();
            }
        }
    }

    fn skip_backward(&mut self) {
        while self.check() && self.iter.as_ref().is_some_and(|i| !i.valid()) {
            if self.idx == 0 {
                self.iter = None;
                return;
            }
            self.open(self.idx - 1);
            if let Some(it) = &mut self.iter {
                it.seek_to_last();
            }
        }
    }
}

impl Cursor for LevelCursor {
    fn seek(&mut self, target: &[u8]) {
        let i = self
            .files
            .partition_point(|f| key::compare(&f.entry.meta.largest, target) == Ordering::Less);
        if self.open(i)
            && let Some(it) = &mut self.iter
        {
            it.seek(target);
        }
        self.skip_forward();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        let i = self
            .files
            .partition_point(|f| key::compare(&f.entry.meta.smallest, target) != Ordering::Greater);
        if i == 0 {
            self.iter = None;
            return;
        }
        if self.open(i - 1)
            && let Some(it) = &mut self.iter
        {
            it.seek_for_prev(target);
        }
        self.skip_backward();
    }
    fn seek_to_first(&mut self) {
        if self.open(0)
            && let Some(it) = &mut self.iter
        {
            it.seek_to_first();
        }
        self.skip_forward();
    }
    fn seek_to_last(&mut self) {
        let n = self.files.len();
        if n > 0
            && self.open(n - 1)
            && let Some(it) = &mut self.iter
        {
            it.seek_to_last();
        }
        self.skip_backward();
    }
    fn next(&mut self) {
        if let Some(it) = &mut self.iter {
            it.next();
        }
        self.skip_forward();
    }
    fn prev(&mut self) {
        if let Some(it) = &mut self.iter {
            it.prev();
        }
        self.skip_backward();
    }
    fn valid(&self) -> bool {
        self.error.is_none() && self.iter.as_ref().is_some_and(|i| i.valid())
    }
    fn key(&self) -> &[u8] {
        self.iter.as_ref().map_or(&[], |i| i.key())
    }
    fn value(&self) -> &[u8] {
        self.iter.as_ref().map_or(&[], |i| i.value())
    }
    fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(copy_error(e)),
            None => self.iter.as_ref().map_or(Ok(()), |i| i.status()),
        }
    }
}

/// A copy of an error for a second reporter (errors are not `Clone`: io errors are rebuilt).
pub(crate) fn copy_error(e: &Error) -> Error {
    crate::sstable::copy_error(e)
}

/// Merges child cursors. Positioned in one direction at a time: forward after `seek` /
/// `seek_to_first`, backward after `seek_for_prev` / `seek_to_last`.
pub(crate) struct MergingCursor {
    children: Vec<Box<dyn Cursor>>,
    current: Option<usize>,
    forward: bool,
}

impl MergingCursor {
    pub(crate) fn new(children: Vec<Box<dyn Cursor>>) -> MergingCursor {
        MergingCursor {
            children,
            current: None,
            forward: true,
        }
    }

    fn pick(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best.and_then(|b| self.children.get(b).map(|bc| (b, bc))) {
                None => Some(i),
                Some((b, bc)) => {
                    let ord = key::compare(c.key(), bc.key());
                    let better = if self.forward {
                        ord == Ordering::Less
                    } else {
                        ord == Ordering::Greater
                    };
                    Some(if better { i } else { b })
                }
            };
        }
        self.current = best;
    }

    fn cur(&self) -> Option<&dyn Cursor> {
        self.current
            .and_then(|i| self.children.get(i))
            .map(|c| c.as_ref())
    }
}

impl Cursor for MergingCursor {
    fn seek(&mut self, target: &[u8]) {
        self.forward = true;
        for c in &mut self.children {
            c.seek(target);
        }
        self.pick();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.forward = false;
        for c in &mut self.children {
            c.seek_for_prev(target);
        }
        self.pick();
    }
    fn seek_to_first(&mut self) {
        self.forward = true;
        for c in &mut self.children {
            c.seek_to_first();
        }
        self.pick();
    }
    fn seek_to_last(&mut self) {
        self.forward = false;
        for c in &mut self.children {
            c.seek_to_last();
        }
        self.pick();
    }
    fn next(&mut self) {
        if !self.forward {
            // Direction change: re-seek every child just after the current key.
            let Some(k) = self.cur().map(|c| c.key().to_vec()) else {
                return;
            };
            self.seek(&k);
            if self.valid() && self.key() == k.as_slice() {
                self.next();
            }
            return;
        }
        if let Some(c) = self.current.and_then(|i| self.children.get_mut(i)) {
            c.next();
        }
        self.pick();
    }
    fn prev(&mut self) {
        if self.forward {
            let Some(k) = self.cur().map(|c| c.key().to_vec()) else {
                return;
            };
            self.seek_for_prev(&k);
            if self.valid() && self.key() == k.as_slice() {
                self.prev();
            }
            return;
        }
        if let Some(c) = self.current.and_then(|i| self.children.get_mut(i)) {
            c.prev();
        }
        self.pick();
    }
    fn valid(&self) -> bool {
        self.cur().is_some_and(|c| c.valid())
    }
    fn key(&self) -> &[u8] {
        self.cur().map_or(&[], |c| c.key())
    }
    fn value(&self) -> &[u8] {
        self.cur().map_or(&[], |c| c.value())
    }
    fn status(&self) -> Result<()> {
        for c in &self.children {
            c.status()?;
        }
        Ok(())
    }
}

/// Range tombstones cut into non-overlapping fragments, each with the highest sequence number
/// covering it, for fast "which deletion covers this key" lookups.
#[derive(Debug, Default, Clone)]
pub(crate) struct RangeDelSet {
    /// Fragment boundaries, ascending; fragment i is `[bounds[i], bounds[i+1])`.
    bounds: Vec<Vec<u8>>,
    seqs: Vec<SeqNo>,
}

impl RangeDelSet {
    pub(crate) fn new(mut tombstones: Vec<RangeTombstone>) -> RangeDelSet {
        tombstones.retain(|t| t.start < t.end);
        if tombstones.is_empty() {
            return RangeDelSet::default();
        }
        let mut bounds: Vec<Vec<u8>> = tombstones
            .iter()
            .flat_map(|t| [t.start.clone(), t.end.clone()])
            .collect();
        bounds.sort();
        bounds.dedup();
        let mut seqs = vec![0; bounds.len().saturating_sub(1)];
        for t in &tombstones {
            let lo = bounds.partition_point(|b| b < &t.start);
            let hi = bounds.partition_point(|b| b < &t.end);
            for s in seqs.get_mut(lo..hi).into_iter().flatten() {
                *s = (*s).max(t.seq);
            }
        }
        RangeDelSet { bounds, seqs }
    }

    /// Highest sequence number of a tombstone covering `user_key` (0 when none).
    pub(crate) fn covering_seq(&self, user_key: &[u8]) -> SeqNo {
        if self.seqs.is_empty() {
            return 0;
        }
        let i = self.bounds.partition_point(|b| b.as_slice() <= user_key);
        if i == 0 {
            return 0;
        }
        self.seqs.get(i - 1).copied().unwrap_or(0)
    }
}

/// The value a reader sees for one key, from its versions newest first (seq <= snapshot
/// already applied), the covering range deletion's seq, and the merge operator.
pub(crate) fn resolve<'a>(
    user_key: &[u8],
    versions: impl Iterator<Item = (SeqNo, Kind, &'a [u8])>,
    covered_below: SeqNo,
    merge: Option<&dyn MergeOperator>,
) -> Option<Vec<u8>> {
    let mut operands: Vec<&[u8]> = Vec::new();
    let mut base: Option<&[u8]> = None;
    let mut last_seq: Option<SeqNo> = None;
    for (seq, kind, value) in versions {
        if seq < covered_below {
            break;
        }
        // The same entry can be seen twice (a memtable and the table it was just flushed to).
        if last_seq == Some(seq) {
            continue;
        }
        last_seq = Some(seq);
        match kind {
            Kind::Put => {
                base = Some(value);
                break;
            }
            Kind::Delete => break,
            Kind::Merge => operands.push(value),
            Kind::RangeDelete => {}
        }
    }
    if operands.is_empty() {
        return base.map(<[u8]>::to_vec);
    }
    operands.reverse();
    Some(match merge {
        Some(op) => op.full_merge(user_key, base, &operands),
        // No operator configured: the newest operand stands as the value.
        None => operands.last().map(|v| v.to_vec()).unwrap_or_default(),
    })
}

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

/// Everything a cursor over one tree needs, captured at creation.
pub(crate) struct Sources {
    pub(crate) mems: Vec<Arc<Memtable>>,
    /// L0 files newest first, then one entry per deeper level.
    pub(crate) l0: Vec<Arc<TableFile>>,
    pub(crate) levels: Vec<Vec<Arc<TableFile>>>,
}

impl Sources {
    /// A cursor over every source; memtable cursors copy nothing outside the user-key bounds
    /// `lo` and `hi` (the caller still checks them: table cursors are not bounded).
    pub(crate) fn cursor(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> MergingCursor {
        let mut children: Vec<Box<dyn Cursor>> = Vec::new();
        for m in &self.mems {
            children.push(Box::new(MemCursor::bounded(
                m.clone(),
                lo.clone(),
                hi.clone(),
            )));
        }
        for f in &self.l0 {
            children.push(Box::new(f.table.iter()));
        }
        for level in &self.levels {
            if !level.is_empty() {
                children.push(Box::new(LevelCursor::new(level.clone())));
            }
        }
        MergingCursor::new(children)
    }

    pub(crate) fn range_deletes(&self, snapshot: SeqNo) -> Vec<RangeTombstone> {
        let mut out = Vec::new();
        for m in &self.mems {
            m.range_deletes(snapshot, &mut out);
        }
        for f in self.l0.iter().chain(self.levels.iter().flatten()) {
            out.extend(
                f.table
                    .range_deletes()
                    .iter()
                    .filter(|t| t.seq <= snapshot)
                    .cloned(),
            );
        }
        out
    }
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
    fn fragments_report_the_newest_covering_deletion() {
        let t = |s: &str, e: &str, seq| RangeTombstone {
            start: s.into(),
            end: e.into(),
            seq,
        };
        let set = RangeDelSet::new(vec![t("b", "f", 5), t("d", "h", 9), t("x", "y", 1)]);
        assert_eq!(set.covering_seq(b"a"), 0);
        assert_eq!(set.covering_seq(b"b"), 5);
        assert_eq!(set.covering_seq(b"d"), 9);
        assert_eq!(set.covering_seq(b"g"), 9);
        assert_eq!(set.covering_seq(b"h"), 0);
        assert_eq!(set.covering_seq(b"x"), 1);
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
