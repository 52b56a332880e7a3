"""A node joins a running cluster without hiding a row (issue #23, bootstrap).

Real processes on 127.0.0.1 (the seed) and 127.0.0.2, each in its own process group and always
killed. Node 1 holds a keyspace at RF 1 with 2,000 rows; node 2 then joins while a bounded
writer writes at QUORUM. Node 2 must show as joining (UJ) while it streams, then normal (UN);
afterwards every acknowledged row is readable at ALL, and node 2 holds the rows of its own
ranges itself: read through node 2 alone at ONE after node 1 stopped.
"""

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time

from test_cluster import ADDRESSES, ClusterNode, _port_free_everywhere, wait_until
from conftest import _binary

ROWS = 2_000
# The writer stops after this many writes or this many seconds, whichever comes first.
MAX_WRITES = 4_000
MAX_WRITE_SECONDS = 60


class Writer:
    """Writes new rows (`k`, `v{k}`) with the prepared `insert` through `session` from key
    `first` on, in a thread, until stopped or after `max_writes` writes or `max_seconds`;
    records the acknowledged keys in `acked` and the errors in `errors`. A context manager:
    it starts on entry (then waits `settle` seconds) and stops on exit."""

    def __init__(self, session, insert, acked, first, max_writes=MAX_WRITES,
                 max_seconds=MAX_WRITE_SECONDS, pause=0.0, settle=0.5):
        self.session, self.insert, self.acked, self.next = session, insert, acked, first
        self.max_writes, self.max_seconds, self.pause, self.settle = (
            max_writes, max_seconds, pause, settle)
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run)

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_writes):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            k = self.next
            self.next += 1
            try:
                self.session.execute(self.insert, (k, f"v{k}"))
                self.acked.add(k)
            except Exception as e:  # noqa: BLE001 - an unacknowledged write may be lost
                self.errors.append(repr(e))
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self):
        self.thread.start()
        time.sleep(self.settle)
        self.written_before = len(self.acked)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=self.max_seconds + 10)
        return False

    def check_progress(self, during):
        assert len(self.acked) > self.written_before, \
            f"no write acknowledged during {during}: {self.errors[:3]}"


class Node(ClusterNode):
    """A ClusterNode of a cluster of its own, given longer to accept clients (a joining node
    opens its CQL port only after streaming), that can also stop cleanly."""

    cluster_name = "compat-bootstrap"

    def start(self, timeout=60):
        return super().start(timeout)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout)


def status(node):
    out = subprocess.run(
        [node.binary, "status", "--host", f"{node.address}:{node.storage_port}", "--timeout", "2"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return {l.split()[1]: l.split()[0] for l in out.stdout.splitlines()
            if l[:2] in ("UN", "UJ", "UL", "DN", "DJ", "DL")}


@contextlib.contextmanager
def cluster_nodes(prefix, count, yaml="ring_delay_ms: 20000\n"):
    """`count` nodes of a cluster of their own, not started: 127.0.0.1 (the seed), 127.0.0.2, ...
    on free ports under a new directory, each with `yaml`, and a list for the driver clusters a
    test opens. On the way out the clusters are shut down, the nodes killed (their logs printed
    first if the test failed) and the directory removed."""
    native, storage, admin = (_port_free_everywhere(ADDRESSES[:count]) for _ in range(3))
    assert len({native, storage, admin}) == 3
    tmp = tempfile.mkdtemp(prefix=prefix)
    binary = _binary()
    nodes = [Node(binary, tmp, i, native, storage, admin, yaml=yaml, seeds=ADDRESSES[0])
             for i in range(count)]
    clusters = []
    try:
        yield nodes, clusters
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


@contextlib.contextmanager
def two_nodes(prefix):
    """Two nodes of [`cluster_nodes`]: node 1 (the seed), node 2, and the clusters list."""
    with cluster_nodes(prefix, 2) as (nodes, clusters):
        yield nodes[0], nodes[1], clusters


def session_on(node, **kwargs):
    from cassandra.cluster import Cluster
    from cassandra.policies import WhiteListRoundRobinPolicy

    cluster = Cluster([node.address], port=node.native_port, connect_timeout=10,
                      control_connection_timeout=10,
                      load_balancing_policy=WhiteListRoundRobinPolicy([node.address]), **kwargs)
    return cluster, cluster.connect()


def test_a_joining_node_streams_its_ranges_and_hides_no_acknowledged_row():
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    with two_nodes("ilion-bootstrap-") as (n1, n2, clusters):
        n1.start()
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE boot WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s1.execute("CREATE TABLE boot.t (k int PRIMARY KEY, v text)")
        insert = s1.prepare("INSERT INTO boot.t (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.QUORUM
        for k in range(ROWS):
            s1.execute(insert, (k, f"v{k}"))
        acked = set(range(ROWS))

        # A bounded writer at QUORUM through node 1 while node 2 joins, and a watcher of
        # `ilion status` that records the states node 2 goes through.
        stop = threading.Event()
        states = []

        def watcher():
            deadline = time.monotonic() + MAX_WRITE_SECONDS
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    states.append(status(n1).get(ADDRESSES[1]))
                except Exception:  # noqa: BLE001 - a slow answer is retried
                    pass
                time.sleep(0.1)

        watching = threading.Thread(target=watcher)
        watching.start()
        try:
            with Writer(s1, insert, acked, ROWS) as w:
                n2.start()  # returns once node 2 serves clients: after its join finished
                wait_until("node 2 to be up and normal on node 1",
                           lambda: status(n1).get(ADDRESSES[1]) == "UN", 30)
                time.sleep(1)
        finally:
            stop.set()
            watching.join(timeout=MAX_WRITE_SECONDS + 10)
        assert "UJ" in states, f"node 2 never showed as joining: {states}"
        w.check_progress("the join")
        assert status(n2) == {ADDRESSES[0]: "UN", ADDRESSES[1]: "UN"}

        # Every acknowledged row, read at ALL through node 1.
        select = s1.prepare("SELECT v FROM boot.t WHERE k = ?")
        select.consistency_level = ConsistencyLevel.ALL
        missing = [k for k in sorted(acked) if s1.execute(select, (k,)).one() is None]
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged rows unreadable: {missing[:10]}"

        # `ilion cleanup` on node 1 drops what it gave away and nothing it still owns.
        out = subprocess.run(
            [n1.binary, "cleanup", "boot", "--host", f"{n1.address}:{n1.storage_port}"],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "cleanup finished: 1 tables" in out.stdout, out.stdout
        missing = [k for k in sorted(acked) if s1.execute(select, (k,)).one() is None]
        assert not missing, f"cleanup lost {len(missing)} rows: {missing[:10]}"

        # Which rows node 2 owns now, from the driver's token map (system.peers' tokens).
        c_all, s_all = session_on(n1)
        clusters.append(c_all)
        wait_until("the driver to see both nodes' tokens",
                   lambda: len(c_all.metadata.token_map.token_to_host_owner) == 32, 30)
        owned = [k for k in sorted(acked)
                 if {h.address for h in c_all.metadata.get_replicas("boot", struct.pack(">i", k))}
                 == {ADDRESSES[1]}]
        assert len(owned) > len(acked) // 5, f"node 2 owns {len(owned)} of {len(acked)} rows"

        # Node 2 alone, at ONE: it holds its ranges' rows itself.
        n1.stop()
        c2, s2 = session_on(n2)
        clusters.append(c2)
        one = SimpleStatement("SELECT v FROM boot.t WHERE k = %s",
                              consistency_level=ConsistencyLevel.ONE)
        lost = [k for k in owned if (lambda r: r is None or r.v != f"v{k}")(s2.execute(one, (k,)).one())]
        assert not lost, f"node 2 lacks {len(lost)} of the {len(owned)} rows it owns: {lost[:10]}"


def test_a_second_join_is_refused_naming_the_running_one_and_a_failed_join_can_be_retried():
    """Node 2 joins slowly (node 1 streams at 1 megabit per second). Meanwhile node 3 tries to
    join and is refused with a message naming node 2. Then node 1 dies mid-stream: node 2's
    join fails, it exits non-zero saying why and owns nothing. Node 1 comes back, node 2 is
    started again and resumes the join; afterwards every row is readable at ALL."""
    from cassandra import ConsistencyLevel

    native, storage, admin = (_port_free_everywhere() for _ in range(3))
    assert len({native, storage, admin}) == 3
    tmp = tempfile.mkdtemp(prefix="ilion-bootstrap-")
    binary = _binary()
    slow = "ring_delay_ms: 20000\nstream_throughput_outbound_megabits_per_sec: 1\n"
    n1 = Node(binary, tmp, 0, native, storage, admin, yaml=slow, seeds=ADDRESSES[0])
    n2 = Node(binary, tmp, 1, native, storage, admin, yaml="ring_delay_ms: 20000\n",
              seeds=ADDRESSES[0])
    n3 = Node(binary, tmp, 2, native, storage, admin, yaml="ring_delay_ms: 2000\n",
              seeds=ADDRESSES[0])
    clusters = []
    rows = 1_500
    value = "x" * 1_000  # about 1.5 MB in all: node 2's share takes several seconds at 1 Mbit/s
    try:
        n1.start()
        c1, s1 = session_on(n1)
        clusters.append(c1)
        s1.execute("CREATE KEYSPACE boot WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s1.execute("CREATE TABLE boot.t (k int PRIMARY KEY, v text)")
        insert = s1.prepare("INSERT INTO boot.t (k, v) VALUES (?, ?)")
        for k in range(rows):
            s1.execute(insert, (k, value))
        c1.shutdown()
        clusters.remove(c1)

        # Node 2 starts joining; its start() would wait for the join, so start it by hand.
        n2.proc = subprocess.Popen(
            [n2.binary, "--config", n2.config, "--cluster-name", "compat-bootstrap",
             "--listen-address", n2.address, "--seeds", n2.seeds,
             "--data-dir", os.path.join(n2.dir, "data"), "--native-port", str(native),
             "--storage-port", str(storage), "--admin-port", str(admin)],
            stdout=open(n2.log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_until("node 2 to show as joining", lambda: status(n1).get(ADDRESSES[1]) == "UJ", 30)
        wait_until("node 2 to stream", lambda: "streaming the ranges this node gains" in n2.log(), 30)

        # `ilion netstats` shows the streams on both sides while they run.
        def netstats(node):
            out = subprocess.run(
                [node.binary, "netstats", "--host", f"{node.address}:{node.storage_port}",
                 "--timeout", "2"], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            return out.stdout

        text = wait_until("node 2's netstats to show a stream",
                          lambda: (lambda t: t if "receiving from 127.0.0.1 boot.t" in t else None)(
                              netstats(n2)), 20)
        assert text.startswith("Mode: JOINING"), text
        assert "sending to 127.0.0.2 boot.t" in netstats(n1)

        # A second join is refused while node 2's runs, naming it.
        n3.proc = subprocess.Popen(
            [n3.binary, "--config", n3.config, "--cluster-name", "compat-bootstrap",
             "--listen-address", n3.address, "--seeds", n3.seeds,
             "--data-dir", os.path.join(n3.dir, "data"), "--native-port", str(native),
             "--storage-port", str(storage), "--admin-port", str(admin)],
            stdout=open(n3.log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        assert n3.proc.wait(timeout=60) != 0
        assert "127.0.0.2 is JOINING" in n3.log(), n3.log()
        assert status(n1).get(ADDRESSES[1]) == "UJ", "node 2's join ended too early for the test"

        # Node 1 dies mid-stream: node 2's join fails cleanly and says why.
        n1.kill()
        assert n2.proc.wait(timeout=60) != 0
        log = n2.log()
        assert "bootstrap failed" in log and "streaming boot.t" in log, log
        assert "joined the ring" not in log
        assert os.path.exists(os.path.join(n2.dir, "data", "bootstrap.json"))

        # Both come back: node 2 resumes its join with the same tokens and finishes it.
        n1.start()
        n2.start()
        wait_until("both nodes up and normal",
                   lambda: status(n1) == {ADDRESSES[0]: "UN", ADDRESSES[1]: "UN"}, 30)
        assert not os.path.exists(os.path.join(n2.dir, "data", "bootstrap.json"))
        c, s = session_on(n1)
        clusters.append(c)
        select = s.prepare("SELECT v FROM boot.t WHERE k = ?")
        select.consistency_level = ConsistencyLevel.ALL
        missing = [k for k in range(rows) if s.execute(select, (k,)).one() is None]
        assert not missing, f"{len(missing)} rows unreadable after the retried join: {missing[:10]}"
    except Exception:
        for n in (n1, n2, n3):
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        for c in clusters:
            c.shutdown()
        for n in (n1, n2, n3):
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)
