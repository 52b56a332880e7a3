//! Background work: the threads that flush, compact and (in periodic sync mode) sync the
//! log, woken through channels, and their shutdown.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use crossbeam::channel::{self, Receiver, RecvTimeoutError};

use crate::options::SyncMode;

use super::DbInner;

#[derive(Debug, Clone, Copy)]
pub(super) enum Work {
    Go,
    Stop,
}

impl DbInner {
    pub(super) fn start_threads(
        self: &Arc<Self>,
        flush_rx: Receiver<Work>,
        compact_rx: Receiver<Work>,
    ) {
        let mut threads = self.threads.lock();
        let weak = Arc::downgrade(self);
        threads.push(spawn(
            "lsm-flush",
            weak.clone(),
            flush_rx,
            |db| db.flush_all_pending(),
            Some(|db: &DbInner| db.flush_due()),
        ));
        threads.push(spawn(
            "lsm-compact",
            weak.clone(),
            compact_rx,
            |db| db.compact_all(),
            None,
        ));
        if let SyncMode::Periodic(period) = self.opts.sync {
            let (tx, rx) = channel::bounded::<()>(1);
            *self.sync_stop.lock() = Some(tx);
            let handle = std::thread::Builder::new()
                .name("lsm-sync".into())
                .spawn(move || {
                    loop {
                        match rx.recv_timeout(period) {
                            Err(RecvTimeoutError::Timeout) => {}
                            _ => return,
                        }
                        let Some(db) = weak.upgrade() else { return };
                        if let Ok(d) = db.log.sync_all() {
                            db.publish(d);
                        }
                    }
                });
            if let Ok(h) = handle {
                threads.push(h);
            }
        }
    }

    /// Stops background threads (joining all but the current one).
    pub(super) fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.flush_tx.send(Work::Stop);
        let _ = self.compact_tx.send(Work::Stop);
        if let Some(tx) = self.sync_stop.lock().take() {
            let _ = tx.send(());
        }
        self.stall_cv.notify_all();
        let me = std::thread::current().id();
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        self.shutdown();
        if let Err(e) = self.log.sync_all() {
            tracing::warn!(error = %e, "final commit log sync failed");
        }
    }
}

/// How often a thread with a `tick` runs it when no work arrives.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

fn spawn(
    name: &str,
    weak: Weak<DbInner>,
    rx: Receiver<Work>,
    work: fn(&DbInner),
    tick: Option<fn(&DbInner)>,
) -> JoinHandle<()> {
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            loop {
                let msg = match tick {
                    None => rx.recv().map_err(|_| ()),
                    Some(tick) => match rx.recv_timeout(TICK) {
                        Ok(m) => Ok(m),
                        Err(RecvTimeoutError::Timeout) => {
                            let Some(db) = weak.upgrade() else { return };
                            if db.closed.load(Ordering::Acquire) {
                                return;
                            }
                            tick(&db);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => Err(()),
                    },
                };
                let Ok(msg) = msg else { return };
                if let Work::Stop = msg {
                    return;
                }
                // Coalesce queued wake-ups.
                while let Ok(m) = rx.try_recv() {
                    if let Work::Stop = m {
                        return;
                    }
                }
                let Some(db) = weak.upgrade() else { return };
                if db.closed.load(Ordering::Acquire) {
                    return;
                }
                work(&db);
            }
        });
    match spawned {
        Ok(h) => h,
        // Could not start a thread: run nothing in the background; writers stall and report.
        Err(e) => {
            tracing::error!(error = %e, "could not start a background thread");
            std::thread::spawn(|| {})
        }
    }
}
