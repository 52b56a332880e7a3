//! The CQL native protocol, v4 and v5.
//!
//! Layers, from the socket inwards:
//!
//! - [`segment`]: v5's outer framing (checksummed, optionally LZ4-compressed segments that carry
//!   one or more whole frames, or one piece of a large frame). Used in v5 after STARTUP/READY.
//! - [`frame`]: the 9-byte frame header and an incremental [`FrameDecoder`] that tells "need
//!   more bytes" ([`Decoded::Incomplete`]) from "malformed" (`Err`).
//! - [`compression`]: v4's per-frame LZ4 and Snappy body compression.
//! - [`message`]: every request and response body as typed structs, with the envelope fields
//!   (tracing, warnings, custom payload) around them.
//! - [`value`]: the `[option]` type descriptors of column metadata and the codec for values of
//!   every CQL type.
//!
//! Decoders borrow from the input [`bytes::Bytes`]: a bound value or a cell is a slice of the
//! frame body, not a copy.
//!
//! ```
//! use bytes::BytesMut;
//! use ilion_cql::protocol::{
//!     Consistency, Decoded, Direction, FrameDecoder, ProtocolVersion, Query, QueryParameters,
//!     Request, RequestEnvelope,
//! };
//!
//! let query = Query { query: "SELECT * FROM ks.t".into(), params: QueryParameters::new(Consistency::One) };
//! let sent = RequestEnvelope::new(ProtocolVersion::V4, 1, Request::Query(query));
//! let mut wire = BytesMut::new();
//! sent.write(&mut wire)?;
//! assert_eq!(wire.len(), sent.encoded_len());
//!
//! // A server reads requests; half a frame is not an error, just not enough bytes yet.
//! let decoder = FrameDecoder::new().expect(Direction::Request);
//! let mut partial = wire.split_to(5);
//! assert!(matches!(decoder.decode(&mut partial)?, Decoded::Incomplete { .. }));
//! partial.unsplit(wire);
//! let Decoded::Complete(frame) = decoder.decode(&mut partial)? else { unreachable!() };
//! assert_eq!(RequestEnvelope::decode(frame)?, sent);
//! # Ok::<(), ilion_cql::protocol::ProtocolError>(())
//! ```
//!
//! The golden fixtures under `crates/cql/tests/golden/` are the bytes the Python driver
//! (cassandra-driver) sends; regenerate them with `cargo xtask venv` then
//! `target/py/bin/python crates/cql/tests/golden/capture.py`. Byte layouts and what is supported:
//! `docs/native-protocol.md`.

pub mod column_type;
pub mod compression;
pub(crate) mod crc;
pub mod frame;
pub mod message;
pub mod segment;
pub mod types;

use std::fmt;

/// The protocol versions this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// Protocol v4 (Cassandra 2.2+): optional per-frame LZ4/Snappy compression.
    V4,
    /// Protocol v5 (Cassandra 4.0+): checksummed segment framing after STARTUP/READY.
    V5,
}

impl ProtocolVersion {
    /// The version number without the direction bit.
    pub fn number(self) -> u8 {
        match self {
            ProtocolVersion::V4 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The version for a number without the direction bit.
    pub fn from_number(n: u8) -> Option<ProtocolVersion> {
        match n {
            4 => Some(ProtocolVersion::V4),
            5 => Some(ProtocolVersion::V5),
            _ => None,
        }
    }

    /// The value of `PROTOCOL_VERSIONS` in a SUPPORTED message.
    pub const SUPPORTED_LIST: &'static str = "4/v4, 5/v5";
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

/// Who sent a frame: the direction bit (0x80) of the version byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server (bit clear).
    Request,
    /// Server to client (bit set).
    Response,
}

/// Why bytes could not be decoded as a frame, message or value, or a message could not be
/// encoded. Every variant carries the facts; `stream()` gives the stream id when the frame
/// header was readable, so a server can answer a protocol ERROR on that stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The version byte names a version this crate does not speak. A server answers with an
    /// ERROR (code 0x000A) whose message is [`unsupported_version_message`].
    #[error("{}", unsupported_version_message(*version))]
    UnsupportedVersion { version: u8, stream: i16 },
    /// A frame of a supported version other than the one the connection started with.
    #[error("frame on stream {stream} has version {actual}, but the connection uses {expected}")]
    VersionMismatch {
        expected: ProtocolVersion,
        actual: ProtocolVersion,
        stream: i16,
    },
    /// The frame's direction bit is not the one the decoder expects.
    #[error("frame on stream {stream} has direction {actual:?}, expected {expected:?}")]
    WrongDirection {
        expected: Direction,
        actual: Direction,
        stream: i16,
    },
    /// A frame whose opcode is not defined by the protocol.
    #[error("unknown opcode {opcode:#04x} on stream {stream}")]
    UnknownOpcode { opcode: u8, stream: i16 },
    /// A message whose opcode is valid but not in this direction (a RESULT sent as a request).
    #[error("opcode {opcode:#04x} is not a {direction:?} on stream {stream}")]
    OpcodeNotInDirection {
        opcode: u8,
        direction: Direction,
        stream: i16,
    },
    /// The header announces a body larger than the configured limit.
    #[error("frame body of {length} bytes on stream {stream} exceeds the limit of {max} bytes")]
    BodyTooLarge { length: u32, max: u32, stream: i16 },
    /// A message body (or a value) ended before a field did.
    #[error("truncated {what}: needed {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// A length field that is negative where the protocol forbids it, or absurd.
    #[error("invalid length {length} for {what}")]
    InvalidLength { what: &'static str, length: i64 },
    /// Text that is not valid UTF-8 (or not ASCII for the `ascii` type).
    #[error("{what} is not valid {encoding}")]
    InvalidText {
        what: &'static str,
        encoding: &'static str,
    },
    /// A consistency level code that is not defined.
    #[error("unknown consistency level {0:#06x}")]
    UnknownConsistency(u16),
    /// A RESULT kind that is not defined.
    #[error("unknown result kind {0:#x}")]
    UnknownResultKind(i32),
    /// An ERROR code that is not defined.
    #[error("unknown error code {0:#06x}")]
    UnknownErrorCode(i32),
    /// A type id in an `[option]` type descriptor that is not defined.
    #[error("unknown column type id {0:#06x}")]
    UnknownTypeId(u16),
    /// A type descriptor nested deeper than this crate accepts.
    #[error("type descriptor nested deeper than {max} levels")]
    TypeTooDeep { max: usize },
    /// A BATCH type byte that is not logged (0), unlogged (1) or counter (2).
    #[error("unknown batch type {0}")]
    UnknownBatchType(u8),
    /// A BATCH statement kind byte that is not 0 (query text) or 1 (prepared id).
    #[error("unknown batch statement kind {0}")]
    UnknownBatchStatementKind(u8),
    /// A `[string]` enumerated by the protocol (event type, change type, write type, schema
    /// target) with a value the protocol does not define.
    #[error("unknown {what} {value:?}")]
    UnknownName { what: &'static str, value: String },
    /// An `[inet]` address whose size is neither 4 nor 16.
    #[error("inet address of {0} bytes (expected 4 or 16)")]
    InvalidInetLength(usize),
    /// A value that does not decode as its type, or cannot be encoded as it.
    #[error(transparent)]
    Value(#[from] ilion_types::Error),
    /// A field or flag that does not exist in the connection's protocol version.
    #[error("{feature} is not part of protocol {version}")]
    NotInVersion {
        feature: &'static str,
        version: ProtocolVersion,
    },
    /// A message that cannot be encoded as given (e.g. a global table spec that does not match
    /// a column's table).
    #[error("cannot encode {what}: {reason}")]
    Unencodable {
        what: &'static str,
        reason: &'static str,
    },
    /// A compressed frame on a connection without negotiated compression.
    #[error("compressed frame on stream {stream} but no compression was negotiated")]
    CompressionNotNegotiated { stream: i16 },
    /// A compressed body or segment that does not decompress.
    #[error("{algorithm} decompression failed: {reason}")]
    Decompression {
        algorithm: &'static str,
        reason: String,
    },
    /// A v5 segment header whose CRC24 does not match.
    #[error("segment header crc24 mismatch: expected {expected:#08x}, computed {actual:#08x}")]
    SegmentHeaderCrc { expected: u32, actual: u32 },
    /// A v5 segment payload whose CRC32 does not match.
    #[error("segment payload crc32 mismatch: expected {expected:#010x}, computed {actual:#010x}")]
    SegmentPayloadCrc { expected: u32, actual: u32 },
    /// A self-contained v5 segment whose payload does not end on a frame boundary, or a
    /// multi-segment frame interrupted by a self-contained segment.
    #[error("segment framing broken: {0}")]
    SegmentFraming(&'static str),
}

impl ProtocolError {
    /// The stream id of the frame that failed, when its header was readable.
    pub fn stream(&self) -> Option<i16> {
        match self {
            ProtocolError::UnsupportedVersion { stream, .. }
            | ProtocolError::WrongDirection { stream, .. }
            | ProtocolError::VersionMismatch { stream, .. }
            | ProtocolError::UnknownOpcode { stream, .. }
            | ProtocolError::OpcodeNotInDirection { stream, .. }
            | ProtocolError::BodyTooLarge { stream, .. }
            | ProtocolError::CompressionNotNegotiated { stream } => Some(*stream),
            _ => None,
        }
    }

    /// True when the error is an unsupported protocol version: the server answers with an
    /// ERROR carrying [`unsupported_version_message`] so that drivers step down.
    pub fn is_unsupported_version(&self) -> bool {
        matches!(self, ProtocolError::UnsupportedVersion { .. })
    }
}

/// The message of the protocol ERROR a server sends for an unsupported version byte. Drivers
/// look for "unsupported protocol version" in it (the Python driver's `connection.py`) and then
/// retry with a lower version; the wording follows Cassandra's `ProtocolException`.
pub fn unsupported_version_message(version: u8) -> String {
    format!(
        "Invalid or unsupported protocol version ({}); supported versions are ({})",
        version & 0x7f,
        ProtocolVersion::SUPPORTED_LIST
    )
}

/// The result of feeding an incremental decoder: a whole item, or how many more bytes (at least)
/// it needs before it can say more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole item was consumed from the buffer.
    Complete(T),
    /// The buffer holds only part of an item; nothing was consumed.
    Incomplete { needed: usize },
}

pub use column_type::{MAX_TYPE_DEPTH, TypeOption};
pub use compression::Compression;
pub use frame::{Flags, Frame, FrameDecoder, Header, Opcode};
pub use ilion_types::{CqlType, Duration, UdtType, Value};
pub use message::{
    AuthChallenge, AuthResponse, AuthSuccess, Authenticate, Batch, BatchKind, BatchQuery,
    BatchStatement, ChangeType, ColumnSpec, CustomPayload, ErrorKind, ErrorResponse, Event,
    Execute, FailureInfo, Prepare, Prepared, PreparedMetadata, Query, QueryParameters, Register,
    Request, RequestEnvelope, Response, ResponseEnvelope, ResultBody, Rows, RowsMetadata,
    SchemaChange, SchemaTarget, Startup, StatusChange, Supported, TableSpec, TopologyChange,
    Values, WriteType,
};
pub use segment::{Segment, SegmentCodec, V5FrameDecoder};
pub use types::{Consistency, RawValue};
