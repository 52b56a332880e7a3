"""Repair makes replicas agree and deletes never come back (issue #24), with real processes on
127.0.0.1-3.

Three nodes, hinted handoff off (so only repair can fix a replica that missed writes):

- keyspace `rep` at RF 3: rows written everywhere; node 3 stopped while rows are overwritten,
  deleted and added at QUORUM; then nodes 1 and 2 stopped while node 3 alone takes writes and
  deletes at ONE (data only node 3 has, so repair must stream both ways);
- keyspace `grow` written at RF 1, then altered to RF 3 (each row on one node only).

`ilion repair` on node 1 then repairs both, and `ilion compact` on every node purges the
tombstones (the table purges them once repaired: `tombstone_gc = {'mode': 'repair'}`).
Afterwards every node alone (the other two stopped) returns exactly the expected rows at ONE:
no deleted row came back; and a second repair finds every range in sync. A repair with a node down, and one of an unknown keyspace, fail with Cassandra's
messages and a non-zero exit.
"""

import re
import subprocess
import time

import pytest
from cassandra.protocol import ConfigurationException

from test_bootstrap import cluster_nodes, session_on, status
from test_cluster import ADDRESSES, wait_until

YAML = "ring_delay_ms: 5000\nhinted_handoff_enabled: false\n"


def repair(node, *args, timeout=300):
    return subprocess.run(
        [node.binary, "repair", *args, "--host", f"{node.address}:{node.storage_port}"],
        capture_output=True, text=True, timeout=timeout)


def tombstones(node, name):
    """Flushes `name` on `node`, purges what its rule allows (`garbagecollect`) and answers how
    many tombstones it still stores."""
    import json

    ks, t = name.split(".")
    for args in (["flush", ks, t], ["garbagecollect", ks, t], ["tablestats", name, "--format", "json"]):
        out = subprocess.run([node.binary, *args, "--host", f"{node.address}:{node.storage_port}"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["keyspaces"][ks]["tables"][t]["number_of_tombstones"]


def figure(out, name):
    """A number from `repair finished: ...` (e.g. figure(out, "mismatching leaves"))."""
    m = re.search(r"(\d+) " + name, out)
    assert m, f"no '{name}' in: {out}"
    return int(m.group(1))


def rows_alone(node, clusters, keyspace):
    """Every row of `keyspace.t` read through `node` alone at ONE, as {k: v}."""
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    c, s = session_on(node)
    clusters.append(c)
    q = SimpleStatement(f"SELECT k, v FROM {keyspace}.t", consistency_level=ConsistencyLevel.ONE,
                        fetch_size=200)
    return {r.k: r.v for r in s.execute(q)}


def alone(nodes, i):
    """Stops every node but node `i` and waits until node `i` sees them down (after it has
    seen them up: a node that never heard from a peer since it started has nothing to
    convict it on)."""
    wait_until(f"{ADDRESSES[i]} to see the others up",
               lambda: all(status(nodes[i]).get(ADDRESSES[j]) == "UN"
                           for j in range(len(nodes)) if j != i), 60)
    for j, n in enumerate(nodes):
        if j != i:
            n.stop()
    wait_until(f"{ADDRESSES[i]} to see the others down",
               lambda: all(status(nodes[i]).get(ADDRESSES[j]) == "DN"
                           for j in range(len(nodes)) if j != i), 60)


def all_up(nodes):
    for n in nodes:
        if n.proc is None or n.proc.poll() is not None:
            n.start()
    wait_until("every node up and normal",
               lambda: all(status(nodes[0]).get(a) == "UN" for a in ADDRESSES), 60)


def test_repair_makes_every_replica_hold_every_write_overwrite_and_delete():
    from cassandra import ConsistencyLevel

    with cluster_nodes("ilion-repair-", 3, YAML) as (nodes, clusters):
        n1, n2, n3 = nodes
        all_up(nodes)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE rep WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        # Repair-aware purging without delay: a major compaction after the repair may drop
        # every tombstone, and must not bring a deleted row back.
        s1.execute("CREATE TABLE rep.t (k int PRIMARY KEY, v text) WITH gc_grace_seconds = 0 "
                   "AND tombstone_gc = {'mode': 'repair', 'propagation_delay_in_seconds': '0'}")
        s1.execute("CREATE KEYSPACE grow WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s1.execute("CREATE TABLE grow.t (k int PRIMARY KEY, v text)")
        put = s1.prepare("INSERT INTO rep.t (k, v) VALUES (?, ?)")
        delete = s1.prepare("DELETE FROM rep.t WHERE k = ?")
        put.consistency_level = ConsistencyLevel.ALL
        for k in range(300):
            s1.execute(put, (k, "a"))
        grow = s1.prepare("INSERT INTO grow.t (k, v) VALUES (?, ?)")
        for k in range(300):
            s1.execute(grow, (k, f"g{k}"))

        # Node 3 misses overwrites, deletes and new rows written at QUORUM.
        n3.stop()
        wait_until("node 1 to see node 3 down", lambda: status(n1).get(ADDRESSES[2]) == "DN", 60)
        put.consistency_level = ConsistencyLevel.QUORUM
        delete.consistency_level = ConsistencyLevel.QUORUM
        for k in range(100):
            s1.execute(put, (k, "b"))
        for k in range(100, 150):
            s1.execute(delete, (k,))
        for k in range(300, 400):
            s1.execute(put, (k, "c"))

        # A repair with a replica down repairs nothing and says why.
        out = repair(n1, "rep")
        assert out.returncode != 0, out.stdout
        assert "Cannot proceed on repair because a neighbor (/127.0.0.3:" in out.stderr, out.stderr
        assert "is dead: session failed" in out.stderr, out.stderr

        # Node 3 alone takes writes and deletes the others miss.
        n3.start()
        alone(nodes, 2)
        c3, s3 = session_on(n3)
        clusters.append(c3)
        put3 = s3.prepare("INSERT INTO rep.t (k, v) VALUES (?, ?)")
        delete3 = s3.prepare("DELETE FROM rep.t WHERE k = ?")
        put3.consistency_level = delete3.consistency_level = ConsistencyLevel.ONE
        for k in range(400, 450):
            s3.execute(put3, (k, "d"))
        for k in range(150, 160):
            s3.execute(delete3, (k,))
        c3.shutdown()
        all_up(nodes)

        # RF 1 -> 3: the new replicas get their rows from the repair. (Node 1 restarted: a
        # new session.)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("ALTER KEYSPACE grow WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")

        out = repair(n1)
        assert out.returncode == 0, out.stderr + out.stdout
        print(out.stdout)
        assert "repair finished" in out.stdout, out.stdout
        assert figure(out.stdout, "mismatching leaves") > 0
        assert figure(out.stdout, "bytes streamed") > 0

        # A major compaction everywhere purges the tombstones the repair spread (their range
        # was repaired after the deletes); no deleted row may come back.
        time.sleep(1.1)  # a tombstone is purgeable once its second has passed
        for n in nodes:
            out = subprocess.run(
                [n.binary, "compact", "rep", "--host", f"{n.address}:{n.storage_port}"],
                capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            stats = subprocess.run(
                [n.binary, "tablestats", "rep.t", "--host", f"{n.address}:{n.storage_port}"],
                capture_output=True, text=True, timeout=120)
            assert stats.returncode == 0, stats.stderr
            assert "Number of tombstones: 0" in stats.stdout, stats.stdout

        want = {k: "b" for k in range(100)}
        want.update({k: "a" for k in range(160, 300)})
        want.update({k: "c" for k in range(300, 400)})
        want.update({k: "d" for k in range(400, 450)})
        grown = {k: f"g{k}" for k in range(300)}
        for i, n in enumerate(nodes):
            alone(nodes, i)
            got = rows_alone(n, clusters, "rep")
            assert got == want, (
                f"{n.address} alone: missing {sorted(set(want) - set(got))[:10]}, "
                f"extra {sorted(set(got) - set(want))[:10]}, "
                f"wrong {[k for k in want if k in got and got[k] != want[k]][:10]}")
            assert rows_alone(n, clusters, "grow") == grown, f"{n.address} alone lacks grow rows"
            all_up(nodes)

        # Everything agrees now: a second repair streams nothing.
        out = repair(n1)
        assert out.returncode == 0, out.stderr + out.stdout
        assert figure(out.stdout, "mismatching leaves") == 0, out.stdout
        assert figure(out.stdout, "streams") == 0, out.stdout
        # (Node 1 restarted since the first repair: its counters count the second.)
        metrics = n1.metrics()
        assert metrics.get("ilion_repair_ranges_validated_total", 0) > 0
        assert metrics.get("ilion_repair_ranges_mismatched_total", 0) == 0
        assert metrics.get('ilion_repair_last_success_seconds{keyspace="rep",table="t"}', 0) > 0


def test_repair_refuses_what_does_not_exist_and_skips_single_replica_keyspaces():
    with cluster_nodes("ilion-repair-refusals-", 2, YAML) as (nodes, clusters):
        n1, _ = nodes
        all_up_two = lambda: all(status(n1).get(a) == "UN" for a in ADDRESSES[:2])  # noqa: E731
        for n in nodes:
            n.start()
        wait_until("both nodes up", all_up_two, 60)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE one WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s1.execute("CREATE TABLE one.t (k int PRIMARY KEY, v text)")

        out = repair(n1, "nope")
        assert out.returncode != 0
        assert "Keyspace [nope] does not exist." in out.stderr, out.stderr
        out = repair(n1, "one", "missing")
        assert out.returncode != 0
        assert "Unknown keyspace/cf pair (one.missing)" in out.stderr, out.stderr
        out = repair(n1, "one")
        assert out.returncode == 0, out.stderr
        assert "Replication factor is 1. No repair is needed for keyspace 'one'" in out.stdout
        # Repair-aware tombstone purging is a table option (ScyllaDB's), shown by DESCRIBE.
        s1.execute("CREATE TABLE one.r (k int PRIMARY KEY, v text) WITH tombstone_gc = "
                   "{'mode': 'repair', 'propagation_delay_in_seconds': '0'}")
        described = s1.execute("DESCRIBE TABLE one.r").one().create_statement
        assert ("tombstone_gc = {'mode': 'repair', 'propagation_delay_in_seconds': '0'}"
                in described), described
        assert "tombstone_gc" not in s1.execute("DESCRIBE TABLE one.t").one().create_statement
        with pytest.raises(ConfigurationException,
                           match="Invalid tombstone_gc mode 'immediate': Ilion supports "
                                 "'timeout' \\(gc_grace_seconds\\) and 'repair'"):
            s1.execute("ALTER TABLE one.r WITH tombstone_gc = {'mode': 'immediate'}")

        # nodetool's spellings are understood.
        out = repair(n1, "one", "-pr", "-st", "-100", "-et", "100", "-full")
        assert out.returncode == 0, out.stderr

        # Repair-aware purging is the default: a table that does not choose keeps its
        # tombstones until their range is repaired (DESCRIBE shows only Cassandra's rule,
        # chosen explicitly).
        s1.execute("CREATE TABLE one.d (k int PRIMARY KEY, v text) WITH gc_grace_seconds = 0")
        s1.execute("CREATE TABLE one.c (k int PRIMARY KEY, v text) WITH gc_grace_seconds = 0 "
                   "AND tombstone_gc = {'mode': 'timeout'}")
        assert "tombstone_gc" not in s1.execute("DESCRIBE TABLE one.d").one().create_statement
        assert ("tombstone_gc = {'mode': 'timeout'}"
                in s1.execute("DESCRIBE TABLE one.c").one().create_statement)
        s1.execute("ALTER TABLE one.r WITH gc_grace_seconds = 0")
        for table in ("d", "c", "r"):
            for k in range(40):
                s1.execute(f"INSERT INTO one.{table} (k, v) VALUES (%s, 'x')", (k,))
                s1.execute(f"DELETE FROM one.{table} WHERE k = %s", (k,))
        time.sleep(1.1)  # a tombstone is purgeable once its second has passed
        held = {t: sum(tombstones(n, f"one.{t}") for n in nodes) for t in ("d", "c", "r")}
        assert held == {"d": 40, "c": 0, "r": 40}, held
        # At RF 1 each range's only replica is trivially in sync: a repair (here by hand, on
        # every node; continuous repair does it by itself) records it, and the tombstones of
        # `one.r` (no propagation delay) go. `one.d` keeps the default three-hour delay.
        for n in nodes:
            out = repair(n, "one")
            assert out.returncode == 0, out.stderr
        time.sleep(1.1)
        held = {t: sum(tombstones(n, f"one.{t}") for n in nodes) for t in ("d", "r")}
        assert held == {"d": 40, "r": 0}, held


def test_continuous_repair_fixes_a_replica_without_any_command():
    """gc_grace_seconds 10 and a minimum interval of 1 s: each range is repaired every 5 s by
    its first replica, so a node that missed writes holds them soon after it is back."""
    from cassandra import ConsistencyLevel

    yaml = YAML + "continuous_repair_min_interval_seconds: 1\n"
    with cluster_nodes("ilion-repair-continuous-", 3, yaml) as (nodes, clusters):
        n1, n2, n3 = nodes
        all_up(nodes)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE cont WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s1.execute("CREATE TABLE cont.t (k int PRIMARY KEY, v text) WITH gc_grace_seconds = 10")
        n3.stop()
        wait_until("node 1 to see node 3 down", lambda: status(n1).get(ADDRESSES[2]) == "DN", 60)
        put = s1.prepare("INSERT INTO cont.t (k, v) VALUES (?, ?)")
        put.consistency_level = ConsistencyLevel.QUORUM
        for k in range(200):
            s1.execute(put, (k, "x"))
        n3.start()
        back = time.monotonic()
        wait_until("every node up", lambda: all(status(n1).get(a) == "UN" for a in ADDRESSES), 60)

        out = subprocess.run(
            [n1.binary, "repair", "status", "--host", f"{n1.address}:{n1.storage_port}"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("Continuous repair: on\n"), out.stdout
        line = next(l for l in out.stdout.splitlines() if l.startswith("cont.t "))
        assert line.split()[-2:] == ["5", "s"], f"period is gc_grace / 2: {line}"

        # Every range of cont.t repaired since node 3 came back: on each first replica, the
        # oldest last repair is more recent than that.
        def repaired_everywhere():
            for n in nodes:
                out = subprocess.run(
                    [n.binary, "repair", "status", "--host", f"{n.address}:{n.storage_port}"],
                    capture_output=True, text=True, timeout=60)
                fields = next(l for l in out.stdout.splitlines()
                              if l.startswith("cont.t ")).split()
                # Table, ranges, due, never, then "N s ago" or "never".
                if fields[3] != "0" or fields[5] != "s" or \
                        int(fields[4]) >= time.monotonic() - back:
                    return False
            return True
        wait_until("continuous repair to cover every range", repaired_everywhere, 90)
        # What was repaired when, as a virtual table.
        c1, s1 = session_on(n1)
        clusters.append(c1)
        recorded = list(s1.execute(
            "SELECT range_start, range_end, repaired_at FROM system_views.repairs "
            "WHERE keyspace_name = 'cont' AND table_name = 't'"))
        assert recorded, "system_views.repairs lists no repaired range of cont.t"
        assert all(r.range_start < r.range_end and r.repaired_at is not None for r in recorded)
        alone(nodes, 2)
        got = rows_alone(n3, clusters, "cont")
        assert got == {k: "x" for k in range(200)}, f"node 3 alone has {len(got)} of 200 rows"


def test_an_incremental_repair_validates_only_what_was_written_since_the_last_one():
    """Two nodes, RF 2, continuous repair off: the first repair validates everything; the next
    validates nothing (no write since) and says so; after one more row it validates only the
    small part of the ring holding it; `-full` validates everything again."""
    yaml = YAML + "continuous_repair_enabled: false\n"
    with cluster_nodes("ilion-repair-incremental-", 2, yaml) as (nodes, clusters):
        n1, _ = nodes
        for n in nodes:
            n.start()
        wait_until("both nodes up", lambda: all(status(n1).get(a) == "UN"
                                                for a in ADDRESSES[:2]), 60)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE inc WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s1.execute("CREATE TABLE inc.t (k int PRIMARY KEY, v text)")
        put = s1.prepare("INSERT INTO inc.t (k, v) VALUES (?, ?)")
        rows = 2000
        for k in range(rows):
            s1.execute(put, (k, "x"))

        def run(*args):
            out = repair(n1, "inc", *args)
            assert out.returncode == 0, out.stderr + out.stdout
            return out.stdout

        # A write in the second a repair first asks counts as written after it.
        time.sleep(1.1)
        first = run()
        # Both replicas read every row.
        assert figure(first, "partitions") == 2 * rows, first
        ranges = figure(first, "ranges")
        second = run()
        assert figure(second, "partitions") == 0, second
        assert figure(second, "unwritten since their last repair") == ranges, second
        s1.execute(put, (rows, "y"))
        third = run()
        validated = figure(third, "partitions")
        # The row's bucket (1/1024 of the ring) on both replicas, not the whole table.
        assert 0 < validated < rows // 10, third
        # One range (two if the bucket straddles a range boundary) holds the new row.
        assert figure(third, "unwritten since their last repair") in (ranges - 1, ranges - 2), third
        full = run("-full")
        assert figure(full, "partitions") == 2 * (rows + 1), full
        assert figure(full, "unwritten since their last repair") == 0, full
