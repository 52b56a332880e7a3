//! The whole-table bloom filter over user keys: a cache-line blocked bloom filter.
//!
//! One xxh3-64 hash per key. Its high 32 bits pick one 512-bit (64-byte, one cache line) block
//! by multiply-shift (`(h >> 32) * num_blocks >> 32`); the `k` probe bits inside the block are
//! the top 9 bits of `h * C`, `h * C^2`, ... (`C` = 0x9E3779B97F4A7C15). A probe therefore
//! touches one cache line and computes one hash. Bit `b` of a block is bit `b & 7` of its byte
//! `b >> 3`, so the layout is independent of the machine's byte order.
//!
//! Byte layout of the filter block:
//!
//! ```text
//! bitmap:     num_blocks x 64 bytes
//! num_blocks: u32 LE (>= 1)
//! num_probes: u8 (1..=30)
//! hash kind:  u8 = 1 (xxh3-64, 512-bit blocks)
//! ```

use super::get_u32_le;

/// Bytes after the bitmap.
pub(crate) const FILTER_TAIL_LEN: usize = 6;
const BLOCK_BYTES: usize = 64;
const HASH_KIND_XXH3_BLOCKED512: u8 = 1;
const PROBE_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The hash a key is filtered by.
#[inline]
pub(crate) fn key_hash(user_key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(user_key)
}

/// Collects key hashes and builds the filter block.
#[derive(Debug)]
pub(crate) struct FilterBuilder {
    bits_per_key: u32,
    hashes: Vec<u64>,
}

impl FilterBuilder {
    pub(crate) fn new(bits_per_key: u32) -> FilterBuilder {
        FilterBuilder {
            bits_per_key,
            hashes: Vec::new(),
        }
    }

    /// Adds the hash of a user key (the writer skips repeats of the previous key).
    pub(crate) fn add_hash(&mut self, h: u64) {
        self.hashes.push(h);
    }

    /// The number of probes for `bits_per_key`: `ln 2 * bits`, a little lower for blocked
    /// filters whose blocks fill unevenly (10 bits -> 6 probes).
    fn probes(bits_per_key: u32) -> u8 {
        ((f64::from(bits_per_key) * 0.69) as u32).clamp(1, 30) as u8
    }

    pub(crate) fn finish(&self) -> Vec<u8> {
        let total_bits = (self.hashes.len() as u64).saturating_mul(u64::from(self.bits_per_key));
        let num_blocks = total_bits.div_ceil(512).clamp(1, u64::from(u32::MAX / 64)) as u32;
        let k = Self::probes(self.bits_per_key);
        let mut out = vec![0u8; num_blocks as usize * BLOCK_BYTES];
        for &h in &self.hashes {
            let base = block_of(h, num_blocks) * BLOCK_BYTES;
            let mut x = h;
            for _ in 0..k {
                x = x.wrapping_mul(PROBE_MUL);
                let b = (x >> 55) as usize;
                if let Some(byte) = out.get_mut(base + (b >> 3)) {
                    *byte |= 1 << (b & 7);
                }
            }
        }
        out.extend_from_slice(&num_blocks.to_le_bytes());
        out.push(k);
        out.push(HASH_KIND_XXH3_BLOCKED512);
        out
    }
}

#[inline]
fn block_of(h: u64, num_blocks: u32) -> usize {
    (((h >> 32) * u64::from(num_blocks)) >> 32) as usize
}

/// A validated filter: where its bitmap is and how to probe it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FilterParams {
    pub(crate) num_blocks: u32,
    pub(crate) num_probes: u8,
    /// Length of the bitmap in bytes.
    pub(crate) bitmap_len: usize,
}

/// Checks a filter block's tail against its length.
pub(crate) fn parse(block: &[u8]) -> Result<FilterParams, &'static str> {
    let bitmap_len = block
        .len()
        .checked_sub(FILTER_TAIL_LEN)
        .ok_or("filter block shorter than its tail")?;
    let num_blocks = get_u32_le(block, bitmap_len).ok_or("filter block shorter than its tail")?;
    let num_probes = *block.get(bitmap_len + 4).ok_or("filter tail truncated")?;
    let kind = *block.get(bitmap_len + 5).ok_or("filter tail truncated")?;
    if kind != HASH_KIND_XXH3_BLOCKED512 {
        return Err("unknown filter hash kind");
    }
    if num_blocks == 0 || (num_blocks as usize).checked_mul(BLOCK_BYTES) != Some(bitmap_len) {
        return Err("filter bitmap length does not match its block count");
    }
    if !(1..=30).contains(&num_probes) {
        return Err("filter probe count out of range");
    }
    Ok(FilterParams {
        num_blocks,
        num_probes,
        bitmap_len,
    })
}

/// Whether the key with hash `h` may be in the set `bitmap` describes (false = certainly not).
#[inline]
pub(crate) fn may_contain(bitmap: &[u8], params: FilterParams, h: u64) -> bool {
    let base = block_of(h, params.num_blocks) * BLOCK_BYTES;
    let Some(block) = bitmap.get(base..base + BLOCK_BYTES) else {
        return true;
    };
    let mut x = h;
    for _ in 0..params.num_probes {
        x = x.wrapping_mul(PROBE_MUL);
        let b = (x >> 55) as usize;
        match block.get(b >> 3) {
            Some(byte) if byte & (1 << (b & 7)) != 0 => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(keys: impl Iterator<Item = Vec<u8>>, bits: u32) -> (Vec<u8>, FilterParams) {
        let mut b = FilterBuilder::new(bits);
        for k in keys {
            b.add_hash(key_hash(&k));
        }
        let block = b.finish();
        let params = parse(&block).unwrap();
        (block, params)
    }

    #[test]
    fn every_added_key_may_be_contained() {
        let (block, p) = build((0..10_000u32).map(|i| i.to_be_bytes().to_vec()), 10);
        for i in 0..10_000u32 {
            assert!(may_contain(
                &block[..p.bitmap_len],
                p,
                key_hash(&i.to_be_bytes())
            ));
        }
    }

    #[test]
    fn false_positive_rate_at_ten_bits_per_key_is_below_three_percent() {
        let n = 20_000u32;
        let (block, p) = build((0..n).map(|i| format!("key-{i}").into_bytes()), 10);
        let probes = 100_000u32;
        let fp = (0..probes)
            .filter(|i| {
                let k = format!("missing-{i}");
                may_contain(&block[..p.bitmap_len], p, key_hash(k.as_bytes()))
            })
            .count();
        let rate = fp as f64 / f64::from(probes);
        assert!(rate < 0.03, "false positive rate {rate}");
        assert!(
            rate > 0.0,
            "a filter with no false positives at all is suspicious: {rate}"
        );
    }

    #[test]
    fn an_empty_filter_rejects_everything() {
        let (block, p) = build(std::iter::empty(), 10);
        assert!(!may_contain(&block[..p.bitmap_len], p, key_hash(b"x")));
    }

    #[test]
    fn malformed_filter_tails_are_rejected() {
        let (block, _) = build((0..10u32).map(|i| vec![i as u8]), 10);
        assert!(parse(&block[..block.len() - 1]).is_err());
        assert!(parse(&block[1..]).is_err());
        let mut bad = block.clone();
        *bad.last_mut().unwrap() = 7;
        assert!(parse(&bad).is_err());
        assert!(parse(&[]).is_err());
    }
}
