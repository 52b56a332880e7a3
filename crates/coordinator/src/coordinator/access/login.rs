//! Logins (SASL PLAIN checked against `system_auth.roles`) and the default superuser a new
//! cluster starts with.

use super::super::Coordinator;
use super::store::lit;
use crate::auth::sasl::{self, check_password, decode_plain, dummy_hash};
use crate::auth::{DEFAULT_SUPERUSER, DEFAULT_SUPERUSER_PASSWORD};
use crate::{Error, Result};

impl Coordinator {
    /// Checks a SASL PLAIN token (AUTH_RESPONSE) and returns the role it logs in as.
    /// Refusals are `Bad_credentials` with Cassandra's words. The password is checked against
    /// a hash even when the role does not exist or has none (a hash of a random password), so
    /// the time a refusal takes does not tell whether the role exists. Blocks for the bcrypt
    /// check (tens of milliseconds): call it off the I/O threads.
    pub fn authenticate(&self, token: &[u8]) -> Result<String> {
        let credentials = decode_plain(token).map_err(|e| Error::bad_credentials(e.to_string()))?;
        let name = credentials.username;
        let record = self.role_record(&name).map_err(|e| {
            Error::bad_credentials(format!("Unable to perform authentication: {e}"))
        })?;
        let hash = record
            .as_ref()
            .and_then(|r| r.salted_hash.as_deref())
            .unwrap_or_else(|| dummy_hash());
        let matches = check_password(&credentials.password, hash);
        let record = match record {
            Some(r) if matches && r.salted_hash.is_some() => r,
            _ => {
                return Err(Error::bad_credentials(format!(
                    "Provided username {name} and/or password are incorrect"
                )));
            }
        };
        if !record.login {
            return Err(Error::bad_credentials(format!(
                "{name} is not permitted to log in"
            )));
        }
        Ok(name)
    }

    /// On a cluster without roles, creates the default superuser `cassandra` (password
    /// `cassandra`), as Cassandra does, with timestamp 0 so that a change of it made on any
    /// node wins over another node creating it too. Then warns while its password is still
    /// the default. Does nothing without PasswordAuthenticator. An error (the replicas of
    /// `system_auth` not reachable yet) is for the caller to retry.
    pub fn setup_auth(&self) -> Result<()> {
        if !self.access.authenticating() {
            return Ok(());
        }
        if self.all_role_names()?.is_empty() {
            let hash = sasl::hash_password(DEFAULT_SUPERUSER_PASSWORD)
                .map_err(|e| Error::server(format!("cannot hash a password: {e}")))?;
            self.auth_write(&format!(
                "INSERT INTO system_auth.roles (role, is_superuser, can_login, salted_hash) \
                 VALUES ({}, true, true, {}) USING TIMESTAMP 0",
                lit(DEFAULT_SUPERUSER),
                lit(&hash)
            ))?;
            tracing::info!(
                role = DEFAULT_SUPERUSER,
                "created the default superuser role"
            );
        }
        if let Some(r) = self.role_record(DEFAULT_SUPERUSER)?
            && r.salted_hash
                .as_deref()
                .is_some_and(|h| check_password(DEFAULT_SUPERUSER_PASSWORD, h))
        {
            tracing::warn!(
                role = DEFAULT_SUPERUSER,
                "the default superuser still has its default password: change it \
                 (ALTER ROLE cassandra WITH PASSWORD = '...') or drop it after creating another superuser"
            );
        }
        Ok(())
    }
}
