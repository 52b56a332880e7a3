"""Token-aware routing and configured timeouts with the real Python driver against three
real nodes.

The keyspace has replication factor 1, so every key has exactly one replica. The driver builds
its token map from what the nodes publish (system.local's partitioner and tokens,
system.peers' tokens, the keyspace's replication), and TokenAwarePolicy sends each prepared
statement to the replica of its key. Each node counts the EXECUTE requests it serves
(`ilion_cql_requests_total{kind="execute"}` on its Prometheus endpoint): after many keys, each
node's count is exactly twice the number of keys it owns (one INSERT and one SELECT per key),
and since the server places each key where the driver does, the nodes answer no replica
messages for one another.

The nodes run with short coordinator timeouts from ilion.yaml (Cassandra's
`write_request_timeout_in_ms` and `read_request_timeout_in_ms`): with one replica stopped
(SIGSTOP: alive to gossip for a while, but silent), a write and a read at ALL fail with
WriteTimeout / ReadTimeout carrying the received and required counts, well before the client's
own timeout, which is shorter than the defaults. Every wait is bounded.
"""

import os
import signal
from collections import Counter

import pytest

from test_cluster import ADDRESSES, ClusterNode, _port_free_everywhere, running, wait_until

KEYS = 300
EXECUTES = 'ilion_cql_requests_total{kind="execute"}'
REPLICA_REQUESTS = "ilion_replica_requests_total"
# Far below Cassandra's defaults (2 s and 5 s) and the client timeout the tests use.
TIMEOUTS = "write_request_timeout_in_ms: 300\nread_request_timeout_in_ms: 400\n"
CLIENT_TIMEOUT = 1.8


@pytest.fixture(scope="module")
def nodes():
    ports = set()
    while len(ports) < 3:
        ports.add(_port_free_everywhere())
    native_port, storage_port, admin_port = sorted(ports)
    yield from running("ilion-routing-", lambda binary, tmp, i: ClusterNode(
        binary, tmp, i, native_port, storage_port, admin_port, yaml=TIMEOUTS), 3)


@pytest.fixture(scope="module")
def session(nodes):
    from cassandra.cluster import Cluster
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    cluster = Cluster(
        [ADDRESSES[0]],
        port=nodes[0].native_port,
        connect_timeout=10,
        control_connection_timeout=10,
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
    )
    s = cluster.connect()
    try:
        wait_until(
            "the driver to see three live hosts with a connection pool each",
            lambda: len(cluster.metadata.all_hosts()) == 3
            and all(h.is_up for h in cluster.metadata.all_hosts())
            and len([p for p in s.get_pool_state().values() if p["open_count"] > 0]) == 3,
            60,
        )
        yield s
    finally:
        cluster.shutdown()


def by_address(nodes):
    return {n.address: n for n in nodes}


def test_the_driver_builds_its_token_map_from_the_nodes(session):
    meta = session.cluster.metadata
    assert meta.partitioner == "org.apache.cassandra.dht.Murmur3Partitioner"
    token_map = meta.token_map
    assert token_map is not None
    # 16 tokens per node, each owned by the node that gossips it.
    assert len(token_map.ring) == 48
    owners = Counter(h.address for h in token_map.token_to_host_owner.values())
    assert owners == {a: 16 for a in ADDRESSES}


def test_prepared_requests_go_to_the_replica_of_their_key(nodes, session):
    cc = session.cluster.control_connection
    session.execute(
        "CREATE KEYSPACE routing WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE routing.t (k int PRIMARY KEY, v text)")
    assert wait_until("schema agreement", lambda: cc.wait_for_schema_agreement(wait_time=10), 30)
    meta = session.cluster.metadata
    wait_until("the driver to know the keyspace's replicas",
               lambda: "routing" in meta.keyspaces
               and meta.token_map is not None
               and meta.token_map.get_replicas("routing", meta.token_map.ring[0]), 30)

    insert = session.prepare("INSERT INTO routing.t (k, v) VALUES (?, ?)")
    select = session.prepare("SELECT v FROM routing.t WHERE k = ?")
    # The server tells the driver which bind markers make the partition key.
    assert insert.routing_key_indexes == [0]
    assert select.routing_key_indexes == [0]

    token_map = meta.token_map
    owner = {}
    for k in range(KEYS):
        token = token_map.token_class.from_key(insert.bind((k, "x")).routing_key)
        replicas = token_map.get_replicas("routing", token)
        assert len(replicas) == 1, (k, replicas)
        owner[k] = replicas[0].address
    owned = Counter(owner.values())
    assert set(owned) == set(ADDRESSES), owned

    nodes_by_address = by_address(nodes)
    before = {a: n.metrics() for a, n in nodes_by_address.items()}
    for k in range(KEYS):
        session.execute(insert, (k, f"value {k}"))
    for k in range(KEYS):
        row = session.execute(select, (k,)).one()
        assert row is not None and row.v == f"value {k}", k
    after = {a: n.metrics() for a, n in nodes_by_address.items()}

    executes = {a: after[a][EXECUTES] - before[a][EXECUTES] for a in ADDRESSES}
    assert executes == {a: 2 * owned[a] for a in ADDRESSES}, (executes, owned)
    # Each node was the replica of what it served: no node asked another for anything.
    replica_requests = {
        a: after[a][REPLICA_REQUESTS] - before[a][REPLICA_REQUESTS] for a in ADDRESSES}
    assert replica_requests == {a: 0 for a in ADDRESSES}, replica_requests


def test_the_server_computes_the_tokens_the_driver_routes_by(session):
    token_map = session.cluster.metadata.token_map
    insert = session.prepare("INSERT INTO routing.t (k, v) VALUES (?, ?)")
    for k in (0, 1, 7, 42, 299, -5, 2**31 - 1):
        expected = token_map.token_class.from_key(insert.bind((k, "x")).routing_key).value
        row = session.execute("SELECT token(k) FROM routing.t WHERE k = %s", (k,)).one()
        if row is None:
            # token() needs a row; write one through a simple statement first.
            session.execute("INSERT INTO routing.t (k, v) VALUES (%s, 'y')", (k,))
            row = session.execute("SELECT token(k) FROM routing.t WHERE k = %s", (k,)).one()
        assert row[0] == expected, k


def host(session, address):
    return next(h for h in session.cluster.metadata.all_hosts() if h.address == address)


def test_configured_timeouts_give_write_and_read_timeouts_with_counts(nodes, session):
    from cassandra import ConsistencyLevel, ReadTimeout, WriteTimeout
    from cassandra.query import SimpleStatement

    cc = session.cluster.control_connection
    session.execute(
        "CREATE KEYSPACE everywhere WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    session.execute("CREATE TABLE everywhere.t (k int PRIMARY KEY, v text)")
    assert wait_until("schema agreement", lambda: cc.wait_for_schema_agreement(wait_time=10), 30)
    h1 = host(session, ADDRESSES[0])
    session.execute(SimpleStatement("INSERT INTO everywhere.t (k, v) VALUES (1, 'a')",
                                    consistency_level=ConsistencyLevel.ALL), host=h1)
    silent = nodes[2]
    os.kill(silent.proc.pid, signal.SIGSTOP)
    try:
        write = SimpleStatement("INSERT INTO everywhere.t (k, v) VALUES (1, 'b')",
                                consistency_level=ConsistencyLevel.ALL)
        with pytest.raises(WriteTimeout) as e:
            session.execute(write, host=h1, timeout=CLIENT_TIMEOUT)
        assert e.value.received_responses == 2, e.value
        assert e.value.required_responses == 3, e.value
        assert e.value.write_type == 0  # SIMPLE

        read = SimpleStatement("SELECT v FROM everywhere.t WHERE k = 1",
                               consistency_level=ConsistencyLevel.ALL)
        with pytest.raises(ReadTimeout) as e:
            session.execute(read, host=h1, timeout=CLIENT_TIMEOUT)
        assert e.value.received_responses == 2, e.value
        assert e.value.required_responses == 3, e.value
    finally:
        os.kill(silent.proc.pid, signal.SIGCONT)
    # QUORUM did not need the silent replica.
    quorum = SimpleStatement("SELECT v FROM everywhere.t WHERE k = 1",
                             consistency_level=ConsistencyLevel.QUORUM)
    assert session.execute(quorum, host=h1).one().v == "b"
