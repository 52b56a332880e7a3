//! The lexer: CQL text to tokens, tracking line and column for error messages.
//!
//! It follows Cassandra's Lexer.g: `--`, `//` and `/* */` comments; `'strings'` with `''`
//! escaping and `$$pg-style$$` strings; `"quoted names"` with `""` escaping; integers, floats
//! with exponents, `0x` blobs, UUIDs and durations (`1h30m`, `P1DT2H`, `P0001-02-03T04:05:06`).
//! Signs are left to the parser, which folds `-` into a following numeric literal.

use super::error::{Position, SyntaxError};
use super::token::{Sym, Token, TokenKind};

/// Splits `src` into tokens, ending with one `Eof` token.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        line: 1,
        col: 0,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let at = lx.position();
        let Some(c) = lx.peek(0) else {
            out.push(Token {
                kind: TokenKind::Eof,
                at,
                end: lx.pos,
            });
            return Ok(out);
        };
        let kind = lx.token(c, at)?;
        out.push(Token {
            kind,
            at,
            end: lx.pos,
        });
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_> {
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.col,
            offset: self.pos,
        }
    }

    fn peek(&self, n: usize) -> Option<u8> {
        self.bytes.get(self.pos + n).copied()
    }

    /// Advances over `n` bytes, counting lines and (character) columns.
    fn bump(&mut self, n: usize) {
        for _ in 0..n {
            let Some(b) = self.peek(0) else { return };
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 0;
            } else if b & 0xC0 != 0x80 {
                // Count a character at its first byte, not at continuation bytes.
                self.col += 1;
            }
        }
    }

    fn error(&self, at: Position, reason: &'static str) -> SyntaxError {
        let text: String = self
            .src
            .get(at.offset..)
            .unwrap_or("")
            .chars()
            .take(16)
            .collect();
        SyntaxError::InvalidToken { at, text, reason }
    }

    fn skip_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b), _) if b.is_ascii_whitespace() => self.bump(1),
                (Some(b'-'), Some(b'-')) | (Some(b'/'), Some(b'/')) => {
                    while let Some(b) = self.peek(0) {
                        if b == b'\n' {
                            break;
                        }
                        self.bump(1);
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let at = self.position();
                    self.bump(2);
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some(b'*'), Some(b'/')) => {
                                self.bump(2);
                                break;
                            }
                            (Some(_), _) => self.bump(1),
                            (None, _) => return Err(self.error(at, "unterminated comment")),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self, c: u8, at: Position) -> Result<TokenKind, SyntaxError> {
        if let Some(n) = self.uuid_len() {
            self.bump(n);
            return Ok(TokenKind::Uuid);
        }
        match c {
            b'\'' => self.quoted(b'\'', at).map(TokenKind::Str),
            b'"' => {
                let name = self.quoted(b'"', at)?;
                if name.is_empty() {
                    return Err(self.error(at, "empty quoted identifier"));
                }
                Ok(TokenKind::QuotedName(name))
            }
            b'$' if self.peek(1) == Some(b'$') => self.dollar_string(at),
            b'0' if matches!(self.peek(1), Some(b'x' | b'X')) => {
                let mut n = 2;
                while self.peek(n).is_some_and(|b| b.is_ascii_hexdigit()) {
                    n += 1;
                }
                self.bump(n);
                Ok(TokenKind::Hex)
            }
            b'0'..=b'9' => Ok(self.number()),
            b'p' | b'P' if self.iso_duration_len().is_some() => {
                let n = self.iso_duration_len().unwrap_or(1);
                self.bump(n);
                Ok(TokenKind::Duration)
            }
            b if b.is_ascii_alphabetic() => {
                let mut n = 1;
                while self.peek(n).is_some_and(is_ident_char) {
                    n += 1;
                }
                self.bump(n);
                Ok(TokenKind::Word)
            }
            _ => self.symbol(at),
        }
    }

    fn symbol(&mut self, at: Position) -> Result<TokenKind, SyntaxError> {
        let two = match (self.peek(0), self.peek(1)) {
            (Some(b'<'), Some(b'=')) => Some(Sym::Le),
            (Some(b'>'), Some(b'=')) => Some(Sym::Ge),
            (Some(b'!'), Some(b'=')) => Some(Sym::Ne),
            (Some(b'+'), Some(b'=')) => Some(Sym::PlusEq),
            (Some(b'-'), Some(b'=')) => Some(Sym::MinusEq),
            (Some(b'.'), Some(b'.')) => Some(Sym::DotDot),
            _ => None,
        };
        if let Some(s) = two {
            self.bump(2);
            return Ok(TokenKind::Sym(s));
        }
        let s = match self.peek(0) {
            Some(b'(') => Sym::LParen,
            Some(b')') => Sym::RParen,
            Some(b'[') => Sym::LBracket,
            Some(b']') => Sym::RBracket,
            Some(b'{') => Sym::LBrace,
            Some(b'}') => Sym::RBrace,
            Some(b',') => Sym::Comma,
            Some(b';') => Sym::Semicolon,
            Some(b'.') => Sym::Dot,
            Some(b':') => Sym::Colon,
            Some(b'=') => Sym::Eq,
            Some(b'<') => Sym::Lt,
            Some(b'>') => Sym::Gt,
            Some(b'+') => Sym::Plus,
            Some(b'-') => Sym::Minus,
            Some(b'*') => Sym::Star,
            Some(b'/') => Sym::Slash,
            Some(b'%') => Sym::Percent,
            Some(b'?') => Sym::QMark,
            _ => return Err(self.error(at, "unexpected character")),
        };
        self.bump(1);
        Ok(TokenKind::Sym(s))
    }

    /// A quoted string or name; a doubled quote stands for one.
    fn quoted(&mut self, q: u8, at: Position) -> Result<String, SyntaxError> {
        let start = self.pos + 1;
        let mut n = 1;
        let mut out = String::new();
        let mut chunk = start;
        loop {
            match self.peek(n) {
                None => {
                    let what = if q == b'\'' {
                        "unterminated string"
                    } else {
                        "unterminated quoted identifier"
                    };
                    return Err(self.error(at, what));
                }
                Some(b) if b == q => {
                    out.push_str(self.src.get(chunk..self.pos + n).unwrap_or(""));
                    if self.peek(n + 1) == Some(q) {
                        out.push(q as char);
                        n += 2;
                        chunk = self.pos + n;
                    } else {
                        n += 1;
                        break;
                    }
                }
                Some(_) => n += 1,
            }
        }
        self.bump(n);
        Ok(out)
    }

    fn dollar_string(&mut self, at: Position) -> Result<TokenKind, SyntaxError> {
        let body_start = self.pos + 2;
        let rest = self.src.get(body_start..).unwrap_or("");
        match rest.find("$$") {
            Some(i) => {
                let body = rest.get(..i).unwrap_or("").to_string();
                self.bump(2 + i + 2);
                Ok(TokenKind::Str(body))
            }
            None => Err(self.error(at, "unterminated $$ string")),
        }
    }

    fn number(&mut self) -> TokenKind {
        let mut n = 0;
        while self.peek(n).is_some_and(|b| b.is_ascii_digit()) {
            n += 1;
        }
        let mut float = false;
        // `1..3` (a slice) is the integer 1, `..`, then 3.
        if self.peek(n) == Some(b'.')
            && self.peek(n + 1) != Some(b'.')
            && !self
                .peek(n + 1)
                .is_some_and(|b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'))
        {
            float = true;
            n += 1;
            while self.peek(n).is_some_and(|b| b.is_ascii_digit()) {
                n += 1;
            }
        }
        if matches!(self.peek(n), Some(b'e' | b'E')) {
            let mut m = n + 1;
            if matches!(self.peek(m), Some(b'+' | b'-')) {
                m += 1;
            }
            if self.peek(m).is_some_and(|b| b.is_ascii_digit()) {
                while self.peek(m).is_some_and(|b| b.is_ascii_digit()) {
                    m += 1;
                }
                float = true;
                n = m;
            }
        }
        if !float
            && self
                .peek(n)
                .is_some_and(|b| b.is_ascii_alphabetic() || b == 0xC2)
        {
            // `1h30m`: digits then a unit, repeated. Like ANTLR, take the longest token: `1and`
            // is the integer 1 then the word `and`.
            if let Some(len) = self.unit_duration_len() {
                self.bump(len);
                return TokenKind::Duration;
            }
        }
        self.bump(n);
        if float {
            TokenKind::Float
        } else {
            TokenKind::Integer
        }
    }

    /// Length of a `(digits unit)+` duration at the cursor, if the whole word is one.
    fn unit_duration_len(&self) -> Option<usize> {
        let mut n = 0;
        let mut groups = 0;
        loop {
            let digits_start = n;
            while self.peek(n).is_some_and(|b| b.is_ascii_digit()) {
                n += 1;
            }
            if n == digits_start {
                break;
            }
            match self.unit_len(n) {
                Some(unit) => n += unit,
                None => {
                    n = digits_start;
                    break;
                }
            }
            groups += 1;
        }
        (groups > 0).then_some(n)
    }

    /// Length of a duration unit at byte `n` past the cursor (`µs` is two bytes plus `s`).
    fn unit_len(&self, n: usize) -> Option<usize> {
        let lower = |i: usize| self.peek(n + i).map(|b| b.to_ascii_lowercase());
        match (lower(0), lower(1)) {
            (Some(b'm'), Some(b'o')) => Some(2),
            (Some(b'm'), Some(b's')) => Some(2),
            (Some(b'u'), Some(b's')) => Some(2),
            (Some(b'n'), Some(b's')) => Some(2),
            (Some(0xC2), Some(0xB5)) if lower(2) == Some(b's') => Some(3),
            (Some(b'y' | b'w' | b'd' | b'h' | b'm' | b's'), _) => Some(1),
            _ => None,
        }
    }

    /// Length of an ISO 8601 duration at the cursor (`P1Y2M3DT4H5M6S`, `P2W`,
    /// `P0001-02-03T04:05:06`), if the whole word is one.
    fn iso_duration_len(&self) -> Option<usize> {
        let upper = |i: usize| self.peek(i).map(|b| b.to_ascii_uppercase());
        if upper(0) != Some(b'P') {
            return None;
        }
        let digits = |from: usize| {
            let mut i = from;
            while self.peek(i).is_some_and(|b| b.is_ascii_digit()) {
                i += 1;
            }
            i - from
        };
        // Alternative form: P yyyy-mm-dd T hh:mm:ss.
        if digits(1) == 4 && self.peek(5) == Some(b'-') {
            let ok = digits(6) == 2
                && self.peek(8) == Some(b'-')
                && digits(9) == 2
                && upper(11) == Some(b'T')
                && digits(12) == 2
                && self.peek(14) == Some(b':')
                && digits(15) == 2
                && self.peek(17) == Some(b':')
                && digits(18) == 2;
            return (ok && !self.peek(20).is_some_and(is_ident_char)).then_some(20);
        }
        // P n W
        let d = digits(1);
        if d > 0 && upper(1 + d) == Some(b'W') {
            let n = 2 + d;
            return (!self.peek(n).is_some_and(is_ident_char)).then_some(n);
        }
        let mut n = 1;
        let mut any = false;
        let mut date_units: &[u8] = b"YMD";
        loop {
            let d = digits(n);
            if d == 0 {
                break;
            }
            let u = upper(n + d)?;
            let idx = date_units.iter().position(|&x| x == u)?;
            date_units = date_units.get(idx + 1..).unwrap_or(&[]);
            n += d + 1;
            any = true;
        }
        if upper(n) == Some(b'T') {
            n += 1;
            let mut time_units: &[u8] = b"HMS";
            let mut any_time = false;
            loop {
                let d = digits(n);
                if d == 0 {
                    break;
                }
                let u = upper(n + d)?;
                let idx = time_units.iter().position(|&x| x == u)?;
                time_units = time_units.get(idx + 1..).unwrap_or(&[]);
                n += d + 1;
                any_time = true;
            }
            if !any_time {
                return None;
            }
            any = true;
        }
        (any && !self.peek(n).is_some_and(is_ident_char)).then_some(n)
    }

    /// Length of a UUID (8-4-4-4-12 hex digits) at the cursor, if there is one.
    fn uuid_len(&self) -> Option<usize> {
        let mut n = 0;
        for (i, group) in [8usize, 4, 4, 4, 12].iter().enumerate() {
            if i > 0 {
                if self.peek(n) != Some(b'-') {
                    return None;
                }
                n += 1;
            }
            for _ in 0..*group {
                if !self.peek(n).is_some_and(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                n += 1;
            }
        }
        (!self.peek(n).is_some_and(is_ident_char)).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn literals_of_every_form_are_recognised() {
        assert_eq!(
            kinds(
                "'it''s' $$a'b$$ 12 1.5 1e10 2.5E-3 0xCAFE 1h30m P1DT2H P0001-02-03T04:05:06 P2W"
            ),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Str("a'b".into()),
                TokenKind::Integer,
                TokenKind::Float,
                TokenKind::Float,
                TokenKind::Float,
                TokenKind::Hex,
                TokenKind::Duration,
                TokenKind::Duration,
                TokenKind::Duration,
                TokenKind::Duration,
                TokenKind::Eof,
            ]
        );
        assert_eq!(
            kinds("123e4567-e89b-12d3-a456-426655440000"),
            vec![TokenKind::Uuid, TokenKind::Eof]
        );
    }

    #[test]
    fn comments_are_skipped_and_lines_counted() {
        let toks = tokenize("-- one\n// two\n/* three\n */ x").unwrap();
        assert_eq!(toks[0].kind, TokenKind::Word);
        assert_eq!((toks[0].at.line, toks[0].at.column), (4, 4));
    }

    #[test]
    fn unterminated_string_is_an_error_at_its_start() {
        let err = tokenize("SELECT 'abc").unwrap_err();
        assert_eq!((err.line(), err.column()), (1, 7));
    }
}
