//! SELECT on user tables: a statement turned into a storage read, sent through the
//! [`DataPath`](super::DataPath), and the result decoded into rows.

use bytes::Bytes;
use cql::language::ast::{Operator, Relation, RelationTarget, Select, Selection, Selector, Term};
use cql::protocol::{ColumnType, QueryParameters, ResultBody, Value};
use storage::{Bound as SBound, ReadCommand, Slice};

use super::{DataPath, Target, cells};
use crate::schema::{ClusteringOrder, ColumnKind, Keyspace, Table};
use crate::values::Bound;
use crate::{Error, Result, select};

/// SELECT over one partition, with a clustering slice (equalities on a prefix of the
/// clustering columns, then at most a range on the next one).
pub(crate) fn select(
    data: &dyn DataPath,
    ks: &Keyspace,
    table: &Table,
    s: &Select,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    if s.json {
        let plain = Select {
            json: false,
            ..s.clone()
        };
        let all_metadata = QueryParameters {
            skip_metadata: false,
            ..params.clone()
        };
        let body = select(data, ks, table, &plain, bound, &all_metadata)?;
        return crate::json::rows_as_json(body, params.skip_metadata);
    }
    check_select_shape(s)?;
    let t = Target { ks, table, bound };
    let mut eqs: Vec<(String, &Term)> = Vec::new();
    let mut ranges: Vec<(String, Operator, &Term)> = Vec::new();
    for r in &s.where_clause {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                op,
                value,
            } => {
                let col = t.column(c.as_str())?;
                let name = col.name.clone();
                match (op, col.kind) {
                    (Operator::Eq, ColumnKind::PartitionKey | ColumnKind::Clustering) => {
                        eqs.push((name, value));
                    }
                    (
                        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge,
                        ColumnKind::Clustering,
                    ) => ranges.push((name, *op, value)),
                    _ => {
                        return Err(Error::not_supported(&format!(
                            "The restriction {r} (filtering; only = on the partition key and \
                             slices on clustering columns are supported)"
                        )));
                    }
                }
            }
            other => {
                return Err(Error::not_supported(&format!(
                    "The restriction {other} (IN, token, tuple and collection restrictions)"
                )));
            }
        }
    }
    let pk_cols = t.key_columns(ColumnKind::PartitionKey);
    if pk_cols
        .iter()
        .any(|c| !eqs.iter().any(|(n, _)| *n == c.name))
    {
        return Err(Error::not_supported(
            "SELECT without = on every partition key column (range scans and filtering)",
        ));
    }
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    // The clustering slice: an equality prefix, then ranges on the next column only.
    let ck_cols = t.key_columns(ColumnKind::Clustering);
    let mut prefix: Vec<Vec<u8>> = Vec::new();
    let mut range_col: Option<&crate::schema::Column> = None;
    for c in &ck_cols {
        if let Some((_, term)) = eqs.iter().find(|(n, _)| *n == c.name) {
            if range_col.is_some() {
                return Err(Error::not_supported(
                    "Equality after a range on clustering columns",
                ));
            }
            prefix.push(t.key_value(&c.name, term)?.to_vec());
        } else {
            if range_col.is_none() {
                range_col = Some(c);
            }
            break;
        }
    }
    let restricted_ck = eqs
        .iter()
        .filter(|(n, _)| ck_cols.iter().any(|c| c.name == *n))
        .count();
    if restricted_ck != prefix.len() {
        return Err(Error::not_supported(
            "Restricting a clustering column when a preceding one is not restricted (filtering)",
        ));
    }
    let mut start = if prefix.is_empty() {
        SBound::Unbounded
    } else {
        SBound::Inclusive(prefix.clone())
    };
    let mut end = start.clone();
    for (name, op, term) in &ranges {
        let Some(col) = range_col.filter(|c| c.name == *name) else {
            return Err(Error::not_supported(&format!(
                "A range on clustering column {name} that does not follow an equality prefix"
            )));
        };
        let mut at = prefix.clone();
        at.push(t.key_value(name, term)?.to_vec());
        let desc = col.order == ClusteringOrder::Desc;
        // A lower bound is the slice's start in ASC order, its end in DESC order.
        let lower = matches!(op, Operator::Gt | Operator::Ge);
        let inclusive = matches!(op, Operator::Ge | Operator::Le);
        let b = if inclusive {
            SBound::Inclusive(at)
        } else {
            SBound::Exclusive(at)
        };
        let slot = if lower != desc { &mut start } else { &mut end };
        let already = match slot {
            SBound::Unbounded => false,
            SBound::Inclusive(p) | SBound::Exclusive(p) => p.len() > prefix.len(),
        };
        if already {
            return Err(Error::invalid(format!(
                "More than one restriction was found for the {} bound on {name}",
                if lower { "start" } else { "end" }
            )));
        }
        *slot = b;
    }
    let (token, key) = t.partition(&pk)?;
    let schema = data.table_schema(table)?;
    let mut cmd = ReadCommand::partition(token, key);
    cmd.slice = Slice { start, end };
    let result = data.read(ks, table, &cmd, params.consistency)?;

    // Rows in `table.columns` order, decoded.
    let types: Vec<ColumnType> = table.columns.iter().map(|c| c.ty.column_type(ks)).collect();
    let decode = |i: usize, bytes: &[u8]| -> Result<Option<Value>> {
        let ty = types
            .get(i)
            .ok_or_else(|| Error::server("column index out of range"))?;
        ty.decode(&Bytes::copy_from_slice(bytes))
            .map(Some)
            .map_err(|e| Error::server(format!("stored value does not decode as {ty}: {e}")))
    };
    let mut rows: Vec<Vec<Option<Value>>> = Vec::new();
    for p in &result.partitions {
        let mut base: Vec<Option<Value>> = vec![None; table.columns.len()];
        let mut pk_i = 0;
        for (i, c) in table.columns.iter().enumerate() {
            match c.kind {
                ColumnKind::PartitionKey => {
                    if let (Some(slot), Some(v)) = (base.get_mut(i), pk.get(pk_i)) {
                        *slot = decode(i, v)?;
                    }
                    pk_i += 1;
                }
                ColumnKind::Static => {
                    let id = schema.column_id(&c.name);
                    let cells = p.static_cells.iter().filter(|cd| Some(cd.column) == id);
                    if let (Some(slot), Some(ty)) = (base.get_mut(i), types.get(i)) {
                        *slot = cells::column_value(ty, &c.ty, cells)?;
                    }
                }
                _ => {}
            }
        }
        if p.rows.is_empty() {
            if !p.static_cells.is_empty() && prefix.is_empty() && ranges.is_empty() {
                rows.push(base);
            }
            continue;
        }
        for r in &p.rows {
            let mut row = base.clone();
            let mut ck_i = 0;
            for (i, c) in table.columns.iter().enumerate() {
                let v = match c.kind {
                    ColumnKind::Clustering => {
                        let v = r.clustering.get(ck_i);
                        ck_i += 1;
                        v.map(|b| decode(i, b)).transpose()?.flatten()
                    }
                    ColumnKind::Regular => {
                        let id = schema.column_id(&c.name);
                        let cells = r.cells.iter().filter(|cd| Some(cd.column) == id);
                        match types.get(i) {
                            Some(ty) => cells::column_value(ty, &c.ty, cells)?,
                            None => None,
                        }
                    }
                    _ => continue,
                };
                if let Some(slot) = row.get_mut(i) {
                    *slot = v;
                }
            }
            rows.push(row);
        }
    }
    let mut projected = s.clone();
    projected.where_clause.clear();
    select::run(&projected, table, ks, rows, bound, params)
}

fn check_select_shape(s: &Select) -> Result<()> {
    let refuse = |what: &str| Err(Error::not_supported(&format!("{what} on user tables")));
    if s.allow_filtering {
        return refuse("ALLOW FILTERING");
    }
    if s.distinct {
        return refuse("SELECT DISTINCT");
    }
    if !s.group_by.is_empty() {
        return refuse("GROUP BY");
    }
    if !s.order_by.is_empty() {
        return refuse("ORDER BY");
    }
    if s.per_partition_limit.is_some() {
        return refuse("PER PARTITION LIMIT");
    }
    if let Selection::Items(items) = &s.selection {
        for item in items {
            match &item.selector {
                Selector::Column(_) => {}
                Selector::CountStar | Selector::Function { .. } => {
                    return refuse(&format!(
                        "The selector {} (functions and aggregates)",
                        item.selector
                    ));
                }
                other => return refuse(&format!("The selector {other}")),
            }
        }
    }
    Ok(())
}
