//! Conditional INSERT, UPDATE and DELETE (lightweight transactions): the statement becomes one
//! partition's mutation as usual; the data path's [`DataPath::cas`] reads the row under a Paxos
//! promise, the IF clause is checked against it, and the mutation is proposed only when it
//! holds. The answer is Cassandra's: a row whose first column is `[applied]`; when not
//! applied, with the current values of the conditioned columns (of every column for IF EXISTS
//! and IF NOT EXISTS), or `[applied]` alone when there is no row.

use bytes::Bytes;
use ilion_cql::language::ast::Update;
use ilion_cql::protocol::{ResultBody, Rows, RowsMetadata};
use ilion_storage::ReadResult;

use super::condition::Check;
use super::*;
use crate::data::read::split_partition_key;

/// A conditional statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConditionalStatement<'s> {
    Insert(&'s Insert),
    Update(&'s Update),
    Delete(&'s Delete),
}

impl ConditionalStatement<'_> {
    fn using(&self) -> &[UsingParam] {
        match self {
            ConditionalStatement::Insert(s) => &s.using,
            ConditionalStatement::Update(s) => &s.using,
            ConditionalStatement::Delete(s) => &s.using,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            ConditionalStatement::Delete(_) => "deletions",
            _ => "updates",
        }
    }
}

/// The serial level of a conditional write: the request's serial consistency (SERIAL when
/// none), refused unless SERIAL or LOCAL_SERIAL; and the commit level, never a serial one.
fn cas_levels(params: &QueryParameters) -> Result<(Consistency, Consistency)> {
    let serial = params.serial_consistency.unwrap_or(Consistency::Serial);
    if !matches!(serial, Consistency::Serial | Consistency::LocalSerial) {
        return Err(Error::invalid(
            "Invalid consistency for conditional update. Must be one of SERIAL or LOCAL_SERIAL",
        ));
    }
    let commit = params.consistency;
    if matches!(commit, Consistency::Serial | Consistency::LocalSerial) {
        let name = if commit == Consistency::Serial {
            "SERIAL"
        } else {
            "LOCAL_SERIAL"
        };
        return Err(Error::invalid(format!(
            "{name} is not supported as conditional update commit consistency. Use ANY if you \
             mean \"make sure it is accepted but I don't care how many replicas commit it for \
             non-SERIAL reads\""
        )));
    }
    Ok((serial, commit))
}

/// One statement's condition in a lightweight transaction: its check, the values it was bound
/// with, and its row (`None`: the static row).
pub(crate) struct RowCheck<'s> {
    check: Check<'s>,
    bound: &'s Bound,
    row: Option<Vec<Vec<u8>>>,
}

/// Validates a conditional statement as Cassandra does and turns it into its write (one
/// partition, one row) and its condition.
pub(crate) fn prepare_conditional<'a, 's>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    statement: ConditionalStatement<'s>,
    bound: &'s Bound,
    params: &QueryParameters,
) -> Result<(TableWrite<'a>, RowCheck<'s>)> {
    if table.is_counter() {
        return Err(Error::invalid(
            "Conditional updates are not supported on counter tables",
        ));
    }
    if statement
        .using()
        .iter()
        .any(|u| matches!(u, UsingParam::Timestamp(_)))
    {
        return Err(Error::invalid(
            "Cannot provide custom timestamp for conditional updates",
        ));
    }
    let t = Target { ks, table, bound };
    let (check, writes) = match statement {
        ConditionalStatement::Insert(s) => {
            let plain = Insert {
                if_not_exists: false,
                ..s.clone()
            };
            (
                Check::NotExists,
                insert(data, ks, table, &plain, bound, params)?,
            )
        }
        ConditionalStatement::Update(s) => {
            let check = s.condition.as_ref().map_or(Check::Exists, Check::of);
            check.validate(&t)?;
            let plain = Update {
                condition: None,
                ..s.clone()
            };
            (check, update(data, ks, table, &plain, bound, params)?)
        }
        ConditionalStatement::Delete(s) => {
            let check = s.condition.as_ref().map_or(Check::Exists, Check::of);
            check.validate(&t)?;
            let plain = Delete {
                condition: None,
                ..s.clone()
            };
            (check, delete(data, ks, table, &plain, bound, params)?)
        }
    };
    let mut writes = writes.into_iter();
    let (Some(write), None) = (writes.next(), writes.next()) else {
        return Err(Error::invalid(format!(
            "IN on the partition key is not supported with conditional {}",
            statement.verb()
        )));
    };
    let row = conditional_row(&t, &write.mutation, statement.verb())?;
    Ok((write, RowCheck { check, bound, row }))
}

/// Runs a conditional INSERT, UPDATE or DELETE.
pub(crate) fn run_conditional(
    data: &dyn DataPath,
    ks: &Keyspace,
    table: &Table,
    statement: ConditionalStatement<'_>,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    cas_levels(params)?;
    let (write, check) = prepare_conditional(data, ks, table, statement, bound, params)?;
    run_cas(data, ks, table, &write.mutation, &[check], params, false)
}

/// The transaction of a conditional statement or batch: `mutation` (one partition of
/// `table`) applied when every check holds. In a batch, the answer when not applied has a row
/// per checked row that exists, with the primary key columns first (as Cassandra's).
pub(crate) fn run_cas(
    data: &dyn DataPath,
    ks: &Keyspace,
    table: &Table,
    mutation: &Mutation,
    checks: &[RowCheck<'_>],
    params: &QueryParameters,
    batch: bool,
) -> Result<ResultBody> {
    let (serial, commit) = cas_levels(params)?;
    check_rows(checks)?;
    let cmd = match checks {
        [one] if !batch => row_read(mutation, one.row.as_deref()),
        _ => ReadCommand::partition(mutation.token, mutation.partition_key.clone()),
    };
    let schema = data.table_schema(table)?;
    let mut answer: Option<ResultBody> = None;
    data.cas(
        ks,
        table,
        &cmd,
        serial,
        commit,
        &mut |current: &ReadResult| {
            let mut holds = true;
            let mut found = Vec::new();
            for c in checks {
                let t = Target {
                    ks,
                    table,
                    bound: c.bound,
                };
                let row = Current::of(&t, &schema, current, c.row.as_deref())?;
                holds &= c.check.holds(&t, row.exists, &row.values)?;
                if row.found
                    && !found
                        .iter()
                        .any(|(r, _): &(Option<Vec<Vec<u8>>>, Current)| *r == c.row)
                {
                    found.push((c.row.clone(), row));
                }
            }
            answer = Some(cas_result(
                ks,
                table,
                holds,
                &found,
                shown_columns(table, checks, batch),
            )?);
            Ok(holds.then(|| mutation.clone()))
        },
    )?;
    answer.ok_or_else(|| Error::server("a lightweight transaction ended without an answer"))
}

/// Refuses checks of one row that cannot go together (Cassandra's `CQL3CasRequest`): IF EXISTS
/// with IF NOT EXISTS, or either with column conditions.
fn check_rows(checks: &[RowCheck<'_>]) -> Result<()> {
    for (i, c) in checks.iter().enumerate() {
        let Some(previous) = checks.iter().take(i).find(|p| p.row == c.row) else {
            continue;
        };
        let message = match (previous.check, c.check) {
            (Check::Exists, Check::Exists)
            | (Check::NotExists, Check::NotExists)
            | (Check::Columns(_), Check::Columns(_)) => continue,
            (Check::Exists, Check::NotExists) | (Check::NotExists, Check::Exists) => {
                "Cannot mix IF EXISTS and IF NOT EXISTS conditions for the same row"
            }
            (Check::Columns(_), Check::Exists) => {
                "Cannot mix IF conditions and IF EXISTS for the same row"
            }
            _ => "Cannot mix IF conditions and IF NOT EXISTS for the same row",
        };
        return Err(Error::invalid(message));
    }
    Ok(())
}

/// The columns a failed transaction shows after `[applied]`: every column when a check is
/// IF EXISTS / IF NOT EXISTS; otherwise the conditioned ones in IF order, after the primary key
/// columns in a batch.
fn shown_columns(table: &Table, checks: &[RowCheck<'_>], batch: bool) -> Vec<usize> {
    let position = |name: &str| table.columns.iter().position(|c| c.name == name);
    let mut names: Vec<&str> = Vec::new();
    for c in checks {
        match c.check.columns() {
            None => return (0..table.columns.len()).collect(),
            Some(cols) => {
                for n in cols {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
    }
    let mut out: Vec<usize> = Vec::new();
    if batch {
        out.extend(
            table
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering)
                })
                .map(|(i, _)| i),
        );
    }
    for n in names {
        if let Some(i) = position(n)
            && !out.contains(&i)
        {
            out.push(i);
        }
    }
    out
}

/// The clustering key of the one row a conditional mutation writes (`None`: the static row),
/// refusing what Cassandra refuses: several rows, ranges.
fn conditional_row(t: &Target<'_>, m: &Mutation, verb: &str) -> Result<Option<Vec<Vec<u8>>>> {
    let clustering = t.key_columns(ColumnKind::Clustering);
    if m.rows.len() > 1 {
        return Err(Error::invalid(format!(
            "IN on the clustering key columns is not supported with conditional {verb}"
        )));
    }
    if !m.range_deletions.is_empty() || (m.partition_deletion.is_some() && !clustering.is_empty()) {
        // An equality prefix deletes rows between two equal bounds; the column after it is
        // the first one not restricted by equality.
        let restricted = m
            .range_deletions
            .first()
            .map_or(0, |r| match (&r.start, &r.end) {
                (SBound::Inclusive(a), SBound::Inclusive(b)) if a == b => a.len(),
                _ => 0,
            });
        let missing = clustering
            .get(restricted)
            .map_or_else(String::new, |c| c.name.clone());
        return Err(Error::invalid(format!(
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations in \
             order to use IF conditions, but column '{missing}' is not restricted"
        )));
    }
    Ok(match m.rows.first() {
        Some(r) => Some(r.clustering.clone()),
        None if clustering.is_empty() => Some(Vec::new()),
        None => None,
    })
}

/// The read of a conditional write: its row (with the partition's static cells), or the
/// static row alone.
fn row_read(m: &Mutation, row: Option<&[Vec<u8>]>) -> ReadCommand {
    let mut cmd = ReadCommand::partition(m.token, m.partition_key.clone());
    match row {
        Some(ck) if !ck.is_empty() => {
            cmd.slice = Slice {
                start: SBound::Inclusive(ck.to_vec()),
                end: SBound::Inclusive(ck.to_vec()),
            };
        }
        Some(_) => {}
        None => cmd.limit = Some(1),
    }
    cmd
}

/// The row a conditional write found.
struct Current {
    /// The row exists (for the static row: some static column has a value).
    exists: bool,
    /// Whether anything was found (the row, or static values).
    found: bool,
    /// One value per table column, null when absent.
    values: Vec<Option<Value>>,
}

impl Current {
    fn of(
        t: &Target<'_>,
        schema: &TableSchema,
        r: &ReadResult,
        row: Option<&[Vec<u8>]>,
    ) -> Result<Current> {
        let n = t.table.columns.len();
        let Some(p) = r.partitions.first() else {
            return Ok(Current {
                exists: false,
                found: false,
                values: vec![None; n],
            });
        };
        let data_row = row.and_then(|ck| p.rows.iter().find(|r| r.clustering == ck));
        let exists = match row {
            Some(_) => data_row.is_some(),
            None => !p.static_cells.is_empty(),
        };
        let found = exists || !p.static_cells.is_empty();
        let pk_cols = t.key_columns(ColumnKind::PartitionKey);
        let pk_parts = split_partition_key(&p.key, pk_cols.len())?;
        let mut values = Vec::with_capacity(n);
        let (mut pk_i, mut ck_i) = (0usize, 0usize);
        for c in &t.table.columns {
            let ty = c.ty.column_type(t.ks);
            let decode = |bytes: &[u8]| {
                ty.decode(&Bytes::copy_from_slice(bytes))
                    .map(Some)
                    .map_err(|e| Error::server(format!("stored value does not decode: {e}")))
            };
            let v = match c.kind {
                ColumnKind::PartitionKey => {
                    let part = pk_parts.get(pk_i).copied();
                    pk_i += 1;
                    part.map(decode).transpose()?.flatten()
                }
                ColumnKind::Clustering => {
                    let part = row.and_then(|ck| ck.get(ck_i)).filter(|_| found);
                    ck_i += 1;
                    part.map(|b| decode(b)).transpose()?.flatten()
                }
                ColumnKind::Static => {
                    let id = schema.column_id(&c.name);
                    super::super::cells::column_value(
                        &ty,
                        &c.ty,
                        p.static_cells.iter().filter(|cell| Some(cell.column) == id),
                    )?
                }
                _ => match data_row {
                    Some(dr) => {
                        let id = schema.column_id(&c.name);
                        super::super::cells::column_value(
                            &ty,
                            &c.ty,
                            dr.cells.iter().filter(|cell| Some(cell.column) == id),
                        )?
                    }
                    None => None,
                },
            };
            values.push(v);
        }
        Ok(Current {
            exists,
            found,
            values,
        })
    }
}

/// The `[applied]` column's spec.
fn applied_spec(table: &Table) -> ColumnSpec {
    ColumnSpec {
        table: TableSpec {
            keyspace: table.keyspace.clone(),
            table: table.name.clone(),
        },
        name: "[applied]".to_owned(),
        ty: CqlType::Boolean,
    }
}

/// Cassandra's answer to a conditional write: `[applied]`, and when not applied a row per
/// row found with the current values of the `shown` columns; `[applied]` alone when nothing
/// was found.
fn cas_result(
    ks: &Keyspace,
    table: &Table,
    applied: bool,
    found: &[(Option<Vec<Vec<u8>>>, Current)],
    shown: Vec<usize>,
) -> Result<ResultBody> {
    let flag = |applied: bool| Some(Bytes::from_static(if applied { &[1] } else { &[0] }));
    let mut specs = vec![applied_spec(table)];
    if applied || found.is_empty() {
        return Ok(ResultBody::Rows(Rows {
            metadata: RowsMetadata::new(specs),
            rows_count: 1,
            cells: vec![flag(applied)],
        }));
    }
    let columns: Vec<(usize, &crate::schema::Column)> = shown
        .into_iter()
        .filter_map(|i| table.columns.get(i).map(|c| (i, c)))
        .collect();
    for (_, c) in &columns {
        specs.push(ColumnSpec {
            table: TableSpec {
                keyspace: table.keyspace.clone(),
                table: table.name.clone(),
            },
            name: c.name.clone(),
            ty: c.ty.column_type(ks),
        });
    }
    let mut cells = Vec::with_capacity(found.len() * specs.len());
    for (_, current) in found {
        cells.push(flag(false));
        for (i, c) in &columns {
            let ty = c.ty.column_type(ks);
            let v = current.values.get(*i).cloned().flatten();
            cells.push(v.as_ref().map(|v| encode(&ty, v)).transpose()?);
        }
    }
    Ok(ResultBody::Rows(Rows {
        metadata: RowsMetadata::new(specs),
        rows_count: found.len(),
        cells,
    }))
}
