//! Sorted table files: immutable, checksummed, read through mmap.
//!
//! A table holds point entries (internal keys in [`crate::key::compare`] order, with values) in
//! prefix-compressed data blocks, a sparse index (one entry per data block), a whole-table bloom
//! filter over user keys, a block of range deletions, a properties block ([`TableMeta`]) and a
//! fixed-size footer. The byte layout is in `docs/lsm-table-format.md`; each part's layout is
//! also in the doc comment of the module that writes it:
//!
//! ```text
//! +--------------+---------+-----+--------------+--------+-----------+------------+-------+--------+
//! | data block 0 | trailer | ... | filter block | range-delete | properties | index | footer |
//! +--------------+---------+-----+--------------+--------+-----------+------------+-------+--------+
//! ```
//! (every block, data or meta, is followed by its 9-byte trailer; the footer is 88 bytes.)

pub(crate) mod block;
pub(crate) mod filter;
pub(crate) mod footer;
pub mod harness;
pub(crate) mod index;
pub(crate) mod reader;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

use crate::error::Error;
use crate::key::SeqNo;

#[allow(unused_imports)] // the engine's flush, reads and compaction use these
pub(crate) use reader::{Table, TableIter};
#[allow(unused_imports)]
pub(crate) use writer::TableWriter;

/// How data blocks are compressed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Blocks are stored as built; reads borrow keys and values straight from the mmap.
    None,
    /// zstd at the given level, per data block, kept only when it saves at least 1/8 of the block.
    Zstd(i32),
    /// LZ4 (block format, `lz4_flex`), per data block, kept only when it saves at least 1/8 of
    /// the block. Faster than zstd, compresses less.
    Lz4,
    /// Snappy (raw format, `snap`), per data block, kept only when it saves at least 1/8 of
    /// the block (Cassandra's SnappyCompressor).
    Snappy,
    /// Deflate (raw, `flate2`) at the given level 0..=9, per data block, kept only when it
    /// saves at least 1/8 of the block (Cassandra's DeflateCompressor, level 6 there). Slower
    /// than zstd for a similar ratio.
    Deflate(u32),
}

/// How a table is written.
#[derive(Debug, Clone)]
pub(crate) struct TableOptions {
    /// Target uncompressed size of a data block; a block is cut once it reaches this size.
    /// Default 4096: small blocks make point reads cheap, large ones compress better.
    pub block_size: usize,
    /// Data block compression. Default none.
    pub compression: Compression,
    /// Bloom filter bits per distinct user key; 0 writes no filter. Default 10 (about 1% false
    /// positives with the cache-line blocked filter).
    pub bloom_bits_per_key: u32,
}

impl Default for TableOptions {
    fn default() -> TableOptions {
        TableOptions {
            block_size: 4096,
            compression: Compression::None,
            bloom_bits_per_key: 10,
        }
    }
}

/// Facts about a finished table; the engine stores them in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TableMeta {
    /// Length of the whole file in bytes.
    pub file_size: u64,
    /// Point entries plus range deletions.
    pub entry_count: u64,
    /// Smallest internal key (including range-delete starts); empty for an empty table.
    pub smallest: Vec<u8>,
    /// Largest internal key; a range deletion's exclusive end counts as its end user key tagged
    /// with (`MAX_SEQ`, `RangeDelete`). Empty for an empty table.
    pub largest: Vec<u8>,
    pub min_seq: SeqNo,
    pub max_seq: SeqNo,
    /// Point deletes plus range deletes.
    pub tombstone_count: u64,
    /// Sum of the internal key lengths of all entries.
    pub raw_key_bytes: u64,
    /// Sum of the value lengths of all entries.
    pub raw_value_bytes: u64,
    /// The tree's properties collector's summary of the entries (`crate::properties`); `None`
    /// when none was collected (no collector, encoding version 1, or too large).
    pub user_properties: Option<Vec<u8>>,
}

/// Version byte that starts an encoded [`TableMeta`]: 1 without user properties, 2 with the
/// user-properties field. Both decode; 2 is written.
const META_ENCODING_VERSION: u8 = 2;
const META_ENCODING_V1: u8 = 1;

impl TableMeta {
    /// Appends the encoding: `u8 version (2)`, then `file_size, entry_count` as LEB128 varints,
    /// `smallest` and `largest` as varint length + bytes, then `min_seq, max_seq,
    /// tombstone_count, raw_key_bytes, raw_value_bytes` as varints, then the user properties:
    /// `u8 0` (none) or `u8 1, varint length, bytes` (version 1 ends before this field).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(META_ENCODING_VERSION);
        put_varint(out, self.file_size);
        put_varint(out, self.entry_count);
        put_bytes(out, &self.smallest);
        put_bytes(out, &self.largest);
        put_varint(out, self.min_seq);
        put_varint(out, self.max_seq);
        put_varint(out, self.tombstone_count);
        put_varint(out, self.raw_key_bytes);
        put_varint(out, self.raw_value_bytes);
        match &self.user_properties {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                put_bytes(out, p);
            }
        }
    }

    /// Decodes what [`TableMeta::encode_into`] wrote; `None` when malformed. Returns the meta
    /// and the number of bytes it used.
    pub fn decode(bytes: &[u8]) -> Option<(TableMeta, usize)> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != META_ENCODING_VERSION && version != META_ENCODING_V1 {
            return None;
        }
        let mut meta = TableMeta {
            file_size: r.varint()?,
            entry_count: r.varint()?,
            smallest: r.bytes()?.to_vec(),
            largest: r.bytes()?.to_vec(),
            min_seq: r.varint()?,
            max_seq: r.varint()?,
            tombstone_count: r.varint()?,
            raw_key_bytes: r.varint()?,
            raw_value_bytes: r.varint()?,
            user_properties: None,
        };
        if version == META_ENCODING_VERSION {
            meta.user_properties = match r.u8()? {
                0 => None,
                1 => Some(r.bytes()?.to_vec()),
                _ => return None,
            };
        }
        Some((meta, r.pos))
    }
}

/// A range deletion: every key in `[start, end)` with a sequence number below `seq` is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeTombstone {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
    pub seq: SeqNo,
}

/// Appends `v` as an LEB128 varint (7 bits per byte, low groups first).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint length and the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Decodes an LEB128 varint at `pos`; returns the value and the position after it.
#[inline]
pub(crate) fn get_varint(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let first = *buf.get(pos)?;
    if first < 0x80 {
        return Some((u64::from(first), pos + 1));
    }
    let mut v = u64::from(first & 0x7f);
    let mut shift = 7;
    let mut p = pos + 1;
    loop {
        let b = *buf.get(p)?;
        p += 1;
        if shift == 63 && b > 1 {
            return None; // more than 64 bits
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((v, p));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// A bounds-checked cursor over a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let (v, p) = get_varint(self.buf, self.pos)?;
        self.pos = p;
        Some(v)
    }
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }
}

/// Reads a little-endian u32 at `pos`.
#[inline]
pub(crate) fn get_u32_le(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// Reads a little-endian u64 at `pos`.
#[inline]
pub(crate) fn get_u64_le(buf: &[u8], pos: usize) -> Option<u64> {
    let b = buf.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// A copy of a table error for a sticky iterator status (`Error` is not `Clone`: it may hold an
/// `io::Error`). Table reads only produce the file-damage variants, which copy exactly.
pub(crate) fn copy_error(e: &Error) -> Error {
    match e {
        Error::ChecksumMismatch {
            file,
            offset,
            expected,
            actual,
        } => Error::ChecksumMismatch {
            file: file.clone(),
            offset: *offset,
            expected: *expected,
            actual: *actual,
        },
        Error::Corruption {
            file,
            offset,
            reason,
        } => Error::Corruption {
            file: file.clone(),
            offset: *offset,
            reason,
        },
        Error::UnsupportedVersion {
            file,
            found,
            supported,
        } => Error::UnsupportedVersion {
            file: file.clone(),
            found: *found,
            supported: *supported,
        },
        Error::Io { path, source } => Error::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => Error::WritesStopped {
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(get_varint(&out, 0), Some((v, out.len())));
            prop_assert_eq!(get_varint(&out[..out.len() - 1], 0), None);
        }

        #[test]
        fn table_meta_round_trips(
            a in any::<u64>(), b in any::<u64>(),
            s in proptest::collection::vec(any::<u8>(), 0..20),
            l in proptest::collection::vec(any::<u8>(), 0..20),
            user in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        ) {
            let meta = TableMeta {
                file_size: a, entry_count: b, smallest: s, largest: l,
                min_seq: 1, max_seq: a >> 8, tombstone_count: 3,
                raw_key_bytes: b / 2, raw_value_bytes: 7, user_properties: user,
            };
            let mut out = vec![9, 9];
            meta.encode_into(&mut out);
            out.push(42);
            let (back, used) = TableMeta::decode(&out[2..]).unwrap();
            prop_assert_eq!(&back, &meta);
            prop_assert_eq!(used, out.len() - 3);
            for cut in 0..out.len() - 3 {
                prop_assert!(TableMeta::decode(&out[2..2 + cut]).is_none());
            }
        }
    }

    #[test]
    fn a_version_1_meta_decodes_without_user_properties_and_unknown_versions_do_not() {
        let meta = TableMeta {
            file_size: 10,
            entry_count: 2,
            smallest: b"a".to_vec(),
            largest: b"b".to_vec(),
            min_seq: 1,
            max_seq: 2,
            tombstone_count: 0,
            raw_key_bytes: 18,
            raw_value_bytes: 2,
            user_properties: Some(b"p".to_vec()),
        };
        let mut v2 = Vec::new();
        meta.encode_into(&mut v2);
        // Version 1 is version 2 without the trailing user-properties field.
        let mut v1 = v2[..v2.len() - 3].to_vec();
        v1[0] = 1;
        let (back, used) = TableMeta::decode(&v1).unwrap();
        assert_eq!(used, v1.len());
        assert_eq!(
            back,
            TableMeta {
                user_properties: None,
                ..meta.clone()
            }
        );
        for version in [0u8, 3, 255] {
            let mut bad = v2.clone();
            bad[0] = version;
            assert_eq!(TableMeta::decode(&bad), None, "version {version}");
        }
        let mut bad_flag = v2.clone();
        let at = bad_flag.len() - 3;
        bad_flag[at] = 2;
        assert_eq!(TableMeta::decode(&bad_flag), None);
    }

    #[test]
    fn an_overlong_varint_does_not_decode() {
        assert_eq!(get_varint(&[0xff; 11], 0), None);
        assert_eq!(
            get_varint(
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                0
            ),
            None
        );
    }
}
