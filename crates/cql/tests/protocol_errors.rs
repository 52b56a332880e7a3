//! Malformed input is an error that says what is wrong (and on which stream when the header was
//! readable), never a panic; "need more bytes" is not an error.

use bytes::{Bytes, BytesMut};
use ilion_cql::protocol::TypeOption;
use ilion_cql::protocol::frame::{negotiation_response_version, unsupported_version_response};
use ilion_cql::protocol::segment::SegmentCodec;
use ilion_cql::protocol::{
    Compression, Consistency, CqlType, Decoded, Direction, ErrorKind, Frame, FrameDecoder, Prepare,
    ProtocolError, ProtocolVersion, Query, QueryParameters, Request, RequestEnvelope, Response,
    ResponseEnvelope, V5FrameDecoder, Value, unsupported_version_message,
};
use ilion_types::Error as ValueError;

fn decode(raw: &[u8]) -> Result<Decoded<Frame>, ProtocolError> {
    FrameDecoder::new().decode(&mut BytesMut::from(raw))
}

fn frame(version: u8, flags: u8, stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![version, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(opcode);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn an_unsupported_version_is_reported_distinctly_with_its_stream() {
    for v in [3u8, 6, 0x41, 0x42, 0x7f] {
        let err = decode(&frame(v, 0, 9, 0x05, &[])).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::UnsupportedVersion {
                version: v,
                stream: 9
            }
        );
        assert!(err.is_unsupported_version());
        assert_eq!(err.stream(), Some(9));
        assert!(
            err.to_string().contains("unsupported protocol version"),
            "{err}"
        );
    }
}

#[test]
fn a_v1_or_v2_options_frame_of_eight_bytes_is_answered_not_awaited() {
    // v1/v2 headers are 8 bytes with a one-byte stream.
    let err = decode(&[0x02, 0, 3, 0x05, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::UnsupportedVersion {
            version: 2,
            stream: 3
        }
    );
    assert_eq!(decode(&[0x06]).unwrap(), Decoded::Incomplete { needed: 3 });
}

#[test]
fn the_unsupported_version_message_is_what_drivers_match() {
    assert_eq!(
        unsupported_version_message(6),
        "Invalid or unsupported protocol version (6); supported versions are (4/v4, 5/v5)"
    );
    assert!(unsupported_version_message(0x42).contains("unsupported protocol version"));
}

#[test]
fn the_unsupported_version_answer_is_a_protocol_error_on_the_request_stream() {
    // A too-new version is answered in v5, which the client can read.
    assert_eq!(negotiation_response_version(6), 0x85);
    let raw = unsupported_version_response(6, 12);
    let Decoded::Complete(f) = decode(&raw).unwrap() else {
        panic!("incomplete")
    };
    let env = ResponseEnvelope::decode(f).unwrap();
    assert_eq!(env.stream, 12);
    let Response::Error(e) = env.response else {
        panic!("not an ERROR")
    };
    assert_eq!(e.kind, ErrorKind::ProtocolError);
    assert_eq!(e.message, unsupported_version_message(6));
    // A too-old version is answered in that version; v2 has a one-byte stream.
    assert_eq!(negotiation_response_version(3), 0x83);
    assert_eq!(
        &unsupported_version_response(3, 1)[..5],
        &[0x83, 0, 0, 1, 0x00]
    );
    assert_eq!(
        &unsupported_version_response(2, 1)[..4],
        &[0x82, 0, 1, 0x00]
    );
}

#[test]
fn a_body_over_the_limit_is_refused_before_it_arrives() {
    let mut raw = BytesMut::from(&frame(0x04, 0, 4, 0x07, &[])[..]);
    raw[5..9].copy_from_slice(&1_000_000u32.to_be_bytes());
    let err = FrameDecoder::new()
        .max_body_len(1024)
        .decode(&mut raw)
        .unwrap_err();
    assert_eq!(
        err,
        ProtocolError::BodyTooLarge {
            length: 1_000_000,
            max: 1024,
            stream: 4
        }
    );
    assert_eq!(err.stream(), Some(4));
}

#[test]
fn a_response_sent_to_a_server_is_refused() {
    let err = FrameDecoder::new()
        .expect(Direction::Request)
        .decode(&mut BytesMut::from(&frame(0x84, 0, 1, 0x02, &[])[..]))
        .unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::WrongDirection { stream: 1, .. }
    ));
}

#[test]
fn an_unknown_opcode_carries_the_stream() {
    let err = decode(&frame(0x04, 0, 77, 0x04, &[])).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::UnknownOpcode {
            opcode: 0x04,
            stream: 77
        }
    );
}

#[test]
fn a_request_opcode_in_a_response_frame_is_refused() {
    let Decoded::Complete(f) = decode(&frame(0x84, 0, 1, 0x07, &[])).unwrap() else {
        panic!()
    };
    assert!(matches!(
        ResponseEnvelope::decode(f),
        Err(ProtocolError::OpcodeNotInDirection {
            opcode: 0x07,
            stream: 1,
            ..
        })
    ));
}

#[test]
fn a_short_body_inside_a_whole_frame_is_malformed_not_incomplete() {
    // QUERY whose [long string] claims 100 bytes but carries 3.
    let body = [0, 0, 0, 100, b'a', b'b', b'c'];
    let Decoded::Complete(f) = decode(&frame(0x04, 0, 2, 0x07, &body)).unwrap() else {
        panic!()
    };
    assert!(matches!(
        RequestEnvelope::decode(f),
        Err(ProtocolError::Truncated {
            what: "query",
            needed: 100,
            available: 3
        })
    ));
}

#[test]
fn a_compressed_frame_without_negotiated_compression_is_refused() {
    let Decoded::Complete(f) = decode(&frame(0x04, 0x01, 3, 0x07, &[1, 2])).unwrap() else {
        panic!()
    };
    assert_eq!(
        f.clone().decompressed(None, 1024).unwrap_err(),
        ProtocolError::CompressionNotNegotiated { stream: 3 }
    );
    assert!(matches!(
        f.decompressed(Some(Compression::Lz4), 1024),
        Err(ProtocolError::Decompression {
            algorithm: "lz4",
            ..
        })
    ));
}

#[test]
fn a_bound_value_length_below_minus_two_is_malformed() {
    // QUERY "q", ONE, flags VALUES, one value of length -3.
    let mut body = vec![0, 0, 0, 1, b'q', 0, 1, 0x01, 0, 1];
    body.extend_from_slice(&(-3i32).to_be_bytes());
    let Decoded::Complete(f) = decode(&frame(0x04, 0, 0, 0x07, &body)).unwrap() else {
        panic!()
    };
    assert!(matches!(
        RequestEnvelope::decode(f),
        Err(ProtocolError::InvalidLength { length: -3, .. })
    ));
}

#[test]
fn an_unknown_consistency_is_malformed() {
    let body = [0, 0, 0, 1, b'q', 0, 0x0b, 0];
    let Decoded::Complete(f) = decode(&frame(0x04, 0, 0, 0x07, &body)).unwrap() else {
        panic!()
    };
    assert_eq!(
        RequestEnvelope::decode(f).unwrap_err(),
        ProtocolError::UnknownConsistency(0x0b)
    );
}

#[test]
fn v5_only_fields_cannot_be_encoded_in_v4() {
    let mut params = QueryParameters::new(Consistency::One);
    params.keyspace = Some("ks".into());
    let env = RequestEnvelope::new(
        ProtocolVersion::V4,
        0,
        Request::Query(Query {
            query: "q".into(),
            params,
        }),
    );
    let mut out = BytesMut::new();
    assert!(matches!(
        env.write(&mut out),
        Err(ProtocolError::NotInVersion { .. })
    ));
    assert!(out.is_empty(), "a failed write leaves the buffer as it was");
    let env = RequestEnvelope::new(
        ProtocolVersion::V4,
        0,
        Request::Prepare(Prepare {
            query: "q".into(),
            keyspace: Some("ks".into()),
        }),
    );
    assert!(matches!(
        env.write(&mut out),
        Err(ProtocolError::NotInVersion { .. })
    ));
}

#[test]
fn a_self_contained_segment_that_ends_inside_a_frame_is_malformed() {
    let whole = frame(0x04, 0, 0, 0x05, &[1, 2, 3, 4]);
    let mut wire = BytesMut::new();
    SegmentCodec::uncompressed()
        .encode_segment(&whole[..10], true, &mut wire)
        .unwrap();
    let mut dec = V5FrameDecoder::new(SegmentCodec::uncompressed(), FrameDecoder::new());
    assert!(matches!(
        dec.decode(&mut wire),
        Err(ProtocolError::SegmentFraming(_))
    ));
}

#[test]
fn malformed_values_are_errors_with_the_reason() {
    let b = |raw: &[u8]| Bytes::copy_from_slice(raw);
    assert!(matches!(
        CqlType::Int.decode(&b(&[1, 2, 3])),
        Err(ValueError::ValueLength {
            type_name: "int",
            actual: 3,
            ..
        })
    ));
    assert!(matches!(
        CqlType::Inet.decode(&b(&[1, 2, 3, 4, 5])),
        Err(ValueError::InvalidInetLength(5))
    ));
    assert!(matches!(
        CqlType::Time.decode(&b(&86_400_000_000_000i64.to_be_bytes())),
        Err(ValueError::InvalidValue {
            type_name: "time",
            ..
        })
    ));
    // months +1 (zigzag 2), days -1 (zigzag 1), nanos 0.
    assert!(matches!(
        CqlType::Duration.decode(&b(&[2, 1, 0])),
        Err(ValueError::InvalidValue {
            type_name: "duration",
            ..
        })
    ));
    assert!(matches!(
        CqlType::Timeuuid.decode(&b(&[0x40; 16])),
        Err(ValueError::InvalidValue {
            type_name: "timeuuid",
            ..
        })
    ));
    assert!(matches!(
        CqlType::Ascii.decode(&b("é".as_bytes())),
        Err(ValueError::InvalidText {
            encoding: "ASCII",
            ..
        })
    ));
    let list = CqlType::list(CqlType::Int);
    let null_element = [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        list.decode(&b(&null_element)).unwrap_err(),
        ValueError::NullInCollection("list")
    );
    let trailing = [0, 0, 0, 0, 9];
    assert_eq!(
        list.decode(&b(&trailing)).unwrap_err(),
        ValueError::TrailingBytes {
            type_name: "list",
            count: 1
        }
    );
    // A list claiming two billion elements in 8 bytes does not allocate them.
    assert!(matches!(
        list.decode(&b(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])),
        Err(ValueError::Truncated { .. })
    ));
}

#[test]
fn a_zero_length_int_is_the_empty_value() {
    assert_eq!(CqlType::Int.decode(&Bytes::new()).unwrap(), Value::Empty);
    assert_eq!(
        CqlType::Text.decode(&Bytes::new()).unwrap(),
        Value::Text(String::new())
    );
}

#[test]
fn type_descriptors_nested_too_deep_are_refused() {
    // list<list<list<...>>> 1000 deep: an error, not a stack overflow.
    let mut raw = Vec::new();
    for _ in 0..1000 {
        raw.extend_from_slice(&[0x00, 0x20]);
    }
    raw.extend_from_slice(&[0x00, 0x09]);
    assert!(matches!(
        CqlType::decode_option(&raw),
        Err(ProtocolError::TypeTooDeep { .. })
    ));
    assert_eq!(
        CqlType::decode_option(&[0x00, 0x0A]).unwrap_err(),
        ProtocolError::UnknownTypeId(0x0A)
    );
}

#[test]
fn a_value_of_the_wrong_kind_cannot_be_encoded() {
    let mut out = BytesMut::new();
    assert!(matches!(
        CqlType::Int.encode(&Value::Text("x".into()), &mut out),
        Err(ValueError::TypeMismatch { .. })
    ));
}

#[test]
fn a_frame_of_another_version_than_the_connection_is_refused() {
    let decoder = FrameDecoder::new().expect_version(ProtocolVersion::V5);
    let err = decoder
        .decode(&mut BytesMut::from(&frame(0x04, 0, 8, 0x05, &[])[..]))
        .unwrap_err();
    assert_eq!(
        err,
        ProtocolError::VersionMismatch {
            expected: ProtocolVersion::V5,
            actual: ProtocolVersion::V4,
            stream: 8
        }
    );
    assert!(matches!(
        decoder.decode(&mut BytesMut::from(&frame(0x05, 0, 8, 0x05, &[])[..])),
        Ok(Decoded::Complete(_))
    ));
}
