"""Lightweight transactions judged by the Python driver (issue #25).

One node: every conditional form (INSERT IF NOT EXISTS, UPDATE/DELETE IF EXISTS, IF with
= != < <= > >= IN, IS NULL / IS NOT NULL, map entries, list elements, UDT fields, static
columns, several conditions), prepared and not, with `was_applied` and the returned current
values checked; SERIAL and LOCAL_SERIAL; Cassandra's errors word for word.

Three nodes (127.0.0.1-3, RF 3): eight clients, each with its own driver session, do SERIAL
reads and compare-and-set increments on five registers while one node is killed (SIGKILL) and
restarted. The recorded history is checked by the workspace's `linearizability` binary (built
next to `ilion`), and no increment is lost or doubled: each register ends between the
increments acknowledged as applied and those plus the ones whose outcome was unknown. Every
loop is bounded in count and time; the nodes are killed at the end whatever happens.
"""

import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import _binary, cluster_for
from test_bootstrap import cluster_nodes, session_on
from test_cluster import formed, wait_until


@pytest.fixture(scope="module")
def session(node):
    cluster = cluster_for(node)
    s = cluster.connect()
    s.execute("CREATE KEYSPACE lwt WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TYPE lwt.addr (street text, n int)")
    s.execute("CREATE TABLE lwt.t (k int, c int, s int static, v int, w text, "
              "m map<text, int>, l list<int>, a addr, PRIMARY KEY (k, c))")
    s.execute("CREATE TABLE lwt.n (k int PRIMARY KEY, n counter)")
    try:
        yield s
    finally:
        cluster.shutdown()


def invalid(session, cql, params=None):
    """The message of the InvalidRequest `cql` gets (code 0x2200)."""
    from cassandra import InvalidRequest

    with pytest.raises(InvalidRequest) as e:
        session.execute(cql, params)
    # The driver's text is 'Error from server: code=2200 [Invalid query] message="..."'.
    text = str(e.value)
    prefix = 'Error from server: code=2200 [Invalid query] message="'
    assert text.startswith(prefix) and text.endswith('"'), text
    return text[len(prefix):-1]


def test_insert_if_not_exists_applies_once_then_returns_the_row(session):
    r = session.execute("INSERT INTO lwt.t (k, c, v, w) VALUES (1, 1, 10, 'x') IF NOT EXISTS")
    assert r.was_applied
    assert r.column_names == ["[applied]"]
    r = session.execute("INSERT INTO lwt.t (k, c, v, w) VALUES (1, 1, 20, 'y') IF NOT EXISTS")
    assert not r.was_applied
    assert r.column_names == ["[applied]", "k", "c", "a", "l", "m", "s", "v", "w"]
    row = r.one()
    assert (row.k, row.c, row.v, row.w) == (1, 1, 10, "x")
    assert session.execute("SELECT v FROM lwt.t WHERE k = 1 AND c = 1").one().v == 10


def test_update_conditions_on_columns_elements_fields_and_statics(session):
    session.execute("INSERT INTO lwt.t (k, c, s, v, w, m, l, a) VALUES (2, 1, 7, 10, 'x', "
                    "{'a': 1}, [5, 6], {street: 'main', n: 3})")
    holding = ["IF v = 10", "IF v != 11", "IF v < 11 AND v <= 10 AND v > 9 AND v >= 10",
               "IF v IN (1, 10)", "IF m['a'] = 1", "IF m['zz'] = null", "IF l[1] = 6",
               "IF a.n = 3 AND a.street = 'main'", "IF s = 7", "IF w IS NOT NULL",
               "IF v = 10 AND w = 'x'", "IF EXISTS"]
    for cond in holding:
        r = session.execute(f"UPDATE lwt.t SET w = 'x' WHERE k = 2 AND c = 1 {cond}")
        assert r.was_applied, cond
        assert r.column_names == ["[applied]"], cond
    failing = [("IF v = 11", ["v"]), ("IF v > 10", ["v"]), ("IF v IN (1, 2)", ["v"]),
               ("IF m['a'] = 2", ["m"]), ("IF a.n = 4", ["a"]), ("IF s = 8", ["s"]),
               ("IF w IS NULL", ["w"]), ("IF v = 10 AND w = 'y'", ["v", "w"])]
    for cond, shown in failing:
        r = session.execute(f"UPDATE lwt.t SET v = 0 WHERE k = 2 AND c = 1 {cond}")
        assert not r.was_applied, cond
        assert r.column_names == ["[applied]", *shown], cond
    # Only static columns: the partition's static row.
    r = session.execute("UPDATE lwt.t SET s = 8 WHERE k = 2 IF s = 6")
    assert not r.was_applied and r.column_names == ["[applied]", "s"] and r.one().s == 7
    assert session.execute("UPDATE lwt.t SET s = 7 WHERE k = 2 IF s = 7").was_applied
    assert not session.execute("UPDATE lwt.t SET s = 1 WHERE k = 99 IF EXISTS").was_applied
    r = session.execute("UPDATE lwt.t SET v = 0 WHERE k = 2 AND c = 1 IF m['a'] = 2")
    assert r.one().m == {"a": 1}
    r = session.execute("UPDATE lwt.t SET v = 0 WHERE k = 2 AND c = 1 IF v = 11 AND w = 'x'")
    assert (r.one().v, r.one().w) == (10, "x")
    assert session.execute("SELECT v FROM lwt.t WHERE k = 2 AND c = 1").one().v == 10


def test_if_exists_on_a_missing_row_returns_applied_alone_and_delete_if_works(session):
    r = session.execute("UPDATE lwt.t SET v = 1 WHERE k = 3 AND c = 3 IF EXISTS")
    assert not r.was_applied
    assert r.column_names == ["[applied]"]
    session.execute("INSERT INTO lwt.t (k, c, v) VALUES (3, 3, 30)")
    assert not session.execute("DELETE FROM lwt.t WHERE k = 3 AND c = 3 IF v = 31").was_applied
    assert session.execute("DELETE FROM lwt.t WHERE k = 3 AND c = 3 IF v = 30").was_applied
    assert session.execute("SELECT * FROM lwt.t WHERE k = 3 AND c = 3").one() is None
    assert not session.execute("DELETE FROM lwt.t WHERE k = 3 AND c = 3 IF EXISTS").was_applied
    session.execute("INSERT INTO lwt.t (k, c, v) VALUES (3, 3, 30)")
    assert session.execute("DELETE FROM lwt.t WHERE k = 3 AND c = 3 IF EXISTS").was_applied


def test_prepared_conditions_bind_values_lists_keys_and_fields(session):
    insert = session.prepare("INSERT INTO lwt.t (k, c, v, m, l) VALUES (?, ?, ?, ?, ?) "
                             "IF NOT EXISTS")
    assert session.execute(insert, (4, 1, 40, {"q": 9}, [1, 2])).was_applied
    assert not session.execute(insert, (4, 1, 41, None, None)).was_applied
    update = session.prepare("UPDATE lwt.t SET v = ? WHERE k = ? AND c = ? IF v = ? AND m[?] = ?")
    assert not session.execute(update, (42, 4, 1, 40, "q", 8)).was_applied
    assert session.execute(update, (42, 4, 1, 40, "q", 9)).was_applied
    in_list = session.prepare("UPDATE lwt.t SET v = ? WHERE k = ? AND c = ? IF v IN ?")
    assert session.execute(in_list, (43, 4, 1, [1, 42])).was_applied
    element = session.prepare("DELETE FROM lwt.t WHERE k = ? AND c = ? IF l[?] = ?")
    assert not session.execute(element, (4, 1, 0, 2)).was_applied
    assert session.execute(element, (4, 1, 0, 1)).was_applied


def test_a_conditional_batch_applies_everything_or_shows_the_checked_rows(session):
    from cassandra.query import BatchStatement

    session.execute("INSERT INTO lwt.t (k, c, v) VALUES (6, 1, 60)")
    text = ("BEGIN BATCH "
            "UPDATE lwt.t SET v = 61 WHERE k = 6 AND c = 1 IF v = {}; "
            "INSERT INTO lwt.t (k, c, v) VALUES (6, 2, 62) IF NOT EXISTS; "
            "UPDATE lwt.t SET s = 6 WHERE k = 6; "
            "APPLY BATCH")
    r = session.execute(text.format(59))
    assert not r.was_applied
    assert r.column_names == ["[applied]", "k", "c", "a", "l", "m", "s", "v", "w"]
    assert [(row.k, row.c, row.v) for row in r] == [(6, 1, 60)]
    assert session.execute("SELECT * FROM lwt.t WHERE k = 6 AND c = 2").one() is None
    r = session.execute(text.format(60))
    assert r.was_applied
    rows = session.execute("SELECT c, s, v FROM lwt.t WHERE k = 6")
    assert [(row.c, row.s, row.v) for row in rows] == [(1, 6, 61), (2, 6, 62)]
    # The protocol's BATCH with a prepared conditional statement.
    update = session.prepare("UPDATE lwt.t SET v = ? WHERE k = ? AND c = ? IF v = ?")
    batch = BatchStatement()
    batch.add(update, (70, 6, 1, 61))
    batch.add(update, (71, 6, 2, 62))
    assert session.execute(batch).was_applied
    batch = BatchStatement()
    batch.add(update, (80, 6, 1, 0))
    batch.add(update, (81, 6, 2, 71))
    r = session.execute(batch)
    assert not r.was_applied
    assert r.column_names == ["[applied]", "k", "c", "v"]
    assert [(row.c, row.v) for row in r] == [(1, 70), (2, 71)]


def test_serial_and_local_serial_reads_and_serial_consistency(session):
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    update = SimpleStatement("INSERT INTO lwt.t (k, c, v) VALUES (5, 1, 50) IF NOT EXISTS",
                             serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL)
    assert session.execute(update).was_applied
    for cl in (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL):
        read = SimpleStatement("SELECT v FROM lwt.t WHERE k = 5 AND c = 1", consistency_level=cl)
        assert session.execute(read).one().v == 50


def test_errors_are_cassandras(session):
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    assert invalid(session, "UPDATE lwt.n SET n = n + 1 WHERE k = 1 IF EXISTS") == \
        "Conditional updates are not supported on counter tables"
    assert invalid(session, "INSERT INTO lwt.t (k, c, v) VALUES (1, 1, 1) IF NOT EXISTS "
                            "USING TIMESTAMP 5") == \
        "Cannot provide custom timestamp for conditional updates"
    assert invalid(session, "UPDATE lwt.t SET v = 1 WHERE k = 1 AND c = 1 IF c = 1") == \
        "PRIMARY KEY column 'c' cannot have IF conditions"
    assert invalid(session, "UPDATE lwt.t SET v = 1 WHERE k IN (1, 2) AND c = 1 IF v = 1") == \
        "IN on the partition key is not supported with conditional updates"
    assert invalid(session, "DELETE FROM lwt.t WHERE k = 1 AND c IN (1, 2) IF v = 1") == \
        "IN on the clustering key columns is not supported with conditional deletions"
    assert invalid(session, "DELETE FROM lwt.t WHERE k = 1 IF v = 1") == (
        "DELETE statements must restrict all PRIMARY KEY columns with equality relations in "
        "order to use IF conditions, but column 'c' is not restricted")
    assert invalid(session, "UPDATE lwt.t SET v = 1 WHERE k = 1 AND c = 1 IF v < null") == \
        'Invalid comparison with null for operator "<"'
    serial_commit = SimpleStatement("UPDATE lwt.t SET v = 1 WHERE k = 1 AND c = 1 IF EXISTS",
                                    consistency_level=ConsistencyLevel.SERIAL)
    assert invalid(session, serial_commit).startswith(
        "SERIAL is not supported as conditional update commit consistency")
    plain_serial = SimpleStatement("INSERT INTO lwt.t (k, c, v) VALUES (1, 1, 1)",
                                   consistency_level=ConsistencyLevel.SERIAL)
    assert invalid(session, plain_serial) == \
        "You must use conditional updates for serializable writes"
    assert invalid(session, "BEGIN BATCH "
                            "INSERT INTO lwt.t (k, c, v) VALUES (1, 1, 1) IF NOT EXISTS; "
                            "INSERT INTO lwt.t (k, c, v) VALUES (2, 1, 1) IF NOT EXISTS; "
                            "APPLY BATCH") == \
        "Batch with conditions cannot span multiple partitions"


# ---- three nodes, eight clients, one node killed and restarted ----

CLIENTS = 8
REGISTERS = 5
# Each client stops when told, or after this many read-and-increment rounds or this many
# seconds, whichever comes first.
ROUNDS = 400
CLIENT_SECONDS = 90


def checker():
    path = os.path.join(os.path.dirname(_binary()), "linearizability")
    if not os.path.exists(path):
        pytest.fail(f"the linearizability checker is not at {path}; build it with ilion "
                    "(cargo build --bin ilion --bin linearizability)")
    return path


class Client(threading.Thread):
    """Rounds of: a SERIAL read of a random register, then a CAS of it from what was read to
    one more. Records every operation with its call and return times (None: unknown)."""

    def __init__(self, index, nodes, history, lock, deadline, stop):
        super().__init__()
        self.index, self.nodes, self.history, self.lock = index, nodes, history, lock
        self.deadline, self.stop = deadline, stop
        self.rng = random.Random(index)
        self.errors = []

    def record(self, key, call, ret, op):
        with self.lock:
            self.history.append({"client": self.index, "key": key, "call": call, "ret": ret,
                                 **op})

    def run(self):
        from cassandra import ConsistencyLevel, Unavailable
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import FallthroughRetryPolicy
        from cassandra.query import SimpleStatement

        # No driver retries: a CAS the driver sent again after a lost connection could report
        # "not applied" for a first attempt that was applied. Each outcome here is one attempt's.
        profile = ExecutionProfile(retry_policy=FallthroughRetryPolicy(), request_timeout=20)
        cluster = Cluster([n.address for n in self.nodes], port=self.nodes[0].native_port,
                          connect_timeout=10, control_connection_timeout=10,
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            session = cluster.connect()
            cas = session.prepare("UPDATE lwt.reg SET v = ? WHERE k = ? IF v = ?")
            cas.consistency_level = ConsistencyLevel.QUORUM
            cas.serial_consistency_level = ConsistencyLevel.SERIAL
            for _ in range(ROUNDS):
                if self.stop.is_set() or time.monotonic() > self.deadline:
                    return
                key = self.rng.randrange(REGISTERS)
                read = SimpleStatement(f"SELECT v FROM lwt.reg WHERE k = {key}",
                                       consistency_level=ConsistencyLevel.SERIAL)
                call = time.monotonic_ns()
                try:
                    row = session.execute(read, timeout=20).one()
                except Exception as e:  # noqa: BLE001 - a failed read constrains nothing
                    self.errors.append(repr(e))
                    continue
                value = row.v if row else None
                self.record(key, call, time.monotonic_ns(), {"op": "read", "value": value})
                if value is None:
                    continue
                call = time.monotonic_ns()
                try:
                    applied = session.execute(cas, (value + 1, key, value), timeout=20).was_applied
                    ret = time.monotonic_ns()
                except Unavailable as e:
                    self.errors.append(repr(e))  # refused before anything was tried
                    continue
                except Exception as e:  # noqa: BLE001 - the outcome is unknown
                    self.errors.append(repr(e))
                    applied, ret = None, None
                self.record(key, call, ret, {"op": "cas", "expected": value, "new": value + 1,
                                             "applied": applied})
        finally:
            cluster.shutdown()


def test_concurrent_increments_through_a_node_kill_are_linearizable_and_never_lost():
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    check = checker()
    yaml = "ring_delay_ms: 20000\nwrite_request_timeout_ms: 1000\n"
    with cluster_nodes("ilion-lwt-", 3, yaml) as (nodes, clusters):
        for n in nodes:
            n.start()
        wait_until("every node to list the other two in system.peers", lambda: formed(nodes), 60)
        c, s = session_on(nodes[0])
        clusters.append(c)
        s.execute("CREATE KEYSPACE lwt WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE lwt.reg (k int PRIMARY KEY, v int)")
        wait_until("the table on every node", lambda: all(
            session_on(n)[1].execute("SELECT * FROM lwt.reg") is not None for n in nodes), 30)
        history, lock = [], threading.Lock()
        for k in range(REGISTERS):
            call = time.monotonic_ns()
            insert = SimpleStatement(f"INSERT INTO lwt.reg (k, v) VALUES ({k}, 0) IF NOT EXISTS",
                                     consistency_level=ConsistencyLevel.QUORUM)
            assert s.execute(insert).was_applied
            history.append({"client": 99, "key": k, "call": call, "ret": time.monotonic_ns(),
                            "op": "cas", "expected": None, "new": 0, "applied": True})

        deadline = time.monotonic() + CLIENT_SECONDS
        stop = threading.Event()
        clients = [Client(i, nodes, history, lock, deadline, stop) for i in range(CLIENTS)]
        for t in clients:
            t.start()
        try:
            time.sleep(2)
            victim = nodes[2]
            killed = time.monotonic_ns()
            os.killpg(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait(timeout=30)
            time.sleep(4)
            victim.start(timeout=60)
            restarted = time.monotonic_ns()
            time.sleep(4)
        finally:
            stop.set()
            for t in clients:
                t.join(timeout=CLIENT_SECONDS + 60)
        assert not any(t.is_alive() for t in clients), "a client did not finish"
        # The clients worked through every phase: before the kill, while the node was down,
        # after it came back.
        cas_calls = [h["call"] for h in history if h["op"] == "cas" and h["client"] < CLIENTS
                     and h["applied"]]
        for name, lo, hi in [("before the kill", 0, killed), ("while down", killed, restarted),
                             ("after the restart", restarted, time.monotonic_ns())]:
            assert any(lo <= t < hi for t in cas_calls), f"no increment applied {name}"

        # The final values, read at SERIAL once every client is done.
        final = {}
        for k in range(REGISTERS):
            call = time.monotonic_ns()
            read = SimpleStatement(f"SELECT v FROM lwt.reg WHERE k = {k}",
                                   consistency_level=ConsistencyLevel.SERIAL)
            final[k] = s.execute(read, timeout=20).one().v
            history.append({"client": 100, "key": k, "call": call, "ret": time.monotonic_ns(),
                            "op": "read", "value": final[k]})

        cas_ops = [h for h in history if h["op"] == "cas" and h["client"] < CLIENTS]
        assert sum(1 for h in cas_ops if h["applied"]) > 20, \
            f"too few increments applied: {[t.errors[:3] for t in clients]}"
        for k in range(REGISTERS):
            applied = sum(1 for h in cas_ops if h["key"] == k and h["applied"] is True)
            unknown = sum(1 for h in cas_ops if h["key"] == k and h["applied"] is None)
            assert applied <= final[k] <= applied + unknown, \
                f"register {k}: {final[k]} after {applied} increments applied, {unknown} unknown"

        print(f"{len(history)} operations; per register: {final}; "
              f"unknown: {sum(1 for h in cas_ops if h['applied'] is None)}; "
              f"client errors: {sum(len(t.errors) for t in clients)}: "
              f"{[e for t in clients for e in t.errors][:4]}")
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="lwt-history-",
                                         delete=False) as f:
            json.dump(history, f)
            path = f.name
        out = subprocess.run([check, path], capture_output=True, text=True, timeout=300)
        # A failing history is kept, to replay with the checker.
        assert out.returncode == 0, f"{out.stdout}{out.stderr} (history kept in {path})"
        os.unlink(path)
