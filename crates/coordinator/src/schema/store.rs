//! The schema on disk: `schema.json` in the data directory, replaced atomically (write a
//! temporary file, fsync it, rename it over the old one, fsync the directory), so that a crash
//! leaves either the old or the new schema, never a torn one.
//!
//! This file stands in until the schema lives in `system_schema` tables on the storage engine.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};

use crate::{Error, Result};

/// Reads the JSON document at `path`, or `None` when the file does not exist.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::server(format!("cannot parse {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::server(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Replaces the JSON document at `path` atomically and durably.
pub(crate) fn save<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        Error::server(format!("cannot {what} {}: {e}", p.display()))
    };
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::server(format!("cannot encode {}: {e}", path.display())))?;
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp).map_err(|e| io("create", &tmp, e))?;
    f.write_all(&bytes).map_err(|e| io("write", &tmp, e))?;
    f.sync_all().map_err(|e| io("sync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io("rename onto", path, e))?;
    if let Some(dir) = path.parent() {
        let d = File::open(dir).map_err(|e| io("open", dir, e))?;
        d.sync_all().map_err(|e| io("sync", dir, e))?;
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}
