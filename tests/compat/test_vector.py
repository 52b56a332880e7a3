"""The vector type from the Python driver: vector<float, n> and vectors of other element types
(fixed and variable size) as columns, literals, bound values in the driver's encoding and JSON;
the similarity functions (Lucene's scores, as Cassandra 5.0 computes them) with bound and
literal arguments; DESCRIBE; Cassandra's messages for wrong literals and calls."""

import math

import pytest
from cassandra import InvalidRequest

from conftest import keyspace_session


@pytest.fixture(scope="module")
def s(node):
    with keyspace_session(node, "vec") as session:
        session.execute(
            "CREATE TABLE v (k int PRIMARY KEY, v vector<float, 3>, t vector<text, 2>, b vector<bigint, 2>)"
        )
        session.execute("INSERT INTO v (k, v, t, b) VALUES (1, [1.0, 2.0, 3.0], ['a', 'bc'], [1, 2])")
        yield session


def test_literals_and_bound_vectors_round_trip(s):
    ins = s.prepare("INSERT INTO v (k, v, t, b) VALUES (?, ?, ?, ?)")
    assert [c.name for c in ins.column_metadata] == ["k", "v", "t", "b"]
    s.execute(ins, (2, [3.0, 2.0, 0.5], ["x", "yyy"], [-5, 2**40]))
    got = {r.k: (r.v, r.t, r.b) for r in s.execute("SELECT k, v, t, b FROM v WHERE k IN (1, 2)")}
    assert got == {
        1: ([1.0, 2.0, 3.0], ["a", "bc"], [1, 2]),
        2: ([3.0, 2.0, 0.5], ["x", "yyy"], [-5, 2**40]),
    }
    with pytest.raises(InvalidRequest) as e:
        s.execute("INSERT INTO v (k, v) VALUES (3, [1.0, 2.0])")
    assert "expected 3 elements, but given 2" in str(e.value)


def test_vectors_in_json(s):
    s.execute("""INSERT INTO v JSON '{"k": 4, "v": [1, 2, 3], "t": ["p", "q"]}'""")
    assert s.execute("SELECT JSON k, v, t FROM v WHERE k = 4").one()[0] == (
        '{"k": 4, "v": [1.0, 2.0, 3.0], "t": ["p", "q"]}'
    )
    assert s.execute("SELECT toJson(v) FROM v WHERE k = 1").one()[0] == "[1.0, 2.0, 3.0]"


def test_similarity_functions_score_as_lucene(s):
    row = s.execute(
        "SELECT similarity_cosine(v, [1.0, 2.0, 3.0]), similarity_euclidean(v, [1.0, 2.0, 4.0]),"
        " similarity_dot_product(v, [0.5, 0.0, 0.0]) FROM v WHERE k = 2"
    ).one()
    a, b = [3.0, 2.0, 0.5], [1.0, 2.0, 3.0]
    cos = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    assert row[0] == pytest.approx((1 + cos) / 2, rel=1e-6)
    assert row[1] == pytest.approx(1 / (1 + (2.0**2 + 0 + 3.5**2)), rel=1e-6)
    assert row[2] == pytest.approx((1 + 1.5) / 2, rel=1e-6)
    sel = s.prepare("SELECT similarity_cosine(v, ?) FROM v WHERE k = 1")
    assert [(c.name, c.type.typename) for c in sel.column_metadata] == [
        ("arg1(system.similarity_cosine)", "org.apache.cassandra.db.marshal.VectorType")
    ]
    assert s.execute(sel, ([2.0, 4.0, 6.0],)).one()[0] == pytest.approx(1.0)


def test_wrong_vectors_and_calls_are_refused_with_cassandras_messages(s):
    for cql, message in [
        ("SELECT similarity_cosine(v, t) FROM v", "Only float vectors are supported by similarity_cosine"),
        ("SELECT similarity_cosine(v) FROM v", "similarity_cosine() requires two arguments, but 1 given"),
    ]:
        with pytest.raises(InvalidRequest) as e:
            s.execute(cql)
        assert message in str(e.value)
    with pytest.raises(InvalidRequest, match="vectors may only have positive dimensions; given 0"):
        s.execute("CREATE TABLE v0 (k int PRIMARY KEY, v vector<float, 0>)")


def test_describe_shows_vector_columns(s):
    create = s.execute("DESCRIBE TABLE vec.v").one().create_statement
    assert "    b vector<bigint, 2>,\n    t vector<text, 2>,\n    v vector<float, 3>,\n" in create
