//! Opening a coordinator: the builder, the node's identity (`local.json`, chosen on the
//! first start), the schema (`schema.json`) and the stores of the user and system tables.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::data::{LocalDataPath, storage_error};
use crate::replication::local::LocalReplica;
use crate::schema::{Schema, store};
use crate::system::{self, LocalInfo};
use crate::{Error, Result, data};

use super::{Coordinator, CoordinatorConfig, PerSchema, SCHEMA_FILE};

const LOCAL_FILE: &str = "local.json";
const DATA_DIR: &str = "data";
const SYSTEM_DATA_DIR: &str = "system_data";

/// The node's identity, chosen on its first start and kept in `local.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LocalState {
    host_id: Uuid,
    tokens: Vec<i64>,
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
    auth: crate::auth::AuthConfig,
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

    /// Who may connect and run what (default: everyone, everything).
    pub fn auth(mut self, auth: crate::auth::AuthConfig) -> CoordinatorBuilder {
        self.auth = auth;
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
            auth: crate::auth::AuthConfig::default(),
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
            auth,
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
        let system = system::system_schema()?;
        let schema = Arc::new(RwLock::new(Arc::new(schema.with_system(&system))));
        let snapshots = Arc::new(crate::snapshots::Snapshots::new(
            &config.data_dir,
            schema.clone(),
        ));
        let replica = Arc::new(LocalReplica::new(
            data_store.clone(),
            Arc::new(system_store),
            clock.clone(),
            snapshots.clone(),
        )?);
        // Tables of the schema the store lacks (created before the store existed, or a crash
        // between saving the schema and creating the table) are created now.
        let auth_keyspace = system.keyspaces.get(crate::auth::AUTH_KEYSPACE);
        for ks in schema.read().keyspaces.values().chain(auth_keyspace) {
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
            clock,
            data_dir: config.data_dir,
            system,
            access: super::access::Access::new(auth),
            schema,
            snapshots,
            ddl: Mutex::new(()),
            prepared: RwLock::new(foldhash::HashMap::default()),
            data: Arc::new(
                LocalDataPath::new(data_store.clone(), listen_address)
                    .with_counter_id(state.host_id),
            ),
            store: data_store,
            membership: None,
            clients: None,
            settings: None,
            schema_listener: RwLock::new(None),
            version: PerSchema::default(),
            local_rows: PerSchema::default(),
            replica,
            replication: None,
        })
    }
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
