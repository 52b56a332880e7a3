"""Connecting with the real Python driver: negotiation, system tables, cluster metadata."""

import uuid

import pytest
from cassandra.cluster import Cluster

from conftest import cluster_for


@pytest.mark.parametrize("protocol_version", [4, 5])
def test_driver_connects_with_an_explicit_protocol_version(node, protocol_version):
    cluster = cluster_for(node, protocol_version)
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version, cql_version FROM system.local WHERE key='local'").one()
        assert row.release_version.startswith("4.")
        assert row.cql_version.startswith("3.4")
        assert cluster.protocol_version == protocol_version
    finally:
        cluster.shutdown()


def test_driver_without_a_version_steps_down_to_v5(node):
    cluster = cluster_for(node)
    try:
        cluster.connect()
        assert cluster.protocol_version == 5
    finally:
        cluster.shutdown()


def test_system_local_describes_this_node(node):
    cluster = cluster_for(node, 5)
    try:
        session = cluster.connect()
        local = session.execute("SELECT * FROM system.local WHERE key='local'").one()
        assert local.key == "local"
        assert local.partitioner == "org.apache.cassandra.dht.Murmur3Partitioner"
        assert local.data_center == "datacenter1"
        assert local.rack == "rack1"
        assert local.rpc_port == node.port
        assert local.rpc_address == "127.0.0.1"
        assert isinstance(local.host_id, uuid.UUID)
        assert isinstance(local.schema_version, uuid.UUID)
        assert len(local.tokens) == 16
        for t in local.tokens:
            assert -(2**63) <= int(t) < 2**63
        host = cluster.metadata.get_host(node.host)
        assert host.host_id == local.host_id
        assert host.release_version == local.release_version
    finally:
        cluster.shutdown()


def test_peers_tables_are_empty_on_one_node_with_their_columns(node):
    cluster = cluster_for(node, 5)
    try:
        session = cluster.connect()
        peers = session.execute("SELECT * FROM system.peers")
        assert list(peers) == []
        assert "rpc_address" in peers.column_names and "tokens" in peers.column_names
        v2 = session.execute("SELECT * FROM system.peers_v2")
        assert list(v2) == []
        assert "native_port" in v2.column_names and "peer_port" in v2.column_names
        est = session.execute("SELECT * FROM system.size_estimates")
        assert "partitions_count" in est.column_names
    finally:
        cluster.shutdown()


def test_metadata_lists_system_keyspaces_and_builds_a_token_map(node):
    cluster = cluster_for(node, 5)
    try:
        cluster.connect()
        md = cluster.metadata
        assert "system" in md.keyspaces
        assert "system_schema" in md.keyspaces
        assert "local" in md.keyspaces["system"].tables
        assert "columns" in md.keyspaces["system_schema"].tables
        assert md.cluster_name == "Ilion Cluster"
        assert md.token_map is not None
        assert len(md.token_map.ring) == 16
    finally:
        cluster.shutdown()


def test_count_star_and_limit_on_system_tables(node):
    cluster = cluster_for(node, 4)
    try:
        session = cluster.connect()
        n = session.execute("SELECT count(*) FROM system_schema.keyspaces").one()[0]
        assert n >= 2
        rows = list(session.execute("SELECT keyspace_name FROM system_schema.keyspaces LIMIT 1"))
        assert len(rows) == 1
    finally:
        cluster.shutdown()


def test_prepared_system_query_binds_markers(node):
    cluster = cluster_for(node, 5)
    try:
        session = cluster.connect()
        stmt = session.prepare("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?")
        names = {r.table_name for r in session.execute(stmt, ["system"])}
        assert {"local", "peers", "peers_v2", "size_estimates"} <= names
    finally:
        cluster.shutdown()


def test_system_tables_page_and_resume_on_another_connection(node):
    from cassandra.query import SimpleStatement

    cluster = cluster_for(node, 5)
    other = cluster_for(node, 4)
    try:
        session = cluster.connect()
        everything = list(session.execute("SELECT keyspace_name, table_name, column_name FROM system_schema.columns"))
        assert len(everything) > 20
        stmt = SimpleStatement("SELECT keyspace_name, table_name, column_name FROM system_schema.columns", fetch_size=7)
        first = session.execute(stmt)
        assert first.has_more_pages
        assert len(first.current_rows) == 7
        # Resume from the paging state on another connection (another protocol version even).
        rest = list(other.connect().execute(stmt, paging_state=first.paging_state))
        assert list(first.current_rows) + rest == everything
        assert list(session.execute(stmt)) == everything
    finally:
        cluster.shutdown()
        other.shutdown()


def test_size_estimates_list_the_primary_ranges_of_each_user_table(node):
    cluster = cluster_for(node, 5)
    try:
        session = cluster.connect()
        session.execute(
            "CREATE KEYSPACE IF NOT EXISTS sizes WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TABLE IF NOT EXISTS sizes.t (k int PRIMARY KEY)")
        rows = list(session.execute(
            "SELECT range_start, range_end, partitions_count FROM system.size_estimates "
            "WHERE keyspace_name = 'sizes' AND table_name = 't'"
        ))
        tokens = sorted(int(t) for t in session.execute("SELECT tokens FROM system.local").one().tokens)
        # 16 tokens: 15 ranges between them, and the wrapping one split at the minimum token.
        assert len(rows) == len(tokens) + 1
        ends = sorted(int(r.range_end) for r in rows)
        assert ends == sorted(tokens + [-(2**63)])
        assert all(r.partitions_count == 0 for r in rows)
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("protocol_version", [4, 5])
def test_lz4_compressed_connections_work_with_the_driver(node, protocol_version):
    cluster = cluster_for(node, protocol_version, compression="lz4")
    try:
        session = cluster.connect()
        conn = cluster.control_connection._connection
        assert conn.compressor is not None
        if protocol_version == 5:
            # v5 compresses whole segments instead of frame bodies.
            from cassandra.connection import segment_codec_lz4
            assert conn._segment_codec is segment_codec_lz4
        rows = list(session.execute("SELECT keyspace_name, table_name, column_name FROM system_schema.columns"))
        assert len(rows) > 20
    finally:
        cluster.shutdown()


def test_prepared_statements_work_on_protocol_v4(node):
    # v4 PREPARE results carry no result metadata id (a v5 field); drivers speaking v4 only
    # (the scylla crate, latte) must get a well-formed answer.
    cluster = cluster_for(node, 4)
    session = cluster.connect()
    try:
        stmt = session.prepare("SELECT release_version FROM system.local WHERE key = ?")
        assert session.execute(stmt, ["local"]).one().release_version.startswith("4.")
    finally:
        cluster.shutdown()
