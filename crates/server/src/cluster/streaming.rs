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
use super::proto::{FetchRequest, FetchResponse, StreamChunk, StreamRangeRequest};

/// Partitions per streamed page at most (a page also stops at about
/// `ilion_coordinator::STREAM_PAGE_BYTES` stored bytes).
const PARTITIONS_PER_PAGE: u32 = 10_000;

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

/// The sending side: the `Streaming` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct StreamingService {
    pub coordinator: Arc<Coordinator>,
    pub throttle: Arc<Throttle>,
    pub streams: Arc<Streams>,
    /// This node's listen address (named in the streams it asks for).
    pub local: IpAddr,
    /// How long a fetch waits for each chunk.
    pub chunk_timeout: Duration,
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
                let (ks, table, start, end, from) = (
                    r.keyspace.clone(),
                    r.table.clone(),
                    r.start,
                    r.end,
                    resume.take(),
                );
                let page = tokio::task::spawn_blocking(move || {
                    c.stream_page(
                        &ks,
                        &table,
                        start,
                        end,
                        from.as_deref(),
                        PARTITIONS_PER_PAGE,
                    )
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

    async fn fetch(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<FetchResponse>, Status> {
        let r = request.into_inner();
        let source: SocketAddr = r
            .source
            .parse()
            .map_err(|_| Status::invalid_argument(format!("bad source endpoint {:?}", r.source)))?;
        let range = RangeRequest {
            keyspace: r.keyspace,
            table: r.table,
            start: r.start,
            end: r.end,
        };
        let mut attempt = 1;
        loop {
            match fetch_range(
                &self.coordinator,
                &self.streams,
                self.local,
                source,
                &range,
                self.chunk_timeout,
            )
            .await
            {
                Ok(got) => {
                    return Ok(Response::new(FetchResponse {
                        partitions: got.partitions,
                        bytes: got.bytes,
                    }));
                }
                Err(e) if e.is_transient() && attempt < 3 => {
                    tracing::warn!(%source, attempt, error = %e, "fetch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(Status::unavailable(e.to_string())),
            }
        }
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
    use ilion_coordinator::{CoordinatorConfig, Session};
    use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};

    use super::super::proto::streaming_server::StreamingServer;
    use super::*;

    fn node(dir: &std::path::Path) -> Arc<Coordinator> {
        let c = Coordinator::builder(CoordinatorConfig {
            cluster_name: "test".into(),
            listen_address: IpAddr::from([127, 0, 0, 1]),
            native_address: IpAddr::from([127, 0, 0, 1]),
            native_port: 9042,
            storage_port: 7000,
            data_center: "dc1".into(),
            rack: "r1".into(),
            num_tokens: 4,
            data_dir: dir.to_owned(),
        })
        .in_memory()
        .open()
        .unwrap();
        for stmt in [
            "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))",
        ] {
            run(&c, stmt);
        }
        Arc::new(c)
    }

    fn run(c: &Coordinator, stmt: &str) -> ResultBody {
        c.query(
            &Session::default(),
            stmt,
            &QueryParameters::new(Consistency::One),
        )
        .unwrap()
    }

    fn keys(c: &Coordinator) -> std::collections::BTreeSet<i32> {
        let ResultBody::Rows(rows) = run(c, "SELECT k FROM ks.t") else {
            panic!("not rows")
        };
        rows.rows()
            .map(|r| {
                let b = r[0].as_ref().unwrap();
                i32::from_be_bytes([b[0], b[1], b[2], b[3]])
            })
            .collect()
    }

    fn token(k: i32) -> i64 {
        ilion_ring::Murmur3Partitioner
            .token(&k.to_be_bytes())
            .value()
    }

    async fn serve(source: Arc<Coordinator>, megabits: u32) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = StreamingService {
            coordinator: source,
            throttle: Arc::new(Throttle::megabits(megabits)),
            streams: Arc::new(Streams::default()),
            local: IpAddr::from([127, 0, 0, 1]),
            chunk_timeout: Duration::from_secs(10),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(StreamingServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        address
    }

    fn range(start: Option<i64>, end: Option<i64>) -> RangeRequest {
        RangeRequest {
            keyspace: "ks".into(),
            table: "t".into(),
            start,
            end,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_range_brings_exactly_its_rows_and_their_deletions() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let source = node(dirs[0].path());
        // 1,200 rows of 1 KB in 600 partitions: more than one page (1 MiB).
        let pad = "x".repeat(1_000);
        for k in 0..600 {
            for c in 0..2 {
                run(
                    &source,
                    &format!(
                        "INSERT INTO ks.t (k, c, v) VALUES ({k}, {c}, 'v{k}{pad}') USING TIMESTAMP 10"
                    ),
                );
            }
        }
        // A row the receiver has in an older version, deleted on the source.
        run(
            &source,
            "DELETE FROM ks.t USING TIMESTAMP 20 WHERE k = 7 AND c = 0",
        );
        let peer = serve(source.clone(), 0).await;

        let whole = node(dirs[1].path());
        run(
            &whole,
            "INSERT INTO ks.t (k, c, v) VALUES (7, 0, 'old') USING TIMESTAMP 5",
        );
        let streams = Streams::default();
        let local = IpAddr::from([127, 0, 0, 2]);
        let got = fetch_range(
            &whole,
            &streams,
            local,
            peer,
            &range(None, None),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        // Pages never split a partition.
        assert_eq!(got.partitions, 600, "{got:?}");
        assert!(got.chunks > 1, "{got:?}");
        assert_eq!(keys(&whole), (0..600).collect());
        let ResultBody::Rows(rows) = run(&whole, "SELECT v FROM ks.t WHERE k = 7 AND c = 0") else {
            panic!("not rows")
        };
        assert_eq!(
            rows.rows().count(),
            0,
            "the deletion travelled with the range"
        );
        assert!(streams.list().iter().all(|s| s.finished == Some(true)));

        // Only (0, MAX]: the partitions with a token in it, no others.
        let part = node(dirs[2].path());
        fetch_range(
            &part,
            &streams,
            local,
            peer,
            &range(Some(0), None),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let want: std::collections::BTreeSet<i32> = (0..600).filter(|k| token(*k) > 0).collect();
        assert!(!want.is_empty() && want.len() < 600);
        assert_eq!(keys(&part), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_of_an_unknown_table_fails_for_good_and_a_dead_peer_is_transient() {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let source = node(dirs[0].path());
        let peer = serve(source, 0).await;
        let dest = node(dirs[1].path());
        let streams = Streams::default();
        let local = IpAddr::from([127, 0, 0, 2]);
        let mut bad = range(None, None);
        bad.table = "nope".into();
        let err = fetch_range(&dest, &streams, local, peer, &bad, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Remote {
                    code: Code::NotFound,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.is_transient());
        let wrapping = range(Some(10), Some(-10));
        let err = fetch_range(
            &dest,
            &streams,
            local,
            peer,
            &wrapping,
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Remote {
                    code: Code::InvalidArgument,
                    ..
                }
            ),
            "{err}"
        );
        // Nobody listens there.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = fetch_range(
            &dest,
            &streams,
            local,
            closed,
            &range(None, None),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StreamError::Unreachable { .. }), "{err}");
        assert!(err.is_transient());
        assert!(streams.list().iter().all(|s| s.finished == Some(false)));
    }

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
