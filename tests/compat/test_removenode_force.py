"""`ilion removenode force` completes a removal under way at once (issue #23).

Real processes on 127.0.0.1 .. 127.0.0.3, each in its own process group and always killed.
Streams are throttled to 1 megabit a second so the removal of 127.0.0.3 (about a megabyte to
re-replicate) is still streaming when `removenode force` arrives.
"""

import shutil
import subprocess
import tempfile

from conftest import _binary
from test_bootstrap import session_on
from test_cluster import _port_free_everywhere, wait_until
from test_elastic import Node, ring, states

ADDRS = [f"127.0.0.{i}" for i in range(1, 4)]
SEED = ADDRS[0]
NO_REMOVAL = "RemovalStatus: No removals in process.\n"


def test_removenode_force_completes_a_removal_under_way_and_is_refused_without_one():
    from cassandra import ConsistencyLevel

    ports = set()
    while len(ports) < 3:
        ports.add(_port_free_everywhere(ADDRS))
    native, storage, admin = sorted(ports)
    tmp = tempfile.mkdtemp(prefix="ilion-force-")
    binary = _binary()
    yaml = "ring_delay_ms: 20000\nnum_tokens: 4\nstream_throughput_outbound_megabits_per_sec: 1\n"
    nodes = {a: Node(binary, tmp, i, native, storage, admin, yaml=yaml, seeds=SEED, address=a)
             for i, a in enumerate(ADDRS)}
    clusters = []
    removal = None
    try:
        for n in nodes.values():
            n.start()
        wait_until("three nodes UN", lambda: states(nodes[SEED]) == {a: "UN" for a in ADDRS}, 60)
        c, s = session_on(nodes[SEED])
        clusters.append(c)
        s.execute("CREATE KEYSPACE force WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s.execute("CREATE TABLE force.t (k int PRIMARY KEY, v blob)")
        insert = s.prepare("INSERT INTO force.t (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.QUORUM
        for k in range(1500):
            s.execute(insert, (k, bytes([k % 251]) * 1024))

        # Nothing to force yet: Cassandra's refusal.
        out = nodes[SEED].admin("removenode", "force", timeout=30)
        assert out.returncode != 0, out.stdout
        assert "No tokens to force removal on, call 'removenode' first" in out.stderr, out.stderr

        gone_id = ring(nodes[SEED])[ADDRS[2]][1]
        nodes[ADDRS[2]].kill()
        wait_until("127.0.0.3 to be down", lambda: states(nodes[SEED]).get(ADDRS[2]) == "DN", 60)
        removal = subprocess.Popen(
            [binary, "removenode", gone_id, "--host", nodes[SEED].host()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

        def streaming():
            out = nodes[SEED].admin("removenode", "status", timeout=30)
            return out.returncode == 0 and out.stdout != NO_REMOVAL and " 0/0 ranges" not in out.stdout
        wait_until("the removal to be streaming", streaming, 60)

        out = nodes[SEED].admin("removenode", "force", timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"RemovalStatus: forcing the removal of {gone_id} ({ADDRS[2]}): "), \
            out.stdout
        stdout, stderr = removal.communicate(timeout=60)
        assert removal.returncode == 0, stdout + stderr
        assert f"removed {ADDRS[2]}" in stdout, stdout
        assert "warning: the removal was forced after" in stderr, stderr
        wait_until("127.0.0.3 to leave the ring",
                   lambda: states(nodes[SEED]) == {a: "UN" for a in ADDRS[:2]}, 60)
        out = nodes[SEED].admin("removenode", "status", timeout=30)
        assert out.stdout == NO_REMOVAL, out.stdout + out.stderr
    except Exception:
        for n in nodes.values():
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        if removal and removal.poll() is None:
            removal.kill()
            removal.wait()
        for c in clusters:
            c.shutdown()
        for n in nodes.values():
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)
