"""Replication across three real nodes, judged by the Python driver.

Nodes 127.0.0.1 and 127.0.0.2 are in datacenter dc1, 127.0.0.3 in dc2. Each class starts its
own cluster:

- `TestWithHints`: every consistency level on a SimpleStrategy and a NetworkTopologyStrategy
  keyspace; Unavailable with the driver's required/alive counts when a node is killed; QUORUM
  keeps working; a logged batch that cannot reach a replica applies nowhere; hints stored for
  the dead node are replayed when it comes back, so that node alone answers at ONE; a replica
  that stops answering (SIGSTOP) gives WriteTimeout / ReadTimeout with received/required
  counts after the configured timeouts, and speculative retry keeps QUORUM reads working.
- `TestReadRepair`: hinted handoff is off (`hinted_handoff_enabled: false`), so a replica that
  was down really misses writes; a read at ALL reconciles it (blocking read repair), and
  afterwards that replica alone returns the newest data.

Every wait is bounded; the nodes are killed at the end whatever happens.
"""

import os
import shutil
import signal
import tempfile
import time

import pytest

from conftest import _binary
from test_cluster import ADDRESSES, ClusterNode, _port_free_everywhere, formed, wait_until

DCS = ["dc1", "dc1", "dc2"]
WRITE_TIMEOUT_MS = 1000
READ_TIMEOUT_MS = 1500


def start_cluster(extra_yaml):
    tmp = tempfile.mkdtemp(prefix="ilion-replication-")
    native_port = _port_free_everywhere()
    storage_port = _port_free_everywhere()
    admin_port = _port_free_everywhere()
    while len({native_port, storage_port, admin_port}) < 3:
        storage_port = _port_free_everywhere()
        admin_port = _port_free_everywhere()
    binary = _binary()
    nodes = []
    for i in range(3):
        n = ClusterNode(binary, tmp, i, native_port, storage_port)
        with open(n.config, "a") as f:
            f.write(
                f"dc: {DCS[i]}\nadmin_port: {admin_port}\n"
                f"write_request_timeout_ms: {WRITE_TIMEOUT_MS}\n"
                f"read_request_timeout_ms: {READ_TIMEOUT_MS}\n" + extra_yaml
            )
        n.admin_port = admin_port
        nodes.append(n)
    return tmp, nodes


def metric(node, name):
    import urllib.request

    url = f"http://{node.address}:{node.admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in {url}")


def whitelist_session(nodes, address, keyspace=None):
    """A session whose every request is coordinated by `address`."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy

    # Errors reach the test as the server sent them (no retry on another host).
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               retry_policy=FallthroughRetryPolicy(), request_timeout=30)
    cluster = Cluster([address], port=nodes[0].native_port, connect_timeout=10,
                      control_connection_timeout=10,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    return cluster, cluster.connect(keyspace)


@pytest.fixture(scope="class")
def cluster(request):
    extra = getattr(request.cls, "EXTRA_YAML", "")
    tmp, nodes = start_cluster(extra)
    sessions = []
    try:
        for n in nodes:
            n.start()
        wait_until("every node to list the other two in system.peers", lambda: formed(nodes), 60)
        by_address = {}
        for n in nodes:
            c, s = whitelist_session(nodes, n.address)
            sessions.append(c)
            by_address[n.address] = s
        yield nodes, by_address
    except Exception:
        for n in nodes:
            print(f"--- {n.address} log ---\n{n.log()}")
        raise
    finally:
        for c in sessions:
            c.shutdown()
        for n in nodes:
            if n.proc and n.proc.poll() is None:
                try:
                    n.proc.send_signal(signal.SIGCONT)
                except OSError:
                    pass
            n.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def statement(cql, cl):
    from cassandra.query import SimpleStatement

    return SimpleStatement(cql, consistency_level=cl)


def wait_seen_down(session, keyspace, timeout=45):
    """Until the coordinator behind `session` refuses an ALL write as Unavailable."""
    from cassandra import ConsistencyLevel, Unavailable

    def refused():
        try:
            session.execute(statement(f"INSERT INTO {keyspace}.kv (k, v) VALUES (-1, -1)",
                                      ConsistencyLevel.ALL))
            return False
        except Unavailable:
            return True

    wait_until("the coordinator to see the node down", refused, timeout)


def wait_seen_up(session, keyspace, timeout=60):
    from cassandra import ConsistencyLevel

    def accepted():
        session.execute(statement(f"INSERT INTO {keyspace}.kv (k, v) VALUES (-1, -1)",
                                  ConsistencyLevel.ALL))
        return True

    wait_until("the coordinator to see every node up", accepted, timeout)


def restart(node):
    node.kill()
    node.start()


class TestWithHints:
    EXTRA_YAML = "hinted_handoff_enabled: true\n"

    def test_every_consistency_level_reads_and_writes_with_every_node_up(self, cluster):
        from cassandra import ConsistencyLevel as CL
        from cassandra import InvalidRequest, Unavailable

        nodes, s = cluster
        one = s[ADDRESSES[0]]
        one.execute("CREATE KEYSPACE simple3 WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        one.execute("CREATE KEYSPACE nts WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}")
        one.execute("CREATE KEYSPACE single WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        for ks in ("simple3", "nts", "single"):
            one.execute(f"CREATE TABLE {ks}.kv (k int PRIMARY KEY, v int)")
        one.cluster.control_connection.wait_for_schema_agreement(wait_time=30)

        writes = [CL.ANY, CL.ONE, CL.TWO, CL.THREE, CL.QUORUM, CL.ALL, CL.LOCAL_ONE,
                  CL.LOCAL_QUORUM, CL.EACH_QUORUM]
        reads = [CL.ONE, CL.TWO, CL.THREE, CL.QUORUM, CL.ALL, CL.LOCAL_ONE, CL.LOCAL_QUORUM,
                 CL.EACH_QUORUM]
        def skipped(ks, address, cl):
            # As in Cassandra, LOCAL_QUORUM on SimpleStrategy asks for a quorum of the whole
            # replication factor (2 of 3) among replicas in the coordinator's datacenter;
            # dc2 holds one node, so node 3 cannot meet it (checked below).
            return ks == "simple3" and address == ADDRESSES[2] and cl == CL.LOCAL_QUORUM

        for ks in ("simple3", "nts"):
            for address in ADDRESSES:
                for i, cl in enumerate(writes):
                    if skipped(ks, address, cl):
                        continue
                    k = ADDRESSES.index(address) * 100 + i
                    s[address].execute(
                        statement(f"INSERT INTO {ks}.kv (k, v) VALUES ({k}, {k * 10})", cl))
            for address in ADDRESSES:
                for cl in reads:
                    if skipped(ks, address, cl):
                        continue
                    for k in (0, 108, 204):
                        rows = list(s[address].execute(
                            statement(f"SELECT v FROM {ks}.kv WHERE k = {k}", cl)))
                        assert [r.v for r in rows] == [k * 10], (ks, address, cl, k)
            with pytest.raises(InvalidRequest, match="ANY"):
                one.execute(statement(f"SELECT v FROM {ks}.kv WHERE k = 0", CL.ANY))
        with pytest.raises(Unavailable) as e:
            s[ADDRESSES[2]].execute(
                statement("SELECT v FROM simple3.kv WHERE k = 0", CL.LOCAL_QUORUM))
        assert (e.value.required_replicas, e.value.alive_replicas) == (2, 1)

    def test_a_killed_node_makes_unavailable_with_counts_and_quorum_keeps_working(self, cluster):
        from cassandra import ConsistencyLevel as CL
        from cassandra import Unavailable

        nodes, s = cluster
        one = s[ADDRESSES[0]]
        self.hints_before = sum(metric(n, "ilion_hints_stored_total") for n in nodes[:2])
        nodes[2].kill()
        wait_seen_down(one, "simple3")
        wait_seen_down(s[ADDRESSES[1]], "simple3")

        for cl, required in ((CL.ALL, 3), (CL.THREE, 3)):
            with pytest.raises(Unavailable) as e:
                one.execute(statement("INSERT INTO simple3.kv (k, v) VALUES (1, 1)", cl))
            assert (e.value.required_replicas, e.value.alive_replicas) == (required, 2)
            with pytest.raises(Unavailable) as e:
                one.execute(statement("SELECT v FROM simple3.kv WHERE k = 0", cl))
            assert (e.value.required_replicas, e.value.alive_replicas) == (required, 2)
        # dc2's only replica is gone: EACH_QUORUM cannot be met there; dc1 alone still can.
        with pytest.raises(Unavailable) as e:
            one.execute(statement("INSERT INTO nts.kv (k, v) VALUES (1, 1)", CL.EACH_QUORUM))
        assert (e.value.required_replicas, e.value.alive_replicas) == (1, 0)
        one.execute(statement("INSERT INTO nts.kv (k, v) VALUES (1, 1)", CL.LOCAL_QUORUM))

        # QUORUM at RF 3 with one of three down, through both live coordinators.
        for k in range(1000, 1060):
            coordinator = s[ADDRESSES[k % 2]]
            coordinator.execute(
                statement(f"INSERT INTO simple3.kv (k, v) VALUES ({k}, {k})", CL.QUORUM))
        for k in range(1000, 1060):
            rows = list(s[ADDRESSES[(k + 1) % 2]].execute(
                statement(f"SELECT v FROM simple3.kv WHERE k = {k}", CL.QUORUM)))
            assert [r.v for r in rows] == [k]
        stored = sum(metric(n, "ilion_hints_stored_total") for n in nodes[:2])
        assert stored - self.hints_before >= 60, "every QUORUM write left a hint for the dead node"

    def test_a_logged_batch_that_cannot_reach_a_replica_applies_nowhere(self, cluster):
        from cassandra import ConsistencyLevel as CL
        from cassandra import Unavailable
        from cassandra.query import BatchStatement, BatchType, SimpleStatement

        nodes, s = cluster
        one = s[ADDRESSES[0]]
        # RF 1: find one key owned by a live node and one owned by the dead node 3.
        metadata = one.cluster.metadata
        owner = {}
        for k in range(2000, 2400):
            key = k.to_bytes(4, "big", signed=True)
            replicas = metadata.get_replicas("single", key)
            owner.setdefault(replicas[0].address, k)
        assert ADDRESSES[2] in owner and ADDRESSES[0] in owner, owner
        live_key, dead_key = owner[ADDRESSES[0]], owner[ADDRESSES[2]]
        batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=CL.ONE)
        batch.add(SimpleStatement(f"INSERT INTO single.kv (k, v) VALUES ({live_key}, 1)"))
        batch.add(SimpleStatement(f"INSERT INTO single.kv (k, v) VALUES ({dead_key}, 1)"))
        with pytest.raises(Unavailable):
            one.execute(batch)
        rows = list(one.execute(statement(f"SELECT v FROM single.kv WHERE k = {live_key}",
                                          CL.ONE)))
        assert rows == [], "a refused logged batch applied part of itself"

    def test_hints_replay_to_the_restarted_node_which_then_answers_alone(self, cluster):
        from cassandra import ConsistencyLevel as CL

        nodes, s = cluster
        delivered_before = sum(metric(n, "ilion_hints_delivered_total") for n in nodes[:2])
        nodes[2].start()
        c3, s3 = whitelist_session(nodes, ADDRESSES[2])
        try:
            def all_there():
                # ONE at node 3 reads node 3's own replica (a coordinator reads its own first).
                for k in range(1000, 1060):
                    rows = list(s3.execute(
                        statement(f"SELECT v FROM simple3.kv WHERE k = {k}", CL.ONE)))
                    if [r.v for r in rows] != [k]:
                        return False
                return True

            wait_until("node 3 alone to return every row written while it was down",
                       all_there, 90)
        finally:
            c3.shutdown()
        delivered = sum(metric(n, "ilion_hints_delivered_total") for n in nodes[:2])
        assert delivered - delivered_before >= 60
        wait_until("the hint tables to empty",
                   lambda: sum(metric(n, "ilion_hints_pending") for n in nodes[:2]) == 0, 60)

    def test_a_silent_replica_times_out_with_counts_and_speculation_keeps_reads_up(self, cluster):
        from cassandra import ConsistencyLevel as CL
        from cassandra import ReadTimeout, WriteTimeout

        nodes, s = cluster
        one = s[ADDRESSES[0]]
        wait_seen_up(one, "simple3")
        # Enough fast reads for the coordinator's latency percentile (speculative retry).
        for k in range(1000, 1060):
            one.execute(statement(f"SELECT v FROM simple3.kv WHERE k = {k}", CL.QUORUM))
        speculated_before = metric(nodes[0], "ilion_speculative_retries_total")
        # Node 2 is node 1's first choice after itself (same datacenter), so QUORUM reads
        # coordinated by node 1 ask it and must speculate to node 3.
        nodes[1].proc.send_signal(signal.SIGSTOP)

        def stopped():
            with open(f"/proc/{nodes[1].proc.pid}/status") as f:
                return any(l.startswith("State:\tT") for l in f)

        wait_until("node 2 to be stopped", stopped, 10)
        try:
            try:
                one.execute(statement("INSERT INTO simple3.kv (k, v) VALUES (5, 5)", CL.ALL))
            except WriteTimeout as e:
                assert (e.received_responses, e.required_responses) == (2, 3)
            else:
                pytest.fail("a write at ALL succeeded with node 2 stopped; node 1's log:\n"
                            + nodes[0].log())
            with pytest.raises(ReadTimeout) as e:
                one.execute(statement("SELECT v FROM simple3.kv WHERE k = 0", CL.ALL))
            assert (e.value.received_responses, e.value.required_responses) == (2, 3)
            # QUORUM reads whose first choice includes the silent node retry elsewhere.
            for k in range(1000, 1030):
                rows = list(one.execute(
                    statement(f"SELECT v FROM simple3.kv WHERE k = {k}", CL.QUORUM)))
                assert [r.v for r in rows] == [k]
        finally:
            nodes[1].proc.send_signal(signal.SIGCONT)
        assert metric(nodes[0], "ilion_speculative_retries_total") > speculated_before
        assert metric(nodes[0], "ilion_write_timeouts_total") >= 1
        assert metric(nodes[0], "ilion_read_timeouts_total") >= 1


class TestReadRepair:
    EXTRA_YAML = "hinted_handoff_enabled: false\n"

    def test_a_read_at_all_repairs_a_replica_that_missed_writes(self, cluster):
        from cassandra import ConsistencyLevel as CL

        nodes, s = cluster
        one = s[ADDRESSES[0]]
        one.execute("CREATE KEYSPACE rr WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        one.execute("CREATE TABLE rr.kv (k int PRIMARY KEY, v int)")
        one.cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        for k in range(20):
            one.execute(statement(f"INSERT INTO rr.kv (k, v) VALUES ({k}, 0)", CL.ALL))

        # Node 3 misses the second version of every row (no hints are kept).
        nodes[2].kill()
        wait_seen_down(one, "rr")
        for k in range(20):
            one.execute(statement(f"INSERT INTO rr.kv (k, v) VALUES ({k}, 1)", CL.QUORUM))
        assert metric(nodes[0], "ilion_hints_stored_total") == 0
        nodes[2].start()
        c3, s3 = whitelist_session(nodes, ADDRESSES[2])
        try:
            wait_seen_up(one, "rr")
            stale = [list(s3.execute(statement(f"SELECT v FROM rr.kv WHERE k = {k}", CL.ONE)))
                     for k in range(20)]
            # Node 3 alone still has the old versions before any repair.
            assert [[r.v for r in rows] for rows in stale] == [[0]] * 20

            repaired_before = metric(nodes[0], "ilion_read_repairs_total")
            for k in range(20):
                rows = list(one.execute(statement(f"SELECT v FROM rr.kv WHERE k = {k}", CL.ALL)))
                assert [r.v for r in rows] == [1]
            assert metric(nodes[0], "ilion_read_repairs_total") - repaired_before >= 20

            # The repair was blocking: node 3 alone now returns the newest version.
            for k in range(20):
                rows = list(s3.execute(statement(f"SELECT v FROM rr.kv WHERE k = {k}", CL.ONE)))
                assert [r.v for r in rows] == [1], k
        finally:
            c3.shutdown()
