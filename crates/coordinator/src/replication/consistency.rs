//! Consistency levels: how many answers a request needs, whether enough replicas are alive to
//! try, and when the answers received satisfy the level (Cassandra's `ConsistencyLevel`).

use std::collections::BTreeMap;

use ilion_cql::protocol::Consistency;
use ilion_ring::ReplicationStrategy;

use crate::{Error, Result};

fn quorum(rf: usize) -> usize {
    rf / 2 + 1
}

/// The level's requirements for one keyspace, seen from the coordinator's datacenter.
#[derive(Debug, Clone)]
pub(crate) struct Requirement {
    pub(crate) consistency: Consistency,
    /// Answers needed in all (for EACH_QUORUM the sum over datacenters).
    pub(crate) block_for: usize,
    /// Only answers from this datacenter count (LOCAL_ONE, LOCAL_QUORUM).
    pub(crate) local_dc: Option<String>,
    /// EACH_QUORUM on NetworkTopologyStrategy: answers needed per datacenter.
    pub(crate) per_dc: BTreeMap<String, usize>,
}

impl Requirement {
    pub(crate) fn new(
        consistency: Consistency,
        strategy: &ReplicationStrategy,
        local_dc: &str,
    ) -> Result<Requirement> {
        let total = strategy.total_replication_factor();
        let local_rf = match strategy {
            ReplicationStrategy::NetworkTopology(n) => n.replication_factor(local_dc),
            _ => total,
        };
        let mut per_dc = BTreeMap::new();
        let mut local = None;
        let block_for = match consistency {
            Consistency::Any | Consistency::One => 1,
            Consistency::Two => 2,
            Consistency::Three => 3,
            Consistency::Quorum => quorum(total),
            Consistency::All => total,
            Consistency::LocalOne => {
                local = Some(local_dc.to_owned());
                1
            }
            Consistency::LocalQuorum => {
                local = Some(local_dc.to_owned());
                quorum(local_rf)
            }
            Consistency::EachQuorum => match strategy {
                ReplicationStrategy::NetworkTopology(n) => {
                    for (dc, rf) in n.datacenters() {
                        if *rf > 0 {
                            per_dc.insert(dc.clone(), quorum(*rf));
                        }
                    }
                    per_dc.values().sum()
                }
                _ => quorum(total),
            },
            Consistency::Serial | Consistency::LocalSerial => {
                return Err(Error::invalid(format!(
                    "{consistency:?} is only for conditional updates (lightweight transactions) \
                     and reads of one partition"
                )));
            }
        };
        Ok(Requirement {
            consistency,
            block_for,
            local_dc: local,
            per_dc,
        })
    }

    fn unavailable(&self, required: usize, alive: usize) -> Error {
        Error::Unavailable {
            consistency: self.consistency,
            required: i32::try_from(required).unwrap_or(i32::MAX),
            alive: i32::try_from(alive).unwrap_or(i32::MAX),
        }
    }

    /// Unavailable unless enough of `replicas` (their datacenters and liveness) are alive.
    /// ANY writes never are: a hint on the coordinator is enough.
    pub(crate) fn check_alive<'a>(
        &self,
        replicas: impl Iterator<Item = (&'a str, bool)> + Clone,
    ) -> Result<()> {
        if self.consistency == Consistency::Any {
            return Ok(());
        }
        for (dc, need) in &self.per_dc {
            let alive = replicas.clone().filter(|(d, a)| *a && d == dc).count();
            if alive < *need {
                return Err(self.unavailable(*need, alive));
            }
        }
        let alive = replicas
            .filter(|(d, a)| *a && self.local_dc.as_deref().is_none_or(|l| l == *d))
            .count();
        if alive < self.block_for {
            return Err(self.unavailable(self.block_for, alive));
        }
        Ok(())
    }

    /// Whether an answer from a replica in `dc` counts towards the level.
    pub(crate) fn counts(&self, dc: &str) -> bool {
        if !self.per_dc.is_empty() {
            return self.per_dc.contains_key(dc);
        }
        self.local_dc.as_deref().is_none_or(|l| l == dc)
    }

    pub(crate) fn tracker(&self) -> Tracker {
        Tracker {
            received: 0,
            per_dc: BTreeMap::new(),
        }
    }

    pub(crate) fn met(&self, t: &Tracker) -> bool {
        if !self.per_dc.is_empty() {
            return self
                .per_dc
                .iter()
                .all(|(dc, need)| t.per_dc.get(dc).copied().unwrap_or(0) >= *need);
        }
        t.received >= self.block_for
    }
}

/// Answers received so far that count towards a [`Requirement`].
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    pub(crate) received: usize,
    per_dc: BTreeMap<String, usize>,
}

impl Tracker {
    pub(crate) fn add(&mut self, req: &Requirement, dc: &str) {
        if req.counts(dc) {
            self.received += 1;
            *self.per_dc.entry(dc.to_owned()).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilion_ring::{NetworkTopologyStrategy, SimpleStrategy};

    fn nts() -> ReplicationStrategy {
        ReplicationStrategy::NetworkTopology(NetworkTopologyStrategy::new(
            [("dc1".to_owned(), 3), ("dc2".to_owned(), 3)].into(),
        ))
    }

    #[test]
    fn block_for_follows_cassandra() {
        let simple = ReplicationStrategy::Simple(SimpleStrategy::new(3));
        let b = |c, s: &ReplicationStrategy| Requirement::new(c, s, "dc1").unwrap().block_for;
        assert_eq!(b(Consistency::Quorum, &simple), 2);
        assert_eq!(b(Consistency::All, &simple), 3);
        assert_eq!(b(Consistency::LocalQuorum, &simple), 2);
        assert_eq!(b(Consistency::Quorum, &nts()), 4);
        assert_eq!(b(Consistency::LocalQuorum, &nts()), 2);
        assert_eq!(b(Consistency::EachQuorum, &nts()), 4);
        assert_eq!(b(Consistency::All, &nts()), 6);
        assert!(Requirement::new(Consistency::Serial, &simple, "dc1").is_err());
    }

    #[test]
    fn each_quorum_is_unavailable_when_one_dc_lacks_a_quorum() {
        let r = Requirement::new(Consistency::EachQuorum, &nts(), "dc1").unwrap();
        let replicas = [
            ("dc1", true),
            ("dc1", true),
            ("dc1", true),
            ("dc2", true),
            ("dc2", false),
            ("dc2", false),
        ];
        assert_eq!(
            r.check_alive(replicas.iter().copied()),
            Err(Error::Unavailable {
                consistency: Consistency::EachQuorum,
                required: 2,
                alive: 1
            })
        );
    }
}
