//! Terms (values written in a statement) and relations (WHERE and IF clauses).

use super::{BindMarker, CqlType, Ident, QualifiedName};

/// A constant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// A string, unescaped.
    String(String),
    /// An integer, as written, sign included (`-42`).
    Integer(String),
    /// A float as written (`1.5`, `-2e10`), or `NaN`, `Infinity`, `-Infinity`.
    Float(String),
    Boolean(bool),
    /// A blob as written, `0x` included.
    Hex(String),
    /// A UUID as written.
    Uuid(String),
    /// A duration as written (`1h30m`, `-P1DT2H`).
    Duration(String),
    Null,
}

/// A value in a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    Literal(Literal),
    Bind(BindMarker),
    List(Vec<Term>),
    Set(Vec<Term>),
    /// `{k: v, ...}`; `{}` is an empty map (Cassandra coerces it to an empty set as needed).
    Map(Vec<(Term, Term)>),
    Tuple(Vec<Term>),
    /// A user-defined type literal `{field: value, ...}`.
    Udt(Vec<(Ident, Term)>),
    /// A function call: `now()`, `token(?)`, `ks.f(1, 'a')`.
    Function {
        name: QualifiedName,
        args: Vec<Term>,
    },
    /// A type hint: `(int) ?`.
    TypeHint {
        ty: CqlType,
        term: Box<Term>,
    },
}

/// A comparison operator in a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    Contains,
    ContainsKey,
}

/// The left-hand side of a relation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RelationTarget {
    Column(Ident),
    /// `col[key]`: a map entry or list element (conditions, and map entries in WHERE).
    Element {
        column: Ident,
        key: Term,
    },
    /// `col.field` of a UDT column (conditions).
    Field {
        column: Ident,
        field: Ident,
    },
    /// `(a, b)`: a multi-column relation on clustering columns.
    Tuple(Vec<Ident>),
    /// `token(a, b)`.
    Token(Vec<Ident>),
}

/// The right-hand side of an `IN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InValues {
    /// `IN (v1, v2)`; for a multi-column relation each value is a tuple or a marker.
    List(Vec<Term>),
    /// `IN ?`.
    Marker(BindMarker),
}

/// A relation in a WHERE clause, or a condition in an IF clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Relation {
    Compare {
        target: RelationTarget,
        op: Operator,
        value: Term,
    },
    In {
        target: RelationTarget,
        values: InValues,
    },
    /// `col IS NOT NULL` (materialized views, conditions).
    IsNotNull { column: Ident },
    /// `col IS NULL` (conditions, as Cassandra 5.0 accepts them).
    IsNull { column: Ident },
}
