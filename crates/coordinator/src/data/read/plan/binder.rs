//! The binder: a SELECT's column names and terms resolved against the table and the
//! statement's bound values, shared by every part of the planner.

use super::*;
use crate::values::column_value;

/// Resolves the names and terms of one SELECT's restrictions.
pub(super) struct Binder<'a> {
    pub(super) target: &'a Target<'a>,
}

impl<'a> Binder<'a> {
    pub(super) fn new(target: &'a Target<'a>) -> Self {
        Binder { target }
    }

    pub(super) fn table(&self) -> &'a Table {
        self.target.table
    }

    /// The index of column `name` in `table.columns`, and the column.
    pub(super) fn column(&self, name: &str) -> Result<(usize, &'a Column)> {
        let table = self.table();
        table
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Undefined column name {name} in table {}.{}",
                    table.keyspace, table.name
                ))
            })
    }

    /// The CQL type of column `c`.
    pub(super) fn ty(&self, c: &Column) -> CqlType {
        c.ty.column_type(self.target.ks)
    }

    /// The value of `term` for column `name`: unset and null are refused.
    pub(super) fn value(&self, term: &Term, ty: &CqlType, name: &str) -> Result<Value> {
        if self.target.bound.is_unset(term) {
            return Err(Error::invalid(format!(
                "Invalid unset value for column {name}"
            )));
        }
        column_value(term, ty, self.target.bound, name)?.ok_or_else(|| null_in(name))
    }

    /// The values of an IN on column `name`: a list of terms or one bound list.
    pub(super) fn in_values(
        &self,
        values: &InValues,
        ty: &CqlType,
        name: &str,
    ) -> Result<Vec<Value>> {
        match values {
            InValues::List(terms) => terms.iter().map(|x| self.value(x, ty, name)).collect(),
            InValues::Marker(m) => {
                let list_ty = CqlType::list(ty.clone());
                match self.value(&Term::Bind(m.clone()), &list_ty, name)? {
                    Value::List(items) => Ok(items),
                    _ => Err(Error::invalid(format!(
                        "Invalid IN value for column {name}"
                    ))),
                }
            }
        }
    }

    /// The components of a tuple term compared with the columns `cols` of types `tys`.
    pub(super) fn tuple(
        &self,
        term: &Term,
        tys: &[CqlType],
        cols: &[ilion_cql::language::ast::Ident],
    ) -> Result<Vec<Value>> {
        let bound = self.target.bound;
        match term {
            Term::Tuple(items) => {
                if items.len() != tys.len() {
                    return Err(Error::invalid(format!(
                        "Expected {} elements in value tuple, but got {}",
                        tys.len(),
                        items.len()
                    )));
                }
                items
                    .iter()
                    .zip(tys)
                    .zip(cols)
                    .map(|((x, ty), c)| {
                        term_value(x, ty, bound)?.ok_or_else(|| null_in(c.as_str()))
                    })
                    .collect()
            }
            other => {
                let v = term_value(other, &CqlType::Tuple(tys.to_vec()), bound)?
                    .ok_or_else(|| null_in("tuple"))?;
                tuple_components(v, tys.len())
            }
        }
    }
}

pub(super) fn null_in(name: &str) -> Error {
    Error::invalid(format!("Invalid null value in condition for column {name}"))
}

/// The `n` components of a tuple value; a null component is refused.
pub(super) fn tuple_components(v: Value, n: usize) -> Result<Vec<Value>> {
    match v {
        Value::Tuple(items) if items.len() == n => items
            .into_iter()
            .map(|x| x.ok_or_else(|| null_in("tuple component")))
            .collect(),
        _ => Err(Error::invalid(format!("Expected a tuple of {n} elements"))),
    }
}
