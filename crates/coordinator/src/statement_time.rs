//! The time of the statement this thread runs: read once from the coordinator's injected
//! clock ([`crate::CoordinatorBuilder::clock`]) when a QUERY, EXECUTE or BATCH starts, so the
//! write timestamps, TTL starts, `now()`, `currentTimestamp()`, timeuuids and schema change
//! times of one statement agree with each other (as Cassandra takes one query time) and a test
//! or the simulator controls all of them with one clock.
//!
//! Statements run synchronously on the calling thread (the replicated path waits for its
//! replicas there), so a thread-local scoped to the statement reaches every call site without
//! threading a parameter through the evaluator. Outside a statement the system clock answers.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static NOW_MICROS: Cell<Option<i64>> = const { Cell::new(None) };
}

/// While alive, this thread's statement time is the one [`begin`] set; dropping it restores
/// the time of any statement it interrupted (a nested run keeps its own).
#[derive(Debug)]
#[must_use = "the statement time lasts as long as the guard"]
pub(crate) struct StatementTime {
    previous: Option<i64>,
}

/// Starts a statement at `micros` since the epoch.
pub(crate) fn begin(micros: i64) -> StatementTime {
    StatementTime {
        previous: NOW_MICROS.replace(Some(micros)),
    }
}

impl Drop for StatementTime {
    fn drop(&mut self) {
        NOW_MICROS.set(self.previous);
    }
}

/// The current statement's time in microseconds since the epoch.
pub(crate) fn now_micros() -> i64 {
    NOW_MICROS.get().unwrap_or_else(system_micros)
}

/// The current statement's time in seconds since the epoch.
pub(crate) fn now_seconds() -> i64 {
    now_micros().div_euclid(1_000_000)
}

fn system_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_sees_its_own_time_and_a_nested_one_restores_it() {
        let outer = begin(5_000_000);
        assert_eq!(now_micros(), 5_000_000);
        assert_eq!(now_seconds(), 5);
        {
            let _inner = begin(7_000_000);
            assert_eq!(now_micros(), 7_000_000);
        }
        assert_eq!(now_micros(), 5_000_000);
        drop(outer);
        // Outside a statement: the system clock (after 2020).
        assert!(now_micros() > 1_577_836_800_000_000);
    }
}
