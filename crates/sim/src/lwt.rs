//! The lightweight-transaction scenario ([`Sim::run_lwt`]): clients run compare-and-set
//! (`INSERT ... IF NOT EXISTS`, `UPDATE ... IF v = x`) and SERIAL reads on a few registers
//! (rows of `sim.kv`) through random nodes, while the network loses, delays and cuts messages
//! and nodes crash and restart; at the end every node is back, the late messages arrive, and a
//! final SERIAL read of each register closes the history. The history must be linearizable
//! ([`crate::linearizability`]).
//!
//! Operations run one at a time, so concurrency comes from what the faults leave behind: an
//! operation whose outcome the client does not know (a timeout) stays open for ever in the
//! history, and its messages may still arrive (late, or through a later proposer that completes
//! its accepted proposal) while other operations run. Unavailable answers changed nothing and
//! are left out, as are reads that failed.

use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};

use crate::linearizability::{Op, Operation, check};
use crate::{Sim, SimError};
use ilion_coordinator::{Error, Session};
use rand::Rng;

/// What a lightweight-transaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LwtReport {
    /// Every operation with a known or unknown outcome, in call order.
    pub history: Vec<Operation>,
    pub applied: usize,
    pub not_applied: usize,
    pub unknown: usize,
    pub reads: usize,
    pub trace: Vec<String>,
}

impl Sim {
    fn serial_read(&self, node: usize, key: i32) -> Result<Option<i64>, String> {
        self.read_value(node, key, Consistency::Serial)
    }

    /// One compare-and-set through `node`: `Ok(Some(applied))`, `Ok(None)` when the outcome
    /// is unknown, `Err` when nothing was tried (unavailable, node down).
    fn cas(
        &self,
        node: usize,
        key: i32,
        expected: Option<i64>,
        new: i64,
        commit: Consistency,
    ) -> Result<Option<bool>, String> {
        let Some(c) = self.node(node) else {
            return Err(format!("n{node} is down"));
        };
        let text = match expected {
            None => format!("INSERT INTO sim.kv (k, v) VALUES ({key}, {new}) IF NOT EXISTS"),
            Some(e) => format!("UPDATE sim.kv SET v = {new} WHERE k = {key} IF v = {e}"),
        };
        match c.query(&Session::default(), &text, &QueryParameters::new(commit)) {
            Ok(ResultBody::Rows(rows)) => match rows.value(0, 0) {
                Ok(Some(ilion_cql::protocol::Value::Boolean(b))) => Ok(Some(b)),
                other => Err(format!("[applied] is {other:?}")),
            },
            Ok(other) => Err(format!("a conditional write answered {other:?}")),
            Err(Error::Unavailable { .. }) => Err("unavailable".into()),
            // A timeout or a failure: the transaction may or may not have been chosen.
            Err(_) => Ok(None),
        }
    }

    /// Runs the scenario: `self.config.operations` client operations and faults on
    /// `self.config.keys` registers, then the check.
    pub fn run_lwt(mut self) -> Result<LwtReport, SimError> {
        let n = self.config.nodes;
        let mut report = LwtReport::default();
        let mut next_value: i64 = 1;
        // What each register was last seen to hold (a client's guess for its next CAS).
        let mut seen: std::collections::BTreeMap<i32, Option<i64>> = Default::default();
        let mut time: u64 = 0;
        // Faults take what the client operations leave (15%), each at its configured rate.
        let (crash, partition) = (self.config.crash.min(0.03), self.config.partition.min(0.03));
        for _ in 0..self.config.operations {
            let r: f64 = self.rng.random();
            let node = self.rng.random_range(0..n);
            let key = self.rng.random_range(0..self.config.keys);
            time += 2;
            if r < 0.4 {
                match self.serial_read(node, key) {
                    Ok(v) => {
                        report.reads += 1;
                        seen.insert(key, v);
                        report.history.push(Operation {
                            client: node as u64,
                            key: i64::from(key),
                            call: time,
                            ret: Some(time + 1),
                            op: Op::Read { value: v },
                        });
                        report.trace.push(format!("read n{node} k{key} -> {v:?}"));
                    }
                    Err(e) => report.trace.push(format!("read n{node} k{key} -> {e}")),
                }
            } else if r < 0.85 {
                // Mostly the value last seen (so some CAS apply), sometimes a stale guess.
                let expected = if self.rng.random_bool(0.8) {
                    seen.get(&key).copied().flatten()
                } else if self.rng.random_bool(0.5) {
                    None
                } else {
                    Some(self.rng.random_range(1..next_value.max(2)))
                };
                let new = next_value;
                next_value += 1;
                let commit = if self.rng.random_bool(0.8) {
                    Consistency::Quorum
                } else {
                    Consistency::One
                };
                let outcome = self.cas(node, key, expected, new, commit);
                report.trace.push(format!(
                    "cas n{node} k{key} {expected:?}->{new} {commit:?} -> {outcome:?}"
                ));
                let applied = match outcome {
                    Ok(a) => a,
                    Err(_) => continue,
                };
                match applied {
                    Some(true) => {
                        report.applied += 1;
                        seen.insert(key, Some(new));
                    }
                    Some(false) => report.not_applied += 1,
                    None => report.unknown += 1,
                }
                report.history.push(Operation {
                    client: node as u64,
                    key: i64::from(key),
                    call: time,
                    ret: applied.map(|_| time + 1),
                    op: Op::Cas {
                        expected,
                        new,
                        applied,
                    },
                });
            } else if r < 0.85 + crash {
                if self.parked.iter().all(Option::is_none) {
                    self.crash(node);
                }
            } else if r < 0.88 + crash {
                self.restart(node);
            } else if r < 0.88 + crash + partition {
                let other = self.rng.random_range(0..n);
                self.cut(node, other);
            } else if r < 0.9 + crash + partition {
                self.heal();
            } else if r < 0.93 + crash + partition {
                self.gossip();
            } else {
                self.deliver_late(false);
            }
        }
        // Everything heals; late messages arrive; a final SERIAL read of every register.
        for i in 0..n {
            self.restart(i);
        }
        self.heal();
        self.gossip();
        self.deliver_late(true);
        {
            let mut s = self.net.state.lock();
            s.drop = 0.0;
            s.delay = 0.0;
            s.drop_answer = 0.0;
        }
        for key in 0..self.config.keys {
            time += 2;
            let v = self
                .serial_read(0, key)
                .map_err(|e| self.violation(format!("the final SERIAL read of k{key}: {e}")))?;
            report.history.push(Operation {
                client: u64::MAX,
                key: i64::from(key),
                call: time,
                ret: Some(time + 1),
                op: Op::Read { value: v },
            });
            report.trace.push(format!("final read k{key} -> {v:?}"));
        }
        report.trace.append(&mut self.report.trace);
        if let Err(v) = check(&report.history) {
            if std::env::var_os("ILION_SIM_TRACE").is_some() {
                for line in &report.trace {
                    eprintln!("{line}");
                }
            }
            return Err(SimError::Violation {
                seed: self.config.seed,
                what: v.to_string(),
            });
        }
        Ok(report)
    }
}
