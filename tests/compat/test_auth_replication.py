"""`ALTER KEYSPACE system_auth` (issue #27): roles survive the loss of a node once their
keyspace has more than one replica and a repair filled the new replicas.

Three real processes on 127.0.0.1-3, each in its own process group and always killed. Twelve
roles are made while `system_auth` has Cassandra's default single replica, so each lives on one
node only. The replication factor is raised to 3 (the driver gets Cassandra's warning to run a
full repair), every node shows the new replication, `ilion repair system_auth` copies the roles
to their new replicas, and then, with node 3 killed, every role still logs in through nodes 1
and 2 (logins read `system_auth` at QUORUM: two of three replicas).
"""

import pytest

from test_auth import AUTH_YAML
from test_bootstrap import cluster_nodes, session_on, status
from test_cluster import ADDRESSES, wait_until
from test_repair import all_up, repair

ROLES = [f"kept{i}" for i in range(12)]
YAML = AUTH_YAML + "ring_delay_ms: 5000\nnum_tokens: 4\n"


def as_role(node, clusters, role, password):
    from cassandra.auth import PlainTextAuthProvider

    c, s = session_on(node, auth_provider=PlainTextAuthProvider(username=role, password=password))
    clusters.append(c)
    return s


def replication_seen(node, clusters):
    s = as_role(node, clusters, "cassandra", "cassandra")
    row = s.execute("SELECT replication FROM system_schema.keyspaces "
                    "WHERE keyspace_name = 'system_auth'").one()
    return dict(row.replication)


def test_roles_log_in_with_a_node_down_after_system_auth_gets_three_replicas_and_a_repair():
    from cassandra import InvalidRequest
    from cassandra.protocol import ConfigurationException

    with cluster_nodes("ilion-auth-rf-", 3, YAML) as (nodes, clusters):
        n1, n2, n3 = nodes
        all_up(nodes)
        s = as_role(n1, clusters, "cassandra", "cassandra")
        for r in ROLES:
            s.execute(f"CREATE ROLE {r} WITH PASSWORD = 'pw-{r}' AND LOGIN = true")
        assert replication_seen(n2, clusters) == {
            "class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"}

        result = s.execute("ALTER KEYSPACE system_auth WITH replication = "
                           "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        assert result.response_future.warnings == [
            "When increasing replication factor you need to run a full (-full) repair to "
            "distribute the data."]
        want = {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}
        for n in nodes:
            wait_until(f"{n.address} to show system_auth at RF 3",
                       lambda n=n: replication_seen(n, clusters) == want, 30)
        described = s.execute("DESCRIBE KEYSPACE system_auth").one()
        assert "'replication_factor': '3'" in described.create_statement, described
        # The local system keyspaces stay the node's own; system_auth keeps its commit log.
        with pytest.raises(InvalidRequest, match="system keyspace is not user-modifiable"):
            s.execute("ALTER KEYSPACE system WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        with pytest.raises(ConfigurationException,
                           match="durable_writes = false is not allowed on the system_auth"):
            s.execute("ALTER KEYSPACE system_auth WITH durable_writes = false")

        out = repair(n1, "system_auth")
        assert out.returncode == 0, out.stderr
        assert "repair finished" in out.stdout + out.stderr, out.stdout + out.stderr

        wait_until("node 1 to see every node up",
                   lambda: all(status(n1).get(a) == "UN" for a in ADDRESSES), 60)
        n3.kill()
        wait_until("node 1 and node 2 to see node 3 down",
                   lambda: status(n1).get(ADDRESSES[2]) == "DN"
                   and status(n2).get(ADDRESSES[2]) == "DN", 60)
        for node in (n1, n2):
            for r in ROLES:
                mine = as_role(node, clusters, r, f"pw-{r}")
                assert mine.execute("SELECT release_version FROM system.local").one()[0] == "4.1.3"
