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
    /// `Unauthorized` (0x2100): the logged-in role lacks a permission the statement needs.
    #[error("{message}")]
    Unauthorized { message: String },
    /// `Bad_credentials` (0x0100): a login was refused.
    #[error("{message}")]
    BadCredentials { message: String },
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
    /// `Read_failure` (0x1300): replicas tried the read and failed (too many tombstones, a
    /// damaged file...), so the level could not be met. `failures` names each failed replica
    /// with its reason.
    #[error("Operation failed - received {received} responses and {} failures: {}", failures.len(), describe(failures))]
    ReadFailure {
        consistency: ilion_cql::protocol::Consistency,
        received: i32,
        block_for: i32,
        failures: Vec<(std::net::IpAddr, FailureReason)>,
        data_present: bool,
    },
    /// `Write_failure` (0x1500): replicas tried the write and failed (a stopped or failing
    /// commit log...), so the level could not be met.
    #[error("Operation failed - received {received} responses and {} failures: {}", failures.len(), describe(failures))]
    WriteFailure {
        consistency: ilion_cql::protocol::Consistency,
        received: i32,
        block_for: i32,
        failures: Vec<(std::net::IpAddr, FailureReason)>,
        write_type: ilion_cql::protocol::WriteType,
    },
    /// `Overloaded` (0x1001): the node refuses work it has no room for; drivers retry on
    /// another node.
    #[error("{message}")]
    Overloaded { message: String },
    /// `Write_timeout` (0x1100) of write type CAS: a lightweight transaction ran out of time
    /// (too few Paxos answers, or contention) with its outcome unknown. `contentions`: the
    /// rounds it lost to other proposers (v5 clients receive it).
    #[error(
        "CAS operation timed out: received {received} of {block_for} required responses after {contentions} contention retries"
    )]
    CasWriteTimeout {
        consistency: ilion_cql::protocol::Consistency,
        received: i32,
        block_for: i32,
        contentions: u16,
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
    /// `Function_failure` (0x1400): a function or an operator failed on its arguments
    /// (an integer divided by zero, ...). `function` is its name in `keyspace`.
    #[error("{message}")]
    FunctionFailure {
        keyspace: String,
        function: String,
        arg_types: Vec<String>,
        message: String,
    },
}

/// Why a replica failed a request: the native protocol's failure codes (the v5 reason map),
/// as Cassandra's `RequestFailureReason` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// 0x0000: any other failure (I/O, corruption, a write refused after a failed fsync).
    Unknown,
    /// 0x0001: the read scanned more tombstones than `tombstone_failure_threshold`.
    ReadTooManyTombstones,
    /// 0x0005: the replica does not know the table.
    TableNotFound,
    /// 0x0006: the replica does not know the keyspace.
    KeyspaceNotFound,
}

impl FailureReason {
    /// The failure code on the wire.
    pub fn code(self) -> u16 {
        match self {
            FailureReason::Unknown => 0x0000,
            FailureReason::ReadTooManyTombstones => 0x0001,
            FailureReason::TableNotFound => 0x0005,
            FailureReason::KeyspaceNotFound => 0x0006,
        }
    }

    /// The reason of a failure code; codes this build does not produce are `Unknown`.
    pub fn from_code(code: u32) -> FailureReason {
        match code {
            0x0001 => FailureReason::ReadTooManyTombstones,
            0x0005 => FailureReason::TableNotFound,
            0x0006 => FailureReason::KeyspaceNotFound,
            _ => FailureReason::Unknown,
        }
    }

    /// Cassandra's name of the reason, as its error messages print it.
    pub fn name(self) -> &'static str {
        match self {
            FailureReason::Unknown => "UNKNOWN",
            FailureReason::ReadTooManyTombstones => "READ_TOO_MANY_TOMBSTONES",
            FailureReason::TableNotFound => "TABLE_NOT_FOUND",
            FailureReason::KeyspaceNotFound => "KEYSPACE_NOT_FOUND",
        }
    }

    /// The reason a replica reports for a storage error on its read or write path.
    pub fn of_storage(e: &ilion_storage::Error) -> FailureReason {
        match e {
            ilion_storage::Error::TombstoneOverwhelming { .. } => {
                FailureReason::ReadTooManyTombstones
            }
            ilion_storage::Error::UnknownTable(_) => FailureReason::TableNotFound,
            _ => FailureReason::Unknown,
        }
    }
}

/// `READ_TOO_MANY_TOMBSTONES from /127.0.0.1, ...`, as Cassandra words failures.
fn describe(failures: &[(std::net::IpAddr, FailureReason)]) -> String {
    failures
        .iter()
        .map(|(ip, r)| format!("{} from /{ip}", r.name()))
        .collect::<Vec<_>>()
        .join(", ")
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

    pub(crate) fn unauthorized(message: impl Into<String>) -> Error {
        Error::Unauthorized {
            message: message.into(),
        }
    }

    pub(crate) fn bad_credentials(message: impl Into<String>) -> Error {
        Error::BadCredentials {
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
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::BadCredentials { .. } => ErrorKind::BadCredentials,
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
            Error::CasWriteTimeout {
                consistency,
                received,
                block_for,
                contentions,
            } => ErrorKind::WriteTimeout {
                consistency: *consistency,
                received: *received,
                block_for: *block_for,
                write_type: ilion_cql::protocol::WriteType::Cas,
                contentions: Some(*contentions),
            },
            Error::ReadFailure {
                consistency,
                received,
                block_for,
                failures,
                data_present,
            } => ErrorKind::ReadFailure {
                consistency: *consistency,
                received: *received,
                block_for: *block_for,
                failures: failure_info(failures),
                data_present: *data_present,
            },
            Error::WriteFailure {
                consistency,
                received,
                block_for,
                failures,
                write_type,
            } => ErrorKind::WriteFailure {
                consistency: *consistency,
                received: *received,
                block_for: *block_for,
                failures: failure_info(failures),
                write_type: *write_type,
            },
            Error::Overloaded { .. } => ErrorKind::Overloaded,
            Error::FunctionFailure {
                keyspace,
                function,
                arg_types,
                ..
            } => ErrorKind::FunctionFailure {
                keyspace: keyspace.clone(),
                function: function.clone(),
                arg_types: arg_types.clone(),
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

/// The reason map (v5; a v4 client gets its size).
fn failure_info(
    failures: &[(std::net::IpAddr, FailureReason)],
) -> ilion_cql::protocol::FailureInfo {
    ilion_cql::protocol::FailureInfo::Reasons(
        failures.iter().map(|(ip, r)| (*ip, r.code())).collect(),
    )
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Shorthand for the coordinator's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
