//! CQL values as JSON and back, with Cassandra's mapping: `INSERT JSON`, `fromJson()` and
//! `SELECT JSON`.
//!
//! | type | JSON |
//! |---|---|
//! | ascii, text | string |
//! | tinyint .. bigint, varint, counter | number (a string of digits is accepted) |
//! | float, double, decimal | number (a string is accepted; `NaN`, `Infinity` come out bare) |
//! | boolean | `true` / `false` (or the strings) |
//! | blob | string `"0x..."` |
//! | uuid, timeuuid, inet, date, time, duration | string |
//! | timestamp | string `"yyyy-mm-dd HH:MM:SS.fffZ"` out; a number of ms or a string in |
//! | list, set, tuple | array |
//! | map | object; keys that are not strings are written as their JSON text in a string |
//! | user type | object keyed by field name |
//!
//! Names that are not all lowercase are written (and read) quoted: `"\"Name\""`. Numbers keep
//! their text while parsed, so a varint or decimal of any size survives.

use std::fmt::Write as _;

use bytes::Bytes;
use ilion_cql::protocol::{CqlType, Value};
use serde_json::value::RawValue;

use ilion_types::text::{
    date_text, decimal_text, duration_text, java_double, java_float, parse_date, parse_decimal,
    parse_duration, parse_float, parse_hex, parse_time, parse_timestamp, time_text, timestamp_text,
    varint_from_decimal, varint_to_decimal,
};

use crate::values::normalize;
use crate::{Error, Result};

/// A parsed JSON document; numbers keep their text, objects their key order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Nesting deeper than this is refused (hostile input must not exhaust the stack).
const MAX_DEPTH: usize = 64;

/// Parses a JSON document with serde_json: each level is read as raw text
/// ([`RawValue`]) first, so numbers keep their digits and objects their key order.
pub(crate) fn parse(text: &str) -> Result<Json> {
    let raw: &RawValue = serde_json::from_str(text).map_err(decode_error)?;
    from_raw(raw, 0)
}

fn decode_error(e: serde_json::Error) -> Error {
    Error::invalid(format!("Could not decode JSON string: {e}"))
}

fn from_raw(raw: &RawValue, depth: usize) -> Result<Json> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            "Could not decode JSON string: nesting too deep",
        ));
    }
    let text = raw.get();
    Ok(match text.as_bytes().first() {
        Some(b'{') => {
            let Entries(entries) = serde_json::from_str(text).map_err(decode_error)?;
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((k, from_raw(v, depth + 1)?)))
                    .collect::<Result<_>>()?,
            )
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(decode_error)?;
            Json::Array(
                items
                    .into_iter()
                    .map(|v| from_raw(v, depth + 1))
                    .collect::<Result<_>>()?,
            )
        }
        Some(b'"') => Json::String(serde_json::from_str(text).map_err(decode_error)?),
        Some(b't' | b'f') => Json::Bool(serde_json::from_str(text).map_err(decode_error)?),
        Some(b'n') => Json::Null,
        // serde_json has checked that this is a number; keep its text.
        _ => Json::Number(text.to_owned()),
    })
}

/// An object's entries in document order (duplicates kept), values as raw text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Entries<'de>, M::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// The value of the JSON text `text` as `ty` (`fromJson()`); JSON `null` is null.
pub(crate) fn from_json_text(text: &str, ty: &CqlType) -> Result<Option<Value>> {
    value_of(&parse(text)?, ty)
}

/// A column or field name as a JSON key names it: quoted keys keep their case, others are
/// lowercased.
pub(crate) fn key_name(key: &str) -> String {
    match key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
        Some(quoted) if key.len() >= 2 => quoted.to_owned(),
        _ => key.to_lowercase(),
    }
}

/// A column or field name as a JSON key: quoted when not all lowercase.
pub(crate) fn name_key(name: &str) -> String {
    if name.chars().any(|c| c.is_uppercase()) {
        quote(&format!("\"{name}\""))
    } else {
        quote(name)
    }
}

/// The value of `j` as `ty`.
pub(crate) fn value_of(j: &Json, ty: &CqlType) -> Result<Option<Value>> {
    if *j == Json::Null {
        return Ok(None);
    }
    let bad = |what: &str| {
        Error::invalid(format!(
            "Error decoding JSON value for {ty}: Expected {what}, but got {}",
            kind(j)
        ))
    };
    let text = |what: &str| match j {
        Json::String(s) => Ok(s.as_str()),
        _ => Err(bad(what)),
    };
    // Integers and other numbers: a JSON number or a string holding one.
    let number = || match j {
        Json::Number(n) => Ok(n.as_str()),
        Json::String(s) => Ok(s.as_str()),
        _ => Err(bad("a number")),
    };
    let parse_err = |s: &str| Error::invalid(format!("Unable to make {ty} from '{s}'"));
    let int = |s: &str| -> Result<i64> { s.trim().parse().map_err(|_| parse_err(s)) };
    Ok(Some(match ty {
        CqlType::Ascii => {
            let s = text("an ascii string")?;
            if !s.is_ascii() {
                return Err(Error::invalid(format!(
                    "Invalid ASCII character in string literal: {s}"
                )));
            }
            Value::Ascii(s.to_owned())
        }
        CqlType::Text => Value::Text(text("a UTF-8 string")?.to_owned()),
        CqlType::Bigint => Value::Bigint(int(number()?)?),
        CqlType::Counter => Value::Counter(int(number()?)?),
        CqlType::Int => {
            let s = number()?;
            Value::Int(i32::try_from(int(s)?).map_err(|_| parse_err(s))?)
        }
        CqlType::Smallint => {
            let s = number()?;
            Value::Smallint(i16::try_from(int(s)?).map_err(|_| parse_err(s))?)
        }
        CqlType::Tinyint => {
            let s = number()?;
            Value::Tinyint(i8::try_from(int(s)?).map_err(|_| parse_err(s))?)
        }
        CqlType::Varint => {
            let s = number()?;
            Value::Varint(varint_from_decimal(s.trim()).ok_or_else(|| parse_err(s))?)
        }
        CqlType::Decimal => {
            let s = number()?;
            let (unscaled, scale) = parse_decimal(s.trim()).ok_or_else(|| parse_err(s))?;
            Value::Decimal { scale, unscaled }
        }
        CqlType::Double => {
            let s = number()?;
            Value::Double(parse_float::<f64>(s.trim()).ok_or_else(|| parse_err(s))?)
        }
        CqlType::Float => {
            let s = number()?;
            Value::Float(parse_float::<f32>(s.trim()).ok_or_else(|| parse_err(s))?)
        }
        CqlType::Boolean => match j {
            Json::Bool(b) => Value::Boolean(*b),
            Json::String(s) if s.eq_ignore_ascii_case("true") => Value::Boolean(true),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Value::Boolean(false),
            _ => return Err(bad("a boolean value")),
        },
        CqlType::Blob | CqlType::Custom(_) => {
            let s = text("a hex string")?;
            if !s.starts_with("0x") {
                return Err(Error::invalid(format!(
                    "String representation of blob is missing 0x prefix: {s}"
                )));
            }
            let b = parse_hex(s)
                .ok_or_else(|| Error::invalid(format!("Unable to make blob from '{s}'")))?;
            match ty {
                CqlType::Custom(_) => Value::Custom(b),
                _ => Value::Blob(b),
            }
        }
        CqlType::Uuid | CqlType::Timeuuid => {
            let s = text("a string representation of a uuid")?;
            let u = uuid::Uuid::parse_str(s)
                .map_err(|_| Error::invalid(format!("Unable to make UUID from '{s}'")))?;
            let b = *u.as_bytes();
            if *ty == CqlType::Timeuuid {
                if u.get_version_num() != 1 {
                    return Err(Error::invalid(format!(
                        "Unsupported UUID for timeuuid: {s}"
                    )));
                }
                Value::Timeuuid(b)
            } else {
                Value::Uuid(b)
            }
        }
        CqlType::Inet => {
            let s = text("a string representation of an inet value")?;
            Value::Inet(
                s.parse().map_err(|_| {
                    Error::invalid(format!("Unable to make inet address from '{s}'"))
                })?,
            )
        }
        CqlType::Timestamp => {
            let s = match j {
                Json::Number(n) | Json::String(n) => n,
                _ => {
                    return Err(bad(
                        "a long or a datestring representation of a timestamp value",
                    ));
                }
            };
            Value::Timestamp(parse_timestamp(s).ok_or_else(|| {
                Error::invalid(format!("Unable to coerce '{s}' to a formatted date (long)"))
            })?)
        }
        CqlType::Date => {
            let s = text("a string representation of a date value")?;
            Value::Date(parse_date(s).ok_or_else(|| {
                Error::invalid(format!("Unable to coerce '{s}' to a formatted date (long)"))
            })?)
        }
        CqlType::Time => {
            let s = text("a string representation of a time value")?;
            Value::Time(parse_time(s).ok_or_else(|| {
                Error::invalid(format!("Unable to coerce '{s}' to a formatted time (long)"))
            })?)
        }
        CqlType::Duration => {
            let s = text("a string representation of a duration")?;
            Value::Duration(
                parse_duration(s).ok_or_else(|| {
                    Error::invalid(format!("Unable to convert '{s}' to a duration"))
                })?,
            )
        }
        CqlType::List { element: e, .. } | CqlType::Set { element: e, .. } => {
            let Json::Array(items) = j else {
                return Err(bad("a list"));
            };
            let values = items
                .iter()
                .map(|i| {
                    value_of(i, e)?
                        .ok_or_else(|| Error::invalid("null is not supported inside collections"))
                })
                .collect::<Result<Vec<_>>>()?;
            let v = match ty {
                CqlType::Set { .. } => Value::Set(values),
                _ => Value::List(values),
            };
            normalize(ty, v)?
        }
        CqlType::Map {
            key: kt, value: vt, ..
        } => {
            let Json::Object(entries) = j else {
                return Err(bad("a map"));
            };
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match **kt {
                    CqlType::Text | CqlType::Ascii => Json::String(k.clone()),
                    _ => parse(k).unwrap_or_else(|_| Json::String(k.clone())),
                };
                let null = || Error::invalid("null is not supported inside collections");
                out.push((
                    value_of(&key, kt)?.ok_or_else(null)?,
                    value_of(v, vt)?.ok_or_else(null)?,
                ));
            }
            normalize(ty, Value::Map(out))?
        }
        CqlType::Tuple(types) => {
            let Json::Array(items) = j else {
                return Err(bad("a list representation of a tuple"));
            };
            if items.len() > types.len() {
                return Err(Error::invalid(format!(
                    "Tuple contains extra items (expected {}): {}",
                    types.len(),
                    items.len()
                )));
            }
            let mut out = Vec::with_capacity(types.len());
            for (i, t) in types.iter().enumerate() {
                out.push(match items.get(i) {
                    Some(item) => value_of(item, t)?,
                    None => None,
                });
            }
            Value::Tuple(out)
        }
        CqlType::Udt(u) => {
            let Json::Object(entries) = j else {
                return Err(bad("a map"));
            };
            let mut out: Vec<(String, Option<Value>)> =
                u.fields.iter().map(|(n, _)| (n.clone(), None)).collect();
            for (k, v) in entries {
                let name = key_name(k);
                let Some(i) = u.fields.iter().position(|(n, _)| *n == name) else {
                    return Err(Error::invalid(format!(
                        "Unknown field '{name}' in value of user defined type {}",
                        u.name
                    )));
                };
                if let (Some((_, fty)), Some(slot)) = (u.fields.get(i), out.get_mut(i)) {
                    slot.1 = value_of(v, fty)?;
                }
            }
            Value::Udt(out)
        }
        CqlType::Vector { element, dimension } => {
            let Json::Array(items) = j else {
                return Err(bad("a vector"));
            };
            if items.len() != *dimension as usize {
                return Err(Error::invalid(format!(
                    "Invalid vector literal for a value of type {ty}; expected {dimension} \
                     elements, but given {}",
                    items.len()
                )));
            }
            Value::List(
                items
                    .iter()
                    .map(|i| {
                        value_of(i, element)?
                            .ok_or_else(|| Error::invalid("null is not supported inside vectors"))
                    })
                    .collect::<Result<Vec<_>>>()?,
            )
        }
    }))
}

fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "Boolean",
        Json::Number(n) if n.contains(['.', 'e', 'E']) => "Double",
        Json::Number(_) => "Integer",
        Json::String(_) => "String",
        Json::Array(_) => "ArrayList",
        Json::Object(_) => "LinkedHashMap",
    }
}

/// `s` as a JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON text of a value of `ty` (`None`: null), as Cassandra's `toJSONString` writes it.
pub(crate) fn to_json(ty: &CqlType, value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "null".to_owned();
    };
    let join =
        |items: Vec<String>, open: char, close: char| format!("{open}{}{close}", items.join(", "));
    match (ty, value) {
        (_, Value::Empty) => "\"\"".to_owned(),
        (_, Value::Ascii(s) | Value::Text(s)) => quote(s),
        (_, Value::Bigint(v) | Value::Counter(v)) => v.to_string(),
        (_, Value::Int(v)) => v.to_string(),
        (_, Value::Smallint(v)) => v.to_string(),
        (_, Value::Tinyint(v)) => v.to_string(),
        (_, Value::Varint(b)) => varint_to_decimal(b),
        (_, Value::Decimal { scale, unscaled }) => decimal_text(*scale, unscaled),
        (_, Value::Double(v)) => java_double(*v),
        (_, Value::Float(v)) => java_float(*v),
        (_, Value::Boolean(b)) => b.to_string(),
        (_, Value::Blob(b) | Value::Custom(b)) => quote(&format!("0x{}", crate::error::hex(b))),
        (_, Value::Uuid(u) | Value::Timeuuid(u)) => quote(&uuid::Uuid::from_bytes(*u).to_string()),
        (_, Value::Inet(ip)) => quote(&ip.to_string()),
        (_, Value::Timestamp(ms)) => quote(&timestamp_text(*ms)),
        (_, Value::Date(d)) => quote(&date_text(*d)),
        (_, Value::Time(n)) => quote(&time_text(*n)),
        (_, Value::Duration(d)) => quote(&duration_text(d)),
        (
            CqlType::List { element: e, .. }
            | CqlType::Set { element: e, .. }
            | CqlType::Vector { element: e, .. },
            Value::List(items) | Value::Set(items),
        ) => join(
            items.iter().map(|v| to_json(e, Some(v))).collect(),
            '[',
            ']',
        ),
        (
            CqlType::Map {
                key: kt, value: vt, ..
            },
            Value::Map(entries),
        ) => join(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = to_json(kt, Some(k));
                    let key = if key.starts_with('"') {
                        key
                    } else {
                        quote(&key)
                    };
                    format!("{key}: {}", to_json(vt, Some(v)))
                })
                .collect(),
            '{',
            '}',
        ),
        (CqlType::Tuple(types), Value::Tuple(items)) => join(
            items
                .iter()
                .zip(types)
                .map(|(v, t)| to_json(t, v.as_ref()))
                .collect(),
            '[',
            ']',
        ),
        (CqlType::Udt(u), Value::Udt(fields)) => join(
            u.fields
                .iter()
                .enumerate()
                .map(|(i, (name, t))| {
                    let v = fields.get(i).and_then(|(_, v)| v.as_ref());
                    format!("{}: {}", name_key(name), to_json(t, v))
                })
                .collect(),
            '{',
            '}',
        ),
        // A value that does not match its type cannot come from a decoder; write it plainly.
        (_, other) => quote(&format!("{other:?}")),
    }
}

/// A SELECT's rows as `SELECT JSON` returns them: one `[json]` text column holding an object
/// per row, keyed by the selected names (quoted when not all lowercase). `body` must carry its
/// column metadata; `skip_metadata` drops it from the answer, as the client asked.
pub(crate) fn rows_as_json(
    body: ilion_cql::protocol::ResultBody,
    skip_metadata: bool,
) -> Result<ilion_cql::protocol::ResultBody> {
    use ilion_cql::protocol::{ColumnSpec, ResultBody, Rows, RowsMetadata};
    let ResultBody::Rows(rows) = body else {
        return Ok(body);
    };
    let columns = rows
        .metadata
        .columns
        .clone()
        .ok_or_else(|| Error::server("SELECT JSON needs the result's column metadata"))?;
    let mut cells = Vec::with_capacity(rows.rows_count);
    for row in rows.rows() {
        let mut fields = Vec::with_capacity(columns.len());
        for (spec, cell) in columns.iter().zip(row) {
            let value = cell
                .as_ref()
                .map(|b| spec.ty.decode(b))
                .transpose()
                .map_err(|e| Error::server(format!("a result value does not decode: {e}")))?;
            fields.push(format!(
                "{}: {}",
                name_key(&spec.name),
                to_json(&spec.ty, value.as_ref())
            ));
        }
        cells.push(Some(Bytes::from(format!("{{{}}}", fields.join(", ")))));
    }
    let table = columns
        .first()
        .map(|c| c.table.clone())
        .or_else(|| rows.metadata.global_table_spec.clone())
        .unwrap_or(ilion_cql::protocol::TableSpec {
            keyspace: String::new(),
            table: String::new(),
        });
    let mut metadata = RowsMetadata::new(vec![ColumnSpec {
        table,
        name: "[json]".to_owned(),
        ty: CqlType::Text,
    }]);
    metadata.paging_state = rows.metadata.paging_state.clone();
    if skip_metadata {
        metadata.columns = None;
    }
    Ok(ResultBody::Rows(Rows {
        metadata,
        rows_count: cells.len(),
        cells,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_documents_parse_keeping_number_text_and_key_order() {
        let j = parse(r#" {"b": [1, -2.5e3, true, null], "a": "x\"\u00e9\n"} "#).unwrap();
        assert_eq!(
            j,
            Json::Object(vec![
                (
                    "b".into(),
                    Json::Array(vec![
                        Json::Number("1".into()),
                        Json::Number("-2.5e3".into()),
                        Json::Bool(true),
                        Json::Null
                    ])
                ),
                ("a".into(), Json::String("x\"é\n".into())),
            ])
        );
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "1 2", "\"abc", "tru", "[--1]"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep).is_err());
        let very_deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(parse(&very_deep).is_err(), "an error, not a stack overflow");
        let big = "[123456789012345678901234567890.000000000000000001]";
        assert_eq!(
            parse(big).unwrap(),
            Json::Array(vec![Json::Number(
                "123456789012345678901234567890.000000000000000001".into()
            )]),
            "numbers keep every digit"
        );
        assert_eq!(
            parse(r#"{"k": 1, "k": 2}"#).unwrap(),
            Json::Object(vec![
                ("k".into(), Json::Number("1".into())),
                ("k".into(), Json::Number("2".into()))
            ])
        );
    }

    #[test]
    fn values_map_to_json_as_cassandra_writes_them() {
        let map = CqlType::map(CqlType::Int, CqlType::Text);
        let v = Value::Map(vec![(Value::Int(1), Value::Text("a".into()))]);
        assert_eq!(to_json(&map, Some(&v)), r#"{"1": "a"}"#);
        assert_eq!(
            to_json(&CqlType::Timestamp, Some(&Value::Timestamp(1500))),
            "\"1970-01-01 00:00:01.500Z\""
        );
        assert_eq!(
            to_json(
                &CqlType::Blob,
                Some(&Value::Blob(Bytes::from_static(&[0xca, 0xfe])))
            ),
            "\"0xcafe\""
        );
        assert_eq!(to_json(&CqlType::Double, Some(&Value::Double(1.0))), "1.0");
        assert_eq!(
            to_json(&CqlType::Double, Some(&Value::Double(1e10))),
            "1.0E10"
        );
        assert_eq!(
            decimal_text(3, &Bytes::from_static(&[0xcf, 0xc7])),
            "-12.345"
        );
        assert_eq!(decimal_text(-3, &Bytes::from_static(&[1])), "1E+3");
        assert_eq!(decimal_text(8, &Bytes::from_static(&[1])), "1E-8");
        assert_eq!(decimal_text(4, &Bytes::from_static(&[15])), "0.0015");
        assert_eq!(time_text(3_600_500_000_000), "01:00:00.500000000");
        assert_eq!(
            duration_text(&ilion_cql::protocol::Duration {
                months: 14,
                days: 3,
                nanoseconds: 3_600_000_000_001
            }),
            "1y2mo3d1h1ns"
        );
        assert_eq!(name_key("Name"), r#""\"Name\"""#);
    }

    #[test]
    fn json_values_read_back_as_the_values_they_print() {
        let types = [
            CqlType::Int,
            CqlType::Varint,
            CqlType::Decimal,
            CqlType::Timestamp,
            CqlType::Date,
            CqlType::Time,
            CqlType::Duration,
            CqlType::set(CqlType::Int),
        ];
        let values = [
            Value::Int(-5),
            Value::Varint(varint_from_decimal("123456789012345678901234567890").unwrap()),
            Value::Decimal {
                scale: 4,
                unscaled: Bytes::from_static(&[15]),
            },
            Value::Timestamp(-86_400_001),
            Value::Date(12),
            Value::Time(86_399_999_999_999),
            Value::Duration(ilion_cql::protocol::Duration {
                months: -1,
                days: -2,
                nanoseconds: -3,
            }),
            Value::Set(vec![Value::Int(1), Value::Int(3)]),
        ];
        for (t, v) in types.iter().zip(&values) {
            let text = to_json(t, Some(v));
            assert_eq!(
                from_json_text(&text, t).unwrap().as_ref(),
                Some(v),
                "{text}"
            );
        }
        assert_eq!(
            from_json_text("[3, 1, 3]", &CqlType::set(CqlType::Int)).unwrap(),
            Some(Value::Set(vec![Value::Int(1), Value::Int(3)]))
        );
        assert!(from_json_text("\"x\"", &CqlType::Int).is_err());
        assert!(from_json_text("1", &CqlType::Text).is_err());
    }
}
