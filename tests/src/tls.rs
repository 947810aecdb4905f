//! TLS client side for tests: a rustls client (ring provider) that trusts the server's
//! development CA, and connections to a ready line's addresses.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use glance_server::ReadyInfo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::{Result, TestError};

/// A client configuration trusting the PEM certificates in `ca_pem`.
pub fn client_config(ca_pem: &Path) -> Result<Arc<ClientConfig>> {
    let pem = std::fs::read(ca_pem)?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert?)
            .map_err(|e| TestError::Tls(format!("{}: {e}", ca_pem.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TestError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The host of the ready line's session URL (what certificates are checked against).
pub fn host_of(ready: &ReadyInfo) -> String {
    let rest = ready
        .session_url
        .strip_prefix("https://")
        .unwrap_or(&ready.session_url);
    match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
        None => rest.rsplit_once(':').map_or(rest, |(h, _)| h).to_string(),
    }
}

/// Connects TCP (optionally with a small receive buffer) and TLS to `addr`, checking the
/// certificate for `host` against the ready line's CA.
pub async fn connect(
    ready: &ReadyInfo,
    addr: &str,
    recv_buffer: Option<u32>,
) -> Result<TlsStream<TcpStream>> {
    connect_from(ready, addr, recv_buffer, None).await
}

/// [`connect`] from the local address `source` (a loopback address of the 127.0.0.0/8
/// range, so that per-address budgets see another client); `None`: the system's choice.
pub async fn connect_from(
    ready: &ReadyInfo,
    addr: &str,
    recv_buffer: Option<u32>,
    source: Option<std::net::IpAddr>,
) -> Result<TlsStream<TcpStream>> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| TestError::Protocol(format!("bad address {addr:?}: {e}")))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(n) = recv_buffer {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let cfg = client_config(Path::new(&ready.ca_cert))?;
    let name = ServerName::try_from(host_of(ready))
        .map_err(|e| TestError::Tls(format!("server name: {e}")))?;
    TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| TestError::Tls(e.to_string()))
}

/// Opens a WebSocket over TLS to `path` on the ready line's HTTPS address, sending `origin`
/// as the Origin header when given (what a browser page would).
pub async fn websocket(
    ready: &ReadyInfo,
    path: &str,
    origin: Option<&str>,
    recv_buffer: Option<u32>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
> {
    websocket_from(ready, path, origin, recv_buffer, None).await
}

/// [`websocket`] from the local address `source` (see [`connect_from`]).
pub async fn websocket_from(
    ready: &ReadyInfo,
    path: &str,
    origin: Option<&str>,
    recv_buffer: Option<u32>,
    source: Option<std::net::IpAddr>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let tls = connect_from(ready, &ready.https_addr, recv_buffer, source).await?;
    let port = ready.https_addr.rsplit(':').next().unwrap_or("443");
    let host = host_of(ready);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let mut req = format!("wss://{host}:{port}{path}")
        .into_client_request()
        .map_err(|e| crate::TestError::Ws(e.to_string()))?;
    if let Some(o) = origin {
        let v = o
            .parse()
            .map_err(|_| crate::TestError::Protocol(format!("bad origin {o:?}")))?;
        req.headers_mut().insert("Origin", v);
    }
    let (ws, _) = tokio_tungstenite::client_async(req, tls)
        .await
        .map_err(|e| crate::TestError::Ws(e.to_string()))?;
    Ok(ws)
}
