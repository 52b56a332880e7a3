//! The typed AST of CQL statements.
//!
//! Names are stored canonically: unquoted identifiers lowercased, quoted ones as written.
//! Numeric literals keep their text (a `varint` or `decimal` must not lose digits). Every bind
//! marker records its position among the statement's markers and its name, if any, so that a
//! server can build the metadata of a prepared statement. `Display` prints canonical CQL that
//! parses back to the same AST.

mod auth;
mod ddl;
mod describe;
mod dml;
mod select;
mod term;

pub use auth::{
    AlterRole, AlterUser, CreateRole, CreateUser, DropRole, DropUser, Grant, GrantRole,
    ListPermissions, ListRoles, Permission, Permissions, Resource, Revoke, RevokeRole, RoleOption,
};
pub use ddl::{
    AlterKeyspace, AlterMaterializedView, AlterTable, AlterTableOp, AlterType, AlterTypeOp,
    ColumnDef, CreateAggregate, CreateFunction, CreateIndex, CreateKeyspace,
    CreateMaterializedView, CreateTable, CreateTrigger, CreateType, Drop, DropKeyspace,
    DropRoutine, DropTrigger, IndexTarget, PrimaryKey, Property, PropertyValue, TableOptions,
};
pub use describe::{Describe, DescribeTarget};
pub use dml::{
    Assignment, Batch, BatchKind, BatchStatement, Condition, Delete, DeleteTarget, Insert,
    InsertValues, JsonDefault, Update, UsingParam,
};
/// Types as written in DDL, casts and type hints: the one CQL type of `ilion-types`. A
/// user-defined type is named only ([`ilion_types::UdtType::is_resolved`] is false) until a
/// schema resolves it.
pub use ilion_types::{CqlType, UdtType};
pub use select::{ArithOp, Order, Select, SelectItem, Selection, Selector};
pub use term::{InValues, Literal, Operator, Relation, RelationTarget, Term};

/// A name: a keyspace, table, column, type, role, ... Unquoted names are lowercased when
/// parsed; quoted names keep their case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    /// A name exactly as given (no lowercasing: this is the name after parsing).
    pub fn new(name: impl Into<String>) -> Self {
        Ident(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A possibly keyspace-qualified name: `ks.t` or `t`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualifiedName {
    /// The keyspace, when the name was written `ks.name`.
    pub keyspace: Option<Ident>,
    /// The object's own name.
    pub name: Ident,
}

/// A bind marker: `?` or `:name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindMarker {
    /// 0-based position among the markers of the statement (of the whole batch, in a batch).
    pub index: usize,
    /// The name of a `:name` marker.
    pub name: Option<Ident>,
}

/// One parsed statement with the source facts a server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedStatement {
    /// The statement.
    pub statement: Statement,
    /// The statement's own text, without the separating `;` and surrounding whitespace.
    pub text: String,
    /// The byte range of `text` in the parsed source.
    pub span: std::ops::Range<usize>,
    /// Every bind marker, in order of appearance (`index` equals the position here).
    pub bind_markers: Vec<BindMarker>,
}

/// A CQL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Statement {
    Use(Ident),
    Select(Box<Select>),
    Insert(Box<Insert>),
    Update(Box<Update>),
    Delete(Box<Delete>),
    Batch(Box<Batch>),
    Truncate(QualifiedName),
    CreateKeyspace(CreateKeyspace),
    AlterKeyspace(AlterKeyspace),
    DropKeyspace(DropKeyspace),
    CreateTable(Box<CreateTable>),
    AlterTable(Box<AlterTable>),
    DropTable(Drop),
    CreateType(CreateType),
    AlterType(AlterType),
    DropType(Drop),
    CreateIndex(Box<CreateIndex>),
    DropIndex(Drop),
    CreateMaterializedView(Box<CreateMaterializedView>),
    AlterMaterializedView(AlterMaterializedView),
    DropMaterializedView(Drop),
    CreateFunction(Box<CreateFunction>),
    DropFunction(DropRoutine),
    CreateAggregate(Box<CreateAggregate>),
    DropAggregate(DropRoutine),
    CreateTrigger(CreateTrigger),
    DropTrigger(DropTrigger),
    CreateRole(CreateRole),
    AlterRole(AlterRole),
    DropRole(DropRole),
    CreateUser(CreateUser),
    AlterUser(AlterUser),
    DropUser(DropUser),
    Grant(Grant),
    Revoke(Revoke),
    GrantRole(GrantRole),
    RevokeRole(RevokeRole),
    ListRoles(ListRoles),
    ListUsers,
    ListPermissions(ListPermissions),
    Describe(Describe),
}

impl Statement {
    /// A short name of the statement kind ("SELECT", "CREATE MATERIALIZED VIEW", ...), for
    /// messages such as "CREATE FUNCTION is not supported yet".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Statement::Use(_) => "USE",
            Statement::Select(_) => "SELECT",
            Statement::Insert(_) => "INSERT",
            Statement::Update(_) => "UPDATE",
            Statement::Delete(_) => "DELETE",
            Statement::Batch(_) => "BATCH",
            Statement::Truncate(_) => "TRUNCATE",
            Statement::CreateKeyspace(_) => "CREATE KEYSPACE",
            Statement::AlterKeyspace(_) => "ALTER KEYSPACE",
            Statement::DropKeyspace(_) => "DROP KEYSPACE",
            Statement::CreateTable(_) => "CREATE TABLE",
            Statement::AlterTable(_) => "ALTER TABLE",
            Statement::DropTable(_) => "DROP TABLE",
            Statement::CreateType(_) => "CREATE TYPE",
            Statement::AlterType(_) => "ALTER TYPE",
            Statement::DropType(_) => "DROP TYPE",
            Statement::CreateIndex(_) => "CREATE INDEX",
            Statement::DropIndex(_) => "DROP INDEX",
            Statement::CreateMaterializedView(_) => "CREATE MATERIALIZED VIEW",
            Statement::AlterMaterializedView(_) => "ALTER MATERIALIZED VIEW",
            Statement::DropMaterializedView(_) => "DROP MATERIALIZED VIEW",
            Statement::CreateFunction(_) => "CREATE FUNCTION",
            Statement::DropFunction(_) => "DROP FUNCTION",
            Statement::CreateAggregate(_) => "CREATE AGGREGATE",
            Statement::DropAggregate(_) => "DROP AGGREGATE",
            Statement::CreateTrigger(_) => "CREATE TRIGGER",
            Statement::DropTrigger(_) => "DROP TRIGGER",
            Statement::CreateRole(_) => "CREATE ROLE",
            Statement::AlterRole(_) => "ALTER ROLE",
            Statement::DropRole(_) => "DROP ROLE",
            Statement::CreateUser(_) => "CREATE USER",
            Statement::AlterUser(_) => "ALTER USER",
            Statement::DropUser(_) => "DROP USER",
            Statement::Grant(_) | Statement::GrantRole(_) => "GRANT",
            Statement::Revoke(_) | Statement::RevokeRole(_) => "REVOKE",
            Statement::ListRoles(_) => "LIST ROLES",
            Statement::ListUsers => "LIST USERS",
            Statement::ListPermissions(_) => "LIST PERMISSIONS",
            Statement::Describe(_) => "DESCRIBE",
        }
    }
}
