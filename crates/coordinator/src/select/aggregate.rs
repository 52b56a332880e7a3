//! Aggregates (`count`, `min`, `max`, `sum`, `avg`): the rows of one group folded into the
//! aggregate selection's one result row.

use super::*;
use crate::functions::Decimal;

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AggKind {
    CountStar,
    Count,
    Min,
    Max,
    Sum,
    Avg,
}

/// Folds the rows of one group into the aggregate selection's one result row. Non-aggregate
/// selectors take their value from the group's first row (as Cassandra does).
#[derive(Debug)]
pub(crate) struct Aggregator<'a> {
    sel: &'a Selection,
    first: Option<Vec<Option<Value>>>,
    accs: Vec<Acc>,
}

#[derive(Debug, Clone)]
pub(super) enum Acc {
    None,
    Count(i64),
    Extreme(Option<Value>),
    Sum {
        int: i128,
        float: f64,
        decimal: Decimal,
        n: i64,
    },
}

impl<'a> Aggregator<'a> {
    pub(crate) fn new(sel: &'a Selection) -> Aggregator<'a> {
        let accs = sel
            .exprs
            .iter()
            .map(|e| match e {
                Expr::Agg {
                    f: AggKind::Count | AggKind::CountStar,
                    ..
                } => Acc::Count(0),
                Expr::Agg {
                    f: AggKind::Min | AggKind::Max,
                    ..
                } => Acc::Extreme(None),
                Expr::Agg { .. } => Acc::Sum {
                    int: 0,
                    float: 0.0,
                    decimal: Decimal::of_int(0),
                    n: 0,
                },
                _ => Acc::None,
            })
            .collect();
        Aggregator {
            sel,
            first: None,
            accs,
        }
    }

    pub(crate) fn add(&mut self, row: &Row) -> Result<()> {
        if self.first.is_none() {
            let mut first = Vec::with_capacity(self.sel.exprs.len());
            for e in &self.sel.exprs {
                first.push(match e {
                    Expr::Agg { .. } => None,
                    e => eval(e, row)?,
                });
            }
            self.first = Some(first);
        }
        for (e, acc) in self.sel.exprs.iter().zip(self.accs.iter_mut()) {
            let Expr::Agg { f, arg } = e else { continue };
            let v = match arg {
                Some(a) => eval(&a.0, row)?,
                None => None,
            };
            match (f, acc) {
                (AggKind::CountStar, Acc::Count(n)) => *n += 1,
                (AggKind::Count, Acc::Count(n)) => *n += i64::from(v.is_some()),
                (AggKind::Min | AggKind::Max, Acc::Extreme(cur)) => {
                    if let Some(v) = v {
                        let replace = match cur {
                            None => true,
                            Some(c) => {
                                let o = compare_untyped(&v, c).ok_or_else(|| uncomparable(&v))?;
                                (*f == AggKind::Min) == (o == Ordering::Less)
                                    && o != Ordering::Equal
                            }
                        };
                        if replace {
                            *cur = Some(v);
                        }
                    }
                }
                (
                    AggKind::Sum | AggKind::Avg,
                    Acc::Sum {
                        int,
                        float,
                        decimal,
                        n,
                    },
                ) => {
                    if let Some(v) = v {
                        *n += 1;
                        match number(&v) {
                            Some(Number::Int(i)) => *int = int.wrapping_add(i),
                            Some(Number::Float(x)) => *float += x,
                            Some(Number::Decimal(d)) => {
                                *decimal = decimal.add(d).ok_or_else(|| {
                                    Error::invalid("The sum of the decimals overflows")
                                })?;
                            }
                            None => return Err(Error::invalid(format!("{v:?} is not a number"))),
                        }
                    }
                }
                _ => return Err(Error::server("aggregate state does not match its function")),
            }
        }
        Ok(())
    }

    /// The group's result row.
    pub(crate) fn finish(self) -> Result<Vec<Option<Value>>> {
        let first = self.first;
        let mut out = Vec::with_capacity(self.sel.exprs.len());
        for (i, (acc, spec)) in self.accs.into_iter().zip(&self.sel.specs).enumerate() {
            out.push(match acc {
                Acc::None => first.as_ref().and_then(|f| f.get(i).cloned().flatten()),
                Acc::Count(n) => Some(Value::Bigint(n)),
                Acc::Extreme(v) => v,
                Acc::Sum {
                    int,
                    float,
                    decimal,
                    n,
                } => {
                    let avg = matches!(
                        self.sel.exprs.get(i),
                        Some(Expr::Agg {
                            f: AggKind::Avg,
                            ..
                        })
                    );
                    Some(if spec.ty == CqlType::Decimal {
                        // BigDecimal: the average keeps the sum's scale, rounded half-even.
                        match (avg, n) {
                            (false, _) => decimal.to_value(),
                            (true, 0) => Decimal::of_int(0).to_value(),
                            (true, n) => decimal
                                .div_at_scale(i128::from(n))
                                .ok_or_else(|| Error::invalid("The average overflows"))?
                                .to_value(),
                        }
                    } else {
                        sum_value(&spec.ty, int, float, n, avg)?
                    })
                }
            });
        }
        Ok(out)
    }
}

/// The sum (or average) of `n` values of type `ty`: integers wrap as Cassandra's Java
/// arithmetic does, the average of integers is an integer, and both are 0 over no rows.
pub(super) fn sum_value(ty: &CqlType, int: i128, float: f64, n: i64, avg: bool) -> Result<Value> {
    let count = i128::from(n.max(1));
    let i = if avg { int / count } else { int };
    let x = if avg && n > 0 {
        float / n as f64
    } else {
        float
    };
    match ty {
        CqlType::Float | CqlType::Double => number_value(ty, Number::Float(x)),
        _ => number_value(ty, Number::Int(i)),
    }
}
