//! Node-to-node TLS, Cassandra's `server_encryption_options`: with `internode_encryption:
//! all`, the storage port (gossip, replica messages, streaming, schema, admin) speaks gRPC over
//! TLS, each side presenting its `keystore` certificate and checking the other's against the
//! `truststore` (mutual authentication with `require_client_auth`; the peer's address checked
//! against its certificate with `require_endpoint_verification`).
//!
//! A node sets its settings once at start ([`set_process`]), before any channel opens; every
//! channel of the process is then opened through [`connect`] or [`connect_lazy`], and the
//! gRPC server takes its connections from [`incoming`]. The `ilion` admin commands read the
//! same settings from `--config`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

use super::{EncryptionOptions, Reloading, ServerTls, TlsError};
#[cfg(test)]
use std::path::PathBuf;

const SECTION: &str = "server_encryption_options";

/// How long a peer has to finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `server_encryption_options` puts node-to-node traffic in TLS.
pub fn enabled(options: &EncryptionOptions) -> bool {
    options.internode_encryption.as_deref() == Some("all")
}

/// Checks `server_encryption_options` without reading the files.
pub fn validate(options: &EncryptionOptions) -> Result<(), TlsError> {
    let invalid = |reason: String| {
        Err(TlsError::Invalid {
            setting: SECTION,
            reason,
        })
    };
    if options.enabled {
        return invalid(
            "`enabled` is Cassandra's deprecated key here; use `internode_encryption: all`".into(),
        );
    }
    match options.internode_encryption.as_deref() {
        None | Some("none" | "all") => {}
        Some(level @ ("dc" | "rack")) => {
            return invalid(format!(
                "`internode_encryption: {level}` is not supported; use all or none"
            ));
        }
        Some(other) => {
            return invalid(format!(
                "`internode_encryption` is none or all, not `{other}`"
            ));
        }
    }
    if !enabled(options) {
        return Ok(());
    }
    if options.truststore.is_none() {
        return invalid(
            "`truststore` is required with internode_encryption: peers' certificates are \
             checked against it"
                .into(),
        );
    }
    as_server(options).validate(SECTION)
}

/// The settings as a listening port's: enabled, without the server-only keys.
fn as_server(options: &EncryptionOptions) -> EncryptionOptions {
    EncryptionOptions {
        enabled: enabled(options),
        internode_encryption: None,
        require_endpoint_verification: false,
        ..options.clone()
    }
}

/// A node's internode TLS: how it accepts peers and how it connects to them.
#[derive(Debug)]
pub struct Internode {
    server: ServerTls,
    client: Reloading<ClientConfig>,
}

impl Internode {
    /// Reads the files of `options` (with `internode_encryption: all`).
    pub fn new(options: &EncryptionOptions) -> Result<Internode, TlsError> {
        validate(options)?;
        let o = as_server(options);
        let server = ServerTls::new(&o, SECTION)?;
        let verify_names = options.require_endpoint_verification;
        let files = o.files();
        let client = Reloading::new(SECTION, files, move || {
            o.client_config(SECTION, verify_names)
        })?;
        Ok(Internode { server, client })
    }
}

static PROCESS: OnceLock<Arc<Internode>> = OnceLock::new();

/// Sets this process's internode TLS, once, before any channel opens. A second call (with
/// other settings) is an error naming the section.
pub fn set_process(tls: Arc<Internode>) -> Result<(), TlsError> {
    PROCESS.set(tls).map_err(|_| TlsError::Invalid {
        setting: SECTION,
        reason: "internode TLS is already set up in this process".into(),
    })
}

fn process() -> Option<&'static Arc<Internode>> {
    PROCESS.get()
}

/// Opens a channel to the endpoint (an `http://ip:port` address), in TLS when the process has
/// internode TLS.
pub async fn connect(endpoint: &Endpoint) -> Result<Channel, tonic::transport::Error> {
    match process() {
        Some(tls) => {
            endpoint
                .connect_with_connector(Connector(tls.clone()))
                .await
        }
        None => endpoint.connect().await,
    }
}

/// A channel that connects on first use, as [`connect`].
pub fn connect_lazy(endpoint: &Endpoint) -> Channel {
    match process() {
        Some(tls) => endpoint.connect_with_connector_lazy(Connector(tls.clone())),
        None => endpoint.connect_lazy(),
    }
}

/// Connects over TCP and then TLS to the `ip:port` of a URI.
#[derive(Debug, Clone)]
struct Connector(Arc<Internode>);

type Connecting = Pin<
    Box<
        dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send,
    >,
>;

impl tonic::codegen::Service<Uri> for Connector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.0.client.current();
        Box::pin(async move {
            let bad =
                || io::Error::new(io::ErrorKind::InvalidInput, format!("no ip:port in {uri}"));
            let authority = uri.authority().ok_or_else(bad)?;
            let ip: IpAddr = authority
                .host()
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| bad())?;
            let port = authority.port_u16().ok_or_else(bad)?;
            let tcp = TcpStream::connect(SocketAddr::new(ip, port)).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::IpAddress(ip.into()), tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// A connection the gRPC server accepted: plain text or TLS.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Where an accepted connection came from (tonic's connection info).
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        let tcp = match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        };
        ConnInfo {
            remote: tcp.peer_addr().ok(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The connections the gRPC server serves, accepted from `listener` until `stop` turns true:
/// in TLS when the process has internode TLS (plain text too when `optional`), handshakes
/// run concurrently and a failed one is logged and dropped.
pub fn incoming(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(64);
    let tls = process().cloned();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a node-to-node connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
            }
            let Some(tls) = tls.clone() else {
                if tx.send(Ok(Conn::Plain(stream))).await.is_err() {
                    break;
                }
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Some(conn) = handshake(&tls.server, stream, peer).await {
                    let _ = tx.send(Ok(conn)).await;
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// TLS when the first byte opens a handshake; plain text only when `optional`.
async fn handshake(tls: &ServerTls, stream: TcpStream, peer: SocketAddr) -> Option<Conn> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    if first[0] != 0x16 {
        if tls.optional() {
            return Some(Conn::Plain(stream));
        }
        tracing::warn!(%peer, "plain-text node-to-node connection refused: internode_encryption is all");
        return None;
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(s)) => Some(Conn::Tls(Box::new(s))),
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "node-to-node TLS handshake refused");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, "node-to-node TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tls")
            .join(name)
    }

    fn all() -> EncryptionOptions {
        EncryptionOptions {
            internode_encryption: Some("all".into()),
            keystore: Some(fixture("node.pem")),
            truststore: Some(fixture("ca.pem")),
            require_client_auth: true,
            ..EncryptionOptions::default()
        }
    }

    #[test]
    fn settings_not_honoured_are_refused_naming_the_section() {
        let reason = |o: EncryptionOptions| validate(&o).unwrap_err().to_string();
        assert!(validate(&EncryptionOptions::default()).is_ok());
        assert!(validate(&all()).is_ok());
        let dc = EncryptionOptions {
            internode_encryption: Some("dc".into()),
            ..all()
        };
        assert_eq!(
            reason(dc),
            "invalid setting `server_encryption_options`: `internode_encryption: dc` is not \
             supported; use all or none"
        );
        let no_ca = EncryptionOptions {
            truststore: None,
            ..all()
        };
        assert!(reason(no_ca).contains("`truststore` is required"));
        let typo = EncryptionOptions {
            internode_encryption: Some("yes".into()),
            ..all()
        };
        assert!(reason(typo).contains("none or all, not `yes`"));
        let old = EncryptionOptions {
            enabled: true,
            ..all()
        };
        assert!(reason(old).contains("use `internode_encryption: all`"));
        // And the server-only keys are refused in the client section.
        let err = all().validate("client_encryption_options").unwrap_err();
        assert!(
            err.to_string()
                .contains("belong to server_encryption_options"),
            "{err}"
        );
    }

    /// Two ends in one test: a server taking `incoming` connections with mutual TLS and a
    /// client connecting through `Connector`; bytes go both ways, and a client whose
    /// certificate the truststore did not sign is refused.
    #[tokio::test]
    async fn mutual_tls_carries_bytes_and_refuses_an_unknown_certificate() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let node = Arc::new(Internode::new(&all()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = node.clone();
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                if let Some(mut conn) = handshake(&server.server, stream, peer).await {
                    let mut buf = [0u8; 5];
                    if conn.read_exact(&mut buf).await.is_ok() {
                        let _ = conn.write_all(&buf).await;
                        let _ = conn.flush().await;
                    }
                }
            }
        });
        let uri: Uri = format!("http://{addr}").parse().unwrap();
        let mut connector = Connector(node.clone());
        let mut io = tonic::codegen::Service::call(&mut connector, uri.clone())
            .await
            .unwrap()
            .into_inner();
        io.write_all(b"hello").await.unwrap();
        io.flush().await.unwrap();
        let mut back = [0u8; 5];
        io.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");

        let stranger = Arc::new(
            Internode::new(&EncryptionOptions {
                keystore: Some(fixture("other.pem")),
                ..all()
            })
            .unwrap(),
        );
        let mut connector = Connector(stranger);
        let refused = async {
            let mut io = tonic::codegen::Service::call(&mut connector, uri)
                .await?
                .into_inner();
            io.write_all(b"hello").await?;
            io.flush().await?;
            let mut back = [0u8; 5];
            io.read_exact(&mut back).await?;
            io::Result::Ok(())
        }
        .await;
        assert!(
            refused.is_err(),
            "a certificate the CA did not sign got through"
        );
    }
}
