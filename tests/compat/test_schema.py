"""Schema statements through the real driver: lifecycle, metadata, events, errors, restart."""

import pytest
from cassandra import AlreadyExists, InvalidRequest
from cassandra.protocol import ConfigurationException, SyntaxException

from conftest import cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture(params=[4, 5], ids=["v4", "v5"])
def session(request, node):
    cluster = cluster_for(node, request.param)
    s = cluster.connect()
    yield s
    cluster.shutdown()


def test_keyspace_lifecycle_reaches_the_driver_metadata(session):
    md = session.cluster.metadata
    session.execute("CREATE KEYSPACE life WITH replication = " + RF1)
    assert "life" in md.keyspaces
    assert md.keyspaces["life"].replication_strategy.replication_factor == 1
    session.execute(
        "ALTER KEYSPACE life WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
    )
    assert md.keyspaces["life"].replication_strategy.dc_replication_factors == {"datacenter1": 3}
    session.execute("DROP KEYSPACE life")
    assert "life" not in md.keyspaces


def test_table_lifecycle_with_options_and_clustering_order(session):
    md = session.cluster.metadata
    session.execute("CREATE KEYSPACE IF NOT EXISTS tl WITH replication = " + RF1)
    session.execute("DROP TABLE IF EXISTS tl.events")
    session.execute(
        "CREATE TABLE tl.events (id uuid, at timestamp, kind text, tags set<text>, "
        "payload frozen<map<text, int>>, s int static, PRIMARY KEY ((id), at, kind)) "
        "WITH CLUSTERING ORDER BY (at DESC, kind ASC) AND comment = 'audit' "
        "AND gc_grace_seconds = 3600 AND compaction = {'class': 'LeveledCompactionStrategy'}"
    )
    t = md.keyspaces["tl"].tables["events"]
    assert [c.name for c in t.partition_key] == ["id"]
    assert [c.name for c in t.clustering_key] == ["at", "kind"]
    assert t.columns["at"].is_reversed
    assert t.columns["s"].is_static
    assert t.columns["tags"].cql_type == "set<text>"
    assert t.columns["payload"].cql_type == "frozen<map<text, int>>"
    assert t.options["comment"] == "audit"
    assert t.options["gc_grace_seconds"] == 3600
    assert t.options["compaction"]["class"].endswith("LeveledCompactionStrategy")

    session.execute("ALTER TABLE tl.events ADD extra blob")
    assert md.keyspaces["tl"].tables["events"].columns["extra"].cql_type == "blob"
    session.execute("ALTER TABLE tl.events DROP extra")
    assert "extra" not in md.keyspaces["tl"].tables["events"].columns
    session.execute("ALTER TABLE tl.events WITH comment = 'changed'")
    assert md.keyspaces["tl"].tables["events"].options["comment"] == "changed"
    session.execute("TRUNCATE tl.events")
    session.execute("DROP TABLE tl.events")
    assert "events" not in md.keyspaces["tl"].tables


def test_use_sets_the_keyspace_of_unqualified_names(session):
    session.execute("CREATE KEYSPACE IF NOT EXISTS usek WITH replication = " + RF1)
    session.set_keyspace("usek")
    session.execute("CREATE TABLE IF NOT EXISTS plain (k int PRIMARY KEY, v text)")
    assert "plain" in session.cluster.metadata.keyspaces["usek"].tables


def test_user_types_are_created_altered_and_used(session):
    md = session.cluster.metadata
    session.execute("CREATE KEYSPACE IF NOT EXISTS udt WITH replication = " + RF1)
    session.execute("DROP TABLE IF EXISTS udt.people")
    session.execute("DROP TYPE IF EXISTS udt.address")
    session.execute("CREATE TYPE udt.address (street text, zip int)")
    session.execute("ALTER TYPE udt.address ADD country text")
    ut = md.keyspaces["udt"].user_types["address"]
    assert ut.field_names == ["street", "zip", "country"]
    session.execute("CREATE TABLE udt.people (id int PRIMARY KEY, home frozen<address>)")
    assert md.keyspaces["udt"].tables["people"].columns["home"].cql_type == "frozen<address>"
    with pytest.raises(InvalidRequest, match="still used"):
        session.execute("DROP TYPE udt.address")


def test_errors_arrive_as_the_drivers_exception_classes(session):
    session.execute("CREATE KEYSPACE IF NOT EXISTS errs WITH replication = " + RF1)
    session.execute("CREATE TABLE IF NOT EXISTS errs.t (k int PRIMARY KEY)")
    with pytest.raises(SyntaxException):
        session.execute("SELEKT * FROM system.local")
    with pytest.raises(AlreadyExists) as e:
        session.execute("CREATE KEYSPACE errs WITH replication = " + RF1)
    assert e.value.keyspace == "errs"
    with pytest.raises(AlreadyExists) as e:
        session.execute("CREATE TABLE errs.t (k int PRIMARY KEY)")
    assert (e.value.keyspace, e.value.table) == ("errs", "t")
    with pytest.raises(InvalidRequest, match="does not exist"):
        session.execute("SELECT * FROM nosuchks.t")
    with pytest.raises(InvalidRequest):
        session.execute("SELECT nosuchcolumn FROM system.local")
    with pytest.raises(ConfigurationException):
        session.execute("CREATE KEYSPACE bad WITH replication = {'class': 'NoSuchStrategy'}")
    with pytest.raises(ConfigurationException):
        session.execute("CREATE KEYSPACE bad WITH replication = {'class': 'SimpleStrategy', 'replication_factor': -1}")
    with pytest.raises(ConfigurationException):
        session.execute("CREATE KEYSPACE bad WITH replication = {'class': 'SimpleStrategy', 'foo': 1}")
    with pytest.raises(InvalidRequest, match="Secondary indexes"):
        session.execute("CREATE INDEX ON errs.t (k)")
    with pytest.raises(InvalidRequest, match="not user-modifiable"):
        session.execute("DROP KEYSPACE system")


def test_schema_survives_a_restart(fresh_node):
    cluster = cluster_for(fresh_node, 5)
    session = cluster.connect()
    session.execute("CREATE KEYSPACE durable WITH replication = " + RF1)
    session.execute("CREATE TABLE durable.t (k int, c int, v text, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)")
    before = session.execute("SELECT schema_version, host_id, tokens FROM system.local").one()
    cluster.shutdown()
    assert fresh_node.stop() == 0

    fresh_node.start()
    cluster = cluster_for(fresh_node, 5)
    try:
        session = cluster.connect()
        after = session.execute("SELECT schema_version, host_id, tokens FROM system.local").one()
        assert after == before
        t = cluster.metadata.keyspaces["durable"].tables["t"]
        assert t.columns["c"].is_reversed
    finally:
        cluster.shutdown()
