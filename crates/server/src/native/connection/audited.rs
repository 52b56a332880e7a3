//! What the audit log records of a connection's requests: the entry of each statement, built
//! before it runs (only while the log is on), and recorded with its outcome once it answered.

use std::net::SocketAddr;

use ilion_coordinator::Coordinator;
use ilion_cql::protocol::{BatchQuery, ErrorKind, Request, Response};

use crate::audit::{AuditLog, Subject};

/// The entry of a statement given as text.
fn of_text(text: &str, keyspace: Option<&str>) -> Subject {
    match ilion_cql::parse_statement(text) {
        Ok(p) => Subject::of(&p.statement, &p.text, keyspace),
        Err(_) => Subject::unparsed(text, keyspace),
    }
}

/// The entry of an EXECUTE of prepared statement `id`.
fn of_prepared(coordinator: &Coordinator, id: &[u8], keyspace: Option<&str>) -> Subject {
    coordinator
        .with_prepared(id, |p, ks| {
            Subject::of(&p.statement, &p.text, ks.or(keyspace))
        })
        .unwrap_or_else(|| {
            Subject::unparsed(
                "EXECUTE of a statement this node has not prepared",
                keyspace,
            )
        })
}

/// The entry `request` gets (`None`: not a statement). Built only while the log is on.
pub(super) fn subject(
    coordinator: &Coordinator,
    request: &Request,
    keyspace: Option<&str>,
) -> Option<Subject> {
    Some(match request {
        Request::Query(q) => of_text(&q.query, keyspace),
        Request::Prepare(p) => {
            let keyspace = p.keyspace.as_deref().or(keyspace);
            match ilion_cql::parse_statement(&p.query) {
                Ok(parsed) => Subject::of(&parsed.statement, &parsed.text, keyspace).prepared(),
                Err(_) => Subject::unparsed(&p.query, keyspace),
            }
        }
        Request::Execute(e) => of_prepared(coordinator, &e.id, keyspace),
        Request::Batch(b) => {
            let keyspace = b.keyspace.as_deref().or(keyspace);
            let parts: Vec<Subject> = b
                .statements
                .iter()
                .map(|s| match &s.query {
                    BatchQuery::Text(t) => of_text(t, keyspace),
                    BatchQuery::Prepared(id) => of_prepared(coordinator, id, keyspace),
                })
                .collect();
            let operation = parts
                .iter()
                .map(|p| p.operation.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let first = parts.into_iter().next();
            Subject {
                kind: "BATCH",
                category: crate::audit::Category::Dml,
                keyspace: first.as_ref().and_then(|f| f.keyspace.clone()),
                scope: first.and_then(|f| f.scope),
                operation,
            }
        }
        _ => return None,
    })
}

/// Records `subject` with the outcome `response`.
pub(super) fn record(
    audit: &AuditLog,
    subject: Subject,
    user: Option<&str>,
    peer: SocketAddr,
    response: &Response,
) {
    let subject = match response {
        Response::Error(e) => subject.failed(e.kind == ErrorKind::Unauthorized, &e.message),
        _ => subject,
    };
    audit.record(&subject, user, peer);
}
