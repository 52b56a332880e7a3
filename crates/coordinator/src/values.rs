//! Terms of a statement (literals, collection/tuple/UDT literals, bind markers and the few
//! functions a value may be written with) turned into typed values, as Cassandra reads them.
//!
//! Sets and maps are normalized as Cassandra stores them: elements (keys) sorted by the
//! element type's comparator, duplicates removed (for a map, the last value of a key wins).

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Bytes, BytesMut};
use ilion_cql::language::ast::{BindMarker, Literal, QualifiedName, Term};
use ilion_cql::protocol::{CqlType, Duration, RawValue, Value, Values};

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
pub(crate) fn term_value(term: &Term, ty: &CqlType, bound: &Bound) -> Result<Option<Value>> {
    let bad = || {
        Error::invalid(format!(
            "Invalid {} literal for a value of type {ty}: {term}",
            term_kind(term)
        ))
    };
    Ok(Some(match term {
        Term::Literal(l) => return literal_value(l, ty),
        Term::Bind(m) => match bound.get(m)? {
            RawValue::Null | RawValue::Unset => return Ok(None),
            RawValue::Bytes(b) => {
                let v = ty.decode(b).map_err(|e| {
                    Error::invalid(format!("Invalid value for a {ty} bound variable: {e}"))
                })?;
                normalize(ty, v)?
            }
        },
        Term::TypeHint { term, .. } => return term_value(term, ty, bound),
        Term::List(items) => match ty {
            CqlType::List { element: e, .. } => Value::List(elements(items, e, bound)?),
            _ => return Err(bad()),
        },
        Term::Set(items) => match ty {
            CqlType::Set { element: e, .. } => {
                Value::Set(sorted_set(e, elements(items, e, bound)?)?)
            }
            _ => return Err(bad()),
        },
        Term::Map(pairs) => match ty {
            CqlType::Map {
                key: kt, value: vt, ..
            } => {
                let mut entries = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    entries.push((element(k, kt, bound)?, element(v, vt, bound)?));
                }
                Value::Map(sorted_map(kt, entries)?)
            }
            // `{}` is an empty map to the parser; Cassandra coerces it to an empty set.
            CqlType::Set { .. } if pairs.is_empty() => Value::Set(Vec::new()),
            _ => return Err(bad()),
        },
        Term::Tuple(items) => match ty {
            CqlType::Tuple(types) => {
                if items.len() > types.len() {
                    return Err(Error::invalid(format!(
                        "Invalid tuple literal: too many elements. Type {ty} expects {} but got {}",
                        types.len(),
                        items.len()
                    )));
                }
                let mut out = Vec::with_capacity(types.len());
                for (i, t) in types.iter().enumerate() {
                    out.push(match items.get(i) {
                        Some(term) => term_value(term, t, bound)?,
                        None => None,
                    });
                }
                Value::Tuple(out)
            }
            _ => return Err(bad()),
        },
        Term::Udt(fields) => match ty {
            CqlType::Udt(u) => {
                let mut out: Vec<(String, Option<Value>)> =
                    u.fields.iter().map(|(n, _)| (n.clone(), None)).collect();
                for (name, term) in fields {
                    let Some(i) = u.fields.iter().position(|(n, _)| n == name.as_str()) else {
                        return Err(Error::invalid(format!(
                            "Unknown field '{}' in value of user defined type {}",
                            name.as_str(),
                            u.name
                        )));
                    };
                    let (Some((_, fty)), Some(slot)) = (u.fields.get(i), out.get_mut(i)) else {
                        return Err(bad());
                    };
                    slot.1 = term_value(term, fty, bound)?;
                }
                Value::Udt(out)
            }
            _ => return Err(bad()),
        },
        Term::Function { name, args } => return function_value(name, args, ty, bound),
    }))
}

fn term_kind(term: &Term) -> &'static str {
    match term {
        Term::List(_) => "list",
        Term::Set(_) => "set",
        Term::Map(_) => "map",
        Term::Tuple(_) => "tuple",
        Term::Udt(_) => "user type",
        _ => "",
    }
}

/// One element of a collection literal: never null.
fn element(term: &Term, ty: &CqlType, bound: &Bound) -> Result<Value> {
    if bound.is_unset(term) {
        return Err(Error::invalid("Invalid unset value in collection"));
    }
    term_value(term, ty, bound)?
        .ok_or_else(|| Error::invalid("null is not supported inside collections"))
}

fn elements(items: &[Term], ty: &CqlType, bound: &Bound) -> Result<Vec<Value>> {
    items.iter().map(|t| element(t, ty, bound)).collect()
}

/// `value` as Cassandra keeps it: sets and maps (at any depth) sorted and without duplicates.
pub(crate) fn normalize(ty: &CqlType, value: Value) -> Result<Value> {
    Ok(match (ty, value) {
        (CqlType::List { element: e, .. }, Value::List(items)) => Value::List(
            items
                .into_iter()
                .map(|v| normalize(e, v))
                .collect::<Result<_>>()?,
        ),
        (CqlType::Set { element: e, .. }, Value::Set(items)) => {
            let items = items
                .into_iter()
                .map(|v| normalize(e, v))
                .collect::<Result<_>>()?;
            Value::Set(sorted_set(e, items)?)
        }
        (
            CqlType::Map {
                key: kt, value: vt, ..
            },
            Value::Map(entries),
        ) => {
            let entries = entries
                .into_iter()
                .map(|(k, v)| Ok((normalize(kt, k)?, normalize(vt, v)?)))
                .collect::<Result<_>>()?;
            Value::Map(sorted_map(kt, entries)?)
        }
        (CqlType::Tuple(types), Value::Tuple(items)) => Value::Tuple(
            items
                .into_iter()
                .zip(types)
                .map(|(v, t)| v.map(|v| normalize(t, v)).transpose())
                .collect::<Result<_>>()?,
        ),
        (CqlType::Udt(u), Value::Udt(fields)) => Value::Udt(
            fields
                .into_iter()
                .zip(&u.fields)
                .map(|((n, v), (_, t))| Ok((n, v.map(|v| normalize(t, v)).transpose()?)))
                .collect::<Result<_>>()?,
        ),
        (_, v) => v,
    })
}

/// The key under which `value` sorts among values of `ty` (Cassandra's comparator).
pub(crate) fn sort_key(ty: &CqlType, value: &Value) -> Result<Vec<u8>> {
    let bytes = encode(ty, value)?;
    ty.order_key(&bytes)
        .map_err(|e| Error::invalid(format!("Invalid {ty} value: {e}")))
}

fn sorted_set(ty: &CqlType, items: Vec<Value>) -> Result<Vec<Value>> {
    let mut keyed = items
        .into_iter()
        .map(|v| Ok((sort_key(ty, &v)?, v)))
        .collect::<Result<Vec<_>>>()?;
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    Ok(keyed.into_iter().map(|(_, v)| v).collect())
}

fn sorted_map(kt: &CqlType, entries: Vec<(Value, Value)>) -> Result<Vec<(Value, Value)>> {
    let mut keyed = entries
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| Ok((sort_key(kt, &k)?, i, k, v)))
        .collect::<Result<Vec<_>>>()?;
    // The last value written for a key wins.
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    keyed.dedup_by(|a, b| a.0 == b.0);
    Ok(keyed.into_iter().map(|(_, _, k, v)| (k, v)).collect())
}

/// `fromJson(..)`, `now()`, `uuid()` and the `current*()` functions as values.
fn function_value(
    name: &QualifiedName,
    args: &[Term],
    ty: &CqlType,
    bound: &Bound,
) -> Result<Option<Value>> {
    let fname = name.name.as_str().to_ascii_lowercase();
    let no_args = |v: Value, result: CqlType| -> Result<Option<Value>> {
        if !args.is_empty() {
            return Err(Error::invalid(format!(
                "Invalid number of arguments in call to function {fname}: 0 required but {} provided",
                args.len()
            )));
        }
        if result != *ty {
            return Err(Error::invalid(format!(
                "Type error: cannot assign result of function {fname} (type {result}) to a {ty} value"
            )));
        }
        Ok(Some(v))
    };
    match fname.as_str() {
        "fromjson" => {
            let [arg] = args else {
                return Err(Error::invalid(format!(
                    "Invalid number of arguments in call to function fromjson: 1 required but {} provided",
                    args.len()
                )));
            };
            match term_value(arg, &CqlType::Text, bound)? {
                Some(Value::Text(text)) => crate::json::from_json_text(&text, ty),
                _ => Ok(None),
            }
        }
        "now" | "currenttimeuuid" => no_args(Value::Timeuuid(next_timeuuid()), CqlType::Timeuuid),
        "uuid" => no_args(Value::Uuid(*uuid::Uuid::new_v4().as_bytes()), CqlType::Uuid),
        "currenttimestamp" => no_args(
            Value::Timestamp(crate::data::now_micros() / 1000),
            CqlType::Timestamp,
        ),
        "currentdate" => no_args(
            Value::Date(
                u32::try_from(crate::data::now_micros().div_euclid(86_400_000_000) + (1 << 31))
                    .unwrap_or(1 << 31),
            ),
            CqlType::Date,
        ),
        "currenttime" => no_args(
            Value::Time(crate::data::now_micros().rem_euclid(86_400_000_000) * 1000),
            CqlType::Time,
        ),
        _ => Err(Error::not_supported(&format!(
            "The function {name} in a written value"
        ))),
    }
}

/// 100ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
const GREGORIAN_OFFSET: i64 = 0x01B2_1DD2_1381_4000;

/// Cassandra's list reference time (2010-01-01), in milliseconds: prepended list elements get
/// timeuuids as far before it as the current time is after it.
const LIST_REFERENCE_MILLIS: i64 = 1_262_304_000_000;

static LAST_TICKS: AtomicI64 = AtomicI64::new(0);
static LAST_PREPEND_TICKS: AtomicI64 = AtomicI64::new(i64::MAX);

/// This process's clock sequence and node (the low 8 bytes of its timeuuids), chosen once.
fn timeuuid_node() -> [u8; 8] {
    static NODE: std::sync::OnceLock<[u8; 8]> = std::sync::OnceLock::new();
    *NODE.get_or_init(|| {
        let mut b: [u8; 8] = rand::random();
        b[0] = (b[0] & 0x3f) | 0x80; // RFC 4122 variant
        b[2] |= 0x01; // multicast bit: a random node id
        b
    })
}

fn timeuuid_at(ticks: i64) -> [u8; 16] {
    let t = ticks.max(0) as u64;
    let mut out = [0u8; 16];
    let time_low = (t & 0xffff_ffff) as u32;
    let time_mid = ((t >> 32) & 0xffff) as u16;
    let time_hi = (((t >> 48) & 0x0fff) as u16) | 0x1000;
    out[..4].copy_from_slice(&time_low.to_be_bytes());
    out[4..6].copy_from_slice(&time_mid.to_be_bytes());
    out[6..8].copy_from_slice(&time_hi.to_be_bytes());
    out[8..].copy_from_slice(&timeuuid_node());
    out
}

/// Reserves `n` consecutive 100ns ticks after every tick handed out before; returns the first.
fn reserve_ticks(n: usize) -> i64 {
    let n = i64::try_from(n.max(1)).unwrap_or(i64::MAX / 2);
    let now = crate::data::now_micros() * 10 + GREGORIAN_OFFSET;
    let mut last = LAST_TICKS.load(Ordering::Relaxed);
    loop {
        let first = now.max(last + 1);
        match LAST_TICKS.compare_exchange_weak(
            last,
            first + n - 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return first,
            Err(seen) => last = seen,
        }
    }
}

/// A fresh timeuuid, later than every one this process made before (`now()`).
pub(crate) fn next_timeuuid() -> [u8; 16] {
    timeuuid_at(reserve_ticks(1))
}

/// Increasing timeuuids for `n` list elements appended now: after every element appended
/// before by this node.
pub(crate) fn append_timeuuids(n: usize) -> Vec<[u8; 16]> {
    let first = reserve_ticks(n);
    (0..n).map(|i| timeuuid_at(first + i as i64)).collect()
}

/// Increasing timeuuids for `n` list elements prepended now: before every element appended,
/// and before every element prepended earlier (Cassandra mirrors the time around 2010-01-01).
pub(crate) fn prepend_timeuuids(n: usize) -> Vec<[u8; 16]> {
    let n = i64::try_from(n.max(1)).unwrap_or(i64::MAX / 2);
    let now_ms = crate::data::now_micros() / 1000;
    let mirrored =
        (LIST_REFERENCE_MILLIS - (now_ms - LIST_REFERENCE_MILLIS)) * 10_000 + GREGORIAN_OFFSET;
    let mut last = LAST_PREPEND_TICKS.load(Ordering::Relaxed);
    let first = loop {
        let first = mirrored.min(last.saturating_sub(n));
        match LAST_PREPEND_TICKS.compare_exchange_weak(
            last,
            first,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => break first,
            Err(seen) => last = seen,
        }
    };
    (0..n).map(|i| timeuuid_at(first + i)).collect()
}

fn mismatch(l: &Literal, ty: &CqlType) -> Error {
    Error::invalid(format!("Invalid literal {l} for a value of type {ty}"))
}

/// The value of a literal as `ty`.
pub(crate) fn literal_value(l: &Literal, ty: &CqlType) -> Result<Option<Value>> {
    let bad = || mismatch(l, ty);
    Ok(Some(match (l, ty) {
        (Literal::Null, _) => return Ok(None),
        (Literal::String(s), CqlType::Text) => Value::Text(s.clone()),
        (Literal::String(s), CqlType::Ascii) if s.is_ascii() => Value::Ascii(s.clone()),
        (Literal::Integer(i), CqlType::Int) => Value::Int(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), CqlType::Bigint) => Value::Bigint(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), CqlType::Smallint) => Value::Smallint(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), CqlType::Tinyint) => Value::Tinyint(i.parse().map_err(|_| bad())?),
        (Literal::Integer(i), CqlType::Timestamp) => {
            Value::Timestamp(i.parse().map_err(|_| bad())?)
        }
        (Literal::String(s), CqlType::Timestamp) => {
            Value::Timestamp(parse_timestamp(s).ok_or_else(|| {
                Error::invalid(format!("Unable to coerce '{s}' to a formatted date (long)"))
            })?)
        }
        (Literal::Integer(i) | Literal::Float(i), CqlType::Double) => {
            Value::Double(parse_float::<f64>(i).ok_or_else(bad)?)
        }
        (Literal::Integer(i) | Literal::Float(i), CqlType::Float) => {
            Value::Float(parse_float::<f32>(i).ok_or_else(bad)?)
        }
        (Literal::Boolean(b), CqlType::Boolean) => Value::Boolean(*b),
        (Literal::Uuid(u), CqlType::Uuid) => Value::Uuid(parse_uuid(u).ok_or_else(bad)?),
        (Literal::Uuid(u), CqlType::Timeuuid) => Value::Timeuuid(parse_timeuuid(u)?),
        (Literal::String(s), CqlType::Inet) => Value::Inet(
            s.parse::<IpAddr>()
                .map_err(|_| Error::invalid(format!("Unable to make inet address from '{s}'")))?,
        ),
        (Literal::Hex(h), CqlType::Blob) => Value::Blob(parse_hex(h).ok_or_else(bad)?),
        (Literal::Integer(i), CqlType::Varint) => {
            Value::Varint(varint_from_decimal(i).ok_or_else(bad)?)
        }
        (Literal::Integer(i) | Literal::Float(i), CqlType::Decimal) => {
            let (unscaled, scale) = parse_decimal(i).ok_or_else(bad)?;
            Value::Decimal { scale, unscaled }
        }
        (Literal::String(s), CqlType::Date) => Value::Date(parse_date(s).ok_or_else(|| {
            Error::invalid(format!("Unable to coerce '{s}' to a formatted date (long)"))
        })?),
        (Literal::Integer(i), CqlType::Date) => Value::Date(i.parse().map_err(|_| bad())?),
        (Literal::String(s), CqlType::Time) => Value::Time(parse_time(s).ok_or_else(|| {
            Error::invalid(format!("Unable to coerce '{s}' to a formatted time (long)"))
        })?),
        (Literal::Integer(i), CqlType::Time) => {
            let nanos: i64 = i.parse().map_err(|_| bad())?;
            if !(0..86_400_000_000_000).contains(&nanos) {
                return Err(bad());
            }
            Value::Time(nanos)
        }
        (Literal::Duration(d) | Literal::String(d), CqlType::Duration) => Value::Duration(
            parse_duration(d)
                .ok_or_else(|| Error::invalid(format!("Unable to convert '{d}' to a duration")))?,
        ),
        (Literal::Integer(_), CqlType::Counter) => {
            return Err(Error::invalid(
                "Cannot set the value of counter column (counters can only be incremented/decremented, not set)",
            ));
        }
        _ => return Err(bad()),
    }))
}

/// A float literal (`1.5`, `-2e10`, `NaN`, `Infinity`, `-Infinity`) parsed straight to `F`.
pub(crate) fn parse_float<F: std::str::FromStr>(s: &str) -> Option<F> {
    match s {
        "NaN" => "NaN".parse().ok(),
        "Infinity" => "inf".parse().ok(),
        "-Infinity" => "-inf".parse().ok(),
        _ if s
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

fn parse_timeuuid(u: &str) -> Result<[u8; 16]> {
    let bytes = parse_uuid(u).ok_or_else(|| Error::invalid(format!("Invalid UUID string: {u}")))?;
    if bytes[6] >> 4 != 1 {
        return Err(Error::invalid(format!(
            "Unsupported UUID for timeuuid: {u}"
        )));
    }
    Ok(bytes)
}

/// The minimal big-endian two's complement bytes of `v` (a varint's encoding).
fn varint_bytes(v: i128) -> Bytes {
    minimal_twos_complement(&v.to_be_bytes())
}

/// `bytes` (two's complement) without redundant leading sign bytes.
fn minimal_twos_complement(bytes: &[u8]) -> Bytes {
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

/// A decimal integer of any size (`-123...`) as varint bytes.
pub(crate) fn varint_from_decimal(s: &str) -> Option<Bytes> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(v) = s.parse::<i128>() {
        return Some(varint_bytes(v));
    }
    // Magnitude, big-endian base 256, with a leading zero byte for the sign.
    let mut mag: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for b in mag.iter_mut().rev() {
            let x = u32::from(*b) * 10 + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
        if mag.first().is_some_and(|b| b & 0x80 != 0) {
            mag.insert(0, 0);
        }
    }
    if neg {
        // Two's complement: invert, add one.
        let mut carry = 1u16;
        for b in mag.iter_mut().rev() {
            let x = u16::from(!*b) + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
    }
    Some(minimal_twos_complement(&mag))
}

/// Varint bytes as a decimal integer.
pub(crate) fn varint_to_decimal(bytes: &[u8]) -> String {
    let neg = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = bytes.to_vec();
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut().rev() {
            let x = u16::from(!*b) + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
    }
    let mut digits = Vec::new();
    while mag.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for b in mag.iter_mut() {
            let x = (rem << 8) | u32::from(*b);
            *b = (x / 10) as u8;
            rem = x % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A decimal literal (`-12.345`, `1.5e-3`) as unscaled varint and scale (Java's BigDecimal).
pub(crate) fn parse_decimal(s: &str) -> Option<(Bytes, i32)> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(at) => {
            let exp = s.get(at + 1..)?;
            (
                s.get(..at)?,
                exp.strip_prefix('+').unwrap_or(exp).parse::<i32>().ok()?,
            )
        }
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let digits = if digits == "-" || digits == "+" || digits.is_empty() {
        return None;
    } else {
        digits
    };
    let scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
    Some((varint_from_decimal(&digits)?, scale))
}

/// `YYYY-MM-DD` (or a day number) as a CQL date (days since the epoch, offset by 2^31).
pub(crate) fn parse_date(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let days = days_from_civil_str(s)?;
    u32::try_from(days + (1i64 << 31)).ok()
}

/// Days since the Unix epoch of `[-]YYYY-MM-DD`.
fn days_from_civil_str(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut parts = rest.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let y = if neg { -y } else { y };
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    days_from_civil(y, m, d)
}

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
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
    Some(era * 146_097 + doe - 719_468)
}

/// The civil date `(year, month, day)` of a day number since the Unix epoch.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `HH:MM:SS[.fffffffff]` (or nanoseconds) as nanoseconds since midnight.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .ok()
            .filter(|n| (0..86_400_000_000_000).contains(n));
    }
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

/// A timestamp string as Cassandra accepts it (`yyyy-mm-dd[(T| )HH:MM[:SS[.fff]]][zone]`,
/// zone `Z`, `+HHMM` or `+HH:MM`, UTC when absent; or milliseconds) as ms since the epoch.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let date_len = s
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ' || *c == 'T')
        .map_or(s.len(), |(i, _)| i);
    let (date, rest) = s.split_at(date_len);
    // A date alone may carry a zone directly (`2020-01-01+0000`): split it off.
    let (date, mut rest) = match (rest.is_empty(), date.get(10..)) {
        (true, Some(zone)) if !zone.is_empty() => (date.get(..10)?, zone),
        _ => (date, rest.get(1..).unwrap_or("")),
    };
    let days = days_from_civil_str(date)?;
    let mut millis = 0i64;
    let rest_trimmed = rest.trim_start();
    rest = rest_trimmed;
    if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
            .unwrap_or(rest.len());
        let (time, zone) = rest.split_at(end);
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut parts = hms.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let m: i64 = parts.next()?.parse().ok()?;
        let sec: i64 = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
            return None;
        }
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ms: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().ok()?
        };
        millis = ((h * 60 + m) * 60 + sec) * 1000 + ms;
        rest = zone;
    }
    let rest = rest.trim();
    let offset_minutes: i64 = match rest {
        "" | "Z" | "z" | "UTC" | "GMT" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let digits: String = rest.get(1..)?.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits.get(..2)?.parse().ok()?;
            let m: i64 = digits.get(2..)?.parse().ok()?;
            sign * (h * 60 + m)
        }
    };
    Some(days * 86_400_000 + millis - offset_minutes * 60_000)
}

/// A duration literal: `1h30m`, `-2d`, ISO 8601 `P1DT2H`, `P2W` or `P0001-02-03T04:05:06`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i64);
    if let Some(iso) = body.strip_prefix(['P', 'p']) {
        if iso.contains('-') {
            // P0001-02-03T04:05:06
            let (date, time) = iso.split_once(['T', 't'])?;
            let mut d = date.split('-');
            let y: i64 = d.next()?.parse().ok()?;
            let mo: i64 = d.next()?.parse().ok()?;
            let dd: i64 = d.next()?.parse().ok()?;
            let mut t = time.split(':');
            let h: i64 = t.next()?.parse().ok()?;
            let mi: i64 = t.next()?.parse().ok()?;
            let se: i64 = t.next()?.parse().ok()?;
            months = y * 12 + mo;
            days = dd;
            nanos = ((h * 60 + mi) * 60 + se) * 1_000_000_000;
        } else {
            let mut in_time = false;
            let mut num = String::new();
            let mut any = false;
            for c in iso.chars() {
                match c.to_ascii_uppercase() {
                    'T' if num.is_empty() => in_time = true,
                    d if d.is_ascii_digit() => num.push(d),
                    unit => {
                        let n: i64 = num.parse().ok()?;
                        num.clear();
                        any = true;
                        match (unit, in_time) {
                            ('Y', false) => months = months.checked_add(n.checked_mul(12)?)?,
                            ('M', false) => months = months.checked_add(n)?,
                            ('W', false) => days = days.checked_add(n.checked_mul(7)?)?,
                            ('D', false) => days = days.checked_add(n)?,
                            ('H', true) => {
                                nanos = nanos.checked_add(n.checked_mul(3_600_000_000_000)?)?
                            }
                            ('M', true) => {
                                nanos = nanos.checked_add(n.checked_mul(60_000_000_000)?)?
                            }
                            ('S', true) => {
                                nanos = nanos.checked_add(n.checked_mul(1_000_000_000)?)?
                            }
                            _ => return None,
                        }
                    }
                }
            }
            if !num.is_empty() || !any {
                return None;
            }
        }
    } else {
        let lower = body.to_ascii_lowercase();
        let mut rest = lower.as_str();
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return None;
            }
            let n: i64 = rest.get(..digits)?.parse().ok()?;
            rest = rest.get(digits..)?;
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = rest.get(..unit_len)?;
            rest = rest.get(unit_len..)?;
            let (field, mult) = match unit {
                "y" => (&mut months, 12),
                "mo" => (&mut months, 1),
                "w" => (&mut days, 7),
                "d" => (&mut days, 1),
                "h" => (&mut nanos, 3_600_000_000_000),
                "m" => (&mut nanos, 60_000_000_000),
                "s" => (&mut nanos, 1_000_000_000),
                "ms" => (&mut nanos, 1_000_000),
                "us" | "µs" => (&mut nanos, 1_000),
                "ns" => (&mut nanos, 1),
                _ => return None,
            };
            *field = field.checked_add(n.checked_mul(mult)?)?;
        }
    }
    let sign = if neg { -1 } else { 1 };
    Some(Duration {
        months: i32::try_from(months * sign).ok()?,
        days: i32::try_from(days * sign).ok()?,
        nanoseconds: nanos * sign,
    })
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes())
}

pub(crate) fn parse_hex(h: &str) -> Option<Bytes> {
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
pub(crate) fn encode(ty: &CqlType, value: &Value) -> Result<Bytes> {
    let mut out = BytesMut::with_capacity(value.encoded_len());
    ty.encode(value, &mut out)
        .map_err(|e| Error::invalid(format!("Invalid {ty} value: {e}")))?;
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
    fn varints_of_any_size_convert_to_and_from_decimal() {
        for s in [
            "0",
            "1",
            "-1",
            "128",
            "-129",
            "170141183460469231731687303715884105727",
            "170141183460469231731687303715884105728",
            "-170141183460469231731687303715884105729",
            "123456789012345678901234567890123456789012345678901234567890",
            "-98765432109876543210987654321098765432109876543210",
        ] {
            let bytes = varint_from_decimal(s).unwrap();
            assert_eq!(varint_to_decimal(&bytes), s);
            assert_eq!(minimal_twos_complement(&bytes), bytes);
        }
        assert_eq!(
            varint_from_decimal("170141183460469231731687303715884105728")
                .unwrap()
                .as_ref(),
            &[0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert!(varint_from_decimal("1.5").is_none());
        assert!(varint_from_decimal("-").is_none());
    }

    #[test]
    fn decimal_date_and_time_literals_parse_as_cassandra_reads_them() {
        assert_eq!(parse_decimal("-12.345"), Some((varint_bytes(-12345), 3)));
        assert_eq!(parse_decimal("7"), Some((varint_bytes(7), 0)));
        assert_eq!(parse_decimal("1e3"), Some((varint_bytes(1), -3)));
        assert_eq!(parse_decimal("1.5E-3"), Some((varint_bytes(15), 4)));
        assert_eq!(parse_date("1970-01-01"), Some(1 << 31));
        assert_eq!(parse_date("2024-02-29"), Some((1 << 31) + 19_782));
        assert_eq!(parse_date("1969-12-31"), Some((1 << 31) - 1));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_time("01:00:00.5"), Some(3_600_500_000_000));
        assert_eq!(parse_time("24:00:00"), None);
        for days in [-800_000, -1, 0, 1, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), Some(days));
        }
    }

    #[test]
    fn timestamp_strings_parse_with_and_without_zones() {
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Some(1000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_timestamp("2011-02-03 04:05+0000"),
            Some(1_296_705_900_000)
        );
        assert_eq!(
            parse_timestamp("2011-02-03 04:05:00.000+0100"),
            Some(1_296_702_300_000)
        );
        assert_eq!(parse_timestamp("2011-02-03+0000"), Some(1_296_691_200_000));
        assert_eq!(parse_timestamp("12345"), Some(12_345));
        assert_eq!(parse_timestamp("2011-02-30"), None);
        assert_eq!(parse_timestamp("2011-02-03 25:00"), None);
    }

    #[test]
    fn durations_parse_in_all_three_notations() {
        let d = |months, days, nanoseconds| Duration {
            months,
            days,
            nanoseconds,
        };
        assert_eq!(parse_duration("1h30m"), Some(d(0, 0, 5_400_000_000_000)));
        assert_eq!(
            parse_duration("1y2mo3w4d5h6m7s8ms9us10ns"),
            Some(d(14, 25, 18_367_008_009_010))
        );
        assert_eq!(parse_duration("-2d"), Some(d(0, -2, 0)));
        assert_eq!(parse_duration("P1DT2H"), Some(d(0, 1, 7_200_000_000_000)));
        assert_eq!(parse_duration("P2W"), Some(d(0, 14, 0)));
        assert_eq!(
            parse_duration("P0001-02-03T04:05:06"),
            Some(d(14, 3, 14_706_000_000_000))
        );
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn list_element_timeuuids_increase_and_prepends_come_first() {
        let key = |u: &[u8; 16]| CqlType::Timeuuid.order_key(u).unwrap();
        let a = append_timeuuids(3);
        let b = append_timeuuids(2);
        let p = prepend_timeuuids(2);
        let q = prepend_timeuuids(2);
        let all: Vec<Vec<u8>> = q.iter().chain(&p).chain(&a).chain(&b).map(key).collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(all, sorted);
        assert!(a.iter().all(|u| u[6] >> 4 == 1 && u[8] >> 6 == 2));
    }
}
