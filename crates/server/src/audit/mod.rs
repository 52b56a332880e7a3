//! The audit log (Cassandra 4.0's, with its FileAuditLogger's lines): every login and every
//! statement of the chosen categories, keyspaces and users, with the role, the client's
//! address and the time, written to `audit.log` under `audit_logs_dir`. On from the start
//! with `audit_logging_options: enabled: true`, or turned on and off at run time with `ilion
//! enableauditlog` and `ilion disableauditlog`. Passwords are never written ([`entry`]).
//!
//! When the log is off, a statement costs one atomic load here: nothing is parsed or built.

pub mod entry;
mod file;
pub mod options;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

pub use entry::{Category, Subject};
pub use options::AuditLoggingOptions;

/// The node's audit log.
#[derive(Debug)]
pub struct AuditLog {
    /// This node's address, the `host` of every line.
    host: SocketAddr,
    /// `audit_logs_dir` when the options name none.
    default_dir: PathBuf,
    on: AtomicBool,
    active: RwLock<Option<Active>>,
}

#[derive(Debug)]
struct Active {
    filter: options::Filter,
    file: file::FileLog,
    dir: PathBuf,
}

impl AuditLog {
    /// The node's audit log, on when `options.enabled`.
    pub fn new(
        options: &AuditLoggingOptions,
        host: SocketAddr,
        data_dir: &Path,
    ) -> Result<AuditLog, String> {
        let log = AuditLog {
            host,
            default_dir: data_dir.join("audit"),
            on: AtomicBool::new(false),
            active: RwLock::new(None),
        };
        if options.enabled {
            log.enable(options)?;
        }
        Ok(log)
    }

    /// Starts recording with `options` (replacing the filter of a log already on); the
    /// directory it writes to, or why not.
    pub fn enable(&self, options: &AuditLoggingOptions) -> Result<PathBuf, String> {
        options.validate()?;
        let filter = options.filter()?;
        let dir = options
            .audit_logs_dir
            .clone()
            .unwrap_or_else(|| self.default_dir.clone());
        let file = file::FileLog::open(&dir, options.max_log_size)
            .map_err(|e| format!("cannot open the audit log in {}: {e}", dir.display()))?;
        *self.active.write() = Some(Active {
            filter,
            file,
            dir: dir.clone(),
        });
        self.on.store(true, Ordering::Release);
        tracing::info!(dir = %dir.display(), "audit log enabled");
        Ok(dir)
    }

    /// Stops recording (what was queued is written first); whether it was on.
    pub fn disable(&self) -> bool {
        self.on.store(false, Ordering::Release);
        let was = self.active.write().take();
        if let Some(a) = &was {
            tracing::info!(dir = %a.dir.display(), "audit log disabled");
        }
        was.is_some()
    }

    /// Whether entries are recorded now (callers skip building them otherwise).
    pub fn is_enabled(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Records `subject`, run by `user` from `source`, if the filter admits it.
    pub fn record(&self, subject: &Subject, user: Option<&str>, source: SocketAddr) {
        if !self.is_enabled() {
            return;
        }
        let active = self.active.read();
        let Some(a) = active.as_ref() else {
            return;
        };
        if !a
            .filter
            .admits(subject.category, subject.keyspace.as_deref(), user)
        {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        a.file.write(subject.line(user, self.host, source, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_go_to_the_file_while_enabled_and_as_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let options = AuditLoggingOptions {
            audit_logs_dir: Some(dir.path().to_owned()),
            excluded_categories: "QUERY".into(),
            ..AuditLoggingOptions::default()
        };
        let log = AuditLog::new(&options, "127.0.0.1:7000".parse().unwrap(), dir.path()).unwrap();
        let source: SocketAddr = "127.0.0.9:4000".parse().unwrap();
        let statement = |cql: &str| {
            let p = ilion_cql::parse_statement(cql).unwrap();
            Subject::of(&p.statement, cql, Some("shop"))
        };
        // Off: nothing.
        log.record(&Subject::login(true, ""), Some("alice"), source);
        log.enable(&options).unwrap();
        log.record(&Subject::login(true, ""), Some("alice"), source);
        log.record(&statement("SELECT * FROM t"), Some("alice"), source);
        log.record(
            &statement("DELETE FROM t WHERE k = 1"),
            Some("alice"),
            source,
        );
        assert!(log.disable());
        log.record(
            &statement("DELETE FROM t WHERE k = 2"),
            Some("alice"),
            source,
        );
        let text = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        let kinds: Vec<&str> = text
            .lines()
            .map(|l| l.split('|').find(|f| f.starts_with("type:")).unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["type:LOGIN_SUCCESS", "type:DELETE"], "{text}");
        assert!(text.contains("operation:DELETE FROM t WHERE k = 1"));
    }
}
