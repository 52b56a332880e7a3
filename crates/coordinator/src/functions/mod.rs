//! Cassandra's native functions, one catalogue for the values a statement writes or compares
//! (`INSERT ... VALUES (textAsBlob(?))`, `WHERE k = blobAsInt(?)`) and for selectors
//! (`SELECT abs(v), map_keys(m)`): resolving a call against the overloads by its arguments'
//! types (as Cassandra's `FunctionResolver` does, with its messages), and running it.
//!
//! One file per job: this one names the functions and resolves calls, `native` runs them,
//! `arithmetic` holds the operators (`+ - * / %` and negation) and `cast` the `CAST`s.
//! Aggregates, `token()`, `writetime()`/`ttl()` and `fromJson()` need a table or a receiver
//! and stay with their callers.

use ilion_cql::language::ast::{Literal, Term};
use ilion_cql::protocol::{CqlType, Value};

use crate::{Error, Result};

mod arithmetic;
mod cast;
mod decimal;
mod native;

pub(crate) use arithmetic::{operation, operation_type, operator_symbol};
pub(crate) use cast::{cast, check_cast};
pub(crate) use decimal::Decimal;
pub(crate) use native::{Number, number, number_value};

/// A native scalar function, with what its overload needs to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Native {
    Now,
    Uuid,
    CurrentTimestamp,
    CurrentDate,
    CurrentTime,
    ToTimestamp,
    ToDate,
    ToUnixTimestamp,
    MinTimeuuid,
    MaxTimeuuid,
    /// `blobAs<type>`: the blob's bytes read as the type.
    BlobAs(CqlType),
    /// `<type>AsBlob`: the value's bytes as a blob.
    AsBlob(CqlType),
    Abs,
    Exp,
    Log,
    Log10,
    Round,
    MapKeys,
    MapValues,
    CollectionCount,
    CollectionMin,
    CollectionMax,
    CollectionSum,
    CollectionAvg,
    /// `toJson(x)` of a value of the type.
    ToJson(CqlType),
    /// `similarity_*(a, b)` of two float vectors.
    Similarity(Similarity),
}

/// The vector similarities (Lucene's, as Cassandra computes them): each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Similarity {
    Cosine,
    Euclidean,
    DotProduct,
}

/// One overload of a function: its arguments' and its result's types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) f: Native,
    /// `system.<name as called, lowercase>` (Cassandra's `FunctionName`).
    pub(crate) name: String,
    pub(crate) args: Vec<CqlType>,
    pub(crate) ret: CqlType,
}

impl Resolved {
    /// The spec name of argument `i`'s bind marker: `arg0(system.blobasint)`.
    pub(crate) fn arg_name(&self, i: usize) -> String {
        format!("arg{i}({})", self.name)
    }

    /// `system.abs : (int) -> int`, as Cassandra lists signatures.
    fn signature(&self) -> String {
        let args: Vec<String> = self.args.iter().map(ToString::to_string).collect();
        format!("{} : ({}) -> {}", self.name, args.join(", "), self.ret)
    }

    /// Runs the function; a null argument gives null except where Cassandra says otherwise.
    pub(crate) fn execute(&self, args: &[Option<Value>]) -> Result<Option<Value>> {
        native::execute(self, args)
    }
}

/// What resolution knows of one argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    /// A bind marker: any type, checked when bound.
    Marker,
    /// A value of a known type (a column, another selector, a type-hinted term).
    Typed(CqlType),
    /// A literal or collection literal, typed by where it goes.
    Term(&'a Term),
}

impl<'a> Arg<'a> {
    /// The argument `t` of a call in a written or compared value.
    pub(crate) fn of_term(t: &'a Term) -> Arg<'a> {
        match t {
            Term::Bind(_) => Arg::Marker,
            Term::TypeHint { ty, .. } => Arg::Typed(ty.clone()),
            Term::Function { name, args } if name.keyspace.is_none() => {
                let inner: Vec<Arg<'_>> = args.iter().map(Arg::of_term).collect();
                match resolve(name.name.as_str(), &inner, &[], None) {
                    Ok(Some(r)) => Arg::Typed(r.ret),
                    _ => Arg::Term(t),
                }
            }
            other => Arg::Term(other),
        }
    }
}

/// How well an argument fits a parameter type (Cassandra's `AssignmentTestable.TestResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Exact,
    Weak,
    No,
}

/// Whether a value of `given` may be used where `receiver` is expected (Cassandra's
/// `isValueCompatibleWith` for the native types).
pub(crate) fn value_compatible(receiver: &CqlType, given: &CqlType) -> bool {
    receiver == given
        || matches!(
            (receiver, given),
            (CqlType::Text, CqlType::Ascii)
                | (CqlType::Blob, _)
                | (CqlType::Bigint, CqlType::Timestamp)
                | (
                    CqlType::Varint,
                    CqlType::Int | CqlType::Bigint | CqlType::Smallint | CqlType::Tinyint
                )
        )
}

/// The type a literal takes when nothing else says (Cassandra's preferred type).
pub(crate) fn preferred(l: &Literal) -> Option<CqlType> {
    Some(match l {
        Literal::String(_) => CqlType::Text,
        Literal::Integer(i) if i.parse::<i32>().is_ok() => CqlType::Int,
        Literal::Integer(i) if i.parse::<i64>().is_ok() => CqlType::Bigint,
        Literal::Integer(_) => CqlType::Varint,
        Literal::Float(_) => CqlType::Double,
        Literal::Boolean(_) => CqlType::Boolean,
        Literal::Hex(_) => CqlType::Blob,
        Literal::Uuid(_) => CqlType::Uuid,
        Literal::Duration(_) => CqlType::Duration,
        Literal::Null => return None,
    })
}

fn fit(arg: &Arg<'_>, ty: &CqlType) -> Fit {
    match arg {
        Arg::Marker => Fit::Weak,
        Arg::Typed(t) if t == ty => Fit::Exact,
        Arg::Typed(t) if value_compatible(ty, t) => Fit::Weak,
        Arg::Typed(_) => Fit::No,
        Arg::Term(Term::Literal(Literal::Null)) => Fit::Weak,
        Arg::Term(Term::Literal(l)) => {
            if preferred(l).as_ref() == Some(ty) {
                Fit::Exact
            } else if crate::values::literal_value(l, ty).is_ok() {
                Fit::Weak
            } else {
                Fit::No
            }
        }
        Arg::Term(t) => {
            let shape_fits = match (t, ty) {
                (Term::List(_), CqlType::List { .. } | CqlType::Vector { .. })
                | (Term::Set(_), CqlType::Set { .. })
                | (Term::Map(_), CqlType::Map { .. } | CqlType::Udt(_))
                | (Term::Tuple(_), CqlType::Tuple(_))
                | (Term::Udt(_), CqlType::Udt(_))
                | (Term::Function { .. }, _) => true,
                (Term::Map(p), CqlType::Set { .. }) => p.is_empty(),
                _ => false,
            };
            if shape_fits { Fit::Weak } else { Fit::No }
        }
    }
}

/// An overload before it is named: the function, its parameters' and its result's types.
type Overload = (Native, Vec<CqlType>, CqlType);

/// The numeric types of the math functions, in Cassandra's declaration order.
const NUMERIC: [CqlType; 9] = [
    CqlType::Tinyint,
    CqlType::Smallint,
    CqlType::Int,
    CqlType::Float,
    CqlType::Bigint,
    CqlType::Double,
    CqlType::Varint,
    CqlType::Decimal,
    CqlType::Counter,
];

pub(crate) fn is_numeric(t: &CqlType) -> bool {
    NUMERIC.contains(t)
}

/// The native type of a type name as in `blobAsInt` / `blob_as_int`.
fn native_by_name(name: &str) -> Option<CqlType> {
    CqlType::native(name)
}

/// The overloads of the function called `lname` (lowercase, without keyspace) given its
/// arguments (the generic collection functions and `toJson` take their argument's type);
/// `None` for an unknown name.
fn candidates(lname: &str, args: &[Arg<'_>]) -> Result<Option<Vec<Overload>>> {
    use CqlType as T;
    let one = |f: Native, a: T, r: T| vec![(f, vec![a], r)];
    let none = |f: Native, r: T| vec![(f, vec![], r)];
    let first_type = || match args.first() {
        Some(Arg::Typed(t)) => Some(t.clone()),
        _ => None,
    };
    Ok(Some(match lname {
        "now" | "currenttimeuuid" | "current_timeuuid" => none(Native::Now, T::Timeuuid),
        "uuid" => none(Native::Uuid, T::Uuid),
        "currenttimestamp" | "current_timestamp" => none(Native::CurrentTimestamp, T::Timestamp),
        "currentdate" | "current_date" => none(Native::CurrentDate, T::Date),
        "currenttime" | "current_time" => none(Native::CurrentTime, T::Time),
        "totimestamp" | "to_timestamp" => vec![
            (Native::ToTimestamp, vec![T::Timeuuid], T::Timestamp),
            (Native::ToTimestamp, vec![T::Date], T::Timestamp),
        ],
        "todate" | "to_date" => vec![
            (Native::ToDate, vec![T::Timeuuid], T::Date),
            (Native::ToDate, vec![T::Timestamp], T::Date),
        ],
        "tounixtimestamp" | "to_unix_timestamp" => vec![
            (Native::ToUnixTimestamp, vec![T::Timeuuid], T::Bigint),
            (Native::ToUnixTimestamp, vec![T::Timestamp], T::Bigint),
            (Native::ToUnixTimestamp, vec![T::Date], T::Bigint),
        ],
        "mintimeuuid" | "min_timeuuid" => one(Native::MinTimeuuid, T::Timestamp, T::Timeuuid),
        "maxtimeuuid" | "max_timeuuid" => one(Native::MaxTimeuuid, T::Timestamp, T::Timeuuid),
        "abs" | "exp" | "log" | "log10" | "round" => {
            let f = match lname {
                "abs" => Native::Abs,
                "exp" => Native::Exp,
                "log" => Native::Log,
                "log10" => Native::Log10,
                _ => Native::Round,
            };
            NUMERIC
                .iter()
                .map(|t| (f.clone(), vec![t.clone()], t.clone()))
                .collect()
        }
        "map_keys" | "map_values" | "collection_count" | "collection_min" | "collection_max"
        | "collection_sum" | "collection_avg" => {
            let Some(t) = first_type() else {
                if args.len() != 1 {
                    return Err(Error::invalid(format!(
                        "Invalid number of arguments for function system.{lname}([{}])",
                        args.len()
                    )));
                }
                return Err(Error::invalid(format!(
                    "Cannot infer type of argument {} in call to function system.{lname}",
                    match args.first() {
                        Some(Arg::Term(t)) => t.to_string(),
                        _ => "?".to_owned(),
                    }
                )));
            };
            collection_overload(lname, t)?
        }
        "similarity_cosine" | "similarity_euclidean" | "similarity_dot_product" => {
            vec![similarity_overload(lname, args)?]
        }
        "tojson" | "to_json" => match first_type() {
            Some(t) => one(Native::ToJson(t.clone()), t, T::Text),
            None if args.len() != 1 => {
                return Err(Error::invalid(format!(
                    "toJson() only accepts one argument (got {})",
                    args.len()
                )));
            }
            None => {
                return Err(Error::invalid(
                    "toJson() may only be used within the selection clause of SELECT statements",
                ));
            }
        },
        other => {
            let conversion = other
                .strip_prefix("blobas")
                .or_else(|| other.strip_prefix("blob_as_"))
                .and_then(native_by_name)
                .map(|t| one(Native::BlobAs(t.clone()), T::Blob, t))
                .or_else(|| {
                    other
                        .strip_suffix("asblob")
                        .or_else(|| other.strip_suffix("_as_blob"))
                        .and_then(native_by_name)
                        .map(|t| one(Native::AsBlob(t.clone()), t, T::Blob))
                });
            match conversion {
                Some(c) => c,
                None => return Ok(None),
            }
        }
    }))
}

/// The overload of a vector similarity: both arguments float vectors of one dimension.
fn similarity_overload(lname: &str, args: &[Arg<'_>]) -> Result<Overload> {
    if args.len() != 2 {
        return Err(Error::invalid(format!(
            "{lname}() requires two arguments, but {} given",
            args.len()
        )));
    }
    let typed: Vec<&CqlType> = args
        .iter()
        .filter_map(|a| match a {
            Arg::Typed(t) => Some(t),
            _ => None,
        })
        .collect();
    let Some(first) = typed.first() else {
        return Err(Error::invalid(format!(
            "Cannot infer type of argument {} in call to function system.{lname}",
            match args.first() {
                Some(Arg::Term(t)) => t.to_string(),
                _ => "?".to_owned(),
            }
        )));
    };
    let float_vector =
        |t: &CqlType| matches!(t, CqlType::Vector { element, .. } if **element == CqlType::Float);
    if !typed.iter().all(|t| float_vector(t)) {
        return Err(Error::invalid(format!(
            "Only float vectors are supported by {lname}"
        )));
    }
    if typed.iter().any(|t| t != first) {
        return Err(Error::invalid(
            "All arguments must have the same vector dimensions",
        ));
    }
    let kind = match lname {
        "similarity_cosine" => Similarity::Cosine,
        "similarity_euclidean" => Similarity::Euclidean,
        _ => Similarity::DotProduct,
    };
    let t = (*first).clone();
    Ok((Native::Similarity(kind), vec![t.clone(), t], CqlType::Float))
}

/// The one overload of a collection function for an argument of type `t`.
fn collection_overload(lname: &str, t: CqlType) -> Result<Vec<Overload>> {
    let bad = || {
        Error::invalid(format!(
            "Function system.{lname} requires a {} argument, but found argument of type {t}",
            match lname {
                "map_keys" | "map_values" => "map",
                "collection_count" => "collection",
                _ => "set or list",
            }
        ))
    };
    let element = match &t {
        CqlType::List { element, .. } | CqlType::Set { element, .. } => Some((**element).clone()),
        _ => None,
    };
    let (f, ret) = match lname {
        "map_keys" | "map_values" => {
            let CqlType::Map { key, value, .. } = &t else {
                return Err(bad());
            };
            if lname == "map_keys" {
                (Native::MapKeys, CqlType::set((**key).clone()))
            } else {
                (Native::MapValues, CqlType::list((**value).clone()))
            }
        }
        "collection_count" => {
            if element.is_none() && !matches!(t, CqlType::Map { .. }) {
                return Err(bad());
            }
            (Native::CollectionCount, CqlType::Int)
        }
        "collection_min" | "collection_max" => {
            let e = element.ok_or_else(bad)?;
            let f = if lname == "collection_min" {
                Native::CollectionMin
            } else {
                Native::CollectionMax
            };
            (f, e)
        }
        _ => {
            let e = element.ok_or_else(bad)?;
            if !is_numeric(&e) || e == CqlType::Counter {
                return Err(Error::invalid(format!(
                    "Function system.{lname} requires a numeric set/list argument, but found \
                     argument of type {t}"
                )));
            }
            let f = if lname == "collection_sum" {
                Native::CollectionSum
            } else {
                Native::CollectionAvg
            };
            (f, e)
        }
    };
    Ok(vec![(f, vec![t], ret)])
}

/// Resolves a call of the native function `name` (as written, any case) with `args` (shown as
/// `shown` in messages); `receiver`: the type the result goes into, when known. `None`: no
/// such function. Errors are Cassandra's: wrong arity, an argument of the wrong type, no or
/// several matching overloads.
pub(crate) fn resolve(
    name: &str,
    args: &[Arg<'_>],
    shown: &[String],
    receiver: Option<&CqlType>,
) -> Result<Option<Resolved>> {
    let lname = name.to_ascii_lowercase();
    let Some(cands) = candidates(&lname, args)? else {
        return Ok(None);
    };
    let full = format!("system.{lname}");
    let make = |(f, a, r): (Native, Vec<CqlType>, CqlType)| Resolved {
        f,
        name: full.clone(),
        args: a,
        ret: r,
    };
    let shown_arg = |i: usize| {
        shown.get(i).cloned().unwrap_or_else(|| match args.get(i) {
            Some(Arg::Term(t)) => t.to_string(),
            Some(Arg::Typed(t)) => t.to_string(),
            _ => "?".to_owned(),
        })
    };
    let mut cands: Vec<Resolved> = cands.into_iter().map(make).collect();
    if cands.len() == 1 {
        let Some(r) = cands.pop() else {
            return Ok(None);
        };
        if r.args.len() != args.len() {
            return Err(Error::invalid(format!(
                "Invalid number of arguments in call to function {}: {} required but {} provided",
                r.name,
                r.args.len(),
                args.len()
            )));
        }
        for (i, (a, t)) in args.iter().zip(&r.args).enumerate() {
            if fit(a, t) == Fit::No {
                return Err(Error::invalid(format!(
                    "Type error: {} cannot be passed as argument {i} of function {} of type {t}",
                    shown_arg(i),
                    r.name
                )));
            }
        }
        return Ok(Some(r));
    }
    let all = cands
        .iter()
        .map(Resolved::signature)
        .collect::<Vec<_>>()
        .join(", ");
    let mut compatible = Vec::new();
    for r in cands {
        if receiver.is_some_and(|rt| !value_compatible(rt, &r.ret)) || r.args.len() != args.len() {
            continue;
        }
        let fits: Vec<Fit> = args.iter().zip(&r.args).map(|(a, t)| fit(a, t)).collect();
        if fits.contains(&Fit::No) {
            continue;
        }
        if fits.iter().all(|f| *f == Fit::Exact) {
            return Ok(Some(r));
        }
        compatible.push(r);
    }
    match compatible.len() {
        0 => Err(Error::invalid(format!(
            "Invalid call to function {full}, none of its type signatures match (known type \
             signatures: {all})"
        ))),
        1 => Ok(compatible.pop()),
        _ => Err(Error::invalid(format!(
            "Ambiguous call to function {full} (can be matched by following signatures: {}): use \
             type casts to disambiguate",
            compatible
                .iter()
                .map(Resolved::signature)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The message of a call to a function that does not exist (`name` as written).
pub(crate) fn unknown(name: &ilion_cql::language::ast::QualifiedName) -> Error {
    Error::invalid(format!("Unknown function {name} called"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Term {
        Term::Literal(Literal::Integer(s.to_owned()))
    }

    #[test]
    fn a_marker_argument_takes_the_one_overloads_parameter_type() {
        let r = resolve("blobAsInt", &[Arg::Marker], &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(r.args, vec![CqlType::Blob]);
        assert_eq!(r.ret, CqlType::Int);
        assert_eq!(r.arg_name(0), "arg0(system.blobasint)");
        let r = resolve("int_as_blob", &[Arg::Marker], &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(r.args, vec![CqlType::Int]);
        assert_eq!(r.name, "system.int_as_blob");
    }

    #[test]
    fn overloads_are_chosen_by_exact_match_and_ambiguity_is_refused() {
        let one = lit("1");
        let r = resolve("abs", &[Arg::Term(&one)], &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(r.ret, CqlType::Int);
        let r = resolve("abs", &[Arg::Typed(CqlType::Double)], &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(r.ret, CqlType::Double);
        let e = resolve("abs", &[Arg::Marker], &["?".into()], None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Ambiguous call to function system.abs (can be matched by"),
            "{e}"
        );
        let r = resolve("abs", &[Arg::Marker], &[], Some(&CqlType::Bigint))
            .unwrap()
            .unwrap();
        assert_eq!(r.args, vec![CqlType::Bigint]);
    }

    #[test]
    fn wrong_arity_and_types_get_cassandras_messages() {
        let e = resolve("now", &[Arg::Marker], &[], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid number of arguments in call to function system.now: 0 required but 1 provided"
        );
        let e = resolve(
            "intAsBlob",
            &[Arg::Typed(CqlType::Text)],
            &["t".into()],
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Type error: t cannot be passed as argument 0 of function system.intasblob of type int"
        );
        let e = resolve(
            "totimestamp",
            &[Arg::Typed(CqlType::Int)],
            &["v".into()],
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid call to function system.totimestamp, none of its type signatures match \
             (known type signatures: system.totimestamp : (timeuuid) -> timestamp, \
             system.totimestamp : (date) -> timestamp)"
        );
        assert!(resolve("nosuch", &[], &[], None).unwrap().is_none());
    }

    #[test]
    fn collection_functions_take_their_arguments_type() {
        let m = CqlType::map(CqlType::Text, CqlType::Int);
        let r = resolve("map_keys", &[Arg::Typed(m.clone())], &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(r.ret, CqlType::set(CqlType::Text));
        let e = resolve("collection_min", &[Arg::Typed(m)], &["m".into()], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Function system.collection_min requires a set or list argument, but found argument \
             of type map<text, int>"
        );
    }
}
