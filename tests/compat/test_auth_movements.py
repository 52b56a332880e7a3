"""Roles follow their token ranges when the cluster grows (issues #23 and #27).

`system_auth` is replicated like a user keyspace (SimpleStrategy, one replica), so a joining
node must stream its share of the role rows: otherwise the roles whose ranges it takes become
unreadable and cannot log in. Real processes on 127.0.0.1 and 127.0.0.2, each in its own
process group and always killed.
"""

import shutil
import tempfile

from conftest import _binary
from test_auth import AUTH_YAML
from test_bootstrap import session_on
from test_cluster import _port_free_everywhere, wait_until
from test_elastic import Node, states

ADDRS = ["127.0.0.1", "127.0.0.2"]
SEED = ADDRS[0]
ROLES = [f"mover{i}" for i in range(12)]


def test_every_role_stays_readable_and_logs_in_after_a_node_joins():
    from cassandra import ConsistencyLevel
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.query import SimpleStatement

    ports = set()
    while len(ports) < 3:
        ports.add(_port_free_everywhere(ADDRS))
    native, storage, admin = sorted(ports)
    tmp = tempfile.mkdtemp(prefix="ilion-auth-moves-")
    yaml = AUTH_YAML + "ring_delay_ms: 20000\nnum_tokens: 4\n"
    nodes = [Node(_binary(), tmp, i, native, storage, admin, yaml=yaml, seeds=SEED, address=a)
             for i, a in enumerate(ADDRS)]
    clusters = []

    def as_role(node, role, password):
        c, s = session_on(node, auth_provider=PlainTextAuthProvider(username=role, password=password))
        clusters.append(c)
        return s

    try:
        nodes[0].start()
        wait_until("the seed UN", lambda: states(nodes[0]) == {SEED: "UN"}, 60)
        s = as_role(nodes[0], "cassandra", "cassandra")
        for r in ROLES:
            s.execute(f"CREATE ROLE {r} WITH PASSWORD = 'pw-{r}' AND LOGIN = true")

        nodes[1].start(timeout=120)
        wait_until("both nodes UN", lambda: states(nodes[0]) == {a: "UN" for a in ADDRS}, 60)

        s = as_role(nodes[0], "cassandra", "cassandra")
        read = SimpleStatement("SELECT role FROM system_auth.roles",
                               consistency_level=ConsistencyLevel.ONE)
        names = {row.role for row in s.execute(read)}
        assert set(ROLES) <= names, f"roles unreadable after the join: {sorted(set(ROLES) - names)}"
        # Each role logs in through the new node, wherever its row now lives.
        for r in ROLES:
            mine = as_role(nodes[1], r, f"pw-{r}")
            assert mine.execute("SELECT release_version FROM system.local").one()[0] == "4.1.3"
    except Exception:
        for n in nodes:
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        for c in clusters:
            c.shutdown()
        for n in nodes:
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)
