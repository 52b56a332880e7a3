"""The Grafana dashboard in dashboards/ilion.json plots only metrics a node exposes, and a
scrape of /metrics holds every storage family of issue 28 (per table, compaction, commit log,
cache, streaming) besides the request and replication ones.
"""

import json
import os
import re
import urllib.request

from conftest import cluster_for
from test_operations import ilion

DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "dashboards", "ilion.json")

FAMILIES = [
    "ilion_cql_requests_total", "ilion_cql_request_duration_seconds", "ilion_cql_connections",
    "ilion_table_sstables", "ilion_table_live_disk_space_bytes", "ilion_table_memtable_bytes",
    "ilion_compaction_bytes_written_total", "ilion_compaction_throughput_bytes_per_second",
    "ilion_compaction_throttled_seconds_total", "ilion_commitlog_bytes_written_total",
    "ilion_flush_bytes_written_total", "ilion_cache_hits_total", "ilion_cache_misses_total",
    "ilion_cache_size_bytes", "ilion_stream_throughput_megabits_per_second",
    "ilion_hints_stored_total", "ilion_hints_pending", "ilion_table_reads_total",
    "ilion_table_writes_total", "ilion_table_read_latency_seconds",
    "ilion_table_write_latency_seconds",
]


def scrape(node):
    with urllib.request.urlopen(f"http://{node.host}:{node.admin_port}/metrics", timeout=10) as r:
        return r.read().decode()


def sample_names(text):
    return {re.split(r"[{ ]", line, maxsplit=1)[0]
            for line in text.splitlines() if line and not line.startswith("#")}


def test_every_plotted_metric_is_in_a_scrape(node):
    cluster = cluster_for(node)
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE dash WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE dash.t (k int PRIMARY KEY, v text)")
        for k in range(10):
            s.execute("INSERT INTO dash.t (k, v) VALUES (%s, 'v')", (k,))
        ilion(node, "flush", "dash", "t")
        assert s.execute("SELECT v FROM dash.t WHERE k = 1").one().v == "v"
    finally:
        cluster.shutdown()
    text = scrape(node)
    names = sample_names(text)

    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    plotted = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            plotted |= set(re.findall(r"\bilion_[a-z0-9_]+", target["expr"]))
    assert plotted
    missing = {m for m in plotted if m not in names}
    assert not missing, f"plotted but not exposed: {sorted(missing)}"

    for family in FAMILIES:
        assert f"# TYPE {family} " in text, family
    assert 'ilion_table_sstables{keyspace="dash",table="t"} 1' in text
    assert 'ilion_table_writes_total{keyspace="dash",table="t"} 10' in text
    assert 'ilion_table_reads_total{keyspace="dash",table="t"} 1' in text
    assert "ilion_compaction_throughput_bytes_per_second 67108864" in text
