//! Terms, literals, types, relations and option lists: the pieces every statement shares.

use super::Parser;
use crate::language::ast::{
    CqlType, Ident, InValues, Literal, Operator, Property, PropertyValue, QualifiedName, Relation,
    RelationTarget, Term, UdtType, UsingParam,
};
use crate::language::error::SyntaxError;
use crate::language::token::{Sym, TokenKind, is_reserved};

impl Parser<'_> {
    /// Whether the current token starts a constant.
    fn is_literal_start(&self) -> bool {
        match &self.peek().kind {
            TokenKind::Str(_)
            | TokenKind::Integer
            | TokenKind::Float
            | TokenKind::Hex
            | TokenKind::Uuid
            | TokenKind::Duration => true,
            TokenKind::Word => {
                let w = self.text(self.peek());
                ["true", "false", "null", "nan", "infinity"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
            }
            TokenKind::Sym(Sym::Minus) => true,
            _ => false,
        }
    }

    /// A constant, with an optional leading `-` on numbers and durations.
    pub(crate) fn literal(&mut self) -> Result<Literal, SyntaxError> {
        let negative = self.eat_sym(Sym::Minus);
        let t = self.peek();
        let text = self.text(t);
        let sign = if negative { "-" } else { "" };
        let lit = match &t.kind {
            TokenKind::Integer => Literal::Integer(format!("{sign}{text}")),
            TokenKind::Float => Literal::Float(format!("{sign}{text}")),
            TokenKind::Duration => Literal::Duration(format!("{sign}{text}")),
            TokenKind::Word if text.eq_ignore_ascii_case("nan") => Literal::Float("NaN".into()),
            TokenKind::Word if text.eq_ignore_ascii_case("infinity") => {
                Literal::Float(format!("{sign}Infinity"))
            }
            _ if negative => return Err(self.expected("a number or duration")),
            TokenKind::Str(s) => Literal::String(s.clone()),
            TokenKind::Hex => Literal::Hex(text.to_string()),
            TokenKind::Uuid => Literal::Uuid(text.to_string()),
            TokenKind::Word if text.eq_ignore_ascii_case("true") => Literal::Boolean(true),
            TokenKind::Word if text.eq_ignore_ascii_case("false") => Literal::Boolean(false),
            TokenKind::Word if text.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(self.expected("a constant")),
        };
        self.advance();
        Ok(lit)
    }

    /// A bind marker if one is here: `?` or `:name`.
    pub(crate) fn bind_marker(
        &mut self,
    ) -> Result<Option<crate::language::ast::BindMarker>, SyntaxError> {
        if self.eat_sym(Sym::QMark) {
            return Ok(Some(self.new_marker(None)));
        }
        if self.is_named_marker() {
            self.advance();
            let name = self.ident()?;
            return Ok(Some(self.new_marker(Some(name))));
        }
        Ok(None)
    }

    /// Whether a `:name` marker starts here. The name must touch the colon: `{(1): a}` is a
    /// map entry, not the type hint `(1)` of a marker `:a`, and the printer never separates them.
    fn is_named_marker(&self) -> bool {
        self.is_sym(Sym::Colon)
            && matches!(
                self.peek_at(1).kind,
                TokenKind::Word | TokenKind::QuotedName(_)
            )
            && self.peek_at(1).at.offset == self.peek().end
    }

    /// Whether a function call starts here: `name(` or `ks.name(`.
    pub(crate) fn is_function_call(&self) -> bool {
        let callable = |n: usize| self.is_ident_at(n) || self.is_kw_at(n, "token");
        (callable(0) && self.is_sym_at(1, Sym::LParen))
            || (self.is_ident_at(0)
                && self.is_sym_at(1, Sym::Dot)
                && callable(2)
                && self.is_sym_at(3, Sym::LParen))
    }

    /// A function name (which may be `token`).
    pub(crate) fn function_name(&mut self) -> Result<QualifiedName, SyntaxError> {
        let part = |p: &mut Self| {
            if p.is_kw("token") {
                p.advance();
                Ok(Ident::new("token"))
            } else {
                p.ident()
            }
        };
        let first = part(self)?;
        if self.eat_sym(Sym::Dot) {
            let name = part(self)?;
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

    /// A term: a constant, a marker, a collection, tuple or UDT literal, a function call or a
    /// type-hinted term.
    pub(crate) fn term(&mut self) -> Result<Term, SyntaxError> {
        self.nested(|p| p.term_inner())
    }

    fn term_inner(&mut self) -> Result<Term, SyntaxError> {
        if let Some(m) = self.bind_marker()? {
            return Ok(Term::Bind(m));
        }
        if self.is_literal_start() {
            return Ok(Term::Literal(self.literal()?));
        }
        if self.eat_sym(Sym::LBracket) {
            if self.eat_sym(Sym::RBracket) {
                return Ok(Term::List(Vec::new()));
            }
            let items = self.comma_list(|p| p.term())?;
            self.expect_sym(Sym::RBracket)?;
            return Ok(Term::List(items));
        }
        if self.eat_sym(Sym::LBrace) {
            return self.brace_literal();
        }
        if self.is_sym(Sym::LParen) {
            if let Some(hint) = self.try_type_hint()? {
                return Ok(hint);
            }
            return Ok(Term::Tuple(self.paren_list(false, |p| p.term())?));
        }
        if self.is_function_call() {
            let name = self.function_name()?;
            let args = self.paren_list(true, |p| p.term())?;
            return Ok(Term::Function { name, args });
        }
        Err(self.expected("a term"))
    }

    /// After `{`: a set, a map or a UDT literal.
    fn brace_literal(&mut self) -> Result<Term, SyntaxError> {
        if self.eat_sym(Sym::RBrace) {
            return Ok(Term::Map(Vec::new()));
        }
        if self.is_ident() && self.is_sym_at(1, Sym::Colon) {
            let fields = self.comma_list(|p| {
                let f = p.ident()?;
                p.expect_sym(Sym::Colon)?;
                Ok((f, p.term()?))
            })?;
            self.expect_sym(Sym::RBrace)?;
            return Ok(Term::Udt(fields));
        }
        let first = self.term()?;
        if self.eat_sym(Sym::Colon) {
            let mut entries = vec![(first, self.term()?)];
            while self.eat_sym(Sym::Comma) {
                let k = self.term()?;
                self.expect_sym(Sym::Colon)?;
                entries.push((k, self.term()?));
            }
            self.expect_sym(Sym::RBrace)?;
            return Ok(Term::Map(entries));
        }
        let mut items = vec![first];
        while self.eat_sym(Sym::Comma) {
            items.push(self.term()?);
        }
        self.expect_sym(Sym::RBrace)?;
        Ok(Term::Set(items))
    }

    /// `(type) term`, if that is what follows; otherwise nothing is consumed.
    pub(crate) fn try_type_hint(&mut self) -> Result<Option<Term>, SyntaxError> {
        let save = (self.pos, self.markers.len());
        let looks_like_type = matches!(
            self.peek_at(1).kind,
            TokenKind::Word | TokenKind::QuotedName(_) | TokenKind::Str(_)
        ) && !self.is_sym_at(2, Sym::LParen);
        if looks_like_type {
            self.advance();
            let ty = self.nested(|p| p.cql_type());
            match ty {
                Ok(ty) if self.eat_sym(Sym::RParen) && self.starts_term() => match self.term() {
                    Ok(term) => {
                        return Ok(Some(Term::TypeHint {
                            ty,
                            term: Box::new(term),
                        }));
                    }
                    Err(e @ SyntaxError::TooDeep { .. }) => return Err(e),
                    // `{('a'): 1}`: a tuple followed by something that only looked like a term.
                    Err(_) => {}
                },
                Err(e @ SyntaxError::TooDeep { .. }) => return Err(e),
                _ => {}
            }
        }
        self.pos = save.0;
        self.markers.truncate(save.1);
        Ok(None)
    }

    /// Whether a term can start at the current token.
    pub(crate) fn starts_term(&self) -> bool {
        self.is_literal_start()
            || self.is_named_marker()
            || matches!(
                self.peek().kind,
                TokenKind::Sym(Sym::QMark | Sym::LBracket | Sym::LBrace | Sym::LParen)
            )
            || self.is_function_call()
    }

    // ---- types --------------------------------------------------------------------------

    pub(crate) fn cql_type(&mut self) -> Result<CqlType, SyntaxError> {
        self.nested(|p| p.cql_type_inner())
    }

    fn cql_type_inner(&mut self) -> Result<CqlType, SyntaxError> {
        if let TokenKind::Str(s) = &self.peek().kind {
            let s = s.clone();
            self.advance();
            return Ok(CqlType::Custom(s));
        }
        let word = self.peek_word();
        if let Some(w) = word.as_deref() {
            let generic = matches!(w, "frozen" | "list" | "set" | "map" | "tuple" | "vector")
                && self.is_sym_at(1, Sym::Lt);
            if generic {
                self.advance();
                self.advance();
                let ty = match w {
                    // frozen<int> is int: only collections and UDTs have a non-frozen form.
                    "frozen" => self.cql_type()?.frozen(),
                    "list" => CqlType::list(self.cql_type()?),
                    "set" => CqlType::set(self.cql_type()?),
                    "map" => {
                        let k = self.cql_type()?;
                        self.expect_sym(Sym::Comma)?;
                        CqlType::map(k, self.cql_type()?)
                    }
                    "tuple" => CqlType::Tuple(self.comma_list(|p| p.cql_type())?),
                    _ => {
                        let elem = self.cql_type()?;
                        self.expect_sym(Sym::Comma)?;
                        let t = self.peek().clone();
                        let n = match t.kind {
                            TokenKind::Integer => self.text(&t).parse::<u32>().ok(),
                            _ => None,
                        };
                        // A zero dimension parses; the schema refuses it with Cassandra's
                        // InvalidRequest ("vectors may only have positive dimensions").
                        let Some(n) = n else {
                            return Err(self.expected("a vector dimension"));
                        };
                        self.advance();
                        CqlType::vector(elem, n)
                    }
                };
                self.expect_sym(Sym::Gt)?;
                return Ok(ty);
            }
            // `text.address` is the type `address` of keyspace `text`.
            let native = CqlType::native(w).filter(|_| !self.is_sym_at(1, Sym::Dot));
            if let Some(native) = native {
                self.advance();
                return Ok(native);
            }
        }
        if self.is_ident() {
            let name = self.qualified_name()?;
            return Ok(CqlType::Udt(UdtType::named(
                name.keyspace.map(|k| k.as_str().to_owned()),
                name.name.as_str(),
            )));
        }
        Err(self.expected("a type"))
    }

    // ---- relations ----------------------------------------------------------------------

    /// `relation (AND relation)*`.
    pub(crate) fn relations(&mut self) -> Result<Vec<Relation>, SyntaxError> {
        let mut out = vec![self.relation()?];
        while self.eat_kw("and") {
            out.push(self.relation()?);
        }
        Ok(out)
    }

    fn relation(&mut self) -> Result<Relation, SyntaxError> {
        let target = if self.is_kw("token") && self.is_sym_at(1, Sym::LParen) {
            self.advance();
            RelationTarget::Token(self.paren_list(false, |p| p.ident())?)
        } else if self.is_sym(Sym::LParen) {
            RelationTarget::Tuple(self.paren_list(false, |p| p.ident())?)
        } else {
            let column = self.ident().map_err(|_| self.expected("a relation"))?;
            if self.eat_kw("is") {
                let not = self.eat_kw("not");
                self.expect_kw("null")?;
                return Ok(if not {
                    Relation::IsNotNull { column }
                } else {
                    Relation::IsNull { column }
                });
            }
            if self.eat_sym(Sym::LBracket) {
                let key = self.term()?;
                self.expect_sym(Sym::RBracket)?;
                RelationTarget::Element { column, key }
            } else if self.eat_sym(Sym::Dot) {
                RelationTarget::Field {
                    column,
                    field: self.ident()?,
                }
            } else {
                RelationTarget::Column(column)
            }
        };
        if self.eat_kw("in") {
            let values = if let Some(m) = self.bind_marker()? {
                InValues::Marker(m)
            } else {
                InValues::List(self.paren_list(true, |p| p.term())?)
            };
            return Ok(Relation::In { target, values });
        }
        let op = self.operator()?;
        let value = self.term()?;
        Ok(Relation::Compare { target, op, value })
    }

    fn operator(&mut self) -> Result<Operator, SyntaxError> {
        let op = match self.peek().kind {
            TokenKind::Sym(Sym::Eq) => Operator::Eq,
            TokenKind::Sym(Sym::Ne) => Operator::Ne,
            TokenKind::Sym(Sym::Lt) => Operator::Lt,
            TokenKind::Sym(Sym::Le) => Operator::Le,
            TokenKind::Sym(Sym::Gt) => Operator::Gt,
            TokenKind::Sym(Sym::Ge) => Operator::Ge,
            _ if self.is_kw("like") => Operator::Like,
            _ if self.is_kw("contains") => {
                self.advance();
                // `CONTAINS key.f()` compares with a function of keyspace `key`.
                let key = self.is_kw("key") && !self.is_sym_at(1, Sym::Dot);
                if key {
                    self.advance();
                }
                return Ok(if key {
                    Operator::ContainsKey
                } else {
                    Operator::Contains
                });
            }
            _ => return Err(self.expected("an operator")),
        };
        self.advance();
        Ok(op)
    }

    // ---- USING and WITH -----------------------------------------------------------------

    /// `USING TTL x AND TIMESTAMP y`, after `USING`.
    pub(crate) fn using_params(&mut self, allow_ttl: bool) -> Result<Vec<UsingParam>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            if allow_ttl && self.eat_kw("ttl") {
                out.push(UsingParam::Ttl(self.int_or_marker()?));
            } else if self.eat_kw("timestamp") {
                out.push(UsingParam::Timestamp(self.int_or_marker()?));
            } else {
                return Err(self.expected(if allow_ttl {
                    "TTL or TIMESTAMP"
                } else {
                    "TIMESTAMP"
                }));
            }
            if !self.eat_kw("and") {
                return Ok(out);
            }
        }
    }

    /// An integer literal or a bind marker (TTL, TIMESTAMP, LIMIT).
    pub(crate) fn int_or_marker(&mut self) -> Result<Term, SyntaxError> {
        if let Some(m) = self.bind_marker()? {
            return Ok(Term::Bind(m));
        }
        let is_int = self.peek().kind == TokenKind::Integer
            || (self.is_sym(Sym::Minus) && self.peek_at(1).kind == TokenKind::Integer);
        if !is_int {
            return Err(self.expected("an integer or a bind marker"));
        }
        Ok(Term::Literal(self.literal()?))
    }

    /// `name = value`.
    pub(crate) fn property(&mut self) -> Result<Property, SyntaxError> {
        let name = self.ident()?;
        self.expect_sym(Sym::Eq)?;
        let value = if self.eat_sym(Sym::LBrace) {
            PropertyValue::Map(self.literal_map_rest()?)
        } else if self.is_literal_start() {
            PropertyValue::Literal(self.literal()?)
        } else if let Some(w) = self.peek_word().filter(|w| !is_reserved(w)) {
            self.advance();
            PropertyValue::Word(w)
        } else {
            return Err(self.expected("an option value"));
        };
        Ok(Property { name, value })
    }

    /// After `{`: `constant: constant, ... }`.
    pub(crate) fn literal_map_rest(&mut self) -> Result<Vec<(Literal, Literal)>, SyntaxError> {
        if self.eat_sym(Sym::RBrace) {
            return Ok(Vec::new());
        }
        let entries = self.comma_list(|p| {
            let k = p.literal()?;
            p.expect_sym(Sym::Colon)?;
            Ok((k, p.literal()?))
        })?;
        self.expect_sym(Sym::RBrace)?;
        Ok(entries)
    }

    /// `property (AND property)*`.
    pub(crate) fn properties(&mut self) -> Result<Vec<Property>, SyntaxError> {
        let mut out = vec![self.property()?];
        while self.eat_kw("and") {
            out.push(self.property()?);
        }
        Ok(out)
    }
}
