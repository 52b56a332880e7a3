//! Opening a store: the builder, its options, and the catalogue's tables opened on the
//! engine or in memory.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::catalog::{CatalogFile, tree_name};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::lsm_kv::{Filters, Reconcile, tree_options};
use crate::read::TombstoneThresholds;
use crate::schema::TableSchema;

use super::table::Table;
use super::{Backend, Store, Tables};

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
                let view = store.view(
                    Arc::new(e.schema.clone()),
                    e.generation,
                    Arc::new(RwLock::new(e.repaired.clone())),
                )?;
                tables.insert(
                    &e.schema,
                    Table {
                        shared: Arc::new(RwLock::new(view)),
                        latencies: Arc::default(),
                        written: Arc::default(),
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
}
