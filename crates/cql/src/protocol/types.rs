//! The protocol's primitive notations (section 3 of the spec): `[int]`, `[string]`,
//! `[bytes]`, `[value]`, `[inet]`, `[consistency]`, the maps and lists (vints, which only
//! values use, are `ilion_types::vint`).
//!
//! All integers are big-endian. Readers borrow from a [`Bytes`]: `[bytes]` and `[value]`
//! come back as slices of the input, never copies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, BufMut, Bytes};

use super::ProtocolError;

type Result<T> = std::result::Result<T, ProtocolError>;

/// A consistency level (`[consistency]`, a `[short]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consistency {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    EachQuorum,
    Serial,
    LocalSerial,
    LocalOne,
}

impl Consistency {
    /// Every level, in code order.
    pub const ALL: [Consistency; 11] = [
        Consistency::Any,
        Consistency::One,
        Consistency::Two,
        Consistency::Three,
        Consistency::Quorum,
        Consistency::All,
        Consistency::LocalQuorum,
        Consistency::EachQuorum,
        Consistency::Serial,
        Consistency::LocalSerial,
        Consistency::LocalOne,
    ];

    /// The wire code.
    pub fn code(self) -> u16 {
        match self {
            Consistency::Any => 0x0000,
            Consistency::One => 0x0001,
            Consistency::Two => 0x0002,
            Consistency::Three => 0x0003,
            Consistency::Quorum => 0x0004,
            Consistency::All => 0x0005,
            Consistency::LocalQuorum => 0x0006,
            Consistency::EachQuorum => 0x0007,
            Consistency::Serial => 0x0008,
            Consistency::LocalSerial => 0x0009,
            Consistency::LocalOne => 0x000A,
        }
    }

    /// The level for a wire code.
    pub fn from_code(code: u16) -> Result<Consistency> {
        Consistency::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .ok_or(ProtocolError::UnknownConsistency(code))
    }
}

/// A bound value (`[value]`): bytes, null (length -1) or unset (length -2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RawValue {
    /// Length -1.
    Null,
    /// Length -2: leave the column as it is.
    Unset,
    /// A serialized value (see [`crate::protocol::value`]), borrowed from the frame body.
    Bytes(Bytes),
}

impl RawValue {
    /// Bytes on the wire, with the 4-byte length.
    pub fn encoded_len(&self) -> usize {
        4 + match self {
            RawValue::Bytes(b) => b.len(),
            _ => 0,
        }
    }
}

/// A cursor over a message body. Every read checks the length first: a short body is
/// [`ProtocolError::Truncated`], never a panic.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Reader {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn rest(self) -> Bytes {
        self.buf
    }

    fn need(&self, n: usize, what: &'static str) -> Result<()> {
        if self.buf.len() < n {
            Err(ProtocolError::Truncated {
                what,
                needed: n,
                available: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        self.need(1, what)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        self.need(2, what)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32> {
        self.need(4, what)?;
        Ok(self.buf.get_i32())
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        self.need(4, what)?;
        Ok(self.buf.get_u32())
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64> {
        self.need(8, what)?;
        Ok(self.buf.get_i64())
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes> {
        self.need(n, what)?;
        Ok(self.buf.split_to(n))
    }

    pub(crate) fn uuid(&mut self, what: &'static str) -> Result<[u8; 16]> {
        self.need(16, what)?;
        let mut id = [0u8; 16];
        self.buf.copy_to_slice(&mut id);
        Ok(id)
    }

    /// A `[string]`.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<String> {
        let n = usize::from(self.u16(what)?);
        let raw = self.take(n, what)?;
        utf8(raw.to_vec(), what)
    }

    /// A `[long string]`.
    pub(crate) fn long_string(&mut self, what: &'static str) -> Result<String> {
        let n = self.i32(what)?;
        let n = usize::try_from(n).map_err(|_| ProtocolError::InvalidLength {
            what,
            length: i64::from(n),
        })?;
        let raw = self.take(n, what)?;
        utf8(raw.to_vec(), what)
    }

    /// A `[bytes]`: `None` for a negative length.
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<Option<Bytes>> {
        let n = self.i32(what)?;
        match usize::try_from(n) {
            Ok(n) => self.take(n, what).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// A `[value]`: -1 is null, -2 unset, anything below is an error.
    pub(crate) fn value(&mut self, what: &'static str) -> Result<RawValue> {
        let n = self.i32(what)?;
        match n {
            -1 => Ok(RawValue::Null),
            -2 => Ok(RawValue::Unset),
            n if n < 0 => Err(ProtocolError::InvalidLength {
                what,
                length: i64::from(n),
            }),
            n => self
                .take(n.unsigned_abs() as usize, what)
                .map(RawValue::Bytes),
        }
    }

    /// A `[short bytes]`.
    pub(crate) fn short_bytes(&mut self, what: &'static str) -> Result<Bytes> {
        let n = usize::from(self.u16(what)?);
        self.take(n, what)
    }

    /// A `[string list]`.
    pub(crate) fn string_list(&mut self, what: &'static str) -> Result<Vec<String>> {
        let n = usize::from(self.u16(what)?);
        // Each string takes at least 2 bytes: bound the allocation by what is there.
        let mut out = Vec::with_capacity(n.min(self.remaining() / 2));
        for _ in 0..n {
            out.push(self.string(what)?);
        }
        Ok(out)
    }

    /// A `[string map]`, in wire order.
    pub(crate) fn string_map(&mut self, what: &'static str) -> Result<Vec<(String, String)>> {
        let n = usize::from(self.u16(what)?);
        let mut out = Vec::with_capacity(n.min(self.remaining() / 4));
        for _ in 0..n {
            let k = self.string(what)?;
            let v = self.string(what)?;
            out.push((k, v));
        }
        Ok(out)
    }

    /// A `[string multimap]`, in wire order.
    pub(crate) fn string_multimap(
        &mut self,
        what: &'static str,
    ) -> Result<Vec<(String, Vec<String>)>> {
        let n = usize::from(self.u16(what)?);
        let mut out = Vec::with_capacity(n.min(self.remaining() / 4));
        for _ in 0..n {
            let k = self.string(what)?;
            let v = self.string_list(what)?;
            out.push((k, v));
        }
        Ok(out)
    }

    /// A `[bytes map]`, in wire order.
    pub(crate) fn bytes_map(&mut self, what: &'static str) -> Result<Vec<(String, Option<Bytes>)>> {
        let n = usize::from(self.u16(what)?);
        let mut out = Vec::with_capacity(n.min(self.remaining() / 6));
        for _ in 0..n {
            let k = self.string(what)?;
            let v = self.bytes(what)?;
            out.push((k, v));
        }
        Ok(out)
    }

    /// An `[inetaddr]`: size byte and 4 or 16 address bytes.
    pub(crate) fn inetaddr(&mut self, what: &'static str) -> Result<IpAddr> {
        let n = usize::from(self.u8(what)?);
        let raw = self.take(n, what)?;
        ip_from_slice(&raw)
    }

    /// An `[inet]`: an `[inetaddr]` and an `[int]` port.
    pub(crate) fn inet(&mut self, what: &'static str) -> Result<SocketAddr> {
        let ip = self.inetaddr(what)?;
        let port = self.i32(what)?;
        let port = u16::try_from(port).map_err(|_| ProtocolError::InvalidLength {
            what: "inet port",
            length: i64::from(port),
        })?;
        Ok(SocketAddr::new(ip, port))
    }

    pub(crate) fn consistency(&mut self, what: &'static str) -> Result<Consistency> {
        Consistency::from_code(self.u16(what)?)
    }
}

pub(crate) fn utf8(raw: Vec<u8>, what: &'static str) -> Result<String> {
    String::from_utf8(raw).map_err(|_| ProtocolError::InvalidText {
        what,
        encoding: "UTF-8",
    })
}

pub(crate) fn ip_from_slice(raw: &[u8]) -> Result<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(raw) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(ProtocolError::InvalidInetLength(raw.len()))
    }
}

fn len_u16(n: usize, what: &'static str) -> Result<u16> {
    u16::try_from(n).map_err(|_| ProtocolError::InvalidLength {
        what,
        length: n as i64,
    })
}

pub(crate) fn len_i32(n: usize, what: &'static str) -> Result<i32> {
    i32::try_from(n).map_err(|_| ProtocolError::InvalidLength {
        what,
        length: n as i64,
    })
}

/// Writers for the notations; each has a matching `*_len` for `encoded_len()`.
pub(crate) trait WriteExt: BufMut {
    fn put_string(&mut self, s: &str, what: &'static str) -> Result<()> {
        self.put_u16(len_u16(s.len(), what)?);
        self.put_slice(s.as_bytes());
        Ok(())
    }

    fn put_long_string(&mut self, s: &str, what: &'static str) -> Result<()> {
        self.put_i32(len_i32(s.len(), what)?);
        self.put_slice(s.as_bytes());
        Ok(())
    }

    fn put_bytes_opt(&mut self, b: Option<&[u8]>, what: &'static str) -> Result<()> {
        match b {
            Some(b) => {
                self.put_i32(len_i32(b.len(), what)?);
                self.put_slice(b);
            }
            None => self.put_i32(-1),
        }
        Ok(())
    }

    fn put_value(&mut self, v: &RawValue, what: &'static str) -> Result<()> {
        match v {
            RawValue::Null => self.put_i32(-1),
            RawValue::Unset => self.put_i32(-2),
            RawValue::Bytes(b) => {
                self.put_i32(len_i32(b.len(), what)?);
                self.put_slice(b);
            }
        }
        Ok(())
    }

    fn put_short_bytes(&mut self, b: &[u8], what: &'static str) -> Result<()> {
        self.put_u16(len_u16(b.len(), what)?);
        self.put_slice(b);
        Ok(())
    }

    fn put_string_list(&mut self, l: &[String], what: &'static str) -> Result<()> {
        self.put_u16(len_u16(l.len(), what)?);
        for s in l {
            self.put_string(s, what)?;
        }
        Ok(())
    }

    fn put_string_map(&mut self, m: &[(String, String)], what: &'static str) -> Result<()> {
        self.put_u16(len_u16(m.len(), what)?);
        for (k, v) in m {
            self.put_string(k, what)?;
            self.put_string(v, what)?;
        }
        Ok(())
    }

    fn put_string_multimap(
        &mut self,
        m: &[(String, Vec<String>)],
        what: &'static str,
    ) -> Result<()> {
        self.put_u16(len_u16(m.len(), what)?);
        for (k, v) in m {
            self.put_string(k, what)?;
            self.put_string_list(v, what)?;
        }
        Ok(())
    }

    fn put_bytes_map(&mut self, m: &[(String, Option<Bytes>)], what: &'static str) -> Result<()> {
        self.put_u16(len_u16(m.len(), what)?);
        for (k, v) in m {
            self.put_string(k, what)?;
            self.put_bytes_opt(v.as_deref(), what)?;
        }
        Ok(())
    }

    fn put_inetaddr(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                self.put_u8(4);
                self.put_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.put_u8(16);
                self.put_slice(&a.octets());
            }
        }
    }

    fn put_inet(&mut self, addr: &SocketAddr) {
        self.put_inetaddr(&addr.ip());
        self.put_i32(i32::from(addr.port()));
    }

    fn put_consistency(&mut self, c: Consistency) {
        self.put_u16(c.code());
    }
}

impl<B: BufMut + ?Sized> WriteExt for B {}

pub(crate) fn string_len(s: &str) -> usize {
    2 + s.len()
}

pub(crate) fn long_string_len(s: &str) -> usize {
    4 + s.len()
}

pub(crate) fn string_list_len(l: &[String]) -> usize {
    2 + l.iter().map(|s| string_len(s)).sum::<usize>()
}

pub(crate) fn string_map_len(m: &[(String, String)]) -> usize {
    2 + m
        .iter()
        .map(|(k, v)| string_len(k) + string_len(v))
        .sum::<usize>()
}

pub(crate) fn string_multimap_len(m: &[(String, Vec<String>)]) -> usize {
    2 + m
        .iter()
        .map(|(k, v)| string_len(k) + string_list_len(v))
        .sum::<usize>()
}

pub(crate) fn bytes_map_len(m: &[(String, Option<Bytes>)]) -> usize {
    2 + m
        .iter()
        .map(|(k, v)| string_len(k) + 4 + v.as_ref().map_or(0, |b| b.len()))
        .sum::<usize>()
}

pub(crate) fn inetaddr_len(ip: &IpAddr) -> usize {
    match ip {
        IpAddr::V4(_) => 5,
        IpAddr::V6(_) => 17,
    }
}
