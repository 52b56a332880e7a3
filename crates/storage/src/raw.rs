//! Raw reads: what a replica stores in a read's slice, deletions included, as mutations.
//!
//! Replicas answer reads with live data, but reconciling several replicas needs more: a
//! tombstone on one replica must beat an older live cell on another, and read repair must
//! carry the deletion to the replica that missed it. [`Table::read_raw`](crate::Table::read_raw)
//! returns, for the partitions and rows a [`ReadCommand`] covers, every entry kept there as a
//! [`Mutation`] that reproduces it exactly when applied elsewhere:
//!
//! - partition deletion, range deletions, row deletions, cell and collection tombstones;
//! - cells and row markers with their exact TTL and expiry; a cell without TTL carries
//!   [`Ttl::NONE`] so the receiving table's `default_time_to_live` is not added; an expired
//!   cell keeps its expiry (it stays dead wherever it is applied);
//! - entries shadowed by a deletion of a wider scope (timestamp `<=` its own) are left out, so
//!   two replicas that reconciled the same writes return the same mutations.
//!
//! The extent is the live read's: the same partitions, slice and resume position, and the
//! limit and per-partition limit count live rows, so the raw answer stops after the last live
//! row the live read returned (tombstones before it included).

use crate::cell::{Deletion, Record, State, Ttl};
use crate::error::Result;
use crate::key;
use crate::kv::Kv;
use crate::mutation::{CellOp, CellWrite, Liveness, Mutation, RangeDeletion, RowWrite};
use crate::read::{PartitionRange, ReadCommand, ReadResult};
use crate::schema::{ColumnKind, TableSchema};

/// Where the rows of one partition stop (in the read's direction).
#[derive(Debug, Clone)]
enum Cut {
    /// After the row with this encoded clustering.
    After(Vec<u8>),
    /// Before every row (the read stopped on the partition's static row).
    NoRows,
}

/// What the read of one partition covers.
struct Extent<'a> {
    schema: &'a TableSchema,
    cmd: &'a ReadCommand,
    slice_lo: Vec<u8>,
    slice_hi: Option<Vec<u8>>,
    resume: Option<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Extent<'_> {
    /// Whether a row (encoded clustering `c`) of partition `p` is read, before cuts.
    fn covers(&self, p: &[u8], c: &[u8]) -> bool {
        if c < self.slice_lo.as_slice() || self.slice_hi.as_ref().is_some_and(|h| c >= h.as_slice())
        {
            return false;
        }
        match &self.resume {
            Some((rp, Some(rc))) if rp == p => {
                if self.cmd.reversed {
                    c < rc.as_slice()
                } else {
                    c > rc.as_slice()
                }
            }
            _ => true,
        }
    }
}

/// The raw counterpart of `live` (the live answer of `cmd` on the same table state).
pub(crate) fn read(
    schema: &TableSchema,
    kv: &dyn Kv,
    now: i64,
    cmd: &ReadCommand,
    live: &ReadResult,
) -> Result<Vec<Mutation>> {
    let (slice_lo, slice_hi) = key::bound_interval(schema, &cmd.slice.start, &cmd.slice.end)?;
    let resume = match &cmd.resume {
        Some(r) => Some((
            key::partition(r.token, &r.partition_key),
            r.clustering
                .as_ref()
                .map(|c| key::full_clustering(schema, c))
                .transpose()?,
        )),
        None => None,
    };
    let extent = Extent {
        schema,
        cmd,
        slice_lo,
        slice_hi,
        resume,
    };
    // Cuts: where the live read stopped (the limit), and partitions that reached the
    // per-partition limit.
    let mut cuts: Vec<(Vec<u8>, Cut)> = Vec::new();
    if let Some(ppl) = cmd.per_partition_limit {
        for part in &live.partitions {
            let p = key::partition(part.token, &part.key);
            let before = match (&cmd.resume, &extent.resume) {
                (Some(r), Some((rp, _))) if *rp == p => r.rows_in_partition,
                _ => 0,
            };
            let n = u32::try_from(part.rows.len()).unwrap_or(u32::MAX);
            if let Some(last) = part.rows.last()
                && n.saturating_add(before) >= ppl
            {
                cuts.push((
                    p,
                    Cut::After(key::full_clustering(schema, &last.clustering)?),
                ));
            }
        }
    }
    let stop = match &live.next_page {
        Some(pos) => {
            let p = key::partition(pos.token, &pos.partition_key);
            let cut = match &pos.clustering {
                Some(c) => Cut::After(key::full_clustering(schema, c)?),
                None => Cut::NoRows,
            };
            cuts.retain(|(q, _)| *q != p);
            cuts.push((p.clone(), cut));
            Some(p)
        }
        None => None,
    };
    let cut_of = |p: &[u8]| cuts.iter().find(|(q, _)| q == p).map(|(_, c)| c.clone());

    let mut out = Vec::new();
    match &cmd.partitions {
        PartitionRange::Single { token, key: pk } => {
            let p = key::partition(*token, pk);
            if let Some(m) = partition(&extent, kv, now, &p, *token, pk, cut_of(&p))? {
                out.push(m);
            }
        }
        PartitionRange::Tokens { start, end } => {
            let mut cursor = match start {
                None => Vec::new(),
                Some(i64::MAX) => return Ok(out),
                Some(t) => key::token_start(t + 1),
            };
            let end_key = match end {
                None | Some(i64::MAX) => None,
                Some(t) => Some(key::token_start(t + 1)),
            };
            if let Some((rp, _)) = &extent.resume
                && *rp > cursor
            {
                cursor = rp.clone();
            }
            while let Some((k, _)) = kv.scan(&cursor, end_key.as_deref(), false, 1)?.pop() {
                let (token, pk, used) =
                    key::parse_partition(&k).ok_or_else(|| corrupt(schema, "bad partition key"))?;
                let p = k
                    .get(..used)
                    .ok_or_else(|| corrupt(schema, "bad partition key"))?
                    .to_vec();
                if let Some(m) = partition(&extent, kv, now, &p, token, &pk, cut_of(&p))? {
                    out.push(m);
                }
                if stop.as_ref() == Some(&p) {
                    break;
                }
                cursor = p;
                cursor.push(key::ROWS_END);
            }
        }
    }
    Ok(out)
}

/// A stored key and its value.
type KvEntry = (Vec<u8>, Vec<u8>);

/// What one [`range_page`] may hold at most.
#[derive(Debug, Clone, Copy)]
pub struct PageBudget {
    /// Partitions.
    pub partitions: usize,
    /// Stored bytes (keys and values as kept), checked after each partition.
    pub bytes: usize,
}

/// One page of everything stored for the partitions with a token in `(start, end]` (`None`
/// = unbounded), for streaming: every partition, tombstones alone included, each whole, in
/// token order, read with one scan of the store (not a live read and then a raw one).
/// `resume` is a previous page's position. Returns the page and where the next one starts
/// (`None` when the range is finished). The position is an opaque store key.
pub(crate) fn range_page(
    schema: &TableSchema,
    kv: &dyn Kv,
    now: i64,
    (start, end): (Option<i64>, Option<i64>),
    resume: Option<&[u8]>,
    budget: PageBudget,
    exclude: &[u64],
) -> Result<(Vec<Mutation>, Option<Vec<u8>>, usize)> {
    /// Entries read per scan of the store.
    const CHUNK: usize = 2048;
    let cmd = ReadCommand::token_range(start, end);
    let (slice_lo, slice_hi) = key::bound_interval(schema, &cmd.slice.start, &cmd.slice.end)?;
    let extent = Extent {
        schema,
        cmd: &cmd,
        slice_lo,
        slice_hi,
        resume: None,
    };
    let Some((first, end_key)) = key::token_range_keys(start, end) else {
        return Ok((Vec::new(), None, 0));
    };
    let mut cursor = resume.map_or(first, <[u8]>::to_vec);
    let mut out = Vec::new();
    let mut bytes = 0usize;
    loop {
        let chunk = kv.scan_without_files(&cursor, end_key.as_deref(), CHUNK, exclude)?;
        let full = chunk.len() == CHUNK;
        // The chunk's entries by partition, in order.
        let mut groups: Vec<(usize, i64, Vec<u8>, Vec<KvEntry>)> = Vec::new();
        for (k, v) in chunk {
            let (token, pk, used) =
                key::parse_partition(&k).ok_or_else(|| corrupt(schema, "bad partition key"))?;
            match groups.last_mut() {
                Some((u, _, _, entries))
                    if *u == used
                        && entries
                            .first()
                            .is_some_and(|(f, _)| f.get(..used) == k.get(..used)) =>
                {
                    entries.push((k, v));
                }
                _ => groups.push((used, token, pk, vec![(k, v)])),
            }
        }
        let n = groups.len();
        for (i, (used, token, pk, mut entries)) in groups.into_iter().enumerate() {
            let p = entries
                .first()
                .and_then(|(k, _)| k.get(..used))
                .ok_or_else(|| corrupt(schema, "bad partition key"))?
                .to_vec();
            if full && i + 1 == n {
                // The chunk may have cut this partition short: read it whole.
                entries = partition_entries(kv, &p, exclude)?;
            }
            bytes += entries
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
            if let Some(m) = build(&extent, now, &p, token, &pk, entries, None)? {
                out.push(m);
            }
            cursor = p;
            cursor.push(key::ROWS_END);
            if out.len() >= budget.partitions || bytes >= budget.bytes {
                return Ok((out, Some(cursor), bytes));
            }
        }
        if !full {
            return Ok((out, None, bytes));
        }
    }
}

fn corrupt(schema: &TableSchema, reason: &'static str) -> crate::Error {
    crate::Error::Corruption {
        table: schema.qualified_name(),
        reason,
    }
}

/// A stored entry: the key's suffix within its scope, and its record.
type Entry = (Vec<u8>, Record);

fn deletion_of(rec: &Record) -> Option<Deletion> {
    match rec.state {
        State::Tombstone {
            local_deletion_time,
        } => Some(Deletion::new(rec.timestamp, local_deletion_time)),
        _ => None,
    }
}

fn shadowed(ts: i64, by: Option<Deletion>) -> bool {
    by.is_some_and(|d| ts <= d.timestamp)
}

/// The raw entries of partition `p` the extent covers, or None when there are none.
#[allow(clippy::too_many_arguments)]
fn partition(
    ext: &Extent<'_>,
    kv: &dyn Kv,
    now: i64,
    p: &[u8],
    token: i64,
    pk: &[u8],
    cut: Option<Cut>,
) -> Result<Option<Mutation>> {
    if let Some((rp, None)) = &ext.resume
        && rp == p
    {
        // The previous page finished this partition.
        return Ok(None);
    }
    build(ext, now, p, token, pk, partition_entries(kv, p, &[])?, cut)
}

/// Every stored entry of partition `p`.
fn partition_entries(kv: &dyn Kv, p: &[u8], exclude: &[u64]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut start = p.to_vec();
    start.push(key::PARTITION_DELETION);
    let mut end = p.to_vec();
    end.push(key::ROWS_END);
    scan_all(kv, start, end, exclude)
}

/// The mutation reproducing `entries` (every stored entry of partition `p`) within the extent,
/// or None when it holds none.
fn build(
    ext: &Extent<'_>,
    now: i64,
    p: &[u8],
    token: i64,
    pk: &[u8],
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    cut: Option<Cut>,
) -> Result<Option<Mutation>> {
    let schema = ext.schema;
    let mut m = Mutation::new(token, pk.to_vec(), now);
    let mut ranges: Vec<(Vec<u8>, Option<Vec<u8>>, RangeDeletion)> = Vec::new();
    let mut statics: Vec<(Vec<u8>, Record)> = Vec::new();
    // Rows as (encoded clustering, entries after it).
    let mut rows: Vec<(Vec<u8>, Vec<Entry>)> = Vec::new();
    let header = p.len() + 1;
    for (k, v) in entries {
        let rest = k
            .get(p.len()..)
            .ok_or_else(|| corrupt(schema, "short key"))?;
        let rec = Record::decode(&v).ok_or_else(|| corrupt(schema, "bad record"))?;
        match rest.split_first() {
            Some((&key::PARTITION_DELETION, [])) => {
                m.partition_deletion = Deletion::max(m.partition_deletion, deletion_of(&rec));
            }
            Some((&key::RANGE_DELETION, tail)) => {
                let (s, e) =
                    key::parse_range_deletion(schema, tail).map_err(|r| corrupt(schema, r))?;
                if let Some(d) = deletion_of(&rec) {
                    let (lo, hi) = key::bound_interval(schema, &s, &e)?;
                    ranges.push((
                        lo,
                        hi,
                        RangeDeletion {
                            start: s,
                            end: e,
                            deletion: d,
                        },
                    ));
                }
            }
            Some((&key::STATIC, tail)) => statics.push((tail.to_vec(), rec)),
            Some((&key::ROWS, _)) => {
                let after = k
                    .get(header..)
                    .ok_or_else(|| corrupt(schema, "short key"))?;
                let (_, used) = key::decode_clustering(schema, after, schema.clustering_len())
                    .map_err(|r| corrupt(schema, r))?;
                let c = after.get(..used).unwrap_or_default();
                let sub = after.get(used..).unwrap_or_default().to_vec();
                match rows.last_mut() {
                    Some((lc, es)) if lc.as_slice() == c => es.push((sub, rec)),
                    _ => rows.push((c.to_vec(), vec![(sub, rec)])),
                }
            }
            _ => return Err(corrupt(schema, "unknown partition section")),
        }
    }
    let pd = m.partition_deletion;
    ranges.retain(|(_, _, r)| !shadowed(r.deletion.timestamp, pd));
    m.static_cells = cells(schema, statics, pd, ColumnKind::Static)?;
    // Rows in the read's order, cut where the live read stopped.
    if cmd_reversed(ext) {
        rows.reverse();
    }
    for (c, entries) in rows {
        if !ext.covers(p, &c) {
            continue;
        }
        match &cut {
            Some(Cut::NoRows) => break,
            Some(Cut::After(last)) => {
                let past = if cmd_reversed(ext) {
                    c < *last
                } else {
                    c > *last
                };
                if past {
                    break;
                }
            }
            None => {}
        }
        let mut base = pd;
        for (lo, hi, r) in &ranges {
            if lo.as_slice() <= c.as_slice() && hi.as_ref().is_none_or(|h| c < *h) {
                base = Deletion::max(base, Some(r.deletion));
            }
        }
        let mut row = RowWrite {
            clustering: key::decode_clustering(schema, &c, schema.clustering_len())
                .map_err(|r| corrupt(schema, r))?
                .0,
            ..RowWrite::default()
        };
        let mut cell_entries = Vec::new();
        let mut marker = None;
        for (sub, rec) in entries {
            match sub.split_first() {
                Some((&key::ROW_DELETION, [])) => {
                    row.deletion = Deletion::max(row.deletion, deletion_of(&rec));
                }
                Some((&key::ROW_MARKER, [])) => marker = Some(rec),
                Some((&key::ROW_CELL, suffix)) => cell_entries.push((suffix.to_vec(), rec)),
                _ => return Err(corrupt(schema, "unknown row entry")),
            }
        }
        if row.deletion.is_some_and(|d| shadowed(d.timestamp, base)) {
            row.deletion = None;
        }
        let base = Deletion::max(base, row.deletion);
        if let Some(rec) = marker
            && !shadowed(rec.timestamp, base)
        {
            row.marker = match &rec.state {
                State::Live { .. } => Some(Liveness {
                    timestamp: rec.timestamp,
                    ttl: Some(Ttl::NONE),
                }),
                State::Expiring { ttl, .. } | State::Expired { ttl } => Some(Liveness {
                    timestamp: rec.timestamp,
                    ttl: Some(*ttl),
                }),
                // A marker is never written as a tombstone (nor a counter); nothing to carry.
                State::Tombstone { .. } | State::Counter { .. } => None,
            };
        }
        row.cells = cells(schema, cell_entries, base, ColumnKind::Regular)?;
        if row.deletion.is_some() || row.marker.is_some() || !row.cells.is_empty() {
            m.rows.push(row);
        }
    }
    // Range deletions overlapping the slice (all of them: they are few and harmless).
    m.range_deletions = ranges.into_iter().map(|(_, _, r)| r).collect();
    Ok((!m.is_empty()).then_some(m))
}

fn cmd_reversed(ext: &Extent<'_>) -> bool {
    ext.cmd.reversed
}

/// Every entry in `[start, end)`, in key order.
fn scan_all(
    kv: &dyn Kv,
    mut start: Vec<u8>,
    end: Vec<u8>,
    exclude: &[u64],
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    const CHUNK: usize = 1024;
    let mut out = Vec::new();
    loop {
        let chunk = kv.scan_without_files(&start, Some(&end), CHUNK, exclude)?;
        let n = chunk.len();
        if let Some((last, _)) = chunk.last() {
            start = last.clone();
            start.push(0);
        }
        out.extend(chunk);
        if n < CHUNK {
            return Ok(out);
        }
    }
}

/// Cell writes reproducing `(cell suffix, record)` entries under the deletion `base`.
fn cells(
    schema: &TableSchema,
    entries: Vec<(Vec<u8>, Record)>,
    base: Option<Deletion>,
    kind: ColumnKind,
) -> Result<Vec<CellWrite>> {
    let mut out = Vec::new();
    let mut collection: Option<(u16, Deletion)> = None;
    for (suffix, rec) in entries {
        if let Some(id) = suffix.first_chunk::<2>()
            && schema.is_dropped_id(u16::from_be_bytes(*id))
        {
            continue;
        }
        let name = key::parse_cell_suffix(schema, &suffix).map_err(|r| corrupt(schema, r))?;
        let col = schema
            .cell_column(name.column)
            .ok_or_else(|| corrupt(schema, "unknown column"))?;
        if col.kind != kind
            || schema
                .dropped_at(&col.name)
                .is_some_and(|at| rec.timestamp <= at)
        {
            continue;
        }
        let mut shadow = base;
        if let Some((c, d)) = collection
            && c == name.column
        {
            shadow = Deletion::max(shadow, Some(d));
        }
        if shadowed(rec.timestamp, shadow) {
            continue;
        }
        let whole_collection = name.path.is_none() && col.ty.is_multi_cell();
        let op = match rec.state {
            State::Live { value } => CellOp::Set {
                timestamp: rec.timestamp,
                value,
                ttl: Some(Ttl::NONE),
            },
            State::Expiring { value, ttl } => CellOp::Set {
                timestamp: rec.timestamp,
                value,
                ttl: Some(ttl),
            },
            State::Expired { ttl } => CellOp::Set {
                timestamp: rec.timestamp,
                value: Vec::new(),
                ttl: Some(ttl),
            },
            State::Counter { shards } => CellOp::Counter {
                timestamp: rec.timestamp,
                shards,
            },
            State::Tombstone {
                local_deletion_time,
            } => {
                let d = Deletion::new(rec.timestamp, local_deletion_time);
                if whole_collection {
                    collection = Some((name.column, d));
                    CellOp::DeleteCollection(d)
                } else {
                    CellOp::Delete(d)
                }
            }
        };
        if whole_collection && !matches!(op, CellOp::DeleteCollection(_)) {
            // Only a deletion is kept without an element path on a multi-cell column.
            continue;
        }
        out.push(CellWrite {
            column: name.column,
            path: name.path,
            op,
        });
    }
    Ok(out)
}
