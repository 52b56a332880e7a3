//! Terms of a statement (literals and bind markers) turned into typed values.

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use cql::language::ast::{BindMarker, Literal, Term};
use cql::protocol::{ColumnType, RawValue, Value, Values};

use crate::{Error, Result};

/// The values bound to a statement's markers, by position (named values already placed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Bound {
    values: Vec<RawValue>,
}

impl Bound {
    /// Binds `values` to `markers` (the statement's markers in order).
    pub(crate) fn new(values: &Values, markers: &[BindMarker]) -> Result<Bound> {
        let values = match values {
            Values::None => Vec::new(),
            Values::Positional(v) => v.clone(),
            Values::Named(named) => markers
                .iter()
                .map(|m| {
                    let name = m.name.as_ref().map(|n| n.as_str()).unwrap_or_default();
                    named
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| Error::invalid(format!("No value has been bound to {name}")))
                })
                .collect::<Result<_>>()?,
        };
        if values.len() != markers.len() {
            return Err(Error::invalid(format!(
                "there were {} markers(?) in CQL but {} bound variables",
                markers.len(),
                values.len()
            )));
        }
        Ok(Bound { values })
    }

    /// Whether `term` is a bind marker bound to "unset" (the column is left as it is).
    pub(crate) fn is_unset(&self, term: &Term) -> bool {
        match term {
            Term::Bind(m) => matches!(self.values.get(m.index), Some(RawValue::Unset)),
            Term::TypeHint { term, .. } => self.is_unset(term),
            _ => false,
        }
    }

    fn get(&self, m: &BindMarker) -> Result<&RawValue> {
        self.values
            .get(m.index)
            .ok_or_else(|| Error::invalid(format!("no value bound to marker {}", m.index)))
    }
}

/// The value of `term` as `ty`; `None` is null (or unset).
pub(crate) fn term_value(term: &Term, ty: &ColumnType, bound: &Bound) -> Result<Option<Value>> {
    match term {
        Term::Literal(l) => literal_value(l, ty),
        Term::Bind(m) => match bound.get(m)? {
            RawValue::Null | RawValue::Unset => Ok(None),
            RawValue::Bytes(b) => ty.decode(b).map(Some).map_err(|e| {
                Error::invalid(format!("Invalid value for a {ty} bound variable: {e}"))
            }),
        },
        Term::TypeHint { term, .. } => term_value(term, ty, bound),
        other => Err(Error::invalid(format!(
            "Invalid term {other} for a value of type {ty}"
        ))),
    }
}

fn mismatch(l: &Literal, ty: &ColumnType) -> Error {
    Error::invalid(format!("Invalid literal {l} for a value of type {ty}"))
}

/// The value of a literal as `ty`.
pub(crate) fn literal_value(l: &Literal, ty: &ColumnType) -> Result<Option<Value>> {
    let bad = || mismatch(l, ty);
    Ok(Some(match (l, ty) {
        (Literal::Null, _) => return Ok(None),
        (Literal::String(s), ColumnType::Varchar) => Value::Text(s.clone()),
        (Literal::String(s), ColumnType::Ascii) if s.is_ascii() => Value::Ascii(s.clone()),
        (Literal::Integer(i), ColumnType::Int) => Value::Int(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), ColumnType::Bigint) => Value::Bigint(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), ColumnType::Smallint) => {
            Value::Smallint(i.parse().map_err(|_| bad())?)
        }
        (Literal::Integer(i), ColumnType::Tinyint) => Value::Tinyint(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), ColumnType::Timestamp) => {
            Value::Timestamp(i.parse().map_err(|_| bad())?)
        }
        (Literal::Integer(i) | Literal::Float(i), ColumnType::Double) => {
            Value::Double(i.parse().map_err(|_| bad())?)
        }
        (Literal::Integer(i) | Literal::Float(i), ColumnType::Float) => {
            Value::Float(i.parse().map_err(|_| bad())?)
        }
        (Literal::Boolean(b), ColumnType::Boolean) => Value::Boolean(*b),
        (Literal::Uuid(u), ColumnType::Uuid) => Value::Uuid(parse_uuid(u).ok_or_else(bad)?),
        (Literal::Uuid(u), ColumnType::Timeuuid) => {
            let bytes = parse_uuid(u).ok_or_else(bad)?;
            if bytes[6] >> 4 != 1 {
                return Err(Error::invalid(format!(
                    "Unsupported UUID for timeuuid: {u}"
                )));
            }
            Value::Timeuuid(bytes)
        }
        (Literal::String(s), ColumnType::Inet) => {
            Value::Inet(s.parse::<IpAddr>().map_err(|_| bad())?)
        }
        (Literal::Hex(h), ColumnType::Blob) => Value::Blob(parse_hex(h).ok_or_else(bad)?),
        _ => return Err(bad()),
    }))
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes())
}

fn parse_hex(h: &str) -> Option<Bytes> {
    let digits = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X"))?;
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

/// The serialized form of `value` as `ty`.
pub(crate) fn encode(ty: &ColumnType, value: &Value) -> Result<Bytes> {
    let mut out = BytesMut::with_capacity(value.encoded_len());
    ty.encode(value, &mut out)
        .map_err(|e| Error::server(format!("cannot encode a {ty} value: {e}")))?;
    Ok(out.freeze())
}
