//! The bind markers' metadata of INSERT, UPDATE and DELETE (what PREPARE answers).

use super::*;
use crate::markers::Markers;

/// The bind markers' columns of a write, in marker order: each marker takes the type of what
/// it gives (a column, an element, an index, a map key, a field, a JSON document).
pub(crate) fn write_marker_columns(
    ks: &Keyspace,
    table: &Table,
    statement: &ilion_cql::language::ast::Statement,
) -> Result<Vec<ColumnSpec>> {
    use ilion_cql::language::ast::Statement;
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let mut out: Vec<(usize, ColumnSpec)> = Vec::new();
    let column_type = |name: &str| -> Result<CqlType> {
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
    let mut m = Markers::new(&spec, &mut out);
    let (using, wheres): (&[UsingParam], &[Relation]) = match statement {
        Statement::Insert(s) => {
            match &s.values {
                InsertValues::Columns { columns, values } => {
                    for (c, v) in columns.iter().zip(values) {
                        m.term(v, c.as_str(), &column_type(c.as_str())?);
                    }
                }
                InsertValues::Json { value, .. } => m.term(value, "[json]", &CqlType::Text),
            }
            (&s.using, &[])
        }
        Statement::Update(s) => {
            for a in &s.assignments {
                let (column, _) = assignment_column(a);
                let name = column.as_str();
                let ty = column_type(name)?;
                let (key_ty, value_ty) = match &ty {
                    CqlType::List { element: e, .. } => (CqlType::Int, (**e).clone()),
                    CqlType::Map {
                        key: k, value: v, ..
                    } => ((**k).clone(), (**v).clone()),
                    CqlType::Set { element: e, .. } => ((**e).clone(), (**e).clone()),
                    other => (other.clone(), other.clone()),
                };
                let key_name = match &ty {
                    CqlType::List { .. } => format!("idx({name})"),
                    _ => format!("key({name})"),
                };
                match a {
                    Assignment::Set { value, .. }
                    | Assignment::Append { value, .. }
                    | Assignment::Prepend { value, .. } => m.term(value, name, &ty),
                    Assignment::Remove { value, .. } => {
                        let ty = match &ty {
                            CqlType::Map { key: k, .. } => CqlType::set((**k).clone()),
                            other => other.clone(),
                        };
                        m.term(value, name, &ty);
                    }
                    Assignment::SetElement { key, value, .. } => {
                        m.term(key, &key_name, &key_ty);
                        m.term(value, &format!("value({name})"), &value_ty);
                    }
                    Assignment::SetField { field, value, .. } => {
                        if let CqlType::Udt(u) = &ty
                            && let Some((_, fty)) =
                                u.fields.iter().find(|(n, _)| n == field.as_str())
                        {
                            m.term(value, &format!("{name}.{}", field.as_str()), fty);
                        }
                    }
                }
            }
            (&s.using, &s.where_clause)
        }
        Statement::Delete(s) => {
            for target in &s.targets {
                if let DeleteTarget::Element { column, key } = target {
                    let name = column.as_str();
                    match column_type(name)? {
                        CqlType::List { .. } => m.term(key, &format!("idx({name})"), &CqlType::Int),
                        CqlType::Map {
                            key: k, value: _, ..
                        }
                        | CqlType::Set { element: k, .. } => {
                            m.term(key, &format!("key({name})"), &k)
                        }
                        _ => {}
                    }
                }
            }
            (&s.using, &s.where_clause)
        }
        _ => (&[], &[]),
    };
    for u in using {
        match u {
            UsingParam::Ttl(t) => m.term(t, "[ttl]", &CqlType::Int),
            UsingParam::Timestamp(t) => m.term(t, "[timestamp]", &CqlType::Bigint),
        }
    }
    for r in wheres {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                value,
                ..
            } => m.term(value, c.as_str(), &column_type(c.as_str())?),
            Relation::In {
                target: RelationTarget::Column(c),
                values,
            } => {
                let ty = column_type(c.as_str())?;
                match values {
                    InValues::List(terms) => {
                        for v in terms {
                            m.term(v, c.as_str(), &ty);
                        }
                    }
                    InValues::Marker(b) => m.term(
                        &Term::Bind(b.clone()),
                        &format!("in({})", c.as_str()),
                        &CqlType::list(ty),
                    ),
                }
            }
            _ => {}
        }
    }
    let condition = match statement {
        Statement::Update(s) => s.condition.as_ref(),
        Statement::Delete(s) => s.condition.as_ref(),
        _ => None,
    };
    if let Some(ilion_cql::language::ast::Condition::Relations(conditions)) = condition {
        for r in conditions {
            condition_markers(&mut m, r, &column_type)?;
        }
    }
    m.finish()?;
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// The markers of one IF condition: the column's value, a map entry's key (`key(m)`) and
/// value (`value(m)`), a list index (`idx(l)`) and element, a UDT field (`a.f`); `IN ?` takes
/// a list of them (`in(c)`).
fn condition_markers(
    m: &mut Markers<'_>,
    r: &Relation,
    column_type: &dyn Fn(&str) -> Result<CqlType>,
) -> Result<()> {
    let (target, value_terms, in_marker) = match r {
        Relation::Compare { target, value, .. } => (target, vec![value], None),
        Relation::In { target, values } => match values {
            InValues::List(terms) => (target, terms.iter().collect(), None),
            InValues::Marker(b) => (target, Vec::new(), Some(b)),
        },
        _ => return Ok(()),
    };
    let (name, ty) = match target {
        RelationTarget::Column(c) => (c.as_str().to_owned(), column_type(c.as_str())?),
        RelationTarget::Element { column, key } => {
            let name = column.as_str();
            match column_type(name)? {
                CqlType::Map {
                    key: k, value: v, ..
                } => {
                    m.term(key, &format!("key({name})"), &k);
                    (format!("value({name})"), *v)
                }
                CqlType::List { element: e, .. } => {
                    m.term(key, &format!("idx({name})"), &CqlType::Int);
                    (format!("value({name})"), *e)
                }
                other => (name.to_owned(), other),
            }
        }
        RelationTarget::Field { column, field } => {
            let name = column.as_str();
            let ty = match column_type(name)? {
                CqlType::Udt(u) => u
                    .fields
                    .iter()
                    .find(|(n, _)| n == field.as_str())
                    .map(|(_, t)| t.clone()),
                _ => None,
            };
            match ty {
                Some(t) => (format!("{name}.{}", field.as_str()), t),
                None => return Ok(()),
            }
        }
        _ => return Ok(()),
    };
    for v in value_terms {
        m.term(v, &name, &ty);
    }
    if let Some(b) = in_marker {
        m.term(
            &Term::Bind(b.clone()),
            &format!("in({name})"),
            &CqlType::list(ty),
        );
    }
    Ok(())
}
