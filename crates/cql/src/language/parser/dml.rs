//! INSERT, UPDATE, DELETE and BATCH.

use super::Parser;
use crate::language::ast::{
    Assignment, Batch, BatchKind, BatchStatement, Condition, Delete, DeleteTarget, Insert,
    InsertValues, JsonDefault, Term, Update,
};
use crate::language::error::SyntaxError;
use crate::language::token::Sym;

impl Parser<'_> {
    pub(crate) fn insert(&mut self) -> Result<Insert, SyntaxError> {
        self.expect_kw("insert")?;
        self.expect_kw("into")?;
        let table = self.qualified_name()?;
        let values = if self.eat_kw("json") {
            let value = match self.bind_marker()? {
                Some(m) => Term::Bind(m),
                None => Term::Literal(crate::language::ast::Literal::String(self.string()?)),
            };
            let default = if self.eat_kw("default") {
                if self.eat_kw("null") {
                    Some(JsonDefault::Null)
                } else if self.eat_kw("unset") {
                    Some(JsonDefault::Unset)
                } else {
                    return Err(self.expected("NULL or UNSET"));
                }
            } else {
                None
            };
            InsertValues::Json { value, default }
        } else {
            let columns = self.paren_list(false, |p| p.ident())?;
            self.expect_kw("values")?;
            let values_start = self.pos;
            let values = self.paren_list(false, |p| p.term())?;
            if values.len() != columns.len() {
                self.pos = values_start;
                return Err(self.invalid(&format!(
                    "unmatched column names/values: {} names, {} values",
                    columns.len(),
                    values.len()
                )));
            }
            InsertValues::Columns { columns, values }
        };
        let if_not_exists = self.if_not_exists()?;
        let using = if self.eat_kw("using") {
            self.using_params(true)?
        } else {
            Vec::new()
        };
        Ok(Insert {
            table,
            values,
            if_not_exists,
            using,
        })
    }

    pub(crate) fn update(&mut self) -> Result<Update, SyntaxError> {
        self.expect_kw("update")?;
        let table = self.qualified_name()?;
        let using = if self.eat_kw("using") {
            self.using_params(true)?
        } else {
            Vec::new()
        };
        self.expect_kw("set")?;
        let assignments = self.comma_list(|p| p.assignment())?;
        self.expect_kw("where")?;
        let where_clause = self.relations()?;
        let condition = self.condition()?;
        Ok(Update {
            table,
            using,
            assignments,
            where_clause,
            condition,
        })
    }

    fn assignment(&mut self) -> Result<Assignment, SyntaxError> {
        let column = self.ident()?;
        if self.eat_sym(Sym::LBracket) {
            let key = self.term()?;
            self.expect_sym(Sym::RBracket)?;
            self.expect_sym(Sym::Eq)?;
            return Ok(Assignment::SetElement {
                column,
                key,
                value: self.term()?,
            });
        }
        if self.eat_sym(Sym::Dot) {
            let field = self.ident()?;
            self.expect_sym(Sym::Eq)?;
            return Ok(Assignment::SetField {
                column,
                field,
                value: self.term()?,
            });
        }
        if self.eat_sym(Sym::PlusEq) {
            return Ok(Assignment::Append {
                column,
                value: self.term()?,
            });
        }
        if self.eat_sym(Sym::MinusEq) {
            return Ok(Assignment::Remove {
                column,
                value: self.term()?,
            });
        }
        self.expect_sym(Sym::Eq)?;
        // `c = c + v` / `c = c - v`: the same column, then an operator.
        if self.is_ident() && (self.is_sym_at(1, Sym::Plus) || self.is_sym_at(1, Sym::Minus)) {
            let save = self.pos;
            let other = self.ident()?;
            if other != column {
                self.pos = save;
                return Err(self.invalid(&format!(
                    "only expressions of the form X = X + <value> are supported for column {}",
                    column.as_str()
                )));
            }
            let append = self.eat_sym(Sym::Plus);
            if !append {
                self.expect_sym(Sym::Minus)?;
            }
            let value = self.term()?;
            return Ok(if append {
                Assignment::Append { column, value }
            } else {
                Assignment::Remove { column, value }
            });
        }
        let value = self.term()?;
        if self.eat_sym(Sym::Plus) {
            let save = self.pos;
            let other = self.ident()?;
            if other != column {
                self.pos = save;
                return Err(self.invalid(&format!(
                    "only expressions of the form X = <value> + X are supported for column {}",
                    column.as_str()
                )));
            }
            return Ok(Assignment::Prepend { column, value });
        }
        Ok(Assignment::Set { column, value })
    }

    /// An optional `IF EXISTS` or `IF conditions`.
    fn condition(&mut self) -> Result<Option<Condition>, SyntaxError> {
        if !self.eat_kw("if") {
            return Ok(None);
        }
        if self.is_kw("exists") && !self.is_sym_at(1, Sym::Eq) && !self.is_kw_at(1, "in") {
            self.advance();
            return Ok(Some(Condition::Exists));
        }
        Ok(Some(Condition::Relations(self.relations()?)))
    }

    pub(crate) fn delete(&mut self) -> Result<Delete, SyntaxError> {
        self.expect_kw("delete")?;
        let targets = if self.is_kw("from") {
            Vec::new()
        } else {
            self.comma_list(|p| {
                let column = p.ident()?;
                if p.eat_sym(Sym::LBracket) {
                    let key = p.term()?;
                    p.expect_sym(Sym::RBracket)?;
                    Ok(DeleteTarget::Element { column, key })
                } else if p.eat_sym(Sym::Dot) {
                    Ok(DeleteTarget::Field {
                        column,
                        field: p.ident()?,
                    })
                } else {
                    Ok(DeleteTarget::Column(column))
                }
            })?
        };
        self.expect_kw("from")?;
        let table = self.qualified_name()?;
        let using = if self.eat_kw("using") {
            self.using_params(false)?
        } else {
            Vec::new()
        };
        self.expect_kw("where")?;
        let where_clause = self.relations()?;
        let condition = self.condition()?;
        Ok(Delete {
            targets,
            table,
            using,
            where_clause,
            condition,
        })
    }

    pub(crate) fn batch(&mut self) -> Result<Batch, SyntaxError> {
        self.expect_kw("begin")?;
        let kind = if self.eat_kw("unlogged") {
            BatchKind::Unlogged
        } else if self.eat_kw("counter") {
            BatchKind::Counter
        } else {
            BatchKind::Logged
        };
        self.expect_kw("batch")?;
        let using = if self.eat_kw("using") {
            self.using_params(false)?
        } else {
            Vec::new()
        };
        let mut statements = Vec::new();
        loop {
            while self.eat_sym(Sym::Semicolon) {}
            if self.eat_kw("apply") {
                self.expect_kw("batch")?;
                return Ok(Batch {
                    kind,
                    using,
                    statements,
                });
            }
            let s = match self.peek_word().as_deref() {
                Some("insert") => BatchStatement::Insert(self.insert()?),
                Some("update") => BatchStatement::Update(self.update()?),
                Some("delete") => BatchStatement::Delete(self.delete()?),
                _ => return Err(self.expected("INSERT, UPDATE, DELETE or APPLY BATCH")),
            };
            statements.push(s);
        }
    }
}
