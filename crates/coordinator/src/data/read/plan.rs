//! The read planner: a SELECT's restrictions (partition key, token, clustering slices and
//! tuples, IN, filters) turned into the [`Plan`] of storage reads.

use super::*;

/// The restrictions of one clustering column.
#[derive(Debug, Default)]
pub(super) struct ColumnRestriction {
    pub(super) eq: Option<Vec<Value>>,
    pub(super) lower: Option<(Value, bool)>,
    pub(super) upper: Option<(Value, bool)>,
}

pub(super) fn null_in(name: &str) -> Error {
    Error::invalid(format!("Invalid null value in condition for column {name}"))
}

pub(super) fn plan(t: &Target<'_>, s: &Select, selection: &Selection) -> Result<Plan> {
    let table = t.table;
    let col_index = |name: &str| -> Result<(usize, &Column)> {
        table
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Undefined column name {name} in table {}.{}",
                    table.keyspace, table.name
                ))
            })
    };
    let ty_of = |c: &Column| c.ty.column_type(t.ks);
    let value = |term: &Term, ty: &CqlType, name: &str| -> Result<Value> {
        if t.bound.is_unset(term) {
            return Err(Error::invalid(format!(
                "Invalid unset value for column {name}"
            )));
        }
        term_value(term, ty, t.bound)?.ok_or_else(|| null_in(name))
    };
    let in_values = |values: &InValues, ty: &CqlType, name: &str| -> Result<Vec<Value>> {
        match values {
            InValues::List(terms) => terms.iter().map(|x| value(x, ty, name)).collect(),
            InValues::Marker(m) => {
                let list_ty = CqlType::list(ty.clone());
                match value(&Term::Bind(m.clone()), &list_ty, name)? {
                    Value::List(items) => Ok(items),
                    _ => Err(Error::invalid(format!(
                        "Invalid IN value for column {name}"
                    ))),
                }
            }
        }
    };

    let mut pk: Vec<Option<Vec<Value>>> = vec![None; table.columns.len()];
    let mut key_in = false;
    let mut token_lo = i64::MIN; // exclusive; MIN = unbounded
    let mut token_hi = i64::MAX; // inclusive; MAX = unbounded
    let mut has_token = false;
    let mut ck: Vec<ColumnRestriction> = (0..table.columns.len())
        .map(|_| ColumnRestriction::default())
        .collect();
    let mut tuples: Vec<(Vec<usize>, Operator, Vec<Vec<Value>>)> = Vec::new();
    let mut filters: Vec<Filter> = Vec::new();
    let mut needs_filtering = false;
    let mut restricts_non_key = false;

    for r in &s.where_clause {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                op,
                value: term,
            } => {
                let (i, col) = col_index(c.as_str())?;
                let ty = ty_of(col);
                match op {
                    Operator::Contains | Operator::ContainsKey => {
                        let key = *op == Operator::ContainsKey;
                        let elem = match (&ty, key) {
                            (
                                CqlType::List { element: e, .. } | CqlType::Set { element: e, .. },
                                false,
                            ) => (**e).clone(),
                            (
                                CqlType::Map {
                                    key: _, value: v, ..
                                },
                                false,
                            ) => (**v).clone(),
                            (
                                CqlType::Map {
                                    key: k, value: _, ..
                                },
                                true,
                            ) => (**k).clone(),
                            _ => {
                                return Err(Error::invalid(format!(
                                    "Cannot use {} on non-{} column {}",
                                    if key { "CONTAINS KEY" } else { "CONTAINS" },
                                    if key { "map" } else { "collection" },
                                    col.name
                                )));
                            }
                        };
                        filters.push(Filter::Contains {
                            col: i,
                            value: value(term, &elem, &col.name)?,
                            key,
                        });
                        needs_filtering = true;
                        restricts_non_key |= !matches!(col.kind, ColumnKind::PartitionKey);
                        continue;
                    }
                    Operator::Ne | Operator::Like => {
                        return Err(Error::not_supported(&format!(
                            "The restriction {r} (!= and LIKE need secondary indexes)"
                        )));
                    }
                    _ => {}
                }
                if *op != Operator::Eq && ty == CqlType::Duration {
                    return Err(Error::invalid(format!(
                        "Slice restrictions are not supported on duration columns: {}",
                        col.name
                    )));
                }
                let v = value(term, &ty, &col.name)?;
                match (col.kind, op) {
                    (ColumnKind::PartitionKey, Operator::Eq) => {
                        set_eq(pk.get_mut(i), vec![v], &col.name)?;
                    }
                    (ColumnKind::Clustering, Operator::Eq) => {
                        set_eq(ck.get_mut(i).map(|c| &mut c.eq), vec![v], &col.name)?;
                    }
                    (ColumnKind::Clustering, _) => {
                        let Some(cr) = ck.get_mut(i) else { continue };
                        let lower = matches!(op, Operator::Gt | Operator::Ge);
                        let slot = if lower { &mut cr.lower } else { &mut cr.upper };
                        if slot.is_some() {
                            return Err(Error::invalid(format!(
                                "More than one restriction was found for the {} bound on {}",
                                if lower { "start" } else { "end" },
                                col.name
                            )));
                        }
                        *slot = Some((v, matches!(op, Operator::Ge | Operator::Le)));
                    }
                    (kind, _) => {
                        needs_filtering = true;
                        restricts_non_key |= kind != ColumnKind::PartitionKey;
                        filters.push(Filter::Compare {
                            col: i,
                            op: *op,
                            value: v,
                        });
                    }
                }
            }
            Relation::In {
                target: RelationTarget::Column(c),
                values,
            } => {
                let (i, col) = col_index(c.as_str())?;
                let vals = in_values(values, &ty_of(col), &col.name)?;
                match col.kind {
                    ColumnKind::PartitionKey => {
                        key_in = true;
                        set_eq(pk.get_mut(i), vals, &col.name)?;
                    }
                    ColumnKind::Clustering => {
                        set_eq(ck.get_mut(i).map(|c| &mut c.eq), vals, &col.name)?;
                    }
                    _ => {
                        needs_filtering = true;
                        restricts_non_key = true;
                        filters.push(Filter::In {
                            col: i,
                            values: vals,
                        });
                    }
                }
            }
            Relation::Compare {
                target: RelationTarget::Token(cols),
                op,
                value: term,
            } => {
                check_token_columns(t, cols)?;
                has_token = true;
                let tok = token_term(t, term)?;
                let lo = |x: i64, lo: &mut i64| *lo = (*lo).max(x);
                let hi = |x: i64, hi: &mut i64| *hi = (*hi).min(x);
                match op {
                    Operator::Gt => lo(tok, &mut token_lo),
                    Operator::Ge => lo(tok.saturating_sub(1), &mut token_lo),
                    Operator::Le => hi(tok, &mut token_hi),
                    Operator::Lt => match tok.checked_sub(1) {
                        Some(x) => hi(x, &mut token_hi),
                        None => token_hi = i64::MIN,
                    },
                    Operator::Eq => {
                        lo(tok.saturating_sub(1), &mut token_lo);
                        hi(tok, &mut token_hi);
                    }
                    _ => {
                        return Err(Error::invalid(format!(
                            "Unsupported operator in a token relation: {r}"
                        )));
                    }
                }
            }
            Relation::Compare {
                target: RelationTarget::Tuple(cols),
                op,
                value: term,
            } => {
                let (idx, tys) = tuple_columns(t, cols)?;
                let vals = tuple_value(t, term, &tys, cols)?;
                match op {
                    Operator::Eq | Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => {
                        tuples.push((idx, *op, vec![vals]))
                    }
                    _ => {
                        return Err(Error::invalid(format!(
                            "Unsupported operator in a multi-column relation: {r}"
                        )));
                    }
                }
            }
            Relation::In {
                target: RelationTarget::Tuple(cols),
                values,
            } => {
                let (idx, tys) = tuple_columns(t, cols)?;
                let lists = match values {
                    InValues::List(terms) => terms
                        .iter()
                        .map(|x| tuple_value(t, x, &tys, cols))
                        .collect::<Result<Vec<_>>>()?,
                    InValues::Marker(m) => {
                        let list = CqlType::list(CqlType::Tuple(tys.clone()));
                        match value(&Term::Bind(m.clone()), &list, "tuple")? {
                            Value::List(items) => items
                                .into_iter()
                                .map(|v| tuple_components(v, tys.len()))
                                .collect::<Result<_>>()?,
                            _ => return Err(Error::invalid("Invalid IN value for a tuple")),
                        }
                    }
                };
                tuples.push((idx, Operator::Eq, lists));
            }
            other => {
                return Err(Error::not_supported(&format!(
                    "The restriction {other} (map entries, UDT fields and IS NOT NULL)"
                )));
            }
        }
    }

    // Partitions.
    let pk_cols = key_columns(table, ColumnKind::PartitionKey);
    let restricted_pk = pk_cols
        .iter()
        .filter(|(i, _)| pk.get(*i).is_some_and(Option::is_some))
        .count();
    let partitions = if has_token {
        if restricted_pk > 0 {
            return Err(Error::invalid(
                "Columns of the partition key cannot be restricted by both a normal relation and \
                 a token relation",
            ));
        }
        if token_lo >= token_hi {
            Partitions::None
        } else {
            Partitions::Range {
                start: (token_lo != i64::MIN).then_some(token_lo),
                end: (token_hi != i64::MAX).then_some(token_hi),
            }
        }
    } else if restricted_pk == pk_cols.len() {
        let mut keys: Vec<Vec<Bytes>> = vec![Vec::new()];
        for (i, c) in &pk_cols {
            let vals = pk.get(*i).cloned().flatten().unwrap_or_default();
            let ty = ty_of(c);
            let mut next = Vec::new();
            for k in &keys {
                for v in &vals {
                    let mut k = k.clone();
                    k.push(encode(&ty, v)?);
                    next.push(k);
                }
            }
            keys = next;
        }
        let mut out = Vec::new();
        for k in keys {
            if k.iter().any(Bytes::is_empty) {
                continue; // no partition has an empty key
            }
            out.push(t.partition(&k)?);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            Partitions::None
        } else {
            Partitions::Keys(out)
        }
    } else {
        // Part of the key: a scan that filters on it.
        for (i, _) in &pk_cols {
            if let Some(Some(vals)) = pk.get(*i) {
                needs_filtering = true;
                filters.push(Filter::In {
                    col: *i,
                    values: vals.clone(),
                });
            }
        }
        Partitions::Range {
            start: None,
            end: None,
        }
    };
    let by_key = matches!(partitions, Partitions::Keys(_));

    // Clustering: an equality/IN prefix, then at most one range, or multi-column relations.
    let ck_cols = key_columns(table, ColumnKind::Clustering);
    let single = ck
        .iter()
        .any(|c| c.eq.is_some() || c.lower.is_some() || c.upper.is_some());
    if single && !tuples.is_empty() {
        return Err(Error::invalid(
            "Mixing single column relations and multi column relations on clustering columns is \
             not allowed",
        ));
    }
    let has_ck_restrictions = single || !tuples.is_empty();
    let desc = |i: usize| {
        table
            .columns
            .get(i)
            .is_some_and(|c| c.order == ClusteringOrder::Desc)
    };
    let mut prefixes: Vec<Vec<Value>> = vec![Vec::new()];
    let mut range: (TupleBound, TupleBound) = (None, None);
    let mut range_desc = false;
    let mut ck_filters: Vec<Filter> = Vec::new();
    let mut tuple_filters: Vec<Filter> = Vec::new();
    let mut leftover = false;
    if tuples.is_empty() {
        let mut stopped = false;
        for (i, _) in &ck_cols {
            let Some(cr) = ck.get(*i) else { continue };
            let ranged = cr.lower.is_some() || cr.upper.is_some();
            if let Some(vals) = &cr.eq {
                ck_filters.push(Filter::In {
                    col: *i,
                    values: vals.clone(),
                });
            }
            for (b, op) in [(&cr.lower, true), (&cr.upper, false)] {
                if let Some((v, incl)) = b {
                    ck_filters.push(Filter::Compare {
                        col: *i,
                        op: match (op, incl) {
                            (true, true) => Operator::Ge,
                            (true, false) => Operator::Gt,
                            (false, true) => Operator::Le,
                            (false, false) => Operator::Lt,
                        },
                        value: v.clone(),
                    });
                }
            }
            if stopped {
                leftover |= cr.eq.is_some() || ranged;
                continue;
            }
            if let Some(vals) = &cr.eq {
                leftover |= ranged;
                prefixes = prefixes
                    .iter()
                    .flat_map(|p| {
                        vals.iter().map(move |v| {
                            let mut p = p.clone();
                            p.push(v.clone());
                            p
                        })
                    })
                    .collect();
            } else {
                if ranged {
                    range = (
                        cr.lower.clone().map(|(v, b)| (vec![v], b)),
                        cr.upper.clone().map(|(v, b)| (vec![v], b)),
                    );
                    range_desc = desc(*i);
                }
                stopped = true;
            }
        }
    } else {
        for (idx, op, lists) in &tuples {
            if ck_cols
                .iter()
                .map(|(i, _)| *i)
                .take(idx.len())
                .ne(idx.iter().copied())
            {
                return Err(Error::invalid(
                    "Clustering columns must appear in the PRIMARY KEY order in multi-column \
                     relations, starting from the first clustering column",
                ));
            }
            match op {
                Operator::Eq => {
                    ck_filters.push(Filter::TupleIn {
                        cols: idx.clone(),
                        values: lists.clone(),
                    });
                    if prefixes.iter().any(|p| !p.is_empty()) || range != (None, None) {
                        return Err(Error::invalid(
                            "More than one multi-column restriction on the clustering columns",
                        ));
                    }
                    prefixes = lists.clone();
                }
                _ => {
                    let vals = lists.first().cloned().unwrap_or_default();
                    ck_filters.push(Filter::Tuple {
                        cols: idx.clone(),
                        op: *op,
                        values: vals.clone(),
                    });
                    // Tuples compare value by value. With mixed ASC/DESC columns that is no
                    // single slice: read the slice of the first column, then filter.
                    let first = idx.first().copied().unwrap_or_default();
                    let mixed = idx.iter().any(|i| desc(*i) != desc(first));
                    range_desc = desc(first);
                    let (vals, inclusive) = if mixed {
                        tuple_filters.push(Filter::Tuple {
                            cols: idx.clone(),
                            op: *op,
                            values: vals.clone(),
                        });
                        (vals.into_iter().take(1).collect(), true)
                    } else {
                        (vals, matches!(op, Operator::Ge | Operator::Le))
                    };
                    let lower = matches!(op, Operator::Gt | Operator::Ge);
                    let slot = if lower { &mut range.0 } else { &mut range.1 };
                    if slot.is_some() || prefixes.iter().any(|p| !p.is_empty()) {
                        return Err(Error::invalid(format!(
                            "More than one restriction was found for the {} bound",
                            if lower { "start" } else { "end" }
                        )));
                    }
                    *slot = Some((vals, inclusive));
                }
            }
        }
    }
    if leftover {
        needs_filtering = true;
    }
    filters.extend(tuple_filters);
    // Prefixes in clustering order, without repeats.
    let ck_desc: Vec<bool> = ck_cols.iter().map(|(i, _)| desc(*i)).collect();
    let order_prefix = |a: &Vec<Value>, b: &Vec<Value>| -> Ordering {
        for ((x, y), d) in a.iter().zip(b).zip(&ck_desc) {
            let o = compare(x, y).unwrap_or(Ordering::Equal);
            let o = if *d { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.len().cmp(&b.len())
    };
    prefixes.sort_by(order_prefix);
    prefixes.dedup_by(|a, b| order_prefix(a, b) == Ordering::Equal);
    let ck_types: Vec<CqlType> = ck_cols.iter().map(|(_, c)| ty_of(c)).collect();
    let to_bytes = |vals: &[Value]| -> Result<Vec<Vec<u8>>> {
        vals.iter()
            .zip(&ck_types)
            .map(|(v, ty)| Ok(encode(ty, v)?.to_vec()))
            .collect()
    };
    let mut slices = Vec::new();
    for p in &prefixes {
        let pb = to_bytes(p)?;
        let side = |b: &TupleBound| -> Result<SBound> {
            Ok(match b {
                Some((vals, incl)) => {
                    let mut at = pb.clone();
                    at.extend(to_bytes(vals)?);
                    if *incl {
                        SBound::Inclusive(at)
                    } else {
                        SBound::Exclusive(at)
                    }
                }
                None if pb.is_empty() => SBound::Unbounded,
                None => SBound::Inclusive(pb.clone()),
            })
        };
        let (lower, upper) = (side(&range.0)?, side(&range.1)?);
        let (start, end) = if range_desc {
            (upper, lower)
        } else {
            (lower, upper)
        };
        slices.push(Slice { start, end });
    }

    // A range scan restricted on clustering columns filters.
    // A range scan restricted on clustering columns filters; so do restrictions the slices
    // cannot express (after a gap or a range), and several slices in a scan.
    if !by_key && has_ck_restrictions {
        needs_filtering = true;
    }
    let many_scan_slices = !by_key && slices.len() > 1;
    if many_scan_slices {
        slices = vec![Slice::all()];
    }
    if leftover || many_scan_slices {
        filters.extend(ck_filters);
    }
    if needs_filtering && !s.allow_filtering {
        return Err(Error::invalid(REQUIRES_ALLOW_FILTERING));
    }

    // DISTINCT, GROUP BY, ORDER BY, limits.
    let mode = if s.distinct {
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
        if has_ck_restrictions || restricts_non_key {
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
        Mode::Grouped { ck_len: 0 }
    } else if !s.group_by.is_empty() {
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
        Mode::Grouped {
            ck_len: s.group_by.len() - pk_cols.len(),
        }
    } else if selection.aggregate {
        Mode::Aggregate
    } else {
        Mode::Plain
    };

    let mut reversed = false;
    let mut sort = None;
    if !s.order_by.is_empty() {
        if !by_key && !matches!(partitions, Partitions::None) {
            return Err(Error::invalid(
                "ORDER BY is only supported when the partition key is restricted by an EQ or an IN.",
            ));
        }
        let mut dirs = Vec::new();
        for (n, (name, dir)) in s.order_by.iter().enumerate() {
            let (i, c) = col_index(name.as_str())?;
            if c.kind != ColumnKind::Clustering || ck_cols.get(n).map(|(j, _)| *j) != Some(i) {
                return Err(Error::invalid(
                    "Order by currently only supports the ordering of columns following their \
                     declared order in the PRIMARY KEY",
                ));
            }
            let flipped = (*dir == Order::Desc) != (c.order == ClusteringOrder::Desc);
            dirs.push((i, *dir == Order::Desc, flipped));
        }
        reversed = dirs.first().is_some_and(|d| d.2);
        if dirs.iter().any(|d| d.2 != reversed) {
            return Err(Error::invalid("Unsupported order by relation"));
        }
        if matches!(&partitions, Partitions::Keys(k) if k.len() > 1) {
            if mode != Mode::Plain {
                return Err(Error::not_supported(
                    "ORDER BY with IN on the partition key together with aggregates, GROUP BY \
                     or DISTINCT",
                ));
            }
            sort = Some(dirs.iter().map(|d| (d.0, d.1)).collect());
        }
    }
    if reversed {
        slices.reverse();
    }
    let per_partition_limit = s
        .per_partition_limit
        .as_ref()
        .map(|x| limit_value(x, t.bound, "PER PARTITION LIMIT"))
        .transpose()?;
    let limit = s
        .limit
        .as_ref()
        .map(|x| limit_value(x, t.bound, "LIMIT"))
        .transpose()?;
    Ok(Plan {
        partitions,
        slices,
        reversed,
        filters,
        static_rows: !has_ck_restrictions,
        mode,
        distinct: s.distinct,
        per_partition_limit,
        limit,
        sort,
        key_in,
    })
}

/// Records an equality or IN on a key column; a second one is refused as Cassandra does.
pub(super) fn set_eq(
    slot: Option<&mut Option<Vec<Value>>>,
    vals: Vec<Value>,
    name: &str,
) -> Result<()> {
    match slot {
        Some(s @ None) => {
            *s = Some(vals);
            Ok(())
        }
        _ => Err(Error::invalid(format!(
            "{name} cannot be restricted by more than one relation if it includes an Equality"
        ))),
    }
}

/// The key columns of `kind` in key order, with their indexes in `table.columns`.
pub(super) fn key_columns(table: &Table, kind: ColumnKind) -> Vec<(usize, &Column)> {
    let mut cols: Vec<(usize, &Column)> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == kind)
        .collect();
    cols.sort_by_key(|(_, c)| c.position);
    cols
}

pub(super) fn check_token_columns(
    t: &Target<'_>,
    cols: &[ilion_cql::language::ast::Ident],
) -> Result<()> {
    let pk = key_columns(t.table, ColumnKind::PartitionKey);
    if cols.len() != pk.len() || cols.iter().zip(&pk).any(|(a, (_, c))| a.as_str() != c.name) {
        return Err(Error::invalid(format!(
            "The token function arguments must be in the partition key order: token({})",
            pk.iter()
                .map(|(_, c)| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// The token a relation compares with: a bigint, or `token(v1, ...)` of key values.
pub(super) fn token_term(t: &Target<'_>, term: &Term) -> Result<i64> {
    if let Term::Function { name, args } = term
        && name.name.as_str().eq_ignore_ascii_case("token")
    {
        let pk = key_columns(t.table, ColumnKind::PartitionKey);
        if args.len() != pk.len() {
            return Err(Error::invalid(
                "token() needs one value per partition key column",
            ));
        }
        let mut parts = Vec::new();
        for (a, (_, c)) in args.iter().zip(&pk) {
            parts.push(t.key_value(&c.name, a)?);
        }
        return Ok(t.partition(&parts)?.0);
    }
    match term_value(term, &CqlType::Bigint, t.bound)? {
        Some(Value::Bigint(v)) => Ok(v),
        _ => Err(null_in("partition key token")),
    }
}

pub(super) fn tuple_columns(
    t: &Target<'_>,
    cols: &[ilion_cql::language::ast::Ident],
) -> Result<(Vec<usize>, Vec<CqlType>)> {
    let mut idx = Vec::new();
    let mut tys = Vec::new();
    for c in cols {
        let i = t
            .table
            .columns
            .iter()
            .position(|x| x.name == c.as_str())
            .ok_or_else(|| {
                t.column(c.as_str())
                    .err()
                    .unwrap_or_else(|| null_in(c.as_str()))
            })?;
        let col = t.column(c.as_str())?;
        if col.kind != ColumnKind::Clustering {
            return Err(Error::invalid(format!(
                "Multi-column relations can only be applied to clustering columns but was \
                 applied to: {}",
                col.name
            )));
        }
        idx.push(i);
        tys.push(col.ty.column_type(t.ks));
    }
    Ok((idx, tys))
}

pub(super) fn tuple_value(
    t: &Target<'_>,
    term: &Term,
    tys: &[CqlType],
    cols: &[ilion_cql::language::ast::Ident],
) -> Result<Vec<Value>> {
    match term {
        Term::Tuple(items) => {
            if items.len() != tys.len() {
                return Err(Error::invalid(format!(
                    "Expected {} elements in value tuple, but got {}",
                    tys.len(),
                    items.len()
                )));
            }
            items
                .iter()
                .zip(tys)
                .zip(cols)
                .map(|((x, ty), c)| term_value(x, ty, t.bound)?.ok_or_else(|| null_in(c.as_str())))
                .collect()
        }
        other => {
            let v = term_value(other, &CqlType::Tuple(tys.to_vec()), t.bound)?
                .ok_or_else(|| null_in("tuple"))?;
            tuple_components(v, tys.len())
        }
    }
}

pub(super) fn tuple_components(v: Value, n: usize) -> Result<Vec<Value>> {
    match v {
        Value::Tuple(items) if items.len() == n => items
            .into_iter()
            .map(|x| x.ok_or_else(|| null_in("tuple component")))
            .collect(),
        _ => Err(Error::invalid(format!("Expected a tuple of {n} elements"))),
    }
}
