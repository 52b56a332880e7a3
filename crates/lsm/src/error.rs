//! The engine's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine. Variants carry facts, not formatted strings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed on `path`.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checksum did not match: the bytes at `offset` in `file` are damaged.
    #[error(
        "checksum mismatch in {file} at offset {offset}: expected {expected:#x}, found {actual:#x}"
    )]
    ChecksumMismatch {
        file: PathBuf,
        offset: u64,
        expected: u64,
        actual: u64,
    },
    /// A file is structurally invalid (bad magic, unknown version, impossible length, ...).
    #[error("corrupt file {file} at offset {offset}: {reason}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// A file was written by a newer format version than this build reads.
    #[error("{file} has format version {found}; this build reads up to {supported}")]
    UnsupportedVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },
    /// An earlier fsync or write failed; the engine refuses further writes (the sticky error).
    #[error("the engine stopped accepting writes after an earlier failure: {reason}")]
    WritesStopped { reason: String },
    /// An option is out of range.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    /// A file offered to [`crate::Tree::ingest`] is a sound table but cannot be taken: a key
    /// outside the expected range, a deletion where merge operands were asked for, ...
    #[error("cannot ingest {file}: {reason}")]
    IngestRefused { file: PathBuf, reason: &'static str },
    /// No tree has this name.
    #[error("no tree named `{0}`")]
    UnknownTree(String),
    /// The tree was dropped ([`crate::Db::drop_tree`]); handles to it no longer work.
    #[error("tree `{0}` was dropped")]
    TreeDropped(String),
    /// The database directory is locked by another process.
    #[error("database {0} is in use by another process")]
    Locked(PathBuf),
    /// The engine has been closed.
    #[error("the engine is closed")]
    Closed,
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
