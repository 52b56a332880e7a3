//! The metadata PREPARE answers: the result columns and the bind markers' specs.

use super::*;
use crate::markers::Markers;

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
            ty: CqlType::Text,
        }]);
    }
    Ok(Selection::compile(select, table, keyspace)?.specs)
}

/// The bind markers' metadata of `select` over `table`: each marker takes the type (and the
/// name) Cassandra gives it, in marker order (the selectors', the restrictions', the limits').
pub(crate) fn marker_columns(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
) -> Result<Vec<ColumnSpec>> {
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let col = |c: &ilion_cql::language::ast::Ident| -> Result<(String, CqlType)> {
        let col = table
            .column(c.as_str())
            .ok_or_else(|| undefined(c.as_str(), table))?;
        Ok((col.name.clone(), col.ty.column_type(keyspace)))
    };
    let mut out: Vec<(usize, ColumnSpec)> = Selection::compile(select, table, keyspace)?
        .marker_specs()
        .cloned()
        .collect();
    let mut m = Markers::new(&spec, &mut out);
    for r in &select.where_clause {
        match r {
            Relation::Compare { target, op, value } => {
                let (name, ty) = match target {
                    RelationTarget::Column(c) => {
                        let (name, ty) = col(c)?;
                        match (op, &ty) {
                            (
                                Operator::Contains,
                                CqlType::List { element: e, .. } | CqlType::Set { element: e, .. },
                            ) => (name, (**e).clone()),
                            (
                                Operator::Contains,
                                CqlType::Map {
                                    key: _, value: v, ..
                                },
                            ) => (name, (**v).clone()),
                            (
                                Operator::ContainsKey,
                                CqlType::Map {
                                    key: k, value: _, ..
                                },
                            ) => (name, (**k).clone()),
                            _ => (name, ty),
                        }
                    }
                    RelationTarget::Token(_) => {
                        if let Term::Function { name, args } = value
                            && name.name.as_str().eq_ignore_ascii_case("token")
                        {
                            // token(?, ?): each marker takes its partition key column's type.
                            let keys = crate::data::partition_key_types(table, keyspace);
                            for (i, (a, ty)) in args.iter().zip(&keys).enumerate() {
                                m.term(a, &format!("arg{i}(system.token)"), ty);
                            }
                            continue;
                        }
                        ("partition key token".to_owned(), CqlType::Bigint)
                    }
                    RelationTarget::Tuple(cols) => {
                        let cs = cols.iter().map(&col).collect::<Result<Vec<_>>>()?;
                        if let Term::Tuple(items) = value {
                            for (t, (n, ty)) in items.iter().zip(&cs) {
                                m.term(t, n, ty);
                            }
                            continue;
                        }
                        tuple_marker(&cs)
                    }
                    _ => return Err(unsupported_relation(r)),
                };
                m.term(value, &name, &ty);
            }
            Relation::In { target, values } => {
                let (name, ty) = match target {
                    RelationTarget::Column(c) => col(c)?,
                    RelationTarget::Tuple(cols) => {
                        tuple_marker(&cols.iter().map(&col).collect::<Result<Vec<_>>>()?)
                    }
                    _ => return Err(unsupported_relation(r)),
                };
                match values {
                    InValues::Marker(b) => m.term(
                        &Term::Bind(b.clone()),
                        &format!("in({name})"),
                        &CqlType::list(ty),
                    ),
                    InValues::List(v) => {
                        for t in v {
                            match (t, &ty, target) {
                                (
                                    Term::Tuple(items),
                                    CqlType::Tuple(tys),
                                    RelationTarget::Tuple(cols),
                                ) => {
                                    for ((t, ty), c) in items.iter().zip(tys).zip(cols) {
                                        m.term(t, c.as_str(), ty);
                                    }
                                }
                                _ => m.term(t, &name, &ty),
                            }
                        }
                    }
                }
            }
            Relation::IsNotNull { .. } | Relation::IsNull { .. } => {
                return Err(unsupported_relation(r));
            }
        }
    }
    if let Some(t) = &select.per_partition_limit {
        m.term(t, "[per_partition_limit]", &CqlType::Int);
    }
    if let Some(t) = &select.limit {
        m.term(t, "[limit]", &CqlType::Int);
    }
    m.finish()?;
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

pub(super) fn tuple_marker(cols: &[(String, CqlType)]) -> (String, CqlType) {
    (
        format!(
            "({})",
            cols.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        CqlType::Tuple(cols.iter().map(|(_, t)| t.clone()).collect()),
    )
}
