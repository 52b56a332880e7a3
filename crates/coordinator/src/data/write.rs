//! INSERT, UPDATE and DELETE: statements turned into storage mutations, sent through the
//! [`DataPath`](super::DataPath).
//!
//! Non-frozen collections and user types are written per element (`CellWrite.path`): a whole
//! value first deletes the column (a collection tombstone at `timestamp - 1`, as Cassandra) and
//! then writes one cell per element; `+`, `-`, `c[k] = v`, `c.f = v` and element deletions
//! touch single elements. List elements are keyed by timeuuids (increasing for appends, before
//! every existing element for prepends); `l[i] = v`, `DELETE l[i]` and `l = l - [..]` read the
//! list first. DELETE with a clustering prefix or a range on the next clustering column is a
//! range deletion.

use bytes::Bytes;
use ilion_cql::language::ast::{
    Assignment, Delete, DeleteTarget, Ident, InValues, Insert, InsertValues, JsonDefault, Operator,
    Relation, RelationTarget, Term, UsingParam,
};
use ilion_cql::protocol::{ColumnSpec, Consistency, CqlType, QueryParameters, TableSpec, Value};
use ilion_storage::{
    Bound as SBound, CellOp, CellWrite, Deletion, Liveness, Mutation, RangeDeletion, ReadCommand,
    Slice, TableSchema, Ttl,
};

use super::cells::{is_multi_cell, list_elements};
use super::{DataPath, KeyTerm, TableWrite, Target, check_in_keys, combinations, now_seconds};
use crate::json;
use crate::schema::types::SchemaType;
use crate::schema::{ClusteringOrder, Column, ColumnKind, Keyspace, Table};
use crate::values::{Bound, append_timeuuids, encode, prepend_timeuuids, term_value};
use crate::{Error, Result};

/// What one statement writes into one partition: its write parameters and the row it targets.
struct Writer<'a> {
    data: &'a dyn DataPath,
    t: Target<'a>,
    schema: std::sync::Arc<TableSchema>,
    timestamp: i64,
    ttl: Option<Ttl>,
    now: i64,
    consistency: Consistency,
    token: i64,
    key: Vec<u8>,
    clustering: Vec<Vec<u8>>,
}

impl Writer<'_> {
    fn id(&self, c: &Column) -> Result<u16> {
        self.schema
            .column_id(&c.name)
            .ok_or_else(|| Error::server(format!("column {} missing from storage", c.name)))
    }

    fn set_cell(&self, id: u16, path: Option<Vec<u8>>, value: Bytes) -> CellWrite {
        CellWrite {
            column: id,
            path,
            op: CellOp::Set {
                timestamp: self.timestamp,
                value: value.to_vec(),
                ttl: self.ttl,
            },
        }
    }

    fn delete_cell(&self, id: u16, path: Option<Vec<u8>>) -> CellWrite {
        CellWrite {
            column: id,
            path,
            op: CellOp::Delete(Deletion::new(self.timestamp, self.now)),
        }
    }

    fn column_type(&self, c: &Column) -> CqlType {
        c.ty.column_type(self.t.ks)
    }

    /// `c = value` (INSERT and UPDATE): the whole value of the column.
    fn set_whole(&self, c: &Column, value: Option<Value>, out: &mut Vec<CellWrite>) -> Result<()> {
        let id = self.id(c)?;
        let ty = self.column_type(c);
        if !is_multi_cell(&c.ty) {
            let bytes = value.map(|v| encode(&ty, &v)).transpose()?;
            out.push(match bytes {
                Some(b) => self.set_cell(id, None, b),
                None => self.delete_cell(id, None),
            });
            return Ok(());
        }
        out.push(CellWrite {
            column: id,
            path: None,
            op: CellOp::DeleteCollection(Deletion::new(self.timestamp - 1, self.now)),
        });
        match value {
            None => Ok(()),
            Some(v) => self.add_elements(c, &ty, v, false, out),
        }
    }

    /// The cells of the elements of `v` added to a multi-cell column (`c = c + v`, or after
    /// the tombstone of a whole write); `prepend` puts list elements first.
    fn add_elements(
        &self,
        c: &Column,
        ty: &CqlType,
        v: Value,
        prepend: bool,
        out: &mut Vec<CellWrite>,
    ) -> Result<()> {
        let id = self.id(c)?;
        match (ty, v) {
            (CqlType::List { element: e, .. }, Value::List(items)) => {
                let paths = if prepend {
                    prepend_timeuuids(items.len())
                } else {
                    append_timeuuids(items.len())
                };
                for (path, item) in paths.into_iter().zip(items) {
                    out.push(self.set_cell(id, Some(path.to_vec()), encode(e, &item)?));
                }
            }
            (CqlType::Set { element: e, .. }, Value::Set(items)) => {
                for item in items {
                    out.push(self.set_cell(id, Some(encode(e, &item)?.to_vec()), Bytes::new()));
                }
            }
            (
                CqlType::Map {
                    key: kt, value: vt, ..
                },
                Value::Map(entries),
            ) => {
                for (k, v) in entries {
                    out.push(self.set_cell(id, Some(encode(kt, &k)?.to_vec()), encode(vt, &v)?));
                }
            }
            (CqlType::Udt(u), Value::Udt(fields)) => {
                for (i, ((_, v), (_, fty))) in fields.into_iter().zip(&u.fields).enumerate() {
                    if let Some(v) = v {
                        out.push(self.set_cell(id, Some(field_path(i)?), encode(fty, &v)?));
                    }
                }
            }
            (ty, v) => {
                return Err(Error::invalid(format!(
                    "Invalid value {} for column {} of type {ty}",
                    v.kind(),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// The live elements of list column `c` in this row, in list order: `(path, value)`.
    fn current_list(&self, c: &Column) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let id = self.id(c)?;
        let mut cmd = ReadCommand::partition(self.token, self.key.clone());
        if c.kind == ColumnKind::Static {
            cmd.limit = Some(1);
        } else {
            cmd.slice = Slice {
                start: SBound::Inclusive(self.clustering.clone()),
                end: SBound::Inclusive(self.clustering.clone()),
            };
        }
        let result = self
            .data
            .read(self.t.ks, self.t.table, &cmd, self.consistency)?;
        let Some(p) = result.partitions.first() else {
            return Ok(Vec::new());
        };
        let cells = if c.kind == ColumnKind::Static {
            &p.static_cells
        } else {
            match p.rows.iter().find(|r| r.clustering == self.clustering) {
                Some(r) => &r.cells,
                None => return Ok(Vec::new()),
            }
        };
        Ok(list_elements(cells.iter().filter(|cd| cd.column == id)))
    }

    /// The path of element `index` of list column `c`, read from the row.
    fn list_index_path(&self, c: &Column, index: Option<Value>, op: &str) -> Result<Vec<u8>> {
        let Some(Value::Int(i)) = index else {
            return Err(Error::invalid(format!(
                "Invalid null value for list index of {}",
                c.name
            )));
        };
        let list = self.current_list(c)?;
        if list.is_empty() {
            return Err(Error::invalid(format!(
                "Attempted to {op} an element on a list which is null"
            )));
        }
        usize::try_from(i)
            .ok()
            .and_then(|i| list.get(i))
            .map(|(p, _)| p.clone())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "List index {i} out of bound, list has size {}",
                    list.len()
                ))
            })
    }

    /// One SET assignment of an UPDATE.
    fn assign(&self, a: &Assignment, out: &mut Vec<CellWrite>) -> Result<()> {
        let bound = self.t.bound;
        let (column, shown) = assignment_column(a);
        let c = self.t.column(column.as_str())?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "PRIMARY KEY part {} found in SET part",
                c.name
            )));
        }
        if c.ty.is_counter() {
            return Err(Error::not_supported("Counter columns"));
        }
        let ty = self.column_type(c);
        let multi = is_multi_cell(&c.ty);
        let invalid_op = || {
            // Tuples are frozen too, but not "frozen collections".
            let frozen = c.ty.is_frozen() && !matches!(c.ty, CqlType::Tuple(_));
            let what = match (frozen, &ty) {
                (true, CqlType::Udt(_)) => "frozen UDT column",
                (true, _) => "frozen collection column",
                (_, CqlType::List { .. } | CqlType::Set { .. } | CqlType::Map { .. }) => {
                    "collection column"
                }
                (_, CqlType::Udt(_)) => "UDT column",
                _ => "non counter column",
            };
            Error::invalid(format!("Invalid operation ({shown}) for {what} {}", c.name))
        };
        let id = self.id(c)?;
        match a {
            Assignment::Set { value, .. } => {
                if bound.is_unset(value) {
                    return Ok(());
                }
                self.set_whole(c, term_value(value, &ty, bound)?, out)
            }
            Assignment::Append { value, .. } | Assignment::Prepend { value, .. } => {
                let prepend = matches!(a, Assignment::Prepend { .. });
                let ok = multi
                    && match ty {
                        CqlType::List { .. } => true,
                        CqlType::Set { .. } | CqlType::Map { .. } => !prepend,
                        _ => false,
                    };
                if !ok {
                    return Err(invalid_op());
                }
                if bound.is_unset(value) {
                    return Ok(());
                }
                match term_value(value, &ty, bound)? {
                    None => Ok(()),
                    Some(v) => self.add_elements(c, &ty, v, prepend, out),
                }
            }
            Assignment::Remove { value, .. } => {
                if !multi || matches!(ty, CqlType::Udt(_)) {
                    return Err(invalid_op());
                }
                if bound.is_unset(value) {
                    return Ok(());
                }
                match &ty {
                    CqlType::List { element: e, .. } => {
                        let Some(Value::List(items)) = term_value(value, &ty, bound)? else {
                            return Ok(());
                        };
                        let discard = items
                            .iter()
                            .map(|v| encode(e, v).map(|b| b.to_vec()))
                            .collect::<Result<Vec<_>>>()?;
                        if discard.is_empty() {
                            return Ok(());
                        }
                        for (path, v) in self.current_list(c)? {
                            if discard.contains(&v) {
                                out.push(self.delete_cell(id, Some(path)));
                            }
                        }
                    }
                    CqlType::Set { element: e, .. }
                    | CqlType::Map {
                        key: e, value: _, ..
                    } => {
                        let keys_ty = CqlType::set((**e).clone());
                        let Some(Value::Set(items)) = term_value(value, &keys_ty, bound)? else {
                            return Ok(());
                        };
                        for item in items {
                            out.push(self.delete_cell(id, Some(encode(e, &item)?.to_vec())));
                        }
                    }
                    _ => return Err(invalid_op()),
                }
                Ok(())
            }
            Assignment::SetElement { key, value, .. } => {
                if !multi {
                    return Err(invalid_op());
                }
                match &ty {
                    CqlType::Map {
                        key: kt, value: vt, ..
                    } => {
                        let Some(k) = term_value(key, kt, bound)? else {
                            return Err(Error::invalid("Invalid null value for map key"));
                        };
                        let path = Some(encode(kt, &k)?.to_vec());
                        if bound.is_unset(value) {
                            return Ok(());
                        }
                        out.push(match term_value(value, vt, bound)? {
                            Some(v) => self.set_cell(id, path, encode(vt, &v)?),
                            None => self.delete_cell(id, path),
                        });
                        Ok(())
                    }
                    CqlType::List { element: e, .. } => {
                        if bound.is_unset(value) {
                            return Ok(());
                        }
                        let index = term_value(key, &CqlType::Int, bound)?;
                        let v = term_value(value, e, bound)?;
                        let path = Some(self.list_index_path(c, index, "set")?);
                        out.push(match v {
                            Some(v) => self.set_cell(id, path, encode(e, &v)?),
                            None => self.delete_cell(id, path),
                        });
                        Ok(())
                    }
                    _ => Err(Error::invalid(format!(
                        "Invalid operation ({shown}) for non list/map column {}",
                        c.name
                    ))),
                }
            }
            Assignment::SetField { field, value, .. } => {
                let CqlType::Udt(u) = &ty else {
                    return Err(invalid_op());
                };
                if !multi {
                    return Err(invalid_op());
                }
                let (i, fty) = udt_field(u, c, field)?;
                if bound.is_unset(value) {
                    return Ok(());
                }
                let path = Some(field_path(i)?);
                out.push(match term_value(value, fty, bound)? {
                    Some(v) => self.set_cell(id, path, encode(fty, &v)?),
                    None => self.delete_cell(id, path),
                });
                Ok(())
            }
        }
    }

    /// One target of a DELETE (a column, an element, a field).
    fn delete_target(&self, target: &DeleteTarget, out: &mut Vec<CellWrite>) -> Result<()> {
        let bound = self.t.bound;
        let name = match target {
            DeleteTarget::Column(n)
            | DeleteTarget::Element { column: n, .. }
            | DeleteTarget::Field { column: n, .. } => n,
        };
        let c = self.t.column(name.as_str())?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Invalid identifier {} for deletion (should not be a PRIMARY KEY part)",
                c.name
            )));
        }
        if c.ty.is_counter() {
            return Err(Error::not_supported("Counter columns"));
        }
        let id = self.id(c)?;
        let ty = self.column_type(c);
        let multi = is_multi_cell(&c.ty);
        match target {
            DeleteTarget::Column(_) => out.push(if multi {
                CellWrite {
                    column: id,
                    path: None,
                    op: CellOp::DeleteCollection(Deletion::new(self.timestamp, self.now)),
                }
            } else {
                self.delete_cell(id, None)
            }),
            DeleteTarget::Element { key, .. } => {
                let (CqlType::List { .. } | CqlType::Set { .. } | CqlType::Map { .. }) = ty else {
                    return Err(Error::invalid(format!(
                        "Invalid deletion operation for non collection column {}",
                        c.name
                    )));
                };
                if !multi {
                    return Err(Error::invalid(format!(
                        "Invalid deletion operation for frozen collection column {}",
                        c.name
                    )));
                }
                if bound.is_unset(key) {
                    return Err(Error::invalid(format!(
                        "Invalid unset value for an element of {}",
                        c.name
                    )));
                }
                let path = match &ty {
                    CqlType::List { .. } => {
                        let index = term_value(key, &CqlType::Int, bound)?;
                        self.list_index_path(c, index, "delete")?
                    }
                    CqlType::Set { element: kt, .. }
                    | CqlType::Map {
                        key: kt, value: _, ..
                    } => {
                        let Some(k) = term_value(key, kt, bound)? else {
                            return Err(Error::invalid(format!(
                                "Invalid null value for an element of {}",
                                c.name
                            )));
                        };
                        encode(kt, &k)?.to_vec()
                    }
                    _ => return Err(Error::server("unreachable column type")),
                };
                out.push(self.delete_cell(id, Some(path)));
            }
            DeleteTarget::Field { field, .. } => {
                let CqlType::Udt(u) = &ty else {
                    return Err(Error::invalid(format!(
                        "Invalid deletion operation for non-UDT column {}",
                        c.name
                    )));
                };
                if !multi {
                    return Err(Error::invalid(format!(
                        "Frozen UDT column {} does not support field deletions",
                        c.name
                    )));
                }
                let (i, _) = udt_field(u, c, field)?;
                out.push(self.delete_cell(id, Some(field_path(i)?)));
            }
        }
        Ok(())
    }
}

fn field_path(i: usize) -> Result<Vec<u8>> {
    u16::try_from(i)
        .map(|i| i.to_be_bytes().to_vec())
        .map_err(|_| Error::invalid("too many fields in a user type"))
}

fn udt_field<'u>(
    u: &'u ilion_cql::protocol::UdtType,
    c: &Column,
    field: &Ident,
) -> Result<(usize, &'u CqlType)> {
    u.fields
        .iter()
        .enumerate()
        .find(|(_, (n, _))| n == field.as_str())
        .map(|(i, (_, t))| (i, t))
        .ok_or_else(|| {
            Error::invalid(format!(
                "UDT column {} does not have a field named {}",
                c.name,
                field.as_str()
            ))
        })
}

fn assignment_column(a: &Assignment) -> (&Ident, String) {
    match a {
        Assignment::Set { column, value } => (column, format!("{} = {value}", column.as_str())),
        Assignment::SetElement { column, key, value } => {
            (column, format!("{}[{key}] = {value}", column.as_str()))
        }
        Assignment::SetField {
            column,
            field,
            value,
        } => (
            column,
            format!("{}.{} = {value}", column.as_str(), field.as_str()),
        ),
        Assignment::Append { column, value } => {
            (column, format!("{0} = {0} + {value}", column.as_str()))
        }
        Assignment::Prepend { column, value } => {
            (column, format!("{0} = {value} + {0}", column.as_str()))
        }
        Assignment::Remove { column, value } => {
            (column, format!("{0} = {0} - {value}", column.as_str()))
        }
    }
}

/// A value given to a column by an INSERT: unset (left alone) or a value (`None` is null).
enum Given {
    Unset,
    Value(Option<Value>),
}

/// The serialized value of key column `c`: never null, never unset, a partition key never empty.
fn key_bytes(t: &Target<'_>, c: &Column, given: &Given) -> Result<Vec<u8>> {
    let v = match given {
        Given::Unset => {
            return Err(Error::invalid(format!(
                "Invalid unset value for column {}",
                c.name
            )));
        }
        Given::Value(None) => {
            return Err(Error::invalid(format!(
                "Invalid null value for primary key column {}",
                c.name
            )));
        }
        Given::Value(Some(v)) => encode(&c.ty.column_type(t.ks), v)?,
    };
    if v.is_empty() && c.kind == ColumnKind::PartitionKey {
        return Err(Error::invalid(format!(
            "Key may not be empty (column {})",
            c.name
        )));
    }
    Ok(v.to_vec())
}

/// INSERT INTO ... (cols) VALUES (...) | JSON '...' [USING ...].
pub(crate) fn insert<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &Insert,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if s.if_not_exists {
        return Err(Error::not_supported(
            "INSERT ... IF NOT EXISTS (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    // Every column the statement gives, with its value.
    let mut given: Vec<(&Column, Given)> = Vec::new();
    match &s.values {
        InsertValues::Columns { columns, values } => {
            if columns.len() != values.len() {
                return Err(Error::invalid("Unmatched column names/values"));
            }
            for (name, term) in columns.iter().zip(values) {
                let c = t.column(name.as_str())?;
                if given.iter().any(|(g, _)| g.name == c.name) {
                    return Err(Error::invalid(format!(
                        "Multiple definitions found for column {}",
                        c.name
                    )));
                }
                let g = if bound.is_unset(term) {
                    Given::Unset
                } else {
                    Given::Value(term_value(term, &c.ty.column_type(ks), bound)?)
                };
                given.push((c, g));
            }
        }
        InsertValues::Json { value, default } => {
            let text = match term_value(value, &CqlType::Text, bound)? {
                Some(Value::Text(text)) => text,
                _ => return Err(Error::invalid("Got null for INSERT JSON values")),
            };
            let json::Json::Object(entries) = json::parse(&text)? else {
                return Err(Error::invalid(format!(
                    "Could not decode JSON string as a map: {text}"
                )));
            };
            for (key, j) in &entries {
                let name = json::key_name(key);
                let c = table.column(&name).ok_or_else(|| {
                    Error::invalid(format!(
                        "JSON values map contains unrecognized column: {name}"
                    ))
                })?;
                let v = json::value_of(j, &c.ty.column_type(ks))?;
                given.retain(|(g, _)| g.name != c.name);
                given.push((c, Given::Value(v)));
            }
            if *default != Some(JsonDefault::Unset) {
                for c in &table.columns {
                    let key = matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering);
                    if !key && !given.iter().any(|(g, _)| g.name == c.name) {
                        given.push((c, Given::Value(None)));
                    }
                }
            }
        }
    }
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let key_values = |kind: ColumnKind| -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for c in t.key_columns(kind) {
            match given.iter().find(|(g, _)| g.name == c.name) {
                Some((_, g)) => out.push(key_bytes(&t, c, g)?),
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
    };
    let pk = key_values(ColumnKind::PartitionKey)?;
    // Like Cassandra, an INSERT of only static columns may leave out the clustering columns.
    let static_only = given.iter().any(|(c, _)| c.kind == ColumnKind::Static)
        && given
            .iter()
            .all(|(c, _)| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Static));
    let clustering_given = given.iter().any(|(c, _)| c.kind == ColumnKind::Clustering);
    let ck = if static_only && !clustering_given {
        Vec::new()
    } else {
        key_values(ColumnKind::Clustering)?
    };
    let pk: Vec<Bytes> = pk.into_iter().map(Bytes::from).collect();
    let (token, key) = t.partition(&pk)?;
    let w = Writer {
        data,
        schema: data.table_schema(table)?,
        t: Target { ks, table, bound },
        timestamp,
        ttl,
        now,
        consistency: params.consistency,
        token,
        key: key.clone(),
        clustering: ck.clone(),
    };
    let mut m = Mutation::new(token, key, now);
    let mut row_cells = Vec::new();
    for (c, g) in given {
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            continue;
        }
        if c.ty.is_counter() {
            return Err(Error::invalid(
                "INSERT statements are not allowed on counter tables, use UPDATE instead",
            ));
        }
        let Given::Value(v) = g else { continue };
        if c.kind == ColumnKind::Static {
            w.set_whole(c, v, &mut m.static_cells)?;
        } else {
            w.set_whole(c, v, &mut row_cells)?;
        }
    }
    if !ck.is_empty() || !row_cells.is_empty() || m.static_cells.is_empty() {
        let row = m.row(ck);
        row.marker = Some(Liveness { timestamp, ttl });
        row.cells = row_cells;
    }
    Ok(vec![TableWrite {
        keyspace: ks,
        table,
        mutation: m,
    }])
}

/// UPDATE ... SET ... WHERE <full primary key>.
pub(crate) fn update<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &ilion_cql::language::ast::Update,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if s.condition.is_some() {
        return Err(Error::not_supported(
            "UPDATE ... IF (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    let eqs = t.equalities(&s.where_clause)?;
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let pks = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    for (n, _) in &eqs {
        let c = t.column(n)?;
        if !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Non PRIMARY KEY columns found in where clause: {n}"
            )));
        }
    }
    // Like Cassandra, an UPDATE of only static columns needs no clustering key.
    let static_only = !s.assignments.is_empty()
        && s.assignments.iter().all(|a| {
            t.column(assignment_column(a).0.as_str())
                .is_ok_and(|c| c.kind == ColumnKind::Static)
        });
    let ck_given = eqs
        .iter()
        .any(|(n, _)| t.column(n).is_ok_and(|c| c.kind == ColumnKind::Clustering));
    let cks = if static_only && !ck_given {
        vec![Vec::new()]
    } else {
        t.key_from(&eqs, ColumnKind::Clustering, false)?
    };
    check_in_keys(pks.len(), cks.len())?;
    let schema = data.table_schema(table)?;
    let mut writes = Vec::with_capacity(pks.len());
    // One mutation per partition key; IN on the clustering columns gives it several rows.
    for pk in &pks {
        let (token, key) = t.partition(pk)?;
        let mut m = Mutation::new(token, key.clone(), now);
        for ck in &cks {
            let w = Writer {
                data,
                schema: schema.clone(),
                t: Target { ks, table, bound },
                timestamp,
                ttl,
                now,
                consistency: params.consistency,
                token,
                key: key.clone(),
                clustering: ck.iter().map(|b| b.to_vec()).collect(),
            };
            let mut static_cells = Vec::new();
            let mut row_cells = Vec::new();
            for a in &s.assignments {
                let c = w.t.column(assignment_column(a).0.as_str())?;
                if c.kind == ColumnKind::Static {
                    w.assign(a, &mut static_cells)?;
                } else {
                    if static_only {
                        continue;
                    }
                    w.assign(a, &mut row_cells)?;
                }
            }
            // Static cells belong to the partition: set once, whichever rows the IN names.
            if m.static_cells.is_empty() {
                m.static_cells = static_cells;
            }
            if !row_cells.is_empty() {
                m.row(w.clustering.clone()).cells = row_cells;
            }
        }
        writes.push(TableWrite {
            keyspace: ks,
            table,
            mutation: m,
        });
    }
    Ok(writes)
}

/// The WHERE clause of a DELETE: equalities or INs (name -> restriction) and at most ranges
/// on the clustering column after the equality prefix.
type Where<'w> = (
    Vec<(String, KeyTerm<'w>)>,
    Vec<(String, Operator, &'w Term)>,
);

fn delete_where<'w>(t: &Target<'_>, relations: &'w [Relation]) -> Result<Where<'w>> {
    let mut eqs = Vec::new();
    let mut ranges = Vec::new();
    for r in relations {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                op,
                value,
            } => {
                let col = t.column(c.as_str())?;
                match (op, col.kind) {
                    (Operator::Eq, ColumnKind::PartitionKey | ColumnKind::Clustering) => {
                        eqs.push((col.name.clone(), KeyTerm::Eq(value)));
                    }
                    (Operator::Eq, _) => {
                        return Err(Error::invalid(format!(
                            "Non PRIMARY KEY columns found in where clause: {}",
                            col.name
                        )));
                    }
                    (
                        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge,
                        ColumnKind::Clustering,
                    ) => ranges.push((col.name.clone(), *op, value)),
                    _ => {
                        return Err(Error::invalid(format!(
                            "Invalid restriction {r} in DELETE (only = on the partition key and \
                             = or ranges on clustering columns are allowed)"
                        )));
                    }
                }
            }
            Relation::In {
                target: RelationTarget::Column(c),
                values,
            } => {
                let col = t.column(c.as_str())?;
                if !matches!(col.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
                    return Err(Error::invalid(format!(
                        "Non PRIMARY KEY columns found in where clause: {}",
                        col.name
                    )));
                }
                eqs.push((col.name.clone(), KeyTerm::In(values)));
            }
            other => {
                return Err(Error::not_supported(&format!(
                    "The restriction {other} in DELETE (only = and IN on primary key columns \
                     and clustering ranges are)"
                )));
            }
        }
    }
    Ok((eqs, ranges))
}

/// DELETE [targets] FROM ... WHERE <partition key> [clustering prefix [range]].
pub(crate) fn delete<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &Delete,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if s.condition.is_some() {
        return Err(Error::not_supported(
            "DELETE ... IF (lightweight transactions)",
        ));
    }
    let t = Target { ks, table, bound };
    let (eqs, ranges) = delete_where(&t, &s.where_clause)?;
    let now = now_seconds();
    if s.using.iter().any(|u| matches!(u, UsingParam::Ttl(_))) {
        return Err(Error::invalid("A TTL is not allowed on DELETE statements"));
    }
    let (timestamp, _) = t.write_params(&s.using, params, now)?;
    let pks = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    let ck_cols = t.key_columns(ColumnKind::Clustering);
    // The clustering equality (or IN) prefix, then the column a range may restrict.
    let mut prefix_values: Vec<Vec<Bytes>> = Vec::new();
    let mut range_col: Option<&Column> = None;
    for c in &ck_cols {
        match eqs.iter().find(|(n, _)| *n == c.name) {
            Some((_, restriction)) => prefix_values.push(t.key_values(&c.name, *restriction)?),
            None => {
                range_col = Some(c);
                break;
            }
        }
    }
    let restricted = eqs
        .iter()
        .filter(|(n, _)| ck_cols.iter().any(|c| c.name == *n))
        .count();
    if restricted != prefix_values.len() {
        let missing = range_col.map_or("", |c| c.name.as_str());
        return Err(Error::invalid(format!(
            "PRIMARY KEY column \"{missing}\" cannot be restricted as preceding column is not \
             restricted"
        )));
    }
    let full_row = prefix_values.len() == ck_cols.len();
    let prefixes: Vec<Vec<Vec<u8>>> = combinations(prefix_values, "clustering")?
        .into_iter()
        .map(|p| p.iter().map(|b| b.to_vec()).collect())
        .collect();
    if !ranges.is_empty() && !s.targets.is_empty() {
        return Err(Error::invalid(
            "Range deletions are not supported for specific columns",
        ));
    }
    check_in_keys(pks.len(), prefixes.len())?;
    let schema = data.table_schema(table)?;
    let deletion = Deletion::new(timestamp, now);
    let mut writes = Vec::with_capacity(pks.len());
    for pk in &pks {
        let (token, key) = t.partition(pk)?;
        let mut m = Mutation::new(token, key.clone(), now);
        for prefix in &prefixes {
            let w = Writer {
                data,
                schema: schema.clone(),
                t: Target { ks, table, bound },
                timestamp,
                ttl: None,
                now,
                consistency: params.consistency,
                token,
                key: key.clone(),
                clustering: prefix.clone(),
            };
            delete_in_partition(
                &w, s, &mut m, prefix, range_col, &ranges, full_row, deletion,
            )?;
        }
        writes.push(TableWrite {
            keyspace: ks,
            table,
            mutation: m,
        });
    }
    Ok(writes)
}

/// Adds to `m` what DELETE `s` removes under one clustering `prefix` of its partition.
#[allow(clippy::too_many_arguments)]
fn delete_in_partition(
    w: &Writer<'_>,
    s: &Delete,
    m: &mut Mutation,
    prefix: &[Vec<u8>],
    range_col: Option<&Column>,
    ranges: &[(String, Operator, &Term)],
    full_row: bool,
    deletion: Deletion,
) -> Result<()> {
    if !ranges.is_empty() {
        let (start, end) = range_bounds(&w.t, prefix, range_col, ranges)?;
        m.range_deletions.push(RangeDeletion {
            start,
            end,
            deletion,
        });
    } else if s.targets.is_empty() {
        if prefix.is_empty() {
            m.partition_deletion = Some(deletion);
        } else if full_row {
            m.row(prefix.to_vec()).deletion = Some(deletion);
        } else {
            m.range_deletions.push(RangeDeletion {
                start: SBound::Inclusive(prefix.to_vec()),
                end: SBound::Inclusive(prefix.to_vec()),
                deletion,
            });
        }
    } else {
        let mut statics = Vec::new();
        let mut row = Vec::new();
        for target in &s.targets {
            let name = match target {
                DeleteTarget::Column(n)
                | DeleteTarget::Element { column: n, .. }
                | DeleteTarget::Field { column: n, .. } => n,
            };
            let c = w.t.column(name.as_str())?;
            if c.kind == ColumnKind::Static {
                w.delete_target(target, &mut statics)?;
            } else if full_row {
                w.delete_target(target, &mut row)?;
            } else {
                return Err(Error::invalid(format!(
                    "Some clustering keys are missing: {}",
                    range_col.map_or(c.name.as_str(), |r| r.name.as_str())
                )));
            }
        }
        // Static cells belong to the partition: deleted once, whichever rows the IN names.
        if m.static_cells.is_empty() {
            m.static_cells = statics;
        }
        if !row.is_empty() {
            m.row(prefix.to_vec()).cells = row;
        }
    }
    Ok(())
}

/// The bounds (in clustering order) of `prefix` narrowed by `ranges` on `range_col`.
fn range_bounds(
    t: &Target<'_>,
    prefix: &[Vec<u8>],
    range_col: Option<&Column>,
    ranges: &[(String, Operator, &Term)],
) -> Result<(SBound, SBound)> {
    let mut start = if prefix.is_empty() {
        SBound::Unbounded
    } else {
        SBound::Inclusive(prefix.to_vec())
    };
    let mut end = start.clone();
    for (name, op, term) in ranges {
        let Some(col) = range_col.filter(|c| c.name == *name) else {
            return Err(Error::invalid(format!(
                "Clustering column \"{name}\" cannot be restricted (preceding column is \
                 restricted by a non-EQ relation or not restricted)"
            )));
        };
        let mut at = prefix.to_vec();
        at.push(t.key_value(name, term)?.to_vec());
        let desc = col.order == ClusteringOrder::Desc;
        // A lower bound is the start in ASC order, the end in DESC order.
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
    Ok((start, end))
}

/// The bind markers' columns of a write, in marker order: each marker takes the type of what
/// it gives (a column, an element, an index, a map key, a field, a JSON document).
pub(crate) fn write_marker_columns(
    ks: &Keyspace,
    table: &Table,
    statement: &ilion_cql::language::ast::Statement,
) -> Result<Vec<ColumnSpec>> {
    use ilion_cql::language::ast::Statement;
    let spec = TableSpec {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
    };
    let mut out: Vec<(usize, ColumnSpec)> = Vec::new();
    let column_type = |name: &str| -> Result<CqlType> {
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
    let mut m = Markers {
        spec: &spec,
        out: &mut out,
    };
    let (using, wheres): (&[UsingParam], &[Relation]) = match statement {
        Statement::Insert(s) => {
            match &s.values {
                InsertValues::Columns { columns, values } => {
                    for (c, v) in columns.iter().zip(values) {
                        m.term(v, c.as_str(), &column_type(c.as_str())?);
                    }
                }
                InsertValues::Json { value, .. } => m.term(value, "[json]", &CqlType::Text),
            }
            (&s.using, &[])
        }
        Statement::Update(s) => {
            for a in &s.assignments {
                let (column, _) = assignment_column(a);
                let name = column.as_str();
                let ty = column_type(name)?;
                let (key_ty, value_ty) = match &ty {
                    CqlType::List { element: e, .. } => (CqlType::Int, (**e).clone()),
                    CqlType::Map {
                        key: k, value: v, ..
                    } => ((**k).clone(), (**v).clone()),
                    CqlType::Set { element: e, .. } => ((**e).clone(), (**e).clone()),
                    other => (other.clone(), other.clone()),
                };
                let key_name = match &ty {
                    CqlType::List { .. } => format!("idx({name})"),
                    _ => format!("key({name})"),
                };
                match a {
                    Assignment::Set { value, .. }
                    | Assignment::Append { value, .. }
                    | Assignment::Prepend { value, .. } => m.term(value, name, &ty),
                    Assignment::Remove { value, .. } => {
                        let ty = match &ty {
                            CqlType::Map { key: k, .. } => CqlType::set((**k).clone()),
                            other => other.clone(),
                        };
                        m.term(value, name, &ty);
                    }
                    Assignment::SetElement { key, value, .. } => {
                        m.term(key, &key_name, &key_ty);
                        m.term(value, &format!("value({name})"), &value_ty);
                    }
                    Assignment::SetField { field, value, .. } => {
                        if let CqlType::Udt(u) = &ty
                            && let Some((_, fty)) =
                                u.fields.iter().find(|(n, _)| n == field.as_str())
                        {
                            m.term(value, &format!("{name}.{}", field.as_str()), fty);
                        }
                    }
                }
            }
            (&s.using, &s.where_clause)
        }
        Statement::Delete(s) => {
            for target in &s.targets {
                if let DeleteTarget::Element { column, key } = target {
                    let name = column.as_str();
                    match column_type(name)? {
                        CqlType::List { .. } => m.term(key, &format!("idx({name})"), &CqlType::Int),
                        CqlType::Map {
                            key: k, value: _, ..
                        }
                        | CqlType::Set { element: k, .. } => {
                            m.term(key, &format!("key({name})"), &k)
                        }
                        _ => {}
                    }
                }
            }
            (&s.using, &s.where_clause)
        }
        _ => (&[], &[]),
    };
    for u in using {
        match u {
            UsingParam::Ttl(t) => m.term(t, "[ttl]", &CqlType::Int),
            UsingParam::Timestamp(t) => m.term(t, "[timestamp]", &CqlType::Bigint),
        }
    }
    for r in wheres {
        match r {
            Relation::Compare {
                target: RelationTarget::Column(c),
                value,
                ..
            } => m.term(value, c.as_str(), &column_type(c.as_str())?),
            Relation::In {
                target: RelationTarget::Column(c),
                values,
            } => {
                let ty = column_type(c.as_str())?;
                match values {
                    InValues::List(terms) => {
                        for v in terms {
                            m.term(v, c.as_str(), &ty);
                        }
                    }
                    InValues::Marker(b) => m.term(
                        &Term::Bind(b.clone()),
                        &format!("in({})", c.as_str()),
                        &CqlType::list(ty),
                    ),
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// Collects the markers of terms with the types their positions give them.
struct Markers<'s> {
    spec: &'s TableSpec,
    out: &'s mut Vec<(usize, ColumnSpec)>,
}

impl Markers<'_> {
    fn term(&mut self, term: &Term, name: &str, ty: &CqlType) {
        match (term, ty) {
            (Term::Bind(m), _) => self.out.push((
                m.index,
                ColumnSpec {
                    table: self.spec.clone(),
                    name: name.to_owned(),
                    ty: ty.clone(),
                },
            )),
            (Term::TypeHint { term, .. }, _) => self.term(term, name, ty),
            (Term::List(items), CqlType::List { element: e, .. })
            | (Term::Set(items), CqlType::Set { element: e, .. }) => {
                let name = format!("value({name})");
                for i in items {
                    self.term(i, &name, e);
                }
            }
            (
                Term::Map(pairs),
                CqlType::Map {
                    key: k, value: v, ..
                },
            ) => {
                for (kt, vt) in pairs {
                    self.term(kt, &format!("key({name})"), k);
                    self.term(vt, &format!("value({name})"), v);
                }
            }
            (Term::Tuple(items), CqlType::Tuple(types)) => {
                for (i, (item, t)) in items.iter().zip(types).enumerate() {
                    self.term(item, &format!("{name}[{i}]"), t);
                }
            }
            (Term::Udt(fields), CqlType::Udt(u)) => {
                for (f, item) in fields {
                    if let Some((_, t)) = u.fields.iter().find(|(n, _)| n == f.as_str()) {
                        self.term(item, &format!("{name}.{}", f.as_str()), t);
                    }
                }
            }
            (Term::Function { name: f, args }, _)
                if f.name.as_str().eq_ignore_ascii_case("fromjson") =>
            {
                for a in args {
                    self.term(a, &format!("fromjson({name})"), &CqlType::Text);
                }
            }
            _ => {}
        }
    }
}
