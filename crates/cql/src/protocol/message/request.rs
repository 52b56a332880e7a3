//! Request bodies: STARTUP, AUTH_RESPONSE, QUERY, PREPARE, EXECUTE, BATCH, REGISTER
//! (OPTIONS has no body).

use bytes::{BufMut, Bytes, BytesMut};

use super::{flags_len, put_flags, read_flags};
use crate::protocol::types::{
    Consistency, RawValue, Reader, WriteExt, long_string_len, string_len, string_list_len,
    string_map_len,
};
use crate::protocol::{ProtocolError, ProtocolVersion};

type Result<T> = std::result::Result<T, ProtocolError>;

/// STARTUP: a `[string map]` of options (`CQL_VERSION`, `COMPRESSION`, `DRIVER_NAME`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    pub options: Vec<(String, String)>,
}

impl Startup {
    /// The value of an option, by exact key.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Startup> {
        Ok(Startup {
            options: r.string_map("startup options")?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_string_map(&self.options, "startup options")
    }

    pub(crate) fn encoded_len(&self) -> usize {
        string_map_len(&self.options)
    }
}

/// AUTH_RESPONSE: one SASL token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    pub token: Option<Bytes>,
}

impl AuthResponse {
    pub(crate) fn read(r: &mut Reader) -> Result<AuthResponse> {
        Ok(AuthResponse {
            token: r.bytes("auth token")?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_bytes_opt(self.token.as_deref(), "auth token")
    }

    pub(crate) fn encoded_len(&self) -> usize {
        4 + self.token.as_ref().map_or(0, Bytes::len)
    }
}

/// REGISTER: the event types (`TOPOLOGY_CHANGE`, `STATUS_CHANGE`, `SCHEMA_CHANGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub events: Vec<String>,
}

impl Register {
    pub(crate) fn read(r: &mut Reader) -> Result<Register> {
        Ok(Register {
            events: r.string_list("event types")?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_string_list(&self.events, "event types")
    }

    pub(crate) fn encoded_len(&self) -> usize {
        string_list_len(&self.events)
    }
}

/// Bound values of a QUERY, EXECUTE or BATCH statement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Values {
    /// No values flag.
    #[default]
    None,
    /// Values by position.
    Positional(Vec<RawValue>),
    /// Values by bind marker name (flag 0x40).
    Named(Vec<(String, RawValue)>),
}

impl Values {
    /// How many values.
    pub fn len(&self) -> usize {
        match self {
            Values::None => 0,
            Values::Positional(v) => v.len(),
            Values::Named(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(r: &mut Reader, named: bool) -> Result<Values> {
        let n = usize::from(r.u16("value count")?);
        // Each value takes at least its 4-byte length.
        let cap = n.min(r.remaining() / 4);
        if named {
            let mut out = Vec::with_capacity(cap);
            for _ in 0..n {
                let name = r.string("value name")?;
                out.push((name, r.value("bound value")?));
            }
            Ok(Values::Named(out))
        } else {
            let mut out = Vec::with_capacity(cap);
            for _ in 0..n {
                out.push(r.value("bound value")?);
            }
            Ok(Values::Positional(out))
        }
    }

    fn write(&self, out: &mut BytesMut) -> Result<()> {
        let n = u16::try_from(self.len()).map_err(|_| ProtocolError::InvalidLength {
            what: "value count",
            length: self.len() as i64,
        })?;
        out.put_u16(n);
        match self {
            Values::None => {}
            Values::Positional(v) => {
                for value in v {
                    out.put_value(value, "bound value")?;
                }
            }
            Values::Named(v) => {
                for (name, value) in v {
                    out.put_string(name, "value name")?;
                    out.put_value(value, "bound value")?;
                }
            }
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        2 + match self {
            Values::None => 0,
            Values::Positional(v) => v.iter().map(RawValue::encoded_len).sum::<usize>(),
            Values::Named(v) => v.iter().map(|(n, v)| string_len(n) + v.encoded_len()).sum(),
        }
    }
}

const VALUES: u32 = 0x01;
const SKIP_METADATA: u32 = 0x02;
const PAGE_SIZE: u32 = 0x04;
const PAGING_STATE: u32 = 0x08;
const SERIAL_CONSISTENCY: u32 = 0x10;
const DEFAULT_TIMESTAMP: u32 = 0x20;
const NAMES_FOR_VALUES: u32 = 0x40;
const KEYSPACE: u32 = 0x80;
const NOW_IN_SECONDS: u32 = 0x100;

/// `<query_parameters>` of QUERY and EXECUTE:
/// `<consistency><flags>[<n><value>*][<page size>][<paging state>][<serial consistency>]
/// [<timestamp>][<keyspace>][<now in seconds>]`, flags a `[byte]` in v4 and an `[int]` in v5
/// (which adds keyspace 0x80 and now_in_seconds 0x100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParameters {
    pub consistency: Consistency,
    pub values: Values,
    /// Flag 0x02: the client has the result metadata and wants rows without it.
    pub skip_metadata: bool,
    pub page_size: Option<i32>,
    pub paging_state: Option<Bytes>,
    pub serial_consistency: Option<Consistency>,
    /// Microseconds since the epoch.
    pub default_timestamp: Option<i64>,
    /// v5 only.
    pub keyspace: Option<String>,
    /// v5 only: the "current time" for TTLs and `now()`, in seconds.
    pub now_in_seconds: Option<i32>,
}

impl QueryParameters {
    /// Parameters with only a consistency level.
    pub fn new(consistency: Consistency) -> QueryParameters {
        QueryParameters {
            consistency,
            values: Values::None,
            skip_metadata: false,
            page_size: None,
            paging_state: None,
            serial_consistency: None,
            default_timestamp: None,
            keyspace: None,
            now_in_seconds: None,
        }
    }

    fn flags(&self, version: ProtocolVersion) -> Result<u32> {
        let mut f = 0;
        match self.values {
            Values::None => {}
            Values::Positional(_) => f |= VALUES,
            Values::Named(_) => f |= VALUES | NAMES_FOR_VALUES,
        }
        for (set, bit) in [
            (self.skip_metadata, SKIP_METADATA),
            (self.page_size.is_some(), PAGE_SIZE),
            (self.paging_state.is_some(), PAGING_STATE),
            (self.serial_consistency.is_some(), SERIAL_CONSISTENCY),
            (self.default_timestamp.is_some(), DEFAULT_TIMESTAMP),
            (self.keyspace.is_some(), KEYSPACE),
            (self.now_in_seconds.is_some(), NOW_IN_SECONDS),
        ] {
            if set {
                f |= bit;
            }
        }
        v5_only(version, self.keyspace.is_some(), "the keyspace flag")?;
        v5_only(
            version,
            self.now_in_seconds.is_some(),
            "the now_in_seconds flag",
        )?;
        Ok(f)
    }

    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<QueryParameters> {
        let consistency = r.consistency("consistency")?;
        let flags = read_flags(r, version)?;
        let has = |bit: u32| flags & bit != 0;
        let values = if has(VALUES) {
            Values::read(r, has(NAMES_FOR_VALUES))?
        } else {
            Values::None
        };
        let page_size = if has(PAGE_SIZE) {
            Some(r.i32("page size")?)
        } else {
            None
        };
        let paging_state = if has(PAGING_STATE) {
            r.bytes("paging state")?
        } else {
            None
        };
        let serial_consistency = if has(SERIAL_CONSISTENCY) {
            Some(r.consistency("serial consistency")?)
        } else {
            None
        };
        let default_timestamp = if has(DEFAULT_TIMESTAMP) {
            Some(r.i64("default timestamp")?)
        } else {
            None
        };
        let v5 = version >= ProtocolVersion::V5;
        let keyspace = if v5 && has(KEYSPACE) {
            Some(r.string("keyspace")?)
        } else {
            None
        };
        let now_in_seconds = if v5 && has(NOW_IN_SECONDS) {
            Some(r.i32("now in seconds")?)
        } else {
            None
        };
        Ok(QueryParameters {
            consistency,
            values,
            skip_metadata: has(SKIP_METADATA),
            page_size,
            paging_state,
            serial_consistency,
            default_timestamp,
            keyspace,
            now_in_seconds,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        let flags = self.flags(version)?;
        out.put_consistency(self.consistency);
        put_flags(out, version, flags);
        if !matches!(self.values, Values::None) {
            self.values.write(out)?;
        }
        if let Some(n) = self.page_size {
            out.put_i32(n);
        }
        if let Some(p) = &self.paging_state {
            out.put_bytes_opt(Some(p), "paging state")?;
        }
        if let Some(c) = self.serial_consistency {
            out.put_consistency(c);
        }
        if let Some(t) = self.default_timestamp {
            out.put_i64(t);
        }
        if let Some(k) = &self.keyspace {
            out.put_string(k, "keyspace")?;
        }
        if let Some(n) = self.now_in_seconds {
            out.put_i32(n);
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        2 + flags_len(version)
            + if matches!(self.values, Values::None) {
                0
            } else {
                self.values.encoded_len()
            }
            + self.page_size.map_or(0, |_| 4)
            + self.paging_state.as_ref().map_or(0, |p| 4 + p.len())
            + self.serial_consistency.map_or(0, |_| 2)
            + self.default_timestamp.map_or(0, |_| 8)
            + self.keyspace.as_deref().map_or(0, string_len)
            + self.now_in_seconds.map_or(0, |_| 4)
    }
}

fn v5_only(version: ProtocolVersion, used: bool, feature: &'static str) -> Result<()> {
    if used && version < ProtocolVersion::V5 {
        Err(ProtocolError::NotInVersion { feature, version })
    } else {
        Ok(())
    }
}

/// QUERY: `<query: [long string]><query_parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub query: String,
    pub params: QueryParameters,
}

impl Query {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Query> {
        let query = r.long_string("query")?;
        Ok(Query {
            query,
            params: QueryParameters::read(r, version)?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        out.put_long_string(&self.query, "query")?;
        self.params.write(out, version)
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        long_string_len(&self.query) + self.params.encoded_len(version)
    }
}

/// PREPARE: `<query: [long string]>`, and in v5 `<flags: [int]>[<keyspace: [string]>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    pub query: String,
    /// v5 only (flag 0x01).
    pub keyspace: Option<String>,
}

impl Prepare {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Prepare> {
        let query = r.long_string("query")?;
        let mut keyspace = None;
        if version >= ProtocolVersion::V5 {
            let flags = r.u32("prepare flags")?;
            if flags & 0x01 != 0 {
                keyspace = Some(r.string("keyspace")?);
            }
        }
        Ok(Prepare { query, keyspace })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        v5_only(version, self.keyspace.is_some(), "PREPARE's keyspace")?;
        out.put_long_string(&self.query, "query")?;
        if version >= ProtocolVersion::V5 {
            out.put_u32(u32::from(self.keyspace.is_some()));
            if let Some(k) = &self.keyspace {
                out.put_string(k, "keyspace")?;
            }
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        long_string_len(&self.query)
            + if version >= ProtocolVersion::V5 {
                4 + self.keyspace.as_deref().map_or(0, string_len)
            } else {
                0
            }
    }
}

/// EXECUTE: `<id: [short bytes]>`, in v5 `<result_metadata_id: [short bytes]>`, then
/// `<query_parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    pub id: Bytes,
    /// v5: the id of the result metadata the client has (empty in v4).
    pub result_metadata_id: Bytes,
    pub params: QueryParameters,
}

impl Execute {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Execute> {
        let id = r.short_bytes("prepared id")?;
        let result_metadata_id = if version >= ProtocolVersion::V5 {
            r.short_bytes("result metadata id")?
        } else {
            Bytes::new()
        };
        Ok(Execute {
            id,
            result_metadata_id,
            params: QueryParameters::read(r, version)?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        v5_only(
            version,
            !self.result_metadata_id.is_empty(),
            "EXECUTE's result metadata id",
        )?;
        out.put_short_bytes(&self.id, "prepared id")?;
        if version >= ProtocolVersion::V5 {
            out.put_short_bytes(&self.result_metadata_id, "result metadata id")?;
        }
        self.params.write(out, version)
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        2 + self.id.len()
            + if version >= ProtocolVersion::V5 {
                2 + self.result_metadata_id.len()
            } else {
                0
            }
            + self.params.encoded_len(version)
    }
}

/// The type byte of a BATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKind {
    Logged = 0,
    Unlogged = 1,
    Counter = 2,
}

/// A statement of a BATCH: query text (kind 0) or prepared id (kind 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchQuery {
    Text(String),
    Prepared(Bytes),
}

/// One statement of a BATCH and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatement {
    pub query: BatchQuery,
    /// Always `Positional` (possibly empty): a BATCH has no named values (CASSANDRA-10246);
    /// `Named` ones are refused when encoding.
    pub values: Values,
}

/// BATCH: `<type><n><query>*<consistency><flags>[<serial consistency>][<timestamp>]
/// [<keyspace>][<now in seconds>]`; flags a `[byte]` in v4 and an `[int]` in v5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub kind: BatchKind,
    pub statements: Vec<BatchStatement>,
    pub consistency: Consistency,
    pub serial_consistency: Option<Consistency>,
    pub default_timestamp: Option<i64>,
    /// v5 only.
    pub keyspace: Option<String>,
    /// v5 only.
    pub now_in_seconds: Option<i32>,
}

impl Batch {
    /// Every statement's values are a positional `[value]` list, whatever the flags say: the
    /// names flag (0x40) comes after the statements whose layout it would change, and
    /// Cassandra never honoured it (CASSANDRA-10246), so it is read as Cassandra reads it,
    /// ignored. One layout means one reading: a batch decodes, re-encodes and decodes to the
    /// same request, consistency level included.
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Batch> {
        let kind = match r.u8("batch type")? {
            0 => BatchKind::Logged,
            1 => BatchKind::Unlogged,
            2 => BatchKind::Counter,
            other => return Err(ProtocolError::UnknownBatchType(other)),
        };
        let n = usize::from(r.u16("batch statement count")?);
        let mut statements = Vec::with_capacity(n.min(r.remaining() / 5));
        for _ in 0..n {
            let query = match r.u8("batch statement kind")? {
                0 => BatchQuery::Text(r.long_string("batch query")?),
                1 => BatchQuery::Prepared(r.short_bytes("batch prepared id")?),
                other => return Err(ProtocolError::UnknownBatchStatementKind(other)),
            };
            statements.push(BatchStatement {
                query,
                values: Values::read(r, false)?,
            });
        }
        let consistency = r.consistency("consistency")?;
        let flags = read_flags(r, version)?;
        let has = |bit: u32| flags & bit != 0;
        let serial_consistency = if has(SERIAL_CONSISTENCY) {
            Some(r.consistency("serial consistency")?)
        } else {
            None
        };
        let default_timestamp = if has(DEFAULT_TIMESTAMP) {
            Some(r.i64("default timestamp")?)
        } else {
            None
        };
        let v5 = version >= ProtocolVersion::V5;
        let keyspace = if v5 && has(KEYSPACE) {
            Some(r.string("keyspace")?)
        } else {
            None
        };
        let now_in_seconds = if v5 && has(NOW_IN_SECONDS) {
            Some(r.i32("now in seconds")?)
        } else {
            None
        };
        Ok(Batch {
            kind,
            statements,
            consistency,
            serial_consistency,
            default_timestamp,
            keyspace,
            now_in_seconds,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        v5_only(version, self.keyspace.is_some(), "the keyspace flag")?;
        v5_only(
            version,
            self.now_in_seconds.is_some(),
            "the now_in_seconds flag",
        )?;
        out.put_u8(self.kind as u8);
        let n = u16::try_from(self.statements.len()).map_err(|_| ProtocolError::InvalidLength {
            what: "batch statement count",
            length: self.statements.len() as i64,
        })?;
        out.put_u16(n);
        for s in &self.statements {
            match &s.query {
                BatchQuery::Text(q) => {
                    out.put_u8(0);
                    out.put_long_string(q, "batch query")?;
                }
                BatchQuery::Prepared(id) => {
                    out.put_u8(1);
                    out.put_short_bytes(id, "batch prepared id")?;
                }
            }
            if matches!(s.values, Values::Named(_)) {
                return Err(ProtocolError::Unencodable {
                    what: "batch",
                    reason: "a BATCH has no named values (CASSANDRA-10246)",
                });
            }
            s.values.write(out)?;
        }
        out.put_consistency(self.consistency);
        let mut flags = 0;
        for (set, bit) in [
            (self.serial_consistency.is_some(), SERIAL_CONSISTENCY),
            (self.default_timestamp.is_some(), DEFAULT_TIMESTAMP),
            (self.keyspace.is_some(), KEYSPACE),
            (self.now_in_seconds.is_some(), NOW_IN_SECONDS),
        ] {
            if set {
                flags |= bit;
            }
        }
        put_flags(out, version, flags);
        if let Some(c) = self.serial_consistency {
            out.put_consistency(c);
        }
        if let Some(t) = self.default_timestamp {
            out.put_i64(t);
        }
        if let Some(k) = &self.keyspace {
            out.put_string(k, "keyspace")?;
        }
        if let Some(n) = self.now_in_seconds {
            out.put_i32(n);
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let statements: usize = self
            .statements
            .iter()
            .map(|s| {
                1 + match &s.query {
                    BatchQuery::Text(q) => long_string_len(q),
                    BatchQuery::Prepared(id) => 2 + id.len(),
                } + s.values.encoded_len()
            })
            .sum();
        1 + 2
            + statements
            + 2
            + flags_len(version)
            + self.serial_consistency.map_or(0, |_| 2)
            + self.default_timestamp.map_or(0, |_| 8)
            + self.keyspace.as_deref().map_or(0, string_len)
            + self.now_in_seconds.map_or(0, |_| 4)
    }
}
