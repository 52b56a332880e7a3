"""Every CQL type written and read back through a node by the real driver (protocol v4 and v5):
native types, frozen and non-frozen collections (nested), tuples and user types, collection
update operators, element and range deletions, INSERT JSON / SELECT JSON, and type errors."""

import collections
import datetime
import decimal
import ipaddress
import json
import uuid

import pytest
from cassandra import InvalidRequest
from cassandra.util import Date, Duration, Time

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

NATIVE = [
    # (type, python value, CQL literal of the same value)
    ("ascii", "plain ascii", "'plain ascii'"),
    ("bigint", -(2**62), str(-(2**62))),
    ("blob", b"\x00\xffbin", "0x00ff62696e"),
    ("boolean", True, "true"),
    ("date", Date(datetime.date(2024, 2, 29)), "'2024-02-29'"),
    ("decimal", decimal.Decimal("-12345678901234567890.0125"), "-12345678901234567890.0125"),
    ("double", 2.5e-300, "2.5e-300"),
    ("duration", Duration(14, 3, 3_600_000_000_001), "1y2mo3d1h1ns"),
    ("float", 1.5, "1.5"),
    ("inet", "2001:db8::1", "'2001:db8::1'"),
    ("int", -(2**31), str(-(2**31))),
    ("smallint", 32767, "32767"),
    ("text", "héllo 'wörld'", "'héllo ''wörld'''"),
    ("time", Time(datetime.time(13, 14, 15, 123456)), "'13:14:15.123456'"),
    (
        "timestamp",
        datetime.datetime(2011, 2, 3, 4, 5, 6, 789000),
        "'2011-02-03 04:05:06.789+0000'",
    ),
    (
        "timeuuid",
        uuid.UUID("9f8e1b40-3c2a-11ef-9a8b-0242ac120002"),
        "9f8e1b40-3c2a-11ef-9a8b-0242ac120002",
    ),
    ("tinyint", -128, "-128"),
    ("uuid", uuid.UUID("123e4567-e89b-42d3-a456-556642440000"), "123e4567-e89b-42d3-a456-556642440000"),
    ("varint", 123456789012345678901234567890, "123456789012345678901234567890"),
]


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def session(request, node):
    cluster = cluster_for(node, request.param)
    s = cluster.connect()
    ks = f"types_v{request.param}"
    s.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    s.set_keyspace(ks)
    s.execute("CREATE TYPE addr (street text, num int, tags frozen<set<text>>)")
    cols = ", ".join(f"c_{t} {t}" for t, _, _ in NATIVE)
    s.execute(f"CREATE TABLE natives (k int PRIMARY KEY, {cols})")
    s.execute(
        "CREATE TABLE frozen_things (k int PRIMARY KEY,"
        " fl frozen<list<int>>, fs frozen<set<text>>, fm frozen<map<text, int>>,"
        " tup tuple<int, text, frozen<list<double>>>, fu frozen<addr>,"
        " nested frozen<map<int, frozen<list<frozen<set<bigint>>>>>>)"
    )
    s.execute(
        "CREATE TABLE colls (k int, c int, l list<text>, s set<int>, m map<text, int>,"
        " u addr, lu list<frozen<addr>>, ms map<int, frozen<set<text>>>,"
        " st set<text> static, PRIMARY KEY (k, c))"
    )
    s.execute("CREATE TABLE ranges (k int, a int, b int, v text, PRIMARY KEY (k, a, b))")
    s.execute(
        "CREATE TABLE ranges_desc (k int, a int, v text, PRIMARY KEY (k, a))"
        " WITH CLUSTERING ORDER BY (a DESC)"
    )
    s.execute(
        "CREATE TABLE js (k int PRIMARY KEY, t text, b blob, ts timestamp, u uuid,"
        ' l list<int>, m map<int, text>, fu frozen<addr>, tup tuple<int, text>, "Quoted" int)'
    )
    yield s
    cluster.shutdown()


Addr = collections.namedtuple("Addr", ["street", "num", "tags"])


def one(session, query, *args):
    rows = list(session.execute(query, *args))
    assert len(rows) == 1, rows
    return rows[0]


def test_every_native_type_round_trips_as_bind_values_and_as_literals(session):
    names = [f"c_{t}" for t, _, _ in NATIVE]
    values = [v for _, v, _ in NATIVE]
    ins = session.prepare(
        f"INSERT INTO natives (k, {', '.join(names)}) VALUES (?, {', '.join('?' * len(names))})"
    )
    session.execute(ins, [1] + values)
    literals = ", ".join(lit for _, _, lit in NATIVE)
    session.execute(f"INSERT INTO natives (k, {', '.join(names)}) VALUES (2, {literals})")
    for k in (1, 2):
        row = one(session, f"SELECT {', '.join(names)} FROM natives WHERE k = %s", [k])
        for (ty, expected, _), got in zip(NATIVE, row):
            if ty == "inet":
                assert ipaddress.ip_address(got) == ipaddress.ip_address(expected)
            else:
                assert got == expected, (k, ty, got)


def test_nulls_and_missing_values_read_as_none(session):
    session.execute("INSERT INTO natives (k, c_int, c_text) VALUES (3, null, 'x')")
    row = one(session, "SELECT c_int, c_text, c_blob FROM natives WHERE k = 3")
    assert (row.c_int, row.c_text, row.c_blob) == (None, "x", None)


def test_frozen_collections_tuples_and_udts_round_trip(session):
    tags = {"b", "a"}
    nested = {2: [{3, 1}, set()], 1: [{-5}]}
    ins = session.prepare(
        "INSERT INTO frozen_things (k, fl, fs, fm, tup, fu, nested) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    session.execute(
        ins,
        [1, [3, 1, 3], {"z", "a", "m"}, {"b": 2, "a": 1}, (7, "x", [1.5]), Addr("Main", 5, tags), nested],
    )
    session.execute(
        "INSERT INTO frozen_things (k, fl, fs, fm, tup, fu, nested) VALUES (2, [3, 1, 3],"
        " {'z', 'a', 'm', 'a'}, {'b': 2, 'a': 1}, (7, 'x', [1.5]),"
        " {street: 'Main', num: 5, tags: {'b', 'a'}}, {2: [{3, 1}, {}], 1: [{-5}]})"
    )
    for k in (1, 2):
        row = one(session, "SELECT * FROM frozen_things WHERE k = %s", [k])
        assert row.fl == [3, 1, 3]
        assert list(row.fs) == ["a", "m", "z"]  # sorted, as Cassandra stores sets
        assert list(row.fm.items()) == [("a", 1), ("b", 2)]
        assert row.tup == (7, "x", [1.5])
        assert (row.fu.street, row.fu.num, set(row.fu.tags)) == ("Main", 5, tags)
        assert list(row.nested.keys()) == [1, 2]
        assert [set(x) for x in row.nested[2]] == [{1, 3}, set()]
    # A tuple with fewer components and a UDT with fields left out: the rest is null.
    session.execute("INSERT INTO frozen_things (k, tup, fu) VALUES (3, (1), {num: 2})")
    row = one(session, "SELECT tup, fu FROM frozen_things WHERE k = 3")
    assert row.tup == (1, None, None)
    assert (row.fu.street, row.fu.num, row.fu.tags) == (None, 2, None)


def test_non_frozen_collections_round_trip_and_empty_reads_as_null(session):
    ins = session.prepare("INSERT INTO colls (k, c, l, s, m, u, lu, ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    session.execute(
        ins,
        [
            1, 1, ["b", "a", "b"], {3, 1, 2}, {"y": 2, "x": 1}, Addr("High", 1, {"t"}),
            [Addr("A", 1, None), Addr("B", 2, {"q"})], {2: {"b"}, 1: {"a", "c"}},
        ],
    )
    row = one(session, "SELECT l, s, m, u, lu, ms FROM colls WHERE k = 1 AND c = 1")
    assert row.l == ["b", "a", "b"]
    assert list(row.s) == [1, 2, 3]
    assert list(row.m.items()) == [("x", 1), ("y", 2)]
    assert (row.u.street, row.u.num, set(row.u.tags)) == ("High", 1, {"t"})
    assert [(a.street, a.num) for a in row.lu] == [("A", 1), ("B", 2)]
    assert {k: set(v) for k, v in row.ms.items()} == {1: {"a", "c"}, 2: {"b"}}
    # A whole write replaces every element; an empty collection is a deletion.
    session.execute("UPDATE colls SET l = ['z'], s = {}, m = {} WHERE k = 1 AND c = 1")
    row = one(session, "SELECT l, s, m FROM colls WHERE k = 1 AND c = 1")
    assert (row.l, row.s, row.m) == (["z"], None, None)
    session.execute("INSERT INTO colls (k, c, l) VALUES (1, 2, [])")
    row = one(session, "SELECT l FROM colls WHERE k = 1 AND c = 2")
    assert row.l is None


def test_list_operators_append_prepend_set_by_index_and_remove(session):
    session.execute("INSERT INTO colls (k, c, l) VALUES (2, 1, ['b', 'c'])")
    session.execute("UPDATE colls SET l = l + ['d', 'e'] WHERE k = 2 AND c = 1")
    session.execute("UPDATE colls SET l = ['a0', 'a1'] + l WHERE k = 2 AND c = 1")
    session.execute("UPDATE colls SET l = ['z'] + l WHERE k = 2 AND c = 1")
    q = "SELECT l FROM colls WHERE k = 2 AND c = 1"
    assert one(session, q).l == ["z", "a0", "a1", "b", "c", "d", "e"]
    session.execute("UPDATE colls SET l[1] = 'A0' WHERE k = 2 AND c = 1")
    session.execute(session.prepare("UPDATE colls SET l[?] = ? WHERE k = 2 AND c = 1"), [2, "A1"])
    assert one(session, q).l == ["z", "A0", "A1", "b", "c", "d", "e"]
    with pytest.raises(InvalidRequest, match="List index 7 out of bound, list has size 7"):
        session.execute("UPDATE colls SET l[7] = 'x' WHERE k = 2 AND c = 1")
    session.execute("DELETE l[0] FROM colls WHERE k = 2 AND c = 1")
    session.execute("UPDATE colls SET l = l - ['b', 'd', 'nope'] WHERE k = 2 AND c = 1")
    assert one(session, q).l == ["A0", "A1", "c", "e"]
    session.execute("UPDATE colls SET l += ['f'] WHERE k = 2 AND c = 1")
    assert one(session, q).l == ["A0", "A1", "c", "e", "f"]
    with pytest.raises(InvalidRequest, match="list which is null"):
        session.execute("UPDATE colls SET l[0] = 'x' WHERE k = 2 AND c = 99")


def test_set_and_map_operators_and_element_deletes(session):
    session.execute("INSERT INTO colls (k, c, s, m) VALUES (3, 1, {1, 2}, {'a': 1})")
    session.execute("UPDATE colls SET s = s + {5, 3}, m = m + {'c': 3, 'b': 2} WHERE k = 3 AND c = 1")
    session.execute("UPDATE colls SET s = s - {1}, m['d'] = 4 WHERE k = 3 AND c = 1")
    upd = session.prepare("UPDATE colls SET s = s + ?, m = m - ? WHERE k = 3 AND c = 1")
    session.execute(upd, [{9}, {"a"}])
    row = one(session, "SELECT s, m FROM colls WHERE k = 3 AND c = 1")
    assert list(row.s) == [2, 3, 5, 9]
    assert list(row.m.items()) == [("b", 2), ("c", 3), ("d", 4)]
    session.execute("DELETE m['c'], s[3] FROM colls WHERE k = 3 AND c = 1")
    session.execute(session.prepare("DELETE m[?] FROM colls WHERE k = 3 AND c = 1"), ["d"])
    row = one(session, "SELECT s, m FROM colls WHERE k = 3 AND c = 1")
    assert (list(row.s), dict(row.m)) == ([2, 5, 9], {"b": 2})
    session.execute("UPDATE colls SET m['b'] = null WHERE k = 3 AND c = 1")
    session.execute("DELETE s FROM colls WHERE k = 3 AND c = 1")
    row = one(session, "SELECT s, m FROM colls WHERE k = 3 AND c = 1")
    assert (row.s, row.m) == (None, None)


def test_udt_fields_are_written_and_deleted_one_by_one(session):
    session.execute("INSERT INTO colls (k, c, u) VALUES (4, 1, {street: 'S', num: 1})")
    session.execute("UPDATE colls SET u.num = 2, u.tags = {'x'} WHERE k = 4 AND c = 1")
    row = one(session, "SELECT u FROM colls WHERE k = 4 AND c = 1")
    assert (row.u.street, row.u.num, set(row.u.tags)) == ("S", 2, {"x"})
    session.execute("DELETE u.street FROM colls WHERE k = 4 AND c = 1")
    row = one(session, "SELECT u FROM colls WHERE k = 4 AND c = 1")
    assert (row.u.street, row.u.num) == (None, 2)
    session.execute("DELETE u.num, u.tags FROM colls WHERE k = 4 AND c = 1")
    assert one(session, "SELECT u FROM colls WHERE k = 4 AND c = 1").u is None
    with pytest.raises(InvalidRequest, match="does not have a field named nope"):
        session.execute("UPDATE colls SET u.nope = 1 WHERE k = 4 AND c = 1")


def test_static_collections_are_shared_by_the_partition(session):
    session.execute("UPDATE colls SET st = st + {'a'} WHERE k = 5")
    session.execute("INSERT INTO colls (k, c, l) VALUES (5, 1, ['x'])")
    session.execute("UPDATE colls SET st = st + {'b'} WHERE k = 5")
    rows = list(session.execute("SELECT c, st FROM colls WHERE k = 5"))
    assert [(r.c, sorted(r.st)) for r in rows] == [(1, ["a", "b"])]


def test_clustering_prefix_and_range_deletions_remove_the_rows_they_cover(session):
    ins = session.prepare("INSERT INTO ranges (k, a, b, v) VALUES (?, ?, ?, ?)")
    for a in range(4):
        for b in range(3):
            session.execute(ins, [1, a, b, f"{a}{b}"])
    session.execute("DELETE FROM ranges WHERE k = 1 AND a = 1")
    session.execute("DELETE FROM ranges WHERE k = 1 AND a = 2 AND b > 0 AND b <= 1")
    session.execute(session.prepare("DELETE FROM ranges WHERE k = 1 AND a >= ?"), [3])
    rows = [(r.a, r.b) for r in session.execute("SELECT a, b FROM ranges WHERE k = 1")]
    assert rows == [(0, 0), (0, 1), (0, 2), (2, 0), (2, 2)]
    # A row written later (newer timestamp) inside a deleted range lives.
    session.execute(ins, [1, 1, 5, "new"])
    assert [r.v for r in session.execute("SELECT v FROM ranges WHERE k = 1 AND a = 1")] == ["new"]
    for a in range(6):
        session.execute("INSERT INTO ranges_desc (k, a, v) VALUES (1, %s, 'x')", [a])
    session.execute("DELETE FROM ranges_desc WHERE k = 1 AND a > 1 AND a < 4")
    assert [r.a for r in session.execute("SELECT a FROM ranges_desc WHERE k = 1")] == [5, 4, 1, 0]
    with pytest.raises(InvalidRequest, match="Range deletions are not supported for specific columns"):
        session.execute("DELETE v FROM ranges WHERE k = 1 AND a > 1")


def test_insert_json_and_select_json_use_cassandras_mapping(session):
    doc = {
        "k": 1, "t": "hé\"llo", "b": "0xcafe", "ts": "2020-01-02 03:04:05.006Z",
        "u": "123e4567-e89b-42d3-a456-556642440000", "l": [3, 1], "m": {"2": "b", "1": "a"},
        "fu": {"street": "S", "num": 1, "tags": ["y", "x"]}, "tup": [1, "x"], '"Quoted"': 7,
    }
    session.execute("INSERT INTO js JSON %s", [json.dumps(doc)])
    row = one(session, "SELECT * FROM js WHERE k = 1")
    assert row.t == 'hé"llo' and row.b == b"\xca\xfe" and row.l == [3, 1]
    assert row.ts == datetime.datetime(2020, 1, 2, 3, 4, 5, 6000)
    assert dict(row.m) == {1: "a", 2: "b"} and row.tup == (1, "x") and row.Quoted == 7
    out = json.loads(one(session, "SELECT JSON * FROM js WHERE k = 1")[0])
    assert out == {
        "k": 1, "b": "0xcafe", "fu": {"street": "S", "num": 1, "tags": ["x", "y"]},
        "l": [3, 1], "m": {"1": "a", "2": "b"}, "t": 'hé"llo', "ts": "2020-01-02 03:04:05.006Z",
        "tup": [1, "x"], "u": "123e4567-e89b-42d3-a456-556642440000", '"Quoted"': 7,
    }
    out = json.loads(one(session, "SELECT JSON k, t AS title FROM js WHERE k = 1")[0])
    assert out == {"k": 1, "title": 'hé"llo'}
    # DEFAULT UNSET leaves other columns alone; the default (NULL) clears them.
    session.execute("""INSERT INTO js JSON '{"k": 1, "t": "new"}' DEFAULT UNSET""")
    row = one(session, "SELECT t, l FROM js WHERE k = 1")
    assert (row.t, row.l) == ("new", [3, 1])
    session.execute("""INSERT INTO js JSON '{"k": 1, "t": "newer"}'""")
    row = one(session, "SELECT t, l FROM js WHERE k = 1")
    assert (row.t, row.l) == ("newer", None)
    session.execute("""INSERT INTO js (k, l, fu) VALUES (2, fromJson('[1, 2]'), fromJson('{"num": 3}'))""")
    row = one(session, "SELECT l, fu FROM js WHERE k = 2")
    assert row.l == [1, 2] and row.fu.num == 3
    with pytest.raises(InvalidRequest, match="unrecognized column: nope"):
        session.execute("""INSERT INTO js JSON '{"k": 3, "nope": 1}'""")
    with pytest.raises(InvalidRequest):
        session.execute("""INSERT INTO js JSON '{"k": "x"}'""")


def test_wrongly_typed_values_are_invalid_requests(session):
    bad = [
        "INSERT INTO natives (k, c_int) VALUES (9, 'text')",
        "INSERT INTO natives (k, c_text) VALUES (9, 12)",
        "INSERT INTO natives (k, c_uuid) VALUES (9, 0x00)",
        "INSERT INTO natives (k, c_int) VALUES (9, [1])",
        "INSERT INTO natives (k, c_tinyint) VALUES (9, 300)",
        "INSERT INTO frozen_things (k, fl) VALUES (9, {1, 2})",
        "INSERT INTO frozen_things (k, fl) VALUES (9, [1, null])",
        "INSERT INTO frozen_things (k, tup) VALUES (9, (1, 'a', [1.0], 4))",
        "INSERT INTO frozen_things (k, fu) VALUES (9, {nope: 1})",
        "UPDATE frozen_things SET fl = fl + [1] WHERE k = 9",
        "UPDATE colls SET l = l + {1} WHERE k = 9 AND c = 1",
        "UPDATE colls SET s = [1] + s WHERE k = 9 AND c = 1",
    ]
    for q in bad:
        with pytest.raises(InvalidRequest):
            session.execute(q)


def test_prepared_metadata_types_markers_in_elements_keys_and_fields(session):
    p = session.prepare("UPDATE colls SET l[?] = ?, m[?] = ?, u.num = ?, s = s + {?} WHERE k = ? AND c = ?")
    types = [c.type.typename for c in p.column_metadata]
    assert types == ["int", "varchar", "varchar", "int", "int", "int", "int", "int"]
    p = session.prepare("INSERT INTO frozen_things (k, tup, fu) VALUES (?, (?, ?, ?), {street: ?})")
    types = [c.type.typename for c in p.column_metadata]
    assert types == ["int", "int", "varchar", "list", "varchar"]
    p = session.prepare("INSERT INTO js JSON ?")
    assert [c.type.typename for c in p.column_metadata] == ["varchar"]
