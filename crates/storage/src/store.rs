//! The table store: applies mutations, answers reads, compacts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::catalog::{Catalog, CatalogFile, Entry, tree_name};
use crate::cell::{Deletion, Record, Ttl};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::key;
use crate::kv::{Kv, MemKv};
use crate::lsm_kv::{Filters, LsmKv, Reconcile, tree_options};
use crate::mutation::{CellOp, CellWrite, Liveness, Mutation};
use crate::purge::PurgeFilter;
use crate::read::{
    CellData, PagingPosition, PartitionData, PartitionRange, ReadCommand, ReadResult, ReadWarning,
    RowData, TableStats, TombstoneThresholds,
};
use crate::schema::{ColumnKind, SchemaChange, TableSchema};

/// Entries fetched by the first scan call of a cursor; each refill doubles, up to `MAX_CHUNK`,
/// so short reads stay cheap and long scans create few engine iterators.
const FIRST_CHUNK: usize = 64;
const MAX_CHUNK: usize = 8192;

/// A set of tables sharing one engine and one clock.
#[derive(Debug)]
pub struct Store {
    backend: Backend,
    clock: Arc<dyn Clock>,
    thresholds: TombstoneThresholds,
    tables: RwLock<Tables>,
}

/// The catalogue and a handle per live table; DDL holds the write lock throughout.
#[derive(Debug, Default)]
struct Tables {
    catalog: Catalog,
    /// Live tables by keyspace, then name (looked up on every statement without building a
    /// `keyspace.name` string).
    handles: HashMap<String, HashMap<String, Table>>,
}

impl Tables {
    fn get(&self, keyspace: &str, name: &str) -> Option<&Table> {
        self.handles.get(keyspace)?.get(name)
    }

    fn insert(&mut self, schema: &TableSchema, table: Table) {
        self.handles
            .entry(schema.keyspace().to_owned())
            .or_default()
            .insert(schema.name().to_owned(), table);
    }

    fn remove(&mut self, keyspace: &str, name: &str) {
        if let Some(in_keyspace) = self.handles.get_mut(keyspace) {
            in_keyspace.remove(name);
            if in_keyspace.is_empty() {
                self.handles.remove(keyspace);
            }
        }
    }
}

enum Backend {
    Memory,
    Lsm {
        db: Arc<ilion_lsm::Db>,
        filters: Arc<Filters>,
        catalog: CatalogFile,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Memory => f.write_str("Memory"),
            Backend::Lsm { .. } => f.write_str("Lsm"),
        }
    }
}

/// Opens a [`Store`]; validates in [`StoreBuilder::open`].
#[derive(Debug)]
pub struct StoreBuilder {
    clock: Arc<dyn Clock>,
    tables: Vec<TableSchema>,
    thresholds: TombstoneThresholds,
    engine: ilion_lsm::Builder,
    vfs: Option<Arc<dyn ilion_lsm::Vfs>>,
}

impl StoreBuilder {
    /// Declares a table: created if the store's catalogue does not have it, accepted if it has
    /// exactly this schema, [`Error::TableExists`] otherwise. Tables in the catalogue need not
    /// be declared again: they are opened with their stored schema and engine options.
    pub fn table(mut self, schema: TableSchema) -> StoreBuilder {
        self.tables.push(schema);
        self
    }
    /// Per-read tombstone thresholds (defaults: Cassandra's 1000 warn / 100000 fail).
    pub fn tombstone_thresholds(mut self, thresholds: TombstoneThresholds) -> StoreBuilder {
        self.thresholds = thresholds;
        self
    }
    /// Engine options (memtable size, sync mode, cache); tree options are set per table.
    pub fn engine(mut self, engine: ilion_lsm::Builder) -> StoreBuilder {
        self.engine = engine;
        self
    }
    /// The file system to use (an in-memory or fault-injecting one in tests).
    pub fn vfs(mut self, vfs: Arc<dyn ilion_lsm::Vfs>) -> StoreBuilder {
        self.vfs = Some(vfs);
        self
    }

    /// Opens (or creates) the store in `path`: the tables of its catalogue, then the declared
    /// ones.
    pub fn open(self, path: impl AsRef<std::path::Path>) -> Result<Store> {
        let path = path.as_ref();
        let vfs: Arc<dyn ilion_lsm::Vfs> = self
            .vfs
            .clone()
            .unwrap_or_else(|| Arc::new(ilion_lsm::StdVfs));
        let file = CatalogFile {
            vfs,
            dir: path.to_path_buf(),
        };
        let catalog = file.load()?;
        let filters = Arc::new(Filters::default());
        let mut engine = self.engine.default_tree_options(ilion_lsm::TreeOptions {
            merge_operator: Some(Arc::new(Reconcile)),
            compaction_filter: Some(filters.clone()),
            ..ilion_lsm::TreeOptions::default()
        });
        for (name, e) in &catalog.tables {
            engine = engine.tree_options(
                &tree_name(name, e.generation),
                tree_options(&e.schema, &filters),
            );
        }
        for t in &self.tables {
            let q = t.qualified_name();
            if !catalog.tables.contains_key(&q) {
                let tree = tree_name(&q, catalog.next_generation(&q));
                engine = engine.tree_options(&tree, tree_options(t, &filters));
            }
        }
        let db = match self.vfs {
            Some(vfs) => engine.open_with_vfs(vfs, path),
            None => engine.open(path),
        }
        .map_err(Error::Engine)?;
        let store = Store {
            backend: Backend::Lsm {
                db: Arc::new(db),
                filters,
                catalog: file,
            },
            clock: self.clock,
            thresholds: self.thresholds,
            tables: RwLock::new(Tables::default()),
        };
        {
            let mut tables = store.tables.write();
            for e in catalog.tables.values() {
                let view = store.view(Arc::new(e.schema.clone()), e.generation)?;
                tables.insert(
                    &e.schema,
                    Table {
                        shared: Arc::new(RwLock::new(view)),
                    },
                );
            }
            tables.catalog = catalog;
        }
        for t in self.tables {
            store.create_table(t)?;
        }
        Ok(store)
    }

    /// A store whose tables live in a `BTreeMap` (tests, tools). Nothing survives a drop.
    pub fn in_memory(self) -> Result<Store> {
        let store = Store {
            backend: Backend::Memory,
            clock: self.clock,
            thresholds: self.thresholds,
            tables: RwLock::new(Tables::default()),
        };
        for t in self.tables {
            store.create_table(t)?;
        }
        Ok(store)
    }
}

impl Store {
    /// Starts a store with `clock` as its time source.
    pub fn builder(clock: Arc<dyn Clock>) -> StoreBuilder {
        StoreBuilder {
            clock,
            tables: Vec::new(),
            thresholds: TombstoneThresholds::default(),
            engine: ilion_lsm::Builder::default(),
            vfs: None,
        }
    }

    /// A store whose tables live in memory (tests, tools). Nothing survives a drop.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Store {
        Store {
            backend: Backend::Memory,
            clock,
            thresholds: TombstoneThresholds::default(),
            tables: RwLock::new(Tables::default()),
        }
    }

    /// Creates a table (one engine tree per incarnation of a table, see [`Store::truncate`]).
    /// Creating a table that exists with the same schema returns it; with another schema it
    /// is [`Error::TableExists`] (change it with [`Store::alter_table`]).
    pub fn create_table(&self, schema: TableSchema) -> Result<Table> {
        let name = schema.qualified_name();
        let mut tables = self.tables.write();
        if let Some(t) = tables.get(schema.keyspace(), schema.name()) {
            if *t.schema() == schema {
                return Ok(t.clone());
            }
            return Err(Error::TableExists(name));
        }
        let generation = tables.catalog.next_generation(&name);
        let mut catalog = tables.catalog.clone();
        catalog.generations.insert(name.clone(), generation);
        catalog.tables.insert(
            name.clone(),
            Entry {
                schema: schema.clone(),
                generation,
            },
        );
        let schema = Arc::new(schema);
        let view = self.view(schema.clone(), generation)?;
        self.save(&catalog)?;
        tables.catalog = catalog;
        let table = Table {
            shared: Arc::new(RwLock::new(view)),
        };
        tables.insert(&schema, table.clone());
        Ok(table)
    }

    /// Drops table `keyspace.name` and all its data. Every handle of it fails with
    /// [`Error::UnknownTable`] afterwards; a table created later under the same name starts
    /// empty (it gets a new incarnation, never the dropped one's tree).
    pub fn drop_table(&self, keyspace: &str, name: &str) -> Result<()> {
        let q = format!("{keyspace}.{name}");
        let mut tables = self.tables.write();
        let table = tables
            .get(keyspace, name)
            .cloned()
            .ok_or_else(|| Error::UnknownTable(q.clone()))?;
        let mut catalog = tables.catalog.clone();
        catalog.tables.remove(&q);
        self.save(&catalog)?;
        tables.catalog = catalog;
        tables.remove(keyspace, name);
        let old = {
            let mut view = table.shared.write();
            let old = view.clone();
            *view = View {
                inner: Arc::new(TableInner {
                    dropped: true,
                    schema: old.inner.schema.clone(),
                    kv: old.inner.kv.clone(),
                    clock: old.inner.clock.clone(),
                    thresholds: old.inner.thresholds,
                }),
            };
            old
        };
        old.inner.kv.clear()
    }

    /// Removes every row of table `keyspace.name` and keeps the table (schema, options, dropped
    /// columns). The table moves to a new, empty incarnation: writes applied after `truncate`
    /// returns are kept whatever their timestamps, everything applied before is gone.
    pub fn truncate(&self, keyspace: &str, name: &str) -> Result<()> {
        let q = format!("{keyspace}.{name}");
        let mut tables = self.tables.write();
        let table = tables
            .get(keyspace, name)
            .cloned()
            .ok_or_else(|| Error::UnknownTable(q.clone()))?;
        let generation = tables.catalog.next_generation(&q);
        let mut catalog = tables.catalog.clone();
        catalog.generations.insert(q.clone(), generation);
        let schema = table.schema();
        catalog.tables.insert(
            q,
            Entry {
                schema: (*schema).clone(),
                generation,
            },
        );
        let view = self.view(schema, generation)?;
        self.save(&catalog)?;
        tables.catalog = catalog;
        let old = std::mem::replace(&mut *table.shared.write(), view);
        old.inner.kv.clear()
    }

    /// Changes the schema of table `keyspace.name` (ALTER TABLE) and returns it; every handle
    /// sees the new schema. Column ids of existing columns do not change.
    ///
    /// Options apply at once: `gc_grace_seconds` to the next compaction, `default_time_to_live`
    /// to the next write, the compaction strategy to the next compaction pick, compression to
    /// the files written from now on (existing files keep theirs until compacted).
    pub fn alter_table(&self, keyspace: &str, name: &str, change: &SchemaChange) -> Result<Table> {
        let q = format!("{keyspace}.{name}");
        let mut tables = self.tables.write();
        let table = tables
            .get(keyspace, name)
            .cloned()
            .ok_or_else(|| Error::UnknownTable(q.clone()))?;
        let current = table.shared.read().clone();
        let schema = Arc::new(current.inner.schema.altered(change)?);
        let mut catalog = tables.catalog.clone();
        if let Some(e) = catalog.tables.get_mut(&q) {
            e.schema = (*schema).clone();
        }
        self.save(&catalog)?;
        tables.catalog = catalog;
        current.inner.kv.reconfigure(
            &schema,
            Arc::new(PurgeFilter::new(schema.clone(), self.clock.clone())),
        )?;
        *table.shared.write() = View {
            inner: Arc::new(TableInner {
                schema,
                kv: current.inner.kv.clone(),
                clock: self.clock.clone(),
                thresholds: self.thresholds,
                dropped: false,
            }),
        };
        Ok(table)
    }

    /// Names (`keyspace.table`) of the tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.read().catalog.tables.keys().cloned().collect()
    }

    fn save(&self, catalog: &Catalog) -> Result<()> {
        match &self.backend {
            Backend::Memory => Ok(()),
            Backend::Lsm { catalog: file, .. } => file.store(catalog),
        }
    }

    /// A view of incarnation `generation` of a table.
    fn view(&self, schema: Arc<TableSchema>, generation: u64) -> Result<View> {
        let filter = Arc::new(PurgeFilter::new(schema.clone(), self.clock.clone()));
        let kv: Arc<dyn Kv> = match &self.backend {
            Backend::Memory => Arc::new(MemKv::new(filter)),
            Backend::Lsm { db, filters, .. } => {
                let name = tree_name(&schema.qualified_name(), generation);
                filters.register(&name, filter);
                // Created with the table's options, or brought in line with them (a tree the
                // engine opened before the table was known here has the default ones).
                let tree = db
                    .tree_with_options(&name, tree_options(&schema, filters))
                    .map_err(Error::Engine)?;
                Arc::new(LsmKv {
                    db: db.clone(),
                    tree,
                    filters: filters.clone(),
                })
            }
        };
        Ok(View {
            inner: Arc::new(TableInner {
                schema,
                kv,
                clock: self.clock.clone(),
                thresholds: self.thresholds,
                dropped: false,
            }),
        })
    }

    /// Flushes, stops background work and releases the files. Every [`Table`] handle must be
    /// dropped first: the engine stays open while one is alive.
    pub fn close(self) -> Result<()> {
        let Store {
            backend, tables, ..
        } = self;
        drop(tables);
        match backend {
            Backend::Memory => Ok(()),
            Backend::Lsm { db, .. } => {
                let db = Arc::try_unwrap(db).map_err(|_| Error::TablesInUse)?;
                db.flush().map_err(Error::Engine)?;
                db.close().map_err(Error::Engine)
            }
        }
    }

    /// Writes a consistent copy of the store into `dest` (a new or empty directory): the
    /// engine's checkpoint (table files hard-linked, commit log copied, a manifest) and the
    /// catalogue, taken while no table is created, altered, truncated or dropped, so the copy
    /// opens as this store was.
    pub fn checkpoint(&self, dest: impl AsRef<std::path::Path>) -> Result<()> {
        let tables = self.tables.read();
        match &self.backend {
            Backend::Memory => Err(Error::InMemory {
                operation: "checkpoint",
            }),
            Backend::Lsm { db, catalog, .. } => {
                let dest = dest.as_ref();
                db.checkpoint(dest).map_err(Error::Engine)?;
                CatalogFile {
                    vfs: catalog.vfs.clone(),
                    dir: dest.to_path_buf(),
                }
                .store(&tables.catalog)
            }
        }
    }

    /// Writes every table's in-memory data to files.
    pub fn flush(&self) -> Result<()> {
        match &self.backend {
            Backend::Memory => Ok(()),
            Backend::Lsm { db, .. } => db.flush().map_err(Error::Engine),
        }
    }

    /// Applies mutations to several tables of this store all or nothing: every mutation is
    /// checked and encoded first (an invalid one fails the call before anything is written),
    /// then all go to the engine in one write batch, which the commit log makes atomic across
    /// a crash. This is what a logged batch needs on one replica.
    pub fn apply_all(&self, writes: &[(&Table, &Mutation)]) -> Result<()> {
        let mut encoded = Vec::with_capacity(writes.len());
        for (table, m) in writes {
            let view = table.view()?;
            let entries = view.encode_mutation(m)?;
            encoded.push((view, entries));
        }
        match &self.backend {
            // Encoding was the only step that can fail: the in-memory merges cannot.
            Backend::Memory => {
                for (view, entries) in &encoded {
                    view.inner.kv.merge_batch(entries)?;
                }
                Ok(())
            }
            Backend::Lsm { db, .. } => {
                let mut batch = ilion_lsm::WriteBatch::new();
                for (view, entries) in &encoded {
                    let foreign = || Error::ForeignTable {
                        table: view.schema().qualified_name(),
                    };
                    let (table_db, tree) = view.inner.kv.lsm().ok_or_else(foreign)?;
                    if !Arc::ptr_eq(table_db, db) {
                        return Err(foreign());
                    }
                    for (k, v) in entries {
                        batch.merge(tree, k, v);
                    }
                }
                db.write(batch).map_err(Error::Engine)
            }
        }
    }

    /// The table `keyspace.name`.
    pub fn table(&self, keyspace: &str, name: &str) -> Result<Table> {
        self.tables
            .read()
            .get(keyspace, name)
            .cloned()
            .ok_or_else(|| Error::UnknownTable(format!("{keyspace}.{name}")))
    }
}

/// A handle to one table; cheap to clone. Every handle of a table follows its schema changes
/// and truncations; after [`Store::drop_table`] its operations fail with
/// [`Error::UnknownTable`].
#[derive(Debug, Clone)]
pub struct Table {
    shared: Arc<RwLock<View>>,
}

impl Table {
    /// The current schema.
    pub fn schema(&self) -> Arc<TableSchema> {
        self.shared.read().inner.schema.clone()
    }

    /// The current incarnation; an error once the table is dropped.
    fn view(&self) -> Result<View> {
        let v = self.shared.read().clone();
        if v.inner.dropped {
            return Err(Error::UnknownTable(v.inner.schema.qualified_name()));
        }
        Ok(v)
    }

    /// Applies a mutation atomically. Every entry is a merge operand, so applying the same
    /// mutations in any order, any number of times, gives the same table.
    pub fn apply(&self, m: &Mutation) -> Result<()> {
        self.view()?.apply(m)
    }

    /// Writes in-memory data to files (a no-op in memory).
    pub fn flush(&self) -> Result<()> {
        self.view()?.flush()
    }

    /// Deletes every partition with a token in `(start, end]` (`None` = unbounded on that
    /// side; never wrapping): what `cleanup` drops of ranges this node no longer owns. The
    /// space comes back with the next compaction ([`Table::compact`]).
    pub fn delete_token_range(&self, start: Option<i64>, end: Option<i64>) -> Result<()> {
        let from = match start {
            None => Vec::new(),
            Some(i64::MAX) => return Ok(()),
            Some(s) => crate::key::token_start(s + 1),
        };
        let to = end
            .and_then(|e| e.checked_add(1))
            .map(crate::key::token_start);
        self.view()?.inner.kv.delete_range(&from, to.as_deref())
    }

    /// Major compaction: everything into one sorted run, expiring TTLs and purging tombstones
    /// past `gc_grace_seconds` and the cells of dropped columns.
    pub fn compact(&self) -> Result<()> {
        self.view()?.inner.kv.compact()
    }

    /// Runs, on this thread, the compactions the table's strategy picks now (what background
    /// compaction does on its own; it keeps running too). They purge like any compaction:
    /// tombstones past `gc_grace_seconds` whose partition holds no older data outside them.
    /// For tests and tools that need compaction to have happened at a known point.
    pub fn compact_pending(&self) -> Result<()> {
        self.view()?.inner.kv.compact_pending()
    }

    /// Answers a read at the clock's current time.
    pub fn read(&self, cmd: &ReadCommand) -> Result<ReadResult> {
        self.view()?.read(cmd)
    }

    /// What is stored in the extent `cmd` reads, deletions included, as mutations that
    /// reproduce it (see the `raw` module): for reconciling replicas and read repair. The
    /// limits count live rows, as [`Table::read`] does; no tombstone threshold applies.
    pub fn read_raw(&self, cmd: &ReadCommand) -> Result<Vec<Mutation>> {
        let v = self.view()?;
        let live = v.read_unchecked(cmd)?;
        crate::raw::read(
            &v.inner.schema,
            &*v.inner.kv,
            v.inner.clock.now_seconds(),
            cmd,
            &live,
        )
    }

    /// [`Table::read_raw`] with the live read's resume position: one page of what is stored
    /// in the extent, for streaming a token range page by page (`cmd.limit` rows a page).
    pub fn read_raw_page(
        &self,
        cmd: &ReadCommand,
    ) -> Result<(Vec<Mutation>, Option<crate::read::PagingPosition>)> {
        let v = self.view()?;
        let live = v.read_unchecked(cmd)?;
        let raw = crate::raw::read(
            &v.inner.schema,
            &*v.inner.kv,
            v.inner.clock.now_seconds(),
            cmd,
            &live,
        )?;
        Ok((raw, live.next_page))
    }

    /// Counts over the whole table at the clock's current time (a full scan).
    pub fn statistics(&self) -> Result<TableStats> {
        self.view()?.statistics()
    }
}

/// One table incarnation under one schema version.
#[derive(Debug, Clone)]
struct View {
    inner: Arc<TableInner>,
}

#[derive(Debug)]
struct TableInner {
    schema: Arc<TableSchema>,
    kv: Arc<dyn Kv>,
    clock: Arc<dyn Clock>,
    thresholds: TombstoneThresholds,
    /// Set on the last view of a dropped table.
    dropped: bool,
}

impl View {
    fn schema(&self) -> &TableSchema {
        &self.inner.schema
    }

    fn corrupt(&self, reason: &'static str) -> Error {
        Error::Corruption {
            table: self.inner.schema.qualified_name(),
            reason,
        }
    }

    /// Applies a mutation atomically. Every entry is a merge operand, so applying the same
    /// mutations in any order, any number of times, gives the same table.
    fn apply(&self, m: &Mutation) -> Result<()> {
        let batch = self.encode_mutation(m)?;
        self.inner.kv.merge_batch(&batch)
    }

    fn encode_mutation(&self, m: &Mutation) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let schema = &*self.inner.schema;
        let default_ttl = schema.options().default_time_to_live;
        let ttl_or_default = |ttl: Option<Ttl>| match ttl {
            Some(t) if t.seconds == 0 => None,
            Some(t) => Some(t),
            None if default_ttl > 0 => Some(Ttl::new(default_ttl, m.now)),
            None => None,
        };
        let p = key::partition(m.token, &m.partition_key);
        let mut batch = Vec::with_capacity(m.len());
        if let Some(d) = m.partition_deletion {
            let mut k = p.clone();
            k.push(key::PARTITION_DELETION);
            batch.push((k, Record::tombstone(d).encode()));
        }
        for rd in &m.range_deletions {
            batch.push((
                key::range_deletion(schema, &p, &rd.start, &rd.end)?,
                Record::tombstone(rd.deletion).encode(),
            ));
        }
        for c in &m.static_cells {
            let mut k = p.clone();
            k.push(key::STATIC);
            batch.push(self.encode_cell(k, c, ColumnKind::Static, &ttl_or_default)?);
        }
        for row in &m.rows {
            let mut rk = p.clone();
            rk.push(key::ROWS);
            rk.extend_from_slice(&key::full_clustering(schema, &row.clustering)?);
            if let Some(d) = row.deletion {
                let mut k = rk.clone();
                k.push(key::ROW_DELETION);
                batch.push((k, Record::tombstone(d).encode()));
            }
            if let Some(Liveness { timestamp, ttl }) = row.marker {
                let mut k = rk.clone();
                k.push(key::ROW_MARKER);
                let rec = match ttl_or_default(ttl) {
                    Some(t) => Record::expiring(timestamp, Vec::new(), t),
                    None => Record::live(timestamp, Vec::new()),
                };
                batch.push((k, rec.encode()));
            }
            for c in &row.cells {
                let mut k = rk.clone();
                k.push(key::ROW_CELL);
                batch.push(self.encode_cell(k, c, ColumnKind::Regular, &ttl_or_default)?);
            }
        }
        Ok(batch)
    }

    fn encode_cell(
        &self,
        mut k: Vec<u8>,
        c: &CellWrite,
        kind: ColumnKind,
        ttl_or_default: &dyn Fn(Option<Ttl>) -> Option<Ttl>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let schema = &*self.inner.schema;
        let invalid = |reason| Error::InvalidColumn {
            table: schema.qualified_name(),
            column: c.column,
            reason,
        };
        let col = schema
            .cell_column(c.column)
            .ok_or_else(|| invalid("no such column"))?;
        if col.kind != kind {
            return Err(invalid(if kind == ColumnKind::Static {
                "a regular column written as static"
            } else {
                "a static column written in a row"
            }));
        }
        let multi = col.ty.is_multi_cell();
        let rec = match &c.op {
            CellOp::Set {
                timestamp,
                value,
                ttl,
            } => {
                if multi && c.path.is_none() {
                    return Err(invalid("a non-frozen collection is written per element"));
                }
                match ttl_or_default(*ttl) {
                    Some(t) => Record::expiring(*timestamp, value.clone(), t),
                    None => Record::live(*timestamp, value.clone()),
                }
            }
            CellOp::Delete(d) => {
                if multi && c.path.is_none() {
                    return Err(invalid("deleting a whole collection is DeleteCollection"));
                }
                Record::tombstone(*d)
            }
            CellOp::DeleteCollection(d) => {
                if !multi || c.path.is_some() {
                    return Err(invalid(
                        "DeleteCollection needs a non-frozen collection and no path",
                    ));
                }
                Record::tombstone(*d)
            }
        };
        key::cell_suffix(schema, c.column, c.path.as_deref(), &mut k)?;
        Ok((k, rec.encode()))
    }

    /// Writes in-memory data to files (a no-op in memory).
    fn flush(&self) -> Result<()> {
        self.inner.kv.flush()
    }

    /// Answers a read at the clock's current time.
    fn read(&self, cmd: &ReadCommand) -> Result<ReadResult> {
        let now = self.inner.clock.now_seconds();
        let mut st = ReadState {
            table: self,
            now,
            cmd,
            tombstones: 0,
            total: 0,
            out: Vec::new(),
            next_page: None,
        };
        let (slice_lo, slice_hi) =
            key::bound_interval(self.schema(), &cmd.slice.start, &cmd.slice.end)?;
        let resume_key = cmd
            .resume
            .as_ref()
            .map(|r| key::partition(r.token, &r.partition_key));
        match &cmd.partitions {
            PartitionRange::Single { token, key: pk } => {
                let p = key::partition(*token, pk);
                st.partition(
                    &p,
                    *token,
                    pk,
                    &slice_lo,
                    slice_hi.as_deref(),
                    resume_key.as_deref(),
                )?;
            }
            PartitionRange::Tokens { start, end } => {
                let mut cursor = match start {
                    None => Vec::new(),
                    Some(i64::MAX) => return Ok(st.finish()),
                    Some(t) => key::token_start(t + 1),
                };
                let end_key = match end {
                    None | Some(i64::MAX) => None,
                    Some(t) => Some(key::token_start(t + 1)),
                };
                if let Some(rk) = &resume_key
                    && *rk > cursor
                {
                    cursor = rk.clone();
                }
                while st.next_page.is_none() && !st.limit_reached() {
                    let Some((k, _)) = self
                        .inner
                        .kv
                        .scan(&cursor, end_key.as_deref(), false, 1)?
                        .pop()
                    else {
                        break;
                    };
                    let (token, pk, used) = key::parse_partition(&k)
                        .ok_or_else(|| self.corrupt("bad partition key"))?;
                    let p = k
                        .get(..used)
                        .ok_or_else(|| self.corrupt("bad partition key"))?
                        .to_vec();
                    st.partition(
                        &p,
                        token,
                        &pk,
                        &slice_lo,
                        slice_hi.as_deref(),
                        resume_key.as_deref(),
                    )?;
                    cursor = p;
                    cursor.push(key::ROWS_END);
                }
            }
        }
        Ok(st.finish())
    }

    /// Counts over the whole table at the clock's current time (a full scan).
    fn statistics(&self) -> Result<TableStats> {
        let mut stats = TableStats::default();
        let mut cursor = Cursor::new(&*self.inner.kv, Vec::new(), None, false);
        while let Some((k, v)) = cursor.next()? {
            stats.entries += 1;
            stats.bytes += (k.len() + v.len()) as u64;
        }
        let mut position = None;
        loop {
            let cmd = ReadCommand {
                resume: position.take(),
                limit: Some(1000),
                ..ReadCommand::token_range(None, None)
            };
            let r = self.read_unchecked(&cmd)?;
            for p in &r.partitions {
                if p.rows.is_empty()
                    || !matches!(&cmd.resume, Some(pp) if pp.partition_key == p.key && pp.token == p.token)
                {
                    stats.partitions += 1;
                }
                stats.live_rows += p.rows.len() as u64;
                stats.live_cells += p.static_cells.len() as u64
                    + p.rows.iter().map(|r| r.cells.len() as u64).sum::<u64>();
            }
            stats.tombstones += r.tombstones_scanned;
            match r.next_page {
                Some(p) => position = Some(p),
                None => break,
            }
        }
        Ok(stats)
    }

    /// A read without the tombstone failure threshold (statistics, repair).
    fn read_unchecked(&self, cmd: &ReadCommand) -> Result<ReadResult> {
        let t = View {
            inner: Arc::new(TableInner {
                schema: self.inner.schema.clone(),
                kv: self.inner.kv.clone(),
                clock: self.inner.clock.clone(),
                thresholds: TombstoneThresholds {
                    warn: u64::MAX,
                    fail: u64::MAX,
                },
                dropped: false,
            }),
        };
        t.read(cmd)
    }
}

/// Chunked iteration over a key range.
struct Cursor<'a> {
    kv: &'a dyn Kv,
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    reverse: bool,
    buf: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
    chunk: usize,
}

impl<'a> Cursor<'a> {
    fn new(kv: &'a dyn Kv, start: Vec<u8>, end: Option<Vec<u8>>, reverse: bool) -> Cursor<'a> {
        Cursor {
            kv,
            start,
            end,
            reverse,
            buf: VecDeque::new(),
            chunk: FIRST_CHUNK,
            done: false,
        }
    }

    fn next(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.buf.is_empty() && !self.done {
            let chunk = self
                .kv
                .scan(&self.start, self.end.as_deref(), self.reverse, self.chunk)?;
            if chunk.len() < self.chunk {
                self.done = true;
            }
            if let Some((last, _)) = chunk.last() {
                if self.reverse {
                    self.end = Some(last.clone());
                } else {
                    self.start = last.clone();
                    self.start.push(0);
                }
            }
            self.buf.extend(chunk);
            self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        }
        Ok(self.buf.pop_front())
    }

    /// Puts back the entry [`Cursor::next`] just returned: it comes out again next.
    fn unread(&mut self, entry: (Vec<u8>, Vec<u8>)) {
        self.buf.push_front(entry);
    }
}

struct ReadState<'a> {
    table: &'a View,
    now: i64,
    cmd: &'a ReadCommand,
    tombstones: u64,
    total: u32,
    out: Vec<PartitionData>,
    next_page: Option<PagingPosition>,
}

impl ReadState<'_> {
    fn limit_reached(&self) -> bool {
        self.cmd.limit.is_some_and(|l| self.total >= l)
    }

    fn tombstone(&mut self) -> Result<()> {
        self.tombstones += 1;
        let fail = self.table.inner.thresholds.fail;
        if self.tombstones > fail {
            return Err(Error::TombstoneOverwhelming {
                table: self.table.schema().qualified_name(),
                scanned: self.tombstones,
                threshold: fail,
            });
        }
        Ok(())
    }

    fn finish(self) -> ReadResult {
        let mut warnings = Vec::new();
        let warn = self.table.inner.thresholds.warn;
        if self.tombstones > warn {
            tracing::warn!(table = %self.table.schema().qualified_name(), scanned = self.tombstones, "read scanned many tombstones");
            warnings.push(ReadWarning::TombstoneThreshold {
                scanned: self.tombstones,
                threshold: warn,
            });
        }
        ReadResult {
            partitions: self.out,
            next_page: self.next_page,
            tombstones_scanned: self.tombstones,
            warnings,
        }
    }

    /// Reads one partition into `out`.
    fn partition(
        &mut self,
        p: &[u8],
        token: i64,
        pk: &[u8],
        slice_lo: &[u8],
        slice_hi: Option<&[u8]>,
        resume_key: Option<&[u8]>,
    ) -> Result<()> {
        let table = self.table;
        let schema = table.schema();
        let kv = &*table.inner.kv;
        let cmd = self.cmd;
        let resume = cmd.resume.as_ref().filter(|_| resume_key == Some(p));
        if resume.is_some_and(|r| r.clustering.is_none()) {
            return Ok(());
        }
        // The rows' bounds.
        let mut lo = slice_lo.to_vec();
        let mut hi = slice_hi.map(<[u8]>::to_vec);
        let mut rows_in_partition = 0u32;
        if let Some(c) = resume.and_then(|r| r.clustering.as_ref()) {
            let enc = key::full_clustering(schema, c)?;
            rows_in_partition = resume.map_or(0, |r| r.rows_in_partition);
            if cmd.reversed {
                if hi.as_ref().is_none_or(|h| enc < *h) {
                    hi = Some(enc);
                }
            } else {
                let after = key::after_prefix(enc);
                if after > lo {
                    lo = after;
                }
            }
        }
        let mut rstart = p.to_vec();
        rstart.push(key::ROWS);
        rstart.extend_from_slice(&lo);
        let rend = match &hi {
            Some(h) => {
                let mut e = p.to_vec();
                e.push(key::ROWS);
                e.extend_from_slice(h);
                e
            }
            None => {
                let mut e = p.to_vec();
                e.push(key::ROWS_END);
                e
            }
        };
        // Header: partition deletion, range deletions, static cells.
        let mut start = p.to_vec();
        start.push(key::PARTITION_DELETION);
        let mut end = p.to_vec();
        end.push(key::ROWS);
        let mut partition_deletion = None;
        let mut ranges: Vec<(Vec<u8>, Option<Vec<u8>>, Deletion)> = Vec::new();
        let mut statics = Vec::new();
        // A forward read from the first row reads the header and the rows with one scan (one
        // engine iterator instead of two: half the cost of a point read).
        let one_scan = !cmd.reversed && lo.is_empty();
        let mut cursor = if one_scan {
            Cursor::new(kv, start, Some(rend.clone()), false)
        } else {
            Cursor::new(kv, start, Some(end), false)
        };
        while let Some((k, v)) = cursor.next()? {
            let rest = k.get(p.len()..).ok_or_else(|| table.corrupt("short key"))?;
            if one_scan && rest.first().is_some_and(|s| *s >= key::ROWS) {
                cursor.unread((k, v));
                break;
            }
            let rec = Record::decode(&v).ok_or_else(|| table.corrupt("bad record"))?;
            match rest.split_first() {
                Some((&key::PARTITION_DELETION, [])) => {
                    if let Some(d) = rec.as_deletion(self.now) {
                        self.tombstone()?;
                        partition_deletion = Deletion::max(partition_deletion, Some(d));
                    }
                }
                Some((&key::RANGE_DELETION, tail)) => {
                    let (s, e) =
                        key::parse_range_deletion(schema, tail).map_err(|r| table.corrupt(r))?;
                    if let Some(d) = rec.as_deletion(self.now) {
                        self.tombstone()?;
                        let (lo, hi) = key::bound_interval(schema, &s, &e)?;
                        ranges.push((lo, hi, d));
                    }
                }
                Some((&key::STATIC, tail)) => statics.push((tail.to_vec(), rec)),
                _ => return Err(table.corrupt("unknown partition section")),
            }
        }
        let static_cells = self.cells(statics, partition_deletion)?;

        // Rows.
        let mut rows = Vec::new();
        let mut cursor = if one_scan {
            cursor
        } else {
            Cursor::new(kv, rstart, Some(rend), cmd.reversed)
        };
        let per_partition = cmd.per_partition_limit.unwrap_or(u32::MAX);
        let mut group: Vec<(Vec<u8>, Record)> = Vec::new();
        let mut group_clustering: Vec<u8> = Vec::new();
        let header = p.len() + 1;
        loop {
            let entry = cursor.next()?;
            // (clustering length, record) of the entry; the key itself is reused below.
            let parsed = match &entry {
                Some((k, v)) => {
                    let rest = k.get(header..).ok_or_else(|| table.corrupt("short key"))?;
                    // Entries of the row being assembled share its clustering bytes (a full
                    // clustering is self-delimiting); only a new row is decoded.
                    let used = if !group.is_empty() && rest.starts_with(&group_clustering) {
                        group_clustering.len()
                    } else {
                        key::decode_clustering(schema, rest, schema.clustering_len())
                            .map_err(|r| table.corrupt(r))?
                            .1
                    };
                    let rec = Record::decode(v).ok_or_else(|| table.corrupt("bad record"))?;
                    Some((used, rec))
                }
                None => None,
            };
            let same_row = match (&entry, &parsed) {
                (Some((k, _)), Some((used, _))) => {
                    k.get(header..header + used) == Some(group_clustering.as_slice())
                }
                _ => false,
            };
            if !same_row && !group.is_empty() {
                if rows_in_partition >= per_partition || self.limit_reached() {
                    break;
                }
                let mut entries = std::mem::take(&mut group);
                if cmd.reversed {
                    entries.reverse();
                }
                let mut base = partition_deletion;
                for (rlo, rhi, d) in &ranges {
                    if rlo.as_slice() <= group_clustering.as_slice()
                        && rhi.as_ref().is_none_or(|h| group_clustering < *h)
                    {
                        base = Deletion::max(base, Some(*d));
                    }
                }
                if let Some(row) = self.row(&group_clustering, entries, base)? {
                    rows.push(row);
                    rows_in_partition += 1;
                    self.total += 1;
                }
            }
            let (Some((mut k, _)), Some((used, rec))) = (entry, parsed) else {
                break;
            };
            if !same_row {
                group_clustering = k.get(header..header + used).unwrap_or_default().to_vec();
            }
            // Keep only the row suffix, in place.
            k.drain(..header + used);
            group.push((k, rec));
        }
        let resumed_mid_partition = resume.is_some();
        let static_only = rows.is_empty() && !static_cells.is_empty() && !resumed_mid_partition;
        if static_only {
            self.total += 1;
        }
        if let Some(last) = rows.last() {
            if self.limit_reached() {
                self.next_page = Some(PagingPosition {
                    token,
                    partition_key: pk.to_vec(),
                    clustering: Some(last.clustering.clone()),
                    rows_in_partition,
                });
            }
        } else if static_only && self.limit_reached() {
            self.next_page = Some(PagingPosition {
                token,
                partition_key: pk.to_vec(),
                clustering: None,
                rows_in_partition: 0,
            });
        }
        if !rows.is_empty() || static_only {
            self.out.push(PartitionData {
                token,
                key: pk.to_vec(),
                static_cells,
                rows,
            });
        }
        Ok(())
    }

    /// Assembles one row from its entries (in key order) under the deletion `base`.
    fn row(
        &mut self,
        clustering: &[u8],
        entries: Vec<(Vec<u8>, Record)>,
        base: Option<Deletion>,
    ) -> Result<Option<RowData>> {
        let table = self.table;
        let schema = table.schema();
        let mut deletion = base;
        let mut marker = None;
        let mut cells = Vec::new();
        for (sub, rec) in entries {
            match sub.split_first() {
                Some((&key::ROW_DELETION, [])) => {
                    if let Some(d) = rec.as_deletion(self.now) {
                        self.tombstone()?;
                        deletion = Deletion::max(deletion, Some(d));
                    }
                }
                Some((&key::ROW_MARKER, [])) => {
                    if rec.is_live(self.now) {
                        if deletion.is_none_or(|d| rec.timestamp > d.timestamp) {
                            marker = Some(Liveness {
                                timestamp: rec.timestamp,
                                ttl: rec.ttl(),
                            });
                        }
                    } else {
                        self.tombstone()?;
                    }
                }
                Some((&key::ROW_CELL, _)) => {
                    let mut suffix = sub;
                    suffix.drain(..1);
                    cells.push((suffix, rec));
                }
                _ => return Err(table.corrupt("unknown row entry")),
            }
        }
        let cells = self.cells(cells, deletion)?;
        if marker.is_none() && cells.is_empty() {
            return Ok(None);
        }
        let (values, _) = key::decode_clustering(schema, clustering, schema.clustering_len())
            .map_err(|r| table.corrupt(r))?;
        Ok(Some(RowData {
            clustering: values,
            marker,
            cells,
        }))
    }

    /// Live cells among `(cell suffix, record)` entries in key order, under `deletion`.
    fn cells(
        &mut self,
        entries: Vec<(Vec<u8>, Record)>,
        deletion: Option<Deletion>,
    ) -> Result<Vec<CellData>> {
        let table = self.table;
        let schema = table.schema();
        let mut out = Vec::new();
        let mut collection: Option<(u16, Deletion)> = None;
        for (suffix, rec) in entries {
            // A dropped column's retired id: its cells are gone whatever they hold.
            if let Some(id) = suffix.first_chunk::<2>()
                && schema.is_dropped_id(u16::from_be_bytes(*id))
            {
                continue;
            }
            let name = key::parse_cell_suffix(schema, &suffix).map_err(|r| table.corrupt(r))?;
            let col = schema
                .cell_column(name.column)
                .ok_or_else(|| table.corrupt("unknown column"))?;
            // A column dropped then re-added ignores what was written up to the drop.
            if schema
                .dropped_at(&col.name)
                .is_some_and(|at| rec.timestamp <= at)
            {
                continue;
            }
            let dead = rec.as_deletion(self.now);
            if dead.is_some() {
                self.tombstone()?;
            }
            if name.path.is_none() && col.ty.is_multi_cell() {
                if let Some(d) = dead {
                    collection = Some((name.column, d));
                }
                continue;
            }
            if dead.is_some() {
                continue;
            }
            let mut shadow = deletion;
            if let Some((c, d)) = collection
                && c == name.column
            {
                shadow = Deletion::max(shadow, Some(d));
            }
            if shadow.is_some_and(|d| rec.timestamp <= d.timestamp) {
                continue;
            }
            out.push(CellData {
                column: name.column,
                path: name.path,
                timestamp: rec.timestamp,
                ttl: rec.ttl(),
                value: rec.into_value(),
            });
        }
        Ok(out)
    }
}
