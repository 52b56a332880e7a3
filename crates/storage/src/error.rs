//! The crate's one error type.

/// What can go wrong in the table store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The table description is not valid.
    #[error("invalid schema for table {table}: {reason}")]
    InvalidSchema { table: String, reason: &'static str },
    /// A value does not have the serialized form of its CQL type.
    #[error("invalid {ty} value of {len} bytes: {reason}")]
    InvalidValue {
        ty: String,
        len: usize,
        reason: &'static str,
    },
    /// The type cannot be part of a primary key or a collection element key.
    #[error("type {ty} cannot be used as a key")]
    NotOrderable { ty: String },
    /// A clustering key or bound has the wrong number of components.
    #[error("clustering has {got} components, table {table} expects {expected}")]
    ClusteringArity {
        table: String,
        expected: usize,
        got: usize,
    },
    /// A mutation names a column the table does not have, or uses it wrongly.
    #[error("column {column} of table {table}: {reason}")]
    InvalidColumn {
        table: String,
        column: u16,
        reason: &'static str,
    },
    /// Bytes read back from the engine do not decode: the store's own format is damaged.
    #[error("corrupt entry in table {table}: {reason}")]
    Corruption { table: String, reason: &'static str },
    /// A paging position could not be decoded.
    #[error("malformed paging position: {reason}")]
    InvalidPagingPosition { reason: &'static str },
    /// The read scanned more tombstones than the failure threshold allows; the coordinator
    /// answers ReadFailure (Cassandra's TombstoneOverwhelmingException).
    #[error("read of table {table} scanned {scanned} tombstones (failure threshold {threshold})")]
    TombstoneOverwhelming {
        table: String,
        scanned: u64,
        threshold: u64,
    },
    /// The table does not exist in this store.
    #[error("unknown table {0}")]
    UnknownTable(String),
    /// The table already exists with another description.
    #[error("table {0} already exists")]
    TableExists(String),
    /// [`crate::Store::close`] was called while table handles were still alive.
    #[error("table handles are still in use")]
    TablesInUse,
    /// The store's catalogue file could not be read or written.
    #[error("catalogue {file}: {reason}")]
    Catalog { file: String, reason: String },
    /// A table option (a CQL option map) is not valid or not supported.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    /// The operation needs files, and an in-memory store has none.
    #[error("{operation} needs an on-disk store")]
    InMemory { operation: &'static str },
    /// The key-value engine failed (I/O, corruption, writes stopped after a failed fsync).
    #[error("engine: {0}")]
    Engine(#[from] ilion_lsm::Error),
    /// A table handle was used with a store that does not hold it.
    #[error("table {table} is not stored in this store's engine")]
    ForeignTable { table: String },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value the types crate could not order or encode as a key: the value's error kind kept
/// as storage's ([`Error::NotOrderable`] or [`Error::InvalidValue`]).
impl From<ilion_types::Error> for Error {
    fn from(e: ilion_types::Error) -> Error {
        match e {
            ilion_types::Error::NotOrderable { ty } => Error::NotOrderable { ty },
            ilion_types::Error::Malformed { ty, len, reason } => {
                Error::InvalidValue { ty, len, reason }
            }
            other => Error::InvalidValue {
                ty: String::new(),
                len: 0,
                reason: match other {
                    ilion_types::Error::MalformedKey(r) => r,
                    _ => "not a value of its type",
                },
            },
        }
    }
}
