//! What a permission is granted on, as Cassandra names it: `data`, `data/ks`, `data/ks/t`,
//! `roles`, `roles/r` in `system_auth`, and `<all keyspaces>`, `<keyspace ks>`,
//! `<table ks.t>`, `<all roles>`, `<role r>` in messages and LIST PERMISSIONS.

use std::fmt;

use ilion_cql::language::ast::Permission;

/// A resource permissions are granted on; each has a parent but the two roots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    AllKeyspaces,
    Keyspace(String),
    Table(String, String),
    AllRoles,
    Role(String),
}

/// Every permission, in Cassandra's order (LIST PERMISSIONS sorts by it).
pub const ALL_PERMISSIONS: [Permission; 8] = [
    Permission::Create,
    Permission::Alter,
    Permission::Drop,
    Permission::Select,
    Permission::Modify,
    Permission::Authorize,
    Permission::Describe,
    Permission::Execute,
];

/// A permission's name, as `role_permissions.permissions` stores it and messages show it.
pub fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Create => "CREATE",
        Permission::Alter => "ALTER",
        Permission::Drop => "DROP",
        Permission::Select => "SELECT",
        Permission::Modify => "MODIFY",
        Permission::Authorize => "AUTHORIZE",
        Permission::Describe => "DESCRIBE",
        Permission::Execute => "EXECUTE",
    }
}

/// The permission stored as `name`.
pub fn permission_named(name: &str) -> Option<Permission> {
    ALL_PERMISSIONS
        .into_iter()
        .find(|p| permission_name(*p) == name)
}

/// The position of `p` in Cassandra's order.
pub fn permission_rank(p: Permission) -> usize {
    ALL_PERMISSIONS
        .iter()
        .position(|q| *q == p)
        .unwrap_or(ALL_PERMISSIONS.len())
}

const DATA_PERMISSIONS: &[Permission] = &[
    Permission::Create,
    Permission::Alter,
    Permission::Drop,
    Permission::Select,
    Permission::Modify,
    Permission::Authorize,
];
const TABLE_PERMISSIONS: &[Permission] = &[
    Permission::Alter,
    Permission::Drop,
    Permission::Select,
    Permission::Modify,
    Permission::Authorize,
];
const ALL_ROLES_PERMISSIONS: &[Permission] = &[
    Permission::Create,
    Permission::Alter,
    Permission::Drop,
    Permission::Authorize,
    Permission::Describe,
];
const ROLE_PERMISSIONS: &[Permission] =
    &[Permission::Alter, Permission::Drop, Permission::Authorize];

impl Resource {
    /// The name `system_auth` stores it by.
    pub fn name(&self) -> String {
        match self {
            Resource::AllKeyspaces => "data".to_owned(),
            Resource::Keyspace(ks) => format!("data/{ks}"),
            Resource::Table(ks, t) => format!("data/{ks}/{t}"),
            Resource::AllRoles => "roles".to_owned(),
            Resource::Role(r) => format!("roles/{r}"),
        }
    }

    /// The resource stored as `name`; `None` for a kind Ilion does not grant on (functions,
    /// MBeans) or a malformed name.
    pub fn from_name(name: &str) -> Option<Resource> {
        let mut parts = name.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("data"), None, None) => Some(Resource::AllKeyspaces),
            (Some("data"), Some(ks), None) if !ks.is_empty() => {
                Some(Resource::Keyspace(ks.to_owned()))
            }
            (Some("data"), Some(ks), Some(t)) if !ks.is_empty() && !t.is_empty() => {
                Some(Resource::Table(ks.to_owned(), t.to_owned()))
            }
            (Some("roles"), None, None) => Some(Resource::AllRoles),
            (Some("roles"), Some(r), None) if !r.is_empty() => Some(Resource::Role(r.to_owned())),
            // A role name may hold '/'.
            (Some("roles"), Some(r), Some(rest)) => Some(Resource::Role(format!("{r}/{rest}"))),
            _ => None,
        }
    }

    /// The resource one level up; `None` for a root.
    pub fn parent(&self) -> Option<Resource> {
        match self {
            Resource::AllKeyspaces | Resource::AllRoles => None,
            Resource::Keyspace(_) => Some(Resource::AllKeyspaces),
            Resource::Table(ks, _) => Some(Resource::Keyspace(ks.clone())),
            Resource::Role(_) => Some(Resource::AllRoles),
        }
    }

    /// This resource, then each parent up to the root (the order permissions are looked for).
    pub fn chain(&self) -> Vec<Resource> {
        let mut out = vec![self.clone()];
        while let Some(p) = out.last().and_then(Resource::parent) {
            out.push(p);
        }
        out
    }

    /// The permissions that mean something on this resource (what `ALL PERMISSIONS` grants).
    pub fn applicable(&self) -> &'static [Permission] {
        match self {
            Resource::AllKeyspaces | Resource::Keyspace(_) => DATA_PERMISSIONS,
            Resource::Table(..) => TABLE_PERMISSIONS,
            Resource::AllRoles => ALL_ROLES_PERMISSIONS,
            Resource::Role(_) => ROLE_PERMISSIONS,
        }
    }

    /// [`Resource::applicable`] as a set (what a creator is granted).
    pub fn applicable_set(&self) -> std::collections::BTreeSet<Permission> {
        self.applicable().iter().copied().collect()
    }

    /// Cassandra's class name of the resource kind (in "does not support" errors).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Resource::AllKeyspaces | Resource::Keyspace(_) | Resource::Table(..) => "DataResource",
            Resource::AllRoles | Resource::Role(_) => "RoleResource",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::AllKeyspaces => f.write_str("<all keyspaces>"),
            Resource::Keyspace(ks) => write!(f, "<keyspace {ks}>"),
            Resource::Table(ks, t) => write!(f, "<table {ks}.{t}>"),
            Resource::AllRoles => f.write_str("<all roles>"),
            Resource::Role(r) => write!(f, "<role {r}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_display_as_cassandra_prints_them() {
        let all = [
            (Resource::AllKeyspaces, "data", "<all keyspaces>"),
            (Resource::Keyspace("ks".into()), "data/ks", "<keyspace ks>"),
            (
                Resource::Table("ks".into(), "t".into()),
                "data/ks/t",
                "<table ks.t>",
            ),
            (Resource::AllRoles, "roles", "<all roles>"),
            (
                Resource::Role("alice".into()),
                "roles/alice",
                "<role alice>",
            ),
        ];
        for (r, name, shown) in all {
            assert_eq!(r.name(), name);
            assert_eq!(Resource::from_name(name), Some(r.clone()));
            assert_eq!(r.to_string(), shown);
        }
        assert_eq!(Resource::from_name("functions/ks"), None);
        assert_eq!(Resource::from_name("data//t"), None);
    }

    #[test]
    fn a_table_chain_climbs_to_all_keyspaces() {
        let t = Resource::Table("ks".into(), "t".into());
        assert_eq!(
            t.chain(),
            vec![
                t.clone(),
                Resource::Keyspace("ks".into()),
                Resource::AllKeyspaces
            ]
        );
        assert_eq!(
            Resource::Role("r".into()).chain(),
            vec![Resource::Role("r".into()), Resource::AllRoles]
        );
    }

    #[test]
    fn permission_names_round_trip_in_cassandra_order() {
        for (i, p) in ALL_PERMISSIONS.into_iter().enumerate() {
            assert_eq!(permission_named(permission_name(p)), Some(p));
            assert_eq!(permission_rank(p), i);
        }
        assert_eq!(permission_named("UNMASK"), None);
    }
}
