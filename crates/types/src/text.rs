//! Text forms of CQL values: how dates, times, timestamps, durations, varints, decimals,
//! floats and uuids are written in CQL literals and JSON, and how they print (as Cassandra and
//! Java print them). Parsers return `None` on text that is not a value of the type.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::value::Duration;

/// 100ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch: the offset of
/// a version 1 uuid's timestamp.
pub const GREGORIAN_OFFSET: i64 = 0x01B2_1DD2_1381_4000;

/// A `date` value of the Unix epoch (dates count days from 2^31 at 1970-01-01).
pub const DATE_EPOCH: i64 = 1 << 31;

const DAY_MILLIS: i64 = 86_400_000;

/// The Unix milliseconds of a version 1 uuid.
pub fn timeuuid_millis(u: &[u8; 16]) -> i64 {
    let ts = crate::compare::timestamp_of(u) as i64;
    (ts - GREGORIAN_OFFSET).div_euclid(10_000)
}

/// The version 1 uuid of `ticks` (100ns since the Gregorian epoch) with the given clock
/// sequence and node (its last 8 bytes).
pub fn timeuuid_at(ticks: i64, node: [u8; 8]) -> [u8; 16] {
    let t = ticks.max(0) as u64;
    let time_low = (t & 0xffff_ffff) as u32;
    let time_mid = ((t >> 32) & 0xffff) as u16;
    let time_hi = (((t >> 48) & 0x0fff) as u16) | 0x1000;
    let mut out = [0u8; 16];
    let parts = time_low
        .to_be_bytes()
        .into_iter()
        .chain(time_mid.to_be_bytes())
        .chain(time_hi.to_be_bytes())
        .chain(node);
    for (slot, b) in out.iter_mut().zip(parts) {
        *slot = b;
    }
    out
}

/// The `date` of Unix milliseconds.
pub fn date_of_millis(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(DAY_MILLIS) + DATE_EPOCH).unwrap_or(0)
}

/// The Unix milliseconds at the start of a `date`.
pub fn millis_of_date(d: u32) -> i64 {
    (i64::from(d) - DATE_EPOCH) * DAY_MILLIS
}

/// `yyyy-mm-ddTHH:MM:SS.fffZ` (UTC), the text of a timestamp cast to text.
pub fn timestamp_iso_text(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MILLIS));
    let in_day = ms.rem_euclid(DAY_MILLIS);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// A uuid as text (`8-4-4-4-12` lowercase hex).
pub fn uuid_text(u: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*u).to_string()
}

/// A two's complement varint as an i128, when it fits.
pub fn varint_i128(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let neg = b.first().is_some_and(|x| x & 0x80 != 0);
    let mut buf = [if neg { 0xff } else { 0 }; 16];
    buf.get_mut(16 - b.len()..)?.copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

/// A float literal (`1.5`, `-2e10`, `NaN`, `Infinity`, `-Infinity`) parsed straight to `F`.
pub fn parse_float<F: std::str::FromStr>(s: &str) -> Option<F> {
    match s {
        "NaN" => "NaN".parse().ok(),
        "Infinity" => "inf".parse().ok(),
        "-Infinity" => "-inf".parse().ok(),
        _ if s
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

/// The minimal big-endian two's complement bytes of `v` (a varint's encoding).
pub fn varint_bytes(v: i128) -> Bytes {
    minimal_twos_complement(&v.to_be_bytes())
}

/// `bytes` (two's complement) without redundant leading sign bytes.
pub fn minimal_twos_complement(bytes: &[u8]) -> Bytes {
    let mut start = 0;
    while let (Some(&b), Some(&next)) = (bytes.get(start), bytes.get(start + 1)) {
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    Bytes::copy_from_slice(bytes.get(start..).unwrap_or_default())
}

/// A decimal integer of any size (`-123...`) as varint bytes.
pub fn varint_from_decimal(s: &str) -> Option<Bytes> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(v) = s.parse::<i128>() {
        return Some(varint_bytes(v));
    }
    // Magnitude, big-endian base 256, with a leading zero byte for the sign.
    let mut mag: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for b in mag.iter_mut().rev() {
            let x = u32::from(*b) * 10 + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
        if mag.first().is_some_and(|b| b & 0x80 != 0) {
            mag.insert(0, 0);
        }
    }
    if neg {
        // Two's complement: invert, add one.
        let mut carry = 1u16;
        for b in mag.iter_mut().rev() {
            let x = u16::from(!*b) + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
    }
    Some(minimal_twos_complement(&mag))
}

/// Varint bytes as a decimal integer.
pub fn varint_to_decimal(bytes: &[u8]) -> String {
    let neg = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = bytes.to_vec();
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut().rev() {
            let x = u16::from(!*b) + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
    }
    let mut digits = Vec::new();
    while mag.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for b in mag.iter_mut() {
            let x = (rem << 8) | u32::from(*b);
            *b = (x / 10) as u8;
            rem = x % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A decimal literal (`-12.345`, `1.5e-3`) as unscaled varint and scale (Java's BigDecimal).
pub fn parse_decimal(s: &str) -> Option<(Bytes, i32)> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(at) => {
            let exp = s.get(at + 1..)?;
            (
                s.get(..at)?,
                exp.strip_prefix('+').unwrap_or(exp).parse::<i32>().ok()?,
            )
        }
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let digits = if digits == "-" || digits == "+" || digits.is_empty() {
        return None;
    } else {
        digits
    };
    let scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
    Some((varint_from_decimal(&digits)?, scale))
}

/// `YYYY-MM-DD` (or a day number) as a CQL date (days since the epoch, offset by 2^31).
pub fn parse_date(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let days = days_from_civil_str(s)?;
    u32::try_from(days + (1i64 << 31)).ok()
}

/// Days since the Unix epoch of `[-]YYYY-MM-DD`.
pub fn days_from_civil_str(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut parts = rest.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let y = if neg { -y } else { y };
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    days_from_civil(y, m, d)
}

pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > days_in_month {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The civil date `(year, month, day)` of a day number since the Unix epoch.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `HH:MM:SS[.fffffffff]` (or nanoseconds) as nanoseconds since midnight.
pub fn parse_time(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .ok()
            .filter(|n| (0..86_400_000_000_000).contains(n));
    }
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = parts.next()?.parse().ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000_000 + nanos)
}

/// A timestamp string as Cassandra accepts it (`yyyy-mm-dd[(T| )HH:MM[:SS[.fff]]][zone]`,
/// zone `Z`, `+HHMM` or `+HH:MM`, UTC when absent; or milliseconds) as ms since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let date_len = s
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ' || *c == 'T')
        .map_or(s.len(), |(i, _)| i);
    let (date, rest) = s.split_at(date_len);
    // A date alone may carry a zone directly (`2020-01-01+0000`): split it off.
    let (date, mut rest) = match (rest.is_empty(), date.get(10..)) {
        (true, Some(zone)) if !zone.is_empty() => (date.get(..10)?, zone),
        _ => (date, rest.get(1..).unwrap_or("")),
    };
    let days = days_from_civil_str(date)?;
    let mut millis = 0i64;
    let rest_trimmed = rest.trim_start();
    rest = rest_trimmed;
    if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
            .unwrap_or(rest.len());
        let (time, zone) = rest.split_at(end);
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut parts = hms.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let m: i64 = parts.next()?.parse().ok()?;
        let sec: i64 = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
            return None;
        }
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ms: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().ok()?
        };
        millis = ((h * 60 + m) * 60 + sec) * 1000 + ms;
        rest = zone;
    }
    let rest = rest.trim();
    let offset_minutes: i64 = match rest {
        "" | "Z" | "z" | "UTC" | "GMT" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let digits: String = rest.get(1..)?.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits.get(..2)?.parse().ok()?;
            let m: i64 = digits.get(2..)?.parse().ok()?;
            sign * (h * 60 + m)
        }
    };
    Some(days * 86_400_000 + millis - offset_minutes * 60_000)
}

/// A duration literal: `1h30m`, `-2d`, ISO 8601 `P1DT2H`, `P2W` or `P0001-02-03T04:05:06`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i64);
    if let Some(iso) = body.strip_prefix(['P', 'p']) {
        if iso.contains('-') {
            // P0001-02-03T04:05:06
            let (date, time) = iso.split_once(['T', 't'])?;
            let mut d = date.split('-');
            let y: i64 = d.next()?.parse().ok()?;
            let mo: i64 = d.next()?.parse().ok()?;
            let dd: i64 = d.next()?.parse().ok()?;
            let mut t = time.split(':');
            let h: i64 = t.next()?.parse().ok()?;
            let mi: i64 = t.next()?.parse().ok()?;
            let se: i64 = t.next()?.parse().ok()?;
            months = y * 12 + mo;
            days = dd;
            nanos = ((h * 60 + mi) * 60 + se) * 1_000_000_000;
        } else {
            let mut in_time = false;
            let mut num = String::new();
            let mut any = false;
            for c in iso.chars() {
                match c.to_ascii_uppercase() {
                    'T' if num.is_empty() => in_time = true,
                    d if d.is_ascii_digit() => num.push(d),
                    unit => {
                        let n: i64 = num.parse().ok()?;
                        num.clear();
                        any = true;
                        match (unit, in_time) {
                            ('Y', false) => months = months.checked_add(n.checked_mul(12)?)?,
                            ('M', false) => months = months.checked_add(n)?,
                            ('W', false) => days = days.checked_add(n.checked_mul(7)?)?,
                            ('D', false) => days = days.checked_add(n)?,
                            ('H', true) => {
                                nanos = nanos.checked_add(n.checked_mul(3_600_000_000_000)?)?
                            }
                            ('M', true) => {
                                nanos = nanos.checked_add(n.checked_mul(60_000_000_000)?)?
                            }
                            ('S', true) => {
                                nanos = nanos.checked_add(n.checked_mul(1_000_000_000)?)?
                            }
                            _ => return None,
                        }
                    }
                }
            }
            if !num.is_empty() || !any {
                return None;
            }
        }
    } else {
        let lower = body.to_ascii_lowercase();
        let mut rest = lower.as_str();
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return None;
            }
            let n: i64 = rest.get(..digits)?.parse().ok()?;
            rest = rest.get(digits..)?;
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = rest.get(..unit_len)?;
            rest = rest.get(unit_len..)?;
            let (field, mult) = match unit {
                "y" => (&mut months, 12),
                "mo" => (&mut months, 1),
                "w" => (&mut days, 7),
                "d" => (&mut days, 1),
                "h" => (&mut nanos, 3_600_000_000_000),
                "m" => (&mut nanos, 60_000_000_000),
                "s" => (&mut nanos, 1_000_000_000),
                "ms" => (&mut nanos, 1_000_000),
                "us" | "µs" => (&mut nanos, 1_000),
                "ns" => (&mut nanos, 1),
                _ => return None,
            };
            *field = field.checked_add(n.checked_mul(mult)?)?;
        }
    }
    let sign = if neg { -1 } else { 1 };
    Some(Duration {
        months: i32::try_from(months * sign).ok()?,
        days: i32::try_from(days * sign).ok()?,
        nanoseconds: nanos * sign,
    })
}

pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes())
}

pub fn parse_hex(h: &str) -> Option<Bytes> {
    let digits = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X"))?;
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

/// Java's `BigDecimal.toString()`.
pub fn decimal_text(scale: i32, unscaled: &Bytes) -> String {
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
pub fn java_double(v: f64) -> String {
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

pub fn java_float(v: f32) -> String {
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
pub fn timestamp_text(ms: i64) -> String {
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
pub fn date_text(d: u32) -> String {
    let (y, m, d) = civil_from_days(i64::from(d) - (1i64 << 31));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS.nnnnnnnnn`.
pub fn time_text(nanos: i64) -> String {
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
pub fn duration_text(d: &Duration) -> String {
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
