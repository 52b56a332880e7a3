//! Frames: the 9-byte header and the body, and the incremental decoder.
//!
//! ```text
//!  0         8        16        24        32         40
//!  +---------+---------+---------+---------+---------+
//!  | version |  flags  |      stream       | opcode  |
//!  +---------+---------+---------+---------+---------+
//!  |                length (u32 BE)        |  body (length bytes) ...
//!  +---------+---------+---------+---------+
//! ```
//!
//! `version` is the protocol version with the direction in its top bit (0x04 request, 0x84
//! response). `stream` is a big-endian `i16`; servers push EVENTs on stream -1.

use bytes::{BufMut, Bytes, BytesMut};

use super::compression::Compression;
use super::{Decoded, Direction, ProtocolError, ProtocolVersion};

/// Length of the frame header.
pub const HEADER_LEN: usize = 9;

/// The default limit on a frame body: Cassandra's `native_transport_max_frame_size` (16 MiB)
/// is the usual setting; the spec's hard limit is 256 MiB.
pub const DEFAULT_MAX_BODY_LEN: u32 = 16 * 1024 * 1024;

/// The frame header flags (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// v4 only: the body is compressed with the negotiated algorithm.
    pub const COMPRESSION: u8 = 0x01;
    /// Requests: trace this request. Responses: the body starts with a tracing id.
    pub const TRACING: u8 = 0x02;
    /// A `[bytes map]` custom payload precedes the message.
    pub const CUSTOM_PAYLOAD: u8 = 0x04;
    /// Responses: a `[string list]` of warnings precedes the message.
    pub const WARNING: u8 = 0x08;
    /// The client opts in to a beta protocol version.
    pub const USE_BETA: u8 = 0x10;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// Every opcode of v4 and v5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    Error = 0x00,
    Startup = 0x01,
    Ready = 0x02,
    Authenticate = 0x03,
    Options = 0x05,
    Supported = 0x06,
    Query = 0x07,
    Result = 0x08,
    Prepare = 0x09,
    Execute = 0x0A,
    Register = 0x0B,
    Event = 0x0C,
    Batch = 0x0D,
    AuthChallenge = 0x0E,
    AuthResponse = 0x0F,
    AuthSuccess = 0x10,
}

impl Opcode {
    /// The opcode for a byte, if defined.
    pub fn from_byte(b: u8) -> Option<Opcode> {
        Some(match b {
            0x00 => Opcode::Error,
            0x01 => Opcode::Startup,
            0x02 => Opcode::Ready,
            0x03 => Opcode::Authenticate,
            0x05 => Opcode::Options,
            0x06 => Opcode::Supported,
            0x07 => Opcode::Query,
            0x08 => Opcode::Result,
            0x09 => Opcode::Prepare,
            0x0A => Opcode::Execute,
            0x0B => Opcode::Register,
            0x0C => Opcode::Event,
            0x0D => Opcode::Batch,
            0x0E => Opcode::AuthChallenge,
            0x0F => Opcode::AuthResponse,
            0x10 => Opcode::AuthSuccess,
            _ => return None,
        })
    }

    /// Which side sends this opcode.
    pub fn direction(self) -> Direction {
        match self {
            Opcode::Startup
            | Opcode::Options
            | Opcode::Query
            | Opcode::Prepare
            | Opcode::Execute
            | Opcode::Register
            | Opcode::Batch
            | Opcode::AuthResponse => Direction::Request,
            _ => Direction::Response,
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub version: ProtocolVersion,
    pub direction: Direction,
    pub flags: Flags,
    pub stream: i16,
    pub opcode: Opcode,
    /// Length of the body that follows.
    pub length: u32,
}

impl Header {
    /// Parses the 9 header bytes. Fails on an unsupported version byte (distinctly, see
    /// [`ProtocolError::UnsupportedVersion`]) and on an unknown opcode; both carry the stream.
    pub fn parse(raw: &[u8; HEADER_LEN]) -> Result<Header, ProtocolError> {
        let [v, flags, s0, s1, op, l0, l1, l2, l3] = *raw;
        let stream = i16::from_be_bytes([s0, s1]);
        let version = ProtocolVersion::from_number(v & 0x7f).ok_or_else(|| {
            ProtocolError::UnsupportedVersion {
                version: v,
                stream: unsupported_stream(raw).unwrap_or(stream),
            }
        })?;
        let direction = if v & 0x80 != 0 {
            Direction::Response
        } else {
            Direction::Request
        };
        let opcode =
            Opcode::from_byte(op).ok_or(ProtocolError::UnknownOpcode { opcode: op, stream })?;
        Ok(Header {
            version,
            direction,
            flags: Flags(flags),
            stream,
            opcode,
            length: u32::from_be_bytes([l0, l1, l2, l3]),
        })
    }

    /// The version byte with the direction bit.
    pub fn version_byte(&self) -> u8 {
        let dir = match self.direction {
            Direction::Request => 0,
            Direction::Response => 0x80,
        };
        self.version.number() | dir
    }

    /// Writes the 9 header bytes.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u8(self.version_byte());
        out.put_u8(self.flags.0);
        out.put_i16(self.stream);
        out.put_u8(self.opcode as u8);
        out.put_u32(self.length);
    }
}

/// A whole frame: the header and its body, which borrows from the decoder's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub body: Bytes,
}

impl Frame {
    /// Bytes on the wire.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    /// Writes header and body; the header's length is taken from the body.
    pub fn write(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        let length = u32::try_from(self.body.len()).map_err(|_| ProtocolError::Unencodable {
            what: "frame",
            reason: "body over 4 GiB",
        })?;
        out.reserve(self.encoded_len());
        Header {
            length,
            ..self.header
        }
        .write(out);
        out.put_slice(&self.body);
        Ok(())
    }

    /// For v4 frames: decompresses the body if the compression flag is set and clears the flag.
    /// A compressed frame with `compression == None` is an error (STARTUP negotiates it).
    pub fn decompressed(
        self,
        compression: Option<Compression>,
        max_body_len: u32,
    ) -> Result<Frame, ProtocolError> {
        if !self.header.flags.has(Flags::COMPRESSION) {
            return Ok(self);
        }
        let c = compression.ok_or(ProtocolError::CompressionNotNegotiated {
            stream: self.header.stream,
        })?;
        let body = c.decompress(&self.body, max_body_len)?;
        let mut header = self.header;
        header.flags.0 &= !Flags::COMPRESSION;
        header.length = body.len() as u32;
        Ok(Frame { header, body })
    }

    /// For v4 frames: compresses the body and sets the compression flag. STARTUP and OPTIONS
    /// are never compressed (the algorithm is not negotiated yet), so they are left as they are.
    pub fn compressed(self, compression: Compression) -> Result<Frame, ProtocolError> {
        if matches!(self.header.opcode, Opcode::Startup | Opcode::Options)
            || self.header.flags.has(Flags::COMPRESSION)
        {
            return Ok(self);
        }
        let body = Bytes::from(compression.compress(&self.body)?);
        let mut header = self.header;
        header.flags.0 |= Flags::COMPRESSION;
        header.length = body.len() as u32;
        Ok(Frame { header, body })
    }
}

/// Splits a byte stream into frames (v4 framing, and v5 before STARTUP/READY and inside
/// segments). Holds only its settings: the buffer belongs to the caller.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_body_len: u32,
    direction: Option<Direction>,
    version: Option<ProtocolVersion>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            max_body_len: DEFAULT_MAX_BODY_LEN,
            direction: None,
            version: None,
        }
    }
}

impl FrameDecoder {
    /// A decoder with the default body limit that accepts frames in both directions.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Refuses bodies longer than `max` bytes with [`ProtocolError::BodyTooLarge`].
    pub fn max_body_len(mut self, max: u32) -> FrameDecoder {
        self.max_body_len = max;
        self
    }

    /// Accepts only frames of this direction (a server expects requests).
    pub fn expect(mut self, direction: Direction) -> FrameDecoder {
        self.direction = Some(direction);
        self
    }

    /// Accepts only frames of this version: STARTUP fixes a connection's version, and a frame
    /// of another supported version afterwards is [`ProtocolError::VersionMismatch`].
    pub fn expect_version(mut self, version: ProtocolVersion) -> FrameDecoder {
        self.version = Some(version);
        self
    }

    /// The configured body limit.
    pub fn body_limit(&self) -> u32 {
        self.max_body_len
    }

    /// Takes one frame off the front of `buf`. `Incomplete` consumes nothing; `Err` consumes
    /// nothing either, and the connection should be answered (on `err.stream()`) and closed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Decoded<Frame>, ProtocolError> {
        match self.check(buf)? {
            Ok((header, total)) => {
                let mut frame = buf.split_to(total).freeze();
                let body = frame.split_off(HEADER_LEN);
                Ok(Decoded::Complete(Frame { header, body }))
            }
            Err(needed) => Ok(Decoded::Incomplete { needed }),
        }
    }

    /// As [`FrameDecoder::decode`], from an immutable buffer (a segment payload).
    pub fn decode_bytes(&self, buf: &mut Bytes) -> Result<Decoded<Frame>, ProtocolError> {
        match self.check(buf)? {
            Ok((header, total)) => {
                let mut frame = buf.split_to(total);
                let body = frame.split_off(HEADER_LEN);
                Ok(Decoded::Complete(Frame { header, body }))
            }
            Err(needed) => Ok(Decoded::Incomplete { needed }),
        }
    }

    /// The header and whole frame length of the frame at the front of `buf`, or how many more
    /// bytes are needed.
    fn check(&self, buf: &[u8]) -> Result<Result<(Header, usize), usize>, ProtocolError> {
        if let Some(&v) = buf.first()
            && ProtocolVersion::from_number(v & 0x7f).is_none()
        {
            // Tell an unsupported version as soon as its stream id is readable: a v1/v2
            // OPTIONS frame is only 8 bytes long and would never fill a 9-byte header.
            return match unsupported_stream(buf) {
                Some(stream) => Err(ProtocolError::UnsupportedVersion { version: v, stream }),
                None => Ok(Err(if v & 0x7f <= 2 { 3 } else { 4 } - buf.len())),
            };
        }
        let Some(raw) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(Err(HEADER_LEN - buf.len()));
        };
        let header = Header::parse(raw)?;
        if let Some(expected) = self.direction
            && header.direction != expected
        {
            return Err(ProtocolError::WrongDirection {
                expected,
                actual: header.direction,
                stream: header.stream,
            });
        }
        if let Some(expected) = self.version
            && header.version != expected
        {
            return Err(ProtocolError::VersionMismatch {
                expected,
                actual: header.version,
                stream: header.stream,
            });
        }
        if header.length > self.max_body_len {
            return Err(ProtocolError::BodyTooLarge {
                length: header.length,
                max: self.max_body_len,
                stream: header.stream,
            });
        }
        let total = HEADER_LEN + header.length as usize;
        if buf.len() < total {
            return Ok(Err(total - buf.len()));
        }
        Ok(Ok((header, total)))
    }
}

/// The stream id of a frame of an unsupported version: one byte at offset 2 for v1 and v2,
/// a big-endian short at offset 2 otherwise. `None` while too few bytes are there.
fn unsupported_stream(raw: &[u8]) -> Option<i16> {
    let v = *raw.first()? & 0x7f;
    if v <= 2 {
        raw.get(2).map(|&s| i16::from(s as i8))
    } else {
        raw.get(2..4)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(i16::from_be_bytes)
    }
}

/// The version byte a server answers an unsupported version with, as Cassandra does: a too-old
/// version (1..=3) is answered in that version so the client can read it, anything else in the
/// newest version this crate speaks.
pub fn negotiation_response_version(requested: u8) -> u8 {
    match requested & 0x7f {
        v @ 1..=3 => v | 0x80,
        _ => ProtocolVersion::V5.number() | 0x80,
    }
}

/// The whole ERROR frame (code 0x000A, protocol error) that answers an unsupported protocol
/// version on `stream`, with the header layout of the version it is sent in (v1 and v2 have a
/// one-byte stream). Its message contains "unsupported protocol version", which drivers match
/// before they retry with a lower version.
pub fn unsupported_version_response(requested: u8, stream: i16) -> Vec<u8> {
    let message = super::unsupported_version_message(requested);
    let version = negotiation_response_version(requested);
    let mut body = Vec::with_capacity(6 + message.len());
    body.extend_from_slice(&0x000Ai32.to_be_bytes());
    body.extend_from_slice(&(message.len().min(u16::MAX as usize) as u16).to_be_bytes());
    body.extend_from_slice(message.as_bytes());
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(version);
    out.push(0);
    if version & 0x7f <= 2 {
        out.push(stream as u8);
    } else {
        out.extend_from_slice(&stream.to_be_bytes());
    }
    out.push(Opcode::Error as u8);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}
