"""Fixtures that run real `ilion` processes for the compatibility tests.

The binary comes from $ILION_BIN (`cargo xtask ci` sets it to target/debug/ilion, the build the
Rust tests made; by hand it defaults to target/release/ilion). Each node gets a fresh temporary
data directory and free ports on 127.0.0.1, and is killed after its test module.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One ilion process: start, wait for its CQL port, stop, restart on the same data."""

    def __init__(self, binary, data_dir, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.data_dir = data_dir
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.storage_port = _free_port()
        while self.storage_port == self.port:
            self.storage_port = _free_port()
        self.admin_port = _free_port()
        while self.admin_port in (self.port, self.storage_port):
            self.admin_port = _free_port()
        self.proc = None
        self.log_path = os.path.join(os.path.dirname(data_dir), "ilion.log")

    def start(self, timeout=30):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                *self.extra_args,
                "--data-dir", self.data_dir,
                "--listen-address", self.host,
                "--native-port", str(self.port),
                "--storage-port", str(self.storage_port),
                "--admin-port", str(self.admin_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C or signal meant for pytest never reaches the node,
            # which is stopped only by the fixture.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ilion exited with {self.proc.returncode}: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"ilion did not accept CQL connections in {timeout}s: {self.log()}")

    def stop(self, timeout=30):
        """SIGTERM and wait: the clean shutdown path."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def metrics(self):
        """The node's Prometheus metrics as {name{labels}: value}."""
        return fetch_metrics(self.host, self.admin_port)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""


def fetch_metrics(host, admin_port):
    """A node's Prometheus metrics (GET /metrics on its admin port) as {name{labels}: value}."""
    import urllib.request

    with urllib.request.urlopen(f"http://{host}:{admin_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _binary():
    binary = os.environ.get("ILION_BIN", "target/release/ilion")
    if not os.path.isabs(binary):
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        binary = os.path.join(root, binary)
    if not os.path.exists(binary):
        pytest.fail(f"ilion binary not found at {binary}; build it or set ILION_BIN")
    return binary


@contextlib.contextmanager
def configured_node(yaml):
    """A running single node whose --config file holds `yaml`; killed and removed on exit."""
    tmp = tempfile.mkdtemp(prefix="ilion-compat-")
    config = os.path.join(tmp, "ilion.yaml")
    with open(config, "w") as f:
        f.write(yaml)
    n = Node(_binary(), os.path.join(tmp, "data"), ["--config", config]).start()
    try:
        yield n
    finally:
        n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def node():
    """A running single node, shared by the tests of one module."""
    tmp = tempfile.mkdtemp(prefix="ilion-compat-")
    n = Node(_binary(), os.path.join(tmp, "data")).start()
    try:
        yield n
    finally:
        n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def fresh_node():
    """A node of its own for one test (restarts, shutdown)."""
    tmp = tempfile.mkdtemp(prefix="ilion-compat-")
    n = Node(_binary(), os.path.join(tmp, "data")).start()
    try:
        yield n
    finally:
        n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def cluster_for(node, protocol_version=None, **kwargs):
    """A driver Cluster aimed at `node`; protocol_version None lets the driver negotiate."""
    from cassandra.cluster import Cluster

    if protocol_version is not None:
        kwargs["protocol_version"] = protocol_version
    return Cluster([node.host], port=node.port, connect_timeout=10, control_connection_timeout=10, **kwargs)


@contextlib.contextmanager
def keyspace_session(node, keyspace, protocol_version=4):
    """A session on `node` using a new single-replica keyspace `keyspace`; the cluster is shut
    down on exit."""
    cluster = cluster_for(node, protocol_version)
    try:
        session = cluster.connect()
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.set_keyspace(keyspace)
        yield session
    finally:
        cluster.shutdown()
