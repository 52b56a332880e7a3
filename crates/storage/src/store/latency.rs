//! How often and how fast a table is read and written on this replica (Cassandra's local
//! read and write latency): a count and a histogram of exponential buckets per operation,
//! bumped with atomics on every [`Table::read`] and [`Table::apply`].
//!
//! [`Table::read`]: super::Table::read
//! [`Table::apply`]: super::Table::apply

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets by power of two of microseconds: bucket `i` holds durations up to `2^i` µs; the
/// last one everything longer (2^31 µs is over 35 minutes).
const BUCKETS: usize = 32;

/// One operation's latencies.
#[derive(Debug)]
pub struct Latency {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

/// What [`Latency::snapshot`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatencySummary {
    pub count: u64,
    /// Upper bounds of the buckets holding the median and the 99th percentile, and the
    /// longest seen, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn bucket_of(us: u64) -> usize {
    // The smallest i with us <= 2^i.
    let i = (u64::BITS - us.saturating_sub(1).leading_zeros()) as usize;
    i.min(BUCKETS - 1)
}

#[allow(clippy::cast_precision_loss)]
fn bound_ms(bucket: usize) -> f64 {
    (1u64 << bucket) as f64 / 1000.0
}

impl Latency {
    pub(crate) fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(b) = self.buckets.get(bucket_of(us)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The count, percentiles and maximum so far.
    pub fn snapshot(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let percentile = |p: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rank = ((total as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return bound_ms(i);
                }
            }
            0.0
        };
        #[allow(clippy::cast_precision_loss)]
        let max_ms = self.max_us.load(Ordering::Relaxed) as f64 / 1000.0;
        LatencySummary {
            count: self.count.load(Ordering::Relaxed),
            p50_ms: if total == 0 { 0.0 } else { percentile(0.5) },
            p99_ms: if total == 0 { 0.0 } else { percentile(0.99) },
            max_ms,
        }
    }
}

/// A table's local reads and writes; kept across TRUNCATE and ALTER, as Cassandra's.
#[derive(Debug, Default)]
pub struct TableLatencies {
    pub reads: Latency,
    pub writes: Latency,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_bounds_and_max_is_exact() {
        let l = Latency::default();
        for _ in 0..98 {
            l.record(Duration::from_micros(100)); // bucket 2^7 = 128 µs
        }
        l.record(Duration::from_micros(3000)); // 2^12 = 4096 µs
        l.record(Duration::from_micros(5000)); // 2^13 = 8192 µs
        let s = l.snapshot();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 0.128).abs() < 1e-9, "{s:?}");
        assert!((s.p99_ms - 4.096).abs() < 1e-9, "{s:?}");
        assert!((s.max_ms - 5.0).abs() < 1e-9, "{s:?}");
        assert_eq!(Latency::default().snapshot(), LatencySummary::default());
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }
}
