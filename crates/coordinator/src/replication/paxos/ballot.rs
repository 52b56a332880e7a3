//! Paxos ballots and the hybrid logical clock that makes them.
//!
//! A ballot is `(micros, node)`: a timestamp in microseconds and the proposing node's id, ordered
//! by timestamp then node, so two nodes never make the same ballot. On the wire it is 16 bytes,
//! `micros` (big-endian i64) then `node` (big-endian u64); an empty field means "no ballot".
//! The timestamp comes from a hybrid logical clock: the node's clock, but never less than one
//! past any ballot the node has made or seen, so a proposer that lost to a higher ballot makes a
//! higher one next even when its own clock lags. A chosen proposal's cells carry its ballot's
//! micros as their write timestamp, so later chosen proposals win reconciliation.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ilion_storage::Clock;

use super::super::messages::MessageError;

/// A Paxos ballot; `Ballot::default()` is below every ballot a node makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ballot {
    pub(crate) micros: i64,
    pub(crate) node: u64,
}

impl Ballot {
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.micros.to_be_bytes());
        out.extend_from_slice(&self.node.to_be_bytes());
        out
    }

    /// The ballot in `bytes`; `None` for an empty field.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Option<Ballot>, MessageError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let (Some(m), Some(n)) = (bytes.get(..8), bytes.get(8..16)) else {
            return Err(MessageError::Malformed(format!(
                "a ballot of {} bytes (16 expected)",
                bytes.len()
            )));
        };
        if bytes.len() != 16 {
            return Err(MessageError::Malformed(format!(
                "a ballot of {} bytes (16 expected)",
                bytes.len()
            )));
        }
        let mut micros = [0u8; 8];
        micros.copy_from_slice(m);
        let mut node = [0u8; 8];
        node.copy_from_slice(n);
        Ok(Some(Ballot {
            micros: i64::from_be_bytes(micros),
            node: u64::from_be_bytes(node),
        }))
    }
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:x}", self.micros, self.node)
    }
}

/// The node id ballots carry: the node's address (unique in a cluster).
pub(crate) fn node_id(address: IpAddr) -> u64 {
    match address {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            (bits as u64) ^ ((bits >> 64) as u64)
        }
    }
}

/// This node's hybrid logical clock for ballots.
#[derive(Debug)]
pub(crate) struct BallotClock {
    clock: Arc<dyn Clock>,
    /// The highest micros made or seen.
    last: AtomicI64,
}

impl BallotClock {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> BallotClock {
        BallotClock {
            clock,
            last: AtomicI64::new(0),
        }
    }

    /// A fresh ballot of `node`, above every ballot this clock made or saw.
    pub(crate) fn next(&self, node: u64) -> Ballot {
        let now = self.clock.now_micros();
        let mut prev = self.last.load(Ordering::SeqCst);
        loop {
            let next = now.max(prev.saturating_add(1));
            match self
                .last
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ballot { micros: next, node },
                Err(p) => prev = p,
            }
        }
    }

    /// Moves the clock past `seen` (a ballot another node made).
    pub(crate) fn observe(&self, seen: Ballot) {
        self.last.fetch_max(seen.micros, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_round_trip_and_order_by_time_then_node() {
        let a = Ballot { micros: 5, node: 9 };
        let b = Ballot { micros: 6, node: 1 };
        assert!(a < b);
        assert_eq!(Ballot::from_bytes(&a.to_bytes()).ok().flatten(), Some(a));
        assert!(matches!(Ballot::from_bytes(&[]), Ok(None)));
        assert!(Ballot::from_bytes(&[1, 2, 3]).is_err());
        assert!(Ballot::from_bytes(&[0; 17]).is_err());
    }

    #[test]
    fn the_clock_moves_past_every_ballot_it_saw() {
        let clock = BallotClock::new(Arc::new(ilion_storage::ManualClock::new(100)));
        let first = clock.next(1);
        let seen = Ballot {
            micros: first.micros + 1_000_000,
            node: 2,
        };
        clock.observe(seen);
        let next = clock.next(1);
        assert!(next > seen);
        assert!(clock.next(1) > next);
    }
}
