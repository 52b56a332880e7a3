//! The sending side: the `Streaming` gRPC service. A range goes out as the table's files that
//! lie wholly inside it, whole, then the rest as rows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ilion_coordinator::Coordinator;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::receive::{RangeRequest, fetch_range};
use super::{FILE_CHUNK_BYTES, PARTITIONS_PER_PAGE, Streams, Throttle};
use crate::cluster::proto::streaming_server::Streaming;
use crate::cluster::proto::{
    DeliverHintsRequest, DeliverHintsResponse, FetchRequest, FetchResponse, MarkRepairedRequest,
    MarkRepairedResponse, RepairedRange, StreamChunk, StreamFilePart, StreamRangeRequest,
    UnrepairedRequest, UnrepairedResponse, ValidateRequest, ValidateResponse,
};

/// The sending side: the `Streaming` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct StreamingService {
    pub coordinator: Arc<Coordinator>,
    pub throttle: Arc<Throttle>,
    pub streams: Arc<Streams>,
    /// This node's listen address (named in the streams it asks for).
    pub local: std::net::IpAddr,
    /// How long a fetch waits for each chunk.
    pub chunk_timeout: Duration,
}

/// Why an outbound stream stopped early.
enum Stop {
    /// Reading the store failed: the receiver is told.
    Failed(Status),
    /// The receiver went away.
    Gone,
}

/// One outbound stream: where its chunks go and what it has sent.
struct Outbound {
    coordinator: Arc<Coordinator>,
    throttle: Arc<Throttle>,
    streams: Arc<Streams>,
    id: u64,
    tx: mpsc::Sender<Result<StreamChunk, Status>>,
    seq: u64,
}

/// Runs `f` on a blocking thread; a panic there is an internal error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ilion_coordinator::Result<T> + Send + 'static,
) -> Result<T, Stop> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Stop::Failed(Status::internal(e.to_string()))),
        Err(e) => Err(Stop::Failed(Status::internal(e.to_string()))),
    }
}

impl Outbound {
    async fn send(&mut self, chunk: StreamChunk) -> Result<(), Stop> {
        self.throttle.acquire(chunk.payload.len()).await;
        self.streams
            .progress(self.id, chunk.payload.len(), chunk.partitions);
        self.tx.send(Ok(chunk)).await.map_err(|_| Stop::Gone)?;
        self.seq += 1;
        Ok(())
    }

    /// The whole range: files inside it whole, then the rest as rows.
    async fn range(&mut self, r: &StreamRangeRequest) -> Result<(), Stop> {
        let c = self.coordinator.clone();
        let (ks, table, start, end) = (r.keyspace.clone(), r.table.clone(), r.start, r.end);
        let files = if r.rows_only {
            Vec::new()
        } else {
            blocking(move || c.stream_files(&ks, &table, start, end)).await?
        };
        let mut exclude = Vec::with_capacity(files.len());
        for f in files {
            exclude.push(f.id());
            self.file(f).await?;
        }
        let exclude = Arc::new(exclude);
        let mut resume: Option<Vec<u8>> = None;
        loop {
            let c = self.coordinator.clone();
            let (ks, table, from, exclude) = (
                r.keyspace.clone(),
                r.table.clone(),
                resume.take(),
                exclude.clone(),
            );
            let page = blocking(move || {
                c.stream_page(
                    &ks,
                    &table,
                    (start, end),
                    from.as_deref(),
                    PARTITIONS_PER_PAGE,
                    &exclude,
                )
            })
            .await?;
            self.send(StreamChunk {
                seq: self.seq,
                crc32: crc32fast::hash(&page.payload),
                partitions: page.partitions,
                payload: page.payload,
                file: None,
            })
            .await?;
            match page.next {
                Some(next) => resume = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// One file, whole, in chunks of [`FILE_CHUNK_BYTES`]; the last carries its XXH64.
    async fn file(&mut self, f: ilion_lsm::LiveFile) -> Result<(), Stop> {
        let size = f.len();
        let mut hasher = xxhash_rust::xxh64::Xxh64::new(0);
        let mut offset = 0u64;
        while offset < size {
            let part = f.clone();
            // Copied out of the file's mapping on a blocking thread: a read may fault pages in.
            let payload = tokio::task::spawn_blocking(move || {
                Bytes::copy_from_slice(part.read_at(offset, FILE_CHUNK_BYTES))
            })
            .await
            .map_err(|e| Stop::Failed(Status::internal(e.to_string())))?;
            if payload.is_empty() {
                return Err(Stop::Failed(Status::internal(format!(
                    "file {} ended at {offset} of {size} bytes",
                    f.id()
                ))));
            }
            hasher.update(&payload);
            let next = offset + payload.len() as u64;
            let part = StreamFilePart {
                id: f.id(),
                size,
                offset,
                xxh64: (next >= size).then(|| hasher.digest()),
            };
            self.send(StreamChunk {
                seq: self.seq,
                crc32: crc32fast::hash(&payload),
                partitions: 0,
                payload,
                file: Some(part),
            })
            .await?;
            offset = next;
        }
        self.streams.file_done(self.id);
        Ok(())
    }
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
        let streams = self.streams.clone();
        let id = streams.start(
            super::Direction::Outbound,
            r.from.clone(),
            &r.keyspace,
            &r.table,
        );
        tracing::info!(to = %r.from, keyspace = %r.keyspace, table = %r.table,
            start = ?r.start, end = ?r.end, "streaming a range out");
        let mut out = Outbound {
            coordinator: self.coordinator.clone(),
            throttle: self.throttle.clone(),
            streams: streams.clone(),
            id,
            tx,
            seq: 0,
        };
        tokio::spawn(async move {
            match out.range(&r).await {
                Ok(()) => streams.finish(id, true),
                Err(Stop::Failed(status)) => {
                    let _ = out.tx.send(Err(status)).await;
                    streams.finish(id, false);
                }
                Err(Stop::Gone) => streams.finish(id, false),
            }
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
            rows_only: r.rows_only,
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
                        files: got.files,
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

    async fn validate(
        &self,
        request: Request<ValidateRequest>,
    ) -> Result<Response<ValidateResponse>, Status> {
        let r = request.into_inner();
        let c = self.coordinator.clone();
        let (ks, table) = (r.keyspace.clone(), r.table.clone());
        let started = std::time::Instant::now();
        let validated =
            tokio::task::spawn_blocking(move || c.merkle_tree(&ks, &table, (r.start, r.end)))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(|e| {
                    Status::failed_precondition(format!(
                        "cannot validate {}.{}: {e}",
                        r.keyspace, r.table
                    ))
                })?;
        let (tree, bytes_read) = (validated.tree, validated.bytes);
        tracing::debug!(from = %r.from, keyspace = %r.keyspace, table = %r.table,
            start = ?r.start, end = ?r.end, partitions = tree.partitions(), depth = tree.depth(),
            elapsed = ?started.elapsed(), "validated a range for repair");
        Ok(Response::new(ValidateResponse {
            depth: u32::from(tree.depth()),
            leaves: Bytes::from(tree.leaf_bytes()),
            partitions: tree.partitions(),
            bytes_read,
        }))
    }

    async fn unrepaired(
        &self,
        request: Request<UnrepairedRequest>,
    ) -> Result<Response<UnrepairedResponse>, Status> {
        let r = request.into_inner();
        let (ranges, now) = self
            .coordinator
            .unrepaired_ranges(&r.keyspace, &r.table, (r.start, r.end))
            .map_err(|e| {
                Status::failed_precondition(format!(
                    "cannot read the write times of {}.{}: {e}",
                    r.keyspace, r.table
                ))
            })?;
        Ok(Response::new(UnrepairedResponse {
            ranges: ranges
                .into_iter()
                .map(|(start, end)| RepairedRange { start, end })
                .collect(),
            now,
        }))
    }

    async fn deliver_hints(
        &self,
        _: Request<DeliverHintsRequest>,
    ) -> Result<Response<DeliverHintsResponse>, Status> {
        let c = self.coordinator.clone();
        let delivered = tokio::task::spawn_blocking(move || match c.replication() {
            Some(r) => r.deliver_hints().map_err(|e| e.to_string()),
            None => Ok(0),
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::unavailable)?;
        Ok(Response::new(DeliverHintsResponse {
            delivered: delivered as u64,
        }))
    }

    async fn mark_repaired(
        &self,
        request: Request<MarkRepairedRequest>,
    ) -> Result<Response<MarkRepairedResponse>, Status> {
        let r = request.into_inner();
        let c = self.coordinator.clone();
        let ranges: Vec<_> = r.ranges.iter().map(|x| (x.start, x.end)).collect();
        tokio::task::spawn_blocking(move || {
            c.record_repair(&r.keyspace, &r.table, &ranges, r.repaired_at, r.asked)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(MarkRepairedResponse {}))
    }
}
