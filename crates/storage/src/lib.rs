//! `ilion-storage`: the replica-local table store. Cassandra's data model (partitions ordered by
//! token, rows ordered by clustering key with ASC/DESC columns, static and regular columns,
//! collections stored per element) and its reconciliation rules (timestamps, TTLs, tombstones
//! of every scope, purge after `gc_grace_seconds`) on an ordered key-value engine.
//!
//! It is not a query engine: it knows no CQL, no consistency levels and no other replicas. The
//! caller (the coordinator) computes tokens, validates values and builds [`Mutation`]s and
//! [`ReadCommand`]s. See docs/storage-model.md for the key layout.
//!
//! Table lifecycle: [`Store::create_table`], [`Store::alter_table`] (add or drop columns with
//! stable [`ColumnId`]s, change options), [`Store::truncate`] and [`Store::drop_table`]; the
//! store's catalogue survives restarts.
//!
//! ```
//! use std::sync::Arc;
//! use ilion_storage::{CqlType, ManualClock, Mutation, Order, ReadCommand, Store, TableSchema};
//!
//! let clock = Arc::new(ManualClock::new(1_000));
//! let store = Store::in_memory(clock.clone());
//! let schema = TableSchema::builder("ks", "events")
//!     .partition_key("id", CqlType::Int)
//!     .clustering("at", CqlType::Timestamp, Order::Desc)
//!     .regular("what", CqlType::Text)
//!     .build()?;
//! let table = store.create_table(schema)?;
//! let what = table.schema().column_id("what").unwrap();
//!
//! let mut m = Mutation::new(42, 7i32.to_be_bytes().to_vec(), 1_000);
//! m.row(vec![5i64.to_be_bytes().to_vec()]).set(what, 10, b"old".to_vec());
//! m.row(vec![9i64.to_be_bytes().to_vec()]).set(what, 10, b"new".to_vec());
//! table.apply(&m)?;
//!
//! let r = table.read(&ReadCommand::partition(42, 7i32.to_be_bytes().to_vec()))?;
//! let rows = &r.partitions[0].rows;
//! assert_eq!(rows[0].cells[0].value, b"new"); // DESC: the later timestamp first
//! assert_eq!(rows[1].cells[0].value, b"old");
//! # Ok::<(), ilion_storage::Error>(())
//! ```

mod catalog;
mod cell;
mod clock;
mod digest;
mod error;
mod key;
mod kv;
mod lsm_kv;
mod mutation;
mod purge;
mod raw;
mod read;
mod repair_history;
mod schema;
mod store;
mod timestamps;
mod write_times;

pub use cell::{
    CounterShard, Deletion, MAX_TTL_SECONDS, Record, State, Ttl, counter_total, normalize_shards,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use digest::{PartitionDigest, partition_digest};
pub use error::{Error, Result};
pub use mutation::{Bound, CellOp, CellWrite, Liveness, Mutation, RangeDeletion, RowWrite};
pub use raw::PageBudget;
pub use read::{
    CellData, PagingPosition, PartitionData, PartitionRange, ReadCommand, ReadResult, ReadWarning,
    RowData, Slice, TableStats, TombstoneThresholds,
};
pub use repair_history::RepairHistory;
pub use schema::{
    Column, ColumnId, ColumnKind, CompactionStrategy, Compression, CqlType, Order, SchemaChange,
    TableOptions, TableSchema, TableSchemaBuilder, TombstoneGc,
};
pub use store::{Latency, LatencySummary, Store, StoreBuilder, Table, TableLatencies};
pub use write_times::WriteTimes;
