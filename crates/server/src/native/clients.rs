//! The connected CQL clients, for `system_views.clients`: each connection is registered while
//! it lives and keeps its entry current (STARTUP options, login, requests served). A request
//! is counted on the connection's own atomic, not under the registry's lock, which only
//! changes when a connection opens, starts up, logs in or closes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ilion_coordinator::virtual_tables::{ClientInfo, Clients};
use parking_lot::Mutex;

/// Every connection's entry, by connection number.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    next: AtomicU64,
    entries: Mutex<BTreeMap<u64, (ClientInfo, Arc<AtomicU64>)>>,
}

impl Clients for Registry {
    fn clients(&self) -> Vec<ClientInfo> {
        self.entries
            .lock()
            .values()
            .map(|(info, requests)| ClientInfo {
                request_count: requests.load(Ordering::Relaxed),
                ..info.clone()
            })
            .collect()
    }
}

impl Registry {
    /// Registers a connection from `peer` (with its TLS version and cipher suite when
    /// encrypted); the entry goes when the handle is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        peer: SocketAddr,
        ssl: Option<(String, String)>,
    ) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let requests = Arc::new(AtomicU64::new(0));
        let info = ClientInfo {
            address: Some(peer.ip()),
            port: peer.port(),
            connection_stage: "established",
            ssl,
            ..ClientInfo::default()
        };
        self.entries.lock().insert(id, (info, requests.clone()));
        Registered {
            registry: self.clone(),
            id,
            requests,
        }
    }
}

/// A connection's entry in the [`Registry`].
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
    requests: Arc<AtomicU64>,
}

impl Registered {
    /// Changes the entry.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ClientInfo)) {
        if let Some((e, _)) = self.registry.entries.lock().get_mut(&self.id) {
            f(e);
        }
    }

    /// One more request served.
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.entries.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_listed_while_it_lives_with_what_it_said() {
        let registry = Arc::new(Registry::default());
        let a = registry.register("127.0.0.1:5000".parse().unwrap(), None);
        let b = registry.register(
            "127.0.0.2:6000".parse().unwrap(),
            Some(("TLSv1_3".into(), "TLS13_AES_256_GCM_SHA384".into())),
        );
        a.update(|e| {
            e.username = Some("alice".into());
            e.connection_stage = "ready";
        });
        a.count_request();
        a.count_request();
        let listed = registry.clients();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].username.as_deref(), Some("alice"));
        assert_eq!(listed[0].request_count, 2);
        assert!(listed[1].ssl.is_some());
        drop(b);
        assert_eq!(registry.clients().len(), 1);
        drop(a);
        assert!(registry.clients().is_empty());
    }
}
