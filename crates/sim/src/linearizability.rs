//! A linearizability checker for histories of registers (Wing & Gong's search with Lowe's
//! memoization, as Porcupine does it).
//!
//! A history is the operations clients ran: each with its key, the time it was called, the
//! time it returned (`None`: it timed out, so it may have taken effect at any time after its
//! call, or never) and what it did and saw. Registers are independent (linearizability is
//! local), so each key's operations are checked on their own: the search looks for an order of
//! them that respects real time (an operation that returned before another was called comes
//! first) and in which every operation's result is what a single register would give. It
//! explores, depth first, which pending operation takes effect next, and never explores the same
//! (set of operations done, register value) twice.
//!
//! A register starts null. Reads see a value or null; writes set one; compare-and-set sets
//! `new` when the register holds `expected` (`None`: null, as `IF NOT EXISTS`) and answers
//! whether it did. A read whose outcome is unknown constrains nothing and may be left out.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// What an operation did and saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    /// A read that returned `value` (`None`: null).
    Read { value: Option<i64> },
    /// A write of `value`.
    Write { value: i64 },
    /// Set `new` if the register holds `expected`; `applied` is the answer (`None`: unknown).
    Cas {
        expected: Option<i64>,
        new: i64,
        applied: Option<bool>,
    },
}

/// One client operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub client: u64,
    pub key: i64,
    /// When the client called it, in any unit shared by the whole history.
    pub call: u64,
    /// When it returned; `None` when it timed out (its effect is unknown).
    pub ret: Option<u64>,
    #[serde(flatten)]
    pub op: Op,
}

/// Why a history is not linearizable (or could not be decided).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error(
        "key {key}: no linearization of its {operations} operations; at most {longest} of them \
         fit in one (the first that never fits: {stuck})"
    )]
    NotLinearizable {
        key: i64,
        operations: usize,
        longest: usize,
        stuck: String,
    },
    #[error("key {key}: the search gave up after {steps} steps")]
    TooLong { key: i64, steps: u64 },
}

/// The register's step: the value after `op` from `state`, or `None` when `op`'s result is not
/// what the register would answer.
fn step(state: Option<i64>, op: &Op) -> Option<Option<i64>> {
    match *op {
        Op::Read { value } => (value == state).then_some(state),
        Op::Write { value } => Some(Some(value)),
        Op::Cas {
            expected,
            new,
            applied,
        } => {
            let holds = state == expected;
            match applied {
                Some(true) => holds.then_some(Some(new)),
                Some(false) => (!holds).then_some(state),
                None => Some(if holds { Some(new) } else { state }),
            }
        }
    }
}

/// Search steps per key before giving up.
pub const MAX_STEPS: u64 = 20_000_000;

/// Checks every key of `history`.
pub fn check(history: &[Operation]) -> Result<(), Violation> {
    let mut by_key: BTreeMap<i64, Vec<Operation>> = BTreeMap::new();
    for o in history {
        // A read that timed out saw nothing anyone knows.
        if o.ret.is_none() && matches!(o.op, Op::Read { .. }) {
            continue;
        }
        by_key.entry(o.key).or_default().push(*o);
    }
    for (key, ops) in by_key {
        check_key(key, &ops)?;
    }
    Ok(())
}

struct Frame {
    /// The operation this frame linearized (none for the root).
    via: Option<usize>,
    state: Option<i64>,
    candidates: Vec<usize>,
    next: usize,
}

/// The operations not yet linearized that may go next: called no later than the earliest
/// return among those not yet linearized.
fn candidates(ops: &[Operation], done: &[bool]) -> Vec<usize> {
    let first_return = ops
        .iter()
        .zip(done)
        .filter(|(_, d)| !**d)
        .filter_map(|(o, _)| o.ret)
        .min()
        .unwrap_or(u64::MAX);
    let mut out: Vec<usize> = (0..ops.len())
        .filter(|i| !done.get(*i).copied().unwrap_or(true))
        .filter(|i| ops.get(*i).is_some_and(|o| o.call <= first_return))
        .collect();
    // Earliest returns first: the likeliest order, found sooner.
    out.sort_by_key(|i| ops.get(*i).and_then(|o| o.ret).unwrap_or(u64::MAX));
    out
}

fn bits(done: &[bool]) -> Vec<u64> {
    let mut out = vec![0u64; done.len().div_ceil(64)];
    for (i, d) in done.iter().enumerate() {
        if *d && let Some(w) = out.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    out
}

fn check_key(key: i64, ops: &[Operation]) -> Result<(), Violation> {
    let n = ops.len();
    let mut done = vec![false; n];
    let mut seen: HashSet<(Vec<u64>, Option<i64>)> = HashSet::new();
    let mut stack = vec![Frame {
        via: None,
        state: None,
        candidates: candidates(ops, &done),
        next: 0,
    }];
    let (mut depth, mut longest, mut steps) = (0usize, 0usize, 0u64);
    let mut stuck: Option<usize> = None;
    while let Some(top) = stack.last_mut() {
        if depth == n {
            return Ok(());
        }
        steps += 1;
        if steps > MAX_STEPS {
            return Err(Violation::TooLong { key, steps });
        }
        let state = top.state;
        let mut pushed = None;
        while let Some(&c) = top.candidates.get(top.next) {
            top.next += 1;
            let Some(o) = ops.get(c) else { continue };
            let Some(next) = step(state, &o.op) else {
                if depth >= longest {
                    stuck = Some(c);
                }
                continue;
            };
            if let Some(d) = done.get_mut(c) {
                *d = true;
            }
            if seen.insert((bits(&done), next)) {
                pushed = Some((c, next));
                break;
            }
            if let Some(d) = done.get_mut(c) {
                *d = false;
            }
        }
        match pushed {
            Some((c, next)) => {
                depth += 1;
                longest = longest.max(depth);
                let frame = Frame {
                    via: Some(c),
                    state: next,
                    candidates: candidates(ops, &done),
                    next: 0,
                };
                stack.push(frame);
            }
            None => {
                let Some(frame) = stack.pop() else { break };
                if let Some(v) = frame.via
                    && let Some(d) = done.get_mut(v)
                {
                    *d = false;
                    depth -= 1;
                }
            }
        }
    }
    Err(Violation::NotLinearizable {
        key,
        operations: n,
        longest,
        stuck: stuck
            .and_then(|i| ops.get(i))
            .map_or_else(|| "none".to_owned(), |o| format!("{o:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u64, call: u64, ret: Option<u64>, op: Op) -> Operation {
        Operation {
            client,
            key: 1,
            call,
            ret,
            op,
        }
    }

    fn read(v: Option<i64>) -> Op {
        Op::Read { value: v }
    }

    fn cas(expected: Option<i64>, new: i64, applied: Option<bool>) -> Op {
        Op::Cas {
            expected,
            new,
            applied,
        }
    }

    #[test]
    fn sequential_histories_follow_the_register() {
        let h = [
            op(0, 0, Some(1), read(None)),
            op(0, 2, Some(3), cas(None, 1, Some(true))),
            op(0, 4, Some(5), cas(None, 2, Some(false))),
            op(0, 6, Some(7), read(Some(1))),
            op(0, 8, Some(9), Op::Write { value: 5 }),
            op(0, 10, Some(11), read(Some(5))),
        ];
        assert_eq!(check(&h), Ok(()));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_not_linearizable() {
        let h = [
            op(0, 0, Some(1), Op::Write { value: 1 }),
            op(1, 2, Some(3), read(None)),
        ];
        assert!(matches!(
            check(&h),
            Err(Violation::NotLinearizable { key: 1, .. })
        ));
    }

    #[test]
    fn two_successful_cas_from_the_same_value_are_not_linearizable() {
        // A lost update: both clients increment 0 -> 1 and both are told they applied.
        let h = [
            op(0, 0, Some(1), Op::Write { value: 0 }),
            op(1, 2, Some(10), cas(Some(0), 1, Some(true))),
            op(2, 3, Some(11), cas(Some(0), 1, Some(true))),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn a_read_must_not_go_back_in_time() {
        // Concurrent with the CAS, one read sees it, a later one does not.
        let h = [
            op(0, 0, Some(100), cas(None, 1, Some(true))),
            op(1, 10, Some(20), read(Some(1))),
            op(2, 30, Some(40), read(None)),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn a_failed_cas_that_claims_the_value_differs_while_it_matched_is_caught() {
        let h = [
            op(0, 0, Some(1), Op::Write { value: 3 }),
            op(1, 2, Some(3), cas(Some(3), 4, Some(false))),
            op(1, 4, Some(5), read(Some(3))),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        let h = [
            op(0, 0, Some(10), cas(None, 1, Some(true))),
            op(1, 1, Some(9), read(Some(1))),
            op(2, 2, Some(8), read(None)),
        ];
        assert_eq!(check(&h), Ok(()));
    }

    #[test]
    fn a_timed_out_cas_may_take_effect_late_or_never() {
        let late = [
            op(0, 0, None, cas(None, 1, None)),
            op(1, 5, Some(6), read(None)),
            op(1, 7, Some(8), read(Some(1))),
        ];
        assert_eq!(check(&late), Ok(()));
        let never = [
            op(0, 0, None, cas(None, 1, None)),
            op(1, 5, Some(6), read(None)),
            op(1, 7, Some(8), cas(None, 2, Some(true))),
            op(1, 9, Some(10), read(Some(2))),
        ];
        assert_eq!(check(&never), Ok(()));
        // But it cannot take effect twice, nor undo a later write.
        let twice = [
            op(0, 0, None, cas(None, 1, None)),
            op(1, 5, Some(6), read(Some(1))),
            op(1, 7, Some(8), Op::Write { value: 2 }),
            op(1, 9, Some(10), read(Some(1))),
        ];
        assert!(check(&twice).is_err());
    }

    #[test]
    fn keys_are_checked_apart() {
        let mut other = op(1, 2, Some(3), read(None));
        other.key = 2;
        let h = [op(0, 0, Some(1), Op::Write { value: 1 }), other];
        assert_eq!(check(&h), Ok(()));
    }

    #[test]
    fn histories_round_trip_through_json() {
        let h = vec![
            op(0, 0, None, cas(Some(1), 2, None)),
            op(1, 2, Some(3), read(Some(7))),
        ];
        let text = serde_json::to_string(&h).unwrap();
        assert!(text.contains("\"op\":\"cas\""), "{text}");
        let back: Vec<Operation> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn many_concurrent_increments_are_checked_quickly() {
        // 8 clients, each: read the counter, then CAS it one up; run in rounds, all
        // overlapping within a round; only one CAS per round applies.
        let mut h = Vec::new();
        h.push(op(99, 0, Some(1), Op::Write { value: 0 }));
        for round in 0..30u64 {
            let value = round as i64;
            let base = 10 + round * 100;
            for c in 0..8u64 {
                h.push(op(c, base + c, Some(base + 20 + c), read(Some(value))));
                let applied = c == round % 8;
                h.push(op(
                    c,
                    base + 40 + c,
                    Some(base + 60 + c),
                    cas(Some(value), value + 1, Some(applied)),
                ));
            }
        }
        assert_eq!(check(&h), Ok(()));
    }
}
