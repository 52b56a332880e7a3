//! The coordinator's error: one variant per CQL error code it can produce, so that the server
//! maps it to an ERROR message in one exhaustive `match`.

/// Why a statement failed. Each variant is one native protocol error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Syntax_error` (0x2000): the text does not parse.
    #[error("{message}")]
    Syntax { message: String },
    /// `Invalid` (0x2200): a well-formed statement that cannot run (unknown keyspace, table or
    /// column, a value of the wrong type, a feature not built yet).
    #[error("{message}")]
    Invalid { message: String },
    /// `Config_error` (0x2300): bad replication or table options.
    #[error("{message}")]
    Config { message: String },
    /// `Already_exists` (0x2400): CREATE of an existing keyspace or table without IF NOT
    /// EXISTS. `table` is empty for a keyspace.
    #[error("{message}")]
    AlreadyExists {
        keyspace: String,
        table: String,
        message: String,
    },
    /// `Unprepared` (0x2500): EXECUTE of an id this node does not know; drivers re-prepare.
    #[error("prepared statement {} is unknown to this node", hex(id))]
    Unprepared { id: Vec<u8> },
    /// `Server_error` (0x0000): a failure inside the node (I/O on the schema file, ...).
    #[error("{message}")]
    Server { message: String },
    /// `Truncate_error` (0x1003): a node did not confirm a TRUNCATE in time, or failed it.
    #[error("{message}")]
    Truncate { message: String },
    /// `Unavailable` (0x1000): fewer live replicas than the consistency level needs; nothing
    /// was tried.
    #[error(
        "Cannot achieve consistency level {consistency:?}: {required} replicas required, {alive} alive"
    )]
    Unavailable {
        consistency: ilion_cql::protocol::Consistency,
        required: i32,
        alive: i32,
    },
    /// `Write_timeout` (0x1100): too few replicas acknowledged the write in time.
    #[error(
        "Operation timed out - received only {received} responses (write at {consistency:?}, {block_for} required)"
    )]
    WriteTimeout {
        consistency: ilion_cql::protocol::Consistency,
        received: i32,
        block_for: i32,
        write_type: ilion_cql::protocol::WriteType,
    },
    /// `Read_timeout` (0x1200): too few replicas answered the read in time. `data_present`:
    /// the replica asked for data answered.
    #[error(
        "Operation timed out - received only {received} responses (read at {consistency:?}, {block_for} required)"
    )]
    ReadTimeout {
        consistency: ilion_cql::protocol::Consistency,
        received: i32,
        block_for: i32,
        data_present: bool,
    },
}

impl Error {
    pub(crate) fn truncate(message: impl Into<String>) -> Error {
        Error::Truncate {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid {
            message: message.into(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
        }
    }

    pub(crate) fn server(message: impl Into<String>) -> Error {
        Error::Server {
            message: message.into(),
        }
    }

    /// The answer to a statement kind that parses but is not built yet.
    pub(crate) fn not_supported(what: &str) -> Error {
        Error::invalid(format!("{what} is not supported by this Ilion build yet"))
    }
}

impl Error {
    /// The ERROR message this error is answered with: the one place that maps coordinator
    /// errors to protocol error codes.
    pub fn to_response(&self) -> ilion_cql::protocol::ErrorResponse {
        use ilion_cql::protocol::{ErrorKind, ErrorResponse};
        let kind = match self {
            Error::Syntax { .. } => ErrorKind::SyntaxError,
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::Config { .. } => ErrorKind::ConfigError,
            Error::AlreadyExists {
                keyspace, table, ..
            } => ErrorKind::AlreadyExists {
                keyspace: keyspace.clone(),
                table: table.clone(),
            },
            Error::Unprepared { id } => ErrorKind::Unprepared {
                id: bytes::Bytes::copy_from_slice(id),
            },
            Error::Server { .. } => ErrorKind::ServerError,
            Error::Truncate { .. } => ErrorKind::TruncateError,
            Error::Unavailable {
                consistency,
                required,
                alive,
            } => ErrorKind::Unavailable {
                consistency: *consistency,
                required: *required,
                alive: *alive,
            },
            Error::WriteTimeout {
                consistency,
                received,
                block_for,
                write_type,
            } => ErrorKind::WriteTimeout {
                consistency: *consistency,
                received: *received,
                block_for: *block_for,
                write_type: *write_type,
                contentions: None,
            },
            Error::ReadTimeout {
                consistency,
                received,
                block_for,
                data_present,
            } => ErrorKind::ReadTimeout {
                consistency: *consistency,
                received: *received,
                block_for: *block_for,
                data_present: *data_present,
            },
        };
        ErrorResponse {
            message: self.to_string(),
            kind,
        }
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Shorthand for the coordinator's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
