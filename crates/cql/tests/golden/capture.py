#!/usr/bin/env python3
"""Captures the bytes the real Python driver (cassandra-driver) sends, for the golden tests.

Runs a tiny fake server on 127.0.0.1 that answers OPTIONS with SUPPORTED, STARTUP with READY,
REGISTER with READY and every other request with a Void RESULT, and records each request the
driver sends as raw bytes: a plain frame for v4 (and for v5 before READY), and the segment(s)
carrying the frame for v5 after READY. The driver's own connection code and message encoders
produce the bytes; this script only chooses the messages.

Regenerate (from the workspace root):

    cargo xtask venv
    target/py/bin/python crates/cql/tests/golden/capture.py

Writes crates/cql/tests/golden/<version>_<label>.bin and a MANIFEST listing them. With the `lz4`
package installed in the venv (`target/py/bin/pip install lz4`) it also captures LZ4-compressed
v4 frames and v5 LZ4 segments (<version>_lz4_<label>.bin).
"""

import io
import os
import socket
import struct
import threading

from cassandra import ConsistencyLevel
from cassandra.connection import DefaultEndPoint
from cassandra.io.asyncorereactor import AsyncoreConnection
from cassandra.protocol import (
    BatchMessage,
    ExecuteMessage,
    PrepareMessage,
    QueryMessage,
    RegisterMessage,
)
from cassandra.query import BatchType
from cassandra.connection import segment_codec_lz4
from cassandra.segment import SegmentCodec

HERE = os.path.dirname(os.path.abspath(__file__))


def frame(version, stream, opcode, body):
    return struct.pack(">BBhBI", 0x80 | version, 0, stream, opcode, len(body)) + body


def string_multimap(m):
    out = struct.pack(">H", len(m))
    for k, vs in m.items():
        out += struct.pack(">H", len(k)) + k.encode()
        out += struct.pack(">H", len(vs))
        for v in vs:
            out += struct.pack(">H", len(v)) + v.encode()
    return out


class FakeServer(threading.Thread):
    """Serves one connection; records (label, raw bytes) per request in arrival order."""

    def __init__(self, version, labels, lz4=False):
        super().__init__(daemon=True)
        self.version = version
        self.lz4 = lz4
        self.codec = segment_codec_lz4 if lz4 else SegmentCodec()
        self.labels = list(labels)
        self.records = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]

    def run(self):
        conn, _ = self.sock.accept()
        buf = b""
        segments = False

        def need(n):
            nonlocal buf
            while len(buf) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buf += chunk

        try:
            while True:
                if segments:
                    # Collect segments until they hold one whole frame.
                    raw, payload = b"", b""
                    while len(payload) < 9 or len(payload) < 9 + struct.unpack(">I", payload[5:9])[0]:
                        hl = self.codec.header_length_with_crc
                        need(hl)
                        header = self.codec.decode_header(io.BytesIO(buf[:hl]))
                        # Not header.segment_length: with LZ4 it counts a 3-byte header for
                        # payloads stored uncompressed, where the header is still 5 bytes.
                        total = hl + header.payload_length + 4
                        need(total)
                        seg = self.codec.decode(io.BytesIO(buf[hl:total]), header)
                        raw += buf[:total]
                        buf = buf[total:]
                        payload += seg.payload
                    msg = payload
                else:
                    need(9)
                    length = struct.unpack(">I", buf[5:9])[0]
                    need(9 + length)
                    raw = msg = buf[:9 + length]
                    buf = buf[9 + length:]
                stream = struct.unpack(">h", msg[2:4])[0]
                opcode = msg[4]
                self.records.append((self.labels.pop(0), raw))
                if opcode == 0x05:  # OPTIONS
                    reply = frame(self.version, stream, 0x06, string_multimap({
                        "CQL_VERSION": ["3.4.7"],
                        "COMPRESSION": ["lz4"] if self.lz4 else [],
                        "PROTOCOL_VERSIONS": ["4/v4", "5/v5"],
                    }))
                elif opcode in (0x01, 0x0B):  # STARTUP, REGISTER
                    reply = frame(self.version, stream, 0x02, b"")
                else:
                    reply = frame(self.version, stream, 0x08, struct.pack(">i", 1))
                if segments:
                    out = io.BytesIO()
                    self.codec.encode(out, reply)
                    reply = out.getvalue()
                conn.sendall(reply)
                if opcode == 0x01 and self.version >= 5:
                    segments = True
        except EOFError:
            pass


def capture(version, lz4=False):
    v5 = version >= 5
    prepared_id = bytes(range(16))
    metadata_id = bytes(range(100, 116)) if v5 else None
    ks = "ks" if v5 else None

    query = QueryMessage(
        "SELECT k, v FROM ks.t WHERE k = ?",
        ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        fetch_size=5000,
        paging_state=b"\x01\x02\x03",
        timestamp=1700000000000001,
        keyspace=ks,
    )
    query.query_params = [struct.pack(">i", 42)]
    prepare = PrepareMessage("INSERT INTO ks.t (k, v) VALUES (?, ?)", keyspace=ks)
    execute = ExecuteMessage(
        prepared_id,
        [struct.pack(">i", 7), b"hello", None],
        ConsistencyLevel.ONE,
        fetch_size=100,
        skip_meta=True,
        timestamp=1700000000000002,
        result_metadata_id=metadata_id,
    )
    execute.tracing = True
    execute.custom_payload = {"key": b"value"}
    batch = BatchMessage(
        BatchType.UNLOGGED,
        [
            (False, "INSERT INTO ks.t (k, v) VALUES (1, 'a')", []),
            (True, prepared_id, [struct.pack(">i", 2), b"b"]),
        ],
        ConsistencyLevel.QUORUM,
        serial_consistency_level=ConsistencyLevel.SERIAL,
        timestamp=1700000000000003,
        keyspace=ks,
    )
    register = RegisterMessage(["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"])
    messages = [("query", query), ("prepare", prepare), ("execute", execute),
                ("batch", batch), ("register", register)]
    if v5:
        # Larger than one segment's 128 KiB - 1 payload: the driver splits it.
        big = QueryMessage("SELECT * FROM ks.t WHERE v = '" + "x" * 140000 + "'", ConsistencyLevel.ONE)
        messages.append(("large_query", big))

    if lz4:
        # Compressed: v4 LZ4 frame bodies, v5 LZ4 segments.
        messages = [m for m in messages if m[0] in ("query", "execute", "large_query")]
    server = FakeServer(version, ["options", "startup"] + [label for label, _ in messages], lz4)
    server.start()
    conn = AsyncoreConnection.factory(
        DefaultEndPoint("127.0.0.1", server.port), timeout=10, protocol_version=version,
        compression="lz4" if lz4 else False,
    )
    for _, msg in messages:
        conn.wait_for_response(msg, timeout=10)
    conn.close()
    server.join(timeout=10)
    names = []
    for label, raw in server.records:
        if lz4 and label in ("options", "startup"):
            continue
        name = "v%d_%s%s.bin" % (version, "lz4_" if lz4 else "", label)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(raw)
        names.append("%s %d" % (name, len(raw)))
    return names


def main():
    AsyncoreConnection.initialize_reactor()
    names = capture(4) + capture(5)
    try:
        import lz4.block  # noqa: F401  (optional: pip install lz4 into target/py)
        names += capture(4, lz4=True) + capture(5, lz4=True)
    except ImportError:
        print("lz4 not installed: skipping the compressed captures")
    with open(os.path.join(HERE, "MANIFEST"), "w") as f:
        f.write("# Written by capture.py with cassandra-driver; name and byte length.\n")
        f.write("\n".join(names) + "\n")
    print("\n".join(names))


if __name__ == "__main__":
    main()
