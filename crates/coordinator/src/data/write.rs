//! INSERT, UPDATE and DELETE: statements turned into storage mutations, sent through the
//! [`DataPath`](super::DataPath).

use cql::language::ast::{
    Assignment, Delete, DeleteTarget, Insert, InsertValues, Relation, RelationTarget, Term,
    UsingParam,
};
use cql::protocol::{ColumnSpec, ColumnType, QueryParameters, TableSpec};
use storage::{Deletion, Liveness, Mutation};

use super::{DataPath, TableWrite, Target, cell, now_seconds, refuse_collections};
use crate::schema::{ColumnKind, Keyspace, Table};
use crate::values::Bound;
use crate::{Error, Result};

/// INSERT INTO ... (cols) VALUES (...) [USING ...].
pub(crate) fn insert<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &Insert,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if s.if_not_exists {
        return Err(Error::not_supported(
            "INSERT ... IF NOT EXISTS (lightweight transactions)",
        ));
    }
    let InsertValues::Columns { columns, values } = &s.values else {
        return Err(Error::not_supported("INSERT JSON"));
    };
    if columns.len() != values.len() {
        return Err(Error::invalid("Unmatched column names/values"));
    }
    let t = Target { ks, table, bound };
    let eqs: Vec<(String, &Term)> = columns
        .iter()
        .zip(values)
        .map(|(c, v)| (c.as_str().to_owned(), v))
        .collect();
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    // Like Cassandra, an INSERT of only static columns may leave out the clustering columns.
    let kinds: Vec<ColumnKind> = eqs
        .iter()
        .map(|(n, _)| t.column(n).map(|c| c.kind))
        .collect::<Result<_>>()?;
    let static_only = kinds.contains(&ColumnKind::Static)
        && kinds
            .iter()
            .all(|k| matches!(k, ColumnKind::PartitionKey | ColumnKind::Static));
    let ck = if static_only {
        Vec::new()
    } else {
        t.key_from(&eqs, ColumnKind::Clustering, false)?
    };
    let (token, key) = t.partition(&pk)?;
    let schema = data.table_schema(table)?;
    let mut m = Mutation::new(token, key, now);
    let mut row_cells = Vec::new();
    for (name, term) in &eqs {
        let c = t.column(name)?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            continue;
        }
        refuse_collections(c)?;
        if bound.is_unset(term) {
            continue;
        }
        let id = schema
            .column_id(name)
            .ok_or_else(|| Error::server(format!("column {name} missing from storage")))?;
        let value = t.value(term, &c.ty)?;
        let w = cell(id, value, timestamp, ttl, now);
        if c.kind == ColumnKind::Static {
            m.static_cells.push(w);
        } else {
            row_cells.push(w);
        }
    }
    let has_clustering = !ck.is_empty();
    if has_clustering || !row_cells.is_empty() || m.static_cells.is_empty() {
        let row = m.row(ck.iter().map(|b| b.to_vec()).collect());
        row.marker = Some(Liveness { timestamp, ttl });
        row.cells = row_cells;
    }
    Ok(vec![TableWrite {
        keyspace: ks,
        table,
        mutation: m,
    }])
}

/// UPDATE ... SET col = value, ... WHERE <full primary key>.
pub(crate) fn update<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &cql::language::ast::Update,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if s.condition.is_some() {
        return Err(Error::not_supported(
            "UPDATE ... IF (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    let eqs = t.equalities(&s.where_clause)?;
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    let ck = t.key_from(&eqs, ColumnKind::Clustering, false)?;
    for (n, _) in &eqs {
        let c = t.column(n)?;
        if !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Non PRIMARY KEY columns found in where clause: {n}"
            )));
        }
    }
    let (token, key) = t.partition(&pk)?;
    let schema = data.table_schema(table)?;
    let mut m = Mutation::new(token, key, now);
    let mut row_cells = Vec::new();
    for a in &s.assignments {
        let Assignment::Set { column, value } = a else {
            return Err(Error::not_supported(
                "Collection, field and counter updates in UPDATE",
            ));
        };
        let c = t.column(column.as_str())?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "PRIMARY KEY part {} found in SET part",
                c.name
            )));
        }
        refuse_collections(c)?;
        if bound.is_unset(value) {
            continue;
        }
        let id = schema
            .column_id(&c.name)
            .ok_or_else(|| Error::server(format!("column {} missing from storage", c.name)))?;
        let w = cell(id, t.value(value, &c.ty)?, timestamp, ttl, now);
        if c.kind == ColumnKind::Static {
            m.static_cells.push(w);
        } else {
            row_cells.push(w);
        }
    }
    if !row_cells.is_empty() {
        m.row(ck.iter().map(|b| b.to_vec()).collect()).cells = row_cells;
    }
    Ok(vec![TableWrite {
        keyspace: ks,
        table,
        mutation: m,
    }])
}

/// DELETE [cols] FROM ... WHERE <partition key> [and full clustering key].
pub(crate) fn delete<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &Delete,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if s.condition.is_some() {
        return Err(Error::not_supported(
            "DELETE ... IF (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    let eqs = t.equalities(&s.where_clause)?;
    let now = now_seconds();
    if s.using.iter().any(|u| matches!(u, UsingParam::Ttl(_))) {
        return Err(Error::invalid("A TTL is not allowed on DELETE statements"));
    }
    let (timestamp, _) = t.write_params(&s.using, params, now)?;
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    let ck = t.key_from(&eqs, ColumnKind::Clustering, true)?;
    for (n, _) in &eqs {
        let c = t.column(n)?;
        if !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Non PRIMARY KEY columns found in where clause: {n}"
            )));
        }
    }
    let full_row = ck.len() == t.key_columns(ColumnKind::Clustering).len();
    let (token, key) = t.partition(&pk)?;
    let schema = data.table_schema(table)?;
    let mut m = Mutation::new(token, key, now);
    let deletion = Deletion::new(timestamp, now);
    if s.targets.is_empty() {
        if ck.is_empty() {
            m.partition_deletion = Some(deletion);
        } else if full_row {
            m.row(ck.iter().map(|b| b.to_vec()).collect()).deletion = Some(deletion);
        } else {
            return Err(Error::not_supported(
                "DELETE of a clustering prefix (range deletions)",
            ));
        }
    } else {
        for target in &s.targets {
            let DeleteTarget::Column(name) = target else {
                return Err(Error::not_supported(
                    "Deleting collection elements or fields",
                ));
            };
            let c = t.column(name.as_str())?;
            if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
                return Err(Error::invalid(format!(
                    "Invalid identifier {} for deletion (should not be a PRIMARY KEY part)",
                    c.name
                )));
            }
            refuse_collections(c)?;
            let id = schema
                .column_id(&c.name)
                .ok_or_else(|| Error::server(format!("column {} missing from storage", c.name)))?;
            let w = cell(id, None, timestamp, None, now);
            if c.kind == ColumnKind::Static {
                m.static_cells.push(w);
            } else if full_row {
                m.row(ck.iter().map(|b| b.to_vec()).collect()).cells.push(w);
            } else {
                return Err(Error::invalid(format!(
                    "Some clustering keys are missing to delete column {}",
                    c.name
                )));
            }
        }
    }
    Ok(vec![TableWrite {
        keyspace: ks,
        table,
        mutation: m,
    }])
}

/// The bind markers' columns of a write, in marker order.
pub(crate) fn write_marker_columns(
    ks: &Keyspace,
    table: &Table,
    statement: &cql::language::ast::Statement,
) -> Result<Vec<ColumnSpec>> {
    use cql::language::ast::Statement;
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let mut out: Vec<(usize, ColumnSpec)> = Vec::new();
    let mut push = |term: &Term, name: &str, ty: ColumnType| {
        if let Term::Bind(m) = term {
            out.push((
                m.index,
                ColumnSpec {
                    table: spec.clone(),
                    name: name.to_owned(),
                    ty,
                },
            ));
        }
    };
    let column_type = |name: &str| -> Result<ColumnType> {
        table
            .column(name)
            .map(|c| c.ty.column_type(ks))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Undefined column name {name} in table {}.{}",
                    table.keyspace, table.name
                ))
            })
    };
    let (using, wheres): (&[UsingParam], &[Relation]) = match statement {
        Statement::Insert(s) => {
            if let InsertValues::Columns { columns, values } = &s.values {
                for (c, v) in columns.iter().zip(values) {
                    push(v, c.as_str(), column_type(c.as_str())?);
                }
            }
            (&s.using, &[])
        }
        Statement::Update(s) => {
            for a in &s.assignments {
                if let Assignment::Set { column, value } = a {
                    push(value, column.as_str(), column_type(column.as_str())?);
                }
            }
            (&s.using, &s.where_clause)
        }
        Statement::Delete(s) => (&s.using, &s.where_clause),
        _ => (&[], &[]),
    };
    for u in using {
        match u {
            UsingParam::Ttl(t) => push(t, "[ttl]", ColumnType::Int),
            UsingParam::Timestamp(t) => push(t, "[timestamp]", ColumnType::Bigint),
        }
    }
    for r in wheres {
        if let Relation::Compare {
            target: RelationTarget::Column(c),
            value,
            ..
        } = r
        {
            push(value, c.as_str(), column_type(c.as_str())?);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}
