//! Runs a flush or a picked compaction: merges the inputs, drops versions no snapshot can see,
//! applies range deletions, the compaction filter and merge operands, writes size-bounded
//! output tables, and returns them for the caller to install in the manifest.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;
use crate::iter::{Cursor, RangeDelSet};
use crate::key::{self, Kind, SeqNo};
use crate::manifest::{FileEntry, table_name};
use crate::options::{CompactionFilter, Decision, FilterContext, MergeOperator};
use crate::properties::{Collecting, OutsideView, PropertiesCollectorFactory};
use crate::sstable::{RangeTombstone, TableOptions, TableWriter};
use crate::vfs::Vfs;

/// What a job needs besides its input.
pub(crate) struct JobSpec<'a> {
    pub(crate) vfs: &'a Arc<dyn Vfs>,
    pub(crate) dir: &'a Path,
    pub(crate) table_opts: TableOptions,
    pub(crate) target_file_size: u64,
    /// Versions at or below this sequence number are seen by every snapshot.
    pub(crate) oldest_snapshot: SeqNo,
    pub(crate) bottommost: bool,
    pub(crate) output_level: usize,
    pub(crate) tree_name: &'a str,
    pub(crate) filter: Option<&'a dyn CompactionFilter>,
    pub(crate) merge: Option<&'a dyn MergeOperator>,
    /// Summarises each output file into its user properties.
    pub(crate) collector: Option<&'a dyn PropertiesCollectorFactory>,
    /// The tree's other files and memtables, for the filter (compactions only).
    pub(crate) outside: Option<Arc<OutsideView>>,
    /// Allocates file ids for outputs.
    pub(crate) next_file_id: &'a dyn Fn() -> u64,
    /// The `created_micros` every output gets: the time of the newest data it holds (now for a
    /// flush; the largest of the inputs' for a compaction, so old windows stay old).
    pub(crate) created_micros: u64,
    /// Caps the bytes a compaction writes per second (`None` for flushes).
    pub(crate) throttle: Option<&'a crate::Throttle>,
}

/// Bytes a throttled job writes between two visits to its throttle.
const THROTTLE_CHUNK: u64 = 64 << 10;

/// The result of a job: finished output files (not yet in the manifest).
#[derive(Debug, Default)]
pub(crate) struct JobOutput {
    pub(crate) files: Vec<FileEntry>,
    pub(crate) bytes_written: u64,
}

struct OutputSet<'a, 'b> {
    spec: &'b JobSpec<'a>,
    writer: Option<(TableWriter, u64)>,
    /// The collector of the current output file.
    collecting: Option<Collecting>,
    out: JobOutput,
    /// Highest range-deletion end written to the current file: no cut below it.
    max_rd_end: Option<Vec<u8>>,
    /// Bytes written since the job last paid its throttle.
    unthrottled: u64,
}

impl OutputSet<'_, '_> {
    fn add(&mut self, ik: &[u8], value: &[u8]) -> Result<()> {
        if self.writer.is_none() {
            let id = (self.spec.next_file_id)();
            let path = self.spec.dir.join(table_name(id));
            let file = self
                .spec
                .vfs
                .create(&path)
                .map_err(|e| crate::Error::io(&path, e))?;
            self.writer = Some((TableWriter::new(file, path, &self.spec.table_opts), id));
            self.collecting = self.spec.collector.map(Collecting::new);
        }
        if let Some((w, _)) = &mut self.writer {
            w.add(ik, value)?;
        }
        if let Some(c) = &mut self.collecting {
            c.add(ik, value);
        }
        if let Some(t) = self.spec.throttle {
            self.unthrottled += (ik.len() + value.len()) as u64;
            if self.unthrottled >= THROTTLE_CHUNK {
                t.acquire(std::mem::take(&mut self.unthrottled));
            }
        }
        Ok(())
    }

    fn finish_current(&mut self) -> Result<()> {
        let collecting = self.collecting.take();
        if let Some((mut w, id)) = self.writer.take() {
            if w.is_empty() {
                return Ok(());
            }
            if let Some(c) = collecting {
                let path = self.spec.dir.join(table_name(id));
                w.set_user_properties(c.finish(&path));
            }
            let meta = w.finish()?;
            self.out.bytes_written += meta.file_size;
            self.out.files.push(FileEntry {
                id,
                created_micros: self.spec.created_micros,
                meta,
            });
        }
        self.max_rd_end = None;
        Ok(())
    }

    fn may_cut_before(&self, user_key: &[u8]) -> bool {
        let big = self
            .writer
            .as_ref()
            .is_some_and(|(w, _)| w.estimated_size() >= self.spec.target_file_size);
        big && self.max_rd_end.as_deref().is_none_or(|e| e <= user_key)
    }
}

/// Ids of [`FilterContext::job_id`].
static NEXT_JOB_ID: AtomicU64 = AtomicU64::new(1);

/// Runs a job over `input` (point entries in internal-key order) and `tombstones`.
pub(crate) fn run(
    spec: &JobSpec<'_>,
    input: &mut dyn Cursor,
    mut tombstones: Vec<RangeTombstone>,
) -> Result<JobOutput> {
    let o = spec.oldest_snapshot;
    // Tombstones every snapshot sees shadow older versions for good.
    let settled = RangeDelSet::new(tombstones.iter().filter(|t| t.seq <= o).cloned().collect());
    // Which tombstones survive: all, except settled ones at the bottom.
    tombstones.retain(|t| t.start < t.end && !(spec.bottommost && t.seq <= o));
    tombstones.sort_by(|a, b| a.start.cmp(&b.start).then(b.seq.cmp(&a.seq)));
    tombstones.dedup();
    let mut rd_next = 0;
    let mut outs = OutputSet {
        spec,
        writer: None,
        collecting: None,
        out: JobOutput::default(),
        max_rd_end: None,
        unthrottled: 0,
    };
    let ctx = FilterContext {
        bottommost: spec.bottommost,
        output_level: spec.output_level,
        tree: spec.tree_name.to_owned(),
        job_id: NEXT_JOB_ID.fetch_add(1, Ordering::Relaxed),
        outside: spec.outside.clone(),
    };

    input.seek_to_first();
    let mut group: Vec<(SeqNo, Kind, Vec<u8>)> = Vec::new();
    // The first version of the current key, copied into buffers reused across keys.
    let (mut first_key, mut first_value) = (Vec::new(), Vec::new());
    loop {
        input.status()?;
        if !input.valid() {
            break;
        }
        first_key.clear();
        first_key.extend_from_slice(input.key());
        first_value.clear();
        first_value.extend_from_slice(input.value());
        input.next();
        let first = key::parse(&first_key);
        let uk_ref = key::user_key(&first_key);
        let single = !(input.valid() && key::user_key(input.key()) == uk_ref);
        // The common case: one version of the key and no tombstone starting at it. Whether
        // it survives is decided here and it is copied to the output as it is.
        if single
            && let Some(p) = first
            && let Some(keep) = decide_single(spec, p, settled.covering_seq(uk_ref), o)
        {
            while let Some(t) = tombstones.get(rd_next)
                && t.start.as_slice() < uk_ref
            {
                add_tombstone(&mut outs, t)?;
                rd_next += 1;
            }
            if tombstones.get(rd_next).is_none_or(|t| t.start != uk_ref) {
                if outs.may_cut_before(uk_ref) {
                    outs.finish_current()?;
                }
                if keep {
                    outs.add(&first_key, &first_value)?;
                }
                continue;
            }
        }
        let uk = uk_ref.to_vec();
        group.clear();
        if let Some(p) = first
            && p.kind != Kind::RangeDelete
        {
            group.push((p.seq, p.kind, first_value.clone()));
        }
        while input.valid() && key::user_key(input.key()) == uk.as_slice() {
            if let Some(p) = key::parse(input.key())
                && p.kind != Kind::RangeDelete
                && group.last().is_none_or(|(s, _, _)| *s != p.seq)
            {
                group.push((p.seq, p.kind, input.value().to_vec()));
            }
            input.next();
        }
        input.status()?;

        // Tombstones that start before this key go into the current file first.
        while let Some(t) = tombstones.get(rd_next)
            && t.start.as_slice() < uk.as_slice()
        {
            add_tombstone(&mut outs, t)?;
            rd_next += 1;
        }
        if outs.may_cut_before(&uk) {
            outs.finish_current()?;
        }

        let kept = decide(spec, &ctx, &uk, &group, settled.covering_seq(&uk), o);
        // Interleave tombstones starting at this key by sequence number.
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = kept
            .into_iter()
            .map(|(seq, kind, v)| (key::encode(&uk, seq, kind), v))
            .collect();
        while let Some(t) = tombstones.get(rd_next)
            && t.start == uk
        {
            entries.push((
                key::encode(&t.start, t.seq, Kind::RangeDelete),
                t.end.clone(),
            ));
            note_rd_end(&mut outs, &t.end);
            rd_next += 1;
        }
        entries.sort_by(|a, b| key::compare(&a.0, &b.0));
        for (k, v) in &entries {
            outs.add(k, v)?;
        }
    }
    while let Some(t) = tombstones.get(rd_next) {
        add_tombstone(&mut outs, t)?;
        rd_next += 1;
    }
    outs.finish_current()?;
    // The last bytes count against the rate too: the next job waits for them.
    if let Some(t) = spec.throttle
        && outs.unthrottled > 0
    {
        t.acquire(outs.unthrottled);
    }
    Ok(outs.out)
}

fn note_rd_end(outs: &mut OutputSet<'_, '_>, end: &[u8]) {
    if outs.max_rd_end.as_deref().is_none_or(|m| m < end) {
        outs.max_rd_end = Some(end.to_vec());
    }
}

fn add_tombstone(outs: &mut OutputSet<'_, '_>, t: &RangeTombstone) -> Result<()> {
    outs.add(&key::encode(&t.start, t.seq, Kind::RangeDelete), &t.end)?;
    note_rd_end(outs, &t.end);
    Ok(())
}

/// Whether the only version of a key survives unchanged (`None`: the general path decides).
fn decide_single(
    spec: &JobSpec<'_>,
    p: key::Parsed<'_>,
    covered: SeqNo,
    oldest: SeqNo,
) -> Option<bool> {
    match p.kind {
        Kind::RangeDelete | Kind::Merge => None,
        // Some snapshot may read exactly this version.
        _ if p.seq > oldest => Some(true),
        _ if p.seq < covered => Some(false),
        Kind::Put => spec.filter.is_none().then_some(true),
        Kind::Delete => Some(!spec.bottommost),
    }
}

/// Which versions of one key (newest first) survive, possibly rewritten.
fn decide(
    spec: &JobSpec<'_>,
    ctx: &FilterContext,
    uk: &[u8],
    group: &[(SeqNo, Kind, Vec<u8>)],
    covered: SeqNo,
    oldest: SeqNo,
) -> Vec<(SeqNo, Kind, Vec<u8>)> {
    let mut kept = Vec::new();
    let mut rest = group.iter().enumerate();
    for (i, (seq, kind, value)) in rest.by_ref() {
        if *seq > oldest {
            // Some snapshot may read exactly this version.
            kept.push((*seq, *kind, value.clone()));
            continue;
        }
        // The version every snapshot sees (everything older is invisible to all of them).
        if *seq < covered {
            break;
        }
        match kind {
            Kind::Put => {
                apply_filter(spec, ctx, uk, *seq, value, &mut kept);
            }
            Kind::Delete => {
                if !spec.bottommost {
                    kept.push((*seq, Kind::Delete, Vec::new()));
                }
            }
            Kind::Merge => {
                let mut operands: Vec<&[u8]> = vec![value];
                let mut base: Option<Option<&[u8]>> = None;
                for (s, k, v) in group.iter().skip(i + 1) {
                    if *s < covered {
                        base = Some(None);
                        break;
                    }
                    match k {
                        Kind::Merge => operands.push(v),
                        Kind::Put => {
                            base = Some(Some(v));
                            break;
                        }
                        Kind::Delete => {
                            base = Some(None);
                            break;
                        }
                        Kind::RangeDelete => {}
                    }
                }
                let base = match base {
                    Some(b) => Some(b),
                    None if spec.bottommost => Some(None),
                    None => None,
                };
                match (base, spec.merge) {
                    (Some(b), Some(op)) => {
                        operands.reverse();
                        let merged = op.full_merge(uk, b, &operands);
                        apply_filter(spec, ctx, uk, *seq, &merged, &mut kept);
                    }
                    _ => {
                        // No base in reach (or no operator): keep the operands (combined when
                        // the operator can) and what lies under them for the reader, as the
                        // filter says.
                        filter_operands(spec, ctx, uk, group.get(i..).unwrap_or(&[]), covered)
                            .into_iter()
                            .for_each(|e| kept.push(e));
                    }
                }
            }
            Kind::RangeDelete => continue,
        }
        break;
    }
    kept
}

/// The versions of `versions` (newest first, from the first operand visible to every snapshot)
/// that survive when no base value is in reach: the operands (merged into one when the merge
/// operator can), each as the filter decides, then a terminal non-merge version if one is there.
fn filter_operands(
    spec: &JobSpec<'_>,
    ctx: &FilterContext,
    uk: &[u8],
    versions: &[(SeqNo, Kind, Vec<u8>)],
    covered: SeqNo,
) -> Vec<(SeqNo, Kind, Vec<u8>)> {
    let mut operands: Vec<(SeqNo, Kind, Vec<u8>)> = Vec::new();
    let mut terminal = None;
    for (s, k, v) in versions {
        if *s < covered {
            break;
        }
        if *k != Kind::Merge {
            terminal = Some((*s, *k, v.clone()));
            break;
        }
        operands.push((*s, *k, v.clone()));
    }
    if operands.len() > 1
        && let Some(op) = spec.merge
    {
        let oldest_first: Vec<&[u8]> = operands
            .iter()
            .rev()
            .map(|(_, _, v)| v.as_slice())
            .collect();
        if let (Some(m), Some(&(newest, _, _))) =
            (op.partial_merge(uk, &oldest_first), operands.first())
        {
            operands = vec![(newest, Kind::Merge, m)];
        }
    }
    let mut kept = Vec::new();
    for (s, k, v) in operands {
        let decision = spec
            .filter
            .map_or(Decision::Keep, |f| f.filter_merge_operand(ctx, uk, &v));
        match decision {
            Decision::Keep => kept.push((s, k, v)),
            Decision::Change(nv) => kept.push((s, k, nv)),
            Decision::Drop => {}
            Decision::Remove => {
                // This operand and everything older are gone.
                if !spec.bottommost {
                    kept.push((s, Kind::Delete, Vec::new()));
                }
                return kept;
            }
        }
    }
    kept.extend(terminal);
    kept
}

fn apply_filter(
    spec: &JobSpec<'_>,
    ctx: &FilterContext,
    uk: &[u8],
    seq: SeqNo,
    value: &[u8],
    kept: &mut Vec<(SeqNo, Kind, Vec<u8>)>,
) {
    let decision = spec
        .filter
        .map_or(Decision::Keep, |f| f.filter(ctx, uk, value));
    match decision {
        Decision::Keep => kept.push((seq, Kind::Put, value.to_vec())),
        Decision::Change(v) => kept.push((seq, Kind::Put, v)),
        Decision::Remove => {
            if !spec.bottommost {
                kept.push((seq, Kind::Delete, Vec::new()));
            }
        }
        Decision::Drop => {}
    }
}
