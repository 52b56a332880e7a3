//! Time-window compaction, after Cassandra's `TimeWindowCompactionStrategy`.
//!
//! Each L0 file belongs to the window its newest data falls in: its largest timestamp as the
//! layer above reports it ([`crate::FileTimes::max_timestamp`], in units of
//! `timestamps_per_second`), or, for a file without time facts, when its newest data was
//! flushed. Windows are `window_micros` long, aligned to the epoch. The newest window seen is
//! compacted size-tiered; each older window, once it holds two files or more, is compacted
//! into one (newer windows first). Old data thus ends in one file per window, which expires
//! and is dropped as a whole (`compaction::expired`). With nothing to merge, a file with many
//! purgeable deletions is compacted alone (`compaction::tombstones`).
//!
//! As with size-tiered, only files adjacent in L0's newest-first order are merged, so a window
//! is handled as the runs of adjacent files that belong to it: data written far out of time
//! order can leave a window in more than one file.

use std::ops::Range;

use super::size_tiered::SizeTiered;
use super::{
    CompactionStrategy, CompactionTask, FileInfo, PickContext, l0_range_task, l0_task, tombstones,
};

#[derive(Debug, Clone)]
pub(crate) struct TimeWindow {
    pub(crate) window_micros: u64,
    /// Units of the layer's timestamps per second (1 for seconds ... 10^9 for nanoseconds).
    pub(crate) timestamps_per_second: u64,
    pub(crate) tiers: SizeTiered,
}

impl TimeWindow {
    /// The window of `f`, as the window's start divided by its length.
    fn window(&self, f: &FileInfo) -> i64 {
        match &f.times {
            Some(t) => {
                let len = (u128::from(self.window_micros) * u128::from(self.timestamps_per_second)
                    / 1_000_000)
                    .max(1);
                let len = i128::try_from(len).unwrap_or(i128::MAX);
                let w = i128::from(t.max_timestamp).div_euclid(len);
                i64::try_from(w).unwrap_or(i64::MIN)
            }
            None => i64::try_from(f.created_micros / self.window_micros).unwrap_or(i64::MAX),
        }
    }

    /// Maximal runs of adjacent files of the same window, newest window first (runs of one
    /// window in L0 order).
    fn runs(&self, l0: &[FileInfo]) -> Vec<(i64, Range<usize>)> {
        let mut runs: Vec<(i64, Range<usize>)> = Vec::new();
        for (i, f) in l0.iter().enumerate() {
            let w = self.window(f);
            match runs.last_mut() {
                Some((lw, r)) if *lw == w => r.end = i + 1,
                _ => runs.push((w, i..i + 1)),
            }
        }
        runs.sort_by_key(|(w, _)| std::cmp::Reverse(*w));
        runs
    }

    fn pick_window(&self, levels: &[Vec<FileInfo>]) -> Option<CompactionTask> {
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
}

impl CompactionStrategy for TimeWindow {
    fn pick_at(&self, levels: &[Vec<FileInfo>], ctx: &PickContext) -> Option<CompactionTask> {
        self.pick_window(levels)
            .or_else(|| tombstones::single_file_task(levels, ctx, u64::MAX))
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
            timestamps_per_second: 1_000_000,
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

    /// Files newest first, all flushed at the same moment, whose newest cell timestamps are
    /// `max` (micros).
    fn timed(max: &[i64]) -> Vec<FileInfo> {
        let mut files = at(&vec![100 * HOUR; max.len()]);
        for (f, m) in files.iter_mut().zip(max) {
            f.times = Some(crate::properties::FileTimes {
                min_timestamp: m - 10,
                max_timestamp: *m,
                max_deletion_time: i64::MAX,
                entries: 1,
                deletion_times: Vec::new(),
            });
        }
        files
    }

    #[test]
    fn files_are_windowed_by_their_newest_timestamp_not_by_when_they_were_flushed() {
        let h = HOUR as i64;
        // Flushed together, but holding the data of hours 5, 3 and 3.
        let task = twcs()
            .pick(&[timed(&[5 * h + 1, 3 * h + 9, 3 * h + 2])])
            .unwrap();
        assert_eq!(task.inputs, vec![(0, vec![1, 2])]);
        // All in hour 5: the newest window, below min_threshold.
        assert_eq!(
            twcs().pick(&[timed(&[5 * h + 3, 5 * h + 2, 5 * h + 1])]),
            None
        );
    }

    #[test]
    fn timestamps_before_the_epoch_fall_in_negative_windows() {
        let h = HOUR as i64;
        let task = twcs().pick(&[timed(&[h, -5, -h + 1])]).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![1, 2])]);
    }

    #[test]
    fn the_timestamp_resolution_scales_the_window() {
        let millis = TimeWindow {
            timestamps_per_second: 1_000,
            ..twcs()
        };
        let hour_ms = 3_600_000i64;
        let files = timed(&[
            7 * hour_ms + 5,
            7 * hour_ms + 4,
            6 * hour_ms + 1,
            6 * hour_ms,
        ]);
        let task = millis.pick(std::slice::from_ref(&files)).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![2, 3])], "hour 6 is closed");
        // Read as microseconds, all four are in the first hour: one window of four files.
        let task = twcs().pick(&[files]).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![0, 1, 2, 3])]);
    }

    #[test]
    fn the_newest_window_is_the_highest_even_when_its_files_are_not_first_in_l0() {
        let h = HOUR as i64;
        // An old window's late data was flushed last; hour 9 is still the current window.
        let files = timed(&[2 * h, 2 * h + 1, 9 * h, 9 * h + 1, 9 * h + 2, 2 * h + 5]);
        let task = twcs().pick(&[files]).unwrap();
        assert_eq!(task.inputs, vec![(0, vec![0, 1])]);
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
