//! The coordinator: owns the schema and the node's identity, and runs statements.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use ilion_cql::language::ast::{QualifiedName, Statement};
use ilion_cql::protocol::{Prepared, PreparedMetadata, QueryParameters, ResultBody, RowsMetadata};
use ilion_cql::{ParsedStatement, parse_statement};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cluster::{MemberStatus, Membership};
use crate::data::{DataPath, LocalDataPath, storage_error};
use crate::replication::local::LocalReplica;
use crate::replication::{Cluster, Replication};
use crate::schema::{Schema, ddl, is_system_keyspace, merge, store};
use crate::system::{self, LocalInfo};
use crate::values::Bound;
use crate::{Error, Result, data, describe, select};

mod batch;
mod cache;
mod streaming;

use cache::PerSchema;

pub use batch::{
    BATCH_SIZE_FAIL_THRESHOLD, BATCH_SIZE_WARN_THRESHOLD, Executed,
    UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD,
};
pub use streaming::StreamPage;

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

/// The node's identity, chosen on its first start and kept in `local.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LocalState {
    host_id: Uuid,
    tokens: Vec<i64>,
}

/// A client connection's state that statements read: the keyspace of `USE`.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub keyspace: Option<String>,
}

/// A prepared statement as this node remembers it (shared, so an EXECUTE copies nothing).
#[derive(Debug)]
struct PreparedStatement {
    parsed: ParsedStatement,
    keyspace: Option<String>,
    /// Touches one partition (or a system table computed in memory): see
    /// [`Coordinator::is_quick`].
    single_partition: bool,
    /// A SELECT's compiled selection (its columns, functions and result metadata), compiled
    /// on the first EXECUTE against each schema rather than on every one.
    selection: PerSchema<select::Selection>,
}

/// Runs statements against the node's schema (and, as it lands, its data).
#[derive(Debug)]
pub struct Coordinator {
    local: LocalInfo,
    data_dir: PathBuf,
    system: Schema,
    /// The current schema; statements take a snapshot and hold no lock while they run. Shared
    /// with the replication path (batch replay looks keyspaces up).
    schema: Arc<RwLock<Arc<Schema>>>,
    /// Serialises schema changes, so each is applied to the latest schema and saved in order.
    ddl: Mutex<()>,
    prepared: RwLock<HashMap<Bytes, Arc<PreparedStatement>>>,
    /// The replica-local data of the user tables (`data_dir/data`).
    store: Arc<ilion_storage::Store>,
    /// Where user-table statements send mutations and reads.
    data: Arc<dyn DataPath>,
    /// This node as a replica (the user tables, hints and batchlog).
    replica: Arc<LocalReplica>,
    /// The distributed data path, once [`Coordinator::enable_replication`] ran.
    replication: Option<Arc<Replication>>,
    /// The cluster as gossip shows it (`system.peers`); `None` for a node on its own.
    membership: Option<Arc<dyn Membership>>,
    /// Told the new schema version after every local schema change (the cluster pushes it).
    schema_listener: RwLock<Option<SchemaListener>>,
    /// The current schema's version (a digest of the whole schema).
    version: PerSchema<Uuid>,
    /// The `system.local` row, which changes only with the schema version.
    local_rows: PerSchema<Vec<Vec<Option<ilion_cql::protocol::Value>>>>,
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

/// Opens a [`Coordinator`] with a chosen clock or in-memory stores (tests, the simulator).
#[derive(Debug)]
pub struct CoordinatorBuilder {
    config: CoordinatorConfig,
    clock: Arc<dyn ilion_storage::Clock>,
    in_memory: bool,
    engine: ilion_lsm::Builder,
    tombstones: ilion_storage::TombstoneThresholds,
    initial_tokens: Option<Vec<i64>>,
}

impl CoordinatorBuilder {
    /// How many tombstones one read of a user table may scan before it warns the client and
    /// before it fails with Read_failure (default Cassandra's 1,000 and 100,000).
    pub fn tombstone_thresholds(
        mut self,
        thresholds: ilion_storage::TombstoneThresholds,
    ) -> CoordinatorBuilder {
        self.tombstones = thresholds;
        self
    }

    /// The tokens this node takes on its first start instead of random ones (a bootstrap
    /// chose them from the ring, or `initial_token` named them). Ignored once the node has an
    /// identity: tokens never change on a restart.
    pub fn initial_tokens(mut self, tokens: Vec<i64>) -> CoordinatorBuilder {
        self.initial_tokens = Some(tokens).filter(|t| !t.is_empty());
        self
    }

    /// The time source of the stores, hints and batchlog (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn ilion_storage::Clock>) -> CoordinatorBuilder {
        self.clock = clock;
        self
    }

    /// Keeps user data, hints and the batchlog in memory (the schema and identity files are
    /// still written to the data directory).
    pub fn in_memory(mut self) -> CoordinatorBuilder {
        self.in_memory = true;
        self
    }

    /// The storage engine's options of the on-disk stores (the commit log sync mode,
    /// memtable size, ...).
    pub fn engine(mut self, engine: ilion_lsm::Builder) -> CoordinatorBuilder {
        self.engine = engine;
        self
    }

    pub fn open(self) -> Result<Coordinator> {
        Coordinator::open_with(self)
    }
}

const SCHEMA_FILE: &str = "schema.json";
const LOCAL_FILE: &str = "local.json";
const DATA_DIR: &str = "data";
const SYSTEM_DATA_DIR: &str = "system_data";

impl Coordinator {
    /// Opens the coordinator: loads (or on first start creates) the node identity and the
    /// schema from `config.data_dir`.
    pub fn open(config: CoordinatorConfig) -> Result<Coordinator> {
        Coordinator::builder(config).open()
    }

    /// Starts a coordinator with options ([`CoordinatorBuilder`]).
    pub fn builder(config: CoordinatorConfig) -> CoordinatorBuilder {
        CoordinatorBuilder {
            config,
            clock: Arc::new(ilion_storage::SystemClock),
            in_memory: false,
            engine: ilion_lsm::Builder::default(),
            tombstones: ilion_storage::TombstoneThresholds::default(),
            initial_tokens: None,
        }
    }

    fn open_with(builder: CoordinatorBuilder) -> Result<Coordinator> {
        let CoordinatorBuilder {
            config,
            clock,
            in_memory,
            engine,
            tombstones,
            initial_tokens,
        } = builder;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            Error::server(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let local_path = config.data_dir.join(LOCAL_FILE);
        let state = match store::load::<LocalState>(&local_path)? {
            Some(s) => s,
            None => {
                let s = LocalState {
                    host_id: Uuid::new_v4(),
                    tokens: initial_tokens.unwrap_or_else(|| random_tokens(config.num_tokens)),
                };
                store::save(&local_path, &s)?;
                s
            }
        };
        let mut schema =
            store::load::<Schema>(&config.data_dir.join(SCHEMA_FILE))?.unwrap_or_default();
        // A schema saved before definitions carried their change times.
        let keyspaces = schema.keyspaces.clone();
        schema.history.backfill(&keyspaces);
        let (data_store, system_store) = if in_memory {
            (
                ilion_storage::Store::builder(clock.clone())
                    .tombstone_thresholds(tombstones)
                    .in_memory()
                    .map_err(storage_error)?,
                ilion_storage::Store::in_memory(clock.clone()),
            )
        } else {
            // User tables get the configured thresholds; the system tables (hints, batchlog)
            // keep the defaults.
            let open = |dir: &str, thresholds| {
                ilion_storage::Store::builder(clock.clone())
                    .engine(engine.clone())
                    .tombstone_thresholds(thresholds)
                    .open(config.data_dir.join(dir))
                    .map_err(|e| Error::server(format!("cannot open the {dir} store: {e}")))
            };
            (
                open(DATA_DIR, tombstones)?,
                open(
                    SYSTEM_DATA_DIR,
                    ilion_storage::TombstoneThresholds::default(),
                )?,
            )
        };
        let data_store = Arc::new(data_store);
        let replica = Arc::new(LocalReplica::new(
            data_store.clone(),
            Arc::new(system_store),
            clock,
        )?);
        // Tables of the schema the store lacks (created before the store existed, or a crash
        // between saving the schema and creating the table) are created now.
        for ks in schema.keyspaces.values() {
            for t in ks.tables.values() {
                data::ensure_table(&data_store, t, ks)?;
            }
        }
        let listen_address = config.listen_address;
        let local = LocalInfo {
            cluster_name: config.cluster_name,
            listen_address: config.listen_address,
            rpc_address: config.native_address,
            native_port: config.native_port,
            storage_port: config.storage_port,
            data_center: config.data_center,
            rack: config.rack,
            host_id: state.host_id,
            tokens: state.tokens,
        };
        Ok(Coordinator {
            local,
            data_dir: config.data_dir,
            system: system::system_schema()?,
            schema: Arc::new(RwLock::new(Arc::new(schema))),
            ddl: Mutex::new(()),
            prepared: RwLock::new(HashMap::new()),
            data: Arc::new(LocalDataPath::new(data_store.clone(), listen_address)),
            store: data_store,
            membership: None,
            schema_listener: RwLock::new(None),
            version: PerSchema::default(),
            local_rows: PerSchema::default(),
            replica,
            replication: None,
        })
    }

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
        self.replica.handle(&payload).inspect_err(|e| {
            tracing::debug!(%from, error = %e, "replica request failed");
        })
    }

    /// The datacenters of the cluster as gossip shows it (this node's first, then the others
    /// of every member that has not left), what NetworkTopologyStrategy's
    /// `replication_factor` shorthand expands to.
    fn known_datacenters(&self) -> Vec<String> {
        let mut dcs = vec![self.local.data_center.clone()];
        let membership = self
            .membership
            .as_ref()
            .or_else(|| self.replication.as_ref().map(|r| r.membership()));
        if let Some(m) = membership {
            for member in m.members() {
                if member.status != MemberStatus::Left
                    && !member.data_center.is_empty()
                    && !dcs.contains(&member.data_center)
                {
                    dcs.push(member.data_center);
                }
            }
        }
        dcs
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

    /// Replaces the data path (a cluster's replication in place of the local store).
    pub fn set_data_path(&mut self, data: Arc<dyn DataPath>) {
        self.data = data;
    }

    /// Shows the cluster (`system.peers`, `system.peers_v2`) as `membership` sees it.
    pub fn set_membership(&mut self, membership: Arc<dyn Membership>) {
        self.membership = Some(membership);
    }

    /// The cluster view, when the node runs in a cluster.
    pub fn membership(&self) -> Option<&Arc<dyn Membership>> {
        self.membership.as_ref()
    }

    /// Calls `listener` with the new version after every local schema change.
    pub fn set_schema_listener(&self, listener: SchemaListener) {
        *self.schema_listener.write() = Some(listener);
    }

    /// Merges a schema received from another node into this node's (see
    /// `docs/cluster-schema.md`): saves and publishes the result, creates, alters and drops
    /// the store's tables to match, and returns the changes as SCHEMA_CHANGE events for
    /// this node's clients (empty when the remote schema taught nothing new).
    pub fn merge_schema(&self, remote: &Schema) -> Result<Vec<ilion_cql::protocol::SchemaChange>> {
        let _serial = self.ddl.lock();
        let current = self.schema.read().clone();
        let next = merge::merge(&current, remote);
        if next == *current {
            return Ok(Vec::new());
        }
        store::save(&self.data_dir.join(SCHEMA_FILE), &next)?;
        let events = merge::changes(&current.keyspaces, &next.keyspaces);
        *self.schema.write() = Arc::new(next);
        data::sync_store(&self.store, &current, &self.schema.read())?;
        if !events.is_empty() {
            tracing::info!(changes = events.len(), "schema merged from another node");
        }
        Ok(events)
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

    /// Runs a QUERY.
    pub fn query(
        &self,
        session: &Session,
        text: &str,
        params: &QueryParameters,
    ) -> Result<ResultBody> {
        self.query_warned(session, text, params).map(|e| e.result)
    }

    /// Runs a QUERY and returns the warnings its response carries with its result.
    pub fn query_warned(
        &self,
        session: &Session,
        text: &str,
        params: &QueryParameters,
    ) -> Result<Executed> {
        let parsed = parse(text)?;
        let keyspace = params.keyspace.clone().or_else(|| session.keyspace.clone());
        let bound = Bound::new(&params.values, &parsed.bind_markers)?;
        self.run_warned(&parsed, keyspace.as_deref(), &bound, params, None)
    }

    /// PREPAREs a statement: its id is a digest of the keyspace and the text, so every node
    /// (and this one after a restart) gives the same id for the same statement.
    pub fn prepare(
        &self,
        session: &Session,
        text: &str,
        keyspace: Option<&str>,
    ) -> Result<Prepared> {
        let parsed = parse(text)?;
        let keyspace = keyspace
            .map(str::to_owned)
            .or_else(|| session.keyspace.clone());
        let (markers, result) = self.prepared_metadata(&parsed, keyspace.as_deref())?;
        let mut digest_input = keyspace.clone().unwrap_or_default().into_bytes();
        digest_input.push(0);
        digest_input.extend_from_slice(text.as_bytes());
        let id = Bytes::copy_from_slice(&xxhash_rust::xxh3::xxh3_128(&digest_input).to_be_bytes());
        let result_metadata_id = Bytes::copy_from_slice(
            &xxhash_rust::xxh3::xxh3_128(format!("{result:?}").as_bytes()).to_be_bytes(),
        );
        let global = markers.first().map(|c| c.table.clone());
        let pk_indexes = self.pk_indexes(&markers);
        // A `:name` marker is known to the client by its name (drivers bind values by it),
        // not by its column's.
        let mut markers = markers;
        for (spec, marker) in markers.iter_mut().zip(&parsed.bind_markers) {
            if let Some(name) = &marker.name {
                spec.name = name.as_str().to_owned();
            }
        }
        let metadata = PreparedMetadata {
            pk_indexes,
            global_table_spec: global.filter(|g| markers.iter().all(|c| &c.table == g)),
            columns: markers,
        };
        let single_partition = self.single_partition(&parsed, keyspace.as_deref());
        self.prepared.write().insert(
            id.clone(),
            Arc::new(PreparedStatement {
                parsed,
                keyspace,
                single_partition,
                selection: PerSchema::default(),
            }),
        );
        Ok(Prepared {
            id,
            result_metadata_id,
            metadata,
            result_metadata: RowsMetadata::new(result),
        })
    }

    /// EXECUTEs a prepared statement; an unknown id is [`Error::Unprepared`], which drivers
    /// answer by preparing again.
    pub fn execute(&self, id: &[u8], params: &QueryParameters) -> Result<ResultBody> {
        self.execute_warned(id, params).map(|e| e.result)
    }

    /// EXECUTEs a prepared statement and returns the warnings its response carries with its
    /// result.
    pub fn execute_warned(&self, id: &[u8], params: &QueryParameters) -> Result<Executed> {
        let stmt = self
            .prepared
            .read()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::Unprepared { id: id.to_vec() })?;
        let bound = Bound::new(&params.values, &stmt.parsed.bind_markers)?;
        self.run_warned(
            &stmt.parsed,
            stmt.keyspace.as_deref(),
            &bound,
            params,
            Some(&stmt.selection),
        )
    }

    /// Whether EXECUTE of prepared statement `id` finishes without waiting on anything but
    /// this node's CPU and memory, so a server may run it on its I/O threads instead of
    /// handing it to a blocking pool: the statement is an INSERT, UPDATE or DELETE, or a
    /// SELECT of one partition (every partition key column restricted by `=`) or of a system
    /// table computed in memory; and this node holds every replica (it is alone in its
    /// cluster, so no request goes to another node). What the commit log's sync mode costs
    /// is the caller's to judge (in `batch` mode a write waits for an fsync).
    pub fn is_quick(&self, id: &[u8]) -> bool {
        let single = self
            .prepared
            .read()
            .get(id)
            .is_some_and(|p| p.single_partition);
        single && self.replication.as_ref().is_none_or(|r| r.is_alone())
    }

    /// See [`Coordinator::is_quick`]: the statement's part of the answer.
    fn single_partition(&self, parsed: &ParsedStatement, keyspace: Option<&str>) -> bool {
        match &parsed.statement {
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => true,
            Statement::Select(s) => {
                let schema = self.schema.read().clone();
                let Ok((ks, table)) = self.resolve_table(&schema, &s.table, keyspace) else {
                    return false;
                };
                if is_system_keyspace(&ks.name) {
                    return ks.name == "system"
                        && matches!(table.name.as_str(), "local" | "peers" | "peers_v2");
                }
                table
                    .columns
                    .iter()
                    .filter(|c| c.kind == crate::schema::ColumnKind::PartitionKey)
                    .all(|c| {
                        s.where_clause.iter().any(|r| {
                            matches!(r, ilion_cql::language::ast::Relation::Compare {
                                target: ilion_cql::language::ast::RelationTarget::Column(name),
                                op: ilion_cql::language::ast::Operator::Eq,
                                ..
                            } if name.as_str() == c.name)
                        })
                    })
            }
            _ => false,
        }
    }

    /// [`Coordinator::run`], with the warnings of the statements that have some (BATCH, a
    /// SELECT that scanned many tombstones). `selection` caches a prepared SELECT's compiled
    /// selection.
    fn run_warned(
        &self,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
        selection: Option<&PerSchema<select::Selection>>,
    ) -> Result<Executed> {
        match &parsed.statement {
            Statement::Batch(b) => self.text_batch(b, keyspace, bound, params),
            Statement::Select(s) => self.select(s, keyspace, bound, params, selection),
            _ => self
                .run(parsed, keyspace, bound, params)
                .map(Executed::quiet),
        }
    }

    /// Runs a SELECT: a system table's rows computed in memory, or a user table's read.
    fn select(
        &self,
        s: &ilion_cql::language::ast::Select,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
        cached: Option<&PerSchema<select::Selection>>,
    ) -> Result<Executed> {
        let schema = self.schema.read().clone();
        let (ks, table) = self.resolve_table(&schema, &s.table, keyspace)?;
        let compile = || select::Selection::compile(s, table, ks);
        let selection = match cached {
            // JSON selects compile the selection of their plain form.
            Some(c) if !s.json => c.get(&schema, compile)?,
            _ => Arc::new(compile()?),
        };
        if ks.name == "system" && table.name == "local" {
            let rows = self.local_rows.get(&schema, || {
                system::rows(table, &self.local, &schema, &self.system, &self.store, None)
                    .ok_or_else(|| Error::server("system.local has no rows"))
            })?;
            return select::run(s, table, ks, &selection, &rows, bound, params)
                .map(Executed::quiet);
        }
        let membership = self.membership.as_deref();
        match system::rows(
            table,
            &self.local,
            &schema,
            &self.system,
            &self.store,
            membership,
        ) {
            Some(rows) => {
                select::run(s, table, ks, &selection, &rows, bound, params).map(Executed::quiet)
            }
            None if is_system_keyspace(&ks.name) => Err(not_built_data_path("SELECT")),
            None => data::select(&*self.data, ks, table, s, &selection, bound, params),
        }
    }

    fn prepared_metadata(
        &self,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
    ) -> Result<(
        Vec<ilion_cql::protocol::ColumnSpec>,
        Vec<ilion_cql::protocol::ColumnSpec>,
    )> {
        match &parsed.statement {
            Statement::Select(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.resolve_table(&schema, &s.table, keyspace)?;
                Ok((
                    select::marker_columns(s, table, ks)?,
                    select::result_columns(s, table, ks)?,
                ))
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                let name = match &parsed.statement {
                    Statement::Insert(s) => &s.table,
                    Statement::Update(s) => &s.table,
                    Statement::Delete(s) => &s.table,
                    _ => return Err(Error::server("unreachable statement kind")),
                };
                let schema = self.schema.read().clone();
                let (ks, table) = self.resolve_table(&schema, name, keyspace)?;
                let markers = data::write_marker_columns(ks, table, &parsed.statement)?;
                if markers.len() != parsed.bind_markers.len() {
                    return Err(Error::not_supported(
                        "Bind markers outside values, USING and = restrictions",
                    ));
                }
                Ok((markers, Vec::new()))
            }
            Statement::Batch(b) => Ok((self.batch_marker_columns(b, keyspace)?, Vec::new())),
            _ if parsed.bind_markers.is_empty() => Ok((Vec::new(), Vec::new())),
            other => Err(Error::not_supported(&format!(
                "Preparing {} with bind markers",
                other.kind_name()
            ))),
        }
    }

    /// The positions of the markers giving the partition key columns, in key order, when every
    /// key column of a user table has one (drivers route by them); otherwise empty.
    fn pk_indexes(&self, markers: &[ilion_cql::protocol::ColumnSpec]) -> Vec<u16> {
        let Some(first) = markers.first() else {
            return Vec::new();
        };
        let spec = &first.table;
        if is_system_keyspace(&spec.keyspace) || markers.iter().any(|m| m.table != *spec) {
            return Vec::new();
        }
        let schema = self.schema.read().clone();
        let Ok(table) = schema.table(&spec.keyspace, &spec.table) else {
            return Vec::new();
        };
        let mut keys: Vec<&crate::schema::Column> = table
            .columns
            .iter()
            .filter(|c| c.kind == crate::schema::ColumnKind::PartitionKey)
            .collect();
        keys.sort_by_key(|c| c.position);
        let found: Option<Vec<u16>> = keys
            .iter()
            .map(|k| {
                let mut at = markers.iter().enumerate().filter(|(_, m)| m.name == k.name);
                match (at.next(), at.next()) {
                    (Some((i, _)), None) => u16::try_from(i).ok(),
                    _ => None,
                }
            })
            .collect();
        found.unwrap_or_default()
    }

    fn resolve_table<'a>(
        &'a self,
        schema: &'a Schema,
        name: &QualifiedName,
        keyspace: Option<&str>,
    ) -> Result<(&'a crate::schema::Keyspace, &'a crate::schema::Table)> {
        let ks_name = ddl::keyspace_of(name, keyspace)?;
        let ks = match self.system.keyspaces.get(&ks_name) {
            Some(ks) => ks,
            None => schema.keyspace(&ks_name)?,
        };
        let table = ks.tables.get(name.name.as_str()).ok_or_else(|| {
            Error::invalid(format!("table {} does not exist", name.name.as_str()))
        })?;
        Ok((ks, table))
    }

    fn run(
        &self,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
    ) -> Result<ResultBody> {
        match &parsed.statement {
            Statement::Use(name) => {
                let name = name.as_str();
                if !self.system.keyspaces.contains_key(name) {
                    self.schema.read().keyspace(name)?;
                }
                Ok(ResultBody::SetKeyspace(name.to_owned()))
            }
            Statement::Select(s) => self
                .select(s, keyspace, bound, params, None)
                .map(|e| e.result),
            Statement::Insert(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let writes = data::insert(&*self.data, ks, table, s, bound, params)?;
                self.data.write(&writes, params.consistency, false)?;
                Ok(ResultBody::Void)
            }
            Statement::Update(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let writes = data::update(&*self.data, ks, table, s, bound, params)?;
                self.data.write(&writes, params.consistency, false)?;
                Ok(ResultBody::Void)
            }
            Statement::Delete(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let writes = data::delete(&*self.data, ks, table, s, bound, params)?;
                self.data.write(&writes, params.consistency, false)?;
                Ok(ResultBody::Void)
            }
            Statement::Batch(b) => self
                .text_batch(b, keyspace, bound, params)
                .map(|e| e.result),
            Statement::Truncate(name) => {
                let schema = self.schema.read().clone();
                let (ks, _) = self.resolve_table(&schema, name, keyspace)?;
                if is_system_keyspace(&ks.name) {
                    return Err(Error::invalid(format!(
                        "Cannot TRUNCATE a table of the {} keyspace",
                        ks.name
                    )));
                }
                let (ks, t) = (ks.name.clone(), name.name.as_str().to_owned());
                drop(schema);
                match &self.replication {
                    // Every node drops its rows.
                    Some(r) => r.truncate(&ks, &t)?,
                    None => self
                        .store
                        .truncate(&ks, &t)
                        .map_err(|e| Error::server(format!("truncate failed: {e}")))?,
                }
                Ok(ResultBody::Void)
            }
            Statement::CreateKeyspace(s) => {
                let dcs = self.known_datacenters();
                self.alter_schema(|sc| ddl::create_keyspace(sc, s, &dcs))
            }
            Statement::AlterKeyspace(s) => {
                let dcs = self.known_datacenters();
                self.alter_schema(|sc| ddl::alter_keyspace(sc, s, &dcs))
            }
            Statement::DropKeyspace(s) => self.alter_schema(|sc| ddl::drop_keyspace(sc, s)),
            Statement::CreateTable(s) => self.alter_schema(|sc| ddl::create_table(sc, s, keyspace)),
            Statement::AlterTable(s) => self.alter_schema(|sc| ddl::alter_table(sc, s, keyspace)),
            Statement::DropTable(s) => self.alter_schema(|sc| ddl::drop_table(sc, s, keyspace)),
            Statement::CreateType(s) => self.alter_schema(|sc| ddl::create_type(sc, s, keyspace)),
            Statement::AlterType(s) => self.alter_schema(|sc| ddl::alter_type(sc, s, keyspace)),
            Statement::DropType(s) => self.alter_schema(|sc| ddl::drop_type(sc, s, keyspace)),
            Statement::CreateIndex(_) | Statement::DropIndex(_) => {
                Err(Error::not_supported("Secondary indexes"))
            }
            Statement::CreateMaterializedView(_)
            | Statement::AlterMaterializedView(_)
            | Statement::DropMaterializedView(_) => Err(Error::not_supported("Materialized views")),
            Statement::CreateFunction(_) | Statement::DropFunction(_) => {
                Err(Error::not_supported("User-defined functions"))
            }
            Statement::CreateAggregate(_) | Statement::DropAggregate(_) => {
                Err(Error::not_supported("User-defined aggregates"))
            }
            Statement::CreateTrigger(_) | Statement::DropTrigger(_) => {
                Err(Error::not_supported("Triggers"))
            }
            Statement::Describe(d) => {
                let schema = self.schema.read().clone();
                describe::describe(d, &schema, &self.system, &self.local, keyspace)
            }
            other => Err(Error::not_supported(&format!(
                "{} (roles, users and permissions)",
                other.kind_name()
            ))),
        }
    }

    /// The table a write names: it must exist and not be a system table.
    fn user_table<'a>(
        &'a self,
        schema: &'a Schema,
        table: &QualifiedName,
        keyspace: Option<&str>,
    ) -> Result<(&'a crate::schema::Keyspace, &'a crate::schema::Table)> {
        let (ks, t) = self.resolve_table(schema, table, keyspace)?;
        if is_system_keyspace(&ks.name) {
            return Err(Error::Invalid {
                message: format!("{} keyspace is not user-modifiable", ks.name),
            });
        }
        Ok((ks, t))
    }

    /// Applies a schema change to a copy of the schema, saves it durably, then publishes it.
    fn alter_schema(
        &self,
        change: impl FnOnce(&mut Schema) -> Result<Option<ilion_cql::protocol::SchemaChange>>,
    ) -> Result<ResultBody> {
        let _serial = self.ddl.lock();
        let mut next = (**self.schema.read()).clone();
        let Some(event) = change(&mut next)? else {
            return Ok(ResultBody::Void);
        };
        let previous_keyspaces = self.schema.read().keyspaces.clone();
        next.history
            .record(&previous_keyspaces, &next.keyspaces, data::now_micros());
        store::save(&self.data_dir.join(SCHEMA_FILE), &next)?;
        let version = next.version();
        let previous = std::mem::replace(&mut *self.schema.write(), Arc::new(next));
        data::sync_store(&self.store, &previous, &self.schema.read())?;
        tracing::info!(change = ?event, "schema changed");
        let listener = self.schema_listener.read().clone();
        if let Some(listener) = listener {
            (listener.0)(version);
        }
        Ok(ResultBody::SchemaChange(event))
    }
}

fn parse(text: &str) -> Result<ParsedStatement> {
    parse_statement(text).map_err(|e| Error::Syntax {
        message: e.to_string(),
    })
}

fn not_built_data_path(kind: &str) -> Error {
    Error::not_supported(&format!("{kind} on user tables (the data path)"))
}

/// `n` distinct random tokens (Murmur3 range, excluding the minimum token).
fn random_tokens(n: u16) -> Vec<i64> {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut tokens = std::collections::BTreeSet::new();
    while tokens.len() < usize::from(n) {
        let t: i64 = rng.random();
        if t != i64::MIN {
            tokens.insert(t);
        }
    }
    tokens.into_iter().collect()
}
