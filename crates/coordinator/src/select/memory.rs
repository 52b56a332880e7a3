//! SELECT over rows held in memory (the system tables): equality and IN restrictions on any
//! column, LIMIT and offset paging; anything else is refused with an Invalid error naming it.

use super::*;

/// Runs `select` (whose compiled selection is `selection`) over `rows` held in memory (values
/// in `table.columns` order): the system tables.
pub(crate) fn run(
    select: &Select,
    table: &Table,
    keyspace: &Keyspace,
    selection: &Selection,
    rows: &[Vec<Option<Value>>],
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    let skip_metadata = params.skip_metadata;
    if select.json || select.distinct || !select.group_by.is_empty() || !select.order_by.is_empty()
    {
        return Err(Error::invalid(
            "JSON, DISTINCT, GROUP BY and ORDER BY are not supported on system tables by this Ilion build yet",
        ));
    }
    if select.per_partition_limit.is_some() {
        return Err(Error::invalid(
            "PER PARTITION LIMIT is not supported on system tables by this Ilion build yet",
        ));
    }
    // Restrictions: each is a column and the values it may equal.
    let mut filters: Vec<(usize, Vec<Value>)> = Vec::new();
    for r in &select.where_clause {
        let (target, terms): (&RelationTarget, Vec<&Term>) = match r {
            Relation::Compare {
                target,
                op: Operator::Eq,
                value,
            } => (target, vec![value]),
            Relation::In {
                target,
                values: InValues::List(v),
            } => (target, v.iter().collect()),
            _ => return Err(unsupported_relation(r)),
        };
        let RelationTarget::Column(c) = target else {
            return Err(unsupported_relation(r));
        };
        let i = table
            .columns
            .iter()
            .position(|x| x.name == c.as_str())
            .ok_or_else(|| undefined(c.as_str(), table))?;
        let ty = table
            .columns
            .get(i)
            .map(|c| c.ty.column_type(keyspace))
            .ok_or_else(|| undefined(c.as_str(), table))?;
        let mut accepted = Vec::new();
        for t in terms {
            if let Some(v) = term_value(t, &ty, bound)? {
                accepted.push(v);
            }
        }
        filters.push((i, accepted));
    }
    let limit = match &select.limit {
        None => usize::MAX,
        Some(t) => limit_value(t, bound)?.map_or(usize::MAX, |n| n as usize),
    };
    let matched: Vec<Row> = rows
        .iter()
        .filter(|row| {
            filters.iter().all(|(i, accepted)| {
                row.get(*i).and_then(Option::as_ref).is_some_and(|v| {
                    accepted
                        .iter()
                        .any(|a| compare_untyped(a, v) == Some(Ordering::Equal))
                })
            })
        })
        .map(|r| Row::plain(r.clone()))
        .collect();

    let mut next_page = None;
    let mut out: Vec<Vec<Option<Value>>> = Vec::new();
    if selection.aggregate {
        let mut agg = Aggregator::new(selection);
        for r in &matched {
            agg.add(r)?;
        }
        out.push(agg.finish()?);
    } else {
        let mut matched = matched;
        matched.truncate(limit);
        // Paging: the state is the offset of the next row, so a page can be resumed on any
        // connection (the rows are recomputed in the same order from the live schema).
        let offset = match &params.paging_state {
            None => 0,
            Some(state) => decode_offset_state(state)?,
        };
        let page = params
            .page_size
            .filter(|n| *n > 0)
            .map_or(usize::MAX, |n| n as usize);
        let end = offset.saturating_add(page).min(matched.len());
        if end < matched.len() {
            next_page = Some(encode_offset_state(end));
        }
        for row in matched.iter().take(end).skip(offset) {
            out.push(selection.project(row)?);
        }
    }
    let mut cells = Vec::new();
    for r in &out {
        cells.extend(selection.encode_row(r)?);
    }
    let mut metadata = if skip_metadata {
        // The specs are not sent: not cloned either.
        let mut m = RowsMetadata::new(Vec::new());
        m.column_count = selection.specs.len();
        m.columns = None;
        m.global_table_spec = None;
        m
    } else {
        RowsMetadata::new(selection.specs.clone())
    };
    metadata.paging_state = next_page;
    Ok(ResultBody::Rows(Rows {
        metadata,
        rows_count: out.len(),
        cells,
    }))
}

/// Paging state of an in-memory result: a version byte (1) and the next row's offset
/// (u64 big-endian).
pub(super) fn encode_offset_state(offset: usize) -> Bytes {
    let mut out = Vec::with_capacity(9);
    out.push(1u8);
    out.extend_from_slice(&(offset as u64).to_be_bytes());
    Bytes::from(out)
}

pub(super) fn decode_offset_state(state: &[u8]) -> Result<usize> {
    match state {
        [1, rest @ ..] => <[u8; 8]>::try_from(rest)
            .ok()
            .and_then(|b| usize::try_from(u64::from_be_bytes(b)).ok())
            .ok_or_else(|| Error::invalid("Invalid paging state")),
        _ => Err(Error::invalid("Invalid paging state")),
    }
}
