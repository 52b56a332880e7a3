//! A hand-written recursive-descent parser from tokens to the AST.
//!
//! Every recursive rule (terms, types, selectors, parentheses) goes through [`Parser::enter`],
//! which fails with [`SyntaxError::TooDeep`] past [`MAX_DEPTH`] levels, so hostile input cannot
//! overflow the stack.

mod auth;
mod ddl;
mod describe;
mod dml;
mod select;
mod term;

use super::ast::{BindMarker, Ident, ParsedStatement, QualifiedName, Statement};
use super::error::SyntaxError;
use super::lexer::tokenize;
use super::token::{Sym, Token, TokenKind, is_reserved};

/// How deeply terms, types, selectors and parentheses may nest.
pub const MAX_DEPTH: u32 = 64;

/// Parses exactly one statement, with an optional trailing `;`.
pub fn parse_statement(src: &str) -> Result<ParsedStatement, SyntaxError> {
    let mut p = Parser::new(src)?;
    if p.at_eof() {
        return Err(p.expected("a statement"));
    }
    let parsed = p.parsed_statement()?;
    p.eat_sym(Sym::Semicolon);
    if !p.at_eof() {
        return Err(p.expected("<EOF>"));
    }
    Ok(parsed)
}

/// Parses a script: statements separated by `;` (empty statements are skipped).
pub fn parse_statements(src: &str) -> Result<Vec<ParsedStatement>, SyntaxError> {
    let mut p = Parser::new(src)?;
    let mut out = Vec::new();
    loop {
        while p.eat_sym(Sym::Semicolon) {}
        if p.at_eof() {
            return Ok(out);
        }
        out.push(p.parsed_statement()?);
        if !p.at_eof() && !p.is_sym(Sym::Semicolon) {
            return Err(p.expected("';'"));
        }
    }
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: u32,
    markers: Vec<BindMarker>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Result<Self, SyntaxError> {
        Ok(Parser {
            src,
            tokens: tokenize(src)?,
            pos: 0,
            depth: 0,
            markers: Vec::new(),
        })
    }

    fn parsed_statement(&mut self) -> Result<ParsedStatement, SyntaxError> {
        self.markers.clear();
        let start = self.peek().at.offset;
        let statement = self.statement()?;
        let end = self
            .tokens
            .get(self.pos.saturating_sub(1))
            .map_or(start, |t| t.end);
        Ok(ParsedStatement {
            statement,
            text: self.src.get(start..end).unwrap_or("").to_string(),
            span: start..end,
            bind_markers: std::mem::take(&mut self.markers),
        })
    }

    fn statement(&mut self) -> Result<Statement, SyntaxError> {
        let Some(word) = self.peek_word() else {
            return Err(self.expected("a statement"));
        };
        match word.as_str() {
            "select" => Ok(Statement::Select(Box::new(self.select()?))),
            "insert" => Ok(Statement::Insert(Box::new(self.insert()?))),
            "update" => Ok(Statement::Update(Box::new(self.update()?))),
            "delete" => Ok(Statement::Delete(Box::new(self.delete()?))),
            "begin" => Ok(Statement::Batch(Box::new(self.batch()?))),
            "use" => {
                self.advance();
                Ok(Statement::Use(self.ident()?))
            }
            "truncate" => {
                self.advance();
                let _ = self.eat_kw("table") || self.eat_kw("columnfamily");
                Ok(Statement::Truncate(self.qualified_name()?))
            }
            "create" => self.create(),
            "alter" => self.alter(),
            "drop" => self.drop(),
            "grant" => self.grant(),
            "revoke" => self.revoke(),
            "list" => self.list(),
            "describe" | "desc" => self.describe(),
            _ => Err(self.expected("a statement")),
        }
    }

    // ---- token access -------------------------------------------------------------------

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Token {
        // The token list always ends with Eof; past it, keep answering Eof.
        let last = self.tokens.len().saturating_sub(1);
        let i = (self.pos + n).min(last);
        static EOF: Token = Token {
            kind: TokenKind::Eof,
            at: super::error::Position {
                line: 1,
                column: 0,
                offset: 0,
            },
            end: 0,
        };
        self.tokens.get(i).unwrap_or(&EOF)
    }

    fn advance(&mut self) {
        if self.peek().kind != TokenKind::Eof {
            self.pos += 1;
        }
    }

    fn at_eof(&self) -> bool {
        self.peek().kind == TokenKind::Eof
    }

    fn text(&self, t: &Token) -> &'a str {
        self.src.get(t.at.offset..t.end).unwrap_or("")
    }

    /// The lowercased word at `n` tokens ahead, if it is an unquoted word.
    fn word_at(&self, n: usize) -> Option<String> {
        let t = self.peek_at(n);
        (t.kind == TokenKind::Word).then(|| self.text(t).to_ascii_lowercase())
    }

    fn peek_word(&self) -> Option<String> {
        self.word_at(0)
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        let t = self.peek_at(n);
        t.kind == TokenKind::Word && self.text(t).eq_ignore_ascii_case(kw)
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SyntaxError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.expected(&kw.to_ascii_uppercase()))
        }
    }

    fn is_sym_at(&self, n: usize, s: Sym) -> bool {
        self.peek_at(n).kind == TokenKind::Sym(s)
    }

    fn is_sym(&self, s: Sym) -> bool {
        self.is_sym_at(0, s)
    }

    fn eat_sym(&mut self, s: Sym) -> bool {
        let yes = self.is_sym(s);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_sym(&mut self, s: Sym) -> Result<(), SyntaxError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{}'", s.text())))
        }
    }

    fn found(&self) -> String {
        let t = self.peek();
        if t.kind == TokenKind::Eof {
            "<EOF>".to_string()
        } else {
            self.text(t).to_string()
        }
    }

    /// A "mismatched input" error at the current token.
    fn expected(&self, what: &str) -> SyntaxError {
        SyntaxError::Mismatched {
            at: self.peek().at,
            found: self.found(),
            expected: what.to_string(),
        }
    }

    fn invalid(&self, message: &str) -> SyntaxError {
        SyntaxError::Invalid {
            at: self.peek().at,
            found: self.found(),
            message: message.to_string(),
        }
    }

    /// Enters one level of nesting; pair with [`Parser::leave`].
    fn enter(&mut self) -> Result<(), SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(SyntaxError::TooDeep {
                at: self.peek().at,
                found: self.found(),
                limit: MAX_DEPTH,
            });
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Runs `f` one nesting level deeper.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, SyntaxError>,
    ) -> Result<T, SyntaxError> {
        self.enter()?;
        let r = f(self);
        self.leave();
        r
    }

    /// Parses `item (',' item)*`.
    fn comma_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, SyntaxError>,
    ) -> Result<Vec<T>, SyntaxError> {
        let mut out = vec![item(self)?];
        while self.eat_sym(Sym::Comma) {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Parses `'(' [item (',' item)*] ')'`.
    fn paren_list<T>(
        &mut self,
        allow_empty: bool,
        item: impl FnMut(&mut Self) -> Result<T, SyntaxError>,
    ) -> Result<Vec<T>, SyntaxError> {
        self.expect_sym(Sym::LParen)?;
        if allow_empty && self.eat_sym(Sym::RParen) {
            return Ok(Vec::new());
        }
        let v = self.comma_list(item)?;
        self.expect_sym(Sym::RParen)?;
        Ok(v)
    }

    // ---- names --------------------------------------------------------------------------

    /// Whether the current token can be an identifier (a non-reserved word or a quoted name).
    fn is_ident(&self) -> bool {
        self.is_ident_at(0)
    }

    fn is_ident_at(&self, n: usize) -> bool {
        let t = self.peek_at(n);
        match &t.kind {
            TokenKind::QuotedName(_) => true,
            TokenKind::Word => !is_reserved(self.text(t)),
            _ => false,
        }
    }

    pub(crate) fn ident(&mut self) -> Result<Ident, SyntaxError> {
        let t = self.peek();
        match &t.kind {
            TokenKind::QuotedName(name) => {
                let name = name.clone();
                self.advance();
                Ok(Ident::new(name))
            }
            TokenKind::Word => {
                let lower = self.text(t).to_ascii_lowercase();
                if is_reserved(&lower) {
                    return Err(self.expected("an identifier"));
                }
                self.advance();
                Ok(Ident::new(lower))
            }
            _ => Err(self.expected("an identifier")),
        }
    }

    fn qualified_name(&mut self) -> Result<QualifiedName, SyntaxError> {
        let first = self.ident()?;
        if self.eat_sym(Sym::Dot) {
            let name = self.ident()?;
            Ok(QualifiedName {
                keyspace: Some(first),
                name,
            })
        } else {
            Ok(QualifiedName {
                keyspace: None,
                name: first,
            })
        }
    }

    /// A role or user name: an identifier, a quoted name or a string (kept as written).
    fn role_name(&mut self) -> Result<Ident, SyntaxError> {
        if let TokenKind::Str(s) = &self.peek().kind {
            let s = s.clone();
            self.advance();
            return Ok(Ident::new(s));
        }
        self.ident().map_err(|_| self.expected("a role name"))
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        if let TokenKind::Str(s) = &self.peek().kind {
            let s = s.clone();
            self.advance();
            Ok(s)
        } else {
            Err(self.expected("a string"))
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, SyntaxError> {
        if self.eat_kw("if") {
            self.expect_kw("not")?;
            self.expect_kw("exists")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn if_exists(&mut self) -> Result<bool, SyntaxError> {
        if self.eat_kw("if") {
            self.expect_kw("exists")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Records a bind marker and returns it with its index.
    fn new_marker(&mut self, name: Option<Ident>) -> BindMarker {
        let m = BindMarker {
            index: self.markers.len(),
            name,
        };
        self.markers.push(m.clone());
        m
    }
}
