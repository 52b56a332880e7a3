"""Read failures through the real driver: a node configured with Cassandra's
`tombstone_failure_threshold` refuses a read that scans more tombstones than that with
Read_failure (0x1300), as Cassandra does, instead of a server error or a timeout. In v5 the
failure names the replica and the reason READ_TOO_MANY_TOMBSTONES (code 1); in v4 it counts
the failed replicas. A read under the threshold still answers its rows."""

import pytest
from cassandra import ReadFailure
from cassandra.concurrent import execute_concurrent_with_args

from conftest import cluster_for, configured_node

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module")
def strict_node():
    """A node whose reads fail past 50 tombstones (warning past 10)."""
    with configured_node("tombstone_warn_threshold: 10\ntombstone_failure_threshold: 50\n") as n:
        yield n


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def session(strict_node, request):
    cluster = cluster_for(strict_node, request.param)
    s = cluster.connect()
    ks = f"fail_ks_v{request.param}"
    s.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    s.set_keyspace(ks)
    s.execute("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))")
    ins = s.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, 'x')")
    rm = s.prepare("DELETE FROM t WHERE k = ? AND c = ?")
    # Partition 1: 60 deleted rows and 2 live ones. Partition 2: 20 deleted rows, 1 live.
    execute_concurrent_with_args(s, ins, [(1, c) for c in range(62)] + [(2, c) for c in range(21)])
    execute_concurrent_with_args(s, rm, [(1, c) for c in range(60)] + [(2, c) for c in range(20)])
    yield s, request.param, strict_node
    cluster.shutdown()


def test_a_read_over_the_failure_threshold_is_a_read_failure_naming_the_reason(session):
    s, version, node = session
    with pytest.raises(ReadFailure) as failure:
        s.execute("SELECT c FROM t WHERE k = 1")
    e = failure.value
    assert e.received_responses == 0
    assert e.required_responses == 1
    assert e.failures == 1
    if version == 5:
        # The v5 reason map: this node, reason 1 (too many tombstones read).
        assert e.error_code_map == {node.host: 1}
    assert "READ_TOO_MANY_TOMBSTONES" in str(e)


def test_a_prepared_read_over_the_threshold_fails_the_same_way(session):
    s, _, _ = session
    stmt = s.prepare("SELECT c FROM t WHERE k = ?")
    with pytest.raises(ReadFailure):
        s.execute(stmt, [1])


def test_a_read_under_the_failure_threshold_answers_with_a_warning(session):
    s, _, _ = session
    future = s.execute_async("SELECT c FROM t WHERE k = 2")
    assert [r.c for r in future.result()] == [20]
    assert future.warnings is not None and len(future.warnings) == 1
