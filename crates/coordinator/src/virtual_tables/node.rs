//! The `system_views` tables about the node itself: `settings` (its effective configuration,
//! from the server through [`Settings`]), `system_properties` (the process's environment that
//! shapes it), `disk_usage` (each table's files, from the store) and `local_read_latency` /
//! `local_write_latency` (each table's reads and writes on this replica; the percentiles are
//! the bounds of power-of-two buckets, `per_second` is not measured and left null).

use std::collections::BTreeMap;

use ilion_cql::protocol::Value;
use ilion_storage::Store;

/// Where the node's effective settings come from (the server's configuration, with what
/// operator commands changed since start).
pub trait Settings: Send + Sync + std::fmt::Debug {
    /// Every setting as (name, value), in any order.
    fn settings(&self) -> Vec<(String, String)>;
}

const MIB: u64 = 1 << 20;

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Rows of `name text, value text` tables.
fn pairs(mut all: Vec<(String, String)>) -> Vec<BTreeMap<&'static str, Value>> {
    all.sort();
    all.into_iter()
        .map(|(name, value)| BTreeMap::from([("name", text(&name)), ("value", text(&value))]))
        .collect()
}

pub(super) fn settings(settings: Option<&dyn Settings>) -> Vec<BTreeMap<&'static str, Value>> {
    pairs(settings.map(Settings::settings).unwrap_or_default())
}

/// What a Cassandra operator finds in `system_properties` that means something here: the
/// platform, the working directory and the environment variables the node reads.
pub(super) fn system_properties() -> Vec<BTreeMap<&'static str, Value>> {
    let mut all = vec![
        ("os.name".to_owned(), std::env::consts::OS.to_owned()),
        ("os.arch".to_owned(), std::env::consts::ARCH.to_owned()),
    ];
    if let Ok(dir) = std::env::current_dir() {
        all.push(("user.dir".to_owned(), dir.display().to_string()));
    }
    all.extend(std::env::vars().filter(|(k, _)| k == "RUST_LOG" || k.starts_with("ILION_")));
    pairs(all)
}

/// Each table's files in MiB (rounded up: a table with data shows at least 1).
pub(super) fn disk_usage(store: Option<&Store>) -> Vec<BTreeMap<&'static str, Value>> {
    let Some(store) = store else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for t in store.tables() {
        let Ok(Some(stats)) = t.engine_stats() else {
            continue;
        };
        let schema = t.schema();
        let bytes: u64 = stats.levels.iter().map(|l| l.bytes).sum();
        rows.push(BTreeMap::from([
            ("keyspace_name", text(schema.keyspace())),
            ("table_name", text(schema.name())),
            (
                "mebibytes",
                Value::Bigint(i64::try_from(bytes.div_ceil(MIB)).unwrap_or(i64::MAX)),
            ),
        ]));
    }
    rows
}

/// Each table's count, percentiles and maximum of one operation.
pub(super) fn latency(
    store: Option<&Store>,
    of: fn(&ilion_storage::TableLatencies) -> ilion_storage::LatencySummary,
) -> Vec<BTreeMap<&'static str, Value>> {
    let Some(store) = store else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for t in store.tables() {
        let s = of(t.latencies());
        let schema = t.schema();
        rows.push(BTreeMap::from([
            ("keyspace_name", text(schema.keyspace())),
            ("table_name", text(schema.name())),
            (
                "count",
                Value::Bigint(i64::try_from(s.count).unwrap_or(i64::MAX)),
            ),
            ("max_ms", Value::Double(s.max_ms)),
            ("p50th_ms", Value::Double(s.p50_ms)),
            ("p99th_ms", Value::Double(s.p99_ms)),
        ]));
    }
    rows
}
