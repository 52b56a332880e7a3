//! The manifest: which table files make up each tree, per level, and what the log has flushed.
//!
//! The whole state is rewritten on every change (flush, compaction, new tree): written to
//! `MANIFEST.tmp`, fsynced, renamed over `MANIFEST`, then the directory is fsynced. A crash leaves
//! either the old or the new manifest, never a mix. Byte layout (little-endian):
//!
//! ```text
//! magic u32 = 0x464d_4c49 ("ILMF") | version u32 = 2 | body length u64 | body | xxh3-64(body) u64
//! body:
//!   next_file_id u64 | last_seq u64 | tree count u32
//!   per tree: id u32 | name length u32 | name (UTF-8) | flushed_seq u64 | level count u32
//!     per level: file count u32
//!       per file: file id u64 | created_micros u64 | meta length u32 | TableMeta encoding
//! ```
//!
//! Version 2 is version 1 whose `TableMeta` encodings may be version 2 (with the file's user
//! properties); both are read, 2 is written, so an older build refuses a newer manifest with
//! `UnsupportedVersion` instead of misreading it.
//!
//! A dropped tree keeps its id slot (commit log records name trees by id, and ids stay dense)
//! with `flushed_seq = u64::MAX` and no levels: replay skips every record for it, and lookups by
//! name ignore it. Dropping is one manifest rewrite, so a crash leaves the tree or nothing.

use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::sstable::TableMeta;
use crate::vfs::Vfs;

pub(crate) const FILE_NAME: &str = "MANIFEST";
const TMP_NAME: &str = "MANIFEST.tmp";
const MAGIC: u32 = 0x464d_4c49;
const VERSION: u32 = 2;
const OLDEST_VERSION: u32 = 1;

/// One live table file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub(crate) id: u64,
    pub(crate) created_micros: u64,
    pub(crate) meta: TableMeta,
}

/// A tree's part of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeState {
    pub(crate) id: u32,
    pub(crate) name: String,
    /// Every write to this tree with seq <= `flushed_seq` is in its table files.
    pub(crate) flushed_seq: SeqNo,
    /// `levels[0]` newest first; deeper levels sorted by smallest key.
    pub(crate) levels: Vec<Vec<FileEntry>>,
}

/// `flushed_seq` of a dropped tree's slot.
pub(crate) const DROPPED_SEQ: SeqNo = u64::MAX;

impl TreeState {
    pub(crate) fn is_dropped(&self) -> bool {
        self.flushed_seq == DROPPED_SEQ
    }
}

/// The database's durable state besides the commit log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Manifest {
    pub(crate) next_file_id: u64,
    /// Highest sequence number ever flushed (recovery never reuses a lower one).
    pub(crate) last_seq: SeqNo,
    pub(crate) trees: Vec<TreeState>,
}

pub(crate) fn table_name(id: u64) -> String {
    format!("tbl-{id:010}.sst")
}

pub(crate) fn parse_table_name(name: &str) -> Option<u64> {
    name.strip_prefix("tbl-")?
        .strip_suffix(".sst")?
        .parse()
        .ok()
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.next_file_id.to_le_bytes());
        body.extend_from_slice(&self.last_seq.to_le_bytes());
        body.extend_from_slice(&(self.trees.len() as u32).to_le_bytes());
        for t in &self.trees {
            body.extend_from_slice(&t.id.to_le_bytes());
            body.extend_from_slice(&(t.name.len() as u32).to_le_bytes());
            body.extend_from_slice(t.name.as_bytes());
            body.extend_from_slice(&t.flushed_seq.to_le_bytes());
            body.extend_from_slice(&(t.levels.len() as u32).to_le_bytes());
            for level in &t.levels {
                body.extend_from_slice(&(level.len() as u32).to_le_bytes());
                for f in level {
                    body.extend_from_slice(&f.id.to_le_bytes());
                    body.extend_from_slice(&f.created_micros.to_le_bytes());
                    let mut meta = Vec::new();
                    f.meta.encode_into(&mut meta);
                    body.extend_from_slice(&(meta.len() as u32).to_le_bytes());
                    body.extend_from_slice(&meta);
                }
            }
        }
        let mut out = Vec::with_capacity(body.len() + 24);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&xxh3_64(&body).to_le_bytes());
        out
    }

    pub(crate) fn decode(b: &[u8], file: &Path) -> Result<Manifest> {
        let corrupt = |offset: usize, reason: &'static str| Error::Corruption {
            file: file.to_owned(),
            offset: offset as u64,
            reason,
        };
        let mut r = Cursor { b, at: 0 };
        let magic = r
            .u32()
            .ok_or_else(|| corrupt(0, "manifest shorter than its header"))?;
        if magic != MAGIC {
            return Err(corrupt(0, "bad manifest magic"));
        }
        let version = r
            .u32()
            .ok_or_else(|| corrupt(4, "manifest shorter than its header"))?;
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                file: file.to_owned(),
                found: version,
                supported: VERSION,
            });
        }
        let len = r
            .u64()
            .ok_or_else(|| corrupt(8, "manifest shorter than its header"))?;
        let body = usize::try_from(len)
            .ok()
            .and_then(|len| r.take(len))
            .ok_or_else(|| corrupt(8, "manifest body length beyond the file"))?;
        let at = r.at;
        let sum = r
            .u64()
            .ok_or_else(|| corrupt(at, "manifest checksum missing"))?;
        let actual = xxh3_64(body);
        if actual != sum {
            return Err(Error::ChecksumMismatch {
                file: file.to_owned(),
                offset: 16,
                expected: sum,
                actual,
            });
        }
        if r.at != b.len() {
            return Err(corrupt(r.at, "trailing bytes after the manifest"));
        }
        let mut r = Cursor { b: body, at: 0 };
        let bad = |r: &Cursor<'_>| corrupt(16 + r.at, "malformed manifest body");
        let mut m = Manifest {
            next_file_id: r.u64().ok_or_else(|| bad(&r))?,
            last_seq: r.u64().ok_or_else(|| bad(&r))?,
            trees: Vec::new(),
        };
        let trees = r.u32().ok_or_else(|| bad(&r))?;
        for _ in 0..trees {
            let id = r.u32().ok_or_else(|| bad(&r))?;
            let name_len = r.u32().ok_or_else(|| bad(&r))? as usize;
            let name = r.take(name_len).ok_or_else(|| bad(&r))?;
            let name = String::from_utf8(name.to_vec()).map_err(|_| bad(&r))?;
            let flushed_seq = r.u64().ok_or_else(|| bad(&r))?;
            let nlevels = r.u32().ok_or_else(|| bad(&r))?;
            if nlevels > 64 {
                return Err(bad(&r));
            }
            let mut levels = Vec::new();
            for _ in 0..nlevels {
                let nfiles = r.u32().ok_or_else(|| bad(&r))?;
                let mut files = Vec::new();
                for _ in 0..nfiles {
                    let id = r.u64().ok_or_else(|| bad(&r))?;
                    let created_micros = r.u64().ok_or_else(|| bad(&r))?;
                    let meta_len = r.u32().ok_or_else(|| bad(&r))? as usize;
                    let meta = r.take(meta_len).ok_or_else(|| bad(&r))?;
                    let (meta, used) = TableMeta::decode(meta).ok_or_else(|| bad(&r))?;
                    if used != meta_len {
                        return Err(bad(&r));
                    }
                    files.push(FileEntry {
                        id,
                        created_micros,
                        meta,
                    });
                }
                levels.push(files);
            }
            m.trees.push(TreeState {
                id,
                name,
                flushed_seq,
                levels,
            });
        }
        if r.at != body.len() {
            return Err(bad(&r));
        }
        Ok(m)
    }

    /// Reads the manifest of `dir`; `None` when there is none (a new database).
    pub(crate) fn load(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE_NAME);
        if !vfs.exists(&path) {
            return Ok(None);
        }
        let file = vfs.open_read(&path).map_err(|e| Error::io(&path, e))?;
        Manifest::decode(file.bytes(), &path).map(Some)
    }

    /// Replaces the manifest of `dir` atomically with this state.
    pub(crate) fn store(&self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        let tmp: PathBuf = dir.join(TMP_NAME);
        let path = dir.join(FILE_NAME);
        let bytes = self.encode();
        let mut w = vfs.create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        w.append(&bytes)
            .and_then(|()| w.sync())
            .map_err(|e| Error::io(&tmp, e))?;
        drop(w);
        vfs.rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        vfs.sync_dir(dir).map_err(|e| Error::io(dir, e))
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::StdVfs;

    fn sample() -> Manifest {
        Manifest {
            next_file_id: 9,
            last_seq: 1234,
            trees: vec![TreeState {
                id: 0,
                name: "default".into(),
                flushed_seq: 1000,
                levels: vec![
                    vec![FileEntry {
                        id: 3,
                        created_micros: 77,
                        meta: TableMeta {
                            file_size: 100,
                            entry_count: 2,
                            smallest: b"a".to_vec(),
                            largest: b"z".to_vec(),
                            ..TableMeta::default()
                        },
                    }],
                    vec![],
                ],
            }],
        }
    }

    #[test]
    fn a_stored_manifest_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(&StdVfs, dir.path()).unwrap(), None);
        sample().store(&StdVfs, dir.path()).unwrap();
        assert_eq!(Manifest::load(&StdVfs, dir.path()).unwrap(), Some(sample()));
    }

    #[test]
    fn every_damaged_byte_or_cut_is_an_error() {
        let b = sample().encode();
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x40;
            assert!(Manifest::decode(&d, Path::new("m")).is_err(), "byte {i}");
            assert!(
                Manifest::decode(&b[..i], Path::new("m")).is_err(),
                "cut {i}"
            );
        }
    }
}
