//! Prefix-compressed blocks of sorted key/value entries (data, index and range-delete blocks).
//!
//! Byte layout of a block (as built, before optional compression):
//!
//! ```text
//! entry*:   varint shared | varint unshared | varint value_len | key[shared..] | value
//! restarts: u32 LE offset of each restart entry, ascending
//! count:    u32 LE number of restarts (>= 1)
//! ```
//!
//! Every `restart_interval`-th entry is a restart point and stores its whole key
//! (`shared = 0`); the others store only the suffix after the prefix they share with the
//! previous key. Seeks binary-search the restart points, then scan at most one interval.

use std::cmp::Ordering;

use super::{get_u32_le, get_varint, put_varint};

/// Builds one block.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    since_restart: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    pub(crate) fn new(restart_interval: usize) -> BlockBuilder {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            restart_interval: restart_interval.max(1),
            since_restart: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry; keys must arrive in the block's order (the caller checks).
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.since_restart >= self.restart_interval {
            self.restarts.push(self.buf.len() as u32);
            self.since_restart = 0;
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let unshared = key.get(shared..).unwrap_or_default();
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, unshared.len() as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(unshared);
        self.since_restart += 1;
        self.entries += 1;
    }

    /// Size of the finished block if it were finished now.
    pub(crate) fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array and returns the finished block; the builder is reset.
    pub(crate) fn finish(&mut self) -> &[u8] {
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        &self.buf
    }

    /// Clears the builder for the next block (call after using what `finish` returned).
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.restarts.push(0);
        self.since_restart = 0;
        self.last_key.clear();
        self.entries = 0;
    }
}

/// Why a block could not be decoded.
pub(crate) type BlockError = &'static str;

/// The position of a cursor inside one block. It holds no reference to the block: every method
/// takes the block's bytes, so a table iterator can own both the block buffer and the cursor.
/// The current key is rebuilt in a reused buffer (no allocation per entry once it has grown);
/// the value is an offset into the block (a slice of the mmap for uncompressed blocks).
#[derive(Debug, Default)]
pub(crate) struct BlockCursor {
    restarts_off: usize,
    num_restarts: usize,
    /// Offset of the current entry; `== restarts_off` when not positioned.
    cur: usize,
    /// Offset of the entry after the current one.
    next: usize,
    val_off: usize,
    val_len: usize,
    restart_idx: usize,
    key: Vec<u8>,
}

/// The decoded header of one entry.
struct Entry {
    shared: usize,
    unshared: usize,
    value_len: usize,
    /// Offset of the key suffix.
    body: usize,
}

impl BlockCursor {
    /// An unpositioned cursor whose key buffer starts with room for `n` bytes.
    pub(crate) fn with_key_capacity(n: usize) -> BlockCursor {
        BlockCursor {
            key: Vec::with_capacity(n),
            ..BlockCursor::default()
        }
    }

    /// Reads the restart array of `data` and leaves the cursor unpositioned.
    pub(crate) fn reset(&mut self, data: &[u8]) -> Result<(), BlockError> {
        let len = data.len();
        let count_off = len
            .checked_sub(4)
            .ok_or("block shorter than its restart count")?;
        let n = get_u32_le(data, count_off).ok_or("block shorter than its restart count")? as usize;
        if n == 0 {
            return Err("block has no restart points");
        }
        let restarts_off = n
            .checked_mul(4)
            .and_then(|b| count_off.checked_sub(b))
            .ok_or("restart array larger than the block")?;
        self.restarts_off = restarts_off;
        self.num_restarts = n;
        self.cur = restarts_off;
        self.next = restarts_off;
        self.restart_idx = 0;
        self.key.clear();
        Ok(())
    }

    /// Whether the cursor is at an entry.
    #[inline]
    pub(crate) fn valid(&self) -> bool {
        self.cur < self.restarts_off
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    #[inline]
    pub(crate) fn value<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.val_off..self.val_off + self.val_len)
            .unwrap_or_default()
    }

    fn restart_point(&self, data: &[u8], i: usize) -> Result<usize, BlockError> {
        let r = get_u32_le(data, self.restarts_off + 4 * i).ok_or("restart index out of range")?
            as usize;
        if r >= self.restarts_off {
            return Err("restart point beyond the entries");
        }
        Ok(r)
    }

    #[inline]
    fn entry_at(&self, data: &[u8], off: usize) -> Result<Entry, BlockError> {
        let limit = self.restarts_off;
        let head = data.get(..limit).ok_or("entry beyond the block")?;
        // Fast path: three one-byte varints.
        if let Some(&[a, b, c]) = head.get(off..off.saturating_add(3))
            && (a | b | c) < 0x80
        {
            {
                let e = Entry {
                    shared: a as usize,
                    unshared: b as usize,
                    value_len: c as usize,
                    body: off + 3,
                };
                return check_entry(e, limit);
            }
        }
        let (shared, p) = get_varint(head, off).ok_or("truncated entry header")?;
        let (unshared, p) = get_varint(head, p).ok_or("truncated entry header")?;
        let (value_len, p) = get_varint(head, p).ok_or("truncated entry header")?;
        let e = Entry {
            shared: usize::try_from(shared).map_err(|_| "entry length overflows")?,
            unshared: usize::try_from(unshared).map_err(|_| "entry length overflows")?,
            value_len: usize::try_from(value_len).map_err(|_| "entry length overflows")?,
            body: p,
        };
        check_entry(e, limit)
    }

    /// Decodes the entry at `off` on top of the current key.
    #[inline]
    fn load(&mut self, data: &[u8], off: usize) -> Result<(), BlockError> {
        let e = self.entry_at(data, off)?;
        if e.shared > self.key.len() {
            return Err("entry shares more bytes than the previous key has");
        }
        let suffix = data
            .get(e.body..e.body + e.unshared)
            .ok_or("entry beyond the block")?;
        self.key.truncate(e.shared);
        self.key.extend_from_slice(suffix);
        self.cur = off;
        self.val_off = e.body + e.unshared;
        self.val_len = e.value_len;
        self.next = self.val_off + e.value_len;
        Ok(())
    }

    fn seek_to_restart(&mut self, data: &[u8], i: usize) -> Result<(), BlockError> {
        let r = self.restart_point(data, i)?;
        self.key.clear();
        self.restart_idx = i;
        self.load(data, r)?;
        Ok(())
    }

    fn invalidate(&mut self) {
        self.cur = self.restarts_off;
        self.next = self.restarts_off;
    }

    pub(crate) fn seek_to_first(&mut self, data: &[u8]) -> Result<(), BlockError> {
        if self.restarts_off == 0 {
            self.invalidate();
            return Ok(());
        }
        self.seek_to_restart(data, 0)
    }

    pub(crate) fn seek_to_last(&mut self, data: &[u8]) -> Result<(), BlockError> {
        if self.restarts_off == 0 {
            self.invalidate();
            return Ok(());
        }
        self.seek_to_restart(data, self.num_restarts - 1)?;
        while self.next < self.restarts_off {
            let next = self.next;
            self.load(data, next)?;
        }
        Ok(())
    }

    /// Moves to the next entry (unpositioned after the last).
    #[inline]
    pub(crate) fn next(&mut self, data: &[u8]) -> Result<(), BlockError> {
        if self.next >= self.restarts_off {
            self.invalidate();
            return Ok(());
        }
        let next = self.next;
        self.load(data, next)?;
        while self.restart_idx + 1 < self.num_restarts
            && self.restart_point(data, self.restart_idx + 1)? <= self.cur
        {
            self.restart_idx += 1;
        }
        Ok(())
    }

    /// Moves to the previous entry (unpositioned before the first).
    pub(crate) fn prev(&mut self, data: &[u8]) -> Result<(), BlockError> {
        let original = self.cur;
        loop {
            let r = self.restart_point(data, self.restart_idx)?;
            if r < original {
                break;
            }
            if self.restart_idx == 0 {
                self.invalidate();
                return Ok(());
            }
            self.restart_idx -= 1;
        }
        self.seek_to_restart(data, self.restart_idx)?;
        while self.next < original {
            let next = self.next;
            self.load(data, next)?;
        }
        if self.next != original {
            return Err("entries do not chain to the current entry");
        }
        Ok(())
    }

    /// Positions at the first entry whose key is `>= target` under `cmp` (unpositioned when
    /// every key is smaller).
    pub(crate) fn seek(
        &mut self,
        data: &[u8],
        target: &[u8],
        cmp: impl Fn(&[u8], &[u8]) -> Ordering,
    ) -> Result<(), BlockError> {
        if self.restarts_off == 0 {
            self.invalidate();
            return Ok(());
        }
        // Last restart whose key is < target.
        let mut lo = 0usize;
        let mut hi = self.num_restarts - 1;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let r = self.restart_point(data, mid)?;
            let e = self.entry_at(data, r)?;
            if e.shared != 0 {
                return Err("restart entry shares a prefix");
            }
            let k = data
                .get(e.body..e.body + e.unshared)
                .ok_or("entry beyond the block")?;
            if cmp(k, target) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.seek_to_restart(data, lo)?;
        loop {
            if cmp(&self.key, target) != Ordering::Less {
                return Ok(());
            }
            self.next(data)?;
            if !self.valid() {
                return Ok(());
            }
        }
    }
}

#[inline]
fn check_entry(e: Entry, limit: usize) -> Result<Entry, BlockError> {
    let end = e
        .body
        .checked_add(e.unshared)
        .and_then(|x| x.checked_add(e.value_len));
    match end {
        Some(end) if end <= limit => Ok(e),
        _ => Err("entry runs past the restart array"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Vec<u8> {
        let mut b = BlockBuilder::new(interval);
        for (k, v) in entries {
            b.add(k, v);
        }
        b.finish().to_vec()
    }

    fn keys(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    format!("key{:05}", i * 2).into_bytes(),
                    format!("v{i}").into_bytes(),
                )
            })
            .collect()
    }

    #[test]
    fn a_block_scans_forward_and_backward_in_order() {
        let entries = keys(100);
        let data = build(&entries, 16);
        let mut c = BlockCursor::default();
        c.reset(&data).unwrap();
        c.seek_to_first(&data).unwrap();
        for (k, v) in &entries {
            assert!(c.valid());
            assert_eq!(c.key(), &k[..]);
            assert_eq!(c.value(&data), &v[..]);
            c.next(&data).unwrap();
        }
        assert!(!c.valid());
        c.seek_to_last(&data).unwrap();
        for (k, _) in entries.iter().rev() {
            assert_eq!(c.key(), &k[..]);
            c.prev(&data).unwrap();
        }
        assert!(!c.valid());
    }

    #[test]
    fn seek_lands_on_the_first_key_not_less_than_the_target() {
        let entries = keys(100);
        let data = build(&entries, 16);
        let mut c = BlockCursor::default();
        c.reset(&data).unwrap();
        for i in 0..200 {
            let target = format!("key{i:05}").into_bytes();
            c.seek(&data, &target, |a, b| a.cmp(b)).unwrap();
            let expect = entries.iter().find(|(k, _)| k >= &target);
            match expect {
                Some((k, _)) => assert_eq!(c.key(), &k[..]),
                None => assert!(!c.valid()),
            }
        }
    }

    #[test]
    fn an_empty_block_is_never_valid() {
        let data = build(&[], 16);
        let mut c = BlockCursor::default();
        c.reset(&data).unwrap();
        c.seek_to_first(&data).unwrap();
        assert!(!c.valid());
        c.seek_to_last(&data).unwrap();
        assert!(!c.valid());
        c.seek(&data, b"x", |a, b| a.cmp(b)).unwrap();
        assert!(!c.valid());
    }

    #[test]
    fn garbage_blocks_give_errors_not_panics() {
        let entries = keys(40);
        let data = build(&entries, 4);
        for cut in 0..data.len() {
            let d = &data[..cut];
            let mut c = BlockCursor::default();
            if c.reset(d).is_ok() {
                let _ = c.seek_to_first(d);
                while c.valid() {
                    if c.next(d).is_err() {
                        break;
                    }
                }
                let _ = c.seek_to_last(d);
                let _ = c.seek(d, b"key00031", |a, b| a.cmp(b));
            }
        }
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x5a;
            let mut c = BlockCursor::default();
            if c.reset(&d).is_ok() {
                let _ = c.seek_to_last(&d);
                while c.valid() {
                    if c.prev(&d).is_err() {
                        break;
                    }
                }
            }
        }
    }
}
