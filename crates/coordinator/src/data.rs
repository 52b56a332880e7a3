//! The single-node data path on user tables: INSERT, UPDATE, DELETE and SELECT by partition
//! key, on the replica-local `ilion-storage` store, and keeping the store's tables in step with
//! the schema. What is not built (filtering, secondary restrictions, collections literals,
//! lightweight transactions, ...) is refused with an Invalid error naming it.

use bytes::Bytes;
use cql::language::ast::{
    Assignment, Delete, DeleteTarget, Insert, InsertValues, Operator, Relation, RelationTarget,
    Select, Selection, Selector, Term, UsingParam,
};
use cql::protocol::{ColumnSpec, ColumnType, QueryParameters, ResultBody, TableSpec, Value};
use storage::{
    Bound as SBound, CellOp, CellWrite, Deletion, Liveness, Mutation, Order, ReadCommand, Slice,
    Store, TableSchema, Ttl,
};

use crate::schema::{ClusteringOrder, ColumnKind, DataType, Keyspace, Schema, Table};
use crate::values::{Bound, encode, term_value};
use crate::{Error, Result, select};

fn storage_error(e: storage::Error) -> Error {
    Error::server(format!("storage: {e}"))
}

/// The storage type of a schema type.
fn storage_type(ty: &DataType, ks: &Keyspace) -> Result<storage::CqlType> {
    use storage::CqlType as S;
    Ok(match ty {
        DataType::Native(n) => match n.as_str() {
            "ascii" => S::Ascii,
            "bigint" => S::Bigint,
            "blob" => S::Blob,
            "boolean" => S::Boolean,
            "counter" => S::Counter,
            "date" => S::Date,
            "decimal" => S::Decimal,
            "double" => S::Double,
            "duration" => S::Duration,
            "float" => S::Float,
            "inet" => S::Inet,
            "int" => S::Int,
            "smallint" => S::Smallint,
            "text" | "varchar" => S::Text,
            "time" => S::Time,
            "timestamp" => S::Timestamp,
            "timeuuid" => S::Timeuuid,
            "tinyint" => S::Tinyint,
            "uuid" => S::Uuid,
            "varint" => S::Varint,
            other => return Err(Error::not_supported(&format!("The type {other}"))),
        },
        DataType::List(t) => S::list(storage_type(t, ks)?),
        DataType::Set(t) => S::set(storage_type(t, ks)?),
        DataType::Map(k, v) => S::map(storage_type(k, ks)?, storage_type(v, ks)?),
        DataType::Tuple(ts) => S::Tuple(
            ts.iter()
                .map(|t| storage_type(t, ks))
                .collect::<Result<_>>()?,
        ),
        DataType::Frozen(t) => storage_type(t, ks)?.frozen(),
        DataType::Udt(name) => {
            let ut = ks
                .types
                .get(name)
                .ok_or_else(|| Error::invalid(format!("Unknown type {}.{name}", ks.name)))?;
            S::Udt {
                name: name.clone(),
                fields: ut
                    .fields
                    .iter()
                    .map(|(f, t)| Ok((f.clone(), storage_type(t, ks)?)))
                    .collect::<Result<_>>()?,
                frozen: false,
            }
        }
    })
}

fn storage_options(table: &Table) -> storage::TableOptions {
    storage::TableOptions {
        gc_grace_seconds: u32::try_from(table.params.gc_grace_seconds).unwrap_or(0),
        default_time_to_live: u32::try_from(table.params.default_time_to_live).unwrap_or(0),
        ..storage::TableOptions::default()
    }
}

/// The storage description of a schema table.
fn storage_schema(table: &Table, ks: &Keyspace) -> Result<TableSchema> {
    let mut b = TableSchema::builder(&table.keyspace, &table.name);
    for c in &table.columns {
        let ty = storage_type(&c.ty, ks)?;
        b = match c.kind {
            ColumnKind::PartitionKey => b.partition_key(&c.name, ty),
            ColumnKind::Clustering => {
                let order = if c.order == ClusteringOrder::Desc {
                    Order::Desc
                } else {
                    Order::Asc
                };
                b.clustering(&c.name, ty, order)
            }
            ColumnKind::Static => b.static_column(&c.name, ty),
            ColumnKind::Regular => b.regular(&c.name, ty),
        };
    }
    b.options(storage_options(table))
        .build()
        .map_err(storage_error)
}

/// Brings the store's tables in step with a schema change from `old` to `new`.
pub(crate) fn sync_store(store: &Store, old: &Schema, new: &Schema) -> Result<()> {
    let tables = |s: &Schema| -> Vec<(String, String, uuid::Uuid)> {
        s.keyspaces
            .values()
            .flat_map(|k| {
                k.tables
                    .values()
                    .map(|t| (t.keyspace.clone(), t.name.clone(), t.id))
            })
            .collect()
    };
    let new_tables = tables(new);
    for (ks, name, id) in tables(old) {
        if !new_tables
            .iter()
            .any(|(k, n, i)| *k == ks && *n == name && *i == id)
        {
            match store.drop_table(&ks, &name) {
                Ok(()) | Err(storage::Error::UnknownTable(_)) => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
    }
    for ks in new.keyspaces.values() {
        for t in ks.tables.values() {
            let before = old
                .keyspaces
                .get(&ks.name)
                .and_then(|k| k.tables.get(&t.name))
                .filter(|o| o.id == t.id);
            match before {
                None => ensure_table(store, t, ks)?,
                Some(o) => alter(store, o, t, ks)?,
            }
        }
    }
    Ok(())
}

/// Creates the store table of `t` unless it exists.
pub(crate) fn ensure_table(store: &Store, t: &Table, ks: &Keyspace) -> Result<()> {
    if store.table(&t.keyspace, &t.name).is_ok() {
        return Ok(());
    }
    store
        .create_table(storage_schema(t, ks)?)
        .map_err(storage_error)?;
    Ok(())
}

fn alter(store: &Store, old: &Table, new: &Table, ks: &Keyspace) -> Result<()> {
    use storage::SchemaChange;
    // Key columns are stored by position: a RENAME of one changes nothing in storage.
    let is_key = |c: &&crate::schema::Column| {
        matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering)
    };
    for c in old.columns.iter().filter(|c| !is_key(c)) {
        if new.column(&c.name).is_none_or(|n| n.ty != c.ty) {
            let timestamp = new
                .dropped
                .iter()
                .filter(|d| d.name == c.name)
                .map(|d| d.dropped_at_micros)
                .max()
                .unwrap_or_else(now_micros);
            store
                .alter_table(
                    &new.keyspace,
                    &new.name,
                    &SchemaChange::DropColumn {
                        name: c.name.clone(),
                        timestamp,
                    },
                )
                .map_err(storage_error)?;
        }
    }
    for c in new.columns.iter().filter(|c| !is_key(c)) {
        if old.column(&c.name).is_none_or(|o| o.ty != c.ty) {
            store
                .alter_table(
                    &new.keyspace,
                    &new.name,
                    &SchemaChange::AddColumn {
                        name: c.name.clone(),
                        ty: storage_type(&c.ty, ks)?,
                        is_static: c.kind == ColumnKind::Static,
                    },
                )
                .map_err(storage_error)?;
        }
    }
    if storage_options(old) != storage_options(new) {
        store
            .alter_table(
                &new.keyspace,
                &new.name,
                &SchemaChange::Options(storage_options(new)),
            )
            .map_err(storage_error)?;
    }
    Ok(())
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn now_seconds() -> i64 {
    now_micros() / 1_000_000
}

/// A statement's key and write parameters, resolved against its table.
struct Target<'a> {
    ks: &'a Keyspace,
    table: &'a Table,
    bound: &'a Bound,
}

impl Target<'_> {
    fn column(&self, name: &str) -> Result<&crate::schema::Column> {
        self.table.column(name).ok_or_else(|| {
            Error::invalid(format!(
                "Undefined column name {name} in table {}.{}",
                self.table.keyspace, self.table.name
            ))
        })
    }

    fn value(&self, term: &Term, ty: &DataType) -> Result<Option<Bytes>> {
        let ct = ty.column_type(self.ks);
        if let Term::Literal(_) | Term::Bind(_) | Term::TypeHint { .. } = term {
        } else {
            return Err(Error::not_supported(&format!(
                "The term {term} (only literals and bind markers are)"
            )));
        }
        match term_value(term, &ct, self.bound)? {
            None => Ok(None),
            Some(v) => Ok(Some(encode(&ct, &v)?)),
        }
    }

    fn key_value(&self, name: &str, term: &Term) -> Result<Bytes> {
        let c = self.column(name)?;
        match self.value(term, &c.ty)? {
            Some(v) if !v.is_empty() || c.kind != ColumnKind::PartitionKey => Ok(v),
            Some(_) => Err(Error::invalid(format!(
                "Key may not be empty (column {name})"
            ))),
            None => Err(Error::invalid(format!(
                "Invalid null value for primary key column {name}"
            ))),
        }
    }

    fn key_columns(&self, kind: ColumnKind) -> Vec<&crate::schema::Column> {
        self.table
            .columns
            .iter()
            .filter(|c| c.kind == kind)
            .collect()
    }

    /// The serialized partition key and its token.
    fn partition(&self, components: &[Bytes]) -> Result<(i64, Vec<u8>)> {
        let parts: Vec<&[u8]> = components.iter().map(|b| b.as_ref()).collect();
        let key = ring::serialize_partition_key(&parts)
            .map_err(|e| Error::invalid(format!("Invalid partition key: {e}")))?;
        let token = ring::Murmur3Partitioner.token(&key).value();
        Ok((token, key))
    }

    /// `USING TIMESTAMP` / `USING TTL`, the client's timestamp, the table's default TTL.
    fn write_params(
        &self,
        using: &[UsingParam],
        params: &QueryParameters,
        now: i64,
    ) -> Result<(i64, Option<Ttl>)> {
        let mut timestamp = params.default_timestamp.unwrap_or_else(now_micros);
        let mut ttl = u32::try_from(self.table.params.default_time_to_live).unwrap_or(0);
        for u in using {
            match u {
                UsingParam::Timestamp(t) => {
                    if let Some(Value::Bigint(v)) = term_value(t, &ColumnType::Bigint, self.bound)?
                    {
                        timestamp = v;
                    }
                }
                UsingParam::Ttl(t) => {
                    if let Some(Value::Int(v)) = term_value(t, &ColumnType::Int, self.bound)? {
                        ttl = u32::try_from(v).map_err(|_| {
                            Error::invalid(format!(
                                "A TTL must be greater or equal to 0, but was {v}"
                            ))
                        })?;
                        if ttl > storage::MAX_TTL_SECONDS {
                            return Err(Error::invalid(format!(
                                "ttl is too large. requested ({ttl}) maximum ({})",
                                storage::MAX_TTL_SECONDS
                            )));
                        }
                    }
                }
            }
        }
        Ok((timestamp, (ttl > 0).then(|| Ttl::new(ttl, now))))
    }

    /// The WHERE clause of a write or read as equalities on columns (name -> term).
    fn equalities<'w>(&self, relations: &'w [Relation]) -> Result<Vec<(String, &'w Term)>> {
        let mut out = Vec::new();
        for r in relations {
            match r {
                Relation::Compare {
                    target: RelationTarget::Column(c),
                    op: Operator::Eq,
                    value,
                } => {
                    self.column(c.as_str())?;
                    out.push((c.as_str().to_owned(), value));
                }
                other => {
                    return Err(Error::not_supported(&format!(
                        "The restriction {other} in UPDATE and DELETE (only = on primary key \
                         columns is)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The values of `kind` columns from `eqs`; all must be there unless `prefix_ok`.
    fn key_from(
        &self,
        eqs: &[(String, &Term)],
        kind: ColumnKind,
        prefix_ok: bool,
    ) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        for c in self.key_columns(kind) {
            match eqs.iter().find(|(n, _)| *n == c.name) {
                Some((_, t)) => out.push(self.key_value(&c.name, t)?),
                None if prefix_ok && out.is_empty() => break,
                None => {
                    return Err(Error::invalid(format!(
                        "Some {} columns are missing: {}",
                        if kind == ColumnKind::PartitionKey {
                            "partition key"
                        } else {
                            "clustering"
                        },
                        c.name
                    )));
                }
            }
        }
        Ok(out)
    }
}

fn table_handle(store: &Store, t: &Table) -> Result<storage::Table> {
    store.table(&t.keyspace, &t.name).map_err(storage_error)
}

fn refuse_collections(c: &crate::schema::Column) -> Result<()> {
    if c.ty.is_multicell_collection() || matches!(c.ty, DataType::Udt(_)) {
        return Err(Error::not_supported(&format!(
            "Writing the non-frozen collection or UDT column {}",
            c.name
        )));
    }
    if c.ty.is_counter() {
        return Err(Error::not_supported("Counter columns"));
    }
    Ok(())
}

fn cell(
    column: u16,
    value: Option<Bytes>,
    timestamp: i64,
    ttl: Option<Ttl>,
    now: i64,
) -> CellWrite {
    CellWrite {
        column,
        path: None,
        op: match value {
            Some(v) => CellOp::Set {
                timestamp,
                value: v.to_vec(),
                ttl,
            },
            None => CellOp::Delete(Deletion::new(timestamp, now)),
        },
    }
}

/// INSERT INTO ... (cols) VALUES (...) [USING ...].
pub(crate) fn insert(
    store: &Store,
    ks: &Keyspace,
    table: &Table,
    s: &Insert,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    if s.if_not_exists {
        return Err(Error::not_supported(
            "INSERT ... IF NOT EXISTS (lightweight transactions)",
        ));
    }
    let InsertValues::Columns { columns, values } = &s.values else {
        return Err(Error::not_supported("INSERT JSON"));
    };
    if columns.len() != values.len() {
        return Err(Error::invalid("Unmatched column names/values"));
    }
    let t = Target { ks, table, bound };
    let eqs: Vec<(String, &Term)> = columns
        .iter()
        .zip(values)
        .map(|(c, v)| (c.as_str().to_owned(), v))
        .collect();
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    // Like Cassandra, an INSERT of only static columns may leave out the clustering columns.
    let kinds: Vec<ColumnKind> = eqs
        .iter()
        .map(|(n, _)| t.column(n).map(|c| c.kind))
        .collect::<Result<_>>()?;
    let static_only = kinds.contains(&ColumnKind::Static)
        && kinds
            .iter()
            .all(|k| matches!(k, ColumnKind::PartitionKey | ColumnKind::Static));
    let ck = if static_only {
        Vec::new()
    } else {
        t.key_from(&eqs, ColumnKind::Clustering, false)?
    };
    let (token, key) = t.partition(&pk)?;
    let handle = table_handle(store, table)?;
    let schema = handle.schema();
    let mut m = Mutation::new(token, key, now);
    let mut row_cells = Vec::new();
    for (name, term) in &eqs {
        let c = t.column(name)?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            continue;
        }
        refuse_collections(c)?;
        if bound.is_unset(term) {
            continue;
        }
        let id = schema
            .column_id(name)
            .ok_or_else(|| Error::server(format!("column {name} missing from storage")))?;
        let value = t.value(term, &c.ty)?;
        let w = cell(id, value, timestamp, ttl, now);
        if c.kind == ColumnKind::Static {
            m.static_cells.push(w);
        } else {
            row_cells.push(w);
        }
    }
    let has_clustering = !ck.is_empty();
    if has_clustering || !row_cells.is_empty() || m.static_cells.is_empty() {
        let row = m.row(ck.iter().map(|b| b.to_vec()).collect());
        row.marker = Some(Liveness { timestamp, ttl });
        row.cells = row_cells;
    }
    handle.apply(&m).map_err(storage_error)?;
    Ok(ResultBody::Void)
}

/// UPDATE ... SET col = value, ... WHERE <full primary key>.
pub(crate) fn update(
    store: &Store,
    ks: &Keyspace,
    table: &Table,
    s: &cql::language::ast::Update,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    if s.condition.is_some() {
        return Err(Error::not_supported(
            "UPDATE ... IF (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    let eqs = t.equalities(&s.where_clause)?;
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    let ck = t.key_from(&eqs, ColumnKind::Clustering, false)?;
    for (n, _) in &eqs {
        let c = t.column(n)?;
        if !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Non PRIMARY KEY columns found in where clause: {n}"
            )));
        }
    }
    let (token, key) = t.partition(&pk)?;
    let handle = table_handle(store, table)?;
    let schema = handle.schema();
    let mut m = Mutation::new(token, key, now);
    let mut row_cells = Vec::new();
    for a in &s.assignments {
        let Assignment::Set { column, value } = a else {
            return Err(Error::not_supported(
                "Collection, field and counter updates in UPDATE",
            ));
        };
        let c = t.column(column.as_str())?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "PRIMARY KEY part {} found in SET part",
                c.name
            )));
        }
        refuse_collections(c)?;
        if bound.is_unset(value) {
            continue;
        }
        let id = schema
            .column_id(&c.name)
            .ok_or_else(|| Error::server(format!("column {} missing from storage", c.name)))?;
        let w = cell(id, t.value(value, &c.ty)?, timestamp, ttl, now);
        if c.kind == ColumnKind::Static {
            m.static_cells.push(w);
        } else {
            row_cells.push(w);
        }
    }
    if !row_cells.is_empty() {
        m.row(ck.iter().map(|b| b.to_vec()).collect()).cells = row_cells;
    }
    handle.apply(&m).map_err(storage_error)?;
    Ok(ResultBody::Void)
}

/// DELETE [cols] FROM ... WHERE <partition key> [and full clustering key].
pub(crate) fn delete(
    store: &Store,
    ks: &Keyspace,
    table: &Table,
    s: &Delete,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    if s.condition.is_some() {
        return Err(Error::not_supported(
            "DELETE ... IF (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    let eqs = t.equalities(&s.where_clause)?;
    let now = now_seconds();
    if s.using.iter().any(|u| matches!(u, UsingParam::Ttl(_))) {
        return Err(Error::invalid("A TTL is not allowed on DELETE statements"));
    }
    let (timestamp, _) = t.write_params(&s.using, params, now)?;
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    let ck = t.key_from(&eqs, ColumnKind::Clustering, true)?;
    for (n, _) in &eqs {
        let c = t.column(n)?;
        if !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Non PRIMARY KEY columns found in where clause: {n}"
            )));
        }
    }
    let full_row = ck.len() == t.key_columns(ColumnKind::Clustering).len();
    let (token, key) = t.partition(&pk)?;
    let handle = table_handle(store, table)?;
    let schema = handle.schema();
    let mut m = Mutation::new(token, key, now);
    let deletion = Deletion::new(timestamp, now);
    if s.targets.is_empty() {
        if ck.is_empty() {
            m.partition_deletion = Some(deletion);
        } else if full_row {
            m.row(ck.iter().map(|b| b.to_vec()).collect()).deletion = Some(deletion);
        } else {
            return Err(Error::not_supported(
                "DELETE of a clustering prefix (range deletions)",
            ));
        }
    } else {
        for target in &s.targets {
            let DeleteTarget::Column(name) = target else {
                return Err(Error::not_supported(
                    "Deleting collection elements or fields",
                ));
            };
            let c = t.column(name.as_str())?;
            if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
                return Err(Error::invalid(format!(
                    "Invalid identifier {} for deletion (should not be a PRIMARY KEY part)",
                    c.name
                )));
            }
            refuse_collections(c)?;
            let id = schema
                .column_id(&c.name)
                .ok_or_else(|| Error::server(format!("column {} missing from storage", c.name)))?;
            let w = cell(id, None, timestamp, None, now);
            if c.kind == ColumnKind::Static {
                m.static_cells.push(w);
            } else if full_row {
                m.row(ck.iter().map(|b| b.to_vec()).collect()).cells.push(w);
            } else {
                return Err(Error::invalid(format!(
                    "Some clustering keys are missing to delete column {}",
                    c.name
                )));
            }
        }
    }
    handle.apply(&m).map_err(storage_error)?;
    Ok(ResultBody::Void)
}

/// SELECT over one partition, with a clustering slice (equalities on a prefix of the
/// clustering columns, then at most a range on the next one).
pub(crate) fn select(
    store: &Store,
    ks: &Keyspace,
    table: &Table,
    s: &Select,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<ResultBody> {
    check_select_shape(s)?;
    let t = Target { ks, table, bound };
    let mut eqs: Vec<(String, &Term)> = Vec::new();
    let mut ranges: Vec<(String, Operator, &Term)> = Vec::new();
    for r in &s.where_clause {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                op,
                value,
            } => {
                let col = t.column(c.as_str())?;
                let name = col.name.clone();
                match (op, col.kind) {
                    (Operator::Eq, ColumnKind::PartitionKey | ColumnKind::Clustering) => {
                        eqs.push((name, value));
                    }
                    (
                        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge,
                        ColumnKind::Clustering,
                    ) => ranges.push((name, *op, value)),
                    _ => {
                        return Err(Error::not_supported(&format!(
                            "The restriction {r} (filtering; only = on the partition key and \
                             slices on clustering columns are supported)"
                        )));
                    }
                }
            }
            other => {
                return Err(Error::not_supported(&format!(
                    "The restriction {other} (IN, token, tuple and collection restrictions)"
                )));
            }
        }
    }
    let pk_cols = t.key_columns(ColumnKind::PartitionKey);
    if pk_cols
        .iter()
        .any(|c| !eqs.iter().any(|(n, _)| *n == c.name))
    {
        return Err(Error::not_supported(
            "SELECT without = on every partition key column (range scans and filtering)",
        ));
    }
    let pk = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    // The clustering slice: an equality prefix, then ranges on the next column only.
    let ck_cols = t.key_columns(ColumnKind::Clustering);
    let mut prefix: Vec<Vec<u8>> = Vec::new();
    let mut range_col: Option<&crate::schema::Column> = None;
    for c in &ck_cols {
        if let Some((_, term)) = eqs.iter().find(|(n, _)| *n == c.name) {
            if range_col.is_some() {
                return Err(Error::not_supported(
                    "Equality after a range on clustering columns",
                ));
            }
            prefix.push(t.key_value(&c.name, term)?.to_vec());
        } else {
            if range_col.is_none() {
                range_col = Some(c);
            }
            break;
        }
    }
    let restricted_ck = eqs
        .iter()
        .filter(|(n, _)| ck_cols.iter().any(|c| c.name == *n))
        .count();
    if restricted_ck != prefix.len() {
        return Err(Error::not_supported(
            "Restricting a clustering column when a preceding one is not restricted (filtering)",
        ));
    }
    let mut start = if prefix.is_empty() {
        SBound::Unbounded
    } else {
        SBound::Inclusive(prefix.clone())
    };
    let mut end = start.clone();
    for (name, op, term) in &ranges {
        let Some(col) = range_col.filter(|c| c.name == *name) else {
            return Err(Error::not_supported(&format!(
                "A range on clustering column {name} that does not follow an equality prefix"
            )));
        };
        let mut at = prefix.clone();
        at.push(t.key_value(name, term)?.to_vec());
        let desc = col.order == ClusteringOrder::Desc;
        // A lower bound is the slice's start in ASC order, its end in DESC order.
        let lower = matches!(op, Operator::Gt | Operator::Ge);
        let inclusive = matches!(op, Operator::Ge | Operator::Le);
        let b = if inclusive {
            SBound::Inclusive(at)
        } else {
            SBound::Exclusive(at)
        };
        let slot = if lower != desc { &mut start } else { &mut end };
        let already = match slot {
            SBound::Unbounded => false,
            SBound::Inclusive(p) | SBound::Exclusive(p) => p.len() > prefix.len(),
        };
        if already {
            return Err(Error::invalid(format!(
                "More than one restriction was found for the {} bound on {name}",
                if lower { "start" } else { "end" }
            )));
        }
        *slot = b;
    }
    let (token, key) = t.partition(&pk)?;
    let handle = table_handle(store, table)?;
    let schema = handle.schema();
    let mut cmd = ReadCommand::partition(token, key);
    cmd.slice = Slice { start, end };
    let result = handle.read(&cmd).map_err(storage_error)?;

    // Rows in `table.columns` order, decoded.
    let types: Vec<ColumnType> = table.columns.iter().map(|c| c.ty.column_type(ks)).collect();
    let decode = |i: usize, bytes: &[u8]| -> Result<Option<Value>> {
        let ty = types
            .get(i)
            .ok_or_else(|| Error::server("column index out of range"))?;
        ty.decode(&Bytes::copy_from_slice(bytes))
            .map(Some)
            .map_err(|e| Error::server(format!("stored value does not decode as {ty}: {e}")))
    };
    let mut rows: Vec<Vec<Option<Value>>> = Vec::new();
    for p in &result.partitions {
        let mut base: Vec<Option<Value>> = vec![None; table.columns.len()];
        let mut pk_i = 0;
        for (i, c) in table.columns.iter().enumerate() {
            match c.kind {
                ColumnKind::PartitionKey => {
                    if let (Some(slot), Some(v)) = (base.get_mut(i), pk.get(pk_i)) {
                        *slot = decode(i, v)?;
                    }
                    pk_i += 1;
                }
                ColumnKind::Static => {
                    let id = schema.column_id(&c.name);
                    if let Some(cd) = p.static_cells.iter().find(|cd| Some(cd.column) == id)
                        && let Some(slot) = base.get_mut(i)
                    {
                        *slot = decode(i, &cd.value)?;
                    }
                }
                _ => {}
            }
        }
        if p.rows.is_empty() {
            if !p.static_cells.is_empty() && prefix.is_empty() && ranges.is_empty() {
                rows.push(base);
            }
            continue;
        }
        for r in &p.rows {
            let mut row = base.clone();
            let mut ck_i = 0;
            for (i, c) in table.columns.iter().enumerate() {
                let v = match c.kind {
                    ColumnKind::Clustering => {
                        let v = r.clustering.get(ck_i);
                        ck_i += 1;
                        v.map(|b| decode(i, b)).transpose()?.flatten()
                    }
                    ColumnKind::Regular => {
                        let id = schema.column_id(&c.name);
                        r.cells
                            .iter()
                            .find(|cd| Some(cd.column) == id && cd.path.is_none())
                            .map(|cd| decode(i, &cd.value))
                            .transpose()?
                            .flatten()
                    }
                    _ => continue,
                };
                if let Some(slot) = row.get_mut(i) {
                    *slot = v;
                }
            }
            rows.push(row);
        }
    }
    let mut projected = s.clone();
    projected.where_clause.clear();
    select::run(&projected, table, ks, rows, bound, params)
}

fn check_select_shape(s: &Select) -> Result<()> {
    let refuse = |what: &str| Err(Error::not_supported(&format!("{what} on user tables")));
    if s.allow_filtering {
        return refuse("ALLOW FILTERING");
    }
    if s.json {
        return refuse("SELECT JSON");
    }
    if s.distinct {
        return refuse("SELECT DISTINCT");
    }
    if !s.group_by.is_empty() {
        return refuse("GROUP BY");
    }
    if !s.order_by.is_empty() {
        return refuse("ORDER BY");
    }
    if s.per_partition_limit.is_some() {
        return refuse("PER PARTITION LIMIT");
    }
    if let Selection::Items(items) = &s.selection {
        for item in items {
            match &item.selector {
                Selector::Column(_) => {}
                Selector::CountStar | Selector::Function { .. } => {
                    return refuse(&format!(
                        "The selector {} (functions and aggregates)",
                        item.selector
                    ));
                }
                other => return refuse(&format!("The selector {other}")),
            }
        }
    }
    Ok(())
}

/// The bind markers' columns of a write, in marker order.
pub(crate) fn write_marker_columns(
    ks: &Keyspace,
    table: &Table,
    statement: &cql::language::ast::Statement,
) -> Result<Vec<ColumnSpec>> {
    use cql::language::ast::Statement;
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let mut out: Vec<(usize, ColumnSpec)> = Vec::new();
    let mut push = |term: &Term, name: &str, ty: ColumnType| {
        if let Term::Bind(m) = term {
            out.push((
                m.index,
                ColumnSpec {
                    table: spec.clone(),
                    name: name.to_owned(),
                    ty,
                },
            ));
        }
    };
    let column_type = |name: &str| -> Result<ColumnType> {
        table
            .column(name)
            .map(|c| c.ty.column_type(ks))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Undefined column name {name} in table {}.{}",
                    table.keyspace, table.name
                ))
            })
    };
    let (using, wheres): (&[UsingParam], &[Relation]) = match statement {
        Statement::Insert(s) => {
            if let InsertValues::Columns { columns, values } = &s.values {
                for (c, v) in columns.iter().zip(values) {
                    push(v, c.as_str(), column_type(c.as_str())?);
                }
            }
            (&s.using, &[])
        }
        Statement::Update(s) => {
            for a in &s.assignments {
                if let Assignment::Set { column, value } = a {
                    push(value, column.as_str(), column_type(column.as_str())?);
                }
            }
            (&s.using, &s.where_clause)
        }
        Statement::Delete(s) => (&s.using, &s.where_clause),
        _ => (&[], &[]),
    };
    for u in using {
        match u {
            UsingParam::Ttl(t) => push(t, "[ttl]", ColumnType::Int),
            UsingParam::Timestamp(t) => push(t, "[timestamp]", ColumnType::Bigint),
        }
    }
    for r in wheres {
        if let Relation::Compare {
            target: RelationTarget::Column(c),
            value,
            ..
        } = r
        {
            push(value, c.as_str(), column_type(c.as_str())?);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}
