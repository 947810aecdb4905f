//! The direct connection: TLS over TCP carrying framed messages (docs/PROTOCOL.md).

use std::sync::Arc;

use glance_protocol::framing::{self, Kind, Message, HEADER_LEN};
use glance_protocol::Control;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{tls::server_name, TransportError};

/// An established direct connection.
pub type DirectStream = TlsStream<TcpStream>;

/// Connects to `addr` ("host:port"), checking the certificate against `tls_host`.
pub async fn connect(
    tls: Arc<ClientConfig>,
    addr: &str,
    tls_host: &str,
) -> Result<DirectStream, TransportError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    TlsConnector::from(tls)
        .connect(server_name(tls_host)?, tcp)
        .await
        .map_err(|e| TransportError::Tls(e.to_string()))
}

/// Reads one message; the header is checked against the limits before the payload is read.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Result<Message, TransportError> {
    let mut h = [0u8; HEADER_LEN];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(TransportError::Closed)
        }
        Err(e) => return Err(e.into()),
    }
    let (kind, len) = framing::parse_header(h)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(framing::decode_payload(kind, payload)?)
}

/// Writes one control message.
pub async fn write_control<W: AsyncWrite + Unpin>(
    w: &mut W,
    c: &Control,
) -> Result<(), TransportError> {
    w.write_all(&framing::encode_control(c)).await?;
    w.flush().await?;
    Ok(())
}

/// Writes one frame-update payload (header, then the payload without copying it).
pub async fn write_update<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
) -> Result<(), TransportError> {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    h[4] = Kind::Update as u8;
    w.write_all(&h).await?;
    w.write_all(payload).await?;
    Ok(())
}

/// Writes one cursor shape (kind 3) without flushing: the `cursor` message that uses it
/// follows at once.
pub async fn write_shape<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
) -> Result<(), TransportError> {
    w.write_all(&framing::encode(Kind::Cursor, payload)).await?;
    Ok(())
}
