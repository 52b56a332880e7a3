//! When each part of a table's token ring was last written on this node, and when each part
//! was last found in sync by a repair, both by this node's own clock, for incremental repair:
//! a part not written since a repair found it in sync, on every replica, still holds what that
//! repair left, so a routine repair validates only the parts some replica wrote since
//! ([`WriteTimes::unrepaired_in`]).
//!
//! The ring is cut into [`BUCKETS`] equal buckets by the top bits of the token; each keeps the
//! latest time (seconds) anything reached the table there: a client write, a hint, a read
//! repair, a stream, an ingested file, a truncation or a cleanup. The repairs are kept as a
//! [`RepairHistory`] of this node's times (when it was first asked during each repair), so
//! clocks that differ between nodes cannot hide a write. Both live in memory only: a node that
//! starts has no repair on record, so its first repair validates everything it holds (a node
//! back from a lost disk included).

use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

use crate::RepairHistory;

/// Bits of the token that pick a bucket.
const BUCKET_BITS: u32 = 10;
/// How many buckets the ring is cut into.
pub const BUCKETS: usize = 1 << BUCKET_BITS;

/// The last write time of each bucket of one table, and the repairs seen since the node
/// started (see the module documentation).
#[derive(Debug)]
pub struct WriteTimes {
    last: Box<[AtomicI64]>,
    repaired: Mutex<RepairHistory>,
}

/// The bucket holding `token`.
fn bucket(token: i64) -> usize {
    let offset = (i128::from(token) - i128::from(i64::MIN)) >> (64 - BUCKET_BITS);
    usize::try_from(offset)
        .unwrap_or(BUCKETS - 1)
        .min(BUCKETS - 1)
}

/// The tokens of bucket `b` as a range `(start, end]` in `i128`, `start` excluded.
fn bucket_span(b: usize) -> (i128, i128) {
    let width = 1i128 << (64 - BUCKET_BITS);
    let first = i128::from(i64::MIN) + width * i128::try_from(b).unwrap_or(0);
    (first - 1, first + width - 1)
}

fn lo(b: Option<i64>) -> i128 {
    b.map_or(i128::from(i64::MIN) - 1, i128::from)
}

fn hi(b: Option<i64>) -> i128 {
    i128::from(b.unwrap_or(i64::MAX))
}

/// A boundary back as a range bound: the ring's ends are unbounded.
fn bound(v: i128) -> Option<i64> {
    i64::try_from(v).ok().filter(|t| *t != i64::MAX)
}

impl Default for WriteTimes {
    fn default() -> WriteTimes {
        WriteTimes {
            last: (0..BUCKETS).map(|_| AtomicI64::new(i64::MIN)).collect(),
            repaired: Mutex::new(RepairHistory::default()),
        }
    }
}

impl WriteTimes {
    /// Something reached the table at `token` at `now`.
    pub fn note(&self, token: i64, now: i64) {
        if let Some(b) = self.last.get(bucket(token)) {
            b.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Something reached (or left) the table anywhere in `(start, end]` at `now`.
    pub fn note_range(&self, start: Option<i64>, end: Option<i64>, now: i64) {
        let (from, to) = (lo(start), hi(end));
        if from >= to {
            return;
        }
        let first = bucket(i64::try_from(from + 1).unwrap_or(i64::MIN));
        let last = bucket(i64::try_from(to).unwrap_or(i64::MAX));
        for b in &self.last[first..=last] {
            b.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// A repair found `ranges` (never wrapping) in sync on every replica; it first asked this
    /// node at `asked` (this node's clock, seconds): everything written before then is in
    /// sync.
    pub fn record_repair(&self, ranges: &[(Option<i64>, Option<i64>)], asked: i64) {
        let mut repaired = self.repaired.lock();
        for (start, end) in ranges {
            repaired.record(*start, *end, asked);
        }
    }

    /// The parts of `(start, end]` (never wrapping; `None` unbounded) that need validating:
    /// each bucket's share of the range that no repair found in sync since the node started,
    /// or whose bucket was written at or after the oldest such repair of that share. Adjacent
    /// parts are merged; in token order.
    pub fn unrepaired_in(
        &self,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Vec<(Option<i64>, Option<i64>)> {
        let (from, to) = (lo(start), hi(end));
        let mut out: Vec<(i128, i128)> = Vec::new();
        if from >= to {
            return Vec::new();
        }
        let history = self.repaired.lock();
        let first = bucket(i64::try_from(from + 1).unwrap_or(i64::MIN));
        let last = bucket(i64::try_from(to).unwrap_or(i64::MAX));
        for b in first..=last {
            let (b_lo, b_hi) = bucket_span(b);
            let (s, e) = (from.max(b_lo), to.min(b_hi));
            if s >= e {
                continue;
            }
            let written = self.last[b].load(Ordering::Relaxed);
            let dirty = history
                .oldest_in(bound(s), bound(e))
                .is_none_or(|repaired| written >= repaired);
            if !dirty {
                continue;
            }
            match out.last_mut() {
                Some(prev) if prev.1 == s => prev.1 = e,
                _ => out.push((s, e)),
            }
        }
        out.into_iter().map(|(s, e)| (bound(s), bound(e))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_cut_the_ring_into_equal_spans_that_meet() {
        assert_eq!(bucket(i64::MIN), 0);
        assert_eq!(bucket(i64::MAX), BUCKETS - 1);
        assert_eq!(bucket(-1), BUCKETS / 2 - 1);
        assert_eq!(bucket(0), BUCKETS / 2);
        for b in 1..BUCKETS {
            assert_eq!(bucket_span(b - 1).1, bucket_span(b).0);
        }
        assert_eq!(bound(bucket_span(0).0), None);
        assert_eq!(bound(bucket_span(BUCKETS - 1).1), None);
    }

    #[test]
    fn a_repair_leaves_only_what_was_written_since_it_first_asked() {
        let times = WriteTimes::default();
        times.note(7, 100);
        // No repair since the start: all of it.
        assert_eq!(times.unrepaired_in(None, None), vec![(None, None)]);
        times.record_repair(&[(None, None)], 200);
        assert!(times.unrepaired_in(None, None).is_empty());
        // A write at 250 in the bucket of token 0 makes that bucket's share unrepaired again.
        times.note(0, 250);
        let (b_lo, b_hi) = bucket_span(bucket(0));
        assert_eq!(
            times.unrepaired_in(None, None),
            vec![(bound(b_lo), bound(b_hi))]
        );
        // Only the part of the range asked for.
        assert_eq!(
            times.unrepaired_in(Some(-5), Some(5)),
            vec![(Some(-1), Some(5))]
        );
        let end = i64::try_from(b_hi).unwrap();
        assert!(times.unrepaired_in(Some(end), Some(end + 10)).is_empty());
        // A repair that asked in the write's second still counts it as unrepaired; a later one
        // does not.
        times.record_repair(&[(Some(-5), Some(5))], 250);
        assert_eq!(times.unrepaired_in(Some(-5), Some(5)).len(), 1);
        times.record_repair(&[(None, None)], 251);
        assert!(times.unrepaired_in(None, None).is_empty());
        // A repair of part of the ring leaves the rest as it was.
        times.note(0, 300);
        times.note(i64::MAX, 300);
        times.record_repair(&[(Some(-10), Some(10))], 301);
        assert_eq!(times.unrepaired_in(Some(-10), Some(10)), vec![]);
        let whole = times.unrepaired_in(None, None);
        assert_eq!(whole.len(), 2, "{whole:?}");
        assert_eq!(whole[1].1, None);
    }

    proptest! {
        /// Model: a token is unrepaired exactly when no repair covers its share of the range
        /// or its bucket's last write is at or after the oldest repair of that share; the
        /// answer covers exactly those tokens of the range.
        #[test]
        fn unrepaired_in_matches_a_per_token_model(
            writes in proptest::collection::vec((any::<i64>(), 0i64..50), 0..20),
            repairs in proptest::collection::vec((any::<i64>(), any::<i64>(), 0i64..50), 0..6),
            range in (any::<i64>(), any::<i64>()),
            probes in proptest::collection::vec(any::<i64>(), 32),
        ) {
            let times = WriteTimes::default();
            for (t, at) in &writes {
                times.note(*t, *at);
            }
            let mut history = RepairHistory::default();
            for (a, b, at) in &repairs {
                let (a, b) = (*a.min(b), *a.max(b));
                history.record(Some(a), Some(b), *at);
                times.record_repair(&[(Some(a), Some(b))], *at);
            }
            let (s, e) = (range.0.min(range.1), range.0.max(range.1));
            let parts = times.unrepaired_in(Some(s), Some(e));
            let mut probes = probes;
            probes.extend(parts.iter().flat_map(|(a, b)| [a.unwrap_or(i64::MIN), b.unwrap_or(i64::MAX)]));
            probes.extend([s, e, s.saturating_add(1)]);
            for t in probes {
                let in_range = s < t && t <= e;
                let covered = parts.iter().any(|(a, b)| lo(*a) < i128::from(t) && i128::from(t) <= hi(*b));
                if !in_range {
                    prop_assert!(!covered, "token {t} outside the range is covered");
                    continue;
                }
                let (b_lo, b_hi) = bucket_span(bucket(t));
                let share = (bound(b_lo.max(i128::from(s))), bound(b_hi.min(i128::from(e))));
                let written = times.last[bucket(t)].load(Ordering::Relaxed);
                let expected = history
                    .oldest_in(share.0, share.1)
                    .is_none_or(|r| written >= r);
                prop_assert_eq!(covered, expected, "token {}", t);
            }
        }
    }
}
