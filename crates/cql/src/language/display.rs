//! `Display` for the AST: canonical CQL (uppercase keywords, names quoted only when needed)
//! that parses back to the same AST.

use std::fmt::{self, Display, Formatter, Write as _};

use super::ast::*;
use super::lexer::tokenize;
use super::token::{TokenKind, is_keyword, is_reserved};

type R = fmt::Result;

fn join<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    sep: &str,
    mut each: impl FnMut(&mut Formatter<'_>, &T) -> R,
) -> R {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        each(f, item)?;
    }
    Ok(())
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> R {
    join(f, items, ", ", |f, x| write!(f, "{x}"))
}

/// Whether `s` lexes as one lowercase word on its own.
fn lexes_as_word(s: &str) -> bool {
    let mut bytes = s.bytes();
    let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let plain = starts_with_letter
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    // Words like `p1d` lex as ISO durations; ask the lexer about those (rare) ones.
    plain
        && (!s.starts_with('p')
            || matches!(tokenize(s).as_deref(), Ok([t, e]) if t.kind == TokenKind::Word && e.kind == TokenKind::Eof))
}

fn quoted(f: &mut Formatter<'_>, s: &str, q: char) -> R {
    f.write_char(q)?;
    for c in s.chars() {
        if c == q {
            f.write_char(q)?;
        }
        f.write_char(c)?;
    }
    f.write_char(q)
}

/// Unreserved keywords that the grammar would read as keywords in some name position, so
/// names spelled like them are printed quoted: the SELECT modifiers, `IF EXISTS`, the DESCRIBE
/// targets, `GRANT ALL` and `AS` (after `SELECT DISTINCT`). Other unreserved keywords (`key`, `ttl`, `time`, `users`, ...)
/// print bare, as Cassandra users write them.
const QUOTED_UNRESERVED: &[&str] = &[
    "aggregate",
    "aggregates",
    "all",
    "as",
    "cluster",
    "distinct",
    "exists",
    "function",
    "functions",
    "json",
    "keyspaces",
    "only",
    "tables",
    "type",
    "types",
];

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        let s = self.as_str();
        if lexes_as_word(s) && !is_reserved(s) && !QUOTED_UNRESERVED.contains(&s) {
            f.write_str(s)
        } else {
            quoted(f, s, '"')
        }
    }
}

impl Display for QualifiedName {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        if let Some(ks) = &self.keyspace {
            write!(f, "{ks}.")?;
        }
        write!(f, "{}", self.name)
    }
}

/// Keywords printed bare as function names: common functions whose names the grammar never
/// reads as anything else before `(`. Other keyword names are quoted (`"writetime"(c)` is a
/// call, `writetime(c)` is the WRITETIME selector; `CONTAINS key(...)` is CONTAINS KEY).
const BARE_KEYWORD_CALLS: &[&str] = &["token", "count", "min", "max", "sum", "avg", "uuid"];

/// A function name: bare when the parser takes it bare before `(`.
struct FnName<'a>(&'a QualifiedName);

impl Display for FnName<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        if let Some(ks) = &self.0.keyspace {
            write!(f, "{ks}.")?;
        }
        let s = self.0.name.as_str();
        let bare = lexes_as_word(s) && (!is_keyword(s) || BARE_KEYWORD_CALLS.contains(&s));
        if bare {
            f.write_str(s)
        } else {
            quoted(f, s, '"')
        }
    }
}

impl Display for BindMarker {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match &self.name {
            Some(n) => write!(f, ":{n}"),
            None => f.write_str("?"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Literal::String(s) => quoted(f, s, '\''),
            Literal::Integer(s)
            | Literal::Float(s)
            | Literal::Hex(s)
            | Literal::Uuid(s)
            | Literal::Duration(s) => f.write_str(s),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl Display for Term {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Term::Literal(l) => write!(f, "{l}"),
            Term::Bind(m) => write!(f, "{m}"),
            Term::List(v) => {
                f.write_char('[')?;
                list(f, v)?;
                f.write_char(']')
            }
            Term::Set(v) => {
                f.write_char('{')?;
                list(f, v)?;
                f.write_char('}')
            }
            Term::Map(v) => {
                f.write_char('{')?;
                join(f, v, ", ", |f, (k, v)| write!(f, "{k}: {v}"))?;
                f.write_char('}')
            }
            Term::Tuple(v) => {
                f.write_char('(')?;
                list(f, v)?;
                f.write_char(')')
            }
            Term::Udt(v) => {
                f.write_char('{')?;
                join(f, v, ", ", |f, (k, v)| write!(f, "{k}: {v}"))?;
                f.write_char('}')
            }
            Term::Function { name, args } => {
                write!(f, "{}(", FnName(name))?;
                list(f, args)?;
                f.write_char(')')
            }
            Term::TypeHint { ty, term } => write!(f, "({}) {term}", Ty(ty)),
        }
    }
}

/// A type as statement text: names quoted as [`Ident`]s are (reserved words, mixed case), and a
/// UDT named like a native type quoted so that it stays a user type.
struct Ty<'a>(&'a CqlType);

fn type_ident(name: &str, f: &mut Formatter<'_>) -> R {
    if CqlType::native(name).is_some() {
        quoted(f, name, '"')
    } else {
        write!(f, "{}", Ident::new(name))
    }
}

const AST_STYLE: ilion_types::Style = ilion_types::Style {
    qualify_udts: true,
    freeze_tuples: false,
    ident: type_ident,
};

impl Display for Ty<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        self.0.styled(AST_STYLE).fmt(f)
    }
}

fn types(f: &mut Formatter<'_>, items: &[CqlType]) -> R {
    join(f, items, ", ", |f, t| write!(f, "{}", Ty(t)))
}

impl Display for Operator {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str(match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Like => "LIKE",
            Operator::Contains => "CONTAINS",
            Operator::ContainsKey => "CONTAINS KEY",
        })
    }
}

impl Display for RelationTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            RelationTarget::Column(c) => write!(f, "{c}"),
            RelationTarget::Element { column, key } => write!(f, "{column}[{key}]"),
            RelationTarget::Field { column, field } => write!(f, "{column}.{field}"),
            RelationTarget::Tuple(v) => {
                f.write_char('(')?;
                list(f, v)?;
                f.write_char(')')
            }
            RelationTarget::Token(v) => {
                f.write_str("TOKEN(")?;
                list(f, v)?;
                f.write_char(')')
            }
        }
    }
}

impl Display for Relation {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Relation::Compare { target, op, value } => write!(f, "{target} {op} {value}"),
            Relation::In {
                target,
                values: InValues::Marker(m),
            } => write!(f, "{target} IN {m}"),
            Relation::In {
                target,
                values: InValues::List(v),
            } => {
                write!(f, "{target} IN (")?;
                list(f, v)?;
                f.write_char(')')
            }
            Relation::IsNotNull { column } => write!(f, "{column} IS NOT NULL"),
            Relation::IsNull { column } => write!(f, "{column} IS NULL"),
        }
    }
}

fn where_clause(f: &mut Formatter<'_>, rels: &[Relation]) -> R {
    if !rels.is_empty() {
        f.write_str(" WHERE ")?;
        join(f, rels, " AND ", |f, r| write!(f, "{r}"))?;
    }
    Ok(())
}

fn using(f: &mut Formatter<'_>, params: &[UsingParam]) -> R {
    if !params.is_empty() {
        f.write_str(" USING ")?;
        join(f, params, " AND ", |f, p| match p {
            UsingParam::Ttl(t) => write!(f, "TTL {t}"),
            UsingParam::Timestamp(t) => write!(f, "TIMESTAMP {t}"),
        })?;
    }
    Ok(())
}

fn condition(f: &mut Formatter<'_>, c: &Option<Condition>) -> R {
    match c {
        None => Ok(()),
        Some(Condition::Exists) => f.write_str(" IF EXISTS"),
        Some(Condition::Relations(r)) => {
            f.write_str(" IF ")?;
            join(f, r, " AND ", |f, r| write!(f, "{r}"))
        }
    }
}

fn if_not_exists(f: &mut Formatter<'_>, yes: bool) -> R {
    if yes {
        f.write_str("IF NOT EXISTS ")
    } else {
        Ok(())
    }
}

fn if_exists(f: &mut Formatter<'_>, yes: bool) -> R {
    if yes {
        f.write_str("IF EXISTS ")
    } else {
        Ok(())
    }
}

impl Display for Order {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str(match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        })
    }
}

fn ordering(f: &mut Formatter<'_>, v: &[(Ident, Order)]) -> R {
    join(f, v, ", ", |f, (c, o)| write!(f, "{c} {o}"))
}

impl Display for ArithOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str(match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        })
    }
}

/// How tightly a selector binds when printed: sums 1, products 2, everything else 3 (type
/// hints 0, so that they are always parenthesised as operands).
fn precedence(s: &Selector) -> u8 {
    match s {
        Selector::Arithmetic {
            op: ArithOp::Add | ArithOp::Sub,
            ..
        } => 1,
        Selector::Arithmetic { .. } => 2,
        Selector::Term(Term::TypeHint { .. }) => 0,
        _ => 3,
    }
}

/// An operand of an arithmetic operator, parenthesised when the parser would otherwise
/// group it differently (operators are left-associative).
struct Operand<'a> {
    s: &'a Selector,
    op_precedence: u8,
    right: bool,
}

impl Display for Operand<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        let p = precedence(self.s);
        let parens = if self.right {
            p <= self.op_precedence
        } else {
            p < self.op_precedence
        };
        if parens {
            write!(f, "({})", self.s)
        } else {
            write!(f, "{}", self.s)
        }
    }
}

/// A selector before `.field` or `[key]`: parenthesised unless it is a name or a call.
struct PostfixBase<'a>(&'a Selector);

impl Display for PostfixBase<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        let bare = matches!(
            self.0,
            Selector::Column(_)
                | Selector::Function { .. }
                | Selector::CountStar
                | Selector::WriteTime(_)
                | Selector::MaxWriteTime(_)
                | Selector::Ttl(_)
                | Selector::Cast { .. }
                | Selector::Field { .. }
                | Selector::Element { .. }
                | Selector::Slice { .. }
        );
        if bare {
            write!(f, "{}", self.0)
        } else if matches!(self.0, Selector::Term(Term::Literal(Literal::String(_)))) {
            // `('s')[k]` would read as the type hint `('s')` (a custom type) of `[k]`.
            write!(f, "(({}))", self.0)
        } else {
            write!(f, "({})", self.0)
        }
    }
}

/// Whether `-x` would not read back as the negation of `x`: a number or duration would take
/// the sign, `--` starts a comment, and sums must keep their grouping.
fn negation_needs_parens(s: &Selector) -> bool {
    match s {
        Selector::Negate(_) | Selector::Arithmetic { .. } => true,
        Selector::Term(Term::Literal(l)) => {
            matches!(
                l,
                Literal::Integer(_) | Literal::Float(_) | Literal::Duration(_)
            )
        }
        _ => false,
    }
}

impl Display for Selector {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Selector::Column(c) => write!(f, "{c}"),
            Selector::Term(t) => write!(f, "{t}"),
            Selector::Function { name, args } => {
                write!(f, "{}(", FnName(name))?;
                list(f, args)?;
                f.write_char(')')
            }
            Selector::CountStar => f.write_str("COUNT(*)"),
            Selector::WriteTime(c) => write!(f, "WRITETIME({c})"),
            Selector::MaxWriteTime(c) => write!(f, "MAXWRITETIME({c})"),
            Selector::Ttl(c) => write!(f, "TTL({c})"),
            Selector::Cast { selector, ty } => write!(f, "CAST({selector} AS {})", Ty(ty)),
            Selector::Field { selector, field } => write!(f, "{}.{field}", PostfixBase(selector)),
            Selector::Element { selector, key } => write!(f, "{}[{key}]", PostfixBase(selector)),
            Selector::Slice { selector, from, to } => {
                write!(f, "{}[", PostfixBase(selector))?;
                if let Some(t) = from {
                    write!(f, "{t}")?;
                }
                // Spaced: `1. ..` must not read as `1...`.
                f.write_str(" .. ")?;
                if let Some(t) = to {
                    write!(f, "{t}")?;
                }
                f.write_char(']')
            }
            Selector::Arithmetic { op, lhs, rhs } => {
                let op_precedence = precedence(self);
                let l = Operand {
                    s: lhs,
                    op_precedence,
                    right: false,
                };
                let r = Operand {
                    s: rhs,
                    op_precedence,
                    right: true,
                };
                write!(f, "{l} {op} {r}")
            }
            Selector::Negate(s) if negation_needs_parens(s) => write!(f, "-({s})"),
            Selector::Negate(s) => write!(f, "-{s}"),
        }
    }
}

impl Display for Selection {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Selection::Wildcard => f.write_char('*'),
            Selection::Items(items) => join(f, items, ", ", |f, i| {
                write!(f, "{}", i.selector)?;
                if let Some(a) = &i.alias {
                    write!(f, " AS {a}")?;
                }
                Ok(())
            }),
        }
    }
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str("SELECT ")?;
        if self.json {
            f.write_str("JSON ")?;
        }
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        write!(f, "{} FROM {}", self.selection, self.table)?;
        where_clause(f, &self.where_clause)?;
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            list(f, &self.group_by)?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            ordering(f, &self.order_by)?;
        }
        if let Some(l) = &self.per_partition_limit {
            write!(f, " PER PARTITION LIMIT {l}")?;
        }
        if let Some(l) = &self.limit {
            write!(f, " LIMIT {l}")?;
        }
        if self.allow_filtering {
            f.write_str(" ALLOW FILTERING")?;
        }
        Ok(())
    }
}

impl Display for Insert {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        write!(f, "INSERT INTO {} ", self.table)?;
        match &self.values {
            InsertValues::Columns { columns, values } => {
                f.write_char('(')?;
                list(f, columns)?;
                f.write_str(") VALUES (")?;
                list(f, values)?;
                f.write_char(')')?;
            }
            InsertValues::Json { value, default } => {
                write!(f, "JSON {value}")?;
                match default {
                    Some(JsonDefault::Null) => f.write_str(" DEFAULT NULL")?,
                    Some(JsonDefault::Unset) => f.write_str(" DEFAULT UNSET")?,
                    None => {}
                }
            }
        }
        if self.if_not_exists {
            f.write_str(" IF NOT EXISTS")?;
        }
        using(f, &self.using)
    }
}

impl Display for Assignment {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Assignment::Set { column, value } => write!(f, "{column} = {value}"),
            Assignment::SetElement { column, key, value } => write!(f, "{column}[{key}] = {value}"),
            Assignment::SetField {
                column,
                field,
                value,
            } => write!(f, "{column}.{field} = {value}"),
            Assignment::Append { column, value } => write!(f, "{column} = {column} + {value}"),
            Assignment::Prepend { column, value } => write!(f, "{column} = {value} + {column}"),
            Assignment::Remove { column, value } => write!(f, "{column} = {column} - {value}"),
        }
    }
}

impl Display for Update {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        write!(f, "UPDATE {}", self.table)?;
        using(f, &self.using)?;
        f.write_str(" SET ")?;
        list(f, &self.assignments)?;
        where_clause(f, &self.where_clause)?;
        condition(f, &self.condition)
    }
}

impl Display for DeleteTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            DeleteTarget::Column(c) => write!(f, "{c}"),
            DeleteTarget::Element { column, key } => write!(f, "{column}[{key}]"),
            DeleteTarget::Field { column, field } => write!(f, "{column}.{field}"),
        }
    }
}

impl Display for Delete {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str("DELETE ")?;
        if !self.targets.is_empty() {
            list(f, &self.targets)?;
            f.write_char(' ')?;
        }
        write!(f, "FROM {}", self.table)?;
        using(f, &self.using)?;
        where_clause(f, &self.where_clause)?;
        condition(f, &self.condition)
    }
}

impl Display for Batch {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str(match self.kind {
            BatchKind::Logged => "BEGIN BATCH",
            BatchKind::Unlogged => "BEGIN UNLOGGED BATCH",
            BatchKind::Counter => "BEGIN COUNTER BATCH",
        })?;
        using(f, &self.using)?;
        for s in &self.statements {
            match s {
                BatchStatement::Insert(i) => write!(f, " {i};")?,
                BatchStatement::Update(u) => write!(f, " {u};")?,
                BatchStatement::Delete(d) => write!(f, " {d};")?,
            }
        }
        f.write_str(" APPLY BATCH")
    }
}

impl Display for PropertyValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            PropertyValue::Literal(l) => write!(f, "{l}"),
            PropertyValue::Map(m) => literal_map(f, m),
            PropertyValue::Word(w) => f.write_str(w),
        }
    }
}

fn literal_map(f: &mut Formatter<'_>, m: &[(Literal, Literal)]) -> R {
    f.write_char('{')?;
    join(f, m, ", ", |f, (k, v)| write!(f, "{k}: {v}"))?;
    f.write_char('}')
}

impl Display for Property {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        write!(f, "{} = {}", self.name, self.value)
    }
}

fn properties(f: &mut Formatter<'_>, props: &[Property]) -> R {
    join(f, props, " AND ", |f, p| write!(f, "{p}"))
}

impl Display for TableOptions {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        let mut first = true;
        let mut sep = |f: &mut Formatter<'_>| {
            let s = if first { "" } else { " AND " };
            first = false;
            f.write_str(s)
        };
        if self.compact_storage {
            sep(f)?;
            f.write_str("COMPACT STORAGE")?;
        }
        if !self.clustering_order.is_empty() {
            sep(f)?;
            f.write_str("CLUSTERING ORDER BY (")?;
            ordering(f, &self.clustering_order)?;
            f.write_char(')')?;
        }
        for p in &self.properties {
            sep(f)?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

fn with_options(f: &mut Formatter<'_>, o: &TableOptions) -> R {
    if o.is_empty() {
        Ok(())
    } else {
        write!(f, " WITH {o}")
    }
}

impl Display for ColumnDef {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        write!(f, "{} {}", self.name, Ty(&self.ty))?;
        if self.is_static {
            f.write_str(" STATIC")?;
        }
        if self.primary_key {
            f.write_str(" PRIMARY KEY")?;
        }
        Ok(())
    }
}

impl Display for PrimaryKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str("PRIMARY KEY (")?;
        if let [single] = self.partition.as_slice() {
            write!(f, "{single}")?;
        } else {
            f.write_char('(')?;
            list(f, &self.partition)?;
            f.write_char(')')?;
        }
        for c in &self.clustering {
            write!(f, ", {c}")?;
        }
        f.write_char(')')
    }
}

impl Display for IndexTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            IndexTarget::Column(c) => write!(f, "{c}"),
            IndexTarget::Keys(c) => write!(f, "KEYS({c})"),
            IndexTarget::Values(c) => write!(f, "VALUES({c})"),
            IndexTarget::Entries(c) => write!(f, "ENTRIES({c})"),
            IndexTarget::Full(c) => write!(f, "FULL({c})"),
        }
    }
}

fn renames(f: &mut Formatter<'_>, r: &[(Ident, Ident)]) -> R {
    join(f, r, " AND ", |f, (a, b)| write!(f, "{a} TO {b}"))
}

impl Display for RoleOption {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            RoleOption::Password(p) => {
                f.write_str("PASSWORD = ")?;
                quoted(f, p, '\'')
            }
            RoleOption::HashedPassword(p) => {
                f.write_str("HASHED PASSWORD = ")?;
                quoted(f, p, '\'')
            }
            RoleOption::Login(b) => write!(f, "LOGIN = {b}"),
            RoleOption::Superuser(b) => write!(f, "SUPERUSER = {b}"),
            RoleOption::Options(m) => {
                f.write_str("OPTIONS = ")?;
                literal_map(f, m)
            }
            RoleOption::AccessToAllDatacenters => f.write_str("ACCESS TO ALL DATACENTERS"),
            RoleOption::AccessToDatacenters(dcs) => {
                f.write_str("ACCESS TO DATACENTERS {")?;
                join(f, dcs, ", ", |f, d| quoted(f, d, '\''))?;
                f.write_char('}')
            }
        }
    }
}

fn role_options(f: &mut Formatter<'_>, o: &[RoleOption]) -> R {
    if o.is_empty() {
        return Ok(());
    }
    f.write_str(" WITH ")?;
    join(f, o, " AND ", |f, x| write!(f, "{x}"))
}

fn user_options(f: &mut Formatter<'_>, password: &Option<String>, superuser: Option<bool>) -> R {
    if let Some(p) = password {
        f.write_str(" WITH PASSWORD ")?;
        quoted(f, p, '\'')?;
    }
    match superuser {
        Some(true) => f.write_str(" SUPERUSER"),
        Some(false) => f.write_str(" NOSUPERUSER"),
        None => Ok(()),
    }
}

impl Display for Permissions {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        f.write_str(match self {
            Permissions::All => "ALL PERMISSIONS",
            Permissions::One(Permission::Create) => "CREATE",
            Permissions::One(Permission::Alter) => "ALTER",
            Permissions::One(Permission::Drop) => "DROP",
            Permissions::One(Permission::Select) => "SELECT",
            Permissions::One(Permission::Modify) => "MODIFY",
            Permissions::One(Permission::Authorize) => "AUTHORIZE",
            Permissions::One(Permission::Describe) => "DESCRIBE",
            Permissions::One(Permission::Execute) => "EXECUTE",
        })
    }
}

impl Display for Resource {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Resource::AllKeyspaces => f.write_str("ALL KEYSPACES"),
            Resource::Keyspace(k) => write!(f, "KEYSPACE {k}"),
            Resource::Table(t) => write!(f, "TABLE {t}"),
            Resource::AllRoles => f.write_str("ALL ROLES"),
            Resource::Role(r) => write!(f, "ROLE {r}"),
            Resource::AllFunctions { keyspace: None } => f.write_str("ALL FUNCTIONS"),
            Resource::AllFunctions { keyspace: Some(k) } => {
                write!(f, "ALL FUNCTIONS IN KEYSPACE {k}")
            }
            Resource::Function { name, args } => {
                write!(f, "FUNCTION {}(", FnName(name))?;
                types(f, args)?;
                f.write_char(')')
            }
            Resource::AllMbeans => f.write_str("ALL MBEANS"),
            Resource::Mbean(m) => {
                f.write_str("MBEAN ")?;
                quoted(f, m, '\'')
            }
            Resource::Mbeans(m) => {
                f.write_str("MBEANS ")?;
                quoted(f, m, '\'')
            }
        }
    }
}

fn of_role(f: &mut Formatter<'_>, of: &Option<Ident>, recursive: bool) -> R {
    if let Some(r) = of {
        write!(f, " OF {r}")?;
    }
    if !recursive {
        f.write_str(" NORECURSIVE")?;
    }
    Ok(())
}

impl Display for DescribeTarget {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            DescribeTarget::Cluster => f.write_str("CLUSTER"),
            DescribeTarget::Schema { full: true } => f.write_str("FULL SCHEMA"),
            DescribeTarget::Schema { full: false } => f.write_str("SCHEMA"),
            DescribeTarget::Keyspaces => f.write_str("KEYSPACES"),
            DescribeTarget::Keyspace { name, only } => {
                f.write_str(if *only { "ONLY KEYSPACE" } else { "KEYSPACE" })?;
                if let Some(n) = name {
                    write!(f, " {n}")?;
                }
                Ok(())
            }
            DescribeTarget::Tables => f.write_str("TABLES"),
            DescribeTarget::Table(t) => write!(f, "TABLE {t}"),
            DescribeTarget::Index(t) => write!(f, "INDEX {t}"),
            DescribeTarget::MaterializedView(t) => write!(f, "MATERIALIZED VIEW {t}"),
            DescribeTarget::Types => f.write_str("TYPES"),
            DescribeTarget::Type(t) => write!(f, "TYPE {t}"),
            DescribeTarget::Functions => f.write_str("FUNCTIONS"),
            DescribeTarget::Function(t) => write!(f, "FUNCTION {t}"),
            DescribeTarget::Aggregates => f.write_str("AGGREGATES"),
            DescribeTarget::Aggregate(t) => write!(f, "AGGREGATE {t}"),
            DescribeTarget::Name(t) => write!(f, "{t}"),
        }
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> R {
        match self {
            Statement::Use(k) => write!(f, "USE {k}"),
            Statement::Select(s) => write!(f, "{s}"),
            Statement::Insert(s) => write!(f, "{s}"),
            Statement::Update(s) => write!(f, "{s}"),
            Statement::Delete(s) => write!(f, "{s}"),
            Statement::Batch(s) => write!(f, "{s}"),
            Statement::Truncate(t) => write!(f, "TRUNCATE TABLE {t}"),
            Statement::CreateKeyspace(s) => {
                f.write_str("CREATE KEYSPACE ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{} WITH ", s.name)?;
                properties(f, &s.options)
            }
            Statement::AlterKeyspace(s) => {
                f.write_str("ALTER KEYSPACE ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{} WITH ", s.name)?;
                properties(f, &s.options)
            }
            Statement::DropKeyspace(s) => {
                f.write_str("DROP KEYSPACE ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{}", s.name)
            }
            Statement::CreateTable(s) => {
                f.write_str("CREATE TABLE ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{} (", s.name)?;
                list(f, &s.columns)?;
                if let Some(pk) = &s.primary_key {
                    if !s.columns.is_empty() {
                        f.write_str(", ")?;
                    }
                    write!(f, "{pk}")?;
                }
                f.write_char(')')?;
                with_options(f, &s.options)
            }
            Statement::AlterTable(s) => {
                f.write_str("ALTER TABLE ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{} ", s.name)?;
                match &s.op {
                    AlterTableOp::Add {
                        if_not_exists: ine,
                        columns,
                    } => {
                        f.write_str("ADD ")?;
                        if_not_exists(f, *ine)?;
                        list(f, columns)
                    }
                    AlterTableOp::Drop {
                        if_exists: ie,
                        columns,
                        timestamp,
                    } => {
                        f.write_str("DROP ")?;
                        if_exists(f, *ie)?;
                        list(f, columns)?;
                        if let Some(t) = timestamp {
                            write!(f, " USING TIMESTAMP {t}")?;
                        }
                        Ok(())
                    }
                    AlterTableOp::Rename {
                        if_exists: ie,
                        renames: r,
                    } => {
                        f.write_str("RENAME ")?;
                        if_exists(f, *ie)?;
                        renames(f, r)
                    }
                    AlterTableOp::AlterColumnType { column, ty } => {
                        write!(f, "ALTER {column} TYPE {}", Ty(ty))
                    }
                    AlterTableOp::With(o) => write!(f, "WITH {o}"),
                }
            }
            Statement::DropTable(d) => drop(f, "TABLE", d),
            Statement::CreateType(s) => {
                f.write_str("CREATE TYPE ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{} (", s.name)?;
                join(f, &s.fields, ", ", |f, (n, t)| write!(f, "{n} {}", Ty(t)))?;
                f.write_char(')')
            }
            Statement::AlterType(s) => {
                f.write_str("ALTER TYPE ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{} ", s.name)?;
                match &s.op {
                    AlterTypeOp::Add {
                        if_not_exists: ine,
                        field,
                        ty,
                    } => {
                        f.write_str("ADD ")?;
                        if_not_exists(f, *ine)?;
                        write!(f, "{field} {}", Ty(ty))
                    }
                    AlterTypeOp::Rename {
                        if_exists: ie,
                        renames: r,
                    } => {
                        f.write_str("RENAME ")?;
                        if_exists(f, *ie)?;
                        renames(f, r)
                    }
                }
            }
            Statement::DropType(d) => drop(f, "TYPE", d),
            Statement::CreateIndex(s) => {
                f.write_str(if s.custom {
                    "CREATE CUSTOM INDEX "
                } else {
                    "CREATE INDEX "
                })?;
                if_not_exists(f, s.if_not_exists)?;
                if let Some(n) = &s.name {
                    write!(f, "{n} ")?;
                }
                write!(f, "ON {} (", s.table)?;
                list(f, &s.targets)?;
                f.write_char(')')?;
                if let Some(u) = &s.using {
                    f.write_str(" USING ")?;
                    quoted(f, u, '\'')?;
                    if !s.options.is_empty() {
                        f.write_str(" WITH OPTIONS = ")?;
                        literal_map(f, &s.options)?;
                    }
                }
                Ok(())
            }
            Statement::DropIndex(d) => drop(f, "INDEX", d),
            Statement::CreateMaterializedView(s) => {
                f.write_str("CREATE MATERIALIZED VIEW ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(
                    f,
                    "{} AS SELECT {} FROM {}",
                    s.name, s.selection, s.base_table
                )?;
                where_clause(f, &s.where_clause)?;
                write!(f, " {}", s.primary_key)?;
                with_options(f, &s.options)
            }
            Statement::AlterMaterializedView(s) => {
                f.write_str("ALTER MATERIALIZED VIEW ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{} WITH {}", s.name, s.options)
            }
            Statement::DropMaterializedView(d) => drop(f, "MATERIALIZED VIEW", d),
            Statement::CreateFunction(s) => {
                f.write_str(if s.or_replace {
                    "CREATE OR REPLACE FUNCTION "
                } else {
                    "CREATE FUNCTION "
                })?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{}(", FnName(&s.name))?;
                join(f, &s.args, ", ", |f, (n, t)| write!(f, "{n} {}", Ty(t)))?;
                f.write_str(if s.called_on_null_input {
                    ") CALLED"
                } else {
                    ") RETURNS NULL"
                })?;
                write!(
                    f,
                    " ON NULL INPUT RETURNS {} LANGUAGE {} AS ",
                    Ty(&s.returns),
                    s.language
                )?;
                if s.body.contains("$$") || s.body.ends_with('$') {
                    quoted(f, &s.body, '\'')
                } else {
                    write!(f, "$${}$$", s.body)
                }
            }
            Statement::DropFunction(d) => drop_routine(f, "FUNCTION", d),
            Statement::CreateAggregate(s) => {
                f.write_str(if s.or_replace {
                    "CREATE OR REPLACE AGGREGATE "
                } else {
                    "CREATE AGGREGATE "
                })?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{}(", FnName(&s.name))?;
                types(f, &s.arg_types)?;
                write!(f, ") SFUNC {} STYPE {}", s.sfunc, Ty(&s.stype))?;
                if let Some(ff) = &s.finalfunc {
                    write!(f, " FINALFUNC {ff}")?;
                }
                if let Some(i) = &s.initcond {
                    write!(f, " INITCOND {i}")?;
                }
                Ok(())
            }
            Statement::DropAggregate(d) => drop_routine(f, "AGGREGATE", d),
            Statement::CreateTrigger(s) => {
                f.write_str("CREATE TRIGGER ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{} ON {} USING ", s.name, s.table)?;
                quoted(f, &s.class, '\'')
            }
            Statement::DropTrigger(s) => {
                f.write_str("DROP TRIGGER ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{} ON {}", s.name, s.table)
            }
            Statement::CreateRole(s) => {
                f.write_str("CREATE ROLE ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{}", s.name)?;
                role_options(f, &s.options)
            }
            Statement::AlterRole(s) => {
                f.write_str("ALTER ROLE ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{}", s.name)?;
                role_options(f, &s.options)
            }
            Statement::DropRole(s) => {
                f.write_str("DROP ROLE ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{}", s.name)
            }
            Statement::CreateUser(s) => {
                f.write_str("CREATE USER ")?;
                if_not_exists(f, s.if_not_exists)?;
                write!(f, "{}", s.name)?;
                user_options(f, &s.password, s.superuser)
            }
            Statement::AlterUser(s) => {
                f.write_str("ALTER USER ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{}", s.name)?;
                user_options(f, &s.password, s.superuser)
            }
            Statement::DropUser(s) => {
                f.write_str("DROP USER ")?;
                if_exists(f, s.if_exists)?;
                write!(f, "{}", s.name)
            }
            Statement::Grant(g) => {
                write!(f, "GRANT {} ON {} TO {}", g.permissions, g.resource, g.role)
            }
            Statement::Revoke(r) => write!(
                f,
                "REVOKE {} ON {} FROM {}",
                r.permissions, r.resource, r.role
            ),
            Statement::GrantRole(g) => write!(f, "GRANT {} TO {}", g.role, g.grantee),
            Statement::RevokeRole(r) => write!(f, "REVOKE {} FROM {}", r.role, r.revokee),
            Statement::ListRoles(l) => {
                f.write_str("LIST ROLES")?;
                of_role(f, &l.of, l.recursive)
            }
            Statement::ListUsers => f.write_str("LIST USERS"),
            Statement::ListPermissions(l) => {
                write!(f, "LIST {}", l.permissions)?;
                if let Some(r) = &l.resource {
                    write!(f, " ON {r}")?;
                }
                of_role(f, &l.of, l.recursive)
            }
            Statement::Describe(d) => {
                write!(f, "DESCRIBE {}", d.target)?;
                if d.with_internals {
                    f.write_str(" WITH INTERNALS")?;
                }
                Ok(())
            }
        }
    }
}

fn drop(f: &mut Formatter<'_>, what: &str, d: &Drop) -> R {
    write!(f, "DROP {what} ")?;
    if_exists(f, d.if_exists)?;
    write!(f, "{}", d.name)
}

fn drop_routine(f: &mut Formatter<'_>, what: &str, d: &DropRoutine) -> R {
    write!(f, "DROP {what} ")?;
    if_exists(f, d.if_exists)?;
    write!(f, "{}", FnName(&d.name))?;
    if let Some(sig) = &d.signature {
        f.write_char('(')?;
        types(f, sig)?;
        f.write_char(')')?;
    }
    Ok(())
}
