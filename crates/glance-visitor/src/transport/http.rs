//! A minimal HTTPS GET for service discovery (`/api/visitor/config`): HTTP/1.0, one request
//! per connection, a bounded response read to the end.

use std::sync::Arc;

use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{tls::server_name, TransportError};

/// Largest response accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// GETs `path` from `host:port` over TLS; returns the status and the body.
pub async fn get(
    tls: Arc<ClientConfig>,
    host: &str,
    port: u16,
    path: &str,
) -> Result<(u16, Vec<u8>), TransportError> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let mut s = TlsConnector::from(tls)
        .connect(server_name(host)?, tcp)
        .await
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {host_header}\r\nAccept: application/json\r\nUser-Agent: glance-visitor/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(req.as_bytes()).await?;
    s.flush().await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            // Some servers close without close_notify; what was read is complete if the
            // headers say so, checked below.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            return Err(TransportError::Malformed("response too large".into()));
        }
    }
    parse_response(&buf)
}

/// Splits an HTTP/1.x response into status and body (Content-Length honoured when present).
pub fn parse_response(buf: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
    let bad = |m: &str| TransportError::Malformed(m.to_string());
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut body = buf[end + 4..].to_vec();
    let mut length: Option<usize> = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                let n: usize = v.trim().parse().map_err(|_| bad("bad content-length"))?;
                // Two different lengths: which body is meant is ambiguous (RFC 9112 6.3).
                if length.is_some_and(|m| m != n) {
                    return Err(bad("conflicting content-length headers"));
                }
                length = Some(n);
            }
        }
    }
    if let Some(n) = length {
        if body.len() < n {
            return Err(bad("body shorter than content-length"));
        }
        body.truncate(n);
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}xx";
        assert_eq!(parse_response(r).unwrap(), (200, b"{}".to_vec()));
        assert!(parse_response(b"HTTP/1.0 200 OK\r\n").is_err());
        assert!(parse_response(b"HTTP/1.0 2x0 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
        assert!(parse_response(
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 1\r\n\r\n{}"
        )
        .is_err());
        assert!(parse_response(
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
        )
        .is_ok());
    }
}
