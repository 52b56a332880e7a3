//! Running the native scalar functions on decoded values.

use ilion_cql::protocol::{CqlType, Value};
use ilion_types::text::{self, GREGORIAN_OFFSET, varint_bytes, varint_i128};

use super::decimal::Decimal;
use super::{Native, Resolved, Similarity};
use crate::values::encode;
use crate::{Error, Result};

pub(crate) fn now_millis() -> i64 {
    crate::data::now_micros().div_euclid(1000)
}

/// The Unix milliseconds of a timeuuid, timestamp or date.
pub(crate) fn millis_of(v: &Value) -> Option<i64> {
    Some(match v {
        Value::Timeuuid(u) => text::timeuuid_millis(u),
        Value::Timestamp(t) => *t,
        Value::Date(d) => text::millis_of_date(*d),
        _ => return None,
    })
}

pub(crate) fn date_of_millis(ms: i64) -> Value {
    Value::Date(text::date_of_millis(ms))
}

/// The lowest (`max`: highest) timeuuid of a millisecond, as Cassandra makes them: the
/// clock sequence and node bytes are 0x80 (0x7f) each, the lowest (highest) signed bytes.
fn bound_timeuuid(ms: i64, max: bool) -> Value {
    let ticks = ms.saturating_mul(10_000).saturating_add(GREGORIAN_OFFSET);
    let (ticks, node) = if max {
        (ticks.saturating_add(9_999), [0x7f; 8])
    } else {
        (ticks, [0x80; 8])
    };
    Value::Timeuuid(text::timeuuid_at(ticks, node))
}

/// An integer or floating value of a numeric type, as the math functions see it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Int(i128),
    Float(f64),
    Decimal(Decimal),
}

impl Number {
    /// The value as a float (a decimal rounded, as Java's `doubleValue`).
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(x) => x,
            Number::Decimal(d) => d.to_f64(),
        }
    }

    /// The value as an integer (floats and decimals truncated).
    pub(crate) fn to_i128(self) -> i128 {
        match self {
            Number::Int(i) => i,
            Number::Float(x) => x as i128,
            Number::Decimal(d) => d.to_i128(),
        }
    }

    /// The value as a decimal (a float through Java's text of it); `None` for NaN and the
    /// infinities.
    pub(crate) fn to_decimal(self) -> Option<Decimal> {
        match self {
            Number::Int(i) => Some(Decimal::of_int(i)),
            Number::Float(x) => Decimal::of_f64(x),
            Number::Decimal(d) => Some(d),
        }
    }
}

pub(crate) fn number(v: &Value) -> Option<Number> {
    Some(match v {
        Value::Int(i) => Number::Int(i128::from(*i)),
        Value::Bigint(i) | Value::Counter(i) => Number::Int(i128::from(*i)),
        Value::Smallint(i) => Number::Int(i128::from(*i)),
        Value::Tinyint(i) => Number::Int(i128::from(*i)),
        Value::Varint(b) => Number::Int(varint_i128(b)?),
        Value::Float(f) => Number::Float(f64::from(*f)),
        Value::Double(f) => Number::Float(*f),
        Value::Decimal { .. } => Number::Decimal(Decimal::of_value(v)?),
        _ => return None,
    })
}

/// `n` as a value of the numeric type `ty`: integers wrap as Java's do, floats round.
pub(crate) fn number_value(ty: &CqlType, n: Number) -> Result<Value> {
    let (i, x) = (n.to_i128(), n.to_f64());
    Ok(match ty {
        CqlType::Decimal => n
            .to_decimal()
            .ok_or_else(|| Error::invalid(format!("{x} cannot be represented as a decimal")))?
            .to_value(),
        CqlType::Int => Value::Int(i as i32),
        CqlType::Bigint => Value::Bigint(i as i64),
        CqlType::Counter => Value::Counter(i as i64),
        CqlType::Smallint => Value::Smallint(i as i16),
        CqlType::Tinyint => Value::Tinyint(i as i8),
        CqlType::Varint => Value::Varint(varint_bytes(i)),
        CqlType::Float => Value::Float(x as f32),
        CqlType::Double => Value::Double(x),
        other => {
            return Err(Error::invalid(format!(
                "Arithmetic on {other} values is not supported by this Ilion build yet"
            )));
        }
    })
}

fn not_a_number(v: &Value) -> Error {
    Error::invalid(format!(
        "Invalid {} value where a number is expected",
        v.kind()
    ))
}

/// A math function of one number, in its type (integers convert through `double` as
/// Cassandra's `NumberType`s do).
fn math(f: &Native, ty: &CqlType, v: &Value) -> Result<Value> {
    let n = number(v).ok_or_else(|| not_a_number(v))?;
    let float = |x: f64| -> f64 {
        match f {
            Native::Exp => x.exp(),
            Native::Log => x.ln(),
            Native::Log10 => x.log10(),
            _ => x,
        }
    };
    let out = match (f, n) {
        (Native::Abs, Number::Int(i)) => Number::Int(i.wrapping_abs()),
        (Native::Abs, Number::Float(x)) => Number::Float(x.abs()),
        (Native::Abs, Number::Decimal(d)) => Number::Decimal(Decimal {
            unscaled: d.unscaled.wrapping_abs(),
            scale: d.scale,
        }),
        (Native::Round, Number::Int(i)) => Number::Int(i),
        // Java's Math.round: half up, towards positive infinity.
        (Native::Round, Number::Float(x)) => Number::Float((x + 0.5).floor()),
        // BigDecimal.setScale(0, HALF_UP): halves away from zero.
        (Native::Round, Number::Decimal(d)) => Number::Decimal(round_half_up(d)),
        (_, Number::Int(i)) => Number::Float(float(i as f64).trunc()),
        (_, Number::Float(x)) => Number::Float(float(x)),
        (_, Number::Decimal(d)) => Number::Float(float(d.to_f64())),
    };
    number_value(ty, out)
}

/// `d` rounded to an integer, halves away from zero.
fn round_half_up(d: Decimal) -> Decimal {
    let Ok(scale) = u32::try_from(d.scale) else {
        return d;
    };
    let Some(p) = 10i128.checked_pow(scale) else {
        return Decimal::of_int(0);
    };
    let (q, r) = (d.unscaled / p, d.unscaled % p);
    let up = r.abs().checked_mul(2).is_none_or(|twice| twice >= p);
    Decimal::of_int(if up && r != 0 {
        q + d.unscaled.signum()
    } else {
        q
    })
}

/// The elements of a list or set value.
fn elements(v: &Value) -> Option<&[Value]> {
    match v {
        Value::List(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

fn collection(f: &Native, ret: &CqlType, v: &Value) -> Result<Option<Value>> {
    let bad = || {
        Error::invalid(format!(
            "Invalid {} value for a collection function",
            v.kind()
        ))
    };
    Ok(match f {
        Native::MapKeys => match v {
            Value::Map(entries) => {
                Some(Value::Set(entries.iter().map(|(k, _)| k.clone()).collect()))
            }
            _ => return Err(bad()),
        },
        Native::MapValues => match v {
            Value::Map(entries) => Some(Value::List(
                entries.iter().map(|(_, x)| x.clone()).collect(),
            )),
            _ => return Err(bad()),
        },
        Native::CollectionCount => {
            let n = match v {
                Value::Map(entries) => entries.len(),
                other => elements(other).ok_or_else(bad)?.len(),
            };
            Some(Value::Int(i32::try_from(n).unwrap_or(i32::MAX)))
        }
        Native::CollectionMin | Native::CollectionMax => {
            let items = elements(v).ok_or_else(bad)?;
            let mut best: Option<&Value> = None;
            for item in items {
                let replace = match best {
                    None => true,
                    Some(b) => {
                        let o = ilion_types::compare_untyped(item, b).ok_or_else(bad)?;
                        if matches!(f, Native::CollectionMin) {
                            o.is_lt()
                        } else {
                            o.is_gt()
                        }
                    }
                };
                if replace {
                    best = Some(item);
                }
            }
            best.cloned()
        }
        Native::CollectionSum | Native::CollectionAvg if *ret == CqlType::Decimal => {
            let items = elements(v).ok_or_else(bad)?;
            let overflow = || Error::invalid("The sum of the decimals overflows");
            let mut sum = Decimal::of_int(0);
            for item in items {
                let d = Decimal::of_value(item).ok_or_else(|| not_a_number(item))?;
                sum = sum.add(d).ok_or_else(overflow)?;
            }
            let n = i128::try_from(items.len()).map_err(|_| overflow())?;
            Some(match f {
                Native::CollectionSum => sum.to_value(),
                _ if n == 0 => Decimal::of_int(0).to_value(),
                _ => sum.div_at_scale(n).ok_or_else(overflow)?.to_value(),
            })
        }
        Native::CollectionSum | Native::CollectionAvg => {
            let items = elements(v).ok_or_else(bad)?;
            let (mut int, mut float) = (0i128, 0f64);
            let mut floating = false;
            for item in items {
                match number(item).ok_or_else(|| not_a_number(item))? {
                    Number::Int(i) => int = int.wrapping_add(i),
                    Number::Float(x) => {
                        floating = true;
                        float += x;
                    }
                    Number::Decimal(_) => {
                        return Err(Error::server("decimal collections are summed above"));
                    }
                }
            }
            let n = items.len();
            let total = if floating {
                Number::Float(float)
            } else {
                Number::Int(int)
            };
            let out = match (f, total) {
                (Native::CollectionSum, t) => t,
                // The average of no elements is zero, of integers an integer.
                (_, _) if n == 0 => Number::Int(0),
                (_, Number::Int(i)) => Number::Int(i / n as i128),
                (_, Number::Float(x)) => Number::Float(x / n as f64),
                (_, d @ Number::Decimal(_)) => d,
            };
            Some(number_value(ret, out)?)
        }
        _ => return Err(Error::server("not a collection function")),
    })
}

/// The floats of a float vector value.
fn floats(v: &Value) -> Result<Vec<f32>> {
    match v {
        Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Float(f) => Ok(*f),
                other => Err(Error::invalid(format!(
                    "Invalid {} element in a float vector",
                    other.kind()
                ))),
            })
            .collect(),
        other => Err(Error::invalid(format!(
            "Invalid {} value where a vector is expected",
            other.kind()
        ))),
    }
}

/// Lucene's similarity scores, in `float` arithmetic as Lucene computes them: cosine
/// `(1 + cos) / 2`, euclidean `1 / (1 + d²)`, dot product `max((1 + a·b) / 2, 0)`.
fn similarity(kind: Similarity, a: &Value, b: &Value) -> Result<f32> {
    let (a, b) = (floats(a)?, floats(b)?);
    if a.len() != b.len() {
        return Err(Error::invalid(
            "All arguments must have the same vector dimensions",
        ));
    }
    let pairs = a.iter().zip(&b);
    Ok(match kind {
        Similarity::DotProduct => {
            let dot: f32 = pairs.map(|(x, y)| x * y).sum();
            ((1.0 + dot) / 2.0).max(0.0)
        }
        Similarity::Euclidean => {
            let d: f32 = pairs.map(|(x, y)| (x - y) * (x - y)).sum();
            1.0 / (1.0 + d)
        }
        Similarity::Cosine => {
            let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
            for (x, y) in pairs {
                dot += x * y;
                na += x * x;
                nb += y * y;
            }
            // A zero vector has no direction: NaN, as Lucene's cosine gives.
            let cos = (f64::from(dot) / (f64::from(na) * f64::from(nb)).sqrt()) as f32;
            (1.0 + cos) / 2.0
        }
    })
}

pub(super) fn execute(r: &Resolved, args: &[Option<Value>]) -> Result<Option<Value>> {
    let arg = args.first().and_then(Option::as_ref);
    let arg_ty = r.args.first();
    Ok(match &r.f {
        Native::Now => Some(Value::Timeuuid(crate::values::next_timeuuid())),
        Native::Uuid => Some(Value::Uuid(*uuid::Uuid::new_v4().as_bytes())),
        Native::CurrentTimestamp => Some(Value::Timestamp(now_millis())),
        Native::CurrentDate => Some(date_of_millis(now_millis())),
        Native::CurrentTime => Some(Value::Time(
            crate::data::now_micros()
                .saturating_mul(1000)
                .rem_euclid(ilion_types::NANOS_PER_DAY),
        )),
        Native::ToTimestamp => arg.and_then(millis_of).map(Value::Timestamp),
        Native::ToDate => arg.and_then(millis_of).map(date_of_millis),
        Native::ToUnixTimestamp => arg.and_then(millis_of).map(Value::Bigint),
        Native::MinTimeuuid => arg.and_then(millis_of).map(|ms| bound_timeuuid(ms, false)),
        Native::MaxTimeuuid => arg.and_then(millis_of).map(|ms| bound_timeuuid(ms, true)),
        Native::BlobAs(ty) => match arg {
            Some(Value::Blob(b)) => Some(ty.decode(b).map_err(|e| {
                Error::invalid(format!("The blob does not hold a valid {ty} value: {e}"))
            })?),
            _ => None,
        },
        Native::AsBlob(ty) => match arg {
            Some(v) => Some(Value::Blob(encode(ty, v)?)),
            None => None,
        },
        Native::Abs | Native::Exp | Native::Log | Native::Log10 | Native::Round => match arg {
            Some(v) => Some(math(&r.f, arg_ty.unwrap_or(&r.ret), v)?),
            None => None,
        },
        Native::MapKeys
        | Native::MapValues
        | Native::CollectionCount
        | Native::CollectionMin
        | Native::CollectionMax
        | Native::CollectionSum
        | Native::CollectionAvg => match arg {
            Some(v) => collection(&r.f, &r.ret, v)?,
            None => None,
        },
        Native::ToJson(ty) => Some(Value::Text(crate::json::to_json(ty, arg))),
        Native::Similarity(kind) => match (arg, args.get(1).and_then(Option::as_ref)) {
            (Some(a), Some(b)) => Some(Value::Float(similarity(*kind, a, b)?)),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{Arg, resolve};

    fn call(name: &str, ty: CqlType, v: Value) -> Option<Value> {
        resolve(name, &[Arg::Typed(ty)], &[], None)
            .unwrap()
            .unwrap()
            .execute(&[Some(v)])
            .unwrap()
    }

    #[test]
    fn math_functions_keep_their_arguments_type() {
        assert_eq!(
            call("abs", CqlType::Int, Value::Int(-3)),
            Some(Value::Int(3))
        );
        assert_eq!(
            call("round", CqlType::Double, Value::Double(2.5)),
            Some(Value::Double(3.0))
        );
        assert_eq!(
            call("round", CqlType::Double, Value::Double(-2.5)),
            Some(Value::Double(-2.0))
        );
        assert_eq!(
            call("exp", CqlType::Int, Value::Int(1)),
            Some(Value::Int(2))
        );
        assert_eq!(
            call("log10", CqlType::Bigint, Value::Bigint(1000)),
            Some(Value::Bigint(3))
        );
    }

    #[test]
    fn min_and_max_timeuuid_bound_the_millisecond() {
        let Some(Value::Timeuuid(lo)) =
            call("minTimeuuid", CqlType::Timestamp, Value::Timestamp(1_000))
        else {
            panic!("not a timeuuid")
        };
        let Some(Value::Timeuuid(hi)) =
            call("maxTimeuuid", CqlType::Timestamp, Value::Timestamp(1_000))
        else {
            panic!("not a timeuuid")
        };
        assert_eq!(text::timeuuid_millis(&lo), 1_000);
        assert_eq!(text::timeuuid_millis(&hi), 1_000);
        assert!(
            ilion_types::compare_untyped(&Value::Timeuuid(lo), &Value::Timeuuid(hi))
                .unwrap()
                .is_lt()
        );
    }

    #[test]
    fn similarities_score_as_lucene_and_refuse_other_vectors() {
        let t = CqlType::vector(CqlType::Float, 2);
        let v = |a: f32, b: f32| Value::List(vec![Value::Float(a), Value::Float(b)]);
        let run = |name: &str, a: Value, b: Value| {
            resolve(
                name,
                &[Arg::Typed(t.clone()), Arg::Typed(t.clone())],
                &[],
                None,
            )
            .unwrap()
            .unwrap()
            .execute(&[Some(a), Some(b)])
        };
        assert_eq!(
            run("similarity_cosine", v(1.0, 0.0), v(0.0, 1.0)).unwrap(),
            Some(Value::Float(0.5))
        );
        assert_eq!(
            run("similarity_euclidean", v(1.0, 0.0), v(0.0, 1.0)).unwrap(),
            Some(Value::Float(1.0 / 3.0))
        );
        assert_eq!(
            run("similarity_dot_product", v(-2.0, 0.0), v(1.0, 0.0)).unwrap(),
            Some(Value::Float(0.0))
        );
        assert!(matches!(
            run("similarity_cosine", v(0.0, 0.0), v(1.0, 0.0)).unwrap(),
            Some(Value::Float(x)) if x.is_nan()
        ));
        let other = CqlType::vector(CqlType::Float, 3);
        let e = resolve(
            "similarity_cosine",
            &[Arg::Typed(t.clone()), Arg::Typed(other)],
            &[],
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "All arguments must have the same vector dimensions"
        );
    }

    #[test]
    fn collection_functions_fold_the_elements() {
        let l = CqlType::list(CqlType::Int);
        let v = Value::List(vec![Value::Int(3), Value::Int(1), Value::Int(4)]);
        assert_eq!(
            call("collection_min", l.clone(), v.clone()),
            Some(Value::Int(1))
        );
        assert_eq!(
            call("collection_max", l.clone(), v.clone()),
            Some(Value::Int(4))
        );
        assert_eq!(
            call("collection_sum", l.clone(), v.clone()),
            Some(Value::Int(8))
        );
        assert_eq!(
            call("collection_avg", l.clone(), v.clone()),
            Some(Value::Int(2))
        );
        assert_eq!(call("collection_count", l, v), Some(Value::Int(3)));
        let m = Value::Map(vec![(Value::Text("a".into()), Value::Int(1))]);
        let mt = CqlType::map(CqlType::Text, CqlType::Int);
        assert_eq!(
            call("map_keys", mt.clone(), m.clone()),
            Some(Value::Set(vec![Value::Text("a".into())]))
        );
        assert_eq!(
            call("map_values", mt, m),
            Some(Value::List(vec![Value::Int(1)]))
        );
    }
}
