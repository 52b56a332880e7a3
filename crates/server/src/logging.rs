//! The process's log filter, changeable while the node runs (`ilion getlogginglevels` and
//! `setlogginglevel`, as nodetool's over logback). A logger is a target (a module path such as
//! `ilion_server::cluster`, or a prefix of one) or `ROOT`, the level of everything else. The
//! filter starts from `RUST_LOG` (default `info`); `setlogginglevel` with no logger goes back
//! to it.
//!
//! The subscriber is global to the process, so the handle that reloads its filter is too: the
//! binary installs it once ([`init`]); a node run without it (an embedded test node) answers
//! `setlogginglevel` with an error saying so.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The name nodetool gives the level of every logger not named.
pub const ROOT: &str = "ROOT";

/// Levels a logger may take, as logback names them (`ALL` is `TRACE`).
const LEVELS: [&str; 7] = ["ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"];

/// The loggers and their levels: `ROOT` and every target given its own.
pub type Levels = BTreeMap<String, String>;

/// The reloadable filter and what it was built from.
struct Reloadable {
    handle: reload::Handle<EnvFilter, Registry>,
    initial: Levels,
    current: Mutex<Levels>,
}

static FILTER: OnceLock<Reloadable> = OnceLock::new();

/// Why a level could not be set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    #[error("unknown log level {0}: one of ALL, TRACE, DEBUG, INFO, WARN, ERROR, OFF")]
    Level(String),
    #[error("bad logger name {0}: a module path such as ilion_server::cluster, or ROOT")]
    Logger(String),
    #[error("this process's logging cannot be changed (it did not install the ilion logger)")]
    NotInstalled,
    #[error("cannot apply the log filter {filter}: {reason}")]
    Filter { filter: String, reason: String },
}

/// Installs the process's logger: lines on stderr, filtered by `RUST_LOG` (default `info`)
/// until `setlogginglevel` changes it.
pub fn init() {
    let initial = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| parse(&s))
        .unwrap_or_else(|| Levels::from([(ROOT.to_owned(), "INFO".to_owned())]));
    let filter =
        EnvFilter::try_new(directives(&initial)).unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let installed = tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours on a terminal only: a log file gets plain lines.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init();
    if installed.is_ok() {
        let _ = FILTER.set(Reloadable {
            handle,
            current: Mutex::new(initial.clone()),
            initial,
        });
    }
}

/// The loggers with a level of their own, and `ROOT`.
pub fn levels() -> Result<Levels, LoggingError> {
    let f = FILTER.get().ok_or(LoggingError::NotInstalled)?;
    Ok(f.current.lock().clone())
}

/// Sets `logger`'s level (`ROOT`: every logger without one of its own); an empty `level`
/// removes the logger's own level, an empty `logger` goes back to the start-up levels.
/// Answers the levels in force.
pub fn set_level(logger: &str, level: &str) -> Result<Levels, LoggingError> {
    let f = FILTER.get().ok_or(LoggingError::NotInstalled)?;
    let mut current = f.current.lock();
    let next = updated(&current, &f.initial, logger, level)?;
    let text = directives(&next);
    let filter = EnvFilter::try_new(&text).map_err(|e| LoggingError::Filter {
        filter: text.clone(),
        reason: e.to_string(),
    })?;
    f.handle.reload(filter).map_err(|e| LoggingError::Filter {
        filter: text,
        reason: e.to_string(),
    })?;
    *current = next;
    Ok(current.clone())
}

/// `current` with `logger` at `level` (see [`set_level`]).
fn updated(
    current: &Levels,
    initial: &Levels,
    logger: &str,
    level: &str,
) -> Result<Levels, LoggingError> {
    if logger.is_empty() {
        return Ok(initial.clone());
    }
    let valid_logger = logger == ROOT
        || logger.split("::").all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !valid_logger {
        return Err(LoggingError::Logger(logger.to_owned()));
    }
    let mut next = current.clone();
    if level.is_empty() {
        if logger == ROOT {
            next.insert(ROOT.to_owned(), "INFO".to_owned());
        } else {
            next.remove(logger);
        }
        return Ok(next);
    }
    let upper = level.to_ascii_uppercase();
    if !LEVELS.contains(&upper.as_str()) {
        return Err(LoggingError::Level(level.to_owned()));
    }
    next.insert(logger.to_owned(), upper);
    Ok(next)
}

/// The `EnvFilter` directives of `levels`: `ROOT`'s level, then `target=level` each.
fn directives(levels: &Levels) -> String {
    let level = |l: &str| match l {
        "ALL" => "trace".to_owned(),
        other => other.to_ascii_lowercase(),
    };
    let mut parts = vec![level(levels.get(ROOT).map_or("INFO", String::as_str))];
    parts.extend(
        levels
            .iter()
            .filter(|(logger, _)| logger.as_str() != ROOT)
            .map(|(logger, l)| format!("{logger}={}", level(l))),
    );
    parts.join(",")
}

/// `RUST_LOG` as levels, when it is a plain list of `level` and `target=level` directives.
fn parse(text: &str) -> Option<Levels> {
    let mut levels = Levels::from([(ROOT.to_owned(), "INFO".to_owned())]);
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (logger, level) = part.split_once('=').unwrap_or((ROOT, part));
        levels = updated(&levels, &levels, logger, level).ok()?;
    }
    Some(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(pairs: &[(&str, &str)]) -> Levels {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn rust_log_becomes_root_and_target_levels_and_back() {
        let l = parse("warn,ilion_server::cluster=debug").unwrap();
        assert_eq!(
            l,
            levels(&[("ROOT", "WARN"), ("ilion_server::cluster", "DEBUG")])
        );
        assert_eq!(directives(&l), "warn,ilion_server::cluster=debug");
        assert_eq!(parse("ilion[span]=debug"), None);
    }

    #[test]
    fn setting_removing_and_resetting_levels() {
        let initial = levels(&[("ROOT", "INFO")]);
        let l = updated(&initial, &initial, "ilion_server", "debug").unwrap();
        assert_eq!(l, levels(&[("ROOT", "INFO"), ("ilion_server", "DEBUG")]));
        let l = updated(&l, &initial, "ROOT", "ALL").unwrap();
        assert_eq!(directives(&l), "trace,ilion_server=debug");
        let removed = updated(&l, &initial, "ilion_server", "").unwrap();
        assert_eq!(removed, levels(&[("ROOT", "ALL")]));
        assert_eq!(updated(&l, &initial, "", "").unwrap(), initial);
    }

    #[test]
    fn unknown_levels_and_malformed_loggers_are_refused() {
        let initial = levels(&[("ROOT", "INFO")]);
        assert!(matches!(
            updated(&initial, &initial, "ilion_server", "LOUD"),
            Err(LoggingError::Level(_))
        ));
        assert!(matches!(
            updated(&initial, &initial, "a=b", "DEBUG"),
            Err(LoggingError::Logger(_))
        ));
        assert!(matches!(
            updated(&initial, &initial, "a::", "DEBUG"),
            Err(LoggingError::Logger(_))
        ));
    }
}
