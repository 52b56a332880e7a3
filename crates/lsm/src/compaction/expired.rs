//! Fully expired files, dropped whole without being read (Cassandra's
//! `CompactionController.getFullyExpiredSSTables`).
//!
//! A file qualifies when every entry in it is a deletion (or expiry) older than the purge
//! horizon ([`FileTimes::fully_expired`]) and its newest timestamp is older than the oldest
//! timestamp of everything else that may hold its keys and still holds something that is not
//! purgeable: the other files whose key range meets it (fully expired ones aside, as in
//! Cassandra) and the memtables. Then nothing the file's deletions shadow can exist anywhere,
//! and every other version of its keys is newer and wins over them anyway: dropping the file
//! changes no read. A file without time facts, or a neighbour without them, never qualifies.

use super::FileInfo;
use crate::properties::{FileTimes, PurgeHorizon};

/// Whether `f` is, on its own, nothing but deletions past its horizon.
fn expired_alone(f: &FileInfo) -> Option<(&FileTimes, &PurgeHorizon)> {
    let times = f.times.as_ref()?;
    let horizon = f.purge_horizon.as_ref()?;
    times
        .fully_expired(horizon.before)
        .then_some((times, horizon))
}

/// The files of `levels` to drop whole. `memtable_min(lo, hi)` is the smallest timestamp the
/// memtables hold for keys in `[lo, hi]` (`i64::MAX` when none, `i64::MIN` when unknown); it
/// is asked only for files that pass every other test, over the keys the file's deletions may
/// hide ([`PurgeHorizon`]).
pub(crate) fn fully_expired(
    levels: &[Vec<FileInfo>],
    memtable_min: &mut dyn FnMut(&[u8], &[u8]) -> i64,
) -> Vec<u64> {
    let mut out = Vec::new();
    for c in levels.iter().flatten() {
        if c.being_compacted {
            continue;
        }
        let Some((times, horizon)) = expired_alone(c) else {
            continue;
        };
        let lo = horizon.scope_start.as_slice();
        let hi = horizon.scope_end.as_slice();
        let live_min = levels
            .iter()
            .flatten()
            .filter(|o| o.id != c.id && c.may_shadow(o))
            .filter(|o| expired_alone(o).is_none())
            .map(|o| o.times.as_ref().map_or(i64::MIN, |t| t.min_timestamp))
            .min()
            .unwrap_or(i64::MAX);
        if times.max_timestamp < live_min && times.max_timestamp < memtable_min(lo, hi) {
            out.push(c.id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::testing::file;

    const NOW: i64 = 1_000_000;

    /// A file of keys `[lo, hi]` with timestamps `min..=max`, whose entries become deletions by
    /// `max_deletion` (`i64::MAX`: holds live data), judged at horizon `NOW`.
    fn timed(id: u64, lo: &str, hi: &str, min: i64, max: i64, max_deletion: i64) -> FileInfo {
        let mut f = file(id, lo, hi, 100, id);
        f.times = Some(FileTimes {
            min_timestamp: min,
            max_timestamp: max,
            max_deletion_time: max_deletion,
            entries: 10,
            deletion_times: Vec::new(),
        });
        f.purge_horizon = Some(PurgeHorizon {
            before: NOW,
            scope_start: lo.as_bytes().to_vec(),
            scope_end: hi.as_bytes().to_vec(),
        });
        f
    }

    fn no_memtables(_: &[u8], _: &[u8]) -> i64 {
        i64::MAX
    }

    #[test]
    fn an_expired_file_older_than_all_live_overlapping_data_is_dropped() {
        let l0 = vec![
            timed(1, "a", "m", 500, 600, i64::MAX),
            timed(2, "a", "z", 100, 200, NOW - 1),
        ];
        assert_eq!(fully_expired(&[l0], &mut no_memtables), vec![2]);
    }

    #[test]
    fn an_expired_tombstone_file_that_still_shadows_older_live_data_stays() {
        // File 2 holds only old deletions, but file 1 holds live data written before them:
        // the deletions still hide it.
        let l0 = vec![
            timed(1, "a", "m", 150, 600, i64::MAX),
            timed(2, "a", "z", 100, 200, NOW - 1),
        ];
        assert_eq!(fully_expired(&[l0], &mut no_memtables), Vec::<u64>::new());
    }

    #[test]
    fn live_data_outside_the_files_key_range_but_inside_its_deletions_scope_keeps_it() {
        // File 2's deletion (key "b") hides the keys of its partition, "b" to "b\xff"; file 1
        // holds an older cell "b1" there.
        let mut deletion = timed(2, "b", "b", 100, 200, NOW - 1);
        let live = timed(1, "b1", "b1", 50, 50, i64::MAX);
        assert_eq!(
            fully_expired(&[vec![deletion.clone(), live.clone()]], &mut no_memtables),
            vec![2],
            "judged on its own range, file 1 is not in the way"
        );
        deletion.purge_horizon = Some(PurgeHorizon {
            before: NOW,
            scope_start: b"b".to_vec(),
            scope_end: b"b\xff".to_vec(),
        });
        assert_eq!(
            fully_expired(&[vec![deletion, live]], &mut no_memtables),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn a_file_not_expired_past_the_horizon_or_without_times_stays() {
        let mut unknown = timed(3, "a", "z", 100, 200, NOW - 1);
        unknown.times = None;
        let mut no_horizon = timed(4, "a", "z", 100, 200, NOW - 1);
        no_horizon.purge_horizon = None;
        let l0 = vec![timed(2, "a", "z", 100, 200, NOW), unknown, no_horizon];
        assert_eq!(fully_expired(&[l0], &mut no_memtables), Vec::<u64>::new());
    }

    #[test]
    fn a_neighbour_without_times_blocks_and_other_expired_files_do_not() {
        let mut unknown = timed(1, "a", "c", 900, 900, i64::MAX);
        unknown.times = None;
        let l0 = vec![
            unknown,
            timed(2, "a", "z", 100, 200, NOW - 1),
            timed(3, "x", "z", 50, 300, NOW - 5),
        ];
        // File 2 meets the unknown file 1; file 3 meets only file 2, which is expired too.
        assert_eq!(fully_expired(&[l0], &mut no_memtables), vec![3]);
    }

    #[test]
    fn the_memtables_are_asked_only_for_otherwise_droppable_files_and_can_block() {
        let l0 = vec![
            timed(1, "a", "m", 150, 600, i64::MAX),
            timed(2, "a", "m", 100, 200, NOW - 1),
            timed(3, "n", "z", 100, 200, NOW - 1),
        ];
        let mut asked = Vec::new();
        let got = fully_expired(std::slice::from_ref(&l0), &mut |lo, hi| {
            asked.push((lo.to_vec(), hi.to_vec()));
            150
        });
        assert_eq!(got, Vec::<u64>::new(), "a memtable holds timestamp 150");
        assert_eq!(asked, vec![(b"n".to_vec(), b"z".to_vec())]);
        assert_eq!(fully_expired(&[l0], &mut |_, _| 201), vec![3]);
    }

    #[test]
    fn a_file_being_compacted_is_not_dropped_but_still_counts_as_live_data() {
        let mut busy = timed(1, "a", "z", 10, 20, NOW - 1);
        busy.being_compacted = true;
        let mut busy_live = timed(3, "a", "z", 10, 20, i64::MAX);
        busy_live.being_compacted = true;
        let l0 = vec![busy, timed(2, "a", "z", 100, 200, NOW - 1), busy_live];
        assert_eq!(fully_expired(&[l0], &mut no_memtables), Vec::<u64>::new());
    }
}
