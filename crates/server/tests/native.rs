//! The CQL listener over real sockets, byte by byte: version negotiation, compression, v5
//! segments, pushed events, concurrency and malformed input. (The real drivers are exercised
//! by tests/compat in Python.)

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ilion_cql::protocol::{
    Compression, Consistency, Decoded, Direction, ErrorKind, Event, Frame, FrameDecoder, Opcode,
    ProtocolVersion, Query, QueryParameters, Register, Request, RequestEnvelope, Response,
    ResponseEnvelope, ResultBody, SegmentCodec, Startup, V5FrameDecoder,
};
use ilion_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A node running in this process; dropping the guard's sender stops it.
struct TestNode {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ilion_server::NodeError>>>,
    _dir: tempfile::TempDir,
}

impl TestNode {
    async fn start(max_frame_mb: u32) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = Config {
            data_dir: dir.path().join("data"),
            native_port: port,
            storage_port: free_port(),
            admin_port: free_port(),
            native_transport_max_frame_size_mb: max_frame_mb,
            ..Config::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ilion_server::run(config, async {
            let _ = stopped.await;
        }));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..500 {
            if TcpStream::connect(addr).await.is_ok() {
                return TestNode {
                    addr,
                    stop: Some(stop),
                    task: Some(task),
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("node did not listen on {addr}");
    }

    async fn stop(mut self) {
        drop(self.stop.take());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// A minimal client: plain frames, optional v4 compression, or v5 segments after READY.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
    version: ProtocolVersion,
    compression: Option<Compression>,
    segments: Option<(SegmentCodec, V5FrameDecoder)>,
}

impl Client {
    async fn connect(addr: SocketAddr, version: ProtocolVersion) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
            version,
            compression: None,
            segments: None,
        }
    }

    async fn send(&mut self, stream: i16, request: Request) {
        let mut frame = BytesMut::new();
        RequestEnvelope::new(self.version, stream, request)
            .write(&mut frame)
            .unwrap();
        let mut out = BytesMut::new();
        if let Some((codec, _)) = &self.segments {
            codec.encode_frames(&frame, &mut out).unwrap();
        } else if let Some(c) = self.compression {
            let Decoded::Complete(f) = FrameDecoder::new().decode(&mut frame).unwrap() else {
                panic!("incomplete")
            };
            f.compressed(c).unwrap().write(&mut out).unwrap();
        } else {
            out = frame;
        }
        self.stream.write_all(&out).await.unwrap();
    }

    async fn frame(&mut self) -> Frame {
        loop {
            let decoded = match &mut self.segments {
                Some((_, d)) => d.decode(&mut self.buf).unwrap(),
                None => FrameDecoder::new()
                    .expect(Direction::Response)
                    .decode(&mut self.buf)
                    .unwrap(),
            };
            if let Decoded::Complete(f) = decoded {
                return f;
            }
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("no response in 10 s")
                    .unwrap();
            assert!(n > 0, "connection closed");
        }
    }

    async fn recv(&mut self) -> ResponseEnvelope {
        let f = self
            .frame()
            .await
            .decompressed(self.compression, u32::MAX)
            .unwrap();
        ResponseEnvelope::decode(f).unwrap()
    }

    /// STARTUP (with `compression`), expecting READY, then switches framing.
    async fn startup(&mut self, compression: Option<&str>) {
        let mut options = vec![("CQL_VERSION".to_owned(), "3.0.0".to_owned())];
        if let Some(c) = compression {
            options.push(("COMPRESSION".to_owned(), c.to_owned()));
        }
        self.send(0, Request::Startup(Startup { options })).await;
        let r = self.recv().await;
        assert!(matches!(r.response, Response::Ready), "{r:?}");
        match self.version {
            ProtocolVersion::V4 => self.compression = compression.and_then(Compression::from_name),
            ProtocolVersion::V5 => {
                let codec = if compression.is_some() {
                    SegmentCodec::lz4()
                } else {
                    SegmentCodec::uncompressed()
                };
                let dec =
                    V5FrameDecoder::new(codec, FrameDecoder::new().expect(Direction::Response));
                self.segments = Some((codec, dec));
            }
        }
    }

    async fn query(&mut self, stream: i16, text: &str) {
        let params = QueryParameters::new(Consistency::One);
        self.send(
            stream,
            Request::Query(Query {
                query: text.to_owned(),
                params,
            }),
        )
        .await;
    }
}

fn rows(r: &ResponseEnvelope) -> &ilion_cql::protocol::Rows {
    match &r.response {
        Response::Result(ResultBody::Rows(rows)) => rows,
        other => panic!("expected rows, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_probing_an_unsupported_version_is_told_to_step_down() {
    let node = TestNode::start(256).await;
    for probe in [6u8, 65, 66] {
        let mut s = TcpStream::connect(node.addr).await.unwrap();
        // OPTIONS in the probed version, on stream 7.
        s.write_all(&[probe, 0, 0, 7, Opcode::Options as u8, 0, 0, 0, 0])
            .await
            .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let mut bytes = BytesMut::from(&buf[..]);
        let Decoded::Complete(f) = FrameDecoder::new().decode(&mut bytes).unwrap() else {
            panic!("incomplete answer to v{probe}")
        };
        assert_eq!(f.header.stream, 7);
        let r = ResponseEnvelope::decode(f).unwrap();
        let Response::Error(e) = r.response else {
            panic!("not an error")
        };
        assert_eq!(e.kind, ErrorKind::ProtocolError);
        assert!(
            e.message.contains("unsupported protocol version"),
            "{}",
            e.message
        );
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_lists_versions_and_compressions() {
    let node = TestNode::start(256).await;
    let mut c = Client::connect(node.addr, ProtocolVersion::V4).await;
    c.send(3, Request::Options).await;
    let r = c.recv().await;
    assert_eq!(r.stream, 3);
    let Response::Supported(s) = r.response else {
        panic!("not SUPPORTED")
    };
    let get = |k: &str| {
        s.options
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("PROTOCOL_VERSIONS"), vec!["4/v4", "5/v5"]);
    assert!(get("COMPRESSION").contains(&"lz4".to_owned()));
    assert!(get("CQL_VERSION")[0].starts_with("3.4"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_connections_answer_in_lz4_and_snappy_when_asked() {
    let node = TestNode::start(256).await;
    for algo in ["lz4", "snappy"] {
        let mut c = Client::connect(node.addr, ProtocolVersion::V4).await;
        c.startup(Some(algo)).await;
        c.query(1, "SELECT release_version FROM system.local").await;
        let r = c.recv().await;
        assert_eq!(rows(&r).rows_count, 1);
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_connections_switch_to_segments_after_ready() {
    let node = TestNode::start(256).await;
    for compression in [None, Some("lz4")] {
        let mut c = Client::connect(node.addr, ProtocolVersion::V5).await;
        c.startup(compression).await;
        c.query(9, "SELECT key, tokens FROM system.local").await;
        let r = c.recv().await;
        assert_eq!(r.stream, 9);
        assert_eq!(rows(&r).rows_count, 1);
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_on_one_connection_each_get_their_answer() {
    let node = TestNode::start(256).await;
    let mut c = Client::connect(node.addr, ProtocolVersion::V5).await;
    c.startup(None).await;
    for stream in 1..=200i16 {
        c.query(stream, "SELECT keyspace_name FROM system_schema.keyspaces")
            .await;
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 1..=200 {
        let r = c.recv().await;
        assert!(rows(&r).rows_count >= 2);
        assert!(seen.insert(r.stream), "stream {} answered twice", r.stream);
    }
    assert_eq!(seen.len(), 200);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_connections_are_pushed_schema_changes() {
    let node = TestNode::start(256).await;
    let mut listener = Client::connect(node.addr, ProtocolVersion::V4).await;
    listener.startup(None).await;
    listener
        .send(
            2,
            Request::Register(Register {
                events: vec!["SCHEMA_CHANGE".to_owned()],
            }),
        )
        .await;
    assert!(matches!(listener.recv().await.response, Response::Ready));

    let mut other = Client::connect(node.addr, ProtocolVersion::V5).await;
    other.startup(None).await;
    other
        .query(1, "CREATE KEYSPACE pushed WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        .await;
    assert!(matches!(
        other.recv().await.response,
        Response::Result(ResultBody::SchemaChange(_))
    ));

    let event = listener.recv().await;
    assert_eq!(event.stream, -1);
    let Response::Event(Event::SchemaChange(change)) = event.response else {
        panic!("not an event")
    };
    assert_eq!(
        change.target,
        ilion_cql::protocol::SchemaTarget::Keyspace {
            keyspace: "pushed".to_owned()
        }
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_only_its_connection() {
    let node = TestNode::start(256).await;
    let mut good = Client::connect(node.addr, ProtocolVersion::V4).await;
    good.startup(None).await;

    let mut bad = TcpStream::connect(node.addr).await.unwrap();
    // Opcode 0x42 does not exist.
    bad.write_all(&[4, 0, 0, 5, 0x42, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut buf = Vec::new();
    bad.read_to_end(&mut buf).await.unwrap();
    let mut bytes = BytesMut::from(&buf[..]);
    let Decoded::Complete(f) = FrameDecoder::new().decode(&mut bytes).unwrap() else {
        panic!()
    };
    let r = ResponseEnvelope::decode(f).unwrap();
    assert_eq!(r.stream, 5);
    assert!(matches!(r.response, Response::Error(ref e) if e.kind == ErrorKind::ProtocolError));

    good.query(1, "SELECT cluster_name FROM system.local").await;
    assert_eq!(rows(&good.recv().await).rows_count, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_size_limit_is_a_protocol_error() {
    let node = TestNode::start(1).await;
    let mut s = TcpStream::connect(node.addr).await.unwrap();
    let mut header = vec![4u8, 0, 0, 11, Opcode::Query as u8];
    header.extend_from_slice(&(2u32 * 1024 * 1024).to_be_bytes());
    s.write_all(&header).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let mut bytes = BytesMut::from(&buf[..]);
    let Decoded::Complete(f) = FrameDecoder::new().decode(&mut bytes).unwrap() else {
        panic!()
    };
    let r = ResponseEnvelope::decode(f).unwrap();
    assert_eq!(r.stream, 11);
    let Response::Error(e) = r.response else {
        panic!("not an error")
    };
    assert_eq!(e.kind, ErrorKind::ProtocolError);
    assert!(e.message.contains("too big"), "{}", e.message);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_errors_carry_their_cql_codes() {
    let node = TestNode::start(256).await;
    let mut c = Client::connect(node.addr, ProtocolVersion::V4).await;
    c.startup(None).await;
    let cases = [
        ("SELEKT 1", ErrorKind::SyntaxError),
        ("SELECT * FROM nosuch.t", ErrorKind::Invalid),
        (
            "CREATE KEYSPACE system_schema WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            ErrorKind::Invalid,
        ),
    ];
    for (i, (text, kind)) in cases.iter().enumerate() {
        c.query(i as i16, text).await;
        let r = c.recv().await;
        let Response::Error(e) = &r.response else {
            panic!("{text}: not an error")
        };
        assert_eq!(&e.kind, kind, "{text}: {e:?}");
    }
    c.query(9, "CREATE KEYSPACE twice WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").await;
    c.recv().await;
    c.query(10, "CREATE KEYSPACE twice WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").await;
    let r = c.recv().await;
    assert!(matches!(
        r.response,
        Response::Error(ref e) if e.kind == ErrorKind::AlreadyExists { keyspace: "twice".into(), table: String::new() }
    ));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_of_an_unknown_id_is_unprepared() {
    let node = TestNode::start(256).await;
    let mut c = Client::connect(node.addr, ProtocolVersion::V4).await;
    c.startup(None).await;
    let id = Bytes::from_static(&[1, 2, 3, 4]);
    c.send(
        4,
        Request::Execute(ilion_cql::protocol::Execute {
            id: id.clone(),
            result_metadata_id: Bytes::new(),
            params: QueryParameters::new(Consistency::One),
        }),
    )
    .await;
    let r = c.recv().await;
    assert!(
        matches!(r.response, Response::Error(ref e) if e.kind == ErrorKind::Unprepared { id: id.clone() })
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_larger_than_one_segment_is_split_and_reassembled() {
    let node = TestNode::start(256).await;
    for compression in [None, Some("lz4")] {
        let mut c = Client::connect(node.addr, ProtocolVersion::V5).await;
        c.startup(compression).await;
        if compression.is_none() {
            c.query(1, "CREATE KEYSPACE wide WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
                .await;
            c.recv().await;
            let columns: Vec<String> = (0..1500)
                .map(|i| format!("column_with_a_long_name_{i} text"))
                .collect();
            c.query(
                2,
                &format!(
                    "CREATE TABLE wide.t (k int PRIMARY KEY, {})",
                    columns.join(", ")
                ),
            )
            .await;
            assert!(matches!(
                c.recv().await.response,
                Response::Result(ResultBody::SchemaChange(_))
            ));
        }
        c.query(
            3,
            "SELECT * FROM system_schema.columns WHERE keyspace_name = 'wide'",
        )
        .await;
        let r = c.recv().await;
        assert_eq!(rows(&r).rows_count, 1501);
        assert!(
            r.encoded_len() > 128 * 1024,
            "{} bytes fit in one segment",
            r.encoded_len()
        );
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_requests_than_the_in_flight_limit_are_all_answered() {
    let node = TestNode::start(256).await;
    let mut c = Client::connect(node.addr, ProtocolVersion::V4).await;
    c.startup(None).await;
    // Written without reading any answer: the node stops reading at its in-flight limit
    // and resumes as statements finish.
    for stream in 1..=3000i16 {
        c.query(stream, "SELECT key FROM system.local").await;
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 1..=3000 {
        let r = c.recv().await;
        assert_eq!(rows(&r).rows_count, 1);
        seen.insert(r.stream);
    }
    assert_eq!(seen.len(), 3000);
    node.stop().await;
}
