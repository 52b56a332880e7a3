//! The read planner: a SELECT's restrictions (partition key, token, clustering slices and
//! tuples, IN, filters) turned into the [`Plan`] of storage reads.
//!
//! One file per part, in the order [`plan`] runs them: `binder` (names and terms resolved
//! against the table and the bound values), `restrictions` (the WHERE clause sorted by what
//! each relation restricts), `partition` (key `=`/`IN` and `token()` into partitions),
//! `clustering` (prefixes, ranges and multi-column relations into slices) and `modifiers`
//! (DISTINCT, GROUP BY, ORDER BY, limits). What storage cannot restrict becomes a
//! [`Filter`]; whether that needs ALLOW FILTERING is [`Filtering`]'s to say.

use super::*;

mod binder;
mod clustering;
mod modifiers;
mod partition;
mod restrictions;

use binder::{Binder, null_in, tuple_components};
use clustering::{Clustering, ColumnRestriction, TupleRestriction};
use partition::TokenRange;
use restrictions::Restrictions;

pub(super) fn plan(t: &Target<'_>, s: &Select, selection: &Selection) -> Result<Plan> {
    let b = Binder::new(t);
    let mut r = Restrictions::of(&b, &s.where_clause)?;
    let partitions = partition::partitions(&b, &r.pk, &r.token, &mut r.filtering)?;
    let by_key = matches!(partitions, Partitions::Keys(_));
    let clustering = Clustering::of(t.table, &r.ck, &r.tuples)?;
    let ck_restricted = clustering.restricted;
    let mut slices = clustering.read(&b, by_key, &mut r.filtering)?;
    r.filtering.check(s.allow_filtering)?;

    let beyond_key = ck_restricted || r.restricts_non_key;
    let mode = modifiers::mode(t.table, s, selection, beyond_key)?;
    let order = modifiers::order(&b, s, &partitions, mode)?;
    if order.reversed {
        slices.reverse();
    }
    let (per_partition_limit, limit) = modifiers::limits(s, t.bound)?;
    Ok(Plan {
        partitions,
        slices,
        reversed: order.reversed,
        filters: r.filtering.filters,
        static_rows: !ck_restricted,
        mode,
        distinct: s.distinct,
        per_partition_limit,
        limit,
        sort: order.sort,
        key_in: r.key_in,
    })
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
