//! Cells, tombstones and the reconciliation rule.
//!
//! Every entry the store keeps (a cell, a collection element, a row marker, a tombstone of any
//! scope) has one [`Record`] as its value. Reconciling two records of the same entry picks the
//! greater under one total order, so the result is a maximum: commutative, associative and
//! idempotent, hence independent of arrival order, of flush boundaries and of how compactions
//! group files.
//!
//! The order (DESIGN.md §2, with Cassandra 4's refinement from CASSANDRA-14592 that makes it
//! independent of the time a merge happens):
//! 1. higher write timestamp wins;
//! 2. at equal timestamps a tombstone beats an expiring cell, which beats a plain live cell
//!    (an expiring cell is treated as the tombstone it will become, whether or not it has
//!    expired yet; an expired cell rewritten by compaction keeps the expiring rank);
//! 3. then the later local deletion / expiry time wins;
//! 4. then the greater value bytewise; then the longer TTL (only to make the order total).
//!
//! Counter cells are not picked but merged (Cassandra's counter context): a counter holds one
//! [`CounterShard`] per node that led increments of it, `(counter id, clock, value)`, and its
//! value is the sum of its shards. Merging two counter cells keeps, per counter id, the shard
//! with the higher clock (then the greater value), and the higher timestamp. A tombstone beats
//! a counter cell whatever their timestamps (CASSANDRA-7346: a deleted counter stays deleted).
//! Both are joins of a semilattice, so the merge stays commutative, associative and
//! idempotent on the records a counter column can hold (counters and tombstones). A counter
//! column never holds plain cells (storage refuses them), so the mixed case only needs to be
//! deterministic.
//!
//! Byte layout of a record (big-endian):
//! ```text
//! kind u8 (0 live, 1 expiring, 2 expired, 3 tombstone, 4 counter) | timestamp i64
//! expiring, expired: ttl u32 | local expiry i64 (seconds)
//! tombstone:         local deletion time i64 (seconds)
//! live, expiring:    value bytes (the rest)
//! counter:           (counter id [16] | clock i64 | value i64)*, ids strictly increasing
//! ```

use std::cmp::Ordering;

/// TTLs above 20 years are refused, like Cassandra's `MAX_TTL`.
pub const MAX_TTL_SECONDS: u32 = 20 * 365 * 24 * 60 * 60;

/// A time-to-live and the local time (seconds since the epoch) at which the cell expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ttl {
    pub seconds: u32,
    pub local_expiry: i64,
}

impl Ttl {
    /// Explicitly no TTL (zero seconds, like CQL's `USING TTL 0`): a write carrying it is
    /// stored without expiry even in a table with a `default_time_to_live`, where `None`
    /// would take the default.
    pub const NONE: Ttl = Ttl {
        seconds: 0,
        local_expiry: i64::MAX,
    };

    /// A TTL of `seconds` starting at `now` (seconds since the epoch).
    pub fn new(seconds: u32, now: i64) -> Ttl {
        Ttl {
            seconds,
            local_expiry: now.saturating_add(i64::from(seconds)),
        }
    }
}

/// A deletion: the write timestamp (micros) it shadows up to and the local time (seconds) it
/// was made, from which `gc_grace_seconds` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deletion {
    pub timestamp: i64,
    pub local_deletion_time: i64,
}

impl Deletion {
    pub fn new(timestamp: i64, local_deletion_time: i64) -> Deletion {
        Deletion {
            timestamp,
            local_deletion_time,
        }
    }
    /// Cassandra's DeletionTime order: timestamp, then local deletion time.
    pub(crate) fn supersedes(&self, other: &Deletion) -> bool {
        (self.timestamp, self.local_deletion_time) > (other.timestamp, other.local_deletion_time)
    }
    /// The greater of two optional deletions.
    pub(crate) fn max(a: Option<Deletion>, b: Option<Deletion>) -> Option<Deletion> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if y.supersedes(&x) { y } else { x }),
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// One node's part of a counter: the sum of the increments that node led, and a clock that
/// grows with each of them. Values are absolute (not deltas), so applying a shard twice, or an
/// older one after a newer, changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterShard {
    /// The leading node's counter id (its host id).
    pub id: [u8; 16],
    pub clock: i64,
    pub value: i64,
}

/// Merges two shard lists (each sorted by id, ids unique): per id the higher
/// `(clock, value)` wins. The result is sorted by id.
pub(crate) fn merge_shards(a: &[CounterShard], b: &[CounterShard]) -> Vec<CounterShard> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => match x.id.cmp(&y.id) {
                Ordering::Less => {
                    out.push(*x);
                    i += 1;
                }
                Ordering::Greater => {
                    out.push(*y);
                    j += 1;
                }
                Ordering::Equal => {
                    out.push(if (y.clock, y.value) > (x.clock, x.value) {
                        *y
                    } else {
                        *x
                    });
                    i += 1;
                    j += 1;
                }
            },
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (None, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => return out,
        }
    }
}

/// The value of a counter: the sum of its shards (wrapping, as Cassandra's long arithmetic).
pub fn counter_total(shards: &[CounterShard]) -> i64 {
    shards.iter().fold(0i64, |sum, s| sum.wrapping_add(s.value))
}

/// Sorts shards by id, keeping the winner of each id (as a merge would).
pub fn normalize_shards(mut shards: Vec<CounterShard>) -> Vec<CounterShard> {
    shards.sort_by(|a, b| {
        a.id.cmp(&b.id)
            .then((b.clock, b.value).cmp(&(a.clock, a.value)))
    });
    shards.dedup_by(|later, first| later.id == first.id);
    shards
}

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum State {
    Live {
        value: Vec<u8>,
    },
    Expiring {
        value: Vec<u8>,
        ttl: Ttl,
    },
    /// An expiring cell past its expiry, rewritten by compaction without its value. Dead.
    Expired {
        ttl: Ttl,
    },
    Tombstone {
        local_deletion_time: i64,
    },
    /// A counter cell: its shards, sorted by counter id, ids unique.
    Counter {
        shards: Vec<CounterShard>,
    },
}

/// The value of every storage entry: a timestamped [`State`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub timestamp: i64,
    pub state: State,
}

impl Record {
    pub fn live(timestamp: i64, value: Vec<u8>) -> Record {
        Record {
            timestamp,
            state: State::Live { value },
        }
    }
    pub fn expiring(timestamp: i64, value: Vec<u8>, ttl: Ttl) -> Record {
        Record {
            timestamp,
            state: State::Expiring { value, ttl },
        }
    }
    /// A counter cell (the shards are sorted and deduplicated here).
    pub fn counter(timestamp: i64, shards: Vec<CounterShard>) -> Record {
        Record {
            timestamp,
            state: State::Counter {
                shards: normalize_shards(shards),
            },
        }
    }
    pub fn tombstone(deletion: Deletion) -> Record {
        Record {
            timestamp: deletion.timestamp,
            state: State::Tombstone {
                local_deletion_time: deletion.local_deletion_time,
            },
        }
    }

    fn rank(&self) -> u8 {
        match self.state {
            State::Live { .. } | State::Counter { .. } => 0,
            State::Expiring { .. } | State::Expired { .. } => 1,
            State::Tombstone { .. } => 2,
        }
    }
    fn local_time(&self) -> i64 {
        match &self.state {
            State::Live { .. } | State::Counter { .. } => i64::MIN,
            State::Expiring { ttl, .. } | State::Expired { ttl } => ttl.local_expiry,
            State::Tombstone {
                local_deletion_time,
            } => *local_deletion_time,
        }
    }
    /// The stored value bytes; empty for dead states and for counters (whose value is the
    /// sum of their shards: [`Record::into_value`]).
    pub fn value(&self) -> &[u8] {
        match &self.state {
            State::Live { value } | State::Expiring { value, .. } => value,
            _ => &[],
        }
    }
    /// The value bytes, moved out; empty for dead states; a counter's total as a bigint.
    pub fn into_value(self) -> Vec<u8> {
        match self.state {
            State::Live { value } | State::Expiring { value, .. } => value,
            State::Counter { shards } => counter_total(&shards).to_be_bytes().to_vec(),
            _ => Vec::new(),
        }
    }
    pub fn ttl(&self) -> Option<Ttl> {
        match &self.state {
            State::Expiring { ttl, .. } | State::Expired { ttl } => Some(*ttl),
            _ => None,
        }
    }

    /// The reconciliation order of non-counter records (see the module doc). `Greater` wins.
    pub fn reconcile_cmp(&self, other: &Record) -> Ordering {
        self.timestamp
            .cmp(&other.timestamp)
            .then_with(|| self.rank().cmp(&other.rank()))
            .then_with(|| self.local_time().cmp(&other.local_time()))
            .then_with(|| self.value().cmp(other.value()))
            .then_with(|| {
                self.ttl()
                    .map(|t| t.seconds)
                    .cmp(&other.ttl().map(|t| t.seconds))
            })
            .then_with(|| {
                // Expiring vs Expired with equal everything else: both are dead by then; keep the
                // rewritten form so the order stays total.
                matches!(self.state, State::Expired { .. })
                    .cmp(&matches!(other.state, State::Expired { .. }))
            })
            .then_with(|| match (&self.state, &other.state) {
                // Only reached for a counter against a plain cell or another counter with
                // everything above equal: any fixed order will do.
                (State::Counter { shards: a }, State::Counter { shards: b }) => a.cmp(b),
                (State::Counter { .. }, _) => Ordering::Greater,
                (_, State::Counter { .. }) => Ordering::Less,
                _ => Ordering::Equal,
            })
    }

    /// The reconciliation of two versions of the same entry: the greater under
    /// [`Record::reconcile_cmp`], except that two counters merge their shards and a tombstone
    /// beats a counter.
    pub fn reconcile(self, other: Record) -> Record {
        match (&self.state, &other.state) {
            (State::Counter { shards: a }, State::Counter { shards: b }) => Record {
                timestamp: self.timestamp.max(other.timestamp),
                state: State::Counter {
                    shards: merge_shards(a, b),
                },
            },
            _ => {
                if other.beats(&self) {
                    other
                } else {
                    self
                }
            }
        }
    }

    /// Whether `self` wins over `other` when the two are not merged (not two counters).
    pub(crate) fn beats(&self, other: &Record) -> bool {
        match (&self.state, &other.state) {
            (State::Tombstone { .. }, State::Counter { .. }) => true,
            (State::Counter { .. }, State::Tombstone { .. }) => false,
            _ => self.reconcile_cmp(other) == Ordering::Greater,
        }
    }

    /// Whether this is a counter cell.
    pub(crate) fn is_counter(&self) -> bool {
        matches!(self.state, State::Counter { .. })
    }

    /// The counter shards, for a counter cell.
    pub fn shards(&self) -> Option<&[CounterShard]> {
        match &self.state {
            State::Counter { shards } => Some(shards),
            _ => None,
        }
    }

    /// True when the entry holds a value visible at `now` (seconds).
    pub fn is_live(&self, now: i64) -> bool {
        match &self.state {
            State::Live { .. } | State::Counter { .. } => true,
            State::Expiring { ttl, .. } => now < ttl.local_expiry,
            State::Expired { .. } | State::Tombstone { .. } => false,
        }
    }

    /// The deletion this record stands for when it is dead at `now`: a tombstone, or an expired
    /// cell acting as a tombstone with its own timestamp, deleted at its write time
    /// (expiry - ttl), which is when gc grace starts counting (Cassandra's rule).
    pub fn as_deletion(&self, now: i64) -> Option<Deletion> {
        match &self.state {
            State::Tombstone {
                local_deletion_time,
            } => Some(Deletion::new(self.timestamp, *local_deletion_time)),
            State::Expiring { ttl, .. } | State::Expired { ttl } if !self.is_live(now) => Some(
                Deletion::new(self.timestamp, ttl.local_expiry - i64::from(ttl.seconds)),
            ),
            _ => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(29 + self.value().len());
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let kind = match self.state {
            State::Live { .. } => 0u8,
            State::Expiring { .. } => 1,
            State::Expired { .. } => 2,
            State::Tombstone { .. } => 3,
            State::Counter { .. } => 4,
        };
        out.push(kind);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        match &self.state {
            State::Live { value } => out.extend_from_slice(value),
            State::Expiring { value, ttl } => {
                out.extend_from_slice(&ttl.seconds.to_be_bytes());
                out.extend_from_slice(&ttl.local_expiry.to_be_bytes());
                out.extend_from_slice(value);
            }
            State::Expired { ttl } => {
                out.extend_from_slice(&ttl.seconds.to_be_bytes());
                out.extend_from_slice(&ttl.local_expiry.to_be_bytes());
            }
            State::Tombstone {
                local_deletion_time,
            } => out.extend_from_slice(&local_deletion_time.to_be_bytes()),
            State::Counter { shards } => {
                for sh in shards {
                    out.extend_from_slice(&sh.id);
                    out.extend_from_slice(&sh.clock.to_be_bytes());
                    out.extend_from_slice(&sh.value.to_be_bytes());
                }
            }
        }
    }

    /// Decodes a record; `None` when the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (&kind, rest) = bytes.split_first()?;
        let (ts, rest) = rest.split_first_chunk::<8>()?;
        let timestamp = i64::from_be_bytes(*ts);
        let ttl = |rest: &[u8]| -> Option<(Ttl, usize)> {
            let (s, r) = rest.split_first_chunk::<4>()?;
            let (e, _) = r.split_first_chunk::<8>()?;
            Some((
                Ttl {
                    seconds: u32::from_be_bytes(*s),
                    local_expiry: i64::from_be_bytes(*e),
                },
                12,
            ))
        };
        let state = match kind {
            0 => State::Live {
                value: rest.to_vec(),
            },
            1 => {
                let (ttl, used) = ttl(rest)?;
                State::Expiring {
                    value: rest.get(used..)?.to_vec(),
                    ttl,
                }
            }
            2 => {
                let (ttl, used) = ttl(rest)?;
                if rest.len() != used {
                    return None;
                }
                State::Expired { ttl }
            }
            3 => {
                let ldt: [u8; 8] = rest.try_into().ok()?;
                State::Tombstone {
                    local_deletion_time: i64::from_be_bytes(ldt),
                }
            }
            4 => {
                let mut shards: Vec<CounterShard> = Vec::with_capacity(rest.len() / 32);
                let mut r = rest;
                while !r.is_empty() {
                    let (id, t) = r.split_first_chunk::<16>()?;
                    let (clock, t) = t.split_first_chunk::<8>()?;
                    let (value, t) = t.split_first_chunk::<8>()?;
                    if shards.last().is_some_and(|l| l.id >= *id) {
                        return None;
                    }
                    shards.push(CounterShard {
                        id: *id,
                        clock: i64::from_be_bytes(*clock),
                        value: i64::from_be_bytes(*value),
                    });
                    r = t;
                }
                State::Counter { shards }
            }
            _ => return None,
        };
        Some(Record { timestamp, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_record() -> impl Strategy<Value = Record> {
        let value = proptest::collection::vec(0u8..3, 0..3);
        let ttl = (1u32..5, 0i64..6).prop_map(|(seconds, local_expiry)| Ttl {
            seconds,
            local_expiry,
        });
        let state = prop_oneof![
            value.clone().prop_map(|value| State::Live { value }),
            (value, ttl.clone()).prop_map(|(value, ttl)| State::Expiring { value, ttl }),
            ttl.prop_map(|ttl| State::Expired { ttl }),
            (0i64..6).prop_map(|local_deletion_time| State::Tombstone {
                local_deletion_time
            }),
        ];
        (0i64..3, state).prop_map(|(timestamp, state)| Record { timestamp, state })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
        #[test]
        fn reconciliation_is_commutative_associative_and_round_trips(a in any_record(), b in any_record(), c in any_record()) {
            prop_assert_eq!(a.clone().reconcile(b.clone()), b.clone().reconcile(a.clone()));
            prop_assert_eq!(
                a.clone().reconcile(b.clone()).reconcile(c.clone()),
                a.clone().reconcile(b.clone().reconcile(c.clone()))
            );
            prop_assert_eq!(Record::decode(&a.encode()), Some(a.clone()));
            // A total order: equal only when identical.
            prop_assert_eq!(a.reconcile_cmp(&b) == Ordering::Equal, a == b);
        }
    }

    /// What a counter column can hold: counter cells (over three counter ids, small clocks)
    /// and tombstones.
    fn any_counter_record() -> impl Strategy<Value = Record> {
        let shard = (0u8..3, 0i64..4, -3i64..4).prop_map(|(id, clock, value)| CounterShard {
            id: [id; 16],
            clock,
            value,
        });
        prop_oneof![
            3 => (0i64..4, proptest::collection::vec(shard, 0..4))
                .prop_map(|(ts, shards)| Record::counter(ts, shards)),
            1 => (0i64..4, 0i64..3).prop_map(|(ts, ldt)| Record::tombstone(Deletion::new(ts, ldt))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        /// The counter merge is a join: commutative, associative, idempotent, and it survives
        /// encoding, so replicas converge whatever order and how often shards arrive.
        #[test]
        fn counter_merge_is_commutative_associative_and_idempotent(
            a in any_counter_record(), b in any_counter_record(), c in any_counter_record()
        ) {
            prop_assert_eq!(a.clone().reconcile(b.clone()), b.clone().reconcile(a.clone()));
            prop_assert_eq!(
                a.clone().reconcile(b.clone()).reconcile(c.clone()),
                a.clone().reconcile(b.clone().reconcile(c.clone()))
            );
            prop_assert_eq!(a.clone().reconcile(a.clone()), a.clone());
            let ab = a.clone().reconcile(b.clone());
            prop_assert_eq!(ab.clone().reconcile(b.clone()), ab);
            prop_assert_eq!(Record::decode(&a.encode()), Some(a.clone()));
        }
    }

    #[test]
    fn a_counter_is_the_sum_of_the_newest_shard_of_each_node() {
        let sh = |id: u8, clock, value| CounterShard {
            id: [id; 16],
            clock,
            value,
        };
        let a = Record::counter(5, vec![sh(1, 1, 10), sh(2, 4, 3)]);
        let b = Record::counter(7, vec![sh(1, 2, 12), sh(2, 3, 100)]);
        let m = a.reconcile(b);
        assert_eq!(m.timestamp, 7);
        assert_eq!(m.shards(), Some(&[sh(1, 2, 12), sh(2, 4, 3)][..]));
        assert_eq!(m.into_value(), 15i64.to_be_bytes().to_vec());
    }

    #[test]
    fn a_tombstone_beats_a_newer_counter() {
        let tomb = Record::tombstone(Deletion::new(1, 0));
        let c = Record::counter(9, vec![]);
        assert_eq!(c.clone().reconcile(tomb.clone()), tomb);
        assert_eq!(tomb.clone().reconcile(c), tomb);
    }

    #[test]
    fn counter_records_with_unsorted_or_torn_shards_do_not_decode() {
        let mut bytes = Record::counter(1, vec![]).encode();
        bytes.extend_from_slice(&[2; 16]);
        bytes.extend_from_slice(&[0; 16]);
        assert!(Record::decode(&bytes).is_some());
        let mut unsorted = bytes.clone();
        unsorted.extend_from_slice(&[1; 16]);
        unsorted.extend_from_slice(&[0; 16]);
        assert_eq!(Record::decode(&unsorted), None);
        bytes.pop();
        assert_eq!(Record::decode(&bytes), None);
    }

    #[test]
    fn higher_timestamp_wins_whatever_the_kind() {
        let old_tomb = Record::tombstone(Deletion::new(5, 100));
        let new_live = Record::live(6, b"a".to_vec());
        assert_eq!(old_tomb.clone().reconcile(new_live.clone()), new_live);
    }

    #[test]
    fn at_equal_timestamps_tombstone_beats_live_and_greater_value_wins() {
        let tomb = Record::tombstone(Deletion::new(5, 0));
        let live = Record::live(5, b"zzz".to_vec());
        assert_eq!(live.clone().reconcile(tomb.clone()), tomb);
        let a = Record::live(5, b"a".to_vec());
        assert_eq!(a.reconcile(live.clone()), live);
    }

    #[test]
    fn an_expired_cell_acts_as_a_tombstone_dated_at_its_write() {
        let r = Record::expiring(7, b"v".to_vec(), Ttl::new(10, 1000));
        assert!(r.is_live(1009));
        assert!(!r.is_live(1010));
        assert_eq!(r.as_deletion(1010), Some(Deletion::new(7, 1000)));
        assert_eq!(r.as_deletion(1009), None);
    }

    #[test]
    fn malformed_records_do_not_decode() {
        assert_eq!(Record::decode(&[]), None);
        assert_eq!(Record::decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(Record::decode(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 1]), None);
    }
}
