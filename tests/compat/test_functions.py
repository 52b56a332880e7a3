"""Native functions and selectors seen from the Python driver: math (abs, exp, log, log10, round),
collection functions (map_keys, map_values, collection_count/min/max/sum/avg), blob conversions
in both spellings (textAsBlob, blob_as_int), time functions, minTimeuuid/maxTimeuuid, toJson,
arithmetic on numbers and on timestamps and dates with durations, element and UDT field
selection, CAST, functions in written values, and Cassandra's messages for wrong calls and for
user-defined functions and aggregates (disabled, as in Cassandra 5.0 by default)."""

import datetime
import uuid
from decimal import Decimal

import pytest
from cassandra import FunctionFailure, InvalidRequest
from cassandra.util import Date

from conftest import keyspace_session


@pytest.fixture(scope="module")
def s(node):
    with keyspace_session(node, "fn") as session:
        session.execute("CREATE TYPE addr (street text, n int)")
        session.execute("CREATE TYPE person (name text, a frozen<addr>)")
        session.execute(
            "CREATE TABLE f (k int PRIMARY KEY, i int, bi bigint, d double, fl float, t text,"
            " ts timestamp, dt date, m map<text, int>, st set<int>, l list<int>, p frozen<person>,"
            " vi varint, b blob, dc decimal)"
        )
        session.execute(
            "INSERT INTO f (k, i, bi, d, fl, t, ts, dt, m, st, l, p, vi, dc) VALUES (1, -5, 10, 2.5, 1.5,"
            " 'hé', '2020-01-31 00:00:00+0000', '2020-01-31', {'a': 1, 'b': 2}, {3, 1, 2}, [4, 5, 6],"
            " {name: 'x', a: {street: 's', n: 7}}, 12345678901234567890, 1.5)"
        )
        yield session


def one(s, cql):
    rs = s.execute(cql + " FROM f WHERE k = 1")
    return list(rs.column_names), tuple(rs.one())


def refused(s, cql, message, exc=InvalidRequest):
    with pytest.raises(exc) as e:
        s.execute(cql)
    assert message in str(e.value), str(e.value)


def test_math_functions_keep_the_argument_type(s):
    names, row = one(s, "SELECT abs(i), exp(i), log(bi), log10(bi), round(d), round(fl)")
    assert names == [
        "system.abs(i)",
        "system.exp(i)",
        "system.log(bi)",
        "system.log10(bi)",
        "system.round(d)",
        "system.round(fl)",
    ]
    assert row == (5, 0, 2, 1, 3.0, 2.0)


def test_arithmetic_promotes_wraps_and_fails_on_division_by_zero(s):
    names, row = one(s, "SELECT i + 1, i * bi, d / 2, i % 3, -i, bi - i, i + bi + d, vi + 1")
    assert names == ["i + 1", "i * bi", "d / 2", "i % 3", "-i", "bi - i", "i + bi + d", "vi + 1"]
    assert row == (-4, -50, 1.25, -2, 5, 15, 7.5, 12345678901234567891)
    assert one(s, "SELECT i + 2147483647")[1] == (2147483642,)
    # A literal keeps its own type: int + bigint literal is a bigint.
    assert one(s, "SELECT i + 3000000000")[1] == (2999999995,)
    assert one(s, "SELECT (int)2147483647 + (int)1")[1] == (-2147483648,)
    refused(s, "SELECT i / 0 FROM f", "the operation 'int / int' failed: / by zero", FunctionFailure)
    refused(s, "SELECT t + 1 FROM f", "the '+' operation is not supported between t and 1")
    with pytest.raises(InvalidRequest, match="Ambiguous '\\+' operation: use type casts to disambiguate"):
        s.prepare("SELECT i + ? FROM f")
    assert s.execute(s.prepare("SELECT i + (bigint)? FROM f WHERE k = 1"), (7,)).one()[0] == 2


def test_decimal_arithmetic_is_bigdecimal_under_decimal128(s):
    names, row = one(s, "SELECT dc + 1, dc * 2, dc / 4, dc - d, -dc, abs(-dc), round(dc), dc % 1, cast(dc as int)")
    assert row == (
        Decimal("2.5"),
        Decimal("3.0"),
        Decimal("0.375"),
        Decimal("-1.0"),
        Decimal("-1.5"),
        Decimal("1.5"),
        Decimal("2"),
        Decimal("0.5"),
        1,
    )
    assert one(s, "SELECT (decimal)1 / (decimal)3")[1] == (Decimal("0.3333333333333333333333333333333333"),)
    assert one(s, "SELECT vi + 0.5")[1] == (Decimal("12345678901234567890.5"),)
    refused(s, "SELECT dc / 0 FROM f", "the operation 'decimal / int' failed: Division by zero", FunctionFailure)
    s.execute("CREATE TABLE dec (k int, c int, v decimal, l list<decimal>, PRIMARY KEY (k, c))")
    s.execute("INSERT INTO dec (k, c, v, l) VALUES (1, 1, 1.5, [1.5, 2.0])")
    s.execute("INSERT INTO dec (k, c, v) VALUES (1, 2, 2.0)")
    assert tuple(s.execute("SELECT sum(v), avg(v) FROM dec WHERE k = 1").one()) == (Decimal("3.5"), Decimal("1.8"))
    assert tuple(s.execute("SELECT collection_sum(l), collection_avg(l) FROM dec WHERE k = 1 AND c = 1").one()) == (
        Decimal("3.5"),
        Decimal("1.8"),
    )


def test_durations_move_timestamps_and_dates(s):
    names, row = one(s, "SELECT ts + 1mo, ts - 1d, dt + 2d")
    assert names == ["ts + 1mo", "ts - 1d", "dt + 2d"]
    assert row == (
        datetime.datetime(2020, 2, 29),
        datetime.datetime(2020, 1, 30),
        Date(datetime.date(2020, 2, 2)),
    )


def test_element_and_field_selection(s):
    names, row = one(s, "SELECT m['a'], m['zz'], st[2], st[9], p.name, p.a.n")
    assert names == ["m['a']", "m['zz']", "st[2]", "st[9]", "p.name", "p.a.n"]
    assert row == (1, None, 2, None, "x", 7)
    refused(s, "SELECT l[1] FROM f", "Element selection is only allowed on sets and maps, but l is a list")
    refused(s, "SELECT l[1..2] FROM f", "Slice selection is only allowed on sets and maps, but l is a list")
    refused(s, "SELECT i['a'] FROM f", "Invalid element selection: i is of type int is not a collection")
    refused(s, "SELECT i.zz FROM f", "Invalid field selection: i of type int is not a user type")


def test_slices_of_sets_and_maps_keep_the_keys_within_the_bounds(s):
    names, row = one(s, "SELECT st[2..3], st[..1], m['b'..], m['a'..'a']")
    assert names == ["st[2..3]", "st[..1]", "m['b'..]", "m['a'..'a']"]
    assert row == ({2, 3}, {1}, {"b": 2}, {"a": 1})
    rs = s.execute(s.prepare("SELECT st[?..?] FROM f WHERE k = 1"), (1, 2))
    assert rs.one()[0] == {1, 2}


def test_collection_functions(s):
    names, row = one(
        s,
        "SELECT map_keys(m), map_values(m), collection_count(l), collection_min(st),"
        " collection_max(l), collection_sum(l), collection_avg(l)",
    )
    assert names[0] == "system.map_keys(m)"
    assert row == ({"a", "b"}, [1, 2], 3, 1, 6, 15, 5)
    refused(
        s,
        "SELECT collection_sum(m) FROM f",
        "Function system.collection_sum requires a set or list argument, but found argument of type "
        "map<text, int>",
    )


def test_blob_conversions_in_both_spellings(s):
    names, row = one(
        s, "SELECT textAsBlob(t), blobAsText(textAsBlob(t)), intAsBlob(i), blob_as_int(int_as_blob(i))"
    )
    assert names == [
        "system.textasblob(t)",
        "system.blobastext(system.textasblob(t))",
        "system.intasblob(i)",
        "system.blob_as_int(system.int_as_blob(i))",
    ]
    assert row == ("hé".encode(), "hé", b"\xff\xff\xff\xfb", -5)


def test_time_functions(s):
    _, row = one(s, "SELECT toUnixTimestamp(ts), toDate(ts), toTimestamp(dt), to_unix_timestamp(dt)")
    assert row == (1580428800000, Date(datetime.date(2020, 1, 31)), datetime.datetime(2020, 1, 31), 1580428800000)
    _, (lo, hi) = one(
        s, "SELECT minTimeuuid('2020-01-01 00:00:00+0000'), maxTimeuuid('2020-01-01 00:00:00+0000')"
    )
    assert lo == uuid.UUID("a747c000-2c29-11ea-8080-808080808080")
    assert hi == uuid.UUID("a747e70f-2c29-11ea-7f7f-7f7f7f7f7f7f")
    _, (now, u, today) = one(s, "SELECT now(), uuid(), current_date()")
    assert now.version == 1 and u.version == 4
    assert today.date() == datetime.datetime.now(datetime.timezone.utc).date()


def test_to_json_and_casts(s):
    _, row = one(s, "SELECT toJson(m), toJson(p), to_json(i)")
    assert row == ('{"a": 1, "b": 2}', '{"name": "x", "a": {"street": "s", "n": 7}}', "-5")
    names, row = one(s, "SELECT cast(i as text), cast(d as int), cast(ts as date), cast(vi as text), cast(fl as double)")
    assert names == ["cast(i as text)", "cast(d as int)", "cast(ts as date)", "cast(vi as text)", "cast(fl as double)"]
    assert row == ("-5", 2, Date(datetime.date(2020, 1, 31)), "12345678901234567890", 1.5)
    assert one(s, "SELECT cast(i as decimal), cast(fl as int), cast(1e10 as int), cast(i as int)") == (
        ["cast(i as decimal)", "cast(fl as int)", "cast(1e10 as int)", "i"],
        (Decimal("-5.0"), 1, 2147483647, -5),
    )
    refused(s, "SELECT cast(t as blob) FROM f", "t cannot be cast to blob")
    refused(
        s,
        "SELECT cast(t as date) FROM f",
        "Invalid call to function system.castAsDate, none of its type signatures match (known type "
        "signatures: system.castAsDate : (timeuuid) -> date, system.castAsDate : (timestamp) -> date)",
    )


def test_functions_in_written_values(s):
    s.execute("INSERT INTO f (k, i, b, m) VALUES (2, abs(-4), textAsBlob('z'), fromJson('{\"q\": 3}'))")
    s.execute("INSERT INTO f (k, ts) VALUES (3, toTimestamp(toDate('2021-05-06 07:08:09+0000')))")
    assert tuple(s.execute("SELECT i, b, m FROM f WHERE k = 2").one()) == (4, b"z", {"q": 3})
    assert s.execute("SELECT ts FROM f WHERE k = 3").one().ts == datetime.datetime(2021, 5, 6)
    refused(
        s,
        "INSERT INTO f (k, t) VALUES (4, now())",
        "Type error: cannot assign result of function system.now (type timeuuid) to t (type text)",
    )
    refused(
        s,
        "INSERT INTO f (k, t) VALUES (4, toJson(1))",
        "toJson() may only be used within the selection clause of SELECT statements",
    )
    refused(
        s,
        "SELECT fromJson('1') FROM f",
        "fromJson() cannot be used in the selection clause of a SELECT statement",
    )


def test_wrong_calls_get_cassandras_messages(s):
    refused(s, "SELECT nosuch(i) FROM f", "Unknown function 'nosuch'")
    refused(s, "SELECT fn.myf(i) FROM f", "Unknown function 'fn.myf'")
    refused(s, "INSERT INTO f (k, i) VALUES (5, nosuch(1))", "Unknown function nosuch called")
    refused(
        s,
        "SELECT abs(t) FROM f",
        "Invalid call to function system.abs, none of its type signatures match (known type "
        "signatures: system.abs : (tinyint) -> tinyint, system.abs : (smallint) -> smallint, "
        "system.abs : (int) -> int, system.abs : (float) -> float, system.abs : (bigint) -> bigint, "
        "system.abs : (double) -> double, system.abs : (varint) -> varint, system.abs : (decimal) -> "
        "decimal, system.abs : (counter) -> counter)",
    )
    refused(
        s,
        "SELECT intAsBlob(t) FROM f",
        "Type error: t cannot be passed as argument 0 of function system.intasblob of type int",
    )
    refused(
        s,
        "SELECT now(i) FROM f",
        "Invalid number of arguments in call to function system.now: 0 required but 1 provided",
    )


def test_user_defined_functions_and_aggregates_are_refused_as_cassandra_refuses_them(s):
    refused(
        s,
        "CREATE FUNCTION fn.f1 (a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'",
        "User-defined functions are disabled in cassandra.yaml - set user_defined_functions_enabled=true "
        "to enable",
    )
    refused(
        s,
        "CREATE OR REPLACE FUNCTION IF NOT EXISTS fn.f1 (a int) CALLED ON NULL INPUT RETURNS int "
        "LANGUAGE java AS 'return a;'",
        "Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives",
    )
    refused(s, "CREATE AGGREGATE fn.ag (int) SFUNC f1 STYPE int", "State function fn.f1(int, int) doesn't exist")
    refused(s, "DROP FUNCTION fn.f1", "Function 'fn.f1' doesn't exist")
    refused(s, "DROP AGGREGATE fn.ag", "Aggregate 'fn.ag' doesn't exist")
    s.execute("DROP FUNCTION IF EXISTS fn.f1")
