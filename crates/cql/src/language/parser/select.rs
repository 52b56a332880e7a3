//! SELECT and its selectors.

use super::Parser;
use crate::language::ast::{ArithOp, Ident, Order, Select, SelectItem, Selection, Selector};
use crate::language::error::SyntaxError;
use crate::language::token::{Sym, TokenKind};

impl Parser<'_> {
    pub(crate) fn select(&mut self) -> Result<Select, SyntaxError> {
        self.expect_kw("select")?;
        // JSON and DISTINCT are unreserved: they are column names when what follows can only
        // continue a column selector (`SELECT json, a`, `SELECT distinct AS d`, `SELECT json.f`);
        // `SELECT DISTINCT [1]` is the modifier, so an element of a column so named needs quotes;
        // anything else (`SELECT JSON -a`, `SELECT JSON (a)`) makes them modifiers. The printer
        // quotes columns and functions with these names, so printed CQL is never ambiguous.
        let modifier = |p: &Self, kw: &str| {
            p.is_kw(kw)
                && !p.is_kw_at(1, "from")
                && !p.is_kw_at(1, "as")
                && !matches!(p.peek_at(1).kind, TokenKind::Sym(Sym::Comma | Sym::Dot))
        };
        let json = modifier(self, "json") && self.eat_kw("json");
        let distinct = modifier(self, "distinct") && self.eat_kw("distinct");
        let selection = self.selection()?;
        self.expect_kw("from")?;
        let table = self.qualified_name()?;
        let mut s = Select {
            json,
            distinct,
            selection,
            table,
            where_clause: Vec::new(),
            group_by: Vec::new(),
            order_by: Vec::new(),
            per_partition_limit: None,
            limit: None,
            allow_filtering: false,
        };
        if self.eat_kw("where") {
            s.where_clause = self.relations()?;
        }
        if self.is_kw("group") {
            self.advance();
            self.expect_kw("by")?;
            s.group_by = self.comma_list(|p| p.ident())?;
        }
        if self.is_kw("order") {
            self.advance();
            self.expect_kw("by")?;
            s.order_by = self.comma_list(|p| p.ordering())?;
        }
        if self.is_kw("per") {
            self.advance();
            self.expect_kw("partition")?;
            self.expect_kw("limit")?;
            s.per_partition_limit = Some(self.int_or_marker()?);
        }
        if self.eat_kw("limit") {
            s.limit = Some(self.int_or_marker()?);
        }
        if self.eat_kw("allow") {
            self.expect_kw("filtering")?;
            s.allow_filtering = true;
        }
        Ok(s)
    }

    /// `ident [ASC | DESC]`.
    pub(crate) fn ordering(&mut self) -> Result<(Ident, Order), SyntaxError> {
        let c = self.ident()?;
        let o = if self.eat_kw("desc") {
            Order::Desc
        } else {
            self.eat_kw("asc");
            Order::Asc
        };
        Ok((c, o))
    }

    pub(crate) fn selection(&mut self) -> Result<Selection, SyntaxError> {
        if self.eat_sym(Sym::Star) {
            return Ok(Selection::Wildcard);
        }
        let items = self.comma_list(|p| {
            let selector = p.selector()?;
            let alias = if p.eat_kw("as") {
                Some(p.ident()?)
            } else {
                None
            };
            Ok(SelectItem { selector, alias })
        })?;
        Ok(Selection::Items(items))
    }

    /// A selector: additive expressions over multiplicative ones over unary ones.
    pub(crate) fn selector(&mut self) -> Result<Selector, SyntaxError> {
        self.nested(|p| {
            let mut lhs = p.selector_product()?;
            loop {
                let op = if p.eat_sym(Sym::Plus) {
                    ArithOp::Add
                } else if p.eat_sym(Sym::Minus) {
                    ArithOp::Sub
                } else {
                    return Ok(lhs);
                };
                let rhs = p.selector_product()?;
                lhs = Selector::Arithmetic {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                };
            }
        })
    }

    fn selector_product(&mut self) -> Result<Selector, SyntaxError> {
        let mut lhs = self.selector_unary()?;
        loop {
            let op = if self.eat_sym(Sym::Star) {
                ArithOp::Mul
            } else if self.eat_sym(Sym::Slash) {
                ArithOp::Div
            } else if self.eat_sym(Sym::Percent) {
                ArithOp::Mod
            } else {
                return Ok(lhs);
            };
            let rhs = self.selector_unary()?;
            lhs = Selector::Arithmetic {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn selector_unary(&mut self) -> Result<Selector, SyntaxError> {
        self.nested(|p| {
            let numeric_next = matches!(
                p.peek_at(1).kind,
                TokenKind::Integer | TokenKind::Float | TokenKind::Duration
            ) || p.is_kw_at(1, "nan")
                || p.is_kw_at(1, "infinity");
            if p.is_sym(Sym::Minus) && !numeric_next {
                p.advance();
                return Ok(Selector::Negate(Box::new(p.selector_unary()?)));
            }
            let mut s = p.selector_atom()?;
            loop {
                if p.eat_sym(Sym::Dot) {
                    s = Selector::Field {
                        selector: Box::new(s),
                        field: p.ident()?,
                    };
                } else if p.eat_sym(Sym::LBracket) {
                    let from = if p.is_sym(Sym::DotDot) {
                        None
                    } else {
                        Some(p.term()?)
                    };
                    s = match from {
                        Some(key) if !p.eat_sym(Sym::DotDot) => Selector::Element {
                            selector: Box::new(s),
                            key,
                        },
                        from => {
                            if from.is_none() {
                                p.expect_sym(Sym::DotDot)?;
                            }
                            let to = if p.is_sym(Sym::RBracket) {
                                None
                            } else {
                                Some(p.term()?)
                            };
                            Selector::Slice {
                                selector: Box::new(s),
                                from,
                                to,
                            }
                        }
                    };
                    p.expect_sym(Sym::RBracket)?;
                } else {
                    return Ok(s);
                }
            }
        })
    }

    fn selector_atom(&mut self) -> Result<Selector, SyntaxError> {
        if self.is_sym(Sym::LParen) {
            if let Some(hint) = self.try_type_hint()? {
                return Ok(Selector::Term(hint));
            }
            self.advance();
            let inner = self.selector()?;
            self.expect_sym(Sym::RParen)?;
            return Ok(inner);
        }
        if self.is_sym_at(1, Sym::LParen) {
            match self.peek_word().as_deref() {
                Some("count") if self.is_sym_at(2, Sym::Star) && self.is_sym_at(3, Sym::RParen) => {
                    self.pos += 4;
                    return Ok(Selector::CountStar);
                }
                Some(w @ ("writetime" | "maxwritetime" | "ttl")) => {
                    let w = w.to_string();
                    self.pos += 2;
                    let c = self.ident()?;
                    self.expect_sym(Sym::RParen)?;
                    return Ok(match w.as_str() {
                        "writetime" => Selector::WriteTime(c),
                        "maxwritetime" => Selector::MaxWriteTime(c),
                        _ => Selector::Ttl(c),
                    });
                }
                Some("cast") => {
                    self.pos += 2;
                    let s = self.selector()?;
                    self.expect_kw("as")?;
                    let ty = self.cql_type()?;
                    self.expect_sym(Sym::RParen)?;
                    return Ok(Selector::Cast {
                        selector: Box::new(s),
                        ty,
                    });
                }
                _ => {}
            }
        }
        if self.is_function_call() {
            let name = self.function_name()?;
            let args = self.paren_list(true, |p| p.selector())?;
            return Ok(Selector::Function { name, args });
        }
        if self.is_ident() {
            return Ok(Selector::Column(self.ident()?));
        }
        if self.starts_term() {
            return Ok(Selector::Term(self.term()?));
        }
        Err(self.expected("a selector"))
    }
}
