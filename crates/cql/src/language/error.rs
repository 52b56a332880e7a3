//! Syntax errors, positioned the way Cassandra reports them.

use std::fmt;

/// The CQL error code of a syntax error (`Syntax_error` in the native protocol spec).
pub const SYNTAX_ERROR_CODE: i32 = 0x2000;

/// Where in the query text something is: a 1-based line and a 0-based column counted in
/// characters, as ANTLR (and therefore Cassandra) counts them in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 0-based column, in characters from the start of the line.
    pub column: u32,
    /// Byte offset from the start of the text.
    pub offset: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A CQL syntax error, with where it happened, what was found and what was expected.
///
/// Every variant maps to the protocol's `Syntax_error` ([`SyntaxError::code`]); the `Display`
/// form follows Cassandra's ("line 1:9 mismatched input 'FORM' expecting FROM").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The parser found a token it cannot use here.
    #[error("line {at} mismatched input '{found}' expecting {expected}")]
    Mismatched {
        /// Where the offending token starts.
        at: Position,
        /// The offending token's text (`<EOF>` at the end of the input).
        found: String,
        /// What the grammar allows at this point.
        expected: String,
    },
    /// The lexer cannot form a token here (an unterminated string, a stray character, ...).
    #[error("line {at} token recognition error at: '{text}' ({reason})")]
    InvalidToken {
        /// Where the bad token starts.
        at: Position,
        /// The characters that could not be lexed.
        text: String,
        /// Why they could not.
        reason: &'static str,
    },
    /// Nesting (collections, function calls, parentheses, types) went deeper than the limit.
    #[error("line {at} input nested deeper than {limit} levels at '{found}'")]
    TooDeep {
        /// Where the nesting went over the limit.
        at: Position,
        /// The token at that point.
        found: String,
        /// The nesting limit.
        limit: u32,
    },
    /// The text is well formed but says something CQL does not allow (e.g. `LIMIT` twice).
    #[error("line {at} {message} at input '{found}'")]
    Invalid {
        /// Where the problem is.
        at: Position,
        /// The token at that point.
        found: String,
        /// What is wrong.
        message: String,
    },
}

impl SyntaxError {
    /// The native protocol error code: always `0x2000` (`Syntax_error`).
    pub fn code(&self) -> i32 {
        SYNTAX_ERROR_CODE
    }

    /// Where the error is.
    pub fn position(&self) -> Position {
        match self {
            SyntaxError::Mismatched { at, .. }
            | SyntaxError::InvalidToken { at, .. }
            | SyntaxError::TooDeep { at, .. }
            | SyntaxError::Invalid { at, .. } => *at,
        }
    }

    /// The 1-based line of the error.
    pub fn line(&self) -> u32 {
        self.position().line
    }

    /// The 0-based column (in characters) of the error.
    pub fn column(&self) -> u32 {
        self.position().column
    }

    /// The text of the offending token (`<EOF>` at the end of the input).
    pub fn found(&self) -> &str {
        match self {
            SyntaxError::Mismatched { found, .. }
            | SyntaxError::TooDeep { found, .. }
            | SyntaxError::Invalid { found, .. } => found,
            SyntaxError::InvalidToken { text, .. } => text,
        }
    }
}
