//! The CQL language: lexer, parser, AST.
//!
//! [`parse_statement`] parses one statement (with an optional trailing `;`),
//! [`parse_statements`] a `;`-separated script. Each result is a [`ParsedStatement`]: the typed
//! [`Statement`], its source text and span, and its bind markers in order (each with its index
//! and, for `:name` markers, its name), which is what a server needs to answer PREPARE.
//!
//! The AST's `Display` prints canonical CQL (uppercase keywords, names quoted only when they
//! must be) that parses back to the same AST. Errors are [`SyntaxError`]s positioned the way
//! Cassandra reports them (`line 1:9 mismatched input 'FORM' expecting FROM`), all mapping to
//! the protocol's `Syntax_error` code 0x2000. Nesting deeper than [`MAX_DEPTH`] is an error,
//! never a stack overflow.
//!
//! ```
//! use ilion_cql::language::ast::{Statement, Selection};
//!
//! let parsed = ilion_cql::parse_statement("SELECT a, b FROM ks.t WHERE k = ? AND c > :low LIMIT 10;")?;
//! assert_eq!(parsed.bind_markers.len(), 2);
//! assert_eq!(parsed.bind_markers[1].name.as_ref().map(|n| n.as_str()), Some("low"));
//! let Statement::Select(select) = &parsed.statement else { unreachable!() };
//! assert_eq!(select.table.keyspace.as_ref().map(|k| k.as_str()), Some("ks"));
//! assert!(matches!(select.selection, Selection::Items(ref items) if items.len() == 2));
//! assert_eq!(
//!     parsed.statement.to_string(),
//!     "SELECT a, b FROM ks.t WHERE k = ? AND c > :low LIMIT 10"
//! );
//!
//! let err = ilion_cql::parse_statement("SELECT * FORM t").unwrap_err();
//! assert_eq!((err.code(), err.line(), err.column()), (0x2000, 1, 9));
//! # Ok::<(), ilion_cql::SyntaxError>(())
//! ```
//!
//! It is syntax only: whether a table or column exists, or a statement is valid for the
//! schema (e.g. a PRIMARY KEY declared twice inline, a counter in a key), is the server's
//! business.

pub mod ast;
mod display;
mod error;
mod lexer;
mod parser;
mod token;

pub use ast::{ParsedStatement, Statement};
pub use error::{Position, SYNTAX_ERROR_CODE, SyntaxError};
pub use parser::{MAX_DEPTH, parse_statement, parse_statements};
/// Keywords CQL still accepts as identifiers (`key`, `ttl`, `type`, ...); the printer quotes them.
pub use token::UNRESERVED as UNRESERVED_KEYWORDS;
