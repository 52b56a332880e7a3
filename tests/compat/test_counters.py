"""Counters, judged by the Python driver and cqlsh.

Single node: counter tables, increments and decrements (text and prepared), reads, aggregates,
deletes, COUNTER batches (text and protocol), every restriction with Cassandra 5.0's exact
message and exception class, and cqlsh's rendering of a counter table.

Three nodes, RF 3: client threads increment at QUORUM through every node while one node is
killed with SIGKILL and restarted. Afterwards the counters hold exactly the acknowledged
increments, plus at most the ones whose outcome the client could not know (timeouts and
failures, counted apart); with no such failure the sum is exact.

Every wait and loop is bounded; the nodes are killed at the end whatever happens.
"""

import random
import re
import shutil
import signal
import tempfile
import threading
import time

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.protocol import ConfigurationException
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from conftest import _binary, cluster_for
from test_cluster import ADDRESSES, ClusterNode, _port_free_everywhere, formed, wait_until
from test_cqlsh import cqlsh

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module")
def session(node):
    cluster = cluster_for(node)
    s = cluster.connect()
    s.execute(f"CREATE KEYSPACE cnt WITH replication = {RF1}")
    s.set_keyspace("cnt")
    s.execute("CREATE TABLE hits (page text, day int, views counter, likes counter, "
              "PRIMARY KEY (page, day))")
    s.execute("CREATE TABLE plain (k int PRIMARY KEY, v int)")
    try:
        yield s
    finally:
        cluster.shutdown()


def row(session, page, day=1):
    return session.execute("SELECT views, likes FROM hits WHERE page = %s AND day = %s",
                           (page, day)).one()


def refused(session, cql, message, exc=InvalidRequest, params=None):
    with pytest.raises(exc) as e:
        session.execute(cql, params)
    # The driver's message is 'Error from server: code=2200 [Invalid query] message="..."'.
    assert f'message="{message}"' in str(e.value), str(e.value)


def test_increments_and_decrements_add_up(session):
    session.execute("UPDATE hits SET views = views + 1 WHERE page = 'a' AND day = 1")
    session.execute("UPDATE hits SET views = views + 10, likes = likes - 3 "
                    "WHERE page = 'a' AND day = 1")
    session.execute("UPDATE hits SET views += 5 WHERE page = 'a' AND day = 1")
    session.execute("UPDATE hits SET views -= 2, likes += 1 WHERE page = 'a' AND day = 1")
    r = row(session, "a")
    assert (r.views, r.likes) == (14, -2)
    # A counter never written reads as null; a row never written is absent.
    session.execute("UPDATE hits SET likes = likes + 1 WHERE page = 'a' AND day = 2")
    assert row(session, "a", 2).views is None
    assert row(session, "nope") is None


def test_prepared_increments_and_their_marker_types(session):
    ps = session.prepare("UPDATE hits SET views = views + ?, likes = likes - ? "
                         "WHERE page = ? AND day = ?")
    assert [c.type.typename for c in ps.column_metadata][:2] == ["counter", "counter"]
    for i in range(1, 11):
        session.execute(ps, (i, 1, "p", 7))
    r = row(session, "p", 7)
    assert (r.views, r.likes) == (55, -10)
    big = 2**62
    session.execute(ps, (big, -big, "big", 1))
    r = row(session, "big")
    assert (r.views, r.likes) == (big, big)
    # The result metadata says counter.
    rs = session.execute("SELECT views FROM hits WHERE page = 'p' AND day = 7")
    assert rs.column_types[0].typename == "counter"


def test_counters_are_read_with_where_aggregates_and_paging(session):
    for day in range(1, 6):
        session.execute("UPDATE hits SET views = views + %s WHERE page = 'agg' AND day = %s",
                        (day * 10, day))
    rows = list(session.execute("SELECT day, views FROM hits WHERE page = 'agg' AND day >= 3"))
    assert [(r.day, r.views) for r in rows] == [(3, 30), (4, 40), (5, 50)]
    r = session.execute("SELECT sum(views), count(*), max(views), min(views) FROM hits "
                        "WHERE page = 'agg'").one()
    assert tuple(r) == (150, 5, 50, 10)
    paged = SimpleStatement("SELECT views FROM hits WHERE page = 'agg'", fetch_size=2)
    assert [r.views for r in session.execute(paged)] == [10, 20, 30, 40, 50]
    j = session.execute("SELECT JSON day, views FROM hits WHERE page = 'agg' AND day = 1").one()
    assert j[0] == '{"day": 1, "views": 10}'
    filtered = session.execute("SELECT day FROM hits WHERE page = 'agg' AND views >= 40 "
                               "ALLOW FILTERING")
    assert [r.day for r in filtered] == [4, 5]
    ps = session.prepare("SELECT day FROM hits WHERE page = 'agg' AND views = ? ALLOW FILTERING")
    assert [r.day for r in session.execute(ps, (20,))] == [2]


def test_static_counters(session):
    session.execute("CREATE TABLE IF NOT EXISTS per_page (page text, day int, total counter "
                    "static, views counter, PRIMARY KEY (page, day))")
    for day in (1, 2):
        session.execute("UPDATE per_page SET total = total + 1, views = views + %s "
                        "WHERE page = 's' AND day = %s", (day, day))
    session.execute("UPDATE per_page SET total = total + 10 WHERE page = 's'")
    rows = list(session.execute("SELECT day, total, views FROM per_page WHERE page = 's'"))
    assert [(r.day, r.total, r.views) for r in rows] == [(1, 12, 1), (2, 12, 2)]


def test_deleting_counters_and_rows(session):
    session.execute("UPDATE hits SET views = views + 4, likes = likes + 2 "
                    "WHERE page = 'd' AND day = 1")
    session.execute("DELETE views FROM hits WHERE page = 'd' AND day = 1")
    r = row(session, "d")
    assert (r.views, r.likes) == (None, 2)
    # As Cassandra: a deleted counter cannot be used again (its tombstone wins).
    session.execute("UPDATE hits SET views = views + 1 WHERE page = 'd' AND day = 1")
    assert row(session, "d").views is None
    session.execute("DELETE FROM hits WHERE page = 'd' AND day = 1")
    assert row(session, "d") is None
    session.execute("UPDATE hits SET likes = likes + 1 WHERE page = 'd2' AND day = 1")
    session.execute("DELETE FROM hits WHERE page = 'd2'")
    assert row(session, "d2") is None


def test_counter_batches_text_and_protocol(session):
    session.execute("""
        BEGIN COUNTER BATCH
          UPDATE hits SET views = views + 1 WHERE page = 'b1' AND day = 1;
          UPDATE hits SET views = views + 2 WHERE page = 'b1' AND day = 1;
          UPDATE hits SET likes = likes - 1 WHERE page = 'b2' AND day = 1;
        APPLY BATCH""")
    assert tuple(row(session, "b1")) == (3, None)
    assert tuple(row(session, "b2")) == (None, -1)
    ps = session.prepare("UPDATE hits SET views = views + ? WHERE page = ? AND day = 1")
    batch = BatchStatement(batch_type=BatchType.COUNTER)
    for i in range(5):
        batch.add(ps, (i, "b3"))
    batch.add(SimpleStatement("UPDATE hits SET views = views + 100 WHERE page = 'b1' AND day = 1"))
    session.execute(batch)
    assert row(session, "b3").views == 10
    assert row(session, "b1").views == 103
    # Counters only may also go in an UNLOGGED batch (Cassandra allows it).
    session.execute("""
        BEGIN UNLOGGED BATCH
          UPDATE hits SET views = views + 1 WHERE page = 'b4' AND day = 1;
        APPLY BATCH""")
    assert row(session, "b4").views == 1


def test_table_restrictions_have_cassandras_messages(session):
    refused(session, "CREATE TABLE mix (k int PRIMARY KEY, c counter, v int)",
            "Cannot mix counter and non counter columns in the same table")
    refused(session, "CREATE TABLE pk (k counter PRIMARY KEY, c counter)",
            "counter type is not supported for PRIMARY KEY column 'k'")
    refused(session, "CREATE TABLE ck (k int, c counter, v counter, PRIMARY KEY (k, c))",
            "counter type is not supported for PRIMARY KEY column 'c'")
    refused(session, "CREATE TABLE ttl (k int PRIMARY KEY, c counter) "
                     "WITH default_time_to_live = 10",
            "Cannot set default_time_to_live on a table with counters")
    refused(session, "CREATE TABLE coll (k int PRIMARY KEY, l list<counter>)",
            "Counters are not allowed inside collections: list<counter>")
    refused(session, "CREATE TABLE coll (k int PRIMARY KEY, m map<text, counter>)",
            "Counters are not allowed inside collections: map<text, counter>")
    refused(session, "ALTER TABLE hits WITH default_time_to_live = 5",
            "Cannot set default_time_to_live on a table with counters")
    refused(session, "ALTER TABLE hits ADD t text",
            'cnt.hits: Cannot have a non counter column ("t") in a counter table',
            exc=ConfigurationException)
    refused(session, "ALTER TABLE plain ADD c counter",
            'cnt.plain: Cannot have a counter column ("c") in a non counter table',
            exc=ConfigurationException)


def test_write_restrictions_have_cassandras_messages(session):
    refused(session, "INSERT INTO hits (page, day, views) VALUES ('x', 1, 1)",
            "INSERT statements are not allowed on counter tables, use UPDATE instead")
    refused(session, "INSERT INTO hits (page, day) VALUES ('x', 1)",
            "INSERT statements are not allowed on counter tables, use UPDATE instead")
    refused(session, "INSERT INTO hits JSON '{\"page\": \"x\", \"day\": 1}'",
            "INSERT statements are not allowed on counter tables, use UPDATE instead")
    refused(session, "UPDATE hits USING TTL 10 SET views = views + 1 WHERE page = 'x' AND day = 1",
            "Cannot provide custom TTL for counter updates")
    refused(session,
            "UPDATE hits USING TIMESTAMP 10 SET views = views + 1 WHERE page = 'x' AND day = 1",
            "Cannot provide custom timestamp for counter updates")
    refused(session, "DELETE FROM hits USING TIMESTAMP 10 WHERE page = 'x' AND day = 1",
            "Cannot provide custom timestamp for counter updates")
    refused(session, "UPDATE hits SET views = 5 WHERE page = 'x' AND day = 1",
            "Cannot set the value of counter column views (counters can only be "
            "incremented/decremented, not set)")
    refused(session, "UPDATE hits SET views = 1 + views WHERE page = 'x' AND day = 1",
            "Invalid operation (views = 1 + views) for non list column views")
    refused(session, "UPDATE plain SET v = v + 1 WHERE k = 1",
            "Invalid operation (v = v + 1) for non counter column v")
    ps = session.prepare("UPDATE hits SET views = views - ? WHERE page = ? AND day = 1")
    refused(session, ps, "The negation of -9223372036854775808 overflows supported counter "
                         "precision (signed 8 bytes integer)", params=(-2**63, "x"))
    refused(session, ps, "Invalid null value for counter increment", params=(None, "x"))
    refused(session, "UPDATE hits SET views = views + null WHERE page = 'x' AND day = 1",
            "Invalid null value for counter increment/decrement")
    any_cl = SimpleStatement("UPDATE hits SET views = views + 1 WHERE page = 'x' AND day = 1",
                             consistency_level=ConsistencyLevel.ANY)
    refused(session, any_cl, "Consistency level ANY is not yet supported for counter table hits")
    # Nothing above wrote anything.
    assert row(session, "x") is None


def test_batch_restrictions_have_cassandras_messages(session):
    inc = "UPDATE hits SET views = views + 1 WHERE page = 'y' AND day = 1;"
    put = "INSERT INTO plain (k, v) VALUES (1, 1);"
    refused(session, f"BEGIN COUNTER BATCH {inc} {put} APPLY BATCH",
            "Cannot include non-counter statement in a counter batch")
    refused(session, f"BEGIN BATCH {inc} APPLY BATCH",
            "Cannot include a counter statement in a logged batch")
    refused(session, f"BEGIN UNLOGGED BATCH {inc} {put} APPLY BATCH",
            "Counter and non-counter mutations cannot exist in the same batch")
    refused(session, f"BEGIN COUNTER BATCH USING TIMESTAMP 5 {inc} APPLY BATCH",
            "Cannot provide custom timestamp for counter BATCH")
    refused(session, f"BEGIN UNLOGGED BATCH USING TIMESTAMP 5 {inc} APPLY BATCH",
            "Cannot provide custom timestamp for a BATCH containing counters")
    logged = BatchStatement(batch_type=BatchType.LOGGED)
    logged.add(SimpleStatement(inc))
    refused(session, logged, "Cannot include a counter statement in a logged batch")
    assert row(session, "y") is None


def test_cqlsh_shows_a_counter_table(node, session):
    session.execute("UPDATE hits SET views = views + 42, likes = likes - 7 "
                    "WHERE page = 'shell' AND day = 3")
    code, out, err = cqlsh(node, "SELECT * FROM cnt.hits WHERE page = 'shell'")
    assert code == 0, err
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    header = [c.strip() for c in lines[0].split("|")]
    assert header == ["page", "day", "likes", "views"]
    values = [c.strip() for c in lines[2].split("|")]
    assert values == ["shell", "3", "-7", "42"]
    assert "(1 rows)" in out
    code, out, err = cqlsh(node, "UPDATE cnt.hits SET views = views + 1 WHERE page = 'shell' "
                                 "AND day = 3; SELECT views FROM cnt.hits WHERE page = 'shell'")
    assert code == 0, err
    assert "43" in out.split()
    code, out, err = cqlsh(node, "DESCRIBE TABLE cnt.hits")
    assert code == 0, err
    assert "views counter" in out and "likes counter" in out
    code, out, err = cqlsh(node, "INSERT INTO cnt.hits (page, day, views) VALUES ('z', 1, 1)")
    assert code != 0
    assert "INSERT statements are not allowed on counter tables, use UPDATE instead" in err


# ---------------------------------------------------------------- three nodes

THREADS = 6
# Each thread's increments are bounded in count and the whole phase in time.
MAX_INCREMENTS = 5000
PHASE_SECONDS = 60


def status(nodes):
    """`ilion status` as node 1 sees the ring."""
    import subprocess

    out = subprocess.run([nodes[0].binary, "status", "--host",
                          f"{ADDRESSES[0]}:{nodes[0].storage_port}"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout


@pytest.fixture(scope="module")
def cluster3():
    tmp = tempfile.mkdtemp(prefix="ilion-counters-")
    native_port = _port_free_everywhere()
    storage_port = _port_free_everywhere()
    admin_port = _port_free_everywhere()
    while len({native_port, storage_port, admin_port}) < 3:
        storage_port = _port_free_everywhere()
        admin_port = _port_free_everywhere()
    binary = _binary()
    # Batch commit log sync: a leader's own shard is on disk before it is sent, so a SIGKILL
    # cannot take back what a replica already acknowledged (with periodic sync a killed
    # leader may restart on an older shard of its own, as in Cassandra).
    yaml = ("commitlog_sync: batch\nwrite_request_timeout_ms: 1000\n"
            "counter_write_request_timeout_ms: 2500\nread_request_timeout_ms: 2000\n")
    nodes = [ClusterNode(binary, tmp, i, native_port, storage_port, admin_port, yaml=yaml)
             for i in range(3)]
    try:
        for n in nodes:
            n.start()
        wait_until("every node to list the other two in system.peers", lambda: formed(nodes), 60)
        yield nodes
    except Exception:
        for n in nodes:
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        for n in nodes:
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_counter_write_short_of_acknowledgements_times_out_as_counter(cluster3):
    """Two of three replicas stopped (SIGSTOP: still believed alive): the leader applies the
    increment, but QUORUM gets one answer of two, a WriteTimeout of write type COUNTER."""
    from cassandra import WriteTimeout, WriteType
    from test_replication import whitelist_session

    nodes = cluster3
    cluster, s = whitelist_session(nodes, ADDRESSES[0])
    stopped = []
    try:
        s.execute("CREATE KEYSPACE IF NOT EXISTS c3w WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE IF NOT EXISTS c3w.t (k int PRIMARY KEY, n counter)")
        cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        inc = SimpleStatement("UPDATE c3w.t SET n = n + 1 WHERE k = 1",
                              consistency_level=ConsistencyLevel.QUORUM)
        s.execute(inc)
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGSTOP)
            stopped.append(n)
        with pytest.raises(WriteTimeout) as e:
            s.execute(inc)
        assert e.value.write_type == WriteType.COUNTER
        assert (e.value.received_responses, e.value.required_responses) == (1, 2)
    finally:
        for n in stopped:
            n.proc.send_signal(signal.SIGCONT)
        cluster.shutdown()
    # The leader applied it: once the others are back, the counter shows both increments
    # (the timed-out one reaches them as a hint or by read repair).
    cluster, s = whitelist_session(nodes, ADDRESSES[1])
    try:
        read = SimpleStatement("SELECT n FROM c3w.t WHERE k = 1",
                               consistency_level=ConsistencyLevel.ALL)
        wait_until("both increments at ALL", lambda: s.execute(read).one().n == 2, 60)
    finally:
        cluster.shutdown()


def test_concurrent_increments_across_a_node_kill_sum_exactly(cluster3):
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import FallthroughRetryPolicy, RoundRobinPolicy

    nodes = cluster3
    # No retries: every increment is either acknowledged once or counted as unknown.
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(),
                               retry_policy=FallthroughRetryPolicy(), request_timeout=10,
                               consistency_level=ConsistencyLevel.QUORUM)
    cluster = Cluster(ADDRESSES, port=nodes[0].native_port, connect_timeout=10,
                      control_connection_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    s = cluster.connect()
    try:
        s.execute("CREATE KEYSPACE c3 WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE c3.t (k int PRIMARY KEY, n counter)")
        wait_until("the table on every node",
                   lambda: all(s.execute("SELECT table_name FROM system_schema.tables WHERE "
                                         "keyspace_name = 'c3'", host=h).one()
                               for h in cluster.metadata.all_hosts()), 30)
        ps = s.prepare("UPDATE c3.t SET n = n + ? WHERE k = ?")
        acked = {}
        unknown = {}
        # Acknowledged increments while the victim is up, down, and back.
        phase = ["up"]
        per_phase = {"up": 0, "down": 0, "back": 0}
        lock = threading.Lock()
        stop = threading.Event()
        deadline = time.monotonic() + PHASE_SECONDS

        def worker(seed):
            rng = random.Random(seed)
            for _ in range(MAX_INCREMENTS):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                # A hot counter every thread shares, and one of the thread's own.
                k = 0 if rng.random() < 0.5 else seed
                delta = rng.randint(1, 5)
                try:
                    s.execute(ps, (delta, k))
                    with lock:
                        acked[k] = acked.get(k, 0) + delta
                        per_phase[phase[0]] += 1
                except Exception:  # noqa: BLE001 - any failure: outcome unknown
                    with lock:
                        unknown[k] = unknown.get(k, 0) + delta

        threads = [threading.Thread(target=worker, args=(i + 1,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        victim = nodes[2]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        phase[0] = "down"
        # A real outage: the others convict it before it comes back (their writes to it
        # become hints, replayed when it is up again).
        wait_until("node 1 to see node 3 down",
                   lambda: re.search(r"^DN\s+127\.0\.0\.3\s", status(nodes), re.M), 30)
        victim.start()
        phase[0] = "back"
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(PHASE_SECONDS + 30)
        assert not any(t.is_alive() for t in threads)
        print(f"acknowledged increments by phase: {per_phase}")
        assert all(n > 0 for n in per_phase.values()), per_phase
        total_acked = sum(acked.values())
        assert total_acked > 0
        # Every node alive again: read each counter at ALL through each node.
        wait_until("the restarted node to serve", lambda: formed(nodes), 60)
        read = SimpleStatement("SELECT k, n FROM c3.t", consistency_level=ConsistencyLevel.ALL)

        def values():
            return {r.k: r.n for r in s.execute(read)}

        got = wait_until("a read at ALL", values, 60)
        for k in set(acked) | set(unknown):
            lo = acked.get(k, 0)
            hi = lo + unknown.get(k, 0)
            assert lo <= got.get(k, 0) <= hi, (k, got.get(k), lo, hi)
        if not unknown:
            assert {k: v for k, v in got.items()} == acked
        print(f"acked {total_acked} in {len(acked)} counters, unknown {sum(unknown.values())}")
    finally:
        cluster.shutdown()

