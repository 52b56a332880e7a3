//! The selection side of SELECT: selectors (columns, aliases, `writetime`/`ttl`, `token()`,
//! native scalar functions, `CAST`, constants) compiled against a table into a [`Selection`],
//! aggregates (`count`, `min`, `max`, `sum`, `avg`) folded by an [`Aggregator`], and the typed
//! value order ([`compare`]) that filtering, `IN` ordering and `min`/`max` share.
//!
//! Also runs SELECT over rows held in memory (the system tables, [`run`]): equality and IN
//! restrictions on any column, LIMIT and offset paging. Anything else is refused with an
//! Invalid error that names it, never answered wrongly.

use std::cmp::Ordering;

use bytes::Bytes;
use ilion_cql::language::ast::{
    InValues, Literal, Operator, Relation, RelationTarget, Select, Selection as Sel, Selector, Term,
};
use ilion_cql::protocol::{
    ColumnSpec, CqlType, QueryParameters, ResultBody, Rows, RowsMetadata, TableSpec, Value,
};

use crate::schema::types::SchemaType;
use crate::schema::{ColumnKind, Keyspace, Table};
use crate::values::{Bound, encode, term_value};
use crate::{Error, Result};

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
}

impl Row {
    /// A row with no write metadata (the system tables' rows).
    pub(crate) fn plain(values: Vec<Option<Value>>) -> Row {
        let n = values.len();
        Row {
            values,
            cells: vec![None; n],
            token: 0,
        }
    }
}

/// Native scalar functions.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Now,
    Uuid,
    CurrentTimestamp,
    CurrentDate,
    CurrentTime,
    ToTimestamp,
    ToDate,
    ToUnixTimestamp,
    /// `blobAs<type>`: the blob's bytes read as the type.
    BlobAs(CqlType),
    /// `<type>AsBlob`: the value's bytes as a blob.
    AsBlob,
    Cast(CqlType),
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggKind {
    CountStar,
    Count,
    Min,
    Max,
    Sum,
    Avg,
}

/// A compiled selector.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Column(usize),
    WriteTime(usize),
    Ttl(usize),
    Token,
    Const(Option<Value>),
    Call {
        f: Scalar,
        args: Vec<(Expr, CqlType)>,
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
                let cx = Ctx { table, ks };
                for item in items {
                    let (expr, ty, name) = cx.compile(&item.selector, true)?;
                    exprs.push(expr);
                    specs.push(ColumnSpec {
                        table: spec.clone(),
                        name: item.alias.as_ref().map_or(name, |a| a.as_str().to_owned()),
                        ty,
                    });
                }
            }
        }
        let aggregate = exprs.iter().any(|e| matches!(e, Expr::Agg { .. }));
        Ok(Selection {
            exprs,
            specs,
            aggregate,
        })
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
                Expr::Call { args, .. } => args.iter().for_each(|(a, _)| walk(a, out)),
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

    /// The serialized result row.
    pub(crate) fn encode_row(&self, values: &[Option<Value>]) -> Result<Vec<Option<Bytes>>> {
        values
            .iter()
            .zip(&self.specs)
            .map(|(v, s)| v.as_ref().map(|v| encode(&s.ty, v)).transpose())
            .collect()
    }
}

/// Folds the rows of one group into the aggregate selection's one result row. Non-aggregate
/// selectors take their value from the group's first row (as Cassandra does).
#[derive(Debug)]
pub(crate) struct Aggregator<'a> {
    sel: &'a Selection,
    first: Option<Vec<Option<Value>>>,
    accs: Vec<Acc>,
}

#[derive(Debug, Clone)]
enum Acc {
    None,
    Count(i64),
    Extreme(Option<Value>),
    Sum { int: i128, float: f64, n: i64 },
}

impl<'a> Aggregator<'a> {
    pub(crate) fn new(sel: &'a Selection) -> Aggregator<'a> {
        let accs = sel
            .exprs
            .iter()
            .map(|e| match e {
                Expr::Agg {
                    f: AggKind::Count | AggKind::CountStar,
                    ..
                } => Acc::Count(0),
                Expr::Agg {
                    f: AggKind::Min | AggKind::Max,
                    ..
                } => Acc::Extreme(None),
                Expr::Agg { .. } => Acc::Sum {
                    int: 0,
                    float: 0.0,
                    n: 0,
                },
                _ => Acc::None,
            })
            .collect();
        Aggregator {
            sel,
            first: None,
            accs,
        }
    }

    pub(crate) fn add(&mut self, row: &Row) -> Result<()> {
        if self.first.is_none() {
            let mut first = Vec::with_capacity(self.sel.exprs.len());
            for e in &self.sel.exprs {
                first.push(match e {
                    Expr::Agg { .. } => None,
                    e => eval(e, row)?,
                });
            }
            self.first = Some(first);
        }
        for (e, acc) in self.sel.exprs.iter().zip(self.accs.iter_mut()) {
            let Expr::Agg { f, arg } = e else { continue };
            let v = match arg {
                Some(a) => eval(&a.0, row)?,
                None => None,
            };
            match (f, acc) {
                (AggKind::CountStar, Acc::Count(n)) => *n += 1,
                (AggKind::Count, Acc::Count(n)) => *n += i64::from(v.is_some()),
                (AggKind::Min | AggKind::Max, Acc::Extreme(cur)) => {
                    if let Some(v) = v {
                        let replace = match cur {
                            None => true,
                            Some(c) => {
                                let o = compare(&v, c).ok_or_else(|| uncomparable(&v))?;
                                (*f == AggKind::Min) == (o == Ordering::Less)
                                    && o != Ordering::Equal
                            }
                        };
                        if replace {
                            *cur = Some(v);
                        }
                    }
                }
                (AggKind::Sum | AggKind::Avg, Acc::Sum { int, float, n }) => {
                    if let Some(v) = v {
                        *n += 1;
                        match number(&v) {
                            Some(Num::Int(i)) => *int = int.wrapping_add(i),
                            Some(Num::Float(x)) => *float += x,
                            None => return Err(Error::invalid(format!("{v:?} is not a number"))),
                        }
                    }
                }
                _ => return Err(Error::server("aggregate state does not match its function")),
            }
        }
        Ok(())
    }

    /// The group's result row.
    pub(crate) fn finish(self) -> Result<Vec<Option<Value>>> {
        let first = self.first;
        let mut out = Vec::with_capacity(self.sel.exprs.len());
        for (i, (acc, spec)) in self.accs.into_iter().zip(&self.sel.specs).enumerate() {
            out.push(match acc {
                Acc::None => first.as_ref().and_then(|f| f.get(i).cloned().flatten()),
                Acc::Count(n) => Some(Value::Bigint(n)),
                Acc::Extreme(v) => v,
                Acc::Sum { int, float, n } => {
                    let avg = matches!(
                        self.sel.exprs.get(i),
                        Some(Expr::Agg {
                            f: AggKind::Avg,
                            ..
                        })
                    );
                    Some(sum_value(&spec.ty, int, float, n, avg)?)
                }
            });
        }
        Ok(out)
    }
}

enum Num {
    Int(i128),
    Float(f64),
}

fn number(v: &Value) -> Option<Num> {
    Some(match v {
        Value::Int(i) => Num::Int(i128::from(*i)),
        Value::Bigint(i) | Value::Counter(i) => Num::Int(i128::from(*i)),
        Value::Smallint(i) => Num::Int(i128::from(*i)),
        Value::Tinyint(i) => Num::Int(i128::from(*i)),
        Value::Varint(b) => Num::Int(varint_i128(b)?),
        Value::Float(f) => Num::Float(f64::from(*f)),
        Value::Double(f) => Num::Float(*f),
        _ => return None,
    })
}

/// The sum (or average) of `n` values of type `ty`: integers wrap as Cassandra's Java
/// arithmetic does, the average of integers is an integer, and both are 0 over no rows.
fn sum_value(ty: &CqlType, int: i128, float: f64, n: i64, avg: bool) -> Result<Value> {
    let count = i128::from(n.max(1));
    let i = if avg { int / count } else { int };
    let x = if avg && n > 0 {
        float / n as f64
    } else {
        float
    };
    Ok(match ty {
        CqlType::Int => Value::Int(i as i32),
        CqlType::Bigint => Value::Bigint(i as i64),
        CqlType::Counter => Value::Counter(i as i64),
        CqlType::Smallint => Value::Smallint(i as i16),
        CqlType::Tinyint => Value::Tinyint(i as i8),
        CqlType::Varint => Value::Varint(varint_bytes(i)),
        CqlType::Float => Value::Float(x as f32),
        CqlType::Double => Value::Double(x),
        other => {
            return Err(Error::server(format!(
                "no sum over {other} values (refused when compiled)"
            )));
        }
    })
}

/// A two's complement varint as an i128, when it fits.
fn varint_i128(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let neg = b.first().is_some_and(|x| x & 0x80 != 0);
    let mut buf = [if neg { 0xff } else { 0 }; 16];
    buf.get_mut(16 - b.len()..)?.copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

fn varint_bytes(v: i128) -> Bytes {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if !((b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0)) {
            break;
        }
        start += 1;
    }
    Bytes::copy_from_slice(bytes.get(start..).unwrap_or_default())
}

/// Compiling selectors against one table.
struct Ctx<'a> {
    table: &'a Table,
    ks: &'a Keyspace,
}

impl Ctx<'_> {
    fn column(&self, name: &str) -> Result<(usize, CqlType)> {
        let i = self
            .table
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| undefined(name, self.table))?;
        let ty = self
            .table
            .columns
            .get(i)
            .map(|c| c.ty.column_type(self.ks))
            .ok_or_else(|| undefined(name, self.table))?;
        Ok((i, ty))
    }

    fn cell_column(&self, name: &str, what: &str) -> Result<usize> {
        let (i, _) = self.column(name)?;
        let c = self
            .table
            .columns
            .get(i)
            .ok_or_else(|| undefined(name, self.table))?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Cannot use selection function {what} on PRIMARY KEY part {name}"
            )));
        }
        if c.ty.is_multi_cell() {
            return Err(Error::invalid(format!(
                "Cannot use selection function {what} on non-frozen collection or UDT {name}"
            )));
        }
        Ok(i)
    }

    /// The expression, result type and default column name of `s`; `top`: aggregates are
    /// allowed (only as whole selectors).
    fn compile(&self, s: &Selector, top: bool) -> Result<(Expr, CqlType, String)> {
        match s {
            Selector::Column(c) => {
                let (i, ty) = self.column(c.as_str())?;
                Ok((Expr::Column(i), ty, c.as_str().to_owned()))
            }
            Selector::WriteTime(c) | Selector::MaxWriteTime(c) => {
                let what = if matches!(s, Selector::WriteTime(_)) {
                    "writetime"
                } else {
                    "maxwritetime"
                };
                let i = self.cell_column(c.as_str(), what)?;
                Ok((
                    Expr::WriteTime(i),
                    CqlType::Bigint,
                    format!("{what}({})", c.as_str()),
                ))
            }
            Selector::Ttl(c) => {
                let i = self.cell_column(c.as_str(), "ttl")?;
                Ok((Expr::Ttl(i), CqlType::Int, format!("ttl({})", c.as_str())))
            }
            Selector::CountStar if top => Ok((
                Expr::Agg {
                    f: AggKind::CountStar,
                    arg: None,
                },
                CqlType::Bigint,
                "count".to_owned(),
            )),
            Selector::Term(t) => {
                let (v, ty) = constant(t)?;
                Ok((Expr::Const(v), ty, t.to_string()))
            }
            Selector::Cast { selector, ty } => {
                let (e, from, name) = self.compile(selector, false)?;
                let to = native_type(ty).ok_or_else(|| {
                    Error::invalid(format!("CAST to {ty} is not supported (only native types)"))
                })?;
                check_cast(&from, &to)?;
                Ok((
                    Expr::Call {
                        f: Scalar::Cast(to.clone()),
                        args: vec![(e, from)],
                    },
                    to,
                    format!("cast({name} as {})", ty.to_string().to_lowercase()),
                ))
            }
            Selector::Function { name, args } => self.function(name, args, top),
            other => Err(Error::not_supported(&format!(
                "The selector {other} (aggregates nested in functions, arithmetic, UDT fields \
                 and collection elements)"
            ))),
        }
    }

    fn function(
        &self,
        name: &ilion_cql::language::ast::QualifiedName,
        args: &[Selector],
        top: bool,
    ) -> Result<(Expr, CqlType, String)> {
        if let Some(ks) = &name.keyspace
            && !ks.as_str().eq_ignore_ascii_case("system")
        {
            return Err(Error::invalid(format!(
                "Unknown function {}.{} (user-defined functions are not supported by this Ilion \
                 build yet)",
                ks.as_str(),
                name.name.as_str()
            )));
        }
        let fname = name.name.as_str().to_ascii_lowercase();
        if fname == "token" {
            return self.token(args);
        }
        let mut compiled = Vec::new();
        let mut names = Vec::new();
        for a in args {
            let (e, ty, n) = self.compile(a, false)?;
            compiled.push((e, ty));
            names.push(n);
        }
        let display = format!("system.{fname}({})", names.join(", "));
        let arity = |n: usize| -> Result<()> {
            if compiled.len() == n {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "Invalid number of arguments in call to function system.{fname}: {n} \
                     required but {} provided",
                    compiled.len()
                )))
            }
        };
        let arg_ty = compiled.first().map(|(_, t)| t.clone());
        let agg = match fname.as_str() {
            "count" => Some(AggKind::Count),
            "min" => Some(AggKind::Min),
            "max" => Some(AggKind::Max),
            "sum" => Some(AggKind::Sum),
            "avg" => Some(AggKind::Avg),
            _ => None,
        };
        if let Some(f) = agg {
            arity(1)?;
            if !top {
                return Err(Error::not_supported(&format!(
                    "The aggregate {display} inside another function"
                )));
            }
            let ty = arg_ty.unwrap_or(CqlType::Blob);
            let out = match f {
                AggKind::Count => CqlType::Bigint,
                AggKind::Sum | AggKind::Avg => {
                    if !matches!(
                        ty,
                        CqlType::Int
                            | CqlType::Bigint
                            | CqlType::Counter
                            | CqlType::Smallint
                            | CqlType::Tinyint
                            | CqlType::Varint
                            | CqlType::Float
                            | CqlType::Double
                    ) {
                        return Err(Error::invalid(format!(
                            "Invalid call to function {fname}: {ty} is not a numeric type this \
                             Ilion build sums (decimal is not supported yet)"
                        )));
                    }
                    ty.clone()
                }
                _ => ty.clone(),
            };
            let arg = compiled.pop().map(Box::new);
            // `count(1)` and `count(*)` are the same aggregate.
            let f = match (&f, &arg) {
                (AggKind::Count, Some(a)) if matches!(a.0, Expr::Const(Some(_))) => {
                    AggKind::CountStar
                }
                _ => f,
            };
            return Ok((Expr::Agg { f, arg }, out, display));
        }
        let time_arg = |allowed: &[CqlType]| -> Result<()> {
            arity(1)?;
            match &arg_ty {
                Some(t) if allowed.contains(t) => Ok(()),
                Some(t) => Err(Error::invalid(format!(
                    "Type error: {t} cannot be passed as argument 0 of function system.{fname}"
                ))),
                None => Err(Error::server("missing argument")),
            }
        };
        let (f, ty) = match fname.as_str() {
            "now" | "currenttimeuuid" => {
                arity(0)?;
                (Scalar::Now, CqlType::Timeuuid)
            }
            "uuid" => {
                arity(0)?;
                (Scalar::Uuid, CqlType::Uuid)
            }
            "currenttimestamp" => {
                arity(0)?;
                (Scalar::CurrentTimestamp, CqlType::Timestamp)
            }
            "currentdate" => {
                arity(0)?;
                (Scalar::CurrentDate, CqlType::Date)
            }
            "currenttime" => {
                arity(0)?;
                (Scalar::CurrentTime, CqlType::Time)
            }
            "totimestamp" => {
                time_arg(&[CqlType::Timeuuid, CqlType::Date, CqlType::Timestamp])?;
                (Scalar::ToTimestamp, CqlType::Timestamp)
            }
            "dateof" => {
                time_arg(&[CqlType::Timeuuid])?;
                (Scalar::ToTimestamp, CqlType::Timestamp)
            }
            "todate" => {
                time_arg(&[CqlType::Timeuuid, CqlType::Timestamp, CqlType::Date])?;
                (Scalar::ToDate, CqlType::Date)
            }
            "tounixtimestamp" => {
                time_arg(&[CqlType::Timeuuid, CqlType::Timestamp, CqlType::Date])?;
                (Scalar::ToUnixTimestamp, CqlType::Bigint)
            }
            "unixtimestampof" => {
                time_arg(&[CqlType::Timeuuid])?;
                (Scalar::ToUnixTimestamp, CqlType::Bigint)
            }
            other => {
                if let Some(t) = other.strip_prefix("blobas").and_then(native_by_name) {
                    time_arg(&[CqlType::Blob])?;
                    (Scalar::BlobAs(t.clone()), t)
                } else if let Some(t) = other.strip_suffix("asblob").and_then(native_by_name) {
                    time_arg(std::slice::from_ref(&t))?;
                    (Scalar::AsBlob, CqlType::Blob)
                } else {
                    return Err(Error::invalid(format!("Unknown function system.{other}")));
                }
            }
        };
        Ok((Expr::Call { f, args: compiled }, ty, display))
    }

    /// `token(k1, k2)`: the arguments must be the partition key columns in order.
    fn token(&self, args: &[Selector]) -> Result<(Expr, CqlType, String)> {
        let mut keys: Vec<&crate::schema::Column> = self
            .table
            .columns
            .iter()
            .filter(|c| c.kind == ColumnKind::PartitionKey)
            .collect();
        keys.sort_by_key(|c| c.position);
        let given: Vec<&str> = args
            .iter()
            .map(|a| match a {
                Selector::Column(c) => Ok(c.as_str()),
                other => Err(Error::invalid(format!(
                    "The token function only takes the partition key columns, not {other}"
                ))),
            })
            .collect::<Result<_>>()?;
        if given.len() != keys.len() || given.iter().zip(&keys).any(|(g, k)| *g != k.name) {
            return Err(Error::invalid(format!(
                "The token function arguments must be the partition key columns in order: \
                 token({})",
                keys.iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok((
            Expr::Token,
            CqlType::Bigint,
            format!("system.token({})", given.join(", ")),
        ))
    }
}

/// A literal selector and its type (integers are int, floats double, strings text).
fn constant(t: &Term) -> Result<(Option<Value>, CqlType)> {
    let ty = match t {
        Term::TypeHint { ty, .. } => native_type(ty)
            .ok_or_else(|| Error::invalid(format!("Unsupported type hint {ty} in a selector")))?,
        Term::Literal(Literal::Integer(_)) => CqlType::Int,
        Term::Literal(Literal::Float(_)) => CqlType::Double,
        Term::Literal(Literal::String(_)) => CqlType::Text,
        Term::Literal(Literal::Boolean(_)) => CqlType::Boolean,
        Term::Literal(Literal::Uuid(_)) => CqlType::Uuid,
        Term::Literal(Literal::Hex(_)) => CqlType::Blob,
        other => {
            return Err(Error::invalid(format!(
                "Cannot infer the type of the selector {other}; add a type hint"
            )));
        }
    };
    if matches!(t, Term::Bind(_))
        || matches!(t, Term::TypeHint { term, .. } if matches!(**term, Term::Bind(_)))
    {
        return Err(Error::not_supported("Bind markers in selectors"));
    }
    Ok((term_value(t, &ty, &Bound::default())?, ty))
}

/// The native type of a name as in `blobAsInt` (counters and durations have no such
/// functions).
fn native_by_name(name: &str) -> Option<CqlType> {
    CqlType::native(name).filter(|t| !matches!(t, CqlType::Counter | CqlType::Duration))
}

/// The type of a cast or type hint when it is a native type.
fn native_type(ty: &CqlType) -> Option<CqlType> {
    ty.is_native().then(|| ty.clone())
}

fn is_numeric(t: &CqlType) -> bool {
    matches!(
        t,
        CqlType::Int
            | CqlType::Bigint
            | CqlType::Counter
            | CqlType::Smallint
            | CqlType::Tinyint
            | CqlType::Varint
            | CqlType::Float
            | CqlType::Double
    )
}

/// The casts this build performs: numbers to numbers, anything simple to text, and between
/// the time types.
fn check_cast(from: &CqlType, to: &CqlType) -> Result<()> {
    let ok = from == to
        || (is_numeric(from) && is_numeric(to) && *to != CqlType::Counter)
        || (matches!(to, CqlType::Text | CqlType::Ascii)
            && (is_numeric(from)
                || matches!(
                    from,
                    CqlType::Text
                        | CqlType::Ascii
                        | CqlType::Boolean
                        | CqlType::Uuid
                        | CqlType::Timeuuid
                        | CqlType::Inet
                        | CqlType::Timestamp
                        | CqlType::Date
                        | CqlType::Blob
                )))
        || (matches!(from, CqlType::Timeuuid | CqlType::Timestamp | CqlType::Date)
            && matches!(to, CqlType::Timestamp | CqlType::Date));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("{from} cannot be cast to {to}")))
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
        Expr::Call { f, args } => {
            let mut vals = Vec::with_capacity(args.len());
            for (a, ty) in args {
                vals.push((eval(a, row)?, ty));
            }
            call(f, &vals)?
        }
        Expr::Agg { .. } => return Err(Error::server("aggregate evaluated on a single row")),
    })
}

/// 100ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
const UUID_EPOCH_OFFSET: i64 = 0x01B2_1DD2_1381_4000;
const DAY_MILLIS: i64 = 86_400_000;
const DATE_EPOCH: i64 = 1 << 31;

fn now_millis() -> i64 {
    crate::data::now_micros() / 1000
}

/// The Unix milliseconds of a version 1 UUID.
fn timeuuid_millis(u: &[u8; 16]) -> i64 {
    let low = i64::from(u32::from_be_bytes([u[0], u[1], u[2], u[3]]));
    let mid = i64::from(u16::from_be_bytes([u[4], u[5]]));
    let hi = i64::from(u16::from_be_bytes([u[6], u[7]]) & 0x0fff);
    let ts = (hi << 48) | (mid << 32) | low;
    (ts - UUID_EPOCH_OFFSET).div_euclid(10_000)
}

fn new_timeuuid() -> [u8; 16] {
    let ts = (crate::data::now_micros() * 10 + UUID_EPOCH_OFFSET) as u64;
    let mut u = [0u8; 16];
    u[0..4].copy_from_slice(&((ts & 0xffff_ffff) as u32).to_be_bytes());
    u[4..6].copy_from_slice(&(((ts >> 32) & 0xffff) as u16).to_be_bytes());
    u[6..8].copy_from_slice(&((((ts >> 48) & 0x0fff) as u16) | 0x1000).to_be_bytes());
    let tail: [u8; 8] = rand::random();
    u[8..16].copy_from_slice(&tail);
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

fn millis_of(v: &Value) -> Option<i64> {
    Some(match v {
        Value::Timeuuid(u) => timeuuid_millis(u),
        Value::Timestamp(t) => *t,
        Value::Date(d) => (i64::from(*d) - DATE_EPOCH) * DAY_MILLIS,
        _ => return None,
    })
}

fn date_of_millis(ms: i64) -> Value {
    Value::Date(u32::try_from(ms.div_euclid(DAY_MILLIS) + DATE_EPOCH).unwrap_or(0))
}

fn call(f: &Scalar, args: &[(Option<Value>, &CqlType)]) -> Result<Option<Value>> {
    let arg = args.first().and_then(|(v, _)| v.as_ref());
    let arg_ty = args.first().map(|(_, t)| *t);
    Ok(match f {
        Scalar::Now => Some(Value::Timeuuid(new_timeuuid())),
        Scalar::Uuid => Some(Value::Uuid(*uuid::Uuid::new_v4().as_bytes())),
        Scalar::CurrentTimestamp => Some(Value::Timestamp(now_millis())),
        Scalar::CurrentDate => Some(date_of_millis(now_millis())),
        Scalar::CurrentTime => Some(Value::Time(
            (crate::data::now_micros() * 1000).rem_euclid(DAY_MILLIS * 1_000_000),
        )),
        Scalar::ToTimestamp => arg.and_then(millis_of).map(Value::Timestamp),
        Scalar::ToDate => arg.and_then(millis_of).map(date_of_millis),
        Scalar::ToUnixTimestamp => arg.and_then(millis_of).map(Value::Bigint),
        Scalar::BlobAs(ty) => match arg {
            Some(Value::Blob(b)) => Some(ty.decode(b).map_err(|e| {
                Error::invalid(format!("The blob does not hold a valid {ty} value: {e}"))
            })?),
            _ => None,
        },
        Scalar::AsBlob => match (arg, arg_ty) {
            (Some(v), Some(ty)) => Some(Value::Blob(encode(ty, v)?)),
            _ => None,
        },
        Scalar::Cast(to) => match arg {
            Some(v) => Some(cast(v, to)?),
            None => None,
        },
    })
}

fn cast(v: &Value, to: &CqlType) -> Result<Value> {
    if let Some(n) = number(v) {
        let (i, x) = match n {
            Num::Int(i) => (i, i as f64),
            Num::Float(x) => (x as i128, x),
        };
        return Ok(match to {
            CqlType::Int => Value::Int(i as i32),
            CqlType::Bigint => Value::Bigint(i as i64),
            CqlType::Smallint => Value::Smallint(i as i16),
            CqlType::Tinyint => Value::Tinyint(i as i8),
            CqlType::Varint => Value::Varint(varint_bytes(i)),
            CqlType::Float => Value::Float(x as f32),
            CqlType::Double => Value::Double(x),
            CqlType::Text => Value::Text(number_text(v)),
            CqlType::Ascii => Value::Ascii(number_text(v)),
            other => return Err(Error::invalid(format!("{v:?} cannot be cast to {other}"))),
        });
    }
    let text = |s: String| match to {
        CqlType::Ascii => Value::Ascii(s),
        _ => Value::Text(s),
    };
    Ok(match (v, to) {
        (v, CqlType::Timestamp) if millis_of(v).is_some() => {
            Value::Timestamp(millis_of(v).unwrap_or_default())
        }
        (v, CqlType::Date) if millis_of(v).is_some() => {
            date_of_millis(millis_of(v).unwrap_or_default())
        }
        (Value::Text(s) | Value::Ascii(s), _) => text(s.clone()),
        (Value::Boolean(b), _) => text(b.to_string()),
        (Value::Uuid(u) | Value::Timeuuid(u), _) => text(uuid::Uuid::from_bytes(*u).to_string()),
        (Value::Inet(a), _) => text(a.to_string()),
        (Value::Timestamp(t), _) => text(timestamp_text(*t)),
        (Value::Date(d), _) => text(date_text(*d)),
        (Value::Blob(b), _) => text(format!("0x{}", crate::error::hex(b))),
        (v, to) => return Err(Error::invalid(format!("{v:?} cannot be cast to {to}"))),
    })
}

fn number_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) | Value::Counter(i) => i.to_string(),
        Value::Smallint(i) => i.to_string(),
        Value::Tinyint(i) => i.to_string(),
        Value::Varint(b) => varint_i128(b).map_or_else(|| "?".to_owned(), |i| i.to_string()),
        Value::Float(x) => java_float_text(f64::from(*x)),
        Value::Double(x) => java_float_text(*x),
        other => format!("{other:?}"),
    }
}

/// Floats as Java's `toString` writes them for ordinary magnitudes (`1.0`, `2.5`).
fn java_float_text(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e7 {
        format!("{x:.1}")
    } else if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        x.to_string()
    }
}

/// Days since the epoch as a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn date_text(d: u32) -> String {
    let (y, m, day) = civil(i64::from(d) - DATE_EPOCH);
    format!("{y:04}-{m:02}-{day:02}")
}

fn timestamp_text(ms: i64) -> String {
    let (y, m, d) = civil(ms.div_euclid(DAY_MILLIS));
    let in_day = ms.rem_euclid(DAY_MILLIS);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

fn uncomparable(v: &Value) -> Error {
    Error::invalid(format!("Values like {v:?} have no order"))
}

/// The order of two values of one CQL type, as Cassandra's comparators define it; `None` when
/// the type has no order (durations) or the values are of different types.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value as V;
    Some(match (a, b) {
        (V::Empty, V::Empty) => Ordering::Equal,
        (V::Empty, _) => Ordering::Less,
        (_, V::Empty) => Ordering::Greater,
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Bigint(x), V::Bigint(y)) | (V::Counter(x), V::Counter(y)) => x.cmp(y),
        (V::Timestamp(x), V::Timestamp(y)) | (V::Time(x), V::Time(y)) => x.cmp(y),
        (V::Smallint(x), V::Smallint(y)) => x.cmp(y),
        (V::Tinyint(x), V::Tinyint(y)) => x.cmp(y),
        (V::Date(x), V::Date(y)) => x.cmp(y),
        (V::Float(x), V::Float(y)) => x.total_cmp(y),
        (V::Double(x), V::Double(y)) => x.total_cmp(y),
        (V::Boolean(x), V::Boolean(y)) => x.cmp(y),
        (V::Text(x), V::Text(y)) | (V::Ascii(x), V::Ascii(y)) => x.as_bytes().cmp(y.as_bytes()),
        (V::Blob(x), V::Blob(y)) | (V::Custom(x), V::Custom(y)) => x.cmp(y),
        (V::Inet(x), V::Inet(y)) => inet_bytes(x).cmp(&inet_bytes(y)),
        (V::Varint(x), V::Varint(y)) => varint_cmp(x, y),
        (
            V::Decimal {
                scale: sa,
                unscaled: ua,
            },
            V::Decimal {
                scale: sb,
                unscaled: ub,
            },
        ) => decimal_cmp(*sa, ua, *sb, ub)?,
        (V::Timeuuid(x), V::Timeuuid(y)) => timeuuid_cmp(x, y),
        (V::Uuid(x), V::Uuid(y)) => {
            let (vx, vy) = (x[6] >> 4, y[6] >> 4);
            if vx != vy {
                vx.cmp(&vy)
            } else if vx == 1 {
                timeuuid_cmp(x, y)
            } else {
                x.cmp(y)
            }
        }
        (V::List(x), V::List(y)) | (V::Set(x), V::Set(y)) => seq_cmp(x.iter(), y.iter())?,
        (V::Map(x), V::Map(y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                let o = compare(ka, kb)?.then(compare(va, vb)?);
                if o != Ordering::Equal {
                    return Some(o);
                }
            }
            x.len().cmp(&y.len())
        }
        (V::Tuple(x), V::Tuple(y)) => {
            opt_seq_cmp(x.iter().map(Option::as_ref), y.iter().map(Option::as_ref))?
        }
        (V::Udt(x), V::Udt(y)) => opt_seq_cmp(
            x.iter().map(|(_, v)| v.as_ref()),
            y.iter().map(|(_, v)| v.as_ref()),
        )?,
        _ => return None,
    })
}

fn seq_cmp<'a>(
    mut x: impl Iterator<Item = &'a Value>,
    mut y: impl Iterator<Item = &'a Value>,
) -> Option<Ordering> {
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Some(Ordering::Equal),
            (None, Some(_)) => return Some(Ordering::Less),
            (Some(_), None) => return Some(Ordering::Greater),
            (Some(a), Some(b)) => match compare(a, b)? {
                Ordering::Equal => {}
                o => return Some(o),
            },
        }
    }
}

/// Component-wise, a null component before any value, a shorter tuple first.
pub(crate) fn opt_seq_cmp<'a>(
    mut x: impl Iterator<Item = Option<&'a Value>>,
    mut y: impl Iterator<Item = Option<&'a Value>>,
) -> Option<Ordering> {
    loop {
        let o = match (x.next(), y.next()) {
            (None, None) => return Some(Ordering::Equal),
            (None, Some(_)) => return Some(Ordering::Less),
            (Some(_), None) => return Some(Ordering::Greater),
            (Some(None), Some(None)) => Ordering::Equal,
            (Some(None), Some(Some(_))) => Ordering::Less,
            (Some(Some(_)), Some(None)) => Ordering::Greater,
            (Some(Some(a)), Some(Some(b))) => compare(a, b)?,
        };
        if o != Ordering::Equal {
            return Some(o);
        }
    }
}

fn inet_bytes(a: &std::net::IpAddr) -> Vec<u8> {
    match a {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn timeuuid_cmp(x: &[u8; 16], y: &[u8; 16]) -> Ordering {
    let ts = |u: &[u8; 16]| {
        let low = u64::from(u32::from_be_bytes([u[0], u[1], u[2], u[3]]));
        let mid = u64::from(u16::from_be_bytes([u[4], u[5]]));
        let hi = u64::from(u16::from_be_bytes([u[6], u[7]]) & 0x0fff);
        (hi << 48) | (mid << 32) | low
    };
    ts(x).cmp(&ts(y)).then_with(|| x[8..].cmp(&y[8..]))
}

/// Two's complement big-endian integers of any length.
fn varint_cmp(x: &[u8], y: &[u8]) -> Ordering {
    let neg = |b: &[u8]| b.first().is_some_and(|v| v & 0x80 != 0);
    match (neg(x), neg(y)) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let n = x.len().max(y.len());
    let ext = |b: &[u8]| {
        let mut v = vec![if neg(b) { 0xff } else { 0 }; n - b.len()];
        v.extend_from_slice(b);
        v
    };
    ext(x).cmp(&ext(y))
}

fn decimal_cmp(sa: i32, ua: &[u8], sb: i32, ub: &[u8]) -> Option<Ordering> {
    let (a, b) = (varint_i128(ua)?, varint_i128(ub)?);
    let diff = sa.checked_sub(sb)?;
    let pow = |d: i32| 10i128.checked_pow(u32::try_from(d).ok()?);
    if diff >= 0 {
        Some(a.cmp(&b.checked_mul(pow(diff)?)?))
    } else {
        Some(a.checked_mul(pow(-diff)?)?.cmp(&b))
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
            ty: CqlType::Text,
        }]);
    }
    Ok(Selection::compile(select, table, keyspace)?.specs)
}

/// The bind markers' metadata of `select` over `table`: each marker takes the type (and the
/// name) Cassandra gives it.
pub(crate) fn marker_columns(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
) -> Result<Vec<ColumnSpec>> {
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let mk = |name: String, ty: CqlType| ColumnSpec {
        table: spec.clone(),
        name,
        ty,
    };
    let col = |c: &ilion_cql::language::ast::Ident| -> Result<(String, CqlType)> {
        let col = table
            .column(c.as_str())
            .ok_or_else(|| undefined(c.as_str(), table))?;
        Ok((col.name.clone(), col.ty.column_type(keyspace)))
    };
    let mut out = Vec::new();
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
                    RelationTarget::Token(_) => ("partition key token".to_owned(), CqlType::Bigint),
                    RelationTarget::Tuple(cols) => {
                        let cs = cols.iter().map(&col).collect::<Result<Vec<_>>>()?;
                        if let Term::Tuple(items) = value {
                            for (t, (n, ty)) in items.iter().zip(&cs) {
                                if matches!(t, Term::Bind(_)) {
                                    out.push(mk(n.clone(), ty.clone()));
                                }
                            }
                            continue;
                        }
                        tuple_marker(&cs)
                    }
                    _ => return Err(unsupported_relation(r)),
                };
                if let Term::Bind(_) = value {
                    out.push(mk(name, ty));
                }
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
                    InValues::Marker(_) => out.push(mk(format!("in({name})"), CqlType::list(ty))),
                    InValues::List(v) => {
                        for t in v {
                            match (t, &ty, target) {
                                (Term::Bind(_), _, _) => out.push(mk(name.clone(), ty.clone())),
                                (
                                    Term::Tuple(items),
                                    CqlType::Tuple(tys),
                                    RelationTarget::Tuple(cols),
                                ) => {
                                    for ((t, ty), c) in items.iter().zip(tys).zip(cols) {
                                        if matches!(t, Term::Bind(_)) {
                                            out.push(mk(c.as_str().to_owned(), ty.clone()));
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            Relation::IsNotNull { .. } => return Err(unsupported_relation(r)),
        }
    }
    if let Some(Term::Bind(_)) = &select.per_partition_limit {
        out.push(mk("[per_partition_limit]".to_owned(), CqlType::Int));
    }
    if let Some(Term::Bind(_)) = &select.limit {
        out.push(mk("[limit]".to_owned(), CqlType::Int));
    }
    Ok(out)
}

fn tuple_marker(cols: &[(String, CqlType)]) -> (String, CqlType) {
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

/// A strictly positive LIMIT or PER PARTITION LIMIT.
pub(crate) fn limit_value(t: &Term, bound: &Bound, what: &str) -> Result<u32> {
    match term_value(t, &CqlType::Int, bound)? {
        Some(Value::Int(n)) if n > 0 => Ok(n.unsigned_abs()),
        Some(Value::Int(n)) => Err(Error::invalid(format!(
            "{what} must be strictly positive, got {n}"
        ))),
        _ => Err(Error::invalid(format!("Invalid null value of {what}"))),
    }
}

/// Runs `select` (whose compiled selection is `selection`) over `rows` held in memory (values
/// in `table.columns` order): the system tables.
pub(crate) fn run(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
    selection: &Selection,
    rows: &[Vec<Option<Value>>],
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
    // Restrictions: each is a column and the values it may equal.
    let mut filters: Vec<(usize, Vec<Value>)> = Vec::new();
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
                accepted.push(v);
            }
        }
        filters.push((i, accepted));
    }
    let limit = match &select.limit {
        None => usize::MAX,
        Some(t) => limit_value(t, bound, "LIMIT")? as usize,
    };
    let matched: Vec<Row> = rows
        .iter()
        .filter(|row| {
            filters.iter().all(|(i, accepted)| {
                row.get(*i).and_then(Option::as_ref).is_some_and(|v| {
                    accepted
                        .iter()
                        .any(|a| compare(a, v) == Some(Ordering::Equal))
                })
            })
        })
        .map(|r| Row::plain(r.clone()))
        .collect();

    let mut next_page = None;
    let mut out: Vec<Vec<Option<Value>>> = Vec::new();
    if selection.aggregate {
        let mut agg = Aggregator::new(selection);
        for r in &matched {
            agg.add(r)?;
        }
        out.push(agg.finish()?);
    } else {
        let mut matched = matched;
        matched.truncate(limit);
        // Paging: the state is the offset of the next row, so a page can be resumed on any
        // connection (the rows are recomputed in the same order from the live schema).
        let offset = match &params.paging_state {
            None => 0,
            Some(state) => decode_offset_state(state)?,
        };
        let page = params
            .page_size
            .filter(|n| *n > 0)
            .map_or(usize::MAX, |n| n as usize);
        let end = offset.saturating_add(page).min(matched.len());
        if end < matched.len() {
            next_page = Some(encode_offset_state(end));
        }
        for row in matched.iter().take(end).skip(offset) {
            out.push(selection.project(row)?);
        }
    }
    let mut cells = Vec::new();
    for r in &out {
        cells.extend(selection.encode_row(r)?);
    }
    let mut metadata = if skip_metadata {
        // The specs are not sent: not cloned either.
        let mut m = RowsMetadata::new(Vec::new());
        m.column_count = selection.specs.len();
        m.columns = None;
        m.global_table_spec = None;
        m
    } else {
        RowsMetadata::new(selection.specs.clone())
    };
    metadata.paging_state = next_page;
    Ok(ResultBody::Rows(Rows {
        metadata,
        rows_count: out.len(),
        cells,
    }))
}

/// Paging state of an in-memory result: a version byte (1) and the next row's offset
/// (u64 big-endian).
fn encode_offset_state(offset: usize) -> Bytes {
    let mut out = Vec::with_capacity(9);
    out.push(1u8);
    out.extend_from_slice(&(offset as u64).to_be_bytes());
    Bytes::from(out)
}

fn decode_offset_state(state: &[u8]) -> Result<usize> {
    match state {
        [1, rest @ ..] => <[u8; 8]>::try_from(rest)
            .ok()
            .and_then(|b| usize::try_from(u64::from_be_bytes(b)).ok())
            .ok_or_else(|| Error::invalid("Invalid paging state")),
        _ => Err(Error::invalid("Invalid paging state")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let a = new_timeuuid();
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
        assert_eq!(date_text(1 << 31), "1970-01-01");
        assert_eq!(
            timestamp_text(1_299_038_700_123),
            "2011-03-02T04:05:00.123Z"
        );
        let u = new_timeuuid();
        assert!((timeuuid_millis(&u) - now_millis()).abs() < 60_000);
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
