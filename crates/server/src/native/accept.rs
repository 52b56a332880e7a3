//! What a new CQL connection speaks. With `client_encryption_options` enabled its first byte
//! tells: 0x16 opens a TLS handshake (rustls, with the certificate the files hold now); any
//! other byte is a CQL frame in plain text, served when the options are `optional` and
//! otherwise answered with a protocol ERROR that says the port wants TLS, then closed (a
//! refused handshake would leave the client with a bare "connection reset").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ilion_cql::protocol::{ErrorKind, ErrorResponse, ProtocolVersion, Response, ResponseEnvelope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{Shared, connection};

/// How long a client has to send its first bytes and finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves one accepted connection, in TLS or plain text as the settings and the client say.
pub(super) async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(tls) = shared.tls.clone() else {
        return connection::run(stream, peer, shared, shutdown).await;
    };
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => return,
    }
    if first[0] == TLS_HANDSHAKE {
        let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await;
        match accepted {
            Ok(Ok(tls_stream)) => {
                shared.metrics.tls_connection_accepted();
                connection::run(tls_stream, peer, shared, shutdown).await;
            }
            Ok(Err(e)) => {
                shared.metrics.tls_handshake_failed();
                tracing::info!(%peer, error = %e, "TLS handshake refused");
            }
            Err(_) => {
                shared.metrics.tls_handshake_failed();
                tracing::info!(%peer, "TLS handshake timed out");
            }
        }
    } else if tls.optional() {
        connection::run(stream, peer, shared, shutdown).await;
    } else {
        refuse_plain_text(stream, peer).await;
    }
}

/// Answers the plain-text frame a client opened with by a protocol ERROR on its stream.
async fn refuse_plain_text(mut stream: TcpStream, peer: SocketAddr) {
    let mut header = [0u8; 9];
    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut header)).await;
    let (version, stream_id) = match read {
        Ok(Ok(_)) => (
            ProtocolVersion::from_number(header[0] & 0x7f).unwrap_or(ProtocolVersion::V4),
            i16::from_be_bytes([header[2], header[3]]),
        ),
        _ => (ProtocolVersion::V4, 0),
    };
    tracing::info!(%peer, "plain-text connection refused: the CQL port accepts only TLS");
    let error = ResponseEnvelope::new(
        version,
        stream_id,
        Response::Error(ErrorResponse {
            kind: ErrorKind::ProtocolError,
            message: "This port accepts only TLS connections (client_encryption_options: \
                      enabled, not optional); connect with SSL/TLS"
                .to_owned(),
        }),
    );
    let mut out = BytesMut::new();
    if error.write(&mut out).is_ok() {
        let _ = stream.write_all(&out).await;
    }
    let _ = stream.shutdown().await;
}
