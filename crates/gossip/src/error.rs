//! The crate's one error type.

/// Everything that can go wrong in gossip: malformed or oversize messages, bad configuration,
/// and transport failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message ended before a field could be read.
    #[error("message truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Offset of the field that could not be read.
        offset: usize,
        /// How many more bytes the field needed.
        needed: usize,
    },
    /// The message is larger than the configured limit.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// Size of the message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The first byte is not a codec version this build understands.
    #[error("unsupported gossip codec version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// A field holds a value that cannot be valid.
    #[error("malformed {field} at offset {offset}")]
    Malformed {
        /// Which field.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
    },
    /// Bytes were left after the message ended.
    #[error("{extra} trailing bytes after the message")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid gossip configuration: {field} {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The transport is closed (the network or the peer's inbox went away).
    #[error("transport closed")]
    TransportClosed,
    /// The destination is not registered with the transport.
    #[error("no such endpoint {endpoint}")]
    UnknownEndpoint {
        /// The address that was not found.
        endpoint: std::net::SocketAddr,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
