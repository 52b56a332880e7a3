//! The store's catalogue: which tables exist, their current schema (with dropped columns) and
//! which incarnation (engine tree) holds each one's data. Kept as one JSON file,
//! `STORAGE-CATALOG.json`, in the engine's directory, replaced atomically (write a temporary
//! file, sync, rename, sync the directory) on every DDL change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::TableSchema;

const FILE_NAME: &str = "STORAGE-CATALOG.json";
const TMP_NAME: &str = "STORAGE-CATALOG.json.tmp";
const VERSION: u32 = 1;

/// Every table of a store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Catalog {
    version: u32,
    pub(crate) tables: BTreeMap<String, Entry>,
    /// Last incarnation used per qualified table name, kept after a drop so that a re-created
    /// (or truncated) table never writes into a tree that held older data.
    pub(crate) generations: BTreeMap<String, u64>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            version: VERSION,
            tables: BTreeMap::new(),
            generations: BTreeMap::new(),
        }
    }
}

/// One live table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) schema: TableSchema,
    pub(crate) generation: u64,
}

impl Catalog {
    /// The incarnation a new tree of `name` gets.
    pub(crate) fn next_generation(&self, name: &str) -> u64 {
        self.generations.get(name).map_or(0, |g| g + 1)
    }
}

/// The engine tree of incarnation `generation` of table `qualified` (`keyspace.table`). The
/// first incarnation keeps the plain name (stores written before the catalogue existed).
pub(crate) fn tree_name(qualified: &str, generation: u64) -> String {
    if generation == 0 {
        qualified.to_owned()
    } else {
        format!("{qualified}#{generation}")
    }
}

/// Where the catalogue lives.
pub(crate) struct CatalogFile {
    pub(crate) vfs: Arc<dyn lsm::Vfs>,
    pub(crate) dir: PathBuf,
}

impl std::fmt::Debug for CatalogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFile")
            .field("dir", &self.dir)
            .finish()
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Catalog {
        file: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl CatalogFile {
    /// The stored catalogue, or an empty one when there is none yet.
    pub(crate) fn load(&self) -> Result<Catalog> {
        let path = self.dir.join(FILE_NAME);
        if !self.vfs.exists(&path) {
            return Ok(Catalog::default());
        }
        let file = self.vfs.open_read(&path).map_err(|e| io_error(&path, e))?;
        let catalog: Catalog =
            serde_json::from_slice(file.bytes()).map_err(|e| io_error(&path, e))?;
        if catalog.version != VERSION {
            return Err(io_error(
                &path,
                format!("unsupported catalogue version {}", catalog.version),
            ));
        }
        Ok(catalog)
    }

    /// Replaces the stored catalogue atomically.
    pub(crate) fn store(&self, catalog: &Catalog) -> Result<()> {
        let tmp = self.dir.join(TMP_NAME);
        let path = self.dir.join(FILE_NAME);
        let bytes = serde_json::to_vec_pretty(catalog).map_err(|e| io_error(&path, e))?;
        let mut f = self.vfs.create(&tmp).map_err(|e| io_error(&tmp, e))?;
        f.append(&bytes).map_err(|e| io_error(&tmp, e))?;
        f.sync().map_err(|e| io_error(&tmp, e))?;
        drop(f);
        self.vfs
            .rename(&tmp, &path)
            .map_err(|e| io_error(&path, e))?;
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| io_error(&self.dir, e))
    }
}
