//! SELECT.

use super::{CqlType, Ident, QualifiedName, Relation, Term};

/// A SELECT statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    pub json: bool,
    pub distinct: bool,
    pub selection: Selection,
    pub table: QualifiedName,
    pub where_clause: Vec<Relation>,
    pub group_by: Vec<Ident>,
    pub order_by: Vec<(Ident, Order)>,
    /// A literal integer or a bind marker.
    pub per_partition_limit: Option<Term>,
    /// A literal integer or a bind marker.
    pub limit: Option<Term>,
    pub allow_filtering: bool,
}

/// What a SELECT returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `*`.
    Wildcard,
    Items(Vec<SelectItem>),
}

/// One selector with its optional `AS alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    pub selector: Selector,
    pub alias: Option<Ident>,
}

/// An arithmetic operator in a selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// A selector expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Column(Ident),
    /// A constant, a collection literal, a bind marker or a type-hinted term.
    Term(Term),
    /// A (possibly aggregate) function call: `max(c)`, `ks.f(a, g(b))`, `count(1)`.
    Function {
        name: QualifiedName,
        args: Vec<Selector>,
    },
    /// `COUNT(*)`.
    CountStar,
    WriteTime(Ident),
    MaxWriteTime(Ident),
    Ttl(Ident),
    /// `CAST(selector AS type)`.
    Cast {
        selector: Box<Selector>,
        ty: CqlType,
    },
    /// `selector.field` (a UDT field).
    Field {
        selector: Box<Selector>,
        field: Ident,
    },
    /// `selector[key]` (a collection element).
    Element {
        selector: Box<Selector>,
        key: Term,
    },
    /// `selector[from..to]` (the elements of a set or map between two bounds, both inclusive;
    /// a missing bound is open).
    Slice {
        selector: Box<Selector>,
        from: Option<Term>,
        to: Option<Term>,
    },
    Arithmetic {
        op: ArithOp,
        lhs: Box<Selector>,
        rhs: Box<Selector>,
    },
    Negate(Box<Selector>),
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    Asc,
    Desc,
}
