//! The CQL native protocol listener: accepts connections and runs one task per connection
//! (see [`connection`]), which share the count of request bytes in flight ([`limits`]). On
//! shutdown it stops accepting, tells every connection to close, and waits for them.

mod accept;
pub(crate) mod clients;
mod connection;
pub(crate) mod limits;

use std::sync::Arc;

use ilion_coordinator::Coordinator;
use ilion_cql::protocol::Event;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub coordinator: Arc<Coordinator>,
    /// Pushed events (SCHEMA_CHANGE, ...) for connections that REGISTERed for them.
    pub events: broadcast::Sender<Event>,
    /// Largest accepted frame body, in bytes (`native_transport_max_frame_size_mb`).
    pub max_frame_body: u32,
    /// Request and connection counters (served on the admin port).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Run the EXECUTEs the coordinator calls quick ([`Coordinator::is_quick`]) on the
    /// connection's own task instead of a blocking thread: true unless a write waits for an
    /// fsync (commit log `batch` mode).
    pub quick_inline: bool,
    /// Request body bytes in flight on the node and per client address
    /// (`native_transport_max_request_data_in_flight`, `..._per_ip`).
    pub in_flight: Arc<limits::InFlight>,
    /// TLS (`client_encryption_options`), when enabled.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    /// The audit log: logins and statements are recorded while it is on.
    pub audit: Arc<crate::audit::AuditLog>,
    /// The connections, as `system_views.clients` lists them.
    pub clients: Arc<clients::Registry>,
}

/// Serves connections from `listener` until `shutdown` turns true, then closes them all.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    tracing::debug!(%peer, "cql connection accepted");
                    connections.spawn(accept::serve_connection(stream, peer, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a cql connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
