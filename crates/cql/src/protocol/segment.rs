//! v5's outer framing ("segments"; Cassandra's code calls them frames, and the inner frames
//! envelopes). After STARTUP/READY (or AUTH_SUCCESS) on a v5 connection every byte in both
//! directions is a segment:
//!
//! ```text
//! uncompressed:  header (3 bytes, little-endian)          | crc24 (3, LE) | payload | crc32 (4, LE)
//!                bits 0..17  payload length
//!                bit  17     self-contained flag
//!                bits 18..24 padding
//! lz4:           header (5 bytes, little-endian)          | crc24 (3, LE) | payload | crc32 (4, LE)
//!                bits 0..17  compressed payload length
//!                bits 17..34 uncompressed length (0: the payload is stored uncompressed)
//!                bit  34     self-contained flag
//!                bits 35..40 padding
//! ```
//!
//! The CRC24 covers the header bytes; the CRC32 covers the payload as sent (compressed or not)
//! and is seeded with the bytes `FA 2D 55 CA` (Cassandra's `Crc.java`). A payload is at most
//! 128 KiB - 1 bytes. A self-contained segment holds one or more whole frames; a frame larger
//! than that is cut into a run of segments that are not self-contained, holding that frame only.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::compression::lz4_block;
use super::crc::{crc24, crc32};
use super::frame::{Frame, FrameDecoder};
use super::{Decoded, ProtocolError};

/// The largest segment payload: 128 KiB - 1 (17 bits).
pub const MAX_PAYLOAD_LEN: usize = 128 * 1024 - 1;

const CRC24_LEN: usize = 3;
const CRC32_LEN: usize = 4;

/// One decoded segment: its payload (decompressed) and whether it holds whole frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub self_contained: bool,
    pub payload: Bytes,
}

/// Encodes and decodes segments, with or without LZ4 (chosen by STARTUP's `COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentCodec {
    lz4: bool,
}

impl SegmentCodec {
    /// Segments without compression (3-byte headers).
    pub fn uncompressed() -> SegmentCodec {
        SegmentCodec { lz4: false }
    }

    /// LZ4-compressed segments (5-byte headers).
    pub fn lz4() -> SegmentCodec {
        SegmentCodec { lz4: true }
    }

    fn header_len(&self) -> usize {
        if self.lz4 { 5 } else { 3 }
    }

    /// Bytes on the wire for an uncompressed segment carrying `payload_len` bytes.
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        self.header_len() + CRC24_LEN + payload_len + CRC32_LEN
    }

    /// Takes one segment off the front of `buf`, checking both CRCs and decompressing.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Decoded<Segment>, ProtocolError> {
        let hl = self.header_len();
        let Some(head) = buf.get(..hl + CRC24_LEN) else {
            return Ok(Decoded::Incomplete {
                needed: hl + CRC24_LEN - buf.len(),
            });
        };
        let (header_bytes, crc_bytes) = head.split_at(hl);
        let header = le(header_bytes);
        let expected = le(crc_bytes) as u32;
        let actual = crc24(header, hl);
        if expected != actual {
            return Err(ProtocolError::SegmentHeaderCrc { expected, actual });
        }
        let payload_len = (header & MAX_PAYLOAD_LEN as u64) as usize;
        let (uncompressed_len, self_contained) = if self.lz4 {
            (
                (header >> 17) & MAX_PAYLOAD_LEN as u64,
                header & (1 << 34) != 0,
            )
        } else {
            (0, header & (1 << 17) != 0)
        };
        let total = hl + CRC24_LEN + payload_len + CRC32_LEN;
        if buf.len() < total {
            return Ok(Decoded::Incomplete {
                needed: total - buf.len(),
            });
        }
        let mut segment = buf.split_to(total).freeze();
        let _ = segment.split_to(hl + CRC24_LEN);
        let crc = segment.split_off(payload_len);
        let expected = le(&crc) as u32;
        let actual = crc32(&segment);
        if expected != actual {
            return Err(ProtocolError::SegmentPayloadCrc { expected, actual });
        }
        let payload = if uncompressed_len > 0 {
            Bytes::from(lz4_block(
                &segment,
                uncompressed_len as u32,
                MAX_PAYLOAD_LEN as u32,
            )?)
        } else {
            segment
        };
        Ok(Decoded::Complete(Segment {
            self_contained,
            payload,
        }))
    }

    /// Writes one segment. With LZ4 the payload is stored uncompressed when compressing does
    /// not make it smaller (uncompressed length 0 in the header), as Cassandra does.
    pub fn encode_segment(
        &self,
        payload: &[u8],
        self_contained: bool,
        out: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(ProtocolError::Unencodable {
                what: "segment",
                reason: "payload longer than 128 KiB - 1",
            });
        }
        let compressed = if self.lz4 {
            Some(lz4_flex::block::compress(payload))
        } else {
            None
        };
        let (stored, uncompressed_len): (&[u8], u64) = match &compressed {
            Some(c) if c.len() < payload.len() => (c, payload.len() as u64),
            _ => (payload, 0),
        };
        let mut header = stored.len() as u64;
        let flag_bit = if self.lz4 {
            header |= uncompressed_len << 17;
            34
        } else {
            17
        };
        if self_contained {
            header |= 1 << flag_bit;
        }
        let hl = self.header_len();
        out.reserve(hl + CRC24_LEN + stored.len() + CRC32_LEN);
        out.put_uint_le(header, hl);
        out.put_uint_le(u64::from(crc24(header, hl)), CRC24_LEN);
        out.put_slice(stored);
        out.put_u32_le(crc32(stored));
        Ok(())
    }

    /// Wraps encoded frames in segments: one self-contained segment when they fit, otherwise
    /// (only valid for a single frame) a run of 128 KiB - 1 pieces that are not self-contained.
    pub fn encode_frames(&self, frames: &[u8], out: &mut BytesMut) -> Result<(), ProtocolError> {
        if frames.len() <= MAX_PAYLOAD_LEN {
            return self.encode_segment(frames, true, out);
        }
        for piece in frames.chunks(MAX_PAYLOAD_LEN) {
            self.encode_segment(piece, false, out)?;
        }
        Ok(())
    }
}

fn le(raw: &[u8]) -> u64 {
    raw.iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Decodes frames out of v5 segments: whole frames out of self-contained segments, and one
/// large frame out of a run of segments that are not self-contained.
#[derive(Debug)]
pub struct V5FrameDecoder {
    codec: SegmentCodec,
    frames: FrameDecoder,
    ready: VecDeque<Frame>,
    partial: BytesMut,
}

impl V5FrameDecoder {
    /// Decodes segments with `codec` and the frames inside them with `frames` (its body limit
    /// bounds the reassembly of a large frame).
    pub fn new(codec: SegmentCodec, frames: FrameDecoder) -> V5FrameDecoder {
        V5FrameDecoder {
            codec,
            frames,
            ready: VecDeque::new(),
            partial: BytesMut::new(),
        }
    }

    /// Takes the next frame, reading as many segments off `buf` as that needs. `Incomplete`
    /// reports the bytes the next segment still needs.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Frame>, ProtocolError> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Ok(Decoded::Complete(frame));
            }
            let segment = match self.codec.decode(buf)? {
                Decoded::Complete(s) => s,
                Decoded::Incomplete { needed } => return Ok(Decoded::Incomplete { needed }),
            };
            if segment.self_contained {
                if !self.partial.is_empty() {
                    return Err(ProtocolError::SegmentFraming(
                        "self-contained segment inside a multi-segment frame",
                    ));
                }
                let mut payload = segment.payload;
                while !payload.is_empty() {
                    match self.frames.decode_bytes(&mut payload)? {
                        Decoded::Complete(f) => self.ready.push_back(f),
                        Decoded::Incomplete { .. } => {
                            return Err(ProtocolError::SegmentFraming(
                                "self-contained segment ends inside a frame",
                            ));
                        }
                    }
                }
            } else {
                self.partial.extend_from_slice(&segment.payload);
                if let Decoded::Complete(f) = self.frames.decode(&mut self.partial)? {
                    if !self.partial.is_empty() {
                        return Err(ProtocolError::SegmentFraming(
                            "multi-segment payload holds more than one frame",
                        ));
                    }
                    self.ready.push_back(f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_header_bit_fails_the_crc24() {
        let mut out = BytesMut::new();
        SegmentCodec::uncompressed()
            .encode_segment(b"hello", true, &mut out)
            .unwrap();
        let mut bad = out.clone();
        if let Some(b) = bad.first_mut() {
            *b ^= 1;
        }
        assert!(matches!(
            SegmentCodec::uncompressed().decode(&mut bad),
            Err(ProtocolError::SegmentHeaderCrc { .. })
        ));
        let n = out.len();
        if let Some(b) = out.get_mut(n - 5) {
            *b ^= 1;
        }
        assert!(matches!(
            SegmentCodec::uncompressed().decode(&mut out),
            Err(ProtocolError::SegmentPayloadCrc { .. })
        ));
    }

    #[test]
    fn an_incompressible_lz4_payload_is_stored_plain() {
        let payload: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(97) ^ 0x5a).collect();
        let mut out = BytesMut::new();
        SegmentCodec::lz4()
            .encode_segment(&payload, true, &mut out)
            .unwrap();
        assert_eq!(out.len(), 5 + 3 + payload.len() + 4);
        let Decoded::Complete(seg) = SegmentCodec::lz4().decode(&mut out).unwrap() else {
            panic!("incomplete")
        };
        assert_eq!(seg.payload, payload);
        assert!(seg.self_contained);
    }
}
