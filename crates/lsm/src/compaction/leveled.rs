//! Leveled compaction, after LevelDB and RocksDB.
//!
//! Scores: L0's is its file count over `l0_trigger`; level `i >= 1` scores its bytes over its
//! target `base_level_bytes * multiplier^(i-1)`. The level with the highest score >= 1 is
//! compacted into the next one:
//! - L0: every L0 file (they may overlap each other) plus the L1 files they overlap;
//! - level `i`: the file whose overlap with level `i+1` is smallest relative to its own size
//!   (RocksDB's `kMinOverlappingRatio`), widened to a clean cut (neighbours that share a
//!   boundary user key come along, so no version of a key is left above a newer one), plus
//!   the next-level files it overlaps.
//!
//! A task is bottommost when no file below its output level overlaps its key range. The last
//! level has no target and is never a source (except through `pick_range`). Dynamic level
//! sizing is not implemented: targets are static.

use super::{CompactionStrategy, CompactionTask, FileInfo, PickContext, Purpose, tombstones};

/// Levels of a leveled tree, L0 included.
pub(crate) const NUM_LEVELS: usize = 7;

#[derive(Debug, Clone)]
pub(crate) struct Leveled {
    pub(crate) l0_trigger: usize,
    pub(crate) multiplier: u64,
    pub(crate) base_level_bytes: u64,
    pub(crate) target_file_size: u64,
    pub(crate) num_levels: usize,
}

/// An inclusive user-key range; `None` bounds are unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    lo: Option<Vec<u8>>,
    hi: Option<Vec<u8>>,
}

impl Span {
    fn of(f: &FileInfo) -> Span {
        Span {
            lo: Some(f.smallest_user_key.clone()),
            hi: Some(f.largest_user_key.clone()),
        }
    }

    fn meets(&self, f: &FileInfo) -> bool {
        f.overlaps(self.lo.as_deref(), self.hi.as_deref())
    }

    fn widen(&mut self, f: &FileInfo) {
        if let Some(lo) = &mut self.lo
            && f.smallest_user_key < *lo
        {
            *lo = f.smallest_user_key.clone();
        }
        if let Some(hi) = &mut self.hi
            && f.largest_user_key > *hi
        {
            *hi = f.largest_user_key.clone();
        }
    }
}

/// Indices of the files of `level` overlapping `span`, widening `span` until no more join.
fn closure(level: &[FileInfo], span: &mut Span) -> Vec<usize> {
    let mut chosen = vec![false; level.len()];
    loop {
        let mut grew = false;
        for (i, f) in level.iter().enumerate() {
            if chosen.get(i) == Some(&false) && span.meets(f) {
                if let Some(c) = chosen.get_mut(i) {
                    *c = true;
                }
                span.widen(f);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    chosen
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.then_some(i))
        .collect()
}

fn ids(level: &[FileInfo], idx: &[usize]) -> Vec<u64> {
    idx.iter()
        .filter_map(|&i| level.get(i))
        .map(|f| f.id)
        .collect()
}

fn any_busy(level: &[FileInfo], idx: &[usize]) -> bool {
    idx.iter()
        .filter_map(|&i| level.get(i))
        .any(|f| f.being_compacted)
}

fn bytes(level: &[FileInfo], idx: &[usize]) -> u64 {
    idx.iter()
        .filter_map(|&i| level.get(i))
        .map(|f| f.size)
        .sum()
}

/// Whether any file strictly below `level` overlaps `span`.
fn overlaps_below(levels: &[Vec<FileInfo>], level: usize, span: &Span) -> bool {
    levels
        .iter()
        .skip(level + 1)
        .flatten()
        .any(|f| span.meets(f))
}

impl Leveled {
    fn target(&self, level: usize) -> u64 {
        let mut t = self.base_level_bytes;
        for _ in 1..level {
            t = t.saturating_mul(self.multiplier);
        }
        t
    }

    fn last_level(&self, levels: &[Vec<FileInfo>]) -> usize {
        self.num_levels.max(levels.len()).max(2) - 1
    }

    /// Scores of the levels that may be compacted, highest first.
    fn scores(&self, levels: &[Vec<FileInfo>]) -> Vec<(f64, usize)> {
        let last = self.last_level(levels);
        let mut scores = Vec::new();
        for (i, level) in levels.iter().enumerate().take(last) {
            let score = if i == 0 {
                level.len() as f64 / self.l0_trigger as f64
            } else {
                let size: u64 = level
                    .iter()
                    .filter(|f| !f.being_compacted)
                    .map(|f| f.size)
                    .sum();
                size as f64 / self.target(i) as f64
            };
            if score >= 1.0 {
                scores.push((score, i));
            }
        }
        scores.sort_by(|a, b| b.0.total_cmp(&a.0));
        scores
    }

    fn task(
        &self,
        inputs: Vec<(usize, Vec<u64>)>,
        output_level: usize,
        bottommost: bool,
    ) -> CompactionTask {
        CompactionTask {
            inputs: inputs
                .into_iter()
                .filter(|(_, ids)| !ids.is_empty())
                .collect(),
            output_level,
            target_file_size: self.target_file_size,
            bottommost,
            purpose: Purpose::Merge,
        }
    }

    /// The task of the level most over its target, if any.
    fn pick_by_score(&self, levels: &[Vec<FileInfo>]) -> Option<CompactionTask> {
        for (_, level) in self.scores(levels) {
            let task = if level == 0 {
                self.pick_l0(levels)
            } else {
                self.pick_level(levels, level)
            };
            if task.is_some() {
                return task;
            }
        }
        None
    }

    fn pick_l0(&self, levels: &[Vec<FileInfo>]) -> Option<CompactionTask> {
        let l0 = levels.first()?;
        if l0.is_empty() || l0.iter().any(|f| f.being_compacted) {
            return None;
        }
        let mut span = Span::of(l0.first()?);
        for f in l0 {
            span.widen(f);
        }
        let empty = Vec::new();
        let l1 = levels.get(1).unwrap_or(&empty);
        let next = closure(l1, &mut span);
        if any_busy(l1, &next) {
            return None;
        }
        let bottommost = !overlaps_below(levels, 1, &span);
        Some(self.task(
            vec![(0, l0.iter().map(|f| f.id).collect()), (1, ids(l1, &next))],
            1,
            bottommost,
        ))
    }

    fn pick_level(&self, levels: &[Vec<FileInfo>], i: usize) -> Option<CompactionTask> {
        let level = levels.get(i)?;
        let empty = Vec::new();
        let next_level = levels.get(i + 1).unwrap_or(&empty);
        let mut best: Option<(f64, Vec<usize>, Vec<usize>, Span)> = None;
        for f in level.iter().filter(|f| !f.being_compacted) {
            let mut span = Span::of(f);
            let these = closure(level, &mut span);
            if any_busy(level, &these) {
                continue;
            }
            let next = closure(next_level, &mut span);
            if any_busy(next_level, &next) {
                continue;
            }
            let ratio = bytes(next_level, &next) as f64 / bytes(level, &these).max(1) as f64;
            if best.as_ref().is_none_or(|b| ratio < b.0) {
                best = Some((ratio, these, next, span));
            }
        }
        let (_, these, next, span) = best?;
        let bottommost = !overlaps_below(levels, i + 1, &span);
        Some(self.task(
            vec![(i, ids(level, &these)), (i + 1, ids(next_level, &next))],
            i + 1,
            bottommost,
        ))
    }
}

impl CompactionStrategy for Leveled {
    fn pick_at(&self, levels: &[Vec<FileInfo>], ctx: &PickContext) -> Option<CompactionTask> {
        self.pick_by_score(levels)
            .or_else(|| tombstones::single_file_task(levels, ctx, self.target_file_size))
    }

    fn pick_range(
        &self,
        levels: &[Vec<FileInfo>],
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Option<CompactionTask> {
        let mut span = Span {
            lo: start.map(<[u8]>::to_vec),
            hi: end.map(<[u8]>::to_vec),
        };
        // Widen across all levels until no level adds a file.
        let mut chosen: Vec<Vec<usize>> = vec![Vec::new(); levels.len()];
        loop {
            let before = span.clone();
            for (level, c) in levels.iter().zip(chosen.iter_mut()) {
                *c = closure(level, &mut span);
            }
            if span == before {
                break;
            }
        }
        let deepest = chosen.iter().rposition(|c| !c.is_empty())?;
        if levels
            .iter()
            .zip(&chosen)
            .any(|(level, c)| any_busy(level, c))
        {
            return None;
        }
        let output = deepest.max(1).min(self.last_level(levels));
        let bottommost = !overlaps_below(levels, output, &span);
        let inputs = levels
            .iter()
            .zip(&chosen)
            .enumerate()
            .map(|(i, (level, c))| (i, ids(level, c)))
            .collect();
        Some(self.task(inputs, output, bottommost))
    }

    fn num_levels(&self) -> usize {
        self.num_levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::testing::file;
    use proptest::prelude::*;

    fn lv() -> Leveled {
        Leveled {
            l0_trigger: 4,
            multiplier: 10,
            base_level_bytes: 100,
            target_file_size: 10,
            num_levels: 4,
        }
    }

    #[test]
    fn an_empty_tree_or_a_quiet_one_needs_nothing() {
        assert_eq!(lv().pick(&[]), None);
        assert_eq!(
            lv().pick(&[
                vec![file(1, "a", "b", 5, 1)],
                vec![file(2, "a", "z", 50, 0)]
            ]),
            None
        );
    }

    #[test]
    fn l0_at_its_trigger_merges_into_the_overlapping_l1_files() {
        let l0 = vec![
            file(1, "c", "d", 1, 9),
            file(2, "a", "b", 1, 8),
            file(3, "c", "e", 1, 7),
            file(4, "b", "c", 1, 6),
        ];
        let l1 = vec![
            file(10, "a", "a", 5, 1),
            file(11, "e", "f", 5, 1),
            file(12, "g", "h", 5, 1),
        ];
        let l2 = vec![file(20, "f", "f", 5, 0)];
        let t = lv().pick(&[l0, l1, l2]).unwrap();
        assert_eq!(t.inputs, vec![(0, vec![1, 2, 3, 4]), (1, vec![10, 11])]);
        assert_eq!(t.output_level, 1);
        assert!(!t.bottommost, "L2 holds f, inside a..f");
        assert_eq!(t.target_file_size, 10);
    }

    #[test]
    fn a_busy_l0_file_holds_l0_back() {
        let mut l0: Vec<FileInfo> = (0..5).map(|i| file(i, "a", "b", 1, 10 - i)).collect();
        l0[2].being_compacted = true;
        assert_eq!(lv().pick(&[l0]), None);
    }

    #[test]
    fn an_oversized_level_pushes_its_least_overlapping_file_down() {
        let l1 = vec![
            file(1, "a", "c", 40, 5),
            file(2, "d", "f", 40, 5),
            file(3, "g", "i", 40, 5),
        ];
        let l2 = vec![
            file(10, "a", "b", 100, 1),
            file(11, "h", "h", 5, 1),
            file(12, "e", "e", 300, 1),
        ];
        let t = lv().pick(&[vec![], l1, l2]).unwrap();
        assert_eq!(t.inputs, vec![(1, vec![3]), (2, vec![11])]);
        assert_eq!(t.output_level, 2);
        assert!(t.bottommost);
    }

    #[test]
    fn files_sharing_a_boundary_key_move_together() {
        let l1 = vec![file(1, "a", "k", 60, 5), file(2, "k", "m", 60, 5)];
        let t = lv().pick(&[vec![], l1, vec![]]).unwrap();
        assert_eq!(t.inputs, vec![(1, vec![1, 2])]);
    }

    #[test]
    fn the_highest_score_wins() {
        let l0: Vec<FileInfo> = (0..4).map(|i| file(i, "a", "b", 1, 10 - i)).collect(); // 1.0
        let l1 = vec![file(10, "x", "y", 300, 1)]; // 3.0
        let t = lv().pick(&[l0, l1, vec![]]).unwrap();
        assert_eq!(t.inputs, vec![(1, vec![10])]);
    }

    #[test]
    fn the_last_level_is_never_a_source() {
        let last = vec![file(1, "a", "z", 1 << 40, 1)];
        assert_eq!(lv().pick(&[vec![], vec![], vec![], last]), None);
    }

    #[test]
    fn pick_range_gathers_everything_overlapping_into_the_deepest_level() {
        let l0 = vec![file(1, "b", "c", 1, 9), file(2, "x", "y", 1, 8)];
        let l1 = vec![
            file(10, "a", "b", 5, 3),
            file(11, "c", "g", 5, 3),
            file(12, "p", "q", 5, 3),
        ];
        let l2 = vec![file(20, "f", "h", 5, 1), file(21, "z", "z", 5, 1)];
        let t = lv()
            .pick_range(&[l0, l1, l2], Some(b"b"), Some(b"c"))
            .unwrap();
        assert_eq!(
            t.inputs,
            vec![(0, vec![1]), (1, vec![10, 11]), (2, vec![20])]
        );
        assert_eq!(t.output_level, 2);
        assert!(t.bottommost);
        assert_eq!(lv().pick_range(&[vec![], vec![]], None, None), None);
        let only_l0 = vec![file(1, "a", "b", 1, 1)];
        let t = lv().pick_range(&[only_l0], None, None).unwrap();
        assert_eq!(t.output_level, 1);
    }

    fn arb_level(max: usize, disjoint: bool) -> impl Strategy<Value = Vec<FileInfo>> {
        proptest::collection::vec((0u8..20, 0u8..4, 1u64..60, any::<bool>()), 0..max).prop_map(
            move |v| {
                let mut files = Vec::new();
                let mut next = 0u8;
                for (i, (a, w, size, busy)) in v.into_iter().enumerate() {
                    let (lo, hi) = if disjoint {
                        let lo = next.max(a);
                        (lo, lo + w)
                    } else {
                        (a, a + w)
                    };
                    if disjoint {
                        next = hi; // the next file may share this boundary key
                    }
                    let mut f = file(i as u64, "", "", size, 100 - i as u64);
                    f.smallest_user_key = vec![lo];
                    f.largest_user_key = vec![hi];
                    f.being_compacted = busy && i % 4 == 0;
                    files.push(f);
                }
                files
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        /// Whatever is picked: inputs are idle files of adjacent levels, every file of the
        /// source and output levels overlapping the inputs' key range is an input, and
        /// `bottommost` is true exactly when nothing below overlaps.
        #[test]
        fn picked_tasks_are_closed_under_overlap_and_bottommost_is_exact(
            l0 in arb_level(8, false),
            l1 in arb_level(8, true),
            l2 in arb_level(8, true),
            l3 in arb_level(8, true),
            lo in proptest::option::of(0u8..25),
            len in 0u8..10,
        ) {
            let mut levels = vec![l0, l1, l2, l3];
            for (n, level) in levels.iter_mut().enumerate() {
                for f in level.iter_mut() {
                    f.id += 100 * n as u64;
                }
            }
            let s = Leveled { base_level_bytes: 60, ..lv() };
            let range = lo.map(|l| (vec![l], vec![l.saturating_add(len)]));
            let picked = [
                s.pick(&levels),
                match &range {
                    Some((a, b)) => s.pick_range(&levels, Some(a), Some(b)),
                    None => s.pick_range(&levels, None, None),
                },
            ];
            for t in picked.into_iter().flatten() {
                let input_ids: Vec<u64> = t.inputs.iter().flat_map(|(_, ids)| ids.clone()).collect();
                prop_assert!(!input_ids.is_empty());
                let inputs: Vec<&FileInfo> = levels.iter().flatten()
                    .filter(|f| input_ids.contains(&f.id)).collect();
                prop_assert_eq!(inputs.len(), input_ids.len());
                prop_assert!(inputs.iter().all(|f| !f.being_compacted));
                let klo = inputs.iter().map(|f| f.smallest_user_key.clone()).min().unwrap();
                let khi = inputs.iter().map(|f| f.largest_user_key.clone()).max().unwrap();
                // Every output-level file overlapping the inputs' range is an input, and each
                // source level is a clean cut: its files overlapping its inputs' range are in.
                for f in &levels[t.output_level] {
                    if f.overlaps(Some(&klo), Some(&khi)) {
                        prop_assert!(input_ids.contains(&f.id), "file {} left out of {:?}", f.id, t);
                    }
                }
                for (l, ids) in t.inputs.iter().filter(|(l, _)| *l >= 1) {
                    let mine: Vec<&FileInfo> = levels[*l].iter().filter(|f| ids.contains(&f.id)).collect();
                    let slo = mine.iter().map(|f| f.smallest_user_key.clone()).min().unwrap();
                    let shi = mine.iter().map(|f| f.largest_user_key.clone()).max().unwrap();
                    for f in &levels[*l] {
                        if f.overlaps(Some(&slo), Some(&shi)) {
                            prop_assert!(ids.contains(&f.id), "level {} file {} left out of {:?}", l, f.id, t);
                        }
                    }
                }
                let below = levels.iter().skip(t.output_level + 1).flatten()
                    .any(|f| f.overlaps(Some(&klo), Some(&khi)));
                prop_assert_eq!(t.bottommost, !below);
                prop_assert!(t.output_level >= 1 && t.output_level < 4);
                prop_assert!(t.inputs.iter().all(|(l, _)| *l <= t.output_level));
            }
        }
    }
}
