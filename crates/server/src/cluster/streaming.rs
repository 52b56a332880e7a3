//! Streaming between nodes (`Streaming.StreamRange` in proto/ilion.proto): the sending side
//! reads a token range of a table page by page from its store
//! ([`Coordinator::stream_page`]), checksums each page (CRC32) and sends it as a chunk,
//! throttled to `stream_throughput_outbound_megabits_per_sec`; the receiving side
//! ([`fetch_range`]) checks order and checksum and applies each chunk like a write
//! ([`Coordinator::apply_stream_page`]). [`Streams`] keeps what is in flight for `ilion
//! netstats`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ilion_coordinator::Coordinator;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};

use super::proto::streaming_client::StreamingClient;
use super::proto::streaming_server::Streaming;
use super::proto::{StreamChunk, StreamRangeRequest};

/// Live rows per streamed page: pages of a few hundred KiB for ordinary rows.
const ROWS_PER_PAGE: u32 = 500;

/// Largest chunk a receiver accepts (a page of very wide rows may be large).
const MAX_CHUNK_BYTES: usize = 256 << 20;

/// A token bucket over all outbound streams of this node.
#[derive(Debug)]
pub struct Throttle {
    /// Bytes per second; `None` = unthrottled.
    rate: Option<f64>,
    /// When the bytes granted so far will have left at the rate.
    next_free: Mutex<tokio::time::Instant>,
}

impl Throttle {
    /// A cap of `megabits` per second (Cassandra's unit); 0 = unthrottled.
    pub fn megabits(megabits: u32) -> Throttle {
        Throttle {
            rate: (megabits > 0).then(|| f64::from(megabits) * 1_000_000.0 / 8.0),
            next_free: Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits until `bytes` more may leave.
    pub async fn acquire(&self, bytes: usize) {
        let Some(rate) = self.rate else { return };
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
    pub started: Instant,
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
            started: Instant::now(),
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

    fn finish(&self, id: u64, ok: bool) {
        let mut inner = self.inner.lock();
        if let Some(s) = inner.1.iter_mut().find(|s| s.id == id) {
            s.finished = Some(ok);
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
        self.inner.lock().1.clone()
    }
}

/// The sending side: the `Streaming` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct StreamingService {
    pub coordinator: Arc<Coordinator>,
    pub throttle: Arc<Throttle>,
    pub streams: Arc<Streams>,
}

#[tonic::async_trait]
impl Streaming for StreamingService {
    type StreamRangeStream = ReceiverStream<Result<StreamChunk, Status>>;

    async fn stream_range(
        &self,
        request: Request<StreamRangeRequest>,
    ) -> Result<Response<Self::StreamRangeStream>, Status> {
        let r = request.into_inner();
        if let (Some(s), Some(e)) = (r.start, r.end)
            && s >= e
        {
            return Err(Status::invalid_argument(format!(
                "token range ({s}, {e}] wraps or is empty; send it as two ranges"
            )));
        }
        // Fail at once (not mid-stream) when the table is unknown here.
        if let Err(e) = self.coordinator.store().table(&r.keyspace, &r.table) {
            return Err(Status::not_found(format!(
                "cannot stream {}.{}: {e}",
                r.keyspace, r.table
            )));
        }
        let (tx, rx) = mpsc::channel(4);
        let coordinator = self.coordinator.clone();
        let throttle = self.throttle.clone();
        let streams = self.streams.clone();
        let id = streams.start(Direction::Outbound, r.from.clone(), &r.keyspace, &r.table);
        tracing::info!(to = %r.from, keyspace = %r.keyspace, table = %r.table,
            start = ?r.start, end = ?r.end, "streaming a range out");
        tokio::spawn(async move {
            let mut resume: Option<Vec<u8>> = None;
            let mut seq = 0u64;
            loop {
                let c = coordinator.clone();
                let (ks, table, start, end, from) =
                    (r.keyspace.clone(), r.table.clone(), r.start, r.end, resume.take());
                let page = tokio::task::spawn_blocking(move || {
                    c.stream_page(&ks, &table, start, end, from.as_deref(), ROWS_PER_PAGE)
                })
                .await;
                let page = match page {
                    Ok(Ok(p)) => p,
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                        streams.finish(id, false);
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                        streams.finish(id, false);
                        return;
                    }
                };
                throttle.acquire(page.payload.len()).await;
                streams.progress(id, page.payload.len(), page.partitions);
                let chunk = StreamChunk {
                    seq,
                    crc32: crc32fast::hash(&page.payload),
                    partitions: page.partitions,
                    payload: page.payload,
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    // The receiver went away.
                    streams.finish(id, false);
                    return;
                }
                seq += 1;
                match page.next {
                    Some(next) => resume = Some(next),
                    None => break,
                }
            }
            streams.finish(id, true);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Why a range could not be streamed in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("cannot reach {peer} to stream: {reason}")]
    Unreachable { peer: SocketAddr, reason: String },
    #[error("{peer} failed the stream ({code:?}): {message}")]
    Remote {
        peer: SocketAddr,
        code: Code,
        message: String,
    },
    #[error("chunk {seq} from {peer} is corrupt: CRC32 {actual:#010x}, expected {expected:#010x}")]
    ChecksumMismatch {
        peer: SocketAddr,
        seq: u64,
        expected: u32,
        actual: u32,
    },
    #[error("chunk {seq} from {peer} arrived out of order (expected {expected})")]
    OutOfOrder {
        peer: SocketAddr,
        seq: u64,
        expected: u64,
    },
    #[error("no chunk from {peer} within {timeout:?}")]
    Timeout { peer: SocketAddr, timeout: Duration },
    #[error("applying a chunk from {peer} failed: {reason}")]
    Apply { peer: SocketAddr, reason: String },
}

impl StreamError {
    /// Whether trying the range again may succeed (the network or the sender hiccuped, or a
    /// chunk was damaged on the way); applying failing here is not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            StreamError::Unreachable { .. }
            | StreamError::ChecksumMismatch { .. }
            | StreamError::OutOfOrder { .. }
            | StreamError::Timeout { .. } => true,
            StreamError::Remote { code, .. } => matches!(
                code,
                Code::Unavailable
                    | Code::Unknown
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::ResourceExhausted
                    | Code::Cancelled
            ),
            StreamError::Apply { .. } => false,
        }
    }
}

/// What one stream brought in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub chunks: u64,
    pub partitions: u64,
    pub bytes: u64,
}

/// A token range `(start, end]` of a table to stream (`None` = unbounded; never wrapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    pub keyspace: String,
    pub table: String,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// Streams one range of a table from `peer` (its gRPC endpoint) into this node's store.
/// `chunk_timeout` bounds the wait for each chunk. Chunks are applied as they arrive, so a
/// stream that fails midway leaves some rows here: harmless, the range is not owned until
/// every stream finished and a retry applies the same rows again.
pub async fn fetch_range(
    coordinator: &Arc<Coordinator>,
    streams: &Streams,
    local: IpAddr,
    peer: SocketAddr,
    range: &RangeRequest,
    chunk_timeout: Duration,
) -> Result<Received, StreamError> {
    let id = streams.start(
        Direction::Inbound,
        peer.ip().to_string(),
        &range.keyspace,
        &range.table,
    );
    let result = fetch(coordinator, streams, id, local, peer, range, chunk_timeout).await;
    streams.finish(id, result.is_ok());
    result
}

async fn fetch(
    coordinator: &Arc<Coordinator>,
    streams: &Streams,
    id: u64,
    local: IpAddr,
    peer: SocketAddr,
    range: &RangeRequest,
    chunk_timeout: Duration,
) -> Result<Received, StreamError> {
    let unreachable = |reason: String| StreamError::Unreachable { peer, reason };
    let remote = |s: Status| StreamError::Remote {
        peer,
        code: s.code(),
        message: s.message().to_owned(),
    };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{peer}"))
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(chunk_timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let mut client =
        StreamingClient::new(channel).max_decoding_message_size(MAX_CHUNK_BYTES + 1024);
    let request = StreamRangeRequest {
        from: local.to_string(),
        keyspace: range.keyspace.clone(),
        table: range.table.clone(),
        start: range.start,
        end: range.end,
    };
    let mut stream = tokio::time::timeout(chunk_timeout, client.stream_range(request))
        .await
        .map_err(|_| StreamError::Timeout {
            peer,
            timeout: chunk_timeout,
        })?
        .map_err(remote)?
        .into_inner();
    let mut got = Received::default();
    loop {
        let chunk = tokio::time::timeout(chunk_timeout, stream.message())
            .await
            .map_err(|_| StreamError::Timeout {
                peer,
                timeout: chunk_timeout,
            })?
            .map_err(remote)?;
        let Some(chunk) = chunk else { break };
        if chunk.seq != got.chunks {
            return Err(StreamError::OutOfOrder {
                peer,
                seq: chunk.seq,
                expected: got.chunks,
            });
        }
        let actual = crc32fast::hash(&chunk.payload);
        if actual != chunk.crc32 {
            return Err(StreamError::ChecksumMismatch {
                peer,
                seq: chunk.seq,
                expected: chunk.crc32,
                actual,
            });
        }
        let c = coordinator.clone();
        let payload = chunk.payload.clone();
        let partitions = tokio::task::spawn_blocking(move || c.apply_stream_page(&payload))
            .await
            .map_err(|e| StreamError::Apply {
                peer,
                reason: e.to_string(),
            })?
            .map_err(|e| StreamError::Apply {
                peer,
                reason: e.to_string(),
            })?;
        got.chunks += 1;
        got.partitions += u64::from(partitions);
        got.bytes += chunk.payload.len() as u64;
        streams.progress(id, chunk.payload.len(), partitions);
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_throttle_spaces_chunks_at_the_configured_rate() {
        // 8 megabits per second = 1,000,000 bytes per second.
        let t = Throttle::megabits(8);
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            t.acquire(500_000).await;
        }
        // The first chunk leaves at once, the fourth after 1.5 s.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1400) && waited <= Duration::from_millis(1600),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unthrottled_stream_never_waits() {
        let t = Throttle::megabits(0);
        let start = tokio::time::Instant::now();
        t.acquire(1 << 30).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
