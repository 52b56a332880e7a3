"""A node leaves the ring without losing a row (issue #23, decommission).

Real processes on 127.0.0.1 (the seed) and 127.0.0.2 (joined by bootstrap), in their own
process groups and always killed. Decommissioning node 2 is refused while a keyspace needs two
replicas; once that keyspace is gone, node 2 leaves while a bounded writer writes at QUORUM,
its process exits, node 1 alone is listed, and node 1 alone serves every acknowledged row.
"""

import re
import subprocess
import time

from test_bootstrap import Writer, session_on, status, two_nodes
from test_cluster import ADDRESSES, wait_until

ROWS = 1_000
MAX_WRITES = 3_000


def decommission(node):
    return subprocess.run(
        [node.binary, "decommission", "--host", f"{node.address}:{node.storage_port}",
         "--timeout", "120"],
        capture_output=True, text=True, timeout=180,
    )


def test_a_decommissioned_node_streams_its_ranges_away_and_leaves():
    from cassandra import ConsistencyLevel

    with two_nodes("ilion-decommission-") as (n1, n2, clusters):
        n1.start()
        n2.start()
        wait_until("both nodes up and normal",
                   lambda: status(n1) == {ADDRESSES[0]: "UN", ADDRESSES[1]: "UN"}, 30)
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE leave WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s1.execute("CREATE TABLE leave.t (k int PRIMARY KEY, v text)")
        insert = s1.prepare("INSERT INTO leave.t (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.QUORUM
        for k in range(ROWS):
            s1.execute(insert, (k, f"v{k}"))
        acked = set(range(ROWS))

        # Refused while a keyspace needs both nodes, with Cassandra's message; node 2 stays.
        s1.execute("CREATE KEYSPACE two WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        out = decommission(n2)
        assert out.returncode != 0
        assert ("Not enough live nodes to maintain replication factor in keyspace two "
                "(RF = 2, N = 1)") in out.stderr, out.stderr
        assert n2.proc.poll() is None
        assert status(n1) == {ADDRESSES[0]: "UN", ADDRESSES[1]: "UN"}
        s1.execute("DROP KEYSPACE two")

        with Writer(s1, insert, acked, ROWS, max_writes=MAX_WRITES) as w:
            out = decommission(n2)
            assert out.returncode == 0, out.stderr + out.stdout
            # Its progress, polled while it runs: stderr is no terminal here, so plain lines.
            assert re.search(r"^decommission: (waiting until|\d+% \()", out.stderr, re.M), \
                out.stderr
            streamed = re.search(r"decommissioned: \d+ ranges, (\d+) partitions", out.stdout)
            assert streamed and int(streamed.group(1)) > ROWS // 5, out.stdout
            assert n2.proc.wait(timeout=30) == 0, n2.log()
            time.sleep(0.5)
        w.check_progress("the decommission")
        # It never comes back with that data (as Cassandra).
        again = subprocess.run(
            [n2.binary, "--config", n2.config, "--cluster-name", "compat-bootstrap",
             "--listen-address", n2.address, "--seeds", n2.seeds,
             "--data-dir", n2.dir + "/data", "--native-port", str(n2.native_port),
             "--storage-port", str(n2.storage_port), "--admin-port", str(n2.admin_port)],
            capture_output=True, text=True, timeout=60)
        assert again.returncode != 0
        assert "decommissioned and will not rejoin the ring" in again.stderr, again.stderr
        wait_until("node 1 to list itself alone", lambda: status(n1) == {ADDRESSES[0]: "UN"}, 30)

        # Node 1 alone holds every acknowledged row.
        c, s = session_on(n1)
        clusters.append(c)
        select = s.prepare("SELECT v FROM leave.t WHERE k = ?")
        select.consistency_level = ConsistencyLevel.ALL
        missing = [k for k in sorted(acked) if s.execute(select, (k,)).one() is None]
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged rows lost: {missing[:10]}"
