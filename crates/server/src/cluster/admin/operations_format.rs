//! The text (as nodetool prints it) and JSON of the `Operations` answers: `tablestats`,
//! `compactionstats`, `listsnapshots` and `getlogginglevels`. Pure functions.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::format::human_size;
use crate::cluster::proto::{CompactionStatsResponse, ListSnapshotsResponse, TableStatsResponse};

/// `nodetool tablestats`'s text for what Ilion measures: per keyspace, each table's files,
/// sizes and counts, with nodetool's labels.
pub(super) fn table_stats(r: &TableStatsResponse) -> String {
    let mut out = format!("Total number of tables: {}\n", r.tables.len());
    let _ = writeln!(out, "----------------");
    let mut by_keyspace: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for t in &r.tables {
        by_keyspace.entry(t.keyspace.as_str()).or_default().push(t);
    }
    for (keyspace, tables) in by_keyspace {
        let _ = writeln!(out, "Keyspace : {keyspace}");
        for t in tables {
            let levels: Vec<String> = t
                .sstables_in_each_level
                .iter()
                .map(u64::to_string)
                .collect();
            let _ = writeln!(out, "\t\tTable: {}", t.table);
            let _ = writeln!(out, "\t\tSSTable count: {}", t.sstable_count);
            let _ = writeln!(out, "\t\tSSTables in each level: [{}]", levels.join(", "));
            let _ = writeln!(out, "\t\tSpace used (live): {}", t.space_used_live);
            let _ = writeln!(out, "\t\tSpace used (total): {}", t.space_used_live);
            let _ = writeln!(out, "\t\tMemtable data size: {}", t.memtable_data_size);
            let _ = writeln!(out, "\t\tNumber of partitions: {}", t.partitions);
            let _ = writeln!(out, "\t\tNumber of rows: {}", t.rows);
            let _ = writeln!(out, "\t\tNumber of tombstones: {}", t.tombstones);
            let _ = writeln!(out, "\t\tLocal read count: {}", t.local_read_count);
            let _ = writeln!(out, "\t\tLocal write count: {}", t.local_write_count);
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "----------------");
    }
    out
}

/// `tablestats --format json`: keyspaces, each with `tables` by name, in nodetool's keys.
pub(super) fn table_stats_json(r: &TableStatsResponse) -> serde_json::Value {
    let mut keyspaces: HashMap<&str, serde_json::Map<String, serde_json::Value>> = HashMap::new();
    for t in &r.tables {
        keyspaces.entry(t.keyspace.as_str()).or_default().insert(
            t.table.clone(),
            serde_json::json!({
                "sstable_count": t.sstable_count,
                "sstables_in_each_level": t.sstables_in_each_level,
                "space_used_live": t.space_used_live,
                "space_used_total": t.space_used_live,
                "memtable_data_size": t.memtable_data_size,
                "number_of_partitions": t.partitions,
                "number_of_rows": t.rows,
                "number_of_tombstones": t.tombstones,
                "local_read_count": t.local_read_count,
                "local_write_count": t.local_write_count,
            }),
        );
    }
    serde_json::json!({
        "total_number_of_tables": r.tables.len(),
        "keyspaces": keyspaces
            .into_iter()
            .map(|(k, tables)| (k.to_owned(), serde_json::json!({"tables": tables})))
            .collect::<serde_json::Map<_, _>>(),
    })
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// `nodetool compactionstats`'s summary lines for what Ilion measures.
pub(super) fn compaction_stats(c: &CompactionStatsResponse) -> String {
    let rows = [
        ("data compacted", human_size(c.bytes_compacted as f64)),
        (
            "compaction throughput (MiB/s)",
            if c.throughput_bytes_per_sec == 0 {
                "unthrottled".to_owned()
            } else {
                format!("{:.1}", mib(c.throughput_bytes_per_sec))
            },
        ),
        ("time throttled (ms)", c.throttled_ms.to_string()),
    ];
    rows.iter().map(|(k, v)| format!("{k:<36}{v}\n")).collect()
}

pub(super) fn compaction_stats_json(c: &CompactionStatsResponse) -> serde_json::Value {
    serde_json::json!({
        "data_compacted_bytes": c.bytes_compacted,
        "compaction_throughput_bytes_per_second": c.throughput_bytes_per_sec,
        "throttled_ms": c.throttled_ms,
    })
}

/// `nodetool listsnapshots`'s table, or its sentence when there is none.
pub(super) fn snapshots(r: &ListSnapshotsResponse) -> String {
    if r.snapshots.is_empty() {
        return "Snapshot Details: \nThere are no snapshots\n".to_owned();
    }
    let header = [
        "Snapshot name",
        "Keyspace name",
        "Column family name",
        "True size",
        "Size on disk",
        "Creation time",
    ]
    .map(str::to_owned);
    let mut rows = vec![header];
    for s in &r.snapshots {
        rows.push([
            s.tag.clone(),
            s.keyspace.clone(),
            s.table.clone(),
            human_size(s.true_size as f64),
            human_size(s.size_on_disk as f64),
            s.created_at.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = "Snapshot Details: \n".to_owned();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join(" ").trim_end());
    }
    let true_total: u64 = r.snapshots.iter().map(|s| s.true_size).sum();
    let _ = writeln!(
        out,
        "\nTotal TrueDiskSpaceUsed: {}\n",
        human_size(true_total as f64)
    );
    out
}

pub(super) fn snapshots_json(r: &ListSnapshotsResponse) -> serde_json::Value {
    serde_json::Value::Array(
        r.snapshots
            .iter()
            .map(|s| {
                serde_json::json!({
                    "snapshot_name": s.tag,
                    "keyspace_name": s.keyspace,
                    "table_name": s.table,
                    "true_size": s.true_size,
                    "size_on_disk": s.size_on_disk,
                    "creation_time": s.created_at,
                })
            })
            .collect(),
    )
}

/// `nodetool getlogginglevels`'s two columns.
pub(super) fn logging_levels(levels: &HashMap<String, String>) -> String {
    let mut sorted: Vec<(&String, &String)> = levels.iter().collect();
    // ROOT first, as logback lists it, then the loggers by name.
    sorted.sort_by_key(|(logger, _)| (logger.as_str() != crate::logging::ROOT, *logger));
    let mut out = format!("\n{:<50}{:>10}\n", "Logger Name", "Log Level");
    for (logger, level) in sorted {
        let _ = writeln!(out, "{logger:<50}{level:>10}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::proto::{SnapshotEntry, TableStats};

    #[test]
    fn tablestats_prints_nodetool_labels_per_keyspace() {
        let r = TableStatsResponse {
            tables: vec![TableStats {
                keyspace: "ks".into(),
                table: "t".into(),
                sstable_count: 2,
                sstables_in_each_level: vec![1, 1],
                space_used_live: 100,
                memtable_data_size: 5,
                partitions: 3,
                rows: 4,
                tombstones: 1,
                local_read_count: 7,
                local_write_count: 8,
            }],
        };
        let text = table_stats(&r);
        assert!(text.starts_with("Total number of tables: 1\n"), "{text}");
        assert!(text.contains("Keyspace : ks\n\t\tTable: t\n\t\tSSTable count: 2\n"));
        assert!(text.contains("SSTables in each level: [1, 1]"));
        let json = table_stats_json(&r);
        assert_eq!(json["keyspaces"]["ks"]["tables"]["t"]["sstable_count"], 2);
    }

    #[test]
    fn listsnapshots_says_when_there_is_none_and_totals_the_true_size() {
        assert!(snapshots(&ListSnapshotsResponse::default()).contains("There are no snapshots"));
        let r = ListSnapshotsResponse {
            snapshots: vec![SnapshotEntry {
                tag: "before".into(),
                keyspace: "ks".into(),
                table: "t".into(),
                size_on_disk: 2048,
                true_size: 1024,
                created_at: "2026-01-01T00:00:00.000Z".into(),
            }],
        };
        let text = snapshots(&r);
        assert!(
            text.contains("Snapshot name Keyspace name Column family name"),
            "{text}"
        );
        assert!(text.contains("before"));
        assert!(text.contains("Total TrueDiskSpaceUsed: 1.00 KiB"), "{text}");
    }

    #[test]
    fn logging_levels_list_root_first() {
        let levels = HashMap::from([
            ("ilion_server".to_owned(), "DEBUG".to_owned()),
            ("ROOT".to_owned(), "INFO".to_owned()),
        ]);
        let text = logging_levels(&levels);
        let root = text.find("ROOT").unwrap();
        let server = text.find("ilion_server").unwrap();
        assert!(root < server, "{text}");
    }
}
