//! The selection side of SELECT: selectors (columns, aliases, `writetime`/`ttl`, `token()`,
//! native scalar functions, `CAST`, constants) compiled against a table into a [`Selection`]
//! and evaluated per row. One file per job: `compile` (selectors against a table),
//! `functions` (scalar functions and casts), `aggregate` (the [`Aggregator`]), `metadata`
//! (what PREPARE answers) and `memory` (SELECT over the system tables' rows held in memory);
//! values compare with `ilion_types::compare_untyped`.

use std::cmp::Ordering;

use bytes::Bytes;
use ilion_cql::language::ast::{
    ArithOp, InValues, Literal, Operator, Relation, RelationTarget, Select, Selection as Sel,
    Selector, Term,
};
use ilion_cql::protocol::{
    ColumnSpec, CqlType, QueryParameters, ResultBody, Rows, RowsMetadata, TableSpec, Value,
};

use ilion_types::compare_untyped;
#[cfg(test)]
use ilion_types::text::{self, varint_bytes};

use crate::functions::{Number, Resolved, cast, number, number_value};
use crate::schema::types::SchemaType;
use crate::schema::{ColumnKind, Keyspace, Table};
use crate::values::{Bound, encode, term_value};
use crate::{Error, Result};

mod aggregate;
mod compile;
mod memory;
mod metadata;

use aggregate::AggKind;
pub(crate) use aggregate::Aggregator;
use compile::Ctx;
pub(crate) use memory::run;
pub(crate) use metadata::{marker_columns, result_columns};

/// The write time and remaining TTL of a stored cell (for `writetime()` and `ttl()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellMeta {
    /// Microseconds, as written.
    pub(crate) timestamp: i64,
    /// Seconds left to live; `None` without a TTL.
    pub(crate) ttl: Option<i32>,
}

/// One row as the selection sees it: values in `table.columns` order, the write metadata of
/// each non-key cell, and the partition's token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) values: Vec<Option<Value>>,
    pub(crate) cells: Vec<Option<CellMeta>>,
    pub(crate) token: i64,
    /// The stored bytes of the columns that are one stored value (key columns, simple and
    /// frozen cells), by column; empty for rows that were never stored. A selected column is
    /// answered with these bytes, not re-encoded from its value.
    pub(crate) stored: Vec<Option<Bytes>>,
}

/// A result cell before serialization: a computed value, or the bytes of a stored cell that
/// are returned unchanged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Projected {
    Value(Value),
    Stored(Bytes),
}

impl Row {
    /// A row with no write metadata (the system tables' rows).
    pub(crate) fn plain(values: Vec<Option<Value>>) -> Row {
        let n = values.len();
        Row {
            values,
            cells: vec![None; n],
            token: 0,
            stored: Vec::new(),
        }
    }
}

/// A compiled selector.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Column(usize),
    WriteTime(usize),
    Ttl(usize),
    Token,
    Const(Option<Value>),
    /// A term with bind markers, of type `ty`: a constant once the statement's values are
    /// bound ([`Selection::bind`]); `function`: the call it is an argument of.
    Term {
        term: Term,
        ty: CqlType,
        function: Option<String>,
    },
    Call {
        f: Resolved,
        args: Vec<Expr>,
    },
    Cast {
        to: CqlType,
        arg: Box<Expr>,
    },
    Op {
        op: ArithOp,
        types: (CqlType, CqlType),
        ret: CqlType,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Negate {
        ty: CqlType,
        arg: Box<Expr>,
    },
    /// A map's value for a key, or a set's element if present.
    Element {
        of: Box<Expr>,
        key: Box<Expr>,
    },
    /// The elements of a set (entries of a map) between two inclusive bounds.
    Slice {
        of: Box<Expr>,
        from: Option<Box<Expr>>,
        to: Option<Box<Expr>>,
    },
    /// A UDT's field by position.
    Field {
        of: Box<Expr>,
        index: usize,
    },
    /// An aggregate; only at the top level of a selector.
    Agg {
        f: AggKind,
        arg: Option<Box<(Expr, CqlType)>>,
    },
}

/// The compiled selection of a SELECT: one expression per result column.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    exprs: Vec<Expr>,
    specs: Vec<ColumnSpec>,
    /// The specs of the bind markers in the selectors, by marker index.
    markers: Vec<(usize, ColumnSpec)>,
    /// Whether the selection aggregates rows (then every row of a group folds into one).
    pub(crate) aggregate: bool,
}

impl Selection {
    /// Compiles the selection of `select` over `table`.
    pub(crate) fn compile(select: &Select, table: &Table, ks: &Keyspace) -> Result<Selection> {
        let spec = TableSpec {
            keyspace: table.keyspace.clone(),
            table: table.name.clone(),
        };
        let mut exprs = Vec::new();
        let mut specs = Vec::new();
        let mut markers = Vec::new();
        match &select.selection {
            Sel::Wildcard => {
                for (i, c) in table.columns.iter().enumerate() {
                    exprs.push(Expr::Column(i));
                    specs.push(ColumnSpec {
                        table: spec.clone(),
                        name: c.name.clone(),
                        ty: c.ty.column_type(ks),
                    });
                }
            }
            Sel::Items(items) => {
                let cx = Ctx {
                    table,
                    ks,
                    spec: spec.clone(),
                    markers: std::cell::RefCell::new(Vec::new()),
                };
                for item in items {
                    let (expr, ty, name) = cx.compile(&item.selector, true)?;
                    exprs.push(expr);
                    specs.push(ColumnSpec {
                        table: spec.clone(),
                        name: item.alias.as_ref().map_or(name, |a| a.as_str().to_owned()),
                        ty,
                    });
                }
                markers = cx.markers.into_inner();
            }
        }
        markers.sort_by_key(|(i, _)| *i);
        let aggregate = exprs.iter().any(|e| matches!(e, Expr::Agg { .. }));
        Ok(Selection {
            exprs,
            specs,
            markers,
            aggregate,
        })
    }

    /// The specs of the selectors' bind markers, in marker order.
    pub(crate) fn marker_specs(&self) -> impl Iterator<Item = &(usize, ColumnSpec)> {
        self.markers.iter()
    }

    /// The selection with the statement's bound values in place of its markers; `None` when
    /// it has no markers (the compiled selection serves as is).
    pub(crate) fn bind(&self, bound: &Bound) -> Result<Option<Selection>> {
        fn walk(e: &mut Expr, bound: &Bound) -> Result<()> {
            match e {
                Expr::Term { term, ty, function } => {
                    if bound.is_unset(term) {
                        return Err(match function {
                            Some(f) => crate::values::unset_argument(f),
                            None => Error::invalid(format!("Invalid unset value for {term}")),
                        });
                    }
                    *e = Expr::Const(term_value(term, ty, bound)?);
                }
                Expr::Call { args, .. } => {
                    for a in args {
                        walk(a, bound)?;
                    }
                }
                Expr::Cast { arg: a, .. } | Expr::Negate { arg: a, .. } => walk(a, bound)?,
                Expr::Op { lhs, rhs, .. } => {
                    walk(lhs, bound)?;
                    walk(rhs, bound)?;
                }
                Expr::Element { of, key } => {
                    walk(of, bound)?;
                    walk(key, bound)?;
                }
                Expr::Field { of, .. } => walk(of, bound)?,
                Expr::Slice { of, from, to } => {
                    walk(of, bound)?;
                    for b in [from, to].into_iter().flatten() {
                        walk(b, bound)?;
                    }
                }
                Expr::Agg { arg: Some(a), .. } => walk(&mut a.0, bound)?,
                _ => {}
            }
            Ok(())
        }
        if self.markers.is_empty() {
            return Ok(None);
        }
        let mut out = self.clone();
        for e in &mut out.exprs {
            walk(e, bound)?;
        }
        out.markers.clear();
        Ok(Some(out))
    }

    /// The result columns.
    pub(crate) fn specs(&self) -> &[ColumnSpec] {
        &self.specs
    }

    /// The indexes of the table columns the selection reads directly (DISTINCT checks them).
    pub(crate) fn columns_read(&self) -> Vec<usize> {
        fn walk(e: &Expr, out: &mut Vec<usize>) {
            match e {
                Expr::Column(i) | Expr::WriteTime(i) | Expr::Ttl(i) => out.push(*i),
                Expr::Call { args, .. } => args.iter().for_each(|a| walk(a, out)),
                Expr::Cast { arg: a, .. }
                | Expr::Negate { arg: a, .. }
                | Expr::Field { of: a, .. } => walk(a, out),
                Expr::Op { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
                Expr::Element { of, key } => {
                    walk(of, out);
                    walk(key, out);
                }
                Expr::Slice { of, .. } => walk(of, out),
                Expr::Agg { arg: Some(a), .. } => walk(&a.0, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        self.exprs.iter().for_each(|e| walk(e, &mut out));
        out
    }

    /// The result row of a non-aggregate selection over `row`.
    pub(crate) fn project(&self, row: &Row) -> Result<Vec<Option<Value>>> {
        self.exprs.iter().map(|e| eval(e, row)).collect()
    }

    /// The columns whose decoded values the selection reads (as a function's or an
    /// aggregate's argument, or any column of an aggregate selection); a column selected
    /// plainly is answered with its stored bytes and needs no value.
    pub(crate) fn columns_needing_values(&self) -> Vec<usize> {
        let aggregate = self.exprs.iter().any(|e| matches!(e, Expr::Agg { .. }));
        if aggregate {
            return self.columns_read();
        }
        // Every column an expression other than a plain column reads.
        let inner = Selection {
            exprs: self
                .exprs
                .iter()
                .filter(|e| !matches!(e, Expr::Column(_)))
                .cloned()
                .collect(),
            ..self.clone()
        };
        inner.columns_read()
    }

    /// The result row of a non-aggregate selection over `row`, a selected stored column as
    /// its stored bytes.
    pub(crate) fn project_stored(&self, row: &Row) -> Result<Vec<Option<Projected>>> {
        self.exprs
            .iter()
            .map(|e| {
                if let Expr::Column(i) = e
                    && let Some(Some(b)) = row.stored.get(*i)
                {
                    return Ok(Some(Projected::Stored(b.clone())));
                }
                Ok(eval(e, row)?.map(Projected::Value))
            })
            .collect()
    }

    /// The serialized result row of projected cells.
    pub(crate) fn encode_projected(
        &self,
        values: &[Option<Projected>],
    ) -> Result<Vec<Option<Bytes>>> {
        values
            .iter()
            .zip(&self.specs)
            .map(|(v, s)| match v {
                None => Ok(None),
                Some(Projected::Stored(b)) => Ok(Some(b.clone())),
                Some(Projected::Value(v)) => encode(&s.ty, v).map(Some),
            })
            .collect()
    }

    /// The serialized result row.
    pub(crate) fn encode_row(&self, values: &[Option<Value>]) -> Result<Vec<Option<Bytes>>> {
        values
            .iter()
            .zip(&self.specs)
            .map(|(v, s)| v.as_ref().map(|v| encode(&s.ty, v)).transpose())
            .collect()
    }
}

fn eval(e: &Expr, row: &Row) -> Result<Option<Value>> {
    Ok(match e {
        Expr::Column(i) => row.values.get(*i).cloned().flatten(),
        Expr::WriteTime(i) => row
            .cells
            .get(*i)
            .copied()
            .flatten()
            .map(|m| Value::Bigint(m.timestamp)),
        Expr::Ttl(i) => row
            .cells
            .get(*i)
            .copied()
            .flatten()
            .and_then(|m| m.ttl)
            .map(Value::Int),
        Expr::Token => Some(Value::Bigint(row.token)),
        Expr::Const(v) => v.clone(),
        Expr::Term { .. } => {
            return Err(Error::server("a selector's bind marker was not bound"));
        }
        Expr::Call { f, args } => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, row)?);
            }
            f.execute(&vals)?
        }
        Expr::Cast { to, arg } => match eval(arg, row)? {
            Some(v) => Some(cast(&v, to)?),
            None => None,
        },
        Expr::Op {
            op,
            types,
            ret,
            lhs,
            rhs,
        } => {
            let (l, r) = (eval(lhs, row)?, eval(rhs, row)?);
            crate::functions::operation(*op, (&types.0, &types.1), ret, l.as_ref(), r.as_ref())?
        }
        Expr::Negate { ty, arg } => match eval(arg, row)? {
            Some(v) => {
                let n = number(&v).ok_or_else(|| Error::invalid("Invalid negation operand"))?;
                let negated = match n {
                    Number::Int(i) => Number::Int(i.wrapping_neg()),
                    Number::Float(x) => Number::Float(-x),
                    Number::Decimal(d) => Number::Decimal(crate::functions::Decimal {
                        unscaled: d.unscaled.wrapping_neg(),
                        scale: d.scale,
                    }),
                };
                Some(number_value(ty, negated)?)
            }
            None => None,
        },
        Expr::Element { of, key } => match (eval(of, row)?, eval(key, row)?) {
            (Some(Value::Map(entries)), Some(k)) => entries
                .into_iter()
                .find(|(ek, _)| compare_untyped(ek, &k) == Some(Ordering::Equal))
                .map(|(_, v)| v),
            (Some(Value::Set(items)), Some(k)) => items
                .into_iter()
                .find(|e| compare_untyped(e, &k) == Some(Ordering::Equal)),
            _ => None,
        },
        Expr::Slice { of, from, to } => {
            let bound = |b: &Option<Box<Expr>>| -> Result<Option<Value>> {
                match b {
                    Some(e) => eval(e, row),
                    None => Ok(None),
                }
            };
            let (lo, hi) = (bound(from)?, bound(to)?);
            // A key is kept when it is within both bounds (a missing bound is open).
            let within = |k: &Value| -> bool {
                let above = lo
                    .as_ref()
                    .is_none_or(|l| compare_untyped(k, l).is_some_and(|o| o != Ordering::Less));
                let below = hi
                    .as_ref()
                    .is_none_or(|h| compare_untyped(k, h).is_some_and(|o| o != Ordering::Greater));
                above && below
            };
            match eval(of, row)? {
                Some(Value::Map(entries)) => Some(Value::Map(
                    entries.into_iter().filter(|(k, _)| within(k)).collect(),
                )),
                Some(Value::Set(items)) => Some(Value::Set(
                    items.into_iter().filter(|k| within(k)).collect(),
                )),
                _ => None,
            }
        }
        Expr::Field { of, index } => match eval(of, row)? {
            Some(Value::Udt(fields)) => fields.into_iter().nth(*index).and_then(|(_, v)| v),
            _ => None,
        },
        Expr::Agg { .. } => return Err(Error::server("aggregate evaluated on a single row")),
    })
}

fn uncomparable(v: &Value) -> Error {
    Error::invalid(format!("Values like {v:?} have no order"))
}

fn undefined(name: &str, table: &Table) -> Error {
    Error::invalid(format!(
        "Undefined column name {name} in table {}.{}",
        table.keyspace, table.name
    ))
}

fn unsupported_relation(r: &Relation) -> Error {
    Error::invalid(format!(
        "Restriction {r} is not supported by this Ilion build yet"
    ))
}

/// A LIMIT or PER PARTITION LIMIT: strictly positive; an unset marker is no limit (as
/// Cassandra reads both, with its messages).
pub(crate) fn limit_value(t: &Term, bound: &Bound) -> Result<Option<u32>> {
    if bound.is_unset(t) {
        return Ok(None);
    }
    match term_value(t, &CqlType::Int, bound)? {
        Some(Value::Int(n)) if n > 0 => Ok(Some(n.unsigned_abs())),
        Some(_) => Err(Error::invalid("LIMIT must be strictly positive")),
        None => Err(Error::invalid("Invalid null value of limit")),
    }
}

#[cfg(test)]
mod tests {
    use ilion_types::compare_untyped as compare;

    use super::*;
    use aggregate::sum_value;

    #[test]
    fn values_order_as_cassandra_compares_them() {
        assert_eq!(
            compare(
                &Value::Varint(varint_bytes(-300)),
                &Value::Varint(varint_bytes(2))
            ),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(
                &Value::Varint(varint_bytes(300)),
                &Value::Varint(varint_bytes(2))
            ),
            Some(Ordering::Greater)
        );
        let dec = |scale, v| Value::Decimal {
            scale,
            unscaled: varint_bytes(v),
        };
        assert_eq!(compare(&dec(1, 10), &dec(0, 1)), Some(Ordering::Equal));
        assert_eq!(compare(&dec(2, 150), &dec(0, 1)), Some(Ordering::Greater));
        assert_eq!(
            compare(&Value::Text("a".into()), &Value::Int(1)),
            None,
            "values of different types have no order"
        );
        let a = crate::values::next_timeuuid();
        let mut later = a;
        later[3] = later[3].wrapping_add(1);
        if later[3] != 0 {
            assert_eq!(
                compare(&Value::Timeuuid(a), &Value::Timeuuid(later)),
                Some(Ordering::Less)
            );
        }
    }

    #[test]
    fn time_functions_agree_on_the_epoch_and_calendar() {
        assert_eq!(text::date_text(1 << 31), "1970-01-01");
        assert_eq!(
            text::timestamp_iso_text(1_299_038_700_123),
            "2011-03-02T04:05:00.123Z"
        );
        let u = crate::values::next_timeuuid();
        assert!((text::timeuuid_millis(&u) - crate::data::now_micros() / 1000).abs() < 60_000);
        assert_eq!(u[6] >> 4, 1, "now() makes version 1 UUIDs");
    }

    #[test]
    fn sums_of_integers_wrap_and_averages_of_integers_are_integers() {
        assert_eq!(
            sum_value(&CqlType::Int, i128::from(i32::MAX) + 1, 0.0, 2, false).unwrap(),
            Value::Int(i32::MIN)
        );
        assert_eq!(
            sum_value(&CqlType::Int, 7, 0.0, 2, true).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            sum_value(&CqlType::Double, 0, 0.0, 0, true).unwrap(),
            Value::Double(0.0)
        );
    }
}
