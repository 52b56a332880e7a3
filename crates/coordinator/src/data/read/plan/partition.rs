//! Partitions: `=` and `IN` on the partition key, and `token()` relations, turned into the
//! partitions a SELECT reads, by key or by token range.

use super::*;

/// The token relations of a SELECT: every token in `(lo, hi]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenRange {
    /// Exclusive; `i64::MIN` is unbounded.
    lo: i64,
    /// Inclusive; `i64::MAX` is unbounded.
    hi: i64,
    /// Whether any token relation was given.
    restricted: bool,
}

impl Default for TokenRange {
    fn default() -> Self {
        TokenRange {
            lo: i64::MIN,
            hi: i64::MAX,
            restricted: false,
        }
    }
}

impl TokenRange {
    /// Narrows the range by `token(cols) op term` (the relation `r`).
    pub(super) fn restrict(
        &mut self,
        t: &Target<'_>,
        r: &Relation,
        cols: &[ilion_cql::language::ast::Ident],
        op: &Operator,
        term: &Term,
    ) -> Result<()> {
        check_token_columns(t, cols)?;
        self.restricted = true;
        let tok = token_term(t, term)?;
        let lo = |x: i64, lo: &mut i64| *lo = (*lo).max(x);
        let hi = |x: i64, hi: &mut i64| *hi = (*hi).min(x);
        match op {
            Operator::Gt => lo(tok, &mut self.lo),
            Operator::Ge => lo(tok.saturating_sub(1), &mut self.lo),
            Operator::Le => hi(tok, &mut self.hi),
            Operator::Lt => match tok.checked_sub(1) {
                Some(x) => hi(x, &mut self.hi),
                None => self.hi = i64::MIN,
            },
            Operator::Eq => {
                lo(tok.saturating_sub(1), &mut self.lo);
                hi(tok, &mut self.hi);
            }
            _ => {
                return Err(Error::invalid(format!(
                    "Unsupported operator in a token relation: {r}"
                )));
            }
        }
        Ok(())
    }

    fn partitions(&self) -> Partitions {
        if self.lo >= self.hi {
            Partitions::None
        } else {
            Partitions::Range {
                start: (self.lo != i64::MIN).then_some(self.lo),
                end: (self.hi != i64::MAX).then_some(self.hi),
            }
        }
    }
}

/// The partitions a SELECT reads: a token range, the keys when every partition key column is
/// restricted, or else a scan of every partition that filters on the restricted part of the key.
pub(super) fn partitions(
    b: &Binder<'_>,
    pk: &[Option<Vec<Value>>],
    token: &TokenRange,
    filtering: &mut Filtering,
) -> Result<Partitions> {
    let pk_cols = key_columns(b.table(), ColumnKind::PartitionKey);
    let restricted_pk = pk_cols
        .iter()
        .filter(|(i, _)| pk.get(*i).is_some_and(Option::is_some))
        .count();
    if token.restricted {
        if restricted_pk > 0 {
            return Err(Error::invalid(
                "Columns of the partition key cannot be restricted by both a normal relation and \
                 a token relation",
            ));
        }
        return Ok(token.partitions());
    }
    if restricted_pk == pk_cols.len() {
        return keys(b, &pk_cols, pk);
    }
    // Part of the key: a scan that filters on it.
    for (i, _) in &pk_cols {
        if let Some(Some(vals)) = pk.get(*i) {
            filtering.require(Filter::In {
                col: *i,
                values: vals.clone(),
            });
        }
    }
    Ok(Partitions::Range {
        start: None,
        end: None,
    })
}

/// Every partition key the values of `pk` combine into (one per combination of IN values),
/// in token order without repeats.
fn keys(
    b: &Binder<'_>,
    pk_cols: &[(usize, &Column)],
    pk: &[Option<Vec<Value>>],
) -> Result<Partitions> {
    let mut keys: Vec<Vec<Bytes>> = vec![Vec::new()];
    for (i, c) in pk_cols {
        let vals = pk.get(*i).cloned().flatten().unwrap_or_default();
        let ty = b.ty(c);
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
        out.push(b.target.partition(&k)?);
    }
    out.sort();
    out.dedup();
    Ok(if out.is_empty() {
        Partitions::None
    } else {
        Partitions::Keys(out)
    })
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
            if t.bound.is_unset(a) {
                return Err(crate::values::unset_argument("token"));
            }
            parts.push(t.key_value(&c.name, a)?);
        }
        return Ok(t.partition(&parts)?.0);
    }
    match term_value(term, &CqlType::Bigint, t.bound)? {
        Some(Value::Bigint(v)) => Ok(v),
        _ => Err(null_in("partition key token")),
    }
}
