//! The one comparison of serialized values: Cassandra's comparator of each type.
//!
//! [`compare`] orders two serialized values of one type exactly as the bytes of their
//! order-preserving encodings ([`crate::order`]) order (a property test holds the two
//! together), so a value sorts the same in a clustering key, a set, `ORDER BY` and `max()`.
//! A zero-length value of a fixed-width type (see [`crate::Value::Empty`]) sorts first.

use std::cmp::Ordering;

use crate::codec::Cursor;
use crate::error::{Error, Result};
use crate::ty::CqlType;
use crate::value::Value;

/// Orders two serialized values of `ty`. Counters compare as numbers; durations have no
/// order ([`Error::NotOrderable`]); malformed bytes are an error.
pub fn compare(ty: &CqlType, a: &[u8], b: &[u8]) -> Result<Ordering> {
    use CqlType as T;
    if a.is_empty() || b.is_empty() {
        // Empty sorts first; for text and blobs this is also their byte order.
        if !matches!(ty, T::Duration) {
            return Ok(a.len().min(1).cmp(&b.len().min(1)));
        }
    }
    let bad = |reason| Error::Malformed {
        ty: ty.to_string(),
        len: a.len().max(b.len()),
        reason,
    };
    Ok(match ty {
        T::Boolean => {
            let (x, y) = (fixed::<1>(ty, a)?, fixed::<1>(ty, b)?);
            (x != [0]).cmp(&(y != [0]))
        }
        T::Tinyint => i8::from_be_bytes(fixed(ty, a)?).cmp(&i8::from_be_bytes(fixed(ty, b)?)),
        T::Smallint => i16::from_be_bytes(fixed(ty, a)?).cmp(&i16::from_be_bytes(fixed(ty, b)?)),
        T::Int => i32::from_be_bytes(fixed(ty, a)?).cmp(&i32::from_be_bytes(fixed(ty, b)?)),
        T::Bigint | T::Counter | T::Time | T::Timestamp => {
            i64::from_be_bytes(fixed(ty, a)?).cmp(&i64::from_be_bytes(fixed(ty, b)?))
        }
        T::Date => u32::from_be_bytes(fixed(ty, a)?).cmp(&u32::from_be_bytes(fixed(ty, b)?)),
        T::Float => java_cmp_f64(
            f64::from(f32::from_be_bytes(fixed(ty, a)?)),
            f64::from(f32::from_be_bytes(fixed(ty, b)?)),
        ),
        T::Double => java_cmp_f64(
            f64::from_be_bytes(fixed(ty, a)?),
            f64::from_be_bytes(fixed(ty, b)?),
        ),
        T::Ascii | T::Text | T::Blob | T::Custom(_) => a.cmp(b),
        T::Inet => {
            for v in [a, b] {
                if v.len() != 4 && v.len() != 16 {
                    return Err(bad("inet must be 4 or 16 bytes"));
                }
            }
            a.cmp(b)
        }
        T::Uuid => {
            let (x, y) = (fixed::<16>(ty, a)?, fixed::<16>(ty, b)?);
            let (vx, vy) = (version(&x), version(&y));
            vx.cmp(&vy).then_with(|| {
                if vx == 1 {
                    timestamp_of(&x)
                        .cmp(&timestamp_of(&y))
                        .then_with(|| x.get(8..).cmp(&y.get(8..)))
                } else {
                    x.cmp(&y)
                }
            })
        }
        T::Timeuuid => {
            let (x, y) = (fixed::<16>(ty, a)?, fixed::<16>(ty, b)?);
            if version(&x) != 1 || version(&y) != 1 {
                return Err(bad("timeuuid must be a version 1 uuid"));
            }
            // TimeUUIDType: the timestamp, then the clock sequence and node as signed bytes.
            let signed = |u: &[u8; 16]| -> [i8; 8] {
                let mut s = [0i8; 8];
                for (d, b) in s.iter_mut().zip(u.iter().skip(8)) {
                    *d = *b as i8;
                }
                s
            };
            timestamp_of(&x)
                .cmp(&timestamp_of(&y))
                .then_with(|| signed(&x).cmp(&signed(&y)))
        }
        T::Varint | T::Decimal => ty.order_key(a)?.cmp(&ty.order_key(b)?),
        T::Duration => return Err(Error::NotOrderable { ty: ty.to_string() }),
        T::List { element, .. } | T::Set { element, .. } => {
            let (xs, ys) = (elements(ty, a, 1)?, elements(ty, b, 1)?);
            seq(
                xs.iter().map(|x| Some(x.as_slice())),
                ys.iter().map(|y| Some(y.as_slice())),
                |_| element,
            )?
        }
        T::Map { key, value, .. } => {
            let (xs, ys) = (elements(ty, a, 2)?, elements(ty, b, 2)?);
            let kv = |i: usize| {
                if i.is_multiple_of(2) {
                    &**key
                } else {
                    &**value
                }
            };
            seq(
                xs.iter().map(|x| Some(x.as_slice())),
                ys.iter().map(|y| Some(y.as_slice())),
                kv,
            )?
        }
        T::Tuple(_) | T::Udt(_) => {
            let types = ty.children();
            let (xs, ys) = (fields(ty, a)?, fields(ty, b)?);
            if xs.len().max(ys.len()) > types.len() {
                return Err(bad("more fields than the type has"));
            }
            seq(
                xs.iter().map(Option::as_deref),
                ys.iter().map(Option::as_deref),
                |i| types.get(i).copied().unwrap_or(&CqlType::Blob),
            )?
        }
        T::Vector { element, dimension } => {
            let xs = vector_items(element, *dimension, a)?;
            let ys = vector_items(element, *dimension, b)?;
            seq(
                xs.iter().map(|x| Some(x.as_slice())),
                ys.iter().map(|y| Some(y.as_slice())),
                |_| element,
            )?
        }
    })
}

/// Orders two decoded values of `ty` with [`compare`] (by their serialized forms).
pub fn compare_values(ty: &CqlType, a: &Value, b: &Value) -> Result<Ordering> {
    compare(ty, &ty.to_bytes(a)?, &ty.to_bytes(b)?)
}

/// Java's `Double.compare`: every NaN equal and greatest, -0.0 before 0.0.
fn java_cmp_f64(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => x.total_cmp(&y),
    }
}

fn version(u: &[u8; 16]) -> u8 {
    u.get(6).map_or(0, |b| b >> 4)
}

/// The 60-bit timestamp of a version 1 uuid.
pub(crate) fn timestamp_of(u: &[u8; 16]) -> u64 {
    let b = |i: usize| u64::from(u.get(i).copied().unwrap_or(0));
    let low = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
    let mid = (b(4) << 8) | b(5);
    let hi = ((b(6) << 8) | b(7)) & 0x0fff;
    (hi << 48) | (mid << 32) | low
}

fn fixed<const N: usize>(ty: &CqlType, v: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(v).map_err(|_| Error::Malformed {
        ty: ty.to_string(),
        len: v.len(),
        reason: "wrong length for a fixed-size type",
    })
}

/// Component-wise, a null before any value, the shorter sequence first on a common prefix.
fn seq<'a, 't>(
    mut x: impl Iterator<Item = Option<&'a [u8]>>,
    mut y: impl Iterator<Item = Option<&'a [u8]>>,
    ty_at: impl Fn(usize) -> &'t CqlType,
) -> Result<Ordering> {
    let mut i = 0;
    loop {
        let o = match (x.next(), y.next()) {
            (None, None) => return Ok(Ordering::Equal),
            (None, Some(_)) => return Ok(Ordering::Less),
            (Some(_), None) => return Ok(Ordering::Greater),
            (Some(None), Some(None)) => Ordering::Equal,
            (Some(None), Some(Some(_))) => Ordering::Less,
            (Some(Some(_)), Some(None)) => Ordering::Greater,
            (Some(Some(a)), Some(Some(b))) => compare(ty_at(i), a, b)?,
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
        i += 1;
    }
}

/// The `[bytes]` items of a serialized list/set (`per_entry` 1) or map (2), in order.
fn elements(ty: &CqlType, v: &[u8], per_entry: usize) -> Result<Vec<Vec<u8>>> {
    let mut r = Cursor::new(bytes::Bytes::copy_from_slice(v));
    let n = r.i32("collection size")?;
    let n = usize::try_from(n).map_err(|_| Error::InvalidLength {
        what: "collection",
        length: i64::from(n),
    })?;
    let mut out = Vec::with_capacity(n.saturating_mul(per_entry).min(v.len() / 4));
    for _ in 0..n.saturating_mul(per_entry) {
        let item = r
            .bytes("collection element")?
            .ok_or(Error::NullInCollection(match ty {
                CqlType::Map { .. } => "map",
                CqlType::Set { .. } => "set",
                _ => "list",
            }))?;
        out.push(item.to_vec());
    }
    if r.remaining() != 0 {
        return Err(Error::TrailingBytes {
            type_name: "collection",
            count: r.remaining(),
        });
    }
    Ok(out)
}

/// The `[bytes]` fields of a serialized tuple or UDT (`None`: null).
fn fields(_ty: &CqlType, v: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
    let mut r = Cursor::new(bytes::Bytes::copy_from_slice(v));
    let mut out = Vec::new();
    while r.remaining() > 0 {
        out.push(r.bytes("tuple component")?.map(|b| b.to_vec()));
    }
    Ok(out)
}

/// The serialized elements of a serialized vector.
pub(crate) fn vector_items(element: &CqlType, dimension: u32, v: &[u8]) -> Result<Vec<Vec<u8>>> {
    let fixed = element.fixed_len();
    let mut rest = v;
    let mut out = Vec::with_capacity((dimension as usize).min(v.len()));
    for _ in 0..dimension {
        let len = match fixed {
            Some(n) => n,
            None => {
                let (n, used) = crate::vint::read_unsigned_vint(rest, "vector element")?;
                rest = rest.get(used..).unwrap_or_default();
                usize::try_from(n).map_err(|_| Error::InvalidVint {
                    what: "vector element",
                })?
            }
        };
        if rest.len() < len {
            return Err(Error::Truncated {
                what: "vector element",
                needed: len,
                available: rest.len(),
            });
        }
        let (item, tail) = rest.split_at(len);
        out.push(item.to_vec());
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(Error::TrailingBytes {
            type_name: "vector",
            count: rest.len(),
        });
    }
    Ok(out)
}
