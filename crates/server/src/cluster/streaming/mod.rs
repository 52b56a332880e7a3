//! Streaming between nodes (`Streaming.StreamRange` in proto/ilion.proto). The sending side
//! (`send.rs`) flushes the table, sends each engine file that lies wholly inside the token
//! range whole, in chunks ([`Coordinator::stream_files`]; the last chunk carries the file's
//! XXH64), then the rest of the range page by page as rows ([`Coordinator::stream_page`],
//! without what those files hold), each chunk with its CRC32, throttled to
//! `stream_throughput_outbound_megabits_per_sec`. The receiving side (`receive.rs`,
//! [`fetch_range`]) checks order and checksums, writes a file's chunks into a temporary file in
//! `data_dir/stream-incoming`, checks its XXH64 and ingests it
//! ([`Coordinator::ingest_stream_file`]), and applies row chunks like writes
//! ([`Coordinator::apply_stream_page`]). [`Streams`] keeps what is in flight for `ilion
//! netstats`.

use std::time::{Duration, Instant};

#[cfg(doc)]
use ilion_coordinator::Coordinator;
use parking_lot::Mutex;

mod receive;
mod send;
#[cfg(test)]
mod tests;

pub(crate) use receive::remove_leftovers;
pub use receive::{RangeRequest, Received, StreamError, fetch_range};
pub(crate) use send::StreamingService;

/// Partitions per streamed page at most (a page also stops at about
/// `ilion_coordinator::STREAM_PAGE_BYTES` stored bytes).
const PARTITIONS_PER_PAGE: u32 = 10_000;

/// Largest chunk a receiver accepts (a page of very wide rows may be large).
const MAX_CHUNK_BYTES: usize = 256 << 20;

/// Bytes of a file sent whole per chunk.
const FILE_CHUNK_BYTES: usize = 1 << 20;

/// A token bucket over all outbound streams of this node (`stream_throughput_outbound`);
/// `ilion setstreamthroughput` changes its rate while streams run.
#[derive(Debug)]
pub struct Throttle {
    /// Megabits per second (Cassandra's unit); 0 = unthrottled.
    megabits: std::sync::atomic::AtomicU32,
    /// When the bytes granted so far will have left at the rate.
    next_free: Mutex<tokio::time::Instant>,
}

impl Throttle {
    /// A cap of `megabits` per second (Cassandra's unit); 0 = unthrottled.
    pub fn megabits(megabits: u32) -> Throttle {
        Throttle {
            megabits: std::sync::atomic::AtomicU32::new(megabits),
            next_free: Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// The cap in megabits per second (0 = unthrottled).
    pub fn rate_megabits(&self) -> u32 {
        self.megabits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes the cap; the next chunk of every stream goes at the new rate.
    pub fn set_megabits(&self, megabits: u32) {
        self.megabits
            .store(megabits, std::sync::atomic::Ordering::Relaxed);
        *self.next_free.lock() = tokio::time::Instant::now();
    }

    /// Waits until `bytes` more may leave.
    pub async fn acquire(&self, bytes: usize) {
        let megabits = self.rate_megabits();
        if megabits == 0 {
            return;
        }
        let rate = f64::from(megabits) * 1_000_000.0 / 8.0;
        #[allow(clippy::cast_precision_loss)]
        let cost = Duration::from_secs_f64(bytes as f64 / rate);
        let start = {
            let mut next = self.next_free.lock();
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + cost;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// Which way a stream goes, from this node's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This node sends.
    Outbound,
    /// This node receives.
    Inbound,
}

/// One stream, as `ilion netstats` shows it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub id: u64,
    pub direction: Direction,
    /// The other node's listen address.
    pub peer: String,
    pub keyspace: String,
    pub table: String,
    pub bytes: u64,
    pub partitions: u64,
    /// Engine files sent or received whole (their bytes count in `bytes`).
    pub files: u64,
    pub started: Instant,
    /// How long it ran (so far, while running).
    pub elapsed: Duration,
    /// `None` while running; then whether it succeeded.
    pub finished: Option<bool>,
}

/// The streams this node ran and runs (the last [`Streams::KEEP`] finished ones are kept).
#[derive(Debug, Default)]
pub struct Streams {
    inner: Mutex<(u64, Vec<StreamInfo>)>,
}

impl Streams {
    const KEEP: usize = 64;

    fn start(&self, direction: Direction, peer: String, keyspace: &str, table: &str) -> u64 {
        let mut inner = self.inner.lock();
        inner.0 += 1;
        let id = inner.0;
        inner.1.push(StreamInfo {
            id,
            direction,
            peer,
            keyspace: keyspace.to_owned(),
            table: table.to_owned(),
            bytes: 0,
            partitions: 0,
            files: 0,
            started: Instant::now(),
            elapsed: Duration::ZERO,
            finished: None,
        });
        id
    }

    fn progress(&self, id: u64, bytes: usize, partitions: u32) {
        if let Some(s) = self.inner.lock().1.iter_mut().find(|s| s.id == id) {
            s.bytes += bytes as u64;
            s.partitions += u64::from(partitions);
        }
    }

    fn file_done(&self, id: u64) {
        if let Some(s) = self.inner.lock().1.iter_mut().find(|s| s.id == id) {
            s.files += 1;
        }
    }

    fn finish(&self, id: u64, ok: bool) {
        let mut inner = self.inner.lock();
        if let Some(s) = inner.1.iter_mut().find(|s| s.id == id) {
            s.finished = Some(ok);
            s.elapsed = s.started.elapsed();
        }
        let done = inner.1.iter().filter(|s| s.finished.is_some()).count();
        if done > Self::KEEP {
            let mut drop = done - Self::KEEP;
            inner.1.retain(|s| {
                if drop > 0 && s.finished.is_some() {
                    drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Every stream kept, oldest first.
    pub fn list(&self) -> Vec<StreamInfo> {
        let mut out = self.inner.lock().1.clone();
        for s in out.iter_mut().filter(|s| s.finished.is_none()) {
            s.elapsed = s.started.elapsed();
        }
        out
    }
}
