//! The value codec: native-protocol serialized bytes <-> [`Value`].
//!
//! The serialized forms (section 6 of the native protocol spec):
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
//! | vector | `dimension` elements back to back; an element of a variable-size type is preceded by its length as an `[unsigned vint]` |
//!
//! A zero-length value of a fixed-width type (Cassandra accepts it, e.g. `blobAsInt(0x)`) is
//! [`Value::Empty`]. Null and unset live one level up (a protocol `[value]`) and in the
//! `Option`s of tuple and UDT fields.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::ty::CqlType;
use crate::value::{Duration, Value};
use crate::vint::{put_unsigned_vint, read_unsigned_vint, unzigzag, zigzag};

/// Nanoseconds in a day: a `time` is below it.
pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;

impl CqlType {
    /// Decodes a serialized value (the content of a non-null `[bytes]`) of this type.
    /// Malformed bytes are an error, never a panic.
    pub fn decode(&self, raw: &Bytes) -> Result<Value> {
        decode_value(self, raw)
    }

    /// Encodes `value` as this type (the content of a `[bytes]`, without the length),
    /// checking that it fits the type.
    pub fn encode(&self, value: &Value, out: &mut BytesMut) -> Result<()> {
        encode_value(self, value, out)
    }

    /// [`CqlType::encode`] into new bytes.
    pub fn to_bytes(&self, value: &Value) -> Result<Bytes> {
        let mut out = BytesMut::with_capacity(value.encoded_len());
        self.encode(value, &mut out)?;
        Ok(out.freeze())
    }

    /// The size of every value of this type when all have one size (`int`: 4), as vectors
    /// need to know.
    pub fn fixed_len(&self) -> Option<usize> {
        match self {
            CqlType::Boolean | CqlType::Tinyint => Some(1),
            CqlType::Smallint => Some(2),
            CqlType::Int | CqlType::Float | CqlType::Date => Some(4),
            CqlType::Bigint
            | CqlType::Counter
            | CqlType::Double
            | CqlType::Time
            | CqlType::Timestamp => Some(8),
            CqlType::Uuid | CqlType::Timeuuid => Some(16),
            CqlType::Vector { element, dimension } => element
                .fixed_len()
                .and_then(|n| n.checked_mul(*dimension as usize)),
            _ => None,
        }
    }
}

/// A cursor over the `[int]`s and `[bytes]` inside a serialized value.
pub(crate) struct Cursor {
    buf: Bytes,
}

impl Cursor {
    pub(crate) fn new(buf: Bytes) -> Cursor {
        Cursor { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes> {
        if self.buf.len() < n {
            return Err(Error::Truncated {
                what,
                needed: n,
                available: self.buf.len(),
            });
        }
        Ok(self.buf.split_to(n))
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32> {
        let b = self.take(4, what)?;
        let a: [u8; 4] = b.as_ref().try_into().map_err(|_| Error::Truncated {
            what,
            needed: 4,
            available: b.len(),
        })?;
        Ok(i32::from_be_bytes(a))
    }

    /// A `[bytes]`: `None` for a negative length (null).
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<Option<Bytes>> {
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(None);
        }
        self.take(n as usize, what).map(Some)
    }

    fn vint_bytes(&mut self, what: &'static str) -> Result<Bytes> {
        let (n, used) = read_unsigned_vint(&self.buf, what)?;
        self.buf = self.buf.slice(used..);
        let n = usize::try_from(n).map_err(|_| Error::InvalidVint { what })?;
        self.take(n, what)
    }
}

fn fixed<const N: usize>(raw: &[u8], type_name: &'static str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(raw).map_err(|_| Error::ValueLength {
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

pub(crate) fn utf8(raw: &[u8], what: &'static str) -> Result<String> {
    String::from_utf8(raw.to_vec()).map_err(|_| Error::InvalidText {
        what,
        encoding: "UTF-8",
    })
}

fn ip_from_slice(raw: &[u8]) -> Result<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(raw) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(Error::InvalidInetLength(raw.len()))
    }
}

/// Whether a zero-length value of `ty` is a real value (empty text, an empty blob) rather than
/// [`Value::Empty`].
fn empty_is_a_value(ty: &CqlType) -> bool {
    matches!(
        ty,
        CqlType::Ascii
            | CqlType::Text
            | CqlType::Blob
            | CqlType::Custom(_)
            | CqlType::List { .. }
            | CqlType::Set { .. }
            | CqlType::Map { .. }
            | CqlType::Tuple(_)
            | CqlType::Udt(_)
    )
}

fn decode_value(ty: &CqlType, raw: &Bytes) -> Result<Value> {
    use CqlType as T;
    if raw.is_empty() && !empty_is_a_value(ty) {
        return Ok(Value::Empty);
    }
    Ok(match ty {
        T::Custom(_) => Value::Custom(raw.clone()),
        T::Ascii => {
            if !raw.is_ascii() {
                return Err(Error::InvalidText {
                    what: "ascii value",
                    encoding: "ASCII",
                });
            }
            Value::Ascii(utf8(raw, "ascii value")?)
        }
        T::Text => Value::Text(utf8(raw, "text value")?),
        T::Blob => Value::Blob(raw.clone()),
        T::Bigint => Value::Bigint(i64::from_be_bytes(fixed(raw, "bigint")?)),
        T::Counter => Value::Counter(i64::from_be_bytes(fixed(raw, "counter")?)),
        T::Timestamp => Value::Timestamp(i64::from_be_bytes(fixed(raw, "timestamp")?)),
        T::Time => {
            let t = i64::from_be_bytes(fixed(raw, "time")?);
            check_time(t)?;
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
            check_timeuuid(&id)?;
            Value::Timeuuid(id)
        }
        T::Inet => Value::Inet(ip_from_slice(raw)?),
        T::Varint => Value::Varint(raw.clone()),
        T::Decimal => {
            let short = || Error::ValueLength {
                type_name: "decimal",
                expected: "at least 5",
                actual: raw.len(),
            };
            let scale = raw.first_chunk::<4>().ok_or_else(short)?;
            let unscaled = raw.slice(4..);
            if unscaled.is_empty() {
                return Err(short());
            }
            Value::Decimal {
                scale: i32::from_be_bytes(*scale),
                unscaled,
            }
        }
        T::Duration => Value::Duration(decode_duration(raw)?),
        T::List { element, .. } => Value::List(decode_elements(element, raw, "list")?),
        T::Set { element, .. } => Value::Set(decode_elements(element, raw, "set")?),
        T::Map { key, value, .. } => {
            let mut r = Cursor::new(raw.clone());
            let n = collection_len(&mut r, "map")?;
            let mut out = Vec::with_capacity(n.min(r.remaining() / 8));
            for _ in 0..n {
                let k = element(&mut r, key, "map")?;
                let v = element(&mut r, value, "map")?;
                out.push((k, v));
            }
            no_trailing(&r, "map")?;
            Value::Map(out)
        }
        T::Tuple(types) => {
            let mut r = Cursor::new(raw.clone());
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
            let mut r = Cursor::new(raw.clone());
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
        T::Vector { element, dimension } => {
            let mut r = Cursor::new(raw.clone());
            let size = element.fixed_len();
            let mut out = Vec::with_capacity((*dimension as usize).min(raw.len()));
            for _ in 0..*dimension {
                let b = match size {
                    Some(n) => r.take(n, "vector element")?,
                    None => r.vint_bytes("vector element")?,
                };
                out.push(element.decode(&b)?);
            }
            no_trailing(&r, "vector")?;
            Value::List(out)
        }
    })
}

fn check_time(t: i64) -> Result<()> {
    if (0..NANOS_PER_DAY).contains(&t) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            type_name: "time",
            reason: "nanoseconds outside one day",
        })
    }
}

fn check_timeuuid(id: &[u8; 16]) -> Result<()> {
    // The version nibble of a time-based (v1) uuid.
    if id.get(6).map(|b| b >> 4) == Some(1) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            type_name: "timeuuid",
            reason: "not a version 1 uuid",
        })
    }
}

fn decode_duration(raw: &[u8]) -> Result<Duration> {
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
        return Err(Error::TrailingBytes {
            type_name: "duration",
            count: raw.len().saturating_sub(at),
        });
    }
    let months = i32::try_from(months).map_err(|_| Error::InvalidVint {
        what: "duration months",
    })?;
    let days = i32::try_from(days).map_err(|_| Error::InvalidVint {
        what: "duration days",
    })?;
    let d = Duration {
        months,
        days,
        nanoseconds,
    };
    if !d.has_one_sign() {
        return Err(mixed_signs());
    }
    Ok(d)
}

fn mixed_signs() -> Error {
    Error::InvalidValue {
        type_name: "duration",
        reason: "months, days and nanoseconds have different signs",
    }
}

fn collection_len(r: &mut Cursor, what: &'static str) -> Result<usize> {
    let n = r.i32("collection size")?;
    usize::try_from(n).map_err(|_| Error::InvalidLength {
        what,
        length: i64::from(n),
    })
}

fn element(r: &mut Cursor, ty: &CqlType, what: &'static str) -> Result<Value> {
    match r.bytes("collection element")? {
        Some(b) => ty.decode(&b),
        None => Err(Error::NullInCollection(what)),
    }
}

fn no_trailing(r: &Cursor, type_name: &'static str) -> Result<()> {
    match r.remaining() {
        0 => Ok(()),
        count => Err(Error::TrailingBytes { type_name, count }),
    }
}

fn decode_elements(ty: &CqlType, raw: &Bytes, what: &'static str) -> Result<Vec<Value>> {
    let mut r = Cursor::new(raw.clone());
    let n = collection_len(&mut r, what)?;
    // Each element takes at least its 4-byte length: bound the allocation by the input.
    let mut out = Vec::with_capacity(n.min(r.remaining() / 4));
    for _ in 0..n {
        out.push(element(&mut r, ty, what)?);
    }
    no_trailing(&r, what)?;
    Ok(out)
}

fn mismatch(ty: &CqlType, v: &Value) -> Error {
    Error::TypeMismatch {
        column_type: ty.to_string(),
        value: v.kind(),
    }
}

fn len_i32(n: usize, what: &'static str) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::InvalidLength {
        what,
        length: i64::try_from(n).unwrap_or(i64::MAX),
    })
}

fn put_element(ty: &CqlType, v: &Value, out: &mut BytesMut) -> Result<()> {
    if matches!(ty, CqlType::Vector { .. }) {
        // A vector's length is not Value::encoded_len: encode first.
        let mut inner = BytesMut::new();
        encode_value(ty, v, &mut inner)?;
        out.put_i32(len_i32(inner.len(), "value")?);
        out.put_slice(&inner);
        return Ok(());
    }
    out.put_i32(len_i32(v.encoded_len(), "value")?);
    encode_value(ty, v, out)
}

fn encode_value(ty: &CqlType, v: &Value, out: &mut BytesMut) -> Result<()> {
    use CqlType as T;
    match (ty, v) {
        (_, Value::Empty) if empty_is_a_value(ty) || matches!(ty, T::Vector { .. }) => {
            return Err(mismatch(ty, v));
        }
        (_, Value::Empty) => {}
        (T::Custom(_), Value::Custom(b)) | (T::Blob, Value::Blob(b)) => out.put_slice(b),
        (T::Ascii, Value::Ascii(s)) => {
            if !s.is_ascii() {
                return Err(Error::InvalidText {
                    what: "ascii value",
                    encoding: "ASCII",
                });
            }
            out.put_slice(s.as_bytes());
        }
        (T::Text, Value::Text(s)) => out.put_slice(s.as_bytes()),
        (T::Bigint, Value::Bigint(n))
        | (T::Counter, Value::Counter(n))
        | (T::Timestamp, Value::Timestamp(n)) => out.put_i64(*n),
        (T::Time, Value::Time(n)) => {
            check_time(*n)?;
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
            check_timeuuid(id)?;
            out.put_slice(id);
        }
        (T::Inet, Value::Inet(IpAddr::V4(a))) => out.put_slice(&a.octets()),
        (T::Inet, Value::Inet(IpAddr::V6(a))) => out.put_slice(&a.octets()),
        (T::Varint, Value::Varint(b)) => {
            if b.is_empty() {
                return Err(Error::ValueLength {
                    type_name: "varint",
                    expected: "at least 1",
                    actual: 0,
                });
            }
            out.put_slice(b);
        }
        (T::Decimal, Value::Decimal { scale, unscaled }) => {
            if unscaled.is_empty() {
                return Err(Error::ValueLength {
                    type_name: "decimal",
                    expected: "at least 5",
                    actual: 4,
                });
            }
            out.put_i32(*scale);
            out.put_slice(unscaled);
        }
        (T::Duration, Value::Duration(d)) => {
            if !d.has_one_sign() {
                return Err(mixed_signs());
            }
            put_unsigned_vint(out, zigzag(i64::from(d.months)));
            put_unsigned_vint(out, zigzag(i64::from(d.days)));
            put_unsigned_vint(out, zigzag(d.nanoseconds));
        }
        (T::List { element: e, .. }, Value::List(items))
        | (T::Set { element: e, .. }, Value::Set(items)) => {
            out.put_i32(len_i32(items.len(), "collection size")?);
            for item in items {
                put_element(e, item, out)?;
            }
        }
        (
            T::Map {
                key: kt, value: vt, ..
            },
            Value::Map(pairs),
        ) => {
            out.put_i32(len_i32(pairs.len(), "collection size")?);
            for (k, v) in pairs {
                put_element(kt, k, out)?;
                put_element(vt, v, out)?;
            }
        }
        (T::Tuple(types), Value::Tuple(items)) => {
            if types.len() != items.len() {
                return Err(Error::Unencodable {
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
                return Err(Error::Unencodable {
                    what: "udt",
                    reason: "more fields than the type declares",
                });
            }
            for ((name, t), (given, v)) in u.fields.iter().zip(fields) {
                if name != given {
                    return Err(Error::Unencodable {
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
        (T::Vector { element, dimension }, Value::List(items)) => {
            if items.len() != *dimension as usize {
                return Err(Error::Unencodable {
                    what: "vector",
                    reason: "element count differs from the dimension",
                });
            }
            let fixed = element.fixed_len();
            for item in items {
                let mut b = BytesMut::new();
                encode_value(element, item, &mut b)?;
                match fixed {
                    Some(n) if n != b.len() => {
                        return Err(Error::Unencodable {
                            what: "vector",
                            reason: "an empty element in a vector of a fixed-size type",
                        });
                    }
                    Some(_) => {}
                    None => put_unsigned_vint(out, b.len() as u64),
                }
                out.put_slice(&b);
            }
        }
        _ => return Err(mismatch(ty, v)),
    }
    Ok(())
}
