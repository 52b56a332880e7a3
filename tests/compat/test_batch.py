"""BATCH through the real driver: BatchStatement (logged, unlogged) of prepared and simple
statements, text BEGIN BATCH, batch timestamps, warnings and errors, on protocol v4 and v5."""

import itertools

import pytest
from cassandra import InvalidRequest
from cassandra.query import BatchStatement, BatchType, SimpleStatement, UNSET_VALUE

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
_keyspaces = itertools.count()


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def session(node, request):
    cluster = cluster_for(node, request.param)
    s = cluster.connect()
    ks = f"batch_ks_v{request.param}"
    s.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    s.set_keyspace(ks)
    s.execute("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))")
    s.execute("CREATE TABLE users (id int PRIMARY KEY, name text, email text)")
    yield s
    cluster.shutdown()


@pytest.fixture
def k():
    """A partition key no other test of the module uses."""
    return 1000 + next(_keyspaces) * 100


def rows(session, k):
    return [(r.c, r.v) for r in session.execute("SELECT c, v FROM t WHERE k = %s", [k])]


def test_a_logged_batch_of_prepared_and_simple_statements_applies_every_statement(session, k):
    ins = session.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?)")
    upd = session.prepare("UPDATE users SET name = ? WHERE id = ?")
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    batch.add(ins, (k, 1, "one"))
    batch.add(ins, (k, 2, "two"))
    batch.add(SimpleStatement("INSERT INTO t (k, c, v) VALUES (%s, %s, %s)"), (k, 3, "three"))
    batch.add("DELETE FROM t WHERE k = %s AND c = %s", (k, 2))
    batch.add(upd, ("ann", k))
    session.execute(batch)
    assert rows(session, k) == [(1, "one"), (3, "three")]
    assert session.execute("SELECT name FROM users WHERE id = %s", [k]).one().name == "ann"


def test_an_unlogged_batch_applies_and_unset_values_leave_columns_alone(session, k):
    session.execute("INSERT INTO users (id, name, email) VALUES (%s, 'bob', 'b@x')", [k])
    upd = session.prepare("UPDATE users SET name = ?, email = ? WHERE id = ?")
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    batch.add(upd, ("robert", UNSET_VALUE, k))
    batch.add("INSERT INTO t (k, c, v) VALUES (%s, 1, 'u')", (k,))
    session.execute(batch)
    row = session.execute("SELECT name, email FROM users WHERE id = %s", [k]).one()
    assert (row.name, row.email) == ("robert", "b@x")
    assert rows(session, k) == [(1, "u")]


def test_a_text_batch_sent_as_a_query_applies_with_its_timestamp(session, k):
    session.execute(f"INSERT INTO t (k, c, v) VALUES ({k}, 1, 'at 100') USING TIMESTAMP 100")
    session.execute(
        f"BEGIN BATCH USING TIMESTAMP 50 "
        f"UPDATE t SET v = 'at 50' WHERE k = {k} AND c = 1; "
        f"INSERT INTO t (k, c, v) VALUES ({k}, 2, 'new at 50'); "
        f"APPLY BATCH"
    )
    assert rows(session, k) == [(1, "at 100"), (2, "new at 50")]
    session.execute(
        f"BEGIN UNLOGGED BATCH USING TIMESTAMP 150 "
        f"UPDATE t SET v = 'at 150' WHERE k = {k} AND c = 1; "
        f"DELETE FROM t WHERE k = {k} AND c = 2; "
        f"APPLY BATCH"
    )
    assert rows(session, k) == [(1, "at 150")]


def test_the_driver_batch_timestamp_applies_to_every_statement(session, k):
    session.execute(f"INSERT INTO t (k, c, v) VALUES ({k}, 1, 'at 100') USING TIMESTAMP 100")
    cluster = session.cluster
    # The driver sends its client timestamp with the batch (the default timestamp flag).
    generator = cluster.timestamp_generator
    try:
        cluster.timestamp_generator = lambda: 99
        older = BatchStatement()
        older.add(f"UPDATE t SET v = 'at 99' WHERE k = {k} AND c = 1")
        older.add(f"INSERT INTO t (k, c, v) VALUES ({k}, 2, 'at 99')")
        session.execute(older)
        assert rows(session, k) == [(1, "at 100"), (2, "at 99")]
        cluster.timestamp_generator = lambda: 101
        newer = BatchStatement()
        newer.add(f"UPDATE t SET v = 'at 101' WHERE k = {k} AND c = 1")
        session.execute(newer)
    finally:
        cluster.timestamp_generator = generator
    assert rows(session, k) == [(1, "at 101"), (2, "at 99")]


def test_a_statement_timestamp_inside_a_timestamped_batch_is_refused(session, k):
    with pytest.raises(InvalidRequest, match="Timestamp must be set either on BATCH or individual statements"):
        session.execute(
            f"BEGIN BATCH USING TIMESTAMP 5 "
            f"INSERT INTO t (k, c, v) VALUES ({k}, 1, 'x') USING TIMESTAMP 6; APPLY BATCH"
        )
    assert rows(session, k) == []


def test_selects_counters_and_conditions_in_a_batch_are_refused(session, k):
    batch = BatchStatement()
    batch.add(f"INSERT INTO t (k, c, v) VALUES ({k}, 1, 'x')")
    batch.add(f"SELECT * FROM t WHERE k = {k}")
    with pytest.raises(InvalidRequest, match="only UPDATE, INSERT and DELETE"):
        session.execute(batch)
    counter = BatchStatement(batch_type=BatchType.COUNTER)
    counter.add(f"INSERT INTO t (k, c, v) VALUES ({k}, 1, 'x')")
    with pytest.raises(InvalidRequest,
                       match="Cannot include non-counter statement in a counter batch"):
        session.execute(counter)
    conditional = BatchStatement()
    conditional.add(f"INSERT INTO t (k, c, v) VALUES ({k}, 1, 'x') IF NOT EXISTS")
    conditional.add(f"INSERT INTO t (k, c, v) VALUES ({k + 1}, 1, 'x')")
    with pytest.raises(InvalidRequest,
                       match="Batch with conditions cannot span multiple partitions"):
        session.execute(conditional)
    with pytest.raises(InvalidRequest, match="Undefined column name nope"):
        session.execute(
            f"BEGIN BATCH INSERT INTO t (k, c, v) VALUES ({k}, 1, 'x'); "
            f"INSERT INTO users (id, nope) VALUES ({k}, 'y'); APPLY BATCH"
        )
    assert rows(session, k) == []


def test_a_large_batch_warns_and_a_too_large_one_fails(session, k):
    ins = session.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?)")
    batch = BatchStatement()
    batch.add(ins, (k, 1, "x" * 3000))
    batch.add(ins, (k + 1, 1, "x" * 3000))
    future = session.execute_async(batch)
    future.result()
    assert future.warnings is not None and len(future.warnings) == 1
    assert future.warnings[0].startswith("Batch for [")
    assert "exceeding specified threshold of 5120" in future.warnings[0]
    too_large = BatchStatement()
    too_large.add(ins, (k + 2, 1, "x" * 30000))
    too_large.add(ins, (k + 3, 1, "x" * 30000))
    with pytest.raises(InvalidRequest, match="Batch too large"):
        session.execute(too_large)
    assert rows(session, k + 2) == []


def test_an_unlogged_batch_over_many_partitions_warns(session, k):
    ins = session.prepare("INSERT INTO t (k, c, v) VALUES (?, 1, 'w')")
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for i in range(11):
        batch.add(ins, (k + i,))
    future = session.execute_async(batch)
    future.result()
    assert future.warnings is not None
    assert any(w.startswith("Unlogged batch covering 11 partitions detected against table [") for w in future.warnings)
    small = BatchStatement(batch_type=BatchType.UNLOGGED)
    small.add(ins, (k + 50,))
    future = session.execute_async(small)
    future.result()
    assert not future.warnings
