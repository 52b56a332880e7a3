//! Stored partitions and rows decoded into the selection's rows: only the columns something
//! reads are decoded; the rest are copied as stored.

use std::borrow::Cow;

use super::*;

/// How stored cells become typed values: the table's columns, their types and storage ids.
pub(super) struct Decoder<'a> {
    /// The types values decode as: the schema's own for native types (borrowed, so a read
    /// of native columns clones no type), expanded for collections, tuples and UDTs.
    pub(super) types: Vec<Cow<'a, CqlType>>,
    /// The schema types (multi-cell collections and UDTs are assembled from their cells).
    pub(super) schema_types: Vec<&'a ilion_types::CqlType>,
    pub(super) ids: Vec<Option<ilion_storage::ColumnId>>,
    pub(super) kinds: Vec<ColumnKind>,
    pub(super) pk: Vec<usize>,
    pub(super) ck: Vec<usize>,
    pub(super) now: i64,
    /// Columns stored as one value whose value nobody reads (they are only returned, as their
    /// stored bytes): not decoded; their value is the placeholder `Value::Empty`.
    pub(super) undecoded: Vec<bool>,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(t: &Target<'a>, schema: &ilion_storage::TableSchema) -> Decoder<'a> {
        let table = t.table;
        Decoder {
            types: table
                .columns
                .iter()
                .map(|c| {
                    if c.ty.is_native() {
                        Cow::Borrowed(&c.ty)
                    } else {
                        Cow::Owned(c.ty.column_type(t.ks))
                    }
                })
                .collect(),
            schema_types: table.columns.iter().map(|c| &c.ty).collect(),
            ids: table
                .columns
                .iter()
                .map(|c| schema.column_id(&c.name))
                .collect(),
            kinds: table.columns.iter().map(|c| c.kind).collect(),
            pk: key_columns(table, ColumnKind::PartitionKey)
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            ck: key_columns(table, ColumnKind::Clustering)
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            now: crate::data::now_seconds(),
            undecoded: vec![false; table.columns.len()],
        }
    }

    pub(super) fn decode(&self, i: usize, bytes: &[u8]) -> Result<Value> {
        let ty = self
            .types
            .get(i)
            .ok_or_else(|| Error::server("column index out of range"))?;
        ty.decode(&Bytes::copy_from_slice(bytes))
            .map_err(|e| Error::server(format!("stored value does not decode as {ty}: {e}")))
    }

    /// The value of column `i` stored as `bytes`: decoded, or the placeholder when nobody
    /// reads it.
    pub(super) fn value(&self, i: usize, bytes: &[u8]) -> Result<Value> {
        if self.undecoded.get(i) == Some(&true) {
            return Ok(Value::Empty);
        }
        self.decode(i, bytes)
    }

    /// [`Decoder::cell`] of a single-cell column that is not decoded: the placeholder value
    /// when the cell is there.
    pub(super) fn undecoded_cell(
        &self,
        i: usize,
        cells: &[CellData],
    ) -> (Option<Value>, Option<CellMeta>) {
        let Some(id) = self.ids.get(i).copied().flatten() else {
            return (None, None);
        };
        match cells.iter().find(|cd| cd.column == id && cd.path.is_none()) {
            None => (None, None),
            Some(cd) => (Some(Value::Empty), Some(self.meta(cd))),
        }
    }

    pub(super) fn meta(&self, cd: &CellData) -> CellMeta {
        CellMeta {
            timestamp: cd.timestamp,
            ttl: cd
                .ttl
                .map(|t| i32::try_from((t.local_expiry - self.now).max(0)).unwrap_or(i32::MAX)),
        }
    }

    /// The value and write metadata of non-key column `i` from a row's (or the partition's
    /// static) cells.
    pub(super) fn cell(
        &self,
        i: usize,
        cells: &[CellData],
    ) -> Result<(Option<Value>, Option<CellMeta>)> {
        let Some(id) = self.ids.get(i).copied().flatten() else {
            return Ok((None, None));
        };
        let (Some(ty), Some(schema_ty)) = (self.types.get(i), self.schema_types.get(i)) else {
            return Ok((None, None));
        };
        let value = cells::column_value(ty, schema_ty, cells.iter().filter(|cd| cd.column == id))?;
        // Write metadata exists for simple cells only (Cassandra refuses writetime/ttl of a
        // multi-cell column).
        let Some(cd) = cells.iter().find(|cd| cd.column == id && cd.path.is_none()) else {
            return Ok((value, None));
        };
        Ok((value, Some(self.meta(cd))))
    }

    /// The partition's part of every row: key columns and static cells.
    pub(super) fn partition_base(&self, p: &PartitionData) -> Result<Row> {
        let n = self.types.len();
        let mut row = Row {
            values: vec![None; n],
            cells: vec![None; n],
            token: p.token,
            stored: vec![None; n],
        };
        let parts = split_partition_key(&p.key, self.pk.len())?;
        for (i, part) in self.pk.iter().zip(parts) {
            if let (Some(slot), Some(raw)) = (row.values.get_mut(*i), row.stored.get_mut(*i)) {
                *slot = Some(self.value(*i, part)?);
                *raw = Some(Bytes::copy_from_slice(part));
            }
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if *kind == ColumnKind::Static {
                self.fill(&mut row, i, &p.static_cells)?;
            }
        }
        Ok(row)
    }

    /// One row: the partition's base with the row's clustering and regular cells.
    pub(super) fn row(&self, base: &Row, r: &RowData) -> Result<Row> {
        let mut row = base.clone();
        for (i, b) in self.ck.iter().zip(&r.clustering) {
            if let (Some(slot), Some(raw)) = (row.values.get_mut(*i), row.stored.get_mut(*i)) {
                *slot = Some(self.value(*i, b)?);
                *raw = Some(Bytes::copy_from_slice(b));
            }
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if *kind == ColumnKind::Regular {
                self.fill(&mut row, i, &r.cells)?;
            }
        }
        Ok(row)
    }

    /// Sets non-key column `i` of `row` from `cells`: its value, write metadata and, for a
    /// column stored as one cell, the cell's bytes.
    pub(super) fn fill(&self, row: &mut Row, i: usize, cells: &[CellData]) -> Result<()> {
        let (v, m) = if self.undecoded.get(i) == Some(&true) {
            self.undecoded_cell(i, cells)
        } else {
            self.cell(i, cells)?
        };
        let raw = match (&v, self.schema_types.get(i)) {
            (Some(_), Some(ty)) if !cells::is_multi_cell(ty) => self
                .ids
                .get(i)
                .copied()
                .flatten()
                .and_then(|id| cells.iter().find(|cd| cd.column == id && cd.path.is_none()))
                .map(|cd| Bytes::copy_from_slice(&cd.value)),
            _ => None,
        };
        if let (Some(vs), Some(ms), Some(rs)) = (
            row.values.get_mut(i),
            row.cells.get_mut(i),
            row.stored.get_mut(i),
        ) {
            *vs = v;
            *ms = m;
            *rs = raw;
        }
        Ok(())
    }
}

/// A row of computed values as result cells.
pub(super) fn computed(values: ValueRow) -> ResultRow {
    values
        .into_iter()
        .map(|v| v.map(Projected::Value))
        .collect()
}

/// The components of a serialized partition key (see `ilion_ring::serialize_partition_key`).
pub(crate) fn split_partition_key(key: &[u8], n: usize) -> Result<Vec<&[u8]>> {
    if n <= 1 {
        return Ok(vec![key]);
    }
    let bad = || Error::server("stored partition key is not a valid composite");
    let mut out = Vec::with_capacity(n);
    let mut rest = key;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes(*len));
        let part = tail.get(..len).ok_or_else(bad)?;
        out.push(part);
        rest = tail.get(len + 1..).ok_or_else(bad)?;
    }
    if out.len() != n {
        return Err(bad());
    }
    Ok(out)
}
