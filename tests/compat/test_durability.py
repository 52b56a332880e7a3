"""Durability: with `commitlog_sync: batch` a write is acknowledged only once it is on disk, so
killing the node with SIGKILL at any moment loses no acknowledged write. A clean restart keeps
everything as well.

The kill moments come from a seeded random generator (ILION_DURABILITY_SEED, default 8), so a
failure replays; ILION_DURABILITY_CYCLES sets the number of kill/restart cycles (default 5)."""

import os
import random
import shutil
import tempfile
import threading
import time

import pytest

from conftest import Node, _binary, cluster_for

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
SEED = int(os.environ.get("ILION_DURABILITY_SEED", "8"))
CYCLES = int(os.environ.get("ILION_DURABILITY_CYCLES", "5"))
# Upper bound of one cycle's writing phase, so the test stays bounded in time.
MAX_WRITE_SECONDS = 1.5


class ConfiguredNode(Node):
    """A node started with a config file as well as the conftest node's flags."""

    def __init__(self, binary, data_dir, config_path):
        super().__init__(binary, data_dir, ["--config", config_path])
        self.config_path = config_path


@pytest.fixture
def batch_node():
    tmp = tempfile.mkdtemp(prefix="ilion-durability-")
    config = os.path.join(tmp, "ilion.yaml")
    with open(config, "w") as f:
        f.write("commitlog_sync: batch\n")
    n = ConfiguredNode(_binary(), os.path.join(tmp, "data"), config).start()
    try:
        yield n
    finally:
        n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _connect(node):
    # No reconnection noise: each phase makes its own cluster and shuts it down.
    cluster = cluster_for(node, 4)
    return cluster, cluster.connect()


class Writer(threading.Thread):
    """Writes rows (cycle, i) one at a time and records those the node acknowledged."""

    def __init__(self, session, stmt, cycle):
        super().__init__(daemon=True)
        self.session, self.stmt, self.cycle = session, stmt, cycle
        self.acked = []
        self.stop = threading.Event()
        self.failure = None

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.session.execute(self.stmt, (self.cycle, i, f"value-{self.cycle}-{i}"), timeout=5)
            except Exception as e:  # the node was killed under the write
                self.failure = e
                return
            self.acked.append(i)
            i += 1


def _present(session, cycle):
    rows = session.execute("SELECT c, v FROM dur.t WHERE k = %s", [cycle])
    return {r.c: r.v for r in rows}


def test_no_acknowledged_write_is_lost_when_the_node_is_killed(batch_node):
    rng = random.Random(SEED)
    cluster, s = _connect(batch_node)
    s.execute(f"CREATE KEYSPACE dur WITH replication = {RF1}")
    s.execute("CREATE TABLE dur.t (k int, c int, v text, PRIMARY KEY (k, c))")
    cluster.shutdown()
    acked = {}
    for cycle in range(CYCLES):
        cluster, s = _connect(batch_node)
        try:
            stmt = s.prepare("INSERT INTO dur.t (k, c, v) VALUES (?, ?, ?)")
            writer = Writer(s, stmt, cycle)
            writer.start()
            # Kill at a random moment while writes are in flight.
            time.sleep(rng.uniform(0.05, MAX_WRITE_SECONDS))
            batch_node.kill()
            writer.stop.set()
            writer.join(timeout=15)
            assert not writer.is_alive(), "the writer did not notice the node died"
            acked[cycle] = list(writer.acked)
            print(f"cycle {cycle}: {len(writer.acked)} writes acknowledged before the kill")
        finally:
            cluster.shutdown()
        batch_node.start()
        cluster, s = _connect(batch_node)
        try:
            for earlier, keys in acked.items():
                present = _present(s, earlier)
                lost = [i for i in keys if present.get(i) != f"value-{earlier}-{i}"]
                assert lost == [], f"cycle {cycle} (seed {SEED}): acknowledged writes of cycle {earlier} lost: {lost[:10]}"
        finally:
            cluster.shutdown()
    assert sum(len(k) for k in acked.values()) > 0, "no write was acknowledged at all"


def test_a_clean_restart_keeps_everything(batch_node):
    cluster, s = _connect(batch_node)
    try:
        s.execute(f"CREATE KEYSPACE clean WITH replication = {RF1}")
        s.execute("CREATE TABLE clean.t (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = s.prepare("INSERT INTO clean.t (k, c, v) VALUES (?, ?, ?)")
        for k in range(3):
            for c in range(50):
                s.execute(ins, (k, c, f"{k}:{c}"))
        s.execute("DELETE FROM clean.t WHERE k = 2 AND c = 7")
    finally:
        cluster.shutdown()
    assert batch_node.stop() == 0
    batch_node.start()
    cluster, s = _connect(batch_node)
    try:
        for k in range(3):
            rows = {r.c: r.v for r in s.execute("SELECT c, v FROM clean.t WHERE k = %s", [k])}
            expected = {c: f"{k}:{c}" for c in range(50) if (k, c) != (2, 7)}
            assert rows == expected
    finally:
        cluster.shutdown()
