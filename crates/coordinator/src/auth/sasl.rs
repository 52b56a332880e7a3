//! SASL PLAIN (RFC 4616) as Cassandra's PasswordAuthenticator reads it, and the bcrypt
//! hashes `system_auth.roles.salted_hash` holds.
//!
//! A PLAIN token is `[authzid] NUL authcid NUL passwd`. Like Cassandra, the authorization id
//! is ignored (a login acts as itself), the token is split at its last two NULs, and a third
//! NUL, an empty name or an empty password is refused with Cassandra's words.

use std::fmt;
use std::sync::OnceLock;

/// The authenticator class name sent in AUTHENTICATE: drivers pick their SASL mechanism by it.
pub const PASSWORD_AUTHENTICATOR: &str = "org.apache.cassandra.auth.PasswordAuthenticator";

/// bcrypt's cost, as Cassandra's `auth_bcrypt_gensalt_log2_rounds` default (2^10 rounds).
pub const BCRYPT_COST: u32 = 10;

/// A decoded PLAIN token. The password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Why a PLAIN token was refused (the AuthenticationException messages of Cassandra).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    #[error(
        "Credential format error: username or password is empty or contains NUL(\\0) character"
    )]
    Format,
    #[error("Password must not be null")]
    NoPassword,
    #[error("Authentication ID must not be null")]
    NoUsername,
}

/// Decodes a SASL PLAIN token. Bytes that are not UTF-8 are replaced (as Java decodes them).
pub fn decode_plain(token: &[u8]) -> Result<PlainCredentials, PlainError> {
    let mut fields: Vec<&[u8]> = Vec::with_capacity(2);
    let mut end = token.len();
    for (i, b) in token.iter().enumerate().rev() {
        if *b == 0 {
            if fields.len() == 2 {
                return Err(PlainError::Format);
            }
            fields.push(token.get(i + 1..end).unwrap_or_default());
            end = i;
        }
    }
    let password = fields.first().copied().unwrap_or_default();
    let username = fields.get(1).copied().unwrap_or_default();
    if password.is_empty() {
        return Err(PlainError::NoPassword);
    }
    if username.is_empty() {
        return Err(PlainError::NoUsername);
    }
    Ok(PlainCredentials {
        username: String::from_utf8_lossy(username).into_owned(),
        password: String::from_utf8_lossy(password).into_owned(),
    })
}

/// Hashes `password` as Cassandra stores it: bcrypt, version `2a`, cost 10, random salt.
pub fn hash_password(password: &str) -> Result<String, bcrypt::BcryptError> {
    Ok(bcrypt::hash_with_result(password, BCRYPT_COST)?.format_for_version(bcrypt::Version::TwoA))
}

/// Whether `password` matches the bcrypt `hash`; a malformed hash matches nothing.
pub fn check_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// Whether `hash` is a bcrypt hash this node can check passwords against.
pub fn is_bcrypt_hash(hash: &str) -> bool {
    hash.parse::<bcrypt::HashParts>().is_ok()
}

/// A hash of a random password at the same cost, checked when the role does not exist or
/// has no password, so a refusal takes as long whether or not the role exists.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: u128 = rand::random();
        hash_password(&format!("{random:032x}")).unwrap_or_else(|_| {
            // Cannot happen for a 32-character password; a fixed valid hash keeps the cost.
            "$2a$10$e0MYzXyjpJS7Pd0RVvHwHe1HlCS4bZJ18JuywdEMLT83E1KDmUhCy".to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_token_with_and_without_an_authzid_decodes_to_its_username_and_password() {
        let c = decode_plain(b"\0alice\0s3cret").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cret")
        );
        let c = decode_plain(b"admin\0alice\0s3cret").unwrap();
        assert_eq!(c.username, "alice");
    }

    #[test]
    fn malformed_plain_tokens_are_refused_with_cassandras_messages() {
        assert_eq!(decode_plain(b""), Err(PlainError::NoPassword));
        assert_eq!(decode_plain(b"\0alice\0"), Err(PlainError::NoPassword));
        assert_eq!(decode_plain(b"alice\0pw"), Err(PlainError::NoUsername));
        assert_eq!(decode_plain(b"\0\0pw"), Err(PlainError::NoUsername));
        assert_eq!(decode_plain(b"\0a\0b\0c"), Err(PlainError::Format));
        assert_eq!(
            PlainError::Format.to_string(),
            "Credential format error: username or password is empty or contains NUL(\\0) character"
        );
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = decode_plain(b"\0alice\0s3cret").unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn hashes_are_cassandras_bcrypt_2a_cost_10_and_check_both_ways() {
        let h = hash_password("cassandra").unwrap();
        assert!(h.starts_with("$2a$10$"), "{h}");
        assert_eq!(h.len(), 60);
        assert!(check_password("cassandra", &h));
        assert!(!check_password("Cassandra", &h));
        assert!(!check_password("cassandra", "not a hash"));
        assert!(is_bcrypt_hash(&h));
        assert!(!is_bcrypt_hash("$2a$10$short"));
    }

    #[test]
    fn a_hash_made_by_jbcrypt_checks_here() {
        // jBCrypt's own test vector (Cassandra hashes with jBCrypt): the empty password, cost 6.
        let h = "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.";
        assert!(check_password("", h));
        assert!(!check_password("x", h));
        assert!(is_bcrypt_hash(dummy_hash()));
        assert!(!check_password("", dummy_hash()));
    }
}
