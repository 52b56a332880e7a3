//! Gossip settings and their validation.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::failure_detector::FailureDetectorConfig;
use crate::state::Endpoint;

/// Gossip settings. Defaults are Cassandra's where it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Nodes with another cluster name are ignored.
    pub cluster_name: String,
    /// Seeds: contacted for the shadow round and, with Cassandra's probabilities, every round.
    pub seeds: Vec<Endpoint>,
    /// Time between rounds (default 1 s). The core does not read it; drivers and the simulator
    /// tick at this rate.
    pub gossip_interval: Duration,
    /// Random live nodes sent a SYN each round (default 3; Cassandra: 1). Fresh heartbeats then
    /// reach every node within a few rounds even under loss, which is what lets the detector
    /// convict within 10 s without convicting live nodes; each extra target costs one digest
    /// list (about 14 bytes per known node) per round. See docs/gossip.md.
    pub fanout: usize,
    /// Failure detector settings.
    pub failure_detector: FailureDetectorConfig,
    /// Largest message, encoded, in bytes (default 64 KiB). Digests and deltas that do not fit
    /// go in later rounds; received messages over the limit are rejected.
    pub max_message_bytes: usize,
    /// How long gossip about a removed endpoint is ignored (default 60 s, `QUARANTINE_DELAY`).
    pub quarantine_delay: Duration,
    /// How long a LEFT or removed endpoint's state is kept and spread before it is evicted
    /// (default 3 days, Cassandra's `VERY_LONG_TIME`).
    pub dead_state_retention: Duration,
    /// How long to wait for a seed to answer the shadow round (default 30 s, `RING_DELAY`).
    pub shadow_round_timeout: Duration,
}

impl Config {
    /// Defaults for a cluster name and seed list.
    pub fn new(cluster_name: impl Into<String>, seeds: Vec<Endpoint>) -> Config {
        Config {
            cluster_name: cluster_name.into(),
            seeds,
            gossip_interval: Duration::from_secs(1),
            fanout: 3,
            failure_detector: FailureDetectorConfig::default(),
            max_message_bytes: 64 * 1024,
            quarantine_delay: Duration::from_secs(60),
            dead_state_retention: Duration::from_secs(3 * 86_400),
            shadow_round_timeout: Duration::from_secs(30),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.failure_detector.validate()?;
        if self.gossip_interval.is_zero() {
            return Err(Error::InvalidConfig {
                field: "gossip_interval",
                reason: "must be positive",
            });
        }
        if self.fanout == 0 {
            return Err(Error::InvalidConfig {
                field: "fanout",
                reason: "must be at least 1",
            });
        }
        if self.max_message_bytes < 1024 {
            return Err(Error::InvalidConfig {
                field: "max_message_bytes",
                reason: "must be at least 1024",
            });
        }
        if self.cluster_name.len() > 256 {
            return Err(Error::InvalidConfig {
                field: "cluster_name",
                reason: "longer than 256 bytes",
            });
        }
        Ok(())
    }
}
