"""Three real nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 forming one cluster.

Each node has its own address (the same free native and storage ports on all three), its own
data directory under a temporary directory, and node 1 as its seed. The checks are the
driver's: it discovers every node from system.peers and connects to each, schema changes made
on one node reach the others (schema agreement), `ilion status` lists the cluster, and a
registered client hears a killed node go DOWN and come back UP. Every wait is bounded.
"""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import _binary, fetch_metrics

ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def _port_free_everywhere(addresses=ADDRESSES):
    """A port free on every one of `addresses` (by default the three of this module)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        try:
            for a in addresses[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind((a, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no port free on all of {addresses}")


def wait_until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - report the last failure on timeout
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class ClusterNode:
    # Nodes of another cluster never gossip with these.
    cluster_name = "compat-cluster"

    def __init__(self, binary, root, index, native_port, storage_port, admin_port=None,
                 yaml="", seeds=ADDRESSES[0], address=None, extra_args=()):
        self.binary = binary
        self.seeds = seeds
        self.address = address or ADDRESSES[index]
        # Further command-line flags (e.g. --replace-address).
        self.extra_args = list(extra_args)
        self.dir = os.path.join(root, f"node{index + 1}")
        os.makedirs(self.dir, exist_ok=True)
        self.config = os.path.join(self.dir, "ilion.yaml")
        with open(self.config, "w") as f:
            # Fast failure detection (docs/gossip.md) so DOWN arrives in about 10 s.
            f.write("phi_convict_threshold: 3.5\ngossip_fanout: 3\n" + yaml)
        self.native_port = native_port
        self.storage_port = storage_port
        # None: the default (7199) on the node's own address.
        self.admin_port = admin_port
        self.log_path = os.path.join(self.dir, "ilion.log")
        self.proc = None

    def start(self, timeout=30):
        self.spawn()
        def accepting():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.address} exited: {self.log()}")
            with socket.create_connection((self.address, self.native_port), timeout=0.5):
                return True
        wait_until(f"{self.address} to accept CQL connections", accepting, timeout)
        return self

    def spawn(self):
        """Starts the process without waiting for it to serve."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--config", self.config,
                "--cluster-name", self.cluster_name,
                "--listen-address", self.address,
                "--seeds", self.seeds,
                "--data-dir", os.path.join(self.dir, "data"),
                "--native-port", str(self.native_port),
                "--storage-port", str(self.storage_port),
                *(["--admin-port", str(self.admin_port)] if self.admin_port else []),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C or signal meant for pytest never reaches the node,
            # which is stopped only by the fixture.
            start_new_session=True,
        )
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def metrics(self):
        """The node's Prometheus metrics as {name{labels}: value}."""
        return fetch_metrics(self.address, self.admin_port or 7199)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except OSError:
            return ""


def peers_of(session, host, table="system.peers"):
    column = "native_address" if table.endswith("_v2") else "rpc_address"
    rows = session.execute(f"SELECT peer, {column} FROM {table}", host=host)
    return {(str(r[0]), str(r[1])) for r in rows}


@pytest.fixture(scope="module")
def nodes():
    native_port = _port_free_everywhere()
    storage_port = _port_free_everywhere()
    admin_port = _port_free_everywhere()
    while len({native_port, storage_port, admin_port}) < 3:
        storage_port = _port_free_everywhere()
        admin_port = _port_free_everywhere()
    yield from running("ilion-cluster-", lambda binary, tmp, i: ClusterNode(
        binary, tmp, i, native_port, storage_port, admin_port), 3)


def running(prefix, make, count):
    """A fixture body: starts `count` nodes made by `make(binary, tmp, index)` under a fresh
    temporary directory, yields them, prints their logs if starting or a test fails, and
    always kills them and removes the directory."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    binary = _binary()
    started = []
    try:
        for i in range(count):
            started.append(make(binary, tmp, i).start())
        yield started
    except Exception:
        for n in started:
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        for n in started:
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def formed(nodes):
    """Whether each node's system.peers lists every other node (the cluster has formed).

    Each query is pinned to the node it asks about: a driver that has discovered the other
    nodes would otherwise send it to any of them."""
    from cassandra.cluster import Cluster
    from cassandra.policies import WhiteListRoundRobinPolicy

    for n in nodes:
        c = Cluster([n.address], port=n.native_port, connect_timeout=5,
                    control_connection_timeout=5,
                    load_balancing_policy=WhiteListRoundRobinPolicy([n.address]))
        try:
            s = c.connect()
            peers = {str(r[0]) for r in s.execute("SELECT peer FROM system.peers")}
            if peers != {m.address for m in nodes} - {n.address}:
                return False
        finally:
            c.shutdown()
    return True


@pytest.fixture(scope="module")
def session(nodes):
    from cassandra.cluster import Cluster

    # Each node's view holds the other two before the driver looks.
    wait_until("every node to list the other two in system.peers", lambda: formed(nodes), 60)
    cluster = Cluster([ADDRESSES[0]], port=nodes[0].native_port, connect_timeout=10,
                      control_connection_timeout=10)
    s = cluster.connect()
    try:
        yield s
    finally:
        cluster.shutdown()


def host(session, address):
    return next(h for h in session.cluster.metadata.all_hosts() if h.address == address)


def on_host(session, h, query, timeout=30):
    """Runs `query` on host `h`. A host the driver marked down for a moment (seen once in CI
    just after start-up) is waited for until its reconnection brings it back, bounded."""
    from cassandra.cluster import NoHostAvailable

    deadline = time.monotonic() + timeout
    while True:
        try:
            return session.execute(query, host=h)
        except NoHostAvailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_driver_discovers_three_hosts_and_connects_to_each(session):
    hosts = wait_until(
        "the driver to see three live hosts",
        lambda: (lambda hs: hs if len(hs) == 3 and all(h.is_up for h in hs) else None)(
            session.cluster.metadata.all_hosts()),
        30,
    )
    assert sorted(h.address for h in hosts) == ADDRESSES
    for h in hosts:
        assert h.datacenter == "datacenter1"
        assert h.rack == "rack1"
        # The query runs on that host: it answers with its own address.
        row = on_host(session, h, "SELECT rpc_address, listen_address FROM system.local").one()
        assert str(row[0]) == h.address
        assert str(row[1]) == h.address
    wait_until(
        "a connection pool to each host",
        lambda: len([h for h, p in session.get_pool_state().items() if p["open_count"] > 0]) == 3,
        30,
    )


def test_system_peers_on_each_node_lists_the_other_two(session):
    for address in ADDRESSES:
        h = host(session, address)
        others = {(a, a) for a in ADDRESSES if a != address}
        assert peers_of(session, h) == others
        assert peers_of(session, h, "system.peers_v2") == others
        ids = session.execute("SELECT host_id, tokens FROM system.peers", host=h)
        for row in ids:
            assert row[0] is not None
            assert len(row[1]) == 16


def test_schema_made_on_node_one_reaches_nodes_two_and_three(session):
    h1 = host(session, ADDRESSES[0])
    session.execute(
        "CREATE KEYSPACE spread WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        host=h1,
    )
    session.execute("CREATE TABLE spread.t (k int PRIMARY KEY, v text)", host=h1)
    cc = session.cluster.control_connection
    assert wait_until("schema agreement", lambda: cc.wait_for_schema_agreement(wait_time=10), 30)
    versions = set()
    for address in ADDRESSES:
        h = host(session, address)
        row = session.execute("SELECT schema_version FROM system.local", host=h).one()
        versions.add(row[0])
        tables = session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'spread'", host=h)
        assert [r[0] for r in tables] == ["t"]
    assert len(versions) == 1
    for i, address in enumerate(ADDRESSES[1:], start=2):
        h = host(session, address)
        session.execute("INSERT INTO spread.t (k, v) VALUES (%s, %s)", (i, f"from {address}"), host=h)
        row = session.execute("SELECT v FROM spread.t WHERE k = %s", (i,), host=h).one()
        assert row[0] == f"from {address}"
    # A change made on node three comes back to node one.
    h3 = host(session, ADDRESSES[2])
    session.execute("ALTER TABLE spread.t ADD w int", host=h3)
    assert wait_until("schema agreement after ALTER", lambda: cc.wait_for_schema_agreement(wait_time=10), 30)
    columns = session.execute(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'spread' AND table_name = 't'",
        host=h1)
    assert "w" in {r[0] for r in columns}


def status_lines(nodes):
    out = subprocess.run(
        [nodes[0].binary, "status", "--host", f"{ADDRESSES[0]}:{nodes[0].storage_port}"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_status_prints_every_node_up_and_normal(nodes, session):
    text = status_lines(nodes)
    lines = text.splitlines()
    assert lines[0] == "Datacenter: datacenter1"
    assert lines[1] == "=" * len(lines[0])
    assert lines[4].split()[:3] == ["--", "Address", "Load"]
    members = [l.split() for l in lines[5:] if l.strip()]
    assert sorted(m[1] for m in members) == ADDRESSES
    for m in members:
        assert m[0] == "UN", text
        assert m[-1] == "rack1"
        assert "16" in m, text


class EventClient:
    """A bare protocol v4 connection that REGISTERs for topology and status events."""

    def __init__(self, address, port):
        self.sock = socket.create_connection((address, port), timeout=5)
        self.buf = b""
        self.request(0x01, self.string_map({"CQL_VERSION": "3.0.0"}))
        assert self.read_frame(5)[0] == 0x02  # READY
        self.request(0x0B, self.string_list(["STATUS_CHANGE", "TOPOLOGY_CHANGE"]))
        assert self.read_frame(5)[0] == 0x02

    @staticmethod
    def string(s):
        b = s.encode()
        return struct.pack(">H", len(b)) + b

    def string_map(self, m):
        return struct.pack(">H", len(m)) + b"".join(self.string(k) + self.string(v) for k, v in m.items())

    def string_list(self, items):
        return struct.pack(">H", len(items)) + b"".join(self.string(i) for i in items)

    def request(self, opcode, body):
        self.sock.sendall(struct.pack(">BBhBi", 4, 0, 1, opcode, len(body)) + body)

    def read_frame(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                _, _, _, opcode, length = struct.unpack(">BBhBi", self.buf[:9])
                if len(self.buf) >= 9 + length:
                    body = self.buf[9:9 + length]
                    self.buf = self.buf[9 + length:]
                    return opcode, body
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise AssertionError("event connection closed")
            self.buf += chunk

    def next_event(self, timeout):
        """(type, change, address) of the next EVENT, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.read_frame(deadline - time.monotonic())
            if frame is None:
                return None
            opcode, body = frame
            if opcode != 0x0C:
                continue
            pos = 0
            fields = []
            for _ in range(2):
                (n,) = struct.unpack(">H", body[pos:pos + 2])
                fields.append(body[pos + 2:pos + 2 + n].decode())
                pos += 2 + n
            size = body[pos]
            address = socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6,
                                       body[pos + 1:pos + 1 + size])
            return fields[0], fields[1], address
        return None

    def wait_for(self, kind, change, address, timeout):
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            e = self.next_event(deadline - time.monotonic())
            if e is None:
                break
            seen.append(e)
            if e == (kind, change, address):
                return seen
        raise AssertionError(f"no {kind} {change} {address} within {timeout}s; saw {seen}")

    def close(self):
        self.sock.close()


def test_killed_node_goes_down_and_comes_back_up_for_a_registered_client(nodes, session):
    client = EventClient(ADDRESSES[0], nodes[0].native_port)
    try:
        nodes[2].kill()  # SIGKILL: no shutdown announcement, the failure detector must notice.
        client.wait_for("STATUS_CHANGE", "DOWN", ADDRESSES[2], 60)
        assert any(l.startswith("DN") and ADDRESSES[2] in l for l in status_lines(nodes).splitlines())
        nodes[2].start()
        seen = client.wait_for("STATUS_CHANGE", "UP", ADDRESSES[2], 60)
        # A restart is not a new node.
        assert ("TOPOLOGY_CHANGE", "NEW_NODE", ADDRESSES[2]) not in seen
    finally:
        client.close()
    wait_until("node three back in the status as UN",
               lambda: any(l.startswith("UN") and ADDRESSES[2] in l
                           for l in status_lines(nodes).splitlines()), 30)
    # The restarted node kept the schema and still agrees.
    h3 = host(session, ADDRESSES[2])
    wait_until("the driver to see node three up again", lambda: h3.is_up, 60)
    tables = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'spread'", host=h3)
    assert [r[0] for r in tables] == ["t"]
