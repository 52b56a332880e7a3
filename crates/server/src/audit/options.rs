//! `audit_logging_options`, Cassandra 4.0's keys for its file logger: which categories,
//! keyspaces and users are recorded, where, and when the file rolls.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::entry::Category;

/// Cassandra's `audit_logging_options` (the keys Ilion honours; any other is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditLoggingOptions {
    /// Whether the node records from its start (`ilion enableauditlog` turns it on later).
    /// Default false.
    pub enabled: bool,
    /// `class_name: FileAuditLogger` (the only logger; BinAuditLogger is refused).
    pub logger: Option<Logger>,
    /// Where `audit.log` and its rolled files go. Default `<data_dir>/audit`.
    pub audit_logs_dir: Option<PathBuf>,
    /// Comma-separated keyspaces: only these are recorded (empty: all).
    pub included_keyspaces: String,
    /// Comma-separated keyspaces never recorded. Default Cassandra's `system, system_schema,
    /// system_virtual_schema`.
    pub excluded_keyspaces: String,
    /// Comma-separated categories (QUERY, DML, DDL, DCL, OTHER, AUTH, ERROR, PREPARE): only
    /// these are recorded (empty: all).
    pub included_categories: String,
    /// Comma-separated categories never recorded.
    pub excluded_categories: String,
    /// Comma-separated roles: only theirs are recorded (empty: all).
    pub included_users: String,
    /// Comma-separated roles never recorded.
    pub excluded_users: String,
    /// Size at which `audit.log` rolls to `audit.log.1` (the older ones shift up; ten are
    /// kept), in bytes. Default 16 MiB.
    pub max_log_size: u64,
}

/// The audit logger's class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logger {
    pub class_name: String,
}

impl Default for AuditLoggingOptions {
    fn default() -> Self {
        AuditLoggingOptions {
            enabled: false,
            logger: None,
            audit_logs_dir: None,
            included_keyspaces: String::new(),
            excluded_keyspaces: "system,system_schema,system_virtual_schema".into(),
            included_categories: String::new(),
            excluded_categories: String::new(),
            included_users: String::new(),
            excluded_users: String::new(),
            max_log_size: 16 << 20,
        }
    }
}

/// Which entries are recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub included_keyspaces: BTreeSet<String>,
    pub excluded_keyspaces: BTreeSet<String>,
    pub included_categories: BTreeSet<Category>,
    pub excluded_categories: BTreeSet<Category>,
    pub included_users: BTreeSet<String>,
    pub excluded_users: BTreeSet<String>,
}

fn names(list: &str) -> BTreeSet<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn categories(list: &str, key: &str) -> Result<BTreeSet<Category>, String> {
    names(list)
        .into_iter()
        .map(|c| {
            Category::parse(&c).ok_or_else(|| {
                format!(
                    "`{key}`: unknown category `{c}` (QUERY, DML, DDL, DCL, OTHER, AUTH, ERROR, PREPARE)"
                )
            })
        })
        .collect()
}

impl AuditLoggingOptions {
    /// Checks the settings; the reason names the key in error.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(l) = &self.logger {
            let class = l
                .class_name
                .strip_prefix("org.apache.cassandra.audit.")
                .unwrap_or(&l.class_name);
            if class != "FileAuditLogger" {
                return Err(format!(
                    "`logger: {}` is not supported; Ilion writes FileAuditLogger's text lines",
                    l.class_name
                ));
            }
        }
        if self.max_log_size < 4096 {
            return Err("`max_log_size` must be at least 4096 bytes".into());
        }
        self.filter().map(|_| ())
    }

    /// The filter these options describe.
    pub fn filter(&self) -> Result<Filter, String> {
        Ok(Filter {
            included_keyspaces: names(&self.included_keyspaces),
            excluded_keyspaces: names(&self.excluded_keyspaces),
            included_categories: categories(&self.included_categories, "included_categories")?,
            excluded_categories: categories(&self.excluded_categories, "excluded_categories")?,
            included_users: names(&self.included_users),
            excluded_users: names(&self.excluded_users),
        })
    }
}

impl Filter {
    /// Whether an entry of `category` on `keyspace` by `user` is recorded. An entry without
    /// a keyspace (a login, LIST ROLES) passes the keyspace lists; one without a user (a
    /// refused login of an unknown name) passes the user lists.
    pub fn admits(&self, category: Category, keyspace: Option<&str>, user: Option<&str>) -> bool {
        let listed = |included: &BTreeSet<String>, excluded: &BTreeSet<String>, v: Option<&str>| {
            v.is_none_or(|v| (included.is_empty() || included.contains(v)) && !excluded.contains(v))
        };
        (self.included_categories.is_empty() || self.included_categories.contains(&category))
            && !self.excluded_categories.contains(&category)
            && listed(&self.included_keyspaces, &self.excluded_keyspaces, keyspace)
            && listed(&self.included_users, &self.excluded_users, user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_leave_out_the_system_keyspaces_only() {
        let f = AuditLoggingOptions::default().filter().unwrap();
        assert!(f.admits(Category::Query, Some("shop"), Some("alice")));
        assert!(f.admits(Category::Auth, None, None));
        assert!(!f.admits(Category::Query, Some("system_schema"), Some("alice")));
    }

    #[test]
    fn included_and_excluded_lists_combine_as_cassandras() {
        let o = AuditLoggingOptions {
            included_categories: "DML, AUTH".into(),
            excluded_users: "bob".into(),
            included_keyspaces: "shop".into(),
            ..AuditLoggingOptions::default()
        };
        let f = o.filter().unwrap();
        assert!(f.admits(Category::Dml, Some("shop"), Some("alice")));
        assert!(!f.admits(Category::Query, Some("shop"), Some("alice")));
        assert!(!f.admits(Category::Dml, Some("other"), Some("alice")));
        assert!(!f.admits(Category::Dml, Some("shop"), Some("bob")));
        assert!(f.admits(Category::Auth, None, Some("alice")));
    }

    #[test]
    fn what_is_not_honoured_is_refused_naming_it() {
        let bin = AuditLoggingOptions {
            logger: Some(Logger {
                class_name: "BinAuditLogger".into(),
            }),
            ..AuditLoggingOptions::default()
        };
        assert!(
            bin.validate()
                .unwrap_err()
                .contains("`logger: BinAuditLogger` is not supported")
        );
        let typo = AuditLoggingOptions {
            included_categories: "QUERY,DMLL".into(),
            ..AuditLoggingOptions::default()
        };
        assert!(
            typo.validate()
                .unwrap_err()
                .contains("unknown category `DMLL`")
        );
        let file = AuditLoggingOptions {
            logger: Some(Logger {
                class_name: "org.apache.cassandra.audit.FileAuditLogger".into(),
            }),
            ..AuditLoggingOptions::default()
        };
        assert!(file.validate().is_ok());
    }
}
