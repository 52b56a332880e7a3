//! The one effect of gossip: moving encoded messages between nodes.
//!
//! [`Transport`] carries opaque bytes (an encoded [`crate::Envelope`], which names its sender), so
//! the node's gRPC service can carry them unchanged. [`InMemoryNetwork`] connects in-process nodes
//! and can drop, delay and partition messages.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::rng::SeededRng;
use crate::state::Endpoint;

/// Sends and receives encoded gossip messages.
pub trait Transport: Send + 'static {
    /// Sends `bytes` to `to`. Delivery is not guaranteed; gossip tolerates loss.
    fn send(&self, to: Endpoint, bytes: Vec<u8>) -> impl Future<Output = Result<()>> + Send;
    /// The next message for this node.
    fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>>> + Send;
}

/// Faults applied to every message of an [`InMemoryNetwork`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkFaults {
    /// Probability in `[0, 1]` that a message is dropped.
    pub drop_probability: f64,
    /// Delay before a message is delivered.
    pub delay: Duration,
}

#[derive(Debug)]
struct Inner {
    inboxes: BTreeMap<Endpoint, mpsc::UnboundedSender<Vec<u8>>>,
    faults: LinkFaults,
    /// Pairs that cannot reach each other, stored both ways.
    cut: BTreeSet<(Endpoint, Endpoint)>,
    rng: SeededRng,
    sent_bytes: u64,
    sent_messages: u64,
}

/// An in-process network for tests and examples.
#[derive(Debug, Clone)]
pub struct InMemoryNetwork {
    inner: Arc<Mutex<Inner>>,
}

impl InMemoryNetwork {
    /// A network whose drop decisions come from `seed`.
    pub fn new(seed: u64) -> InMemoryNetwork {
        InMemoryNetwork {
            inner: Arc::new(Mutex::new(Inner {
                inboxes: BTreeMap::new(),
                faults: LinkFaults::default(),
                cut: BTreeSet::new(),
                rng: SeededRng::new(seed),
                sent_bytes: 0,
                sent_messages: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Attaches a node at `ep` (replacing an earlier attachment, as a restart would).
    pub fn register(&self, ep: Endpoint) -> InMemoryTransport {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().inboxes.insert(ep, tx);
        InMemoryTransport {
            network: self.clone(),
            inbox: rx,
        }
    }

    /// Detaches `ep`: messages to it are lost, as to a stopped node.
    pub fn unregister(&self, ep: Endpoint) {
        self.lock().inboxes.remove(&ep);
    }

    /// Sets the faults applied to every message.
    pub fn set_faults(&self, faults: LinkFaults) {
        self.lock().faults = faults;
    }

    /// Cuts every link between `a` and `b`.
    pub fn partition(&self, a: &[Endpoint], b: &[Endpoint]) {
        let mut inner = self.lock();
        for x in a {
            for y in b {
                inner.cut.insert((*x, *y));
                inner.cut.insert((*y, *x));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.lock().cut.clear();
    }

    /// Messages and bytes accepted for sending so far (dropped ones included).
    pub fn sent(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.sent_messages, inner.sent_bytes)
    }

    fn deliver(&self, from: Option<Endpoint>, to: Endpoint, bytes: Vec<u8>) -> Result<()> {
        let (tx, delay) = {
            let mut inner = self.lock();
            inner.sent_messages += 1;
            inner.sent_bytes += bytes.len() as u64;
            let Some(tx) = inner.inboxes.get(&to).cloned() else {
                return Err(Error::UnknownEndpoint { endpoint: to });
            };
            if from.is_some_and(|f| inner.cut.contains(&(f, to))) {
                return Ok(());
            }
            let p = inner.faults.drop_probability;
            if p > 0.0 && inner.rng.unit() < p {
                return Ok(());
            }
            (tx, inner.faults.delay)
        };
        if delay.is_zero() {
            // A closed inbox is a stopped node: the message is lost, as on a real network.
            let _ = tx.send(bytes);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(bytes);
            });
        }
        Ok(())
    }
}

/// One node's attachment to an [`InMemoryNetwork`].
#[derive(Debug)]
pub struct InMemoryTransport {
    network: InMemoryNetwork,
    inbox: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Transport for InMemoryTransport {
    async fn send(&self, to: Endpoint, bytes: Vec<u8>) -> Result<()> {
        // The sender is inside the bytes; the partition check reads it from the header.
        let from = crate::codec::decode_sender(&bytes);
        self.network.deliver(from, to, bytes)
    }

    async fn recv(&mut self) -> Result<Vec<u8>> {
        self.inbox.recv().await.ok_or(Error::TransportClosed)
    }
}
