//! The minimum write timestamp of each engine file, kept as the file's user properties, and of
//! the data outside a running compaction: what decides whether purging a tombstone is safe
//! (Cassandra's rule: a tombstone may go only when its timestamp is below the minimum timestamp
//! of every file and memtable that overlaps its partition and is not being compacted, so no
//! older data it shadows can remain elsewhere).
//!
//! Encoding of the user properties (written by [`MinTimestampCollector`]):
//!
//! ```text
//! u8 version = 1 | i64 LE min_timestamp
//! ```
//!
//! `min_timestamp` is the smallest write timestamp among the file's records (`i64::MAX` when it
//! holds none, `i64::MIN` when a record did not decode, so nothing is purged against it).

use crate::cell::Record;

const VERSION: u8 = 1;

/// Collects the minimum record timestamp of a file (or of a memtable's range).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MinTimestampCollector;

impl ilion_lsm::PropertiesCollectorFactory for MinTimestampCollector {
    fn collector(&self) -> Box<dyn ilion_lsm::PropertiesCollector> {
        Box::new(MinTimestamp(i64::MAX))
    }
}

struct MinTimestamp(i64);

impl ilion_lsm::PropertiesCollector for MinTimestamp {
    fn add(&mut self, _key: &[u8], kind: ilion_lsm::EntryKind, value: &[u8]) {
        match kind {
            ilion_lsm::EntryKind::Value | ilion_lsm::EntryKind::MergeOperand => {
                let ts = Record::decode(value).map_or(i64::MIN, |r| r.timestamp);
                self.0 = self.0.min(ts);
            }
            // The engine's own deletions carry no write timestamp (the store writes them only
            // to clear a dropped incarnation).
            ilion_lsm::EntryKind::Deletion | ilion_lsm::EntryKind::RangeDeletion => {}
            // A kind added later: assume the worst.
            _ => self.0 = i64::MIN,
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        encode(self.0)
    }
}

pub(crate) fn encode(min_timestamp: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(VERSION);
    out.extend_from_slice(&min_timestamp.to_le_bytes());
    out
}

/// The minimum timestamp recorded in `properties`; `None` when unknown or malformed.
pub(crate) fn decode(properties: &[u8]) -> Option<i64> {
    let (&version, rest) = properties.split_first()?;
    if version != VERSION {
        return None;
    }
    let bytes: [u8; 8] = rest.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
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

    #[test]
    fn the_summary_round_trips_and_anything_else_is_unknown() {
        for ts in [i64::MIN, -1, 0, 1_700_000_000_000_000, i64::MAX] {
            assert_eq!(decode(&encode(ts)), Some(ts));
        }
        let good = encode(5);
        assert_eq!(decode(&good[..8]), None);
        assert_eq!(decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0]), None);
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

    #[test]
    fn the_collector_keeps_the_smallest_record_timestamp() {
        use ilion_lsm::PropertiesCollectorFactory;
        let mut c = MinTimestampCollector.collector();
        assert_eq!(decode(&c.finish()), Some(i64::MAX));
        c.add(
            b"k",
            ilion_lsm::EntryKind::Value,
            &Record::live(9, b"v".to_vec()).encode(),
        );
        c.add(
            b"k",
            ilion_lsm::EntryKind::MergeOperand,
            &Record::live(4, Vec::new()).encode(),
        );
        c.add(b"k", ilion_lsm::EntryKind::Deletion, &[]);
        assert_eq!(decode(&c.finish()), Some(4));
        c.add(b"x", ilion_lsm::EntryKind::Value, b"\xff garbage");
        assert_eq!(decode(&c.finish()), Some(i64::MIN));
    }
}
