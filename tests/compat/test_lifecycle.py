"""Node lifecycle seen from the driver: pushed schema events, restarts, clean shutdown."""

import time

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_another_client_learns_of_schema_changes_from_pushed_events(node):
    watcher = cluster_for(node, 5, schema_event_refresh_window=0)
    writer = cluster_for(node, 4)
    try:
        watcher.connect()
        writer.connect().execute("CREATE KEYSPACE pushed_ks WITH replication = " + RF1)
        assert wait_for(lambda: "pushed_ks" in watcher.metadata.keyspaces)
    finally:
        watcher.shutdown()
        writer.shutdown()


def test_a_prepared_statement_still_executes_after_the_node_restarts(fresh_node):
    cluster = cluster_for(fresh_node, 5)
    try:
        session = cluster.connect()
        stmt = session.prepare("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?")
        assert [r.keyspace_name for r in session.execute(stmt, ["system"])] == ["system"]
        assert fresh_node.stop() == 0
        fresh_node.start()
        # The driver reconnects; the node has forgotten the statement, answers UNPREPARED, and
        # the driver prepares it again.
        assert wait_for(lambda: _try(session, stmt))
    finally:
        cluster.shutdown()


def _try(session, stmt):
    try:
        return [r.keyspace_name for r in session.execute(stmt, ["system_schema"])] == ["system_schema"]
    except Exception:
        return False


def test_node_stops_cleanly_with_clients_connected(fresh_node):
    cluster = cluster_for(fresh_node, 5)
    try:
        cluster.connect().execute("SELECT * FROM system.local")
        assert fresh_node.stop() == 0
        assert "stopped cleanly" in fresh_node.log()
    finally:
        cluster.shutdown()
