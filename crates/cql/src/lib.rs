//! `ilion-cql`: the CQL native protocol (v4, v5) and the CQL language.
//!
//! - [`protocol`]: frames and v5 envelopes, compression, every message body, values of every
//!   CQL type; an incremental decoder that tells "need more bytes" from "malformed".
//! - [`language`]: lexer and parser from CQL text to a typed AST.
//!
//! It knows nothing of schemas or storage.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod language;
pub mod protocol;

pub use language::{ParsedStatement, Statement, SyntaxError, parse_statement, parse_statements};
pub use protocol::{
    Decoded, Frame, FrameDecoder, ProtocolError, ProtocolVersion, RequestEnvelope,
    ResponseEnvelope, SegmentCodec, V5FrameDecoder,
};

/// Any failure of this crate: a protocol decode error or a CQL syntax error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Protocol(#[from] protocol::ProtocolError),
    #[error(transparent)]
    Syntax(#[from] language::SyntaxError),
}
