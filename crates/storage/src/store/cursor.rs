//! Chunked iteration over a key range of a table's engine entries.

use std::collections::VecDeque;

use crate::error::Result;
use crate::kv::Kv;

/// Entries fetched by the first scan call of a cursor; each refill doubles, up to `MAX_CHUNK`,
/// so short reads stay cheap and long scans create few engine iterators.
const FIRST_CHUNK: usize = 64;
const MAX_CHUNK: usize = 8192;

/// Chunked iteration over a key range.
pub(super) struct Cursor<'a> {
    kv: &'a dyn Kv,
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    reverse: bool,
    buf: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
    chunk: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(
        kv: &'a dyn Kv,
        start: Vec<u8>,
        end: Option<Vec<u8>>,
        reverse: bool,
    ) -> Cursor<'a> {
        Cursor {
            kv,
            start,
            end,
            reverse,
            buf: VecDeque::new(),
            chunk: FIRST_CHUNK,
            done: false,
        }
    }

    pub(super) fn next(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.buf.is_empty() && !self.done {
            let chunk = self
                .kv
                .scan(&self.start, self.end.as_deref(), self.reverse, self.chunk)?;
            if chunk.len() < self.chunk {
                self.done = true;
            }
            if let Some((last, _)) = chunk.last() {
                if self.reverse {
                    self.end = Some(last.clone());
                } else {
                    self.start = last.clone();
                    self.start.push(0);
                }
            }
            self.buf.extend(chunk);
            self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        }
        Ok(self.buf.pop_front())
    }

    /// Puts back the entry [`Cursor::next`] just returned: it comes out again next.
    pub(super) fn unread(&mut self, entry: (Vec<u8>, Vec<u8>)) {
        self.buf.push_front(entry);
    }
}
