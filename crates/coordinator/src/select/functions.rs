//! Native scalar functions of selectors (`now()`, `currentTimestamp()`, `toDate()`,
//! `blobAsInt()`, ...) and `CAST`.

use super::*;

/// Native scalar functions.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar {
    Now,
    Uuid,
    CurrentTimestamp,
    CurrentDate,
    CurrentTime,
    ToTimestamp,
    ToDate,
    ToUnixTimestamp,
    /// `blobAs<type>`: the blob's bytes read as the type.
    BlobAs(CqlType),
    /// `<type>AsBlob`: the value's bytes as a blob.
    AsBlob,
    Cast(CqlType),
}

pub(super) fn now_millis() -> i64 {
    crate::data::now_micros() / 1000
}

pub(super) fn millis_of(v: &Value) -> Option<i64> {
    Some(match v {
        Value::Timeuuid(u) => text::timeuuid_millis(u),
        Value::Timestamp(t) => *t,
        Value::Date(d) => text::millis_of_date(*d),
        _ => return None,
    })
}

pub(super) fn date_of_millis(ms: i64) -> Value {
    Value::Date(text::date_of_millis(ms))
}

pub(super) fn call(f: &Scalar, args: &[(Option<Value>, &CqlType)]) -> Result<Option<Value>> {
    let arg = args.first().and_then(|(v, _)| v.as_ref());
    let arg_ty = args.first().map(|(_, t)| *t);
    Ok(match f {
        Scalar::Now => Some(Value::Timeuuid(crate::values::next_timeuuid())),
        Scalar::Uuid => Some(Value::Uuid(*uuid::Uuid::new_v4().as_bytes())),
        Scalar::CurrentTimestamp => Some(Value::Timestamp(now_millis())),
        Scalar::CurrentDate => Some(date_of_millis(now_millis())),
        Scalar::CurrentTime => Some(Value::Time(
            (crate::data::now_micros() * 1000).rem_euclid(ilion_types::NANOS_PER_DAY),
        )),
        Scalar::ToTimestamp => arg.and_then(millis_of).map(Value::Timestamp),
        Scalar::ToDate => arg.and_then(millis_of).map(date_of_millis),
        Scalar::ToUnixTimestamp => arg.and_then(millis_of).map(Value::Bigint),
        Scalar::BlobAs(ty) => match arg {
            Some(Value::Blob(b)) => Some(ty.decode(b).map_err(|e| {
                Error::invalid(format!("The blob does not hold a valid {ty} value: {e}"))
            })?),
            _ => None,
        },
        Scalar::AsBlob => match (arg, arg_ty) {
            (Some(v), Some(ty)) => Some(Value::Blob(encode(ty, v)?)),
            _ => None,
        },
        Scalar::Cast(to) => match arg {
            Some(v) => Some(cast(v, to)?),
            None => None,
        },
    })
}

pub(super) fn cast(v: &Value, to: &CqlType) -> Result<Value> {
    if let Some(n) = number(v) {
        let (i, x) = match n {
            Num::Int(i) => (i, i as f64),
            Num::Float(x) => (x as i128, x),
        };
        return Ok(match to {
            CqlType::Int => Value::Int(i as i32),
            CqlType::Bigint => Value::Bigint(i as i64),
            CqlType::Smallint => Value::Smallint(i as i16),
            CqlType::Tinyint => Value::Tinyint(i as i8),
            CqlType::Varint => Value::Varint(varint_bytes(i)),
            CqlType::Float => Value::Float(x as f32),
            CqlType::Double => Value::Double(x),
            CqlType::Text => Value::Text(number_text(v)),
            CqlType::Ascii => Value::Ascii(number_text(v)),
            other => return Err(Error::invalid(format!("{v:?} cannot be cast to {other}"))),
        });
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
        (Value::Blob(b), _) => text(format!("0x{}", crate::error::hex(b))),
        (v, to) => return Err(Error::invalid(format!("{v:?} cannot be cast to {to}"))),
    })
}

pub(super) fn number_text(v: &Value) -> String {
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
