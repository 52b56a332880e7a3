//! The CQL language: lexer, parser, AST.

/// A CQL syntax error, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {}
