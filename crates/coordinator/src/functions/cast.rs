//! `CAST(x AS type)`: the pairs Cassandra casts (numbers to numbers, anything to text, between
//! the time types) and the conversions themselves.

use ilion_cql::protocol::{CqlType, Value};
use ilion_types::text::{self, varint_i128};

use super::native::{Number, date_of_millis, millis_of, number, number_value};
use crate::{Error, Result};

/// `v` cast to `to` (a pair [`check_cast`] accepts), as Java's `Number` conversions do it:
/// floats saturate into integers, integers wrap into narrower ones, a decimal is made from
/// the number's `double` and a varint from its `long`.
pub(crate) fn cast(v: &Value, to: &CqlType) -> Result<Value> {
    if let Some(n) = number(v) {
        let floating = matches!(n, Number::Float(_));
        // Java's (int) / (long) of a double saturate; narrower types then wrap from an int.
        let int = |bits_long: bool| -> i128 {
            let x = n.to_f64();
            match (floating, bits_long) {
                (true, true) => i128::from(x as i64),
                (true, false) => i128::from(x as i32),
                (false, _) => n.to_i128(),
            }
        };
        return match to {
            CqlType::Text => Ok(Value::Text(number_text(v))),
            CqlType::Ascii => Ok(Value::Ascii(number_text(v))),
            CqlType::Decimal => number_value(to, Number::Float(n.to_f64())),
            CqlType::Varint => number_value(to, Number::Int(i128::from(int(true) as i64))),
            CqlType::Bigint => number_value(to, Number::Int(int(true))),
            CqlType::Int | CqlType::Smallint | CqlType::Tinyint => {
                number_value(to, Number::Int(int(false)))
            }
            CqlType::Float | CqlType::Double => number_value(to, Number::Float(n.to_f64())),
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

/// The input types of Cassandra's `castAs<to>` functions, in its declaration order; `None`
/// when there is no such function.
fn cast_sources(to: &CqlType) -> Option<Vec<CqlType>> {
    use CqlType as T;
    let numeric = [
        T::Tinyint,
        T::Smallint,
        T::Int,
        T::Bigint,
        T::Float,
        T::Double,
        T::Decimal,
        T::Counter,
        T::Varint,
    ];
    let time_and_ids = [
        T::Inet,
        T::Boolean,
        T::Timeuuid,
        T::Timestamp,
        T::Date,
        T::Time,
        T::Uuid,
    ];
    Some(match to {
        T::Tinyint
        | T::Smallint
        | T::Int
        | T::Bigint
        | T::Float
        | T::Double
        | T::Decimal
        | T::Varint => numeric.into_iter().filter(|t| t != to).collect(),
        T::Ascii => numeric.into_iter().chain(time_and_ids).collect(),
        T::Text => numeric
            .into_iter()
            .chain([T::Ascii])
            .chain(time_and_ids)
            .collect(),
        T::Date => vec![T::Timeuuid, T::Timestamp],
        T::Timestamp => vec![T::Timeuuid, T::Date],
        _ => return None,
    })
}

/// Whether Cassandra casts `from` to `to` (a cast to the same type is no cast at all); its
/// refusals name the selector (`name`) or list the cast function's signatures.
pub(crate) fn check_cast(from: &CqlType, to: &CqlType, name: &str) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let Some(sources) = cast_sources(to) else {
        return Err(Error::invalid(format!("{name} cannot be cast to {to}")));
    };
    if sources.contains(from) {
        return Ok(());
    }
    let native = to.to_string();
    let function = format!(
        "system.castAs{}{}",
        native.get(..1).unwrap_or_default().to_uppercase(),
        native.get(1..).unwrap_or_default()
    );
    let signatures: Vec<String> = sources
        .iter()
        .map(|s| format!("{function} : ({s}) -> {to}"))
        .collect();
    Err(Error::invalid(format!(
        "Invalid call to function {function}, none of its type signatures match (known type \
         signatures: {})",
        signatures.join(", ")
    )))
}
