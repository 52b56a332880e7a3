//! SELECT on user tables: a statement planned into storage reads ([`Plan`]: the partitions,
//! by key or by token range, the clustering slices, the filters), the reads sent through the
//! [`DataPath`](super::DataPath) page by page, and the rows decoded, filtered, grouped and
//! projected by the [`Selection`].
//!
//! Paging: a client page ends after a result row; its paging state is the storage
//! [`PagingPosition`] of the last row consumed for it (plus the LIMIT still to serve), so
//! any connection or node resumes exactly there. Aggregates without GROUP BY read every page
//! internally and answer one row. Layout of the state (big-endian):
//! `version u8 (2) | flags u8 (bit 0: a LIMIT is left) | [limit_left u32] | PagingPosition`.

use std::cmp::Ordering;

use bytes::Bytes;
use ilion_cql::language::ast::{InValues, Operator, Order, Relation, RelationTarget, Select, Term};
use ilion_cql::protocol::{CqlType, QueryParameters, ResultBody, Rows, RowsMetadata, Value};
use ilion_storage::{
    Bound as SBound, CellData, PagingPosition, PartitionData, PartitionRange, ReadCommand,
    ReadWarning, RowData, Slice,
};

use super::{DataPath, Target, cells};
use crate::schema::types::SchemaType;
use crate::schema::{ClusteringOrder, Column, ColumnKind, Keyspace, Table};
use crate::select::{Aggregator, CellMeta, Row, Selection, compare, limit_value, opt_seq_cmp};
use crate::values::{Bound, encode, term_value};
use crate::{Error, Executed, Result};

/// Cassandra's answer to a query that needs ALLOW FILTERING.
pub(crate) const REQUIRES_ALLOW_FILTERING: &str = "Cannot execute this query as it might involve \
     data filtering and thus may have unpredictable performance. If you want to execute this \
     query despite the performance unpredictability, use ALLOW FILTERING";

const PAGING_STATE_VERSION: u8 = 2;
/// Rows asked of storage per internal read when filtering or grouping.
const SCAN_CHUNK: u32 = 1000;

/// SELECT over a user table; `selection` is `s`'s compiled selection (a JSON select compiles
/// its plain form's itself). The result carries the warnings of the reads (a read that
/// scanned more tombstones than the warning threshold).
pub(crate) fn select(
    data: &dyn DataPath,
    ks: &Keyspace,
    table: &Table,
    s: &Select,
    selection: &Selection,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Executed> {
    if s.json {
        let plain = Select {
            json: false,
            ..s.clone()
        };
        let all_metadata = QueryParameters {
            skip_metadata: false,
            ..params.clone()
        };
        let plain_selection = Selection::compile(&plain, table, ks)?;
        let body = select(
            data,
            ks,
            table,
            &plain,
            &plain_selection,
            bound,
            &all_metadata,
        )?;
        return Ok(Executed {
            result: crate::json::rows_as_json(body.result, params.skip_metadata)?,
            warnings: body.warnings,
        });
    }
    let t = Target { ks, table, bound };
    let plan = plan(&t, s, selection)?;
    let mut warnings = Vec::new();
    let result = execute(data, &t, &plan, selection, params, &mut warnings)?;
    Ok(Executed { result, warnings })
}

/// The warning a client gets for a read that scanned many tombstones (Cassandra's words).
fn read_warning(table: &Table, live_rows: usize, w: &ReadWarning) -> String {
    match w {
        ReadWarning::TombstoneThreshold { scanned, threshold } => format!(
            "Read {live_rows} live rows and {scanned} tombstone cells for query on {}.{} \
             (see tombstone_warn_threshold, {threshold})",
            table.keyspace, table.name
        ),
        other => format!("{other:?} reading {}.{}", table.keyspace, table.name),
    }
}

/// Which partitions a SELECT reads.
#[derive(Debug, Clone, PartialEq)]
enum Partitions {
    /// By key (= and IN on every partition key column), in token order.
    Keys(Vec<(i64, Vec<u8>)>),
    /// Every partition with a token in `(start, end]`.
    Range {
        start: Option<i64>,
        end: Option<i64>,
    },
    /// Nothing can match (an empty IN, an empty token range).
    None,
}

/// A restriction checked on each decoded row.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Compare {
        col: usize,
        op: Operator,
        value: Value,
    },
    In {
        col: usize,
        values: Vec<Value>,
    },
    Contains {
        col: usize,
        value: Value,
        key: bool,
    },
    /// `(c1, c2) op (v1, v2)` compared component-wise.
    Tuple {
        cols: Vec<usize>,
        op: Operator,
        values: Vec<Value>,
    },
    TupleIn {
        cols: Vec<usize>,
        values: Vec<Vec<Value>>,
    },
}

impl Filter {
    fn matches(&self, row: &Row) -> bool {
        let get = |i: &usize| row.values.get(*i).and_then(Option::as_ref);
        let holds = |o: Option<Ordering>, op: &Operator| {
            o.is_some_and(|o| match op {
                Operator::Eq => o == Ordering::Equal,
                Operator::Lt => o == Ordering::Less,
                Operator::Le => o != Ordering::Greater,
                Operator::Gt => o == Ordering::Greater,
                Operator::Ge => o != Ordering::Less,
                _ => false,
            })
        };
        match self {
            Filter::Compare { col, op, value } => {
                get(col).is_some_and(|v| holds(compare(v, value), op))
            }
            Filter::In { col, values } => get(col).is_some_and(|v| {
                values
                    .iter()
                    .any(|x| compare(v, x) == Some(Ordering::Equal))
            }),
            Filter::Contains { col, value, key } => {
                let eq = |x: &Value| compare(x, value) == Some(Ordering::Equal);
                match get(col) {
                    Some(Value::List(items) | Value::Set(items)) if !key => items.iter().any(eq),
                    Some(Value::Map(entries)) => entries
                        .iter()
                        .any(|(k, v)| if *key { eq(k) } else { eq(v) }),
                    _ => false,
                }
            }
            Filter::Tuple { cols, op, values } => {
                let row_vals = cols.iter().map(get);
                holds(opt_seq_cmp(row_vals, values.iter().map(Some)), op)
            }
            Filter::TupleIn { cols, values } => values.iter().any(|vals| {
                opt_seq_cmp(cols.iter().map(get), vals.iter().map(Some)) == Some(Ordering::Equal)
            }),
        }
    }
}

/// How result rows come from table rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One result row per table row.
    Plain,
    /// Every row folds into one result row.
    Aggregate,
    /// One result row per group of rows sharing the partition and the first `ck_len`
    /// clustering values (GROUP BY, and DISTINCT with `ck_len` 0).
    Grouped { ck_len: usize },
}

/// A planned SELECT.
#[derive(Debug, Clone)]
struct Plan {
    partitions: Partitions,
    /// The clustering slices of each partition, in read order.
    slices: Vec<Slice>,
    reversed: bool,
    filters: Vec<Filter>,
    /// Whether a partition with only static cells (no row in the slice) is a result row.
    static_rows: bool,
    mode: Mode,
    distinct: bool,
    per_partition_limit: Option<u32>,
    limit: Option<u32>,
    /// ORDER BY across several partitions (IN on the partition key): sorted in memory by
    /// these clustering columns (table indexes, descending?).
    sort: Option<Vec<(usize, bool)>>,
    /// Whether the partition key was restricted by IN (ORDER BY then cannot page).
    key_in: bool,
}

/// A bound on clustering values: the values and whether it is inclusive.
type TupleBound = Option<(Vec<Value>, bool)>;
/// Values of one result row (or of its sort key).
type ResultRow = Vec<Option<Value>>;

/// The restrictions of one clustering column.
#[derive(Debug, Default)]
struct ColumnRestriction {
    eq: Option<Vec<Value>>,
    lower: Option<(Value, bool)>,
    upper: Option<(Value, bool)>,
}

fn null_in(name: &str) -> Error {
    Error::invalid(format!("Invalid null value in condition for column {name}"))
}

fn plan(t: &Target<'_>, s: &Select, selection: &Selection) -> Result<Plan> {
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
fn set_eq(slot: Option<&mut Option<Vec<Value>>>, vals: Vec<Value>, name: &str) -> Result<()> {
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
fn key_columns(table: &Table, kind: ColumnKind) -> Vec<(usize, &Column)> {
    let mut cols: Vec<(usize, &Column)> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == kind)
        .collect();
    cols.sort_by_key(|(_, c)| c.position);
    cols
}

fn check_token_columns(t: &Target<'_>, cols: &[ilion_cql::language::ast::Ident]) -> Result<()> {
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
fn token_term(t: &Target<'_>, term: &Term) -> Result<i64> {
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

fn tuple_columns(
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

fn tuple_value(
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

fn tuple_components(v: Value, n: usize) -> Result<Vec<Value>> {
    match v {
        Value::Tuple(items) if items.len() == n => items
            .into_iter()
            .map(|x| x.ok_or_else(|| null_in("tuple component")))
            .collect(),
        _ => Err(Error::invalid(format!("Expected a tuple of {n} elements"))),
    }
}

/// How stored cells become typed values: the table's columns, their types and storage ids.
struct Decoder {
    types: Vec<CqlType>,
    /// The schema types (multi-cell collections and UDTs are assembled from their cells).
    schema_types: Vec<ilion_types::CqlType>,
    ids: Vec<Option<ilion_storage::ColumnId>>,
    kinds: Vec<ColumnKind>,
    pk: Vec<usize>,
    ck: Vec<usize>,
    now: i64,
}

impl Decoder {
    fn new(t: &Target<'_>, schema: &ilion_storage::TableSchema) -> Decoder {
        let table = t.table;
        Decoder {
            types: table
                .columns
                .iter()
                .map(|c| c.ty.column_type(t.ks))
                .collect(),
            schema_types: table.columns.iter().map(|c| c.ty.clone()).collect(),
            ids: table
                .columns
                .iter()
                .map(|c| schema.column_id(&c.name))
                .collect(),
            kinds: table.columns.iter().map(|c| c.kind).collect(),
            pk: key_columns(table, ColumnKind::PartitionKey)
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            ck: key_columns(table, ColumnKind::Clustering)
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            now: super::now_seconds(),
        }
    }

    fn decode(&self, i: usize, bytes: &[u8]) -> Result<Value> {
        let ty = self
            .types
            .get(i)
            .ok_or_else(|| Error::server("column index out of range"))?;
        ty.decode(&Bytes::copy_from_slice(bytes))
            .map_err(|e| Error::server(format!("stored value does not decode as {ty}: {e}")))
    }

    /// The value and write metadata of non-key column `i` from a row's (or the partition's
    /// static) cells.
    fn cell(&self, i: usize, cells: &[CellData]) -> Result<(Option<Value>, Option<CellMeta>)> {
        let Some(id) = self.ids.get(i).copied().flatten() else {
            return Ok((None, None));
        };
        let (Some(ty), Some(schema_ty)) = (self.types.get(i), self.schema_types.get(i)) else {
            return Ok((None, None));
        };
        let value = cells::column_value(ty, schema_ty, cells.iter().filter(|cd| cd.column == id))?;
        // Write metadata exists for simple cells only (Cassandra refuses writetime/ttl of a
        // multi-cell column).
        let Some(cd) = cells.iter().find(|cd| cd.column == id && cd.path.is_none()) else {
            return Ok((value, None));
        };
        let meta = CellMeta {
            timestamp: cd.timestamp,
            ttl: cd
                .ttl
                .map(|t| i32::try_from((t.local_expiry - self.now).max(0)).unwrap_or(i32::MAX)),
        };
        Ok((value, Some(meta)))
    }

    /// The partition's part of every row: key columns and static cells.
    fn partition_base(&self, p: &PartitionData) -> Result<Row> {
        let n = self.types.len();
        let mut row = Row {
            values: vec![None; n],
            cells: vec![None; n],
            token: p.token,
        };
        let parts = split_partition_key(&p.key, self.pk.len())?;
        for (i, part) in self.pk.iter().zip(parts) {
            if let Some(slot) = row.values.get_mut(*i) {
                *slot = Some(self.decode(*i, part)?);
            }
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if *kind == ColumnKind::Static {
                let (v, m) = self.cell(i, &p.static_cells)?;
                if let (Some(vs), Some(ms)) = (row.values.get_mut(i), row.cells.get_mut(i)) {
                    *vs = v;
                    *ms = m;
                }
            }
        }
        Ok(row)
    }

    /// One row: the partition's base with the row's clustering and regular cells.
    fn row(&self, base: &Row, r: &RowData) -> Result<Row> {
        let mut row = base.clone();
        for (i, b) in self.ck.iter().zip(&r.clustering) {
            if let Some(slot) = row.values.get_mut(*i) {
                *slot = Some(self.decode(*i, b)?);
            }
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if *kind == ColumnKind::Regular {
                let (v, m) = self.cell(i, &r.cells)?;
                if let (Some(vs), Some(ms)) = (row.values.get_mut(i), row.cells.get_mut(i)) {
                    *vs = v;
                    *ms = m;
                }
            }
        }
        Ok(row)
    }
}

/// The components of a serialized partition key (see `ilion_ring::serialize_partition_key`).
fn split_partition_key(key: &[u8], n: usize) -> Result<Vec<&[u8]>> {
    if n <= 1 {
        return Ok(vec![key]);
    }
    let bad = || Error::server("stored partition key is not a valid composite");
    let mut out = Vec::with_capacity(n);
    let mut rest = key;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes(*len));
        let part = tail.get(..len).ok_or_else(bad)?;
        out.push(part);
        rest = tail.get(len + 1..).ok_or_else(bad)?;
    }
    if out.len() != n {
        return Err(bad());
    }
    Ok(out)
}

/// Why the executor stopped before the input ended.
#[derive(Debug)]
enum Stop {
    /// The LIMIT is served: the result is complete.
    Limit,
    /// The page is full: resume after this position.
    Page(PagingPosition),
}

/// A group being folded (GROUP BY, DISTINCT).
struct Group<'a> {
    key: (i64, Vec<u8>, Vec<Vec<u8>>),
    agg: Aggregator<'a>,
    last: PagingPosition,
}

/// Turns decoded rows, in storage order, into result rows, counting pages and limits.
struct Exec<'a> {
    sel: &'a Selection,
    mode: Mode,
    per_partition: u32,
    page: usize,
    limit_left: u32,
    out: Vec<Vec<Option<Value>>>,
    sort_keys: Vec<Vec<Option<Value>>>,
    sort_cols: Vec<usize>,
    /// The partition of the last row taken, and the result rows (or groups) taken from it.
    part: Option<(i64, Vec<u8>)>,
    part_count: u32,
    group: Option<Group<'a>>,
    all: Aggregator<'a>,
    stop: Option<Stop>,
}

impl<'a> Exec<'a> {
    fn position(&self, pos: &PagingPosition) -> PagingPosition {
        let done = self.part_count >= self.per_partition
            || matches!(self.mode, Mode::Grouped { ck_len: 0 });
        PagingPosition {
            clustering: if done { None } else { pos.clustering.clone() },
            rows_in_partition: self.part_count,
            ..pos.clone()
        }
    }

    /// Tracks the partition of the next row; whether that partition may give more results.
    fn enter(&mut self, pos: &PagingPosition) -> bool {
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

    fn emit(&mut self, values: Vec<Option<Value>>, pos: &PagingPosition, last: bool) {
        self.out.push(values);
        self.part_count += 1;
        self.limit_left = self.limit_left.saturating_sub(1);
        if self.limit_left == 0 {
            self.stop = Some(Stop::Limit);
        } else if self.out.len() >= self.page && !last {
            self.stop = Some(Stop::Page(self.position(pos)));
        }
    }

    fn push(&mut self, row: Row, pos: PagingPosition) -> Result<()> {
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
                let values = self.sel.project(&row)?;
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

    fn close_group(&mut self, last: bool) -> Result<()> {
        if let Some(g) = self.group.take() {
            let values = g.agg.finish()?;
            self.emit(values, &g.last, last);
        }
        Ok(())
    }

    /// The end of the input.
    fn finish(&mut self) -> Result<()> {
        match self.mode {
            Mode::Plain => {}
            Mode::Aggregate => {
                let all = std::mem::replace(&mut self.all, Aggregator::new(self.sel));
                self.out.push(all.finish()?);
            }
            Mode::Grouped { .. } => self.close_group(true)?,
        }
        Ok(())
    }

    /// Rows to ask of storage next.
    fn chunk(&self, exact: bool) -> u32 {
        if exact {
            let page_left =
                u32::try_from(self.page.saturating_sub(self.out.len())).unwrap_or(u32::MAX);
            page_left.min(self.limit_left).clamp(1, 5000)
        } else {
            SCAN_CHUNK
        }
    }
}

fn execute(
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
    let decoder = Decoder::new(t, &schema);
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
        let mut keyed: Vec<(ResultRow, ResultRow)> = exec.sort_keys.drain(..).zip(out).collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for ((x, y), (_, desc)) in a.iter().zip(b).zip(sort) {
                let o = opt_seq_cmp(std::iter::once(x.as_ref()), std::iter::once(y.as_ref()))
                    .unwrap_or(Ordering::Equal);
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

fn rows_result(
    sel: &Selection,
    out: Vec<Vec<Option<Value>>>,
    next_page: Option<Bytes>,
    skip_metadata: bool,
) -> Result<ResultBody> {
    let mut cells = Vec::with_capacity(out.len() * sel.specs().len());
    for r in &out {
        cells.extend(sel.encode_row(r)?);
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

fn encode_paging_state(pos: &PagingPosition, limit_left: Option<u32>) -> Bytes {
    let mut out = vec![PAGING_STATE_VERSION, u8::from(limit_left.is_some())];
    if let Some(l) = limit_left {
        out.extend_from_slice(&l.to_be_bytes());
    }
    out.extend_from_slice(&pos.encode());
    Bytes::from(out)
}

fn decode_paging_state(state: &[u8]) -> Result<(PagingPosition, Option<u32>)> {
    let bad = |why: &str| Error::invalid(format!("Invalid paging state: {why}"));
    let (&version, rest) = state.split_first().ok_or_else(|| bad("empty"))?;
    if version != PAGING_STATE_VERSION {
        return Err(bad("unknown version"));
    }
    let (&flags, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    let (limit_left, rest) = match flags {
        0 => (None, rest),
        1 => {
            let (l, rest) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("truncated"))?;
            (Some(u32::from_be_bytes(*l)), rest)
        }
        _ => return Err(bad("unknown flags")),
    };
    let pos = PagingPosition::decode(rest).map_err(|e| bad(&e.to_string()))?;
    Ok((pos, limit_left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_states_round_trip_and_garbage_is_invalid_not_a_panic() {
        let pos = PagingPosition {
            token: -5,
            partition_key: b"key".to_vec(),
            clustering: Some(vec![vec![1, 2], vec![]]),
            rows_in_partition: 3,
        };
        for left in [None, Some(7)] {
            let bytes = encode_paging_state(&pos, left);
            assert_eq!(decode_paging_state(&bytes).unwrap(), (pos.clone(), left));
            for cut in 0..bytes.len() {
                assert!(matches!(
                    decode_paging_state(&bytes[..cut]),
                    Err(Error::Invalid { .. })
                ));
            }
        }
        assert!(matches!(
            decode_paging_state(&[1, 0, 0, 0, 0, 0, 0, 0, 9]),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn composite_partition_keys_split_into_their_components() {
        let key = ilion_ring::serialize_partition_key(&[b"ab", b"", b"c"]).unwrap();
        assert_eq!(
            split_partition_key(&key, 3).unwrap(),
            vec![&b"ab"[..], &b""[..], &b"c"[..]]
        );
        assert!(split_partition_key(&key[..4], 3).is_err());
        assert_eq!(split_partition_key(b"raw", 1).unwrap(), vec![&b"raw"[..]]);
    }
}
