//! Fuzz target for the SASL PLAIN decoder of logins (`ilion-coordinator`'s `auth::sasl`).

use ilion_coordinator::auth::sasl::decode_plain;

/// An AUTH_RESPONSE token out of arbitrary bytes. A token that decodes has a non-empty name
/// and password without NUL, and (when it is UTF-8) ends with `name NUL password`; anything
/// else is refused, never a panic.
pub fn sasl_plain(data: &[u8]) {
    let Ok(c) = decode_plain(data) else {
        return;
    };
    assert!(!c.username.is_empty() && !c.password.is_empty());
    assert!(!c.username.contains('\0') && !c.password.contains('\0'));
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(text.ends_with(&format!("{}\0{}", c.username, c.password)));
    }
}
