//! Filtering: the restrictions storage cannot apply (ALLOW FILTERING, static and regular
//! columns, CONTAINS), checked on each decoded row.

use super::*;

/// The filters a plan collects, and whether they need ALLOW FILTERING: a filter that only
/// re-checks rows the slices of a partition read (a multi-column slice over mixed ASC/DESC
/// columns) does not.
#[derive(Debug, Default)]
pub(super) struct Filtering {
    pub(super) filters: Vec<Filter>,
    pub(super) needed: bool,
}

impl Filtering {
    /// A restriction that only filtering can apply.
    pub(super) fn require(&mut self, filter: Filter) {
        self.needed = true;
        self.filters.push(filter);
    }

    /// Refuses a query that needs filtering without ALLOW FILTERING, in Cassandra's words.
    pub(super) fn check(&self, allow_filtering: bool) -> Result<()> {
        if self.needed && !allow_filtering {
            return Err(Error::invalid(REQUIRES_ALLOW_FILTERING));
        }
        Ok(())
    }
}

/// A restriction checked on each decoded row.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Filter {
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
    /// The columns whose values the filter reads.
    pub(super) fn columns(&self) -> Vec<usize> {
        match self {
            Filter::Compare { col, .. } | Filter::In { col, .. } | Filter::Contains { col, .. } => {
                vec![*col]
            }
            Filter::Tuple { cols, .. } | Filter::TupleIn { cols, .. } => cols.clone(),
        }
    }

    pub(super) fn matches(&self, row: &Row) -> bool {
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
                let row = Value::Tuple(cols.iter().map(|c| get(c).cloned()).collect());
                let given = Value::Tuple(values.iter().cloned().map(Some).collect());
                holds(compare(&row, &given), op)
            }
            Filter::TupleIn { cols, values } => {
                let row = Value::Tuple(cols.iter().map(|c| get(c).cloned()).collect());
                values.iter().any(|vals| {
                    let given = Value::Tuple(vals.iter().cloned().map(Some).collect());
                    compare(&row, &given) == Some(Ordering::Equal)
                })
            }
        }
    }
}
