//! Running a statement: QUERY parsed and bound, then dispatched by kind (SELECT on system
//! tables computed in memory or on user tables through the data path, writes, TRUNCATE, USE,
//! DESCRIBE, schema statements).

use std::sync::Arc;

use ilion_cql::language::ast::{QualifiedName, Statement};
use ilion_cql::protocol::{QueryParameters, ResultBody};
use ilion_cql::{ParsedStatement, parse_statement};

use crate::schema::{Schema, ddl, is_system_keyspace};
use crate::system;
use crate::values::Bound;
use crate::{Error, Result, data, describe, select};

use super::{Coordinator, Executed, PerSchema, Session};

impl Coordinator {
    /// Runs a QUERY.
    pub fn query(
        &self,
        session: &Session,
        text: &str,
        params: &QueryParameters,
    ) -> Result<ResultBody> {
        self.query_warned(session, text, params).map(|e| e.result)
    }

    /// Runs a QUERY and returns the warnings its response carries with its result.
    pub fn query_warned(
        &self,
        session: &Session,
        text: &str,
        params: &QueryParameters,
    ) -> Result<Executed> {
        self.query_as(None, session, text, params)
    }

    /// [`Coordinator::query_warned`] as the role `user` logged in as (`None`: the client did
    /// not log in). With CassandraAuthorizer the statement is refused (Unauthorized) unless
    /// the role holds the permissions it needs.
    pub fn query_as(
        &self,
        user: Option<&str>,
        session: &Session,
        text: &str,
        params: &QueryParameters,
    ) -> Result<Executed> {
        let parsed = parse(text)?;
        let keyspace = params.keyspace.clone().or_else(|| session.keyspace.clone());
        let bound = Bound::new(&params.values, &parsed.bind_markers)?;
        let _time = self.statement_time();
        self.run_checked(user, &parsed, keyspace.as_deref(), &bound, params, None)
    }

    /// Runs a statement as `user`: a role or permission statement, or any other once the
    /// authorizer let it through; then what a schema change does to grants.
    pub(super) fn run_checked(
        &self,
        user: Option<&str>,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
        selection: Option<&PerSchema<select::Selection>>,
    ) -> Result<Executed> {
        if let Some(result) = self.access_statement(user, &parsed.statement, keyspace)? {
            return Ok(Executed::quiet(result));
        }
        self.authorize(user, &parsed.statement, keyspace)?;
        let executed = self.run_warned(parsed, keyspace, bound, params, selection)?;
        self.after_schema_change(user, &executed.result)?;
        Ok(executed)
    }

    /// [`Coordinator::run`], with the warnings of the statements that have some (BATCH, a
    /// SELECT that scanned many tombstones). `selection` caches a prepared SELECT's compiled
    /// selection.
    pub(super) fn run_warned(
        &self,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
        selection: Option<&PerSchema<select::Selection>>,
    ) -> Result<Executed> {
        match &parsed.statement {
            Statement::Batch(b) => self.text_batch(b, keyspace, bound, params),
            Statement::Select(s) => self.select(s, keyspace, bound, params, selection),
            Statement::AlterKeyspace(s) => {
                let before = self.replication_factor(s.name.as_str());
                let result = self.run(parsed, keyspace, bound, params)?;
                let after = self.replication_factor(s.name.as_str());
                let mut warnings = Vec::new();
                if after > before {
                    warnings.push(
                        "When increasing replication factor you need to run a full (-full) \
                         repair to distribute the data."
                            .to_owned(),
                    );
                }
                Ok(Executed { result, warnings })
            }
            _ => self
                .run(parsed, keyspace, bound, params)
                .map(Executed::quiet),
        }
    }

    /// Runs a SELECT: a system table's rows computed in memory, or a user table's read.
    fn select(
        &self,
        s: &ilion_cql::language::ast::Select,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
        cached: Option<&PerSchema<select::Selection>>,
    ) -> Result<Executed> {
        let schema = self.schema.read().clone();
        let (ks, table) = self.resolve_table(&schema, &s.table, keyspace)?;
        let compile = || select::Selection::compile(s, table, ks);
        let selection = match cached {
            // JSON selects compile the selection of their plain form.
            Some(c) if !s.json => c.get(&schema, compile)?,
            _ => Arc::new(compile()?),
        };
        // Selectors with bind markers take the statement's values.
        let selection = match selection.bind(bound)? {
            Some(bound_selection) => Arc::new(bound_selection),
            None => selection,
        };
        let membership = self.membership.as_deref();
        if ks.name == "system" && table.name == "local" {
            let generation = membership.and_then(|m| m.local_generation());
            let make = || {
                system::rows(
                    table,
                    &self.local,
                    &schema,
                    &self.system,
                    &self.store,
                    membership,
                )
                .map(|rows| (generation, rows))
                .ok_or_else(|| Error::server("system.local has no rows"))
            };
            let mut cached = self.local_rows.get(&schema, make)?;
            if cached.0 != generation {
                // Made before gossip started, without the generation: made again, once.
                self.local_rows.clear();
                cached = self.local_rows.get(&schema, make)?;
            }
            return select::run(s, table, ks, &selection, &cached.1, bound, params)
                .map(Executed::quiet);
        }
        if ks.name == crate::virtual_tables::VIEWS_KEYSPACE {
            let rows = crate::virtual_tables::rows(
                table,
                crate::virtual_tables::Sources {
                    clients: self.clients.as_deref(),
                    settings: self.settings.as_deref(),
                    store: Some(&self.store),
                },
            );
            return select::run(s, table, ks, &selection, &rows, bound, params)
                .map(Executed::quiet);
        }
        match system::rows(
            table,
            &self.local,
            &schema,
            &self.system,
            &self.store,
            membership,
        ) {
            Some(rows) => {
                select::run(s, table, ks, &selection, &rows, bound, params).map(Executed::quiet)
            }
            // system_auth is replicated: its rows are read like a user table's.
            None if is_system_keyspace(&ks.name) && ks.name != crate::auth::AUTH_KEYSPACE => {
                Err(not_built_data_path("SELECT"))
            }
            None => data::select(&*self.data, ks, table, s, &selection, bound, params),
        }
    }

    /// The total replication factor of keyspace `name` as the schema places it now (0 when it
    /// does not exist).
    fn replication_factor(&self, name: &str) -> usize {
        let schema = self.schema.read().clone();
        schema
            .system_keyspace(&self.system, name)
            .or_else(|| schema.keyspaces.get(name))
            .and_then(|ks| {
                ilion_ring::ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
                    .ok()
            })
            .map_or(0, |s| s.total_replication_factor())
    }

    pub(super) fn resolve_table<'a>(
        &'a self,
        schema: &'a Schema,
        name: &QualifiedName,
        keyspace: Option<&str>,
    ) -> Result<(&'a crate::schema::Keyspace, &'a crate::schema::Table)> {
        let ks_name = ddl::keyspace_of(name, keyspace)?;
        let ks = match schema.system_keyspace(&self.system, &ks_name) {
            Some(ks) => ks,
            None => schema.keyspace(&ks_name)?,
        };
        let table = ks.tables.get(name.name.as_str()).ok_or_else(|| {
            Error::invalid(format!("table {} does not exist", name.name.as_str()))
        })?;
        Ok((ks, table))
    }

    fn run(
        &self,
        parsed: &ParsedStatement,
        keyspace: Option<&str>,
        bound: &Bound,
        params: &QueryParameters,
    ) -> Result<ResultBody> {
        match &parsed.statement {
            Statement::Use(name) => {
                let name = name.as_str();
                if !self.system.keyspaces.contains_key(name) {
                    self.schema.read().keyspace(name)?;
                }
                Ok(ResultBody::SetKeyspace(name.to_owned()))
            }
            Statement::Select(s) => self
                .select(s, keyspace, bound, params, None)
                .map(|e| e.result),
            Statement::Insert(s) if s.if_not_exists => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let statement = data::ConditionalStatement::Insert(s);
                data::run_conditional(&*self.data, ks, table, statement, bound, params)
            }
            Statement::Update(s) if s.condition.is_some() => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let statement = data::ConditionalStatement::Update(s);
                data::run_conditional(&*self.data, ks, table, statement, bound, params)
            }
            Statement::Delete(s) if s.condition.is_some() => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let statement = data::ConditionalStatement::Delete(s);
                data::run_conditional(&*self.data, ks, table, statement, bound, params)
            }
            Statement::Insert(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let writes = data::insert(&*self.data, ks, table, s, bound, params)?;
                self.data.write(&writes, params.consistency, false)?;
                Ok(ResultBody::Void)
            }
            Statement::Update(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let writes = data::update(&*self.data, ks, table, s, bound, params)?;
                if table.is_counter() {
                    data::check_counter_consistency(table, params.consistency)?;
                    self.data.write_counter(&writes, params.consistency)?;
                } else {
                    self.data.write(&writes, params.consistency, false)?;
                }
                Ok(ResultBody::Void)
            }
            Statement::Delete(s) => {
                let schema = self.schema.read().clone();
                let (ks, table) = self.user_table(&schema, &s.table, keyspace)?;
                let writes = data::delete(&*self.data, ks, table, s, bound, params)?;
                self.data.write(&writes, params.consistency, false)?;
                Ok(ResultBody::Void)
            }
            Statement::Batch(b) => self
                .text_batch(b, keyspace, bound, params)
                .map(|e| e.result),
            Statement::Truncate(name) => {
                let schema = self.schema.read().clone();
                let (ks, _) = self.resolve_table(&schema, name, keyspace)?;
                if is_system_keyspace(&ks.name) {
                    return Err(Error::invalid(format!(
                        "Cannot TRUNCATE a table of the {} keyspace",
                        ks.name
                    )));
                }
                let (ks, t) = (ks.name.clone(), name.name.as_str().to_owned());
                drop(schema);
                match &self.replication {
                    // Every node drops its rows.
                    Some(r) => r.truncate(&ks, &t)?,
                    None => self.replica.truncate(&ks, &t)?,
                }
                Ok(ResultBody::Void)
            }
            Statement::CreateKeyspace(s) => {
                let dcs = self.known_datacenters();
                self.alter_schema(|sc| ddl::create_keyspace(sc, s, &dcs))
            }
            Statement::AlterKeyspace(s) => {
                let dcs = self.known_datacenters();
                self.alter_schema(|sc| ddl::alter_keyspace(sc, s, &dcs))
            }
            Statement::DropKeyspace(s) => self.alter_schema(|sc| ddl::drop_keyspace(sc, s)),
            Statement::CreateTable(s) => self.alter_schema(|sc| ddl::create_table(sc, s, keyspace)),
            Statement::AlterTable(s) => self.alter_schema(|sc| ddl::alter_table(sc, s, keyspace)),
            Statement::DropTable(s) => self.alter_schema(|sc| ddl::drop_table(sc, s, keyspace)),
            Statement::CreateType(s) => self.alter_schema(|sc| ddl::create_type(sc, s, keyspace)),
            Statement::AlterType(s) => self.alter_schema(|sc| ddl::alter_type(sc, s, keyspace)),
            Statement::DropType(s) => self.alter_schema(|sc| ddl::drop_type(sc, s, keyspace)),
            Statement::CreateIndex(_) | Statement::DropIndex(_) => {
                Err(Error::not_supported("Secondary indexes"))
            }
            Statement::CreateMaterializedView(_)
            | Statement::AlterMaterializedView(_)
            | Statement::DropMaterializedView(_) => Err(Error::not_supported("Materialized views")),
            Statement::CreateFunction(s) => {
                crate::schema::routines::create_function(s).map(|()| ResultBody::Void)
            }
            Statement::CreateAggregate(s) => {
                let schema = self.schema.read().clone();
                crate::schema::routines::create_aggregate(&schema, s, keyspace)
                    .map(|()| ResultBody::Void)
            }
            Statement::DropFunction(s) | Statement::DropAggregate(s) => {
                let what = if matches!(parsed.statement, Statement::DropFunction(_)) {
                    "Function"
                } else {
                    "Aggregate"
                };
                let schema = self.schema.read().clone();
                crate::schema::routines::drop_routine(&schema, s, keyspace, what)
                    .map(|()| ResultBody::Void)
            }
            Statement::CreateTrigger(_) | Statement::DropTrigger(_) => {
                Err(Error::not_supported("Triggers"))
            }
            Statement::Describe(d) => {
                let schema = self.schema.read().clone();
                describe::describe(d, &schema, &self.system, &self.local, keyspace)
            }
            // Role and permission statements ran before (`run_checked`).
            other => Err(Error::not_supported(other.kind_name())),
        }
    }

    /// The table a write names: it must exist and not be a system table.
    pub(super) fn user_table<'a>(
        &'a self,
        schema: &'a Schema,
        table: &QualifiedName,
        keyspace: Option<&str>,
    ) -> Result<(&'a crate::schema::Keyspace, &'a crate::schema::Table)> {
        let (ks, t) = self.resolve_table(schema, table, keyspace)?;
        if is_system_keyspace(&ks.name) {
            return Err(Error::Invalid {
                message: format!("{} keyspace is not user-modifiable", ks.name),
            });
        }
        Ok((ks, t))
    }
}

pub(super) fn parse(text: &str) -> Result<ParsedStatement> {
    parse_statement(text).map_err(|e| Error::Syntax {
        message: e.to_string(),
    })
}

pub(super) fn not_built_data_path(kind: &str) -> Error {
    Error::not_supported(&format!("{kind} on user tables (the data path)"))
}
