//! Entry points into the table code for benchmarks and fuzz targets, which are separate crates
//! and cannot reach the crate-private table types. Not part of the engine's API: hidden from
//! the docs and free to change.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use super::block::{BlockBuilder, BlockCursor};
use super::filter::{self, FilterBuilder, FilterParams};
use super::{Compression, Table, TableOptions, TableWriter};
use crate::cache::BlockCache;
use crate::error::Result;
use crate::key::{self, Kind, MAX_SEQ};
use crate::vfs::{MemVfs, Vfs};

/// One data block and a cursor over it.
#[derive(Debug)]
pub struct BenchBlock {
    data: Vec<u8>,
    cursor: BlockCursor,
}

impl BenchBlock {
    /// A block of `keys` (sorted bytewise, used as plain keys) with `value`, restart interval 16.
    pub fn build(keys: &[Vec<u8>], value: &[u8]) -> BenchBlock {
        let mut b = BlockBuilder::new(16);
        for k in keys {
            b.add(k, value);
        }
        let data = b.finish().to_vec();
        let mut cursor = BlockCursor::default();
        let _ = cursor.reset(&data);
        BenchBlock { data, cursor }
    }

    /// Seeks the first key `>= target`; returns the length of the value found (0 if none).
    pub fn seek(&mut self, target: &[u8]) -> usize {
        match self.cursor.seek(&self.data, target, <[u8]>::cmp) {
            Ok(()) if self.cursor.valid() => self.cursor.value(&self.data).len(),
            _ => 0,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A bloom filter over some keys.
#[derive(Debug)]
pub struct BenchFilter {
    bitmap: Vec<u8>,
    params: FilterParams,
}

impl BenchFilter {
    pub fn build<'a>(keys: impl Iterator<Item = &'a [u8]>, bits_per_key: u32) -> BenchFilter {
        let mut b = FilterBuilder::new(bits_per_key);
        for k in keys {
            b.add_hash(filter::key_hash(k));
        }
        let mut bitmap = b.finish();
        let params = filter::parse(&bitmap).unwrap_or(FilterParams {
            num_blocks: 1,
            num_probes: 1,
            bitmap_len: 0,
        });
        bitmap.truncate(params.bitmap_len);
        BenchFilter { bitmap, params }
    }

    #[inline]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        filter::may_contain(&self.bitmap, self.params, filter::key_hash(key))
    }
}

/// A table held in a [`MemVfs`].
#[derive(Debug)]
pub struct BenchTable {
    table: Arc<Table>,
}

impl BenchTable {
    /// Writes `(user key, value)` pairs (sorted, distinct) as `Put`s with sequence 1.
    pub fn build<'a>(
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        block_size: usize,
        zstd_level: Option<i32>,
        bloom_bits_per_key: u32,
        cache_bytes: usize,
    ) -> Result<BenchTable> {
        let vfs = MemVfs::new();
        let path = Path::new("bench.sst");
        let file = vfs.create(path).map_err(|e| crate::Error::io(path, e))?;
        let opts = TableOptions {
            block_size,
            compression: zstd_level.map_or(Compression::None, Compression::Zstd),
            bloom_bits_per_key,
        };
        let mut w = TableWriter::new(file, path.to_owned(), &opts);
        let mut ik = Vec::new();
        for (k, v) in entries {
            ik.clear();
            key::encode_into(&mut ik, k, 1, Kind::Put);
            w.add(&ik, v)?;
        }
        w.finish()?;
        let table = Table::open(&vfs, path, 1, Arc::new(BlockCache::new(cache_bytes)))?;
        Ok(BenchTable {
            table: Arc::new(table),
        })
    }

    /// Point lookup; returns the value length (None when absent).
    pub fn get(&self, user_key: &[u8]) -> Result<Option<usize>> {
        Ok(self.table.get(user_key, MAX_SEQ)?.map(|(_, v)| v.len()))
    }

    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.table.may_contain(user_key)
    }

    /// Seeks to `user_key` and reads `n` entries forward; returns the bytes of values read.
    pub fn seek_and_next(&self, user_key: &[u8], n: usize) -> Result<usize> {
        let mut it = self.table.iter();
        let mut target = Vec::with_capacity(user_key.len() + key::TAG_LEN);
        key::encode_into(&mut target, user_key, MAX_SEQ, Kind::RangeDelete);
        it.seek(&target);
        let mut bytes = 0;
        for _ in 0..n {
            if !it.valid() {
                break;
            }
            bytes += it.value().len();
            it.next();
        }
        it.status().map(|()| bytes)
    }
}

/// The bytes of a table file holding `(user key, value)` pairs (sorted, distinct) as `Put`s
/// with sequence 1 (fuzz seeds, fixtures).
pub fn table_file<'a>(
    entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    block_size: usize,
    zstd_level: Option<i32>,
    bloom_bits_per_key: u32,
) -> Result<Vec<u8>> {
    let vfs = MemVfs::new();
    let path = Path::new("t.sst");
    let file = vfs.create(path).map_err(|e| crate::Error::io(path, e))?;
    let opts = TableOptions {
        block_size,
        compression: zstd_level.map_or(Compression::None, Compression::Zstd),
        bloom_bits_per_key,
    };
    let mut w = TableWriter::new(file, path.to_owned(), &opts);
    let mut ik = Vec::new();
    for (k, v) in entries {
        ik.clear();
        key::encode_into(&mut ik, k, 1, Kind::Put);
        w.add(&ik, v)?;
    }
    w.finish()?;
    Ok(vfs.contents(path).unwrap_or_default())
}

/// Fuzz entry: `data` as a table file. Opening, iterating both ways, seeking and point reads
/// must return errors, never panic; entries read must come out in order.
pub fn fuzz_table_bytes(data: &[u8]) {
    let vfs = MemVfs::new();
    let path = Path::new("fuzz.sst");
    vfs.set_contents(path, data.to_vec());
    let Ok(table) = Table::open(&vfs, path, 1, Arc::new(BlockCache::new(1 << 16))) else {
        return;
    };
    let table = Arc::new(table);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut it = table.iter();
    it.seek_to_first();
    while it.valid() && keys.len() < 10_000 {
        keys.push(it.key().to_vec());
        it.next();
    }
    let _ = it.status();
    it.seek_to_last();
    for _ in 0..100 {
        if !it.valid() {
            break;
        }
        it.prev();
    }
    for k in keys.iter().take(50) {
        it.seek(k);
        it.seek_for_prev(k);
        let _ = table.get(key::user_key(k), MAX_SEQ);
        let _ = table.get_all(key::user_key(k), MAX_SEQ);
    }
    let _ = table.range_deletes().len();
    let _ = table.may_contain(b"k");
}

/// Fuzz entry: builds a table from entries derived from `data`, damages it at positions taken
/// from `data`, and checks that every read either fails or returns exactly what was written.
pub fn fuzz_table_round_trip(data: &[u8]) {
    let (flips, rest) = data.split_at(data.len().min(4));
    // Entries: pairs of (key length, key bytes, value length, value bytes), lengths mod 16.
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut i = 0;
    let mut seq = 1u64;
    while i < rest.len() {
        let kl = usize::from(rest.get(i).copied().unwrap_or(0) % 16);
        let k = rest
            .get(i + 1..(i + 1 + kl).min(rest.len()))
            .unwrap_or_default()
            .to_vec();
        i += 1 + kl;
        let vl = usize::from(rest.get(i).copied().unwrap_or(0) % 16);
        let v = rest
            .get(i + 1..(i + 1 + vl).min(rest.len()))
            .unwrap_or_default()
            .to_vec();
        i += 1 + vl;
        let kind = if vl % 5 == 4 { Kind::Delete } else { Kind::Put };
        entries.push((key::encode(&k, seq, kind), v));
        seq += 1;
    }
    entries.sort_by(|a, b| key::compare(&a.0, &b.0));
    entries.dedup_by(|a, b| key::compare(&a.0, &b.0) == Ordering::Equal);

    let vfs = MemVfs::new();
    let path = Path::new("fuzz.sst");
    let Ok(file) = vfs.create(path) else { return };
    let compression = match flips.first().map(|b| b % 3) {
        Some(1) => Compression::Zstd(1),
        Some(2) => Compression::Lz4,
        _ => Compression::None,
    };
    let opts = TableOptions {
        block_size: 64,
        compression,
        bloom_bits_per_key: 10,
    };
    let mut w = TableWriter::new(file, path.to_owned(), &opts);
    for (k, v) in &entries {
        if w.add(k, v).is_err() {
            return;
        }
    }
    if w.finish().is_err() {
        return;
    }
    let Some(mut bytes) = vfs.contents(path) else {
        return;
    };
    let len = bytes.len();
    for pair in flips.chunks(2).skip(1) {
        if let [pos, bit] = pair {
            let at = usize::from(*pos) * len / 256;
            if let Some(b) = bytes.get_mut(at) {
                *b ^= 1 << (bit % 8);
            }
        }
    }
    vfs.set_contents(path, bytes);
    let Ok(table) = Table::open(&vfs, path, 1, Arc::new(BlockCache::new(1 << 16))) else {
        return;
    };
    let table = Arc::new(table);
    let mut it = table.iter();
    it.seek_to_first();
    let mut got = Vec::new();
    while it.valid() {
        got.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    if it.status().is_ok() {
        assert!(got == entries, "a damaged table served wrong data");
    }
    for (k, v) in &entries {
        if let Ok(found) = table.get(key::user_key(k), MAX_SEQ) {
            let newest = entries
                .iter()
                .find(|(e, _)| key::user_key(e) == key::user_key(k));
            assert!(
                found.as_ref().map(|(a, b)| (a, b)) == newest.map(|(a, b)| (a, b)),
                "a damaged table answered a point read wrongly"
            );
            let _ = v;
        }
    }
}
