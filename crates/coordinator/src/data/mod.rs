//! The data path on user tables: statements (INSERT, UPDATE, DELETE in [`write`], SELECT in
//! [`read`]) become storage mutations and read commands, which go through a [`DataPath`]: the
//! replica-local store on a single node ([`LocalDataPath`]), the replicas of each key in a
//! cluster. Also keeps the store's tables in step with the schema. What is not built is refused
//! with an Invalid error naming it.

mod cells;
mod read;
mod write;

pub(crate) use read::select;
pub(crate) use write::{
    ConditionalStatement, check_counter_consistency, delete, insert, prepare_conditional, run_cas,
    run_conditional, update, write_marker_columns,
};

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use ilion_cql::language::ast::{InValues, Operator, Relation, RelationTarget, Term, UsingParam};
use ilion_cql::protocol::{Consistency, CqlType, QueryParameters, Value, WriteType};
use ilion_storage::{Mutation, Order, ReadCommand, ReadResult, Store, TableSchema, Ttl};

use crate::schema::types::SchemaType;
use crate::schema::{ClusteringOrder, ColumnKind, Keyspace, Schema, Table};
use crate::values::{Bound, encode, term_value};
use crate::{Error, FailureReason, Result};

/// One partition's changes to one table, as a statement produced them.
#[derive(Debug, Clone)]
pub struct TableWrite<'a> {
    pub keyspace: &'a Keyspace,
    pub table: &'a Table,
    pub mutation: Mutation,
}

/// Where statement execution sends its mutations and reads: the seam between the CQL layer and
/// replication. Calls block the calling thread (the server runs statements on blocking threads).
pub trait DataPath: Send + Sync + std::fmt::Debug {
    /// This node's storage schema of `table`: the column ids mutations and read results use.
    fn table_schema(&self, table: &Table) -> Result<Arc<TableSchema>>;

    /// Applies `writes` at `consistency`. `logged`: a logged batch, applied all or nothing.
    fn write(
        &self,
        writes: &[TableWrite<'_>],
        consistency: Consistency,
        logged: bool,
    ) -> Result<()>;

    /// Applies counter writes (increments as [`ilion_storage::CellOp::Increment`]) at
    /// `consistency`: each partition's increments are led by one replica, which adds them to
    /// its own shard and sends the resulting shard to the others. A timeout is a
    /// `WriteTimeout` of write type COUNTER.
    fn write_counter(&self, writes: &[TableWrite<'_>], consistency: Consistency) -> Result<()>;

    /// A lightweight transaction on the one partition `cmd` reads, at `serial` (SERIAL or
    /// LOCAL_SERIAL): `decide` gets the partition's current data and answers the write to make
    /// (its timestamps are replaced by the transaction's), or `None` when the statement's
    /// condition does not hold; the write is committed at `commit`. `decide` may run more
    /// than once; its last run saw the data the outcome rests on. `Ok(true)`: written.
    fn cas(
        &self,
        keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        serial: Consistency,
        commit: Consistency,
        decide: &mut dyn FnMut(&ReadResult) -> Result<Option<Mutation>>,
    ) -> Result<bool>;

    /// Runs `cmd` on `table` at `consistency` (SERIAL and LOCAL_SERIAL: of one partition,
    /// after any lightweight transaction in progress on it).
    fn read(
        &self,
        keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        consistency: Consistency,
    ) -> Result<ReadResult>;
}

/// The single-node data path: every write and read goes to this node's store. Lightweight
/// transactions are serialized by one lock (one replica: its order is the order).
#[derive(Debug, Clone)]
pub struct LocalDataPath {
    store: Arc<Store>,
    cas_lock: Arc<parking_lot::Mutex<i64>>,
    /// This node's address: failures name it as the replica that failed.
    address: IpAddr,
    /// The id of this node's counter shards (its host id).
    counter_id: uuid::Uuid,
}

impl LocalDataPath {
    /// The local path; its counter shards carry the nil id until
    /// [`LocalDataPath::with_counter_id`] names the node.
    pub fn new(store: Arc<Store>, address: IpAddr) -> LocalDataPath {
        LocalDataPath {
            store,
            cas_lock: Arc::new(parking_lot::Mutex::new(0)),
            address,
            counter_id: uuid::Uuid::nil(),
        }
    }

    /// The id this node's counter shards carry (its host id).
    pub fn with_counter_id(mut self, id: uuid::Uuid) -> LocalDataPath {
        self.counter_id = id;
        self
    }
}

impl DataPath for LocalDataPath {
    fn table_schema(&self, table: &Table) -> Result<Arc<TableSchema>> {
        Ok(table_handle(&self.store, table)?.schema())
    }

    /// A logged batch of several mutations goes to the store in one atomic engine write;
    /// otherwise each mutation is applied on its own (each one atomic).
    fn write(
        &self,
        writes: &[TableWrite<'_>],
        consistency: Consistency,
        logged: bool,
    ) -> Result<()> {
        let failure = |e: ilion_storage::Error| {
            let write_type = if logged {
                WriteType::Batch
            } else if writes.len() > 1 {
                WriteType::UnloggedBatch
            } else {
                WriteType::Simple
            };
            write_failure(&e, consistency, self.address, write_type)
        };
        if logged && writes.len() > 1 {
            let tables = writes
                .iter()
                .map(|w| table_handle(&self.store, w.table))
                .collect::<Result<Vec<_>>>()?;
            let pairs: Vec<(&ilion_storage::Table, &Mutation)> = tables
                .iter()
                .zip(writes)
                .map(|(t, w)| (t, &w.mutation))
                .collect();
            return self.store.apply_all(&pairs).map_err(failure);
        }
        for w in writes {
            table_handle(&self.store, w.table)?
                .apply(&w.mutation)
                .map_err(failure)?;
        }
        Ok(())
    }

    fn write_counter(&self, writes: &[TableWrite<'_>], consistency: Consistency) -> Result<()> {
        for w in writes {
            table_handle(&self.store, w.table)?
                .apply_counter(&w.mutation, *self.counter_id.as_bytes(), now_micros())
                .map_err(|e| write_failure(&e, consistency, self.address, WriteType::Counter))?;
        }
        Ok(())
    }

    /// Under the transaction lock: read, decide, apply with a timestamp above every earlier
    /// transaction's.
    fn cas(
        &self,
        _keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        _serial: Consistency,
        commit: Consistency,
        decide: &mut dyn FnMut(&ReadResult) -> Result<Option<Mutation>>,
    ) -> Result<bool> {
        let handle = table_handle(&self.store, table)?;
        let mut last = self.cas_lock.lock();
        let current = handle
            .read(cmd)
            .map_err(|e| read_failure(&e, commit, self.address))?;
        let Some(m) = decide(&current)? else {
            return Ok(false);
        };
        let schema = handle.schema();
        let micros = now_micros().max(*last + 1);
        *last = micros;
        let moved = crate::replication::messages::WireMutation::from_mutation(&schema, &m)
            .and_then(|w| crate::replication::with_timestamp(w, micros).to_mutation(&schema))
            .map_err(|e| Error::server(e.to_string()))?;
        handle
            .apply(&moved)
            .map_err(|e| write_failure(&e, commit, self.address, WriteType::Cas))?;
        Ok(true)
    }

    fn read(
        &self,
        _keyspace: &Keyspace,
        table: &Table,
        cmd: &ReadCommand,
        consistency: Consistency,
    ) -> Result<ReadResult> {
        // A SERIAL read waits for the transaction under way.
        let _serial = matches!(consistency, Consistency::Serial | Consistency::LocalSerial)
            .then(|| self.cas_lock.lock());
        table_handle(&self.store, table)?
            .read(cmd)
            .map_err(|e| read_failure(&e, consistency, self.address))
    }
}

/// A storage error outside the read and write paths (schema, flush, system tables): the
/// node's own failure, `Server_error`.
pub(crate) fn storage_error(e: ilion_storage::Error) -> Error {
    Error::server(format!("storage: {e}"))
}

/// A storage error of this node's replica on a read: `Read_failure` naming this node and the
/// reason (too many tombstones...), as Cassandra answers a replica's failed read.
pub(crate) fn read_failure(
    e: &ilion_storage::Error,
    consistency: Consistency,
    address: IpAddr,
) -> Error {
    tracing::debug!(error = %e, "local read failed");
    Error::ReadFailure {
        consistency,
        received: 0,
        block_for: 1,
        failures: vec![(address, FailureReason::of_storage(e))],
        data_present: false,
    }
}

/// A storage error of this node's replica on a write: `Write_failure` naming this node.
pub(crate) fn write_failure(
    e: &ilion_storage::Error,
    consistency: Consistency,
    address: IpAddr,
    write_type: WriteType,
) -> Error {
    tracing::warn!(error = %e, "local write failed");
    Error::WriteFailure {
        consistency,
        received: 0,
        block_for: 1,
        failures: vec![(address, FailureReason::of_storage(e))],
        write_type,
    }
}

/// The storage type of a schema type: its user types expanded (they must exist).
fn storage_type(ty: &CqlType, ks: &Keyspace) -> Result<CqlType> {
    fn check(ty: &CqlType, ks: &Keyspace) -> Result<()> {
        if let CqlType::Udt(u) = ty
            && !ks.types.contains_key(&u.name)
        {
            return Err(Error::invalid(format!(
                "Unknown type {}.{}",
                ks.name, u.name
            )));
        }
        ty.children().into_iter().try_for_each(|t| check(t, ks))
    }
    check(ty, ks)?;
    Ok(crate::schema::types::expand(ty, ks))
}

/// The storage options of a table of keyspace `ks`: gc grace, default TTL, its `compaction` and
/// `compression` maps as the engine serves them, and the keyspace's `durable_writes`. A map
/// storage cannot read (validated at DDL time, so only from an older schema file) keeps the
/// engine default, with a warning.
fn storage_options(table: &Table, ks: &Keyspace) -> ilion_storage::TableOptions {
    let defaults = ilion_storage::TableOptions::default();
    let compaction = ilion_storage::CompactionStrategy::from_cql_options(&table.params.compaction)
        .unwrap_or_else(|e| {
            tracing::warn!(table = %table.name, error = %e, "compaction options not served");
            defaults.compaction.clone()
        });
    let compression = ilion_storage::Compression::from_cql_options(&table.params.compression)
        .unwrap_or_else(|e| {
            tracing::warn!(table = %table.name, error = %e, "compression options not served");
            defaults.compression
        });
    ilion_storage::TableOptions {
        gc_grace_seconds: u32::try_from(table.params.gc_grace_seconds).unwrap_or(0),
        default_time_to_live: u32::try_from(table.params.default_time_to_live).unwrap_or(0),
        compaction,
        compression,
        tombstone_gc: crate::schema::options::storage_tombstone_gc(&table.params.tombstone_gc),
        block_size: ilion_storage::Compression::block_size(&table.params.compression)
            .unwrap_or_else(|e| {
                tracing::warn!(table = %table.name, error = %e, "chunk_length_in_kb not served");
                None
            }),
        memtable_flush_period_ms: u32::try_from(table.params.memtable_flush_period_in_ms)
            .unwrap_or(0),
        durable_writes: ks.durable_writes,
        bloom_bits_per_key: Some(ilion_storage::bloom_bits_for(
            table.params.bloom_filter_fp_chance,
        )),
        tombstone_compaction: ilion_storage::TombstoneCompaction::from_cql_options(
            &table.params.compaction,
        )
        .unwrap_or_else(|e| {
            tracing::warn!(table = %table.name, error = %e, "tombstone compaction options not served");
            defaults.tombstone_compaction.clone()
        }),
    }
}

/// The storage description of a schema table.
fn storage_schema(table: &Table, ks: &Keyspace) -> Result<TableSchema> {
    let mut b = TableSchema::builder(&table.keyspace, &table.name);
    for c in &table.columns {
        let ty = storage_type(&c.ty, ks)?;
        b = match c.kind {
            ColumnKind::PartitionKey => b.partition_key(&c.name, ty),
            ColumnKind::Clustering => {
                let order = if c.order == ClusteringOrder::Desc {
                    Order::Desc
                } else {
                    Order::Asc
                };
                b.clustering(&c.name, ty, order)
            }
            ColumnKind::Static => b.static_column(&c.name, ty),
            ColumnKind::Regular => b.regular(&c.name, ty),
        };
    }
    b.options(storage_options(table, ks))
        .build()
        .map_err(storage_error)
}

/// Brings the store's tables in step with a schema change from `old` to `new`.
/// A table dropped is snapshotted first (`auto_snapshot`).
pub(crate) fn sync_store(
    store: &Store,
    old: &Schema,
    new: &Schema,
    snapshots: &crate::snapshots::Snapshots,
) -> Result<()> {
    let tables = |s: &Schema| -> Vec<(String, String, uuid::Uuid)> {
        s.keyspaces
            .values()
            .flat_map(|k| {
                k.tables
                    .values()
                    .map(|t| (t.keyspace.clone(), t.name.clone(), t.id))
            })
            .collect()
    };
    let new_tables = tables(new);
    for (ks, name, id) in tables(old) {
        if !new_tables
            .iter()
            .any(|(k, n, i)| *k == ks && *n == name && *i == id)
        {
            if let Some(def) = old.keyspaces.get(&ks).and_then(|k| k.tables.get(&name)) {
                snapshots.before_drop(store, def);
            }
            match store.drop_table(&ks, &name) {
                Ok(()) | Err(ilion_storage::Error::UnknownTable(_)) => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
    }
    for ks in new.keyspaces.values() {
        for t in ks.tables.values() {
            let before = old
                .keyspaces
                .get(&ks.name)
                .and_then(|k| k.tables.get(&t.name))
                .filter(|o| o.id == t.id);
            match before {
                None => ensure_table(store, t, ks)?,
                Some(o) => alter(store, o, t, ks)?,
            }
        }
    }
    Ok(())
}

/// Creates the store table of `t` unless it exists.
pub(crate) fn ensure_table(store: &Store, t: &Table, ks: &Keyspace) -> Result<()> {
    if store.table(&t.keyspace, &t.name).is_ok() {
        return Ok(());
    }
    store
        .create_table(storage_schema(t, ks)?)
        .map_err(storage_error)?;
    Ok(())
}

fn alter(store: &Store, old: &Table, new: &Table, ks: &Keyspace) -> Result<()> {
    use ilion_storage::SchemaChange;
    // Key columns are stored by position: a RENAME of one changes nothing in storage.
    let is_key = |c: &&crate::schema::Column| {
        matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering)
    };
    for c in old.columns.iter().filter(|c| !is_key(c)) {
        if new.column(&c.name).is_none_or(|n| n.ty != c.ty) {
            let timestamp = new
                .dropped
                .iter()
                .filter(|d| d.name == c.name)
                .map(|d| d.dropped_at_micros)
                .max()
                .unwrap_or_else(now_micros);
            store
                .alter_table(
                    &new.keyspace,
                    &new.name,
                    &SchemaChange::DropColumn {
                        name: c.name.clone(),
                        timestamp,
                    },
                )
                .map_err(storage_error)?;
        }
    }
    for c in new.columns.iter().filter(|c| !is_key(c)) {
        if old.column(&c.name).is_none_or(|o| o.ty != c.ty) {
            store
                .alter_table(
                    &new.keyspace,
                    &new.name,
                    &SchemaChange::AddColumn {
                        name: c.name.clone(),
                        ty: storage_type(&c.ty, ks)?,
                        is_static: c.kind == ColumnKind::Static,
                    },
                )
                .map_err(storage_error)?;
        }
    }
    // Compared with what the store has: a keyspace change (durable_writes) alters its tables
    // too.
    let options = storage_options(new, ks);
    let current = store
        .table(&new.keyspace, &new.name)
        .map_err(storage_error)?
        .schema();
    if current.options() != &options {
        store
            .alter_table(&new.keyspace, &new.name, &SchemaChange::Options(options))
            .map_err(storage_error)?;
    }
    Ok(())
}

pub(crate) use crate::statement_time::{now_micros, now_seconds};

/// A primary key column's restriction in UPDATE or DELETE: one value, or IN.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyTerm<'w> {
    Eq(&'w Term),
    In(&'w InValues),
}

/// The most primary keys (partition keys times clustering prefixes) the IN restrictions of
/// one UPDATE or DELETE may expand to: a bound on the memory one statement can ask for.
pub(super) const MAX_IN_KEYS: usize = 10_000;

/// Refuses an UPDATE or DELETE whose INs name more than [`MAX_IN_KEYS`] rows.
pub(super) fn check_in_keys(partitions: usize, rows_each: usize) -> Result<()> {
    let count = partitions.saturating_mul(rows_each);
    if count > MAX_IN_KEYS {
        return Err(Error::invalid(format!(
            "The IN restrictions select {count} primary keys; at most {MAX_IN_KEYS} are allowed"
        )));
    }
    Ok(())
}

/// Every combination of one value per column, in order (the cartesian product); refused
/// beyond [`MAX_IN_KEYS`].
pub(super) fn combinations(per_column: Vec<Vec<Bytes>>, what: &str) -> Result<Vec<Vec<Bytes>>> {
    let count = per_column
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()))
        .unwrap_or(usize::MAX);
    if count > MAX_IN_KEYS {
        return Err(Error::invalid(format!(
            "The IN restrictions on the {what} columns select {count} keys; at most              {MAX_IN_KEYS} are allowed"
        )));
    }
    let mut out: Vec<Vec<Bytes>> = vec![Vec::new()];
    for values in per_column {
        let mut next = Vec::with_capacity(out.len() * values.len());
        for prefix in &out {
            for v in &values {
                let mut key = prefix.clone();
                key.push(v.clone());
                next.push(key);
            }
        }
        out = next;
    }
    Ok(out)
}

/// A statement's key and write parameters, resolved against its table.
pub(super) struct Target<'a> {
    pub(super) ks: &'a Keyspace,
    pub(super) table: &'a Table,
    pub(super) bound: &'a Bound,
}

impl Target<'_> {
    pub(super) fn column(&self, name: &str) -> Result<&crate::schema::Column> {
        self.table.column(name).ok_or_else(|| {
            Error::invalid(format!(
                "Undefined column name {name} in table {}.{}",
                self.table.keyspace, self.table.name
            ))
        })
    }

    pub(super) fn value(&self, term: &Term, ty: &CqlType) -> Result<Option<Bytes>> {
        let ct = ty.column_type(self.ks);
        match term_value(term, &ct, self.bound)? {
            None => Ok(None),
            Some(v) => Ok(Some(encode(&ct, &v)?)),
        }
    }

    pub(super) fn key_value(&self, name: &str, term: &Term) -> Result<Bytes> {
        let c = self.column(name)?;
        match self.value(term, &c.ty)? {
            Some(v) if !v.is_empty() || c.kind != ColumnKind::PartitionKey => Ok(v),
            Some(_) => Err(Error::invalid(format!(
                "Key may not be empty (column {name})"
            ))),
            None => Err(Error::invalid(format!(
                "Invalid null value for primary key column {name}"
            ))),
        }
    }

    /// The values a key column is restricted to, without repeats, in the order given.
    pub(super) fn key_values(&self, name: &str, restriction: KeyTerm<'_>) -> Result<Vec<Bytes>> {
        let values = match restriction {
            KeyTerm::Eq(term) => return Ok(vec![self.key_value(name, term)?]),
            KeyTerm::In(InValues::List(terms)) => terms
                .iter()
                .map(|term| self.key_value(name, term))
                .collect::<Result<Vec<_>>>()?,
            KeyTerm::In(InValues::Marker(marker)) => {
                let c = self.column(name)?;
                let ty = c.ty.column_type(self.ks);
                let list = CqlType::list(ty.clone());
                let term = Term::Bind(marker.clone());
                if self.bound.is_unset(&term) {
                    return Err(Error::invalid(format!(
                        "Invalid unset value for column {name}"
                    )));
                }
                match term_value(&term, &list, self.bound)? {
                    Some(Value::List(items)) => items
                        .iter()
                        .map(|v| {
                            let b = encode(&ty, v)?;
                            if b.is_empty() && c.kind == ColumnKind::PartitionKey {
                                return Err(Error::invalid(format!(
                                    "Key may not be empty (column {name})"
                                )));
                            }
                            Ok(b)
                        })
                        .collect::<Result<Vec<_>>>()?,
                    Some(_) => {
                        return Err(Error::invalid(format!(
                            "Invalid IN value for column {name}"
                        )));
                    }
                    None => {
                        return Err(Error::invalid(format!(
                            "Invalid null value for column {name}"
                        )));
                    }
                }
            }
        };
        let mut out: Vec<Bytes> = Vec::with_capacity(values.len());
        for v in values {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        Ok(out)
    }

    pub(super) fn key_columns(&self, kind: ColumnKind) -> Vec<&crate::schema::Column> {
        self.table
            .columns
            .iter()
            .filter(|c| c.kind == kind)
            .collect()
    }

    /// The serialized partition key and its token.
    pub(super) fn partition(&self, components: &[Bytes]) -> Result<(i64, Vec<u8>)> {
        let parts: Vec<&[u8]> = components.iter().map(|b| b.as_ref()).collect();
        let key = ilion_ring::serialize_partition_key(&parts)
            .map_err(|e| Error::invalid(format!("Invalid partition key: {e}")))?;
        let token = ilion_ring::Murmur3Partitioner.token(&key).value();
        Ok((token, key))
    }

    /// `USING TIMESTAMP` / `USING TTL`, the client's timestamp, the table's default TTL.
    pub(super) fn write_params(
        &self,
        using: &[UsingParam],
        params: &QueryParameters,
        now: i64,
    ) -> Result<(i64, Option<Ttl>)> {
        let mut timestamp = params.default_timestamp.unwrap_or_else(now_micros);
        let mut ttl = u32::try_from(self.table.params.default_time_to_live).unwrap_or(0);
        // `USING TTL 0` means no expiry even where the table has a default TTL.
        let mut explicit = false;
        for u in using {
            match u {
                // Unset: the statement's own time; null is refused.
                UsingParam::Timestamp(t) if !self.bound.is_unset(t) => {
                    match term_value(t, &CqlType::Bigint, self.bound)? {
                        Some(Value::Bigint(v)) => timestamp = v,
                        _ => return Err(Error::invalid("Invalid null value of timestamp")),
                    }
                }
                UsingParam::Timestamp(_) => {}
                // Unset: the table's default TTL; null: no TTL (as `USING TTL 0`).
                UsingParam::Ttl(t) if self.bound.is_unset(t) => {}
                UsingParam::Ttl(t) => {
                    let v = match term_value(t, &CqlType::Int, self.bound)? {
                        Some(Value::Int(v)) => v,
                        _ => 0,
                    };
                    explicit = true;
                    ttl = u32::try_from(v).map_err(|_| {
                        Error::invalid(format!("A TTL must be greater or equal to 0, but was {v}"))
                    })?;
                    if ttl > ilion_storage::MAX_TTL_SECONDS {
                        return Err(Error::invalid(format!(
                            "ttl is too large. requested ({ttl}) maximum ({})",
                            ilion_storage::MAX_TTL_SECONDS
                        )));
                    }
                }
            }
        }
        let ttl = match ttl {
            0 if explicit => Some(Ttl::NONE),
            0 => None,
            ttl => Some(Ttl::new(ttl, now)),
        };
        Ok((timestamp, ttl))
    }

    /// The WHERE clause of an UPDATE as restrictions on columns (name -> = or IN).
    pub(super) fn equalities<'w>(
        &self,
        relations: &'w [Relation],
    ) -> Result<Vec<(String, KeyTerm<'w>)>> {
        let mut out = Vec::new();
        for r in relations {
            match r {
                Relation::Compare {
                    target: RelationTarget::Column(c),
                    op: Operator::Eq,
                    value,
                } => {
                    self.column(c.as_str())?;
                    out.push((c.as_str().to_owned(), KeyTerm::Eq(value)));
                }
                Relation::In {
                    target: RelationTarget::Column(c),
                    values,
                } => {
                    self.column(c.as_str())?;
                    out.push((c.as_str().to_owned(), KeyTerm::In(values)));
                }
                other => {
                    return Err(Error::not_supported(&format!(
                        "The restriction {other} in UPDATE and DELETE (only = and IN on \
                         primary key columns are)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Every key of `kind` columns `eqs` selects (one per combination of IN values); all
    /// columns must be restricted unless `prefix_ok`.
    pub(super) fn key_from(
        &self,
        eqs: &[(String, KeyTerm<'_>)],
        kind: ColumnKind,
        prefix_ok: bool,
    ) -> Result<Vec<Vec<Bytes>>> {
        let mut out = Vec::new();
        for c in self.key_columns(kind) {
            match eqs.iter().find(|(n, _)| *n == c.name) {
                Some((_, t)) => out.push(self.key_values(&c.name, *t)?),
                None if prefix_ok && out.is_empty() => break,
                None => {
                    return Err(Error::invalid(format!(
                        "Some {} columns are missing: {}",
                        if kind == ColumnKind::PartitionKey {
                            "partition key"
                        } else {
                            "clustering"
                        },
                        c.name
                    )));
                }
            }
        }
        let what = if kind == ColumnKind::PartitionKey {
            "partition key"
        } else {
            "clustering"
        };
        combinations(out, what)
    }
}

pub(super) fn table_handle(store: &Store, t: &Table) -> Result<ilion_storage::Table> {
    store.table(&t.keyspace, &t.name).map_err(storage_error)
}

/// The types of `table`'s partition key columns, in key order (`token()`'s arguments).
pub(crate) fn partition_key_types(table: &Table, ks: &Keyspace) -> Vec<CqlType> {
    let mut keys: Vec<&crate::schema::Column> = table
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::PartitionKey)
        .collect();
    keys.sort_by_key(|c| c.position);
    keys.iter().map(|c| c.ty.column_type(ks)).collect()
}
