//! The storage families of `/metrics`, read from the engine on each scrape: per table (files,
//! live bytes, memtable bytes), compaction (bytes written, the cap, time throttled), commit
//! log and flush bytes, the block cache, and the streaming cap.

use std::fmt::Write as _;
use std::sync::Arc;

/// What the storage families are read from.
#[derive(Debug)]
pub(crate) struct StorageSources {
    pub store: Arc<ilion_storage::Store>,
    pub compaction: Arc<ilion_lsm::Throttle>,
    pub stream: Arc<crate::cluster::streaming::Throttle>,
}

/// Writes one family: its help and type lines, then each `(labels, value)` sample.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}.\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn one(value: impl ToString) -> Vec<(String, String)> {
    vec![(String::new(), value.to_string())]
}

/// Escapes a label value (Prometheus text format: backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl StorageSources {
    pub(crate) fn render(&self, out: &mut String) {
        let mut sstables = Vec::new();
        let mut live = Vec::new();
        let mut memtable = Vec::new();
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        let mut read_latency = Vec::new();
        let mut write_latency = Vec::new();
        for t in self.store.tables() {
            let Ok(Some(stats)) = t.engine_stats() else {
                continue;
            };
            let schema = t.schema();
            let labels = format!(
                "{{keyspace=\"{}\",table=\"{}\"}}",
                label(schema.keyspace()),
                label(schema.name())
            );
            let files: usize = stats.levels.iter().map(|l| l.files).sum();
            let bytes: u64 = stats.levels.iter().map(|l| l.bytes).sum();
            sstables.push((labels.clone(), files.to_string()));
            live.push((labels.clone(), bytes.to_string()));
            memtable.push((labels.clone(), stats.memtable_bytes.to_string()));
            let (r, w) = (
                t.latencies().reads.snapshot(),
                t.latencies().writes.snapshot(),
            );
            reads.push((labels.clone(), r.count.to_string()));
            writes.push((labels.clone(), w.count.to_string()));
            let inner = labels.trim_end_matches('}');
            for (q, v) in [("0.5", r.p50_ms), ("0.99", r.p99_ms)] {
                read_latency.push((
                    format!("{inner},quantile=\"{q}\"}}"),
                    (v / 1000.0).to_string(),
                ));
            }
            for (q, v) in [("0.5", w.p50_ms), ("0.99", w.p99_ms)] {
                write_latency.push((
                    format!("{inner},quantile=\"{q}\"}}"),
                    (v / 1000.0).to_string(),
                ));
            }
        }
        family(
            out,
            "ilion_table_reads_total",
            "counter",
            "Reads of a table on this replica",
            &reads,
        );
        family(
            out,
            "ilion_table_writes_total",
            "counter",
            "Writes to a table on this replica",
            &writes,
        );
        family(
            out,
            "ilion_table_read_latency_seconds",
            "gauge",
            "Latency of a table's reads on this replica at a quantile (bucket bound)",
            &read_latency,
        );
        family(
            out,
            "ilion_table_write_latency_seconds",
            "gauge",
            "Latency of a table's writes on this replica at a quantile (bucket bound)",
            &write_latency,
        );
        family(
            out,
            "ilion_table_sstables",
            "gauge",
            "Engine files of a table",
            &sstables,
        );
        family(
            out,
            "ilion_table_live_disk_space_bytes",
            "gauge",
            "Bytes of a table's engine files",
            &live,
        );
        family(
            out,
            "ilion_table_memtable_bytes",
            "gauge",
            "Bytes of a table's data in memory, not yet flushed",
            &memtable,
        );
        let c = &self.compaction;
        family(
            out,
            "ilion_compaction_bytes_written_total",
            "counter",
            "Bytes compactions wrote since the node started",
            &one(c.bytes()),
        );
        family(
            out,
            "ilion_compaction_throughput_bytes_per_second",
            "gauge",
            "The cap on compaction writes (0 = unthrottled)",
            &one(c.rate()),
        );
        family(
            out,
            "ilion_compaction_throttled_seconds_total",
            "counter",
            "Time compactions waited on the throughput cap",
            &one(c.throttled().as_secs_f64()),
        );
        family(
            out,
            "ilion_stream_throughput_megabits_per_second",
            "gauge",
            "The cap on outbound streaming (0 = unthrottled)",
            &one(self.stream.rate_megabits()),
        );
        if let Some(e) = self.store.engine_stats() {
            family(
                out,
                "ilion_commitlog_bytes_written_total",
                "counter",
                "Bytes appended to the commit log since the node started",
                &one(e.log_bytes_written),
            );
            family(
                out,
                "ilion_flush_bytes_written_total",
                "counter",
                "Bytes of engine files written by flushes since the node started",
                &one(e.flush_bytes_written),
            );
            family(
                out,
                "ilion_cache_hits_total",
                "counter",
                "Block cache lookups that found the block",
                &one(e.cache.hits),
            );
            family(
                out,
                "ilion_cache_misses_total",
                "counter",
                "Block cache lookups that read the block from its file",
                &one(e.cache.misses),
            );
            family(
                out,
                "ilion_cache_size_bytes",
                "gauge",
                "Bytes held by the block cache",
                &one(e.cache.bytes),
            );
        }
    }
}
