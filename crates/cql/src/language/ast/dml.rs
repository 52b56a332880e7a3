//! INSERT, UPDATE, DELETE and BATCH.

use super::{Ident, QualifiedName, Relation, Term};

/// `USING TTL n` / `USING TIMESTAMP n`; the value is an integer literal or a bind marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsingParam {
    Ttl(Term),
    Timestamp(Term),
}

/// An INSERT statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub table: QualifiedName,
    pub values: InsertValues,
    pub if_not_exists: bool,
    pub using: Vec<UsingParam>,
}

/// What an INSERT writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertValues {
    /// `(c1, c2) VALUES (v1, v2)`.
    Columns {
        columns: Vec<Ident>,
        values: Vec<Term>,
    },
    /// `JSON '...' [DEFAULT NULL | DEFAULT UNSET]`; the value is a string or a bind marker.
    Json {
        value: Term,
        default: Option<JsonDefault>,
    },
}

/// What INSERT JSON does with columns the JSON leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonDefault {
    Null,
    Unset,
}

/// An IF clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `IF EXISTS`.
    Exists,
    /// `IF c1 = v AND ...`.
    Relations(Vec<Relation>),
}

/// One `SET` assignment of an UPDATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// `c = v`.
    Set { column: Ident, value: Term },
    /// `c[k] = v`.
    SetElement {
        column: Ident,
        key: Term,
        value: Term,
    },
    /// `c.field = v`.
    SetField {
        column: Ident,
        field: Ident,
        value: Term,
    },
    /// `c = c + v` (also `c += v`): append to a list, add to a set/map, increment a counter.
    Append { column: Ident, value: Term },
    /// `c = v + c`: prepend to a list.
    Prepend { column: Ident, value: Term },
    /// `c = c - v` (also `c -= v`): remove from a collection, decrement a counter.
    Remove { column: Ident, value: Term },
}

/// An UPDATE statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub table: QualifiedName,
    pub using: Vec<UsingParam>,
    pub assignments: Vec<Assignment>,
    pub where_clause: Vec<Relation>,
    pub condition: Option<Condition>,
}

/// What a DELETE removes, when not the whole row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteTarget {
    Column(Ident),
    /// `c[k]`: a map entry or list element.
    Element {
        column: Ident,
        key: Term,
    },
    /// `c.field`.
    Field {
        column: Ident,
        field: Ident,
    },
}

/// A DELETE statement. No targets: whole rows (or a range of rows, or a partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub targets: Vec<DeleteTarget>,
    pub table: QualifiedName,
    pub using: Vec<UsingParam>,
    pub where_clause: Vec<Relation>,
    pub condition: Option<Condition>,
}

/// The kind of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    Logged,
    Unlogged,
    Counter,
}

/// A statement inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchStatement {
    Insert(Insert),
    Update(Update),
    Delete(Delete),
}

/// `BEGIN [UNLOGGED | COUNTER] BATCH [USING TIMESTAMP n] ... APPLY BATCH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub kind: BatchKind,
    pub using: Vec<UsingParam>,
    pub statements: Vec<BatchStatement>,
}
