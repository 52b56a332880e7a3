//! The schema: keyspaces, tables, columns and user types, as the coordinator keeps them and as
//! the `system_schema` tables show them. Persisted as one JSON document (`schema.json` in the
//! data directory).

pub(crate) mod ddl;
mod legacy;
pub mod merge;
pub(crate) mod options;
pub(crate) mod routines;
pub(crate) mod store;
pub(crate) mod types;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use ilion_types::CqlType;
pub use options::TableParams;

/// Keyspaces the node defines itself; users cannot create, alter or drop them.
pub const SYSTEM_KEYSPACES: [&str; 7] = [
    "system",
    "system_schema",
    "system_auth",
    "system_distributed",
    "system_traces",
    "system_virtual_schema",
    "system_views",
];

/// Whether `name` is a keyspace the node defines itself.
pub fn is_system_keyspace(name: &str) -> bool {
    SYSTEM_KEYSPACES.contains(&name)
}

/// The system keyspaces replicated across the cluster whose replication an operator sets with
/// ALTER KEYSPACE, as Cassandra's: their tables are the node's own, their replication is
/// schema the cluster shares.
pub const REPLICATED_SYSTEM_KEYSPACES: [&str; 1] = ["system_auth"];

/// Whether `name` is one of [`REPLICATED_SYSTEM_KEYSPACES`].
pub fn is_replicated_system_keyspace(name: &str) -> bool {
    REPLICATED_SYSTEM_KEYSPACES.contains(&name)
}

/// All user keyspaces, by name, with the history the cluster merges them by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub keyspaces: BTreeMap<String, Keyspace>,
    /// When each definition last changed, drops included (see [`merge`]); the keyspaces are
    /// its materialization.
    #[serde(default)]
    pub history: merge::History,
    /// The [`REPLICATED_SYSTEM_KEYSPACES`] as this schema places them: the node's own
    /// definitions with the replication ALTER KEYSPACE gave them (kept in `history`). Derived,
    /// never persisted: [`Schema::with_system`] fills it before the schema is used.
    #[serde(skip)]
    pub replicated_system: BTreeMap<String, Keyspace>,
}

/// A keyspace and everything in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyspace {
    pub name: String,
    pub durable_writes: bool,
    /// The replication map as `system_schema.keyspaces` shows it: `class` with the full Java
    /// class name, then the strategy's options.
    pub replication: BTreeMap<String, String>,
    pub tables: BTreeMap<String, Table>,
    pub types: BTreeMap<String, UserType>,
}

/// What a column is in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    PartitionKey,
    Clustering,
    Static,
    Regular,
}

impl ColumnKind {
    /// The `kind` of `system_schema.columns`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::PartitionKey => "partition_key",
            ColumnKind::Clustering => "clustering",
            ColumnKind::Static => "static",
            ColumnKind::Regular => "regular",
        }
    }
}

/// A clustering column's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusteringOrder {
    Asc,
    Desc,
    /// Not a clustering column.
    None,
}

impl ClusteringOrder {
    /// The `clustering_order` of `system_schema.columns`.
    pub fn name(self) -> &'static str {
        match self {
            ClusteringOrder::Asc => "asc",
            ClusteringOrder::Desc => "desc",
            ClusteringOrder::None => "none",
        }
    }
}

/// A column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    /// Position among the partition key or clustering columns; -1 for the others.
    pub position: i32,
    pub order: ClusteringOrder,
    #[serde(with = "legacy::ty")]
    pub ty: CqlType,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub keyspace: String,
    pub name: String,
    pub id: Uuid,
    /// Partition key columns in order, then clustering columns in order, then the others by
    /// name (the order of `SELECT *`).
    pub columns: Vec<Column>,
    pub params: TableParams,
    /// Columns dropped by ALTER TABLE, with when: data written before that time must never
    /// show again, even if a column of the same name is added back.
    #[serde(default)]
    pub dropped: Vec<DroppedColumn>,
}

/// A record of `system_schema.dropped_columns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedColumn {
    pub name: String,
    /// Microseconds since the epoch (the statement's `USING TIMESTAMP`, or the time of the drop).
    pub dropped_at_micros: i64,
    pub kind: ColumnKind,
    #[serde(with = "legacy::ty")]
    pub ty: CqlType,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether this is a counter table (its columns outside the primary key are counters;
    /// Cassandra's `counter` flag, which a table gets at creation).
    pub fn is_counter(&self) -> bool {
        self.columns.iter().any(|c| {
            matches!(c.kind, ColumnKind::Static | ColumnKind::Regular) && c.ty.is_counter()
        })
    }

    /// Sorts the columns into `SELECT *` order.
    pub(crate) fn sort_columns(&mut self) {
        self.columns.sort_by(|a, b| {
            let rank = |c: &Column| match c.kind {
                ColumnKind::PartitionKey => (0, c.position),
                ColumnKind::Clustering => (1, c.position),
                ColumnKind::Static | ColumnKind::Regular => (2, 0),
            };
            rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name))
        });
    }
}

/// A user-defined type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserType {
    pub keyspace: String,
    pub name: String,
    #[serde(with = "legacy::fields")]
    pub fields: Vec<(String, CqlType)>,
}

impl Schema {
    /// The keyspace `name`, or the Invalid error Cassandra gives.
    pub fn keyspace(&self, name: &str) -> crate::Result<&Keyspace> {
        self.keyspaces
            .get(name)
            .ok_or_else(|| crate::Error::invalid(format!("Keyspace '{name}' does not exist")))
    }

    /// The table `ks.name`, or Invalid.
    pub fn table(&self, keyspace: &str, name: &str) -> crate::Result<&Table> {
        self.keyspace(keyspace)?
            .tables
            .get(name)
            .ok_or_else(|| crate::Error::invalid(format!("table {keyspace}.{name} does not exist")))
    }

    /// This schema with [`Schema::replicated_system`] filled in from `system`, the node's own
    /// definitions of the system keyspaces, and the replication `history` gives them.
    pub(crate) fn with_system(mut self, system: &Schema) -> Schema {
        self.replicated_system = REPLICATED_SYSTEM_KEYSPACES
            .iter()
            .filter_map(|name| system.keyspaces.get(*name))
            .map(|ks| {
                let mut ks = ks.clone();
                if let Some((durable_writes, replication)) = self.history.keyspace_params(&ks.name)
                {
                    ks.durable_writes = durable_writes;
                    ks.replication = replication.clone();
                }
                (ks.name.clone(), ks)
            })
            .collect();
        self
    }

    /// The system keyspace `name` as this schema places it: a replicated one with its
    /// replication, otherwise `system`'s definition.
    pub fn system_keyspace<'a>(&'a self, system: &'a Schema, name: &str) -> Option<&'a Keyspace> {
        self.replicated_system
            .get(name)
            .or_else(|| system.keyspaces.get(name))
    }

    /// Every system keyspace of `system`, the replicated ones as this schema places them.
    pub fn system_keyspaces<'a>(
        &'a self,
        system: &'a Schema,
    ) -> impl Iterator<Item = &'a Keyspace> + 'a {
        system
            .keyspaces
            .values()
            .map(|ks| self.replicated_system.get(&ks.name).unwrap_or(ks))
    }

    /// The schema version: a UUID derived from a digest of the canonical encoding, so every
    /// node with the same schema reports the same version and any DDL changes it.
    /// Only the definitions count, not when they were made: nodes that reached the same
    /// definitions by different histories agree (their next exchange joins the histories).
    pub fn version(&self) -> Uuid {
        #[derive(Serialize)]
        struct Definitions<'a> {
            keyspaces: &'a BTreeMap<String, Keyspace>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            system: BTreeMap<&'a str, (bool, &'a BTreeMap<String, String>)>,
        }
        let system = REPLICATED_SYSTEM_KEYSPACES
            .iter()
            .filter_map(|name| Some((*name, self.history.keyspace_params(name)?)))
            .collect();
        let canonical = serde_json::to_vec(&Definitions {
            keyspaces: &self.keyspaces,
            system,
        })
        .unwrap_or_default();
        let digest = xxhash_rust::xxh3::xxh3_128(&canonical);
        let mut bytes = digest.to_be_bytes();
        // A name-based (version 3) UUID of the RFC 4122 variant, as Cassandra's MD5-derived
        // schema versions are.
        bytes[6] = (bytes[6] & 0x0f) | 0x30;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid::from_bytes(bytes)
    }
}
