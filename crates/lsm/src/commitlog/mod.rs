//! The commit log: one write-ahead log shared by every tree, in numbered segments.
//!
//! Writers append encoded records to an in-memory buffer under the database's write lock (which
//! assigns sequence numbers, so records are in sequence order). Durability is separate: whoever
//! needs it calls [`CommitLog::sync_to`]. The first caller becomes the leader, writes the whole
//! buffer to the segment and fsyncs it once; callers arriving meanwhile wait and are covered by
//! the leader's fsync or the next one (group commit). A failed write or fsync is sticky: the log
//! refuses everything afterwards.
//!
//! Segments are named `wal-<id>.log` (id zero-padded to 10 digits) and rolled once they pass the
//! configured size or when a memtable flush starts; a segment is deleted once every tree has flushed every write it holds.

pub(crate) mod segment;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::batch::{self, Op, OpRef};
use crate::error::{Error, Result};
use crate::key::SeqNo;
use crate::vfs::{Vfs, WritableFile};

/// The buffer is written out (without fsync) once it holds this much.
const BUFFER_LIMIT: usize = 1 << 20;

pub(crate) fn segment_name(id: u64) -> String {
    format!("wal-{id:010}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

#[derive(Debug)]
struct Pending {
    buf: Vec<u8>,
    /// Logical position (bytes ever appended) at the end of `buf`.
    end_lsn: u64,
    last_seq: SeqNo,
}

#[derive(Debug)]
struct Active {
    writer: Box<dyn WritableFile>,
    id: u64,
    path: PathBuf,
    /// Highest sequence number written to the active segment.
    max_seq: SeqNo,
    /// Finished segments: (id, highest sequence number in it).
    closed: Vec<(u64, SeqNo)>,
    /// The buffer the last write-out emptied, swapped in for the next one (no allocation
    /// per write-out).
    spare: Vec<u8>,
}

#[derive(Debug, Default)]
struct Durable {
    lsn: u64,
    seq: SeqNo,
    syncing: bool,
    error: Option<String>,
}

/// The shared write-ahead log.
#[derive(Debug)]
pub(crate) struct CommitLog {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    segment_bytes: u64,
    pending: Mutex<Pending>,
    active: Mutex<Active>,
    durable: Mutex<Durable>,
    synced: Condvar,
    bytes_written: AtomicU64,
    /// Set once `durable.error` holds a reason (appends check this without locking).
    failed: AtomicBool,
    /// The next write-out starts a new segment (so a flushed segment can be deleted).
    roll_requested: AtomicBool,
    /// The log position up to which records are in the operating system (written, maybe not
    /// fsynced).
    written: AtomicU64,
}

/// What recovery found.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) log: CommitLog,
    /// Highest sequence number in the log (0 when empty).
    pub(crate) last_seq: SeqNo,
}

impl CommitLog {
    /// Replays every segment in `dir` in order, calling `apply(first_seq, ops)` per batch, cuts a
    /// torn tail off the newest segment, and opens a fresh segment for new writes.
    pub(crate) fn recover(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        segment_bytes: u64,
        min_seq: SeqNo,
        mut apply: impl FnMut(SeqNo, Vec<Op>) -> Result<()>,
    ) -> Result<Recovered> {
        let names = vfs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut ids: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
        ids.sort_unstable();
        let mut closed = Vec::new();
        let mut last_seq = min_seq;
        for (i, &id) in ids.iter().enumerate() {
            let path = dir.join(segment_name(id));
            let is_last = i + 1 == ids.len();
            let file = vfs.open_read(&path).map_err(|e| Error::io(&path, e))?;
            let bytes = file.bytes();
            if bytes.len() < segment::HEADER_LEN && is_last {
                // Crashed while creating the segment: nothing in it was ever acknowledged.
                drop(file);
                vfs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
                continue;
            }
            let found = segment::check_header(bytes, &path)?;
            if found != id {
                return Err(Error::Corruption {
                    file: path,
                    offset: 8,
                    reason: "commit log segment id does not match its name",
                });
            }
            let end = segment::scan(bytes, &path, is_last, |seq, payload, offset| {
                let ops = batch::decode(payload, &path, offset)?;
                if seq <= last_seq && seq > min_seq {
                    return Err(Error::Corruption {
                        file: path.clone(),
                        offset,
                        reason: "commit log sequence numbers go backwards across segments",
                    });
                }
                let n = ops.len() as u64;
                if seq > min_seq {
                    apply(seq, ops)?;
                }
                last_seq = last_seq.max(seq + n.saturating_sub(1));
                Ok(())
            })?;
            drop(file);
            if end.torn {
                tracing::warn!(file = %path.display(), valid_len = end.valid_len, "cutting torn commit log tail");
                vfs.truncate(&path, end.valid_len)
                    .map_err(|e| Error::io(&path, e))?;
            }
            closed.push((id, last_seq));
        }
        let next_id = ids.last().map_or(1, |l| l + 1);
        let (writer, path) = create_segment(vfs.as_ref(), dir, next_id)?;
        let log = CommitLog {
            vfs,
            dir: dir.to_owned(),
            segment_bytes,
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(BUFFER_LIMIT),
                end_lsn: 0,
                last_seq,
            }),
            active: Mutex::new(Active {
                writer,
                id: next_id,
                path,
                max_seq: last_seq,
                closed,
                spare: Vec::with_capacity(BUFFER_LIMIT),
            }),
            durable: Mutex::new(Durable {
                seq: last_seq,
                ..Durable::default()
            }),
            synced: Condvar::new(),
            bytes_written: AtomicU64::new(segment::HEADER_LEN as u64),
            failed: AtomicBool::new(false),
            roll_requested: AtomicBool::new(false),
            written: AtomicU64::new(0),
        };
        Ok(Recovered { log, last_seq })
    }

    /// Fails with the sticky error once a write or sync has failed.
    pub(crate) fn check(&self) -> Result<()> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        match &self.durable.lock().error {
            Some(reason) => Err(Error::WritesStopped {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Appends one batch record (ops numbered from `seq`). Returns the log position that a
    /// `sync_to` must reach for the record to be durable. Call with sequence numbers increasing.
    pub(crate) fn append(&self, seq: SeqNo, ops: &[OpRef<'_>]) -> Result<u64> {
        self.check()?;
        let (lsn, full) = {
            let mut p = self.pending.lock();
            let before = p.buf.len();
            segment::encode_record_with(&mut p.buf, seq, |out| batch::encode_ops(ops, out));
            p.end_lsn += (p.buf.len() - before) as u64;
            p.last_seq = seq + (ops.len() as u64).saturating_sub(1);
            (p.end_lsn, p.buf.len() >= BUFFER_LIMIT)
        };
        // Under the database's write lock, never wait for a sync in progress (the syncer holds
        // the segment while it fsyncs): the buffer keeps growing and a later write-out (this
        // writer's `write_to`/`sync_to` after the lock, or the next append) takes it.
        if full && let Some(a) = self.active.try_lock() {
            self.write_out_locked(a, false)?;
        }
        Ok(lsn)
    }

    /// The log position after everything appended so far.
    pub(crate) fn end_lsn(&self) -> u64 {
        self.pending.lock().end_lsn
    }

    pub(crate) fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Returns once everything up to `lsn` is fsynced (group commit: one leader syncs for all
    /// waiters). Returns the highest durable sequence number.
    pub(crate) fn sync_to(&self, lsn: u64) -> Result<SeqNo> {
        let mut d = self.durable.lock();
        loop {
            if let Some(reason) = &d.error {
                return Err(Error::WritesStopped {
                    reason: reason.clone(),
                });
            }
            if d.lsn >= lsn && !self.roll_requested.load(Ordering::Acquire) {
                return Ok(d.seq);
            }
            if d.syncing {
                self.synced.wait(&mut d);
                continue;
            }
            d.syncing = true;
            drop(d);
            let result = self.write_out(true);
            d = self.durable.lock();
            d.syncing = false;
            match result {
                Ok((lsn, seq)) => {
                    d.lsn = d.lsn.max(lsn);
                    d.seq = d.seq.max(seq);
                }
                Err(e) => {
                    if d.error.is_none() {
                        d.error = Some(e.to_string());
                        self.failed.store(true, Ordering::Release);
                    }
                }
            }
            self.synced.notify_all();
        }
    }

    /// Syncs everything appended so far and starts a new segment (when the active one holds
    /// records), so that the finished one can be deleted once every tree has flushed past it.
    pub(crate) fn sync_and_roll(&self) -> Result<SeqNo> {
        self.roll_requested.store(true, Ordering::Release);
        self.sync_all()
    }

    /// Returns once everything up to `lsn` is in the operating system, without an fsync:
    /// periodic mode's promise, as Cassandra's memory-mapped segments, that a crash of the
    /// process loses no acknowledged write (a crash of the machine loses at most a period).
    /// Concurrent callers share one write.
    pub(crate) fn write_to(&self, lsn: u64) -> Result<()> {
        if self.written.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        self.write_out(false).map(|_| ())
    }

    /// Syncs everything appended so far.
    pub(crate) fn sync_all(&self) -> Result<SeqNo> {
        let lsn = self.end_lsn();
        self.sync_to(lsn)
    }

    fn fail(&self, e: Error) -> Error {
        let mut d = self.durable.lock();
        if d.error.is_none() {
            d.error = Some(e.to_string());
            self.failed.store(true, Ordering::Release);
        }
        self.synced.notify_all();
        e
    }

    /// Writes the buffer to the active segment, fsyncs it when `sync`, and rolls the segment
    /// when it is full. Returns the (lsn, seq) written.
    fn write_out(&self, sync: bool) -> Result<(u64, SeqNo)> {
        self.write_out_locked(self.active.lock(), sync)
    }

    /// [`CommitLog::write_out`] with the active segment already locked.
    fn write_out_locked(
        &self,
        mut a: parking_lot::MutexGuard<'_, Active>,
        sync: bool,
    ) -> Result<(u64, SeqNo)> {
        let mut buf = std::mem::take(&mut a.spare);
        buf.clear();
        let (lsn, seq) = {
            let mut p = self.pending.lock();
            std::mem::swap(&mut p.buf, &mut buf);
            (p.end_lsn, p.last_seq)
        };
        if !buf.is_empty() {
            if let Err(e) = a.writer.append(&buf) {
                let path = a.path.clone();
                return Err(self.fail(Error::io(path, e)));
            }
            self.bytes_written
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            a.max_seq = a.max_seq.max(seq);
        }
        // A buffer that grew for one huge batch is not kept.
        if buf.capacity() <= 2 * BUFFER_LIMIT {
            a.spare = buf;
        }
        let requested = self.roll_requested.swap(false, Ordering::AcqRel);
        let roll = a.writer.len() >= self.segment_bytes
            || (requested && a.writer.len() > segment::HEADER_LEN as u64);
        // A periodic or group-commit sync that does not roll the segment fsyncs a duplicated
        // descriptor after releasing the segment: writers appending meanwhile (periodic mode's
        // `write_to` on every put) do not wait behind the fsync. Files without such a handle
        // (the test file systems) and rolls sync under the lock.
        let mut outside: Option<Box<dyn crate::vfs::SyncHandle>> = None;
        let handed = if roll {
            a.writer.sync()
        } else if sync {
            a.writer
                .flush()
                .and_then(|()| a.writer.sync_handle())
                .and_then(|h| match h {
                    Some(h) => {
                        outside = Some(h);
                        Ok(())
                    }
                    None => a.writer.sync(),
                })
        } else {
            a.writer.flush()
        };
        if let Err(e) = handed {
            let path = a.path.clone();
            return Err(self.fail(Error::io(path, e)));
        }
        self.written.fetch_max(lsn, Ordering::AcqRel);
        if let Some(h) = outside {
            let path = a.path.clone();
            drop(a);
            return match h.sync() {
                Ok(()) => Ok((lsn, seq)),
                Err(e) => Err(self.fail(Error::io(path, e))),
            };
        }
        if roll {
            let next = a.id + 1;
            let (writer, path) = match create_segment(self.vfs.as_ref(), &self.dir, next) {
                Ok(x) => x,
                Err(e) => return Err(self.fail(e)),
            };
            self.bytes_written
                .fetch_add(segment::HEADER_LEN as u64, Ordering::Relaxed);
            let (old_id, old_max) = (a.id, a.max_seq);
            a.closed.push((old_id, old_max));
            a.writer = writer;
            a.path = path;
            a.id = next;
        }
        Ok((lsn, seq))
    }

    /// Deletes finished segments whose every write has sequence number <= `floor` (flushed by
    /// every tree). Returns how many were deleted.
    pub(crate) fn delete_obsolete(&self, floor: SeqNo) -> Result<usize> {
        let doomed: Vec<u64> = {
            let mut a = self.active.lock();
            let (doomed, keep): (Vec<_>, Vec<_>) =
                a.closed.iter().partition(|(_, max)| *max <= floor);
            a.closed = keep;
            doomed.into_iter().map(|(id, _)| id).collect()
        };
        for id in &doomed {
            let path = self.dir.join(segment_name(*id));
            self.vfs
                .remove_file(&path)
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok(doomed.len())
    }

    /// Names of the segments on disk, oldest first (checkpoints copy them).
    pub(crate) fn segment_names(&self) -> Vec<String> {
        let a = self.active.lock();
        let mut v: Vec<String> = a.closed.iter().map(|(id, _)| segment_name(*id)).collect();
        v.push(segment_name(a.id));
        v
    }
}

fn create_segment(vfs: &dyn Vfs, dir: &Path, id: u64) -> Result<(Box<dyn WritableFile>, PathBuf)> {
    let path = dir.join(segment_name(id));
    let mut w = vfs.create(&path).map_err(|e| Error::io(&path, e))?;
    w.append(&segment::header(id))
        .and_then(|()| w.sync())
        .map_err(|e| Error::io(&path, e))?;
    vfs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok((w, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Kind;
    use crate::vfs::StdVfs;

    fn op(k: &str) -> Op {
        Op {
            kind: Kind::Put,
            tree: 0,
            key: k.as_bytes().to_vec(),
            value: b"v".to_vec(),
        }
    }

    fn replay(dir: &Path) -> Vec<(SeqNo, Vec<Op>)> {
        let mut got = Vec::new();
        CommitLog::recover(Arc::new(StdVfs), dir, 1 << 20, 0, |s, ops| {
            got.push((s, ops));
            Ok(())
        })
        .unwrap();
        got
    }

    #[test]
    fn synced_batches_are_replayed_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let r = CommitLog::recover(Arc::new(StdVfs), dir.path(), 64, 0, |_, _| Ok(())).unwrap();
        let log = r.log;
        for i in 0..10u64 {
            let lsn = log
                .append(i * 2 + 1, &[op("a").borrowed(), op("b").borrowed()])
                .unwrap();
            log.sync_to(lsn).unwrap();
        }
        assert!(log.segment_names().len() > 2, "small segments roll");
        drop(log);
        let got = replay(dir.path());
        assert_eq!(got.len(), 10);
        assert_eq!(got[9].0, 19);
        assert_eq!(got[9].1, vec![op("a"), op("b")]);
    }

    #[test]
    fn concurrent_writers_share_fsyncs_and_all_become_durable() {
        let dir = tempfile::tempdir().unwrap();
        let r =
            CommitLog::recover(Arc::new(StdVfs), dir.path(), 1 << 20, 0, |_, _| Ok(())).unwrap();
        let log = Arc::new(r.log);
        let seq = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (log, seq) = (log.clone(), seq.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let lsn = {
                            let mut s = seq.lock();
                            *s += 1;
                            log.append(*s, &[op("k").borrowed()]).unwrap()
                        };
                        log.sync_to(lsn).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(log);
        assert_eq!(replay(dir.path()).len(), 200);
    }

    #[test]
    fn deleting_flushed_segments_keeps_the_active_one() {
        let dir = tempfile::tempdir().unwrap();
        let r = CommitLog::recover(Arc::new(StdVfs), dir.path(), 64, 0, |_, _| Ok(())).unwrap();
        for i in 1..=5 {
            let lsn = r.log.append(i, &[op("a").borrowed()]).unwrap();
            r.log.sync_to(lsn).unwrap();
        }
        let before = r.log.segment_names().len();
        assert!(r.log.delete_obsolete(3).unwrap() > 0);
        assert!(r.log.segment_names().len() < before);
        drop(r);
        let got = replay(dir.path());
        assert!(got.iter().any(|(s, _)| *s == 5));
        assert!(!got.iter().any(|(s, _)| *s == 1));
    }
}
