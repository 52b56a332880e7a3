//! The protocol's `[unsigned vint]` and zigzag `[vint]` (used by `duration` values and by
//! variable-size `vector` elements).

use bytes::BufMut;

use crate::error::{Error, Result};

/// Reads an `[unsigned vint]` from the front of `raw`, returning it and the bytes used.
pub fn read_unsigned_vint(raw: &[u8], what: &'static str) -> Result<(u64, usize)> {
    let first = *raw.first().ok_or(Error::Truncated {
        what,
        needed: 1,
        available: 0,
    })?;
    let extra = first.leading_ones() as usize;
    let total = extra + 1;
    let tail = raw.get(1..total).ok_or(Error::Truncated {
        what,
        needed: total,
        available: raw.len(),
    })?;
    // The first byte keeps its low (8 - extra - 1) bits; with 8 extra bytes it keeps none.
    let mut v = u64::from(first & 0xffu8.checked_shr(extra as u32 + 1).unwrap_or(0));
    for b in tail {
        v = (v << 8) | u64::from(*b);
    }
    Ok((v, total))
}

/// Writes an `[unsigned vint]`: the number of extra bytes as leading one bits of the first byte.
pub fn put_unsigned_vint(out: &mut impl BufMut, v: u64) {
    let extra = unsigned_vint_len(v) - 1;
    if extra == 8 {
        out.put_u8(0xff);
        out.put_u64(v);
        return;
    }
    // The marker is `extra` one bits at the top of the first byte; the value fits below it.
    let marker = u64::from(!(0xffu8 >> extra)) << (8 * extra);
    let encoded = v | marker;
    for i in (0..=extra).rev() {
        out.put_u8((encoded >> (8 * i)) as u8);
    }
}

/// Bytes used by an `[unsigned vint]`.
pub fn unsigned_vint_len(v: u64) -> usize {
    // Each byte holds 7 payload bits; 9 bytes hold all 64.
    let bits = 64 - v.leading_zeros() as usize;
    if bits <= 7 {
        1
    } else {
        ((bits - 1) / 7 + 1).min(9)
    }
}

/// A signed integer as the unsigned number a `[vint]` carries.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vint_matches_the_spec_example() {
        let mut out = Vec::new();
        put_unsigned_vint(&mut out, 256_000);
        assert_eq!(out, vec![0b1100_0011, 0b1110_1000, 0]);
        assert_eq!(read_unsigned_vint(&out, "t").unwrap(), (256_000, 3));
    }

    #[test]
    fn vint_round_trips_at_every_width() {
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1, u64::MAX >> (63 - shift)] {
                let mut out = Vec::new();
                put_unsigned_vint(&mut out, v);
                assert_eq!(out.len(), unsigned_vint_len(v), "{v}");
                assert_eq!(
                    read_unsigned_vint(&out, "t").unwrap(),
                    (v, out.len()),
                    "{v}"
                );
            }
        }
        assert_eq!(unzigzag(zigzag(-3)), -3);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    proptest! {
        #[test]
        fn vints_round_trip(v: u64, s: i64) {
            let mut out = Vec::new();
            put_unsigned_vint(&mut out, v);
            prop_assert_eq!(out.len(), unsigned_vint_len(v));
            prop_assert_eq!(read_unsigned_vint(&out, "v").unwrap(), (v, out.len()));
            prop_assert_eq!(unzigzag(zigzag(s)), s);
        }
    }
}
