"""`system_views.settings`, `system_properties` and `disk_usage` (issue 28) on a real node:
cqlsh reads each, DESCRIBE shows them, and they follow the node (a setting changed by `ilion`,
a table's files after a flush).
"""

import os
import subprocess
import sys

from conftest import cluster_for, configured_node
from test_operations import ilion


def cqlsh(node, statement):
    binary = os.path.join(os.path.dirname(sys.executable), "cqlsh")
    out = subprocess.run([binary, node.host, str(node.port), "-e", statement],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cqlsh_reads_and_describes_the_node_views():
    with configured_node("cluster_name: views\ncompaction_throughput: 32MiB/s\n") as node:
        out = cqlsh(node, "SELECT name, value FROM system_views.settings")
        assert "cluster_name" in out and "views" in out, out
        assert "32MiB/s" in out, out
        assert "os.name" in cqlsh(node, "SELECT * FROM system_views.system_properties")
        described = cqlsh(node, "DESCRIBE TABLE system_views.disk_usage")
        assert "mebibytes bigint" in described, described
        tables = cqlsh(node, "DESCRIBE TABLES")
        for name in ("settings", "system_properties", "disk_usage", "clients"):
            assert name in tables, tables

        cluster = cluster_for(node)
        try:
            s = cluster.connect()
            s.execute("CREATE KEYSPACE v WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            s.execute("CREATE TABLE v.t (k int PRIMARY KEY, b blob)")
            usage = lambda: {(r.keyspace_name, r.table_name): r.mebibytes
                             for r in s.execute("SELECT * FROM system_views.disk_usage")}
            assert usage()[("v", "t")] == 0
            insert = s.prepare("INSERT INTO v.t (k, b) VALUES (?, ?)")
            for k in range(150):
                s.execute(insert, (k, os.urandom(10_000)))
            ilion(node, "flush", "v", "t")
            assert usage()[("v", "t")] >= 2

            ilion(node, "setcompactionthroughput", "8")
            value = s.execute("SELECT value FROM system_views.settings "
                              "WHERE name = 'compaction_throughput'").one().value
            assert value == "8MiB/s"
            names = {r.name for r in s.execute("SELECT name FROM system_views.settings")}
            assert not any("password" in n for n in names)

            def latency(view):
                return s.execute(f"SELECT * FROM system_views.{view} "
                                 "WHERE keyspace_name = 'v' AND table_name = 't'").one()
            assert latency("local_write_latency").count == 150
            assert latency("local_read_latency").count == 0
            for k in range(5):
                s.execute("SELECT b FROM v.t WHERE k = %s", (k,))
            r = latency("local_read_latency")
            assert r.count == 5
            assert 0 < r.p50th_ms <= r.p99th_ms and r.max_ms > 0
            assert r.per_second is None
            assert "p99th_ms double" in cqlsh(node, "DESCRIBE TABLE system_views.local_read_latency")
        finally:
            cluster.shutdown()
