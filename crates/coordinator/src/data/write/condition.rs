//! The IF clause of a conditional write (Cassandra's `ColumnCondition`): checked against the
//! row's current values, which the lightweight transaction read under its Paxos promise.
//!
//! `IF EXISTS` / `IF NOT EXISTS` test the row (the static row when the statement names no
//! clustering key); `IF c op v AND ...` compare a column, a map entry or list element
//! (`c[k]`), or a user type's field (`c.f`) with `= != < <= > >=`, `IN`, `IS NULL` and
//! `IS NOT NULL`. A missing value is null: `= null` holds, an ordering comparison with it
//! does not (and comparing with a null value given in the statement is an error, as in
//! Cassandra).

use std::cmp::Ordering;

use ilion_cql::language::ast::Condition;
use ilion_types::compare_values;

use super::*;

/// The IF clause of one statement, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check<'s> {
    Exists,
    NotExists,
    Columns(&'s [Relation]),
}

impl<'s> Check<'s> {
    pub(crate) fn of(condition: &'s Condition) -> Check<'s> {
        match condition {
            Condition::Exists => Check::Exists,
            Condition::Relations(r) => Check::Columns(r),
        }
    }

    /// The columns a failed check shows, in IF order without repeats; `None`: every column
    /// (EXISTS and NOT EXISTS).
    pub(crate) fn columns(&self) -> Option<Vec<&'s str>> {
        let Check::Columns(relations) = self else {
            return None;
        };
        let mut out: Vec<&str> = Vec::new();
        for r in *relations {
            if let Ok(name) = column_of(r)
                && !out.contains(&name)
            {
                out.push(name);
            }
        }
        Some(out)
    }

    /// Refuses what Cassandra refuses at preparation: conditions on key columns, on unknown
    /// columns, and operators conditions do not take.
    pub(crate) fn validate(&self, t: &Target<'_>) -> Result<()> {
        let Check::Columns(relations) = self else {
            return Ok(());
        };
        for r in *relations {
            let c = t.column(column_of(r)?)?;
            if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
                return Err(Error::invalid(format!(
                    "PRIMARY KEY column '{}' cannot have IF conditions",
                    c.name
                )));
            }
            if let Relation::Compare { op, .. } = r
                && matches!(
                    op,
                    Operator::Like | Operator::Contains | Operator::ContainsKey
                )
            {
                return Err(Error::invalid(format!(
                    "Unsupported operator {} in the condition on column {}",
                    operator_text(*op),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// Whether the check holds for the row: whether it `exists`, and its current `values`
    /// (one per table column, null when absent; static columns' even when the row is not).
    pub(crate) fn holds(
        &self,
        t: &Target<'_>,
        exists: bool,
        values: &[Option<Value>],
    ) -> Result<bool> {
        let relations = match self {
            Check::Exists => return Ok(exists),
            Check::NotExists => return Ok(!exists),
            Check::Columns(r) => *r,
        };
        for r in relations {
            let column = t.column(column_of(r)?)?;
            let index = t
                .table
                .columns
                .iter()
                .position(|c| c.name == column.name)
                .ok_or_else(|| Error::server("a column outside its table"))?;
            let ty = column.ty.column_type(t.ks);
            let value = values.get(index).cloned().flatten();
            if !holds_one(t, r, &ty, value.as_ref())? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn operator_text(op: Operator) -> &'static str {
    match op {
        Operator::Eq => "=",
        Operator::Ne => "!=",
        Operator::Lt => "<",
        Operator::Le => "<=",
        Operator::Gt => ">",
        Operator::Ge => ">=",
        Operator::Like => "LIKE",
        Operator::Contains => "CONTAINS",
        Operator::ContainsKey => "CONTAINS KEY",
    }
}

fn column_of(r: &Relation) -> Result<&str> {
    match r {
        Relation::Compare { target, .. } | Relation::In { target, .. } => match target {
            RelationTarget::Column(c)
            | RelationTarget::Element { column: c, .. }
            | RelationTarget::Field { column: c, .. } => Ok(c.as_str()),
            RelationTarget::Tuple(_) | RelationTarget::Token(_) => Err(Error::Syntax {
                message: format!("line 1:0 no viable alternative at input '{r}' in an IF clause"),
            }),
        },
        Relation::IsNotNull { column } | Relation::IsNull { column } => Ok(column.as_str()),
    }
}

/// The type and current value of what `target` names in a column of type `ty` holding
/// `value`: the column itself, a map entry or list element, or a UDT field.
fn element(
    t: &Target<'_>,
    target: &RelationTarget,
    ty: &CqlType,
    value: Option<&Value>,
) -> Result<(CqlType, Option<Value>)> {
    match target {
        RelationTarget::Element { column, key } => match ty {
            CqlType::Map {
                key: kt, value: vt, ..
            } => {
                let k = term_value(key, kt, t.bound)?.ok_or_else(|| {
                    Error::invalid(format!(
                        "Invalid null value for map element access of {column}"
                    ))
                })?;
                let found = match value {
                    Some(Value::Map(entries)) => {
                        let mut found = None;
                        for (ek, ev) in entries {
                            if compare_values(kt, ek, &k).is_ok_and(|o| o == Ordering::Equal) {
                                found = Some(ev.clone());
                                break;
                            }
                        }
                        found
                    }
                    _ => None,
                };
                Ok(((**vt).clone(), found))
            }
            CqlType::List { element: et, .. } => {
                let index = match term_value(key, &CqlType::Int, t.bound)? {
                    Some(Value::Int(i)) => i,
                    _ => {
                        return Err(Error::invalid(format!(
                            "Invalid null value for list element access of {column}"
                        )));
                    }
                };
                let found = match (value, usize::try_from(index)) {
                    (Some(Value::List(items)), Ok(i)) => items.get(i).cloned(),
                    _ => None,
                };
                Ok(((**et).clone(), found))
            }
            _ => Err(Error::invalid(format!(
                "Invalid element access syntax for non-collection column {column}"
            ))),
        },
        RelationTarget::Field { column, field } => match ty {
            CqlType::Udt(u) => {
                let Some((_, fty)) = u.fields.iter().find(|(n, _)| n == field.as_str()) else {
                    return Err(Error::invalid(format!(
                        "Unknown field {field} in the condition on column {column}"
                    )));
                };
                let found = match value {
                    Some(Value::Udt(fields)) => fields
                        .iter()
                        .find(|(n, _)| n == field.as_str())
                        .and_then(|(_, v)| v.clone()),
                    _ => None,
                };
                Ok((fty.clone(), found))
            }
            _ => Err(Error::invalid(format!(
                "Invalid field selection: {column} of type {ty} is not a user type"
            ))),
        },
        _ => Ok((ty.clone(), value.cloned())),
    }
}

fn equal(ty: &CqlType, a: Option<&Value>, b: Option<&Value>) -> Result<bool> {
    Ok(match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            compare_values(ty, a, b).map_err(|e| Error::invalid(e.to_string()))? == Ordering::Equal
        }
        _ => false,
    })
}

fn holds_one(t: &Target<'_>, r: &Relation, ty: &CqlType, value: Option<&Value>) -> Result<bool> {
    match r {
        Relation::IsNull { .. } => Ok(value.is_none()),
        Relation::IsNotNull { .. } => Ok(value.is_some()),
        Relation::In { target, values } => {
            let (ety, current) = element(t, target, ty, value)?;
            let candidates: Vec<Option<Value>> = match values {
                InValues::List(terms) => terms
                    .iter()
                    .map(|term| term_value(term, &ety, t.bound))
                    .collect::<Result<_>>()?,
                InValues::Marker(m) => {
                    match term_value(&Term::Bind(m.clone()), &CqlType::list(ety.clone()), t.bound)?
                    {
                        Some(Value::List(items)) => items.into_iter().map(Some).collect(),
                        _ => {
                            return Err(Error::invalid("Invalid null list in IN condition"));
                        }
                    }
                }
            };
            for c in &candidates {
                if equal(&ety, current.as_ref(), c.as_ref())? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Relation::Compare {
            target,
            op,
            value: term,
        } => {
            let (ety, current) = element(t, target, ty, value)?;
            let given = term_value(term, &ety, t.bound)?;
            match op {
                Operator::Eq => equal(&ety, current.as_ref(), given.as_ref()),
                Operator::Ne => Ok(!equal(&ety, current.as_ref(), given.as_ref())?),
                Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => {
                    let Some(given) = given else {
                        return Err(Error::invalid(format!(
                            "Invalid comparison with null for operator \"{}\"",
                            operator_text(*op)
                        )));
                    };
                    let Some(current) = current else {
                        return Ok(false);
                    };
                    let order = compare_values(&ety, &current, &given)
                        .map_err(|e| Error::invalid(e.to_string()))?;
                    Ok(match op {
                        Operator::Lt => order == Ordering::Less,
                        Operator::Le => order != Ordering::Greater,
                        Operator::Gt => order == Ordering::Greater,
                        _ => order != Ordering::Less,
                    })
                }
                Operator::Like | Operator::Contains | Operator::ContainsKey => Err(Error::invalid(
                    format!("Unsupported operator {} in a condition", operator_text(*op)),
                )),
            }
        }
    }
}
