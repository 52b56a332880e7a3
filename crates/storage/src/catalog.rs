//! The store's catalogue: which tables exist, their current schema (with dropped columns) and
//! which incarnation (engine tree) holds each one's data. Kept as one file,
//! `STORAGE-CATALOG.json`, in the engine's directory, replaced atomically (write a temporary
//! file, sync, rename, sync the directory) on every DDL change.
//!
//! Layout (version 2): a JSON document followed by one line that checksums it, so damage is
//! reported instead of misread, while the file stays readable by eye:
//!
//! ```text
//! <JSON document (UTF-8)> "\n# xxh3-64 " <16 lowercase hex digits of xxh3_64(JSON bytes)> "\n"
//! ```
//!
//! A file without the checksum line is the version-1 layout (plain JSON): it is read as it is
//! and rewritten with a checksum at the next DDL change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::TableSchema;

pub(crate) const FILE_NAME: &str = "STORAGE-CATALOG.json";
const TMP_NAME: &str = "STORAGE-CATALOG.json.tmp";
/// Written by this build; 1 (no checksum line) is read too.
const VERSION: u32 = 2;
const OLDEST_VERSION: u32 = 1;
const CHECKSUM_PREFIX: &[u8] = b"\n# xxh3-64 ";

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
    /// When each token range was last repaired (repair-aware tombstone purging).
    #[serde(default, skip_serializing_if = "crate::RepairHistory::is_empty")]
    pub(crate) repaired: crate::RepairHistory,
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
    pub(crate) vfs: Arc<dyn ilion_lsm::Vfs>,
    pub(crate) dir: PathBuf,
}

impl std::fmt::Debug for CatalogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFile")
            .field("dir", &self.dir)
            .finish()
    }
}

/// The file's bytes: the JSON and its checksum line.
fn encode(catalog: &Catalog) -> serde_json::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(catalog)?;
    let sum = xxhash_rust::xxh3::xxh3_64(&bytes);
    bytes.extend_from_slice(CHECKSUM_PREFIX);
    bytes.extend_from_slice(format!("{sum:016x}\n").as_bytes());
    Ok(bytes)
}

/// The JSON part of a stored catalogue, checked against its checksum line (version 2), or the
/// whole file when it has none (version 1, plain JSON: it must then say version 1); the flag
/// says whether a checksum was verified.
fn verified_json(bytes: &[u8]) -> std::result::Result<(&[u8], bool), String> {
    // The checksum line is the file's last 29 bytes: prefix, 16 hex digits, newline.
    let line = CHECKSUM_PREFIX.len() + 17;
    let split = bytes.len().checked_sub(line);
    let Some((json, tail)) = split.map(|at| bytes.split_at(at)) else {
        return Ok((bytes, false));
    };
    let Some(hex) = tail
        .strip_prefix(CHECKSUM_PREFIX)
        .and_then(|t| t.strip_suffix(b"\n"))
    else {
        // No checksum line: version 1 (serde checks the version field after this).
        if bytes
            .windows(CHECKSUM_PREFIX.len())
            .any(|w| w == CHECKSUM_PREFIX)
        {
            return Err("damaged checksum line".to_owned());
        }
        return Ok((bytes, false));
    };
    let expected = std::str::from_utf8(hex)
        .ok()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| "damaged checksum line".to_owned())?;
    let actual = xxhash_rust::xxh3::xxh3_64(json);
    if expected != actual {
        return Err(format!(
            "checksum mismatch: expected {expected:016x}, found {actual:016x}"
        ));
    }
    Ok((json, true))
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
        let (json, checked) = verified_json(file.bytes()).map_err(|e| io_error(&path, e))?;
        let catalog: Catalog = serde_json::from_slice(json).map_err(|e| io_error(&path, e))?;
        if !checked && catalog.version != OLDEST_VERSION {
            return Err(io_error(&path, "the checksum line is missing"));
        }
        if !(OLDEST_VERSION..=VERSION).contains(&catalog.version) {
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
        let mut current = catalog.clone();
        current.version = VERSION;
        let bytes = encode(&current).map_err(|e| io_error(&path, e))?;
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
