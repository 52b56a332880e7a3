//! The phi-accrual failure detector: Cassandra's `FailureDetector` with the normal model of
//! Akka's `PhiAccrualFailureDetector`, measured on the *age* of the freshest heartbeat.
//!
//! **What phi means.** `phi = -log10(P)`, where `P` is the probability that a live endpoint's
//! freshest heartbeat would be as old as it is now: phi 1 means a 10% chance that the endpoint is
//! still alive and merely late, phi 8 (the default threshold, as Cassandra's
//! `phi_convict_threshold`) one in a hundred million. Higher thresholds wait longer and convict
//! more surely.
//!
//! **Age, not arrival time.** Heartbeats are relayed: a node often hears an endpoint's new
//! heartbeat from a third node, seconds after the endpoint produced it. Every state on the wire
//! carries the age of its heartbeat (each relay adds how long it held it), so the detector knows
//! when the endpoint was last alive, `produced_at`, on the local clock. Its age now, `now -
//! produced_at`, plays the part of "time since the last heartbeat" of a directly connected
//! detector; it is the same for every observer, however late each learned the last heartbeat.
//!
//! **The distribution.** Each time a fresher heartbeat arrives, the age the previous one had
//! reached is one sample (for direct heartbeats, the interval between them). The detector keeps
//! the last `window_size` samples and models them as normal, with mean `mean + acceptable_pause`
//! and standard deviation `max(observed, min_std_deviation)` (Akka's choices: the pause absorbs
//! what the window has not seen, such as a lost burst; the minimum keeps a very regular history
//! from convicting on the first small delay). So at the default threshold a node is convicted
//! when its heartbeat is `mean + acceptable_pause + 5.61 * std_deviation` old.
//!
//! As in Cassandra: the first heartbeat records a deliberately large guess (`initial_interval`);
//! samples longer than `max_interval` are not recorded, so a partition does not teach the detector
//! to wait longer; and when the local node itself was paused (no status check for
//! `max_local_pause`), convictions are skipped for that long.
//!
//! Samples are stored as 16-bit multiples of `max_interval / 65535`, 2 KB per endpoint at a full
//! window.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::state::{Endpoint, EndpointHasher};

/// Failure detector settings. The threshold and window are Cassandra's defaults; the rest are
/// sized for heartbeats relayed by gossip every second (see docs/gossip.md).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureDetectorConfig {
    /// Phi above which an endpoint is convicted (Cassandra's `phi_convict_threshold`, default 8:
    /// a one in 10^8 chance that the endpoint is alive). Lower convicts sooner and risks false
    /// convictions under loss.
    pub phi_convict_threshold: f64,
    /// Number of samples kept per endpoint (default 1000).
    pub window_size: usize,
    /// The sample recorded on the first heartbeat (default 2 s, `cassandra.fd_initial_value_ms`):
    /// erring high only delays a conviction.
    pub initial_interval: Duration,
    /// Longer samples are not recorded (default 10 s).
    pub max_interval: Duration,
    /// A gap this long between status checks means the local node was paused (default 5 s).
    pub max_local_pause: Duration,
    /// Floor of the standard deviation (default 500 ms).
    pub min_std_deviation: Duration,
    /// Added to the mean: the heartbeat age that is always tolerated beyond the usual
    /// (default 3 s, as Akka's `acceptable-heartbeat-pause`).
    pub acceptable_pause: Duration,
}

impl Default for FailureDetectorConfig {
    fn default() -> Self {
        FailureDetectorConfig {
            phi_convict_threshold: 8.0,
            window_size: 1000,
            initial_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(10),
            max_local_pause: Duration::from_secs(5),
            min_std_deviation: Duration::from_millis(500),
            acceptable_pause: Duration::from_secs(3),
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
        if self.min_std_deviation.is_zero() {
            return Err(Error::InvalidConfig {
                field: "min_std_deviation",
                reason: "must be positive",
            });
        }
        Ok(())
    }

    fn quantum_nanos(&self) -> u64 {
        (self.max_interval.as_nanos() as u64)
            .div_ceil(u64::from(u16::MAX))
            .max(1)
    }

    /// The heartbeat age at which an endpoint whose samples have this mean and standard
    /// deviation is convicted.
    pub fn conviction_age(&self, mean: Duration, std_deviation: Duration) -> Duration {
        let sd = std_deviation.max(self.min_std_deviation).as_secs_f64();
        let y = normal_quantile_for_phi(self.phi_convict_threshold);
        mean + self.acceptable_pause + Duration::from_secs_f64(y * sd)
    }
}

/// `-log10` of the upper tail `P(X > y)` of the standard normal distribution.
///
/// The tail is `erfc(y / sqrt 2) / 2`; `erfc` comes from the Chebyshev fit of Numerical Recipes
/// (`erfcc`, relative error below 1.2e-7 everywhere), evaluated in the log domain so that the far
/// tail (phi 8 and beyond) keeps its precision.
pub(crate) fn normal_tail_phi(y: f64) -> f64 {
    let z = y.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // ln erfc(z) for z >= 0.
    let ln_erfc = t.ln() - z * z + poly;
    if y >= 0.0 {
        -(ln_erfc + 0.5f64.ln()) / std::f64::consts::LN_10
    } else {
        // P(X > y) = 1 - P(X > -y) for negative y.
        -(1.0 - 0.5 * ln_erfc.exp()).log10()
    }
}

/// The `y` at which [`normal_tail_phi`] reaches `phi` (bisection; `phi` is increasing in `y`).
fn normal_quantile_for_phi(phi: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0f64, 40.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if normal_tail_phi(mid) < phi {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The heartbeat history of one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct ArrivalWindow {
    /// When the freshest known heartbeat was produced, on the local clock.
    last: Option<Duration>,
    /// Ring buffer of samples in quanta; grows to `window_size`, then wraps at `next`.
    samples: Vec<u16>,
    next: usize,
    sum: u64,
    sum_sq: u64,
    /// `mean + acceptable_pause` and the floored standard deviation, in nanoseconds, as of the
    /// last sample: every status check needs them.
    centre_ns: f64,
    scale_ns: f64,
}

impl ArrivalWindow {
    fn new(d: &Derived) -> ArrivalWindow {
        ArrivalWindow {
            last: None,
            samples: Vec::new(),
            next: 0,
            sum: 0,
            sum_sq: 0,
            centre_ns: d.initial_ns + d.pause_ns,
            scale_ns: d.min_sd_ns,
        }
    }

    /// Records a heartbeat produced at `produced_at` that arrived at `now`; returns how far
    /// the previous one had come (`y`, in standard deviations past the mean and pause) and the
    /// sample, if one was taken. A heartbeat not fresher than the known one records nothing.
    fn add(
        &mut self,
        now: Duration,
        produced_at: Duration,
        cfg: &FailureDetectorConfig,
        d: &Derived,
    ) -> (f64, Option<Duration>) {
        let y_before = self.y(now);
        let sample = match self.last {
            None => Some(cfg.initial_interval),
            Some(last) if produced_at <= last => return (y_before, None),
            Some(last) => Some(now.saturating_sub(last)).filter(|i| *i <= cfg.max_interval),
        };
        if let Some(sample) = sample {
            let q = (sample.as_nanos() as u64 / d.quantum).min(u64::from(u16::MAX));
            let q16 = q as u16;
            if self.samples.len() < cfg.window_size {
                if self.samples.len() == self.samples.capacity() {
                    // Grow in small steps: thousands of windows must not each reserve double.
                    self.samples
                        .reserve_exact(64.min(cfg.window_size - self.samples.len()));
                }
                self.samples.push(q16);
            } else if let Some(slot) = self.samples.get_mut(self.next) {
                let old = u64::from(*slot);
                self.sum -= old;
                self.sum_sq -= old * old;
                *slot = q16;
                self.next = (self.next + 1) % cfg.window_size;
            }
            self.sum += q;
            self.sum_sq += q * q;
            let (mean, sd) = self.stats(d);
            self.centre_ns = mean + d.pause_ns;
            self.scale_ns = sd.max(d.min_sd_ns);
        }
        self.last = Some(produced_at);
        (y_before, sample)
    }

    /// Mean and standard deviation of the samples, in nanoseconds.
    fn stats(&self, d: &Derived) -> (f64, f64) {
        let n = self.samples.len() as f64;
        if n == 0.0 {
            return (d.initial_ns, 0.0);
        }
        let quantum = d.quantum as f64;
        let mean = self.sum as f64 / n;
        let var = (self.sum_sq as f64 / n - mean * mean).max(0.0);
        (mean * quantum, var.sqrt() * quantum)
    }

    /// The age of the freshest heartbeat in (floored) standard deviations past the mean plus
    /// the acceptable pause: phi is a monotonic function of it.
    fn y(&self, now: Duration) -> f64 {
        let Some(last) = self.last else {
            return f64::NEG_INFINITY;
        };
        let age = now.saturating_sub(last).as_secs_f64() * 1e9;
        (age - self.centre_ns) / self.scale_ns
    }
}

/// Settings in the units the hot paths use, computed once.
#[derive(Debug, Clone)]
struct Derived {
    quantum: u64,
    initial_ns: f64,
    pause_ns: f64,
    min_sd_ns: f64,
}

impl Derived {
    fn new(cfg: &FailureDetectorConfig) -> Derived {
        Derived {
            quantum: cfg.quantum_nanos(),
            initial_ns: cfg.initial_interval.as_secs_f64() * 1e9,
            pause_ns: cfg.acceptable_pause.as_secs_f64() * 1e9,
            min_sd_ns: cfg.min_std_deviation.as_secs_f64() * 1e9,
        }
    }
}

/// The detector: one heartbeat history per endpoint.
///
/// Histories live in a vector, one slot per endpoint; the gossiper keeps each peer's slot, so
/// the per-heartbeat and per-round paths find a history without hashing the endpoint.
#[derive(Debug, Clone)]
pub struct FailureDetector {
    cfg: FailureDetectorConfig,
    derived: Derived,
    /// The threshold as a `y` (standard deviations), so that checks need no logarithm.
    threshold_y: f64,
    /// Histories by slot; a history with no heartbeat (`last` None) is no history.
    windows: Vec<ArrivalWindow>,
    slots: HashMap<Endpoint, usize, EndpointHasher>,
    /// Slots released by [`FailureDetector::release`], for reuse.
    free: Vec<usize>,
    last_check: Option<Duration>,
    last_pause: Option<Duration>,
    max_y_at_arrival: f64,
    max_sample: Duration,
}

impl FailureDetector {
    /// A detector with the given settings (validate them first).
    pub fn new(cfg: FailureDetectorConfig) -> FailureDetector {
        FailureDetector {
            threshold_y: normal_quantile_for_phi(cfg.phi_convict_threshold),
            derived: Derived::new(&cfg),
            cfg,
            windows: Vec::new(),
            slots: HashMap::default(),
            free: Vec::new(),
            last_check: None,
            last_pause: None,
            max_y_at_arrival: f64::NEG_INFINITY,
            max_sample: Duration::ZERO,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FailureDetectorConfig {
        &self.cfg
    }

    /// Records a heartbeat of `ep` produced just now (received directly, age zero).
    pub fn report(&mut self, ep: Endpoint, now: Duration) {
        self.report_heartbeat(ep, now, now);
    }

    /// Records a heartbeat of `ep` that arrived at `now` and was produced at `produced_at` on
    /// the local clock (`now` minus the age it came with). A heartbeat not fresher than the one
    /// known changes nothing.
    pub fn report_heartbeat(&mut self, ep: Endpoint, now: Duration, produced_at: Duration) {
        let slot = self.slot(ep);
        self.report_slot(slot, now, produced_at);
    }

    /// The slot of `ep`'s history, made (empty) if there is none.
    pub(crate) fn slot(&mut self, ep: Endpoint) -> usize {
        if let Some(&slot) = self.slots.get(&ep) {
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.windows.push(ArrivalWindow::new(&self.derived));
                self.windows.len() - 1
            }
        };
        self.slots.insert(ep, slot);
        slot
    }

    /// [`FailureDetector::report_heartbeat`] by slot.
    pub(crate) fn report_slot(&mut self, slot: usize, now: Duration, produced_at: Duration) {
        let Some(w) = self.windows.get_mut(slot) else {
            return;
        };
        let (y, sample) = w.add(now, produced_at.min(now), &self.cfg, &self.derived);
        self.max_y_at_arrival = self.max_y_at_arrival.max(y);
        if let Some(sample) = sample {
            self.max_sample = self.max_sample.max(sample);
        }
    }

    /// Forgets the history in `slot`, keeping the slot.
    pub(crate) fn clear_slot(&mut self, slot: usize) {
        if let Some(w) = self.windows.get_mut(slot) {
            *w = ArrivalWindow::new(&self.derived);
        }
    }

    /// Forgets `ep` and frees its slot for another endpoint.
    pub(crate) fn release(&mut self, ep: Endpoint) {
        if let Some(slot) = self.slots.remove(&ep) {
            self.clear_slot(slot);
            self.free.push(slot);
        }
    }

    /// [`FailureDetector::convicts`] by slot.
    pub(crate) fn convicts_slot(&self, slot: usize, now: Duration) -> bool {
        self.windows
            .get(slot)
            .is_some_and(|w| w.last.is_some() && w.y(now) > self.threshold_y)
    }

    /// True when the heartbeat in `slot` is older than its usual age plus the acceptable pause
    /// (phi about 0.3): late, not yet convicted.
    pub(crate) fn overdue_slot(&self, slot: usize, now: Duration) -> bool {
        self.windows
            .get(slot)
            .is_some_and(|w| w.last.is_some() && w.y(now) > 0.0)
    }

    /// Reads the history in `slot` (to bring it into the cache ahead of its use).
    pub(crate) fn touch(&self, slot: usize) -> u64 {
        self.windows.get(slot).map_or(0, |w| {
            let at = if w.samples.len() < w.samples.capacity() {
                w.samples.len().saturating_sub(1)
            } else {
                w.next
            };
            w.sum
                .wrapping_add(w.samples.get(at).map_or(0, |q| u64::from(*q)))
        })
    }

    fn window(&self, ep: Endpoint) -> Option<&ArrivalWindow> {
        self.slots
            .get(&ep)
            .and_then(|slot| self.windows.get(*slot))
            .filter(|w| w.last.is_some())
    }

    /// The highest phi any endpoint reached before a fresher heartbeat arrived (since the start
    /// or the last [`FailureDetector::reset_max_phi`]): how close live nodes came to being
    /// convicted, the figure to compare with the threshold when tuning it.
    pub fn max_phi_at_arrival(&self) -> f64 {
        if self.max_y_at_arrival == f64::NEG_INFINITY {
            return 0.0;
        }
        normal_tail_phi(self.max_y_at_arrival)
    }

    /// The longest sample recorded (the oldest any endpoint's heartbeat got before a fresher
    /// one arrived) since the start or the last [`FailureDetector::reset_max_phi`].
    pub fn max_sample(&self) -> Duration {
        self.max_sample
    }

    /// Restarts [`FailureDetector::max_phi_at_arrival`] and [`FailureDetector::max_sample`].
    pub fn reset_max_phi(&mut self) {
        self.max_y_at_arrival = f64::NEG_INFINITY;
        self.max_sample = Duration::ZERO;
    }

    /// Forgets `ep`'s history (it restarted while down, or left).
    pub fn remove(&mut self, ep: Endpoint) {
        if let Some(&slot) = self.slots.get(&ep) {
            self.clear_slot(slot);
        }
    }

    /// Phi of `ep` at `now`, if any heartbeat was recorded.
    pub fn phi(&self, ep: Endpoint, now: Duration) -> Option<f64> {
        self.window(ep).map(|w| normal_tail_phi(w.y(now)))
    }

    /// Age at `now` of the freshest known heartbeat of `ep`.
    pub fn heartbeat_age(&self, ep: Endpoint, now: Duration) -> Option<Duration> {
        self.window(ep)
            .and_then(|w| w.last)
            .map(|last| now.saturating_sub(last))
    }

    /// Mean of the recorded samples of `ep`.
    pub fn mean_interval(&self, ep: Endpoint) -> Option<Duration> {
        self.window(ep)
            .map(|w| Duration::from_nanos(w.stats(&self.derived).0 as u64))
    }

    /// Observed standard deviation of the recorded samples of `ep` (before the floor).
    pub fn std_deviation(&self, ep: Endpoint) -> Option<Duration> {
        self.window(ep)
            .map(|w| Duration::from_nanos(w.stats(&self.derived).1 as u64))
    }

    /// The heartbeat age at which `ep` would be convicted, given its samples so far.
    pub fn conviction_age(&self, ep: Endpoint) -> Option<Duration> {
        let w = self.window(ep)?;
        let (mean, sd) = w.stats(&self.derived);
        Some(self.cfg.conviction_age(
            Duration::from_nanos(mean as u64),
            Duration::from_nanos(sd as u64),
        ))
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
        self.window(ep).is_some_and(|w| w.y(now) > self.threshold_y)
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
    fn phi_is_minus_log10_of_the_normal_tail() {
        // Known values of the standard normal upper tail.
        for (y, tail) in [
            (0.0, 0.5),
            (1.0, 0.158_655_25),
            (3.0, 1.349_898e-3),
            (5.612, 1.0e-8),
            (-1.0, 0.841_344_75),
        ] {
            let phi = normal_tail_phi(y);
            let want = -f64::log10(tail);
            assert!((phi - want).abs() < 2e-3, "y={y}: {phi} vs {want}");
        }
        assert!((normal_quantile_for_phi(8.0) - 5.612).abs() < 2e-3);
    }

    #[test]
    fn first_heartbeat_records_the_initial_guess() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        fd.report(ep(), secs(10.0));
        let mean = fd.mean_interval(ep()).unwrap();
        assert!((mean.as_secs_f64() - 2.0).abs() < 1e-3, "{mean:?}");
    }

    #[test]
    fn conviction_comes_at_mean_plus_pause_plus_5_6_standard_deviations() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        // Alternating 1 s and 3 s heartbeats: mean 2 s, standard deviation 1 s (the initial
        // 2 s guess barely moves either).
        let mut t = 0.0;
        for i in 0..1001 {
            t += if i % 2 == 0 { 1.0 } else { 3.0 };
            fd.report(ep(), secs(t));
        }
        let mean = fd.mean_interval(ep()).unwrap().as_secs_f64();
        let sd = fd.std_deviation(ep()).unwrap().as_secs_f64();
        assert!(
            (mean - 2.0).abs() < 0.01 && (sd - 1.0).abs() < 0.01,
            "{mean} {sd}"
        );
        // 2 s + 3 s pause + 5.61 x 1 s = 10.61 s.
        assert!(!fd.convicts(ep(), secs(t + 10.5)));
        assert!(fd.convicts(ep(), secs(t + 10.7)));
        let age = fd.conviction_age(ep()).unwrap().as_secs_f64();
        assert!((age - 10.61).abs() < 0.02, "{age}");
    }

    #[test]
    fn a_regular_history_is_floored_at_the_minimum_standard_deviation() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        for i in 0..=1001 {
            fd.report(ep(), secs(f64::from(i)));
        }
        // Mean 1 s, deviation 0 -> floor 0.5 s: 1 + 3 + 5.61 x 0.5 = 6.81 s.
        let last = 1001.0;
        assert!(!fd.convicts(ep(), secs(last + 6.7)));
        assert!(fd.convicts(ep(), secs(last + 6.9)));
    }

    #[test]
    fn age_counts_from_when_the_heartbeat_was_produced_not_when_it_arrived() {
        let mut fd = FailureDetector::new(FailureDetectorConfig::default());
        for i in 0..=100 {
            fd.report(ep(), secs(f64::from(i)));
        }
        // Produced at 101 s, relayed, arriving at 104 s: at 106 s it is 5 s old.
        fd.report_heartbeat(ep(), secs(104.0), secs(101.0));
        assert_eq!(fd.heartbeat_age(ep(), secs(106.0)), Some(secs(5.0)));
        // The sample is the age the previous heartbeat (100 s) had reached: 4 s.
        let mean = fd.mean_interval(ep()).unwrap().as_secs_f64();
        assert!(mean > 1.02, "{mean}");
        // An older heartbeat arriving later changes nothing.
        fd.report_heartbeat(ep(), secs(105.0), secs(100.5));
        assert_eq!(fd.heartbeat_age(ep(), secs(106.0)), Some(secs(5.0)));
    }

    #[test]
    fn samples_longer_than_the_maximum_are_not_recorded() {
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
            initial_interval: secs(11.0),
            ..Default::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(Error::InvalidConfig {
                field: "initial_interval",
                ..
            })
        ));
        let cfg = FailureDetectorConfig {
            min_std_deviation: Duration::ZERO,
            ..Default::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(Error::InvalidConfig {
                field: "min_std_deviation",
                ..
            })
        ));
    }
}
