//! The tunnel: the direct protocol's messages over a WebSocket on the service's HTTPS port
//! (`tunnel` URL of `/api/visitor/config`, PROTOCOL.md "WebSocket mapping"), for networks
//! that refuse the direct port. TLS is the same client configuration as the direct
//! connection's (same trust anchors); the WebSocket handshake runs over it.

use std::sync::Arc;

use glance_protocol::limits::MAX_CONTROL_LEN;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use super::{tls::server_name, TransportError};
use crate::params::parse_https_url;

/// An established tunnel.
pub type TunnelStream = WebSocketStream<TlsStream<TcpStream>>;

/// Splits a `wss://host:port/path` URL into host, port and path.
pub fn parse_wss_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("wss://")
        .ok_or_else(|| format!("{url:?} is not a wss:// URL"))?;
    parse_https_url(&format!("https://{rest}"))
}

/// Opens the tunnel at `url`, checking the certificate against the URL's host.
pub async fn connect(tls: Arc<ClientConfig>, url: &str) -> Result<TunnelStream, TransportError> {
    let (host, port, _) =
        parse_wss_url(url).map_err(|m| TransportError::Malformed(format!("tunnel URL: {m}")))?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let tls = TlsConnector::from(tls)
        .connect(server_name(&host)?, tcp)
        .await
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let req = url
        .into_client_request()
        .map_err(|e| TransportError::Malformed(format!("tunnel URL: {e}")))?;
    // The service sends a visitor control messages only.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CONTROL_LEN + 1))
        .max_frame_size(Some(MAX_CONTROL_LEN + 1));
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, tls, Some(config))
        .await
        .map_err(|e| TransportError::WebSocket(e.to_string()))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tunnel_urls() {
        assert_eq!(
            parse_wss_url("wss://127.0.0.1:8443/ws/visitor").unwrap(),
            ("127.0.0.1".into(), 8443, "/ws/visitor".into())
        );
        assert!(parse_wss_url("https://h/ws/visitor").is_err());
    }
}
