//! Authentication and authorization on the node: logins checked against `system_auth.roles`
//! (`login`), every statement checked against the permissions of the role it runs as
//! (`check`), the role statements (`roles`) and the permission statements (`permissions`),
//! all reading and writing `system_auth` through the data path (`store`), so the keyspace is
//! replicated like any other.
//!
//! With the defaults (AllowAllAuthenticator, AllowAllAuthorizer) nothing is checked; role and
//! permission statements are refused as Cassandra refuses them to an anonymous client.

mod check;
mod login;
mod permissions;
mod roles;
mod store;

use std::collections::BTreeSet;

use ilion_cql::language::ast::{Permission, Statement};
use ilion_cql::protocol::ResultBody;

use super::Coordinator;
use crate::auth::cache::Cache;
use crate::auth::grants::{self, HeldRoles};
use crate::auth::{AuthConfig, Authenticator, Authorizer, Resource};
use crate::{Error, Result};

/// The settings and the caches.
#[derive(Debug)]
pub(super) struct Access {
    config: AuthConfig,
    /// A role -> the roles it holds, transitively (`roles_validity`).
    held: Cache<String, HeldRoles>,
    /// (login, resource) -> its permissions on exactly that resource (`permissions_validity`).
    permissions: Cache<(String, Resource), BTreeSet<Permission>>,
}

impl Access {
    pub(super) fn new(config: AuthConfig) -> Access {
        Access {
            held: Cache::new(config.roles_validity),
            permissions: Cache::new(config.permissions_validity),
            config,
        }
    }

    fn authenticating(&self) -> bool {
        self.config.authenticator == Authenticator::Password
    }

    fn authorizing(&self) -> bool {
        self.config.authorizer == Authorizer::Cassandra
    }

    /// Forgets cached roles and permissions (after a change made through this node).
    fn clear(&self) {
        self.held.clear();
        self.permissions.clear();
    }
}

/// "You have not logged in" or, without an authenticator, Cassandra's refusal to an anonymous
/// client.
fn not_logged_in(access: &Access) -> Error {
    if access.authenticating() {
        Error::unauthorized("You have not logged in")
    } else {
        Error::unauthorized("You have to be logged in and not anonymous to perform this request")
    }
}

impl Coordinator {
    /// The node's authentication and authorization settings.
    pub fn auth_config(&self) -> &AuthConfig {
        &self.access.config
    }

    /// The role a statement runs as; an error for a client that has not logged in (every
    /// client, without an authenticator).
    fn login<'u>(&self, user: Option<&'u str>) -> Result<&'u str> {
        match user {
            Some(u) if self.access.authenticating() => Ok(u),
            _ => Err(not_logged_in(&self.access)),
        }
    }

    /// The roles `role` holds (itself first), transitively, through the roles cache.
    fn held_roles(&self, role: &str) -> Result<HeldRoles> {
        let now = self.clock.now_micros();
        self.access.held.get(&role.to_owned(), now, || {
            grants::held_roles(role, true, |r| self.role_record(r))
        })
    }

    /// The permissions `user` has on exactly `resource`, through the permissions cache.
    fn permissions_on(&self, user: &str, resource: &Resource) -> Result<BTreeSet<Permission>> {
        let now = self.clock.now_micros();
        let key = (user.to_owned(), resource.clone());
        self.access.permissions.get(&key, now, || {
            let held = self.held_roles(user)?;
            grants::permissions_on(&held, resource, |role, r| self.granted(role, r))
        })
    }

    /// Refuses, with Cassandra's words, unless `user` holds `permission` on `resource` or a
    /// parent of it.
    fn ensure(&self, user: &str, permission: Permission, resource: &Resource) -> Result<()> {
        if grants::is_permitted(permission, resource, |r| self.permissions_on(user, r))? {
            return Ok(());
        }
        Err(Error::unauthorized(format!(
            "User {user} has no {} permission on {resource} or any of its parents",
            crate::auth::resource::permission_name(permission)
        )))
    }

    /// Runs a role or permission statement as `user`; `None` for any other statement.
    pub(super) fn access_statement(
        &self,
        user: Option<&str>,
        statement: &Statement,
        keyspace: Option<&str>,
    ) -> Result<Option<ResultBody>> {
        let result = match statement {
            Statement::CreateRole(s) => self.create_role(user, s)?,
            Statement::AlterRole(s) => self.alter_role(user, s)?,
            Statement::DropRole(s) => self.drop_role(user, s.name.as_str(), s.if_exists)?,
            Statement::CreateUser(s) => self.create_user(user, s)?,
            Statement::AlterUser(s) => self.alter_user(user, s)?,
            Statement::DropUser(s) => self.drop_role(user, s.name.as_str(), s.if_exists)?,
            Statement::GrantRole(s) => {
                self.grant_role(user, s.role.as_str(), s.grantee.as_str())?
            }
            Statement::RevokeRole(s) => {
                self.revoke_role(user, s.role.as_str(), s.revokee.as_str())?
            }
            Statement::ListRoles(s) => self.list_roles(user, s)?,
            Statement::ListUsers => self.list_users(user)?,
            Statement::Grant(s) => {
                self.change_permissions(user, s.permissions, &s.resource, &s.role, true, keyspace)?
            }
            Statement::Revoke(s) => {
                self.change_permissions(user, s.permissions, &s.resource, &s.role, false, keyspace)?
            }
            Statement::ListPermissions(s) => self.list_permissions(user, s, keyspace)?,
            _ => return Ok(None),
        };
        Ok(Some(result))
    }
}
