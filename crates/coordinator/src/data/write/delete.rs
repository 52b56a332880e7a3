//! DELETE into mutations: cells, elements, rows, clustering ranges and whole partitions.

use super::*;

/// The WHERE clause of a DELETE: equalities or INs (name -> restriction) and at most ranges
/// on the clustering column after the equality prefix.
pub(super) type Where<'w> = (
    Vec<(String, KeyTerm<'w>)>,
    Vec<(String, Operator, &'w Term)>,
);

pub(super) fn delete_where<'w>(t: &Target<'_>, relations: &'w [Relation]) -> Result<Where<'w>> {
    let mut eqs = Vec::new();
    let mut ranges = Vec::new();
    for r in relations {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                op,
                value,
            } => {
                let col = t.column(c.as_str())?;
                match (op, col.kind) {
                    (Operator::Eq, ColumnKind::PartitionKey | ColumnKind::Clustering) => {
                        eqs.push((col.name.clone(), KeyTerm::Eq(value)));
                    }
                    (Operator::Eq, _) => {
                        return Err(Error::invalid(format!(
                            "Non PRIMARY KEY columns found in where clause: {}",
                            col.name
                        )));
                    }
                    (
                        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge,
                        ColumnKind::Clustering,
                    ) => ranges.push((col.name.clone(), *op, value)),
                    _ => {
                        return Err(Error::invalid(format!(
                            "Invalid restriction {r} in DELETE (only = on the partition key and \
                             = or ranges on clustering columns are allowed)"
                        )));
                    }
                }
            }
            Relation::In {
                target: RelationTarget::Column(c),
                values,
            } => {
                let col = t.column(c.as_str())?;
                if !matches!(col.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
                    return Err(Error::invalid(format!(
                        "Non PRIMARY KEY columns found in where clause: {}",
                        col.name
                    )));
                }
                eqs.push((col.name.clone(), KeyTerm::In(values)));
            }
            other => {
                return Err(Error::not_supported(&format!(
                    "The restriction {other} in DELETE (only = and IN on primary key columns \
                     and clustering ranges are)"
                )));
            }
        }
    }
    Ok((eqs, ranges))
}

/// DELETE [targets] FROM ... WHERE <partition key> [clustering prefix [range]].
pub(crate) fn delete<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &Delete,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    let t = Target { ks, table, bound };
    let (eqs, ranges) = delete_where(&t, &s.where_clause)?;
    let now = now_seconds();
    if s.using.iter().any(|u| matches!(u, UsingParam::Ttl(_))) {
        return Err(Error::invalid("A TTL is not allowed on DELETE statements"));
    }
    check_counter_using(table, &s.using)?;
    let (timestamp, _) = t.write_params(&s.using, params, now)?;
    let pks = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    let ck_cols = t.key_columns(ColumnKind::Clustering);
    // The clustering equality (or IN) prefix, then the column a range may restrict.
    let mut prefix_values: Vec<Vec<Bytes>> = Vec::new();
    let mut range_col: Option<&Column> = None;
    for c in &ck_cols {
        match eqs.iter().find(|(n, _)| *n == c.name) {
            Some((_, restriction)) => prefix_values.push(t.key_values(&c.name, *restriction)?),
            None => {
                range_col = Some(c);
                break;
            }
        }
    }
    let restricted = eqs
        .iter()
        .filter(|(n, _)| ck_cols.iter().any(|c| c.name == *n))
        .count();
    if restricted != prefix_values.len() {
        let missing = range_col.map_or("", |c| c.name.as_str());
        return Err(Error::invalid(format!(
            "PRIMARY KEY column \"{missing}\" cannot be restricted as preceding column is not \
             restricted"
        )));
    }
    let full_row = prefix_values.len() == ck_cols.len();
    let prefixes: Vec<Vec<Vec<u8>>> = combinations(prefix_values, "clustering")?
        .into_iter()
        .map(|p| p.iter().map(|b| b.to_vec()).collect())
        .collect();
    if !ranges.is_empty() && !s.targets.is_empty() {
        return Err(Error::invalid(
            "Range deletions are not supported for specific columns",
        ));
    }
    check_in_keys(pks.len(), prefixes.len())?;
    let schema = data.table_schema(table)?;
    let deletion = Deletion::new(timestamp, now);
    let mut writes = Vec::with_capacity(pks.len());
    for pk in &pks {
        let (token, key) = t.partition(pk)?;
        let mut m = Mutation::new(token, key.clone(), now);
        for prefix in &prefixes {
            let w = Writer {
                data,
                schema: schema.clone(),
                t: Target { ks, table, bound },
                timestamp,
                ttl: None,
                now,
                consistency: params.consistency,
                token,
                key: key.clone(),
                clustering: prefix.clone(),
            };
            delete_in_partition(
                &w, s, &mut m, prefix, range_col, &ranges, full_row, deletion,
            )?;
        }
        writes.push(TableWrite {
            keyspace: ks,
            table,
            mutation: m,
        });
    }
    Ok(writes)
}

/// Adds to `m` what DELETE `s` removes under one clustering `prefix` of its partition.
#[allow(clippy::too_many_arguments)]
pub(super) fn delete_in_partition(
    w: &Writer<'_>,
    s: &Delete,
    m: &mut Mutation,
    prefix: &[Vec<u8>],
    range_col: Option<&Column>,
    ranges: &[(String, Operator, &Term)],
    full_row: bool,
    deletion: Deletion,
) -> Result<()> {
    if !ranges.is_empty() {
        let (start, end) = range_bounds(&w.t, prefix, range_col, ranges)?;
        m.range_deletions.push(RangeDeletion {
            start,
            end,
            deletion,
        });
    } else if s.targets.is_empty() {
        if prefix.is_empty() {
            m.partition_deletion = Some(deletion);
        } else if full_row {
            m.row(prefix.to_vec()).deletion = Some(deletion);
        } else {
            m.range_deletions.push(RangeDeletion {
                start: SBound::Inclusive(prefix.to_vec()),
                end: SBound::Inclusive(prefix.to_vec()),
                deletion,
            });
        }
    } else {
        let mut statics = Vec::new();
        let mut row = Vec::new();
        for target in &s.targets {
            let name = match target {
                DeleteTarget::Column(n)
                | DeleteTarget::Element { column: n, .. }
                | DeleteTarget::Field { column: n, .. } => n,
            };
            let c = w.t.column(name.as_str())?;
            if c.kind == ColumnKind::Static {
                w.delete_target(target, &mut statics)?;
            } else if full_row {
                w.delete_target(target, &mut row)?;
            } else {
                return Err(Error::invalid(format!(
                    "Some clustering keys are missing: {}",
                    range_col.map_or(c.name.as_str(), |r| r.name.as_str())
                )));
            }
        }
        // Static cells belong to the partition: deleted once, whichever rows the IN names.
        if m.static_cells.is_empty() {
            m.static_cells = statics;
        }
        if !row.is_empty() {
            m.row(prefix.to_vec()).cells = row;
        }
    }
    Ok(())
}

/// The bounds (in clustering order) of `prefix` narrowed by `ranges` on `range_col`.
pub(super) fn range_bounds(
    t: &Target<'_>,
    prefix: &[Vec<u8>],
    range_col: Option<&Column>,
    ranges: &[(String, Operator, &Term)],
) -> Result<(SBound, SBound)> {
    let mut start = if prefix.is_empty() {
        SBound::Unbounded
    } else {
        SBound::Inclusive(prefix.to_vec())
    };
    let mut end = start.clone();
    for (name, op, term) in ranges {
        let Some(col) = range_col.filter(|c| c.name == *name) else {
            return Err(Error::invalid(format!(
                "Clustering column \"{name}\" cannot be restricted (preceding column is \
                 restricted by a non-EQ relation or not restricted)"
            )));
        };
        let mut at = prefix.to_vec();
        at.push(t.key_value(name, term)?.to_vec());
        let desc = col.order == ClusteringOrder::Desc;
        // A lower bound is the start in ASC order, the end in DESC order.
        let lower = matches!(op, Operator::Gt | Operator::Ge);
        let inclusive = matches!(op, Operator::Ge | Operator::Le);
        let b = if inclusive {
            SBound::Inclusive(at)
        } else {
            SBound::Exclusive(at)
        };
        let slot = if lower != desc { &mut start } else { &mut end };
        let already = match slot {
            SBound::Unbounded => false,
            SBound::Inclusive(p) | SBound::Exclusive(p) => p.len() > prefix.len(),
        };
        if already {
            return Err(Error::invalid(format!(
                "More than one restriction was found for the {} bound on {name}",
                if lower { "start" } else { "end" }
            )));
        }
        *slot = b;
    }
    Ok((start, end))
}
