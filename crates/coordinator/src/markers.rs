//! The specs of a statement's bind markers (what PREPARE answers): each marker takes the name
//! and type of where it stands, as Cassandra names them: a column (`v`), a collection
//! literal's element (`value(l)`, `key(m)`), a tuple component (`t[0]`), a UDT field (`u.f`), a
//! function's argument (`arg0(system.blobasint)`).

use ilion_cql::language::ast::Term;
use ilion_cql::protocol::{ColumnSpec, CqlType, TableSpec};

use crate::functions::{self, Arg};
use crate::{Error, Result};

/// Collects the markers of terms with the types their positions give them, as
/// `(marker index, spec)`; the caller sorts them by index.
pub(crate) struct Markers<'s> {
    spec: &'s TableSpec,
    out: &'s mut Vec<(usize, ColumnSpec)>,
    /// The first call whose overload could not be resolved (its markers have no type).
    error: Option<Error>,
}

impl<'s> Markers<'s> {
    pub(crate) fn new(spec: &'s TableSpec, out: &'s mut Vec<(usize, ColumnSpec)>) -> Markers<'s> {
        Markers {
            spec,
            out,
            error: None,
        }
    }

    /// The refusal of a function call met among the terms (ambiguous, unknown, wrong
    /// arguments), as PREPARE answers it.
    pub(crate) fn finish(self) -> Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    /// The markers of `term` standing where a value named `name` of type `ty` goes.
    pub(crate) fn term(&mut self, term: &Term, name: &str, ty: &CqlType) {
        match (term, ty) {
            (Term::Bind(m), _) => self.out.push((
                m.index,
                ColumnSpec {
                    table: self.spec.clone(),
                    name: name.to_owned(),
                    ty: ty.clone(),
                },
            )),
            (Term::TypeHint { term, .. }, _) => self.term(term, name, ty),
            (Term::List(items), CqlType::List { element: e, .. })
            | (Term::List(items), CqlType::Vector { element: e, .. })
            | (Term::Set(items), CqlType::Set { element: e, .. }) => {
                let name = format!("value({name})");
                for i in items {
                    self.term(i, &name, e);
                }
            }
            (
                Term::Map(pairs),
                CqlType::Map {
                    key: k, value: v, ..
                },
            ) => {
                for (kt, vt) in pairs {
                    self.term(kt, &format!("key({name})"), k);
                    self.term(vt, &format!("value({name})"), v);
                }
            }
            (Term::Tuple(items), CqlType::Tuple(types)) => {
                for (i, (item, t)) in items.iter().zip(types).enumerate() {
                    self.term(item, &format!("{name}[{i}]"), t);
                }
            }
            (Term::Udt(fields), CqlType::Udt(u)) => {
                for (f, item) in fields {
                    if let Some((_, t)) = u.fields.iter().find(|(n, _)| n == f.as_str()) {
                        self.term(item, &format!("{name}.{}", f.as_str()), t);
                    }
                }
            }
            (Term::Function { name: f, args }, _)
                if f.name.as_str().eq_ignore_ascii_case("fromjson")
                    || f.name.as_str().eq_ignore_ascii_case("from_json") =>
            {
                let fname = format!("system.{}", f.name.as_str().to_ascii_lowercase());
                for (i, a) in args.iter().enumerate() {
                    self.term(a, &format!("arg{i}({fname})"), &CqlType::Text);
                }
            }
            (Term::Function { name: f, args }, _) if f.keyspace.is_none() => {
                let hints: Vec<Arg<'_>> = args.iter().map(Arg::of_term).collect();
                let shown: Vec<String> = args.iter().map(ToString::to_string).collect();
                match functions::resolve(f.name.as_str(), &hints, &shown, Some(ty)) {
                    Ok(Some(r)) => {
                        for (i, (a, t)) in args.iter().zip(&r.args).enumerate() {
                            self.term(a, &r.arg_name(i), t);
                        }
                    }
                    Ok(None) => {
                        if f.name.as_str().eq_ignore_ascii_case("token") {
                            return;
                        }
                        self.error.get_or_insert_with(|| functions::unknown(f));
                    }
                    Err(e) => {
                        self.error.get_or_insert(e);
                    }
                }
            }
            _ => {}
        }
    }
}
