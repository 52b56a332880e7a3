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

pub(crate) mod job;
pub(crate) mod leveled;
pub(crate) mod size_tiered;
pub(crate) mod time_window;

use crate::error::{Error, Result};
use crate::key::SeqNo;

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
    /// When the file's newest data was written (time-window bucketing).
    pub created_micros: u64,
    pub being_compacted: bool,
}

impl FileInfo {
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
}

/// Picks compactions for one tree. Implemented by the strategies [`CompactionConfig`] builds.
pub trait CompactionStrategy: Send + Sync + std::fmt::Debug {
    /// The next compaction worth running, if any. `levels[0]` is L0 (newest first, may
    /// overlap); `levels[1..]` are sorted and non-overlapping.
    fn pick(&self, levels: &[Vec<FileInfo>]) -> Option<CompactionTask>;
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
    /// order: files are grouped by the window their newest data falls in; the newest window is
    /// compacted size-tiered, each older window once into a single file.
    TimeWindow {
        /// Window length in microseconds. Default one day.
        window_micros: u64,
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
                min_threshold,
                max_threshold,
            } => {
                if window_micros == 0 {
                    return bad("window_micros", "must be positive");
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
                min_threshold,
                max_threshold,
            } => Box::new(time_window::TimeWindow {
                window_micros: window_micros.max(1),
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
/// strategies that keep everything in L0. Bottommost when the range reaches the oldest L0 file
/// and no other level holds a file that overlaps the inputs.
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
    let bottommost = range.end == l0.len()
        && levels
            .iter()
            .skip(1)
            .flatten()
            .all(|f| !f.overlaps(Some(lo), Some(hi)));
    Some(CompactionTask {
        inputs: vec![(0, files.iter().map(|f| f.id).collect())],
        output_level: 0,
        target_file_size: u64::MAX,
        bottommost,
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
