//! Values of `ilion.yaml` with a text form of their own: seeds and data sizes.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A seed node: its address, and its storage port when that is not this node's
/// (`127.0.0.1`, `127.0.0.1:7001`, `[::1]:7001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Seed {
    pub address: IpAddr,
    pub port: Option<u16>,
}

impl FromStr for Seed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(Seed {
                address: a.ip(),
                port: Some(a.port()),
            });
        }
        s.parse::<IpAddr>()
            .map(|address| Seed {
                address,
                port: None,
            })
            .map_err(|_| format!("`{s}` is not an address or address:port"))
    }
}

impl TryFrom<String> for Seed {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Seed> for String {
    fn from(s: Seed) -> String {
        match s.port {
            Some(port) => SocketAddr::new(s.address, port).to_string(),
            None => s.address.to_string(),
        }
    }
}

impl std::fmt::Display for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from(*self))
    }
}

/// A number of bytes, written as Cassandra writes data sizes (`64MiB`, `512KiB`, `1GiB`,
/// `100B`: a whole number and one of the units B, KiB, MiB, GiB) or as a plain number of bytes
/// (Cassandra's older `_in_bytes` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct DataSize(u64);

impl DataSize {
    pub const fn from_bytes(bytes: u64) -> DataSize {
        DataSize(bytes)
    }

    pub const fn from_mebibytes(mib: u64) -> DataSize {
        DataSize(mib.saturating_mul(1 << 20))
    }

    pub const fn bytes(self) -> u64 {
        self.0
    }
}

/// Units of a data size, largest first (Cassandra's `DataStorageSpec`).
const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

impl FromStr for DataSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_with_units(s, &SIZE_UNITS).map(DataSize).ok_or_else(|| {
            format!(
                "`{}` is not a data size: write bytes, or a whole number with B, KiB, MiB or GiB (64MiB)",
                s.trim()
            )
        })
    }
}

/// `number unit` (or a bare number, in the smallest unit) as a count of the smallest unit;
/// `None` for anything else or an overflow.
fn parse_with_units(s: &str, units: &[(&str, u64)]) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let scale = match unit {
        "" => 1,
        unit => units.iter().find(|(u, _)| *u == unit).map(|(_, n)| *n)?,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
}

/// `value` in the largest of `units` that divides it exactly (units largest first, the last
/// one 1).
fn fmt_with_units(
    value: u64,
    units: &[(&str, u64)],
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    let (unit, scale) = units
        .iter()
        .find(|(_, n)| value != 0 && value.is_multiple_of(*n))
        .or(units.last())
        .copied()
        .unwrap_or(("", 1));
    write!(f, "{}{unit}", value / scale)
}

/// Reads a value written as a number (of the smallest unit) or a string with a unit.
struct UnitVisitor<T>(&'static str, std::marker::PhantomData<T>);

impl<T: FromStr<Err = String> + From<u64>> serde::de::Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::from(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        u64::try_from(v)
            .map(T::from)
            .map_err(|_| E::custom(format!("cannot be negative ({v})")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl std::fmt::Display for DataSize {
    /// In the largest unit that divides the size exactly (`64MiB`, `1000B`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fmt_with_units(self.0, &SIZE_UNITS, f)
    }
}

impl From<DataSize> for String {
    fn from(s: DataSize) -> String {
        s.to_string()
    }
}

impl From<u64> for DataSize {
    fn from(bytes: u64) -> DataSize {
        DataSize(bytes)
    }
}

impl<'de> Deserialize<'de> for DataSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(
            "a number of bytes or a size such as 64MiB",
            std::marker::PhantomData,
        ))
    }
}

/// A period, written as Cassandra writes durations (`2000ms`, `2s`, `5m`, `1h`, `1d`: a
/// whole number and one of the units ms, s, m, h, d) or as a plain number of milliseconds
/// (Cassandra's older `_in_ms` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Millis(u64);

impl Millis {
    pub const fn from_millis(ms: u64) -> Millis {
        Millis(ms)
    }

    pub const fn millis(self) -> u64 {
        self.0
    }

    pub const fn duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

/// Units of a period, largest first (Cassandra's `DurationSpec`).
const PERIOD_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl FromStr for Millis {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_with_units(s, &PERIOD_UNITS).map(Millis).ok_or_else(|| {
            format!(
                "`{}` is not a duration: write milliseconds, or a whole number with ms, s, m, h or d (2000ms)",
                s.trim()
            )
        })
    }
}

impl std::fmt::Display for Millis {
    /// In the largest unit that divides the period exactly (`2s`, `1500ms`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fmt_with_units(self.0, &PERIOD_UNITS, f)
    }
}

impl From<Millis> for String {
    fn from(m: Millis) -> String {
        m.to_string()
    }
}

impl From<u64> for Millis {
    fn from(ms: u64) -> Millis {
        Millis(ms)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(
            "a number of milliseconds or a duration such as 2000ms",
            std::marker::PhantomData,
        ))
    }
}

/// A rate in bytes per second, written as Cassandra writes data rates (`64MiB/s`, `512KiB/s`,
/// `100B/s`: a whole number and one of B/s, KiB/s, MiB/s) or as a plain number of MiB/s
/// (Cassandra's older `compaction_throughput_mb_per_sec`). 0 means unthrottled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct DataRate(u64);

/// Units of a data rate, largest first (Cassandra's `DataRateSpec`).
const RATE_UNITS: [(&str, u64); 3] = [("MiB/s", 1 << 20), ("KiB/s", 1 << 10), ("B/s", 1)];

impl DataRate {
    pub const fn from_mebibytes(mib: u64) -> DataRate {
        DataRate(mib.saturating_mul(1 << 20))
    }

    pub const fn from_bytes_per_second(bytes: u64) -> DataRate {
        DataRate(bytes)
    }

    pub const fn bytes_per_second(self) -> u64 {
        self.0
    }
}

impl FromStr for DataRate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{}` is not a data rate: write a whole number with B/s, KiB/s or MiB/s (64MiB/s)",
                s.trim()
            )
        };
        if s.trim().chars().all(|c| c.is_ascii_digit()) {
            let mib: u64 = s.trim().parse().map_err(|_| bad())?;
            return Ok(DataRate::from_mebibytes(mib));
        }
        parse_with_units(s, &RATE_UNITS)
            .map(DataRate)
            .ok_or_else(bad)
    }
}

impl std::fmt::Display for DataRate {
    /// In the largest unit that divides the rate exactly (`64MiB/s`, `1000B/s`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fmt_with_units(self.0, &RATE_UNITS, f)
    }
}

impl From<DataRate> for String {
    fn from(r: DataRate) -> String {
        r.to_string()
    }
}

impl From<u64> for DataRate {
    /// A plain number is MiB/s.
    fn from(mib: u64) -> DataRate {
        DataRate::from_mebibytes(mib)
    }
}

impl<'de> Deserialize<'de> for DataRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor(
            "a number of MiB/s or a rate such as 64MiB/s",
            std::marker::PhantomData,
        ))
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn data_rates_read_as_cassandra_writes_them() {
        assert_eq!(
            "64MiB/s".parse::<DataRate>().unwrap().bytes_per_second(),
            64 << 20
        );
        assert_eq!(
            "512KiB/s".parse::<DataRate>().unwrap().bytes_per_second(),
            512 << 10
        );
        assert_eq!(
            "16".parse::<DataRate>().unwrap().bytes_per_second(),
            16 << 20
        );
        assert_eq!("0B/s".parse::<DataRate>().unwrap().bytes_per_second(), 0);
        assert!("64MB".parse::<DataRate>().is_err());
        assert_eq!(DataRate::from_mebibytes(64).to_string(), "64MiB/s");
    }
}
