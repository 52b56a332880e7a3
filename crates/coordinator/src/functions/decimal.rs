//! `decimal` arithmetic as Cassandra's `DecimalType` does it: Java `BigDecimal`s combined
//! under `MathContext.DECIMAL128` (34 significant digits, half-even rounding), here on an
//! `i128` unscaled value (38 digits; larger values overflow and are refused).

use bytes::Bytes;
use ilion_cql::protocol::Value;
use ilion_types::text::{self, varint_bytes, varint_i128};

/// DECIMAL128's precision.
const PRECISION: u32 = 34;

/// `unscaled * 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub(crate) unscaled: i128,
    pub(crate) scale: i32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

fn digits(v: i128) -> u32 {
    let mut v = v.unsigned_abs();
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

impl Decimal {
    pub(crate) fn of_value(v: &Value) -> Option<Decimal> {
        match v {
            Value::Decimal { scale, unscaled } => Some(Decimal {
                unscaled: varint_i128(unscaled)?,
                scale: *scale,
            }),
            _ => None,
        }
    }

    pub(crate) fn to_value(self) -> Value {
        Value::Decimal {
            scale: self.scale,
            unscaled: varint_bytes(self.unscaled),
        }
    }

    pub(crate) fn of_int(i: i128) -> Decimal {
        Decimal {
            unscaled: i,
            scale: 0,
        }
    }

    /// `BigDecimal.valueOf(x)`: the decimal of Java's text of the double.
    pub(crate) fn of_f64(x: f64) -> Option<Decimal> {
        if !x.is_finite() {
            return None;
        }
        let (unscaled, scale): (Bytes, i32) = text::parse_decimal(&text::java_double(x))?;
        Some(Decimal {
            unscaled: varint_i128(&unscaled)?,
            scale,
        })
    }

    pub(crate) fn to_f64(self) -> f64 {
        self.unscaled as f64 / 10f64.powi(self.scale)
    }

    /// The integer part (truncated towards zero).
    pub(crate) fn to_i128(self) -> i128 {
        match u32::try_from(self.scale) {
            Ok(s) => pow10(s).map_or(0, |p| self.unscaled / p),
            Err(_) => u32::try_from(-i64::from(self.scale))
                .ok()
                .and_then(pow10)
                .map_or(0, |p| self.unscaled.wrapping_mul(p)),
        }
    }

    /// Both at the larger scale.
    fn aligned(self, other: Decimal) -> Option<(i128, i128, i32)> {
        let scale = self.scale.max(other.scale);
        let up = |d: Decimal| -> Option<i128> {
            d.unscaled
                .checked_mul(pow10(u32::try_from(scale - d.scale).ok()?)?)
        };
        Some((up(self)?, up(other)?, scale))
    }

    /// Rounded to 34 significant digits, half-even (DECIMAL128).
    fn rounded(self) -> Option<Decimal> {
        let n = digits(self.unscaled);
        if n <= PRECISION {
            return Some(self);
        }
        let drop = n - PRECISION;
        let p = pow10(drop)?;
        let (q, r) = (self.unscaled / p, self.unscaled % p);
        let half = p / 2;
        let away = r.abs() > half || (r.abs() == half && q % 2 != 0);
        let q = if away { q + self.unscaled.signum() } else { q };
        Some(Decimal {
            unscaled: q,
            scale: self.scale.checked_sub(i32::try_from(drop).ok()?)?,
        })
    }

    pub(crate) fn add(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Decimal {
            unscaled: a.checked_add(b)?,
            scale,
        }
        .rounded()
    }

    pub(crate) fn sub(self, other: Decimal) -> Option<Decimal> {
        self.add(Decimal {
            unscaled: other.unscaled.checked_neg()?,
            scale: other.scale,
        })
    }

    pub(crate) fn mul(self, other: Decimal) -> Option<Decimal> {
        Decimal {
            unscaled: self.unscaled.checked_mul(other.unscaled)?,
            scale: self.scale.checked_add(other.scale)?,
        }
        .rounded()
    }

    /// `a % b` (BigDecimal.remainder: the sign of `a`); `None` for a zero divisor too.
    pub(crate) fn rem(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Some(Decimal {
            unscaled: a.checked_rem(b)?,
            scale,
        })
    }

    /// `a / n` at `a`'s scale, half-even (BigDecimal.divide(n, HALF_EVEN)); `None` for zero.
    pub(crate) fn div_at_scale(self, n: i128) -> Option<Decimal> {
        if n == 0 {
            return None;
        }
        let (q, r) = (self.unscaled / n, self.unscaled % n);
        let twice = r.abs().checked_mul(2)?;
        let away = twice > n.abs() || (twice == n.abs() && q % 2 != 0);
        let sign = if (self.unscaled < 0) != (n < 0) {
            -1
        } else {
            1
        };
        Some(Decimal {
            unscaled: if away && r != 0 { q + sign } else { q },
            scale: self.scale,
        })
    }

    /// `a / b` to 34 significant digits, half-even; an exact quotient keeps no more trailing
    /// zeros than the preferred scale `a.scale - b.scale` needs. `None`: zero divisor or
    /// overflow.
    pub(crate) fn div(self, other: Decimal) -> Option<Decimal> {
        if other.unscaled == 0 {
            return None;
        }
        let preferred = self.scale.checked_sub(other.scale)?;
        if self.unscaled == 0 {
            return Some(Decimal {
                unscaled: 0,
                scale: preferred,
            });
        }
        // Enough extra digits that the quotient has more than 34 of them.
        let extra = (PRECISION + 1 + digits(other.unscaled)).saturating_sub(digits(self.unscaled));
        let mut extra = extra.min(38 - digits(self.unscaled).min(38));
        let num = loop {
            match pow10(extra).and_then(|p| self.unscaled.checked_mul(p)) {
                Some(n) => break n,
                None if extra > 0 => extra -= 1,
                None => return None,
            }
        };
        let (q, r) = (
            num.checked_div(other.unscaled)?,
            num.checked_rem(other.unscaled)?,
        );
        let scale = preferred.checked_add(i32::try_from(extra).ok()?)?;
        // A non-zero remainder only decides ties: fold it in as a sticky digit.
        let exact = r == 0;
        let mut d = Decimal { unscaled: q, scale };
        if !exact {
            d = Decimal {
                unscaled: q.checked_mul(10)?.checked_add(r.signum())?,
                scale: scale.checked_add(1)?,
            };
        }
        let mut d = d.rounded()?;
        if exact {
            while d.scale > preferred && d.unscaled % 10 == 0 && d.unscaled != 0 {
                d.unscaled /= 10;
                d.scale -= 1;
            }
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(unscaled: i128, scale: i32) -> Decimal {
        Decimal { unscaled, scale }
    }

    #[test]
    fn decimal_arithmetic_follows_bigdecimal_under_decimal128() {
        assert_eq!(d(15, 1).add(d(1, 0)), Some(d(25, 1)));
        assert_eq!(d(15, 1).mul(d(2, 0)), Some(d(30, 1)));
        assert_eq!(d(1, 0).sub(d(25, 2)), Some(d(75, 2)));
        assert_eq!(d(75, 1).rem(d(2, 0)), Some(d(15, 1)));
        // 1 / 4 = 0.25 exactly; 6 / 2 = 3.
        assert_eq!(d(1, 0).div(d(4, 0)), Some(d(25, 2)));
        assert_eq!(d(6, 0).div(d(2, 0)), Some(d(3, 0)));
        // 1 / 3 = 0.3333333333333333333333333333333333 (34 digits).
        let third = d(1, 0).div(d(3, 0)).unwrap();
        assert_eq!(third, d(3_333_333_333_333_333_333_333_333_333_333_333, 34));
        // 2 / 3 rounds the last digit up.
        let two_thirds = d(2, 0).div(d(3, 0)).unwrap();
        assert_eq!(
            two_thirds,
            d(6_666_666_666_666_666_666_666_666_666_666_667, 34)
        );
        assert_eq!(d(1, 0).div(d(0, 0)), None);
        assert_eq!(Decimal::of_f64(0.1), Some(d(1, 1)));
        // The extremes of i128 overflow instead of panicking.
        assert_eq!(d(i128::MIN, 0).div(d(-1, 0)), None);
        assert!(d(i128::MIN, 0).mul(d(1, 0)).is_some());
        // avg(1.5, 2.0): 3.5 / 2 = 1.75, kept at scale 1, half-even: 1.8; 2.5 / 2 = 1.2.
        assert_eq!(d(35, 1).div_at_scale(2), Some(d(18, 1)));
        assert_eq!(d(25, 1).div_at_scale(2), Some(d(12, 1)));
    }
}
