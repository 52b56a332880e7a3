//! When each token range of a table was last repaired, for repair-aware tombstone purging
//! ([`TombstoneGc::Repair`](crate::TombstoneGc::Repair)): a tombstone may be purged only once
//! the range holding it was repaired after the delete, so every replica has the tombstone and
//! none can bring the deleted data back.
//!
//! The history is a piecewise-constant map over the token ring: disjoint ranges
//! `(start, end]`, each with the start time (seconds since the epoch) of the last repair that
//! covered it. Recording a repair keeps, everywhere, the later of the old and new times. It is
//! kept with the table in the store's catalogue.

use serde::{Deserialize, Serialize};

/// One range's last repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Repaired {
    /// `(start, end]`; `None` unbounded.
    start: Option<i64>,
    end: Option<i64>,
    /// When the repair started, seconds since the epoch.
    at: i64,
}

/// A table's repair history (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairHistory {
    /// Disjoint, in token order, adjacent ranges with equal times merged.
    ranges: Vec<Repaired>,
}

fn lo(b: Option<i64>) -> i128 {
    i128::from(b.unwrap_or(i64::MIN))
}

fn hi(b: Option<i64>) -> i128 {
    i128::from(b.unwrap_or(i64::MAX))
}

/// A boundary back as a range bound: the ring's ends are unbounded.
fn bound(v: i128, unbounded: i64) -> Option<i64> {
    let v = i64::try_from(v).unwrap_or(unbounded);
    (v != unbounded).then_some(v)
}

impl RepairHistory {
    /// When the range holding `token` was last repaired, if ever.
    pub fn repaired_at(&self, token: i64) -> Option<i64> {
        let t = i128::from(token);
        self.ranges
            .iter()
            .find(|r| lo(r.start) < t && t <= hi(r.end))
            .map(|r| r.at)
    }

    /// Records that `(start, end]` (never wrapping) was repaired by a repair that started at
    /// `at`.
    pub fn record(&mut self, start: Option<i64>, end: Option<i64>, at: i64) {
        let (new_lo, new_hi) = (lo(start), hi(end));
        if new_lo >= new_hi {
            return;
        }
        let mut cuts: Vec<i128> = vec![new_lo, new_hi];
        for r in &self.ranges {
            cuts.push(lo(r.start));
            cuts.push(hi(r.end));
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out: Vec<Repaired> = Vec::new();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let old = self
                .ranges
                .iter()
                .find(|r| lo(r.start) <= a && b <= hi(r.end))
                .map(|r| r.at);
            let new = (new_lo <= a && b <= new_hi).then_some(at);
            let Some(value) = old.max(new) else {
                continue;
            };
            match out.last_mut() {
                Some(last) if last.at == value && hi(last.end) == a => {
                    last.end = bound(b, i64::MAX);
                }
                _ => out.push(Repaired {
                    start: bound(a, i64::MIN),
                    end: bound(b, i64::MAX),
                    at: value,
                }),
            }
        }
        self.ranges = out;
    }

    /// The oldest last repair over `(start, end]` (never wrapping): `None` when some part of
    /// it was never repaired.
    pub fn oldest_in(&self, start: Option<i64>, end: Option<i64>) -> Option<i64> {
        let (from, to) = (lo(start), hi(end));
        let mut covered = from;
        let mut oldest: Option<i64> = None;
        for r in &self.ranges {
            let (a, b) = (lo(r.start), hi(r.end));
            if b <= covered || a >= to {
                continue;
            }
            if a > covered {
                return None;
            }
            oldest = Some(oldest.map_or(r.at, |o| o.min(r.at)));
            covered = b;
            if covered >= to {
                return oldest;
            }
        }
        None
    }

    /// Every range repaired, in token order: `(start, end, at)`.
    pub fn ranges(&self) -> Vec<(Option<i64>, Option<i64>, i64)> {
        self.ranges.iter().map(|r| (r.start, r.end, r.at)).collect()
    }

    /// Whether no range was ever repaired.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_token_is_repaired_when_a_range_holding_it_was() {
        let mut h = RepairHistory::default();
        assert_eq!(h.repaired_at(0), None);
        h.record(Some(-10), Some(10), 100);
        assert_eq!(h.repaired_at(-10), None, "the start is exclusive");
        assert_eq!(h.repaired_at(-9), Some(100));
        assert_eq!(h.repaired_at(10), Some(100));
        h.record(Some(0), Some(20), 200);
        assert_eq!(h.repaired_at(-1), Some(100));
        assert_eq!(h.repaired_at(1), Some(200));
        assert_eq!(h.repaired_at(20), Some(200));
        assert_eq!(h.oldest_in(Some(-10), Some(20)), Some(100));
        assert_eq!(h.oldest_in(Some(0), Some(20)), Some(200));
        assert_eq!(
            h.oldest_in(Some(-11), Some(20)),
            None,
            "(-11, -10] was never repaired"
        );
        assert_eq!(h.oldest_in(Some(0), Some(21)), None);
        // An older repair never moves a range back.
        h.record(None, None, 50);
        assert_eq!(h.repaired_at(1), Some(200));
        assert_eq!(h.repaired_at(i64::MIN + 1), Some(50));
        assert_eq!(h.repaired_at(i64::MAX), Some(50));
    }

    proptest! {
        #[test]
        fn the_history_is_the_latest_repair_covering_each_token(
            repairs in proptest::collection::vec((-50i64..50, 0i64..40, 0i64..1000), 0..12),
            probes in proptest::collection::vec(-60i64..60, 20),
        ) {
            let mut h = RepairHistory::default();
            for (s, len, at) in &repairs {
                h.record(Some(*s), Some(s + len), *at);
            }
            for t in probes {
                let want = repairs
                    .iter()
                    .filter(|(s, len, _)| *s < t && t <= s + len)
                    .map(|(_, _, at)| *at)
                    .max();
                prop_assert_eq!(h.repaired_at(t), want, "token {}", t);
            }
            // The oldest over a range is the minimum over its tokens, or None with a gap.
            for (s, e) in [(-55i64, -20i64), (-10, 10), (0, 45), (-60, 60)] {
                let per_token: Vec<Option<i64>> = ((s + 1)..=e).map(|t| h.repaired_at(t)).collect();
                let want = if per_token.iter().all(Option::is_some) {
                    per_token.iter().flatten().copied().min()
                } else {
                    None
                };
                prop_assert_eq!(h.oldest_in(Some(s), Some(e)), want, "range ({}, {}]", s, e);
            }
            // Stored compactly: disjoint, ordered, neighbours with equal times merged.
            for w in h.ranges.windows(2) {
                prop_assert!(hi(w[0].end) <= lo(w[1].start));
                prop_assert!(hi(w[0].end) < lo(w[1].start) || w[0].at != w[1].at);
            }
        }
    }
}
