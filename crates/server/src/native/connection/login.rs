//! Logging in on a connection: an AUTH_RESPONSE's SASL PLAIN token is checked off the I/O
//! threads (bcrypt is slow on purpose), one at a time per connection, and a refusal is answered
//! only after [`FAILED_LOGIN_DELAY`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use ilion_cql::protocol::{AuthSuccess, ErrorKind, ProtocolVersion, Response, ResponseEnvelope};

use super::{Outbound, Reader};

/// How long a refused login waits before its answer: slows password guessing on one
/// connection (the bcrypt check already costs tens of milliseconds of CPU per attempt).
const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

impl Reader {
    /// Checks an AUTH_RESPONSE's SASL PLAIN token on a blocking thread (bcrypt is slow on
    /// purpose), then answers AUTH_SUCCESS, or after [`FAILED_LOGIN_DELAY`] the refusal.
    pub(super) fn authenticate(
        &mut self,
        version: ProtocolVersion,
        stream: i16,
        token: Option<Bytes>,
    ) {
        if self.authenticating.swap(true, Ordering::SeqCst) {
            self.error(
                stream,
                ErrorKind::ProtocolError,
                "Unexpected message AUTH_RESPONSE: the previous one is still being checked".into(),
            );
            return;
        }
        let authenticating = self.authenticating.clone();
        let shared = self.shared.clone();
        let login = self.login.clone();
        let tx = self.tx.clone();
        let peer = self.peer;
        let client = self.client.clone();
        tokio::spawn(async move {
            let coordinator = shared.coordinator.clone();
            let token = token.unwrap_or_default();
            // SASL PLAIN is `authzid NUL authcid NUL password`: the audit log names the
            // role tried, never the password.
            let tried = shared.audit.is_enabled().then(|| {
                token
                    .split(|b| *b == 0)
                    .nth(1)
                    .map(|name| String::from_utf8_lossy(name).into_owned())
            });
            let outcome = tokio::task::spawn_blocking(move || coordinator.authenticate(&token))
                .await
                .map_err(|e| ilion_coordinator::Error::Server {
                    message: format!("authentication failed to run: {e}"),
                })
                .and_then(|r| r);
            let response = match outcome {
                Ok(role) => {
                    tracing::debug!(%peer, %role, "cql login");
                    shared.audit.record(
                        &crate::audit::Subject::login(true, ""),
                        Some(role.as_str()),
                        peer,
                    );
                    *login.lock() = Some(Arc::from(role.as_str()));
                    client.update(|e| {
                        e.username = Some(role.clone());
                        e.connection_stage = "ready";
                    });
                    Response::AuthSuccess(AuthSuccess { token: None })
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "cql login refused");
                    shared.audit.record(
                        &crate::audit::Subject::login(false, &e.to_string()),
                        tried.flatten().as_deref(),
                        peer,
                    );
                    tokio::time::sleep(FAILED_LOGIN_DELAY).await;
                    Response::Error(e.to_response())
                }
            };
            let envelope = ResponseEnvelope::new(version, stream, response);
            let _ = tx.send(Outbound::Response {
                envelope,
                then: None,
                reservation: None,
            });
            authenticating.store(false, Ordering::SeqCst);
        });
    }
}
