"""TLS on the CQL port (`client_encryption_options`) with the Python driver's ssl_context and
cqlsh --ssl, against real nodes: TLS only, optional, client certificates, certificate reload.
The certificates are the test ones in crates/server/tests/tls (a test CA, a node and a client).
"""

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

import pytest
from cassandra.cluster import NoHostAvailable

from conftest import cluster_for, configured_node, fetch_metrics

CERTS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "crates", "server", "tests", "tls"))
CA = os.path.join(CERTS, "ca.pem")


def tls_yaml(keystore=os.path.join(CERTS, "node.pem"), optional=False, require_client_auth=False):
    return (
        "client_encryption_options:\n"
        "  enabled: true\n"
        f"  optional: {str(optional).lower()}\n"
        f"  keystore: {keystore}\n"
        f"  truststore: {CA}\n"
        f"  require_client_auth: {str(require_client_auth).lower()}\n"
    )


def context(client_cert=None, verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(CA)
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client_cert:
        ctx.load_cert_chain(client_cert)
    return ctx


def tls_cluster(node, ctx, **kwargs):
    return cluster_for(node, ssl_context=ctx, ssl_options={"server_hostname": "127.0.0.1"}, **kwargs)


def release_version(cluster):
    try:
        return cluster.connect().execute("SELECT release_version FROM system.local").one()[0]
    finally:
        cluster.shutdown()


def connect_error(cluster):
    with pytest.raises(NoHostAvailable) as e:
        try:
            cluster.connect()
        finally:
            cluster.shutdown()
    return str(e.value)


def test_a_tls_only_port_serves_tls_clients_and_refuses_plain_text_with_a_clear_error():
    with configured_node(tls_yaml()) as n:
        for v in (4, 5):
            cluster = tls_cluster(n, context(), protocol_version=v)
            session = cluster.connect()
            try:
                session.execute("CREATE KEYSPACE IF NOT EXISTS tls WITH replication = "
                                "{'class': 'SimpleStrategy', 'replication_factor': 1}")
                session.execute("CREATE TABLE IF NOT EXISTS tls.t (k int PRIMARY KEY, v text)")
                for k in range(100):
                    session.execute("INSERT INTO tls.t (k, v) VALUES (%s, %s)", (k, f"v{k}" * 50))
                rows = list(session.execute("SELECT k, v FROM tls.t"))
                assert sorted(r.k for r in rows) == list(range(100))
                assert all(r.v == f"v{r.k}" * 50 for r in rows)
            finally:
                cluster.shutdown()
        # A client that does not speak TLS is told why, in a protocol error.
        err = connect_error(cluster_for(n))
        assert "This port accepts only TLS connections" in err, err
        # A client that does not trust the node's certificate refuses it.
        other = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        other.load_verify_locations(os.path.join(CERTS, "other.pem"))
        err = connect_error(tls_cluster(n, other))
        assert "CERTIFICATE_VERIFY_FAILED" in err, err
        # The node sees the refused handshake when the client's alert arrives, which may be
        # after the driver gave up: wait for the counter (bounded).
        deadline = time.monotonic() + 10
        while True:
            m = fetch_metrics(n.host, n.admin_port)
            if m["ilion_cql_tls_handshake_failures_total"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert m["ilion_cql_tls_connections_total"] >= 2
        assert m["ilion_cql_tls_handshake_failures_total"] >= 1, m


def test_an_optional_port_serves_tls_and_plain_text_clients():
    with configured_node(tls_yaml(optional=True)) as n:
        assert release_version(tls_cluster(n, context()))
        assert release_version(cluster_for(n))


def test_require_client_auth_refuses_a_client_without_a_trusted_certificate():
    with configured_node(tls_yaml(require_client_auth=True)) as n:
        assert release_version(tls_cluster(n, context(os.path.join(CERTS, "client.pem"))))
        # No certificate: the node's TLS alert says one is required.
        err = connect_error(tls_cluster(n, context()))
        assert "TLSV13_ALERT_CERTIFICATE_REQUIRED" in err, err
        # A certificate no trusted authority signed.
        err = connect_error(tls_cluster(n, context(os.path.join(CERTS, "other.pem"))))
        assert "ALERT_CERTIFICATE_UNKNOWN" in err, err


def test_a_renewed_certificate_is_served_without_a_restart():
    tmp = tempfile.mkdtemp(prefix="ilion-tls-")
    keystore = os.path.join(tmp, "node.pem")
    shutil.copy(os.path.join(CERTS, "other.pem"), keystore)
    try:
        with configured_node(tls_yaml(keystore=keystore)) as n:
            # The first certificate is not the CA's: a verifying client refuses it.
            err = connect_error(tls_cluster(n, context()))
            assert "CERTIFICATE_VERIFY_FAILED" in err, err
            assert release_version(tls_cluster(n, context(verify=False)))
            shutil.copy(os.path.join(CERTS, "node.pem"), keystore)
            os.utime(keystore, (time.time() + 5, time.time() + 5))
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert release_version(tls_cluster(n, context()))
                    break
                except NoHostAvailable:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            assert "TLS certificate files changed: reloaded" in n.log()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_cqlsh_connects_with_ssl():
    with configured_node(tls_yaml()) as n:
        rc_dir = tempfile.mkdtemp(prefix="ilion-cqlshrc-")
        try:
            rc = os.path.join(rc_dir, "cqlshrc")
            with open(rc, "w") as f:
                f.write(f"[ssl]\ncertfile = {CA}\nvalidate = true\n")
            binary = os.path.join(os.path.dirname(sys.executable), "cqlsh")
            out = subprocess.run([binary, "--ssl", "--cqlshrc", rc, n.host, str(n.port), "-e",
                                  "SELECT release_version FROM system.local"],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert "release_version" in out.stdout
            plain = subprocess.run([binary, "--cqlshrc", rc, n.host, str(n.port), "-e",
                                    "SELECT release_version FROM system.local"],
                                   capture_output=True, text=True, timeout=60)
            assert plain.returncode != 0
            assert "This port accepts only TLS connections" in plain.stderr, plain.stderr
        finally:
            shutil.rmtree(rc_dir, ignore_errors=True)


def test_a_node_with_a_bad_tls_setting_does_not_start_and_names_it():
    from conftest import _binary

    tmp = tempfile.mkdtemp(prefix="ilion-tls-")

    def start_with(options):
        config = os.path.join(tmp, "ilion.yaml")
        with open(config, "w") as f:
            f.write("client_encryption_options:\n  enabled: true\n" + options)
        return subprocess.run([_binary(), "--config", config, "--data-dir", os.path.join(tmp, "data")],
                              capture_output=True, text=True, timeout=30)

    try:
        out = start_with("  keystore: /nonexistent.pem\n")
        assert out.returncode != 0
        assert "cannot read keystore /nonexistent.pem" in out.stderr, out.stderr
        out = start_with("  keystore: /x.pem\n  store_type: JKS\n")
        assert out.returncode != 0
        assert "invalid setting `client_encryption_options`: `store_type: JKS` is not supported" in out.stderr, \
            out.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
