//! CREATE, ALTER and DROP of keyspaces, tables, types, indexes, views, functions, aggregates
//! and triggers (roles and users are in `auth`).

use super::Parser;
use crate::language::ast::{
    AlterKeyspace, AlterMaterializedView, AlterTable, AlterTableOp, AlterType, AlterTypeOp,
    ColumnDef, CreateAggregate, CreateFunction, CreateIndex, CreateKeyspace,
    CreateMaterializedView, CreateTable, CreateTrigger, CreateType, Drop, DropKeyspace,
    DropRoutine, DropTrigger, Ident, IndexTarget, PrimaryKey, Statement, TableOptions,
};
use crate::language::error::SyntaxError;
use crate::language::token::{Sym, TokenKind};

impl Parser<'_> {
    pub(crate) fn create(&mut self) -> Result<Statement, SyntaxError> {
        self.expect_kw("create")?;
        let or_replace = if self.eat_kw("or") {
            self.expect_kw("replace")?;
            true
        } else {
            false
        };
        let what = self.peek_word();
        match what.as_deref() {
            Some("function") => {
                self.advance();
                Ok(Statement::CreateFunction(Box::new(self.create_function(or_replace)?)))
            }
            Some("aggregate") => {
                self.advance();
                Ok(Statement::CreateAggregate(Box::new(self.create_aggregate(or_replace)?)))
            }
            _ if or_replace => Err(self.expected("FUNCTION or AGGREGATE")),
            Some("keyspace" | "schema") => {
                self.advance();
                let if_not_exists = self.if_not_exists()?;
                let name = self.ident()?;
                self.expect_kw("with")?;
                let options = self.properties()?;
                Ok(Statement::CreateKeyspace(CreateKeyspace { name, if_not_exists, options }))
            }
            Some("table" | "columnfamily") => {
                self.advance();
                Ok(Statement::CreateTable(Box::new(self.create_table()?)))
            }
            Some("type") => {
                self.advance();
                let if_not_exists = self.if_not_exists()?;
                let name = self.qualified_name()?;
                let fields = self.paren_list(false, |p| Ok((p.ident()?, p.cql_type()?)))?;
                Ok(Statement::CreateType(CreateType { name, if_not_exists, fields }))
            }
            Some("custom" | "index") => Ok(Statement::CreateIndex(Box::new(self.create_index()?))),
            Some("materialized") => {
                self.advance();
                self.expect_kw("view")?;
                Ok(Statement::CreateMaterializedView(Box::new(self.create_view()?)))
            }
            Some("trigger") => {
                self.advance();
                let if_not_exists = self.if_not_exists()?;
                let name = self.ident()?;
                self.expect_kw("on")?;
                let table = self.qualified_name()?;
                self.expect_kw("using")?;
                let class = self.string()?;
                Ok(Statement::CreateTrigger(CreateTrigger { if_not_exists, name, table, class }))
            }
            Some("role") => {
                self.advance();
                self.create_role()
            }
            Some("user") => {
                self.advance();
                self.create_user()
            }
            _ => Err(self.expected(
                "KEYSPACE, TABLE, TYPE, INDEX, MATERIALIZED VIEW, FUNCTION, AGGREGATE, TRIGGER, ROLE or USER",
            )),
        }
    }

    fn create_table(&mut self) -> Result<CreateTable, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.qualified_name()?;
        self.expect_sym(Sym::LParen)?;
        let mut columns = Vec::new();
        let mut primary_key = None;
        loop {
            if self.is_kw("primary") {
                if primary_key.is_some() {
                    return Err(self.invalid("multiple PRIMARY KEY clauses"));
                }
                self.advance();
                self.expect_kw("key")?;
                primary_key = Some(self.primary_key()?);
            } else {
                columns.push(self.column_def(true)?);
            }
            if !self.eat_sym(Sym::Comma) || self.is_sym(Sym::RParen) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)?;
        let options = if self.eat_kw("with") {
            self.table_options()?
        } else {
            TableOptions::default()
        };
        Ok(CreateTable {
            name,
            if_not_exists,
            columns,
            primary_key,
            options,
        })
    }

    fn column_def(&mut self, allow_pk: bool) -> Result<ColumnDef, SyntaxError> {
        let name = self.ident()?;
        let ty = self.cql_type()?;
        let is_static = self.eat_kw("static");
        let primary_key = allow_pk && self.is_kw("primary") && {
            self.advance();
            self.expect_kw("key")?;
            true
        };
        Ok(ColumnDef {
            name,
            ty,
            is_static,
            primary_key,
        })
    }

    /// `'(' (pk | '(' pk, ... ')') [, ck ...] ')'`.
    fn primary_key(&mut self) -> Result<PrimaryKey, SyntaxError> {
        self.expect_sym(Sym::LParen)?;
        let partition = if self.is_sym(Sym::LParen) {
            self.paren_list(false, |p| p.ident())?
        } else {
            vec![self.ident()?]
        };
        let mut clustering = Vec::new();
        while self.eat_sym(Sym::Comma) {
            clustering.push(self.ident()?);
        }
        self.expect_sym(Sym::RParen)?;
        Ok(PrimaryKey {
            partition,
            clustering,
        })
    }

    fn table_options(&mut self) -> Result<TableOptions, SyntaxError> {
        let mut o = TableOptions::default();
        loop {
            if self.is_kw("clustering") && self.is_kw_at(1, "order") {
                self.pos += 2;
                self.expect_kw("by")?;
                let list = self.paren_list(false, |p| p.ordering())?;
                o.clustering_order.extend(list);
            } else if self.is_kw("compact") && self.is_kw_at(1, "storage") {
                self.pos += 2;
                o.compact_storage = true;
            } else {
                o.properties.push(self.property()?);
            }
            if !self.eat_kw("and") {
                return Ok(o);
            }
        }
    }

    fn create_index(&mut self) -> Result<CreateIndex, SyntaxError> {
        let custom = self.eat_kw("custom");
        self.expect_kw("index")?;
        let if_not_exists = self.if_not_exists()?;
        let name = if self.is_kw("on") {
            None
        } else {
            Some(self.ident()?)
        };
        self.expect_kw("on")?;
        let table = self.qualified_name()?;
        let targets = self.paren_list(false, |p| {
            let f = p.peek_word();
            let wrapped = p.is_sym_at(1, Sym::LParen);
            let kind = match f.as_deref() {
                Some("keys") if wrapped => Some(IndexTarget::Keys as fn(Ident) -> IndexTarget),
                Some("values") if wrapped => Some(IndexTarget::Values as fn(Ident) -> IndexTarget),
                Some("entries") if wrapped => {
                    Some(IndexTarget::Entries as fn(Ident) -> IndexTarget)
                }
                Some("full") if wrapped => Some(IndexTarget::Full as fn(Ident) -> IndexTarget),
                _ => None,
            };
            match kind {
                Some(make) => {
                    p.pos += 2;
                    let c = p.ident()?;
                    p.expect_sym(Sym::RParen)?;
                    Ok(make(c))
                }
                None => Ok(IndexTarget::Column(p.ident()?)),
            }
        })?;
        let mut using = None;
        let mut options = Vec::new();
        if self.eat_kw("using") {
            using = Some(self.string()?);
            if self.eat_kw("with") {
                self.expect_kw("options")?;
                self.expect_sym(Sym::Eq)?;
                self.expect_sym(Sym::LBrace)?;
                options = self.literal_map_rest()?;
            }
        }
        Ok(CreateIndex {
            custom,
            if_not_exists,
            name,
            table,
            targets,
            using,
            options,
        })
    }

    fn create_view(&mut self) -> Result<CreateMaterializedView, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.qualified_name()?;
        self.expect_kw("as")?;
        self.expect_kw("select")?;
        let selection = self.selection()?;
        self.expect_kw("from")?;
        let base_table = self.qualified_name()?;
        let where_clause = if self.eat_kw("where") {
            self.relations()?
        } else {
            Vec::new()
        };
        self.expect_kw("primary")?;
        self.expect_kw("key")?;
        let primary_key = self.primary_key()?;
        let options = if self.eat_kw("with") {
            self.table_options()?
        } else {
            TableOptions::default()
        };
        Ok(CreateMaterializedView {
            name,
            if_not_exists,
            selection,
            base_table,
            where_clause,
            primary_key,
            options,
        })
    }

    fn create_function(&mut self, or_replace: bool) -> Result<CreateFunction, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.function_name()?;
        let args = self.paren_list(true, |p| Ok((p.ident()?, p.cql_type()?)))?;
        let called_on_null_input = if self.eat_kw("called") {
            true
        } else if self.eat_kw("returns") {
            self.expect_kw("null")?;
            false
        } else {
            return Err(self.expected("CALLED or RETURNS"));
        };
        self.expect_kw("on")?;
        self.expect_kw("null")?;
        self.expect_kw("input")?;
        self.expect_kw("returns")?;
        let returns = self.cql_type()?;
        self.expect_kw("language")?;
        let language = self.ident()?;
        self.expect_kw("as")?;
        let body = self.string()?;
        Ok(CreateFunction {
            or_replace,
            if_not_exists,
            name,
            args,
            called_on_null_input,
            returns,
            language,
            body,
        })
    }

    fn create_aggregate(&mut self, or_replace: bool) -> Result<CreateAggregate, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.function_name()?;
        let arg_types = self.paren_list(true, |p| p.cql_type())?;
        self.expect_kw("sfunc")?;
        let sfunc = self.ident()?;
        self.expect_kw("stype")?;
        let stype = self.cql_type()?;
        let finalfunc = if self.eat_kw("finalfunc") {
            Some(self.ident()?)
        } else {
            None
        };
        let initcond = if self.eat_kw("initcond") {
            Some(self.term()?)
        } else {
            None
        };
        Ok(CreateAggregate {
            or_replace,
            if_not_exists,
            name,
            arg_types,
            sfunc,
            stype,
            finalfunc,
            initcond,
        })
    }

    pub(crate) fn alter(&mut self) -> Result<Statement, SyntaxError> {
        self.expect_kw("alter")?;
        let what = self.peek_word();
        match what.as_deref() {
            Some("keyspace" | "schema") => {
                self.advance();
                let if_exists = self.if_exists()?;
                let name = self.ident()?;
                self.expect_kw("with")?;
                let options = self.properties()?;
                Ok(Statement::AlterKeyspace(AlterKeyspace {
                    name,
                    if_exists,
                    options,
                }))
            }
            Some("table" | "columnfamily") => {
                self.advance();
                Ok(Statement::AlterTable(Box::new(self.alter_table()?)))
            }
            Some("type") => {
                self.advance();
                let if_exists = self.if_exists()?;
                let name = self.qualified_name()?;
                let op = if self.eat_kw("add") {
                    let if_not_exists = self.if_not_exists()?;
                    let field = self.ident()?;
                    AlterTypeOp::Add {
                        if_not_exists,
                        field,
                        ty: self.cql_type()?,
                    }
                } else if self.eat_kw("rename") {
                    let if_exists = self.if_exists()?;
                    AlterTypeOp::Rename {
                        if_exists,
                        renames: self.renames()?,
                    }
                } else {
                    return Err(self.expected("ADD or RENAME"));
                };
                Ok(Statement::AlterType(AlterType {
                    name,
                    if_exists,
                    op,
                }))
            }
            Some("materialized") => {
                self.advance();
                self.expect_kw("view")?;
                let if_exists = self.if_exists()?;
                let name = self.qualified_name()?;
                self.expect_kw("with")?;
                let options = self.table_options()?;
                Ok(Statement::AlterMaterializedView(AlterMaterializedView {
                    name,
                    if_exists,
                    options,
                }))
            }
            Some("role") => {
                self.advance();
                self.alter_role()
            }
            Some("user") => {
                self.advance();
                self.alter_user()
            }
            _ => Err(self.expected("KEYSPACE, TABLE, TYPE, MATERIALIZED VIEW, ROLE or USER")),
        }
    }

    fn renames(&mut self) -> Result<Vec<(Ident, Ident)>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            let from = self.ident()?;
            self.expect_kw("to")?;
            out.push((from, self.ident()?));
            if !self.eat_kw("and") {
                return Ok(out);
            }
        }
    }

    fn alter_table(&mut self) -> Result<AlterTable, SyntaxError> {
        let if_exists = self.if_exists()?;
        let name = self.qualified_name()?;
        let op = if self.eat_kw("add") {
            let if_not_exists = self.if_not_exists()?;
            let columns = if self.is_sym(Sym::LParen) {
                self.paren_list(false, |p| p.column_def(false))?
            } else {
                self.comma_list(|p| p.column_def(false))?
            };
            AlterTableOp::Add {
                if_not_exists,
                columns,
            }
        } else if self.eat_kw("drop") {
            let if_exists = self.if_exists()?;
            let columns = if self.is_sym(Sym::LParen) {
                self.paren_list(false, |p| p.ident())?
            } else {
                self.comma_list(|p| p.ident())?
            };
            let timestamp = if self.eat_kw("using") {
                self.expect_kw("timestamp")?;
                if self.peek().kind != TokenKind::Integer {
                    return Err(self.expected("an integer"));
                }
                Some(self.literal()?)
            } else {
                None
            };
            AlterTableOp::Drop {
                if_exists,
                columns,
                timestamp,
            }
        } else if self.eat_kw("rename") {
            let if_exists = self.if_exists()?;
            AlterTableOp::Rename {
                if_exists,
                renames: self.renames()?,
            }
        } else if self.eat_kw("alter") {
            let column = self.ident()?;
            self.expect_kw("type")?;
            AlterTableOp::AlterColumnType {
                column,
                ty: self.cql_type()?,
            }
        } else if self.eat_kw("with") {
            AlterTableOp::With(self.table_options()?)
        } else {
            return Err(self.expected("ADD, DROP, RENAME, ALTER or WITH"));
        };
        Ok(AlterTable {
            name,
            if_exists,
            op,
        })
    }

    pub(crate) fn drop(&mut self) -> Result<Statement, SyntaxError> {
        self.expect_kw("drop")?;
        let what = self.peek_word();
        let simple = |p: &mut Self| -> Result<Drop, SyntaxError> {
            let if_exists = p.if_exists()?;
            Ok(Drop {
                if_exists,
                name: p.qualified_name()?,
            })
        };
        match what.as_deref() {
            Some("keyspace" | "schema") => {
                self.advance();
                let if_exists = self.if_exists()?;
                Ok(Statement::DropKeyspace(DropKeyspace { if_exists, name: self.ident()? }))
            }
            Some("table" | "columnfamily") => {
                self.advance();
                Ok(Statement::DropTable(simple(self)?))
            }
            Some("type") => {
                self.advance();
                Ok(Statement::DropType(simple(self)?))
            }
            Some("index") => {
                self.advance();
                Ok(Statement::DropIndex(simple(self)?))
            }
            Some("materialized") => {
                self.advance();
                self.expect_kw("view")?;
                Ok(Statement::DropMaterializedView(simple(self)?))
            }
            Some(w @ ("function" | "aggregate")) => {
                let is_function = w == "function";
                self.advance();
                let if_exists = self.if_exists()?;
                let name = self.function_name()?;
                let signature =
                    if self.is_sym(Sym::LParen) { Some(self.paren_list(true, |p| p.cql_type())?) } else { None };
                let d = DropRoutine { name, if_exists, signature };
                Ok(if is_function { Statement::DropFunction(d) } else { Statement::DropAggregate(d) })
            }
            Some("trigger") => {
                self.advance();
                let if_exists = self.if_exists()?;
                let name = self.ident()?;
                self.expect_kw("on")?;
                Ok(Statement::DropTrigger(DropTrigger { if_exists, name, table: self.qualified_name()? }))
            }
            Some("role") => {
                self.advance();
                self.drop_role()
            }
            Some("user") => {
                self.advance();
                self.drop_user()
            }
            _ => Err(self.expected(
                "KEYSPACE, TABLE, TYPE, INDEX, MATERIALIZED VIEW, FUNCTION, AGGREGATE, TRIGGER, ROLE or USER",
            )),
        }
    }
}
