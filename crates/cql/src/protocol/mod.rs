//! The CQL native protocol, v4 and v5.

/// Why bytes could not be decoded as a frame, message or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {}
