//! Prepared statements: PREPARE (the id, the markers' and the result's metadata, the key
//! indexes drivers route by) and EXECUTE.

use std::sync::Arc;

use bytes::Bytes;
use ilion_cql::ParsedStatement;
use ilion_cql::language::ast::Statement;
use ilion_cql::protocol::{Prepared, PreparedMetadata, QueryParameters, ResultBody, RowsMetadata};

use crate::schema::is_system_keyspace;
use crate::values::Bound;
use crate::{Error, Result, data, select};

use super::{Coordinator, Executed, PerSchema, Session, parse};

/// A prepared statement as this node remembers it (shared, so an EXECUTE copies nothing).
#[derive(Debug)]
pub(super) struct PreparedStatement {
    pub(super) parsed: ParsedStatement,
    pub(super) keyspace: Option<String>,
    /// Touches one partition (or a system table computed in memory): see
    /// [`Coordinator::is_quick`].
    pub(super) single_partition: bool,
    /// A SELECT's compiled selection (its columns, functions and result metadata), compiled
    /// on the first EXECUTE against each schema rather than on every one.
    pub(super) selection: PerSchema<select::Selection>,
}

impl Coordinator {
    /// PREPAREs a statement: its id is a digest of the keyspace and the text, so every node
    /// (and this one after a restart) gives the same id for the same statement.
    pub fn prepare(
        &self,
        session: &Session,
        text: &str,
        keyspace: Option<&str>,
    ) -> Result<Prepared> {
        let parsed = parse(text)?;
        let keyspace = keyspace
            .map(str::to_owned)
            .or_else(|| session.keyspace.clone());
        let (markers, result) = self.prepared_metadata(&parsed, keyspace.as_deref())?;
        let mut digest_input = keyspace.clone().unwrap_or_default().into_bytes();
        digest_input.push(0);
        digest_input.extend_from_slice(text.as_bytes());
        let id = Bytes::copy_from_slice(&xxhash_rust::xxh3::xxh3_128(&digest_input).to_be_bytes());
        let result_metadata_id = Bytes::copy_from_slice(
            &xxhash_rust::xxh3::xxh3_128(format!("{result:?}").as_bytes()).to_be_bytes(),
        );
        let global = markers.first().map(|c| c.table.clone());
        let pk_indexes = self.pk_indexes(&markers);
        // A `:name` marker is known to the client by its name (drivers bind values by it),
        // not by its column's.
        let mut markers = markers;
        for (spec, marker) in markers.iter_mut().zip(&parsed.bind_markers) {
            if let Some(name) = &marker.name {
                spec.name = name.as_str().to_owned();
            }
        }
        let metadata = PreparedMetadata {
            pk_indexes,
            global_table_spec: global.filter(|g| markers.iter().all(|c| &c.table == g)),
            columns: markers,
        };
        let single_partition = self.single_partition(&parsed, keyspace.as_deref());
        self.prepared.write().insert(
            id.clone(),
            Arc::new(PreparedStatement {
                parsed,
                keyspace,
                single_partition,
                selection: PerSchema::default(),
            }),
        );
        Ok(Prepared {
            id,
            result_metadata_id,
            metadata,
            result_metadata: RowsMetadata::new(result),
        })
    }

    /// EXECUTEs a prepared statement; an unknown id is [`Error::Unprepared`], which drivers
    /// answer by preparing again.
    pub fn execute(&self, id: &[u8], params: &QueryParameters) -> Result<ResultBody> {
        self.execute_warned(id, params).map(|e| e.result)
    }

    /// EXECUTEs a prepared statement and returns the warnings its response carries with its
    /// result.
    pub fn execute_warned(&self, id: &[u8], params: &QueryParameters) -> Result<Executed> {
        self.execute_as(None, id, params)
    }

    /// [`Coordinator::execute_warned`] as the role `user` logged in as (see
    /// [`Coordinator::query_as`]): permissions are checked on every EXECUTE.
    pub fn execute_as(
        &self,
        user: Option<&str>,
        id: &[u8],
        params: &QueryParameters,
    ) -> Result<Executed> {
        let stmt = self
            .prepared
            .read()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::Unprepared { id: id.to_vec() })?;
        let bound = Bound::new(&params.values, &stmt.parsed.bind_markers)?;
        let _time = self.statement_time();
        self.run_checked(
            user,
            &stmt.parsed,
            stmt.keyspace.as_deref(),
            &bound,
            params,
            Some(&stmt.selection),
        )
    }

    /// What prepared statement `id` is: `f` gets its parse and the keyspace it was prepared
    /// in (for the server's audit log); `None` when this node does not know the id.
    pub fn with_prepared<T>(
        &self,
        id: &[u8],
        f: impl FnOnce(&ParsedStatement, Option<&str>) -> T,
    ) -> Option<T> {
        let stmt = self.prepared.read().get(id).cloned()?;
        Some(f(&stmt.parsed, stmt.keyspace.as_deref()))
    }

    /// Whether EXECUTE of prepared statement `id` finishes without waiting on anything but
    /// this node's CPU and memory, so a server may run it on its I/O threads instead of
    /// handing it to a blocking pool: the statement is an INSERT, UPDATE or DELETE, or a
    /// SELECT of one partition (every partition key column restricted by `=`) or of a system
    /// table computed in memory; and this node holds every replica (it is alone in its
    /// cluster, so no request goes to another node). What the commit log's sync mode costs
    /// is the caller's to judge (in `batch` mode a write waits for an fsync).
    pub fn is_quick(&self, id: &[u8]) -> bool {
        let single = self
            .prepared
            .read()
            .get(id)
            .is_some_and(|p| p.single_partition);
        single && self.replication.as_ref().is_none_or(|r| r.is_alone())
    }

    /// See [`Coordinator::is_quick`]: the statement's part of the answer.
    fn single_partition(&self, parsed: &ParsedStatement, keyspace: Option<&str>) -> bool {
        match &parsed.statement {
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => true,
            Statement::Select(s) => {
                let schema = self.schema.read().clone();
                let Ok((ks, table)) = self.resolve_table(&schema, &s.table, keyspace) else {
                    return false;
                };
                if is_system_keyspace(&ks.name) {
                    return ks.name == "system"
                        && matches!(table.name.as_str(), "local" | "peers" | "peers_v2");
                }
                table
                    .columns
                    .iter()
                    .filter(|c| c.kind == crate::schema::ColumnKind::PartitionKey)
                    .all(|c| {
                        s.where_clause.iter().any(|r| {
                            matches!(r, ilion_cql::language::ast::Relation::Compare {
                                target: ilion_cql::language::ast::RelationTarget::Column(name),
                                op: ilion_cql::language::ast::Operator::Eq,
                                ..
                            } if name.as_str() == c.name)
                        })
                    })
            }
            _ => false,
        }
    }

    fn prepared_metadata(
        &self,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
    ) -> Result<(
        Vec<ilion_cql::protocol::ColumnSpec>,
        Vec<ilion_cql::protocol::ColumnSpec>,
    )> {
        match &parsed.statement {
            Statement::Select(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.resolve_table(&schema, &s.table, keyspace)?;
                let markers = select::marker_columns(s, table, ks)?;
                if markers.len() != parsed.bind_markers.len() {
                    return Err(Error::not_supported(
                        "Bind markers outside values, selectors, LIMIT and restrictions",
                    ));
                }
                Ok((markers, select::result_columns(s, table, ks)?))
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                let name = match &parsed.statement {
                    Statement::Insert(s) => &s.table,
                    Statement::Update(s) => &s.table,
                    Statement::Delete(s) => &s.table,
                    _ => return Err(Error::server("unreachable statement kind")),
                };
                let schema = self.schema.read().clone();
                let (ks, table) = self.resolve_table(&schema, name, keyspace)?;
                let markers = data::write_marker_columns(ks, table, &parsed.statement)?;
                if markers.len() != parsed.bind_markers.len() {
                    return Err(Error::not_supported(
                        "Bind markers outside values, USING and = restrictions",
                    ));
                }
                Ok((markers, Vec::new()))
            }
            Statement::Batch(b) => Ok((self.batch_marker_columns(b, keyspace)?, Vec::new())),
            _ if parsed.bind_markers.is_empty() => Ok((Vec::new(), Vec::new())),
            other => Err(Error::not_supported(&format!(
                "Preparing {} with bind markers",
                other.kind_name()
            ))),
        }
    }

    /// The positions of the markers giving the partition key columns, in key order, when every
    /// key column of a user table has one (drivers route by them); otherwise empty.
    fn pk_indexes(&self, markers: &[ilion_cql::protocol::ColumnSpec]) -> Vec<u16> {
        let Some(first) = markers.first() else {
            return Vec::new();
        };
        let spec = &first.table;
        if is_system_keyspace(&spec.keyspace) || markers.iter().any(|m| m.table != *spec) {
            return Vec::new();
        }
        let schema = self.schema.read().clone();
        let Ok(table) = schema.table(&spec.keyspace, &spec.table) else {
            return Vec::new();
        };
        let mut keys: Vec<&crate::schema::Column> = table
            .columns
            .iter()
            .filter(|c| c.kind == crate::schema::ColumnKind::PartitionKey)
            .collect();
        keys.sort_by_key(|c| c.position);
        let found: Option<Vec<u16>> = keys
            .iter()
            .map(|k| {
                let mut at = markers.iter().enumerate().filter(|(_, m)| m.name == k.name);
                match (at.next(), at.next()) {
                    (Some((i, _)), None) => u16::try_from(i).ok(),
                    _ => None,
                }
            })
            .collect();
        found.unwrap_or_default()
    }
}
