"""Every table option takes effect or is refused (issue 30), checked on a real node with the
Python driver: DESCRIBE shows the option, and the table's files on disk show its effect (the
compression type in a data block's trailer, the bloom filter's size, the data block size), or
CREATE is refused with a ConfigurationException that says why.
"""

import os
import struct
import time

import pytest
from cassandra.protocol import ConfigurationException

from conftest import cluster_for
from test_operations import engine_files, ilion

# Block trailer compression types (docs/lsm-table-format.md).
NONE, ZSTD, LZ4, SNAPPY, DEFLATE = 0, 1, 2, 3, 4
# A value that compresses well, so every compressor keeps its blocks compressed.
VALUE = "reading " * 64


@pytest.fixture(scope="module")
def session(node):
    cluster = cluster_for(node)
    s = cluster.connect()
    s.execute("CREATE KEYSPACE opts WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    yield s
    cluster.shutdown()


def varint(buf, pos):
    v, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7


class TableFile:
    """The footer, the first data block's compression type and the index of one .sst file."""

    def __init__(self, path):
        data = open(path, "rb").read()
        footer = data[-88:]
        assert footer[80:88] == b"ILNSST01"
        (self.index_offset, self.index_size, _filter_offset, self.filter_size) = struct.unpack(
            "<QQQQ", footer[:32]
        )
        # The index block's first entry: shared = 0, unshared, value length, key, handle.
        index = data[self.index_offset:self.index_offset + self.index_size]
        _, p = varint(index, 0)
        unshared, p = varint(index, p)
        _, p = varint(index, p)
        p += unshared
        offset, p = varint(index, p)
        size, _ = varint(index, p)
        self.first_block_type = data[offset + size]
        self.bytes = data


def write_and_flush(node, session, table, rows=400):
    """Fills `opts.TABLE`, flushes it and returns its new table file."""
    before = set(engine_files(node))
    insert = session.prepare(f"INSERT INTO opts.{table} (k, v) VALUES (?, ?)")
    for k in range(rows):
        session.execute(insert, (k, VALUE))
    ilion(node, "flush", "opts", table)
    new = sorted(set(engine_files(node)) - before)
    assert len(new) == 1, new
    return TableFile(os.path.join(node.data_dir, "data", new[0]))


def describe(session, table):
    return session.execute(f"DESCRIBE TABLE opts.{table}").one().create_statement


@pytest.mark.parametrize(
    "name, compression, block_type",
    [
        ("lz4", "{'class': 'LZ4Compressor'}", LZ4),
        ("snappy", "{'class': 'SnappyCompressor'}", SNAPPY),
        ("deflate", "{'class': 'org.apache.cassandra.io.compress.DeflateCompressor'}", DEFLATE),
        ("zstd", "{'class': 'ZstdCompressor', 'compression_level': 5}", ZSTD),
        ("plain", "{'enabled': false}", NONE),
    ],
)
def test_the_compressor_is_the_one_in_the_files(node, session, name, compression, block_type):
    session.execute(f"CREATE TABLE opts.c_{name} (k int PRIMARY KEY, v text) WITH compression = {compression}")
    described = describe(session, f"c_{name}")
    if block_type == NONE:
        assert "compression = {'enabled': 'false'}" in described, described
    else:
        cls = {LZ4: "LZ4", SNAPPY: "Snappy", DEFLATE: "Deflate", ZSTD: "Zstd"}[block_type]
        assert f"org.apache.cassandra.io.compress.{cls}Compressor" in described, described
    f = write_and_flush(node, session, f"c_{name}")
    assert f.first_block_type == block_type
    # Stored as written only without compression.
    assert (VALUE.encode() in f.bytes) == (block_type == NONE)
    assert session.execute(f"SELECT v FROM opts.c_{name} WHERE k = 7").one().v == VALUE


def test_chunk_length_in_kb_sets_the_data_block_size(node, session):
    index_sizes = {}
    for kb in (4, 64):
        session.execute(
            f"CREATE TABLE opts.chunk{kb} (k int PRIMARY KEY, v text) "
            f"WITH compression = {{'class': 'LZ4Compressor', 'chunk_length_in_kb': {kb}}}"
        )
        assert f"'chunk_length_in_kb': '{kb}'" in describe(session, f"chunk{kb}")
        index_sizes[kb] = write_and_flush(node, session, f"chunk{kb}", rows=2000).index_size
    # 2000 rows of ~520 bytes: about 250 blocks of 4 KiB, about 16 of 64 KiB (one index entry
    # each).
    assert index_sizes[4] > 8 * index_sizes[64], index_sizes
    with pytest.raises(ConfigurationException, match="chunk_length_in_kb must be a power of 2"):
        session.execute(
            "CREATE TABLE opts.badchunk (k int PRIMARY KEY) WITH compression = {'class': 'LZ4Compressor', 'chunk_length_in_kb': 3}"
        )


def test_bloom_filter_fp_chance_sets_the_filter_bits(node, session):
    sizes = {}
    for name, chance in (("tight", "0.0001"), ("loose", "0.1"), ("none", "1")):
        session.execute(
            f"CREATE TABLE opts.bloom_{name} (k int PRIMARY KEY, v text) WITH bloom_filter_fp_chance = {chance}"
        )
        assert f"bloom_filter_fp_chance = {chance}" in describe(session, f"bloom_{name}")
        sizes[name] = write_and_flush(node, session, f"bloom_{name}", rows=1000).filter_size
    # 20 bits per key against 5: four times the filter; a chance of 1 builds none.
    assert sizes["tight"] > 3 * sizes["loose"] > 0, sizes
    assert sizes["none"] == 0, sizes


def test_memtable_flush_period_flushes_without_being_asked(node, session):
    session.execute(
        "CREATE TABLE opts.periodic (k int PRIMARY KEY, v text) WITH memtable_flush_period_in_ms = 200"
    )
    assert "memtable_flush_period_in_ms = 200" in describe(session, "periodic")
    before = set(engine_files(node))
    session.execute("INSERT INTO opts.periodic (k, v) VALUES (1, 'x')")
    deadline = time.time() + 15
    while time.time() < deadline and not (set(engine_files(node)) - before):
        time.sleep(0.1)
    assert set(engine_files(node)) - before, "the memtable was flushed by its period"


def test_time_window_options_are_shown_and_unknown_ones_refused(session):
    session.execute(
        "CREATE TABLE opts.series (k int, at timestamp, v double, PRIMARY KEY (k, at)) "
        "WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'MINUTES', "
        "'compaction_window_size': 5, 'tombstone_threshold': 0.3, 'unchecked_tombstone_compaction': 'true'} "
        "AND default_time_to_live = 3600"
    )
    described = describe(session, "series")
    for part in ("TimeWindowCompactionStrategy", "'compaction_window_unit': 'MINUTES'",
                 "'compaction_window_size': '5'", "'tombstone_threshold': '0.3'"):
        assert part in described, described
    with pytest.raises(ConfigurationException, match=r"Properties specified \[dog\] are not understood by TimeWindowCompactionStrategy"):
        session.execute("ALTER TABLE opts.series WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'dog': 3}")
    with pytest.raises(ConfigurationException, match="SECONDS is not valid for compaction_window_unit"):
        session.execute("ALTER TABLE opts.series WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'SECONDS'}")


def test_unified_compaction_is_refused_not_run_as_another_strategy(session):
    with pytest.raises(ConfigurationException, match="UnifiedCompactionStrategy"):
        session.execute(
            "CREATE TABLE opts.ucs (k int PRIMARY KEY) WITH compaction = {'class': 'UnifiedCompactionStrategy', 'scaling_parameters': 'T4'}"
        )
    assert session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'opts' AND table_name = 'ucs'"
    ).one() is None


def test_options_without_effect_are_named_in_describe(session):
    session.execute(
        "CREATE TABLE opts.noeffect (k int PRIMARY KEY) WITH caching = {'keys': 'NONE', 'rows_per_partition': 'ALL'} "
        "AND min_index_interval = 64 AND crc_check_chance = 0.5"
    )
    described = describe(session, "noeffect")
    assert "-- Ilion accepts caching, crc_check_chance, min_index_interval for compatibility" in described, described
    # The plain table describes as in Cassandra.
    session.execute("CREATE TABLE opts.plain_describe (k int PRIMARY KEY)")
    assert "Ilion accepts" not in describe(session, "plain_describe")


def test_durable_writes_false_skips_the_commit_log_for_that_keyspace(fresh_node):
    def connect():
        cluster = cluster_for(fresh_node)
        return cluster, cluster.connect()

    cluster, s = connect()
    s.execute("CREATE KEYSPACE fast WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false")
    s.execute("CREATE KEYSPACE safe WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    assert "durable_writes = false" in s.execute("DESCRIBE KEYSPACE fast").one().create_statement
    for ks in ("fast", "safe"):
        s.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
        for k in range(20):
            s.execute(f"INSERT INTO {ks}.t (k, v) VALUES ({k}, 'x')")
    cluster.shutdown()
    # A crash: what only the memtable held is gone for the keyspace that skipped the log.
    fresh_node.kill()
    fresh_node.start()
    cluster, s = connect()
    assert s.execute("SELECT count(*) FROM safe.t").one()[0] == 20
    assert s.execute("SELECT count(*) FROM fast.t").one()[0] == 0
    # Made durable again: its writes survive the next crash.
    s.execute("ALTER KEYSPACE fast WITH durable_writes = true")
    s.execute("INSERT INTO fast.t (k, v) VALUES (1, 'y')")
    cluster.shutdown()
    fresh_node.kill()
    fresh_node.start()
    cluster, s = connect()
    assert s.execute("SELECT count(*) FROM fast.t").one()[0] == 1
    cluster.shutdown()
