//! `CAST(x AS type)`: the pairs Cassandra casts (numbers to numbers, anything to text, between
//! the time types) and the conversions themselves.

use ilion_cql::protocol::{CqlType, Value};
use ilion_types::text::{self, varint_i128};

use super::is_numeric;
use super::native::{date_of_millis, millis_of, number, number_value};
use crate::{Error, Result};

pub(crate) fn cast(v: &Value, to: &CqlType) -> Result<Value> {
    if let Some(n) = number(v) {
        return match to {
            CqlType::Text => Ok(Value::Text(number_text(v))),
            CqlType::Ascii => Ok(Value::Ascii(number_text(v))),
            to if is_numeric(to) && *to != CqlType::Counter => number_value(to, n),
            other => Err(Error::invalid(format!(
                "{} cannot be cast to {other}",
                v.kind()
            ))),
        };
    }
    let text = |s: String| match to {
        CqlType::Ascii => Value::Ascii(s),
        _ => Value::Text(s),
    };
    Ok(match (v, to) {
        (v, CqlType::Timestamp) if millis_of(v).is_some() => {
            Value::Timestamp(millis_of(v).unwrap_or_default())
        }
        (v, CqlType::Date) if millis_of(v).is_some() => {
            date_of_millis(millis_of(v).unwrap_or_default())
        }
        (Value::Text(s) | Value::Ascii(s), _) => text(s.clone()),
        (Value::Boolean(b), _) => text(b.to_string()),
        (Value::Uuid(u) | Value::Timeuuid(u), _) => text(text::uuid_text(u)),
        (Value::Inet(a), _) => text(a.to_string()),
        (Value::Timestamp(t), _) => text(text::timestamp_iso_text(*t)),
        (Value::Date(d), _) => text(text::date_text(*d)),
        (Value::Time(t), _) => text(text::time_text(*t)),
        (Value::Duration(d), _) => text(text::duration_text(d)),
        (Value::Decimal { scale, unscaled }, _) => text(text::decimal_text(*scale, unscaled)),
        (Value::Blob(b), _) => text(format!("0x{}", crate::error::hex(b))),
        (v, to) => {
            return Err(Error::invalid(format!(
                "{} cannot be cast to {to}",
                v.kind()
            )));
        }
    })
}

pub(crate) fn number_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) | Value::Counter(i) => i.to_string(),
        Value::Smallint(i) => i.to_string(),
        Value::Tinyint(i) => i.to_string(),
        Value::Varint(b) => varint_i128(b).map_or_else(|| "?".to_owned(), |i| i.to_string()),
        Value::Float(x) => text::java_float(*x),
        Value::Double(x) => text::java_double(*x),
        other => format!("{other:?}"),
    }
}

/// The casts this build performs: numbers to numbers, anything simple to text, and between
/// the time types.
pub(crate) fn check_cast(from: &CqlType, to: &CqlType) -> Result<()> {
    let ok = from == to
        || (is_numeric(from) && is_numeric(to) && *to != CqlType::Counter)
        || (matches!(to, CqlType::Text | CqlType::Ascii)
            && (is_numeric(from)
                || matches!(
                    from,
                    CqlType::Text
                        | CqlType::Ascii
                        | CqlType::Boolean
                        | CqlType::Uuid
                        | CqlType::Timeuuid
                        | CqlType::Inet
                        | CqlType::Timestamp
                        | CqlType::Date
                        | CqlType::Time
                        | CqlType::Duration
                        | CqlType::Decimal
                        | CqlType::Blob
                )))
        || (matches!(from, CqlType::Timeuuid | CqlType::Timestamp | CqlType::Date)
            && matches!(to, CqlType::Timestamp | CqlType::Date));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("{from} cannot be cast to {to}")))
    }
}
