//! The audit log's file: a thread appends the lines it is sent to `audit.log` and rolls the
//! file at `max_log_size` (`audit.log` becomes `audit.log.1`, the older ones shift up, ten are
//! kept). Statements wait when the thread is [`QUEUE`] lines behind (Cassandra's `block:
//! true`): an audit log that drops entries under load is not an audit log.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Lines queued at most before a statement waits for the file.
const QUEUE: usize = 65_536;
/// Rolled files kept.
const KEPT: usize = 10;

/// The sending end; dropping it ends the thread after it wrote what was queued.
#[derive(Debug)]
pub struct FileLog {
    tx: SyncSender<String>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileLog {
    /// Opens (appends to) `dir/audit.log`, creating `dir`.
    pub fn open(dir: &Path, max_size: u64) -> std::io::Result<FileLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("audit.log");
        let file = open(&path)?;
        let size = file.metadata()?.len();
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || {
                write_loop(
                    rx,
                    Writer {
                        path,
                        out: BufWriter::new(file),
                        size,
                        max_size,
                    },
                );
            })?;
        Ok(FileLog {
            tx,
            thread: Some(thread),
        })
    }

    /// Queues a line (waits while the queue is full).
    pub fn write(&self, line: String) {
        let _ = self.tx.send(line);
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        // Closing the channel ends the loop once the queue is written.
        let (closed, _) = sync_channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    max_size: u64,
}

impl Writer {
    fn line(&mut self, line: &str) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 + 1 > self.max_size {
            self.roll()?;
        }
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let rolled = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(rolled(KEPT));
        for n in (1..KEPT).rev() {
            let from = rolled(n);
            if from.exists() {
                std::fs::rename(&from, rolled(n + 1))?;
            }
        }
        std::fs::rename(&self.path, rolled(1))?;
        self.out = BufWriter::new(open(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

fn write_loop(rx: Receiver<String>, mut w: Writer) {
    let report = |e: std::io::Error, path: &Path| {
        tracing::error!(path = %path.display(), error = %e, "cannot write the audit log");
    };
    while let Ok(line) = rx.recv() {
        if let Err(e) = w.line(&line) {
            report(e, &w.path);
        }
        // Whatever else is queued goes in the same write.
        while let Ok(line) = rx.try_recv() {
            if let Err(e) = w.line(&line) {
                report(e, &w.path);
            }
        }
        if let Err(e) = w.out.flush() {
            report(e, &w.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_the_file_rolls_keeping_ten() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), 4096).unwrap();
        for i in 0..1_000 {
            log.write(format!("{i:0>99}"));
        }
        drop(log);
        let current = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert!(current.ends_with(&format!("{:0>99}\n", 999)));
        assert!(current.len() <= 4096);
        assert!(dir.path().join("audit.log.10").exists());
        assert!(!dir.path().join("audit.log.11").exists());
        // The newest rolled file holds the lines just before the current ones.
        let first_now: u64 = current.lines().next().unwrap().parse().unwrap();
        let rolled = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap();
        let last_rolled: u64 = rolled.lines().last().unwrap().parse().unwrap();
        assert_eq!(last_rolled + 1, first_now);
        // A reopened log appends.
        let log = FileLog::open(dir.path(), 1 << 20).unwrap();
        log.write("again".into());
        drop(log);
        let current = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert!(current.ends_with(&format!("{:0>99}\nagain\n", 999)));
    }
}
