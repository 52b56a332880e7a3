//! One audit log entry: what a statement is in Cassandra's audit vocabulary (its type, its
//! category, the keyspace and table it is on), and the line FileAuditLogger writes for it:
//! `user:..|host:..|source:/..|port:..|timestamp:..|type:..|category:..|ks:..|scope:..|operation:..`.
//! A password in a statement's text is never written: everything after the word PASSWORD is
//! replaced by `*******`, as Cassandra's PasswordObfuscator does.

use std::fmt::Write as _;
use std::net::SocketAddr;

use ilion_cql::language::ast::{BatchStatement, QualifiedName, Statement};

/// Cassandra's audit log categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Query,
    Dml,
    Ddl,
    Dcl,
    Other,
    Auth,
    Error,
    Prepare,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Query => "QUERY",
            Category::Dml => "DML",
            Category::Ddl => "DDL",
            Category::Dcl => "DCL",
            Category::Other => "OTHER",
            Category::Auth => "AUTH",
            Category::Error => "ERROR",
            Category::Prepare => "PREPARE",
        }
    }

    pub fn parse(name: &str) -> Option<Category> {
        [
            Category::Query,
            Category::Dml,
            Category::Ddl,
            Category::Dcl,
            Category::Other,
            Category::Auth,
            Category::Error,
            Category::Prepare,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// What an entry is about, before it is known who ran it and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// Cassandra's AuditLogEntryType name: SELECT, UPDATE, CREATE_TABLE, LOGIN_SUCCESS, ...
    pub kind: &'static str,
    pub category: Category,
    pub keyspace: Option<String>,
    /// The table (or type, index, role...) the statement is on.
    pub scope: Option<String>,
    /// The statement's text, passwords hidden.
    pub operation: String,
}

fn on(name: &QualifiedName, keyspace: Option<&str>) -> (Option<String>, Option<String>) {
    let ks = name
        .keyspace
        .as_ref()
        .map(|k| k.as_str().to_owned())
        .or_else(|| keyspace.map(str::to_owned));
    (ks, Some(name.name.as_str().to_owned()))
}

impl Subject {
    /// The entry of `statement` (whose text is `text`), run with `keyspace` as the session's.
    pub fn of(statement: &Statement, text: &str, keyspace: Option<&str>) -> Subject {
        use Category::{Dcl, Ddl, Dml, Other, Query};
        let none = (keyspace.map(str::to_owned), None);
        let ks_only = |k: &ilion_cql::language::ast::Ident| (Some(k.as_str().to_owned()), None);
        let (kind, category, (ks, scope)) = match statement {
            Statement::Use(k) => ("USE_KEYSPACE", Other, ks_only(k)),
            Statement::Select(s) => ("SELECT", Query, on(&s.table, keyspace)),
            // Cassandra's UpdateStatement serves INSERT too.
            Statement::Insert(s) => ("UPDATE", Dml, on(&s.table, keyspace)),
            Statement::Update(s) => ("UPDATE", Dml, on(&s.table, keyspace)),
            Statement::Delete(s) => ("DELETE", Dml, on(&s.table, keyspace)),
            Statement::Batch(b) => {
                let first = b.statements.first().map(|s| match s {
                    BatchStatement::Insert(s) => on(&s.table, keyspace),
                    BatchStatement::Update(s) => on(&s.table, keyspace),
                    BatchStatement::Delete(s) => on(&s.table, keyspace),
                });
                ("BATCH", Dml, first.unwrap_or(none))
            }
            Statement::Truncate(n) => ("TRUNCATE", Ddl, on(n, keyspace)),
            Statement::CreateKeyspace(c) => ("CREATE_KEYSPACE", Ddl, ks_only(&c.name)),
            Statement::AlterKeyspace(a) => ("ALTER_KEYSPACE", Ddl, ks_only(&a.name)),
            Statement::DropKeyspace(d) => ("DROP_KEYSPACE", Ddl, ks_only(&d.name)),
            Statement::CreateTable(c) => ("CREATE_TABLE", Ddl, on(&c.name, keyspace)),
            Statement::AlterTable(a) => ("ALTER_TABLE", Ddl, on(&a.name, keyspace)),
            Statement::DropTable(d) => ("DROP_TABLE", Ddl, on(&d.name, keyspace)),
            Statement::CreateType(c) => ("CREATE_TYPE", Ddl, on(&c.name, keyspace)),
            Statement::AlterType(a) => ("ALTER_TYPE", Ddl, on(&a.name, keyspace)),
            Statement::DropType(d) => ("DROP_TYPE", Ddl, on(&d.name, keyspace)),
            Statement::CreateIndex(_) => ("CREATE_INDEX", Ddl, none),
            Statement::DropIndex(d) => ("DROP_INDEX", Ddl, on(&d.name, keyspace)),
            Statement::CreateMaterializedView(_) => ("CREATE_VIEW", Ddl, none),
            Statement::AlterMaterializedView(_) => ("ALTER_VIEW", Ddl, none),
            Statement::DropMaterializedView(d) => ("DROP_VIEW", Ddl, on(&d.name, keyspace)),
            Statement::CreateFunction(_) => ("CREATE_FUNCTION", Ddl, none),
            Statement::DropFunction(_) => ("DROP_FUNCTION", Ddl, none),
            Statement::CreateAggregate(_) => ("CREATE_AGGREGATE", Ddl, none),
            Statement::DropAggregate(_) => ("DROP_AGGREGATE", Ddl, none),
            Statement::CreateTrigger(_) => ("CREATE_TRIGGER", Ddl, none),
            Statement::DropTrigger(_) => ("DROP_TRIGGER", Ddl, none),
            Statement::CreateRole(_) | Statement::CreateUser(_) => {
                ("CREATE_ROLE", Dcl, (None, None))
            }
            Statement::AlterRole(_) | Statement::AlterUser(_) => ("ALTER_ROLE", Dcl, (None, None)),
            Statement::DropRole(_) | Statement::DropUser(_) => ("DROP_ROLE", Dcl, (None, None)),
            Statement::Grant(_) | Statement::GrantRole(_) => ("GRANT", Dcl, (None, None)),
            Statement::Revoke(_) | Statement::RevokeRole(_) => ("REVOKE", Dcl, (None, None)),
            Statement::ListRoles(_) => ("LIST_ROLES", Dcl, (None, None)),
            Statement::ListUsers => ("LIST_USERS", Dcl, (None, None)),
            Statement::ListPermissions(_) => ("LIST_PERMISSIONS", Dcl, (None, None)),
            Statement::Describe(_) => ("DESCRIBE", Other, (None, None)),
            // A statement kind the parser gains later: recorded, as something else.
            _ => ("OTHER", Other, none),
        };
        Subject {
            kind,
            category,
            keyspace: ks,
            scope,
            operation: obfuscate(text),
        }
    }

    /// A statement whose text does not parse: recorded as its failure.
    pub fn unparsed(text: &str, keyspace: Option<&str>) -> Subject {
        Subject {
            kind: "REQUEST_FAILURE",
            category: Category::Error,
            keyspace: keyspace.map(str::to_owned),
            scope: None,
            operation: obfuscate(text),
        }
    }

    /// The PREPARE of a statement: Cassandra's PREPARE_STATEMENT, on the statement's table.
    pub fn prepared(mut self) -> Subject {
        self.kind = "PREPARE_STATEMENT";
        self.category = Category::Prepare;
        self
    }

    /// The same statement having failed with `message` (Cassandra's REQUEST_FAILURE, or
    /// UNAUTHORIZED_ATTEMPT when a permission was missing).
    pub fn failed(mut self, unauthorized: bool, message: &str) -> Subject {
        if unauthorized {
            self.kind = "UNAUTHORIZED_ATTEMPT";
            self.category = Category::Auth;
        } else {
            self.kind = "REQUEST_FAILURE";
            self.category = Category::Error;
        }
        self.operation = format!("{}; {}", self.operation, obfuscate(message));
        self
    }

    /// A login's entry.
    pub fn login(ok: bool, message: &str) -> Subject {
        Subject {
            kind: if ok { "LOGIN_SUCCESS" } else { "LOGIN_ERROR" },
            category: Category::Auth,
            keyspace: None,
            scope: None,
            operation: if ok {
                "LOGIN SUCCESSFUL".to_owned()
            } else {
                // The node's own refusal, which quotes no password.
                format!("LOGIN FAILURE; {message}")
            },
        }
    }

    /// The line FileAuditLogger writes.
    pub fn line(
        &self,
        user: Option<&str>,
        host: SocketAddr,
        source: SocketAddr,
        timestamp_ms: u64,
    ) -> String {
        let mut out = format!(
            "user:{}|host:{host}|source:/{}|port:{}|timestamp:{timestamp_ms}|type:{}|category:{}",
            user.unwrap_or("anonymous"),
            source.ip(),
            source.port(),
            self.kind,
            self.category.name(),
        );
        if let Some(ks) = &self.keyspace {
            let _ = write!(out, "|ks:{ks}");
        }
        if let Some(scope) = &self.scope {
            let _ = write!(out, "|scope:{scope}");
        }
        // One entry, one line.
        let operation = self.operation.replace(['\n', '\r'], " ");
        let _ = write!(out, "|operation:{operation}");
        out
    }
}

/// `text` with everything after the word PASSWORD (any case) replaced by `*******`.
pub fn obfuscate(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    match lower.find("password") {
        Some(at) => format!("{}*******", &text[..at + "password".len()]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(cql: &str) -> Subject {
        let parsed = ilion_cql::parse_statement(cql).unwrap();
        Subject::of(&parsed.statement, cql, Some("shop"))
    }

    #[test]
    fn statements_get_cassandras_types_categories_and_scopes() {
        let s = subject("SELECT * FROM t WHERE k = 1");
        assert_eq!(
            (
                s.kind,
                s.category,
                s.keyspace.as_deref(),
                s.scope.as_deref()
            ),
            ("SELECT", Category::Query, Some("shop"), Some("t"))
        );
        let s = subject("INSERT INTO other.t (k) VALUES (1)");
        assert_eq!(
            (s.kind, s.category, s.keyspace.as_deref()),
            ("UPDATE", Category::Dml, Some("other"))
        );
        assert_eq!(subject("CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").kind, "CREATE_KEYSPACE");
        assert_eq!(
            subject("GRANT SELECT ON KEYSPACE shop TO alice").category,
            Category::Dcl
        );
        assert_eq!(subject("USE shop").category, Category::Other);
    }

    #[test]
    fn a_password_never_reaches_the_line() {
        let s = subject("CREATE ROLE alice WITH PASSWORD = 'hunter2' AND LOGIN = true");
        assert_eq!(s.operation, "CREATE ROLE alice WITH PASSWORD*******");
        let s = subject("ALTER USER bob WITH password 'x''y'");
        assert!(!s.operation.contains("x''y"), "{}", s.operation);
        let failed = s.failed(false, "bad password 'secret'");
        assert!(!failed.operation.contains("secret"), "{}", failed.operation);
    }

    #[test]
    fn the_line_is_file_audit_loggers() {
        let s = subject("SELECT * FROM t\nWHERE k = 1");
        let line = s.line(
            Some("alice"),
            "127.0.0.1:7000".parse().unwrap(),
            "127.0.0.2:53574".parse().unwrap(),
            1_700_000_000_000,
        );
        assert_eq!(
            line,
            "user:alice|host:127.0.0.1:7000|source:/127.0.0.2|port:53574|timestamp:1700000000000|\
             type:SELECT|category:QUERY|ks:shop|scope:t|operation:SELECT * FROM t WHERE k = 1"
        );
    }
}
