//! In-process streams between coordinators over real gRPC on free ports.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::{Coordinator, CoordinatorConfig, Session};
use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody};
use tonic::{Code, Request, Response, Status};

use super::*;
use crate::cluster::proto::streaming_server::StreamingServer;
use crate::cluster::proto::{StreamChunk, StreamFilePart, StreamRangeRequest};

fn node(dir: &std::path::Path) -> Arc<Coordinator> {
    open_node(dir, true)
}

/// A node whose tables are on disk (engine files it can send whole and take in).
fn disk_node(dir: &std::path::Path) -> Arc<Coordinator> {
    open_node(dir, false)
}

fn open_node(dir: &std::path::Path, in_memory: bool) -> Arc<Coordinator> {
    let builder = Coordinator::builder(CoordinatorConfig {
        cluster_name: "test".into(),
        listen_address: IpAddr::from([127, 0, 0, 1]),
        native_address: IpAddr::from([127, 0, 0, 1]),
        native_port: 9042,
        storage_port: 7000,
        data_center: "dc1".into(),
        rack: "r1".into(),
        num_tokens: 4,
        data_dir: dir.to_owned(),
    });
    let builder = if in_memory {
        builder.in_memory()
    } else {
        builder
    };
    let c = builder.open().unwrap();
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

/// Streams `range` from `peer` into `dest` as 127.0.0.2, waiting up to 10 s per chunk.
async fn pull(
    dest: &Arc<Coordinator>,
    streams: &Streams,
    peer: SocketAddr,
    range: &RangeRequest,
) -> Result<Received, StreamError> {
    let local = IpAddr::from([127, 0, 0, 2]);
    fetch_range(dest, streams, local, peer, range, Duration::from_secs(10)).await
}

fn range(start: Option<i64>, end: Option<i64>) -> RangeRequest {
    RangeRequest {
        keyspace: "ks".into(),
        table: "t".into(),
        start,
        end,
        rows_only: false,
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
    let got = pull(&whole, &streams, peer, &range(None, None))
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
    pull(&part, &streams, peer, &range(Some(0), None))
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
    let err = pull(&dest, &streams, peer, &bad).await.unwrap_err();
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
    let err = pull(&dest, &streams, peer, &wrapping).await.unwrap_err();
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
async fn a_new_stream_throughput_applies_to_the_next_chunk() {
    let t = Throttle::megabits(8);
    t.acquire(1_000_000).await;
    // At 8 Mb/s the next megabyte would wait a second; lifted, it leaves at once.
    t.set_megabits(0);
    assert_eq!(t.rate_megabits(), 0);
    let start = tokio::time::Instant::now();
    t.acquire(1_000_000).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    // At 80 Mb/s (10 MB/s), 1 MB then another wait 0.1 s between them.
    t.set_megabits(80);
    t.acquire(1_000_000).await;
    t.acquire(1_000_000).await;
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(90) && waited <= Duration::from_millis(110),
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

/// Every (k, c, v) row of the table whose partition's token is in `(start, end]`.
fn rows_in(c: &Coordinator, start: i64, end: i64) -> BTreeSet<(i32, i32, String)> {
    let ResultBody::Rows(rows) = run(c, "SELECT k, c, v FROM ks.t") else {
        panic!("not rows")
    };
    let int = |b: &Option<bytes::Bytes>| {
        let b = b.as_ref().unwrap();
        i32::from_be_bytes([b[0], b[1], b[2], b[3]])
    };
    rows.rows()
        .map(|r| {
            (
                int(&r[0]),
                int(&r[1]),
                String::from_utf8(r[2].clone().unwrap().to_vec()).unwrap(),
            )
        })
        .filter(|(k, _, _)| token(*k) > start && token(*k) <= end)
        .collect()
}

/// Keys (from 0 up) whose token is in `(start, end]`, `n` of them.
fn keys_with_tokens(start: i64, end: i64, n: usize) -> Vec<i32> {
    (0..)
        .filter(|k| token(*k) > start && token(*k) <= end)
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_inside_the_range_go_whole_and_the_rest_as_rows_with_every_deletion() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let source = disk_node(dirs[0].path());
    let (start, end) = (0, i64::MAX / 2);
    let insert = |k: i32, c: i32, ts: i64| {
        run(
            &source,
            &format!(
                "INSERT INTO ks.t (k, c, v) VALUES ({k}, {c}, 'v{k}.{c}') USING TIMESTAMP {ts}"
            ),
        );
    };
    // File 1, inside (start, end]: 40 partitions of the range's first half.
    let first = keys_with_tokens(start, end / 2, 40);
    for &k in &first {
        insert(k, 0, 10);
        insert(k, 1, 10);
    }
    source.store().flush().unwrap();
    // File 2 straddles the range: keys all over the ring, and a deletion of a row of file 1.
    for k in 10_000..10_100 {
        insert(k, 0, 10);
    }
    run(
        &source,
        &format!(
            "DELETE FROM ks.t USING TIMESTAMP 20 WHERE k = {} AND c = 1",
            first[0]
        ),
    );
    source.store().flush().unwrap();
    // In the memtable (the sender flushes it: file 3, inside): the second half's partitions,
    // a partition deletion of another file-1 partition.
    let second = keys_with_tokens(end / 2, end, 30);
    for &k in &second {
        insert(k, 0, 10);
    }
    run(
        &source,
        &format!("DELETE FROM ks.t USING TIMESTAMP 20 WHERE k = {}", first[1]),
    );
    let peer = serve(source.clone(), 0).await;

    let dest = disk_node(dirs[1].path());
    // The receiver's own older version of a row the source deleted.
    run(
        &dest,
        &format!(
            "INSERT INTO ks.t (k, c, v) VALUES ({}, 1, 'old') USING TIMESTAMP 5",
            first[0]
        ),
    );
    let streams = Streams::default();
    let got = pull(&dest, &streams, peer, &range(Some(start), Some(end)))
        .await
        .unwrap();
    assert_eq!(got.files, 2, "files 1 and 3 went whole: {got:?}");
    let straddling_in_range = (10_000..10_100)
        .filter(|k| token(*k) > start && token(*k) <= end)
        .count() as u64;
    assert_eq!(
        got.partitions,
        straddling_in_range + 1,
        "rows only of the straddling file's partitions in the range, and its row deletion: {got:?}"
    );
    let want = rows_in(&source, start, end);
    assert!(!want.iter().any(|(k, c, _)| *k == first[0] && *c == 1));
    assert!(!want.iter().any(|(k, _, _)| *k == first[1]));
    assert_eq!(
        rows_in(&dest, i64::MIN, i64::MAX),
        want,
        "exactly the range, deletions applied"
    );
    let inbound = streams.list();
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].files, 2);
    assert_eq!(
        inbound[0].bytes, got.bytes,
        "netstats counts the files' bytes"
    );
    assert!(
        std::fs::read_dir(dest.stream_incoming_dir())
            .unwrap()
            .next()
            .is_none(),
        "no temporary file is left"
    );

    // A retried stream ingests the same files again: the same rows.
    pull(&dest, &streams, peer, &range(Some(start), Some(end)))
        .await
        .unwrap();
    assert_eq!(rows_in(&dest, i64::MIN, i64::MAX), want);
}

/// A sender that answers every stream with the same chunks.
#[derive(Clone)]
struct Canned(Vec<StreamChunk>);

#[tonic::async_trait]
impl crate::cluster::proto::streaming_server::Streaming for Canned {
    type StreamRangeStream = tokio_stream::Iter<std::vec::IntoIter<Result<StreamChunk, Status>>>;

    async fn stream_range(
        &self,
        _: Request<StreamRangeRequest>,
    ) -> Result<Response<Self::StreamRangeStream>, Status> {
        let chunks: Vec<_> = self.0.iter().cloned().map(Ok).collect();
        Ok(Response::new(tokio_stream::iter(chunks)))
    }

    async fn fetch(
        &self,
        _: Request<crate::cluster::proto::FetchRequest>,
    ) -> Result<Response<crate::cluster::proto::FetchResponse>, Status> {
        Err(Status::unimplemented("canned"))
    }

    async fn validate(
        &self,
        _: Request<crate::cluster::proto::ValidateRequest>,
    ) -> Result<Response<crate::cluster::proto::ValidateResponse>, Status> {
        Err(Status::unimplemented("canned"))
    }

    async fn deliver_hints(
        &self,
        _: Request<crate::cluster::proto::DeliverHintsRequest>,
    ) -> Result<Response<crate::cluster::proto::DeliverHintsResponse>, Status> {
        Err(Status::unimplemented("canned"))
    }

    async fn mark_repaired(
        &self,
        _: Request<crate::cluster::proto::MarkRepairedRequest>,
    ) -> Result<Response<crate::cluster::proto::MarkRepairedResponse>, Status> {
        Err(Status::unimplemented("canned"))
    }

    async fn unrepaired(
        &self,
        _: Request<crate::cluster::proto::UnrepairedRequest>,
    ) -> Result<Response<crate::cluster::proto::UnrepairedResponse>, Status> {
        Err(Status::unimplemented("canned"))
    }
}

async fn serve_canned(chunks: Vec<StreamChunk>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(StreamingServer::new(Canned(chunks)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    address
}

/// One file of `bytes` in two chunks, each with a correct CRC32; the last names `xxh64`.
fn file_chunks(bytes: &[u8], xxh64: u64) -> Vec<StreamChunk> {
    let half = bytes.len() / 2;
    [(0, &bytes[..half]), (1, &bytes[half..])]
        .into_iter()
        .map(|(seq, payload)| StreamChunk {
            seq,
            payload: bytes::Bytes::copy_from_slice(payload),
            crc32: crc32fast::hash(payload),
            partitions: 0,
            file: Some(StreamFilePart {
                id: 7,
                size: bytes.len() as u64,
                offset: if seq == 0 { 0 } else { half as u64 },
                xxh64: (seq == 1).then_some(xxh64),
            }),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_file_is_refused_by_its_checksum_or_by_the_ingest_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = disk_node(dir.path());
    let streams = Streams::default();
    let everything = range(None, None);
    let garbage = vec![0xA5u8; 300];
    let right = xxhash_rust::xxh64::xxh64(&garbage, 0);

    // Bytes changed on the way in a way CRC32 cannot see: the whole file's XXH64 differs.
    let peer = serve_canned(file_chunks(&garbage, right ^ 1)).await;
    let err = pull(&dest, &streams, peer, &everything).await.unwrap_err();
    assert!(
        matches!(err, StreamError::FileChecksumMismatch { file: 7, expected, actual, .. }
            if expected == right ^ 1 && actual == right),
        "{err}"
    );
    assert!(err.is_transient(), "damaged on the way: worth a retry");

    // Intact on the way but not a table file: the ingest refuses it, naming why.
    let peer = serve_canned(file_chunks(&garbage, right)).await;
    let err = pull(&dest, &streams, peer, &everything).await.unwrap_err();
    assert!(
        matches!(&err, StreamError::Ingest { file: 7, reason, .. } if reason.contains("bad magic number")),
        "{err}"
    );
    assert!(!err.is_transient());

    // A flipped bit inside a chunk: its CRC32.
    let mut chunks = file_chunks(&garbage, right);
    chunks[1].crc32 ^= 1;
    let peer = serve_canned(chunks).await;
    let err = pull(&dest, &streams, peer, &everything).await.unwrap_err();
    assert!(
        matches!(err, StreamError::ChecksumMismatch { seq: 1, .. }),
        "{err}"
    );

    // The stream stops inside the file.
    let mut chunks = file_chunks(&garbage, right);
    chunks.pop();
    let peer = serve_canned(chunks).await;
    let err = pull(&dest, &streams, peer, &everything).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::BadFileChunk {
                reason: "the stream ended inside a file",
                ..
            }
        ),
        "{err}"
    );

    let left: Vec<_> = std::fs::read_dir(dest.stream_incoming_dir())
        .unwrap()
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    assert!(rows_in(&dest, i64::MIN, i64::MAX).is_empty());
}
