//! The tokens the lexer produces and the keyword tables the parser and printer share.

use super::error::Position;

/// What kind of token; the token's text (or unescaped value) travels beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An unquoted identifier or keyword, as written (case preserved).
    Word,
    /// A `"quoted name"`, unescaped.
    QuotedName(String),
    /// A `'string'` or `$$string$$`, unescaped.
    Str(String),
    Integer,
    Float,
    /// `0x` followed by hex digits.
    Hex,
    Uuid,
    Duration,
    Sym(Sym),
    Eof,
}

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sym {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
    Dot,
    Colon,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    QMark,
    PlusEq,
    MinusEq,
    /// `..` of a slice selector.
    DotDot,
}

impl Sym {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Sym::LParen => "(",
            Sym::RParen => ")",
            Sym::LBracket => "[",
            Sym::RBracket => "]",
            Sym::LBrace => "{",
            Sym::RBrace => "}",
            Sym::Comma => ",",
            Sym::Semicolon => ";",
            Sym::Dot => ".",
            Sym::Colon => ":",
            Sym::Eq => "=",
            Sym::Ne => "!=",
            Sym::Lt => "<",
            Sym::Le => "<=",
            Sym::Gt => ">",
            Sym::Ge => ">=",
            Sym::Plus => "+",
            Sym::Minus => "-",
            Sym::Star => "*",
            Sym::Slash => "/",
            Sym::Percent => "%",
            Sym::QMark => "?",
            Sym::PlusEq => "+=",
            Sym::MinusEq => "-=",
            Sym::DotDot => "..",
        }
    }
}

/// One token: its kind, where it starts, and its byte range in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) at: Position,
    pub(crate) end: usize,
}

/// Keywords that can never be identifiers unquoted (Cassandra's reserved keywords, plus the
/// boolean literals, which its lexer turns into literals before the parser sees them).
pub(crate) const RESERVED: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "by",
    "columnfamily",
    "create",
    "default",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "false",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "mbean",
    "mbeans",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "true",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// Keywords that may still be used as identifiers (Cassandra's `unreserved_keyword`s). The
/// printer quotes these too, so printed CQL never depends on how a context disambiguates.
pub const UNRESERVED: &[&str] = &[
    "access",
    "aggregate",
    "aggregates",
    "all",
    "as",
    "ascii",
    "avg",
    "bigint",
    "blob",
    "boolean",
    "called",
    "cast",
    "cluster",
    "clustering",
    "columnfamilies",
    "compact",
    "contains",
    "count",
    "counter",
    "custom",
    "datacenters",
    "date",
    "decimal",
    "distinct",
    "double",
    "duration",
    "exists",
    "filtering",
    "finalfunc",
    "float",
    "frozen",
    "function",
    "functions",
    "group",
    "hashed",
    "inet",
    "initcond",
    "input",
    "int",
    "internals",
    "json",
    "key",
    "keys",
    "keyspaces",
    "language",
    "like",
    "list",
    "login",
    "map",
    "max",
    "maxwritetime",
    "min",
    "nologin",
    "nosuperuser",
    "only",
    "options",
    "partition",
    "password",
    "per",
    "permission",
    "permissions",
    "returns",
    "role",
    "roles",
    "sfunc",
    "smallint",
    "static",
    "storage",
    "stype",
    "sum",
    "superuser",
    "tables",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "trigger",
    "ttl",
    "tuple",
    "type",
    "types",
    "user",
    "users",
    "uuid",
    "values",
    "varchar",
    "varint",
    "vector",
    "writetime",
];

/// Looks `word` up case-insensitively in a sorted keyword list, without allocating.
fn contains_ci(sorted: &[&str], word: &str) -> bool {
    let mut buf = [0u8; 16];
    let Some(dst) = buf.get_mut(..word.len()) else {
        return false;
    };
    dst.copy_from_slice(word.as_bytes());
    dst.make_ascii_lowercase();
    sorted.binary_search_by(|k| k.as_bytes().cmp(dst)).is_ok()
}

/// Whether `word` (any case) is a reserved keyword.
pub(crate) fn is_reserved(word: &str) -> bool {
    contains_ci(RESERVED, word)
}

/// Whether `word` (any case) is a keyword, reserved or not.
pub(crate) fn is_keyword(word: &str) -> bool {
    is_reserved(word) || contains_ci(UNRESERVED, word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_lists_are_sorted_lowercase_and_disjoint() {
        for list in [RESERVED, UNRESERVED] {
            assert!(list.windows(2).all(|w| w[0] < w[1]));
            assert!(
                list.iter()
                    .all(|k| k.len() <= 16 && *k == k.to_ascii_lowercase())
            );
        }
        assert!(UNRESERVED.iter().all(|k| !RESERVED.contains(k)));
        assert!(
            is_reserved("SeLeCt")
                && !is_reserved("key")
                && is_keyword("KEY")
                && !is_keyword("users_table")
        );
    }
}
