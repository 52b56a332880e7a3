"""A 3-node Ilion cluster on this machine: replication, a node failure, and hints.

1. Starts three `ilion` processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all of 127/8 is
   loopback on Linux), 127.0.0.1 being the seed, and waits until the driver sees all three.
2. Creates a keyspace with replication factor 3 and writes rows at QUORUM.
3. Stops node 3 (kill -9) and keeps writing and reading at QUORUM: two replicas of three
   answer, and the coordinators store hints for node 3.
4. Starts node 3 again; the other nodes replay their hints to it.
5. Reads every row written while node 3 was down at consistency ONE from node 3 alone, and
   prints the hint counters of each node (from its Prometheus metrics).

Usage: python local_cluster.py [--bin target/release/ilion] [--rows 200] [--keep]
Exit code 1 if any step does not behave as described.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import RoundRobinPolicy, WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


class Node:
    def __init__(self, binary, address, workdir, ports):
        self.binary = binary
        self.address = address
        self.dir = os.path.join(workdir, address)
        self.native_port, self.storage_port, self.admin_port = ports
        self.proc = None

    def start(self, timeout=60):
        os.makedirs(self.dir, exist_ok=True)
        log = open(os.path.join(self.dir, "ilion.log"), "ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--listen-address", self.address,
                "--seeds", HOSTS[0],
                "--cluster-name", "local-cluster-example",
                "--data-dir", os.path.join(self.dir, "data"),
                "--native-port", str(self.native_port),
                "--storage-port", str(self.storage_port),
                "--admin-port", str(self.admin_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.address} exited at start; see {self.dir}/ilion.log")
            try:
                with socket.create_connection((self.address, self.native_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.address} did not start in {timeout}s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self):
        url = f"http://{self.address}:{self.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def binary(path):
    if path:
        return os.path.abspath(path)
    default = os.path.join(ROOT, "target", "release", "ilion")
    if not os.path.exists(default):
        print("building ilion (cargo build --release --bin ilion) ...")
        subprocess.run(["cargo", "build", "--release", "--bin", "ilion"], cwd=ROOT, check=True)
    return default


def wait_until(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout}s waiting until {what}")


def session_for(hosts, port, consistency):
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy(hosts) if len(hosts) == 1 else RoundRobinPolicy(),
        consistency_level=consistency,
        request_timeout=20,
    )
    cluster = Cluster(
        hosts, port=port, connect_timeout=10, control_connection_timeout=10,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    return cluster, cluster.connect()


def hint_counters(nodes):
    out = {}
    for n in nodes:
        try:
            m = n.metrics()
        except OSError:
            continue
        out[n.address] = (
            int(m.get("ilion_hints_stored_total", 0)),
            int(m.get("ilion_hints_delivered_total", 0)),
        )
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", help="the ilion binary (default: target/release/ilion, built if missing)")
    p.add_argument("--rows", type=int, default=200)
    p.add_argument("--native-port", type=int, default=9042)
    p.add_argument("--storage-port", type=int, default=7000)
    p.add_argument("--admin-port", type=int, default=7199)
    p.add_argument("--keep", action="store_true", help="keep the data directories")
    args = p.parse_args()

    workdir = tempfile.mkdtemp(prefix="ilion-local-cluster-")
    ports = (args.native_port, args.storage_port, args.admin_port)
    nodes = [Node(binary(args.bin), h, workdir, ports) for h in HOSTS]
    clusters = []
    try:
        for n in nodes:
            n.start()
            print(f"started {n.address} (log {n.dir}/ilion.log)")

        cluster, session = session_for(HOSTS, args.native_port, ConsistencyLevel.QUORUM)
        clusters.append(cluster)
        wait_until(
            "the driver sees three nodes up",
            lambda: len([h for h in cluster.metadata.all_hosts() if h.is_up]) == 3,
        )
        print("the driver sees:", ", ".join(sorted(str(h.address) for h in cluster.metadata.all_hosts())))

        session.execute(
            "CREATE KEYSPACE IF NOT EXISTS demo WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        )
        session.execute("CREATE TABLE IF NOT EXISTS demo.kv (k int PRIMARY KEY, v text)")
        cluster.control_connection.wait_for_schema_agreement()
        insert = session.prepare("INSERT INTO demo.kv (k, v) VALUES (?, ?)")
        select = session.prepare("SELECT v FROM demo.kv WHERE k = ?")
        for k in range(args.rows):
            session.execute(insert, (k, f"before-{k}"))
        print(f"wrote {args.rows} rows at QUORUM with all three nodes up")

        nodes[2].kill()
        print("killed 127.0.0.3 (kill -9)")
        wait_until(
            "the driver marks 127.0.0.3 down",
            lambda: not any(h.is_up for h in cluster.metadata.all_hosts() if str(h.address) == HOSTS[2]),
        )
        written_while_down = {}
        for k in range(args.rows, 2 * args.rows):
            session.execute(insert, (k, f"during-{k}"))
            written_while_down[k] = f"during-{k}"
        for k in range(0, 2 * args.rows, 7):
            row = session.execute(select, (k,)).one()
            if row is None:
                raise SystemExit(f"QUORUM read of {k} found nothing with one node down")
        print(f"with 127.0.0.3 down: wrote {args.rows} more rows and read back at QUORUM")
        print("hints (stored, delivered) per node:", hint_counters(nodes[:2]))

        nodes[2].start()
        print("restarted 127.0.0.3")
        wait_until(
            "the other nodes have delivered their hints",
            lambda: sum(d for _, d in hint_counters(nodes[:2]).values()) >= 1
            and all(s == d for s, d in hint_counters(nodes[:2]).values()),
            timeout=120,
        )
        print("hints (stored, delivered) per node:", hint_counters(nodes[:2]))

        alone, alone_session = session_for([HOSTS[2]], args.native_port, ConsistencyLevel.ONE)
        clusters.append(alone)
        read = alone_session.prepare("SELECT v FROM demo.kv WHERE k = ?")
        missing = [
            k for k, v in written_while_down.items()
            if (alone_session.execute(read, (k,)).one() or [None])[0] != v
        ]
        if missing:
            print(f"127.0.0.3 alone misses {len(missing)} rows written while it was down, e.g. {missing[:5]}")
            return 1
        print(f"127.0.0.3 alone, at ONE, returns all {len(written_while_down)} rows written while it was down")
        return 0
    finally:
        for c in clusters:
            c.shutdown()
        for n in nodes:
            n.stop()
        if args.keep:
            print(f"data kept under {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
