//! Compaction: which files to merge (the pure pickers in `leveled`, `size_tiered`,
//! `time_window`) and running a picked task (`job`).
//!
//! A picker sees the live files of one tree as `levels`: `levels[0]` is L0, newest first, whose
//! files may overlap; `levels[1..]` are sorted by key and do not overlap. It returns a
//! [`CompactionTask`] or `None`. Pickers are pure functions of that input, so they are tested
//! without an engine.
//!
//! One invariant every picker keeps: reads take the version of a key from the newest file that
//! has it (L0 in order, then each level), so a task that writes into L0 only merges files that
//! are adjacent in L0's newest-first order — merging two files around a third of intermediate
//! age would let the merged output shadow the newer data of the third.

pub(crate) mod expired;
pub(crate) mod job;
pub(crate) mod leveled;
pub(crate) mod size_tiered;
pub(crate) mod time_window;
pub(crate) mod tombstones;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::properties::{FileTimes, PurgeHorizon};

/// What a picker sees of a live table.
// `pub` inside this private module: nameable only in the crate, so the public
// [`CompactionStrategy`] trait is sealed (nobody outside can build a `FileInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub id: u64,
    pub size: u64,
    pub smallest_user_key: Vec<u8>,
    pub largest_user_key: Vec<u8>,
    pub min_seq: SeqNo,
    pub max_seq: SeqNo,
    /// When the file's newest data was flushed (for a compaction output, the newest of its
    /// inputs'; for a single-file tombstone compaction, when it ran).
    pub created_micros: u64,
    pub being_compacted: bool,
    /// The layer above's time facts of the file (from its user properties), if it has them.
    pub times: Option<FileTimes>,
    /// What may be purged from this file; `None` when the layer does not say (nothing is
    /// judged purgeable).
    pub purge_horizon: Option<PurgeHorizon>,
}

impl FileInfo {
    /// Whether a file's deletions may hide data of `other`: `other`'s key range meets the keys
    /// they may hide.
    pub(crate) fn may_shadow(&self, other: &FileInfo) -> bool {
        match &self.purge_horizon {
            Some(h) => other.overlaps(Some(&h.scope_start), Some(&h.scope_end)),
            None => other.overlaps(Some(&self.smallest_user_key), Some(&self.largest_user_key)),
        }
    }

    /// Whether the file's user-key range meets `[start, end]` (inclusive; `None` is unbounded).
    pub(crate) fn overlaps(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> bool {
        start.is_none_or(|s| self.largest_user_key.as_slice() >= s)
            && end.is_none_or(|e| self.smallest_user_key.as_slice() <= e)
    }
}

/// A compaction to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionTask {
    /// Input files by level.
    pub inputs: Vec<(usize, Vec<u64>)>,
    pub output_level: usize,
    /// Outputs are cut at about this size.
    pub target_file_size: u64,
    /// No older data for these keys can exist below `output_level` (tombstones may be dropped).
    pub bottommost: bool,
    /// Why the task was picked.
    pub purpose: Purpose,
}

/// Why a compaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To merge files (the strategy's shape, or a major compaction).
    Merge,
    /// A single file rewritten to purge its deletions (Cassandra's tombstone compaction); its
    /// output counts as new for [`TombstoneCompaction::interval`].
    Tombstones,
}

/// What a picker is told besides the files.
#[derive(Debug, Clone, Default)]
pub struct PickContext {
    /// Now, on the engine's clock (compared with [`FileInfo::created_micros`]).
    pub now_micros: u64,
    pub tombstones: TombstoneCompaction,
    /// Whether a single-file tombstone compaction may be picked.
    pub single_file: bool,
}

/// Single-file tombstone compactions (Cassandra's `tombstone_threshold`,
/// `tombstone_compaction_interval`, `unchecked_tombstone_compaction`) and the search for
/// fully expired files (`expired_sstable_check_frequency_seconds`). Both need the layer above
/// to report file times ([`crate::PropertiesCollectorFactory::file_times`]) and a purge
/// horizon ([`crate::CompactionFilter::purge_horizon`]); without them nothing happens.
#[derive(Debug, Clone, PartialEq)]
pub struct TombstoneCompaction {
    /// A file whose estimated share of purgeable deletions is above this is compacted alone
    /// when the strategy has nothing else to do. Default 0.2.
    pub threshold: f64,
    /// A file is compacted alone only once this long has passed since it was written, so a
    /// file whose deletions cannot be purged yet is not rewritten over and over. Default 1 day.
    pub interval: Duration,
    /// Compact a file alone even when other files overlap its key range (they may keep its
    /// deletions from being purged). Default false: only when nothing overlaps.
    pub unchecked: bool,
    /// How often the tree is searched for fully expired files to drop whole. Default 10
    /// minutes (each search may summarise the memtables over the candidates' key ranges).
    pub expired_check_interval: Duration,
}

impl Default for TombstoneCompaction {
    fn default() -> TombstoneCompaction {
        TombstoneCompaction {
            threshold: 0.2,
            interval: Duration::from_secs(86_400),
            unchecked: false,
            expired_check_interval: Duration::from_secs(600),
        }
    }
}

impl TombstoneCompaction {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold >= 0.0 && self.threshold.is_finite()) {
            return Err(Error::InvalidOption {
                option: "tombstone_threshold",
                reason: format!("{} is not a non-negative number", self.threshold),
            });
        }
        Ok(())
    }
}

/// Picks compactions for one tree. Implemented by the strategies [`CompactionConfig`] builds.
pub trait CompactionStrategy: Send + Sync + std::fmt::Debug {
    /// The next compaction worth running, if any. `levels[0]` is L0 (newest first, may
    /// overlap); `levels[1..]` are sorted and non-overlapping.
    fn pick_at(&self, levels: &[Vec<FileInfo>], ctx: &PickContext) -> Option<CompactionTask>;
    /// [`CompactionStrategy::pick_at`] knowing nothing of time (no tombstone compactions).
    fn pick(&self, levels: &[Vec<FileInfo>]) -> Option<CompactionTask> {
        self.pick_at(levels, &PickContext::default())
    }
    /// A task covering every file that overlaps `[start, end]` (compact_range / major
    /// compaction); `None` when nothing overlaps or an overlapping file is being compacted.
    fn pick_range(
        &self,
        levels: &[Vec<FileInfo>],
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Option<CompactionTask>;
    /// How many levels the strategy uses (L0 included).
    fn num_levels(&self) -> usize;
}

/// How a tree compacts. The default is leveled, like RocksDB's.
#[derive(Debug, Clone, PartialEq)]
pub enum CompactionConfig {
    /// Leveled compaction (RocksDB/LevelDB): L0 is merged into L1 once it holds `l0_trigger`
    /// files; level `i >= 1` may hold `base_level_bytes * level_size_multiplier^(i-1)` bytes,
    /// and the level most over its target pushes one file (the one whose overlap with the next
    /// level is smallest relative to its size) down. Seven levels. Low read and space
    /// amplification, more write amplification.
    Leveled {
        /// L0 file count that triggers L0 -> L1. Default 4.
        l0_trigger: usize,
        /// Each level's target is this many times the previous one's. Default 10.
        level_size_multiplier: u64,
        /// Target size of L1. Default 256 MiB.
        base_level_bytes: u64,
        /// Output files are cut at this size. Default 64 MiB.
        target_file_size: u64,
    },
    /// Size-tiered compaction (Cassandra's STCS): files of similar size (within
    /// `[bucket_low, bucket_high]` times a bucket's average, or all below `min_sstable_size`)
    /// are merged once `min_threshold` of them exist, at most `max_threshold` at a time. Low
    /// write amplification, more space and read amplification. Everything lives in L0.
    SizeTiered {
        /// Default 4.
        min_threshold: usize,
        /// Default 32.
        max_threshold: usize,
        /// Default 0.5.
        bucket_low: f64,
        /// Default 1.5.
        bucket_high: f64,
        /// Files below this size share one bucket. Default 50 MiB.
        min_sstable_size: u64,
    },
    /// Time-window compaction (Cassandra's TWCS), for time series written roughly in time
    /// order: files are grouped by the window their newest data falls in (by the largest
    /// timestamp the layer above reports for them, see
    /// [`crate::PropertiesCollectorFactory::file_times`]; else by when they were flushed); the
    /// newest window is compacted size-tiered, each older window once into a single file.
    TimeWindow {
        /// Window length in microseconds. Default one day.
        window_micros: u64,
        /// Units of the reported timestamps per second (Cassandra's `timestamp_resolution`):
        /// 1_000_000 (microseconds, the default), 1_000, 1 or 1_000_000_000.
        timestamps_per_second: u64,
        /// Size-tiered threshold within the newest window. Default 4.
        min_threshold: usize,
        /// Most files merged at once. Default 32.
        max_threshold: usize,
    },
}

impl Default for CompactionConfig {
    fn default() -> CompactionConfig {
        CompactionConfig::leveled()
    }
}

const MIB: u64 = 1 << 20;

impl CompactionConfig {
    /// Leveled with the defaults (L0 trigger 4, 10x per level, 256 MiB L1, 64 MiB files).
    pub fn leveled() -> CompactionConfig {
        CompactionConfig::Leveled {
            l0_trigger: 4,
            level_size_multiplier: 10,
            base_level_bytes: 256 * MIB,
            target_file_size: 64 * MIB,
        }
    }

    /// Size-tiered with Cassandra's defaults (4, 32, 0.5, 1.5, 50 MiB).
    pub fn size_tiered() -> CompactionConfig {
        CompactionConfig::SizeTiered {
            min_threshold: 4,
            max_threshold: 32,
            bucket_low: 0.5,
            bucket_high: 1.5,
            min_sstable_size: 50 * MIB,
        }
    }

    /// Time-window with windows of `window_micros` and Cassandra's thresholds (4, 32).
    pub fn time_window(window_micros: u64) -> CompactionConfig {
        CompactionConfig::TimeWindow {
            window_micros,
            timestamps_per_second: 1_000_000,
            min_threshold: 4,
            max_threshold: 32,
        }
    }

    /// Checks the settings; `build` clamps what this rejects, so call it where options are
    /// validated.
    pub fn validate(&self) -> Result<()> {
        let bad = |option, reason: &str| {
            Err(Error::InvalidOption {
                option,
                reason: reason.to_owned(),
            })
        };
        match *self {
            CompactionConfig::Leveled {
                l0_trigger,
                level_size_multiplier,
                base_level_bytes,
                target_file_size,
            } => {
                if l0_trigger == 0 {
                    return bad("l0_trigger", "must be at least 1");
                }
                if level_size_multiplier < 2 {
                    return bad("level_size_multiplier", "must be at least 2");
                }
                if base_level_bytes == 0 || target_file_size == 0 {
                    return bad("base_level_bytes", "sizes must be positive");
                }
            }
            CompactionConfig::SizeTiered {
                min_threshold,
                max_threshold,
                bucket_low,
                bucket_high,
                ..
            } => {
                if min_threshold < 2 || max_threshold < min_threshold {
                    return bad("min_threshold", "need 2 <= min_threshold <= max_threshold");
                }
                if !(bucket_low > 0.0 && bucket_low <= 1.0 && bucket_high >= 1.0) {
                    return bad("bucket_low", "need 0 < bucket_low <= 1 <= bucket_high");
                }
            }
            CompactionConfig::TimeWindow {
                window_micros,
                timestamps_per_second,
                min_threshold,
                max_threshold,
            } => {
                if window_micros == 0 {
                    return bad("window_micros", "must be positive");
                }
                if timestamps_per_second == 0 {
                    return bad("timestamps_per_second", "must be positive");
                }
                if min_threshold < 2 || max_threshold < min_threshold {
                    return bad("min_threshold", "need 2 <= min_threshold <= max_threshold");
                }
            }
        }
        Ok(())
    }

    /// The strategy these settings describe (out-of-range values are clamped).
    pub fn build(&self) -> Box<dyn CompactionStrategy> {
        match *self {
            CompactionConfig::Leveled {
                l0_trigger,
                level_size_multiplier,
                base_level_bytes,
                target_file_size,
            } => Box::new(leveled::Leveled {
                l0_trigger: l0_trigger.max(1),
                multiplier: level_size_multiplier.max(2),
                base_level_bytes: base_level_bytes.max(1),
                target_file_size: target_file_size.max(1),
                num_levels: leveled::NUM_LEVELS,
            }),
            CompactionConfig::SizeTiered {
                min_threshold,
                max_threshold,
                bucket_low,
                bucket_high,
                min_sstable_size,
            } => Box::new(size_tiered::SizeTiered::new(
                min_threshold,
                max_threshold,
                bucket_low,
                bucket_high,
                min_sstable_size,
            )),
            CompactionConfig::TimeWindow {
                window_micros,
                timestamps_per_second,
                min_threshold,
                max_threshold,
            } => Box::new(time_window::TimeWindow {
                window_micros: window_micros.max(1),
                timestamps_per_second: timestamps_per_second.max(1),
                tiers: size_tiered::SizeTiered::new(
                    min_threshold,
                    max_threshold,
                    0.5,
                    1.5,
                    50 * MIB,
                ),
            }),
        }
    }
}

/// A task that merges the L0 files `l0[range]` (adjacent in age) back into L0, for the
/// strategies that keep everything in L0. Bottommost when no older L0 file and no file of
/// another level overlaps the inputs.
pub(crate) fn l0_task(
    levels: &[Vec<FileInfo>],
    range: std::ops::Range<usize>,
) -> Option<CompactionTask> {
    let l0 = levels.first()?;
    let files = l0.get(range.clone())?;
    if files.is_empty() || files.iter().any(|f| f.being_compacted) {
        return None;
    }
    let lo = files.iter().map(|f| f.smallest_user_key.as_slice()).min()?;
    let hi = files.iter().map(|f| f.largest_user_key.as_slice()).max()?;
    let bottommost = l0
        .get(range.end..)
        .unwrap_or_default()
        .iter()
        .chain(levels.iter().skip(1).flatten())
        .all(|f| !f.overlaps(Some(lo), Some(hi)));
    Some(CompactionTask {
        inputs: vec![(0, files.iter().map(|f| f.id).collect())],
        output_level: 0,
        target_file_size: u64::MAX,
        bottommost,
        purpose: Purpose::Merge,
    })
}

/// `pick_range` for the L0-only strategies: the span of L0 from the newest to the oldest file
/// overlapping `[start, end]` (the files between are included to keep the span adjacent).
pub(crate) fn l0_range_task(
    levels: &[Vec<FileInfo>],
    start: Option<&[u8]>,
    end: Option<&[u8]>,
) -> Option<CompactionTask> {
    let l0 = levels.first()?;
    let first = l0.iter().position(|f| f.overlaps(start, end))?;
    let last = l0.iter().rposition(|f| f.overlaps(start, end))?;
    l0_task(levels, first..last + 1)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::FileInfo;

    /// A file with user keys `[lo, hi]`, `size` bytes, sequence numbers `seq..=seq`.
    pub(crate) fn file(id: u64, lo: &str, hi: &str, size: u64, seq: u64) -> FileInfo {
        FileInfo {
            id,
            size,
            smallest_user_key: lo.as_bytes().to_vec(),
            largest_user_key: hi.as_bytes().to_vec(),
            min_seq: seq,
            max_seq: seq,
            created_micros: seq,
            being_compacted: false,
            times: None,
            purge_horizon: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_validate_and_bad_ones_do_not() {
        for c in [
            CompactionConfig::default(),
            CompactionConfig::size_tiered(),
            CompactionConfig::time_window(3_600_000_000),
        ] {
            assert!(c.validate().is_ok(), "{c:?}");
        }
        let bad = CompactionConfig::Leveled {
            l0_trigger: 0,
            level_size_multiplier: 10,
            base_level_bytes: 1,
            target_file_size: 1,
        };
        assert!(matches!(
            bad.validate(),
            Err(Error::InvalidOption {
                option: "l0_trigger",
                ..
            })
        ));
        let bad = CompactionConfig::SizeTiered {
            min_threshold: 4,
            max_threshold: 2,
            bucket_low: 0.5,
            bucket_high: 1.5,
            min_sstable_size: 0,
        };
        assert!(bad.validate().is_err());
        assert!(CompactionConfig::time_window(0).validate().is_err());
    }

    #[test]
    fn an_l0_range_task_spans_the_files_between_the_overlapping_ones() {
        let l0 = vec![
            testing::file(1, "a", "c", 10, 9),
            testing::file(2, "x", "z", 10, 8),
            testing::file(3, "b", "d", 10, 7),
            testing::file(4, "x", "y", 10, 6),
        ];
        let t = l0_range_task(std::slice::from_ref(&l0), Some(b"a"), Some(b"c")).unwrap();
        assert_eq!(t.inputs, vec![(0, vec![1, 2, 3])]);
        assert!(!t.bottommost, "file 4 is older and not an input");
        let t = l0_range_task(&[l0], None, None).unwrap();
        assert_eq!(t.inputs, vec![(0, vec![1, 2, 3, 4])]);
        assert!(t.bottommost);
    }
}
