//! Block handles, block trailers and the fixed-size footer.
//!
//! Every block is followed by a 9-byte trailer:
//!
//! ```text
//! compression type: u8 (0 = none, 1 = zstd, 2 = lz4, 3 = snappy, 4 = deflate)
//! checksum:         u64 LE = xxh3_64_with_seed(stored block bytes, seed = compression type)
//! ```
//!
//! The footer is the last 88 bytes of the file:
//!
//! ```text
//!  0  index handle        offset u64 LE, size u64 LE
//! 16  filter handle       (size 0: the table has no filter)
//! 32  range-delete handle
//! 48  properties handle
//! 64  reserved            u32 LE, 0
//! 68  format version      u32 LE, 2 (1 is read too)
//! 72  footer checksum     u64 LE = xxh3_64 of bytes 0..72
//! 80  magic               8 bytes "ILNSST01" (u64 LE 0x3130_5453_534e_4c49)
//! ```
//!
//! A handle's size is that of the stored block, without its trailer.

use super::{get_u32_le, get_u64_le, get_varint, put_varint};

pub(crate) const TRAILER_LEN: usize = 9;
pub(crate) const FOOTER_LEN: usize = 88;
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ILNSST01");
/// Written by this build. Version 1 (read too) differs only in its properties block, whose
/// encoding carries its own version byte (1: no user properties).
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Oldest version this build reads.
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;

pub(crate) const COMPRESSION_NONE: u8 = 0;
pub(crate) const COMPRESSION_ZSTD: u8 = 1;
pub(crate) const COMPRESSION_LZ4: u8 = 2;
pub(crate) const COMPRESSION_SNAPPY: u8 = 3;
pub(crate) const COMPRESSION_DEFLATE: u8 = 4;

/// Where a block is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BlockHandle {
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

impl BlockHandle {
    /// Appends the handle as two varints (the index block's values).
    pub(crate) fn encode_varint(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset);
        put_varint(out, self.size);
    }

    pub(crate) fn decode_varint(buf: &[u8]) -> Option<BlockHandle> {
        let (offset, p) = get_varint(buf, 0)?;
        let (size, p) = get_varint(buf, p)?;
        (p == buf.len()).then_some(BlockHandle { offset, size })
    }

    /// Offset just past the block's trailer.
    pub(crate) fn end_with_trailer(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(TRAILER_LEN as u64)
    }
}

/// The checksum a trailer stores for `stored` bytes of compression type `ctype`.
#[inline]
pub(crate) fn block_checksum(stored: &[u8], ctype: u8) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(stored, u64::from(ctype))
}

/// Builds the trailer for `stored`.
pub(crate) fn trailer(stored: &[u8], ctype: u8) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    let (head, sum) = t.split_at_mut(1);
    if let Some(b) = head.first_mut() {
        *b = ctype;
    }
    sum.copy_from_slice(&block_checksum(stored, ctype).to_le_bytes());
    t
}

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) index: BlockHandle,
    pub(crate) filter: BlockHandle,
    pub(crate) range_del: BlockHandle,
    pub(crate) properties: BlockHandle,
}

/// Why a footer was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FooterError {
    BadMagic,
    Reserved,
    Version(u32),
    Checksum { expected: u64, actual: u64 },
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = Vec::with_capacity(FOOTER_LEN);
        for h in [self.index, self.filter, self.range_del, self.properties] {
            out.extend_from_slice(&h.offset.to_le_bytes());
            out.extend_from_slice(&h.size.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        let mut fixed = [0u8; FOOTER_LEN];
        fixed.copy_from_slice(&out);
        fixed
    }

    /// Decodes the last `FOOTER_LEN` bytes: magic first (is this a table at all?), then the
    /// version (can this build read it?), then the checksum.
    pub(crate) fn decode(buf: &[u8; FOOTER_LEN]) -> Result<Footer, FooterError> {
        let u64_at = |p: usize| get_u64_le(buf, p).unwrap_or_default();
        if u64_at(80) != MAGIC {
            return Err(FooterError::BadMagic);
        }
        let version = get_u32_le(buf, 68).unwrap_or_default();
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FooterError::Version(version));
        }
        let expected = u64_at(72);
        let actual = xxhash_rust::xxh3::xxh3_64(buf.get(..72).unwrap_or_default());
        if expected != actual {
            return Err(FooterError::Checksum { expected, actual });
        }
        if get_u32_le(buf, 64) != Some(0) {
            return Err(FooterError::Reserved);
        }
        let h = |i: usize| BlockHandle {
            offset: u64_at(16 * i),
            size: u64_at(16 * i + 8),
        };
        Ok(Footer {
            index: h(0),
            filter: h(1),
            range_del: h(2),
            properties: h(3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_round_trips_and_rejects_any_flipped_byte() {
        let f = Footer {
            index: BlockHandle {
                offset: 1000,
                size: 77,
            },
            filter: BlockHandle {
                offset: 10,
                size: 20,
            },
            range_del: BlockHandle {
                offset: 30,
                size: 40,
            },
            properties: BlockHandle {
                offset: 900,
                size: 91,
            },
        };
        let bytes = f.encode();
        assert_eq!(Footer::decode(&bytes), Ok(f));
        for i in 0..FOOTER_LEN {
            let mut b = bytes;
            b[i] ^= 1;
            assert!(Footer::decode(&b).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn a_newer_version_is_reported_as_such() {
        let f = Footer {
            index: BlockHandle::default(),
            filter: BlockHandle::default(),
            range_del: BlockHandle::default(),
            properties: BlockHandle::default(),
        };
        let mut b = f.encode();
        b[68] = 3;
        assert_eq!(Footer::decode(&b), Err(FooterError::Version(3)));
    }
}
