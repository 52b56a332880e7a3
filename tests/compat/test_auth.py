"""Authentication, roles and permissions (PasswordAuthenticator + CassandraAuthorizer) with the
real driver's PlainTextAuthProvider and cqlsh -u/-p, against a node configured as Cassandra
would be. Each error is matched on Cassandra's exact wording."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from cassandra import AuthenticationFailed, InvalidRequest, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import NoHostAvailable

from conftest import cluster_for, configured_node

AUTH_YAML = "authenticator: PasswordAuthenticator\nauthorizer: CassandraAuthorizer\n"


@pytest.fixture(scope="module")
def auth_node():
    with configured_node(AUTH_YAML) as n:
        yield n


def connect(node, user, password):
    cluster = cluster_for(node, auth_provider=PlainTextAuthProvider(username=user, password=password))
    return cluster, cluster.connect()


@pytest.fixture(scope="module")
def admin(auth_node):
    cluster, session = connect(auth_node, "cassandra", "cassandra")
    yield session
    cluster.shutdown()


def login_error(node, user, password):
    """The AuthenticationFailed the driver got for one login, and how long the refusal took."""
    started = time.monotonic()
    cluster = cluster_for(node, auth_provider=PlainTextAuthProvider(username=user, password=password))
    with pytest.raises(NoHostAvailable) as e:
        cluster.connect()
    elapsed = time.monotonic() - started
    cluster.shutdown()
    errors = list(e.value.errors.values())
    assert len(errors) == 1 and isinstance(errors[0], AuthenticationFailed), errors
    return str(errors[0]), elapsed


def new_role(admin, *, login=True, password="pw"):
    name = "r" + uuid.uuid4().hex[:10]
    admin.execute(f"CREATE ROLE {name} WITH PASSWORD = '{password}' AND LOGIN = {str(login).lower()}")
    return name


def refused(session, statement, params=None):
    with pytest.raises(Unauthorized) as e:
        session.execute(statement, params)
    return e.value.summary if hasattr(e.value, "summary") else str(e.value)


def test_the_default_superuser_logs_in_and_reads(admin):
    assert admin.execute("SELECT release_version FROM system.local").one()[0] == "4.1.3"


@pytest.mark.parametrize("protocol_version,compression", [(4, False), (4, "lz4"), (5, False), (5, "lz4")])
def test_a_login_works_in_every_protocol_version_and_framing(auth_node, protocol_version, compression):
    cluster = cluster_for(
        auth_node,
        protocol_version=protocol_version,
        compression=compression,
        auth_provider=PlainTextAuthProvider(username="cassandra", password="cassandra"),
    )
    try:
        session = cluster.connect()
        assert session.execute("SELECT release_version FROM system.local").one()[0] == "4.1.3"
    finally:
        cluster.shutdown()


def test_a_wrong_password_is_refused_with_cassandras_message_after_a_delay(auth_node):
    message, elapsed = login_error(auth_node, "cassandra", "wrong")
    assert 'message="Provided username cassandra and/or password are incorrect"' in message
    assert "code=0100" in message
    assert elapsed >= 1.0


def test_an_unknown_role_is_refused_with_the_same_message(auth_node):
    message, elapsed = login_error(auth_node, "nobody", "whatever")
    assert 'message="Provided username nobody and/or password are incorrect"' in message
    assert elapsed >= 1.0


def test_a_client_without_credentials_is_refused(auth_node):
    cluster = cluster_for(auth_node)
    with pytest.raises(NoHostAvailable) as e:
        cluster.connect()
    cluster.shutdown()
    errors = list(e.value.errors.values())
    assert len(errors) == 1 and isinstance(errors[0], AuthenticationFailed), errors
    assert "requires authentication" in str(errors[0])


def test_a_role_without_login_is_refused(admin, auth_node):
    name = new_role(admin, login=False)
    message, _ = login_error(auth_node, name, "pw")
    assert f'message="{name} is not permitted to log in"' in message


def test_roles_are_rows_of_system_auth_roles_with_cassandras_hash_format(admin):
    name = new_role(admin)
    row = admin.execute(
        "SELECT role, can_login, is_superuser, member_of, salted_hash FROM system_auth.roles WHERE role = %s",
        (name,),
    ).one()
    assert (row.role, row.can_login, row.is_superuser, row.member_of) == (name, True, False, None)
    assert row.salted_hash.startswith("$2a$10$") and len(row.salted_hash) == 60
    columns = {
        r.column_name: r.type
        for r in admin.execute(
            "SELECT column_name, type FROM system_schema.columns "
            "WHERE keyspace_name = 'system_auth' AND table_name = 'role_permissions'"
        )
    }
    assert columns == {"role": "text", "resource": "text", "permissions": "set<text>"}


def test_every_statement_kind_needs_its_permission_and_a_grant_then_a_revoke_apply(admin, auth_node):
    admin.execute(
        "CREATE KEYSPACE IF NOT EXISTS authks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    admin.execute("CREATE TABLE IF NOT EXISTS authks.t (k int PRIMARY KEY, v text)")
    admin.execute("INSERT INTO authks.t (k, v) VALUES (1, 'one')")
    name = new_role(admin)
    cluster, alice = connect(auth_node, name, "pw")
    try:
        def no(perm, resource):
            return f"User {name} has no {perm} permission on {resource} or any of its parents"

        table = "<table authks.t>"
        assert no("SELECT", table) in refused(alice, "SELECT * FROM authks.t")
        assert no("MODIFY", table) in refused(alice, "INSERT INTO authks.t (k, v) VALUES (2, 'two')")
        assert no("MODIFY", table) in refused(alice, "UPDATE authks.t SET v = 'x' WHERE k = 1")
        assert no("MODIFY", table) in refused(alice, "DELETE FROM authks.t WHERE k = 1")
        assert no("MODIFY", table) in refused(
            alice, "BEGIN BATCH INSERT INTO authks.t (k, v) VALUES (3, 'c') APPLY BATCH"
        )
        assert no("CREATE", "<keyspace authks>") in refused(alice, "CREATE TABLE authks.u (k int PRIMARY KEY)")
        assert no("ALTER", table) in refused(alice, "ALTER TABLE authks.t ADD w int")
        assert no("DROP", table) in refused(alice, "DROP TABLE authks.t")
        assert no("CREATE", "<all keyspaces>") in refused(
            alice, "CREATE KEYSPACE nope WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        prepared = alice.prepare("SELECT v FROM authks.t WHERE k = ?")
        assert no("SELECT", table) in refused(alice, prepared, (1,))

        # System tables are readable by every role, as in Cassandra.
        assert alice.execute("SELECT keyspace_name FROM system_schema.keyspaces").all()

        admin.execute(f"GRANT SELECT ON TABLE authks.t TO {name}")
        assert alice.execute("SELECT v FROM authks.t WHERE k = 1").one().v == "one"
        assert alice.execute(prepared, (1,)).one().v == "one"
        admin.execute(f"GRANT MODIFY ON KEYSPACE authks TO {name}")
        alice.execute("INSERT INTO authks.t (k, v) VALUES (2, 'two')")
        alice.execute("UPDATE authks.t SET v = 'deux' WHERE k = 2")
        alice.execute("DELETE FROM authks.t WHERE k = 2")

        admin.execute(f"REVOKE SELECT ON TABLE authks.t FROM {name}")
        assert no("SELECT", table) in refused(alice, "SELECT * FROM authks.t")
        assert no("SELECT", table) in refused(alice, prepared, (1,))
        admin.execute(f"REVOKE MODIFY ON KEYSPACE authks FROM {name}")
        assert no("MODIFY", table) in refused(alice, "INSERT INTO authks.t (k, v) VALUES (2, 'two')")
    finally:
        cluster.shutdown()


def test_permissions_of_a_granted_role_apply_to_its_members(admin, auth_node):
    admin.execute(
        "CREATE KEYSPACE IF NOT EXISTS inherit WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    admin.execute("CREATE TABLE IF NOT EXISTS inherit.t (k int PRIMARY KEY)")
    readers = "readers" + uuid.uuid4().hex[:6]
    admin.execute(f"CREATE ROLE {readers}")
    admin.execute(f"GRANT SELECT ON KEYSPACE inherit TO {readers}")
    bob = new_role(admin)
    cluster, session = connect(auth_node, bob, "pw")
    try:
        refused(session, "SELECT * FROM inherit.t")
        admin.execute(f"GRANT {readers} TO {bob}")
        assert session.execute("SELECT * FROM inherit.t").all() == []
        rows = admin.execute(f"LIST ROLES OF {bob}").all()
        assert [(r.role, r.super, r.login) for r in rows] == sorted([(bob, False, True), (readers, False, False)])
        rows = admin.execute(f"LIST ALL PERMISSIONS OF {bob}").all()
        assert [(r.role, r.username, r.resource, r.permission) for r in rows] == [
            (readers, readers, "<keyspace inherit>", "SELECT")
        ]
        with pytest.raises(InvalidRequest) as e:
            admin.execute(f"GRANT {bob} TO {readers}")
        assert f"{bob} is a member of {readers}" in str(e.value)
        admin.execute(f"REVOKE {readers} FROM {bob}")
        refused(session, "SELECT * FROM inherit.t")
    finally:
        cluster.shutdown()


def test_list_roles_and_list_permissions_return_cassandras_columns(admin):
    name = new_role(admin)
    admin.execute(f"GRANT ALL PERMISSIONS ON KEYSPACE system_auth TO {name}")
    rows = admin.execute("LIST ROLES")
    assert rows.column_names == ["role", "super", "login", "options", "datacenters"]
    by_name = {r.role: r for r in rows}
    assert (by_name["cassandra"].super, by_name["cassandra"].login) == (True, True)
    assert by_name[name].datacenters == "ALL"
    rows = admin.execute(f"LIST ALL PERMISSIONS ON KEYSPACE system_auth OF {name}")
    assert rows.column_names == ["role", "username", "resource", "permission"]
    assert [r.permission for r in rows] == ["CREATE", "ALTER", "DROP", "SELECT", "MODIFY", "AUTHORIZE"]
    users = admin.execute("LIST USERS")
    assert users.column_names == ["name", "super", "datacenters"]
    assert "cassandra" in {r.name for r in users}


def test_the_creator_of_a_keyspace_gets_all_on_it_and_a_drop_takes_the_grants(admin, auth_node):
    name = new_role(admin)
    admin.execute(f"GRANT CREATE ON ALL KEYSPACES TO {name}")
    cluster, session = connect(auth_node, name, "pw")
    ks = "own" + uuid.uuid4().hex[:6]
    try:
        session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
        session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY)")
        session.execute(f"INSERT INTO {ks}.t (k) VALUES (1)")
        assert session.execute(f"SELECT k FROM {ks}.t").one().k == 1
        resources = {r.resource for r in admin.execute(f"LIST ALL PERMISSIONS OF {name}")}
        assert {f"<keyspace {ks}>", f"<table {ks}.t>"} <= resources
        session.execute(f"DROP KEYSPACE {ks}")
        resources = {r.resource for r in admin.execute(f"LIST ALL PERMISSIONS OF {name}")}
        assert resources == {"<all keyspaces>"}
    finally:
        cluster.shutdown()


def test_role_statements_check_who_runs_them(admin, auth_node):
    name = new_role(admin)
    cluster, session = connect(auth_node, name, "pw")
    try:
        assert refused(session, "CREATE ROLE x").endswith(
            f"User {name} has no CREATE permission on <all roles> or any of its parents"
        ) or f"User {name} has no CREATE permission on <all roles> or any of its parents" in refused(
            session, "CREATE ROLE x"
        )
        assert "Only superusers are allowed to alter superuser status" in refused(
            session, "ALTER ROLE cassandra WITH SUPERUSER = false"
        )
        # A role may change its own password.
        session.execute(f"ALTER ROLE {name} WITH PASSWORD = 'pw2'")
    finally:
        cluster.shutdown()
    cluster, session = connect(auth_node, name, "pw2")
    cluster.shutdown()
    with pytest.raises(InvalidRequest) as e:
        admin.execute(f"CREATE ROLE {name}")
    assert f"{name} already exists" in str(e.value)
    admin.execute(f"CREATE ROLE IF NOT EXISTS {name}")
    with pytest.raises(InvalidRequest) as e:
        admin.execute("DROP ROLE cassandra")
    assert "Cannot DROP primary role for current login" in str(e.value)
    admin.execute(f"DROP ROLE {name}")
    admin.execute(f"DROP ROLE IF EXISTS {name}")
    with pytest.raises(InvalidRequest) as e:
        admin.execute(f"DROP ROLE {name}")
    assert f"{name} doesn't exist" in str(e.value)


def cqlsh(node, *args):
    binary = os.path.join(os.path.dirname(sys.executable), "cqlsh")
    out = subprocess.run([binary, node.host, str(node.port), *args], capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


def test_cqlsh_logs_in_with_u_and_p_and_is_refused_a_wrong_password(auth_node, admin):
    code, out, err = cqlsh(auth_node, "-u", "cassandra", "-p", "cassandra", "-e", "LIST ROLES")
    assert code == 0, err
    assert "cassandra" in out and "datacenters" in out
    code, out, err = cqlsh(auth_node, "-u", "cassandra", "-p", "nope", "-e", "SELECT * FROM system.local")
    assert code != 0
    assert "Provided username cassandra and/or password are incorrect" in err


def test_without_an_authenticator_role_statements_are_refused_as_cassandra_does(node):
    cluster = cluster_for(node)
    session = cluster.connect()
    try:
        for statement in ["CREATE ROLE x", "LIST ROLES", "DROP ROLE IF EXISTS x", "LIST ALL PERMISSIONS"]:
            assert "You have to be logged in and not anonymous to perform this request" in refused(
                session, statement
            )
    finally:
        cluster.shutdown()
