//! SELECT over rows held in memory (the system tables): equality and IN restrictions on any
//! column, column selection with aliases, `COUNT(*)` and LIMIT. Anything else is refused with
//! an Invalid error that names it, never answered wrongly.

use bytes::Bytes;
use cql::language::ast::{
    InValues, Operator, Relation, RelationTarget, Select, Selection, Selector, Term,
};
use cql::protocol::{
    ColumnSpec, ColumnType, QueryParameters, ResultBody, Rows, RowsMetadata, TableSpec, Value,
};

use crate::schema::{Keyspace, Table};
use crate::values::{Bound, encode, term_value};
use crate::{Error, Result};

/// One output column: where its value comes from.
enum Output {
    Column(usize),
    CountStar,
}

/// The result columns of `select` over `table`, and where each comes from.
fn outputs(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
) -> Result<Vec<(Output, ColumnSpec)>> {
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let column = |name: &str| -> Result<(usize, ColumnType)> {
        table
            .columns
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| {
                table
                    .columns
                    .get(i)
                    .map(|c| (i, c.ty.column_type(keyspace)))
            })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Undefined column name {name} in table {}.{}",
                    table.keyspace, table.name
                ))
            })
    };
    match &select.selection {
        Selection::Wildcard => Ok(table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    Output::Column(i),
                    ColumnSpec {
                        table: spec.clone(),
                        name: c.name.clone(),
                        ty: c.ty.column_type(keyspace),
                    },
                )
            })
            .collect()),
        Selection::Items(items) => items
            .iter()
            .map(|item| {
                let alias = item.alias.as_ref().map(|a| a.as_str().to_owned());
                match &item.selector {
                    Selector::Column(c) => {
                        let (i, ty) = column(c.as_str())?;
                        let name = alias.unwrap_or_else(|| c.as_str().to_owned());
                        Ok((
                            Output::Column(i),
                            ColumnSpec {
                                table: spec.clone(),
                                name,
                                ty,
                            },
                        ))
                    }
                    Selector::CountStar => Ok((
                        Output::CountStar,
                        ColumnSpec {
                            table: spec.clone(),
                            name: alias.unwrap_or_else(|| "count".to_owned()),
                            ty: ColumnType::Bigint,
                        },
                    )),
                    other => Err(Error::invalid(format!(
                        "Selector {other} is not supported on system tables by this Ilion build yet"
                    ))),
                }
            })
            .collect(),
    }
}

/// The result metadata of `select` over `table` (for PREPARE).
pub(crate) fn result_columns(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
) -> Result<Vec<ColumnSpec>> {
    if select.json {
        // SELECT JSON answers one text column (crate::json::rows_as_json).
        return Ok(vec![ColumnSpec {
            table: TableSpec {
                keyspace: table.keyspace.clone(),
                table: table.name.clone(),
            },
            name: "[json]".to_owned(),
            ty: ColumnType::Varchar,
        }]);
    }
    Ok(outputs(select, table, keyspace)?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// The bind markers' metadata of `select` over `table`: each marker takes the type of the
/// column it is compared with.
pub(crate) fn marker_columns(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
) -> Result<Vec<ColumnSpec>> {
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let mut out = Vec::new();
    for r in &select.where_clause {
        let (target, terms): (&RelationTarget, Vec<&Term>) = match r {
            Relation::Compare { target, value, .. } => (target, vec![value]),
            Relation::In {
                target,
                values: InValues::List(v),
            } => (target, v.iter().collect()),
            _ => return Err(unsupported_relation(r)),
        };
        let RelationTarget::Column(c) = target else {
            return Err(unsupported_relation(r));
        };
        let col = table
            .column(c.as_str())
            .ok_or_else(|| undefined(c.as_str(), table))?;
        for t in terms {
            if let Term::Bind(_) = t {
                out.push(ColumnSpec {
                    table: spec.clone(),
                    name: col.name.clone(),
                    ty: col.ty.column_type(keyspace),
                });
            }
        }
    }
    if let Some(Term::Bind(_)) = &select.limit {
        out.push(ColumnSpec {
            table: spec,
            name: "[limit]".to_owned(),
            ty: ColumnType::Int,
        });
    }
    Ok(out)
}

fn undefined(name: &str, table: &Table) -> Error {
    Error::invalid(format!(
        "Undefined column name {name} in table {}.{}",
        table.keyspace, table.name
    ))
}

fn unsupported_relation(r: &Relation) -> Error {
    Error::invalid(format!(
        "Restriction {r} is not supported on system tables by this Ilion build yet"
    ))
}

/// Runs `select` over `rows` (values in `table.columns` order).
pub(crate) fn run(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
    rows: Vec<Vec<Option<Value>>>,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    let skip_metadata = params.skip_metadata;
    if select.json || select.distinct || !select.group_by.is_empty() || !select.order_by.is_empty()
    {
        return Err(Error::invalid(
            "JSON, DISTINCT, GROUP BY and ORDER BY are not supported on system tables by this Ilion build yet",
        ));
    }
    if select.per_partition_limit.is_some() {
        return Err(Error::invalid(
            "PER PARTITION LIMIT is not supported on system tables by this Ilion build yet",
        ));
    }
    let outputs = outputs(select, table, keyspace)?;

    // Restrictions: each is a column and the serialized values it may equal.
    let mut filters: Vec<(usize, Vec<Bytes>)> = Vec::new();
    for r in &select.where_clause {
        let (target, terms): (&RelationTarget, Vec<&Term>) = match r {
            Relation::Compare {
                target,
                op: Operator::Eq,
                value,
            } => (target, vec![value]),
            Relation::In {
                target,
                values: InValues::List(v),
            } => (target, v.iter().collect()),
            _ => return Err(unsupported_relation(r)),
        };
        let RelationTarget::Column(c) = target else {
            return Err(unsupported_relation(r));
        };
        let i = table
            .columns
            .iter()
            .position(|x| x.name == c.as_str())
            .ok_or_else(|| undefined(c.as_str(), table))?;
        let ty = table
            .columns
            .get(i)
            .map(|c| c.ty.column_type(keyspace))
            .ok_or_else(|| undefined(c.as_str(), table))?;
        let mut accepted = Vec::new();
        for t in terms {
            if let Some(v) = term_value(t, &ty, bound)? {
                accepted.push(encode(&ty, &v)?);
            }
        }
        filters.push((i, accepted));
    }
    let limit = match &select.limit {
        None => usize::MAX,
        Some(t) => match term_value(t, &ColumnType::Int, bound)? {
            Some(Value::Int(n)) if n > 0 => n as usize,
            _ => return Err(Error::invalid("LIMIT must be strictly positive")),
        },
    };

    let types: Vec<ColumnType> = table
        .columns
        .iter()
        .map(|c| c.ty.column_type(keyspace))
        .collect();
    let mut matched: Vec<Vec<Option<Bytes>>> = Vec::new();
    for row in rows {
        let mut encoded = Vec::with_capacity(row.len());
        for (v, ty) in row.iter().zip(&types) {
            encoded.push(match v {
                Some(v) => Some(encode(ty, v)?),
                None => None,
            });
        }
        let keep = filters.iter().all(|(i, accepted)| {
            encoded
                .get(*i)
                .and_then(Option::as_ref)
                .is_some_and(|v| accepted.contains(v))
        });
        if keep {
            matched.push(encoded);
        }
    }

    let aggregate = outputs.iter().any(|(o, _)| matches!(o, Output::CountStar));
    let mut next_page = None;
    let mut cells = Vec::new();
    let rows_count;
    if aggregate {
        let count = matched.len() as i64;
        for (o, _) in &outputs {
            cells.push(match o {
                Output::CountStar => Some(Bytes::copy_from_slice(&count.to_be_bytes())),
                Output::Column(i) => matched.first().and_then(|r| r.get(*i).cloned().flatten()),
            });
        }
        rows_count = 1;
    } else {
        matched.truncate(limit);
        // Paging: the state is the offset of the next row, so a page can be resumed on any
        // connection (the rows are recomputed in the same order from the live schema).
        let offset = match &params.paging_state {
            None => 0,
            Some(state) => decode_paging_state(state)?,
        };
        let page = params
            .page_size
            .filter(|n| *n > 0)
            .map_or(usize::MAX, |n| n as usize);
        let end = offset.saturating_add(page).min(matched.len());
        if end < matched.len() {
            next_page = Some(encode_paging_state(end));
        }
        let matched: Vec<_> = matched.into_iter().take(end).skip(offset).collect();
        rows_count = matched.len();
        for row in &matched {
            for (o, _) in &outputs {
                cells.push(match o {
                    Output::Column(i) => row.get(*i).cloned().flatten(),
                    Output::CountStar => None,
                });
            }
        }
    }
    let specs: Vec<ColumnSpec> = outputs.into_iter().map(|(_, s)| s).collect();
    let mut metadata = RowsMetadata::new(specs);
    metadata.paging_state = next_page;
    if skip_metadata {
        metadata.columns = None;
        metadata.global_table_spec = None;
    }
    Ok(ResultBody::Rows(Rows {
        metadata,
        rows_count,
        cells,
    }))
}

/// Paging state of an in-memory result: a version byte (1) and the next row's offset
/// (u64 big-endian).
fn encode_paging_state(offset: usize) -> Bytes {
    let mut out = Vec::with_capacity(9);
    out.push(1u8);
    out.extend_from_slice(&(offset as u64).to_be_bytes());
    Bytes::from(out)
}

fn decode_paging_state(state: &[u8]) -> Result<usize> {
    match state {
        [1, rest @ ..] => <[u8; 8]>::try_from(rest)
            .ok()
            .and_then(|b| usize::try_from(u64::from_be_bytes(b)).ok())
            .ok_or_else(|| Error::invalid("Invalid paging state")),
        _ => Err(Error::invalid("Invalid paging state")),
    }
}
