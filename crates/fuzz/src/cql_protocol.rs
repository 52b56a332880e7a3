//! Fuzz targets for the CQL native protocol decoders (`ilion-cql`'s `protocol` module).

use bytes::{Bytes, BytesMut};
use ilion_cql::protocol::segment::SegmentCodec;
use ilion_cql::protocol::{
    Compression, CqlType, Decoded, Frame, FrameDecoder, RequestEnvelope, ResponseEnvelope,
    TypeOption, V5FrameDecoder,
};

/// Frames out of arbitrary bytes. The first byte picks the framing: 0 v4 frames (bodies
/// decompressed with LZ4 when flagged), 1 v4 frames with Snappy, 2 v5 segments, 3 v5 LZ4
/// segments. Every frame is decoded as a request and as a response; whatever decodes must
/// re-encode and decode to the same message.
pub fn cql_frame(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut buf = BytesMut::from(rest);
    let frames = FrameDecoder::new().max_body_len(1 << 20);
    match mode % 4 {
        m @ (0 | 1) => {
            let c = if m == 0 {
                Compression::Lz4
            } else {
                Compression::Snappy
            };
            while let Ok(Decoded::Complete(f)) = frames.decode(&mut buf) {
                if let Ok(f) = f.decompressed(Some(c), 1 << 20) {
                    check_frame(f);
                }
            }
        }
        m => {
            let codec = if m == 2 {
                SegmentCodec::uncompressed()
            } else {
                SegmentCodec::lz4()
            };
            let mut dec = V5FrameDecoder::new(codec, frames);
            while let Ok(Decoded::Complete(f)) = dec.decode(&mut buf) {
                check_frame(f);
            }
        }
    }
}

fn check_frame(f: Frame) {
    if let Ok(req) = RequestEnvelope::decode(f.clone()) {
        let mut out = BytesMut::new();
        req.write(&mut out).expect("a decoded request re-encodes");
        assert_eq!(out.len(), req.encoded_len(), "request encoded_len");
        let Ok(Decoded::Complete(again)) = FrameDecoder::new().decode(&mut out) else {
            panic!("a re-encoded request is one whole frame")
        };
        assert_eq!(RequestEnvelope::decode(again).expect("decodes again"), req);
    }
    if let Ok(resp) = ResponseEnvelope::decode(f) {
        let mut out = BytesMut::new();
        resp.write(&mut out).expect("a decoded response re-encodes");
        assert_eq!(out.len(), resp.encoded_len(), "response encoded_len");
        let Ok(Decoded::Complete(again)) = FrameDecoder::new().decode(&mut out) else {
            panic!("a re-encoded response is one whole frame")
        };
        assert_eq!(
            ResponseEnvelope::decode(again).expect("decodes again"),
            resp
        );
    }
}

/// A value: an `[option]` type descriptor from the first bytes, the value's bytes after it,
/// through `ilion-types`' codec, comparator and order-preserving encoding. Whatever decodes
/// must re-encode to bytes that decode and re-encode to the same bytes (compared as bytes, so
/// that a NaN double does not count as a difference); a value with an order key must compare
/// equal to itself and to what its key decodes to.
pub fn cql_value(data: &[u8]) {
    let Ok((ty, used)) = CqlType::decode_option(data) else {
        return;
    };
    let raw = Bytes::copy_from_slice(data.get(used..).unwrap_or_default());
    let Ok(value) = ty.decode(&raw) else { return };
    let mut first = BytesMut::new();
    ty.encode(&value, &mut first)
        .expect("a decoded value re-encodes");
    assert_eq!(first.len(), value.encoded_len(), "value encoded_len");
    let again = ty
        .decode(&first.clone().freeze())
        .expect("a re-encoded value decodes");
    let mut second = BytesMut::new();
    ty.encode(&again, &mut second).expect("re-encodes again");
    assert_eq!(first, second);
    // Comparison and order keys never panic; where a key exists it decodes to an equal value.
    let _ = ilion_types::compare(&ty, &raw, &first);
    if let Ok(key) = ty.order_key(&first) {
        let (back, used) = ilion_types::order::decode(&ty, &key, 0).expect("a key decodes");
        assert_eq!(used, key.len(), "a key decodes whole");
        assert_eq!(
            ilion_types::compare(&ty, &back, &first).expect("comparable"),
            std::cmp::Ordering::Equal,
            "a key decodes to an equal value"
        );
    }
}
