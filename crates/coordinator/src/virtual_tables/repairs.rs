//! `system_views.repairs` (an Ilion table): what this replica recorded of the repairs of each
//! table — every token range `(range_start, range_end]` with the start time of the last repair
//! that covered it (`ilion repair` or continuous repair). Ranges never repaired are absent.
//! Under `tombstone_gc = {'mode': 'repair'}` this is what tombstones are purged by.

use std::collections::BTreeMap;

use ilion_cql::protocol::Value;
use ilion_storage::Store;

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(super) fn repairs(store: Option<&Store>) -> Vec<BTreeMap<&'static str, Value>> {
    let Some(store) = store else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for t in store.tables() {
        let Ok(history) = t.repair_history() else {
            continue;
        };
        let schema = t.schema();
        for (start, end, at) in history.ranges() {
            rows.push(BTreeMap::from([
                ("keyspace_name", text(schema.keyspace())),
                ("table_name", text(schema.name())),
                ("range_start", Value::Bigint(start.unwrap_or(i64::MIN))),
                ("range_end", Value::Bigint(end.unwrap_or(i64::MAX))),
                ("repaired_at", Value::Timestamp(at.saturating_mul(1000))),
            ]));
        }
    }
    rows
}
