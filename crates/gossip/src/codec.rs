//! The binary encoding of [`Envelope`]s: compact, versioned, explicit byte order.
//!
//! ```text
//! envelope  := u8 codec_version (=2) | u8 kind (1 SYN, 2 ACK, 3 ACK2) | endpoint from | body
//! endpoint  := u8 family (4 | 6) | 4 or 16 address bytes | u16 port, big-endian
//! varint    := unsigned LEB128 (7 bits per byte, least significant group first, at most 10 bytes)
//! string    := varint byte_length | UTF-8 bytes
//! digest    := endpoint | varint generation | varint max_version
//! state     := endpoint | varint generation | varint heartbeat_version | varint heartbeat_age_ms
//!              | varint count
//!              | count x (u8 key | varint version | string value)   (keys strictly ascending)
//! SYN body  := string cluster_name | varint count | count x digest
//! ACK body  := varint count | count x digest | varint count | count x state
//! ACK2 body := varint count | count x state
//! ```
//!
//! Decoding checks every length against the bytes left (a count can never make it allocate more
//! than the message could hold), rejects messages over the caller's size limit before reading
//! them, and rejects trailing bytes, unknown keys, duplicate keys and non-canonical varints, so
//! that a message that decodes re-encodes to the same bytes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{Error, Result};
use crate::messages::{Ack, Ack2, Delta, Digest, Envelope, Message, Syn};
use crate::state::{ApplicationState, Endpoint, EndpointState, HeartbeatState, VersionedValue};

/// The codec version this build writes and reads.
pub const CODEC_VERSION: u8 = 2;

const KIND_SYN: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_ACK2: u8 = 3;

/// Smallest encodings, used to bound counts before allocating.
const MIN_ENDPOINT: usize = 1 + 4 + 2;
const MIN_DIGEST: usize = MIN_ENDPOINT + 2;
const MIN_STATE: usize = MIN_ENDPOINT + 4;
const MIN_APP_STATE: usize = 3;

/// Encodes an envelope.
pub fn encode(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(envelope_len(envelope));
    out.push(CODEC_VERSION);
    match &envelope.message {
        Message::Syn(_) => out.push(KIND_SYN),
        Message::Ack(_) => out.push(KIND_ACK),
        Message::Ack2(_) => out.push(KIND_ACK2),
    }
    put_endpoint(&mut out, envelope.from);
    match &envelope.message {
        Message::Syn(syn) => {
            put_str(&mut out, &syn.cluster_name);
            put_varint(&mut out, syn.digests.len() as u64);
            for d in &syn.digests {
                put_digest(&mut out, d);
            }
        }
        Message::Ack(ack) => {
            put_varint(&mut out, ack.requests.len() as u64);
            for d in &ack.requests {
                put_digest(&mut out, d);
            }
            put_states(&mut out, &ack.states);
        }
        Message::Ack2(ack2) => put_states(&mut out, &ack2.states),
    }
    out
}

/// Decodes an envelope of at most `max_len` bytes.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<Envelope> {
    if bytes.len() > max_len {
        return Err(Error::MessageTooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u8()?;
    if version != CODEC_VERSION {
        return Err(Error::UnsupportedVersion { version });
    }
    let kind_at = r.pos;
    let kind = r.u8()?;
    let from = r.endpoint()?;
    let message = match kind {
        KIND_SYN => {
            let cluster_name = r.string()?;
            let n = r.count(MIN_DIGEST)?;
            let mut digests = Vec::with_capacity(n);
            for _ in 0..n {
                digests.push(r.digest()?);
            }
            Message::Syn(Syn {
                cluster_name,
                digests,
            })
        }
        KIND_ACK => {
            let n = r.count(MIN_DIGEST)?;
            let mut requests = Vec::with_capacity(n);
            for _ in 0..n {
                requests.push(r.digest()?);
            }
            let states = r.states()?;
            Message::Ack(Ack { requests, states })
        }
        KIND_ACK2 => Message::Ack2(Ack2 {
            states: r.states()?,
        }),
        _ => {
            return Err(Error::Malformed {
                field: "message kind",
                offset: kind_at,
            });
        }
    };
    let extra = r.remaining();
    if extra != 0 {
        return Err(Error::TrailingBytes { extra });
    }
    Ok(Envelope { from, message })
}

/// The sender of an encoded envelope, read from its header without decoding the body.
pub fn decode_sender(bytes: &[u8]) -> Option<Endpoint> {
    let mut r = Reader { buf: bytes, pos: 2 };
    if bytes.first() != Some(&CODEC_VERSION) {
        return None;
    }
    r.endpoint().ok()
}

/// The encoded size of an envelope.
pub fn envelope_len(envelope: &Envelope) -> usize {
    let body = match &envelope.message {
        Message::Syn(syn) => {
            str_len(&syn.cluster_name)
                + varint_len(syn.digests.len() as u64)
                + syn.digests.iter().map(digest_len).sum::<usize>()
        }
        Message::Ack(ack) => {
            varint_len(ack.requests.len() as u64)
                + ack.requests.iter().map(digest_len).sum::<usize>()
                + states_len(&ack.states)
        }
        Message::Ack2(ack2) => states_len(&ack2.states),
    };
    2 + endpoint_len(envelope.from) + body
}

/// Envelope overhead before the body: version, kind, sender.
pub(crate) fn header_len(from: Endpoint) -> usize {
    2 + endpoint_len(from)
}

pub(crate) fn endpoint_len(ep: Endpoint) -> usize {
    match ep.ip() {
        IpAddr::V4(_) => 1 + 4 + 2,
        IpAddr::V6(_) => 1 + 16 + 2,
    }
}

pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn str_len(s: &str) -> usize {
    varint_len(s.len() as u64) + s.len()
}

pub(crate) fn digest_len(d: &Digest) -> usize {
    endpoint_len(d.endpoint) + varint_len(d.generation) + varint_len(d.max_version)
}

pub(crate) fn state_len(d: &Delta) -> usize {
    endpoint_len(d.endpoint)
        + varint_len(d.state.heartbeat.generation)
        + varint_len(d.state.heartbeat.version)
        + varint_len(d.heartbeat_age_ms)
        + varint_len(d.state.states.len() as u64)
        + d.state.states.values().map(app_state_len).sum::<usize>()
}

/// The encoded size of a delta of `s` with no application states (yet).
pub(crate) fn empty_delta_len(ep: Endpoint, s: &EndpointState, age_ms: u64) -> usize {
    endpoint_len(ep)
        + varint_len(s.heartbeat.generation)
        + varint_len(s.heartbeat.version)
        + varint_len(age_ms)
        + 1
}

/// `state_len` of the delta of `s` above `above`, without building it.
pub(crate) fn delta_len(ep: Endpoint, s: &EndpointState, above: u64, age_ms: u64) -> usize {
    let (mut n, mut bytes) = (0u64, 0usize);
    for v in s.states.values().filter(|v| v.version > above) {
        n += 1;
        bytes += app_state_len(v);
    }
    endpoint_len(ep)
        + varint_len(s.heartbeat.generation)
        + varint_len(s.heartbeat.version)
        + varint_len(age_ms)
        + varint_len(n)
        + bytes
}

pub(crate) fn app_state_len(v: &VersionedValue) -> usize {
    1 + varint_len(v.version) + str_len(&v.value)
}

fn states_len(states: &[Delta]) -> usize {
    varint_len(states.len() as u64) + states.iter().map(state_len).sum::<usize>()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_endpoint(out: &mut Vec<u8>, ep: Endpoint) {
    match ep.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&ep.port().to_be_bytes());
}

fn put_digest(out: &mut Vec<u8>, d: &Digest) {
    put_endpoint(out, d.endpoint);
    put_varint(out, d.generation);
    put_varint(out, d.max_version);
}

fn put_states(out: &mut Vec<u8>, states: &[Delta]) {
    put_varint(out, states.len() as u64);
    for d in states {
        put_endpoint(out, d.endpoint);
        put_varint(out, d.state.heartbeat.generation);
        put_varint(out, d.state.heartbeat.version);
        put_varint(out, d.heartbeat_age_ms);
        put_varint(out, d.state.states.len() as u64);
        for (k, v) in &d.state.states {
            out.push(k.code());
            put_varint(out, v.version);
            put_str(out, &v.value);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let at = self.pos;
        let end = at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(Error::Truncated {
                offset: at,
                needed: n - self.remaining().min(n),
            })?;
        self.pos = end;
        self.buf.get(at..end).ok_or(Error::Truncated {
            offset: at,
            needed: n,
        })
    }

    fn u8(&mut self) -> Result<u8> {
        let b = self.take(1)?;
        b.first().copied().ok_or(Error::Truncated {
            offset: self.pos,
            needed: 1,
        })
    }

    fn varint(&mut self) -> Result<u64> {
        let at = self.pos;
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(Error::Malformed {
                    field: "varint",
                    offset: at,
                });
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                // Canonical form only: no trailing zero group (so re-encoding gives the same bytes).
                if i > 0 && b == 0 {
                    return Err(Error::Malformed {
                        field: "varint",
                        offset: at,
                    });
                }
                return Ok(v);
            }
        }
        Err(Error::Malformed {
            field: "varint",
            offset: at,
        })
    }

    /// A count of items, each at least `min_item` bytes: never more than the bytes left allow.
    fn count(&mut self, min_item: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.varint()?;
        let max = (self.remaining() / min_item.max(1)) as u64;
        if n > max {
            return Err(Error::Malformed {
                field: "count",
                offset: at,
            });
        }
        usize::try_from(n).map_err(|_| Error::Malformed {
            field: "count",
            offset: at,
        })
    }

    fn string(&mut self) -> Result<String> {
        let at = self.pos;
        let n = self.count(1)?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Error::Malformed {
                field: "utf-8 string",
                offset: at,
            })
    }

    fn endpoint(&mut self) -> Result<Endpoint> {
        let at = self.pos;
        let ip = match self.u8()? {
            4 => {
                let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| Error::Malformed {
                    field: "ipv4 address",
                    offset: at,
                })?;
                IpAddr::V4(Ipv4Addr::from(b))
            }
            6 => {
                let b: [u8; 16] = self.take(16)?.try_into().map_err(|_| Error::Malformed {
                    field: "ipv6 address",
                    offset: at,
                })?;
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => {
                return Err(Error::Malformed {
                    field: "address family",
                    offset: at,
                });
            }
        };
        let p: [u8; 2] = self.take(2)?.try_into().map_err(|_| Error::Malformed {
            field: "port",
            offset: at,
        })?;
        Ok(SocketAddr::new(ip, u16::from_be_bytes(p)))
    }

    fn digest(&mut self) -> Result<Digest> {
        Ok(Digest {
            endpoint: self.endpoint()?,
            generation: self.varint()?,
            max_version: self.varint()?,
        })
    }

    fn states(&mut self) -> Result<Vec<Delta>> {
        let n = self.count(MIN_STATE)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let ep = self.endpoint()?;
            let heartbeat = HeartbeatState {
                generation: self.varint()?,
                version: self.varint()?,
            };
            let heartbeat_age_ms = self.varint()?;
            let m = self.count(MIN_APP_STATE)?;
            let mut states = BTreeMap::new();
            let mut last: Option<ApplicationState> = None;
            for _ in 0..m {
                let at = self.pos;
                let key = ApplicationState::from_code(self.u8()?).ok_or(Error::Malformed {
                    field: "application state key",
                    offset: at,
                })?;
                if last.is_some_and(|l| l >= key) {
                    return Err(Error::Malformed {
                        field: "application state order",
                        offset: at,
                    });
                }
                last = Some(key);
                let version = self.varint()?;
                let value = self.string()?;
                states.insert(key, VersionedValue { value, version });
            }
            out.push(Delta {
                endpoint: ep,
                state: EndpointState { heartbeat, states },
                heartbeat_age_ms,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NodeStatus;

    fn ep(last: u8) -> Endpoint {
        SocketAddr::from(([10, 0, 0, last], 7000))
    }

    fn sample_state() -> EndpointState {
        let mut s = EndpointState::new(1_700_000_000);
        s.heartbeat.version = 300;
        s.states.insert(
            ApplicationState::Status,
            VersionedValue {
                value: NodeStatus::Normal.as_str().into(),
                version: 2,
            },
        );
        s.states.insert(
            ApplicationState::Dc,
            VersionedValue {
                value: "dc1".into(),
                version: 1,
            },
        );
        s
    }

    fn delta(last: u8, state: EndpointState) -> Delta {
        Delta {
            endpoint: ep(last),
            state,
            heartbeat_age_ms: 1234,
        }
    }

    #[test]
    fn every_message_kind_round_trips_and_its_length_is_predicted() {
        let msgs = vec![
            Message::Syn(Syn {
                cluster_name: "Test Cluster".into(),
                digests: vec![Digest {
                    endpoint: ep(1),
                    generation: 5,
                    max_version: 1 << 40,
                }],
            }),
            Message::Ack(Ack {
                requests: vec![Digest {
                    endpoint: "[::1]:7000".parse().unwrap(),
                    generation: 0,
                    max_version: 0,
                }],
                states: vec![delta(2, sample_state())],
            }),
            Message::Ack2(Ack2 {
                states: vec![delta(3, sample_state()), delta(4, EndpointState::new(9))],
            }),
        ];
        for m in msgs {
            let env = Envelope {
                from: ep(9),
                message: m,
            };
            let bytes = encode(&env);
            assert_eq!(bytes.len(), envelope_len(&env));
            assert_eq!(decode(&bytes, usize::MAX).unwrap(), env);
        }
    }

    #[test]
    fn decoding_rejects_a_message_over_the_size_limit() {
        let env = Envelope {
            from: ep(1),
            message: Message::Ack2(Ack2 {
                states: vec![delta(2, sample_state())],
            }),
        };
        let bytes = encode(&env);
        let err = decode(&bytes, bytes.len() - 1).unwrap_err();
        assert!(matches!(err, Error::MessageTooLarge { .. }));
    }

    #[test]
    fn every_truncation_of_a_message_is_an_error() {
        let env = Envelope {
            from: ep(1),
            message: Message::Ack2(Ack2 {
                states: vec![delta(2, sample_state())],
            }),
        };
        let bytes = encode(&env);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], usize::MAX).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_huge_count_is_rejected_without_allocating() {
        let mut bytes = vec![CODEC_VERSION, KIND_ACK2];
        put_endpoint(&mut bytes, ep(1));
        put_varint(&mut bytes, u64::MAX);
        let err = decode(&bytes, usize::MAX).unwrap_err();
        assert!(matches!(err, Error::Malformed { field: "count", .. }));
    }

    #[test]
    fn non_canonical_varints_and_unknown_versions_are_rejected() {
        let mut bytes = vec![CODEC_VERSION, KIND_ACK2];
        put_endpoint(&mut bytes, ep(1));
        bytes.extend_from_slice(&[0x80, 0x00]);
        assert!(matches!(
            decode(&bytes, usize::MAX),
            Err(Error::Malformed {
                field: "varint",
                ..
            })
        ));
        assert!(matches!(
            decode(&[1, 1], usize::MAX),
            Err(Error::UnsupportedVersion { version: 1 })
        ));
    }
}
