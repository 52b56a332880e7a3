//! Cassandra's variant of MurmurHash3 x64/128.
//!
//! Cassandra (`org.apache.cassandra.utils.MurmurHash.hash3_x64_128`) reads the 16-byte body
//! blocks as little-endian unsigned words like the reference algorithm, but widens the bytes of
//! the tail (the last `len % 16` bytes) as *signed* Java bytes: a tail byte `0x80` contributes
//! `0xffff_ffff_ffff_ff80 << shift`, not `0x80 << shift`. Keys whose tail has a byte >= 0x80 hash
//! differently from the reference MurmurHash3; drivers copy this quirk, and so do we.

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

/// The final avalanche of MurmurHash3 (logical shifts, as Cassandra's `fmix`).
#[inline]
const fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[inline]
fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

#[inline]
fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

/// Cassandra's MurmurHash3 x64/128 of `data` with `seed`, as the two signed 64-bit halves
/// `(h1, h2)`. The partitioner uses `h1` with seed 0.
pub fn murmur3_x64_128(data: &[u8], seed: u64) -> (i64, i64) {
    let mut h1 = seed;
    let mut h2 = seed;

    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let (lo, hi) = block.split_at(8);
        let k1 = u64::from_le_bytes(lo.try_into().unwrap_or([0; 8]));
        let k2 = u64::from_le_bytes(hi.try_into().unwrap_or([0; 8]));

        h1 ^= mix_k1(k1);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(k2);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    let tail = blocks.remainder();
    // Tail bytes are sign-extended, as Java's `(long) byteBuffer.get(i)`.
    let signed = |i: usize| -> u64 { tail.get(i).map_or(0, |&b| i64::from(b as i8) as u64) };
    let mut k1: u64 = 0;
    let mut k2: u64 = 0;
    if tail.len() > 8 {
        for i in (8..tail.len()).rev() {
            k2 ^= signed(i) << ((i - 8) * 8);
        }
        h2 ^= mix_k2(k2);
    }
    if !tail.is_empty() {
        for i in (0..tail.len().min(8)).rev() {
            k1 ^= signed(i) << (i * 8);
        }
        h1 ^= mix_k1(k1);
    }

    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1 as i64, h2 as i64)
}

/// The first half of Cassandra's MurmurHash3 x64/128 with seed 0: exactly the Python driver's
/// `cassandra.murmur3.murmur3(data)`. It is the raw hash; the token is
/// [`Murmur3Partitioner::token`](crate::Murmur3Partitioner::token), which normalises it.
pub fn murmur3(data: &[u8]) -> i64 {
    murmur3_x64_128(data, 0).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_hashes_to_zero() {
        assert_eq!(murmur3(b""), 0);
    }

    #[test]
    fn known_driver_values_match() {
        // From cassandra-driver 3.30.1 (see tests/vectors); a 1-byte key, and bytes >= 0x80 in
        // the tail, which Cassandra sign-extends.
        assert_eq!(murmur3(&[0x00]), 5_048_724_184_180_415_669);
        let all_high = [0xffu8; 15];
        assert_ne!(
            murmur3(&all_high),
            reference_murmur3_unsigned_tail(&all_high),
            "sign extension of tail bytes must change the hash"
        );
    }

    /// The reference algorithm (unsigned tail bytes), only to show the quirk matters.
    fn reference_murmur3_unsigned_tail(data: &[u8]) -> i64 {
        assert!(data.len() < 16);
        let mut k1: u64 = 0;
        let mut k2: u64 = 0;
        for (i, &b) in data.iter().enumerate() {
            if i < 8 {
                k1 ^= u64::from(b) << (i * 8);
            } else {
                k2 ^= u64::from(b) << ((i - 8) * 8);
            }
        }
        let (mut h1, mut h2) = (0u64, 0u64);
        if data.len() > 8 {
            h2 ^= mix_k2(k2);
        }
        if !data.is_empty() {
            h1 ^= mix_k1(k1);
        }
        h1 ^= data.len() as u64;
        h2 ^= data.len() as u64;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix(h1);
        h2 = fmix(h2);
        h1.wrapping_add(h2) as i64
    }
}
