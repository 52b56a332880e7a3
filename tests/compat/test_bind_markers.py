"""Bind markers everywhere Cassandra 5.0 allows them, seen from the Python driver: LIMIT and PER
PARTITION LIMIT, list indexes and map keys in SET and DELETE, IN with one marker, collection
literals, function arguments (in written values, restrictions and selectors), USING TTL and
TIMESTAMP, named markers; the names and types PREPARE gives each marker; unset values where
Cassandra accepts them and its exact messages where it does not."""

import datetime

import pytest
from cassandra import InvalidRequest
from cassandra.query import UNSET_VALUE

from conftest import keyspace_session


@pytest.fixture(scope="module")
def s(node):
    with keyspace_session(node, "bm") as session:
        session.execute(
            "CREATE TABLE t (k int, c int, v int, l list<text>, m map<text, text>, st set<text>,"
            " b blob, ts timestamp, PRIMARY KEY (k, c))"
        )
        yield session


def markers(s, cql):
    return [(c.name, c.type.cql_parameterized_type()) for c in s.prepare(cql).column_metadata]


def rows(s, cql, args=()):
    return [tuple(r) for r in s.execute(s.prepare(cql), args)]


def refused(s, cql, args, message):
    with pytest.raises(InvalidRequest) as e:
        s.execute(s.prepare(cql), args)
    assert message in str(e.value), str(e.value)


def test_markers_get_cassandras_names_and_types(s):
    assert markers(s, "SELECT k FROM t WHERE k = ? LIMIT ?") == [("k", "int"), ("[limit]", "int")]
    assert markers(s, "SELECT k FROM t PER PARTITION LIMIT ? LIMIT ?") == [
        ("[per_partition_limit]", "int"),
        ("[limit]", "int"),
    ]
    assert markers(s, "SELECT k FROM t WHERE k IN ?") == [("in(k)", "list<int>")]
    assert markers(s, "UPDATE t SET l[?] = ? WHERE k = ? AND c = ?") == [
        ("idx(l)", "int"),
        ("value(l)", "varchar"),
        ("k", "int"),
        ("c", "int"),
    ]
    assert markers(s, "UPDATE t SET m[?] = ? WHERE k = 1 AND c = 1") == [
        ("key(m)", "varchar"),
        ("value(m)", "varchar"),
    ]
    assert markers(s, "DELETE m[?] FROM t WHERE k = 1 AND c = 1") == [("key(m)", "varchar")]
    assert markers(s, "DELETE l[?] FROM t WHERE k = 1 AND c = 1") == [("idx(l)", "int")]
    assert markers(s, "INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?") == [
        ("k", "int"),
        ("c", "int"),
        ("v", "int"),
        ("[ttl]", "int"),
        ("[timestamp]", "bigint"),
    ]
    assert markers(s, "INSERT INTO t (k, c, l, m) VALUES (1, 1, [?, 'x'], {?: ?})") == [
        ("value(l)", "varchar"),
        ("key(m)", "varchar"),
        ("value(m)", "varchar"),
    ]


def test_markers_in_function_arguments_take_the_parameter_type(s):
    assert markers(s, "INSERT INTO t (k, c, b) VALUES (?, ?, intAsBlob(?))") == [
        ("k", "int"),
        ("c", "int"),
        ("arg0(system.intasblob)", "int"),
    ]
    assert markers(s, "SELECT k FROM t WHERE k = blobAsInt(?)") == [
        ("arg0(system.blobasint)", "blob")
    ]
    assert markers(s, "SELECT k FROM t WHERE token(k) > token(?)") == [
        ("arg0(system.token)", "int")
    ]
    assert markers(s, "SELECT textAsBlob(?) FROM t WHERE k = ?") == [
        ("arg0(system.textasblob)", "varchar"),
        ("k", "int"),
    ]


def test_function_arguments_bind_in_values_restrictions_and_selectors(s):
    ins = s.prepare("INSERT INTO t (k, c, b, ts) VALUES (?, ?, intAsBlob(?), toTimestamp((date)?))")
    s.execute(ins, (10, 1, 7, datetime.date(2021, 3, 4)))
    assert rows(s, "SELECT k, c, b FROM t WHERE k = blobAsInt(?)", (b"\x00\x00\x00\x0a",)) == [
        (10, 1, b"\x00\x00\x00\x07")
    ]
    assert rows(s, "SELECT blobAsInt(b), toUnixTimestamp(ts) FROM t WHERE k = 10") == [
        (7, 1614816000000)
    ]
    assert rows(s, "SELECT textAsBlob(?) FROM t WHERE k = ?", ("hi", 10)) == [(b"hi",)]
    assert rows(s, "SELECT k FROM t WHERE token(k) = token(?)", (10,)) == [(10,)]


def test_limits_bind_and_an_unset_limit_is_no_limit(s):
    for c in range(3):
        s.execute("INSERT INTO t (k, c, v) VALUES (20, %s, %s)", (c, c))
        s.execute("INSERT INTO t (k, c, v) VALUES (21, %s, %s)", (c, c))
    q = "SELECT k, c FROM t WHERE k IN (20, 21) PER PARTITION LIMIT ? LIMIT ?"
    assert rows(s, q, (1, 10)) == [(20, 0), (21, 0)]
    assert rows(s, q, (2, 3)) == [(20, 0), (20, 1), (21, 0)]
    assert len(rows(s, q, (UNSET_VALUE, UNSET_VALUE))) == 6
    refused(s, "SELECT k FROM t LIMIT ?", (0,), "LIMIT must be strictly positive")
    refused(s, "SELECT k FROM t PER PARTITION LIMIT ?", (-1,), "LIMIT must be strictly positive")
    refused(s, "SELECT k FROM t LIMIT ?", (None,), "Invalid null value of limit")


def test_in_with_one_marker_binds_a_list(s):
    assert rows(s, "SELECT k, c FROM t WHERE k IN ? AND c = 0", ([20, 21, 99],)) == [
        (20, 0),
        (21, 0),
    ]
    assert rows(s, "SELECT c FROM t WHERE k = 20 AND c IN ?", ([2, 0],)) == [(0,), (2,)]
    refused(s, "SELECT k FROM t WHERE k IN ?", (UNSET_VALUE,), "Invalid unset value for column k")


def test_named_markers_bind_by_name(s):
    upd = s.prepare("UPDATE t USING TTL :ttl SET v = :v WHERE k = :key AND c = :c")
    assert [c.name for c in upd.column_metadata] == ["ttl", "v", "key", "c"]
    s.execute(upd, {"ttl": 1000, "v": 5, "key": 30, "c": 1})
    got = rows(s, "SELECT v, ttl(v) FROM t WHERE k = :k AND c = :c LIMIT :n", {"k": 30, "c": 1, "n": 5})
    assert got[0][0] == 5 and 990 <= got[0][1] <= 1000


def test_ttl_and_timestamp_markers_with_null_and_unset(s):
    ins = "INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?"
    s.execute(s.prepare(ins), (40, 1, 1, 500, 12345))
    assert rows(s, "SELECT writetime(v) FROM t WHERE k = 40") == [(12345,)]
    s.execute(s.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL ?"), (41, 1, 1, UNSET_VALUE))
    s.execute(s.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL ?"), (42, 1, 1, None))
    assert sorted(rows(s, "SELECT k, ttl(v) FROM t WHERE k IN (41, 42)")) == [(41, None), (42, None)]
    refused(
        s,
        "INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TIMESTAMP ?",
        (43, 1, 1, None),
        "Invalid null value of timestamp",
    )
    refused(
        s,
        "INSERT INTO t (k, c, v) VALUES (?, ?, ?) USING TTL ?",
        (43, 1, 1, -1),
        "A TTL must be greater or equal to 0, but was -1",
    )


def test_unset_values_in_collections_as_cassandra_treats_them(s):
    s.execute("INSERT INTO t (k, c, l, m, st) VALUES (50, 1, ['foo', 'foo'], {'k': 'v'}, {'a'})")
    where = "WHERE k = 50 AND c = 1"
    s.execute(s.prepare(f"UPDATE t SET m['k'] = ? {where}"), (UNSET_VALUE,))
    s.execute(s.prepare(f"UPDATE t SET l[1] = ? {where}"), (UNSET_VALUE,))
    s.execute(s.prepare(f"DELETE l[?] FROM t {where}"), (UNSET_VALUE,))
    s.execute(s.prepare(f"UPDATE t SET l = l - ? {where}"), (UNSET_VALUE,))
    s.execute(s.prepare(f"UPDATE t SET st = st + ? {where}"), (UNSET_VALUE,))
    # A literal with an unset element is unset as a whole.
    s.execute(s.prepare(f"UPDATE t SET st = {{?, 'z'}} {where}"), (UNSET_VALUE,))
    s.execute(s.prepare(f"UPDATE t SET l = [?] {where}"), (UNSET_VALUE,))
    assert rows(s, f"SELECT l, m, st FROM t {where}") == [(["foo", "foo"], {"k": "v"}, {"a"})]
    refused(s, f"UPDATE t SET m[?] = 'foo' {where}", (UNSET_VALUE,), "Invalid unset map key")
    refused(s, f"UPDATE t SET m[?] = 'foo' {where}", (None,), "Invalid null map key")
    refused(s, f"DELETE m[?] FROM t {where}", (UNSET_VALUE,), "Invalid unset map key")
    refused(s, f"DELETE m[?] FROM t {where}", (None,), "Invalid null map key")
    refused(s, f"UPDATE t SET l[?] = 'foo' {where}", (UNSET_VALUE,), "Invalid unset value for list index")
    refused(s, f"UPDATE t SET l[?] = 'foo' {where}", (None,), "Invalid null value for list index")
    refused(s, f"DELETE l[?] FROM t {where}", (None,), "Invalid null value for list index")
    refused(
        s,
        f"UPDATE t SET m = {{?: 'x'}} {where}",
        (UNSET_VALUE,),
        "unset value is not supported for map keys",
    )


def test_list_index_and_map_key_markers_write_elements(s):
    where = "WHERE k = ? AND c = ?"
    s.execute("INSERT INTO t (k, c, l, m) VALUES (60, 1, ['a', 'b', 'c'], {'x': '1'})")
    s.execute(s.prepare(f"UPDATE t SET l[?] = ? {where}"), (1, "B", 60, 1))
    s.execute(s.prepare(f"UPDATE t SET m[?] = ? {where}"), ("y", "2", 60, 1))
    s.execute(s.prepare(f"DELETE l[?], m[?] FROM t {where}"), (0, "x", 60, 1))
    assert rows(s, "SELECT l, m FROM t WHERE k = 60") == [(["B", "c"], {"y": "2"})]
    refused(s, f"UPDATE t SET l[?] = ? {where}", (5, "z", 60, 1), "List index 5 out of bound, list has size 2")


def test_function_argument_refusals_are_cassandras(s):
    refused(
        s,
        "SELECT k FROM t WHERE k = blobAsInt(?)",
        (UNSET_VALUE,),
        "Invalid unset value for argument in call to function blobasint",
    )
    refused(
        s,
        "SELECT k FROM t WHERE token(k) >= token(?)",
        (UNSET_VALUE,),
        "Invalid unset value for argument in call to function token",
    )
    with pytest.raises(InvalidRequest, match="Unknown function nosuch called"):
        s.execute("INSERT INTO t (k, c, v) VALUES (1, 1, nosuch(1))")
    with pytest.raises(
        InvalidRequest,
        match=r"Invalid number of arguments in call to function system.intasblob: 1 required but 2 "
        "provided",
    ):
        s.execute("INSERT INTO t (k, c, b) VALUES (1, 1, intAsBlob(1, 2))")
    # A marker fits both overloads of toTimestamp: Cassandra asks for a type hint.
    with pytest.raises(
        InvalidRequest,
        match=r"Ambiguous call to function system.totimestamp \(can be matched by following "
        r"signatures: system.totimestamp : \(timeuuid\) -> timestamp, system.totimestamp : "
        r"\(date\) -> timestamp\): use type casts to disambiguate",
    ):
        s.prepare("INSERT INTO t (k, c, ts) VALUES (1, 1, toTimestamp(?))")
