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
        (Literal::Integer(i), ColumnType::Varint) => {
            Value::Varint(varint_bytes(i.parse().map_err(|_| bad())?))
        }
        (Literal::Integer(i) | Literal::Float(i), ColumnType::Decimal) => {
            let (unscaled, scale) = parse_decimal(i).ok_or_else(bad)?;
            Value::Decimal {
                scale,
                unscaled: varint_bytes(unscaled),
            }
        }
        (Literal::String(s), ColumnType::Date) => Value::Date(parse_date(s).ok_or_else(bad)?),
        (Literal::String(s), ColumnType::Time) => Value::Time(parse_time(s).ok_or_else(bad)?),
        _ => return Err(bad()),
    }))
}

/// The minimal big-endian two's complement bytes of `v` (a varint's encoding).
fn varint_bytes(v: i128) -> Bytes {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    Bytes::copy_from_slice(bytes.get(start..).unwrap_or_default())
}

/// A decimal literal (`-12.345`; no exponent) as unscaled value and scale.
fn parse_decimal(s: &str) -> Option<(i128, i32)> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    Some((digits.parse().ok()?, i32::try_from(frac.len()).ok()?))
}

/// `YYYY-MM-DD` as a CQL date (days since the epoch, offset by 2^31).
fn parse_date(s: &str) -> Option<u32> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > days_in_month {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days + (1i64 << 31)).ok()
}

/// `HH:MM:SS[.fffffffff]` as nanoseconds since midnight.
fn parse_time(s: &str) -> Option<i64> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = parts.next()?.parse().ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000_000 + nanos)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_minimal_twos_complement() {
        assert_eq!(varint_bytes(0).as_ref(), &[0]);
        assert_eq!(varint_bytes(127).as_ref(), &[0x7f]);
        assert_eq!(varint_bytes(128).as_ref(), &[0x00, 0x80]);
        assert_eq!(varint_bytes(-1).as_ref(), &[0xff]);
        assert_eq!(varint_bytes(-129).as_ref(), &[0xff, 0x7f]);
    }

    #[test]
    fn decimal_date_and_time_literals_parse_as_cassandra_reads_them() {
        assert_eq!(parse_decimal("-12.345"), Some((-12345, 3)));
        assert_eq!(parse_decimal("7"), Some((7, 0)));
        assert_eq!(parse_decimal("1e3"), None);
        assert_eq!(parse_date("1970-01-01"), Some(1 << 31));
        assert_eq!(parse_date("2024-02-29"), Some((1 << 31) + 19_782));
        assert_eq!(parse_date("1969-12-31"), Some((1 << 31) - 1));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_time("01:00:00.5"), Some(3_600_500_000_000));
        assert_eq!(parse_time("24:00:00"), None);
    }
}
