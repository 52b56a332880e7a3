//! The [`Cursor`] trait and its implementations over one source each: a memtable
//! ([`MemCursor`]), one table ([`TableIter`]) and the files of one level ([`LevelCursor`]).

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::key;
use crate::memtable::{MemEntry, Memtable};
use crate::sstable::TableIter;
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
