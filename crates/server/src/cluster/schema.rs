//! Schema agreement (see `docs/cluster-schema.md`): a local schema change is pushed to every
//! live peer; a peer gossiping another schema version is pulled from; whatever arrives is
//! merged by the coordinator (an order-independent merge), so every node converges on the
//! same schema and version.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::Coordinator;
use ilion_coordinator::schema::Schema;
use ilion_cql::protocol::Event;
use ilion_gossip::ApplicationState;
use ilion_gossip::driver::Command;
use tokio::sync::{broadcast, mpsc, watch};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::peers::Peers;
use super::proto::schema_client::SchemaClient;
use super::proto::schema_server;
use super::proto::{SchemaDocument, SchemaPullRequest, SchemaVersion};
use super::view::ClusterView;

/// How often gossiped schema versions are compared with ours even without a change event.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// What merging a schema needs; shared by the `Schema` service and the sync task.
#[derive(Debug, Clone)]
pub(crate) struct SchemaSync {
    pub coordinator: Arc<Coordinator>,
    pub view: Arc<ClusterView>,
    pub client_events: broadcast::Sender<Event>,
    pub gossip: mpsc::UnboundedSender<Command>,
    pub peers: Arc<Peers>,
    pub timeout: Duration,
}

impl SchemaSync {
    /// This node's schema as a document.
    fn document(&self) -> Result<SchemaDocument, serde_json::Error> {
        let schema = self.coordinator.schema();
        Ok(SchemaDocument {
            version: schema.version().to_string(),
            schema_json: serde_json::to_vec(&schema)?.into(),
        })
    }

    /// Announces our (possibly new) schema version in gossip and in the view.
    fn announce(&self, version: Uuid) {
        self.view.set_local_schema_version(version);
        let _ = self.gossip.send(Command::Set(
            ApplicationState::SchemaVersion,
            version.to_string(),
        ));
    }

    /// Merges a received document; tells registered clients what changed.
    async fn merge(&self, doc: &SchemaDocument) -> Result<Uuid, String> {
        let remote: Schema = serde_json::from_slice(&doc.schema_json)
            .map_err(|e| format!("undecodable schema: {e}"))?;
        let coordinator = self.coordinator.clone();
        let events = tokio::task::spawn_blocking(move || coordinator.merge_schema(&remote))
            .await
            .map_err(|e| format!("schema merge failed: {e}"))?
            .map_err(|e| format!("schema merge failed: {e}"))?;
        let version = self.coordinator.schema_version();
        if !events.is_empty() {
            for change in events {
                let _ = self.client_events.send(Event::SchemaChange(change));
            }
            self.announce(version);
        }
        Ok(version)
    }

    fn client(&self, peer: IpAddr) -> Option<SchemaClient<tonic::transport::Channel>> {
        let channel = self.peers.channel(self.view.storage_endpoint(peer)).ok()?;
        Some(
            SchemaClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
        )
    }

    async fn push(&self, peer: IpAddr, doc: SchemaDocument) {
        let Some(mut client) = self.client(peer) else {
            return;
        };
        match tokio::time::timeout(self.timeout, client.push(doc)).await {
            Ok(Ok(_)) => tracing::debug!(%peer, "schema pushed"),
            Ok(Err(status)) => tracing::info!(%peer, %status, "schema push failed"),
            Err(_) => tracing::info!(%peer, "schema push timed out"),
        }
    }

    async fn pull(&self, peer: IpAddr) {
        let Some(mut client) = self.client(peer) else {
            return;
        };
        let doc = match tokio::time::timeout(self.timeout, client.pull(SchemaPullRequest {})).await
        {
            Ok(Ok(doc)) => doc.into_inner(),
            Ok(Err(status)) => {
                tracing::info!(%peer, %status, "schema pull failed");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "schema pull timed out");
                return;
            }
        };
        if let Err(error) = self.merge(&doc).await {
            tracing::warn!(%peer, %error, "cannot merge a pulled schema");
        }
    }

    /// Pushes our schema to every live peer, concurrently.
    async fn push_to_live_peers(&self) {
        let doc = match self.document() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the schema");
                return;
            }
        };
        let pushes = self
            .view
            .live_peer_schema_versions()
            .into_iter()
            .map(|(peer, _)| {
                let this = self.clone();
                let doc = doc.clone();
                tokio::spawn(async move { this.push(peer, doc).await })
            })
            .collect::<Vec<_>>();
        for p in pushes {
            let _ = p.await;
        }
    }

    /// Pulls from every live peer gossiping a schema version other than ours.
    async fn pull_from_disagreeing_peers(&self) {
        let ours = self.coordinator.schema_version();
        for (peer, theirs) in self.view.live_peer_schema_versions() {
            if theirs.is_some_and(|v| v != ours) {
                self.pull(peer).await;
            }
        }
    }
}

/// Runs schema agreement until `stop` turns true: pushes after each local change (announced
/// on `local_changes`), compares versions on every `check` and every [`CHECK_INTERVAL`].
pub(crate) async fn run(
    sync: SchemaSync,
    mut local_changes: mpsc::UnboundedReceiver<Uuid>,
    mut check: mpsc::UnboundedReceiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(CHECK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            Some(version) = local_changes.recv() => {
                sync.announce(version);
                sync.push_to_live_peers().await;
            }
            Some(()) = check.recv() => {
                while check.try_recv().is_ok() {}
                sync.pull_from_disagreeing_peers().await;
            }
            _ = interval.tick() => sync.pull_from_disagreeing_peers().await,
        }
    }
}

/// The `Schema` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct SchemaService {
    pub sync: SchemaSync,
}

#[tonic::async_trait]
impl schema_server::Schema for SchemaService {
    async fn push(
        &self,
        request: Request<SchemaDocument>,
    ) -> Result<Response<SchemaVersion>, Status> {
        let version = self
            .sync
            .merge(&request.into_inner())
            .await
            .map_err(Status::invalid_argument)?;
        Ok(Response::new(SchemaVersion {
            version: version.to_string(),
        }))
    }

    async fn pull(
        &self,
        _request: Request<SchemaPullRequest>,
    ) -> Result<Response<SchemaDocument>, Status> {
        self.sync
            .document()
            .map(Response::new)
            .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))
    }
}
