//! `ilion-coordinator`: schema and statement execution.
//!
//! A [`Coordinator`] owns the node's schema (persisted in its data directory) and identity
//! (host id, tokens), and runs CQL statements: schema statements, `USE`, and reads of the
//! system tables drivers and cqlsh need (`system.local`, `system.peers`, `system.peers_v2`,
//! `system.size_estimates`, the `system_schema` tables), answered from the live schema. Errors
//! have the shape of CQL error codes ([`Error`]) so the server maps them in one `match`.
//!
//! ```
//! use ilion_coordinator::{Coordinator, CoordinatorConfig, Session};
//! use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let node = Coordinator::open(CoordinatorConfig {
//!     cluster_name: "test".into(),
//!     listen_address: [127, 0, 0, 1].into(),
//!     native_address: [127, 0, 0, 1].into(),
//!     native_port: 9042,
//!     storage_port: 7000,
//!     data_center: "datacenter1".into(),
//!     rack: "rack1".into(),
//!     num_tokens: 16,
//!     data_dir: dir.path().to_owned(),
//! })?;
//! let params = QueryParameters::new(Consistency::One);
//! let created = node.query(
//!     &Session::default(),
//!     "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
//!     &params,
//! )?;
//! assert!(matches!(created, ResultBody::SchemaChange(_)));
//! # Ok::<(), ilion_coordinator::Error>(())
//! ```
//!
//! User tables live in an `ilion-storage` store under the data directory: INSERT, UPDATE,
//! DELETE and SELECT by partition key (with clustering slices). On a single node they run on
//! that store ([`LocalDataPath`]); in a cluster, [`Coordinator::enable_replication`] switches to
//! [`Replication`]: replicas from the keyspace's strategy, consistency levels, hints, read
//! repair, the batchlog (see the [`replication`] module), with [`Coordinator::handle_message`]
//! as the receiving end. With an [`AuthConfig`] of PasswordAuthenticator and
//! CassandraAuthorizer ([`CoordinatorBuilder::auth`]), [`Coordinator::authenticate`] checks
//! logins against `system_auth` and [`Coordinator::query_as`] (and `execute_as`, `batch_as`)
//! checks every statement against the permissions of the role it runs as (the [`auth`]
//! module, docs/security.md). Counter writes go through [`DataPath::write_counter`]: a leader
//! replica adds each increment to its own shard and replicates the shard (docs/counters.md).
//! Conditional writes (lightweight transactions) and SERIAL reads run Paxos per partition
//! through [`DataPath::cas`] (docs/lwt.md).

pub mod auth;
pub mod cluster;
mod coordinator;
pub mod data;
mod describe;
mod error;
mod functions;
mod json;
mod markers;
pub mod repair;
pub mod replication;
pub mod schema;
mod select;
pub mod snapshots;
mod statement_time;
mod system;
mod values;
pub mod virtual_tables;

pub use auth::{AuthConfig, Authenticator, Authorizer};
pub use cluster::{
    Member, MemberStatus, Membership, MessagingError, Messenger, resolve_ring_changes,
};
pub use coordinator::{
    BATCH_SIZE_FAIL_THRESHOLD, BATCH_SIZE_WARN_THRESHOLD, Coordinator, CoordinatorBuilder,
    CoordinatorConfig, Executed, STREAM_PAGE_BYTES, SchemaListener, Session, StreamPage,
    UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD,
};
pub use data::{DataPath, LocalDataPath, TableWrite};
pub use error::{Error, FailureReason, Result};
pub use replication::{
    Background, Cluster, HandedOver, Replication, ReplicationConfig, ReplicationStats,
    SpeculativeRetry,
};
pub use system::{CQL_VERSION, RELEASE_VERSION};
