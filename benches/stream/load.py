"""Loads `--mb` megabytes of 1 KiB rows into stream.kv (for `cargo xtask bench stream`).

Usage: load.py --host 127.0.0.1 --port 9042 --rf 1 --mb 256 [--compaction size-tiered|leveled]
Prints the rows and bytes written. Writes at ONE with the driver's concurrent executor.
"""

import argparse
import os
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

ROW_BYTES = 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9042)
    p.add_argument("--rf", type=int, default=1)
    p.add_argument("--mb", type=int, default=256)
    p.add_argument("--compaction", choices=["size-tiered", "leveled"], default="size-tiered")
    args = p.parse_args()
    cluster = Cluster([args.host], port=args.port, connect_timeout=10)
    session = cluster.connect()
    session.execute("CREATE KEYSPACE IF NOT EXISTS stream WITH replication = "
                    f"{{'class': 'SimpleStrategy', 'replication_factor': {args.rf}}}")
    compaction = ("{'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 2}"
                  if args.compaction == "leveled"
                  else "{'class': 'SizeTieredCompactionStrategy'}")
    session.execute("CREATE TABLE IF NOT EXISTS stream.kv (id bigint PRIMARY KEY, value blob) "
                    f"WITH compaction = {compaction}")
    insert = session.prepare("INSERT INTO stream.kv (id, value) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.ONE
    rows = args.mb * 1024 * 1024 // ROW_BYTES
    started = time.monotonic()
    batch = 5_000
    for first in range(0, rows, batch):
        params = [(i, os.urandom(ROW_BYTES)) for i in range(first, min(first + batch, rows))]
        for ok, result in execute_concurrent_with_args(session, insert, params, concurrency=64):
            if not ok:
                raise result
    elapsed = time.monotonic() - started
    print(f"loaded {rows} rows, {rows * ROW_BYTES} bytes in {elapsed:.1f} s")
    cluster.shutdown()


if __name__ == "__main__":
    main()
