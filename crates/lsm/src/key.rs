//! Internal keys: a user key tagged with the sequence number and kind of the write.
//!
//! Byte layout (what memtables, table files and the commit log store):
//!
//! ```text
//! +-----------------+----------------------------------------+
//! | user key (n B)  | tag: u64 big-endian = !(seq << 8 | kind) |
//! +-----------------+----------------------------------------+
//! ```
//!
//! The tag is inverted so that, compared bytewise on the tag, a newer write (higher sequence
//! number) sorts first. Internal keys are compared with [`compare`]: user key ascending
//! (bytewise), then newer first. Sequence numbers are at most 56 bits.

use std::cmp::Ordering;

/// Sequence number of a write; assigned by the engine in commit order. At most 2^56 - 1.
pub(crate) type SeqNo = u64;

/// Largest sequence number; a read at `MAX_SEQ` sees every write.
pub(crate) const MAX_SEQ: SeqNo = (1 << 56) - 1;

/// Length of the tag that follows the user key.
pub(crate) const TAG_LEN: usize = 8;

/// What an entry records about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Point deletion of the key.
    Delete = 0,
    /// A value.
    Put = 1,
    /// A merge operand, combined with older versions by the tree's merge operator.
    Merge = 2,
    /// Deletion of `[key, value)`: the value holds the exclusive end key.
    RangeDelete = 3,
}

impl Kind {
    pub(crate) fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            2 => Some(Kind::Merge),
            3 => Some(Kind::RangeDelete),
            _ => None,
        }
    }
}

/// Encodes the tag of `(seq, kind)`.
pub(crate) fn tag(seq: SeqNo, kind: Kind) -> [u8; TAG_LEN] {
    (!((seq << 8) | kind as u64)).to_be_bytes()
}

/// Appends `user_key` and its tag to `out`.
pub(crate) fn encode_into(out: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: Kind) {
    out.reserve(user_key.len() + TAG_LEN);
    out.extend_from_slice(user_key);
    out.extend_from_slice(&tag(seq, kind));
}

/// Builds an internal key.
pub(crate) fn encode(user_key: &[u8], seq: SeqNo, kind: Kind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TAG_LEN);
    encode_into(&mut v, user_key, seq, kind);
    v
}

/// Runs `f` on `user_key ++ tag`, assembled on the stack when it is short (lookups build one
/// probe key per call; this keeps the common case free of allocations).
pub(crate) fn with_internal<R>(
    user_key: &[u8],
    tag: [u8; TAG_LEN],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let mut stack = [0u8; 64];
    match stack.get_mut(..user_key.len() + TAG_LEN) {
        Some(buf) => {
            let (uk, t) = buf.split_at_mut(user_key.len());
            uk.copy_from_slice(user_key);
            t.copy_from_slice(&tag);
            f(buf)
        }
        None => {
            let mut v = Vec::with_capacity(user_key.len() + TAG_LEN);
            v.extend_from_slice(user_key);
            v.extend_from_slice(&tag);
            f(&v)
        }
    }
}

/// A decoded internal key borrowing its user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    pub(crate) user_key: &'a [u8],
    pub(crate) seq: SeqNo,
    pub(crate) kind: Kind,
}

/// Splits an internal key; `None` when it is too short or its kind byte is unknown.
pub(crate) fn parse(internal: &[u8]) -> Option<Parsed<'_>> {
    let split = internal.len().checked_sub(TAG_LEN)?;
    let (user_key, tag) = internal.split_at(split);
    let raw = !u64::from_be_bytes(tag.try_into().ok()?);
    let kind = Kind::from_u8((raw & 0xff) as u8)?;
    Some(Parsed {
        user_key,
        seq: raw >> 8,
        kind,
    })
}

/// The user key of an internal key (the whole input when it is shorter than a tag).
pub(crate) fn user_key(internal: &[u8]) -> &[u8] {
    internal
        .get(..internal.len().saturating_sub(TAG_LEN))
        .unwrap_or(internal)
}

/// Orders internal keys: user key ascending, then newer (higher sequence) first.
#[inline]
pub(crate) fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let (ua, ta) = a.split_at(a.len().saturating_sub(TAG_LEN));
    let (ub, tb) = b.split_at(b.len().saturating_sub(TAG_LEN));
    compare_bytes(ua, ub).then_with(
        || match (<[u8; 8]>::try_from(ta), <[u8; 8]>::try_from(tb)) {
            (Ok(x), Ok(y)) => u64::from_be_bytes(x).cmp(&u64::from_be_bytes(y)),
            _ => ta.cmp(tb),
        },
    )
}

/// Lexicographic byte order, eight bytes at a time as big-endian words. Keys are short
/// (a memtable insert compares ~20 of them): a call to `memcmp` per comparison costs more
/// than the comparison itself.
#[inline]
pub(crate) fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let mut wa = a.chunks_exact(8);
    let mut wb = b.chunks_exact(8);
    let mut done = 0;
    while let (Some(x), Some(y)) = (wa.next(), wb.next()) {
        if let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) {
            let (x, y) = (u64::from_be_bytes(x), u64::from_be_bytes(y));
            if x != y {
                return x.cmp(&y);
            }
        }
        done += 8;
    }
    a.get(done..)
        .unwrap_or_default()
        .cmp(b.get(done..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newer_writes_of_a_key_sort_first() {
        let old = encode(b"k", 5, Kind::Put);
        let new = encode(b"k", 6, Kind::Delete);
        assert_eq!(compare(&new, &old), Ordering::Less);
        assert_eq!(compare(&encode(b"a", 1, Kind::Put), &new), Ordering::Less);
    }

    #[test]
    fn a_short_or_unknown_key_does_not_parse() {
        assert_eq!(parse(b"short"), None);
        let mut bad = encode(b"k", 1, Kind::Put);
        let last = bad.len() - 1;
        bad[last] = !9; // kind 9 after inversion
        assert_eq!(parse(&bad), None);
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips(
            key in proptest::collection::vec(any::<u8>(), 0..40),
            seq in 0..=MAX_SEQ,
            kind in 0u8..4,
        ) {
            let kind = Kind::from_u8(kind).unwrap();
            let ik = encode(&key, seq, kind);
            prop_assert_eq!(parse(&ik), Some(Parsed { user_key: &key, seq, kind }));
            prop_assert_eq!(user_key(&ik), &key[..]);
        }

        #[test]
        fn word_at_a_time_order_is_byte_order(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
        ) {
            prop_assert_eq!(compare_bytes(&a, &b), a.cmp(&b));
            let mut c = a.clone();
            c.extend_from_slice(&b);
            prop_assert_eq!(compare_bytes(&a, &c), a.cmp(&c));
            prop_assert_eq!(compare_bytes(&c, &a), c.cmp(&a));
        }

        #[test]
        fn internal_order_is_user_key_then_newest_first(
            a in proptest::collection::vec(0u8..3, 0..20), sa in 0..1000u64,
            b in proptest::collection::vec(0u8..3, 0..20), sb in 0..1000u64,
        ) {
            let x = encode(&a, sa, Kind::Put);
            let y = encode(&b, sb, Kind::Put);
            let expected = a.cmp(&b).then(sb.cmp(&sa));
            prop_assert_eq!(compare(&x, &y), expected);
        }
    }
}
