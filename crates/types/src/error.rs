//! The crate's one error type.

/// Why a value could not be decoded, encoded or ordered. Every variant carries facts, not
/// formatted text; callers map them onto their own errors by variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value (or a part of one) ended before a field did.
    #[error("truncated {what}: needed {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// A length or count that is negative where the format forbids it.
    #[error("invalid length {length} for {what}")]
    InvalidLength { what: &'static str, length: i64 },
    /// Text that is not valid UTF-8 (or not ASCII for the `ascii` type).
    #[error("{what} is not valid {encoding}")]
    InvalidText {
        what: &'static str,
        encoding: &'static str,
    },
    /// An `inet` value whose size is neither 4 nor 16.
    #[error("inet address of {0} bytes (expected 4 or 16)")]
    InvalidInetLength(usize),
    /// A variable-length integer that is longer than 9 bytes or overflows its type.
    #[error("invalid vint in {what}")]
    InvalidVint { what: &'static str },
    /// A value whose byte length does not fit its type.
    #[error("{type_name} value of {actual} bytes (expected {expected})")]
    ValueLength {
        type_name: &'static str,
        expected: &'static str,
        actual: usize,
    },
    /// A value whose content is out of its type's range (a `time` past midnight, a `duration`
    /// with mixed signs, a `timeuuid` that is not version 1).
    #[error("invalid {type_name} value: {reason}")]
    InvalidValue {
        type_name: &'static str,
        reason: &'static str,
    },
    /// A value does not match the type it is encoded as.
    #[error("a {value} value cannot be encoded as {column_type}")]
    TypeMismatch {
        column_type: String,
        value: &'static str,
    },
    /// A null element inside a list, set or map (tuples and UDTs may hold nulls).
    #[error("null or unset element inside a {0}")]
    NullInCollection(&'static str),
    /// Bytes left over inside a value after its last element.
    #[error("{count} trailing bytes after a {type_name} value")]
    TrailingBytes {
        type_name: &'static str,
        count: usize,
    },
    /// A value that cannot be encoded as given (a tuple of the wrong arity).
    #[error("cannot encode {what}: {reason}")]
    Unencodable {
        what: &'static str,
        reason: &'static str,
    },
    /// A serialized value that does not have the form of its type (where a value is
    /// compared or turned into an order key).
    #[error("invalid {ty} value of {len} bytes: {reason}")]
    Malformed {
        ty: String,
        len: usize,
        reason: &'static str,
    },
    /// A type whose values have no order (counter, duration) where an order is needed.
    #[error("values of type {ty} have no order")]
    NotOrderable { ty: String },
    /// A type this crate has no codec for (a custom class inside an order key, a UDT whose
    /// fields were never resolved).
    #[error("type {ty} is not supported here: {reason}")]
    Unsupported { ty: String, reason: &'static str },
    /// Bytes of an order-preserving key that no value encodes to.
    #[error("malformed order key: {0}")]
    MalformedKey(&'static str),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
