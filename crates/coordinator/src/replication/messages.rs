//! The messages coordinators and replicas exchange: types generated from proto/replica.proto,
//! and their mapping to and from storage's types.
//!
//! Storage column ids are replica-local (each store numbers its own columns), so every message
//! names columns by name and tables by keyspace and name; the receiver maps names to its own
//! ids. Every decoder refuses malformed input with an error, never a panic.

use bytes::Bytes;
use ilion_storage::{
    Bound, CellData, CellOp, CellWrite, CounterShard, Deletion, Liveness, Mutation, PagingPosition,
    PartitionData, PartitionRange, RangeDeletion, ReadCommand, ReadResult, RowData, RowWrite,
    Slice, TableSchema, Ttl,
};
use prost::Message;

/// Why a message could not be decoded or mapped onto this node's tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("malformed replica message: {0}")]
    Malformed(String),
    #[error("replica message names column {column} unknown to table {table} on this node")]
    UnknownColumn { table: String, column: String },
}

fn malformed(what: impl Into<String>) -> MessageError {
    MessageError::Malformed(what.into())
}

/// The message types, generated from `proto/replica.proto` by the build script: the .proto is
/// the one source of the wire format.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
mod wire {
    include!(concat!(env!("OUT_DIR"), "/ilion.replica.rs"));
}

pub use wire::*;

/// Size limit of one message (a hostile length cannot make a decoder allocate more).
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 << 20;

impl Request {
    pub(crate) fn new(body: request::Body) -> Request {
        Request { body: Some(body) }
    }

    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::from(self.encode_to_vec())
    }

    /// Decodes a request; empty or unknown bodies are errors.
    pub fn decode_bytes(bytes: &[u8]) -> Result<request::Body, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(malformed("message too large"));
        }
        Request::decode(bytes)
            .map_err(|e| malformed(e.to_string()))?
            .body
            .ok_or_else(|| malformed("request without a body"))
    }
}

impl Response {
    pub(crate) fn new(body: response::Body) -> Response {
        Response { body: Some(body) }
    }

    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::from(self.encode_to_vec())
    }

    /// Decodes a response; empty bodies are errors.
    pub fn decode_bytes(bytes: &[u8]) -> Result<response::Body, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(malformed("message too large"));
        }
        Response::decode(bytes)
            .map_err(|e| malformed(e.to_string()))?
            .body
            .ok_or_else(|| malformed("response without a body"))
    }
}

// ---- storage -> wire (column ids of `schema` become names) ----

fn column_name(schema: &TableSchema, id: u16) -> Result<String, MessageError> {
    schema
        .cell_column(id)
        .map(|c| c.name.clone())
        .ok_or_else(|| MessageError::UnknownColumn {
            table: schema.qualified_name(),
            column: format!("#{id}"),
        })
}

fn column_id(schema: &TableSchema, name: &str) -> Result<u16, MessageError> {
    schema
        .column_id(name)
        .ok_or_else(|| MessageError::UnknownColumn {
            table: schema.qualified_name(),
            column: name.to_owned(),
        })
}

fn wire_deletion(d: Deletion) -> WireDeletion {
    WireDeletion {
        timestamp: d.timestamp,
        local_deletion_time: d.local_deletion_time,
    }
}

fn deletion(d: &WireDeletion) -> Deletion {
    Deletion::new(d.timestamp, d.local_deletion_time)
}

fn wire_ttl(t: Ttl) -> WireTtl {
    WireTtl {
        seconds: t.seconds,
        local_expiry: t.local_expiry,
    }
}

fn ttl(t: &WireTtl) -> Ttl {
    Ttl {
        seconds: t.seconds,
        local_expiry: t.local_expiry,
    }
}

fn wire_liveness(l: Liveness) -> WireLiveness {
    WireLiveness {
        timestamp: l.timestamp,
        ttl: l.ttl.map(wire_ttl),
    }
}

fn liveness(l: &WireLiveness) -> Liveness {
    Liveness {
        timestamp: l.timestamp,
        ttl: l.ttl.as_ref().map(ttl),
    }
}

fn wire_bound(b: &Bound) -> WireBound {
    match b {
        Bound::Unbounded => WireBound {
            kind: 0,
            values: Vec::new(),
        },
        Bound::Inclusive(v) => WireBound {
            kind: 1,
            values: v.clone(),
        },
        Bound::Exclusive(v) => WireBound {
            kind: 2,
            values: v.clone(),
        },
    }
}

fn bound(b: Option<&WireBound>) -> Result<Bound, MessageError> {
    match b {
        None => Ok(Bound::Unbounded),
        Some(b) => match b.kind {
            0 => Ok(Bound::Unbounded),
            1 => Ok(Bound::Inclusive(b.values.clone())),
            2 => Ok(Bound::Exclusive(b.values.clone())),
            k => Err(malformed(format!("unknown bound kind {k}"))),
        },
    }
}

fn wire_cell_write(schema: &TableSchema, c: &CellWrite) -> Result<WireCellWrite, MessageError> {
    let mut w = WireCellWrite {
        column: column_name(schema, c.column)?,
        path: c.path.clone(),
        op: 0,
        timestamp: 0,
        value: Vec::new(),
        ttl: None,
        local_deletion_time: 0,
        shards: Vec::new(),
        delta: 0,
    };
    match &c.op {
        CellOp::Set {
            timestamp,
            value,
            ttl,
        } => {
            w.timestamp = *timestamp;
            w.value = value.clone();
            w.ttl = ttl.map(wire_ttl);
        }
        CellOp::Delete(d) => {
            w.op = 1;
            w.timestamp = d.timestamp;
            w.local_deletion_time = d.local_deletion_time;
        }
        CellOp::DeleteCollection(d) => {
            w.op = 2;
            w.timestamp = d.timestamp;
            w.local_deletion_time = d.local_deletion_time;
        }
        CellOp::Counter { timestamp, shards } => {
            w.op = 3;
            w.timestamp = *timestamp;
            w.shards = shards
                .iter()
                .map(|s| WireCounterShard {
                    id: s.id.to_vec(),
                    clock: s.clock,
                    value: s.value,
                })
                .collect();
        }
        CellOp::Increment { timestamp, delta } => {
            w.op = 4;
            w.timestamp = *timestamp;
            w.delta = *delta;
        }
    }
    Ok(w)
}

fn cell_write(schema: &TableSchema, w: &WireCellWrite) -> Result<CellWrite, MessageError> {
    let d = Deletion::new(w.timestamp, w.local_deletion_time);
    let op = match w.op {
        0 => CellOp::Set {
            timestamp: w.timestamp,
            value: w.value.clone(),
            ttl: w.ttl.as_ref().map(ttl),
        },
        1 => CellOp::Delete(d),
        2 => CellOp::DeleteCollection(d),
        3 => CellOp::Counter {
            timestamp: w.timestamp,
            shards: ilion_storage::normalize_shards(
                w.shards
                    .iter()
                    .map(|s| {
                        Ok(CounterShard {
                            id: s
                                .id
                                .as_slice()
                                .try_into()
                                .map_err(|_| malformed("a counter id is 16 bytes"))?,
                            clock: s.clock,
                            value: s.value,
                        })
                    })
                    .collect::<Result<Vec<_>, MessageError>>()?,
            ),
        },
        4 => CellOp::Increment {
            timestamp: w.timestamp,
            delta: w.delta,
        },
        k => return Err(malformed(format!("unknown cell op {k}"))),
    };
    Ok(CellWrite {
        column: column_id(schema, &w.column)?,
        path: w.path.clone(),
        op,
    })
}

impl WireMutation {
    /// The mutation with its cells in a replica-independent order (column name, element key).
    pub(crate) fn canonical(mut self) -> WireMutation {
        let key = |c: &WireCellWrite| (c.column.clone(), c.path.clone());
        // Each replica's clock; every TTL in a raw answer is explicit, so it is not needed.
        self.now = 0;
        self.static_cells.sort_by_key(key);
        for r in &mut self.rows {
            r.cells.sort_by_key(key);
        }
        self
    }

    /// `m` (with the column ids of `schema`) as a message.
    pub fn from_mutation(schema: &TableSchema, m: &Mutation) -> Result<WireMutation, MessageError> {
        Ok(WireMutation {
            keyspace: schema.keyspace().to_owned(),
            table: schema.name().to_owned(),
            token: m.token,
            partition_key: m.partition_key.clone(),
            now: m.now,
            partition_deletion: m.partition_deletion.map(wire_deletion),
            range_deletions: m
                .range_deletions
                .iter()
                .map(|r| WireRangeDeletion {
                    start: Some(wire_bound(&r.start)),
                    end: Some(wire_bound(&r.end)),
                    deletion: Some(wire_deletion(r.deletion)),
                })
                .collect(),
            static_cells: m
                .static_cells
                .iter()
                .map(|c| wire_cell_write(schema, c))
                .collect::<Result<_, _>>()?,
            rows: m
                .rows
                .iter()
                .map(|r| {
                    Ok(WireRowWrite {
                        clustering: r.clustering.clone(),
                        marker: r.marker.map(wire_liveness),
                        deletion: r.deletion.map(wire_deletion),
                        cells: r
                            .cells
                            .iter()
                            .map(|c| wire_cell_write(schema, c))
                            .collect::<Result<_, _>>()?,
                    })
                })
                .collect::<Result<_, MessageError>>()?,
        })
    }

    /// The mutation with the column ids of `schema` (this node's table).
    pub fn to_mutation(&self, schema: &TableSchema) -> Result<Mutation, MessageError> {
        let mut m = Mutation::new(self.token, self.partition_key.clone(), self.now);
        m.partition_deletion = self.partition_deletion.as_ref().map(deletion);
        for r in &self.range_deletions {
            m.range_deletions.push(RangeDeletion {
                start: bound(r.start.as_ref())?,
                end: bound(r.end.as_ref())?,
                deletion: deletion(
                    r.deletion
                        .as_ref()
                        .ok_or_else(|| malformed("range deletion without a deletion"))?,
                ),
            });
        }
        m.static_cells = self
            .static_cells
            .iter()
            .map(|c| cell_write(schema, c))
            .collect::<Result<_, _>>()?;
        m.rows = self
            .rows
            .iter()
            .map(|r| {
                Ok(RowWrite {
                    clustering: r.clustering.clone(),
                    marker: r.marker.as_ref().map(liveness),
                    deletion: r.deletion.as_ref().map(deletion),
                    cells: r
                        .cells
                        .iter()
                        .map(|c| cell_write(schema, c))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, MessageError>>()?;
        Ok(m)
    }
}

impl WireReadCommand {
    pub fn from_command(keyspace: &str, table: &str, cmd: &ReadCommand) -> WireReadCommand {
        let (single_key, single_token, range_start, range_end) = match &cmd.partitions {
            PartitionRange::Single { token, key } => (Some(key.clone()), *token, None, None),
            PartitionRange::Tokens { start, end } => (None, 0, *start, *end),
        };
        WireReadCommand {
            keyspace: keyspace.to_owned(),
            table: table.to_owned(),
            single_key,
            single_token,
            range_start,
            range_end,
            slice_start: Some(wire_bound(&cmd.slice.start)),
            slice_end: Some(wire_bound(&cmd.slice.end)),
            reversed: cmd.reversed,
            per_partition_limit: cmd.per_partition_limit,
            limit: cmd.limit,
            resume: cmd.resume.as_ref().map(PagingPosition::encode),
        }
    }

    pub fn to_command(&self) -> Result<ReadCommand, MessageError> {
        let partitions = match &self.single_key {
            Some(key) => PartitionRange::Single {
                token: self.single_token,
                key: key.clone(),
            },
            None => PartitionRange::Tokens {
                start: self.range_start,
                end: self.range_end,
            },
        };
        Ok(ReadCommand {
            partitions,
            slice: Slice {
                start: bound(self.slice_start.as_ref())?,
                end: bound(self.slice_end.as_ref())?,
            },
            reversed: self.reversed,
            per_partition_limit: self.per_partition_limit,
            limit: self.limit,
            resume: self
                .resume
                .as_deref()
                .map(PagingPosition::decode)
                .transpose()
                .map_err(|e| malformed(e.to_string()))?,
        })
    }
}

fn wire_cell(schema: &TableSchema, c: &CellData) -> Result<WireCell, MessageError> {
    Ok(WireCell {
        column: column_name(schema, c.column)?,
        path: c.path.clone(),
        value: c.value.clone(),
        timestamp: c.timestamp,
        ttl: c.ttl.map(wire_ttl),
    })
}

fn cell_data(schema: &TableSchema, c: &WireCell) -> Result<CellData, MessageError> {
    Ok(CellData {
        column: column_id(schema, &c.column)?,
        path: c.path.clone(),
        value: c.value.clone(),
        timestamp: c.timestamp,
        ttl: c.ttl.as_ref().map(ttl),
    })
}

/// Cells in a replica-independent order (by column name, then element key), so that digests
/// and comparisons do not depend on each replica's column ids.
fn canonical(mut cells: Vec<WireCell>) -> Vec<WireCell> {
    cells.sort_by(|a, b| (&a.column, &a.path).cmp(&(&b.column, &b.path)));
    cells
}

impl WireResult {
    /// `r` (with the column ids of `schema`) as a message, cells in canonical order.
    pub fn from_result(schema: &TableSchema, r: &ReadResult) -> Result<WireResult, MessageError> {
        Ok(WireResult {
            partitions: r
                .partitions
                .iter()
                .map(|p| {
                    Ok(WirePartition {
                        token: p.token,
                        key: p.key.clone(),
                        static_cells: canonical(
                            p.static_cells
                                .iter()
                                .map(|c| wire_cell(schema, c))
                                .collect::<Result<_, _>>()?,
                        ),
                        rows: p
                            .rows
                            .iter()
                            .map(|row| {
                                Ok(WireRow {
                                    clustering: row.clustering.clone(),
                                    marker: row.marker.map(wire_liveness),
                                    cells: canonical(
                                        row.cells
                                            .iter()
                                            .map(|c| wire_cell(schema, c))
                                            .collect::<Result<_, _>>()?,
                                    ),
                                })
                            })
                            .collect::<Result<_, MessageError>>()?,
                    })
                })
                .collect::<Result<_, MessageError>>()?,
            next_page: r.next_page.as_ref().map(PagingPosition::encode),
            tombstones_scanned: r.tombstones_scanned,
            raw: Vec::new(),
        })
    }

    /// The result with the column ids of `schema`, cells ordered by id as storage orders them.
    pub fn to_result(&self, schema: &TableSchema) -> Result<ReadResult, MessageError> {
        let cells = |cs: &[WireCell]| -> Result<Vec<CellData>, MessageError> {
            let mut out = cs
                .iter()
                .map(|c| cell_data(schema, c))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort_by(|a, b| (a.column, &a.path).cmp(&(b.column, &b.path)));
            Ok(out)
        };
        Ok(ReadResult {
            partitions: self
                .partitions
                .iter()
                .map(|p| {
                    Ok(PartitionData {
                        token: p.token,
                        key: p.key.clone(),
                        static_cells: cells(&p.static_cells)?,
                        rows: p
                            .rows
                            .iter()
                            .map(|r| {
                                Ok(RowData {
                                    clustering: r.clustering.clone(),
                                    marker: r.marker.as_ref().map(liveness),
                                    cells: cells(&r.cells)?,
                                })
                            })
                            .collect::<Result<_, MessageError>>()?,
                    })
                })
                .collect::<Result<_, MessageError>>()?,
            next_page: self
                .next_page
                .as_deref()
                .map(PagingPosition::decode)
                .transpose()
                .map_err(|e| malformed(e.to_string()))?,
            tombstones_scanned: self.tombstones_scanned,
            warnings: Vec::new(),
        })
    }

    /// The digest replicas compare: xxh3-128 of the partitions and the raw mutations
    /// (tombstones included, so a replica missing a deletion mismatches; not the paging
    /// position or counters), cells in canonical order.
    pub fn digest(&self) -> Vec<u8> {
        let data = WireResult {
            partitions: self.partitions.clone(),
            next_page: None,
            tombstones_scanned: 0,
            raw: self.raw.clone(),
        };
        xxhash_rust::xxh3::xxh3_128(&data.encode_to_vec())
            .to_be_bytes()
            .to_vec()
    }
}

/// Decodes and fully maps a request as a replica would (fuzzing entry point): never panics.
pub fn decode_request(bytes: &[u8]) -> Result<request::Body, MessageError> {
    let body = Request::decode_bytes(bytes)?;
    if let request::Body::Read(r) = &body {
        r.command
            .as_ref()
            .ok_or_else(|| malformed("read without a command"))?
            .to_command()?;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilion_storage::{CqlType, Order};

    fn schema() -> TableSchema {
        TableSchema::builder("ks", "t")
            .partition_key("k", CqlType::Int)
            .clustering("c", CqlType::Int, Order::Asc)
            .static_column("s", CqlType::Text)
            .regular("v", CqlType::Text)
            .build()
            .unwrap()
    }

    #[test]
    fn a_mutation_survives_the_wire_with_columns_named() {
        let s = schema();
        let v = s.column_id("v").unwrap();
        let st = s.column_id("s").unwrap();
        let mut m = Mutation::new(7, vec![1, 2], 100);
        m.partition_deletion = Some(Deletion::new(3, 4));
        m.range_deletions.push(RangeDeletion {
            start: Bound::Inclusive(vec![vec![1]]),
            end: Bound::Exclusive(vec![vec![2]]),
            deletion: Deletion::new(5, 6),
        });
        m.static_cells.push(CellWrite {
            column: st,
            path: None,
            op: CellOp::Delete(Deletion::new(8, 9)),
        });
        let row = m.row(vec![vec![0, 0, 0, 1]]);
        row.marker = Some(Liveness {
            timestamp: 10,
            ttl: Some(Ttl::new(60, 100)),
        });
        row.set(v, 11, b"x".to_vec());
        let wire = WireMutation::from_mutation(&s, &m).unwrap();
        assert_eq!(wire.rows[0].cells[0].column, "v");
        let bytes = Request::new(request::Body::Mutation(MutationRequest {
            mutations: vec![wire],
        }))
        .to_bytes();
        let Ok(request::Body::Mutation(back)) = decode_request(&bytes) else {
            panic!("not a mutation");
        };
        assert_eq!(back.mutations[0].to_mutation(&s).unwrap(), m);
    }

    #[test]
    fn a_column_unknown_to_the_receiver_is_an_error() {
        let s = schema();
        let wire = WireMutation {
            keyspace: "ks".into(),
            table: "t".into(),
            static_cells: vec![WireCellWrite {
                column: "nope".into(),
                ..WireCellWrite::default()
            }],
            ..WireMutation::default()
        };
        assert!(matches!(
            wire.to_mutation(&s),
            Err(MessageError::UnknownColumn { .. })
        ));
    }

    #[test]
    fn digests_do_not_depend_on_cell_order() {
        let cell = |c: &str| WireCell {
            column: c.into(),
            value: c.as_bytes().to_vec(),
            ..WireCell::default()
        };
        let row = |cells| WirePartition {
            rows: vec![WireRow {
                cells,
                ..WireRow::default()
            }],
            ..WirePartition::default()
        };
        let a = WireResult {
            partitions: vec![row(canonical(vec![cell("a"), cell("b")]))],
            ..WireResult::default()
        };
        let b = WireResult {
            partitions: vec![row(canonical(vec![cell("b"), cell("a")]))],
            tombstones_scanned: 9,
            ..WireResult::default()
        };
        assert_eq!(a.digest(), b.digest());
        let c = WireResult {
            partitions: vec![row(vec![cell("a")])],
            ..WireResult::default()
        };
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for bytes in [
            &b""[..],
            b"\xff\xff\xff",
            b"\x12\x00",
            b"\x0a\x05\x0a\x03abc",
        ] {
            let _ = decode_request(bytes);
        }
        assert!(decode_request(b"").is_err());
        assert!(Response::decode_bytes(b"").is_err());
    }
}
