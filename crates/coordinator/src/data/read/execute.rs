//! Running a [`Plan`]: reads page by page through the data path, rows filtered, grouped,
//! aggregated and projected until the page or the LIMIT is full.

use super::*;

/// Why the executor stopped before the input ended.
#[derive(Debug)]
pub(super) enum Stop {
    /// The LIMIT is served: the result is complete.
    Limit,
    /// The page is full: resume after this position.
    Page(PagingPosition),
}

/// A group being folded (GROUP BY, DISTINCT).
pub(super) struct Group<'a> {
    pub(super) key: (i64, Vec<u8>, Vec<Vec<u8>>),
    pub(super) agg: Aggregator<'a>,
    pub(super) last: PagingPosition,
}

/// Turns decoded rows, in storage order, into result rows, counting pages and limits.
pub(super) struct Exec<'a> {
    pub(super) sel: &'a Selection,
    pub(super) mode: Mode,
    pub(super) per_partition: u32,
    pub(super) page: usize,
    pub(super) limit_left: u32,
    pub(super) out: Vec<ResultRow>,
    pub(super) sort_keys: Vec<ValueRow>,
    pub(super) sort_cols: Vec<usize>,
    /// The partition of the last row taken, and the result rows (or groups) taken from it.
    pub(super) part: Option<(i64, Vec<u8>)>,
    pub(super) part_count: u32,
    pub(super) group: Option<Group<'a>>,
    pub(super) all: Aggregator<'a>,
    pub(super) stop: Option<Stop>,
}

impl<'a> Exec<'a> {
    pub(super) fn position(&self, pos: &PagingPosition) -> PagingPosition {
        let done = self.part_count >= self.per_partition
            || matches!(self.mode, Mode::Grouped { ck_len: 0 });
        PagingPosition {
            clustering: if done { None } else { pos.clustering.clone() },
            rows_in_partition: self.part_count,
            ..pos.clone()
        }
    }

    /// Tracks the partition of the next row; whether that partition may give more results.
    pub(super) fn enter(&mut self, pos: &PagingPosition) -> bool {
        let same = self
            .part
            .as_ref()
            .is_some_and(|(t, k)| *t == pos.token && *k == pos.partition_key);
        if !same {
            self.part = Some((pos.token, pos.partition_key.clone()));
            self.part_count = 0;
        }
        self.part_count < self.per_partition
    }

    pub(super) fn emit(&mut self, values: ResultRow, pos: &PagingPosition, last: bool) {
        self.out.push(values);
        self.part_count += 1;
        self.limit_left = self.limit_left.saturating_sub(1);
        if self.limit_left == 0 {
            self.stop = Some(Stop::Limit);
        } else if self.out.len() >= self.page && !last {
            self.stop = Some(Stop::Page(self.position(pos)));
        }
    }

    pub(super) fn push(&mut self, row: Row, pos: PagingPosition) -> Result<()> {
        match self.mode {
            Mode::Plain => {
                if !self.enter(&pos) {
                    return Ok(());
                }
                if !self.sort_cols.is_empty() {
                    self.sort_keys.push(
                        self.sort_cols
                            .iter()
                            .map(|i| row.values.get(*i).cloned().flatten())
                            .collect(),
                    );
                }
                let values = self.sel.project_stored(&row)?;
                self.emit(values, &pos, false);
            }
            Mode::Aggregate => {
                if self.enter(&pos) {
                    self.part_count += 1;
                    self.all.add(&row)?;
                }
            }
            Mode::Grouped { ck_len } => {
                let key = (
                    pos.token,
                    pos.partition_key.clone(),
                    pos.clustering
                        .as_ref()
                        .map(|c| c.iter().take(ck_len).cloned().collect())
                        .unwrap_or_default(),
                );
                if self.group.as_ref().is_some_and(|g| g.key != key) {
                    self.close_group(false)?;
                    if self.stop.is_some() {
                        return Ok(());
                    }
                }
                if !self.enter(&pos) {
                    return Ok(());
                }
                let sel = self.sel;
                let g = self.group.get_or_insert_with(|| Group {
                    key,
                    agg: Aggregator::new(sel),
                    last: pos.clone(),
                });
                g.agg.add(&row)?;
                g.last = pos;
            }
        }
        Ok(())
    }

    pub(super) fn close_group(&mut self, last: bool) -> Result<()> {
        if let Some(g) = self.group.take() {
            let values = computed(g.agg.finish()?);
            self.emit(values, &g.last, last);
        }
        Ok(())
    }

    /// The end of the input.
    pub(super) fn finish(&mut self) -> Result<()> {
        match self.mode {
            Mode::Plain => {}
            Mode::Aggregate => {
                let all = std::mem::replace(&mut self.all, Aggregator::new(self.sel));
                self.out.push(computed(all.finish()?));
            }
            Mode::Grouped { .. } => self.close_group(true)?,
        }
        Ok(())
    }

    /// Rows to ask of storage next.
    pub(super) fn chunk(&self, exact: bool) -> u32 {
        if exact {
            let page_left =
                u32::try_from(self.page.saturating_sub(self.out.len())).unwrap_or(u32::MAX);
            page_left.min(self.limit_left).clamp(1, 5000)
        } else {
            SCAN_CHUNK
        }
    }
}

pub(super) fn execute(
    data: &dyn DataPath,
    t: &Target<'_>,
    plan: &Plan,
    sel: &Selection,
    params: &QueryParameters,
    warnings: &mut Vec<String>,
) -> Result<ResultBody> {
    let paging = params.page_size.filter(|n| *n > 0).map(|n| n as usize);
    if plan.sort.is_some() && plan.key_in && paging.is_some() {
        return Err(Error::invalid(
            "Cannot page queries with both ORDER BY and a IN restriction on the partition key; \
             you must either remove the ORDER BY or the IN and sort client side, or disable \
             paging for this query",
        ));
    }
    let (resume, limit_left) = match &params.paging_state {
        Some(state) if plan.mode != Mode::Aggregate => {
            let (pos, left) = decode_paging_state(state)?;
            (Some(pos), left.or(plan.limit))
        }
        _ => (None, plan.limit),
    };
    let sorting = plan.sort.is_some();
    let mut exec = Exec {
        sel,
        mode: plan.mode,
        per_partition: plan.per_partition_limit.unwrap_or(u32::MAX),
        page: if plan.mode == Mode::Aggregate || sorting {
            usize::MAX
        } else {
            paging.unwrap_or(usize::MAX)
        },
        limit_left: if sorting {
            u32::MAX
        } else {
            limit_left.unwrap_or(u32::MAX)
        },
        out: Vec::new(),
        sort_keys: Vec::new(),
        sort_cols: plan
            .sort
            .as_ref()
            .map(|s| s.iter().map(|(i, _)| *i).collect())
            .unwrap_or_default(),
        part: resume.as_ref().map(|p| (p.token, p.partition_key.clone())),
        part_count: resume.as_ref().map_or(0, |p| p.rows_in_partition),
        group: None,
        all: Aggregator::new(sel),
        stop: None,
    };
    let schema = data.table_schema(t.table)?;
    let mut decoder = Decoder::new(t, &schema);
    if plan.mode == Mode::Plain {
        // Columns only returned are copied as stored, never decoded.
        let mut needed = sel.columns_needing_values();
        needed.extend(plan.filters.iter().flat_map(Filter::columns));
        needed.extend(exec.sort_cols.iter().copied());
        for (i, (slot, ty)) in decoder
            .undecoded
            .iter_mut()
            .zip(&decoder.schema_types)
            .enumerate()
        {
            *slot = !needed.contains(&i) && !cells::is_multi_cell(ty);
        }
    }
    // Storage applies PER PARTITION LIMIT itself when every row it returns is a result row.
    let exact = plan.mode == Mode::Plain && plan.filters.is_empty() && plan.static_rows;
    let storage_ppl = if plan.distinct {
        Some(1)
    } else if plan.mode == Mode::Plain && plan.filters.is_empty() && plan.slices.len() <= 1 {
        plan.per_partition_limit
    } else {
        None
    };

    let mut cmds: Vec<ReadCommand> = Vec::new();
    match &plan.partitions {
        Partitions::None => {}
        Partitions::Keys(keys) => {
            for (token, key) in keys {
                for slice in &plan.slices {
                    let mut c = ReadCommand::partition(*token, key.clone());
                    c.slice = slice.clone();
                    cmds.push(c);
                }
            }
        }
        Partitions::Range { start, end } => {
            let mut c = ReadCommand::token_range(*start, *end);
            c.slice = plan.slices.first().cloned().unwrap_or_else(Slice::all);
            if plan.slices.is_empty() {
                // An empty clustering IN: nothing matches.
            } else {
                cmds.push(c);
            }
        }
    }

    'reads: for mut cmd in cmds {
        cmd.reversed = plan.reversed;
        cmd.per_partition_limit = storage_ppl;
        if let Some(pos) = &resume {
            match &cmd.partitions {
                PartitionRange::Single { token, key } => {
                    match (*token, key.as_slice()).cmp(&(pos.token, pos.partition_key.as_slice())) {
                        Ordering::Less => continue,
                        Ordering::Equal => cmd.resume = Some(pos.clone()),
                        Ordering::Greater => {}
                    }
                }
                PartitionRange::Tokens { .. } => cmd.resume = Some(pos.clone()),
            }
        }
        loop {
            cmd.limit = Some(exec.chunk(exact));
            let result = data.read(t.ks, t.table, &cmd, params.consistency)?;
            if !result.warnings.is_empty() {
                let live: usize = result.partitions.iter().map(|p| p.rows.len()).sum();
                warnings.extend(
                    result
                        .warnings
                        .iter()
                        .map(|w| read_warning(t.table, live, w)),
                );
            }
            for p in &result.partitions {
                let base = decoder.partition_base(p)?;
                let at = |clustering: Option<Vec<Vec<u8>>>| PagingPosition {
                    token: p.token,
                    partition_key: p.key.clone(),
                    clustering,
                    rows_in_partition: 0,
                };
                if p.rows.is_empty() {
                    if (plan.static_rows || plan.distinct)
                        && plan.filters.iter().all(|f| f.matches(&base))
                    {
                        exec.push(base.clone(), at(None))?;
                    }
                } else {
                    for r in &p.rows {
                        let row = decoder.row(&base, r)?;
                        if plan.filters.iter().all(|f| f.matches(&row)) {
                            exec.push(row, at(Some(r.clustering.clone())))?;
                        }
                        if exec.stop.is_some() {
                            break;
                        }
                    }
                }
                if exec.stop.is_some() {
                    break 'reads;
                }
            }
            match result.next_page {
                Some(next) => cmd.resume = Some(next),
                None => break,
            }
        }
    }
    let next_page = match exec.stop.take() {
        Some(Stop::Page(pos)) => Some(encode_paging_state(
            &pos,
            plan.limit.map(|_| exec.limit_left),
        )),
        Some(Stop::Limit) => None,
        None => {
            exec.finish()?;
            None
        }
    };
    let mut out = std::mem::take(&mut exec.out);
    if let Some(sort) = &plan.sort {
        let mut keyed: Vec<(ValueRow, ResultRow)> = exec.sort_keys.drain(..).zip(out).collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for ((x, y), (_, desc)) in a.iter().zip(b).zip(sort) {
                // Nulls first.
                let o = match (x, y) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => compare(x, y).unwrap_or(Ordering::Equal),
                };
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        out = keyed.into_iter().map(|(_, r)| r).collect();
        out.truncate(plan.limit.map_or(usize::MAX, |l| l as usize));
    }
    rows_result(sel, out, next_page, params.skip_metadata)
}

pub(super) fn rows_result(
    sel: &Selection,
    out: Vec<ResultRow>,
    next_page: Option<Bytes>,
    skip_metadata: bool,
) -> Result<ResultBody> {
    let mut cells = Vec::with_capacity(out.len() * sel.specs().len());
    for r in &out {
        cells.extend(sel.encode_projected(r)?);
    }
    let mut metadata = if skip_metadata {
        // The specs are not sent: not cloned either.
        let mut m = RowsMetadata::new(Vec::new());
        m.column_count = sel.specs().len();
        m.columns = None;
        m.global_table_spec = None;
        m
    } else {
        RowsMetadata::new(sel.specs().to_vec())
    };
    metadata.paging_state = next_page;
    Ok(ResultBody::Rows(Rows {
        metadata,
        rows_count: out.len(),
        cells,
    }))
}
