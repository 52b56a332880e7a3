//! The modifiers of a SELECT: DISTINCT and GROUP BY (how result rows come from table rows),
//! ORDER BY (the read direction, or a sort across partitions) and the limits.

use super::*;

/// How result rows come from table rows: DISTINCT, GROUP BY, aggregates or plain rows.
/// `beyond_key` says whether the WHERE clause restricts columns other than the partition
/// key (DISTINCT refuses that).
pub(super) fn mode(
    table: &Table,
    s: &Select,
    selection: &Selection,
    beyond_key: bool,
) -> Result<Mode> {
    if s.distinct {
        distinct(table, s, selection, beyond_key)
    } else if !s.group_by.is_empty() {
        group_by(table, s)
    } else if selection.aggregate {
        Ok(Mode::Aggregate)
    } else {
        Ok(Mode::Plain)
    }
}

/// SELECT DISTINCT: one row per partition, of partition key and static columns only.
fn distinct(table: &Table, s: &Select, selection: &Selection, beyond_key: bool) -> Result<Mode> {
    for i in selection.columns_read() {
        if let Some(c) = table.columns.get(i)
            && !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Static)
        {
            return Err(Error::invalid(format!(
                "SELECT DISTINCT queries must only request partition key columns and/or \
                 static columns (not {})",
                c.name
            )));
        }
    }
    if beyond_key {
        return Err(Error::invalid(
            "SELECT DISTINCT with WHERE clause only supports restriction by partition key \
             and/or static columns.",
        ));
    }
    if selection.aggregate || !s.group_by.is_empty() {
        return Err(Error::not_supported(
            "SELECT DISTINCT with aggregates or GROUP BY",
        ));
    }
    Ok(Mode::Grouped { ck_len: 0 })
}

/// GROUP BY: the whole partition key, then a prefix of the clustering columns.
fn group_by(table: &Table, s: &Select) -> Result<Mode> {
    let pk_cols = key_columns(table, ColumnKind::PartitionKey);
    let ck_cols = key_columns(table, ColumnKind::Clustering);
    let key_order: Vec<&str> = pk_cols
        .iter()
        .chain(ck_cols.iter())
        .map(|(_, c)| c.name.as_str())
        .collect();
    if s.group_by.len() < pk_cols.len()
        || s.group_by.len() > key_order.len()
        || s.group_by
            .iter()
            .zip(&key_order)
            .any(|(g, k)| g.as_str() != *k)
    {
        return Err(Error::invalid(
            "Group by currently only support groups of columns following their declared \
             order in the PRIMARY KEY (the whole partition key, then clustering columns)",
        ));
    }
    Ok(Mode::Grouped {
        ck_len: s.group_by.len() - pk_cols.len(),
    })
}

/// The order ORDER BY asks for.
#[derive(Debug, Default)]
pub(super) struct ReadOrder {
    /// Whether each partition is read backwards (its slices then come in reverse).
    pub(super) reversed: bool,
    /// Across several partitions (IN on the partition key): sorted in memory by these
    /// clustering columns (table indexes, descending?).
    pub(super) sort: Option<Vec<(usize, bool)>>,
}

/// ORDER BY: clustering columns in key order, all in or all against their declared order,
/// and only where the partition key is restricted by `=` or `IN`.
pub(super) fn order(
    b: &Binder<'_>,
    s: &Select,
    partitions: &Partitions,
    mode: Mode,
) -> Result<ReadOrder> {
    let mut out = ReadOrder::default();
    if s.order_by.is_empty() {
        return Ok(out);
    }
    if !matches!(partitions, Partitions::Keys(_) | Partitions::None) {
        return Err(Error::invalid(
            "ORDER BY is only supported when the partition key is restricted by an EQ or an IN.",
        ));
    }
    let ck_cols = key_columns(b.table(), ColumnKind::Clustering);
    let mut dirs = Vec::new();
    for (n, (name, dir)) in s.order_by.iter().enumerate() {
        let (i, c) = b.column(name.as_str())?;
        if c.kind != ColumnKind::Clustering || ck_cols.get(n).map(|(j, _)| *j) != Some(i) {
            return Err(Error::invalid(
                "Order by currently only supports the ordering of columns following their \
                 declared order in the PRIMARY KEY",
            ));
        }
        let flipped = (*dir == Order::Desc) != (c.order == ClusteringOrder::Desc);
        dirs.push((i, *dir == Order::Desc, flipped));
    }
    out.reversed = dirs.first().is_some_and(|d| d.2);
    if dirs.iter().any(|d| d.2 != out.reversed) {
        return Err(Error::invalid("Unsupported order by relation"));
    }
    if matches!(partitions, Partitions::Keys(k) if k.len() > 1) {
        if mode != Mode::Plain {
            return Err(Error::not_supported(
                "ORDER BY with IN on the partition key together with aggregates, GROUP BY \
                 or DISTINCT",
            ));
        }
        out.sort = Some(dirs.iter().map(|d| (d.0, d.1)).collect());
    }
    Ok(out)
}

/// PER PARTITION LIMIT and LIMIT.
pub(super) fn limits(s: &Select, bound: &Bound) -> Result<(Option<u32>, Option<u32>)> {
    let per_partition_limit = match &s.per_partition_limit {
        Some(x) => limit_value(x, bound)?,
        None => None,
    };
    let limit = match &s.limit {
        Some(x) => limit_value(x, bound)?,
        None => None,
    };
    Ok((per_partition_limit, limit))
}
