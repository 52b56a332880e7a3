//! DESCRIBE / DESC, which cqlsh sends to the server as queries.

use super::{Ident, QualifiedName};

/// `DESCRIBE target [WITH INTERNALS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe {
    pub target: DescribeTarget,
    pub with_internals: bool,
}

/// What to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescribeTarget {
    Cluster,
    /// `[FULL] SCHEMA`.
    Schema {
        full: bool,
    },
    Keyspaces,
    /// `[ONLY] KEYSPACE [ks]` (no name: the current keyspace).
    Keyspace {
        name: Option<Ident>,
        only: bool,
    },
    Tables,
    Table(QualifiedName),
    Index(QualifiedName),
    MaterializedView(QualifiedName),
    Types,
    Type(QualifiedName),
    Functions,
    Function(QualifiedName),
    Aggregates,
    Aggregate(QualifiedName),
    /// `DESCRIBE name`: whatever `name` turns out to be.
    Name(QualifiedName),
}
