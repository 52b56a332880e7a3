"""The cluster grows, shrinks and replaces nodes without losing a row, at RF 3 (issue #23).

Real processes on 127.0.0.1 .. 127.0.0.6, each in its own process group and always killed.
Three nodes hold a keyspace at RF 3; then, each step under a bounded writer at QUORUM:

1. 3 -> 4 nodes: 127.0.0.4 joins (bootstrap);
2. 127.0.0.4 is decommissioned: back to 3;
3. 127.0.0.3 is killed and 127.0.0.5 replaces it (`--replace-address`); then 127.0.0.2 is
   killed and a new node with an empty data directory replaces it at its own address;
4. 127.0.0.6 joins;
5. 127.0.0.6 is killed and removed (`ilion removenode HOST_ID`, refused while it was alive).
6. The replaced 127.0.0.3 and the removed 127.0.0.6 are started again with their old data:
   each learns from the seed that the cluster removed it, stops with Cassandra-style refusal
   and never shows in the ring again; started once more, each refuses at once.

After each step every acknowledged write is readable at ALL, and each node that gained ranges
holds their rows itself: read through that node alone at ONE while every other node is stopped.
"""

import shutil
import struct
import subprocess
import tempfile

from conftest import _binary
from test_bootstrap import Writer, session_on
from test_cluster import ClusterNode, _port_free_everywhere, wait_until

ADDRS = [f"127.0.0.{i}" for i in range(1, 7)]
SEED = ADDRS[0]
ROWS = 600
# Each step's writer stops after this many writes or this many seconds.
MAX_WRITES = 3_000
MAX_WRITE_SECONDS = 90


class Node(ClusterNode):
    cluster_name = "compat-elastic"

    def start(self, timeout=90):
        return super().start(timeout)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout)

    def host(self):
        return f"{self.address}:{self.storage_port}"

    def admin(self, *args, timeout=300):
        return subprocess.run([self.binary, *args, "--host", self.host()],
                              capture_output=True, text=True, timeout=timeout)


def ring(node):
    """`ilion status` on `node` as {address: (state, host id)}."""
    out = node.admin("status", "--timeout", "2", timeout=30)
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        if line[:2] in ("UN", "UJ", "UL", "DN", "DJ", "DL"):
            cols = line.split()
            rows[cols[1]] = (cols[0], cols[-2])
    return rows


def states(node):
    return {a: s for a, (s, _) in ring(node).items()}


def test_rf3_cluster_grows_shrinks_replaces_and_removes_nodes_without_losing_a_row():
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    ports = set()
    while len(ports) < 3:
        ports.add(_port_free_everywhere(ADDRS))
    native, storage, admin = sorted(ports)
    tmp = tempfile.mkdtemp(prefix="ilion-elastic-")
    binary = _binary()
    yaml = "ring_delay_ms: 20000\nnum_tokens: 4\n"

    def node(i, extra_args=()):
        return Node(binary, tmp, i, native, storage, admin, yaml=yaml, seeds=SEED,
                    address=ADDRS[i], extra_args=extra_args)

    nodes = {a: node(i) for i, a in enumerate(ADDRS[:3])}
    clusters = []
    acked = set()
    next_key = [ROWS]

    def up(expected):
        wait_until(f"{SEED} to list {expected}",
                   lambda: states(nodes[SEED]) == {a: "UN" for a in expected}, 60)

    def all_readable(step):
        c, s = session_on(nodes[SEED])
        clusters.append(c)
        select = s.prepare("SELECT v FROM elastic.t WHERE k = ?")
        select.consistency_level = ConsistencyLevel.ALL
        missing = [k for k in sorted(acked)
                   if (lambda r: r is None or r.v != f"v{k}")(s.execute(select, (k,)).one())]
        assert not missing, \
            f"after {step}: {len(missing)} of {len(acked)} acknowledged rows unreadable: {missing[:10]}"
        c.shutdown()

    def holds_its_rows(address, live, step):
        """`address` alone (every other node of `live` stopped) serves, at ONE, every
        acknowledged row of the ranges it replicates."""
        c, _ = session_on(nodes[SEED])
        wait_until("the driver's token map to hold every node",
                   lambda: {h.address for h in c.metadata.all_hosts()} == set(live), 30)
        owned = [k for k in sorted(acked)
                 if address in {h.address for h in
                                c.metadata.get_replicas("elastic", struct.pack(">i", k))}]
        c.shutdown()
        assert len(owned) > len(acked) // 2, f"{address} replicates {len(owned)} of {len(acked)}"
        others = [a for a in live if a != address]
        for a in others:
            nodes[a].stop()
        try:
            c, s = session_on(nodes[address])
            clusters.append(c)
            one = SimpleStatement("SELECT v FROM elastic.t WHERE k = %s",
                                  consistency_level=ConsistencyLevel.ONE)
            lost = [k for k in owned
                    if (lambda r: r is None or r.v != f"v{k}")(s.execute(one, (k,)).one())]
            c.shutdown()
            assert not lost, \
                f"after {step}: {address} alone lacks {len(lost)} of its {len(owned)} rows: {lost[:10]}"
        finally:
            for a in others:
                nodes[a].start()
        up(live)

    def under_writes(step, action):
        c, s = session_on(nodes[SEED])
        clusters.append(c)
        insert = s.prepare("INSERT INTO elastic.t (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.QUORUM
        w = Writer(s, insert, acked, next_key[0], max_writes=MAX_WRITES,
                   max_seconds=MAX_WRITE_SECONDS, pause=0.005)
        with w:
            action()
        next_key[0] = w.next
        w.check_progress(step)
        c.shutdown()

    try:
        for a in ADDRS[:3]:
            nodes[a].start()
        up(ADDRS[:3])
        c, s = session_on(nodes[SEED])
        clusters.append(c)
        s.execute("CREATE KEYSPACE elastic WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE elastic.t (k int PRIMARY KEY, v text)")
        insert = s.prepare("INSERT INTO elastic.t (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.QUORUM
        for k in range(ROWS):
            s.execute(insert, (k, f"v{k}"))
            acked.add(k)
        c.shutdown()

        # 1. 3 -> 4 nodes.
        nodes[ADDRS[3]] = node(3)
        under_writes("the join of 127.0.0.4", lambda: nodes[ADDRS[3]].start())
        live = ADDRS[:4]
        up(live)
        all_readable("the join of 127.0.0.4")
        holds_its_rows(ADDRS[3], live, "the join of 127.0.0.4")

        # 2. Decommission back to 3: the three others take its ranges back.
        def leave():
            out = nodes[ADDRS[3]].admin("decommission", "--timeout", "240")
            assert out.returncode == 0, out.stderr + out.stdout
            assert nodes[ADDRS[3]].proc.wait(timeout=30) == 0
        under_writes("the decommission of 127.0.0.4", leave)
        live = ADDRS[:3]
        up(live)
        all_readable("the decommission of 127.0.0.4")
        for a in live:
            holds_its_rows(a, live, "the decommission of 127.0.0.4")

        # 3. Kill 127.0.0.3 and replace it with 127.0.0.5.
        dead_id = ring(nodes[SEED])[ADDRS[2]][1]
        nodes[ADDRS[2]].kill()
        wait_until("127.0.0.3 to be down", lambda: states(nodes[SEED]).get(ADDRS[2]) == "DN", 60)
        nodes[ADDRS[4]] = node(4, ["--replace-address", ADDRS[2]])
        under_writes("the replacement of 127.0.0.3", lambda: nodes[ADDRS[4]].start())
        live = [ADDRS[0], ADDRS[1], ADDRS[4]]
        up(live)
        assert dead_id not in {h for _, h in ring(nodes[SEED]).values()}
        all_readable("the replacement of 127.0.0.3")
        holds_its_rows(ADDRS[4], live, "the replacement of 127.0.0.3")

        # 3b. Kill 127.0.0.2 and replace it at its own address (a new, empty data directory).
        old_id = ring(nodes[SEED])[ADDRS[1]][1]
        nodes[ADDRS[1]].kill()
        wait_until("127.0.0.2 to be down", lambda: states(nodes[SEED]).get(ADDRS[1]) == "DN", 60)
        nodes[ADDRS[1]] = Node(binary, tmp, 7, native, storage, admin, yaml=yaml, seeds=SEED,
                               address=ADDRS[1], extra_args=["--replace-address", ADDRS[1]])
        under_writes("the replacement of 127.0.0.2 at its own address",
                     lambda: nodes[ADDRS[1]].start())
        up(live)
        new_id = ring(nodes[SEED])[ADDRS[1]][1]
        assert new_id != old_id
        assert old_id not in {h for _, h in ring(nodes[SEED]).values()}
        all_readable("the replacement of 127.0.0.2 at its own address")
        holds_its_rows(ADDRS[1], live, "the replacement of 127.0.0.2 at its own address")

        # 4. Add 127.0.0.6.
        nodes[ADDRS[5]] = node(5)
        under_writes("the join of 127.0.0.6", lambda: nodes[ADDRS[5]].start())
        live = [ADDRS[0], ADDRS[1], ADDRS[4], ADDRS[5]]
        up(live)
        all_readable("the join of 127.0.0.6")
        holds_its_rows(ADDRS[5], live, "the join of 127.0.0.6")

        # 5. removenode is refused while 127.0.0.6 lives; kill it, then remove it.
        gone_id = ring(nodes[SEED])[ADDRS[5]][1]
        out = nodes[SEED].admin("removenode", gone_id)
        assert out.returncode != 0
        assert (f"Node {ADDRS[5]} is alive and owns this ID. Use decommission command to remove "
                "it from the ring") in out.stderr, out.stderr
        nodes[ADDRS[5]].kill()
        wait_until("127.0.0.6 to be down", lambda: states(nodes[SEED]).get(ADDRS[5]) == "DN", 60)

        def remove():
            out = nodes[SEED].admin("removenode", gone_id)
            assert out.returncode == 0, out.stderr + out.stdout
            assert f"removed {ADDRS[5]}" in out.stdout, out.stdout
        under_writes("the removal of 127.0.0.6", remove)
        live = [ADDRS[0], ADDRS[1], ADDRS[4]]
        up(live)
        out = nodes[SEED].admin("removenode", "status", timeout=30)
        assert out.stdout == "RemovalStatus: No removals in process.\n", out.stdout + out.stderr
        all_readable("the removal of 127.0.0.6")
        for a in live:
            holds_its_rows(a, live, "the removal of 127.0.0.6")

        # 6. The replaced and the removed node come back with their old data: fenced.
        up(live)
        refusal = "This node was removed from the cluster while it was down"
        for a in (ADDRS[2], ADDRS[5]):
            n = nodes[a]
            n.spawn()
            assert n.proc.wait(timeout=90) != 0, n.log()
            assert refusal in n.log(), n.log()
            assert f"{SEED}:{storage} holds it removed" in n.log(), n.log()
            assert states(nodes[SEED]) == {x: "UN" for x in live}
            # Started once more, it refuses before it talks to anyone.
            n.spawn()
            assert n.proc.wait(timeout=30) != 0, n.log()
            assert n.log().count(refusal) == 2, n.log()
        all_readable("the fenced returns of 127.0.0.3 and 127.0.0.6")
    except Exception:
        for n in nodes.values():
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        for c in clusters:
            c.shutdown()
        for n in nodes.values():
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)
