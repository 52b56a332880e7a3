"""Operating a node as nodetool does (issue 28): `ilion version`, `describecluster`, `flush`,
`compact`, `garbagecollect`, `tablestats`, `compactionstats`, the compaction and streaming
throughput caps, the logging levels, and snapshots with their restore into a fresh node, each
checked by its effect on a real node (files on disk, counts the node reports, log lines, rows).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import Node, _binary, cluster_for, configured_node


def ilion(node, *args, check=True):
    """Runs `ilion ARGS --host` against `node`; returns the finished process."""
    p = subprocess.run(
        [_binary(), *args, "--host", f"{node.host}:{node.storage_port}"],
        capture_output=True, text=True, timeout=120,
    )
    if check:
        assert p.returncode == 0, f"ilion {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def table_stats(node, name):
    """`ilion tablestats NAME --format json` for one table, as a dict."""
    ks, t = name.split(".")
    doc = json.loads(ilion(node, "tablestats", name, "--format", "json").stdout)
    return doc["keyspaces"][ks]["tables"][t]


def engine_files(node):
    """The engine files of the node's user tables on disk."""
    d = os.path.join(node.data_dir, "data")
    return sorted(f for f in os.listdir(d) if f.endswith(".sst"))


@pytest.fixture(scope="module")
def session(node):
    cluster = cluster_for(node)
    s = cluster.connect()
    s.execute("CREATE KEYSPACE ops WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    yield s
    cluster.shutdown()


def test_version_reports_the_release_clients_see(node, session):
    release = session.execute("SELECT release_version FROM system.local").one().release_version
    assert ilion(node, "version").stdout == f"ReleaseVersion: {release}\n"
    doc = json.loads(ilion(node, "version", "--format", "json").stdout)
    assert doc["releaseVersion"] == release


def test_describecluster_lists_the_schema_version_and_the_node(node, session):
    schema = session.execute("SELECT schema_version FROM system.local").one().schema_version
    out = ilion(node, "describecluster").stdout
    assert out.startswith("Cluster Information:\n\tName: ")
    assert "Partitioner: org.apache.cassandra.dht.Murmur3Partitioner" in out
    assert f"\t\t{schema}: [{node.host}]" in out
    assert "\tLive: 1\n" in out and "\tUnreachable: 0\n" in out


def test_flush_writes_files_and_compact_merges_them(node, session):
    session.execute("CREATE TABLE ops.fc (k int PRIMARY KEY, v text)")
    insert = session.prepare("INSERT INTO ops.fc (k, v) VALUES (?, ?)")
    assert table_stats(node, "ops.fc")["sstable_count"] == 0
    before = len(engine_files(node))
    for round_ in range(3):
        for k in range(round_ * 50, round_ * 50 + 50):
            session.execute(insert, (k, f"v{k}"))
        assert table_stats(node, "ops.fc")["memtable_data_size"] > 0
        ilion(node, "flush", "ops", "fc")
        stats = table_stats(node, "ops.fc")
        assert stats["sstable_count"] == round_ + 1
        assert stats["memtable_data_size"] == 0
    assert len(engine_files(node)) == before + 3
    ilion(node, "compact", "ops", "fc")
    stats = table_stats(node, "ops.fc")
    assert stats["sstable_count"] == 1
    assert stats["number_of_partitions"] == 150
    assert stats["local_write_count"] == 150
    assert len(engine_files(node)) == before + 1
    assert session.execute("SELECT count(*) FROM ops.fc").one()[0] == 150


def test_garbagecollect_purges_tombstones_past_gc_grace(node, session):
    # Cassandra's rule (Ilion's default purges a tombstone only once its range was repaired).
    session.execute("CREATE TABLE ops.gc (k int PRIMARY KEY, v text) WITH gc_grace_seconds = 0 "
                    "AND tombstone_gc = {'mode': 'timeout'}")
    for k in range(20):
        session.execute("INSERT INTO ops.gc (k, v) VALUES (%s, 'x')", (k,))
    for k in range(10):
        session.execute("DELETE FROM ops.gc WHERE k = %s", (k,))
    ilion(node, "flush", "ops", "gc")
    assert table_stats(node, "ops.gc")["number_of_tombstones"] == 10
    # A tombstone goes once its deletion time is before now - gc_grace_seconds (strictly, as
    # Cassandra's rule): with gc_grace_seconds = 0, from the next second on.
    time.sleep(1.1)
    ilion(node, "garbagecollect", "ops", "gc")
    stats = table_stats(node, "ops.gc")
    assert stats["number_of_tombstones"] == 0
    assert stats["number_of_partitions"] == 10


def test_unknown_keyspaces_and_tables_fail_with_the_reason(node, session):
    p = ilion(node, "flush", "nosuch", check=False)
    assert p.returncode == 1
    assert "Keyspace [nosuch] does not exist." in p.stderr
    p = ilion(node, "tablestats", "ops.nosuch", check=False)
    assert p.returncode == 1
    assert "Table nosuch does not exist in keyspace ops" in p.stderr


def test_compaction_throughput_caps_compaction(node, session):
    assert ilion(node, "getcompactionthroughput").stdout == \
        "Current compaction throughput: 64 MiB/s\n"
    session.execute("CREATE TABLE ops.slow (k int PRIMARY KEY, v blob)")
    insert = session.prepare("INSERT INTO ops.slow (k, v) VALUES (?, ?)")
    for f in range(2):
        for k in range(f * 100, f * 100 + 100):
            session.execute(insert, (k, os.urandom(10_000)))
        ilion(node, "flush", "ops", "slow")
    before = json.loads(ilion(node, "compactionstats", "--format", "json").stdout)
    # 2 MB of output at 1 MiB/s: the compaction must wait on the cap.
    ilion(node, "setcompactionthroughput", "1")
    assert ilion(node, "getcompactionthroughput").stdout == \
        "Current compaction throughput: 1 MiB/s\n"
    ilion(node, "compact", "ops", "slow")
    after = json.loads(ilion(node, "compactionstats", "--format", "json").stdout)
    assert after["compaction_throughput_bytes_per_second"] == 1 << 20
    assert after["data_compacted_bytes"] - before["data_compacted_bytes"] >= 2_000_000
    assert after["throttled_ms"] > before["throttled_ms"]
    ilion(node, "setcompactionthroughput", "0")
    assert "unthrottled" in ilion(node, "compactionstats").stdout
    ilion(node, "setcompactionthroughput", "64")


def test_stream_throughput_is_read_and_set(node):
    assert ilion(node, "getstreamthroughput").stdout == "Current stream throughput: 200 Mb/s\n"
    ilion(node, "setstreamthroughput", "0")
    assert ilion(node, "getstreamthroughput").stdout == "Current stream throughput: unlimited\n"
    ilion(node, "setstreamthroughput", "50")
    assert ilion(node, "getstreamthroughput").stdout == "Current stream throughput: 50 Mb/s\n"
    p = ilion(node, "setstreamthroughput", "99999999999", check=False)
    assert p.returncode == 1 and "too large" in p.stderr
    ilion(node, "setstreamthroughput", "200")


def read_log(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def test_setlogginglevel_changes_what_is_logged(node, session):
    out = ilion(node, "getlogginglevels").stdout
    assert "Logger Name" in out and "ROOT" in out and "INFO" in out
    session.execute("CREATE TABLE ops.logged (k int PRIMARY KEY)")
    ilion(node, "flush", "ops", "logged")
    assert "table=ops.logged" not in read_log(node)

    ilion(node, "setlogginglevel", "ilion_server::cluster", "DEBUG")
    levels = json.loads(ilion(node, "getlogginglevels", "--format", "json").stdout)
    assert levels == {"ROOT": "INFO", "ilion_server::cluster": "DEBUG"}
    ilion(node, "flush", "ops", "logged")
    assert "table=ops.logged" in read_log(node)

    # Back to the start-up levels: the debug line is not written again.
    ilion(node, "setlogginglevel")
    levels = json.loads(ilion(node, "getlogginglevels", "--format", "json").stdout)
    assert levels == {"ROOT": "INFO"}
    lines = read_log(node).count("table=ops.logged")
    ilion(node, "flush", "ops", "logged")
    assert read_log(node).count("table=ops.logged") == lines

    p = ilion(node, "setlogginglevel", "ilion_server", "LOUD", check=False)
    assert p.returncode == 1 and "unknown log level LOUD" in p.stderr


def snapshot_names(node):
    doc = json.loads(ilion(node, "listsnapshots", "--format", "json").stdout)
    return {(s["snapshot_name"], s["keyspace_name"], s["table_name"]) for s in doc}


def test_a_snapshot_restores_every_row_into_a_fresh_node(node, session):
    session.execute("CREATE TABLE ops.snap (k int, c int, v text, PRIMARY KEY (k, c))")
    insert = session.prepare("INSERT INTO ops.snap (k, c, v) VALUES (?, ?, ?)")
    rows = {(k, c, f"v{k}-{c}") for k in range(40) for c in range(5)}
    for i, r in enumerate(sorted(rows)):
        session.execute(insert, r)
        if i == 100:
            ilion(node, "flush", "ops", "snap")  # part in a file, part in the memtable

    out = ilion(node, "snapshot", "-t", "before", "--table", "snap", "ops").stdout
    assert "with snapshot name [before]" in out
    d = os.path.join(node.data_dir, "snapshots", "before", "ops", "snap")
    files = [f for f in os.listdir(d) if f.endswith(".sst")]
    assert files
    with open(os.path.join(d, "schema.cql")) as f:
        schema = f.read()
    assert schema.startswith("CREATE TABLE IF NOT EXISTS ops.snap (")
    with open(os.path.join(d, "manifest.json")) as f:
        assert sorted(json.load(f)["files"]) == sorted(files)
    assert ("before", "ops", "snap") in snapshot_names(node)
    p = ilion(node, "snapshot", "-t", "before", "ops", check=False)
    assert p.returncode == 1 and "Snapshot before already exists." in p.stderr

    # Rows written after the snapshot are not in it.
    session.execute(insert, (1000, 0, "later"))

    tmp = tempfile.mkdtemp(prefix="ilion-restore-")
    fresh = Node(_binary(), os.path.join(tmp, "data")).start()
    try:
        copy = os.path.join(tmp, "restore")
        shutil.copytree(d, copy)
        cluster = cluster_for(fresh)
        try:
            s2 = cluster.connect()
            s2.execute("CREATE KEYSPACE ops WITH replication = "
                       "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            s2.execute(schema)
            out = ilion(fresh, "import", "ops", "snap", copy).stdout
            assert out.startswith(f"imported {len(files)} files")
            got = {(r.k, r.c, r.v) for r in s2.execute("SELECT k, c, v FROM ops.snap")}
            assert got == rows
        finally:
            cluster.shutdown()
    finally:
        fresh.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    out = ilion(node, "clearsnapshot", "-t", "before").stdout
    assert "with snapshot name [before]" in out
    assert not os.path.exists(os.path.join(node.data_dir, "snapshots", "before"))
    assert ("before", "ops", "snap") not in snapshot_names(node)
    p = ilion(node, "clearsnapshot", check=False)
    assert p.returncode == 1 and "Specify snapshot name or --all" in p.stderr


def test_truncate_and_drop_snapshot_the_table_first(node, session):
    session.execute("CREATE TABLE ops.auto (k int PRIMARY KEY, v text)")
    for k in range(10):
        session.execute("INSERT INTO ops.auto (k, v) VALUES (%s, 'x')", (k,))
    session.execute("TRUNCATE ops.auto")
    assert session.execute("SELECT count(*) FROM ops.auto").one()[0] == 0
    tags = {t for t, ks, table in snapshot_names(node) if (ks, table) == ("ops", "auto")}
    truncated = [t for t in tags if t.startswith("truncated-") and t.endswith("-auto")]
    assert len(truncated) == 1
    session.execute("INSERT INTO ops.auto (k, v) VALUES (99, 'y')")
    session.execute("DROP TABLE ops.auto")
    tags = {t for t, ks, table in snapshot_names(node) if (ks, table) == ("ops", "auto")}
    dropped = [t for t in tags if t.startswith("dropped-") and t.endswith("-auto")]
    assert len(dropped) == 1
    # The truncated snapshot holds the ten rows, the dropped one the row written after.
    stats = {}
    for t in (truncated[0], dropped[0]):
        d = os.path.join(node.data_dir, "snapshots", t, "ops", "auto")
        stats[t] = [f for f in os.listdir(d) if f.endswith(".sst")]
    assert all(stats.values())
    ilion(node, "clearsnapshot", "--all")
    assert snapshot_names(node) == set()


def test_auto_snapshot_false_takes_none():
    with configured_node("auto_snapshot: false\n") as n:
        cluster = cluster_for(n)
        try:
            s = cluster.connect()
            s.execute("CREATE KEYSPACE a WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            s.execute("CREATE TABLE a.t (k int PRIMARY KEY)")
            s.execute("INSERT INTO a.t (k) VALUES (1)")
            s.execute("TRUNCATE a.t")
            s.execute("DROP TABLE a.t")
            assert "There are no snapshots" in ilion(n, "listsnapshots").stdout
        finally:
            cluster.shutdown()


def test_incremental_backups_are_refused_at_start_up():
    with pytest.raises(RuntimeError) as e:
        with configured_node("incremental_backups: true\n"):
            pass
    assert "invalid setting `incremental_backups`" in str(e.value)
