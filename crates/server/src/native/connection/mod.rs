//! One client connection.
//!
//! The reader (this task) decodes frames and answers the connection-level messages itself
//! (OPTIONS, STARTUP, REGISTER), in order, because they change how the following bytes are
//! framed. With an authenticator, STARTUP is answered AUTHENTICATE and nothing but OPTIONS and
//! AUTH_RESPONSE is served until the client has logged in (`login`). Statements (QUERY,
//! PREPARE, EXECUTE, BATCH) run on blocking worker threads, several at once, as the role the
//! client logged in as; their responses go out as they finish, each on its request's stream. The
//! exception are EXECUTEs the coordinator calls quick (one partition, every replica on this
//! node, no fsync to wait for): they run right here, because handing a statement of a few
//! microseconds to another thread and back cost more than the statement. What the reader
//! answers while it handles one read of the socket goes to the writer in one message.
//!
//! A writer task owns the socket's write half and the outgoing framing: plain frames, v4
//! frames with LZ4/Snappy bodies, or v5 segments. The framing switches right after READY is
//! written, as the protocol requires. Pushed EVENTs go out on stream -1 to connections that
//! registered for their type.
//!
//! A malformed frame is answered with a protocol ERROR and the connection is closed; the node
//! keeps serving every other connection.
//!
//! Each statement's body bytes are counted in flight ([`super::limits`]) until the writer has
//! written its response. Over a limit, a client that sent `THROW_ON_OVERLOAD: 1` gets
//! Overloaded; any other stops being read until the bytes in flight fall.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::{Bytes, BytesMut};
use ilion_coordinator::auth::sasl::PASSWORD_AUTHENTICATOR;
use ilion_coordinator::{Executed, Session};
use ilion_cql::protocol::frame::unsupported_version_response;
use ilion_cql::protocol::{
    Authenticate, Compression, Decoded, Direction, ErrorKind, ErrorResponse, Event, Frame,
    FrameDecoder, Header, ProtocolError, ProtocolVersion, Request, RequestEnvelope, Response,
    ResponseEnvelope, ResultBody, SegmentCodec, Supported, V5FrameDecoder,
};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, broadcast, mpsc, watch};

mod audited;
mod login;

use super::Shared;
use super::limits::{Admission, Reservation};
use crate::metrics::RequestKind;

/// How outgoing frames are put on the wire.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// Frames as they are (before STARTUP, and v4 without compression).
    Plain,
    /// v4 frames whose bodies are compressed.
    Compressed(Compression),
    /// v5 segments (after READY).
    Segments(SegmentCodec),
}

/// What the reader and the statement workers hand the writer.
#[derive(Debug)]
enum Outbound {
    /// A response; `then` switches the framing after it is written (READY). `reservation`
    /// holds the request's body bytes in flight until the response is on the socket.
    Response {
        envelope: ResponseEnvelope,
        then: Option<Framing>,
        reservation: Option<Reservation>,
    },
    /// Bytes already encoded (the answer to an unsupported version).
    Raw(Vec<u8>),
    /// Several of these, in order (what the reader produced from one read of the socket).
    Many(Vec<Outbound>),
    /// REGISTER: push events of these types from now on, then write READY.
    Register {
        types: Vec<String>,
        ready: ResponseEnvelope,
    },
    /// Write what is queued and close.
    Close,
}

/// Why the reader stops.
enum Stop {
    /// The client closed, or the node is shutting down.
    Done,
    /// A malformed frame: the ERROR has been queued; close.
    Protocol,
}

struct Reader {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Outbound>,
    peer: SocketAddr,
    frames: FrameDecoder,
    v5: Option<V5FrameDecoder>,
    version: Option<ProtocolVersion>,
    compression: Option<Compression>,
    started: bool,
    session: Arc<Mutex<Session>>,
    /// The node has an authenticator: after STARTUP the client must log in (AUTHENTICATE,
    /// AUTH_RESPONSE, AUTH_SUCCESS) before anything but OPTIONS.
    auth_required: bool,
    /// The role the client logged in as.
    login: Arc<Mutex<Option<Arc<str>>>>,
    /// An AUTH_RESPONSE is being checked: one at a time per connection, so a client cannot
    /// queue up bcrypt work.
    authenticating: Arc<std::sync::atomic::AtomicBool>,
    /// Statements running for this connection; when all permits are taken the reader stops
    /// reading the socket until one finishes (backpressure instead of unbounded queues).
    in_flight: Arc<Semaphore>,
    /// What the reader answered since it last handed the writer its output.
    pending: Vec<Outbound>,
    /// The client sent `THROW_ON_OVERLOAD: 1` in STARTUP: a request over the in-flight limits
    /// is answered Overloaded instead of pausing the connection.
    throw_on_overload: bool,
    /// Body bytes of this connection's requests in flight.
    bytes_in_flight: Arc<AtomicU64>,
    /// A request went over the in-flight limits: handle no further frame until they fall.
    paused: bool,
    /// This connection's entry in `system_views.clients`.
    client: Arc<super::clients::Registered>,
}

/// Statements one connection may have running at once before its socket stops being read.
const MAX_IN_FLIGHT: usize = 1024;

/// Answers the reader hands the writer at once at most (a quick statement takes some 10 to
/// 20 µs, so the first of a batch waits at most a few hundred µs for the writer).
const FLUSH_EVERY: usize = 16;

/// Counts the connection closed however its task ends.
struct ClosedOnDrop(Arc<Shared>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}

/// A connection's byte stream, split into the reader's and the writer's halves: a TCP socket
/// (split without a lock) or a TLS session over one.
pub(crate) trait Transport: Send + 'static {
    type Read: AsyncRead + Unpin + Send + 'static;
    type Write: AsyncWrite + Unpin + Send + 'static;
    fn split(self) -> (Self::Read, Self::Write);
    /// The TLS version and cipher suite, when the stream is encrypted.
    fn tls_info(&self) -> Option<(String, String)> {
        None
    }
}

impl Transport for TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn split(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;
    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
    fn tls_info(&self) -> Option<(String, String)> {
        let session = self.get_ref().1;
        Some((
            session
                .protocol_version()
                .map_or_else(String::new, |v| format!("{v:?}")),
            session
                .negotiated_cipher_suite()
                .map_or_else(String::new, |c| format!("{:?}", c.suite())),
        ))
    }
}

pub(crate) async fn run<T: Transport>(
    stream: T,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    shared.metrics.connection_opened();
    let _closed = ClosedOnDrop(shared.clone());
    let client = Arc::new(shared.clients.register(peer, stream.tls_info()));
    let (mut rd, wr) = stream.split();
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(wr, rx, shared.events.clone()));
    let frames = FrameDecoder::new()
        .max_body_len(shared.max_frame_body)
        .expect(Direction::Request);
    let auth_required = shared.coordinator.auth_config().authenticator
        != ilion_coordinator::Authenticator::AllowAll;
    let mut reader = Reader {
        shared,
        tx,
        peer,
        frames,
        v5: None,
        version: None,
        compression: None,
        started: false,
        session: Arc::new(Mutex::new(Session::default())),
        auth_required,
        login: Arc::new(Mutex::new(None)),
        authenticating: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        pending: Vec::new(),
        throw_on_overload: false,
        bytes_in_flight: Arc::new(AtomicU64::new(0)),
        paused: false,
        client,
    };
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let stop = loop {
        match reader.drain(&mut buf) {
            Ok(()) => {}
            Err(stop) => break stop,
        }
        if reader.paused {
            // Backpressure: neither the frames already read nor the socket until the bytes
            // in flight fall; then handle what is buffered before reading more.
            reader.shared.metrics.backpressure_pause();
            let in_flight = reader.shared.in_flight.clone();
            let ip = reader.peer.ip();
            tokio::select! {
                _ = in_flight.resumed(ip, &reader.bytes_in_flight) => {}
                _ = shutdown.changed() => break Stop::Done,
            }
            reader.paused = false;
            continue;
        }
        if reader.in_flight.available_permits() == 0 {
            // Wait until a statement finishes before reading more requests.
            let sem = reader.in_flight.clone();
            tokio::select! {
                permit = sem.acquire() => drop(permit),
                _ = shutdown.changed() => break Stop::Done,
            }
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => match n {
                Ok(0) => break Stop::Done,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(peer = %reader.peer, error = %e, "cql connection read failed");
                    break Stop::Done;
                }
            },
            _ = shutdown.changed() => break Stop::Done,
        }
    };
    if matches!(stop, Stop::Protocol) || *shutdown.borrow() {
        let _ = reader.tx.send(Outbound::Close);
    }
    // Statements still running hold senders; the writer ends once they have answered.
    drop(reader);
    let _ = writer.await;
    tracing::debug!(%peer, "cql connection closed");
}

impl Reader {
    /// Handles every whole frame in `buf`, then hands the writer what they answered.
    fn drain(&mut self, buf: &mut BytesMut) -> Result<(), Stop> {
        let outcome = loop {
            let decoded = match &mut self.v5 {
                Some(d) => d.decode(buf),
                None => self.frames.decode(buf),
            };
            match decoded {
                Ok(Decoded::Complete(frame)) => {
                    if let Err(stop) = self.frame(frame) {
                        break Err(stop);
                    }
                    if self.paused {
                        break Ok(());
                    }
                }
                Ok(Decoded::Incomplete { .. }) => break Ok(()),
                Err(e) => break Err(self.malformed(&e)),
            }
        };
        self.flush();
        outcome
    }

    /// Queues `msg` for the writer (sent by [`Reader::flush`], or now when enough are
    /// queued: the first answers of a long read of the socket need not wait for the last).
    fn queue(&mut self, msg: Outbound) {
        self.pending.push(msg);
        if self.pending.len() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Hands the writer everything queued, in one message.
    fn flush(&mut self) {
        let msg = match self.pending.len() {
            0 => return,
            1 => match self.pending.pop() {
                Some(m) => m,
                None => return,
            },
            _ => Outbound::Many(std::mem::take(&mut self.pending)),
        };
        let _ = self.tx.send(msg);
    }

    /// Queues the ERROR for a malformed frame.
    fn malformed(&mut self, e: &ProtocolError) -> Stop {
        tracing::debug!(peer = %self.peer, error = %e, "malformed cql frame");
        if let ProtocolError::UnsupportedVersion { version, stream } = e {
            self.queue(Outbound::Raw(unsupported_version_response(
                *version, *stream,
            )));
            return Stop::Protocol;
        }
        let stream = e.stream().unwrap_or(0);
        let message = match e {
            ProtocolError::BodyTooLarge { length, max, .. } => {
                format!("Request is too big: length {length} exceeds maximum allowed length {max}.")
            }
            other => other.to_string(),
        };
        self.error(stream, ErrorKind::ProtocolError, message);
        Stop::Protocol
    }

    fn respond(&mut self, stream: i16, response: Response) {
        let version = self.version.unwrap_or(ProtocolVersion::V4);
        let envelope = ResponseEnvelope::new(version, stream, response);
        self.queue(Outbound::Response {
            envelope,
            then: None,
            reservation: None,
        });
    }

    fn error(&mut self, stream: i16, kind: ErrorKind, message: String) {
        self.respond(stream, Response::Error(ErrorResponse { message, kind }));
    }

    fn frame(&mut self, frame: Frame) -> Result<(), Stop> {
        let header: Header = frame.header;
        match self.version {
            None => self.version = Some(header.version),
            Some(v) if v != header.version => {
                self.error(
                    header.stream,
                    ErrorKind::ProtocolError,
                    format!(
                        "Invalid message version. Got {} but previous messages on this connection had version {}",
                        header.version,
                        v
                    ),
                );
                return Err(Stop::Protocol);
            }
            Some(_) => {}
        }
        let frame = match frame.decompressed(self.compression, self.shared.max_frame_body) {
            Ok(f) => f,
            Err(e) => return Err(self.malformed(&e)),
        };
        // Counted decompressed (v4 LZ4/Snappy): that is what the request holds while it runs.
        let body_len = frame.body.len() as u64;
        let envelope = match RequestEnvelope::decode(frame) {
            Ok(e) => e,
            Err(e) => {
                // The frame boundary is intact: answer this request and keep the connection.
                self.error(header.stream, ErrorKind::ProtocolError, e.to_string());
                return Ok(());
            }
        };
        let stream = envelope.stream;
        match envelope.request {
            Request::Options => self.respond(stream, Response::Supported(supported())),
            Request::Startup(startup) => {
                if self.started {
                    self.error(
                        stream,
                        ErrorKind::ProtocolError,
                        "STARTUP already received on this connection".into(),
                    );
                    return Ok(());
                }
                let requested = startup.option("COMPRESSION").map(str::to_owned);
                let version = envelope.version;
                let framing = match (version, requested.as_deref()) {
                    (ProtocolVersion::V5, None) => Framing::Segments(SegmentCodec::uncompressed()),
                    (ProtocolVersion::V5, Some(c)) if c.eq_ignore_ascii_case("lz4") => {
                        Framing::Segments(SegmentCodec::lz4())
                    }
                    (ProtocolVersion::V4, None) => Framing::Plain,
                    (ProtocolVersion::V4, Some(name)) if Compression::from_name(name).is_some() => {
                        Framing::Compressed(
                            Compression::from_name(name).unwrap_or(Compression::Lz4),
                        )
                    }
                    (_, Some(other)) => {
                        self.error(
                            stream,
                            ErrorKind::ProtocolError,
                            format!(
                                "Unsupported compression algorithm {other} for protocol {version}"
                            ),
                        );
                        return Ok(());
                    }
                };
                self.started = true;
                let auth_required = self.auth_required;
                self.client.update(|e| {
                    e.client_options = startup.options.iter().cloned().collect();
                    e.protocol_version = Some(version.number());
                    e.connection_stage = if auth_required {
                        "authenticating"
                    } else {
                        "ready"
                    };
                });
                // Cassandra's StartupMessage: only "1" turns it on.
                self.throw_on_overload = startup.option("THROW_ON_OVERLOAD") == Some("1");
                match framing {
                    Framing::Segments(codec) => {
                        self.v5 = Some(V5FrameDecoder::new(codec, self.frames.clone()));
                    }
                    Framing::Compressed(c) => self.compression = Some(c),
                    Framing::Plain => {}
                }
                // With an authenticator the client logs in next; the framing switches after
                // AUTHENTICATE as it would after READY.
                let response = if self.auth_required {
                    Response::Authenticate(Authenticate {
                        authenticator: PASSWORD_AUTHENTICATOR.to_owned(),
                    })
                } else {
                    Response::Ready
                };
                let envelope = ResponseEnvelope::new(version, stream, response);
                self.queue(Outbound::Response {
                    envelope,
                    then: Some(framing),
                    reservation: None,
                });
            }
            Request::AuthResponse(_) if !self.auth_required => self.error(
                stream,
                ErrorKind::ProtocolError,
                "Unexpected AUTH_RESPONSE: authentication is not enabled on this node".into(),
            ),
            Request::AuthResponse(response) if self.started => {
                self.authenticate(envelope.version, stream, response.token);
            }
            request if self.started && self.auth_required && self.login.lock().is_none() => self
                .error(
                    stream,
                    ErrorKind::ProtocolError,
                    format!(
                        "Unexpected message {:?}, expecting SASL_RESPONSE",
                        request.opcode()
                    ),
                ),
            request if !self.started => self.error(
                stream,
                ErrorKind::ProtocolError,
                format!(
                    "Unexpected message {:?}, expecting STARTUP or OPTIONS",
                    request.opcode()
                ),
            ),
            Request::Register(register) => {
                if let Some(bad) = register.events.iter().find(|e| {
                    !matches!(
                        e.as_str(),
                        "TOPOLOGY_CHANGE" | "STATUS_CHANGE" | "SCHEMA_CHANGE"
                    )
                }) {
                    self.error(
                        stream,
                        ErrorKind::ProtocolError,
                        format!("Invalid value '{bad}' for Type"),
                    );
                    return Ok(());
                }
                let ready = ResponseEnvelope::new(envelope.version, stream, Response::Ready);
                self.queue(Outbound::Register {
                    types: register.events,
                    ready,
                });
            }
            request => {
                let version = envelope.version;
                let admission = self.shared.in_flight.admit(
                    self.peer.ip(),
                    body_len,
                    self.throw_on_overload,
                    &self.bytes_in_flight,
                );
                let reservation = match admission {
                    Admission::Admitted(r) => r,
                    Admission::Backpressure(r) => {
                        self.paused = true;
                        r
                    }
                    Admission::Overloaded(usage) => {
                        tracing::trace!(
                            peer = %self.peer,
                            bytes = body_len,
                            ?usage,
                            "request discarded: overloaded"
                        );
                        self.shared.metrics.overloaded();
                        self.error(stream, ErrorKind::Overloaded, usage.overloaded_message());
                        return Ok(());
                    }
                };
                self.statement(version, stream, envelope.tracing, request, reservation);
            }
        }
        Ok(())
    }

    /// Runs a statement: a quick EXECUTE here, anything else on a worker thread; its response
    /// is queued when it finishes.
    fn statement(
        &mut self,
        version: ProtocolVersion,
        stream: i16,
        _tracing: bool,
        request: Request,
        reservation: Reservation,
    ) {
        let started = std::time::Instant::now();
        let kind = match &request {
            Request::Prepare(_) => RequestKind::Prepare,
            Request::Execute(_) => RequestKind::Execute,
            Request::Batch(_) => RequestKind::Batch,
            _ => RequestKind::Query,
        };
        self.client.count_request();
        // Nothing is locked or built for the audit log while it is off.
        let audit = if self.shared.audit.is_enabled() {
            audited::subject(
                &self.shared.coordinator,
                &request,
                self.session.lock().keyspace.as_deref(),
            )
            .map(|s| (s, self.login.lock().clone(), self.peer))
        } else {
            None
        };
        if let Request::Execute(e) = &request
            && self.shared.quick_inline
            && self.shared.coordinator.is_quick(&e.id)
        {
            let coordinator = &self.shared.coordinator;
            let login = self.login.lock().clone();
            // A panic is the statement's failure, not the connection's (as on a worker).
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                coordinator.execute_as(login.as_deref(), &e.id, &e.params)
            }))
            .map_err(|_| "the statement panicked".to_owned());
            let envelope = respond_to(
                &self.shared,
                &self.session,
                version,
                stream,
                kind,
                started,
                outcome,
                audit,
            );
            self.queue(Outbound::Response {
                envelope,
                then: None,
                reservation: Some(reservation),
            });
            return;
        }
        let shared = self.shared.clone();
        let session = self.session.clone();
        let login = self.login.lock().clone();
        let tx = self.tx.clone();
        // At most one read buffer's worth of statements can start beyond the limit.
        let permit = self.in_flight.clone().try_acquire_owned().ok();
        tokio::spawn(async move {
            let _permit = permit;
            let worker_shared = shared.clone();
            let worker_session = session.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let coordinator = &worker_shared.coordinator;
                let session = worker_session.lock().clone();
                let user = login.as_deref();
                match request {
                    Request::Query(q) => coordinator.query_as(user, &session, &q.query, &q.params),
                    Request::Prepare(p) => coordinator
                        .prepare(&session, &p.query, p.keyspace.as_deref())
                        .map(|mut p| {
                            // The result metadata id exists from v5 on.
                            if version < ProtocolVersion::V5 {
                                p.result_metadata_id = Bytes::new();
                            }
                            Executed::quiet(ResultBody::Prepared(p))
                        }),
                    Request::Execute(e) => coordinator.execute_as(user, &e.id, &e.params),
                    Request::Batch(b) => coordinator.batch_as(user, &session, &b),
                    _ => Err(ilion_coordinator::Error::Server {
                        message: "unexpected request".into(),
                    }),
                }
            })
            .await
            .map_err(|join| join.to_string());
            let envelope = respond_to(
                &shared, &session, version, stream, kind, started, outcome, audit,
            );
            // Sent or not (the connection is gone), the reservation goes with it.
            let _ = tx.send(Outbound::Response {
                envelope,
                then: None,
                reservation: Some(reservation),
            });
        });
    }
}

/// Who ran a statement, from where, and its audit log entry (while the log is on).
type Audited = (crate::audit::Subject, Option<Arc<str>>, SocketAddr);

/// The response to a statement that ran (`Err`: it failed to run, e.g. panicked), after its
/// effects on the connection (USE) and the node (SCHEMA_CHANGE events, metrics, the audit
/// log).
#[allow(clippy::too_many_arguments)]
fn respond_to(
    shared: &Shared,
    session: &Mutex<Session>,
    version: ProtocolVersion,
    stream: i16,
    kind: RequestKind,
    started: std::time::Instant,
    outcome: Result<ilion_coordinator::Result<Executed>, String>,
    audit: Option<Audited>,
) -> ResponseEnvelope {
    let mut warnings = Vec::new();
    let response = match outcome {
        Ok(Ok(Executed {
            result,
            warnings: w,
        })) => {
            warnings = w;
            match &result {
                ResultBody::SetKeyspace(ks) => session.lock().keyspace = Some(ks.clone()),
                ResultBody::SchemaChange(change) => {
                    // No subscriber is fine: nobody registered.
                    let _ = shared.events.send(Event::SchemaChange(change.clone()));
                }
                _ => {}
            }
            Response::Result(result)
        }
        Ok(Err(e)) => Response::Error(e.to_response()),
        Err(failure) => Response::Error(ErrorResponse {
            message: format!("statement execution failed: {failure}"),
            kind: ErrorKind::ServerError,
        }),
    };
    shared.metrics.request(
        kind,
        started.elapsed(),
        matches!(response, Response::Error(_)),
    );
    if let Some((subject, user, peer)) = audit {
        audited::record(&shared.audit, subject, user.as_deref(), peer, &response);
    }
    let mut envelope = ResponseEnvelope::new(version, stream, response);
    if !warnings.is_empty() {
        envelope.warnings = Some(warnings);
    }
    envelope
}

fn supported() -> Supported {
    let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Supported {
        options: vec![
            (
                "CQL_VERSION".to_owned(),
                list(&[ilion_coordinator::CQL_VERSION]),
            ),
            ("COMPRESSION".to_owned(), list(&["lz4", "snappy"])),
            ("PROTOCOL_VERSIONS".to_owned(), list(&["4/v4", "5/v5"])),
        ],
    }
}

/// Encodes one response with the current framing.
fn encode(
    envelope: &ResponseEnvelope,
    framing: Framing,
    out: &mut BytesMut,
) -> Result<(), ProtocolError> {
    if let Framing::Plain = framing {
        // Straight into the write buffer (which the frame leaves as it was on failure).
        return envelope.write(out);
    }
    let mut frame = BytesMut::with_capacity(envelope.encoded_len());
    envelope.write(&mut frame)?;
    match framing {
        Framing::Plain => out.extend_from_slice(&frame),
        Framing::Compressed(c) => {
            let raw: [u8; 9] = frame.get(..9).and_then(|h| h.try_into().ok()).ok_or(
                ProtocolError::Unencodable {
                    what: "frame",
                    reason: "shorter than its header",
                },
            )?;
            let header = Header::parse(&raw)?;
            let body = Bytes::from(frame).slice(9..);
            Frame { header, body }.compressed(c)?.write(out)?;
        }
        Framing::Segments(codec) => codec.encode_frames(&frame, out)?,
    }
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    events: broadcast::Sender<Event>,
) {
    let mut framing = Framing::Plain;
    let mut version = ProtocolVersion::V4;
    let mut subscription: Option<(broadcast::Receiver<Event>, Vec<String>)> = None;
    let mut out = BytesMut::with_capacity(64 * 1024);
    // Reservations of the responses in `out`: released once it is written.
    let mut written: Vec<Reservation> = Vec::new();
    loop {
        let mut close = false;
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let mut next = Some(msg);
                // Batch whatever else is queued into the same write.
                while let Some(m) = next.take() {
                    close = put(m, &mut framing, &mut version, &mut subscription, &events, &mut out, &mut written);
                    if close {
                        break;
                    }
                    next = rx.try_recv().ok();
                }
            }
            event = next_event(&mut subscription) => {
                if let Some(event) = event {
                    let envelope = ResponseEnvelope::new(version, -1, Response::Event(event));
                    let _ = encode(&envelope, framing, &mut out);
                }
            }
        }
        if !out.is_empty() {
            // A TLS session may hold encrypted bytes until flushed; a socket's flush is free.
            if let Err(e) = async {
                wr.write_all(&out).await?;
                wr.flush().await
            }
            .await
            {
                tracing::debug!(error = %e, "cql connection write failed");
                break;
            }
            out.clear();
        }
        written.clear();
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// Encodes one message of the reader or a worker into `out` (or takes its effect on the
/// writer's state), keeping its reservation in `written`; true when the connection is to
/// close after what is in `out`.
fn put(
    msg: Outbound,
    framing: &mut Framing,
    version: &mut ProtocolVersion,
    subscription: &mut Option<(broadcast::Receiver<Event>, Vec<String>)>,
    events: &broadcast::Sender<Event>,
    out: &mut BytesMut,
    written: &mut Vec<Reservation>,
) -> bool {
    match msg {
        Outbound::Response {
            envelope,
            then,
            reservation,
        } => {
            written.extend(reservation);
            *version = envelope.version;
            if let Err(e) = encode(&envelope, *framing, out) {
                tracing::warn!(error = %e, "cannot encode a cql response");
                let err = ResponseEnvelope::new(
                    envelope.version,
                    envelope.stream,
                    Response::Error(ErrorResponse {
                        message: format!("cannot encode the response: {e}"),
                        kind: ErrorKind::ServerError,
                    }),
                );
                let _ = encode(&err, *framing, out);
            }
            if let Some(f) = then {
                *framing = f;
            }
        }
        Outbound::Raw(bytes) => out.extend_from_slice(&bytes),
        Outbound::Many(all) => {
            for m in all {
                if put(m, framing, version, subscription, events, out, written) {
                    return true;
                }
            }
        }
        Outbound::Register { types, ready } => {
            *version = ready.version;
            *subscription = Some((events.subscribe(), types));
            let _ = encode(&ready, *framing, out);
        }
        Outbound::Close => return true,
    }
    false
}

/// The next event of a registered type; pending forever without a subscription.
async fn next_event(
    subscription: &mut Option<(broadcast::Receiver<Event>, Vec<String>)>,
) -> Option<Event> {
    let Some((rx, types)) = subscription else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(e) if types.iter().any(|t| t == e.type_name()) => return Some(e),
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "cql connection missed pushed events");
            }
            Err(broadcast::error::RecvError::Closed) => {
                *subscription = None;
                return None;
            }
        }
    }
}
