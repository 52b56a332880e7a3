//! The WHERE clause of a SELECT sorted by what each relation restricts: the partition key,
//! the token, clustering columns one by one or as tuples, and the filters on other columns.

use super::*;

/// A SELECT's relations, by what they restrict.
#[derive(Debug)]
pub(super) struct Restrictions {
    /// `=` and `IN` on partition key columns, by index in `table.columns`.
    pub(super) pk: Vec<Option<Vec<Value>>>,
    /// Whether the partition key was restricted by IN.
    pub(super) key_in: bool,
    pub(super) token: TokenRange,
    /// Single-column restrictions on clustering columns, by index in `table.columns`.
    pub(super) ck: Vec<ColumnRestriction>,
    /// Multi-column relations on clustering columns.
    pub(super) tuples: Vec<TupleRestriction>,
    pub(super) filtering: Filtering,
    /// Whether a column outside the partition key is restricted (DISTINCT refuses that).
    pub(super) restricts_non_key: bool,
}

impl Restrictions {
    /// Sorts `where_clause`, refusing the relations Ilion cannot answer.
    pub(super) fn of(b: &Binder<'_>, where_clause: &[Relation]) -> Result<Self> {
        let columns = b.table().columns.len();
        let mut out = Restrictions {
            pk: vec![None; columns],
            key_in: false,
            token: TokenRange::default(),
            ck: (0..columns).map(|_| ColumnRestriction::default()).collect(),
            tuples: Vec::new(),
            filtering: Filtering::default(),
            restricts_non_key: false,
        };
        for r in where_clause {
            match r {
                Relation::Compare {
                    target: RelationTarget::Column(c),
                    op,
                    value: term,
                } => out.compare(b, r, c.as_str(), op, term)?,
                Relation::In {
                    target: RelationTarget::Column(c),
                    values,
                } => out.in_values(b, c.as_str(), values)?,
                Relation::Compare {
                    target: RelationTarget::Token(cols),
                    op,
                    value: term,
                } => out.token.restrict(b.target, r, cols, op, term)?,
                Relation::Compare {
                    target: RelationTarget::Tuple(cols),
                    op,
                    value: term,
                } => out
                    .tuples
                    .push(TupleRestriction::compare(b, r, cols, op, term)?),
                Relation::In {
                    target: RelationTarget::Tuple(cols),
                    values,
                } => out
                    .tuples
                    .push(TupleRestriction::in_values(b, cols, values)?),
                other => {
                    return Err(Error::not_supported(&format!(
                        "The restriction {other} (map entries, UDT fields and IS NOT NULL)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// `column op term`: `=` on a key column and slices of a clustering column restrict what is
    /// read; CONTAINS and relations on other columns filter.
    fn compare(
        &mut self,
        b: &Binder<'_>,
        r: &Relation,
        name: &str,
        op: &Operator,
        term: &Term,
    ) -> Result<()> {
        let (i, col) = b.column(name)?;
        let ty = b.ty(col);
        match op {
            Operator::Contains | Operator::ContainsKey => {
                return self.contains(b, (i, col), &ty, *op == Operator::ContainsKey, term);
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
        let v = b.value(term, &ty, &col.name)?;
        match (col.kind, op) {
            (ColumnKind::PartitionKey, Operator::Eq) => {
                set_eq(self.pk.get_mut(i), vec![v], &col.name)?;
            }
            (ColumnKind::Clustering, Operator::Eq) => {
                set_eq(self.ck.get_mut(i).map(|c| &mut c.eq), vec![v], &col.name)?;
            }
            (ColumnKind::Clustering, _) => {
                if let Some(cr) = self.ck.get_mut(i) {
                    cr.restrict_bound(op, v, &col.name)?;
                }
            }
            (kind, _) => {
                self.restricts_non_key |= kind != ColumnKind::PartitionKey;
                self.filtering.require(Filter::Compare {
                    col: i,
                    op: *op,
                    value: v,
                });
            }
        }
        Ok(())
    }

    /// `column CONTAINS term` (`key`: CONTAINS KEY), a filter on a collection column.
    fn contains(
        &mut self,
        b: &Binder<'_>,
        (i, col): (usize, &Column),
        ty: &CqlType,
        key: bool,
        term: &Term,
    ) -> Result<()> {
        let elem = match (ty, key) {
            (CqlType::List { element: e, .. } | CqlType::Set { element: e, .. }, false) => {
                (**e).clone()
            }
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
        self.filtering.require(Filter::Contains {
            col: i,
            value: b.value(term, &elem, &col.name)?,
            key,
        });
        self.restricts_non_key |= !matches!(col.kind, ColumnKind::PartitionKey);
        Ok(())
    }

    /// `column IN (...)`: on a key column what is read, on another column a filter.
    fn in_values(&mut self, b: &Binder<'_>, name: &str, values: &InValues) -> Result<()> {
        let (i, col) = b.column(name)?;
        let vals = b.in_values(values, &b.ty(col), &col.name)?;
        match col.kind {
            ColumnKind::PartitionKey => {
                self.key_in = true;
                set_eq(self.pk.get_mut(i), vals, &col.name)?;
            }
            ColumnKind::Clustering => {
                set_eq(self.ck.get_mut(i).map(|c| &mut c.eq), vals, &col.name)?;
            }
            _ => {
                self.restricts_non_key = true;
                self.filtering.require(Filter::In {
                    col: i,
                    values: vals,
                });
            }
        }
        Ok(())
    }
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
