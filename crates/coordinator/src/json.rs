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

use crate::values::{
    civil_from_days, normalize, parse_date, parse_decimal, parse_duration, parse_float, parse_hex,
    parse_time, parse_timestamp, varint_from_decimal, varint_to_decimal,
};
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

/// Parses a JSON document.
pub(crate) fn parse(text: &str) -> Result<Json> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> Error {
        Error::invalid(format!(
            "Could not decode JSON string: {what} at character {}",
            self.pos
        ))
    }

    fn ws(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.error("unexpected end")),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(self.error("expected , or ]")),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(entries));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a string key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(self.error("expected :"));
                    }
                    self.pos += 1;
                    entries.push((key, self.value(depth + 1)?));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Object(entries));
                        }
                        _ => return Err(self.error("expected , or }")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self.peek().is_some_and(|b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(self.s.get(start..self.pos).unwrap_or_default())
                    .map_err(|_| self.error("bad number"))?;
                if text.parse::<f64>().is_err() {
                    return Err(self.error("bad number"));
                }
                Ok(Json::Number(text.to_owned()))
            }
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self.peek().is_some_and(|b| b != b'"' && b != b'\\') {
                self.pos += 1;
            }
            out.push_str(
                std::str::from_utf8(self.s.get(start..self.pos).unwrap_or_default())
                    .map_err(|_| self.error("invalid UTF-8"))?,
            );
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.eat("\\u") {
                                let low = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (low.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            out.push(
                                char::from_u32(cp).ok_or_else(|| self.error("bad \\u escape"))?,
                            );
                        }
                        _ => return Err(self.error("bad escape")),
                    }
                }
                _ => return Err(self.error("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(digits)
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
        CqlType::Vector { .. } => return Err(Error::not_supported("The vector type")),
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
            CqlType::List { element: e, .. } | CqlType::Set { element: e, .. },
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

/// Java's `BigDecimal.toString()`.
pub(crate) fn decimal_text(scale: i32, unscaled: &Bytes) -> String {
    let digits = varint_to_decimal(unscaled);
    let (neg, coeff) = match digits.strip_prefix('-') {
        Some(c) => ("-", c.to_owned()),
        None => ("", digits),
    };
    let len = i64::try_from(coeff.len()).unwrap_or(i64::MAX);
    let adjusted = -i64::from(scale) + (len - 1);
    if scale >= 0 && adjusted >= -6 {
        let scale = usize::try_from(scale).unwrap_or(0);
        if scale == 0 {
            return format!("{neg}{coeff}");
        }
        if coeff.len() > scale {
            let (a, b) = coeff.split_at(coeff.len() - scale);
            return format!("{neg}{a}.{b}");
        }
        return format!("{neg}0.{}{coeff}", "0".repeat(scale - coeff.len()));
    }
    let (first, rest) = coeff.split_at(1.min(coeff.len()));
    let frac = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let sign = if adjusted >= 0 { "+" } else { "" };
    format!("{neg}{first}{frac}E{sign}{adjusted}")
}

/// Java's `Double.toString` (near enough: the shortest digits that read back).
pub(crate) fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.to_owned()
        } else {
            format!("{m}.0")
        };
        format!("{m}E{e}")
    }
}

fn java_float(v: f32) -> String {
    if v.is_nan() || v.is_infinite() {
        return java_double(f64::from(v));
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.to_owned()
        } else {
            format!("{m}.0")
        };
        format!("{m}E{e}")
    }
}

/// `yyyy-mm-dd HH:MM:SS.fffZ` (UTC).
pub(crate) fn timestamp_text(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// `yyyy-mm-dd` of a CQL date.
pub(crate) fn date_text(d: u32) -> String {
    let (y, m, d) = civil_from_days(i64::from(d) - (1i64 << 31));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS.nnnnnnnnn`.
pub(crate) fn time_text(nanos: i64) -> String {
    let s = nanos / 1_000_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:09}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        nanos % 1_000_000_000
    )
}

/// Cassandra's `Duration.toString()`: `1y2mo3d4h5m6s7ms8us9ns`, a leading `-` when negative.
pub(crate) fn duration_text(d: &ilion_cql::protocol::Duration) -> String {
    let neg = d.months < 0 || d.days < 0 || d.nanoseconds < 0;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let months = i64::from(d.months).abs();
    let days = i64::from(d.days).abs();
    let nanos = d.nanoseconds.unsigned_abs();
    let mut part = |n: u64, unit: &str| {
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    };
    part((months / 12) as u64, "y");
    part((months % 12) as u64, "mo");
    part(days as u64, "d");
    part(nanos / 3_600_000_000_000, "h");
    part(nanos / 60_000_000_000 % 60, "m");
    part(nanos / 1_000_000_000 % 60, "s");
    part(nanos / 1_000_000 % 1000, "ms");
    part(nanos / 1000 % 1000, "us");
    part(nanos % 1000, "ns");
    out
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
