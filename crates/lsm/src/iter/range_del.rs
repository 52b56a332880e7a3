//! [`RangeDelSet`]: range tombstones as non-overlapping fragments, for "which deletion covers
//! this key" lookups.

use crate::key::SeqNo;
use crate::sstable::RangeTombstone;

/// Range tombstones cut into non-overlapping fragments, each with the highest sequence number
/// covering it, for fast "which deletion covers this key" lookups.
#[derive(Debug, Default, Clone)]
pub(crate) struct RangeDelSet {
    /// Fragment boundaries, ascending; fragment i is `[bounds[i], bounds[i+1])`.
    bounds: Vec<Vec<u8>>,
    seqs: Vec<SeqNo>,
}

impl RangeDelSet {
    pub(crate) fn new(mut tombstones: Vec<RangeTombstone>) -> RangeDelSet {
        tombstones.retain(|t| t.start < t.end);
        if tombstones.is_empty() {
            return RangeDelSet::default();
        }
        let mut bounds: Vec<Vec<u8>> = tombstones
            .iter()
            .flat_map(|t| [t.start.clone(), t.end.clone()])
            .collect();
        bounds.sort();
        bounds.dedup();
        let mut seqs = vec![0; bounds.len().saturating_sub(1)];
        for t in &tombstones {
            let lo = bounds.partition_point(|b| b < &t.start);
            let hi = bounds.partition_point(|b| b < &t.end);
            for s in seqs.get_mut(lo..hi).into_iter().flatten() {
                *s = (*s).max(t.seq);
            }
        }
        RangeDelSet { bounds, seqs }
    }

    /// Highest sequence number of a tombstone covering `user_key` (0 when none).
    pub(crate) fn covering_seq(&self, user_key: &[u8]) -> SeqNo {
        if self.seqs.is_empty() {
            return 0;
        }
        let i = self.bounds.partition_point(|b| b.as_slice() <= user_key);
        if i == 0 {
            return 0;
        }
        self.seqs.get(i - 1).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_report_the_newest_covering_deletion() {
        let t = |s: &str, e: &str, seq| RangeTombstone {
            start: s.into(),
            end: e.into(),
            seq,
        };
        let set = RangeDelSet::new(vec![t("b", "f", 5), t("d", "h", 9), t("x", "y", 1)]);
        assert_eq!(set.covering_seq(b"a"), 0);
        assert_eq!(set.covering_seq(b"b"), 5);
        assert_eq!(set.covering_seq(b"d"), 9);
        assert_eq!(set.covering_seq(b"g"), 9);
        assert_eq!(set.covering_seq(b"h"), 0);
        assert_eq!(set.covering_seq(b"x"), 1);
    }
}
