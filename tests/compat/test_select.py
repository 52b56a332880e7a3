"""SELECT seen from the real driver: paging through large results and resuming a page on another
connection, token() against the driver's murmur3, the driver's token map, token-range scans and
size_estimates splits, filtering, aggregates, GROUP BY, DISTINCT, ORDER BY, PER PARTITION LIMIT,
writetime/ttl and IN, on protocol v4 and v5."""

import random
import struct

import pytest
from cassandra import InvalidRequest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.murmur3 import murmur3
from cassandra.query import SimpleStatement

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
ROWS = 10_000
PARTITIONS = 100
MIN_TOKEN = -(2**63)
FILTERING = (
    "Cannot execute this query as it might involve data filtering and thus may have unpredictable "
    "performance. If you want to execute this query despite the performance unpredictability, use "
    "ALLOW FILTERING"
)


@pytest.fixture(scope="module", params=[4, 5], ids=["v4", "v5"])
def ctx(request, node):
    version = request.param
    cluster = cluster_for(node, version)
    s = cluster.connect()
    ks = f"sel_v{version}"
    s.execute(f"CREATE KEYSPACE {ks} WITH replication = {RF1}")
    s.set_keyspace(ks)
    s.execute("CREATE TABLE big (k int, c int, v text, PRIMARY KEY (k, c))")
    s.execute(
        "CREATE TABLE m (k int, c1 int, c2 int, v int, s int static, PRIMARY KEY (k, c1, c2))"
        " WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC)"
    )
    ins = s.prepare("INSERT INTO big (k, c, v) VALUES (?, ?, ?)")
    args = [(i % PARTITIONS, i // PARTITIONS, f"v{i}") for i in range(ROWS)]
    for ok, r in execute_concurrent_with_args(s, ins, args, concurrency=64):
        assert ok, r
    ins = s.prepare("INSERT INTO m (k, c1, c2, v, s) VALUES (?, ?, ?, ?, ?)")
    args = [(k, a, b, k * 100 + a * 10 + b, k) for k in range(5) for a in range(3) for b in range(4)]
    for ok, r in execute_concurrent_with_args(s, ins, args, concurrency=32):
        assert ok, r
    yield cluster, s, ks, version
    cluster.shutdown()


def _token(k):
    return murmur3(struct.pack(">i", k))


def test_ten_thousand_rows_page_through_with_no_loss_or_repeat(ctx):
    _, s, _, _ = ctx
    rs = s.execute(SimpleStatement("SELECT k, c FROM big", fetch_size=700))
    seen = [(r.k, r.c) for r in rs]
    assert len(seen) == ROWS
    assert len(set(seen)) == ROWS
    # Token order of partitions, clustering order inside each.
    tokens = [_token(k) for k, _ in seen]
    assert tokens == sorted(tokens)
    first_page = s.execute(SimpleStatement("SELECT k, c FROM big", fetch_size=700))
    assert len(first_page.current_rows) == 700
    assert first_page.has_more_pages


def test_a_page_resumes_on_another_connection(ctx, node):
    _, s, ks, version = ctx
    stmt = SimpleStatement("SELECT k, c, v FROM big", fetch_size=1234)
    first = s.execute(stmt)
    page1 = [(r.k, r.c) for r in first.current_rows]
    state = first.paging_state
    assert state is not None
    other = cluster_for(node, version)
    try:
        s2 = other.connect(ks)
        rest = [(r.k, r.c) for r in s2.execute(stmt, paging_state=state)]
        # A prepared statement with the same paging state resumes the same way.
        prepared = s2.prepare("SELECT k, c, v FROM big")
        prepared.fetch_size = 1234
        rest_prepared = [(r.k, r.c) for r in s2.execute(prepared, paging_state=state)]
    finally:
        other.shutdown()
    everything = [(r.k, r.c) for r in s.execute(SimpleStatement("SELECT k, c FROM big", fetch_size=5000))]
    assert page1 + rest == everything
    assert rest_prepared == rest


def test_a_corrupt_paging_state_is_an_error_not_a_crash(ctx):
    _, s, _, _ = ctx
    with pytest.raises(Exception):
        s.execute(SimpleStatement("SELECT k FROM big", fetch_size=10), paging_state=b"\x02\x00garbage")
    assert s.execute("SELECT count(*) FROM big").one()[0] == ROWS


def test_token_matches_the_drivers_murmur3_for_random_keys(ctx):
    _, s, _, _ = ctx
    s.execute("CREATE TABLE IF NOT EXISTS tk (k text PRIMARY KEY, n int)")
    rng = random.Random(8)
    keys = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(1, 40))) for _ in range(200)]
    ins = s.prepare("INSERT INTO tk (k, n) VALUES (?, 1)")
    for ok, r in execute_concurrent_with_args(s, ins, [(k,) for k in keys]):
        assert ok, r
    for r in s.execute("SELECT k, token(k) FROM tk"):
        assert r[1] == murmur3(r.k.encode())
    for r in s.execute("SELECT k, token(k) AS t FROM big WHERE k IN (0, 17, 99)"):
        assert r.t == _token(r.k)


def test_the_drivers_token_map_routes_to_this_node(ctx):
    cluster, _, ks, _ = ctx
    cluster.refresh_schema_metadata()
    tm = cluster.metadata.token_map
    assert tm is not None and len(tm.ring) > 0
    replicas = cluster.metadata.get_replicas(ks, struct.pack(">i", 42))
    assert [h.endpoint.address for h in replicas] == [list(cluster.metadata.all_hosts())[0].endpoint.address]


def test_token_sub_ranges_cover_every_row_exactly_once(ctx):
    _, s, _, _ = ctx
    q = s.prepare("SELECT k, c FROM big WHERE token(k) > ? AND token(k) <= ?")
    bounds = [MIN_TOKEN] + sorted(random.Random(3).randrange(MIN_TOKEN, 2**63) for _ in range(7)) + [2**63 - 1]
    seen = []
    for lo, hi in zip(bounds, bounds[1:]):
        for r in s.execute(q, (lo, hi)):
            assert lo < _token(r.k) <= hi
            seen.append((r.k, r.c))
    assert len(seen) == ROWS and len(set(seen)) == ROWS


def test_size_estimates_describe_the_table_and_split_it(ctx):
    _, s, ks, _ = ctx
    rows = list(s.execute(
        "SELECT range_start, range_end, partitions_count, mean_partition_size FROM system.size_estimates "
        "WHERE keyspace_name = %s AND table_name = 'big'", (ks,)
    ))
    assert rows
    total = sum(r.partitions_count for r in rows)
    assert abs(total - PARTITIONS) <= len(rows)
    assert all(r.mean_partition_size > 0 for r in rows)
    seen = 0
    for r in rows:
        lo, hi = int(r.range_start), int(r.range_end)
        if hi == MIN_TOKEN:
            q = SimpleStatement(f"SELECT k FROM big WHERE token(k) > {lo}", fetch_size=2000)
        else:
            q = SimpleStatement(f"SELECT k FROM big WHERE token(k) > {lo} AND token(k) <= {hi}", fetch_size=2000)
        seen += len(list(s.execute(q)))
    assert seen == ROWS


def test_filtering_needs_allow_filtering_and_then_filters(ctx):
    _, s, _, _ = ctx
    with pytest.raises(InvalidRequest) as e:
        s.execute("SELECT * FROM m WHERE v = 5")
    assert FILTERING in str(e.value)
    rows = s.execute("SELECT k, v FROM m WHERE v >= 400 AND c2 = 3 ALLOW FILTERING")
    assert sorted(r.v for r in rows) == [403, 413, 423]
    rows = s.execute(SimpleStatement("SELECT v FROM m WHERE v > 100 ALLOW FILTERING", fetch_size=5))
    assert len(list(rows)) == 4 * 12 - 1


def test_aggregates_and_group_by(ctx):
    _, s, _, _ = ctx
    r = s.execute("SELECT count(*), min(v), max(v), sum(v), avg(v) FROM m").one()
    vs = [k * 100 + a * 10 + b for k in range(5) for a in range(3) for b in range(4)]
    assert tuple(r) == (60, 0, 423, sum(vs), sum(vs) // 60)
    r = s.execute(SimpleStatement("SELECT count(*) FROM big", fetch_size=100)).one()
    assert r.count == ROWS
    rows = list(s.execute(SimpleStatement("SELECT k, c1, count(*), max(c2) FROM m WHERE k = 2 GROUP BY k, c1", fetch_size=2)))
    assert [tuple(r) for r in rows] == [(2, a, 4, 3) for a in range(3)]
    rows = list(s.execute(SimpleStatement("SELECT k, sum(v) FROM m GROUP BY k", fetch_size=2)))
    assert sorted(tuple(r) for r in rows) == [(k, sum(v for v in vs if v // 100 == k)) for k in range(5)]


def test_distinct_order_by_and_limits(ctx):
    _, s, _, _ = ctx
    rows = list(s.execute(SimpleStatement("SELECT DISTINCT k, s FROM m", fetch_size=2)))
    assert sorted(tuple(r) for r in rows) == [(k, k) for k in range(5)]
    rows = s.execute("SELECT c1, c2 FROM m WHERE k = 1")
    assert [tuple(r) for r in rows] == [(a, b) for a in range(3) for b in (3, 2, 1, 0)]
    rows = s.execute("SELECT c1, c2 FROM m WHERE k = 1 ORDER BY c1 DESC, c2 ASC")
    assert [tuple(r) for r in rows] == [(a, b) for a in (2, 1, 0) for b in range(4)]
    rows = s.execute(SimpleStatement("SELECT k, c1, c2 FROM m PER PARTITION LIMIT 2", fetch_size=3))
    rows = [tuple(r) for r in rows]
    assert len(rows) == 10 and all(r[1:] in [(0, 3), (0, 2)] for r in rows)
    rows = s.execute(SimpleStatement("SELECT k FROM m LIMIT 7", fetch_size=3))
    assert len(list(rows)) == 7


def test_in_restrictions_bind_lists_and_tuples(ctx):
    _, s, _, _ = ctx
    q = s.prepare("SELECT k, c1, c2 FROM m WHERE k IN ? AND c1 IN (0, 2) AND c2 = ?")
    rows = [tuple(r) for r in s.execute(q, ([4, 1], 3))]
    assert sorted(rows) == [(k, a, 3) for k in (1, 4) for a in (0, 2)]
    rows = s.execute("SELECT c1, c2 FROM m WHERE k = 3 AND (c1, c2) IN ((1, 2), (0, 0))")
    assert sorted(tuple(r) for r in rows) == [(0, 0), (1, 2)]
    q = s.prepare("SELECT c1, c2 FROM m WHERE k = 3 AND (c1, c2) >= (?, ?) AND (c1, c2) < (2, 3)")
    rows = [tuple(r) for r in s.execute(q, (1, 1))]
    assert sorted(rows) == sorted([(1, 1), (1, 2), (1, 3), (2, 0), (2, 1), (2, 2)])


def test_writetime_and_ttl(ctx):
    _, s, _, _ = ctx
    s.execute("INSERT INTO big (k, c, v) VALUES (5000, 1, 'w') USING TIMESTAMP 1234567 AND TTL 5000")
    r = s.execute("SELECT writetime(v), ttl(v) FROM big WHERE k = 5000 AND c = 1").one()
    assert r[0] == 1234567
    assert 4900 <= r[1] <= 5000
    s.execute("DELETE FROM big USING TIMESTAMP 2000000 WHERE k = 5000 AND c = 1")
