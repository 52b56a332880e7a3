//! RESULT bodies: `<kind: [int]>` then Void (1), Rows (2), Set_keyspace (3), Prepared (4) or
//! Schema_change (5).
//!
//! Rows metadata:
//!
//! ```text
//! <flags: int><columns_count: int>[<paging_state: bytes>][<new_metadata_id: short bytes>]
//! [<global_table_spec: keyspace table>]<col_spec>*      (col specs absent with No_metadata)
//! flags: 0x01 Global_tables_spec  0x02 Has_more_pages  0x04 No_metadata  0x08 Metadata_changed (v5)
//! col_spec: [<keyspace><table>]<name: string><type: option>
//! ```
//!
//! then `<rows_count: int>` and rows_count * columns_count cells, each a `[bytes]`.
//!
//! Prepared: `<id: short bytes>`, in v5 `<result_metadata_id: short bytes>`, then
//! `<flags: int><columns_count: int><pk_count: int><pk_index: short>*[<global_table_spec>]
//! <col_spec>*` for the bind variables and a rows metadata for the result.

use bytes::{BufMut, Bytes, BytesMut};

use super::event::SchemaChange;
use crate::protocol::column_type::{self, TypeOption};
use crate::protocol::types::{Reader, WriteExt, len_i32, string_len};
use crate::protocol::{ProtocolError, ProtocolVersion};
use ilion_types::CqlType;

type Result<T> = std::result::Result<T, ProtocolError>;

const GLOBAL_TABLES_SPEC: i32 = 0x0001;
const HAS_MORE_PAGES: i32 = 0x0002;
const NO_METADATA: i32 = 0x0004;
const METADATA_CHANGED: i32 = 0x0008;

/// A keyspace and table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableSpec {
    pub keyspace: String,
    pub table: String,
}

/// One column of a result or one bind variable of a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnSpec {
    pub table: TableSpec,
    pub name: String,
    pub ty: CqlType,
}

fn read_table_spec(r: &mut Reader) -> Result<TableSpec> {
    Ok(TableSpec {
        keyspace: r.string("keyspace")?,
        table: r.string("table")?,
    })
}

fn count(r: &mut Reader, what: &'static str) -> Result<usize> {
    let n = r.i32(what)?;
    usize::try_from(n).map_err(|_| ProtocolError::InvalidLength {
        what,
        length: i64::from(n),
    })
}

fn read_columns(r: &mut Reader, n: usize, global: Option<&TableSpec>) -> Result<Vec<ColumnSpec>> {
    // A column spec takes at least 4 bytes (name and type id).
    let mut out = Vec::with_capacity(n.min(r.remaining() / 4));
    for _ in 0..n {
        let table = match global {
            Some(t) => t.clone(),
            None => read_table_spec(r)?,
        };
        let name = r.string("column name")?;
        let ty = column_type::read(r, 0)?;
        out.push(ColumnSpec { table, name, ty });
    }
    Ok(out)
}

fn write_columns(
    out: &mut BytesMut,
    columns: &[ColumnSpec],
    global: Option<&TableSpec>,
) -> Result<()> {
    if let Some(g) = global {
        out.put_string(&g.keyspace, "keyspace")?;
        out.put_string(&g.table, "table")?;
    }
    for c in columns {
        match global {
            Some(g) if *g != c.table => {
                return Err(ProtocolError::Unencodable {
                    what: "column metadata",
                    reason: "a column's table differs from the global table spec",
                });
            }
            Some(_) => {}
            None => {
                out.put_string(&c.table.keyspace, "keyspace")?;
                out.put_string(&c.table.table, "table")?;
            }
        }
        out.put_string(&c.name, "column name")?;
        c.ty.write_option(out)?;
    }
    Ok(())
}

fn columns_len(columns: &[ColumnSpec], global: Option<&TableSpec>) -> usize {
    let spec = |t: &TableSpec| string_len(&t.keyspace) + string_len(&t.table);
    global.map_or(0, spec)
        + columns
            .iter()
            .map(|c| {
                (if global.is_some() { 0 } else { spec(&c.table) })
                    + string_len(&c.name)
                    + c.ty.option_len()
            })
            .sum::<usize>()
}

/// The metadata of a set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsMetadata {
    /// The number of columns in each row (also when `columns` is `None`).
    pub column_count: usize,
    /// Present when more pages follow (flag 0x02).
    pub paging_state: Option<Bytes>,
    /// v5: the result metadata changed since the client's id; this is the new id (flag 0x08).
    pub new_metadata_id: Option<Bytes>,
    /// The table every column belongs to, sent once (flag 0x01).
    pub global_table_spec: Option<TableSpec>,
    /// The column specs; `None` when the client asked to skip metadata (flag 0x04).
    pub columns: Option<Vec<ColumnSpec>>,
}

impl RowsMetadata {
    /// Metadata of these columns, with a global table spec when they all share one table.
    pub fn new(columns: Vec<ColumnSpec>) -> RowsMetadata {
        let global = match columns.split_first() {
            Some((first, rest)) if rest.iter().all(|c| c.table == first.table) => {
                Some(first.table.clone())
            }
            _ => None,
        };
        RowsMetadata {
            column_count: columns.len(),
            paging_state: None,
            new_metadata_id: None,
            global_table_spec: global,
            columns: Some(columns),
        }
    }

    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<RowsMetadata> {
        let flags = r.i32("rows metadata flags")?;
        let column_count = count(r, "column count")?;
        let paging_state = if flags & HAS_MORE_PAGES != 0 {
            r.bytes("paging state")?
        } else {
            None
        };
        let new_metadata_id = if version >= ProtocolVersion::V5 && flags & METADATA_CHANGED != 0 {
            Some(r.short_bytes("new metadata id")?)
        } else {
            None
        };
        let (global_table_spec, columns) = if flags & NO_METADATA != 0 {
            (None, None)
        } else {
            let global = if flags & GLOBAL_TABLES_SPEC != 0 {
                Some(read_table_spec(r)?)
            } else {
                None
            };
            let columns = read_columns(r, column_count, global.as_ref())?;
            (global, Some(columns))
        };
        Ok(RowsMetadata {
            column_count,
            paging_state,
            new_metadata_id,
            global_table_spec,
            columns,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        if self.new_metadata_id.is_some() && version < ProtocolVersion::V5 {
            return Err(ProtocolError::NotInVersion {
                feature: "the metadata_changed flag",
                version,
            });
        }
        if let Some(c) = &self.columns {
            if c.len() != self.column_count {
                return Err(ProtocolError::Unencodable {
                    what: "rows metadata",
                    reason: "column count differs from the column specs",
                });
            }
        } else if self.global_table_spec.is_some() {
            return Err(ProtocolError::Unencodable {
                what: "rows metadata",
                reason: "a global table spec without column specs",
            });
        }
        let mut flags = 0;
        if self.global_table_spec.is_some() {
            flags |= GLOBAL_TABLES_SPEC;
        }
        if self.paging_state.is_some() {
            flags |= HAS_MORE_PAGES;
        }
        if self.columns.is_none() {
            flags |= NO_METADATA;
        }
        if self.new_metadata_id.is_some() {
            flags |= METADATA_CHANGED;
        }
        out.put_i32(flags);
        out.put_i32(len_i32(self.column_count, "column count")?);
        if let Some(p) = &self.paging_state {
            out.put_bytes_opt(Some(p), "paging state")?;
        }
        if let Some(id) = &self.new_metadata_id {
            out.put_short_bytes(id, "new metadata id")?;
        }
        if let Some(c) = &self.columns {
            write_columns(out, c, self.global_table_spec.as_ref())?;
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        8 + self.paging_state.as_ref().map_or(0, |p| 4 + p.len())
            + self.new_metadata_id.as_ref().map_or(0, |id| 2 + id.len())
            + self
                .columns
                .as_ref()
                .map_or(0, |c| columns_len(c, self.global_table_spec.as_ref()))
    }
}

/// A Rows result: metadata and `rows_count` rows of `metadata.column_count` cells, stored
/// flat in row order. Cells borrow from the frame body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    pub metadata: RowsMetadata,
    pub rows_count: usize,
    /// `rows_count * column_count` cells; `None` is null.
    pub cells: Vec<Option<Bytes>>,
}

impl Rows {
    /// The rows, each a slice of `column_count` cells.
    pub fn rows(&self) -> impl Iterator<Item = &[Option<Bytes>]> {
        let width = self.metadata.column_count.max(1);
        self.cells.chunks(width).take(self.rows_count)
    }

    /// The typed value of a cell, decoded with its column's type. `Ok(None)` for a null cell;
    /// an error when the cell is out of range, the metadata was skipped, or the bytes do not
    /// fit the type.
    pub fn value(&self, row: usize, column: usize) -> Result<Option<crate::protocol::Value>> {
        let out_of_range = || ProtocolError::Unencodable {
            what: "cell",
            reason: "row or column out of range",
        };
        if row >= self.rows_count || column >= self.metadata.column_count {
            return Err(out_of_range());
        }
        let spec = self
            .metadata
            .columns
            .as_ref()
            .and_then(|c| c.get(column))
            .ok_or(ProtocolError::Unencodable {
                what: "cell",
                reason: "rows without metadata have no column types",
            })?;
        let cell = self
            .cells
            .get(row * self.metadata.column_count + column)
            .ok_or_else(out_of_range)?;
        Ok(cell.as_ref().map(|b| spec.ty.decode(b)).transpose()?)
    }

    fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Rows> {
        let metadata = RowsMetadata::read(r, version)?;
        let rows_count = count(r, "rows count")?;
        let n =
            rows_count
                .checked_mul(metadata.column_count)
                .ok_or(ProtocolError::InvalidLength {
                    what: "rows",
                    length: rows_count as i64,
                })?;
        // Each cell takes at least its 4-byte length: bound the allocation by the input.
        if n > r.remaining() / 4 {
            return Err(ProtocolError::Truncated {
                what: "rows",
                needed: n.saturating_mul(4),
                available: r.remaining(),
            });
        }
        let mut cells = Vec::with_capacity(n);
        for _ in 0..n {
            cells.push(r.bytes("cell")?);
        }
        Ok(Rows {
            metadata,
            rows_count,
            cells,
        })
    }

    fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        if self.rows_count.checked_mul(self.metadata.column_count) != Some(self.cells.len()) {
            return Err(ProtocolError::Unencodable {
                what: "rows",
                reason: "cell count is not rows_count * column_count",
            });
        }
        self.metadata.write(out, version)?;
        out.put_i32(len_i32(self.rows_count, "rows count")?);
        for c in &self.cells {
            out.put_bytes_opt(c.as_deref(), "cell")?;
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.metadata.encoded_len()
            + 4
            + self
                .cells
                .iter()
                .map(|c| 4 + c.as_ref().map_or(0, Bytes::len))
                .sum::<usize>()
    }
}

/// The bind variables of a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMetadata {
    /// For each partition key column, the index of the bind variable that gives it.
    pub pk_indexes: Vec<u16>,
    pub global_table_spec: Option<TableSpec>,
    pub columns: Vec<ColumnSpec>,
}

impl PreparedMetadata {
    fn read(r: &mut Reader) -> Result<PreparedMetadata> {
        let flags = r.i32("prepared metadata flags")?;
        let column_count = count(r, "column count")?;
        let pk_count = count(r, "pk count")?;
        let mut pk_indexes = Vec::with_capacity(pk_count.min(r.remaining() / 2));
        for _ in 0..pk_count {
            pk_indexes.push(r.u16("pk index")?);
        }
        let global = if flags & GLOBAL_TABLES_SPEC != 0 {
            Some(read_table_spec(r)?)
        } else {
            None
        };
        let columns = read_columns(r, column_count, global.as_ref())?;
        Ok(PreparedMetadata {
            pk_indexes,
            global_table_spec: global,
            columns,
        })
    }

    fn write(&self, out: &mut BytesMut) -> Result<()> {
        out.put_i32(if self.global_table_spec.is_some() {
            GLOBAL_TABLES_SPEC
        } else {
            0
        });
        out.put_i32(len_i32(self.columns.len(), "column count")?);
        out.put_i32(len_i32(self.pk_indexes.len(), "pk count")?);
        for i in &self.pk_indexes {
            out.put_u16(*i);
        }
        write_columns(out, &self.columns, self.global_table_spec.as_ref())
    }

    fn encoded_len(&self) -> usize {
        12 + 2 * self.pk_indexes.len() + columns_len(&self.columns, self.global_table_spec.as_ref())
    }
}

/// A Prepared result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub id: Bytes,
    /// v5: the id of `result_metadata`, which EXECUTE sends back (empty in v4).
    pub result_metadata_id: Bytes,
    pub metadata: PreparedMetadata,
    pub result_metadata: RowsMetadata,
}

/// A RESULT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultBody {
    Void,
    Rows(Rows),
    SetKeyspace(String),
    Prepared(Prepared),
    SchemaChange(SchemaChange),
}

impl ResultBody {
    /// The kind code.
    pub fn kind(&self) -> i32 {
        match self {
            ResultBody::Void => 1,
            ResultBody::Rows(_) => 2,
            ResultBody::SetKeyspace(_) => 3,
            ResultBody::Prepared(_) => 4,
            ResultBody::SchemaChange(_) => 5,
        }
    }

    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<ResultBody> {
        Ok(match r.i32("result kind")? {
            1 => ResultBody::Void,
            2 => ResultBody::Rows(Rows::read(r, version)?),
            3 => ResultBody::SetKeyspace(r.string("keyspace")?),
            4 => {
                let id = r.short_bytes("prepared id")?;
                let result_metadata_id = if version >= ProtocolVersion::V5 {
                    r.short_bytes("result metadata id")?
                } else {
                    Bytes::new()
                };
                let metadata = PreparedMetadata::read(r)?;
                let result_metadata = RowsMetadata::read(r, version)?;
                ResultBody::Prepared(Prepared {
                    id,
                    result_metadata_id,
                    metadata,
                    result_metadata,
                })
            }
            5 => ResultBody::SchemaChange(SchemaChange::read(r)?),
            other => return Err(ProtocolError::UnknownResultKind(other)),
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut, version: ProtocolVersion) -> Result<()> {
        out.put_i32(self.kind());
        match self {
            ResultBody::Void => Ok(()),
            ResultBody::Rows(rows) => rows.write(out, version),
            ResultBody::SetKeyspace(k) => out.put_string(k, "keyspace"),
            ResultBody::Prepared(p) => {
                out.put_short_bytes(&p.id, "prepared id")?;
                if version >= ProtocolVersion::V5 {
                    out.put_short_bytes(&p.result_metadata_id, "result metadata id")?;
                } else if !p.result_metadata_id.is_empty() {
                    return Err(ProtocolError::NotInVersion {
                        feature: "a prepared result metadata id",
                        version,
                    });
                }
                p.metadata.write(out)?;
                p.result_metadata.write(out, version)
            }
            ResultBody::SchemaChange(c) => c.write(out),
        }
    }

    pub(crate) fn encoded_len(&self, version: ProtocolVersion) -> usize {
        4 + match self {
            ResultBody::Void => 0,
            ResultBody::Rows(rows) => rows.encoded_len(),
            ResultBody::SetKeyspace(k) => string_len(k),
            ResultBody::Prepared(p) => {
                2 + p.id.len()
                    + if version >= ProtocolVersion::V5 {
                        2 + p.result_metadata_id.len()
                    } else {
                        0
                    }
                    + p.metadata.encoded_len()
                    + p.result_metadata.encoded_len()
            }
            ResultBody::SchemaChange(c) => c.encoded_len(),
        }
    }
}
