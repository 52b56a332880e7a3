//! Size-tiered compaction, after Cassandra's `SizeTieredCompactionStrategy`.
//!
//! Files are bucketed by size: a file joins the current bucket when its size is within
//! `[bucket_low, bucket_high]` times the bucket's average, or when both it and the average are
//! below `min_sstable_size` (small files always bucket together). A bucket of at least
//! `min_threshold` files is a candidate, trimmed to `max_threshold`; the candidate with the
//! smallest average size wins (cheapest to merge, removes the most files per byte written).
//!
//! Unlike Cassandra, which reconciles every cell by timestamp, this engine lets the newest file
//! win, so buckets are formed from files adjacent in L0's newest-first order (see the module
//! note in `compaction`). Flushes produce files in order, so adjacent files of similar size are
//! exactly the tiers STCS would have built.

use std::ops::Range;

use super::{
    CompactionStrategy, CompactionTask, FileInfo, PickContext, l0_range_task, l0_task, tombstones,
};

#[derive(Debug, Clone)]
pub(crate) struct SizeTiered {
    pub(crate) min_threshold: usize,
    pub(crate) max_threshold: usize,
    pub(crate) bucket_low: f64,
    pub(crate) bucket_high: f64,
    pub(crate) min_sstable_size: u64,
}

impl SizeTiered {
    pub(crate) fn new(
        min_threshold: usize,
        max_threshold: usize,
        bucket_low: f64,
        bucket_high: f64,
        min_sstable_size: u64,
    ) -> SizeTiered {
        let min_threshold = min_threshold.max(2);
        SizeTiered {
            min_threshold,
            max_threshold: max_threshold.max(min_threshold),
            bucket_low: if bucket_low > 0.0 && bucket_low <= 1.0 {
                bucket_low
            } else {
                0.5
            },
            bucket_high: if bucket_high >= 1.0 { bucket_high } else { 1.5 },
            min_sstable_size,
        }
    }

    fn fits(&self, size: u64, avg: f64) -> bool {
        let s = size as f64;
        (s >= avg * self.bucket_low && s <= avg * self.bucket_high)
            || (size < self.min_sstable_size && avg < self.min_sstable_size as f64)
    }

    /// The best bucket among `files` (adjacent in age), as a range of indices into `files`.
    pub(crate) fn best_bucket(
        &self,
        files: &[FileInfo],
        min_threshold: usize,
    ) -> Option<Range<usize>> {
        let mut best: Option<(f64, Range<usize>)> = None;
        let mut consider = |r: Range<usize>, total: u64| {
            if r.len() >= min_threshold {
                let r = r.start..r.end.min(r.start + self.max_threshold);
                let avg = total as f64 / (r.len() as f64);
                if best.as_ref().is_none_or(|(b, _)| avg < *b) {
                    best = Some((avg, r));
                }
            }
        };
        let mut start = 0;
        let mut total = 0u64;
        for (i, f) in files.iter().enumerate() {
            if f.being_compacted {
                consider(start..i, total);
                start = i + 1;
                total = 0;
                continue;
            }
            let n = i - start;
            if n > 0 && !self.fits(f.size, total as f64 / n as f64) {
                consider(start..i, total);
                start = i;
                total = 0;
            }
            total = total.saturating_add(f.size);
        }
        consider(start..files.len(), total);
        best.map(|(_, r)| r)
    }
}

impl CompactionStrategy for SizeTiered {
    fn pick_at(&self, levels: &[Vec<FileInfo>], ctx: &PickContext) -> Option<CompactionTask> {
        let l0 = levels.first()?;
        match self.best_bucket(l0, self.min_threshold) {
            Some(r) => l0_task(levels, r),
            None => tombstones::single_file_task(levels, ctx, u64::MAX),
        }
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

    const MIB: u64 = 1 << 20;

    fn stcs() -> SizeTiered {
        SizeTiered::new(4, 32, 0.5, 1.5, 50 * MIB)
    }

    fn sized(sizes: &[u64]) -> Vec<FileInfo> {
        let n = sizes.len() as u64;
        sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| file(i as u64, "a", "z", s, n - i as u64))
            .collect()
    }

    #[test]
    fn fewer_than_min_threshold_similar_files_are_left_alone() {
        assert_eq!(stcs().pick(&[sized(&[MIB, MIB, MIB])]), None);
    }

    #[test]
    fn four_small_files_are_merged_into_one_bottommost_task() {
        let t = stcs()
            .pick(&[sized(&[MIB, 2 * MIB, MIB, 3 * MIB])])
            .unwrap();
        assert_eq!(t.inputs, vec![(0, vec![0, 1, 2, 3])]);
        assert_eq!(t.output_level, 0);
        assert!(t.bottommost);
    }

    #[test]
    fn files_of_different_tiers_do_not_share_a_bucket() {
        // Newest first: four ~100 MiB files, then one 1 GiB file.
        let t = stcs()
            .pick(&[sized(&[
                100 * MIB,
                110 * MIB,
                90 * MIB,
                120 * MIB,
                1024 * MIB,
            ])])
            .unwrap();
        assert_eq!(t.inputs, vec![(0, vec![0, 1, 2, 3])]);
        assert!(!t.bottommost, "the 1 GiB file is older and stays");
        assert_eq!(
            stcs().pick(&[sized(&[100 * MIB, 300 * MIB, 90 * MIB, 400 * MIB])]),
            None
        );
    }

    #[test]
    fn the_bucket_with_the_smallest_average_wins_and_is_capped_at_max_threshold() {
        let mut sizes = vec![200 * MIB; 4];
        sizes.extend(vec![MIB; 40]);
        let t = stcs().pick(&[sized(&sizes)]).unwrap();
        assert_eq!(t.inputs[0].1, (4..36).collect::<Vec<u64>>());
    }

    #[test]
    fn a_file_being_compacted_splits_buckets() {
        let mut files = sized(&[MIB; 7]);
        files[3].being_compacted = true;
        assert_eq!(stcs().pick(&[files.clone()]), None);
        files.push(file(9, "a", "z", MIB, 0));
        let t = stcs().pick(&[files]).unwrap();
        assert_eq!(t.inputs[0].1, vec![4, 5, 6, 9]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn picked_buckets_are_adjacent_similar_and_within_thresholds(
            sizes in proptest::collection::vec(1u64..400, 0..60),
            busy in proptest::collection::vec(any::<bool>(), 60),
        ) {
            let s = SizeTiered::new(4, 8, 0.5, 1.5, 10);
            let mut files = sized(&sizes);
            for (f, b) in files.iter_mut().zip(&busy) {
                f.being_compacted = *b && f.id % 5 == 0;
            }
            if let Some(t) = s.pick(&[files.clone()]) {
                let ids = &t.inputs[0].1;
                prop_assert!(ids.len() >= 4 && ids.len() <= 8);
                // Adjacent in age (ids are positions here).
                prop_assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
                for id in ids {
                    prop_assert!(!files[*id as usize].being_compacted);
                }
                let picked: Vec<u64> = ids.iter().map(|i| files[*i as usize].size).collect();
                // Each file joined within [0.5, 1.5] of the average of those before it, or it
                // and that average were both small.
                for n in 1..picked.len() {
                    let avg = picked[..n].iter().sum::<u64>() as f64 / n as f64;
                    let x = picked[n] as f64;
                    prop_assert!(
                        (x >= avg * 0.5 && x <= avg * 1.5) || (x < 10.0 && avg < 10.0),
                        "{picked:?}"
                    );
                }
                prop_assert_eq!(t.bottommost, ids.last().map(|l| *l as usize + 1) == Some(files.len()));
            }
        }
    }
}
