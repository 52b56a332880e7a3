//! Decoded CQL values.

use std::net::IpAddr;

use bytes::Bytes;

use crate::vint::{unsigned_vint_len, zigzag};

/// A `duration`: months, days and nanoseconds, all of the same sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub months: i32,
    pub days: i32,
    pub nanoseconds: i64,
}

impl Duration {
    /// Whether months, days and nanoseconds share one sign (zero goes with both), as the
    /// format requires.
    pub fn has_one_sign(&self) -> bool {
        let nonneg = self.months >= 0 && self.days >= 0 && self.nanoseconds >= 0;
        let nonpos = self.months <= 0 && self.days <= 0 && self.nanoseconds <= 0;
        nonneg || nonpos
    }
}

/// A decoded CQL value. Which variant a type decodes to is fixed: `text` to `Text`, `counter`
/// to `Counter`, a `vector` to `List`, and so on, so that
/// `ty.decode(ty.encode(v)) == v`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A zero-length value of a type that is not string- or blob-like.
    Empty,
    Ascii(String),
    Bigint(i64),
    Blob(Bytes),
    Boolean(bool),
    Counter(i64),
    /// `unscaled * 10^-scale`; `unscaled` is a varint (two's complement BE).
    Decimal {
        scale: i32,
        unscaled: Bytes,
    },
    Double(f64),
    Float(f32),
    Int(i32),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
    Text(String),
    /// Two's complement big-endian bytes.
    Varint(Bytes),
    Timeuuid([u8; 16]),
    Inet(IpAddr),
    /// Days with 2^31 at the Unix epoch.
    Date(u32),
    /// Nanoseconds since midnight.
    Time(i64),
    Smallint(i16),
    Tinyint(i8),
    Duration(Duration),
    /// A list's elements, or a vector's.
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// Components in order; `None` is a null component.
    Tuple(Vec<Option<Value>>),
    /// The first fields of the UDT in declaration order; `None` is a null field.
    Udt(Vec<(String, Option<Value>)>),
    /// The bytes of a custom type's value.
    Custom(Bytes),
}

impl Value {
    /// A short name of the variant for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Empty => "empty",
            Value::Ascii(_) => "ascii",
            Value::Bigint(_) => "bigint",
            Value::Blob(_) => "blob",
            Value::Boolean(_) => "boolean",
            Value::Counter(_) => "counter",
            Value::Decimal { .. } => "decimal",
            Value::Double(_) => "double",
            Value::Float(_) => "float",
            Value::Int(_) => "int",
            Value::Timestamp(_) => "timestamp",
            Value::Uuid(_) => "uuid",
            Value::Text(_) => "text",
            Value::Varint(_) => "varint",
            Value::Timeuuid(_) => "timeuuid",
            Value::Inet(_) => "inet",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Smallint(_) => "smallint",
            Value::Tinyint(_) => "tinyint",
            Value::Duration(_) => "duration",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Tuple(_) => "tuple",
            Value::Udt(_) => "udt",
            Value::Custom(_) => "custom",
        }
    }

    /// Serialized length of a list, set, map, tuple or UDT or any native value (the content
    /// of its `[bytes]`, without the 4-byte length). A vector's length depends on its element
    /// type: use [`crate::CqlType::encode`].
    pub fn encoded_len(&self) -> usize {
        let elem = |v: &Value| 4 + v.encoded_len();
        let opt = |v: &Option<Value>| 4 + v.as_ref().map_or(0, Value::encoded_len);
        match self {
            Value::Empty => 0,
            Value::Ascii(s) | Value::Text(s) => s.len(),
            Value::Bigint(_)
            | Value::Counter(_)
            | Value::Timestamp(_)
            | Value::Time(_)
            | Value::Double(_) => 8,
            Value::Blob(b) | Value::Custom(b) | Value::Varint(b) => b.len(),
            Value::Boolean(_) | Value::Tinyint(_) => 1,
            Value::Decimal { unscaled, .. } => 4 + unscaled.len(),
            Value::Float(_) | Value::Int(_) | Value::Date(_) => 4,
            Value::Uuid(_) | Value::Timeuuid(_) => 16,
            Value::Inet(IpAddr::V4(_)) => 4,
            Value::Inet(IpAddr::V6(_)) => 16,
            Value::Smallint(_) => 2,
            Value::Duration(d) => {
                unsigned_vint_len(zigzag(i64::from(d.months)))
                    + unsigned_vint_len(zigzag(i64::from(d.days)))
                    + unsigned_vint_len(zigzag(d.nanoseconds))
            }
            Value::List(v) | Value::Set(v) => 4 + v.iter().map(elem).sum::<usize>(),
            Value::Map(m) => 4 + m.iter().map(|(k, v)| elem(k) + elem(v)).sum::<usize>(),
            Value::Tuple(v) => v.iter().map(opt).sum(),
            Value::Udt(f) => f.iter().map(|(_, v)| opt(v)).sum(),
        }
    }
}
