"""Nodes with storage (gRPC) ports of their own.

Two real nodes on 127.0.0.1 and 127.0.0.2, each with a different storage port; node two names
its seed with a port (`127.0.0.1:<port>`). They must still find each other by gossip, agree on
the schema, and replicate: a write at ALL through node two needs node one's acknowledgement at
node one's own port, and node one alone then serves it. Every wait is bounded.
"""

import pytest

from test_cluster import ADDRESSES, ClusterNode, _port_free_everywhere, running, wait_until


@pytest.fixture(scope="module")
def nodes():
    ports = set()
    while len(ports) < 4:
        ports.add(_port_free_everywhere())
    native_port, admin_port, storage_one, storage_two = sorted(ports)
    seed = f"{ADDRESSES[0]}:{storage_one}"
    storage_ports = [storage_one, storage_two]
    yield from running("ilion-ports-", lambda binary, tmp, i: ClusterNode(
        binary, tmp, i, native_port, storage_ports[i], admin_port, seeds=seed), 2)


def test_nodes_on_different_storage_ports_form_one_cluster_and_replicate(nodes):
    from cassandra import ConsistencyLevel
    from cassandra.cluster import Cluster
    from cassandra.query import SimpleStatement

    assert nodes[0].storage_port != nodes[1].storage_port
    cluster = Cluster([ADDRESSES[0]], port=nodes[0].native_port, connect_timeout=10,
                      control_connection_timeout=10)
    session = cluster.connect()
    try:
        def both_up():
            hosts = session.cluster.metadata.all_hosts()
            pools = [p for p in session.get_pool_state().values() if p["open_count"] > 0]
            return len(hosts) == 2 and all(h.is_up for h in hosts) and len(pools) == 2
        wait_until("the driver to see both nodes up with a connection pool each", both_up, 60)
        h1, h2 = (next(h for h in session.cluster.metadata.all_hosts() if h.address == a)
                  for a in ADDRESSES[:2])
        for h, other in ((h1, ADDRESSES[1]), (h2, ADDRESSES[0])):
            peers = {str(r[0]) for r in session.execute("SELECT peer FROM system.peers", host=h)}
            assert peers == {other}

        session.execute(
            "CREATE KEYSPACE ported WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 2}", host=h1)
        session.execute("CREATE TABLE ported.t (k int PRIMARY KEY, v text)", host=h1)
        cc = session.cluster.control_connection
        assert wait_until("schema agreement",
                          lambda: cc.wait_for_schema_agreement(wait_time=10), 30)
        for k in range(20):
            session.execute(
                SimpleStatement("INSERT INTO ported.t (k, v) VALUES (%s, %s)",
                                consistency_level=ConsistencyLevel.ALL),
                (k, f"v{k}"), host=h2)
        # Node two stops; node one alone (ONE, and it holds every key at RF 2) has every row.
        nodes[1].kill()
        for k in range(20):
            row = session.execute(
                SimpleStatement("SELECT v FROM ported.t WHERE k = %s",
                                consistency_level=ConsistencyLevel.ONE),
                (k,), host=h1).one()
            assert row is not None and row.v == f"v{k}", k
    finally:
        cluster.shutdown()
