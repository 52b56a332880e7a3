//! The connected CQL clients, for `system_views.clients`: each connection is registered while
//! it lives and keeps its entry current (STARTUP options, login, requests served).

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
    entries: Mutex<BTreeMap<u64, ClientInfo>>,
}

impl Clients for Registry {
    fn clients(&self) -> Vec<ClientInfo> {
        self.entries.lock().values().cloned().collect()
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
        self.entries.lock().insert(
            id,
            ClientInfo {
                address: Some(peer.ip()),
                port: peer.port(),
                connection_stage: "established",
                ssl,
                ..ClientInfo::default()
            },
        );
        Registered {
            registry: self.clone(),
            id,
        }
    }
}

/// A connection's entry in the [`Registry`].
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Registered {
    /// Changes the entry.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ClientInfo)) {
        if let Some(e) = self.registry.entries.lock().get_mut(&self.id) {
            f(e);
        }
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
            e.request_count += 2;
        });
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
