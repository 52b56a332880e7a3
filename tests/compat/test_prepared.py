"""Prepared statements as drivers use them: positional and named markers, unset values, routing
keys, and preparing again transparently after the node restarts (UNPREPARED)."""

import time

import pytest
from cassandra import InvalidRequest
from cassandra.query import BatchStatement, UNSET_VALUE

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def session(node, request):
    cluster = cluster_for(node, request.param)
    s = cluster.connect()
    ks = f"prep_ks_v{request.param}"
    s.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    s.set_keyspace(ks)
    s.execute("CREATE TABLE t (k int, c int, v text, w int, PRIMARY KEY (k, c))")
    yield s
    cluster.shutdown()


def test_positional_markers_bind_in_order_and_give_the_routing_key(session):
    ins = session.prepare("INSERT INTO t (k, c, v, w) VALUES (?, ?, ?, ?)")
    assert [c.name for c in ins.column_metadata] == ["k", "c", "v", "w"]
    assert ins.routing_key_indexes == [0]
    session.execute(ins, (1, 1, "a", 10))
    sel = session.prepare("SELECT c, v, w FROM t WHERE k = ? AND c = ?")
    row = session.execute(sel, (1, 1)).one()
    assert (row.c, row.v, row.w) == (1, "a", 10)
    upd = session.prepare("UPDATE t USING TTL ? SET v = ? WHERE k = ? AND c = ?")
    assert [c.name for c in upd.column_metadata] == ["[ttl]", "v", "k", "c"]
    session.execute(upd, (1000, "b", 1, 1))
    assert session.execute(sel, (1, 1)).one().v == "b"


def test_named_markers_bind_by_name_in_any_order(session):
    ins = session.prepare("INSERT INTO t (k, c, v, w) VALUES (:key, :col, :val, :num)")
    assert [c.name for c in ins.column_metadata] == ["key", "col", "val", "num"]
    assert ins.routing_key_indexes == [0]
    session.execute(ins, {"num": 7, "val": "named", "col": 2, "key": 2})
    sel = session.prepare("SELECT v, w FROM t WHERE k = :key AND c = :col")
    row = session.execute(sel, {"col": 2, "key": 2}).one()
    assert (row.v, row.w) == ("named", 7)
    # The same values through a bound statement built by name.
    bound = sel.bind({"key": 2, "col": 2})
    assert session.execute(bound).one().v == "named"
    # A name left out of the dict is sent as unset (protocol v4 and later): the column keeps
    # its value.
    session.execute(ins, {"key": 2, "col": 2, "val": "renamed"})
    row = session.execute(sel, {"col": 2, "key": 2}).one()
    assert (row.v, row.w) == ("renamed", 7)


def test_update_and_delete_bind_in_lists_on_the_key(session):
    for k in (20, 21, 22):
        for c in (1, 2):
            session.execute("INSERT INTO t (k, c, v) VALUES (%s, %s, 'old')", (k, c))
    upd = session.prepare("UPDATE t SET v = ? WHERE k IN ? AND c = ?")
    assert [c.name for c in upd.column_metadata] == ["v", "in(k)", "c"]
    session.execute(upd, ("new", [20, 22], 2))
    rows = session.execute("SELECT k, c, v FROM t WHERE k IN (20, 21, 22)")
    assert sorted((r.k, r.c, r.v) for r in rows) == [
        (20, 1, "old"), (20, 2, "new"), (21, 1, "old"), (21, 2, "old"),
        (22, 1, "old"), (22, 2, "new")]
    dele = session.prepare("DELETE FROM t WHERE k = ? AND c IN ?")
    session.execute(dele, (21, [1, 2]))
    assert list(session.execute("SELECT c FROM t WHERE k = 21")) == []
    assert len(list(session.execute("SELECT c FROM t WHERE k = 20"))) == 2


def test_unset_values_leave_columns_as_they_are(session):
    ins = session.prepare("INSERT INTO t (k, c, v, w) VALUES (?, ?, ?, ?)")
    session.execute(ins, (3, 1, "kept", 1))
    session.execute(ins, (3, 1, UNSET_VALUE, 2))
    row = session.execute("SELECT v, w FROM t WHERE k = 3 AND c = 1").one()
    assert (row.v, row.w) == ("kept", 2)
    upd = session.prepare("UPDATE t SET v = ?, w = ? WHERE k = ? AND c = ?")
    session.execute(upd, (UNSET_VALUE, 3, 3, 1))
    row = session.execute("SELECT v, w FROM t WHERE k = 3 AND c = 1").one()
    assert (row.v, row.w) == ("kept", 3)
    # Null, unlike unset, deletes the value.
    session.execute(upd, (None, UNSET_VALUE, 3, 1))
    row = session.execute("SELECT v, w FROM t WHERE k = 3 AND c = 1").one()
    assert (row.v, row.w) == (None, 3)


def test_wrong_values_are_refused_with_invalid_request(session):
    ins = session.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?)")
    with pytest.raises(InvalidRequest, match="primary key column"):
        session.execute(ins, (None, 1, "x"))
    with pytest.raises(InvalidRequest):
        session.execute("INSERT INTO t (k, c, v) VALUES (1, 2, 3)")
    with pytest.raises(InvalidRequest, match="Undefined column name nope"):
        session.prepare("INSERT INTO t (k, c, nope) VALUES (?, ?, ?)")


def _wait_for(check, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("protocol", [4, 5])
def test_statements_are_prepared_again_after_the_node_restarts(fresh_node, protocol):
    cluster = cluster_for(fresh_node, protocol)
    try:
        s = cluster.connect()
        s.execute(f"CREATE KEYSPACE re WITH replication = {RF1}")
        s.execute("CREATE TABLE re.t (k int PRIMARY KEY, v text)")
        ins = s.prepare("INSERT INTO re.t (k, v) VALUES (?, ?)")
        sel = s.prepare("SELECT v FROM re.t WHERE k = ?")
        s.execute(ins, (1, "before"))
        assert fresh_node.stop() == 0
        fresh_node.start()
        # The restarted node has forgotten both statements: the driver gets UNPREPARED,
        # prepares again and re-runs them without the application noticing.
        assert _wait_for(lambda: s.execute(sel, (1,)).one().v == "before")
        s.execute(ins, (2, "after"))
        assert s.execute(sel, (2,)).one().v == "after"
    finally:
        cluster.shutdown()


def test_a_batch_of_prepared_statements_is_prepared_again_after_a_restart(fresh_node):
    cluster = cluster_for(fresh_node, 4)
    try:
        s = cluster.connect()
        s.execute(f"CREATE KEYSPACE reb WITH replication = {RF1}")
        s.execute("CREATE TABLE reb.t (k int PRIMARY KEY, v text)")
        ins = s.prepare("INSERT INTO reb.t (k, v) VALUES (?, ?)")
        s.execute(ins, (0, "warm"))
        assert fresh_node.stop() == 0
        fresh_node.start()
        assert _wait_for(lambda: s.execute("SELECT v FROM reb.t WHERE k = 0").one().v == "warm")

        def batch():
            b = BatchStatement()
            b.add(ins, (1, "one"))
            b.add(ins, (2, "two"))
            s.execute(b)
            return True

        assert _wait_for(batch)
        got = [s.execute("SELECT v FROM reb.t WHERE k = %s", [k]).one().v for k in (1, 2)]
        assert got == ["one", "two"]
    finally:
        cluster.shutdown()
