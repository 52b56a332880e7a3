"""Internode TLS (`server_encryption_options: internode_encryption: all`, mutual
authentication) on three real nodes: they form one cluster, replicate at RF 3 and answer at ALL;
`ilion status` reaches a node through `--config`; a node without the cluster's certificates
cannot join, and a plain-text gRPC client is refused.
"""

import os
import shutil
import subprocess
import tempfile

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement

from conftest import _binary
from test_cluster import ADDRESSES, ClusterNode, _port_free_everywhere, formed, running, wait_until
from test_tls import CA, CERTS


def internode_yaml(keystore=os.path.join(CERTS, "node.pem")):
    return (
        "server_encryption_options:\n"
        "  internode_encryption: all\n"
        f"  keystore: {keystore}\n"
        f"  truststore: {CA}\n"
        "  require_client_auth: true\n"
        "  require_endpoint_verification: true\n"
    )


def test_three_nodes_with_mutual_internode_tls_form_a_cluster_and_replicate():
    native, storage, admin = (_port_free_everywhere() for _ in range(3))
    assert len({native, storage, admin}) == 3
    fixture = running("ilion-internode-tls-", lambda binary, tmp, i: ClusterNode(
        binary, tmp, i, native, storage, admin, yaml=internode_yaml()), 3)
    nodes = next(fixture)
    try:
        wait_until("every node to list the other two in system.peers", lambda: formed(nodes), 60)
        cluster = Cluster([ADDRESSES[0]], port=native, connect_timeout=10, control_connection_timeout=10)
        try:
            s = cluster.connect()
            s.execute("CREATE KEYSPACE tls3 WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            s.execute("CREATE TABLE tls3.t (k int PRIMARY KEY, v text)")
            insert = s.prepare("INSERT INTO tls3.t (k, v) VALUES (?, ?)")
            insert.consistency_level = ConsistencyLevel.ALL
            for k in range(200):
                s.execute(insert, (k, f"v{k}"))
            read = SimpleStatement("SELECT k, v FROM tls3.t", consistency_level=ConsistencyLevel.ALL)
            assert sorted(r.k for r in s.execute(read)) == list(range(200))
        finally:
            cluster.shutdown()

        # The admin commands speak TLS with the node's settings, and only with them.
        config = nodes[0].config
        out = subprocess.run([nodes[0].binary, "--config", config, "status", "--host",
                              f"{ADDRESSES[0]}:{storage}", "--timeout", "5"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert sum(line.startswith("UN ") for line in out.stdout.splitlines()) == 3, out.stdout
        plain = subprocess.run([nodes[0].binary, "status", "--host", f"{ADDRESSES[0]}:{storage}",
                                "--timeout", "3"], capture_output=True, text=True, timeout=60)
        assert plain.returncode != 0
        assert f"cannot reach the node at {ADDRESSES[0]}:{storage}" in plain.stderr, plain.stderr
        assert "plain-text node-to-node connection refused" in nodes[0].log()
    finally:
        fixture.close()


def test_a_node_whose_certificate_the_cluster_does_not_trust_cannot_join():
    native, storage, admin = (_port_free_everywhere(ADDRESSES[:2]) for _ in range(3))
    assert len({native, storage, admin}) == 3
    stranger = os.path.join(CERTS, "other.pem")
    tmp = tempfile.mkdtemp(prefix="ilion-internode-stranger-")
    binary = _binary()
    seed = ClusterNode(binary, tmp, 0, native, storage, admin, yaml=internode_yaml())
    # Node 2 presents a certificate no trusted authority signed (and trusts only itself).
    other = ClusterNode(binary, tmp, 1, native, storage, admin,
                        yaml=internode_yaml(keystore=stranger).replace(CA, stranger))
    try:
        seed.start()
        other.spawn()
        # Node 1 refuses its handshakes and serves alone: node 2 never becomes its peer.
        wait_until("node 1 to refuse the stranger's handshake",
                   lambda: "node-to-node TLS handshake refused" in seed.log(), 60)
        cluster = Cluster([ADDRESSES[0]], port=native, connect_timeout=10, control_connection_timeout=10)
        try:
            s = cluster.connect()
            assert list(s.execute("SELECT peer FROM system.peers")) == []
        finally:
            cluster.shutdown()
    finally:
        seed.kill()
        other.kill()
        shutil.rmtree(tmp, ignore_errors=True)
