//! Column types on the wire: the `[option]` type descriptor of column metadata.
//!
//! A descriptor is a `[short]` id, then for custom types a `[string]` class name, for
//! list/set an element type, for map two types, for a UDT `<keyspace><name><n>(<field
//! name><field type>)*` and for a tuple `<n><type>*`. The types themselves, their values and
//! the value codec are [`ilion_types`]'s ([`CqlType`], [`Value`](ilion_types::Value)).
//!
//! The protocol has no frozen flag: a frozen collection is sent as the collection, and a
//! descriptor decodes to the non-frozen form. A `vector<type, n>` is sent as the custom type
//! Cassandra names it, `org.apache.cassandra.db.marshal.VectorType(<element class>, n)`.

use bytes::{BufMut, Bytes};
use ilion_types::{CqlType, UdtType};

use super::ProtocolError;
use super::types::{Reader, WriteExt, string_len};

type Result<T> = std::result::Result<T, ProtocolError>;

/// How deep type descriptors may nest (`list<map<int, frozen<tuple<...>>>>`); deeper is refused
/// so that hostile input cannot exhaust the stack.
pub const MAX_TYPE_DEPTH: usize = 32;

/// The `[option]` type descriptor of a [`CqlType`].
pub trait TypeOption: Sized {
    /// The `[option]` id.
    fn option_id(&self) -> u16;
    /// Decodes an `[option]` type descriptor from the front of `raw`, returning the type and
    /// the bytes it used.
    fn decode_option(raw: &[u8]) -> Result<(Self, usize)>;
    /// Writes the `[option]` type descriptor.
    fn write_option(&self, out: &mut impl BufMut) -> Result<()>;
    /// Bytes of the `[option]` type descriptor.
    fn option_len(&self) -> usize;
}

impl TypeOption for CqlType {
    fn option_id(&self) -> u16 {
        match self {
            CqlType::Custom(_) | CqlType::Vector { .. } => 0x0000,
            CqlType::Ascii => 0x0001,
            CqlType::Bigint => 0x0002,
            CqlType::Blob => 0x0003,
            CqlType::Boolean => 0x0004,
            CqlType::Counter => 0x0005,
            CqlType::Decimal => 0x0006,
            CqlType::Double => 0x0007,
            CqlType::Float => 0x0008,
            CqlType::Int => 0x0009,
            CqlType::Timestamp => 0x000B,
            CqlType::Uuid => 0x000C,
            CqlType::Text => 0x000D,
            CqlType::Varint => 0x000E,
            CqlType::Timeuuid => 0x000F,
            CqlType::Inet => 0x0010,
            CqlType::Date => 0x0011,
            CqlType::Time => 0x0012,
            CqlType::Smallint => 0x0013,
            CqlType::Tinyint => 0x0014,
            CqlType::Duration => 0x0015,
            CqlType::List { .. } => 0x0020,
            CqlType::Map { .. } => 0x0021,
            CqlType::Set { .. } => 0x0022,
            CqlType::Udt(_) => 0x0030,
            CqlType::Tuple(_) => 0x0031,
        }
    }

    fn decode_option(raw: &[u8]) -> Result<(CqlType, usize)> {
        let mut r = Reader::new(Bytes::copy_from_slice(raw));
        let ty = read(&mut r, 0)?;
        Ok((ty, raw.len() - r.remaining()))
    }

    fn write_option(&self, out: &mut impl BufMut) -> Result<()> {
        out.put_u16(self.option_id());
        match self {
            CqlType::Custom(class) => out.put_string(class, "custom type class")?,
            CqlType::Vector { .. } => out.put_string(&marshal_class(self), "custom type class")?,
            CqlType::List { element, .. } | CqlType::Set { element, .. } => {
                element.write_option(out)?
            }
            CqlType::Map { key, value, .. } => {
                key.write_option(out)?;
                value.write_option(out)?;
            }
            CqlType::Udt(u) => {
                out.put_string(u.keyspace.as_deref().unwrap_or(""), "udt keyspace")?;
                out.put_string(&u.name, "udt name")?;
                out.put_u16(count_u16(u.fields.len(), "udt fields")?);
                for (name, ty) in &u.fields {
                    out.put_string(name, "udt field name")?;
                    ty.write_option(out)?;
                }
            }
            CqlType::Tuple(types) => {
                out.put_u16(count_u16(types.len(), "tuple components")?);
                for ty in types {
                    ty.write_option(out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn option_len(&self) -> usize {
        2 + match self {
            CqlType::Custom(class) => string_len(class),
            CqlType::Vector { .. } => string_len(&marshal_class(self)),
            CqlType::List { element, .. } | CqlType::Set { element, .. } => element.option_len(),
            CqlType::Map { key, value, .. } => key.option_len() + value.option_len(),
            CqlType::Udt(u) => {
                string_len(u.keyspace.as_deref().unwrap_or(""))
                    + string_len(&u.name)
                    + 2
                    + u.fields
                        .iter()
                        .map(|(n, t)| string_len(n) + t.option_len())
                        .sum::<usize>()
            }
            CqlType::Tuple(types) => 2 + types.iter().map(CqlType::option_len).sum::<usize>(),
            _ => 0,
        }
    }
}

/// Reads an `[option]` type descriptor nested `depth` levels deep.
pub(crate) fn read(r: &mut Reader, depth: usize) -> Result<CqlType> {
    if depth >= MAX_TYPE_DEPTH {
        return Err(ProtocolError::TypeTooDeep {
            max: MAX_TYPE_DEPTH,
        });
    }
    let id = r.u16("type id")?;
    let inner = |r: &mut Reader| read(r, depth + 1);
    Ok(match id {
        0x0000 => CqlType::Custom(r.string("custom type class")?),
        0x0001 => CqlType::Ascii,
        0x0002 => CqlType::Bigint,
        0x0003 => CqlType::Blob,
        0x0004 => CqlType::Boolean,
        0x0005 => CqlType::Counter,
        0x0006 => CqlType::Decimal,
        0x0007 => CqlType::Double,
        0x0008 => CqlType::Float,
        0x0009 => CqlType::Int,
        0x000B => CqlType::Timestamp,
        0x000C => CqlType::Uuid,
        0x000D => CqlType::Text,
        0x000E => CqlType::Varint,
        0x000F => CqlType::Timeuuid,
        0x0010 => CqlType::Inet,
        0x0011 => CqlType::Date,
        0x0012 => CqlType::Time,
        0x0013 => CqlType::Smallint,
        0x0014 => CqlType::Tinyint,
        0x0015 => CqlType::Duration,
        0x0020 => CqlType::list(inner(r)?),
        0x0021 => {
            let k = inner(r)?;
            CqlType::map(k, inner(r)?)
        }
        0x0022 => CqlType::set(inner(r)?),
        0x0030 => {
            let keyspace = r.string("udt keyspace")?;
            let name = r.string("udt name")?;
            let n = usize::from(r.u16("udt field count")?);
            let mut fields = Vec::with_capacity(n.min(r.remaining() / 4));
            for _ in 0..n {
                let field = r.string("udt field name")?;
                fields.push((field, read(r, depth + 1)?));
            }
            CqlType::Udt(UdtType {
                keyspace: Some(keyspace),
                name,
                fields,
                frozen: false,
            })
        }
        0x0031 => {
            let n = usize::from(r.u16("tuple arity")?);
            let mut types = Vec::with_capacity(n.min(r.remaining() / 2));
            for _ in 0..n {
                types.push(read(r, depth + 1)?);
            }
            CqlType::Tuple(types)
        }
        other => return Err(ProtocolError::UnknownTypeId(other)),
    })
}

/// Cassandra's marshal class of a type (how custom type descriptors name types).
fn marshal_class(ty: &CqlType) -> String {
    const M: &str = "org.apache.cassandra.db.marshal.";
    let simple = match ty {
        CqlType::Ascii => "AsciiType",
        CqlType::Bigint => "LongType",
        CqlType::Blob => "BytesType",
        CqlType::Boolean => "BooleanType",
        CqlType::Counter => "CounterColumnType",
        CqlType::Date => "SimpleDateType",
        CqlType::Decimal => "DecimalType",
        CqlType::Double => "DoubleType",
        CqlType::Duration => "DurationType",
        CqlType::Float => "FloatType",
        CqlType::Inet => "InetAddressType",
        CqlType::Int => "Int32Type",
        CqlType::Smallint => "ShortType",
        CqlType::Text => "UTF8Type",
        CqlType::Time => "TimeType",
        CqlType::Timestamp => "TimestampType",
        CqlType::Timeuuid => "TimeUUIDType",
        CqlType::Tinyint => "ByteType",
        CqlType::Uuid => "UUIDType",
        CqlType::Varint => "IntegerType",
        CqlType::Custom(class) => return class.clone(),
        CqlType::Vector { element, dimension } => {
            return format!("{M}VectorType({}, {dimension})", marshal_class(element));
        }
        CqlType::List { element, .. } => return format!("{M}ListType({})", marshal_class(element)),
        CqlType::Set { element, .. } => return format!("{M}SetType({})", marshal_class(element)),
        CqlType::Map { key, value, .. } => {
            return format!(
                "{M}MapType({},{})",
                marshal_class(key),
                marshal_class(value)
            );
        }
        CqlType::Tuple(items) => {
            let inner: Vec<String> = items.iter().map(marshal_class).collect();
            return format!("{M}TupleType({})", inner.join(","));
        }
        CqlType::Udt(u) => return format!("{M}UserType({})", u.name),
    };
    format!("{M}{simple}")
}

fn count_u16(n: usize, what: &'static str) -> Result<u16> {
    u16::try_from(n).map_err(|_| ProtocolError::InvalidLength {
        what,
        length: n as i64,
    })
}
