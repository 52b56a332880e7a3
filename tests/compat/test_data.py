"""The data path seen from the real driver: INSERT, UPDATE, DELETE and SELECT by partition key."""

import datetime
import decimal
import ipaddress
import time
import uuid

import pytest
from cassandra import InvalidRequest
from cassandra.util import Date, Time

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module")
def session(node):
    cluster = cluster_for(node, 5)
    s = cluster.connect()
    s.execute("CREATE KEYSPACE data_ks WITH replication = " + RF1)
    s.set_keyspace("data_ks")
    s.execute(
        "CREATE TABLE events (id int, at bigint, what text, n double, PRIMARY KEY (id, at))"
        " WITH CLUSTERING ORDER BY (at DESC)"
    )
    yield s
    cluster.shutdown()


def test_inserted_rows_are_read_back_by_partition_key(session):
    for at in range(5):
        session.execute(f"INSERT INTO events (id, at, what, n) VALUES (1, {at}, 'e{at}', {at}.5)")
    session.execute("INSERT INTO events (id, at, what) VALUES (2, 0, 'other')")
    rows = list(session.execute("SELECT * FROM events WHERE id = 1"))
    assert [(r.id, r.at, r.what, r.n) for r in rows] == [
        (1, at, f"e{at}", at + 0.5) for at in (4, 3, 2, 1, 0)
    ]
    rows = list(session.execute("SELECT what FROM events WHERE id = 2"))
    assert [r.what for r in rows] == ["other"]
    assert list(session.execute("SELECT * FROM events WHERE id = 3")) == []


def test_clustering_slices_and_limit_select_the_right_rows(session):
    for at in range(5):
        session.execute(f"INSERT INTO events (id, at, what) VALUES (10, {at}, 'x{at}')")
    q = "SELECT at FROM events WHERE id = 10 AND "
    assert [r.at for r in session.execute(q + "at = 3")] == [3]
    assert [r.at for r in session.execute(q + "at > 1")] == [4, 3, 2]
    assert [r.at for r in session.execute(q + "at >= 1 AND at < 4")] == [3, 2, 1]
    assert [r.at for r in session.execute(q + "at <= 2")] == [2, 1, 0]
    assert [r.at for r in session.execute("SELECT at FROM events WHERE id = 10 LIMIT 2")] == [4, 3]


def test_prepared_statements_bind_values_and_page(session):
    ins = session.prepare("INSERT INTO events (id, at, what) VALUES (?, ?, ?)")
    for at in range(30):
        session.execute(ins, [20, at, f"p{at}"])
    # An unset value leaves the column as it is.
    from cassandra.query import UNSET_VALUE

    session.execute(ins, [20, 0, UNSET_VALUE])
    assert session.execute("SELECT what FROM events WHERE id = 20 AND at = 0").one().what == "p0"
    sel = session.prepare("SELECT at, what FROM events WHERE id = ? AND at >= ?")
    assert sel.routing_key_indexes == [0]
    assert ins.routing_key_indexes == [0]
    sel.fetch_size = 7
    rows = list(session.execute(sel, [20, 10]))
    assert [(r.at, r.what) for r in rows] == [(at, f"p{at}") for at in range(29, 9, -1)]


def test_every_native_type_round_trips(session):
    session.execute(
        "CREATE TABLE types (k int PRIMARY KEY, a ascii, bi bigint, b blob, bo boolean, d date,"
        " de decimal, db double, f float, i inet, si smallint, t text, tm time, ts timestamp,"
        " tu timeuuid, ti tinyint, u uuid, vi varint, vc varchar)"
    )
    values = {
        "a": "ascii",
        "bi": -(2**62),
        "b": b"\x00\x01\xff",
        "bo": True,
        "d": Date(datetime.date(2024, 2, 29)),
        "de": decimal.Decimal("-12.345"),
        "db": 1.25,
        "f": 0.5,
        "i": ipaddress.ip_address("10.1.2.3"),
        "si": -300,
        "t": "héllo",
        "tm": Time(3_600_000_000_123),
        "ts": datetime.datetime(2021, 1, 2, 3, 4, 5, 678000),
        "tu": uuid.uuid1(),
        "ti": -7,
        "u": uuid.uuid4(),
        "vi": 2**80,
        "vc": "varchar",
    }
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    stmt = session.prepare(f"INSERT INTO types (k, {cols}) VALUES (?, {marks})")
    session.execute(stmt, [1, *values.values()])
    row = session.execute("SELECT * FROM types WHERE k = 1").one()
    for name, v in values.items():
        got = getattr(row, name)
        if name == "i":
            got = ipaddress.ip_address(got)
        assert got == v, name
    # The same values as literals in a simple statement.
    session.execute(
        "INSERT INTO types (k, a, bi, b, bo, db, f, i, si, t, ti, u, vc)"
        " VALUES (2, 'x', 5, 0xcafe, false, 2.5, 1.5, '::1', 3, 'y', 4,"
        " 8d2c4a4e-6b3e-4d1c-9d34-6c47a1e0b1f2, 'z')"
    )
    row = session.execute("SELECT a, bi, b, bo, db, f, si, t, ti, u, vc FROM types WHERE k = 2").one()
    assert (row.a, row.bi, row.b, row.bo, row.db, row.f, row.si, row.t, row.ti, row.vc) == (
        "x", 5, b"\xca\xfe", False, 2.5, 1.5, 3, "y", 4, "z"
    )
    assert row.u == uuid.UUID("8d2c4a4e-6b3e-4d1c-9d34-6c47a1e0b1f2")
    session.execute(
        "INSERT INTO types (k, vi, de, d, tm) VALUES (3, -170141183460469231731687303715884105728,"
        " -12.345, '2024-02-29', '01:00:00.000000123')"
    )
    row = session.execute("SELECT vi, de, d, tm FROM types WHERE k = 3").one()
    assert row.vi == -(2**127)
    assert row.de == decimal.Decimal("-12.345")
    assert row.d == Date(datetime.date(2024, 2, 29))
    assert row.tm == Time(3_600_000_000_123)


def test_an_older_timestamp_does_not_overwrite_a_newer_write(session):
    session.execute("CREATE TABLE kv (k int PRIMARY KEY, v text)")
    session.execute("INSERT INTO kv (k, v) VALUES (1, 'new') USING TIMESTAMP 2000")
    session.execute("INSERT INTO kv (k, v) VALUES (1, 'old') USING TIMESTAMP 1000")
    assert session.execute("SELECT v FROM kv WHERE k = 1").one().v == "new"
    session.execute("UPDATE kv USING TIMESTAMP 3000 SET v = 'newer' WHERE k = 1")
    assert session.execute("SELECT v FROM kv WHERE k = 1").one().v == "newer"
    session.execute("DELETE FROM kv USING TIMESTAMP 2500 WHERE k = 1")
    assert session.execute("SELECT v FROM kv WHERE k = 1").one().v == "newer"
    session.execute("DELETE FROM kv WHERE k = 1")
    assert session.execute("SELECT v FROM kv WHERE k = 1").one() is None


def test_a_ttl_expires_the_row(session):
    session.execute("CREATE TABLE ttl (k int PRIMARY KEY, v text)")
    session.execute("INSERT INTO ttl (k, v) VALUES (1, 'short') USING TTL 3")
    session.execute("INSERT INTO ttl (k, v) VALUES (2, 'long') USING TTL 1000")
    assert session.execute("SELECT v FROM ttl WHERE k = 1").one().v == "short"
    deadline = time.monotonic() + 10
    while session.execute("SELECT v FROM ttl WHERE k = 1").one() is not None:
        assert time.monotonic() < deadline, "the TTL'd row never expired"
        time.sleep(0.2)
    assert session.execute("SELECT v FROM ttl WHERE k = 2").one().v == "long"


def test_truncate_and_drop_remove_the_data(session):
    session.execute("CREATE TABLE gone (k int PRIMARY KEY, v int)")
    session.execute("INSERT INTO gone (k, v) VALUES (1, 1)")
    session.execute("TRUNCATE gone")
    assert session.execute("SELECT * FROM gone WHERE k = 1").one() is None
    session.execute("INSERT INTO gone (k, v) VALUES (1, 2)")
    session.execute("DROP TABLE gone")
    session.execute("CREATE TABLE gone (k int PRIMARY KEY, v int)")
    assert session.execute("SELECT * FROM gone WHERE k = 1").one() is None


def test_filtering_without_allow_filtering_is_refused(session):
    with pytest.raises(InvalidRequest, match="use ALLOW FILTERING"):
        session.execute("SELECT * FROM events WHERE what = 'e1'")


def test_data_survives_a_restart(fresh_node):
    cluster = cluster_for(fresh_node, 5)
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE keep WITH replication = " + RF1)
        s.execute("CREATE TABLE keep.t (k int, c int, v text, PRIMARY KEY (k, c))")
        for c in range(3):
            s.execute(f"INSERT INTO keep.t (k, c, v) VALUES (1, {c}, 'v{c}')")
    finally:
        cluster.shutdown()
    assert fresh_node.stop() == 0
    fresh_node.start()
    cluster = cluster_for(fresh_node, 5)
    try:
        s = cluster.connect()
        rows = list(s.execute("SELECT c, v FROM keep.t WHERE k = 1"))
        assert [(r.c, r.v) for r in rows] == [(0, "v0"), (1, "v1"), (2, "v2")]
    finally:
        cluster.shutdown()
