//! CQL types and values.
//!
//! [`ColumnType`] is the `[option]` type descriptor of column metadata: a `[short]` id, then
//! for custom types a `[string]` class name, for list/set an element type, for map two types,
//! for a UDT `<keyspace><name><n>(<field name><field type>)*` and for a tuple `<n><type>*`.
//!
//! [`Value`] is a decoded value. The serialized forms (section 6 of the spec):
//!
//! | type | bytes |
//! |---|---|
//! | ascii, text/varchar | the string's bytes (ascii must be 7-bit) |
//! | bigint, counter, timestamp, time | 8-byte signed BE (timestamp: ms since epoch; time: ns since midnight, 0..86399999999999) |
//! | int / smallint / tinyint | 4 / 2 / 1 byte signed BE |
//! | boolean | one byte, 0 is false |
//! | blob, custom | the bytes |
//! | date | u32 BE days with 2^31 at 1970-01-01 |
//! | decimal | `[int]` scale, then a varint unscaled value |
//! | varint | two's complement BE, as few bytes as possible |
//! | double / float | IEEE 754 BE, 8 / 4 bytes |
//! | duration | three signed vints: months, days, nanoseconds (all the same sign) |
//! | inet | 4 or 16 address bytes |
//! | uuid, timeuuid | 16 bytes |
//! | list, set | `[int]` n, then n `[bytes]` elements |
//! | map | `[int]` n, then n pairs of `[bytes]` key and value |
//! | tuple | one `[bytes]` per component (null allowed) |
//! | UDT | one `[bytes]` per field, in declaration order; trailing fields may be absent |
//!
//! A zero-length value of a fixed-width type (Cassandra accepts it, e.g. `blobAsInt(0x)`) is
//! [`Value::Empty`]. Null (length -1) and unset (-2) live one level up, in
//! [`RawValue`](super::types::RawValue) and in the `Option`s of tuple and UDT fields.

use std::fmt;
use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use super::ProtocolError;
use super::types::{
    Reader, WriteExt, ip_from_slice, len_i32, put_unsigned_vint, read_unsigned_vint, string_len,
    unsigned_vint_len, unzigzag, utf8, zigzag,
};

type Result<T> = std::result::Result<T, ProtocolError>;

/// How deep type descriptors may nest (`list<map<int, frozen<tuple<...>>>>`); deeper is refused
/// so that hostile input cannot exhaust the stack.
pub const MAX_TYPE_DEPTH: usize = 32;

/// A user-defined type: keyspace, name and fields in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdtType {
    pub keyspace: String,
    pub name: String,
    pub fields: Vec<(String, ColumnType)>,
}

/// A CQL type as column metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// A type known by its Java class name (0x0000).
    Custom(String),
    Ascii,
    Bigint,
    Blob,
    Boolean,
    Counter,
    Decimal,
    Double,
    Float,
    Int,
    Timestamp,
    Uuid,
    /// `text` and `varchar`.
    Varchar,
    Varint,
    Timeuuid,
    Inet,
    Date,
    Time,
    Smallint,
    Tinyint,
    Duration,
    List(Box<ColumnType>),
    Map(Box<ColumnType>, Box<ColumnType>),
    Set(Box<ColumnType>),
    Udt(UdtType),
    Tuple(Vec<ColumnType>),
}

impl ColumnType {
    /// The `[option]` id.
    pub fn id(&self) -> u16 {
        match self {
            ColumnType::Custom(_) => 0x0000,
            ColumnType::Ascii => 0x0001,
            ColumnType::Bigint => 0x0002,
            ColumnType::Blob => 0x0003,
            ColumnType::Boolean => 0x0004,
            ColumnType::Counter => 0x0005,
            ColumnType::Decimal => 0x0006,
            ColumnType::Double => 0x0007,
            ColumnType::Float => 0x0008,
            ColumnType::Int => 0x0009,
            ColumnType::Timestamp => 0x000B,
            ColumnType::Uuid => 0x000C,
            ColumnType::Varchar => 0x000D,
            ColumnType::Varint => 0x000E,
            ColumnType::Timeuuid => 0x000F,
            ColumnType::Inet => 0x0010,
            ColumnType::Date => 0x0011,
            ColumnType::Time => 0x0012,
            ColumnType::Smallint => 0x0013,
            ColumnType::Tinyint => 0x0014,
            ColumnType::Duration => 0x0015,
            ColumnType::List(_) => 0x0020,
            ColumnType::Map(..) => 0x0021,
            ColumnType::Set(_) => 0x0022,
            ColumnType::Udt(_) => 0x0030,
            ColumnType::Tuple(_) => 0x0031,
        }
    }

    /// Decodes an `[option]` type descriptor from the front of `raw`, returning the type and the
    /// bytes it used.
    pub fn decode_option(raw: &[u8]) -> Result<(ColumnType, usize)> {
        let mut r = Reader::new(Bytes::copy_from_slice(raw));
        let ty = ColumnType::read(&mut r, 0)?;
        Ok((ty, raw.len() - r.remaining()))
    }

    pub(crate) fn read(r: &mut Reader, depth: usize) -> Result<ColumnType> {
        if depth >= MAX_TYPE_DEPTH {
            return Err(ProtocolError::TypeTooDeep {
                max: MAX_TYPE_DEPTH,
            });
        }
        let id = r.u16("type id")?;
        let inner = |r: &mut Reader| ColumnType::read(r, depth + 1).map(Box::new);
        Ok(match id {
            0x0000 => ColumnType::Custom(r.string("custom type class")?),
            0x0001 => ColumnType::Ascii,
            0x0002 => ColumnType::Bigint,
            0x0003 => ColumnType::Blob,
            0x0004 => ColumnType::Boolean,
            0x0005 => ColumnType::Counter,
            0x0006 => ColumnType::Decimal,
            0x0007 => ColumnType::Double,
            0x0008 => ColumnType::Float,
            0x0009 => ColumnType::Int,
            0x000B => ColumnType::Timestamp,
            0x000C => ColumnType::Uuid,
            0x000D => ColumnType::Varchar,
            0x000E => ColumnType::Varint,
            0x000F => ColumnType::Timeuuid,
            0x0010 => ColumnType::Inet,
            0x0011 => ColumnType::Date,
            0x0012 => ColumnType::Time,
            0x0013 => ColumnType::Smallint,
            0x0014 => ColumnType::Tinyint,
            0x0015 => ColumnType::Duration,
            0x0020 => ColumnType::List(inner(r)?),
            0x0021 => {
                let k = inner(r)?;
                ColumnType::Map(k, inner(r)?)
            }
            0x0022 => ColumnType::Set(inner(r)?),
            0x0030 => {
                let keyspace = r.string("udt keyspace")?;
                let name = r.string("udt name")?;
                let n = usize::from(r.u16("udt field count")?);
                let mut fields = Vec::with_capacity(n.min(r.remaining() / 4));
                for _ in 0..n {
                    let field = r.string("udt field name")?;
                    fields.push((field, ColumnType::read(r, depth + 1)?));
                }
                ColumnType::Udt(UdtType {
                    keyspace,
                    name,
                    fields,
                })
            }
            0x0031 => {
                let n = usize::from(r.u16("tuple arity")?);
                let mut types = Vec::with_capacity(n.min(r.remaining() / 2));
                for _ in 0..n {
                    types.push(ColumnType::read(r, depth + 1)?);
                }
                ColumnType::Tuple(types)
            }
            other => return Err(ProtocolError::UnknownTypeId(other)),
        })
    }

    /// Writes the `[option]` type descriptor.
    pub fn write_option(&self, out: &mut impl BufMut) -> Result<()> {
        out.put_u16(self.id());
        match self {
            ColumnType::Custom(class) => out.put_string(class, "custom type class")?,
            ColumnType::List(e) | ColumnType::Set(e) => e.write_option(out)?,
            ColumnType::Map(k, v) => {
                k.write_option(out)?;
                v.write_option(out)?;
            }
            ColumnType::Udt(u) => {
                out.put_string(&u.keyspace, "udt keyspace")?;
                out.put_string(&u.name, "udt name")?;
                out.put_u16(count_u16(u.fields.len(), "udt fields")?);
                for (name, ty) in &u.fields {
                    out.put_string(name, "udt field name")?;
                    ty.write_option(out)?;
                }
            }
            ColumnType::Tuple(types) => {
                out.put_u16(count_u16(types.len(), "tuple components")?);
                for ty in types {
                    ty.write_option(out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Bytes of the `[option]` type descriptor.
    pub fn option_len(&self) -> usize {
        2 + match self {
            ColumnType::Custom(class) => string_len(class),
            ColumnType::List(e) | ColumnType::Set(e) => e.option_len(),
            ColumnType::Map(k, v) => k.option_len() + v.option_len(),
            ColumnType::Udt(u) => {
                string_len(&u.keyspace)
                    + string_len(&u.name)
                    + 2
                    + u.fields
                        .iter()
                        .map(|(n, t)| string_len(n) + t.option_len())
                        .sum::<usize>()
            }
            ColumnType::Tuple(types) => 2 + types.iter().map(ColumnType::option_len).sum::<usize>(),
            _ => 0,
        }
    }

    /// Decodes a serialized value (the content of a non-null `[bytes]`) of this type.
    pub fn decode(&self, raw: &Bytes) -> Result<Value> {
        decode_value(self, raw)
    }

    /// Encodes `value` as this type (the content of a `[bytes]`, without the length),
    /// checking that it fits the type.
    pub fn encode(&self, value: &Value, out: &mut BytesMut) -> Result<()> {
        encode_value(self, value, out)
    }
}

fn count_u16(n: usize, what: &'static str) -> Result<u16> {
    u16::try_from(n).map_err(|_| ProtocolError::InvalidLength {
        what,
        length: n as i64,
    })
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let simple = match self {
            ColumnType::Custom(class) => return write!(f, "'{class}'"),
            ColumnType::Ascii => "ascii",
            ColumnType::Bigint => "bigint",
            ColumnType::Blob => "blob",
            ColumnType::Boolean => "boolean",
            ColumnType::Counter => "counter",
            ColumnType::Decimal => "decimal",
            ColumnType::Double => "double",
            ColumnType::Float => "float",
            ColumnType::Int => "int",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Uuid => "uuid",
            ColumnType::Varchar => "text",
            ColumnType::Varint => "varint",
            ColumnType::Timeuuid => "timeuuid",
            ColumnType::Inet => "inet",
            ColumnType::Date => "date",
            ColumnType::Time => "time",
            ColumnType::Smallint => "smallint",
            ColumnType::Tinyint => "tinyint",
            ColumnType::Duration => "duration",
            ColumnType::List(e) => return write!(f, "list<{e}>"),
            ColumnType::Set(e) => return write!(f, "set<{e}>"),
            ColumnType::Map(k, v) => return write!(f, "map<{k}, {v}>"),
            ColumnType::Udt(u) => return write!(f, "{}.{}", u.keyspace, u.name),
            ColumnType::Tuple(types) => {
                write!(f, "tuple<")?;
                for (i, t) in types.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                return write!(f, ">");
            }
        };
        f.write_str(simple)
    }
}

/// A `duration`: months, days and nanoseconds, all of the same sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub months: i32,
    pub days: i32,
    pub nanoseconds: i64,
}

/// A decoded CQL value. Which variant a type decodes to is fixed: `text` to `Text`, `counter`
/// to `Counter`, and so on, so that `type.decode(type.encode(v)) == v`.
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

    /// Serialized length (the content of its `[bytes]`, without the 4-byte length).
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

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

fn fixed<const N: usize>(raw: &[u8], type_name: &'static str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(raw).map_err(|_| ProtocolError::ValueLength {
        type_name,
        expected: match N {
            1 => "1",
            2 => "2",
            4 => "4",
            8 => "8",
            _ => "16",
        },
        actual: raw.len(),
    })
}

fn decode_value(ty: &ColumnType, raw: &Bytes) -> Result<Value> {
    use ColumnType as T;
    let is_text_like = matches!(
        ty,
        T::Ascii
            | T::Varchar
            | T::Blob
            | T::Custom(_)
            | T::List(_)
            | T::Set(_)
            | T::Map(..)
            | T::Tuple(_)
            | T::Udt(_)
    );
    if raw.is_empty() && !is_text_like {
        return Ok(Value::Empty);
    }
    Ok(match ty {
        T::Custom(_) => Value::Custom(raw.clone()),
        T::Ascii => {
            if !raw.is_ascii() {
                return Err(ProtocolError::InvalidText {
                    what: "ascii value",
                    encoding: "ASCII",
                });
            }
            Value::Ascii(utf8(raw.to_vec(), "ascii value")?)
        }
        T::Varchar => Value::Text(utf8(raw.to_vec(), "text value")?),
        T::Blob => Value::Blob(raw.clone()),
        T::Bigint => Value::Bigint(i64::from_be_bytes(fixed(raw, "bigint")?)),
        T::Counter => Value::Counter(i64::from_be_bytes(fixed(raw, "counter")?)),
        T::Timestamp => Value::Timestamp(i64::from_be_bytes(fixed(raw, "timestamp")?)),
        T::Time => {
            let t = i64::from_be_bytes(fixed(raw, "time")?);
            if !(0..NANOS_PER_DAY).contains(&t) {
                return Err(ProtocolError::InvalidValue {
                    type_name: "time",
                    reason: "nanoseconds outside one day",
                });
            }
            Value::Time(t)
        }
        T::Boolean => Value::Boolean(fixed::<1>(raw, "boolean")? != [0]),
        T::Int => Value::Int(i32::from_be_bytes(fixed(raw, "int")?)),
        T::Date => Value::Date(u32::from_be_bytes(fixed(raw, "date")?)),
        T::Smallint => Value::Smallint(i16::from_be_bytes(fixed(raw, "smallint")?)),
        T::Tinyint => Value::Tinyint(i8::from_be_bytes(fixed(raw, "tinyint")?)),
        T::Double => Value::Double(f64::from_be_bytes(fixed(raw, "double")?)),
        T::Float => Value::Float(f32::from_be_bytes(fixed(raw, "float")?)),
        T::Uuid => Value::Uuid(fixed(raw, "uuid")?),
        T::Timeuuid => {
            let id: [u8; 16] = fixed(raw, "timeuuid")?;
            // The version nibble of a time-based (v1) uuid.
            if id.get(6).map(|b| b >> 4) != Some(1) {
                return Err(ProtocolError::InvalidValue {
                    type_name: "timeuuid",
                    reason: "not a version 1 uuid",
                });
            }
            Value::Timeuuid(id)
        }
        T::Inet => Value::Inet(ip_from_slice(raw)?),
        T::Varint => Value::Varint(raw.clone()),
        T::Decimal => {
            let scale = raw.first_chunk::<4>().ok_or(ProtocolError::ValueLength {
                type_name: "decimal",
                expected: "at least 5",
                actual: raw.len(),
            })?;
            let unscaled = raw.slice(4..);
            if unscaled.is_empty() {
                return Err(ProtocolError::ValueLength {
                    type_name: "decimal",
                    expected: "at least 5",
                    actual: raw.len(),
                });
            }
            Value::Decimal {
                scale: i32::from_be_bytes(*scale),
                unscaled,
            }
        }
        T::Duration => {
            let mut at = 0usize;
            let mut next = || -> Result<i64> {
                let rest = raw.get(at..).unwrap_or_default();
                let (v, n) = read_unsigned_vint(rest, "duration")?;
                at += n;
                Ok(unzigzag(v))
            };
            let months = next()?;
            let days = next()?;
            let nanoseconds = next()?;
            if at != raw.len() {
                return Err(ProtocolError::TrailingBytes {
                    type_name: "duration",
                    count: raw.len() - at,
                });
            }
            let months = i32::try_from(months).map_err(|_| ProtocolError::InvalidVint {
                what: "duration months",
            })?;
            let days = i32::try_from(days).map_err(|_| ProtocolError::InvalidVint {
                what: "duration days",
            })?;
            let d = Duration {
                months,
                days,
                nanoseconds,
            };
            if !same_sign(&d) {
                return Err(ProtocolError::InvalidValue {
                    type_name: "duration",
                    reason: "months, days and nanoseconds have different signs",
                });
            }
            Value::Duration(d)
        }
        T::List(e) => Value::List(decode_elements(e, raw, "list")?),
        T::Set(e) => Value::Set(decode_elements(e, raw, "set")?),
        T::Map(k, v) => {
            let mut r = Reader::new(raw.clone());
            let n = collection_len(&mut r, "map")?;
            let mut out = Vec::with_capacity(n.min(r.remaining() / 8));
            for _ in 0..n {
                let key = element(&mut r, k, "map")?;
                let value = element(&mut r, v, "map")?;
                out.push((key, value));
            }
            no_trailing(&r, "map")?;
            Value::Map(out)
        }
        T::Tuple(types) => {
            let mut r = Reader::new(raw.clone());
            let mut out = Vec::with_capacity(types.len());
            for t in types {
                out.push(match r.bytes("tuple component")? {
                    Some(b) => Some(t.decode(&b)?),
                    None => None,
                });
            }
            no_trailing(&r, "tuple")?;
            Value::Tuple(out)
        }
        T::Udt(u) => {
            let mut r = Reader::new(raw.clone());
            let mut out = Vec::with_capacity(u.fields.len());
            for (name, t) in &u.fields {
                if r.remaining() == 0 {
                    break;
                }
                let v = match r.bytes("udt field")? {
                    Some(b) => Some(t.decode(&b)?),
                    None => None,
                };
                out.push((name.clone(), v));
            }
            no_trailing(&r, "udt")?;
            Value::Udt(out)
        }
    })
}

fn same_sign(d: &Duration) -> bool {
    let nonneg = d.months >= 0 && d.days >= 0 && d.nanoseconds >= 0;
    let nonpos = d.months <= 0 && d.days <= 0 && d.nanoseconds <= 0;
    nonneg || nonpos
}

fn collection_len(r: &mut Reader, what: &'static str) -> Result<usize> {
    let n = r.i32("collection size")?;
    usize::try_from(n).map_err(|_| ProtocolError::InvalidLength {
        what,
        length: i64::from(n),
    })
}

fn element(r: &mut Reader, ty: &ColumnType, what: &'static str) -> Result<Value> {
    match r.bytes("collection element")? {
        Some(b) => ty.decode(&b),
        None => Err(ProtocolError::NullInCollection(what)),
    }
}

fn no_trailing(r: &Reader, type_name: &'static str) -> Result<()> {
    match r.remaining() {
        0 => Ok(()),
        count => Err(ProtocolError::TrailingBytes { type_name, count }),
    }
}

fn decode_elements(ty: &ColumnType, raw: &Bytes, what: &'static str) -> Result<Vec<Value>> {
    let mut r = Reader::new(raw.clone());
    let n = collection_len(&mut r, what)?;
    // Each element takes at least its 4-byte length: bound the allocation by the input.
    let mut out = Vec::with_capacity(n.min(r.remaining() / 4));
    for _ in 0..n {
        out.push(element(&mut r, ty, what)?);
    }
    no_trailing(&r, what)?;
    Ok(out)
}

fn mismatch(ty: &ColumnType, v: &Value) -> ProtocolError {
    ProtocolError::TypeMismatch {
        column_type: ty.to_string(),
        value: v.kind(),
    }
}

fn put_element(ty: &ColumnType, v: &Value, out: &mut BytesMut) -> Result<()> {
    out.put_i32(len_i32(v.encoded_len(), "value")?);
    encode_value(ty, v, out)
}

fn encode_value(ty: &ColumnType, v: &Value, out: &mut BytesMut) -> Result<()> {
    use ColumnType as T;
    match (ty, v) {
        (T::Ascii | T::Varchar | T::Blob | T::Custom(_), Value::Empty) => {
            return Err(mismatch(ty, v));
        }
        (T::List(_) | T::Set(_) | T::Map(..) | T::Tuple(_) | T::Udt(_), Value::Empty) => {
            return Err(mismatch(ty, v));
        }
        (_, Value::Empty) => {}
        (T::Custom(_), Value::Custom(b)) | (T::Blob, Value::Blob(b)) => out.put_slice(b),
        (T::Ascii, Value::Ascii(s)) => {
            if !s.is_ascii() {
                return Err(ProtocolError::InvalidText {
                    what: "ascii value",
                    encoding: "ASCII",
                });
            }
            out.put_slice(s.as_bytes());
        }
        (T::Varchar, Value::Text(s)) => out.put_slice(s.as_bytes()),
        (T::Bigint, Value::Bigint(n))
        | (T::Counter, Value::Counter(n))
        | (T::Timestamp, Value::Timestamp(n)) => out.put_i64(*n),
        (T::Time, Value::Time(n)) => {
            if !(0..NANOS_PER_DAY).contains(n) {
                return Err(ProtocolError::InvalidValue {
                    type_name: "time",
                    reason: "nanoseconds outside one day",
                });
            }
            out.put_i64(*n);
        }
        (T::Boolean, Value::Boolean(b)) => out.put_u8(u8::from(*b)),
        (T::Int, Value::Int(n)) => out.put_i32(*n),
        (T::Date, Value::Date(n)) => out.put_u32(*n),
        (T::Smallint, Value::Smallint(n)) => out.put_i16(*n),
        (T::Tinyint, Value::Tinyint(n)) => out.put_i8(*n),
        (T::Double, Value::Double(n)) => out.put_f64(*n),
        (T::Float, Value::Float(n)) => out.put_f32(*n),
        (T::Uuid, Value::Uuid(id)) => out.put_slice(id),
        (T::Timeuuid, Value::Timeuuid(id)) => {
            if id.get(6).map(|b| b >> 4) != Some(1) {
                return Err(ProtocolError::InvalidValue {
                    type_name: "timeuuid",
                    reason: "not a version 1 uuid",
                });
            }
            out.put_slice(id);
        }
        (T::Inet, Value::Inet(IpAddr::V4(a))) => out.put_slice(&a.octets()),
        (T::Inet, Value::Inet(IpAddr::V6(a))) => out.put_slice(&a.octets()),
        (T::Varint, Value::Varint(b)) => {
            if b.is_empty() {
                return Err(ProtocolError::ValueLength {
                    type_name: "varint",
                    expected: "at least 1",
                    actual: 0,
                });
            }
            out.put_slice(b);
        }
        (T::Decimal, Value::Decimal { scale, unscaled }) => {
            if unscaled.is_empty() {
                return Err(ProtocolError::ValueLength {
                    type_name: "decimal",
                    expected: "at least 5",
                    actual: 4,
                });
            }
            out.put_i32(*scale);
            out.put_slice(unscaled);
        }
        (T::Duration, Value::Duration(d)) => {
            if !same_sign(d) {
                return Err(ProtocolError::InvalidValue {
                    type_name: "duration",
                    reason: "months, days and nanoseconds have different signs",
                });
            }
            put_unsigned_vint(out, zigzag(i64::from(d.months)));
            put_unsigned_vint(out, zigzag(i64::from(d.days)));
            put_unsigned_vint(out, zigzag(d.nanoseconds));
        }
        (T::List(e), Value::List(items)) | (T::Set(e), Value::Set(items)) => {
            out.put_i32(len_i32(items.len(), "collection size")?);
            for item in items {
                put_element(e, item, out)?;
            }
        }
        (T::Map(kt, vt), Value::Map(pairs)) => {
            out.put_i32(len_i32(pairs.len(), "collection size")?);
            for (k, v) in pairs {
                put_element(kt, k, out)?;
                put_element(vt, v, out)?;
            }
        }
        (T::Tuple(types), Value::Tuple(items)) => {
            if types.len() != items.len() {
                return Err(ProtocolError::Unencodable {
                    what: "tuple",
                    reason: "component count differs from the type's",
                });
            }
            for (t, item) in types.iter().zip(items) {
                match item {
                    Some(v) => put_element(t, v, out)?,
                    None => out.put_i32(-1),
                }
            }
        }
        (T::Udt(u), Value::Udt(fields)) => {
            if fields.len() > u.fields.len() {
                return Err(ProtocolError::Unencodable {
                    what: "udt",
                    reason: "more fields than the type declares",
                });
            }
            for ((name, t), (given, v)) in u.fields.iter().zip(fields) {
                if name != given {
                    return Err(ProtocolError::Unencodable {
                        what: "udt",
                        reason: "field names differ from the type's, in order",
                    });
                }
                match v {
                    Some(v) => put_element(t, v, out)?,
                    None => out.put_i32(-1),
                }
            }
        }
        _ => return Err(mismatch(ty, v)),
    }
    Ok(())
}
