#!/usr/bin/env python3
"""Checks that the real Python driver decodes the response frames this crate encodes
(tests/golden/responses/, written by `ILION_BLESS=1 cargo test -p ilion-cql --test
protocol_responses`). Run: target/py/bin/python crates/cql/tests/golden/verify_responses.py
"""

import os
import struct
import sys
from decimal import Decimal

from cassandra import ConsistencyLevel
from cassandra.protocol import ProtocolHandler

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "responses")


def decode(name):
    raw = open(os.path.join(DIR, name), "rb").read()
    version, flags, stream, opcode, length = struct.unpack(">BBhBI", raw[:9])
    assert version & 0x80, name
    assert length == len(raw) - 9, name
    return ProtocolHandler.decode_message(version & 0x7F, {}, stream, flags, opcode, raw[9:], None, None)


def check(v):
    rows = decode("v%d_rows.bin" % v)
    assert rows.trace_id is not None and rows.trace_id.bytes == b"\x42" * 16
    assert rows.warnings == ["Aggregation query used without partition key"]
    assert rows.paging_state == b"\x00\x01page"
    assert [c[2] for c in rows.column_metadata][:3] == ["k", "name", "tags"]
    first, second = rows.parsed_rows
    assert first[0] == 7 and first[1] == "Ada" and first[2] == [1, 2], first
    assert first[3] == {"x": -5}, first[3]
    assert first[4].street == "Main" and first[4].zip is None, first[4]
    assert first[5] == (3, "z")
    assert str(first[6]) == "11111111-1111-1111-1111-111111111111"
    assert first[8] == Decimal("123.45"), first[8]
    assert (first[9].months, first[9].days, first[9].nanoseconds) == (1, 2, 3000000000)
    assert first[10] == "10.0.0.1"
    assert all(x is None for x in second)

    p = decode("v%d_prepared.bin" % v)
    assert p.query_id == b"\xab" * 16
    assert p.pk_indexes == [0]
    assert [c.name for c in p.bind_metadata] == ["k", "v"] and p.column_metadata == []
    if v >= 5:
        assert p.result_metadata_id == b"\xcd" * 16

    assert decode("v%d_void.bin" % v).kind == 1
    assert decode("v%d_set_keyspace.bin" % v).new_keyspace == "ks"
    sc = decode("v%d_schema_change.bin" % v).schema_change_event
    assert sc["change_type"] == "CREATED" and sc["table"] == "t", sc
    sup = decode("v%d_supported.bin" % v)
    assert sup.cql_versions == ["3.4.7"] and sup.options["COMPRESSION"] == ["lz4", "snappy"]
    assert decode("v%d_authenticate.bin" % v).authenticator.endswith("PasswordAuthenticator")

    un = decode("v%d_unavailable.bin" % v).info
    assert un == {"consistency": ConsistencyLevel.QUORUM, "required_replicas": 2, "alive_replicas": 1}, un
    wt = decode("v%d_write_timeout.bin" % v).info
    assert wt["consistency"] == ConsistencyLevel.SERIAL and wt["write_type"] == 5, wt  # WriteType.CAS
    rf = decode("v%d_read_failure.bin" % v).info
    assert rf["failures"] == 1 and rf["data_retrieved"] is False, rf
    if v >= 5:
        assert rf["error_code_map"] == {"127.0.0.2": 1}, rf
    wf = decode("v%d_write_failure.bin" % v).info
    assert wf["failures"] == 1 and wf["required_responses"] == 2, wf
    ff = decode("v%d_function_failure.bin" % v).info
    assert ff == {"keyspace": "ks", "function": "f", "arg_types": ["int"]}, ff
    ae = decode("v%d_already_exists.bin" % v).info
    assert ae == {"keyspace": "ks", "table": "t"}, ae
    assert decode("v%d_unprepared.bin" % v).info == b"\xab" * 16
    pe = decode("v%d_unsupported_version.bin" % v)
    assert pe.code == 0x000A and "unsupported protocol version" in pe.message, pe.message

    ev = decode("v%d_event_status.bin" % v)
    assert ev.event_type == "STATUS_CHANGE" and ev.event_args["change_type"] == "DOWN", ev.event_args
    assert ev.event_args["address"] == ("127.0.0.3", 9042), ev.event_args
    fn = decode("v%d_event_schema_function.bin" % v)
    assert fn.event_args["function"].name == "f" and fn.event_args["function"].argument_types == ["int", "text"]


def check_lz4():
    from cassandra.connection import lz4_decompress, segment_codec_lz4
    import io
    raw = open(os.path.join(DIR, "v4_lz4_rows.bin"), "rb").read()
    version, flags, stream, opcode, length = struct.unpack(">BBhBI", raw[:9])
    assert flags & 0x01, "compressed flag"
    rows = ProtocolHandler.decode_message(4, {}, stream, flags, opcode, raw[9:], lz4_decompress, None)
    assert rows.parsed_rows[0][1] == "Ada"
    raw = open(os.path.join(DIR, "v5_lz4_rows.bin"), "rb").read()
    buf = io.BytesIO(raw)
    header = segment_codec_lz4.decode_header(buf)
    assert header.is_self_contained and header.uncompressed_payload_length > 0
    frame = segment_codec_lz4.decode(buf, header).payload
    version, flags, stream, opcode, length = struct.unpack(">BBhBI", frame[:9])
    rows = ProtocolHandler.decode_message(5, {}, stream, flags, opcode, frame[9:], None, None)
    assert rows.parsed_rows[0][1] == "Ada"


if __name__ == "__main__":
    for v in (4, 5):
        check(v)
    try:
        import lz4.block  # noqa: F401
        check_lz4()
        print("the Python driver decompresses the LZ4 fixtures (v4 body, v5 segment)")
    except ImportError:
        print("lz4 not installed: skipping the compressed fixtures")
    print("the Python driver decodes every response fixture (v4, v5)")
    sys.exit(0)
