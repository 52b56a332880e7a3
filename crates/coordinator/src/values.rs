//! Terms of a statement (literals, collection/tuple/UDT literals, bind markers and the few
//! functions a value may be written with) turned into typed values, as Cassandra reads them.
//!
//! Sets and maps are normalized as Cassandra stores them: elements (keys) sorted by the
//! element type's comparator, duplicates removed (for a map, the last value of a key wins).

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Bytes, BytesMut};
use ilion_cql::language::ast::{BindMarker, Literal, QualifiedName, Term};
use ilion_cql::protocol::{CqlType, RawValue, Value, Values};

use ilion_types::text::{
    self, GREGORIAN_OFFSET, parse_date, parse_decimal, parse_duration, parse_float, parse_hex,
    parse_time, parse_timestamp, parse_uuid, varint_from_decimal,
};

use crate::functions::Arg;
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
    ///
    /// A list or set literal with an unset element, or a map literal with an unset value, is
    /// unset as a whole (as Cassandra binds them).
    pub(crate) fn is_unset(&self, term: &Term) -> bool {
        match term {
            Term::Bind(m) => matches!(self.values.get(m.index), Some(RawValue::Unset)),
            Term::TypeHint { term, .. } => self.is_unset(term),
            Term::List(items) | Term::Set(items) => items.iter().any(|t| self.is_unset(t)),
            Term::Map(pairs) => pairs.iter().any(|(_, v)| self.is_unset(v)),
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
        Term::List(items) => {
            match ty {
                CqlType::List { element: e, .. } => Value::List(elements(items, e, bound)?),
                CqlType::Vector { element, dimension } => {
                    if items.len() != *dimension as usize {
                        return Err(Error::invalid(format!(
                            "Invalid vector literal for a value of type {ty}; expected {dimension} \
                         elements, but given {}",
                            items.len()
                        )));
                    }
                    let mut out = Vec::with_capacity(items.len());
                    for t in items {
                        out.push(term_value(t, element, bound)?.ok_or_else(|| {
                            Error::invalid("null is not supported inside vectors")
                        })?);
                    }
                    Value::List(out)
                }
                _ => return Err(bad()),
            }
        }
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
                    if bound.is_unset(k) {
                        return Err(Error::invalid("unset value is not supported for map keys"));
                    }
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
        Term::Function { name, args } => return function_value(name, args, ty, bound, None),
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

/// The value of `term` written to (or compared with) column `column` of type `ty`: as
/// [`term_value`], with the column named in the refusal of a function's result type.
pub(crate) fn column_value(
    term: &Term,
    ty: &CqlType,
    bound: &Bound,
    column: &str,
) -> Result<Option<Value>> {
    match term {
        Term::Function { name, args } => function_value(name, args, ty, bound, Some(column)),
        Term::TypeHint { term, .. } => column_value(term, ty, bound, column),
        other => term_value(other, ty, bound),
    }
}

/// A function call as a value of type `ty`: `fromJson(..)` (typed by where it goes) or a
/// native function resolved against its arguments (see [`crate::functions`]).
fn function_value(
    name: &QualifiedName,
    args: &[Term],
    ty: &CqlType,
    bound: &Bound,
    receiver: Option<&str>,
) -> Result<Option<Value>> {
    let fname = name.name.as_str().to_ascii_lowercase();
    if name.keyspace.is_some() {
        return Err(crate::functions::unknown(name));
    }
    if fname == "fromjson" || fname == "from_json" {
        let [arg] = args else {
            return Err(Error::invalid(format!(
                "Invalid number of arguments in call to function system.{fname}: 1 required but {} provided",
                args.len()
            )));
        };
        if bound.is_unset(arg) {
            return Err(unset_argument(&fname));
        }
        return match term_value(arg, &CqlType::Text, bound)? {
            Some(Value::Text(text)) => crate::json::from_json_text(&text, ty),
            _ => Ok(None),
        };
    }
    if fname == "token" {
        return Err(Error::invalid(
            "The token function is only allowed on the left and right of a token relation",
        ));
    }
    let hints: Vec<Arg<'_>> = args.iter().map(Arg::of_term).collect();
    let shown: Vec<String> = args.iter().map(ToString::to_string).collect();
    let r = crate::functions::resolve(&fname, &hints, &shown, Some(ty))?
        .ok_or_else(|| crate::functions::unknown(name))?;
    if !crate::functions::value_compatible(ty, &r.ret) {
        return Err(Error::invalid(match receiver {
            Some(column) => format!(
                "Type error: cannot assign result of function {} (type {}) to {column} (type \
                 {ty})",
                r.name, r.ret
            ),
            None => format!(
                "Type error: cannot assign result of function {} (type {}) to a {ty} value",
                r.name, r.ret
            ),
        }));
    }
    let mut values = Vec::with_capacity(args.len());
    for (a, t) in args.iter().zip(&r.args) {
        if bound.is_unset(a) {
            return Err(unset_argument(&fname));
        }
        values.push(term_value(a, t, bound)?);
    }
    let out = r.execute(&values)?;
    // A result of a compatible type (an ascii into a text, ...) is read as the receiver's.
    match out {
        Some(v) if r.ret != *ty => {
            let bytes = encode(&r.ret, &v)?;
            ty.decode(&bytes)
                .map(Some)
                .map_err(|e| Error::invalid(format!("Invalid {ty} value: {e}")))
        }
        other => Ok(other),
    }
}

/// Cassandra's refusal of an unset function argument.
pub(crate) fn unset_argument(fname: &str) -> Error {
    Error::invalid(format!(
        "Invalid unset value for argument in call to function {fname}"
    ))
}

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
    text::timeuuid_at(ticks, timeuuid_node())
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
            if !(0..ilion_types::NANOS_PER_DAY).contains(&nanos) {
                return Err(bad());
            }
            Value::Time(nanos)
        }
        (Literal::Duration(d) | Literal::String(d), CqlType::Duration) => Value::Duration(
            parse_duration(d)
                .ok_or_else(|| Error::invalid(format!("Unable to convert '{d}' to a duration")))?,
        ),
        // A counter value in a restriction (`WHERE n = 3 ALLOW FILTERING`); writes never get
        // here (an UPDATE refuses `n = 3` naming the column, an INSERT any counter table).
        (Literal::Integer(i), CqlType::Counter) => Value::Counter(i.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    }))
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
