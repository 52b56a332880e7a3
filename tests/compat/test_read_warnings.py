"""Read warnings through the real driver: a read that scans more tombstones than the warning
threshold (1,000) answers its rows with a warning in the response's Warning flag, which the
driver exposes as `ResponseFuture.warnings`; an ordinary read carries none. Protocol v4 and v5,
simple and prepared statements."""

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def session(node, request):
    cluster = cluster_for(node, request.param)
    s = cluster.connect()
    ks = f"warn_ks_v{request.param}"
    s.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    s.set_keyspace(ks)
    s.execute("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))")
    ins = s.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, 'x')")
    rm = s.prepare("DELETE FROM t WHERE k = ? AND c = ?")
    # Partition 1: 1,200 deleted rows and 3 live ones. Partition 2: 3 live rows.
    execute_concurrent_with_args(s, ins, [(1, c) for c in range(1203)] + [(2, c) for c in range(3)])
    execute_concurrent_with_args(s, rm, [(1, c) for c in range(1200)])
    yield s
    cluster.shutdown()


def test_a_read_over_many_tombstones_returns_its_rows_with_a_tombstone_warning(session):
    future = session.execute_async("SELECT c FROM t WHERE k = 1")
    rows = [r.c for r in future.result()]
    assert rows == [1200, 1201, 1202]
    assert future.warnings is not None and len(future.warnings) == 1
    warning = future.warnings[0]
    assert warning.startswith("Read 3 live rows and 1200 tombstone cells for query on ")
    assert "t (see tombstone_warn_threshold, 1000)" in warning


def test_a_prepared_read_over_many_tombstones_warns_too(session):
    select = session.prepare("SELECT c FROM t WHERE k = ?")
    future = session.execute_async(select, (1,))
    assert [r.c for r in future.result()] == [1200, 1201, 1202]
    assert future.warnings is not None
    assert any("1200 tombstone cells" in w for w in future.warnings)


def test_a_read_of_live_rows_carries_no_warning(session):
    select = session.prepare("SELECT c FROM t WHERE k = ?")
    future = session.execute_async(select, (2,))
    assert [r.c for r in future.result()] == [0, 1, 2]
    assert not future.warnings
