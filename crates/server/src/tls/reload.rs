//! A TLS configuration that follows its certificate files: looked at again at most every
//! [`RELOAD_CHECK`] when a connection needs it, rebuilt when a file's modification time
//! changed; a rebuild that fails is logged and the previous configuration kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::TlsError;

/// How often the files are looked at for a change, at most.
pub(crate) const RELOAD_CHECK: Duration = Duration::from_secs(1);

type Build<T> = Box<dyn Fn() -> Result<T, TlsError> + Send + Sync>;

/// A configuration of type `T` (rustls' server or client configuration) built from `files`.
pub struct Reloading<T> {
    section: &'static str,
    files: Vec<PathBuf>,
    build: Build<T>,
    pub(super) state: Mutex<State<T>>,
}

pub(super) struct State<T> {
    pub(super) config: Arc<T>,
    pub(super) seen: Vec<Option<SystemTime>>,
    pub(super) checked: Instant,
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("section", &self.section)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn modified(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

impl<T> Reloading<T> {
    /// Builds the first configuration now (its error stops the caller); `section` names the
    /// settings in the log.
    pub(super) fn new(
        section: &'static str,
        files: Vec<PathBuf>,
        build: impl Fn() -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Reloading<T>, TlsError> {
        let seen = modified(&files);
        let config = Arc::new(build()?);
        Ok(Reloading {
            section,
            files,
            build: Box::new(build),
            state: Mutex::new(State {
                config,
                seen,
                checked: Instant::now(),
            }),
        })
    }

    /// The configuration for a connection made now: built again first when a file changed.
    pub fn current(&self) -> Arc<T> {
        let mut state = self.state.lock();
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let now = modified(&self.files);
            if now != state.seen {
                state.seen = now;
                match (self.build)() {
                    Ok(c) => {
                        tracing::info!(
                            section = self.section,
                            "TLS certificate files changed: reloaded"
                        );
                        state.config = Arc::new(c);
                    }
                    Err(e) => tracing::warn!(section = self.section, error = %e,
                        "TLS certificate files changed but cannot be used; keeping the previous ones"),
                }
            }
        }
        state.config.clone()
    }
}
