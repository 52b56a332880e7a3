//! Order-preserving byte encodings of CQL values.
//!
//! `encode(ty, serialized)` turns a value in its native-protocol serialized form into bytes whose
//! bytewise order is Cassandra's comparator order for `ty`; `decode` turns them back. Every
//! encoding is self-delimiting (no encoding is a prefix of another), so encodings can be
//! concatenated into composite keys and a whole component can be inverted (every byte XOR 0xFF)
//! to reverse its order for DESC clustering columns.
//!
//! | type | encoding |
//! |------|----------|
//! | boolean | 1 byte: 0 false, 1 true |
//! | tinyint, smallint, int, bigint, time, timestamp | big-endian with the sign bit flipped |
//! | date | its 4 bytes (already an unsigned, epoch-at-2^31 day count) |
//! | float, double | IEEE bits; negatives inverted, positives with the sign bit set; every NaN canonical and greatest, -0.0 < 0.0 (Java's `Double.compare`) |
//! | text, ascii, blob, inet, custom | bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x01 |
//! | uuid | version nibble, then the msb (timestamp-reordered for v1), then the lsb, unsigned (Cassandra's UUIDType) |
//! | timeuuid | timestamp-reordered msb, then the lsb with each byte's sign bit flipped (TimeUUIDType's signed-byte lsb order) |
//! | varint | 0x00 + !len (u32) + two's complement for negatives, 0x01 + len + bytes otherwise (minimal form) |
//! | decimal | 0x00 negative / 0x01 zero / 0x02 positive; then the decimal exponent (i64, sign flipped) and digits+1 with a 0x00 terminator, inverted when negative |
//! | tuple, UDT | per field 0x01 null or 0x02 + field; 0x00 ends (fewer fields sort first) |
//! | frozen list, set, vector | per element 0x01 + element; 0x00 ends |
//! | frozen map | per entry 0x01 + key + value; 0x00 ends |
//!
//! Values that compare equal in Cassandra but differ in bytes (1.5 and 1.50, two NaN payloads,
//! a varint with a redundant sign byte) encode to the same bytes and decode to one canonical form.

use crate::error::{Error, Result};
use crate::ty::CqlType;

/// Appends the order-preserving encoding of `value` (serialized as `ty`), XOR `mask`
/// (0x00 ascending, 0xFF descending).
pub fn encode(ty: &CqlType, value: &[u8], mask: u8, out: &mut Vec<u8>) -> Result<()> {
    let mut sink = Sink { out, mask };
    encode_into(ty, value, &mut sink)
}

/// Decodes one value encoded by [`encode`] with the same `mask` from the front of `input`;
/// returns the serialized value and the number of bytes used.
pub fn decode(ty: &CqlType, input: &[u8], mask: u8) -> Result<(Vec<u8>, usize)> {
    let mut src = Source {
        data: input,
        pos: 0,
        mask,
    };
    let mut out = Vec::new();
    decode_into(ty, &mut src, &mut out).map_err(Error::MalformedKey)?;
    Ok((out, src.pos))
}

struct Sink<'a> {
    out: &'a mut Vec<u8>,
    mask: u8,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let mask = self.mask;
        self.out.extend(bytes.iter().map(|b| b ^ mask));
    }
    fn byte(&mut self, b: u8) {
        self.out.push(b ^ self.mask);
    }
    /// Escaped, terminated bytes.
    fn escaped(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == 0 {
                self.put(&[0x00, 0xFF]);
            } else {
                self.byte(b);
            }
        }
        self.put(&[0x00, 0x01]);
    }
}

struct Source<'a> {
    data: &'a [u8],
    pos: usize,
    mask: u8,
}

impl Source<'_> {
    fn byte(&mut self) -> Result<u8, &'static str> {
        let b = self.data.get(self.pos).ok_or("truncated key")?;
        self.pos += 1;
        Ok(b ^ self.mask)
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut a = [0u8; N];
        for slot in a.iter_mut() {
            *slot = self.byte()?;
        }
        Ok(a)
    }
    fn escaped(&mut self, out: &mut Vec<u8>) -> Result<(), &'static str> {
        loop {
            match self.byte()? {
                0 => match self.byte()? {
                    0xFF => out.push(0),
                    0x01 => return Ok(()),
                    _ => return Err("bad escape in key"),
                },
                b => out.push(b),
            }
        }
    }
}

fn invalid(ty: &CqlType, value: &[u8], reason: &'static str) -> Error {
    Error::Malformed {
        ty: ty.to_string(),
        len: value.len(),
        reason,
    }
}

fn fixed<const N: usize>(ty: &CqlType, value: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(value).map_err(|_| invalid(ty, value, "wrong length for a fixed-size type"))
}

/// Splits a serialized collection/tuple into its `[i32 length][bytes]` items (None = null).
struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Items<'a> {
    fn next_item(&mut self) -> Option<Result<Option<&'a [u8]>, &'static str>> {
        if self.rest.is_empty() {
            return None;
        }
        Some(self.read())
    }
    fn read(&mut self) -> Result<Option<&'a [u8]>, &'static str> {
        let (len, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or("truncated length")?;
        let len = i32::from_be_bytes(*len);
        if len < 0 {
            self.rest = rest;
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| "bad length")?;
        if rest.len() < len {
            return Err("truncated item");
        }
        let (item, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(Some(item))
    }
    fn count(&mut self) -> Result<usize, &'static str> {
        let (n, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or("truncated count")?;
        self.rest = rest;
        usize::try_from(i32::from_be_bytes(*n)).map_err(|_| "negative count")
    }
}

fn push_item(out: &mut Vec<u8>, item: Option<&[u8]>) {
    match item {
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_be_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn encode_into(ty: &CqlType, v: &[u8], s: &mut Sink<'_>) -> Result<()> {
    match ty {
        CqlType::Boolean => {
            let [b] = fixed::<1>(ty, v)?;
            s.byte(u8::from(b != 0));
        }
        CqlType::Tinyint => s.put(&[fixed::<1>(ty, v)?[0] ^ 0x80]),
        CqlType::Smallint => s.put(&flip_sign(fixed::<2>(ty, v)?)),
        CqlType::Int => s.put(&flip_sign(fixed::<4>(ty, v)?)),
        CqlType::Bigint | CqlType::Time | CqlType::Timestamp => {
            s.put(&flip_sign(fixed::<8>(ty, v)?))
        }
        CqlType::Date => s.put(&fixed::<4>(ty, v)?),
        CqlType::Float => {
            let bits = u32::from_be_bytes(fixed::<4>(ty, v)?);
            let bits = if f32::from_bits(bits).is_nan() {
                0x7fc0_0000
            } else {
                bits
            };
            let enc = if bits & 0x8000_0000 != 0 {
                !bits
            } else {
                bits | 0x8000_0000
            };
            s.put(&enc.to_be_bytes());
        }
        CqlType::Double => {
            let bits = u64::from_be_bytes(fixed::<8>(ty, v)?);
            let bits = if f64::from_bits(bits).is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                bits
            };
            let enc = if bits & (1 << 63) != 0 {
                !bits
            } else {
                bits | (1 << 63)
            };
            s.put(&enc.to_be_bytes());
        }
        CqlType::Text | CqlType::Ascii | CqlType::Blob | CqlType::Custom(_) => s.escaped(v),
        CqlType::Inet => {
            if v.len() != 4 && v.len() != 16 {
                return Err(invalid(ty, v, "inet must be 4 or 16 bytes"));
            }
            s.escaped(v);
        }
        CqlType::Uuid => {
            let b = fixed::<16>(ty, v)?;
            let msb = u64::from_be_bytes(first8(&b));
            let lsb = u64::from_be_bytes(last8(&b));
            let version = ((msb >> 12) & 0xf) as u8;
            s.byte(version);
            let msb = if version == 1 {
                reorder_timestamp(msb)
            } else {
                msb
            };
            s.put(&msb.to_be_bytes());
            s.put(&lsb.to_be_bytes());
        }
        CqlType::Timeuuid => {
            let b = fixed::<16>(ty, v)?;
            let msb = u64::from_be_bytes(first8(&b));
            if (msb >> 12) & 0xf != 1 {
                return Err(invalid(ty, v, "timeuuid must be a version 1 uuid"));
            }
            let lsb = u64::from_be_bytes(last8(&b));
            s.put(&reorder_timestamp(msb).to_be_bytes());
            s.put(&(lsb ^ 0x8080_8080_8080_8080).to_be_bytes());
        }
        CqlType::Varint => {
            let min = minimal_varint(v).ok_or_else(|| invalid(ty, v, "empty varint"))?;
            encode_varint(min, s);
        }
        CqlType::Decimal => {
            let (scale, unscaled) = v
                .split_first_chunk::<4>()
                .ok_or_else(|| invalid(ty, v, "decimal too short"))?;
            let scale = i32::from_be_bytes(*scale);
            let unscaled =
                minimal_varint(unscaled).ok_or_else(|| invalid(ty, v, "empty unscaled"))?;
            encode_decimal(scale, unscaled, s);
        }
        CqlType::Counter | CqlType::Duration => {
            return Err(Error::NotOrderable { ty: ty.to_string() });
        }
        CqlType::Vector { element, dimension } => {
            let items = crate::compare::vector_items(element, *dimension, v)
                .map_err(|_| invalid(ty, v, "malformed vector"))?;
            for item in items {
                s.byte(0x01);
                encode_into(element, &item, s)?;
            }
            s.byte(0x00);
        }
        CqlType::List { element, .. } | CqlType::Set { element, .. } => {
            let mut items = Items { rest: v };
            let n = items.count().map_err(|r| invalid(ty, v, r))?;
            for _ in 0..n {
                let item = items.read().map_err(|r| invalid(ty, v, r))?;
                let item = item.ok_or_else(|| invalid(ty, v, "null collection element"))?;
                s.byte(0x01);
                encode_into(element, item, s)?;
            }
            if !items.rest.is_empty() {
                return Err(invalid(ty, v, "trailing bytes"));
            }
            s.byte(0x00);
        }
        CqlType::Map { key, value, .. } => {
            let mut items = Items { rest: v };
            let n = items.count().map_err(|r| invalid(ty, v, r))?;
            for _ in 0..n {
                let k = items.read().map_err(|r| invalid(ty, v, r))?;
                let val = items.read().map_err(|r| invalid(ty, v, r))?;
                let (Some(k), Some(val)) = (k, val) else {
                    return Err(invalid(ty, v, "null map entry"));
                };
                s.byte(0x01);
                encode_into(key, k, s)?;
                encode_into(value, val, s)?;
            }
            if !items.rest.is_empty() {
                return Err(invalid(ty, v, "trailing bytes"));
            }
            s.byte(0x00);
        }
        CqlType::Tuple(_) | CqlType::Udt(_) => {
            let types = field_types(ty);
            let mut items = Items { rest: v };
            let mut i = 0;
            while let Some(item) = items.next_item() {
                let item = item.map_err(|r| invalid(ty, v, r))?;
                let fty = types
                    .get(i)
                    .ok_or_else(|| invalid(ty, v, "too many fields"))?;
                match item {
                    None => s.byte(0x01),
                    Some(b) => {
                        s.byte(0x02);
                        encode_into(fty, b, s)?;
                    }
                }
                i += 1;
            }
            s.byte(0x00);
        }
    }
    Ok(())
}

fn field_types(ty: &CqlType) -> Vec<&CqlType> {
    match ty {
        CqlType::Tuple(items) => items.iter().collect(),
        CqlType::Udt(u) => u.fields.iter().map(|(_, t)| t).collect(),
        _ => Vec::new(),
    }
}

fn decode_into(ty: &CqlType, s: &mut Source<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
    match ty {
        CqlType::Boolean => out.push(s.byte()?),
        CqlType::Tinyint => out.push(s.byte()? ^ 0x80),
        CqlType::Smallint => out.extend_from_slice(&flip_sign(s.take::<2>()?)),
        CqlType::Int => out.extend_from_slice(&flip_sign(s.take::<4>()?)),
        CqlType::Bigint | CqlType::Time | CqlType::Timestamp => {
            out.extend_from_slice(&flip_sign(s.take::<8>()?))
        }
        CqlType::Date => out.extend_from_slice(&s.take::<4>()?),
        CqlType::Float => {
            let enc = u32::from_be_bytes(s.take::<4>()?);
            let bits = if enc & 0x8000_0000 != 0 {
                enc & 0x7fff_ffff
            } else {
                !enc
            };
            out.extend_from_slice(&bits.to_be_bytes());
        }
        CqlType::Double => {
            let enc = u64::from_be_bytes(s.take::<8>()?);
            let bits = if enc & (1 << 63) != 0 {
                enc & !(1 << 63)
            } else {
                !enc
            };
            out.extend_from_slice(&bits.to_be_bytes());
        }
        CqlType::Text | CqlType::Ascii | CqlType::Blob | CqlType::Inet | CqlType::Custom(_) => {
            s.escaped(out)?
        }
        CqlType::Uuid => {
            let version = s.byte()?;
            let msb = u64::from_be_bytes(s.take::<8>()?);
            let lsb = s.take::<8>()?;
            let msb = if version == 1 { reorder_back(msb) } else { msb };
            out.extend_from_slice(&msb.to_be_bytes());
            out.extend_from_slice(&lsb);
        }
        CqlType::Timeuuid => {
            let msb = reorder_back(u64::from_be_bytes(s.take::<8>()?));
            let lsb = u64::from_be_bytes(s.take::<8>()?) ^ 0x8080_8080_8080_8080;
            out.extend_from_slice(&msb.to_be_bytes());
            out.extend_from_slice(&lsb.to_be_bytes());
        }
        CqlType::Varint => decode_varint(s, out)?,
        CqlType::Decimal => decode_decimal(s, out)?,
        CqlType::Counter | CqlType::Duration => return Err("unorderable type in key"),
        CqlType::Vector { element, .. } => {
            let fixed = element.fixed_len();
            while s.byte()? == 0x01 {
                let mut item = Vec::new();
                decode_into(element, s, &mut item)?;
                if fixed.is_none() {
                    let mut len = bytes::BytesMut::new();
                    crate::vint::put_unsigned_vint(&mut len, item.len() as u64);
                    out.extend_from_slice(&len);
                }
                out.extend_from_slice(&item);
            }
        }
        CqlType::List { element, .. } | CqlType::Set { element, .. } => {
            let mut body = Vec::new();
            let mut n = 0i32;
            while s.byte()? == 0x01 {
                let mut item = Vec::new();
                decode_into(element, s, &mut item)?;
                push_item(&mut body, Some(&item));
                n += 1;
            }
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&body);
        }
        CqlType::Map { key, value, .. } => {
            let mut body = Vec::new();
            let mut n = 0i32;
            while s.byte()? == 0x01 {
                let mut k = Vec::new();
                decode_into(key, s, &mut k)?;
                let mut v = Vec::new();
                decode_into(value, s, &mut v)?;
                push_item(&mut body, Some(&k));
                push_item(&mut body, Some(&v));
                n += 1;
            }
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&body);
        }
        CqlType::Tuple(_) | CqlType::Udt(_) => {
            let types = field_types(ty);
            let mut i = 0;
            loop {
                match s.byte()? {
                    0x00 => break,
                    0x01 => push_item(out, None),
                    0x02 => {
                        let fty = types.get(i).ok_or("too many tuple fields")?;
                        let mut f = Vec::new();
                        decode_into(fty, s, &mut f)?;
                        push_item(out, Some(&f));
                    }
                    _ => return Err("bad tuple field marker"),
                }
                i += 1;
            }
        }
    }
    Ok(())
}

fn flip_sign<const N: usize>(mut b: [u8; N]) -> [u8; N] {
    if let Some(first) = b.first_mut() {
        *first ^= 0x80;
    }
    b
}

fn first8(b: &[u8; 16]) -> [u8; 8] {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    a
}

fn last8(b: &[u8; 16]) -> [u8; 8] {
    let mut a = [0; 8];
    a.copy_from_slice(&b[8..]);
    a
}

/// time_low|time_mid|version+time_hi  ->  version+time_hi|time_mid|time_low
fn reorder_timestamp(msb: u64) -> u64 {
    (msb << 48) | ((msb << 16) & 0xFFFF_0000_0000) | (msb >> 32)
}

fn reorder_back(r: u64) -> u64 {
    (r << 32) | ((r >> 16) & 0xFFFF_0000) | (r >> 48)
}

/// Drops redundant sign bytes; None when empty.
fn minimal_varint(v: &[u8]) -> Option<&[u8]> {
    let mut v = v;
    if v.is_empty() {
        return None;
    }
    while let [a, b, rest @ ..] = v {
        if (*a == 0x00 && *b < 0x80) || (*a == 0xFF && *b >= 0x80) {
            v = v.get(1..).unwrap_or(rest);
        } else {
            break;
        }
    }
    Some(v)
}

fn encode_varint(min: &[u8], s: &mut Sink<'_>) {
    let negative = min.first().is_some_and(|b| b & 0x80 != 0);
    let len = min.len() as u32;
    if negative {
        s.byte(0x00);
        s.put(&(!len).to_be_bytes());
    } else {
        s.byte(0x01);
        s.put(&len.to_be_bytes());
    }
    s.put(min);
}

fn decode_varint(s: &mut Source<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let class = s.byte()?;
    let len = u32::from_be_bytes(s.take::<4>()?);
    let len = match class {
        0x00 => !len,
        0x01 => len,
        _ => return Err("bad varint class"),
    };
    for _ in 0..len {
        out.push(s.byte()?);
    }
    Ok(())
}

/// Two's complement big-endian -> (negative, magnitude big-endian).
fn to_magnitude(v: &[u8]) -> (bool, Vec<u8>) {
    let negative = v.first().is_some_and(|b| b & 0x80 != 0);
    let mut m = v.to_vec();
    if negative {
        // Negate: invert and add one.
        for b in m.iter_mut() {
            *b = !*b;
        }
        for b in m.iter_mut().rev() {
            let (r, carry) = b.overflowing_add(1);
            *b = r;
            if !carry {
                break;
            }
        }
    }
    (negative, m)
}

/// (negative, magnitude) -> minimal two's complement.
fn from_magnitude(negative: bool, mag: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8];
    m.extend_from_slice(mag);
    if negative {
        for b in m.iter_mut() {
            *b = !*b;
        }
        for b in m.iter_mut().rev() {
            let (r, carry) = b.overflowing_add(1);
            *b = r;
            if !carry {
                break;
            }
        }
    }
    minimal_varint(&m)
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| vec![0])
}

/// Decimal digits (most significant first) of a big-endian magnitude.
fn to_digits(mag: &[u8]) -> Vec<u8> {
    let mut m: Vec<u8> = mag.to_vec();
    let mut digits = Vec::new();
    while m.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in m.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(rem as u8);
        while m.first() == Some(&0) {
            m.remove(0);
        }
    }
    digits.reverse();
    digits
}

fn from_digits(digits: &[u8]) -> Vec<u8> {
    let mut m: Vec<u8> = Vec::new();
    for &d in digits {
        let mut carry = u32::from(d);
        for b in m.iter_mut().rev() {
            let cur = u32::from(*b) * 10 + carry;
            *b = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        while carry > 0 {
            m.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    m
}

fn encode_decimal(scale: i32, unscaled: &[u8], s: &mut Sink<'_>) {
    let (negative, mag) = to_magnitude(unscaled);
    let mut digits = to_digits(&mag);
    if digits.is_empty() {
        s.byte(0x01);
        return;
    }
    let exponent = digits.len() as i64 - i64::from(scale);
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let mut body = Vec::with_capacity(digits.len() + 9);
    body.extend_from_slice(&((exponent as u64) ^ (1 << 63)).to_be_bytes());
    body.extend(digits.iter().map(|d| d + 1));
    body.push(0x00);
    if negative {
        s.byte(0x00);
        for b in body.iter_mut() {
            *b = !*b;
        }
    } else {
        s.byte(0x02);
    }
    s.put(&body);
}

fn decode_decimal(s: &mut Source<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let class = s.byte()?;
    let inv = match class {
        0x01 => {
            out.extend_from_slice(&0i32.to_be_bytes());
            out.push(0);
            return Ok(());
        }
        0x00 => 0xFF,
        0x02 => 0x00,
        _ => return Err("bad decimal class"),
    };
    let mut e = [0u8; 8];
    for slot in e.iter_mut() {
        *slot = s.byte()? ^ inv;
    }
    let exponent = (u64::from_be_bytes(e) ^ (1 << 63)) as i64;
    let mut digits = Vec::new();
    loop {
        match s.byte()? ^ inv {
            0 => break,
            d @ 1..=10 => digits.push(d - 1),
            _ => return Err("bad decimal digit"),
        }
    }
    let scale =
        i32::try_from(digits.len() as i64 - exponent).map_err(|_| "decimal scale overflow")?;
    out.extend_from_slice(&scale.to_be_bytes());
    out.extend_from_slice(&from_magnitude(inv == 0xFF, &from_digits(&digits)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ty: &CqlType, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(ty, v, 0, &mut out).unwrap();
        out
    }

    fn roundtrip(ty: &CqlType, v: &[u8]) -> Vec<u8> {
        let e = enc(ty, v);
        let (d, used) = decode(ty, &e, 0).unwrap();
        assert_eq!(used, e.len());
        let mut inv = Vec::new();
        encode(ty, v, 0xFF, &mut inv).unwrap();
        let (d2, used2) = decode(ty, &inv, 0xFF).unwrap();
        assert_eq!((d2.as_slice(), used2), (d.as_slice(), used));
        d
    }

    fn dec(scale: i32, unscaled: i128) -> Vec<u8> {
        let mut v = scale.to_be_bytes().to_vec();
        v.extend_from_slice(&unscaled.to_be_bytes());
        v
    }

    /// Reference comparators written from Cassandra's type comparators.
    fn reference_cmp(ty: &CqlType, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match ty {
            CqlType::Int => i32::from_be_bytes(a.try_into().unwrap())
                .cmp(&i32::from_be_bytes(b.try_into().unwrap())),
            CqlType::Bigint => i64::from_be_bytes(a.try_into().unwrap())
                .cmp(&i64::from_be_bytes(b.try_into().unwrap())),
            CqlType::Double => {
                let (x, y) = (
                    f64::from_be_bytes(a.try_into().unwrap()),
                    f64::from_be_bytes(b.try_into().unwrap()),
                );
                // Java's Double.compare.
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => x.total_cmp(&y),
                }
            }
            CqlType::Text | CqlType::Blob => a.cmp(b),
            CqlType::Varint => {
                let pad = |v: &[u8]| {
                    let fill = if v.first().is_some_and(|x| x & 0x80 != 0) {
                        0xFF
                    } else {
                        0
                    };
                    let mut p = vec![fill; 17 - v.len()];
                    p.extend_from_slice(v);
                    i128::from_be_bytes(p[1..].try_into().unwrap())
                };
                pad(a).cmp(&pad(b))
            }
            CqlType::Decimal => {
                // Compare a*10^-sa with b*10^-sb exactly over i128 with small scales.
                let s = |v: &[u8]| i32::from_be_bytes(v[..4].try_into().unwrap());
                let u = |v: &[u8]| i128::from_be_bytes(v[4..].try_into().unwrap());
                let (sa, sb) = (s(a), s(b));
                let m = sa.max(sb);
                (u(a) * 10i128.pow((m - sa) as u32)).cmp(&(u(b) * 10i128.pow((m - sb) as u32)))
            }
            CqlType::Timeuuid => {
                let msb = |v: &[u8]| {
                    reorder_timestamp(u64::from_be_bytes(v[..8].try_into().unwrap())) as i64
                };
                let lsb = |v: &[u8]| v[8..].iter().map(|&x| x as i8).collect::<Vec<_>>();
                msb(a).cmp(&msb(b)).then_with(|| lsb(a).cmp(&lsb(b)))
            }
            CqlType::Uuid => {
                let msb = |v: &[u8]| u64::from_be_bytes(v[..8].try_into().unwrap());
                let ver = |v: &[u8]| (msb(v) >> 12) & 0xf;
                ver(a)
                    .cmp(&ver(b))
                    .then_with(|| {
                        if ver(a) == 1 {
                            reorder_timestamp(msb(a)).cmp(&reorder_timestamp(msb(b)))
                        } else {
                            msb(a).cmp(&msb(b))
                        }
                    })
                    .then_with(|| a[8..].cmp(&b[8..]))
            }
            CqlType::Tuple(types) => {
                let mut ia = Items { rest: a };
                let mut ib = Items { rest: b };
                for t in types {
                    match (ia.next_item(), ib.next_item()) {
                        (None, None) => return Ordering::Equal,
                        (None, Some(_)) => return Ordering::Less,
                        (Some(_), None) => return Ordering::Greater,
                        (Some(x), Some(y)) => match (x.unwrap(), y.unwrap()) {
                            (None, None) => {}
                            (None, Some(_)) => return Ordering::Less,
                            (Some(_), None) => return Ordering::Greater,
                            (Some(x), Some(y)) => {
                                let c = reference_cmp(t, x, y);
                                if c != Ordering::Equal {
                                    return c;
                                }
                            }
                        },
                    }
                }
                Ordering::Equal
            }
            _ => unreachable!(),
        }
    }

    use proptest::prelude::*;

    fn check_order(ty: &CqlType, a: &[u8], b: &[u8]) {
        let want = reference_cmp(ty, a, b);
        assert_eq!(enc(ty, a).cmp(&enc(ty, b)), want, "{ty} {a:?} {b:?}");
        let mut da = Vec::new();
        let mut db = Vec::new();
        encode(ty, a, 0xFF, &mut da).unwrap();
        encode(ty, b, 0xFF, &mut db).unwrap();
        assert_eq!(da.cmp(&db), want.reverse());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn int_bigint_double_encodings_order_like_cassandra(a: i64, b: i64, x: f64, y: f64) {
            check_order(&CqlType::Int, &(a as i32).to_be_bytes(), &(b as i32).to_be_bytes());
            check_order(&CqlType::Bigint, &a.to_be_bytes(), &b.to_be_bytes());
            check_order(&CqlType::Double, &x.to_be_bytes(), &y.to_be_bytes());
            check_order(&CqlType::Double, &x.to_be_bytes(), &(-x).to_be_bytes());
        }

        #[test]
        fn text_and_blob_encodings_order_bytewise_and_round_trip(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()], 0..6),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()], 0..6),
        ) {
            check_order(&CqlType::Blob, &a, &b);
            prop_assert_eq!(roundtrip(&CqlType::Blob, &a), a);
        }

        #[test]
        fn varint_and_decimal_encodings_order_numerically(a: i64, b: i64, sa in -3i32..6, sb in -3i32..6, small in -300i64..300) {
            let va = (a as i128).to_be_bytes();
            let vb = (small as i128).to_be_bytes();
            check_order(&CqlType::Varint, &va, &vb);
            check_order(&CqlType::Varint, &va[8..], &(b as i128).to_be_bytes()[4..]);
            let rt = roundtrip(&CqlType::Varint, &va);
            prop_assert_eq!(reference_cmp(&CqlType::Varint, &rt, &va), std::cmp::Ordering::Equal);
            check_order(&CqlType::Decimal, &dec(sa, a as i128), &dec(sb, small as i128));
            check_order(&CqlType::Decimal, &dec(sa, small as i128), &dec(sb, (small * 10) as i128));
            let d = dec(sa, a as i128);
            let back = roundtrip(&CqlType::Decimal, &d);
            // Canonical form: the same number, maybe another scale.
            let mut padded = back[..4].to_vec();
            let fill = if back[4] & 0x80 != 0 { 0xFF } else { 0 };
            padded.extend(std::iter::repeat_n(fill, 16 - (back.len() - 4)));
            padded.extend_from_slice(&back[4..]);
            prop_assert_eq!(reference_cmp(&CqlType::Decimal, &padded, &d), std::cmp::Ordering::Equal);
        }

        #[test]
        fn uuid_and_timeuuid_encodings_order_like_cassandra(a: [u8; 16], b: [u8; 16], v1 in any::<bool>(), v2 in any::<bool>()) {
            let set_version = |mut u: [u8; 16], one: bool| { u[6] = (u[6] & 0x0f) | if one { 0x10 } else { 0x40 }; u };
            let (ua, ub) = (set_version(a, v1), set_version(b, v2));
            check_order(&CqlType::Uuid, &ua, &ub);
            prop_assert_eq!(roundtrip(&CqlType::Uuid, &ua), ua.to_vec());
            let (ta, tb) = (set_version(a, true), set_version(b, true));
            check_order(&CqlType::Timeuuid, &ta, &tb);
            prop_assert_eq!(roundtrip(&CqlType::Timeuuid, &ta), ta.to_vec());
        }

        #[test]
        fn tuple_encoding_orders_component_wise(a: (Option<i32>, String), b: (Option<i32>, String)) {
            let ty = CqlType::Tuple(vec![CqlType::Int, CqlType::Text]);
            let ser = |t: &(Option<i32>, String)| {
                let mut v = Vec::new();
                push_item(&mut v, t.0.map(|x| x.to_be_bytes()).as_ref().map(|x| x.as_slice()));
                push_item(&mut v, Some(t.1.as_bytes()));
                v
            };
            check_order(&ty, &ser(&a), &ser(&b));
            prop_assert_eq!(roundtrip(&ty, &ser(&a)), ser(&a));
        }
    }

    #[test]
    fn double_nan_sorts_after_infinity_and_negative_zero_before_zero() {
        let e = |x: f64| enc(&CqlType::Double, &x.to_be_bytes());
        assert!(e(f64::NAN) > e(f64::INFINITY));
        assert!(e(-0.0) < e(0.0));
        assert_eq!(e(f64::NAN), e(-f64::NAN));
        assert!(e(f64::NEG_INFINITY) < e(-1e300));
    }

    #[test]
    fn decimals_equal_in_value_encode_identically() {
        assert_eq!(
            enc(&CqlType::Decimal, &dec(1, 15)),
            enc(&CqlType::Decimal, &dec(2, 150))
        );
        assert_eq!(
            enc(&CqlType::Decimal, &dec(0, 0)),
            enc(&CqlType::Decimal, &dec(5, 0))
        );
    }

    #[test]
    fn frozen_collections_round_trip_and_order_by_elements() {
        let ty = CqlType::list(CqlType::Int).frozen();
        let ser = |xs: &[i32]| {
            let mut v = (xs.len() as i32).to_be_bytes().to_vec();
            for x in xs {
                push_item(&mut v, Some(&x.to_be_bytes()));
            }
            v
        };
        assert!(enc(&ty, &ser(&[1, 2])) < enc(&ty, &ser(&[1, 2, 0])));
        assert!(enc(&ty, &ser(&[1, 2, 9])) < enc(&ty, &ser(&[1, 3])));
        assert!(enc(&ty, &ser(&[-5])) < enc(&ty, &ser(&[1])));
        assert_eq!(roundtrip(&ty, &ser(&[1, -2, 3])), ser(&[1, -2, 3]));
        let mty = CqlType::map(CqlType::Text, CqlType::Boolean).frozen();
        let mut m = 1i32.to_be_bytes().to_vec();
        push_item(&mut m, Some(b"k"));
        push_item(&mut m, Some(&[1]));
        assert_eq!(roundtrip(&mty, &m), m);
    }

    #[test]
    fn unorderable_types_and_malformed_values_are_errors() {
        let mut out = Vec::new();
        assert!(matches!(
            encode(&CqlType::Duration, &[0, 0, 0], 0, &mut out),
            Err(Error::NotOrderable { .. })
        ));
        assert!(matches!(
            encode(&CqlType::Int, &[0, 0, 0], 0, &mut out),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            encode(&CqlType::Timeuuid, &[0; 16], 0, &mut out),
            Err(Error::Malformed { .. })
        ));
        assert!(decode(&CqlType::Text, &[b'a', 0, 7], 0).is_err());
        assert!(decode(&CqlType::Bigint, &[1, 2], 0).is_err());
    }
}
