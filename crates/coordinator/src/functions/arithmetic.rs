//! The arithmetic operators of selectors (`a + b`, `-a`, `ts - 1d`): the type of a result as
//! Cassandra's `OperationFcts` gives it, Java's integer arithmetic (wrapping, `/ by zero`), and
//! timestamps and dates moved by durations.

use ilion_cql::language::ast::ArithOp;
use ilion_cql::protocol::{CqlType, Value};
use ilion_types::Duration;
use ilion_types::text;

use super::is_numeric;
use super::native::{Number, number, number_value};
use crate::{Error, Result};

/// The operator as written (`+`, ...).
pub(crate) fn operator_symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Mod => "%",
    }
}

/// The rank of a numeric type in Cassandra's promotion order (the wider type wins).
fn rank(t: &CqlType) -> u8 {
    match t {
        CqlType::Tinyint => 0,
        CqlType::Smallint => 1,
        CqlType::Int => 2,
        CqlType::Bigint | CqlType::Counter => 3,
        CqlType::Float => 4,
        CqlType::Double => 5,
        CqlType::Varint => 6,
        CqlType::Decimal => 7,
        _ => 8,
    }
}

/// The result type of `lhs op rhs`, or Cassandra's refusal (`shown`: the operands as written).
pub(crate) fn operation_type(
    op: ArithOp,
    lhs: &CqlType,
    rhs: &CqlType,
    shown: (&str, &str),
) -> Result<CqlType> {
    let refuse = || {
        Error::invalid(format!(
            "the '{}' operation is not supported between {} and {}",
            operator_symbol(op),
            shown.0,
            shown.1
        ))
    };
    if is_numeric(lhs) && is_numeric(rhs) {
        let floating = |t: &CqlType| matches!(t, CqlType::Float | CqlType::Double);
        let (wide, narrow) = if rank(lhs) >= rank(rhs) {
            (lhs, rhs)
        } else {
            (rhs, lhs)
        };
        return Ok(match (wide, narrow) {
            // A varint and a floating number meet in a decimal.
            (CqlType::Varint, n) if floating(n) => CqlType::Decimal,
            (CqlType::Float, CqlType::Bigint | CqlType::Counter) => CqlType::Double,
            (CqlType::Counter, _) => CqlType::Bigint,
            (w, _) => w.clone(),
        });
    }
    match (lhs, op, rhs) {
        (CqlType::Timestamp | CqlType::Date, ArithOp::Add | ArithOp::Sub, CqlType::Duration) => {
            Ok(lhs.clone())
        }
        _ => Err(refuse()),
    }
}

/// `lhs op rhs` of values of types `lt` and `rt`, as `ret`; null if either is null.
pub(crate) fn operation(
    op: ArithOp,
    (lt, rt): (&CqlType, &CqlType),
    ret: &CqlType,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
) -> Result<Option<Value>> {
    let (Some(l), Some(r)) = (lhs, rhs) else {
        return Ok(None);
    };
    let failed = |why: &str| Error::FunctionFailure {
        keyspace: "system".to_owned(),
        function: operator_name(op).to_owned(),
        arg_types: vec![lt.to_string(), rt.to_string()],
        message: format!(
            "the operation '{lt} {} {rt}' failed: {why}",
            operator_symbol(op)
        ),
    };
    if let Value::Duration(d) = r {
        let d = if op == ArithOp::Sub { negate(d) } else { *d };
        return Ok(Some(match l {
            Value::Timestamp(ms) => {
                Value::Timestamp(add_to_millis(*ms, &d).ok_or_else(|| failed("overflow"))?)
            }
            Value::Date(day) => {
                if d.nanoseconds != 0 {
                    return Err(failed("The duration must have a day precision"));
                }
                let ms = text::millis_of_date(*day);
                let moved = add_to_millis(ms, &d).ok_or_else(|| failed("overflow"))?;
                Value::Date(text::date_of_millis(moved))
            }
            other => return Err(Error::invalid(format!("Invalid {} operand", other.kind()))),
        }));
    }
    let (Some(a), Some(b)) = (number(l), number(r)) else {
        return Err(Error::invalid(format!(
            "Invalid operands {} and {} of '{}'",
            l.kind(),
            r.kind(),
            operator_symbol(op)
        )));
    };
    let floating = matches!(ret, CqlType::Float | CqlType::Double);
    let out = if *ret == CqlType::Decimal {
        let (Some(x), Some(y)) = (a.to_decimal(), b.to_decimal()) else {
            return Err(failed("Infinite or NaN"));
        };
        let zero = y.unscaled == 0 && matches!(op, ArithOp::Div | ArithOp::Mod);
        if zero {
            return Err(failed(if op == ArithOp::Div {
                "Division by zero"
            } else {
                "Division impossible"
            }));
        }
        Number::Decimal(
            match op {
                ArithOp::Add => x.add(y),
                ArithOp::Sub => x.sub(y),
                ArithOp::Mul => x.mul(y),
                ArithOp::Div => x.div(y),
                ArithOp::Mod => x.rem(y),
            }
            .ok_or_else(|| failed("Overflow"))?,
        )
    } else if floating {
        let (x, y) = (a.to_f64(), b.to_f64());
        Number::Float(match op {
            ArithOp::Add => x + y,
            ArithOp::Sub => x - y,
            ArithOp::Mul => x * y,
            ArithOp::Div => x / y,
            ArithOp::Mod => x % y,
        })
    } else {
        let (x, y) = (a.to_i128(), b.to_i128());
        Number::Int(match op {
            ArithOp::Add => x.wrapping_add(y),
            ArithOp::Sub => x.wrapping_sub(y),
            ArithOp::Mul => x.wrapping_mul(y),
            ArithOp::Div | ArithOp::Mod if y == 0 => return Err(failed("/ by zero")),
            ArithOp::Div => x.wrapping_div(y),
            ArithOp::Mod => x.wrapping_rem(y),
        })
    };
    number_value(ret, out).map(Some)
}

/// Cassandra's name of an operator function (`_add`, ...), as FunctionFailure carries it.
fn operator_name(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "_add",
        ArithOp::Sub => "_substract",
        ArithOp::Mul => "_multiply",
        ArithOp::Div => "_divide",
        ArithOp::Mod => "_modulo",
    }
}

fn negate(d: &Duration) -> Duration {
    Duration {
        months: d.months.wrapping_neg(),
        days: d.days.wrapping_neg(),
        nanoseconds: d.nanoseconds.wrapping_neg(),
    }
}

/// `ms` moved by `d`: calendar months first (the day clamped to the month's length), then
/// days, then the time part, as Cassandra adds durations to timestamps.
fn add_to_millis(ms: i64, d: &Duration) -> Option<i64> {
    const DAY: i64 = 86_400_000;
    let days = ms.div_euclid(DAY);
    let in_day = ms.rem_euclid(DAY);
    let (y, m, dd) = text::civil_from_days(days);
    let months = y.checked_mul(12)? + i64::from(m) - 1 + i64::from(d.months);
    let (ny, nm) = (
        months.div_euclid(12),
        u32::try_from(months.rem_euclid(12)).ok()? + 1,
    );
    let last = (28..=31)
        .rev()
        .find(|day| text::days_from_civil(ny, nm, *day).is_some())?;
    let day = text::days_from_civil(ny, nm, dd.min(last))?;
    let moved_days = day.checked_add(i64::from(d.days))?;
    moved_days
        .checked_mul(DAY)?
        .checked_add(in_day)?
        .checked_add(d.nanoseconds / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_operations_promote_and_wrap_as_java() {
        let t = operation_type(ArithOp::Add, &CqlType::Int, &CqlType::Bigint, ("a", "b")).unwrap();
        assert_eq!(t, CqlType::Bigint);
        let t =
            operation_type(ArithOp::Mul, &CqlType::Float, &CqlType::Bigint, ("a", "b")).unwrap();
        assert_eq!(t, CqlType::Double);
        let v = operation(
            ArithOp::Add,
            (&CqlType::Int, &CqlType::Int),
            &CqlType::Int,
            Some(&Value::Int(i32::MAX)),
            Some(&Value::Int(1)),
        )
        .unwrap();
        assert_eq!(v, Some(Value::Int(i32::MIN)));
        let v = operation(
            ArithOp::Mod,
            (&CqlType::Int, &CqlType::Int),
            &CqlType::Int,
            Some(&Value::Int(-7)),
            Some(&Value::Int(3)),
        )
        .unwrap();
        assert_eq!(v, Some(Value::Int(-1)));
    }

    #[test]
    fn integer_division_by_zero_is_a_function_failure() {
        let e = operation(
            ArithOp::Div,
            (&CqlType::Int, &CqlType::Int),
            &CqlType::Int,
            Some(&Value::Int(1)),
            Some(&Value::Int(0)),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "the operation 'int / int' failed: / by zero");
        assert!(matches!(e, Error::FunctionFailure { .. }));
    }

    #[test]
    fn durations_move_timestamps_by_calendar_months() {
        // 2020-01-31T00:00:00Z + 1mo = 2020-02-29 (clamped), + 1d = 2020-03-01.
        let jan31 = 1_580_428_800_000;
        let d = Duration {
            months: 1,
            days: 1,
            nanoseconds: 0,
        };
        assert_eq!(add_to_millis(jan31, &d), Some(1_583_020_800_000));
        let e =
            operation_type(ArithOp::Add, &CqlType::Text, &CqlType::Int, ("t", "1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the '+' operation is not supported between t and 1"
        );
    }
}
