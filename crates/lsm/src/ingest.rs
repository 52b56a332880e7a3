//! Whole table files in and out of a tree: the live files that lie inside a key range, pinned
//! while they are read ([`LiveFile`]), and the checks and rewrite of an external table file
//! before [`crate::Tree::ingest`] adds it (the install itself is in `db/ingest.rs`).
//!
//! **Sequence numbers.** An ingested file was written by another tree, with that tree's
//! sequence numbers. Its entries must read as newer than everything the receiving tree holds
//! (a range deletion the receiver made earlier must not hide them), and must keep their order
//! among themselves. The ingest therefore reserves a block of fresh sequence numbers as wide as
//! the file's `max_seq - min_seq + 1` and rewrites the file once, locally, moving every entry
//! by the same offset (`new = base + seq - min_seq`). RocksDB instead records one global
//! sequence number in its manifest and has every reader substitute it; that needs each key to
//! appear once in the file (its `SstFileWriter` enforces it), while this engine's files hold
//! several versions of a key (every merge operand), and it would put a translation in every
//! read path. The rewrite is also the verification pass (every block decoded, checksummed and
//! its keys checked in order and within the expected range) and recomputes the tree's own user
//! properties for the file. It costs one local read and write of the file, with no commit log,
//! memtable or protobuf on the way.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::key::{self, Kind, MAX_SEQ, SeqNo};
use crate::properties::{Collecting, PropertiesCollectorFactory};
use crate::sstable::{RangeTombstone, Table, TableWriter};
use crate::tree::TableFile;

/// A live table file of a tree, pinned: while this handle exists compaction may replace the
/// file in the tree, but the file stays readable (it is deleted only when its last reader is
/// dropped, as for iterators and snapshots).
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub(crate) file: Arc<TableFile>,
}

impl LiveFile {
    /// The file's id in its tree's database (its name is `tbl-<id>.sst`).
    pub fn id(&self) -> u64 {
        self.file.entry.id
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.file.entry.meta.file_size
    }

    /// Whether the file has no bytes (never true for a live file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Point entries plus range deletions.
    pub fn entry_count(&self) -> u64 {
        self.file.entry.meta.entry_count
    }

    /// Point deletions plus range deletions in the file.
    pub fn deletion_count(&self) -> u64 {
        self.file.entry.meta.tombstone_count
    }

    /// The smallest user key of the file.
    pub fn smallest_key(&self) -> &[u8] {
        self.file.smallest_user_key()
    }

    /// The largest user key of the file (a range deletion's exclusive end counts).
    pub fn largest_key(&self) -> &[u8] {
        self.file.largest_user_key()
    }

    /// Up to `max` bytes of the file from `offset` (fewer at the end, none past it), read from
    /// the file's mapping without a copy.
    pub fn read_at(&self, offset: u64, max: usize) -> &[u8] {
        let bytes = self.file.table.file_bytes();
        let start = usize::try_from(offset).map_or(bytes.len(), |o| o.min(bytes.len()));
        let end = start.saturating_add(max).min(bytes.len());
        bytes.get(start..end).unwrap_or_default()
    }
}

/// How [`crate::Tree::ingest`] takes a file.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Every key of the file (range deletions included) must lie in `[start, end)`
    /// (`end = None`: unbounded); a file with a key outside is refused.
    pub start: Vec<u8>,
    pub end: Option<Vec<u8>>,
    /// Take the file's values as merge operands: its puts become merge operands (combined
    /// with what the tree holds by its merge operator, instead of replacing it), and a file
    /// holding a point or range deletion is refused (a deletion has no operand form). For
    /// stores whose merge operator is a commutative reconciliation, where a value and an
    /// operand mean the same thing. Needs a merge operator.
    pub as_merge_operands: bool,
}

impl IngestOptions {
    fn contains(&self, user_key: &[u8]) -> bool {
        user_key >= self.start.as_slice() && self.end.as_deref().is_none_or(|e| user_key < e)
    }

    /// Whether `[start, end)` lies in the range (an end equal to the range's end does).
    fn contains_range(&self, start: &[u8], end: &[u8]) -> bool {
        start >= self.start.as_slice() && self.end.as_deref().is_none_or(|e| end <= e)
    }
}

/// What an ingest added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The id of the new file in the tree (0 when the file was empty and nothing was added).
    pub file_id: u64,
    /// Point entries plus range deletions added.
    pub entries: u64,
    /// Length of the file as written into the tree.
    pub bytes: u64,
    /// The fresh sequence numbers the entries got: `first..=last` (empty file: `1..=0`).
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Largest span of sequence numbers one ingest may reserve: a guard against a forged
/// `min_seq`/`max_seq` using up the sequence space (2^56).
const MAX_SPAN: u64 = 1 << 40;

/// An external file that passed every check: open, with the span of its sequence numbers.
pub(crate) struct Checked {
    pub(crate) table: Arc<Table>,
    pub(crate) min_seq: SeqNo,
    /// `max_seq - min_seq + 1`; 0 for a file without entries.
    pub(crate) span: u64,
    pub(crate) as_merge_operands: bool,
}

fn refused(path: &Path, reason: &'static str) -> Error {
    Error::IngestRefused {
        file: path.to_owned(),
        reason,
    }
}

/// Opens `path` and checks all of it before anything touches a tree: the footer and every
/// block's checksum (by reading every entry), internal keys well formed and strictly
/// increasing, every key inside the options' range, every sequence number inside the file's
/// recorded `[min_seq, max_seq]`, and, for merge operands, no deletions.
pub(crate) fn check(vfs: &dyn crate::Vfs, path: &Path, opts: &IngestOptions) -> Result<Checked> {
    // A small private cache: the blocks are read twice (check, then rewrite) and never again.
    let cache = Arc::new(BlockCache::new(4 << 20));
    let table = Arc::new(Table::open(vfs, path, 0, cache)?);
    let meta = table.meta().clone();
    let corrupt = |reason| Error::Corruption {
        file: path.to_owned(),
        offset: 0,
        reason,
    };
    if meta.entry_count == 0 {
        return Ok(Checked {
            table,
            min_seq: 0,
            span: 0,
            as_merge_operands: opts.as_merge_operands,
        });
    }
    if meta.min_seq > meta.max_seq || meta.max_seq > MAX_SEQ {
        return Err(corrupt(
            "impossible sequence number range in the properties",
        ));
    }
    let span = meta.max_seq - meta.min_seq + 1;
    if span > MAX_SPAN {
        return Err(refused(
            path,
            "the file's sequence numbers span too wide a range",
        ));
    }
    let seq_ok = |seq: SeqNo| (meta.min_seq..=meta.max_seq).contains(&seq);
    let mut count = 0u64;
    let mut it = table.iter();
    it.seek_to_first();
    let mut last: Vec<u8> = Vec::new();
    while it.valid() {
        let k = it.key();
        let p = key::parse(k).ok_or_else(|| corrupt("malformed internal key"))?;
        if p.kind == Kind::RangeDelete {
            return Err(corrupt("range deletion among the point entries"));
        }
        if count > 0 && key::compare(&last, k) != Ordering::Less {
            return Err(corrupt("keys out of order"));
        }
        if !seq_ok(p.seq) {
            return Err(corrupt("sequence number outside the file's recorded range"));
        }
        if !opts.contains(p.user_key) {
            return Err(refused(path, "a key lies outside the expected key range"));
        }
        if opts.as_merge_operands && p.kind == Kind::Delete {
            return Err(refused(
                path,
                "a point deletion cannot be ingested as merge operands",
            ));
        }
        last.clear();
        last.extend_from_slice(k);
        count += 1;
        it.next();
    }
    it.status()?;
    for t in table.range_deletes() {
        if opts.as_merge_operands {
            return Err(refused(
                path,
                "a range deletion cannot be ingested as merge operands",
            ));
        }
        if !seq_ok(t.seq) {
            return Err(corrupt("sequence number outside the file's recorded range"));
        }
        if !opts.contains_range(&t.start, &t.end) {
            return Err(refused(
                path,
                "a range deletion lies outside the expected key range",
            ));
        }
        count += 1;
    }
    if count != meta.entry_count {
        return Err(corrupt("entry count differs from the properties"));
    }
    Ok(Checked {
        table,
        min_seq: meta.min_seq,
        span,
        as_merge_operands: opts.as_merge_operands,
    })
}

/// Where the rewrite goes and how.
pub(crate) struct Rewrite<'a> {
    pub(crate) writer: TableWriter,
    pub(crate) path: PathBuf,
    pub(crate) collector: Option<&'a dyn PropertiesCollectorFactory>,
}

/// Writes every entry of a checked file into `out` with its sequence number moved to
/// `base + seq - min_seq` (puts as merge operands when asked), range deletions interleaved in
/// key order as the writer needs them. Returns the finished file's meta.
pub(crate) fn rewrite(
    checked: &Checked,
    base: SeqNo,
    out: Rewrite<'_>,
) -> Result<crate::sstable::TableMeta> {
    let Rewrite {
        mut writer,
        path,
        collector,
    } = out;
    let as_merge_operands = checked.as_merge_operands;
    let moved = |seq: SeqNo| base + (seq - checked.min_seq);
    let mut collecting = collector.map(Collecting::new);
    let mut dels: Vec<(Vec<u8>, &RangeTombstone)> = checked
        .table
        .range_deletes()
        .iter()
        .map(|t| (key::encode(&t.start, moved(t.seq), Kind::RangeDelete), t))
        .collect();
    dels.sort_by(|a, b| key::compare(&a.0, &b.0));
    let mut dels = dels.into_iter().peekable();
    let mut add = |ik: &[u8], value: &[u8]| -> Result<()> {
        writer.add(ik, value)?;
        if let Some(c) = &mut collecting {
            c.add(ik, value);
        }
        Ok(())
    };
    let mut it = checked.table.iter();
    it.seek_to_first();
    let mut ik = Vec::new();
    while it.valid() {
        let p = key::parse(it.key()).ok_or_else(|| Error::Corruption {
            file: checked.table.path().to_owned(),
            offset: 0,
            reason: "malformed internal key",
        })?;
        let kind = if as_merge_operands && p.kind == Kind::Put {
            Kind::Merge
        } else {
            p.kind
        };
        ik.clear();
        key::encode_into(&mut ik, p.user_key, moved(p.seq), kind);
        while let Some((dk, t)) = dels.next_if(|(dk, _)| key::compare(dk, &ik) == Ordering::Less) {
            add(&dk, &t.end)?;
        }
        add(&ik, it.value())?;
        it.next();
    }
    it.status()?;
    for (dk, t) in dels {
        add(&dk, &t.end)?;
    }
    if let Some(c) = collecting {
        writer.set_user_properties(c.finish(&path));
    }
    writer.finish()
}
