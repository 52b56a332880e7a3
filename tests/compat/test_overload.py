"""Request bytes in flight, limited as Cassandra 4.1/5.0 limits them, through the real driver.

A node configured with a tiny `native_transport_max_request_data_in_flight_per_ip` gets many
concurrent large writes on one connection. A connection whose STARTUP carried
`THROW_ON_OVERLOAD: 1` gets Overloaded (0x1001) for the requests over the limit: the driver
raises `OverloadedErrorMessage` (cassandra.protocol), its class for that code. Without the
option the same load completes with no error: the node stops reading the connection until the
bytes in flight fall (backpressure), and counts the pauses.

cassandra-driver 3.30 has no setting for THROW_ON_OVERLOAD, so the connection class below adds
it to the STARTUP message the driver sends.
"""

import time

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, DefaultConnection, ExecutionProfile
from cassandra.policies import FallthroughRetryPolicy
from cassandra.protocol import OverloadedErrorMessage, StartupMessage

from conftest import cluster_for, configured_node

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
# Each write carries 20 KiB; 32 KiB per client address lets one run at a time (a request alone
# always runs), so the second of two concurrent writes is over the limit.
VALUE = b"x" * (20 * 1024)
WRITES = 48
ROUNDS = 10
DEADLINE_S = 90


class ThrowOnOverloadConnection(DefaultConnection):
    """The driver's connection, with THROW_ON_OVERLOAD: 1 in its STARTUP options."""

    def send_msg(self, msg, request_id, cb, *args, **kwargs):
        if isinstance(msg, StartupMessage):
            msg.options = dict(msg.options, THROW_ON_OVERLOAD="1")
        return super().send_msg(msg, request_id, cb, *args, **kwargs)


@pytest.fixture(scope="module")
def tight_node():
    with configured_node(
        "native_transport_max_request_data_in_flight: 64KiB\n"
        "native_transport_max_request_data_in_flight_per_ip: 32KiB\n"
    ) as n:
        yield n


def _session(node, version, throw_on_overload, keyspace):
    # No retries: an Overloaded answer reaches the caller as the driver decoded it.
    profile = ExecutionProfile(retry_policy=FallthroughRetryPolicy(), request_timeout=30)
    kwargs = {"execution_profiles": {EXEC_PROFILE_DEFAULT: profile}}
    if throw_on_overload:
        kwargs["connection_class"] = ThrowOnOverloadConnection
    cluster = cluster_for(node, version, **kwargs)
    session = cluster.connect()
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {RF1}")
    session.set_keyspace(keyspace)
    session.execute("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY, v blob)")
    return cluster, session


def _round(session, insert, first_key):
    """WRITES concurrent large writes; the exception of each (None when it succeeded)."""
    futures = [session.execute_async(insert, (first_key + i, VALUE)) for i in range(WRITES)]
    outcomes = []
    for f in futures:
        try:
            f.result()
            outcomes.append(None)
        except Exception as e:  # noqa: BLE001 - the test classifies every outcome
            outcomes.append(e)
    return outcomes


def _counter(node, name):
    return node.metrics().get(name, 0)


@pytest.mark.parametrize("version", [4, 5], ids=["v4", "v5"])
def test_with_throw_on_overload_writes_over_the_limit_get_overloaded(tight_node, version):
    before = _counter(tight_node, "ilion_cql_overloaded_total")
    cluster, session = _session(tight_node, version, True, f"overload_throw_v{version}")
    try:
        insert = session.prepare("INSERT INTO t (k, v) VALUES (?, ?)")
        overloaded, succeeded = [], 0
        deadline = time.monotonic() + DEADLINE_S
        for r in range(ROUNDS):
            if overloaded or time.monotonic() > deadline:
                break
            for outcome in _round(session, insert, r * WRITES):
                if outcome is None:
                    succeeded += 1
                elif isinstance(outcome, OverloadedErrorMessage):
                    overloaded.append(outcome)
                else:
                    pytest.fail(f"unexpected error {type(outcome).__name__}: {outcome}")
        assert overloaded, "no write was answered Overloaded"
        assert succeeded > 0, "no write got through"
        assert "Request breached limit on bytes in flight" in str(overloaded[0])
        assert "Endpoint:" in str(overloaded[0]) and "/32768 bytes" in str(overloaded[0])
        # The connection stays usable: a write alone fits, once the bytes of the last round
        # are released (just after their responses were written, so a moment after the
        # driver may have read them).
        for _ in range(50):
            try:
                session.execute(insert, (-1, VALUE))
                break
            except OverloadedErrorMessage as e:
                overloaded.append(e)
                time.sleep(0.1)
        else:
            pytest.fail("a write alone was still Overloaded after 5 s")
    finally:
        cluster.shutdown()
    after = _counter(tight_node, "ilion_cql_overloaded_total")
    assert after - before == len(overloaded)


@pytest.mark.parametrize("version", [4, 5], ids=["v4", "v5"])
def test_without_throw_on_overload_the_same_load_completes_under_backpressure(
    tight_node, version
):
    before = _counter(tight_node, "ilion_cql_backpressure_pauses_total")
    overloaded_before = _counter(tight_node, "ilion_cql_overloaded_total")
    cluster, session = _session(tight_node, version, False, f"overload_pause_v{version}")
    try:
        insert = session.prepare("INSERT INTO t (k, v) VALUES (?, ?)")
        # Until the node has paused the connection at least once (a round's writes may, by
        # chance, each be answered before the next arrives).
        rounds, paused = 0, False
        deadline = time.monotonic() + DEADLINE_S
        while rounds < ROUNDS and not paused and time.monotonic() < deadline:
            outcomes = _round(session, insert, rounds * WRITES)
            rounds += 1
            errors = [e for e in outcomes if e is not None]
            assert not errors, f"{len(errors)} writes failed, first: {errors[0]!r}"
            paused = _counter(tight_node, "ilion_cql_backpressure_pauses_total") > before
        assert paused, "the node never paused the connection: the limit did not take effect"
        rows = session.execute("SELECT k FROM t")
        assert len(list(rows)) == rounds * WRITES
    finally:
        cluster.shutdown()
    assert _counter(tight_node, "ilion_cql_overloaded_total") == overloaded_before
