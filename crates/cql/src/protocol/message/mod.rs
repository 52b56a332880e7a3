//! Message bodies, and the envelope fields the frame flags add around them.
//!
//! A body is `[<tracing id>][<warnings>][<custom payload>]<message>`: the tracing id (a
//! `[uuid]`) only in responses with the tracing flag, the warnings (`[string list]`) only in
//! responses with the warning flag, the custom payload (`[bytes map]`) with its flag.

mod error;
mod event;
mod request;
mod response;
mod result;

use bytes::{BufMut, Bytes, BytesMut};

pub use error::{ErrorKind, ErrorResponse, FailureInfo, WriteType};
pub use event::{ChangeType, Event, SchemaChange, SchemaTarget, StatusChange, TopologyChange};
pub use request::{
    AuthResponse, Batch, BatchKind, BatchQuery, BatchStatement, Execute, Prepare, Query,
    QueryParameters, Register, Startup, Values,
};
pub use response::{AuthChallenge, AuthSuccess, Authenticate, Supported};
pub use result::{
    ColumnSpec, Prepared, PreparedMetadata, ResultBody, Rows, RowsMetadata, TableSpec,
};

use super::frame::{Flags, Frame, HEADER_LEN, Header, Opcode};
use super::types::{Reader, WriteExt, bytes_map_len, string_list_len};
use super::{Direction, ProtocolError, ProtocolVersion};

type Result<T> = std::result::Result<T, ProtocolError>;

/// A custom payload (`[bytes map]`), in wire order.
pub type CustomPayload = Vec<(String, Option<Bytes>)>;

/// A request message.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Startup(Startup),
    AuthResponse(AuthResponse),
    Options,
    Query(Query),
    Prepare(Prepare),
    Execute(Execute),
    Batch(Batch),
    Register(Register),
}

impl Request {
    /// The frame opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Startup(_) => Opcode::Startup,
            Request::AuthResponse(_) => Opcode::AuthResponse,
            Request::Options => Opcode::Options,
            Request::Query(_) => Opcode::Query,
            Request::Prepare(_) => Opcode::Prepare,
            Request::Execute(_) => Opcode::Execute,
            Request::Batch(_) => Opcode::Batch,
            Request::Register(_) => Opcode::Register,
        }
    }

    /// Decodes a request body of `opcode`.
    pub fn decode(opcode: Opcode, body: Bytes, version: ProtocolVersion) -> Result<Request> {
        let mut r = Reader::new(body);
        Ok(match opcode {
            Opcode::Startup => Request::Startup(Startup::read(&mut r)?),
            Opcode::AuthResponse => Request::AuthResponse(AuthResponse::read(&mut r)?),
            Opcode::Options => Request::Options,
            Opcode::Query => Request::Query(Query::read(&mut r, version)?),
            Opcode::Prepare => Request::Prepare(Prepare::read(&mut r, version)?),
            Opcode::Execute => Request::Execute(Execute::read(&mut r, version)?),
            Opcode::Batch => Request::Batch(Batch::read(&mut r, version)?),
            Opcode::Register => Request::Register(Register::read(&mut r)?),
            other => {
                return Err(ProtocolError::OpcodeNotInDirection {
                    opcode: other as u8,
                    direction: Direction::Request,
                    stream: 0,
                });
            }
        })
    }

    /// Writes the message (without envelope fields).
    pub fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        match self {
            Request::Startup(m) => m.write(out),
            Request::AuthResponse(m) => m.write(out),
            Request::Options => Ok(()),
            Request::Query(m) => m.write(out, version),
            Request::Prepare(m) => m.write(out, version),
            Request::Execute(m) => m.write(out, version),
            Request::Batch(m) => m.write(out, version),
            Request::Register(m) => m.write(out),
        }
    }

    /// Bytes [`Request::write`] writes.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Request::Startup(m) => m.encoded_len(),
            Request::AuthResponse(m) => m.encoded_len(),
            Request::Options => 0,
            Request::Query(m) => m.encoded_len(version),
            Request::Prepare(m) => m.encoded_len(version),
            Request::Execute(m) => m.encoded_len(version),
            Request::Batch(m) => m.encoded_len(version),
            Request::Register(m) => m.encoded_len(),
        }
    }
}

/// A response message.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a response is built once per request and written out; boxing RESULT would cost an allocation each time"
)]
pub enum Response {
    Error(ErrorResponse),
    Ready,
    Authenticate(Authenticate),
    Supported(Supported),
    Result(ResultBody),
    Event(Event),
    AuthChallenge(AuthChallenge),
    AuthSuccess(AuthSuccess),
}

impl Response {
    /// The frame opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Response::Error(_) => Opcode::Error,
            Response::Ready => Opcode::Ready,
            Response::Authenticate(_) => Opcode::Authenticate,
            Response::Supported(_) => Opcode::Supported,
            Response::Result(_) => Opcode::Result,
            Response::Event(_) => Opcode::Event,
            Response::AuthChallenge(_) => Opcode::AuthChallenge,
            Response::AuthSuccess(_) => Opcode::AuthSuccess,
        }
    }

    /// Decodes a response body of `opcode`.
    pub fn decode(opcode: Opcode, body: Bytes, version: ProtocolVersion) -> Result<Response> {
        let mut r = Reader::new(body);
        Ok(match opcode {
            Opcode::Error => Response::Error(ErrorResponse::read(&mut r, version)?),
            Opcode::Ready => Response::Ready,
            Opcode::Authenticate => Response::Authenticate(Authenticate::read(&mut r)?),
            Opcode::Supported => Response::Supported(Supported::read(&mut r)?),
            Opcode::Result => Response::Result(ResultBody::read(&mut r, version)?),
            Opcode::Event => Response::Event(Event::read(&mut r)?),
            Opcode::AuthChallenge => Response::AuthChallenge(AuthChallenge::read(&mut r)?),
            Opcode::AuthSuccess => Response::AuthSuccess(AuthSuccess::read(&mut r)?),
            other => {
                return Err(ProtocolError::OpcodeNotInDirection {
                    opcode: other as u8,
                    direction: Direction::Response,
                    stream: 0,
                });
            }
        })
    }

    /// Writes the message (without envelope fields).
    pub fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        match self {
            Response::Error(m) => m.write(out, version),
            Response::Ready => Ok(()),
            Response::Authenticate(m) => m.write(out),
            Response::Supported(m) => m.write(out),
            Response::Result(m) => m.write(out, version),
            Response::Event(m) => m.write(out),
            Response::AuthChallenge(m) => m.write(out),
            Response::AuthSuccess(m) => m.write(out),
        }
    }

    /// Bytes [`Response::write`] writes.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Response::Error(m) => m.encoded_len(version),
            Response::Ready => 0,
            Response::Authenticate(m) => m.encoded_len(),
            Response::Supported(m) => m.encoded_len(),
            Response::Result(m) => m.encoded_len(version),
            Response::Event(m) => m.encoded_len(),
            Response::AuthChallenge(m) => m.encoded_len(),
            Response::AuthSuccess(m) => m.encoded_len(),
        }
    }
}

/// A request with its frame: version, stream, flags and envelope fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEnvelope {
    pub version: ProtocolVersion,
    pub stream: i16,
    /// The client asks for tracing (flag 0x02).
    pub tracing: bool,
    /// The client opts in to a beta version (flag 0x10).
    pub beta: bool,
    pub custom_payload: Option<CustomPayload>,
    pub request: Request,
}

impl RequestEnvelope {
    /// A request on `stream` without tracing or payload.
    pub fn new(version: ProtocolVersion, stream: i16, request: Request) -> RequestEnvelope {
        RequestEnvelope {
            version,
            stream,
            tracing: false,
            beta: false,
            custom_payload: None,
            request,
        }
    }

    /// Decodes a (decompressed) request frame. Errors carry no stream: take it from
    /// `frame.header.stream`.
    pub fn decode(frame: Frame) -> Result<RequestEnvelope> {
        let h = frame.header;
        if h.direction != Direction::Request {
            return Err(ProtocolError::WrongDirection {
                expected: Direction::Request,
                actual: h.direction,
                stream: h.stream,
            });
        }
        if h.opcode.direction() != Direction::Request {
            return Err(ProtocolError::OpcodeNotInDirection {
                opcode: h.opcode as u8,
                direction: Direction::Request,
                stream: h.stream,
            });
        }
        if h.flags.has(Flags::COMPRESSION) {
            return Err(ProtocolError::CompressionNotNegotiated { stream: h.stream });
        }
        let mut r = Reader::new(frame.body);
        let custom_payload = if h.flags.has(Flags::CUSTOM_PAYLOAD) {
            Some(r.bytes_map("custom payload")?)
        } else {
            None
        };
        let request = Request::decode(h.opcode, r.rest(), h.version)?;
        Ok(RequestEnvelope {
            version: h.version,
            stream: h.stream,
            tracing: h.flags.has(Flags::TRACING),
            beta: h.flags.has(Flags::USE_BETA),
            custom_payload,
            request,
        })
    }

    fn flags(&self) -> Flags {
        let mut f = 0;
        if self.tracing {
            f |= Flags::TRACING;
        }
        if self.beta {
            f |= Flags::USE_BETA;
        }
        if self.custom_payload.is_some() {
            f |= Flags::CUSTOM_PAYLOAD;
        }
        Flags(f)
    }

    /// Bytes of the whole frame (header included, uncompressed).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self.custom_payload.as_ref().map_or(0, |p| bytes_map_len(p))
            + self.request.encoded_len(self.version)
    }

    /// Writes the whole frame, uncompressed.
    pub fn write(&self, out: &mut BytesMut) -> Result<()> {
        let header = Header {
            version: self.version,
            direction: Direction::Request,
            flags: self.flags(),
            stream: self.stream,
            opcode: self.request.opcode(),
            length: 0,
        };
        write_framed(out, header, |out| {
            if let Some(p) = &self.custom_payload {
                out.put_bytes_map(p, "custom payload")?;
            }
            self.request.write(out, self.version)
        })
    }
}

/// A response with its frame: version, stream, flags and envelope fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEnvelope {
    pub version: ProtocolVersion,
    /// The request's stream, or -1 for a pushed EVENT.
    pub stream: i16,
    /// Present when the request asked for tracing.
    pub tracing_id: Option<[u8; 16]>,
    /// Server warnings (`None`: no warning flag).
    pub warnings: Option<Vec<String>>,
    pub custom_payload: Option<CustomPayload>,
    pub response: Response,
}

impl ResponseEnvelope {
    /// A response on `stream` without tracing, warnings or payload.
    pub fn new(version: ProtocolVersion, stream: i16, response: Response) -> ResponseEnvelope {
        ResponseEnvelope {
            version,
            stream,
            tracing_id: None,
            warnings: None,
            custom_payload: None,
            response,
        }
    }

    /// Decodes a (decompressed) response frame.
    pub fn decode(frame: Frame) -> Result<ResponseEnvelope> {
        let h = frame.header;
        if h.direction != Direction::Response {
            return Err(ProtocolError::WrongDirection {
                expected: Direction::Response,
                actual: h.direction,
                stream: h.stream,
            });
        }
        if h.opcode.direction() != Direction::Response {
            return Err(ProtocolError::OpcodeNotInDirection {
                opcode: h.opcode as u8,
                direction: Direction::Response,
                stream: h.stream,
            });
        }
        if h.flags.has(Flags::COMPRESSION) {
            return Err(ProtocolError::CompressionNotNegotiated { stream: h.stream });
        }
        let mut r = Reader::new(frame.body);
        let tracing_id = if h.flags.has(Flags::TRACING) {
            Some(r.uuid("tracing id")?)
        } else {
            None
        };
        let warnings = if h.flags.has(Flags::WARNING) {
            Some(r.string_list("warnings")?)
        } else {
            None
        };
        let custom_payload = if h.flags.has(Flags::CUSTOM_PAYLOAD) {
            Some(r.bytes_map("custom payload")?)
        } else {
            None
        };
        let response = Response::decode(h.opcode, r.rest(), h.version)?;
        Ok(ResponseEnvelope {
            version: h.version,
            stream: h.stream,
            tracing_id,
            warnings,
            custom_payload,
            response,
        })
    }

    fn flags(&self) -> Flags {
        let mut f = 0;
        if self.tracing_id.is_some() {
            f |= Flags::TRACING;
        }
        if self.warnings.is_some() {
            f |= Flags::WARNING;
        }
        if self.custom_payload.is_some() {
            f |= Flags::CUSTOM_PAYLOAD;
        }
        Flags(f)
    }

    /// Bytes of the whole frame (header included, uncompressed).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self.tracing_id.map_or(0, |_| 16)
            + self.warnings.as_ref().map_or(0, |w| string_list_len(w))
            + self.custom_payload.as_ref().map_or(0, |p| bytes_map_len(p))
            + self.response.encoded_len(self.version)
    }

    /// Writes the whole frame, uncompressed.
    pub fn write(&self, out: &mut BytesMut) -> Result<()> {
        let header = Header {
            version: self.version,
            direction: Direction::Response,
            flags: self.flags(),
            stream: self.stream,
            opcode: self.response.opcode(),
            length: 0,
        };
        write_framed(out, header, |out| {
            if let Some(id) = &self.tracing_id {
                out.put_slice(id);
            }
            if let Some(w) = &self.warnings {
                out.put_string_list(w, "warnings")?;
            }
            if let Some(p) = &self.custom_payload {
                out.put_bytes_map(p, "custom payload")?;
            }
            self.response.write(out, self.version)
        })
    }
}

/// Writes a header, then the body, then patches the header's length. On error `out` is left
/// as it was.
fn write_framed(
    out: &mut BytesMut,
    header: Header,
    body: impl FnOnce(&mut BytesMut) -> Result<()>,
) -> Result<()> {
    let start = out.len();
    header.write(out);
    if let Err(e) = body(out) {
        out.truncate(start);
        return Err(e);
    }
    let length = out.len() - start - HEADER_LEN;
    let Ok(length) = u32::try_from(length) else {
        out.truncate(start);
        return Err(ProtocolError::Unencodable {
            what: "frame",
            reason: "body over 4 GiB",
        });
    };
    if let Some(slot) = out.get_mut(start + 5..start + HEADER_LEN) {
        slot.copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

/// Flag words: a `[byte]` in v4 and an `[int]` in v5 for QUERY/EXECUTE/BATCH parameters.
pub(crate) fn read_flags(r: &mut Reader, version: ProtocolVersion) -> Result<u32> {
    match version {
        ProtocolVersion::V4 => r.u8("flags").map(u32::from),
        ProtocolVersion::V5 => r.u32("flags"),
    }
}

pub(crate) fn put_flags(out: &mut impl BufMut, version: ProtocolVersion, flags: u32) {
    match version {
        ProtocolVersion::V4 => out.put_u8(flags as u8),
        ProtocolVersion::V5 => out.put_u32(flags),
    }
}

pub(crate) fn flags_len(version: ProtocolVersion) -> usize {
    match version {
        ProtocolVersion::V4 => 1,
        ProtocolVersion::V5 => 4,
    }
}
