//! The time facts of each engine file, kept as the file's user properties: the minimum write
//! timestamp of the file and of the data outside a running compaction decides whether purging
//! a tombstone is safe (Cassandra's rule: a tombstone may go only when its timestamp is below
//! the minimum timestamp of every file and memtable that overlaps its partition and is not
//! being compacted, so no older data it shadows can remain elsewhere); the maximum timestamp
//! places the file in a time window (TWCS); the latest local deletion time says whether the
//! whole file is expired, and the deletion-time histogram estimates how much of it a
//! compaction could purge (Cassandra's `maxLocalDeletionTime` and
//! `estimatedTombstoneDropTime`).
//!
//! Encoding of the user properties (written by [`TimesCollector`]), integers little-endian:
//!
//! ```text
//! version 1:  u8 1 | i64 min_timestamp
//! version 2:  u8 2 | i64 min_timestamp | i64 max_timestamp | i64 max_deletion_time
//!             | u64 entries | u16 bins | bins x (i64 upper_bound | u64 count)
//! ```
//!
//! `min_timestamp` is the smallest write timestamp among the file's records (`i64::MAX` when it
//! holds none, `i64::MIN` when a record did not decode, so nothing is purged against it);
//! `max_timestamp` the largest (`i64::MIN` when none, `i64::MAX` when a record did not decode).
//! A record's deletion time is its tombstone's local deletion time, or an expiring cell's
//! expiry; a live cell, a counter, an undecodable record and an engine deletion (written only to
//! clear a dropped incarnation) have none, which makes `max_deletion_time` `i64::MAX`. The bins
//! count the records with a deletion time, each bin those up to its upper bound (seconds).
//! Version 1 files read back with unknown times (only their minimum timestamp is used).

use std::collections::BTreeMap;

use crate::cell::{Record, State};

const V1: u8 = 1;
const V2: u8 = 2;
/// Most histogram bins stored per file (Cassandra's tombstone histogram keeps 100).
const MAX_BINS: usize = 100;
/// Distinct deletion times kept exactly while collecting before they are rounded coarser.
const MAX_EXACT: usize = 10_000;

/// Collects the time facts of a file (or of a memtable's range).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimesCollector;

impl ilion_lsm::PropertiesCollectorFactory for TimesCollector {
    fn collector(&self) -> Box<dyn ilion_lsm::PropertiesCollector> {
        Box::new(Times::default())
    }

    fn file_times(&self, properties: &[u8]) -> Option<ilion_lsm::FileTimes> {
        decode_times(properties)
    }
}

/// What a collector has seen so far.
#[derive(Debug)]
struct Times {
    min: i64,
    max: i64,
    max_deletion: i64,
    entries: u64,
    /// Deletion time rounded up to a multiple of `round` -> records.
    deletions: BTreeMap<i64, u64>,
    round: i64,
}

impl Default for Times {
    fn default() -> Times {
        Times {
            min: i64::MAX,
            max: i64::MIN,
            max_deletion: i64::MIN,
            entries: 0,
            deletions: BTreeMap::new(),
            round: 1,
        }
    }
}

fn round_up(t: i64, round: i64) -> i64 {
    t.div_euclid(round)
        .saturating_add(i64::from(t.rem_euclid(round) != 0))
        .saturating_mul(round)
}

impl Times {
    fn deletion(&mut self, t: i64) {
        self.max_deletion = self.max_deletion.max(t);
        *self.deletions.entry(round_up(t, self.round)).or_default() += 1;
        if self.deletions.len() > MAX_EXACT {
            self.round = self.round.saturating_mul(2);
            let old = std::mem::take(&mut self.deletions);
            for (t, n) in old {
                *self.deletions.entry(round_up(t, self.round)).or_default() += n;
            }
        }
    }
}

impl ilion_lsm::PropertiesCollector for Times {
    fn add(&mut self, _key: &[u8], kind: ilion_lsm::EntryKind, value: &[u8]) {
        self.entries += 1;
        match kind {
            ilion_lsm::EntryKind::Value | ilion_lsm::EntryKind::MergeOperand => {
                let Some(record) = Record::decode(value) else {
                    self.min = i64::MIN;
                    self.max = i64::MAX;
                    self.max_deletion = i64::MAX;
                    return;
                };
                self.min = self.min.min(record.timestamp);
                self.max = self.max.max(record.timestamp);
                match &record.state {
                    State::Tombstone {
                        local_deletion_time,
                    } => self.deletion(*local_deletion_time),
                    State::Expiring { ttl, .. } | State::Expired { ttl } => {
                        self.deletion(ttl.local_expiry);
                    }
                    State::Live { .. } | State::Counter { .. } => self.max_deletion = i64::MAX,
                }
            }
            // The engine's own deletions carry no write timestamp (the store writes them only
            // to clear a dropped incarnation); a file holding one is never expired whole.
            ilion_lsm::EntryKind::Deletion | ilion_lsm::EntryKind::RangeDeletion => {
                self.max_deletion = i64::MAX;
            }
            // A kind added later: assume the worst.
            _ => {
                self.min = i64::MIN;
                self.max = i64::MAX;
                self.max_deletion = i64::MAX;
            }
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        let bins = bins(&self.deletions);
        let mut out = Vec::with_capacity(35 + 16 * bins.len());
        out.push(V2);
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        // No record at all: nothing in the file is live.
        out.extend_from_slice(&self.max_deletion.to_le_bytes());
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&u16::try_from(bins.len()).unwrap_or(0).to_le_bytes());
        for (bound, n) in bins {
            out.extend_from_slice(&bound.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
        out
    }
}

/// At most [`MAX_BINS`] bins from the exact counts: consecutive runs of about equal length,
/// each bounded by its largest time (so a bin never claims a record is older than it is).
fn bins(deletions: &BTreeMap<i64, u64>) -> Vec<(i64, u64)> {
    let per_bin = deletions.len().div_ceil(MAX_BINS).max(1);
    let mut out = Vec::new();
    let mut run = (i64::MIN, 0u64, 0usize);
    for (&t, &n) in deletions {
        run = (t, run.1 + n, run.2 + 1);
        if run.2 == per_bin {
            out.push((run.0, run.1));
            run = (i64::MIN, 0, 0);
        }
    }
    if run.2 > 0 {
        out.push((run.0, run.1));
    }
    out
}

#[cfg(test)]
pub(crate) fn encode(min_timestamp: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(V1);
    out.extend_from_slice(&min_timestamp.to_le_bytes());
    out
}

fn i64_at(bytes: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The minimum timestamp recorded in `properties`; `None` when unknown or malformed.
pub(crate) fn decode(properties: &[u8]) -> Option<i64> {
    match *properties.first()? {
        V1 if properties.len() == 9 => i64_at(properties, 1),
        V2 => decode_times(properties).map(|t| t.min_timestamp),
        _ => None,
    }
}

/// Every time fact of version-2 `properties`; `None` for version 1 or malformed bytes.
pub(crate) fn decode_times(p: &[u8]) -> Option<ilion_lsm::FileTimes> {
    if *p.first()? != V2 {
        return None;
    }
    let entries = u64::from_le_bytes(p.get(25..33)?.try_into().ok()?);
    let n = usize::from(u16::from_le_bytes(p.get(33..35)?.try_into().ok()?));
    if p.len() != 35 + 16 * n {
        return None;
    }
    let mut deletion_times = Vec::with_capacity(n);
    for i in 0..n {
        let at = 35 + 16 * i;
        let count = u64::from_le_bytes(p.get(at + 8..at + 16)?.try_into().ok()?);
        deletion_times.push((i64_at(p, at)?, count));
    }
    Some(ilion_lsm::FileTimes {
        min_timestamp: i64_at(p, 1)?,
        max_timestamp: i64_at(p, 9)?,
        max_deletion_time: i64_at(p, 17)?,
        entries,
        deletion_times,
    })
}

/// The minimum timestamp over sources outside a compaction: `i64::MAX` when there are none,
/// `i64::MIN` when one of them is unknown.
pub(crate) fn min_outside(sources: &[ilion_lsm::OutsideSource]) -> i64 {
    sources
        .iter()
        .map(|s| s.properties.as_deref().and_then(decode).unwrap_or(i64::MIN))
        .min()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::Ttl;
    use ilion_lsm::PropertiesCollectorFactory;

    #[test]
    fn a_version_1_summary_round_trips_its_minimum_and_has_no_times() {
        for ts in [i64::MIN, -1, 0, 1_700_000_000_000_000, i64::MAX] {
            assert_eq!(decode(&encode(ts)), Some(ts));
            assert_eq!(decode_times(&encode(ts)), None);
        }
        let good = encode(5);
        assert_eq!(decode(&good[..8]), None);
        assert_eq!(decode(&[3, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn an_unknown_source_blocks_and_no_source_allows_everything() {
        let known = |ts| ilion_lsm::OutsideSource {
            level: Some(0),
            properties: Some(encode(ts)),
        };
        assert_eq!(min_outside(&[]), i64::MAX);
        assert_eq!(min_outside(&[known(7), known(3)]), 3);
        let unknown = ilion_lsm::OutsideSource {
            level: None,
            properties: None,
        };
        assert_eq!(min_outside(&[known(7), unknown]), i64::MIN);
    }

    fn tombstone(ts: i64, ldt: i64) -> Vec<u8> {
        Record {
            timestamp: ts,
            state: State::Tombstone {
                local_deletion_time: ldt,
            },
        }
        .encode()
    }

    #[test]
    fn the_collector_keeps_the_timestamp_range_and_when_each_record_dies() {
        let mut c = TimesCollector.collector();
        let empty = c.finish();
        assert_eq!(decode(&empty), Some(i64::MAX));
        let t = decode_times(&empty).unwrap();
        assert_eq!(
            (t.max_timestamp, t.max_deletion_time, t.entries),
            (i64::MIN, i64::MIN, 0)
        );

        let ttl = |expiry| Ttl {
            seconds: 60,
            local_expiry: expiry,
        };
        c.add(b"k", ilion_lsm::EntryKind::Value, &tombstone(9, 100));
        c.add(
            b"k",
            ilion_lsm::EntryKind::MergeOperand,
            &Record::expiring(4, b"v".to_vec(), ttl(300)).encode(),
        );
        c.add(b"k", ilion_lsm::EntryKind::Value, &tombstone(6, 100));
        let p = c.finish();
        assert_eq!(decode(&p), Some(4));
        let t = TimesCollector.file_times(&p).unwrap();
        assert_eq!((t.min_timestamp, t.max_timestamp), (4, 9));
        assert_eq!(t.max_deletion_time, 300);
        assert_eq!(t.entries, 3);
        assert_eq!(t.deletion_times, vec![(100, 2), (300, 1)]);
        assert!(t.fully_expired(301) && !t.fully_expired(300));
        assert!((t.droppable_ratio(101) - 2.0 / 3.0).abs() < 1e-9);

        c.add(
            b"k",
            ilion_lsm::EntryKind::Value,
            &Record::live(5, Vec::new()).encode(),
        );
        assert_eq!(
            TimesCollector
                .file_times(&c.finish())
                .unwrap()
                .max_deletion_time,
            i64::MAX
        );
        let mut d = TimesCollector.collector();
        d.add(b"k", ilion_lsm::EntryKind::Value, &tombstone(1, 1));
        d.add(b"k", ilion_lsm::EntryKind::RangeDeletion, b"z");
        assert_eq!(
            TimesCollector
                .file_times(&d.finish())
                .unwrap()
                .max_deletion_time,
            i64::MAX
        );
        d.add(b"x", ilion_lsm::EntryKind::Value, b"\xff garbage");
        let p = d.finish();
        assert_eq!(decode(&p), Some(i64::MIN));
        assert_eq!(decode_times(&p).unwrap().max_timestamp, i64::MAX);
    }

    #[test]
    fn many_deletion_times_fold_into_at_most_100_bins_that_never_claim_a_record_is_older() {
        let mut c = TimesCollector.collector();
        for i in 0..50_000i64 {
            c.add(
                b"k",
                ilion_lsm::EntryKind::Value,
                &tombstone(i, 1_000 + i * 7),
            );
        }
        let t = decode_times(&c.finish()).unwrap();
        assert!(t.deletion_times.len() <= 100, "{}", t.deletion_times.len());
        assert_eq!(t.deletion_times.iter().map(|b| b.1).sum::<u64>(), 50_000);
        assert!(t.deletion_times.windows(2).all(|w| w[0].0 < w[1].0));
        for horizon in [0, 1_000, 50_000, 200_000, 351_000, 400_000] {
            let exact = (0..50_000i64).filter(|i| 1_000 + i * 7 < horizon).count() as f64;
            let estimate = t.droppable_ratio(horizon) * 50_000.0;
            assert!(estimate <= exact, "{horizon}: {estimate} > {exact}");
            assert!(
                exact - estimate <= 50_000.0 / 100.0 * 2.0,
                "{horizon}: {estimate} vs {exact}"
            );
        }
    }

    #[test]
    fn malformed_version_2_bytes_are_unknown() {
        let mut c = TimesCollector.collector();
        c.add(b"k", ilion_lsm::EntryKind::Value, &tombstone(1, 1));
        let p = c.finish();
        assert!(decode_times(&p).is_some());
        assert_eq!(decode_times(&p[..p.len() - 1]), None);
        let mut longer = p.clone();
        longer.push(0);
        assert_eq!(decode_times(&longer), None);
        assert_eq!(decode(&p[..20]), None);
    }
}
