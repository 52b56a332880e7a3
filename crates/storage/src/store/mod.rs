//! The table store: a set of tables sharing one engine and one clock, with their catalogue
//! and the DDL that changes it. One file per job besides: `builder` (opening a store),
//! `table` (the handle of one table and its incarnations), `write` (mutations encoded into
//! engine entries), `read` (reads assembled from engine entries), `cursor` (chunked
//! iteration over a key range) and `files` (whole files of a token range, out and in).

use std::sync::Arc;

use parking_lot::RwLock;

use crate::catalog::{Catalog, CatalogFile, Entry, tree_name};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::kv::{Kv, MemKv};
use crate::lsm_kv::{Filters, LsmKv, tree_options};
use crate::mutation::Mutation;
use crate::purge::PurgeFilter;
use crate::read::TombstoneThresholds;
use crate::schema::{SchemaChange, TableSchema};

mod builder;
mod counter;
mod cursor;
mod files;
mod latency;
mod read;
mod table;
mod write;

pub use builder::StoreBuilder;
pub use latency::{Latency, LatencySummary, TableLatencies};
pub use table::Table;
use table::{TableInner, View};

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
    handles: foldhash::HashMap<String, foldhash::HashMap<String, Table>>,
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

impl Store {
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
                repaired: crate::RepairHistory::default(),
            },
        );
        let schema = Arc::new(schema);
        let view = self.view(schema.clone(), generation, Arc::default())?;
        self.save(&catalog)?;
        tables.catalog = catalog;
        let table = Table {
            shared: Arc::new(RwLock::new(view)),
            latencies: Arc::default(),
            written: Arc::default(),
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
                    repaired: old.inner.repaired.clone(),
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
        let repaired = catalog
            .tables
            .get(&q)
            .map(|e| e.repaired.clone())
            .unwrap_or_default();
        catalog.tables.insert(
            q,
            Entry {
                schema: (*schema).clone(),
                generation,
                repaired,
            },
        );
        let history = table.shared.read().inner.repaired.clone();
        let view = self.view(schema, generation, history)?;
        table
            .written
            .note_range(None, None, self.clock.now_seconds());
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
            Arc::new(PurgeFilter::new(
                schema.clone(),
                self.clock.clone(),
                current.inner.repaired.clone(),
            )),
        )?;
        *table.shared.write() = View {
            inner: Arc::new(TableInner {
                schema,
                kv: current.inner.kv.clone(),
                clock: self.clock.clone(),
                thresholds: self.thresholds,
                dropped: false,
                repaired: current.inner.repaired.clone(),
            }),
        };
        Ok(table)
    }

    /// Every live table, sorted by keyspace and name.
    pub fn tables(&self) -> Vec<Table> {
        let tables = self.tables.read();
        let mut all: Vec<(String, Table)> = tables
            .handles
            .values()
            .flat_map(|by_name| by_name.values())
            .map(|t| (t.schema().qualified_name(), t.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, t)| t).collect()
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

    /// Records that the token ranges `ranges` (`(start, end]`, never wrapping) of
    /// `keyspace.name` were repaired by a repair that started at `at` (seconds since the
    /// epoch): kept in the catalogue, and the table's tombstones in those ranges deleted before
    /// then become purgeable under [`crate::TombstoneGc::Repair`].
    pub fn record_repair(
        &self,
        keyspace: &str,
        name: &str,
        ranges: &[(Option<i64>, Option<i64>)],
        at: i64,
    ) -> Result<()> {
        let q = format!("{keyspace}.{name}");
        let mut tables = self.tables.write();
        let table = tables
            .get(keyspace, name)
            .cloned()
            .ok_or_else(|| Error::UnknownTable(q.clone()))?;
        let mut catalog = tables.catalog.clone();
        let Some(entry) = catalog.tables.get_mut(&q) else {
            return Err(Error::UnknownTable(q));
        };
        for (start, end) in ranges {
            entry.repaired.record(*start, *end, at);
        }
        let history = entry.repaired.clone();
        self.save(&catalog)?;
        tables.catalog = catalog;
        *table.shared.read().inner.repaired.write() = history;
        Ok(())
    }

    /// A view of incarnation `generation` of a table.
    fn view(
        &self,
        schema: Arc<TableSchema>,
        generation: u64,
        repaired: Arc<RwLock<crate::RepairHistory>>,
    ) -> Result<View> {
        let filter = Arc::new(PurgeFilter::new(
            schema.clone(),
            self.clock.clone(),
            repaired.clone(),
        ));
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
                repaired,
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
        let started = std::time::Instant::now();
        let done = self.apply_all_unmeasured(writes);
        let took = started.elapsed();
        for (table, _) in writes {
            table.latencies.writes.record(took);
        }
        done
    }

    fn apply_all_unmeasured(&self, writes: &[(&Table, &Mutation)]) -> Result<()> {
        let mut encoded = Vec::with_capacity(writes.len());
        for (table, m) in writes {
            let view = table.view()?;
            table.written.note(m.token, view.inner.clock.now_seconds());
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
