//! Single-file tombstone compactions (Cassandra's `worthDroppingTombstones`): when a strategy
//! has nothing to merge, a file whose estimated share of purgeable deletions is above
//! [`TombstoneCompaction::threshold`] is rewritten alone, so the compaction filter can purge
//! them. A file qualifies only once [`TombstoneCompaction::interval`] has passed since it was
//! written (an estimate may be wrong, and a file whose deletions cannot go yet must not be
//! rewritten over and over), and, unless [`TombstoneCompaction::unchecked`], only when no
//! other file meets its key range (Cassandra then estimates how many of the file's keys lie
//! outside the overlap; this engine has no per-file key estimates and waits instead).
//! Among the files that qualify the smallest goes first.

use super::{CompactionTask, FileInfo, PickContext, Purpose, l0_task};

/// Whether `f` (at `level`) is worth compacting alone at `ctx`.
fn worth_it(levels: &[Vec<FileInfo>], f: &FileInfo, ctx: &PickContext) -> bool {
    let opts = &ctx.tombstones;
    if !ctx.single_file {
        return false;
    }
    let (Some(times), Some(horizon)) = (&f.times, &f.purge_horizon) else {
        return false;
    };
    let interval = u64::try_from(opts.interval.as_micros()).unwrap_or(u64::MAX);
    if f.being_compacted || ctx.now_micros < f.created_micros.saturating_add(interval) {
        return false;
    }
    if times.droppable_ratio(horizon.before) <= opts.threshold {
        return false;
    }
    opts.unchecked
        || !levels
            .iter()
            .flatten()
            .any(|o| o.id != f.id && f.may_shadow(o))
}

/// The smallest file of any level worth compacting alone, as a task that rewrites it in its
/// level; `target_file_size` cuts the output of a file below L0.
pub(crate) fn single_file_task(
    levels: &[Vec<FileInfo>],
    ctx: &PickContext,
    target_file_size: u64,
) -> Option<CompactionTask> {
    let (level, index, f) = levels
        .iter()
        .enumerate()
        .flat_map(|(l, files)| files.iter().enumerate().map(move |(i, f)| (l, i, f)))
        .filter(|(_, _, f)| worth_it(levels, f, ctx))
        .min_by_key(|(_, _, f)| f.size)?;
    let mut task = if level == 0 {
        l0_task(levels, index..index + 1)?
    } else {
        let lo = Some(f.smallest_user_key.as_slice());
        let hi = Some(f.largest_user_key.as_slice());
        CompactionTask {
            inputs: vec![(level, vec![f.id])],
            output_level: level,
            target_file_size,
            bottommost: levels
                .iter()
                .skip(level + 1)
                .flatten()
                .all(|o| !o.overlaps(lo, hi)),
            purpose: Purpose::Merge,
        }
    };
    task.purpose = Purpose::Tombstones;
    Some(task)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::compaction::TombstoneCompaction;
    use crate::compaction::testing::file;
    use crate::properties::{FileTimes, PurgeHorizon};

    const DAY: u64 = 86_400_000_000;
    const HORIZON: i64 = 1_000;

    /// A file whose `droppable` of 10 entries became deletions before the horizon.
    fn with_tombstones(id: u64, lo: &str, hi: &str, size: u64, droppable: u64) -> FileInfo {
        let mut f = file(id, lo, hi, size, id);
        f.created_micros = 0;
        f.times = Some(FileTimes {
            min_timestamp: 1,
            max_timestamp: 2,
            max_deletion_time: i64::MAX,
            entries: 10,
            deletion_times: vec![(HORIZON - 10, droppable), (HORIZON + 10, 10 - droppable)],
        });
        f.purge_horizon = Some(PurgeHorizon {
            before: HORIZON,
            scope_start: lo.as_bytes().to_vec(),
            scope_end: hi.as_bytes().to_vec(),
        });
        f
    }

    fn ctx(unchecked: bool) -> PickContext {
        PickContext {
            now_micros: 2 * DAY,
            tombstones: TombstoneCompaction {
                unchecked,
                ..TombstoneCompaction::default()
            },
            single_file: true,
        }
    }

    #[test]
    fn a_file_above_the_threshold_with_no_overlap_is_compacted_alone() {
        let l0 = vec![
            with_tombstones(1, "a", "c", 10, 3),
            with_tombstones(2, "d", "f", 10, 1),
        ];
        let t = single_file_task(std::slice::from_ref(&l0), &ctx(false), 1).unwrap();
        assert_eq!(t.inputs, vec![(0, vec![1])]);
        assert_eq!(t.purpose, Purpose::Tombstones);
        assert!(t.bottommost, "file 2 is older but holds none of its keys");
        let mut once_done = ctx(false);
        once_done.single_file = false;
        assert_eq!(single_file_task(&[l0], &once_done, 1), None);
    }

    #[test]
    fn the_threshold_is_a_strict_lower_bound_and_the_interval_must_have_passed() {
        let l0 = vec![with_tombstones(1, "a", "c", 10, 2)];
        assert_eq!(
            single_file_task(&[l0], &ctx(false), 1),
            None,
            "0.2 is not > 0.2"
        );
        let mut young = with_tombstones(1, "a", "c", 10, 9);
        young.created_micros = 2 * DAY - 1;
        assert_eq!(
            single_file_task(&[vec![young.clone()]], &ctx(false), 1),
            None
        );
        let mut c = ctx(false);
        c.tombstones.interval = Duration::ZERO;
        assert!(single_file_task(&[vec![young]], &c, 1).is_some());
    }

    #[test]
    fn an_overlapped_file_waits_unless_unchecked_and_the_smallest_goes_first() {
        let l0 = vec![
            with_tombstones(1, "a", "m", 50, 9),
            with_tombstones(2, "k", "z", 20, 9),
        ];
        assert_eq!(
            single_file_task(std::slice::from_ref(&l0), &ctx(false), 1),
            None
        );
        let t = single_file_task(&[l0], &ctx(true), 1).unwrap();
        assert_eq!(t.inputs, vec![(0, vec![2])]);
    }

    #[test]
    fn a_deeper_level_file_is_rewritten_in_its_level() {
        let levels = vec![
            vec![],
            vec![with_tombstones(1, "a", "c", 10, 1)],
            vec![with_tombstones(2, "x", "z", 10, 8)],
        ];
        let t = single_file_task(&levels, &ctx(false), 7).unwrap();
        assert_eq!(t.inputs, vec![(2, vec![2])]);
        assert_eq!((t.output_level, t.target_file_size), (2, 7));
        assert!(t.bottommost);
    }

    #[test]
    fn without_times_or_a_horizon_nothing_is_picked() {
        let mut a = with_tombstones(1, "a", "c", 10, 9);
        a.times = None;
        let mut b = with_tombstones(2, "d", "f", 10, 9);
        b.purge_horizon = None;
        assert_eq!(single_file_task(&[vec![a, b]], &ctx(true), 1), None);
    }
}
