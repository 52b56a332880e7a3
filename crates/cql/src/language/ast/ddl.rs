//! Schema statements: keyspaces, tables, types, indexes, views, functions, aggregates, triggers.

use super::{CqlType, Ident, Literal, Order, QualifiedName, Relation, Selection, Term};

/// One `name = value` option of a WITH clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: Ident,
    pub value: PropertyValue,
}

/// The value of an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    Literal(Literal),
    /// `{'class': 'SimpleStrategy', 'replication_factor': 3}`.
    Map(Vec<(Literal, Literal)>),
    /// An unquoted word (Cassandra allows unreserved keywords as option values).
    Word(String),
}

/// `CREATE KEYSPACE [IF NOT EXISTS] ks WITH replication = {...} AND durable_writes = b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateKeyspace {
    pub name: Ident,
    pub if_not_exists: bool,
    pub options: Vec<Property>,
}

/// `ALTER KEYSPACE [IF EXISTS] ks WITH ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterKeyspace {
    pub name: Ident,
    pub if_exists: bool,
    pub options: Vec<Property>,
}

/// `DROP KEYSPACE [IF EXISTS] ks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropKeyspace {
    pub name: Ident,
    pub if_exists: bool,
}

/// `DROP TABLE | TYPE | INDEX | MATERIALIZED VIEW [IF EXISTS] [ks.]name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub name: QualifiedName,
    pub if_exists: bool,
}

/// A column definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: Ident,
    pub ty: CqlType,
    pub is_static: bool,
    /// Declared inline: `id uuid PRIMARY KEY`.
    pub primary_key: bool,
}

/// `PRIMARY KEY ((pk1, pk2), ck1, ck2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryKey {
    pub partition: Vec<Ident>,
    pub clustering: Vec<Ident>,
}

/// The WITH clause of a table or view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableOptions {
    pub properties: Vec<Property>,
    /// `CLUSTERING ORDER BY (c1 DESC, c2 ASC)`.
    pub clustering_order: Vec<(Ident, Order)>,
    /// `COMPACT STORAGE`.
    pub compact_storage: bool,
}

impl TableOptions {
    /// Whether the clause says nothing.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty() && self.clustering_order.is_empty() && !self.compact_storage
    }
}

/// `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTable {
    pub name: QualifiedName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    /// The `PRIMARY KEY (...)` clause, when the key is not declared inline.
    pub primary_key: Option<PrimaryKey>,
    pub options: TableOptions,
}

/// What an ALTER TABLE does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterTableOp {
    /// `ADD [IF NOT EXISTS] c type [, ...]` (or a parenthesised list).
    Add {
        if_not_exists: bool,
        columns: Vec<ColumnDef>,
    },
    /// `DROP [IF EXISTS] c | (c1, c2) [USING TIMESTAMP n]`.
    Drop {
        if_exists: bool,
        columns: Vec<Ident>,
        timestamp: Option<Literal>,
    },
    /// `RENAME [IF EXISTS] a TO b [AND c TO d]`.
    Rename {
        if_exists: bool,
        renames: Vec<(Ident, Ident)>,
    },
    /// `ALTER c TYPE t` (accepted by old Cassandra versions).
    AlterColumnType { column: Ident, ty: CqlType },
    /// `WITH ...`.
    With(TableOptions),
}

/// `ALTER TABLE [IF EXISTS] t ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterTable {
    pub name: QualifiedName,
    pub if_exists: bool,
    pub op: AlterTableOp,
}

/// `CREATE TYPE [IF NOT EXISTS] t (f type, ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateType {
    pub name: QualifiedName,
    pub if_not_exists: bool,
    pub fields: Vec<(Ident, CqlType)>,
}

/// What an ALTER TYPE does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterTypeOp {
    Add {
        if_not_exists: bool,
        field: Ident,
        ty: CqlType,
    },
    Rename {
        if_exists: bool,
        renames: Vec<(Ident, Ident)>,
    },
}

/// `ALTER TYPE [IF EXISTS] t ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterType {
    pub name: QualifiedName,
    pub if_exists: bool,
    pub op: AlterTypeOp,
}

/// What an index indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexTarget {
    Column(Ident),
    Keys(Ident),
    Values(Ident),
    Entries(Ident),
    Full(Ident),
}

/// `CREATE [CUSTOM] INDEX [IF NOT EXISTS] [name] ON t (target) [USING 'class' [WITH OPTIONS = {...}]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateIndex {
    pub custom: bool,
    pub if_not_exists: bool,
    pub name: Option<Ident>,
    pub table: QualifiedName,
    pub targets: Vec<IndexTarget>,
    pub using: Option<String>,
    pub options: Vec<(Literal, Literal)>,
}

/// `CREATE MATERIALIZED VIEW [IF NOT EXISTS] v AS SELECT ... FROM t WHERE ... PRIMARY KEY (...) [WITH ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateMaterializedView {
    pub name: QualifiedName,
    pub if_not_exists: bool,
    pub selection: Selection,
    pub base_table: QualifiedName,
    pub where_clause: Vec<Relation>,
    pub primary_key: PrimaryKey,
    pub options: TableOptions,
}

/// `ALTER MATERIALIZED VIEW v WITH ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterMaterializedView {
    pub name: QualifiedName,
    pub if_exists: bool,
    pub options: TableOptions,
}

/// `CREATE [OR REPLACE] FUNCTION [IF NOT EXISTS] f (a type, ...) (CALLED | RETURNS NULL) ON NULL INPUT RETURNS type LANGUAGE l AS 'body'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFunction {
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: QualifiedName,
    pub args: Vec<(Ident, CqlType)>,
    pub called_on_null_input: bool,
    pub returns: CqlType,
    pub language: Ident,
    pub body: String,
}

/// `CREATE [OR REPLACE] AGGREGATE [IF NOT EXISTS] a (types) SFUNC f STYPE t [FINALFUNC g] [INITCOND term]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAggregate {
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: QualifiedName,
    pub arg_types: Vec<CqlType>,
    pub sfunc: Ident,
    pub stype: CqlType,
    pub finalfunc: Option<Ident>,
    pub initcond: Option<Term>,
}

/// `DROP FUNCTION | AGGREGATE [IF EXISTS] f [(types)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRoutine {
    pub name: QualifiedName,
    pub if_exists: bool,
    /// The argument types, when given to pick one overload.
    pub signature: Option<Vec<CqlType>>,
}

/// `CREATE TRIGGER [IF NOT EXISTS] name ON t USING 'class'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTrigger {
    pub if_not_exists: bool,
    pub name: Ident,
    pub table: QualifiedName,
    pub class: String,
}

/// `DROP TRIGGER [IF EXISTS] name ON t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropTrigger {
    pub if_exists: bool,
    pub name: Ident,
    pub table: QualifiedName,
}
