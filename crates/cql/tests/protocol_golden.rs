//! Frames captured from the real Python driver (cassandra-driver 3.30.1) by
//! `tests/golden/capture.py`, decoded and checked field by field, then re-encoded byte for byte.

use bytes::{Bytes, BytesMut};
use ilion_cql::protocol::segment::SegmentCodec;
use ilion_cql::protocol::{
    BatchKind, BatchQuery, Consistency, Decoded, Direction, FrameDecoder, ProtocolVersion,
    RawValue, Request, RequestEnvelope, V5FrameDecoder, Values,
};

fn golden(name: &str) -> BytesMut {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    BytesMut::from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))[..])
}

/// A frame as sent before READY (and always in v4).
fn plain(name: &str) -> RequestEnvelope {
    let mut buf = golden(name);
    let Decoded::Complete(frame) = FrameDecoder::new()
        .expect(Direction::Request)
        .decode(&mut buf)
        .unwrap()
    else {
        panic!("{name}: incomplete")
    };
    assert!(buf.is_empty(), "{name}: bytes left after the frame");
    RequestEnvelope::decode(frame).unwrap()
}

/// A frame inside v5 segments (after READY).
fn segmented(name: &str) -> RequestEnvelope {
    let mut buf = golden(name);
    let mut dec = V5FrameDecoder::new(SegmentCodec::uncompressed(), FrameDecoder::new());
    let Decoded::Complete(frame) = dec.decode(&mut buf).unwrap() else {
        panic!("{name}: incomplete")
    };
    assert!(buf.is_empty(), "{name}: bytes left after the segments");
    RequestEnvelope::decode(frame).unwrap()
}

/// Re-encoding the decoded message gives the driver's bytes back.
fn reencodes_to(env: &RequestEnvelope, name: &str, v5_segments: bool) {
    let mut frame = BytesMut::new();
    env.write(&mut frame).unwrap();
    assert_eq!(frame.len(), env.encoded_len(), "{name}: encoded_len");
    let bytes = if v5_segments {
        let mut out = BytesMut::new();
        SegmentCodec::uncompressed()
            .encode_frames(&frame, &mut out)
            .unwrap();
        out
    } else {
        frame
    };
    assert_eq!(
        &bytes[..],
        &golden(name)[..],
        "{name}: re-encoded bytes differ"
    );
}

fn int(n: i32) -> RawValue {
    RawValue::Bytes(Bytes::copy_from_slice(&n.to_be_bytes()))
}

#[test]
fn driver_options_and_startup_decode_in_both_versions() {
    for (v, version) in [(4, ProtocolVersion::V4), (5, ProtocolVersion::V5)] {
        let options = plain(&format!("v{v}_options.bin"));
        assert_eq!(options.version, version);
        assert_eq!(options.request, Request::Options);
        let startup = plain(&format!("v{v}_startup.bin"));
        let Request::Startup(s) = &startup.request else {
            panic!("not a STARTUP")
        };
        assert_eq!(s.option("CQL_VERSION"), Some("3.4.7"));
        assert_eq!(
            s.option("DRIVER_NAME"),
            Some("Apache Cassandra Python Driver")
        );
        assert!(s.option("COMPRESSION").is_none());
        reencodes_to(&startup, &format!("v{v}_startup.bin"), false);
    }
}

#[test]
fn driver_v4_query_carries_every_parameter() {
    let env = plain("v4_query.bin");
    assert_eq!(env.version, ProtocolVersion::V4);
    let Request::Query(q) = &env.request else {
        panic!("not a QUERY")
    };
    assert_eq!(q.query, "SELECT k, v FROM ks.t WHERE k = ?");
    let p = &q.params;
    assert_eq!(p.consistency, Consistency::LocalQuorum);
    assert_eq!(p.values, Values::Positional(vec![int(42)]));
    assert_eq!(p.page_size, Some(5000));
    assert_eq!(p.paging_state.as_deref(), Some(&[1u8, 2, 3][..]));
    assert_eq!(p.serial_consistency, Some(Consistency::LocalSerial));
    assert_eq!(p.default_timestamp, Some(1_700_000_000_000_001));
    assert_eq!(p.keyspace, None);
    reencodes_to(&env, "v4_query.bin", false);
}

#[test]
fn driver_v5_query_has_int_flags_and_the_keyspace() {
    let env = segmented("v5_query.bin");
    assert_eq!(env.version, ProtocolVersion::V5);
    let Request::Query(q) = &env.request else {
        panic!("not a QUERY")
    };
    assert_eq!(q.params.keyspace.as_deref(), Some("ks"));
    assert_eq!(q.params.consistency, Consistency::LocalQuorum);
    assert_eq!(q.params.values, Values::Positional(vec![int(42)]));
    assert_eq!(q.params.default_timestamp, Some(1_700_000_000_000_001));
    reencodes_to(&env, "v5_query.bin", true);
}

#[test]
fn driver_prepare_has_flags_and_keyspace_only_in_v5() {
    let v4 = plain("v4_prepare.bin");
    let Request::Prepare(p) = &v4.request else {
        panic!("not a PREPARE")
    };
    assert_eq!(p.query, "INSERT INTO ks.t (k, v) VALUES (?, ?)");
    assert_eq!(p.keyspace, None);
    reencodes_to(&v4, "v4_prepare.bin", false);
    let v5 = segmented("v5_prepare.bin");
    let Request::Prepare(p) = &v5.request else {
        panic!("not a PREPARE")
    };
    assert_eq!(p.keyspace.as_deref(), Some("ks"));
    reencodes_to(&v5, "v5_prepare.bin", true);
}

#[test]
fn driver_execute_carries_tracing_custom_payload_and_null_values() {
    for (name, v5) in [("v4_execute.bin", false), ("v5_execute.bin", true)] {
        let env = if v5 { segmented(name) } else { plain(name) };
        assert!(env.tracing, "{name}");
        assert_eq!(
            env.custom_payload,
            Some(vec![("key".to_owned(), Some(Bytes::from_static(b"value")))]),
            "{name}"
        );
        let Request::Execute(e) = &env.request else {
            panic!("not an EXECUTE")
        };
        assert_eq!(&e.id[..], &(0..16).collect::<Vec<u8>>()[..]);
        if v5 {
            assert_eq!(
                &e.result_metadata_id[..],
                &(100..116).collect::<Vec<u8>>()[..]
            );
        } else {
            assert!(e.result_metadata_id.is_empty());
        }
        assert_eq!(e.params.consistency, Consistency::One);
        assert_eq!(
            e.params.values,
            Values::Positional(vec![
                int(7),
                RawValue::Bytes(Bytes::from_static(b"hello")),
                RawValue::Null
            ])
        );
        assert_eq!(e.params.page_size, Some(100));
        assert_eq!(e.params.default_timestamp, Some(1_700_000_000_000_002));
        reencodes_to(&env, name, v5);
    }
}

#[test]
fn driver_batch_mixes_query_text_and_prepared_ids() {
    for (name, v5) in [("v4_batch.bin", false), ("v5_batch.bin", true)] {
        let env = if v5 { segmented(name) } else { plain(name) };
        let Request::Batch(b) = &env.request else {
            panic!("not a BATCH")
        };
        assert_eq!(b.kind, BatchKind::Unlogged);
        assert_eq!(b.statements.len(), 2);
        assert_eq!(
            b.statements[0].query,
            BatchQuery::Text("INSERT INTO ks.t (k, v) VALUES (1, 'a')".into())
        );
        assert_eq!(b.statements[0].values, Values::Positional(vec![]));
        assert_eq!(
            b.statements[1].query,
            BatchQuery::Prepared((0..16).collect::<Vec<u8>>().into())
        );
        assert_eq!(
            b.statements[1].values,
            Values::Positional(vec![int(2), RawValue::Bytes(Bytes::from_static(b"b"))])
        );
        assert_eq!(b.consistency, Consistency::Quorum);
        assert_eq!(b.serial_consistency, Some(Consistency::Serial));
        assert_eq!(b.default_timestamp, Some(1_700_000_000_000_003));
        assert_eq!(b.keyspace.as_deref(), if v5 { Some("ks") } else { None });
        reencodes_to(&env, name, v5);
    }
}

#[test]
fn driver_register_lists_the_three_event_types() {
    for (name, v5) in [("v4_register.bin", false), ("v5_register.bin", true)] {
        let env = if v5 { segmented(name) } else { plain(name) };
        let Request::Register(r) = &env.request else {
            panic!("not a REGISTER")
        };
        assert_eq!(
            r.events,
            ["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]
        );
    }
}

#[test]
fn driver_large_v5_query_spans_segments_that_are_not_self_contained() {
    let raw = golden("v5_large_query.bin");
    // The first segment's header says: full payload, not self-contained.
    let mut first = raw.clone();
    let Decoded::Complete(seg) = SegmentCodec::uncompressed().decode(&mut first).unwrap() else {
        panic!("incomplete")
    };
    assert!(!seg.self_contained);
    assert_eq!(seg.payload.len(), 128 * 1024 - 1);
    let env = segmented("v5_large_query.bin");
    let Request::Query(q) = &env.request else {
        panic!("not a QUERY")
    };
    assert_eq!(
        q.query.len(),
        "SELECT * FROM ks.t WHERE v = ''".len() + 140_000
    );
    reencodes_to(&env, "v5_large_query.bin", true);
}

#[test]
fn driver_segments_fed_byte_by_byte_decode_the_same() {
    let raw = golden("v5_large_query.bin");
    let mut dec = V5FrameDecoder::new(SegmentCodec::uncompressed(), FrameDecoder::new());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    // Feed in uneven chunks; every Incomplete must leave the buffer untouched.
    for chunk in raw.chunks(4099) {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf).unwrap() {
                Decoded::Complete(f) => frames.push(f),
                Decoded::Incomplete { needed } => {
                    assert!(needed > 0);
                    break;
                }
            }
        }
    }
    assert_eq!(frames.len(), 1);
    assert!(buf.is_empty());
}

#[test]
fn driver_lz4_compressed_v4_frames_decode_to_the_same_requests() {
    for label in ["query", "execute"] {
        let mut buf = golden(&format!("v4_lz4_{label}.bin"));
        let Decoded::Complete(frame) = FrameDecoder::new().decode(&mut buf).unwrap() else {
            panic!("incomplete")
        };
        assert!(
            frame
                .header
                .flags
                .has(ilion_cql::protocol::Flags::COMPRESSION)
        );
        let frame = frame
            .decompressed(Some(ilion_cql::protocol::Compression::Lz4), 1 << 20)
            .unwrap();
        let env = RequestEnvelope::decode(frame).unwrap();
        assert_eq!(
            env.request,
            plain(&format!("v4_{label}.bin")).request,
            "{label}"
        );
    }
}

#[test]
fn driver_lz4_v5_segments_decode_to_the_same_requests() {
    for label in ["query", "execute", "large_query"] {
        let mut buf = golden(&format!("v5_lz4_{label}.bin"));
        let mut dec = V5FrameDecoder::new(SegmentCodec::lz4(), FrameDecoder::new());
        let Decoded::Complete(frame) = dec.decode(&mut buf).unwrap() else {
            panic!("incomplete")
        };
        assert!(buf.is_empty());
        let env = RequestEnvelope::decode(frame).unwrap();
        assert_eq!(
            env.request,
            segmented(&format!("v5_{label}.bin")).request,
            "{label}"
        );
    }
}
