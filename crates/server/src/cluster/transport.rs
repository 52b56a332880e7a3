//! Gossip over gRPC: [`GrpcTransport`] sends each encoded gossip message as one `Gossip.Send`
//! call and receives what the node's [`GossipService`] is handed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::peers::Peers;
use super::proto::gossip_client::GossipClient;
use super::proto::gossip_server::Gossip;
use super::proto::{GossipMessage, GossipReceived};

/// Received messages waiting for the gossiper; beyond this they are dropped (gossip
/// tolerates loss, and a full inbox means the gossiper is far behind anyway).
const INBOX: usize = 1024;

/// The sending half: a [`ilion_gossip::Transport`] over the peers' gRPC services.
#[derive(Debug)]
pub struct GrpcTransport {
    peers: Arc<Peers>,
    inbox: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
    in_flight: Arc<AtomicUsize>,
}

/// The receiving half: the `Gossip` gRPC service, feeding a [`GrpcTransport`].
#[derive(Debug, Clone)]
pub struct GossipService {
    inbox: mpsc::Sender<Vec<u8>>,
    max_message_bytes: usize,
}

/// A connected pair: messages the service receives come out of the transport's `recv`.
/// Sends give up after `timeout`; received messages over `max_message_bytes` are refused.
pub fn grpc_transport(
    peers: Arc<Peers>,
    timeout: Duration,
    max_message_bytes: usize,
) -> (GrpcTransport, GossipService) {
    let (tx, rx) = mpsc::channel(INBOX);
    (
        GrpcTransport {
            peers,
            inbox: rx,
            timeout,
            in_flight: Arc::new(AtomicUsize::new(0)),
        },
        GossipService {
            inbox: tx,
            max_message_bytes,
        },
    )
}

impl GrpcTransport {
    /// Sends not finished yet (a stopping node waits for its shutdown announcement).
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }
}

impl ilion_gossip::Transport for GrpcTransport {
    async fn send(&self, to: SocketAddr, bytes: Vec<u8>) -> ilion_gossip::Result<()> {
        // The driver sends one message after another; a slow or dead peer must not hold up
        // the round, so each call runs on its own task and failures are only logged.
        let channel = match self.peers.channel(to) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%to, error = %e, "no channel for gossip");
                return Ok(());
            }
        };
        let timeout = self.timeout;
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let mut client = GossipClient::new(channel);
            let call = client.send(GossipMessage {
                payload: bytes.into(),
            });
            match tokio::time::timeout(timeout, call).await {
                Ok(Ok(_)) => {}
                Ok(Err(status)) => tracing::trace!(%to, %status, "gossip send failed"),
                Err(_) => tracing::trace!(%to, "gossip send timed out"),
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
        Ok(())
    }

    async fn recv(&mut self) -> ilion_gossip::Result<Vec<u8>> {
        self.inbox
            .recv()
            .await
            .ok_or(ilion_gossip::Error::TransportClosed)
    }
}

#[tonic::async_trait]
impl Gossip for GossipService {
    async fn send(
        &self,
        request: Request<GossipMessage>,
    ) -> Result<Response<GossipReceived>, Status> {
        let payload = request.into_inner().payload;
        if payload.len() > self.max_message_bytes {
            return Err(Status::invalid_argument(format!(
                "gossip message of {} bytes exceeds the limit of {}",
                payload.len(),
                self.max_message_bytes
            )));
        }
        if self.inbox.try_send(payload.to_vec()).is_err() {
            tracing::debug!("gossip inbox full or closed; dropping a message");
        }
        Ok(Response::new(GossipReceived {}))
    }
}
