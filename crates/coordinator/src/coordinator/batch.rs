//! BATCH: the CQL text `BEGIN [UNLOGGED | COUNTER] BATCH ... APPLY BATCH` and the protocol's
//! BATCH message. Every statement becomes its mutations; mutations of one partition of one
//! table are merged; the lot goes to the data path in one call (a logged batch all or nothing).
//!
//! Like Cassandra: only INSERT, UPDATE and DELETE; one timestamp for every statement without
//! its own (the batch's `USING TIMESTAMP`, else the client's, else the coordinator's clock); a
//! warning above 5 KiB of data and a failure above 50 KiB for batches of several partitions,
//! and a warning for unlogged batches over more than 10 partitions. Counter updates go in
//! COUNTER (or UNLOGGED) batches of counter writes only, through the counter path. A batch
//! with conditions is one lightweight transaction on one partition of one table.

use std::collections::BTreeSet;

use ilion_cql::language::ast::{
    self, Delete, Insert, QualifiedName, Statement, Update, UsingParam,
};
use ilion_cql::protocol::{BatchQuery, CqlType, QueryParameters, ResultBody, Value};
use ilion_storage::{CellOp, CellWrite, Mutation};

use super::{Coordinator, Session, parse};
use crate::data::{self, TableWrite, now_micros};
use crate::values::{Bound, term_value};
use crate::{Error, Result};

/// Above this much data a batch of several partitions gets a warning
/// (Cassandra's `batch_size_warn_threshold`, 5 KiB).
pub const BATCH_SIZE_WARN_THRESHOLD: usize = 5 * 1024;
/// Above this much data a batch of several partitions is refused
/// (Cassandra's `batch_size_fail_threshold`, 50 KiB).
pub const BATCH_SIZE_FAIL_THRESHOLD: usize = 50 * 1024;
/// Unlogged batches over more partitions than this get a warning
/// (Cassandra's `unlogged_batch_across_partitions_warn_threshold`).
pub const UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD: usize = 10;

/// A statement's result with the warnings the response carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub result: ResultBody,
    /// Sent to the client in the response's warnings (the driver's `warnings`).
    pub warnings: Vec<String>,
}

impl Executed {
    /// A result without warnings.
    pub fn quiet(result: ResultBody) -> Executed {
        Executed {
            result,
            warnings: Vec::new(),
        }
    }
}

/// One modification statement of a batch.
#[derive(Debug, Clone, Copy)]
enum Modification<'s> {
    Insert(&'s Insert),
    Update(&'s Update),
    Delete(&'s Delete),
}

impl<'s> Modification<'s> {
    fn of(statement: &'s Statement) -> Result<Modification<'s>> {
        match statement {
            Statement::Insert(s) => Ok(Modification::Insert(s)),
            Statement::Update(s) => Ok(Modification::Update(s)),
            Statement::Delete(s) => Ok(Modification::Delete(s)),
            _ => Err(Error::invalid(
                "Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.",
            )),
        }
    }

    fn of_batch(statement: &'s ast::BatchStatement) -> Modification<'s> {
        match statement {
            ast::BatchStatement::Insert(s) => Modification::Insert(s),
            ast::BatchStatement::Update(s) => Modification::Update(s),
            ast::BatchStatement::Delete(s) => Modification::Delete(s),
        }
    }

    fn table(self) -> &'s QualifiedName {
        match self {
            Modification::Insert(s) => &s.table,
            Modification::Update(s) => &s.table,
            Modification::Delete(s) => &s.table,
        }
    }

    fn using(self) -> &'s [UsingParam] {
        match self {
            Modification::Insert(s) => &s.using,
            Modification::Update(s) => &s.using,
            Modification::Delete(s) => &s.using,
        }
    }

    fn is_conditional(self) -> bool {
        self.conditional().is_some()
    }

    /// The statement as a conditional one, when it has a condition.
    fn conditional(self) -> Option<data::ConditionalStatement<'s>> {
        match self {
            Modification::Insert(s) if s.if_not_exists => {
                Some(data::ConditionalStatement::Insert(s))
            }
            Modification::Update(s) if s.condition.is_some() => {
                Some(data::ConditionalStatement::Update(s))
            }
            Modification::Delete(s) if s.condition.is_some() => {
                Some(data::ConditionalStatement::Delete(s))
            }
            _ => None,
        }
    }
}

/// A statement of a batch, ready to run: the statement, its keyspace, its values.
struct Item<'s> {
    statement: Modification<'s>,
    keyspace: Option<String>,
    bound: Bound,
}

impl Coordinator {
    /// Runs a protocol BATCH: query strings and prepared ids, each with its own values. An
    /// unknown prepared id is [`Error::Unprepared`] (drivers prepare it again and retry).
    pub fn batch(&self, session: &Session, batch: &ilion_cql::protocol::Batch) -> Result<Executed> {
        self.batch_as(None, session, batch)
    }

    /// [`Coordinator::batch`] as the role `user` logged in as (see [`Coordinator::query_as`]):
    /// each statement needs MODIFY on its table.
    pub fn batch_as(
        &self,
        user: Option<&str>,
        session: &Session,
        batch: &ilion_cql::protocol::Batch,
    ) -> Result<Executed> {
        let _time = self.statement_time();
        let mut parsed = Vec::with_capacity(batch.statements.len());
        for s in &batch.statements {
            match &s.query {
                BatchQuery::Text(text) => {
                    let keyspace = batch.keyspace.clone().or_else(|| session.keyspace.clone());
                    parsed.push((parse(text)?, keyspace));
                }
                BatchQuery::Prepared(id) => {
                    let stmt = self
                        .prepared
                        .read()
                        .get(id.as_ref())
                        .cloned()
                        .ok_or_else(|| Error::Unprepared { id: id.to_vec() })?;
                    parsed.push((stmt.parsed.clone(), stmt.keyspace.clone()));
                }
            }
        }
        let mut items = Vec::with_capacity(parsed.len());
        for ((p, keyspace), s) in parsed.iter().zip(&batch.statements) {
            items.push(Item {
                statement: Modification::of(&p.statement)?,
                keyspace: keyspace.clone(),
                bound: Bound::new(&s.values, &p.bind_markers)?,
            });
        }
        for item in &items {
            self.authorize_modify(user, item.statement.table(), item.keyspace.as_deref())?;
        }
        let kind = match batch.kind {
            ilion_cql::protocol::BatchKind::Logged => ast::BatchKind::Logged,
            ilion_cql::protocol::BatchKind::Unlogged => ast::BatchKind::Unlogged,
            ilion_cql::protocol::BatchKind::Counter => ast::BatchKind::Counter,
        };
        let mut params = QueryParameters::new(batch.consistency);
        params.serial_consistency = batch.serial_consistency;
        params.default_timestamp = batch.default_timestamp;
        params.now_in_seconds = batch.now_in_seconds;
        self.apply_batch(kind, &items, None, &params)
    }

    /// Runs `BEGIN ... BATCH ... APPLY BATCH` sent as a query (or prepared): its markers are
    /// numbered across the whole batch, so one set of values binds them all.
    pub(super) fn text_batch(
        &self,
        b: &ast::Batch,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
    ) -> Result<Executed> {
        let mut timestamp = None;
        for u in &b.using {
            match u {
                // The grammar refuses it; Cassandra's words should a parser let it through.
                UsingParam::Ttl(_) => {
                    return Err(Error::invalid(
                        "Global TTL on the BATCH statement is not supported.",
                    ));
                }
                UsingParam::Timestamp(t) => match term_value(t, &CqlType::Bigint, bound)? {
                    Some(Value::Bigint(v)) => timestamp = Some(v),
                    _ => return Err(Error::invalid("Invalid null value of timestamp")),
                },
            }
        }
        let items: Vec<Item<'_>> = b
            .statements
            .iter()
            .map(|s| Item {
                statement: Modification::of_batch(s),
                keyspace: keyspace.map(str::to_owned),
                bound: bound.clone(),
            })
            .collect();
        self.apply_batch(b.kind, &items, timestamp, params)
    }

    /// The batch bind markers' columns (preparing a text batch).
    pub(super) fn batch_marker_columns(
        &self,
        b: &ast::Batch,
        keyspace: Option<&str>,
    ) -> Result<Vec<ilion_cql::protocol::ColumnSpec>> {
        let schema = self.schema.read().clone();
        let mut out = Vec::new();
        for s in &b.statements {
            let m = Modification::of_batch(s);
            let (ks, table) = self.resolve_table(&schema, m.table(), keyspace)?;
            let statement = match s {
                ast::BatchStatement::Insert(s) => Statement::Insert(Box::new(s.clone())),
                ast::BatchStatement::Update(s) => Statement::Update(Box::new(s.clone())),
                ast::BatchStatement::Delete(s) => Statement::Delete(Box::new(s.clone())),
            };
            // Markers are numbered through the batch in text order, statement after statement.
            out.extend(data::write_marker_columns(ks, table, &statement)?);
        }
        if let Some(UsingParam::Timestamp(ast::Term::Bind(m))) = b.using.first() {
            // `BEGIN BATCH USING TIMESTAMP ?` comes before every statement's markers.
            out.insert(
                m.index.min(out.len()),
                ilion_cql::protocol::ColumnSpec {
                    table: out.first().map(|c| c.table.clone()).unwrap_or_else(|| {
                        ilion_cql::protocol::TableSpec {
                            keyspace: keyspace.unwrap_or_default().to_owned(),
                            table: String::new(),
                        }
                    }),
                    name: "[timestamp]".into(),
                    ty: CqlType::Bigint,
                },
            );
        }
        Ok(out)
    }

    fn apply_batch(
        &self,
        kind: ast::BatchKind,
        items: &[Item<'_>],
        batch_timestamp: Option<i64>,
        params: &QueryParameters,
    ) -> Result<Executed> {
        let schema = self.schema.read().clone();
        // Cassandra's BatchStatement.validate: counters only in COUNTER (or UNLOGGED) batches,
        // never mixed with other writes, never with a custom timestamp.
        let counter_batch = kind == ast::BatchKind::Counter;
        if batch_timestamp.is_some() && counter_batch {
            return Err(Error::invalid(
                "Cannot provide custom timestamp for counter BATCH",
            ));
        }
        let mut has_counters = false;
        let mut has_others = false;
        for item in items {
            let (_, table) =
                self.user_table(&schema, item.statement.table(), item.keyspace.as_deref())?;
            let counter = table.is_counter();
            if batch_timestamp.is_some() && counter {
                return Err(Error::invalid(
                    "Cannot provide custom timestamp for a BATCH containing counters",
                ));
            }
            if batch_timestamp.is_some()
                && item
                    .statement
                    .using()
                    .iter()
                    .any(|u| matches!(u, UsingParam::Timestamp(_)))
            {
                return Err(Error::invalid(
                    "Timestamp must be set either on BATCH or individual statements",
                ));
            }
            if counter_batch && !counter {
                return Err(Error::invalid(
                    "Cannot include non-counter statement in a counter batch",
                ));
            }
            if kind == ast::BatchKind::Logged && counter {
                return Err(Error::invalid(
                    "Cannot include a counter statement in a logged batch",
                ));
            }
            has_counters |= counter;
            has_others |= !counter;
        }
        if has_counters && has_others {
            return Err(Error::invalid(
                "Counter and non-counter mutations cannot exist in the same batch",
            ));
        }
        if items.iter().any(|i| i.statement.is_conditional()) {
            return self.conditional_batch(kind, items, batch_timestamp, params);
        }
        // One timestamp for every statement that does not set its own.
        let mut params = params.clone();
        params.default_timestamp = Some(
            batch_timestamp
                .or(params.default_timestamp)
                .unwrap_or_else(now_micros),
        );
        let mut writes: Vec<TableWrite<'_>> = Vec::new();
        for item in items {
            let (ks, table) =
                self.user_table(&schema, item.statement.table(), item.keyspace.as_deref())?;
            let produced = self.writes_of(item, ks, table, &params)?;
            for w in produced {
                push_merged(&mut writes, w);
            }
        }
        let mut warnings = Vec::new();
        if writes.len() > 1 {
            let size: usize = writes.iter().map(|w| data_size(&w.mutation)).sum();
            if size > BATCH_SIZE_WARN_THRESHOLD {
                if size > BATCH_SIZE_FAIL_THRESHOLD {
                    tracing::error!(
                        size,
                        threshold = BATCH_SIZE_FAIL_THRESHOLD,
                        tables = %table_names(&writes),
                        "batch too large"
                    );
                    return Err(Error::invalid("Batch too large"));
                }
                warnings.push(format!(
                    "Batch for {} is of size {size}, exceeding specified threshold of \
                     {BATCH_SIZE_WARN_THRESHOLD} by {}.",
                    table_names(&writes),
                    size - BATCH_SIZE_WARN_THRESHOLD
                ));
            }
            if kind == ast::BatchKind::Unlogged {
                let keys: BTreeSet<&[u8]> = writes
                    .iter()
                    .map(|w| w.mutation.partition_key.as_slice())
                    .collect();
                if keys.len() > UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD {
                    let tables: BTreeSet<(&str, &str)> = writes
                        .iter()
                        .map(|w| (w.table.keyspace.as_str(), w.table.name.as_str()))
                        .collect();
                    warnings.push(format!(
                        "Unlogged batch covering {} partitions detected against table{} {}. You \
                         should use a logged batch for atomicity, or asynchronous writes for \
                         performance.",
                        keys.len(),
                        if tables.len() == 1 { "" } else { "s" },
                        table_names(&writes)
                    ));
                }
            }
        }
        for w in &warnings {
            tracing::warn!(warning = %w, "batch");
        }
        if has_counters {
            for w in &writes {
                data::check_counter_consistency(w.table, params.consistency)?;
            }
            self.data.write_counter(&writes, params.consistency)?;
        } else {
            self.data
                .write(&writes, params.consistency, kind == ast::BatchKind::Logged)?;
        }
        Ok(Executed {
            result: ResultBody::Void,
            warnings,
        })
    }
}

impl Coordinator {
    /// The writes of one (unconditional) batch statement.
    fn writes_of<'a>(
        &self,
        item: &Item<'_>,
        ks: &'a crate::schema::Keyspace,
        table: &'a crate::schema::Table,
        params: &QueryParameters,
    ) -> Result<Vec<TableWrite<'a>>> {
        let data = &*self.data;
        match item.statement {
            Modification::Insert(s) => data::insert(data, ks, table, s, &item.bound, params),
            Modification::Update(s) => data::update(data, ks, table, s, &item.bound, params),
            Modification::Delete(s) => data::delete(data, ks, table, s, &item.bound, params),
        }
    }

    /// A batch with conditions (Cassandra's CAS batch): every statement on one partition of
    /// one table, applied together when every condition holds, in one lightweight
    /// transaction.
    fn conditional_batch(
        &self,
        kind: ast::BatchKind,
        items: &[Item<'_>],
        batch_timestamp: Option<i64>,
        params: &QueryParameters,
    ) -> Result<Executed> {
        if kind == ast::BatchKind::Counter {
            return Err(Error::invalid(
                "Cannot include a counter statement in a conditional BATCH",
            ));
        }
        if batch_timestamp.is_some()
            || items.iter().any(|i| {
                i.statement
                    .using()
                    .iter()
                    .any(|u| matches!(u, UsingParam::Timestamp(_)))
            })
        {
            return Err(Error::invalid(
                "Cannot provide custom timestamp for conditional BATCH",
            ));
        }
        // One timestamp for every statement (the transaction moves them all to its ballot's).
        let mut params = params.clone();
        params.default_timestamp = Some(now_micros());
        let params = &params;
        let schema = self.schema.read().clone();
        let mut writes: Vec<TableWrite<'_>> = Vec::new();
        let mut checks = Vec::new();
        let mut target: Option<(&crate::schema::Keyspace, &crate::schema::Table)> = None;
        for item in items {
            let (ks, table) =
                self.user_table(&schema, item.statement.table(), item.keyspace.as_deref())?;
            if let Some((_, first)) = target
                && !std::ptr::eq(first, table)
            {
                return Err(Error::invalid(
                    "Batch with conditions cannot span multiple tables",
                ));
            }
            target = Some((ks, table));
            let data = &*self.data;
            let produced = match item.statement.conditional() {
                Some(c) => {
                    let (w, check) =
                        data::prepare_conditional(data, ks, table, c, &item.bound, params)?;
                    checks.push(check);
                    vec![w]
                }
                None => self.writes_of(item, ks, table, params)?,
            };
            for w in produced {
                if let Some(first) = writes.first()
                    && (first.mutation.token != w.mutation.token
                        || first.mutation.partition_key != w.mutation.partition_key)
                {
                    return Err(Error::invalid(
                        "Batch with conditions cannot span multiple partitions",
                    ));
                }
                push_merged(&mut writes, w);
            }
        }
        let (Some((ks, table)), Some(first)) = (target, writes.first()) else {
            return Err(Error::invalid("A conditional BATCH without statements"));
        };
        // Writes of one row that could not merge (two markers) still go in one mutation: the
        // transaction applies them at one timestamp.
        let mut mutation = first.mutation.clone();
        for w in writes.iter().skip(1) {
            merge_into(&mut mutation, w.mutation.clone());
        }
        let result = data::run_cas(&*self.data, ks, table, &mutation, &checks, params, true)?;
        Ok(Executed::quiet(result))
    }
}

/// `[ks.t1, ks.t2]`: the tables of a batch, as Cassandra lists them in its warnings.
fn table_names(writes: &[TableWrite<'_>]) -> String {
    let names: BTreeSet<String> = writes
        .iter()
        .map(|w| format!("{}.{}", w.table.keyspace, w.table.name))
        .collect();
    format!("[{}]", names.into_iter().collect::<Vec<_>>().join(", "))
}

/// Adds `w` to `writes`, merged into the write of the same partition of the same table when
/// the two do not both set the same one-of-a-kind part (a partition deletion, a row's marker or
/// deletion). Merging changes nothing in the outcome: every cell is reconciled on its own.
fn push_merged<'a>(writes: &mut Vec<TableWrite<'a>>, w: TableWrite<'a>) {
    let same = writes.iter_mut().find(|o| {
        std::ptr::eq(o.table, w.table)
            && o.mutation.token == w.mutation.token
            && o.mutation.partition_key == w.mutation.partition_key
            && !conflicts(&o.mutation, &w.mutation)
    });
    let Some(into) = same else {
        writes.push(w);
        return;
    };
    let TableWrite { mutation: from, .. } = w;
    merge_into(&mut into.mutation, from);
}

/// Merges `from` into `m` (the same partition): later one-of-a-kind parts replace earlier ones.
fn merge_into(m: &mut Mutation, from: Mutation) {
    if from.partition_deletion.is_some() {
        m.partition_deletion = from.partition_deletion;
    }
    m.range_deletions.extend(from.range_deletions);
    m.static_cells.extend(from.static_cells);
    for row in from.rows {
        let into_row = m.row(row.clustering);
        if row.marker.is_some() {
            into_row.marker = row.marker;
        }
        if row.deletion.is_some() {
            into_row.deletion = row.deletion;
        }
        into_row.cells.extend(row.cells);
    }
}

fn conflicts(a: &Mutation, b: &Mutation) -> bool {
    if a.partition_deletion.is_some() && b.partition_deletion.is_some() {
        return true;
    }
    b.rows.iter().any(|rb| {
        a.rows.iter().any(|ra| {
            ra.clustering == rb.clustering
                && ((ra.marker.is_some() && rb.marker.is_some())
                    || (ra.deletion.is_some() && rb.deletion.is_some()))
        })
    })
}

/// The data a mutation carries, counted like Cassandra's `dataSize`: values, clustering and
/// cell paths, plus 8 bytes per timestamp and 4 per TTL and deletion time.
fn data_size(m: &Mutation) -> usize {
    const TIMESTAMP: usize = 8;
    const DELETION: usize = TIMESTAMP + 4;
    let cell = |c: &CellWrite| {
        let path = c.path.as_ref().map_or(0, Vec::len);
        path + match &c.op {
            CellOp::Set { value, ttl, .. } => {
                value.len() + TIMESTAMP + if ttl.is_some() { 8 } else { 0 }
            }
            CellOp::Delete(_) | CellOp::DeleteCollection(_) => DELETION,
            CellOp::Counter { shards, .. } => TIMESTAMP + 32 * shards.len(),
            CellOp::Increment { .. } => TIMESTAMP + 8,
        }
    };
    let bound_len = |b: &ilion_storage::Bound| match b {
        ilion_storage::Bound::Unbounded => 0,
        ilion_storage::Bound::Inclusive(v) | ilion_storage::Bound::Exclusive(v) => {
            v.iter().map(Vec::len).sum()
        }
    };
    let mut size = m.partition_deletion.map_or(0, |_| DELETION);
    size += m
        .range_deletions
        .iter()
        .map(|r| bound_len(&r.start) + bound_len(&r.end) + DELETION)
        .sum::<usize>();
    size += m.static_cells.iter().map(cell).sum::<usize>();
    for row in &m.rows {
        size += row.clustering.iter().map(Vec::len).sum::<usize>();
        size += row
            .marker
            .map_or(0, |l| TIMESTAMP + if l.ttl.is_some() { 8 } else { 0 });
        size += row.deletion.map_or(0, |_| DELETION);
        size += row.cells.iter().map(cell).sum::<usize>();
    }
    size
}
