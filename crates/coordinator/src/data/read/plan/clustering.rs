//! Clustering: the restrictions on clustering columns (an equality or IN prefix, then at most
//! one range, or multi-column relations) turned into the slices each partition reads, in
//! clustering order.

use super::*;

/// The restrictions of one clustering column.
#[derive(Debug, Default)]
pub(super) struct ColumnRestriction {
    pub(super) eq: Option<Vec<Value>>,
    pub(super) lower: Option<(Value, bool)>,
    pub(super) upper: Option<(Value, bool)>,
}

impl ColumnRestriction {
    /// Records the slice bound `column op v` (`<`, `<=`, `>` or `>=`); a second bound on the
    /// same side is refused.
    pub(super) fn restrict_bound(&mut self, op: &Operator, v: Value, name: &str) -> Result<()> {
        let lower = matches!(op, Operator::Gt | Operator::Ge);
        let slot = if lower {
            &mut self.lower
        } else {
            &mut self.upper
        };
        if slot.is_some() {
            return Err(Error::invalid(format!(
                "More than one restriction was found for the {} bound on {}",
                if lower { "start" } else { "end" },
                name
            )));
        }
        *slot = Some((v, matches!(op, Operator::Ge | Operator::Le)));
        Ok(())
    }

    fn ranged(&self) -> bool {
        self.lower.is_some() || self.upper.is_some()
    }

    /// The restriction as filters on column `col`.
    fn filters(&self, col: usize) -> Vec<Filter> {
        let mut out = Vec::new();
        if let Some(vals) = &self.eq {
            out.push(Filter::In {
                col,
                values: vals.clone(),
            });
        }
        for (b, op) in [(&self.lower, true), (&self.upper, false)] {
            if let Some((v, incl)) = b {
                out.push(Filter::Compare {
                    col,
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
        out
    }
}

/// A multi-column relation on clustering columns (their indexes in `table.columns`):
/// `(c1, c2) op (v1, v2)` with one tuple of values, or `(c1, c2) IN (...)` as `=` with several.
#[derive(Debug)]
pub(super) struct TupleRestriction {
    cols: Vec<usize>,
    op: Operator,
    values: Vec<Vec<Value>>,
}

impl TupleRestriction {
    /// `(c1, c2) op term`, the relation `r`.
    pub(super) fn compare(
        b: &Binder<'_>,
        r: &Relation,
        cols: &[ilion_cql::language::ast::Ident],
        op: &Operator,
        term: &Term,
    ) -> Result<Self> {
        let (idx, tys) = tuple_columns(b.target, cols)?;
        let vals = b.tuple(term, &tys, cols)?;
        match op {
            Operator::Eq | Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => {
                Ok(TupleRestriction {
                    cols: idx,
                    op: *op,
                    values: vec![vals],
                })
            }
            _ => Err(Error::invalid(format!(
                "Unsupported operator in a multi-column relation: {r}"
            ))),
        }
    }

    /// `(c1, c2) IN (...)`: a list of tuples or one bound list of tuples.
    pub(super) fn in_values(
        b: &Binder<'_>,
        cols: &[ilion_cql::language::ast::Ident],
        values: &InValues,
    ) -> Result<Self> {
        let (idx, tys) = tuple_columns(b.target, cols)?;
        let lists = match values {
            InValues::List(terms) => terms
                .iter()
                .map(|x| b.tuple(x, &tys, cols))
                .collect::<Result<Vec<_>>>()?,
            InValues::Marker(m) => {
                let list = CqlType::list(CqlType::Tuple(tys.clone()));
                match b.value(&Term::Bind(m.clone()), &list, "tuple")? {
                    Value::List(items) => items
                        .into_iter()
                        .map(|v| tuple_components(v, tys.len()))
                        .collect::<Result<_>>()?,
                    _ => return Err(Error::invalid("Invalid IN value for a tuple")),
                }
            }
        };
        Ok(TupleRestriction {
            cols: idx,
            op: Operator::Eq,
            values: lists,
        })
    }
}

/// The indexes and types of the columns of a multi-column relation; they must be clustering
/// columns.
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

/// What each partition reads of its rows: the clustering prefixes (in clustering order,
/// without repeats), each followed by the same range, and the restrictions as filters for
/// what the slices cannot express.
#[derive(Debug)]
pub(super) struct Clustering {
    /// One empty prefix when no prefix is restricted.
    prefixes: Vec<Vec<Value>>,
    /// The lower and upper bounds after each prefix.
    range: (TupleBound, TupleBound),
    /// Whether the range is on a descending column: its bounds then swap.
    range_desc: bool,
    /// Every clustering restriction as a filter.
    filters: Vec<Filter>,
    /// Multi-column slices over mixed ASC/DESC columns: the slices read more, these filter.
    tuple_filters: Vec<Filter>,
    /// Whether a restriction follows a gap or a range, where the slices cannot express it.
    leftover: bool,
    /// Whether any clustering column is restricted.
    pub(super) restricted: bool,
}

impl Clustering {
    /// The reads `ck` (by column index) or `tuples` ask for; the two cannot mix.
    pub(super) fn of(
        table: &Table,
        ck: &[ColumnRestriction],
        tuples: &[TupleRestriction],
    ) -> Result<Self> {
        let single = ck
            .iter()
            .any(|c| c.eq.is_some() || c.lower.is_some() || c.upper.is_some());
        if single && !tuples.is_empty() {
            return Err(Error::invalid(
                "Mixing single column relations and multi column relations on clustering \
                 columns is not allowed",
            ));
        }
        let ck_cols = key_columns(table, ColumnKind::Clustering);
        let mut out = Clustering {
            prefixes: vec![Vec::new()],
            range: (None, None),
            range_desc: false,
            filters: Vec::new(),
            tuple_filters: Vec::new(),
            leftover: false,
            restricted: single || !tuples.is_empty(),
        };
        if tuples.is_empty() {
            out.single_columns(table, &ck_cols, ck);
        } else {
            for tuple in tuples {
                out.multi_column(table, &ck_cols, tuple)?;
            }
        }
        out.sort_prefixes(table, &ck_cols);
        Ok(out)
    }

    /// Single-column restrictions: `=` and `IN` extend the prefixes up to the first column
    /// that is not restricted by them, whose range (if any) ends the slices.
    fn single_columns(
        &mut self,
        table: &Table,
        ck_cols: &[(usize, &Column)],
        ck: &[ColumnRestriction],
    ) {
        let mut stopped = false;
        for (i, _) in ck_cols {
            let Some(cr) = ck.get(*i) else { continue };
            let ranged = cr.ranged();
            self.filters.extend(cr.filters(*i));
            if stopped {
                self.leftover |= cr.eq.is_some() || ranged;
                continue;
            }
            if let Some(vals) = &cr.eq {
                self.leftover |= ranged;
                self.prefixes = self
                    .prefixes
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
                    self.range = (
                        cr.lower.clone().map(|(v, b)| (vec![v], b)),
                        cr.upper.clone().map(|(v, b)| (vec![v], b)),
                    );
                    self.range_desc = desc(table, *i);
                }
                stopped = true;
            }
        }
    }

    /// A multi-column relation: its columns must start the clustering key; `=` and `IN` set
    /// the prefixes, a slice one bound of the range.
    fn multi_column(
        &mut self,
        table: &Table,
        ck_cols: &[(usize, &Column)],
        tuple: &TupleRestriction,
    ) -> Result<()> {
        let TupleRestriction {
            cols: idx,
            op,
            values: lists,
        } = tuple;
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
        if *op != Operator::Eq {
            let vals = lists.first().cloned().unwrap_or_default();
            return self.tuple_slice(table, idx, *op, vals);
        }
        self.filters.push(Filter::TupleIn {
            cols: idx.clone(),
            values: lists.clone(),
        });
        if self.prefixes.iter().any(|p| !p.is_empty()) || self.range != (None, None) {
            return Err(Error::invalid(
                "More than one multi-column restriction on the clustering columns",
            ));
        }
        self.prefixes = lists.clone();
        Ok(())
    }

    /// `(c1, c2) op (v1, v2)` with a slice operator: one bound of the range.
    fn tuple_slice(
        &mut self,
        table: &Table,
        idx: &[usize],
        op: Operator,
        vals: Vec<Value>,
    ) -> Result<()> {
        self.filters.push(Filter::Tuple {
            cols: idx.to_vec(),
            op,
            values: vals.clone(),
        });
        // Tuples compare value by value. With mixed ASC/DESC columns that is no
        // single slice: read the slice of the first column, then filter.
        let first = idx.first().copied().unwrap_or_default();
        let mixed = idx.iter().any(|i| desc(table, *i) != desc(table, first));
        self.range_desc = desc(table, first);
        let (vals, inclusive) = if mixed {
            self.tuple_filters.push(Filter::Tuple {
                cols: idx.to_vec(),
                op,
                values: vals.clone(),
            });
            (vals.into_iter().take(1).collect(), true)
        } else {
            (vals, matches!(op, Operator::Ge | Operator::Le))
        };
        let lower = matches!(op, Operator::Gt | Operator::Ge);
        let has_prefix = self.prefixes.iter().any(|p| !p.is_empty());
        let slot = if lower {
            &mut self.range.0
        } else {
            &mut self.range.1
        };
        if slot.is_some() || has_prefix {
            return Err(Error::invalid(format!(
                "More than one restriction was found for the {} bound",
                if lower { "start" } else { "end" }
            )));
        }
        *slot = Some((vals, inclusive));
        Ok(())
    }

    /// Puts the prefixes in clustering order, without repeats.
    fn sort_prefixes(&mut self, table: &Table, ck_cols: &[(usize, &Column)]) {
        let ck_desc: Vec<bool> = ck_cols.iter().map(|(i, _)| desc(table, *i)).collect();
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
        self.prefixes.sort_by(order_prefix);
        self.prefixes
            .dedup_by(|a, b| order_prefix(a, b) == Ordering::Equal);
    }

    /// The slices each partition reads, in clustering order; the filters go to `filtering`.
    /// A range scan restricted on clustering columns filters; so do restrictions the slices
    /// cannot express (after a gap or a range), and several slices in a scan.
    pub(super) fn read(
        self,
        b: &Binder<'_>,
        by_key: bool,
        filtering: &mut Filtering,
    ) -> Result<Vec<Slice>> {
        let mut slices = self.slices(b)?;
        if self.leftover {
            filtering.needed = true;
        }
        filtering.filters.extend(self.tuple_filters);
        if !by_key && self.restricted {
            filtering.needed = true;
        }
        let many_scan_slices = !by_key && slices.len() > 1;
        if many_scan_slices {
            slices = vec![Slice::all()];
        }
        if self.leftover || many_scan_slices {
            filtering.filters.extend(self.filters);
        }
        Ok(slices)
    }

    /// One slice per prefix: the prefix followed by the range, or the whole prefix.
    fn slices(&self, b: &Binder<'_>) -> Result<Vec<Slice>> {
        let ck_types: Vec<CqlType> = key_columns(b.table(), ColumnKind::Clustering)
            .iter()
            .map(|(_, c)| b.ty(c))
            .collect();
        let to_bytes = |vals: &[Value]| -> Result<Vec<Vec<u8>>> {
            vals.iter()
                .zip(&ck_types)
                .map(|(v, ty)| Ok(encode(ty, v)?.to_vec()))
                .collect()
        };
        let mut slices = Vec::new();
        for p in &self.prefixes {
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
            let (lower, upper) = (side(&self.range.0)?, side(&self.range.1)?);
            let (start, end) = if self.range_desc {
                (upper, lower)
            } else {
                (lower, upper)
            };
            slices.push(Slice { start, end });
        }
        Ok(slices)
    }
}

/// Whether column `i` of `table` is in descending clustering order.
fn desc(table: &Table, i: usize) -> bool {
    table
        .columns
        .get(i)
        .is_some_and(|c| c.order == ClusteringOrder::Desc)
}
