"""`system_views.clients` (Cassandra's virtual table of connected clients) through the Python
driver and cqlsh: each connection with its address, the role it logged in as, its driver and
protocol version, its requests, and its TLS when encrypted. The virtual keyspace is not listed
in system_schema, as in Cassandra.
"""

import os
import subprocess
import sys
import time

import pytest
from cassandra import InvalidRequest
from cassandra.auth import PlainTextAuthProvider

from conftest import cluster_for, configured_node
from test_tls import context, tls_cluster, tls_yaml

AUTH_YAML = "authenticator: PasswordAuthenticator\nauthorizer: CassandraAuthorizer\n"


def connect(node, user, password, **kwargs):
    cluster = cluster_for(node, auth_provider=PlainTextAuthProvider(username=user, password=password), **kwargs)
    return cluster, cluster.connect()


def test_each_connection_is_listed_with_the_role_it_logged_in_as():
    with configured_node(AUTH_YAML) as node:
        admin_cluster, admin = connect(node, "cassandra", "cassandra")
        try:
            admin.execute("CREATE ROLE viewer WITH PASSWORD = 'v-pass' AND LOGIN = true")
            viewer_cluster, viewer = connect(node, "viewer", "v-pass", protocol_version=4)
            try:
                rows = list(viewer.execute("SELECT * FROM system_views.clients"))
            finally:
                viewer_cluster.shutdown()
            by_user = {}
            for r in rows:
                by_user.setdefault(r.username, []).append(r)
            assert set(by_user) == {"cassandra", "viewer"}, rows
            for r in rows:
                assert str(r.address) == "127.0.0.1" and r.port > 0
                assert r.connection_stage == "ready"
                assert r.driver_name == "Apache Cassandra Python Driver", r
                assert r.client_options["CQL_VERSION"] == "3.4.6"
                assert r.ssl_enabled is False and r.ssl_protocol is None
            assert {r.protocol_version for r in by_user["viewer"]} == {4}
            assert {r.protocol_version for r in by_user["cassandra"]} == {5}
            # The viewer's connection that ran the SELECT counted it.
            assert max(r.request_count for r in by_user["viewer"]) >= 1
            # Gone once closed (the node notices the closed sockets a moment later: bounded wait).
            deadline = time.monotonic() + 10
            while True:
                names = {r.username for r in admin.execute("SELECT username FROM system_views.clients")}
                if names == {"cassandra"} or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert names == {"cassandra"}
            # Virtual: not schema, and not writable.
            keyspaces = {r.keyspace_name for r in admin.execute("SELECT keyspace_name FROM system_schema.keyspaces")}
            assert "system_views" not in keyspaces
            with pytest.raises(InvalidRequest):
                admin.execute("INSERT INTO system_views.clients (address, port) VALUES ('127.0.0.1', 1)")
        finally:
            admin_cluster.shutdown()


def test_an_encrypted_connection_shows_its_tls_version_and_cipher_and_cqlsh_reads_the_table():
    with configured_node(tls_yaml()) as node:
        cluster = tls_cluster(node, context())
        try:
            rows = list(cluster.connect().execute("SELECT ssl_enabled, ssl_protocol, ssl_cipher_suite "
                                                  "FROM system_views.clients"))
        finally:
            cluster.shutdown()
        assert rows and all(r.ssl_enabled for r in rows), rows
        assert {r.ssl_protocol for r in rows} == {"TLSv1_3"}, rows
        assert all(r.ssl_cipher_suite.startswith("TLS13_") for r in rows), rows

    with configured_node("") as node:
        binary = os.path.join(os.path.dirname(sys.executable), "cqlsh")
        out = subprocess.run([binary, node.host, str(node.port), "-e",
                              "SELECT address, connection_stage, driver_name FROM system_views.clients"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "127.0.0.1" in out.stdout and "ready" in out.stdout, out.stdout
