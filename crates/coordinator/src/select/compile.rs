//! Compiling selectors against one table: names, aliases, `writetime`/`ttl`, `token()`,
//! functions, casts and constants typed as Cassandra types them.

use super::*;

/// Compiling selectors against one table.
pub(super) struct Ctx<'a> {
    pub(super) table: &'a Table,
    pub(super) ks: &'a Keyspace,
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
    pub(super) fn compile(&self, s: &Selector, top: bool) -> Result<(Expr, CqlType, String)> {
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
pub(super) fn constant(t: &Term) -> Result<(Option<Value>, CqlType)> {
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
pub(super) fn native_by_name(name: &str) -> Option<CqlType> {
    CqlType::native(name).filter(|t| !matches!(t, CqlType::Counter | CqlType::Duration))
}

/// The type of a cast or type hint when it is a native type.
pub(super) fn native_type(ty: &CqlType) -> Option<CqlType> {
    ty.is_native().then(|| ty.clone())
}

pub(super) fn is_numeric(t: &CqlType) -> bool {
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
pub(super) fn check_cast(from: &CqlType, to: &CqlType) -> Result<()> {
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
