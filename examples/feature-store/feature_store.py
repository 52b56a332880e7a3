"""A feature store on Ilion: real-time writes and reads while a batch job computes roll-ups.

What it does, as feature stores do it on Cassandra:

1. Events stream into `fs.events` (a time series: one partition per entity, newest first,
   time-window compaction, a TTL).
2. Real-time readers fetch an entity's latest events by key, at low latency.
3. Meanwhile a batch job splits the whole token range into sub-ranges guided by
   `system.size_estimates` (as the Spark connector does), scans them in parallel with
   `token(entity) > ? AND token(entity) <= ?` queries, and writes hourly and daily roll-ups to
   `fs.rollups`.
4. It prints the p50/p99 of the real-time reads while the batch job ran, and checks the
   roll-ups against the events it wrote (exit code 1 on any mismatch).

Usage: python feature_store.py [--host 127.0.0.1] [--port 9042] [--entities 200]
                               [--events 20000] [--splits 16] [--workers 4]
"""

import argparse
import random
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9042)
    p.add_argument("--entities", type=int, default=200)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--splits", type=int, default=16, help="token sub-ranges the batch job scans")
    p.add_argument("--workers", type=int, default=4, help="parallel scanners")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


def create_schema(session):
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS fs WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute("DROP TABLE IF EXISTS fs.events")
    session.execute("DROP TABLE IF EXISTS fs.rollups")
    session.execute(
        "CREATE TABLE fs.events (entity text, at timestamp, value double, "
        "PRIMARY KEY (entity, at)) WITH CLUSTERING ORDER BY (at DESC) "
        "AND compaction = {'class': 'TimeWindowCompactionStrategy', "
        "'compaction_window_unit': 'HOURS', 'compaction_window_size': '1'} "
        "AND default_time_to_live = 604800"
    )
    session.execute(
        "CREATE TABLE fs.rollups (entity text, granularity text, bucket timestamp, "
        "events bigint, total double, low double, high double, "
        "PRIMARY KEY ((entity, granularity), bucket)) WITH CLUSTERING ORDER BY (bucket DESC)"
    )


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def write_events(session, args, rng):
    """Writes `args.events` events spread over the last two days; returns what was written."""
    insert = session.prepare("INSERT INTO fs.events (entity, at, value) VALUES (?, ?, ?)")
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - 2 * DAY_MS
    written = {}
    pending = []
    for _ in range(args.events):
        entity = f"user-{rng.randrange(args.entities):05d}"
        at_ms = rng.randrange(start_ms, now_ms)
        value = round(rng.uniform(0, 100), 3)
        key = (entity, at_ms)
        written[key] = value  # a repeated (entity, at) overwrites, as in the table
        at = datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc)
        pending.append(session.execute_async(insert, (entity, at, value)))
        if len(pending) >= 256:
            for f in pending:
                f.result()
            pending.clear()
    for f in pending:
        f.result()
    return written


def token_splits(session, keyspace, table, wanted):
    """Sub-ranges of the ring sized by `system.size_estimates` (as analytics connectors do)."""
    rows = list(
        session.execute(
            "SELECT range_start, range_end, partitions_count, mean_partition_size "
            "FROM system.size_estimates WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
        )
    )
    ranges = []
    total = 0
    for r in rows:
        start, end = int(r.range_start), int(r.range_end)
        count = max(1, r.partitions_count or 0)
        if start >= end:  # the wrapping range: split it at the ends of the ring
            if start < MAX_TOKEN:
                ranges.append((start, MAX_TOKEN, count / 2))
            ranges.append((MIN_TOKEN, end, count / 2))
        else:
            ranges.append((start, end, count))
        total += count
    if not ranges:  # no estimates yet: the whole ring
        ranges = [(MIN_TOKEN, MAX_TOKEN, 1)]
        total = 1
    splits = []
    for start, end, count in ranges:
        pieces = max(1, round(wanted * count / total))
        width = (end - start) // pieces
        lo = start
        for i in range(pieces):
            hi = end if i == pieces - 1 else lo + width
            splits.append((lo, hi))
            lo = hi
    return splits, rows


def scan_split(session, split):
    """Every event with a token in (lo, hi], paged."""
    lo, hi = split
    if lo == MIN_TOKEN:
        query = "SELECT entity, at, value FROM fs.events WHERE token(entity) >= %s AND token(entity) <= %s"
    else:
        query = "SELECT entity, at, value FROM fs.events WHERE token(entity) > %s AND token(entity) <= %s"
    stmt = SimpleStatement(query, fetch_size=1000)
    return [(r.entity, r.at, r.value) for r in session.execute(stmt, (lo, hi))]


def rollup(events):
    """Hourly and daily buckets per entity: count, sum, min, max."""
    out = defaultdict(lambda: [0, 0.0, float("inf"), float("-inf")])
    for entity, at, value in events:
        ms = int(at.replace(tzinfo=timezone.utc).timestamp() * 1000)
        for granularity, width in (("hour", HOUR_MS), ("day", DAY_MS)):
            b = out[(entity, granularity, ms - ms % width)]
            b[0] += 1
            b[1] += value
            b[2] = min(b[2], value)
            b[3] = max(b[3], value)
    return out


def run_batch_job(session, args):
    splits, estimates = token_splits(session, "fs", "events", args.splits)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        parts = list(pool.map(lambda s: scan_split(session, s), splits))
    events = [e for part in parts for e in part]
    buckets = rollup(events)
    insert = session.prepare(
        "INSERT INTO fs.rollups (entity, granularity, bucket, events, total, low, high) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    futures = []
    for (entity, granularity, bucket_ms), (n, total, low, high) in buckets.items():
        bucket = datetime.fromtimestamp(bucket_ms / 1000, tz=timezone.utc)
        futures.append(
            session.execute_async(insert, (entity, granularity, bucket, n, total, low, high))
        )
    for f in futures:
        f.result()
    return {
        "splits": len(splits),
        "estimate_rows": len(estimates),
        "events_scanned": len(events),
        "buckets": len(buckets),
        "seconds": time.monotonic() - t0,
        "events": events,
    }


def realtime_reader(session, args, stop, latencies, rng):
    latest = session.prepare("SELECT at, value FROM fs.events WHERE entity = ? LIMIT 10")
    while not stop.is_set():
        entity = f"user-{rng.randrange(args.entities):05d}"
        t0 = time.perf_counter()
        list(session.execute(latest, (entity,)))
        latencies.append((time.perf_counter() - t0) * 1000)


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    cluster = Cluster([args.host], port=args.port, connect_timeout=10)
    session = cluster.connect()
    try:
        create_schema(session)
        print(f"writing {args.events} events for {args.entities} entities ...")
        written = write_events(session, args, rng)

        stop = threading.Event()
        latencies = []
        reader = threading.Thread(
            target=realtime_reader,
            args=(session, args, stop, latencies, random.Random(args.seed + 1)),
        )
        reader.start()
        try:
            job = run_batch_job(session, args)
        finally:
            stop.set()
            reader.join(timeout=30)

        lat = sorted(latencies)
        print(
            f"batch job: {job['splits']} token sub-ranges from {job['estimate_rows']} "
            f"size_estimates rows, {job['events_scanned']} events scanned, "
            f"{job['buckets']} roll-up rows written in {job['seconds']:.2f} s"
        )
        print(
            f"real-time reads during the batch job: {len(lat)} reads, "
            f"p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms"
        )

        problems = check(session, written, job)
        for p in problems[:20]:
            print("MISMATCH:", p)
        if problems:
            print(f"{len(problems)} mismatches")
            return 1
        print("roll-ups match the events written")
        return 0
    finally:
        cluster.shutdown()


def check(session, written, job):
    """The scan saw every event exactly once, and the stored roll-ups add up."""
    problems = []
    seen = defaultdict(int)
    for entity, at, _ in job["events"]:
        ms = int(at.replace(tzinfo=timezone.utc).timestamp() * 1000)
        seen[(entity, ms)] += 1
    for key, n in seen.items():
        if n != 1:
            problems.append(f"event {key} scanned {n} times")
    missing = set(written) - set(seen)
    problems += [f"event {k} never scanned" for k in sorted(missing)[:10]]
    expected = rollup(
        [
            (e, datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None), v)
            for (e, ms), v in written.items()
        ]
    )
    per_entity_day = defaultdict(int)
    for (entity, granularity, _), (n, _, _, _) in expected.items():
        if granularity == "day":
            per_entity_day[entity] += n
    read_rollups = session.prepare(
        "SELECT events FROM fs.rollups WHERE entity = ? AND granularity = 'day'"
    )
    for entity, n in per_entity_day.items():
        stored = sum(r.events for r in session.execute(read_rollups, (entity,)))
        if stored != n:
            problems.append(f"{entity}: daily roll-ups count {stored} events, wrote {n}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
