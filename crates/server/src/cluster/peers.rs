//! Connections to other nodes: a small pool of gRPC channels per peer, opened lazily and
//! reconnected by tonic when a peer comes back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tonic::transport::{Channel, Endpoint};

/// Channels per peer. Each is one HTTP/2 connection multiplexing many calls; a few spread
/// large replica messages over more than one socket.
pub const CHANNELS_PER_PEER: usize = 2;

/// The pool of channels to other nodes, keyed by their gRPC address.
#[derive(Debug)]
pub struct Peers {
    connect_timeout: Duration,
    channels: Mutex<HashMap<SocketAddr, Vec<Channel>>>,
    next: AtomicUsize,
}

impl Peers {
    /// An empty pool; connecting to a peer gives up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Peers {
        Peers {
            connect_timeout,
            channels: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
        }
    }

    /// A channel to `addr` (the pool's channels are used in turn).
    pub fn channel(&self, addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
        let mut map = self.channels.lock();
        if let std::collections::hash_map::Entry::Vacant(slot) = map.entry(addr) {
            let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
                .connect_timeout(self.connect_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10))
                .keep_alive_timeout(Duration::from_secs(10));
            let pool = (0..CHANNELS_PER_PEER)
                .map(|_| crate::tls::internode::connect_lazy(&endpoint))
                .collect();
            slot.insert(pool);
        }
        let pool = map.get(&addr).map(Vec::as_slice).unwrap_or_default();
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        match pool.get(i % pool.len().max(1)) {
            Some(c) => Ok(c.clone()),
            // Unreachable (the pool was just filled); build a fresh lazy channel regardless.
            None => Ok(crate::tls::internode::connect_lazy(&Endpoint::from_shared(
                format!("http://{addr}"),
            )?)),
        }
    }
}
