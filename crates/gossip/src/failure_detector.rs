//! The phi-accrual failure detector, as Cassandra's `FailureDetector` and its `ArrivalWindow`.
//!
//! For every endpoint the detector keeps a sliding window of the intervals between heartbeat
//! arrivals (a heartbeat "arrives" when gossip brings a newer heartbeat version of that endpoint).
//! It assumes exponentially distributed arrivals, for which
//! `P(no arrival for t) = e^(-t/mean)`, so `phi = -log10(P) = t / mean / ln(10)`:
//! Cassandra's `PHI_FACTOR * t / mean`. An endpoint is convicted when `phi > threshold`, i.e.
//! after `threshold * ln(10) * mean` of silence (about 18.4 mean intervals at the default 8).
//!
//! As in Cassandra: the first arrival records a deliberately large guess (`initial_interval`,
//! 2 s) rather than nothing, because the right mean depends on the cluster size and erring high
//! only delays a conviction; intervals longer than `max_interval` (also 2 s) are not recorded,
//! so a long partition does not teach the detector to wait longer; and when the local node itself
//! was paused (no status check for `max_local_pause`, 5 s), convictions are skipped for that long.
//!
//! Intervals are stored as 16-bit multiples of `max_interval / 65535` (about 31 µs at the
//! default), which keeps a full window at 2 KB per endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::state::Endpoint;

/// `1 / ln(10)`: converts `t / mean` into `-log10` of the exponential tail.
pub const PHI_FACTOR: f64 = 1.0 / std::f64::consts::LN_10;

/// Failure detector settings. Defaults are Cassandra's.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureDetectorConfig {
    /// Phi above which an endpoint is convicted (Cassandra's `phi_convict_threshold`, default 8).
    /// Lower convicts sooner and risks false convictions under loss; see docs/gossip.md.
    pub phi_convict_threshold: f64,
    /// Number of arrival intervals kept per endpoint (default 1000).
    pub window_size: usize,
    /// The interval recorded on the first arrival (default 2 s, `cassandra.fd_initial_value_ms`).
    pub initial_interval: Duration,
    /// Longer intervals are not recorded (default 2 s, `cassandra.fd_max_interval_ms`).
    pub max_interval: Duration,
    /// A gap this long between status checks means the local node was paused (default 5 s).
    pub max_local_pause: Duration,
}

impl Default for FailureDetectorConfig {
    fn default() -> Self {
        FailureDetectorConfig {
            phi_convict_threshold: 8.0,
            window_size: 1000,
            initial_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(2),
            max_local_pause: Duration::from_secs(5),
        }
    }
}

impl FailureDetectorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !(self.phi_convict_threshold.is_finite() && self.phi_convict_threshold > 0.0) {
            return Err(Error::InvalidConfig {
                field: "phi_convict_threshold",
                reason: "must be a positive number",
            });
        }
        if self.window_size == 0 {
            return Err(Error::InvalidConfig {
                field: "window_size",
                reason: "must be at least 1",
            });
        }
        if self.max_interval.is_zero() {
            return Err(Error::InvalidConfig {
                field: "max_interval",
                reason: "must be positive",
            });
        }
        if self.initial_interval.is_zero() || self.initial_interval > self.max_interval {
            return Err(Error::InvalidConfig {
                field: "initial_interval",
                reason: "must be positive and at most max_interval",
            });
        }
        Ok(())
    }

    fn quantum_nanos(&self) -> u64 {
        (self.max_interval.as_nanos() as u64)
            .div_ceil(u64::from(u16::MAX))
            .max(1)
    }
}

/// Heartbeat arrival intervals of one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct ArrivalWindow {
    last: Option<Duration>,
    /// Ring buffer of intervals in quanta; grows to `window_size`, then wraps at `next`.
    samples: Vec<u16>,
    next: usize,
    sum: u64,
}

impl ArrivalWindow {
    fn new() -> ArrivalWindow {
        ArrivalWindow {
            last: None,
            samples: Vec::new(),
            next: 0,
            sum: 0,
        }
    }

    /// Records an arrival; returns the phi reached just before it.
    fn add(&mut self, now: Duration, cfg: &FailureDetectorConfig) -> f64 {
        let phi_before = self.phi(now, cfg);
        let interval = match self.last {
            None => Some(cfg.initial_interval),
            Some(last) => Some(now.saturating_sub(last)).filter(|i| *i <= cfg.max_interval),
        };
        if let Some(interval) = interval {
            let q = (interval.as_nanos() as u64 / cfg.quantum_nanos()).min(u64::from(u16::MAX));
            let q = q as u16;
            if self.samples.len() < cfg.window_size {
                if self.samples.len() == self.samples.capacity() {
                    // Grow in small steps: thousands of windows must not each reserve double.
                    self.samples
                        .reserve_exact(64.min(cfg.window_size - self.samples.len()));
                }
                self.samples.push(q);
            } else if let Some(slot) = self.samples.get_mut(self.next) {
                self.sum -= u64::from(*slot);
                *slot = q;
                self.next = (self.next + 1) % cfg.window_size;
            }
            self.sum += u64::from(q);
        }
        self.last = Some(now);
        phi_before
    }

    fn mean_nanos(&self, cfg: &FailureDetectorConfig) -> f64 {
        if self.samples.is_empty() {
            return cfg.initial_interval.as_nanos() as f64;
        }
        let mean = self.sum as f64 * cfg.quantum_nanos() as f64 / self.samples.len() as f64;
        // A window of zero-length intervals (several arrivals at the same instant) must not
        // divide by zero; one quantum is the smallest interval we can represent.
        mean.max(cfg.quantum_nanos() as f64)
    }

    fn phi(&self, now: Duration, cfg: &FailureDetectorConfig) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        let t = now.saturating_sub(last).as_nanos() as f64;
        PHI_FACTOR * t / self.mean_nanos(cfg)
    }
}

/// The detector: one arrival window per endpoint.
#[derive(Debug, Clone)]
pub struct FailureDetector {
    cfg: FailureDetectorConfig,
    windows: BTreeMap<Endpoint, ArrivalWindow>,
    last_check: Option<Duration>,
    last_pause: Option<Duration>,
    max_phi_at_arrival: f64,
}

impl FailureDetector {
    /// A detector with the given settings (validate them first).
    pub fn new(cfg: FailureDetectorConfig) -> FailureDetector {
        FailureDetector {
            cfg,
            windows: BTreeMap::new(),
            last_check: None,
            last_pause: None,
            max_phi_at_arrival: 0.0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FailureDetectorConfig {
        &self.cfg
    }

    /// Records a heartbeat arrival from `ep` at `now`.
    pub fn report(&mut self, ep: Endpoint, now: Duration) {
        let cfg = &self.cfg;
        let phi = self
            .windows
            .entry(ep)
            .or_insert_with(ArrivalWindow::new)
            .add(now, cfg);
        self.max_phi_at_arrival = self.max_phi_at_arrival.max(phi);
    }

    /// The highest phi any endpoint reached before its next heartbeat arrived (since the start
    /// or the last [`FailureDetector::reset_max_phi`]): how close live nodes came to being
    /// convicted, the figure to compare with the threshold when tuning it.
    pub fn max_phi_at_arrival(&self) -> f64 {
        self.max_phi_at_arrival
    }

    /// Restarts [`FailureDetector::max_phi_at_arrival`].
    pub fn reset_max_phi(&mut self) {
        self.max_phi_at_arrival = 0.0;
    }

    /// Forgets `ep` (it restarted while down, or left).
    pub fn remove(&mut self, ep: Endpoint) {
        self.windows.remove(&ep);
    }

    /// Phi of `ep` at `now`, if any arrival was recorded.
    pub fn phi(&self, ep: Endpoint, now: Duration) -> Option<f64> {
        self.windows.get(&ep).map(|w| w.phi(now, &self.cfg))
    }

    /// Mean recorded arrival interval of `ep`.
    pub fn mean_interval(&self, ep: Endpoint) -> Option<Duration> {
        self.windows
            .get(&ep)
            .map(|w| Duration::from_nanos(w.mean_nanos(&self.cfg) as u64))
    }

    /// Starts a status check at `now`; false when convictions must be skipped because the local
    /// node looks paused (the previous check is more than `max_local_pause` ago, or was within
    /// `max_local_pause` of such a pause).
    pub fn begin_check(&mut self, now: Duration) -> bool {
        let previous = self.last_check.replace(now);
        if let Some(prev) = previous
            && now.saturating_sub(prev) > self.cfg.max_local_pause
        {
            self.last_pause = Some(now);
            return false;
        }
        self.last_pause
            .is_none_or(|p| now.saturating_sub(p) >= self.cfg.max_local_pause)
    }

    /// True when `ep` should be convicted at `now`.
    pub fn convicts(&self, ep: Endpoint, now: Duration) -> bool {
        self.phi(ep, now)
            .is_some_and(|phi| phi > self.cfg.phi_convict_threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoint {
        "10.0.0.1:7000".parse().unwrap()
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn first_arrival_records_the_initial_guess() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        fd.report(ep(), secs(10.0));
        let mean = fd.mean_interval(ep()).unwrap();
        assert!((mean.as_secs_f64() - 2.0).abs() < 1e-3, "{mean:?}");
    }

    #[test]
    fn phi_is_elapsed_over_mean_times_phi_factor() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        fd.report(ep(), secs(0.0));
        for i in 1..=2000 {
            fd.report(ep(), secs(f64::from(i)));
        }
        // The window (1000) now holds only 1 s intervals: the initial guess has slid out.
        let mean = fd.mean_interval(ep()).unwrap().as_secs_f64();
        assert!((mean - 1.0).abs() < 1e-3, "{mean}");
        let phi = fd.phi(ep(), secs(2000.0 + 5.0)).unwrap();
        assert!((phi - 5.0 * PHI_FACTOR).abs() < 1e-2, "{phi}");
    }

    #[test]
    fn conviction_comes_after_threshold_times_ln10_mean_intervals() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        for i in 0..=1001 {
            fd.report(ep(), secs(f64::from(i)));
        }
        let last = 1001.0;
        assert!(!fd.convicts(ep(), secs(last + 18.0)));
        assert!(fd.convicts(ep(), secs(last + 18.6)));
    }

    #[test]
    fn intervals_longer_than_the_maximum_are_not_recorded() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        fd.report(ep(), secs(0.0)); // initial guess 2 s
        fd.report(ep(), secs(1.0)); // 1 s
        fd.report(ep(), secs(60.0)); // 59 s: ignored
        let mean = fd.mean_interval(ep()).unwrap().as_secs_f64();
        assert!((mean - 1.5).abs() < 1e-3, "{mean}");
    }

    #[test]
    fn a_local_pause_suppresses_convictions_for_a_while() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        assert!(fd.begin_check(secs(0.0)));
        assert!(fd.begin_check(secs(1.0)));
        assert!(!fd.begin_check(secs(20.0)));
        assert!(!fd.begin_check(secs(21.0)));
        assert!(fd.begin_check(secs(26.0)));
    }

    #[test]
    fn bad_settings_are_rejected() {
        let cfg = FailureDetectorConfig {
            phi_convict_threshold: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(Error::InvalidConfig {
                field: "phi_convict_threshold",
                ..
            })
        ));
        let cfg = FailureDetectorConfig {
            initial_interval: secs(3.0),
            ..Default::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(Error::InvalidConfig {
                field: "initial_interval",
                ..
            })
        ));
    }
}
