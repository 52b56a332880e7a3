//! Node metrics in the Prometheus text format, served over HTTP on the admin port
//! (`GET /metrics`, default 7199).
//!
//! Counters are plain atomics bumped on the request path; the exposition is built on each
//! scrape. Latency is a Prometheus histogram with fixed buckets (cumulative on output).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod storage;

pub(crate) use storage::StorageSources;

/// The CQL request kinds counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Query,
    Prepare,
    Execute,
    Batch,
}

impl RequestKind {
    const ALL: [RequestKind; 4] = [
        RequestKind::Query,
        RequestKind::Prepare,
        RequestKind::Execute,
        RequestKind::Batch,
    ];

    fn label(self) -> &'static str {
        match self {
            RequestKind::Query => "query",
            RequestKind::Prepare => "prepare",
            RequestKind::Execute => "execute",
            RequestKind::Batch => "batch",
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot counts what exceeds every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        if let Some(b) = self.buckets.get(slot) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything this node counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: [AtomicU64; 4],
    errors: [AtomicU64; 4],
    latency: [Histogram; 4],
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    /// Requests answered Overloaded (over the in-flight limits, THROW_ON_OVERLOAD).
    overloaded: AtomicU64,
    /// Times a connection stopped reading because a request took it over the in-flight limits.
    backpressure_pauses: AtomicU64,
    /// CQL connections that completed a TLS handshake, and those whose handshake failed.
    tls_accepted: AtomicU64,
    tls_failed: AtomicU64,
    /// The distributed data path, when replication is enabled: its counters are rendered too.
    replication: std::sync::OnceLock<std::sync::Arc<ilion_coordinator::Replication>>,
    /// What the repairs this node coordinated did.
    repair: std::sync::OnceLock<std::sync::Arc<crate::cluster::repair::RepairStats>>,
    /// The engine, the compaction and the streaming caps: the storage families.
    storage: std::sync::OnceLock<StorageSources>,
}

fn index(kind: RequestKind) -> usize {
    match kind {
        RequestKind::Query => 0,
        RequestKind::Prepare => 1,
        RequestKind::Execute => 2,
        RequestKind::Batch => 3,
    }
}

impl Metrics {
    /// One finished CQL request.
    pub(crate) fn request(&self, kind: RequestKind, took: Duration, failed: bool) {
        let i = index(kind);
        if let Some(c) = self.requests.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if failed && let Some(c) = self.errors.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.latency.get(i) {
            h.record(took);
        }
    }

    /// Adds the storage families (tables, compaction, commit log, cache, streaming cap).
    pub(crate) fn set_storage(&self, storage: StorageSources) {
        let _ = self.storage.set(storage);
    }

    /// Adds the replication counters (hints, repairs, timeouts, ...) to the exposition.
    pub(crate) fn set_replication(
        &self,
        replication: std::sync::Arc<ilion_coordinator::Replication>,
    ) {
        let _ = self.replication.set(replication);
    }

    /// Adds the repair counters to the exposition.
    pub(crate) fn set_repair(&self, stats: std::sync::Arc<crate::cluster::repair::RepairStats>) {
        let _ = self.repair.set(stats);
    }

    pub(crate) fn connection_opened(&self) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// A CQL connection completed its TLS handshake.
    pub(crate) fn tls_connection_accepted(&self) {
        self.tls_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A CQL connection's TLS handshake failed (refused certificate, timeout, not TLS).
    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A request answered Overloaded instead of run (Cassandra's `RequestDiscarded`).
    pub(crate) fn overloaded(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection paused by backpressure (Cassandra's `PausedConnections`, as a count).
    pub(crate) fn backpressure_pause(&self) {
        self.backpressure_pauses.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP ilion_cql_requests_total CQL requests served by this node.\n");
        out.push_str("# TYPE ilion_cql_requests_total counter\n");
        for kind in RequestKind::ALL {
            let n = self.requests.get(index(kind)).map_or(0, get);
            let _ = writeln!(
                out,
                "ilion_cql_requests_total{{kind=\"{}\"}} {n}",
                kind.label()
            );
        }
        out.push_str(
            "# HELP ilion_cql_request_errors_total CQL requests answered with an error.\n",
        );
        out.push_str("# TYPE ilion_cql_request_errors_total counter\n");
        for kind in RequestKind::ALL {
            let n = self.errors.get(index(kind)).map_or(0, get);
            let _ = writeln!(
                out,
                "ilion_cql_request_errors_total{{kind=\"{}\"}} {n}",
                kind.label()
            );
        }
        out.push_str(
            "# HELP ilion_cql_request_duration_seconds Time from a request's arrival to its \
             response being queued.\n",
        );
        out.push_str("# TYPE ilion_cql_request_duration_seconds histogram\n");
        for kind in RequestKind::ALL {
            let Some(h) = self.latency.get(index(kind)) else {
                continue;
            };
            let label = kind.label();
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS_US.iter().zip(&h.buckets) {
                cumulative += get(bucket);
                let _ = writeln!(
                    out,
                    "ilion_cql_request_duration_seconds_bucket{{kind=\"{label}\",le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            let count = get(&h.count);
            let _ = writeln!(
                out,
                "ilion_cql_request_duration_seconds_bucket{{kind=\"{label}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "ilion_cql_request_duration_seconds_sum{{kind=\"{label}\"}} {}",
                get(&h.sum_us) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "ilion_cql_request_duration_seconds_count{{kind=\"{label}\"}} {count}"
            );
        }
        let opened = get(&self.connections_opened);
        let closed = get(&self.connections_closed);
        out.push_str("# HELP ilion_cql_connections Open CQL client connections.\n");
        out.push_str("# TYPE ilion_cql_connections gauge\n");
        let _ = writeln!(
            out,
            "ilion_cql_connections {}",
            opened.saturating_sub(closed)
        );
        counter(
            &mut out,
            "ilion_cql_connections_total",
            "CQL client connections accepted",
            opened,
        );
        counter(
            &mut out,
            "ilion_cql_overloaded_total",
            "CQL requests answered Overloaded: over the bytes in flight limits, from a client \
             that sent THROW_ON_OVERLOAD",
            get(&self.overloaded),
        );
        counter(
            &mut out,
            "ilion_cql_backpressure_pauses_total",
            "Times a CQL connection stopped reading because a request took the bytes in flight \
             over a limit",
            get(&self.backpressure_pauses),
        );
        counter(
            &mut out,
            "ilion_cql_tls_connections_total",
            "CQL client connections that completed a TLS handshake",
            get(&self.tls_accepted),
        );
        counter(
            &mut out,
            "ilion_cql_tls_handshake_failures_total",
            "CQL client connections whose TLS handshake failed or timed out",
            get(&self.tls_failed),
        );
        if let Some(r) = self.repair.get() {
            r.render(&mut out);
        }
        if let Some(s) = self.storage.get() {
            s.render(&mut out);
        }
        if let Some(r) = self.replication.get() {
            for (name, help, value) in r.stats().metrics() {
                let kind = if name.ends_with("_total") {
                    "counter"
                } else {
                    "gauge"
                };
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}.\n# TYPE {name} {kind}\n{name} {value}"
                );
            }
        }
        out
    }
}

/// Writes one counter with its help line.
fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}.\n# TYPE {name} counter\n{name} {value}"
    );
}

/// Largest request head read from a scraper; more is refused.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Serves `GET /metrics` on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: std::sync::Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    tokio::spawn(async move {
                        let answer = tokio::time::timeout(
                            Duration::from_secs(10),
                            answer(stream, &metrics),
                        );
                        if let Ok(Err(e)) = answer.await {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a metrics connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if head.len() > MAX_REQUEST_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            respond(&mut stream, "200 OK", &metrics.render()).await
        }
        (Some(b"GET"), _) => respond(&mut stream, "404 Not Found", "try GET /metrics\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_cumulative_buckets_show_in_the_exposition() {
        let m = Metrics::default();
        m.request(RequestKind::Execute, Duration::from_micros(80), false);
        m.request(RequestKind::Execute, Duration::from_micros(3_000), true);
        m.request(RequestKind::Query, Duration::from_secs(10), false);
        m.overloaded();
        m.backpressure_pause();
        m.backpressure_pause();
        let text = m.render();
        assert!(text.contains("ilion_cql_overloaded_total 1\n"));
        assert!(text.contains("ilion_cql_backpressure_pauses_total 2\n"));
        assert!(text.contains("ilion_cql_requests_total{kind=\"execute\"} 2\n"));
        assert!(text.contains("ilion_cql_request_errors_total{kind=\"execute\"} 1\n"));
        assert!(text.contains("ilion_cql_requests_total{kind=\"batch\"} 0\n"));
        // 80 us falls in the first bucket; 3 ms first counts at the 5 ms bound.
        assert!(text.contains(
            "ilion_cql_request_duration_seconds_bucket{kind=\"execute\",le=\"0.0001\"} 1\n"
        ));
        assert!(text.contains(
            "ilion_cql_request_duration_seconds_bucket{kind=\"execute\",le=\"0.002\"} 1\n"
        ));
        assert!(text.contains(
            "ilion_cql_request_duration_seconds_bucket{kind=\"execute\",le=\"0.005\"} 2\n"
        ));
        // 10 s exceeds every bound: only +Inf counts it.
        assert!(
            text.contains("ilion_cql_request_duration_seconds_bucket{kind=\"query\",le=\"5\"} 0\n")
        );
        assert!(
            text.contains(
                "ilion_cql_request_duration_seconds_bucket{kind=\"query\",le=\"+Inf\"} 1\n"
            )
        );
    }

    #[tokio::test]
    async fn http_scrape_gets_the_exposition_and_other_paths_get_404() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = std::sync::Arc::new(Metrics::default());
        metrics.connection_opened();
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(serve(listener, metrics, stopped));
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("ilion_cql_connections 1\n"), "{ok}");
        let missing = get("/nope").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        stop.send(true).unwrap();
        server.await.unwrap();
    }
}
