//! The coordinator: owns the schema and the node's identity, and runs statements.
//!
//! One file per job: `open` (the builder, the node's identity and the stores), `statement`
//! (parsing and running QUERY statements), `prepared` (PREPARE and EXECUTE), `schema_change`
//! (DDL and schemas merged from other nodes), `batch` (BATCH), `streaming` (token ranges
//! streamed between nodes) and `cache` (values computed once per schema).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::Result;
use crate::cluster::Membership;
use crate::data::DataPath;
use crate::replication::local::LocalReplica;
use crate::replication::{Cluster, Replication};
use crate::schema::Schema;
use crate::system::LocalInfo;

mod access;
mod batch;
mod cache;
mod open;
mod prepared;
mod schema_change;
mod statement;
mod streaming;

use cache::PerSchema;
use prepared::PreparedStatement;
use statement::parse;

/// The `system.local` rows and the gossip generation they were made with.
type LocalRows = (Option<u64>, Vec<Vec<Option<ilion_cql::protocol::Value>>>);

pub use batch::{
    BATCH_SIZE_FAIL_THRESHOLD, BATCH_SIZE_WARN_THRESHOLD, Executed,
    UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD,
};
pub use open::CoordinatorBuilder;
pub use streaming::{STREAM_PAGE_BYTES, StreamPage};

/// What the coordinator needs to know about its node.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub cluster_name: String,
    pub listen_address: IpAddr,
    /// The address clients reach this node on (`rpc_address`).
    pub native_address: IpAddr,
    pub native_port: u16,
    pub storage_port: u16,
    pub data_center: String,
    pub rack: String,
    /// Tokens this node takes on its first start.
    pub num_tokens: u16,
    /// Where `schema.json` and `local.json` live.
    pub data_dir: PathBuf,
}

/// A client connection's state that statements read: the keyspace of `USE`.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub keyspace: Option<String>,
}

/// Runs statements against the node's schema (and, as it lands, its data).
#[derive(Debug)]
pub struct Coordinator {
    local: LocalInfo,
    /// The one time source: statements, stores, hints and the batchlog read it.
    clock: Arc<dyn ilion_storage::Clock>,
    data_dir: PathBuf,
    system: Schema,
    /// Authentication and authorization: the settings and the roles and permissions caches.
    access: access::Access,
    /// The current schema; statements take a snapshot and hold no lock while they run. Shared
    /// with the replication path (batch replay looks keyspaces up).
    schema: Arc<RwLock<Arc<Schema>>>,
    /// Serialises schema changes, so each is applied to the latest schema and saved in order.
    ddl: Mutex<()>,
    /// Looked up on every EXECUTE (foldhash rather than SipHash; ids are 16-byte digests).
    prepared: RwLock<foldhash::HashMap<Bytes, Arc<PreparedStatement>>>,
    /// The replica-local data of the user tables (`data_dir/data`).
    store: Arc<ilion_storage::Store>,
    /// Where user-table statements send mutations and reads.
    data: Arc<dyn DataPath>,
    /// This node as a replica (the user tables, hints and batchlog).
    replica: Arc<LocalReplica>,
    /// The node's snapshots (`auto_snapshot` before DROP and TRUNCATE included).
    snapshots: Arc<crate::snapshots::Snapshots>,
    /// The distributed data path, once [`Coordinator::enable_replication`] ran.
    replication: Option<Arc<Replication>>,
    /// The cluster as gossip shows it (`system.peers`); `None` for a node on its own.
    membership: Option<Arc<dyn Membership>>,
    /// The server's connected clients (`system_views.clients`).
    clients: Option<Arc<dyn crate::virtual_tables::Clients>>,
    /// The node's effective settings, for `system_views.settings`.
    settings: Option<Arc<dyn crate::virtual_tables::Settings>>,
    /// Told the new schema version after every local schema change (the cluster pushes it).
    schema_listener: RwLock<Option<SchemaListener>>,
    /// The current schema's version (a digest of the whole schema).
    version: PerSchema<Uuid>,
    /// The `system.local` row, which changes only with the schema version (and once, when
    /// gossip starts and gives the generation it was made with).
    local_rows: PerSchema<LocalRows>,
}

/// Called with the new schema version after a schema statement changed the schema.
#[derive(Clone)]
pub struct SchemaListener(pub Arc<dyn Fn(Uuid) + Send + Sync>);

impl std::fmt::Debug for SchemaListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchemaListener")
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        if let Err(e) = self.store.flush() {
            tracing::warn!(error = %e, "flushing the store on shutdown failed");
        }
        if let Err(e) = self.replica.flush() {
            tracing::warn!(error = %e, "flushing the hints and batchlog on shutdown failed");
        }
    }
}

const SCHEMA_FILE: &str = "schema.json";

impl Coordinator {
    /// Joins a cluster: from now on statements on user tables go to the replicas of each
    /// partition at the client's consistency level ([`Replication`]). Returns the replication
    /// path, whose [`Replication::spawn_background`] (or periodic calls of
    /// [`Replication::deliver_hints`] and [`Replication::replay_batchlog`]) delivers hints and
    /// replays the batchlog.
    pub fn enable_replication(&mut self, cluster: Cluster) -> Arc<Replication> {
        let r = Arc::new(Replication::new(
            self.replica.clone(),
            self.schema.clone(),
            cluster,
            self.local.data_center.clone(),
        ));
        self.data = r.clone();
        self.replication = Some(r.clone());
        r
    }

    /// The replication path, when [`Coordinator::enable_replication`] ran.
    pub fn replication(&self) -> Option<&Arc<Replication>> {
        self.replication.as_ref()
    }

    /// Answers a message another node's coordinator sent this node as a replica (a mutation,
    /// read, digest read, hint or batchlog request; see `replication::messages`). The transport
    /// carries the returned bytes back; an error is the remote failure the sender sees.
    pub fn handle_message(&self, from: IpAddr, payload: Bytes) -> Result<Bytes> {
        crate::replication::count_replica_request(&self.replica);
        let body = crate::replication::messages::decode_request(&payload)
            .map_err(|e| crate::Error::server(e.to_string()))?;
        if let (crate::replication::messages::request::Body::CounterWrite(w), Some(r)) =
            (&body, &self.replication)
        {
            return Ok(r.handle_counter_write(w.clone()));
        }
        self.replica.handle_body(body).inspect_err(|e| {
            tracing::debug!(%from, error = %e, "replica request failed");
        })
    }

    /// The node's host id.
    pub fn host_id(&self) -> Uuid {
        self.local.host_id
    }

    /// The node's tokens.
    pub fn tokens(&self) -> &[i64] {
        &self.local.tokens
    }

    /// The replica-local store of the user tables.
    pub fn store(&self) -> &Arc<ilion_storage::Store> {
        &self.store
    }

    /// The node's snapshots.
    pub fn snapshots(&self) -> &Arc<crate::snapshots::Snapshots> {
        &self.snapshots
    }

    /// Replaces the data path (a cluster's replication in place of the local store).
    pub fn set_data_path(&mut self, data: Arc<dyn DataPath>) {
        self.data = data;
    }

    /// Shows the cluster (`system.peers`, `system.peers_v2`) as `membership` sees it.
    pub fn set_membership(&mut self, membership: Arc<dyn Membership>) {
        self.membership = Some(membership);
    }

    /// Lists the node's effective settings in `system_views.settings`.
    pub fn set_settings(&mut self, settings: Arc<dyn crate::virtual_tables::Settings>) {
        self.settings = Some(settings);
    }

    /// Lists the server's connections in `system_views.clients`.
    pub fn set_clients(&mut self, clients: Arc<dyn crate::virtual_tables::Clients>) {
        self.clients = Some(clients);
    }

    /// The cluster view, when the node runs in a cluster.
    pub fn membership(&self) -> Option<&Arc<dyn Membership>> {
        self.membership.as_ref()
    }

    /// Calls `listener` with the new version after every local schema change.
    pub fn set_schema_listener(&self, listener: SchemaListener) {
        *self.schema_listener.write() = Some(listener);
    }

    /// The current schema version (changes with every DDL).
    pub fn schema_version(&self) -> Uuid {
        let schema = self.schema.read().clone();
        self.version
            .get(&schema, || Ok(schema.version()))
            .map_or_else(|_| schema.version(), |v| *v)
    }

    /// A copy of the current user schema.
    pub fn schema(&self) -> Schema {
        (**self.schema.read()).clone()
    }

    /// Starts a statement at the injected clock's time (see `statement_time`).
    pub(crate) fn statement_time(&self) -> crate::statement_time::StatementTime {
        crate::statement_time::begin(self.clock.now_micros())
    }
}
