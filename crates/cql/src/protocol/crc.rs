//! The two checksums of v5 segment framing, as Cassandra's `Crc.java` computes them.

/// CRC24 of the first `len` bytes of `data` taken least significant byte first (the segment
/// header is little-endian): polynomial 0x1974F0B, initial value 0x875060.
pub(crate) fn crc24(mut data: u64, len: usize) -> u32 {
    const INIT: u32 = 0x0087_5060;
    const POLY: u32 = 0x0197_4F0B;
    let mut crc = INIT;
    for _ in 0..len {
        crc ^= ((data & 0xff) as u32) << 16;
        data >>= 8;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= POLY;
            }
        }
    }
    crc
}

/// CRC32 of a segment payload. Cassandra seeds the CRC32 by first feeding it the four bytes
/// 0xFA 0x2D 0x55 0xCA, so a payload of zeros does not checksum to zero.
pub(crate) fn crc32(payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[0xfa, 0x2d, 0x55, 0xca]);
    h.update(payload);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_seeded_with_the_initial_bytes() {
        // zlib.crc32(b"", zlib.crc32(b"\xfa\x2d\x55\xca")) in Python.
        assert_eq!(crc32(&[]), crc32fast::hash(&[0xfa, 0x2d, 0x55, 0xca]));
        assert_ne!(crc32(&[0, 0, 0, 0]), crc32fast::hash(&[0, 0, 0, 0]));
    }

    #[test]
    fn crc24_of_nothing_is_the_initial_value() {
        assert_eq!(crc24(0, 0), 0x0087_5060);
        assert!(crc24(0x12_3456, 3) < (1 << 24));
    }
}
