//! GRANT and REVOKE of permissions and LIST PERMISSIONS, as CassandraAuthorizer answers
//! them. Without CassandraAuthorizer they are refused as Cassandra refuses them.

use std::collections::BTreeSet;

use ilion_cql::language::ast::{self, Ident, ListPermissions, Permission, Permissions};
use ilion_cql::protocol::{ColumnSpec, CqlType, ResultBody, TableSpec, Value};

use super::super::Coordinator;
use super::roles::rows_result;
use crate::auth::Resource;
use crate::auth::resource::{ALL_PERMISSIONS, permission_name, permission_rank};
use crate::schema::ddl;
use crate::{Error, Result};

impl Coordinator {
    /// The resource a statement names, with the session's keyspace for an unqualified table;
    /// resources Ilion does not grant on (functions, MBeans) are refused.
    fn resource_of(&self, r: &ast::Resource, keyspace: Option<&str>) -> Result<Resource> {
        Ok(match r {
            ast::Resource::AllKeyspaces => Resource::AllKeyspaces,
            ast::Resource::Keyspace(ks) => Resource::Keyspace(ks.as_str().to_owned()),
            ast::Resource::Table(name) => Resource::Table(
                ddl::keyspace_of(name, keyspace)?,
                name.name.as_str().to_owned(),
            ),
            ast::Resource::AllRoles => Resource::AllRoles,
            ast::Resource::Role(r) => Resource::Role(r.as_str().to_owned()),
            ast::Resource::AllFunctions { .. } | ast::Resource::Function { .. } => {
                return Err(Error::not_supported("Permissions on functions"));
            }
            ast::Resource::AllMbeans | ast::Resource::Mbean(_) | ast::Resource::Mbeans(_) => {
                return Err(Error::not_supported("Permissions on MBeans"));
            }
        })
    }

    /// Whether `resource` exists (its keyspace, table or role).
    fn resource_exists(&self, resource: &Resource) -> Result<bool> {
        let schema = self.schema.read().clone();
        let keyspace = |ks: &str| {
            schema
                .system_keyspace(&self.system, ks)
                .or_else(|| schema.keyspaces.get(ks))
        };
        Ok(match resource {
            Resource::AllKeyspaces | Resource::AllRoles => true,
            Resource::Keyspace(ks) => keyspace(ks).is_some(),
            Resource::Table(ks, t) => keyspace(ks).is_some_and(|k| k.tables.contains_key(t)),
            Resource::Role(r) => self.role_record(r)?.is_some(),
        })
    }

    /// GRANT (`grant`) or REVOKE of permissions on a resource to or from a role.
    pub(super) fn change_permissions(
        &self,
        user: Option<&str>,
        permissions: Permissions,
        resource: &ast::Resource,
        role: &Ident,
        grant: bool,
        keyspace: Option<&str>,
    ) -> Result<ResultBody> {
        let user = self.login(user)?;
        if !self.access.authorizing() {
            let verb = if grant { "GRANT" } else { "REVOKE" };
            return Err(Error::invalid(format!(
                "{verb} operation is not supported by AllowAllAuthorizer"
            )));
        }
        let role = role.as_str();
        if self.role_record(role)?.is_none() {
            return Err(Error::invalid(format!("Role {role} doesn't exist")));
        }
        let resource = self.resource_of(resource, keyspace)?;
        if !self.resource_exists(&resource)? {
            return Err(Error::invalid(format!("Resource {resource} doesn't exist")));
        }
        let perms: BTreeSet<Permission> = match permissions {
            Permissions::All => resource.applicable_set(),
            Permissions::One(p) => {
                if !resource.applicable().contains(&p) {
                    return Err(Error::invalid(format!(
                        "Resource type {} does not support any of the requested permissions",
                        resource.kind_name()
                    )));
                }
                BTreeSet::from([p])
            }
        };
        self.ensure(user, Permission::Authorize, &resource)?;
        for p in &perms {
            self.ensure(user, *p, &resource)?;
        }
        if grant {
            self.add_permissions(role, &resource, &perms)?;
        } else {
            self.remove_permissions(role, &resource, &perms)?;
        }
        self.access.clear();
        Ok(ResultBody::Void)
    }

    pub(super) fn list_permissions(
        &self,
        user: Option<&str>,
        s: &ListPermissions,
        keyspace: Option<&str>,
    ) -> Result<ResultBody> {
        let user = self.login(user)?;
        if !self.access.authorizing() {
            return Err(Error::invalid(
                "LIST PERMISSIONS operation is not supported by AllowAllAuthorizer",
            ));
        }
        let resource = match &s.resource {
            Some(r) => {
                let r = self.resource_of(r, keyspace)?;
                if !self.resource_exists(&r)? {
                    return Err(Error::invalid(format!("{r} doesn't exist")));
                }
                Some(r)
            }
            None => None,
        };
        let of = s.of.as_ref().map(|r| r.as_str().to_owned());
        if let Some(of) = &of
            && self.role_record(of)?.is_none()
        {
            return Err(Error::invalid(format!("<role {of}> doesn't exist")));
        }
        let held = self.held_roles(user)?;
        let allowed = held.superuser
            || of
                .as_ref()
                .is_some_and(|of| held.names.iter().any(|r| r == of));
        if !allowed {
            return Err(Error::unauthorized(format!(
                "You are not authorized to view {}'s permissions",
                of.as_deref().unwrap_or("everyone")
            )));
        }
        // The roles whose grants are listed: the named one and every role it holds.
        let roles: Option<BTreeSet<String>> = match &of {
            Some(of) => Some(self.held_roles(of)?.names.into_iter().collect()),
            None => None,
        };
        let resources: Option<Vec<Resource>> =
            resource.map(|r| if s.recursive { r.chain() } else { vec![r] });
        let wanted: BTreeSet<Permission> = match s.permissions {
            Permissions::All => ALL_PERMISSIONS.into_iter().collect(),
            Permissions::One(p) => BTreeSet::from([p]),
        };
        let mut details: Vec<(String, String, usize, Resource, Permission)> = Vec::new();
        for (role, r, perms) in self.all_grants()? {
            if roles.as_ref().is_some_and(|rs| !rs.contains(&role))
                || resources.as_ref().is_some_and(|rs| !rs.contains(&r))
            {
                continue;
            }
            for p in perms.intersection(&wanted) {
                details.push((role.clone(), r.name(), permission_rank(*p), r.clone(), *p));
            }
        }
        details.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        let spec = |name: &str| ColumnSpec {
            table: TableSpec {
                keyspace: "system_auth".to_owned(),
                table: "permissions".to_owned(),
            },
            name: name.to_owned(),
            ty: CqlType::Text,
        };
        let columns = vec![
            spec("role"),
            spec("username"),
            spec("resource"),
            spec("permission"),
        ];
        let rows = details
            .into_iter()
            .map(|(role, _, _, r, p)| {
                vec![
                    Value::Text(role.clone()),
                    Value::Text(role),
                    Value::Text(r.to_string()),
                    Value::Text(permission_name(p).to_owned()),
                ]
            })
            .collect();
        rows_result(columns, rows)
    }
}
