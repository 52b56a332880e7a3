//! The CQL language: lexer, parser, AST.
//!
//! [`parse_statement`] parses one statement, [`parse_statements`] a `;`-separated script. The
//! AST's `Display` prints canonical CQL that parses back to the same AST. Errors are
//! [`SyntaxError`]s with Cassandra-style positions (`line 1:9 mismatched input 'FORM' ...`).

pub mod ast;
mod display;
mod error;
mod lexer;
mod parser;
mod token;

pub use ast::{ParsedStatement, Statement};
pub use error::{Position, SYNTAX_ERROR_CODE, SyntaxError};
pub use parser::{MAX_DEPTH, parse_statement, parse_statements};
