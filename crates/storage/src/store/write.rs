//! The write path of a table: a mutation encoded into engine entries (keys and merge
//! operands), after checking each cell against the schema.

use crate::cell::{Record, Ttl};
use crate::error::{Error, Result};
use crate::key;
use crate::mutation::{CellOp, CellWrite, Liveness, Mutation};
use crate::schema::ColumnKind;

use super::View;

impl View {
    pub(super) fn encode_mutation(&self, m: &Mutation) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let schema = &*self.inner.schema;
        let default_ttl = schema.options().default_time_to_live;
        let ttl_or_default = |ttl: Option<Ttl>| match ttl {
            Some(t) if t.seconds == 0 => None,
            Some(t) => Some(t),
            None if default_ttl > 0 => Some(Ttl::new(default_ttl, m.now)),
            None => None,
        };
        let p = key::partition(m.token, &m.partition_key);
        let mut batch = Vec::with_capacity(m.len());
        if let Some(d) = m.partition_deletion {
            let mut k = p.clone();
            k.push(key::PARTITION_DELETION);
            batch.push((k, Record::tombstone(d).encode()));
        }
        for rd in &m.range_deletions {
            batch.push((
                key::range_deletion(schema, &p, &rd.start, &rd.end)?,
                Record::tombstone(rd.deletion).encode(),
            ));
        }
        for c in &m.static_cells {
            let mut k = p.clone();
            k.push(key::STATIC);
            batch.push(self.encode_cell(k, c, ColumnKind::Static, &ttl_or_default)?);
        }
        for row in &m.rows {
            let mut rk = p.clone();
            rk.push(key::ROWS);
            rk.extend_from_slice(&key::full_clustering(schema, &row.clustering)?);
            if let Some(d) = row.deletion {
                let mut k = rk.clone();
                k.push(key::ROW_DELETION);
                batch.push((k, Record::tombstone(d).encode()));
            }
            if let Some(Liveness { timestamp, ttl }) = row.marker {
                let mut k = rk.clone();
                k.push(key::ROW_MARKER);
                let rec = match ttl_or_default(ttl) {
                    Some(t) => Record::expiring(timestamp, Vec::new(), t),
                    None => Record::live(timestamp, Vec::new()),
                };
                batch.push((k, rec.encode()));
            }
            for c in &row.cells {
                let mut k = rk.clone();
                k.push(key::ROW_CELL);
                batch.push(self.encode_cell(k, c, ColumnKind::Regular, &ttl_or_default)?);
            }
        }
        Ok(batch)
    }

    fn encode_cell(
        &self,
        mut k: Vec<u8>,
        c: &CellWrite,
        kind: ColumnKind,
        ttl_or_default: &dyn Fn(Option<Ttl>) -> Option<Ttl>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let schema = &*self.inner.schema;
        let invalid = |reason| Error::InvalidColumn {
            table: schema.qualified_name(),
            column: c.column,
            reason,
        };
        let col = schema
            .cell_column(c.column)
            .ok_or_else(|| invalid("no such column"))?;
        if col.kind != kind {
            return Err(invalid(if kind == ColumnKind::Static {
                "a regular column written as static"
            } else {
                "a static column written in a row"
            }));
        }
        let multi = col.ty.is_multi_cell();
        let counter = col.ty.is_counter();
        let rec = match &c.op {
            CellOp::Set { .. } if counter => {
                return Err(invalid("a counter column is written with counter shards"));
            }
            CellOp::Counter { .. } | CellOp::Increment { .. } if !counter || c.path.is_some() => {
                return Err(invalid("counter shards for a column that is not a counter"));
            }
            CellOp::Counter { timestamp, shards } => Record::counter(*timestamp, shards.clone()),
            CellOp::Increment { .. } => {
                return Err(invalid(
                    "a counter increment is applied by its leader (apply_counter)",
                ));
            }
            CellOp::Set {
                timestamp,
                value,
                ttl,
            } => {
                if multi && c.path.is_none() {
                    return Err(invalid("a non-frozen collection is written per element"));
                }
                match ttl_or_default(*ttl) {
                    Some(t) => Record::expiring(*timestamp, value.clone(), t),
                    None => Record::live(*timestamp, value.clone()),
                }
            }
            CellOp::Delete(d) => {
                if multi && c.path.is_none() {
                    return Err(invalid("deleting a whole collection is DeleteCollection"));
                }
                Record::tombstone(*d)
            }
            CellOp::DeleteCollection(d) => {
                if !multi || c.path.is_some() {
                    return Err(invalid(
                        "DeleteCollection needs a non-frozen collection and no path",
                    ));
                }
                Record::tombstone(*d)
            }
        };
        key::cell_suffix(schema, c.column, c.path.as_deref(), &mut k)?;
        Ok((k, rec.encode()))
    }
}
