//! Time-window compaction, after Cassandra's `TimeWindowCompactionStrategy`.
//!
//! Each L0 file belongs to the window `created_micros / window_micros` (the time its newest
//! data was written). Files of the newest window are compacted size-tiered; each older window
//! is compacted once, all its files into one (a window with a single file is done). Old data
//! thus ends in one file per window, which expires or is dropped as a whole.
//!
//! As with size-tiered, only files adjacent in L0's newest-first order are merged, so a window
//! is handled as the runs of adjacent files that belong to it.

use std::ops::Range;

use super::size_tiered::SizeTiered;
use super::{CompactionStrategy, CompactionTask, FileInfo, l0_range_task, l0_task};

#[derive(Debug, Clone)]
pub(crate) struct TimeWindow {
    pub(crate) window_micros: u64,
    pub(crate) tiers: SizeTiered,
}

impl TimeWindow {
    fn window(&self, f: &FileInfo) -> u64 {
        f.created_micros / self.window_micros
    }

    /// Maximal runs of adjacent files of the same window, newest first.
    fn runs(&self, l0: &[FileInfo]) -> Vec<(u64, Range<usize>)> {
        let mut runs: Vec<(u64, Range<usize>)> = Vec::new();
        for (i, f) in l0.iter().enumerate() {
            let w = self.window(f);
            match runs.last_mut() {
                Some((lw, r)) if *lw == w => r.end = i + 1,
                _ => runs.push((w, i..i + 1)),
            }
        }
        runs
    }
}

impl CompactionStrategy for TimeWindow {
    fn pick(&self, levels: &[Vec<FileInfo>]) -> Option<CompactionTask> {
        let l0 = levels.first()?;
        let newest = l0.iter().map(|f| self.window(f)).max()?;
        for (w, run) in self.runs(l0) {
            let files = l0.get(run.clone())?;
            if w == newest {
                if let Some(r) = self.tiers.best_bucket(files, self.tiers.min_threshold) {
                    return l0_task(levels, run.start + r.start..run.start + r.end);
                }
            } else {
                // An old window: everything not busy, in the longest adjacent stretch, at once.
                let mut best: Option<Range<usize>> = None;
                let mut start = 0;
                for i in 0..=files.len() {
                    let busy = files.get(i).is_none_or(|f| f.being_compacted);
                    if busy {
                        if i - start >= 2 && best.as_ref().is_none_or(|b| b.len() < i - start) {
                            best = Some(start..i);
                        }
                        start = i + 1;
                    }
                }
                if let Some(r) = best {
                    let end = r.end.min(r.start + self.tiers.max_threshold);
                    return l0_task(levels, run.start + r.start..run.start + end);
                }
            }
        }
        None
    }

    fn pick_range(
        &self,
        levels: &[Vec<FileInfo>],
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Option<CompactionTask> {
        l0_range_task(levels, start, end)
    }

    fn num_levels(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::testing::file;
    use proptest::prelude::*;

    const HOUR: u64 = 3_600_000_000;
    const MIB: u64 = 1 << 20;

    fn twcs() -> TimeWindow {
        TimeWindow {
            window_micros: HOUR,
            tiers: SizeTiered::new(4, 32, 0.5, 1.5, 50 * MIB),
        }
    }

    /// Files newest first, created at the given hours (fractional hours allowed via micros).
    fn at(created: &[u64]) -> Vec<FileInfo> {
        let n = created.len() as u64;
        created
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut f = file(i as u64, "a", "z", MIB, n - i as u64);
                f.created_micros = c;
                f
            })
            .collect()
    }

    #[test]
    fn the_newest_window_waits_for_min_threshold_files() {
        let t = 10 * HOUR;
        assert_eq!(twcs().pick(&[at(&[t + 3, t + 2, t + 1])]), None);
        let task = twcs().pick(&[at(&[t + 4, t + 3, t + 2, t + 1])]).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![0, 1, 2, 3])]);
        assert!(task.bottommost);
    }

    #[test]
    fn an_old_window_with_two_files_is_compacted_into_one() {
        let t = 10 * HOUR;
        let files = at(&[t + 5, t + 1, 9 * HOUR + 7, 9 * HOUR + 3, 8 * HOUR]);
        let task = twcs().pick(&[files]).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![2, 3])]);
        assert!(!task.bottommost, "the 8h file is older");
    }

    #[test]
    fn windows_with_one_file_each_need_nothing() {
        assert_eq!(
            twcs().pick(&[at(&[5 * HOUR, 4 * HOUR, 3 * HOUR, 2 * HOUR, HOUR])]),
            None
        );
    }

    #[test]
    fn newer_windows_are_compacted_first() {
        let files = at(&[
            9 * HOUR + 2,
            9 * HOUR + 1,
            8 * HOUR + 2,
            8 * HOUR,
            7 * HOUR + 1,
            7 * HOUR,
        ]);
        let task = twcs().pick(&[files]).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![2, 3])]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn a_picked_task_stays_in_one_window_and_is_adjacent(
            hours in proptest::collection::vec(0u64..6, 0..40),
            busy in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut sorted = hours.clone();
            sorted.sort_unstable_by(|a, b| b.cmp(a));
            let mut files = at(&sorted.iter().map(|h| h * HOUR).collect::<Vec<_>>());
            for (f, b) in files.iter_mut().zip(&busy) {
                f.being_compacted = *b && f.id % 7 == 0;
            }
            if let Some(t) = twcs().pick(&[files.clone()]) {
                let ids = &t.inputs[0].1;
                prop_assert!(ids.len() >= 2 && ids.len() <= 32);
                prop_assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
                let w = files[ids[0] as usize].created_micros / HOUR;
                for id in ids {
                    let f = &files[*id as usize];
                    prop_assert!(!f.being_compacted);
                    prop_assert_eq!(f.created_micros / HOUR, w);
                }
            }
        }
    }
}
