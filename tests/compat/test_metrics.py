"""The admin port serves Prometheus metrics that count what clients sent."""

from conftest import cluster_for


def test_metrics_count_prepared_executions_and_errors(node):
    before = node.metrics()
    cluster = cluster_for(node)
    session = cluster.connect()
    try:
        stmt = session.prepare("SELECT release_version FROM system.local WHERE key = 'local'")
        for _ in range(25):
            session.execute(stmt)
        try:
            session.execute("SELECT * FROM no_such_keyspace.t")
        except Exception:
            pass
    finally:
        cluster.shutdown()
    after = node.metrics()
    executed = after['ilion_cql_requests_total{kind="execute"}'] - before.get(
        'ilion_cql_requests_total{kind="execute"}', 0
    )
    assert executed == 25
    errors = after['ilion_cql_request_errors_total{kind="query"}'] - before.get(
        'ilion_cql_request_errors_total{kind="query"}', 0
    )
    assert errors >= 1
    assert after['ilion_cql_request_duration_seconds_count{kind="execute"}'] >= 25
    assert after["ilion_cql_connections_total"] >= 1
