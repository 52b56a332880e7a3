//! Compiling selectors against one table: names, aliases, `writetime`/`ttl`, `token()`,
//! functions, casts and constants typed as Cassandra types them.

use super::*;
use crate::functions::{Arg, check_cast, is_numeric, operation_type};

/// Compiling selectors against one table.
pub(super) struct Ctx<'a> {
    pub(super) table: &'a Table,
    pub(super) ks: &'a Keyspace,
    pub(super) spec: TableSpec,
    /// The specs of the bind markers met so far, by marker index.
    pub(super) markers: std::cell::RefCell<Vec<(usize, ColumnSpec)>>,
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
                let name = t.to_string();
                let ty = term_type(t)?;
                let e = self.term_expr(t, &ty, &name, None)?;
                Ok((e, ty, name))
            }
            Selector::Cast { selector, ty } => {
                let (e, from, name) = self.compile(selector, false)?;
                let to = native_type(ty).ok_or_else(|| {
                    Error::invalid(format!("CAST to {ty} is not supported (only native types)"))
                })?;
                // A cast to the selector's own type is no cast (Cassandra ignores it).
                if from == to {
                    return Ok((e, from, name));
                }
                check_cast(&from, &to, &name)?;
                Ok((
                    Expr::Cast {
                        to: to.clone(),
                        arg: Box::new(e),
                    },
                    to,
                    format!("cast({name} as {})", ty.to_string().to_lowercase()),
                ))
            }
            Selector::Function { name, args } => self.function(name, args, top),
            Selector::Arithmetic { op, lhs, rhs } => self.arithmetic(*op, lhs, rhs),
            Selector::Negate(inner) => {
                let (e, ty, name) = self.compile(inner, false)?;
                if !is_numeric(&ty) {
                    return Err(Error::invalid(format!(
                        "Invalid call to function system._negate, none of its type signatures \
                         match (the argument -{name} is of type {ty})"
                    )));
                }
                let ty = if ty == CqlType::Counter {
                    CqlType::Bigint
                } else {
                    ty
                };
                Ok((
                    Expr::Negate {
                        ty: ty.clone(),
                        arg: Box::new(e),
                    },
                    ty,
                    format!("-{name}"),
                ))
            }
            Selector::Field { selector, field } => {
                let (e, ty, name) = self.compile(selector, false)?;
                let CqlType::Udt(u) = &ty else {
                    return Err(Error::invalid(format!(
                        "Invalid field selection: {name} of type {ty} is not a user type"
                    )));
                };
                let (index, fty) = u
                    .fields
                    .iter()
                    .enumerate()
                    .find(|(_, (n, _))| n == field.as_str())
                    .map(|(i, (_, t))| (i, t.clone()))
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "{name} of type {ty} has no field {}",
                            field.as_str()
                        ))
                    })?;
                Ok((
                    Expr::Field {
                        of: Box::new(e),
                        index,
                    },
                    fty,
                    format!("{name}.{}", field.as_str()),
                ))
            }
            Selector::Element { selector, key } => {
                let (e, ty, name) = self.compile(selector, false)?;
                let (key_ty, out_ty) = subscript_types(&ty, &name, "Element")?;
                let shown = format!("{name}[{key}]");
                let k = self.term_expr(key, &key_ty, &format!("key({name})"), None)?;
                Ok((
                    Expr::Element {
                        of: Box::new(e),
                        key: Box::new(k),
                    },
                    out_ty,
                    shown,
                ))
            }
            Selector::Slice { selector, from, to } => {
                let (e, ty, name) = self.compile(selector, false)?;
                let (key_ty, _) = subscript_types(&ty, &name, "Slice")?;
                let bound = |t: &Option<Term>| -> Result<Option<Box<Expr>>> {
                    t.as_ref()
                        .map(|t| {
                            self.term_expr(t, &key_ty, &format!("key({name})"), None)
                                .map(Box::new)
                        })
                        .transpose()
                };
                let shown =
                    |t: &Option<Term>| t.as_ref().map_or_else(String::new, ToString::to_string);
                let column = format!("{name}[{}..{}]", shown(from), shown(to));
                Ok((
                    Expr::Slice {
                        of: Box::new(e),
                        from: bound(from)?,
                        to: bound(to)?,
                    },
                    ty,
                    column,
                ))
            }
            Selector::CountStar => Err(Error::invalid(
                "COUNT(*) is an aggregate and cannot be used inside another selector",
            )),
        }
    }

    /// A term of type `ty` as an expression: a constant, or (with bind markers) a term bound
    /// when the statement runs, whose markers are named `marker_name`. `function`: the call
    /// it is an argument of (for the refusal of an unset value).
    fn term_expr(
        &self,
        t: &Term,
        ty: &CqlType,
        marker_name: &str,
        function: Option<&str>,
    ) -> Result<Expr> {
        let before = self.markers.borrow().len();
        {
            let mut markers = self.markers.borrow_mut();
            let mut m = crate::markers::Markers::new(&self.spec, &mut markers);
            m.term(t, marker_name, ty);
            m.finish()?;
        }
        if self.markers.borrow().len() == before && !has_marker(t) {
            return Ok(Expr::Const(term_value(t, ty, &Bound::default())?));
        }
        Ok(Expr::Term {
            term: t.clone(),
            ty: ty.clone(),
            function: function.map(str::to_owned),
        })
    }

    fn arithmetic(
        &self,
        op: ilion_cql::language::ast::ArithOp,
        lhs: &Selector,
        rhs: &Selector,
    ) -> Result<(Expr, CqlType, String)> {
        // A literal operand has its own type (`1` is an int, `1.5` a double), as in
        // Cassandra's resolution of the operator's overloads; a bare marker fits several.
        let bare_marker = |s: &Selector| matches!(s, Selector::Term(Term::Bind(_)));
        if bare_marker(lhs) || bare_marker(rhs) {
            return Err(Error::invalid(format!(
                "Ambiguous '{}' operation: use type casts to disambiguate",
                crate::functions::operator_symbol(op)
            )));
        }
        let l = self.compile(lhs, false)?;
        let r = self.compile(rhs, false)?;
        let ret = operation_type(op, &l.1, &r.1, (&l.2, &r.2))?;
        let name = format!("{} {} {}", l.2, crate::functions::operator_symbol(op), r.2);
        Ok((
            Expr::Op {
                op,
                types: (l.1, r.1),
                ret: ret.clone(),
                lhs: Box::new(l.0),
                rhs: Box::new(r.0),
            },
            ret,
            name,
        ))
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
                "Unknown function '{}.{}'",
                ks.as_str(),
                name.name.as_str()
            )));
        }
        let fname = name.name.as_str().to_ascii_lowercase();
        if fname == "token" {
            return self.token(args);
        }
        if fname == "fromjson" || fname == "from_json" {
            return Err(Error::invalid(
                "fromJson() cannot be used in the selection clause of a SELECT statement",
            ));
        }
        // Terms are typed by the parameter they go to; everything else is compiled first.
        let mut compiled: Vec<Option<(Expr, CqlType, String)>> = Vec::with_capacity(args.len());
        for a in args {
            compiled.push(match a {
                Selector::Term(t) if !matches!(t, Term::TypeHint { .. }) => None,
                other => Some(self.compile(other, false)?),
            });
        }
        let names: Vec<String> = args
            .iter()
            .zip(&compiled)
            .map(|(a, c)| c.as_ref().map_or_else(|| a.to_string(), |c| c.2.clone()))
            .collect();
        let display = format!("system.{fname}({})", names.join(", "));
        let agg = match fname.as_str() {
            "count" => Some(AggKind::Count),
            "min" => Some(AggKind::Min),
            "max" => Some(AggKind::Max),
            "sum" => Some(AggKind::Sum),
            "avg" => Some(AggKind::Avg),
            _ => None,
        };
        if let Some(f) = agg {
            return self.aggregate(f, &fname, args, compiled, display, top);
        }
        let hints: Vec<Arg<'_>> = args
            .iter()
            .zip(&compiled)
            .map(|(a, c)| match (a, c) {
                (_, Some((_, ty, _))) => Arg::Typed(ty.clone()),
                (Selector::Term(t), None) => Arg::of_term(t),
                _ => Arg::Marker,
            })
            .collect();
        let r = crate::functions::resolve(&fname, &hints, &names, None)?
            .ok_or_else(|| Error::invalid(format!("Unknown function '{}'", name.name.as_str())))?;
        let mut exprs = Vec::with_capacity(args.len());
        for (i, ((a, c), ty)) in args.iter().zip(compiled).zip(&r.args).enumerate() {
            exprs.push(match (a, c) {
                (_, Some((e, _, _))) => e,
                (Selector::Term(t), None) => self.term_expr(t, ty, &r.arg_name(i), Some(&fname))?,
                _ => return Err(Error::server("an argument was neither compiled nor a term")),
            });
        }
        let ret = r.ret.clone();
        Ok((Expr::Call { f: r, args: exprs }, ret, display))
    }

    /// An aggregate call (`count`, `min`, `max`, `sum`, `avg`) of one argument.
    fn aggregate(
        &self,
        f: AggKind,
        fname: &str,
        args: &[Selector],
        mut compiled: Vec<Option<(Expr, CqlType, String)>>,
        display: String,
        top: bool,
    ) -> Result<(Expr, CqlType, String)> {
        if compiled.len() != 1 {
            return Err(Error::invalid(format!(
                "Invalid number of arguments in call to function system.{fname}: 1 required but \
                 {} provided",
                compiled.len()
            )));
        }
        if !top {
            return Err(Error::not_supported(&format!(
                "The aggregate {display} inside another function"
            )));
        }
        let arg = match (compiled.pop().flatten(), args.first()) {
            (Some((e, ty, _)), _) => (e, ty),
            (None, Some(Selector::Term(t))) => {
                let ty = term_type(t)?;
                (self.term_expr(t, &ty, &t.to_string(), Some(fname))?, ty)
            }
            _ => return Err(Error::server("an aggregate's argument was not compiled")),
        };
        let ty = arg.1.clone();
        let out = match f {
            AggKind::Count => CqlType::Bigint,
            AggKind::Sum | AggKind::Avg => {
                if !is_numeric(&ty) {
                    return Err(Error::invalid(format!(
                        "Invalid call to function system.{fname}, none of its type signatures \
                         match: {ty} is not a number"
                    )));
                }
                ty.clone()
            }
            _ => ty.clone(),
        };
        // `count(1)` and `count(*)` are the same aggregate.
        let f = match (&f, &arg.0) {
            (AggKind::Count, Expr::Const(Some(_))) => AggKind::CountStar,
            _ => f,
        };
        Ok((
            Expr::Agg {
                f,
                arg: Some(Box::new(arg)),
            },
            out,
            display,
        ))
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

/// The type of a term standing alone in a selector: a literal's preferred type (integers
/// are int, floats double, strings text) or its type hint. A bind marker needs a hint.
pub(super) fn term_type(t: &Term) -> Result<CqlType> {
    Ok(match t {
        Term::TypeHint { ty, .. } => native_type(ty)
            .ok_or_else(|| Error::invalid(format!("Unsupported type hint {ty} in a selector")))?,
        Term::Literal(l) if !matches!(l, Literal::Null) => crate::functions::preferred(l)
            .ok_or_else(|| Error::server("a literal has no preferred type"))?,
        other => {
            return Err(Error::invalid(format!(
                "Cannot infer type for term {other} in selection clause (try using a cast to \
                 force a type)"
            )));
        }
    })
}

/// The key and element types of a set or map `name` of type `ty` subscripted by an element
/// or slice selection (`what`); lists and other types are refused in Cassandra's words.
fn subscript_types(ty: &CqlType, name: &str, what: &str) -> Result<(CqlType, CqlType)> {
    match ty {
        CqlType::Map { key, value, .. } => Ok(((**key).clone(), (**value).clone())),
        CqlType::Set { element, .. } => Ok(((**element).clone(), (**element).clone())),
        CqlType::List { .. } => Err(Error::invalid(format!(
            "{what} selection is only allowed on sets and maps, but {name} is a list"
        ))),
        other => Err(Error::invalid(format!(
            "Invalid {} selection: {name} is of type {other} is not a collection",
            what.to_lowercase()
        ))),
    }
}

/// Whether `t` holds a bind marker anywhere.
fn has_marker(t: &Term) -> bool {
    match t {
        Term::Bind(_) => true,
        Term::TypeHint { term, .. } => has_marker(term),
        Term::List(items) | Term::Set(items) | Term::Tuple(items) => items.iter().any(has_marker),
        Term::Map(pairs) => pairs.iter().any(|(k, v)| has_marker(k) || has_marker(v)),
        Term::Udt(fields) => fields.iter().any(|(_, v)| has_marker(v)),
        Term::Function { args, .. } => args.iter().any(has_marker),
        Term::Literal(_) => false,
    }
}

/// The type of a cast or type hint when it is a native type.
pub(super) fn native_type(ty: &CqlType) -> Option<CqlType> {
    ty.is_native().then(|| ty.clone())
}
