//! DESCRIBE / DESC.

use super::Parser;
use crate::language::ast::{Describe, DescribeTarget, Statement};
use crate::language::error::SyntaxError;

impl Parser<'_> {
    pub(crate) fn describe(&mut self) -> Result<Statement, SyntaxError> {
        if !self.eat_kw("describe") {
            self.expect_kw("desc")?;
        }
        let w = self.peek_word();
        let target = match w.as_deref() {
            Some("cluster") => {
                self.advance();
                DescribeTarget::Cluster
            }
            Some("full") => {
                self.advance();
                self.expect_kw("schema")?;
                DescribeTarget::Schema { full: true }
            }
            Some("schema") => {
                self.advance();
                DescribeTarget::Schema { full: false }
            }
            Some("keyspaces") => {
                self.advance();
                DescribeTarget::Keyspaces
            }
            Some(k @ ("only" | "keyspace")) => {
                let only = k == "only";
                self.advance();
                if only {
                    self.expect_kw("keyspace")?;
                }
                let name = if self.is_ident() {
                    Some(self.ident()?)
                } else {
                    None
                };
                DescribeTarget::Keyspace { name, only }
            }
            Some("tables") => {
                self.advance();
                DescribeTarget::Tables
            }
            Some("types") => {
                self.advance();
                DescribeTarget::Types
            }
            Some("functions") => {
                self.advance();
                DescribeTarget::Functions
            }
            Some("aggregates") => {
                self.advance();
                DescribeTarget::Aggregates
            }
            Some("table" | "columnfamily") => {
                self.advance();
                DescribeTarget::Table(self.qualified_name()?)
            }
            Some("index") => {
                self.advance();
                DescribeTarget::Index(self.qualified_name()?)
            }
            Some("materialized") => {
                self.advance();
                self.expect_kw("view")?;
                DescribeTarget::MaterializedView(self.qualified_name()?)
            }
            Some("type") if self.is_ident_at(1) => {
                self.advance();
                DescribeTarget::Type(self.qualified_name()?)
            }
            Some("function") if self.is_ident_at(1) => {
                self.advance();
                DescribeTarget::Function(self.function_name()?)
            }
            Some("aggregate") if self.is_ident_at(1) => {
                self.advance();
                DescribeTarget::Aggregate(self.function_name()?)
            }
            _ if self.is_ident() => DescribeTarget::Name(self.qualified_name()?),
            _ => return Err(self.expected("what to describe")),
        };
        let with_internals = if self.eat_kw("with") {
            self.expect_kw("internals")?;
            true
        } else {
            false
        };
        Ok(Statement::Describe(Describe {
            target,
            with_internals,
        }))
    }
}
