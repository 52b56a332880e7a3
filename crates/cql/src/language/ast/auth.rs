//! Roles, users and permissions.

use super::{CqlType, Ident, Literal, QualifiedName};

/// An option of CREATE / ALTER ROLE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOption {
    Password(String),
    HashedPassword(String),
    Login(bool),
    Superuser(bool),
    Options(Vec<(Literal, Literal)>),
    AccessToAllDatacenters,
    AccessToDatacenters(Vec<String>),
}

/// `CREATE ROLE [IF NOT EXISTS] r [WITH option AND ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRole {
    pub if_not_exists: bool,
    pub name: Ident,
    pub options: Vec<RoleOption>,
}

/// `ALTER ROLE [IF EXISTS] r WITH option AND ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterRole {
    pub if_exists: bool,
    pub name: Ident,
    pub options: Vec<RoleOption>,
}

/// `DROP ROLE [IF EXISTS] r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRole {
    pub if_exists: bool,
    pub name: Ident,
}

/// `CREATE USER [IF NOT EXISTS] u [WITH PASSWORD 'p'] [SUPERUSER | NOSUPERUSER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUser {
    pub if_not_exists: bool,
    pub name: Ident,
    pub password: Option<String>,
    pub superuser: Option<bool>,
}

/// `ALTER USER [IF EXISTS] u [WITH PASSWORD 'p'] [SUPERUSER | NOSUPERUSER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterUser {
    pub if_exists: bool,
    pub name: Ident,
    pub password: Option<String>,
    pub superuser: Option<bool>,
}

/// `DROP USER [IF EXISTS] u`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropUser {
    pub if_exists: bool,
    pub name: Ident,
}

/// A permission, ordered as Cassandra orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Create,
    Alter,
    Drop,
    Select,
    Modify,
    Authorize,
    Describe,
    Execute,
}

/// `ALL [PERMISSIONS]` or one permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permissions {
    All,
    One(Permission),
}

/// What a permission applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    AllKeyspaces,
    Keyspace(Ident),
    Table(QualifiedName),
    AllRoles,
    Role(Ident),
    /// `ALL FUNCTIONS [IN KEYSPACE ks]`.
    AllFunctions {
        keyspace: Option<Ident>,
    },
    Function {
        name: QualifiedName,
        args: Vec<CqlType>,
    },
    AllMbeans,
    Mbean(String),
    Mbeans(String),
}

/// `GRANT permission ON resource TO role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub permissions: Permissions,
    pub resource: Resource,
    pub role: Ident,
}

/// `REVOKE permission ON resource FROM role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoke {
    pub permissions: Permissions,
    pub resource: Resource,
    pub role: Ident,
}

/// `GRANT role TO grantee`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRole {
    pub role: Ident,
    pub grantee: Ident,
}

/// `REVOKE role FROM revokee`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRole {
    pub role: Ident,
    pub revokee: Ident,
}

/// `LIST ROLES [OF r] [NORECURSIVE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRoles {
    pub of: Option<Ident>,
    pub recursive: bool,
}

/// `LIST permission [ON resource] [OF role] [NORECURSIVE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPermissions {
    pub permissions: Permissions,
    pub resource: Option<Resource>,
    pub of: Option<Ident>,
    pub recursive: bool,
}
