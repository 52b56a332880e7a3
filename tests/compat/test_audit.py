"""The audit log (`audit_logging_options`, `ilion enableauditlog` / `disableauditlog`) against a
real node with PasswordAuthenticator and CassandraAuthorizer: the lines of a session (logins,
DDL, DML, queries, a refused statement, a failed login) with user, source and time, passwords
never written, and the filters and run-time switches taking effect.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest
from cassandra import Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import NoHostAvailable

from conftest import cluster_for, configured_node


def connect(node, user, password):
    cluster = cluster_for(node, auth_provider=PlainTextAuthProvider(username=user, password=password))
    return cluster, cluster.connect()


def entries(path, timeout=10, until=None):
    """The audit log's lines as dicts of their fields, once `until(lines)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        lines = []
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    fields = {}
                    for part in line.rstrip("\n").split("|"):
                        key, _, value = part.partition(":")
                        fields.setdefault(key, value)
                    # The operation may itself hold '|' and ':'; keep it whole.
                    fields["operation"] = line.rstrip("\n").partition("|operation:")[2]
                    lines.append(fields)
        if until is None or until(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def ilion(node, *args):
    return subprocess.run([node.binary, *args, "--host", f"{node.host}:{node.storage_port}"],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def audited():
    tmp = tempfile.mkdtemp(prefix="ilion-audit-")
    yaml = ("authenticator: PasswordAuthenticator\nauthorizer: CassandraAuthorizer\n"
            "audit_logging_options:\n  enabled: true\n"
            f"  audit_logs_dir: {tmp}\n")
    try:
        with configured_node(yaml) as n:
            yield n, os.path.join(tmp, "audit.log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_sessions_logins_and_statements_are_recorded_without_passwords(audited):
    node, log = audited
    admin_cluster, admin = connect(node, "cassandra", "cassandra")
    try:
        admin.execute("CREATE KEYSPACE shop WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        admin.execute("CREATE TABLE shop.orders (id int PRIMARY KEY, item text)")
        admin.execute("INSERT INTO shop.orders (id, item) VALUES (1, 'pen')")
        admin.execute("SELECT * FROM shop.orders WHERE id = 1")
        admin.execute("CREATE ROLE clerk WITH PASSWORD = 'sesame-1234' AND LOGIN = true")
        clerk_cluster, clerk = connect(node, "clerk", "sesame-1234")
        try:
            with pytest.raises(Unauthorized):
                clerk.execute("SELECT * FROM shop.orders")
        finally:
            clerk_cluster.shutdown()
    finally:
        admin_cluster.shutdown()
    bad = cluster_for(node, auth_provider=PlainTextAuthProvider(username="clerk", password="wrong-guess"))
    with pytest.raises(NoHostAvailable):
        bad.connect()
    bad.shutdown()

    lines = entries(log, until=lambda ls: any(l.get("type") == "LOGIN_ERROR" for l in ls))
    by_type = {}
    for l in lines:
        by_type.setdefault(l["type"], []).append(l)
    text = open(log).read()
    assert "sesame-1234" not in text and "wrong-guess" not in text

    logins = by_type["LOGIN_SUCCESS"]
    assert {l["user"] for l in logins} >= {"cassandra", "clerk"}
    for l in logins:
        assert l["category"] == "AUTH"
        assert l["source"] == "/127.0.0.1" and int(l["port"]) > 0
        assert l["host"] == f"127.0.0.1:{node.storage_port}"
        assert abs(int(l["timestamp"]) / 1000 - time.time()) < 300
    (failed,) = by_type["LOGIN_ERROR"]
    assert failed["user"] == "clerk" and failed["category"] == "AUTH"
    assert "Provided username clerk and/or password are incorrect" in failed["operation"]

    (create_ks,) = by_type["CREATE_KEYSPACE"]
    assert (create_ks["user"], create_ks["category"], create_ks["ks"]) == ("cassandra", "DDL", "shop")
    (create_table,) = by_type["CREATE_TABLE"]
    assert (create_table["ks"], create_table["scope"]) == ("shop", "orders")
    (insert,) = by_type["UPDATE"]
    assert insert["category"] == "DML"
    assert insert["operation"] == "INSERT INTO shop.orders (id, item) VALUES (1, 'pen')"
    select = [l for l in by_type["SELECT"] if l.get("ks") == "shop"]
    assert [s["user"] for s in select] == ["cassandra"], select
    (role,) = by_type["CREATE_ROLE"]
    assert role["category"] == "DCL"
    assert role["operation"] == "CREATE ROLE clerk WITH PASSWORD*******"
    (refused,) = by_type["UNAUTHORIZED_ATTEMPT"]
    assert (refused["user"], refused["ks"], refused["scope"]) == ("clerk", "shop", "orders")
    assert "User clerk has no SELECT permission on <table shop.orders> or any of its parents" in \
        refused["operation"]
    # The system keyspaces the driver reads at connect are left out by default.
    assert not [l for l in lines if l.get("ks") in ("system", "system_schema")]


def test_the_log_is_switched_and_filtered_at_run_time(audited):
    node, log = audited
    cluster, session = connect(node, "cassandra", "cassandra")
    try:
        session.execute("CREATE KEYSPACE k WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute("CREATE TABLE k.t (id int PRIMARY KEY)")
        out = ilion(node, "disableauditlog")
        assert out.returncode == 0 and out.stdout == "audit log disabled\n", out.stderr
        session.execute("INSERT INTO k.t (id) VALUES (1)")
        out = ilion(node, "enableauditlog", "--included-categories", "DML")
        assert out.returncode == 0, out.stderr
        assert out.stdout == f"audit log enabled: writing to {os.path.dirname(log)}\n"
        session.execute("INSERT INTO k.t (id) VALUES (2)")
        session.execute("SELECT * FROM k.t")
        bad = ilion(node, "enableauditlog", "--included-categories", "DMLL")
        assert bad.returncode != 0
        assert "unknown category `DMLL`" in bad.stderr, bad.stderr
    finally:
        cluster.shutdown()
    lines = entries(log, until=lambda ls: any("(id) VALUES (2)" in l["operation"] for l in ls))
    operations = [l["operation"] for l in lines]
    assert "INSERT INTO k.t (id) VALUES (1)" not in operations
    assert "INSERT INTO k.t (id) VALUES (2)" in operations
    after = operations[operations.index("INSERT INTO k.t (id) VALUES (2)"):]
    assert "SELECT * FROM k.t" not in after
    assert ilion(node, "disableauditlog").stdout == "audit log disabled\n"
    assert ilion(node, "disableauditlog").stdout == "audit log was not enabled\n"
