//! Authentication and authorization, as Cassandra's PasswordAuthenticator,
//! CassandraRoleManager and CassandraAuthorizer do them: roles with bcrypt password hashes in
//! `system_auth.roles`, grants of roles in `roles.member_of` and `role_members`, grants of
//! permissions in `role_permissions` (indexed by resource in
//! `resource_role_permissons_index`, Cassandra's spelling), read through caches.
//!
//! This module holds what does not need the node: the settings ([`AuthConfig`]), resources
//! and permissions ([`Resource`]), the rules ([`grants`]), SASL PLAIN and bcrypt ([`sasl`])
//! and the caches. Running role statements and checking statements is the coordinator's
//! (`coordinator/access`).

pub(crate) mod cache;
pub mod grants;
pub mod resource;
pub mod sasl;

use std::time::Duration;

pub use resource::Resource;

/// Who may connect (`authenticator` in ilion.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authenticator {
    /// Anyone, without credentials (the default).
    #[default]
    AllowAll,
    /// Roles with a password, over SASL PLAIN.
    Password,
}

/// Who may run what (`authorizer` in ilion.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authorizer {
    /// Every statement of every client (the default).
    #[default]
    AllowAll,
    /// Permissions granted to roles, checked on every statement.
    Cassandra,
}

/// The node's authentication and authorization settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub authenticator: Authenticator,
    pub authorizer: Authorizer,
    /// How long a role's record and granted roles are reused (`roles_validity`, 2 s).
    pub roles_validity: Duration,
    /// How long a role's permissions on a resource are reused (`permissions_validity`, 2 s).
    pub permissions_validity: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            authenticator: Authenticator::AllowAll,
            authorizer: Authorizer::AllowAll,
            roles_validity: Duration::from_secs(2),
            permissions_validity: Duration::from_secs(2),
        }
    }
}

/// The name and password of the role a new cluster starts with (Cassandra's).
pub const DEFAULT_SUPERUSER: &str = "cassandra";
pub(crate) const DEFAULT_SUPERUSER_PASSWORD: &str = "cassandra";

/// The keyspace of roles and grants.
pub const AUTH_KEYSPACE: &str = "system_auth";
