//! Sets of token ranges: what an incremental repair validates is the union of the parts each
//! replica wrote since their last repair.

use crate::repair::merkle::Range;

fn lo(b: Option<i64>) -> i128 {
    b.map_or(i128::from(i64::MIN) - 1, i128::from)
}

fn hi(b: Option<i64>) -> i128 {
    i128::from(b.unwrap_or(i64::MAX))
}

/// The union of `ranges` (each `(start, end]`, never wrapping, `None` unbounded): disjoint,
/// in token order, with overlapping and adjacent ranges merged; empty ranges dropped.
pub fn union(ranges: impl IntoIterator<Item = Range>) -> Vec<Range> {
    let mut spans: Vec<(i128, i128, Range)> = ranges
        .into_iter()
        .filter(|r| lo(r.0) < hi(r.1))
        .map(|r| (lo(r.0), hi(r.1), r))
        .collect();
    spans.sort_unstable_by_key(|s| (s.0, s.1));
    let mut out: Vec<(i128, i128, Range)> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(prev) if s.0 <= prev.1 => {
                if s.1 > prev.1 {
                    prev.1 = s.1;
                    prev.2.1 = s.2.1;
                }
            }
            _ => out.push(s),
        }
    }
    out.into_iter().map(|s| s.2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        assert_eq!(
            union([
                (Some(5), Some(9)),
                (None, Some(2)),
                (Some(2), Some(4)),
                (Some(8), None)
            ]),
            vec![(None, Some(4)), (Some(5), None)]
        );
        assert_eq!(union([(Some(3), Some(3))]), vec![]);
    }

    proptest! {
        /// A token is in the union exactly when it is in one of the ranges.
        #[test]
        fn the_union_holds_exactly_the_tokens_of_its_parts(
            ranges in proptest::collection::vec((-20i64..20, -20i64..20, any::<bool>(), any::<bool>()), 0..8),
        ) {
            let ranges: Vec<Range> = ranges
                .into_iter()
                .map(|(a, b, open_lo, open_hi)| {
                    (if open_lo { None } else { Some(a.min(b)) }, if open_hi { None } else { Some(a.max(b)) })
                })
                .collect();
            let u = union(ranges.clone());
            for w in u.windows(2) {
                prop_assert!(hi(w[0].1) < lo(w[1].0), "not disjoint and apart: {:?}", u);
            }
            let inside = |rs: &[Range], t: i64| rs.iter().any(|r| lo(r.0) < i128::from(t) && i128::from(t) <= hi(r.1));
            for t in (-22..22).chain([i64::MIN, i64::MAX]) {
                prop_assert_eq!(inside(&u, t), inside(&ranges, t), "token {}", t);
            }
        }
    }
}
