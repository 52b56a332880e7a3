//! The read path of a table: partitions, rows and cells assembled from engine entries at a
//! point in time, with deletions applied, limits and paging, and tombstone thresholds.

use std::sync::Arc;

use crate::cell::{Deletion, Record};
use crate::error::{Error, Result};
use crate::key;
use crate::mutation::Liveness;
use crate::read::{
    CellData, PagingPosition, PartitionData, PartitionRange, ReadCommand, ReadResult, ReadWarning,
    RowData, TableStats, TombstoneThresholds,
};

use super::cursor::Cursor;
use super::table::{TableInner, View};

impl View {
    /// Answers a read at the clock's current time.
    pub(super) fn read(&self, cmd: &ReadCommand) -> Result<ReadResult> {
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
    pub(super) fn statistics(&self) -> Result<TableStats> {
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
    pub(super) fn read_unchecked(&self, cmd: &ReadCommand) -> Result<ReadResult> {
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
                repaired: self.inner.repaired.clone(),
            }),
        };
        t.read(cmd)
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
        let rstart = section_key(p, key::ROWS, &lo);
        let rend = match &hi {
            Some(h) => section_key(p, key::ROWS, h),
            None => section_key(p, key::ROWS_END, &[]),
        };
        // Header: partition deletion, range deletions, static cells.
        let start = section_key(p, key::PARTITION_DELETION, &[]);
        let end = section_key(p, key::ROWS, &[]);
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

/// `partition`, then the section byte, then `tail`, in one allocation (four of these are
/// built for every partition read).
fn section_key(partition: &[u8], section: u8, tail: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(partition.len() + 1 + tail.len());
    k.extend_from_slice(partition);
    k.push(section);
    k.extend_from_slice(tail);
    k
}
