//! The receiving side: [`fetch_range`] asks a peer for a range and takes in what comes: files
//! sent whole into a temporary file under `data_dir/stream-incoming`, checked (XXH64) and
//! ingested; row chunks applied like writes.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::Coordinator;
use tokio::io::AsyncWriteExt;
use tonic::{Code, Status};

use super::{Direction, MAX_CHUNK_BYTES, Streams};
use crate::cluster::proto::streaming_client::StreamingClient;
use crate::cluster::proto::{StreamChunk, StreamFilePart, StreamRangeRequest};

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
    #[error("file {file} from {peer} is corrupt: XXH64 {actual:#018x}, expected {expected:#018x}")]
    FileChecksumMismatch {
        peer: SocketAddr,
        file: u64,
        expected: u64,
        actual: u64,
    },
    #[error("chunk {seq} from {peer} breaks the file protocol: {reason}")]
    BadFileChunk {
        peer: SocketAddr,
        seq: u64,
        reason: &'static str,
    },
    #[error("writing the incoming file {} failed: {reason}", path.display())]
    Incoming { path: PathBuf, reason: String },
    #[error("file {file} from {peer} was refused: {reason}")]
    Ingest {
        peer: SocketAddr,
        file: u64,
        reason: String,
    },
}

impl StreamError {
    /// Whether trying the range again may succeed (the network or the sender hiccuped, or a
    /// chunk was damaged on the way); applying failing here is not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            StreamError::Unreachable { .. }
            | StreamError::ChecksumMismatch { .. }
            | StreamError::FileChecksumMismatch { .. }
            | StreamError::BadFileChunk { .. }
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
            // A file that arrived intact and is still refused is damaged at the sender; a
            // local disk failure does not go away by asking again.
            StreamError::Apply { .. }
            | StreamError::Incoming { .. }
            | StreamError::Ingest { .. } => false,
        }
    }
}

/// What one stream brought in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub chunks: u64,
    /// Partitions received as rows.
    pub partitions: u64,
    /// Row chunks' payloads and whole files.
    pub bytes: u64,
    /// Files received whole and ingested.
    pub files: u64,
}

/// A token range `(start, end]` of a table to stream (`None` = unbounded; never wrapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    pub keyspace: String,
    pub table: String,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Rows only: no file whole, no flush on the sender (repair).
    pub rows_only: bool,
}

/// Streams one range of a table from `peer` (its gRPC endpoint) into this node's store.
/// `chunk_timeout` bounds the wait for each chunk. Chunks and files are applied as they
/// arrive, so a stream that fails midway leaves some rows or files here: harmless, the range
/// is not owned until every stream finished, and a retry applies the same rows and ingests the
/// same files again (their values are merge operands: twice is once, at the cost of the disk
/// space until compaction merges the copies).
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
    let channel = crate::tls::internode::connect(&endpoint)
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
        rows_only: range.rows_only,
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
    let mut incoming: Option<IncomingFile> = None;
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
        got.chunks += 1;
        got.bytes += chunk.payload.len() as u64;
        let Some(part) = chunk.file else {
            if incoming.is_some() {
                return Err(StreamError::BadFileChunk {
                    peer,
                    seq: chunk.seq,
                    reason: "rows before the file in progress ended",
                });
            }
            let partitions = apply_rows(coordinator, peer, chunk.payload.clone()).await?;
            got.partitions += u64::from(partitions);
            streams.progress(id, chunk.payload.len(), partitions);
            continue;
        };
        streams.progress(id, chunk.payload.len(), 0);
        let file = match incoming.as_mut() {
            Some(f) => f,
            None => {
                let path = coordinator.stream_incoming_dir().join(format!(
                    "{id}-{}-{}.sst.tmp",
                    peer.ip(),
                    part.id
                ));
                incoming.insert(IncomingFile::create(path, &part, peer, chunk.seq).await?)
            }
        };
        if let Some(expected) = file.add(&part, &chunk, peer).await? {
            let done = incoming.take();
            if let Some(done) = done {
                done.ingest(coordinator, peer, range, expected).await?;
                got.files += 1;
                streams.file_done(id);
            }
        }
    }
    if incoming.is_some() {
        return Err(StreamError::BadFileChunk {
            peer,
            seq: got.chunks,
            reason: "the stream ended inside a file",
        });
    }
    Ok(got)
}

async fn apply_rows(
    coordinator: &Arc<Coordinator>,
    peer: SocketAddr,
    payload: bytes::Bytes,
) -> Result<u32, StreamError> {
    let c = coordinator.clone();
    tokio::task::spawn_blocking(move || c.apply_stream_page(&payload))
        .await
        .map_err(|e| StreamError::Apply {
            peer,
            reason: e.to_string(),
        })?
        .map_err(|e| StreamError::Apply {
            peer,
            reason: e.to_string(),
        })
}

/// A file arriving whole, written into a temporary file that is removed when this is dropped
/// (after the ingest, or when the stream fails).
struct IncomingFile {
    id: u64,
    size: u64,
    written: u64,
    path: PathBuf,
    file: tokio::fs::File,
    hasher: xxhash_rust::xxh64::Xxh64,
}

impl IncomingFile {
    async fn create(
        path: PathBuf,
        part: &StreamFilePart,
        peer: SocketAddr,
        seq: u64,
    ) -> Result<IncomingFile, StreamError> {
        if part.offset != 0 {
            return Err(StreamError::BadFileChunk {
                peer,
                seq,
                reason: "a file's first chunk does not start at offset 0",
            });
        }
        let io = |e: std::io::Error| StreamError::Incoming {
            path: path.clone(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let file = tokio::fs::File::create(&path).await.map_err(io)?;
        Ok(IncomingFile {
            id: part.id,
            size: part.size,
            written: 0,
            path,
            file,
            hasher: xxhash_rust::xxh64::Xxh64::new(0),
        })
    }

    /// Appends a chunk; returns the file's expected XXH64 once it is complete.
    async fn add(
        &mut self,
        part: &StreamFilePart,
        chunk: &StreamChunk,
        peer: SocketAddr,
    ) -> Result<Option<u64>, StreamError> {
        let bad = |reason| StreamError::BadFileChunk {
            peer,
            seq: chunk.seq,
            reason,
        };
        if part.id != self.id || part.size != self.size {
            return Err(bad("a chunk of another file before this one ended"));
        }
        if part.offset != self.written {
            return Err(bad("a file chunk does not continue where the last ended"));
        }
        let end = self.written + chunk.payload.len() as u64;
        if end > self.size || chunk.payload.is_empty() {
            return Err(bad("a file chunk is empty or runs past the file's size"));
        }
        if let Err(e) = self.file.write_all(&chunk.payload).await {
            return Err(StreamError::Incoming {
                path: self.path.clone(),
                reason: e.to_string(),
            });
        }
        self.hasher.update(&chunk.payload);
        self.written = end;
        match (end == self.size, part.xxh64) {
            (true, Some(expected)) => Ok(Some(expected)),
            (false, None) => Ok(None),
            (true, None) => Err(bad("a file's last chunk carries no XXH64")),
            (false, Some(_)) => Err(bad("an XXH64 before the file's last chunk")),
        }
    }

    /// Checks the whole file's XXH64 and adds it to the table.
    async fn ingest(
        mut self,
        coordinator: &Arc<Coordinator>,
        peer: SocketAddr,
        range: &RangeRequest,
        expected: u64,
    ) -> Result<(), StreamError> {
        if let Err(e) = self.file.flush().await {
            return Err(StreamError::Incoming {
                path: self.path.clone(),
                reason: e.to_string(),
            });
        }
        let actual = self.hasher.digest();
        if actual != expected {
            return Err(StreamError::FileChecksumMismatch {
                peer,
                file: self.id,
                expected,
                actual,
            });
        }
        let c = coordinator.clone();
        let (path, range) = (self.path.clone(), range.clone());
        let ingested = tokio::task::spawn_blocking(move || {
            c.ingest_stream_file(&range.keyspace, &range.table, &path, range.start, range.end)
        })
        .await;
        let reason = match ingested {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        Err(StreamError::Ingest {
            peer,
            file: self.id,
            reason,
        })
    }
}

impl Drop for IncomingFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot remove an incoming stream file");
        }
    }
}

/// Removes what streams left in `dir` (`data_dir/stream-incoming`) when the node stopped
/// while files arrived: called once at start, before any stream runs.
pub(crate) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "tmp")
            && let Err(err) = std::fs::remove_file(&path)
        {
            tracing::warn!(file = %path.display(), error = %err, "cannot remove a leftover incoming stream file");
        }
    }
}
