//! The coordinator's messages between nodes: [`GrpcMessenger`] (the coordinator's
//! [`Messenger`], one `Replica.Call` per request) and [`ReplicaService`] (the receiving side,
//! which hands each payload to the node's [`ReplicaHandler`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ilion_coordinator::cluster::BoxFuture;
use ilion_coordinator::{MessagingError, Messenger};
use parking_lot::RwLock;
use tonic::{Code, Request, Response, Status};

use super::peers::Peers;
use super::proto::Envelope;
use super::proto::replica_client::ReplicaClient;
use super::proto::replica_server::{Replica, ReplicaServer};
use super::view::ClusterView;

/// Handles a message from another node's coordinator (`from` is its listen address) and
/// returns the answer; an `Err` reaches the sender as [`MessagingError::Remote`]. It runs on
/// a blocking thread, so it may do storage I/O.
pub type ReplicaHandler = Arc<dyn Fn(IpAddr, Bytes) -> Result<Bytes, String> + Send + Sync>;

/// [`Messenger`] over the peers' `Replica` gRPC services. A member's address names the node;
/// its storage port is the one it gossips from ([`ClusterView::storage_endpoint`]), or one
/// port for every node.
///
/// Each call runs as a task on the tokio runtime the messenger was made in, and the returned
/// future only waits for that task's answer: the coordinator may poll it from any thread,
/// including its own background threads (hint delivery, batchlog replay) that are not part
/// of the runtime.
#[derive(Debug, Clone)]
pub struct GrpcMessenger {
    peers: Arc<Peers>,
    local: IpAddr,
    ports: Ports,
    runtime: Option<tokio::runtime::Handle>,
}

/// Where a peer's gRPC service listens.
#[derive(Debug, Clone)]
enum Ports {
    /// Every node on the same port.
    Same(u16),
    /// Each node on the port it gossips from.
    Gossiped(Arc<ClusterView>),
}

impl GrpcMessenger {
    /// Sends as `local`, to peers that all listen on `port`. Made inside a tokio runtime,
    /// calls run on that runtime; made outside one, each call needs the poller to be inside
    /// a runtime.
    pub fn new(peers: Arc<Peers>, local: IpAddr, port: u16) -> GrpcMessenger {
        GrpcMessenger {
            peers,
            local,
            ports: Ports::Same(port),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Sends as the view's local node, to each peer at the storage endpoint the view knows.
    pub fn with_view(peers: Arc<Peers>, view: Arc<ClusterView>) -> GrpcMessenger {
        GrpcMessenger {
            peers,
            local: view.local().address,
            ports: Ports::Gossiped(view),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn endpoint(&self, to: IpAddr) -> SocketAddr {
        match &self.ports {
            Ports::Same(port) => SocketAddr::new(to, *port),
            Ports::Gossiped(view) => view.storage_endpoint(to),
        }
    }
}

/// The messaging error for a failed call.
fn messaging_error(address: IpAddr, timeout: Duration, status: &Status) -> MessagingError {
    match status.code() {
        Code::DeadlineExceeded => MessagingError::Timeout { address, timeout },
        // Connection refused, reset, or the peer's server going away.
        Code::Unavailable => MessagingError::Unreachable {
            address,
            reason: status.message().to_owned(),
        },
        _ => MessagingError::Remote {
            address,
            reason: status.message().to_owned(),
        },
    }
}

impl Messenger for GrpcMessenger {
    fn request(
        &self,
        to: IpAddr,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, MessagingError>> {
        // Making a peer's first channel spawns its connection task: inside the runtime too.
        let _entered = self.runtime.as_ref().map(tokio::runtime::Handle::enter);
        let channel = self.peers.channel(self.endpoint(to));
        let from = self.local.to_string();
        let call = async move {
            let channel = channel.map_err(|e| MessagingError::Unreachable {
                address: to,
                reason: e.to_string(),
            })?;
            let mut client = ReplicaClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let request = Request::new(Envelope { from, payload });
            match tokio::time::timeout(timeout, client.call(request)).await {
                Err(_) => Err(MessagingError::Timeout {
                    address: to,
                    timeout,
                }),
                Ok(Err(status)) => Err(messaging_error(to, timeout, &status)),
                Ok(Ok(response)) => Ok(response.into_inner().payload),
            }
        };
        let Some(runtime) = &self.runtime else {
            return Box::pin(call);
        };
        let (answer, wait) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            // The caller may have given up waiting; then nobody needs the answer.
            let _ = answer.send(call.await);
        });
        Box::pin(async move {
            wait.await.unwrap_or_else(|_| {
                Err(MessagingError::Unreachable {
                    address: to,
                    reason: "the node's runtime is shutting down".to_owned(),
                })
            })
        })
    }
}

/// The `Replica` gRPC service.
#[derive(Clone)]
pub struct ReplicaService {
    handler: Arc<RwLock<Option<ReplicaHandler>>>,
}

impl std::fmt::Debug for ReplicaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaService")
            .field("handler", &self.handler.read().is_some())
            .finish()
    }
}

impl ReplicaService {
    /// A service without a handler: calls fail with `UNIMPLEMENTED` until one is set.
    pub fn new() -> ReplicaService {
        ReplicaService {
            handler: Arc::new(RwLock::new(None)),
        }
    }

    /// The gRPC service, with no message size limit (replica messages carry whole
    /// partitions; the coordinator bounds them).
    pub fn into_server(self) -> ReplicaServer<ReplicaService> {
        ReplicaServer::new(self)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// Sets (or replaces) the handler.
    pub fn set_handler(&self, handler: ReplicaHandler) {
        *self.handler.write() = Some(handler);
    }
}

impl Default for ReplicaService {
    fn default() -> Self {
        ReplicaService::new()
    }
}

#[tonic::async_trait]
impl Replica for ReplicaService {
    async fn call(&self, request: Request<Envelope>) -> Result<Response<Envelope>, Status> {
        let envelope = request.into_inner();
        let from: IpAddr = envelope.from.parse().map_err(|_| {
            Status::invalid_argument(format!("bad sender address '{}'", envelope.from))
        })?;
        let Some(handler) = self.handler.read().clone() else {
            return Err(Status::unimplemented(
                "this node does not handle replica messages (no data path is attached)",
            ));
        };
        let payload = envelope.payload;
        let answer = tokio::task::spawn_blocking(move || handler(from, payload))
            .await
            .map_err(|e| Status::internal(format!("replica handler failed: {e}")))?;
        match answer {
            Ok(bytes) => Ok(Response::new(Envelope {
                from: String::new(),
                payload: bytes,
            })),
            Err(reason) => Err(Status::internal(reason)),
        }
    }
}
