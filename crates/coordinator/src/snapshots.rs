//! Snapshots of tables (`nodetool snapshot`, `listsnapshots`, `clearsnapshot`, `import`, and
//! `auto_snapshot` before DROP and TRUNCATE).
//!
//! The engine keeps every table of the node in one directory, so snapshots live beside it,
//! one directory per tag, keyspace and table:
//!
//! ```text
//! <data_dir>/snapshots/<tag>/<keyspace>/<table>/
//!     tbl-<id>.sst ...   hard links to the table's engine files as of the snapshot
//!     schema.cql         CREATE TABLE IF NOT EXISTS ..., as DESCRIBE TABLE prints it
//!     manifest.json      {"files": [...], "created_at": "...Z", "expires_at": null}
//! ```
//!
//! A hard link costs no copy and keeps the file's bytes alive after compaction replaced it;
//! clearing the snapshot frees them. [`Snapshots::import`] adds such files back to a table,
//! on this node or another (restore, docs/operations.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ilion_storage::Store;
use parking_lot::RwLock;

use crate::schema::{Schema, Table};

/// The directory under the data directory that holds the snapshots.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// nodetool's words.
    #[error("You must supply a snapshot name.")]
    NoTag,
    #[error("Snapshot name {0} is not a valid directory name")]
    BadTag(String),
    /// Cassandra's words.
    #[error("Snapshot {0} already exists.")]
    Exists(String),
    #[error("Keyspace {0} does not exist")]
    UnknownKeyspace(String),
    #[error("Table {keyspace}.{table} does not exist")]
    UnknownTable { keyspace: String, table: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{table}: {source}")]
    Storage {
        table: String,
        source: ilion_storage::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A snapshot just taken.
#[derive(Debug, Clone)]
pub struct Taken {
    pub dir: PathBuf,
    pub tables: usize,
    pub files: usize,
}

/// One table's part of a snapshot, as `nodetool listsnapshots` lists it.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub tag: String,
    pub keyspace: String,
    pub table: String,
    /// Bytes of its files.
    pub size_on_disk: u64,
    /// Bytes of its files the live data no longer links (what clearing it frees).
    pub true_size: u64,
    /// `created_at` of its manifest (empty if it has none).
    pub created_at: String,
}

/// Takes, lists and clears the node's snapshots.
#[derive(Debug)]
pub struct Snapshots {
    dir: PathBuf,
    auto_snapshot: AtomicBool,
    schema: Arc<RwLock<Arc<Schema>>>,
}

impl Snapshots {
    pub(crate) fn new(data_dir: &Path, schema: Arc<RwLock<Arc<Schema>>>) -> Snapshots {
        Snapshots {
            dir: data_dir.join(SNAPSHOTS_DIR),
            auto_snapshot: AtomicBool::new(true),
            schema,
        }
    }

    /// Where the snapshots live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether DROP and TRUNCATE snapshot a table first (`auto_snapshot`, default true).
    pub fn set_auto_snapshot(&self, on: bool) {
        self.auto_snapshot.store(on, Ordering::Relaxed);
    }

    /// Snapshots the tables of `keyspaces` (none: every keyspace with tables) under `tag`;
    /// `table` narrows it to one table.
    pub fn take(
        &self,
        store: &Store,
        tag: &str,
        keyspaces: &[String],
        table: Option<&str>,
    ) -> Result<Taken, SnapshotError> {
        check_tag(tag)?;
        let root = self.dir.join(tag);
        if root.exists() {
            return Err(SnapshotError::Exists(tag.to_owned()));
        }
        let schema = self.schema.read().clone();
        let mut defs: Vec<&Table> = Vec::new();
        if keyspaces.is_empty() {
            defs.extend(schema.keyspaces.values().flat_map(|k| k.tables.values()));
        }
        for ks in keyspaces {
            let k = schema
                .keyspaces
                .get(ks)
                .ok_or_else(|| SnapshotError::UnknownKeyspace(ks.clone()))?;
            match table {
                Some(t) => {
                    defs.push(k.tables.get(t).ok_or_else(|| SnapshotError::UnknownTable {
                        keyspace: ks.clone(),
                        table: t.to_owned(),
                    })?)
                }
                None => defs.extend(k.tables.values()),
            }
        }
        let mut files = 0;
        for def in &defs {
            files += self.take_table(store, def, tag)?;
        }
        // An empty snapshot still exists, so the tag is taken and listable as nodetool's.
        std::fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(Taken {
            dir: root,
            tables: defs.len(),
            files,
        })
    }

    /// Hard-links `def`'s files into `<tag>/<keyspace>/<table>` with its schema and manifest;
    /// answers the number of files.
    fn take_table(&self, store: &Store, def: &Table, tag: &str) -> Result<usize, SnapshotError> {
        let dir = self.dir.join(tag).join(&def.keyspace).join(&def.name);
        let storage = |source| SnapshotError::Storage {
            table: format!("{}.{}", def.keyspace, def.name),
            source,
        };
        let table = store.table(&def.keyspace, &def.name).map_err(storage)?;
        let files = table.snapshot_files(&dir).map_err(storage)?;
        let cql = crate::describe::table_cql(def).replacen(
            "CREATE TABLE ",
            "CREATE TABLE IF NOT EXISTS ",
            1,
        );
        let schema_path = dir.join("schema.cql");
        std::fs::write(&schema_path, format!("{cql}\n")).map_err(io(&schema_path))?;
        let manifest = serde_json::json!({
            "files": files.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            "created_at": now_text(),
            "expires_at": null,
        });
        let manifest_path = dir.join("manifest.json");
        std::fs::write(&manifest_path, manifest.to_string()).map_err(io(&manifest_path))?;
        Ok(files.len())
    }

    /// `auto_snapshot` before DROP TABLE (or the table's keyspace): `dropped-<millis>-<table>`.
    /// The table is already gone from the schema, so a failure is logged, not returned.
    pub(crate) fn before_drop(&self, store: &Store, def: &Table) {
        if !self.auto_snapshot.load(Ordering::Relaxed) {
            return;
        }
        let tag = format!("dropped-{}-{}", now_millis(), def.name);
        if let Err(e) = self.take_table(store, def, &tag)
            && !in_memory(&e)
        {
            tracing::error!(table = %format!("{}.{}", def.keyspace, def.name), error = %e, "auto_snapshot before drop failed");
        }
    }

    /// `auto_snapshot` before TRUNCATE: `truncated-<millis>-<table>`. A failure fails the
    /// truncation before any row is gone.
    pub(crate) fn before_truncate(
        &self,
        store: &Store,
        keyspace: &str,
        table: &str,
    ) -> crate::Result<()> {
        if !self.auto_snapshot.load(Ordering::Relaxed) {
            return Ok(());
        }
        let schema = self.schema.read().clone();
        let Some(def) = schema
            .keyspaces
            .get(keyspace)
            .and_then(|k| k.tables.get(table))
        else {
            return Ok(());
        };
        let tag = format!("truncated-{}-{table}", now_millis());
        match self.take_table(store, def, &tag) {
            Err(e) if !in_memory(&e) => Err(crate::Error::server(format!(
                "auto_snapshot before truncate: {e}"
            ))),
            _ => Ok(()),
        }
    }

    /// Every table of every snapshot, by tag, keyspace and table.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        let mut out = Vec::new();
        for tag in subdirs(&self.dir)? {
            for ks in subdirs(&self.dir.join(&tag))? {
                for table in subdirs(&self.dir.join(&tag).join(&ks))? {
                    let dir = self.dir.join(&tag).join(&ks).join(&table);
                    let (size_on_disk, true_size) = sizes(&dir)?;
                    let created_at = std::fs::read(dir.join("manifest.json"))
                        .ok()
                        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                        .and_then(|m| m.get("created_at")?.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    out.push(SnapshotInfo {
                        tag: tag.clone(),
                        keyspace: ks.clone(),
                        table,
                        size_on_disk,
                        true_size,
                        created_at,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Removes snapshot `tag` (`None`: every snapshot); with `keyspaces`, only their part.
    /// Answers the tags touched.
    pub fn clear(
        &self,
        tag: Option<&str>,
        keyspaces: &[String],
    ) -> Result<Vec<String>, SnapshotError> {
        let tags = match tag {
            Some(t) => {
                check_tag(t)?;
                vec![t.to_owned()]
            }
            None => subdirs(&self.dir)?,
        };
        let mut cleared = Vec::new();
        for t in tags {
            let root = self.dir.join(&t);
            if !root.exists() {
                continue;
            }
            if keyspaces.is_empty() {
                std::fs::remove_dir_all(&root).map_err(io(&root))?;
            } else {
                for ks in keyspaces {
                    let d = root.join(ks);
                    if d.exists() {
                        std::fs::remove_dir_all(&d).map_err(io(&d))?;
                    }
                }
                if subdirs(&root)?.is_empty() {
                    std::fs::remove_dir_all(&root).map_err(io(&root))?;
                }
            }
            cleared.push(t);
        }
        Ok(cleared)
    }

    /// Adds every engine file (`tbl-*.sst`) of `dirs` to table `keyspace.table` (`nodetool
    /// import`): a snapshot's files, from this node or another. Answers files and entries.
    pub fn import(
        &self,
        store: &Store,
        keyspace: &str,
        table: &str,
        dirs: &[PathBuf],
    ) -> Result<(usize, u64), SnapshotError> {
        let storage = |source| SnapshotError::Storage {
            table: format!("{keyspace}.{table}"),
            source,
        };
        let t = store.table(keyspace, table).map_err(|e| match e {
            ilion_storage::Error::UnknownTable(_) => SnapshotError::UnknownTable {
                keyspace: keyspace.to_owned(),
                table: table.to_owned(),
            },
            other => storage(other),
        })?;
        let mut files = 0;
        let mut entries = 0;
        for dir in dirs {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map_err(io(dir))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("tbl-") && n.ends_with(".sst"))
                .collect();
            names.sort();
            for name in names {
                let done = t.import_file(&dir.join(&name)).map_err(storage)?;
                files += 1;
                entries += done.entries;
            }
        }
        Ok((files, entries))
    }
}

/// A store kept in memory (tests) has no files to snapshot.
fn in_memory(e: &SnapshotError) -> bool {
    matches!(
        e,
        SnapshotError::Storage {
            source: ilion_storage::Error::InMemory { .. },
            ..
        }
    )
}

/// nodetool refuses an empty name; a name must also be one directory.
fn check_tag(tag: &str) -> Result<(), SnapshotError> {
    if tag.is_empty() {
        return Err(SnapshotError::NoTag);
    }
    if tag == "." || tag == ".." || tag.contains(['/', '\\', '\0']) {
        return Err(SnapshotError::BadTag(tag.to_owned()));
    }
    Ok(())
}

/// The names of the directories in `dir`, sorted (none if it does not exist).
fn subdirs(dir: &Path) -> Result<Vec<String>, SnapshotError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Bytes of the engine files in `dir`, and of those linked nowhere else.
fn sizes(dir: &Path) -> Result<(u64, u64), SnapshotError> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut only_here = 0;
    for e in std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
    {
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        total += meta.len();
        if meta.nlink() == 1 {
            only_here += meta.len();
        }
    }
    Ok((total, only_here))
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn now_text() -> String {
    ilion_types::text::timestamp_iso_text(now_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_must_name_one_directory() {
        assert!(matches!(check_tag(""), Err(SnapshotError::NoTag)));
        assert!(matches!(check_tag(".."), Err(SnapshotError::BadTag(_))));
        assert!(matches!(check_tag("a/b"), Err(SnapshotError::BadTag(_))));
        assert!(check_tag("before-upgrade_1").is_ok());
    }
}
