//! Getting bytes to glance-server: TLS client configuration ([`tls`]), service discovery over
//! HTTPS ([`http`]), the framed direct-stream connection ([`conn`]), the WebSocket tunnel
//! ([`ws`]) and the one interface the session uses for either ([`link`]).

pub mod conn;
pub mod http;
pub mod link;
pub mod tls;
pub mod ws;

/// Why talking to the service failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the service answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("the service sent a malformed response: {0}")]
    Malformed(String),
    #[error("protocol error: {0}")]
    Protocol(#[from] glance_protocol::framing::FramingError),
    #[error("timed out after {0} s")]
    Timeout(u64),
    #[error("the service closed the connection")]
    Closed,
    #[error("WebSocket: {0}")]
    WebSocket(String),
}

/// Runs `f` with a deadline.
pub async fn with_timeout<T>(
    secs: u64,
    f: impl std::future::Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(std::time::Duration::from_secs(secs), f)
        .await
        .map_err(|_| TransportError::Timeout(secs))?
}
