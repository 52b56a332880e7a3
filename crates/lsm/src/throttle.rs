//! A byte-rate cap over every compaction of one or more databases (Cassandra's
//! `compaction_throughput`): a compaction job that has written more than its share sleeps until
//! the rate allows the next bytes. Flushes are never throttled: they free memory writers wait on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A token bucket in bytes per second, shared by every job it is handed to; the rate can change
/// while jobs run (the next bytes use the new rate). Rate 0 means unthrottled.
///
/// ```
/// let t = std::sync::Arc::new(ilion_lsm::Throttle::new(64 << 20));
/// let engine = ilion_lsm::Builder::default().compaction_throttle(t.clone());
/// t.set_rate(16 << 20);
/// assert_eq!(t.rate(), 16 << 20);
/// # drop(engine);
/// ```
#[derive(Debug)]
pub struct Throttle {
    bytes_per_sec: AtomicU64,
    /// When the bytes granted so far will have been written at the rate.
    next_free: Mutex<Option<Instant>>,
    /// Nanoseconds jobs have slept on this throttle in total.
    throttled_nanos: AtomicU64,
    /// Bytes that went through this throttle in total.
    bytes: AtomicU64,
}

impl Throttle {
    /// A cap of `bytes_per_sec` (0 = unthrottled).
    pub fn new(bytes_per_sec: u64) -> Throttle {
        Throttle {
            bytes_per_sec: AtomicU64::new(bytes_per_sec),
            next_free: Mutex::new(None),
            throttled_nanos: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Changes the cap (0 = unthrottled); applies to the next bytes of every job.
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.bytes_per_sec.store(bytes_per_sec, Ordering::Relaxed);
        // Debt owed under the old rate is forgiven: a lifted or raised cap takes effect now.
        *self.next_free.lock() = None;
    }

    /// The cap in bytes per second (0 = unthrottled).
    pub fn rate(&self) -> u64 {
        self.bytes_per_sec.load(Ordering::Relaxed)
    }

    /// How long jobs have waited on this throttle, in total.
    pub fn throttled(&self) -> Duration {
        Duration::from_nanos(self.throttled_nanos.load(Ordering::Relaxed))
    }

    /// How many bytes went through this throttle, in total.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` at `now` and returns how long the caller must wait before writing
    /// them: zero while the job keeps within the rate.
    pub(crate) fn reserve(&self, bytes: u64, now: Instant) -> Duration {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        #[allow(clippy::cast_precision_loss)]
        let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
        let mut next = self.next_free.lock();
        let start = next.map_or(now, |n| n.max(now));
        *next = Some(start + cost);
        start.saturating_duration_since(now)
    }

    /// Waits (sleeping this thread) until `bytes` more may be written.
    pub(crate) fn acquire(&self, bytes: u64) {
        let wait = self.reserve(bytes, Instant::now());
        if !wait.is_zero() {
            self.throttled_nanos.fetch_add(
                u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_within_the_rate_wait_for_the_bytes_before_them() {
        let t = Throttle::new(1000);
        let now = Instant::now();
        assert_eq!(t.reserve(500, now), Duration::ZERO);
        // The first 500 bytes take half a second at 1000 B/s: the next wait that long.
        assert_eq!(t.reserve(500, now), Duration::from_millis(500));
        assert_eq!(t.reserve(1, now), Duration::from_secs(1));
        assert_eq!(t.bytes(), 1001);
    }

    #[test]
    fn an_idle_throttle_does_not_bank_credit() {
        let t = Throttle::new(1000);
        let start = Instant::now();
        assert_eq!(t.reserve(1000, start), Duration::ZERO);
        let later = start + Duration::from_secs(10);
        assert_eq!(t.reserve(1000, later), Duration::ZERO);
        assert_eq!(t.reserve(1000, later), Duration::from_secs(1));
    }

    #[test]
    fn rate_zero_never_waits_and_a_new_rate_applies_at_once() {
        let t = Throttle::new(1);
        let now = Instant::now();
        assert_eq!(t.reserve(10, now), Duration::ZERO);
        assert_eq!(t.reserve(10, now), Duration::from_secs(10));
        t.set_rate(0);
        assert_eq!(t.reserve(1 << 30, now), Duration::ZERO);
        t.set_rate(1 << 20);
        assert_eq!(t.reserve(1 << 20, now), Duration::ZERO);
        assert_eq!(t.reserve(1, now), Duration::from_secs(1));
    }
}
