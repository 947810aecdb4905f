//! A tiny HTTPS/1.1 client for tests: one request per connection, trusting the server's CA.

use glance_server::ReadyInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::tls::{connect, host_of};
use crate::{Result, TestError};

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body)
            .map_err(|e| TestError::Protocol(format!("body is not JSON ({e}): {}", self.body)))
    }
}

/// `GET path` on the ready line's HTTPS address (`path` starts with '/').
pub async fn get(ready: &ReadyInfo, path: &str) -> Result<HttpResponse> {
    request(ready, "GET", path, &[], None).await
}

/// `method path` with extra `headers` and an optional JSON `body`.
pub async fn request(
    ready: &ReadyInfo,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<HttpResponse> {
    let mut tls = connect(ready, &ready.https_addr, None).await?;
    let port = ready.https_addr.rsplit(':').next().unwrap_or("443");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}:{port}\r\nConnection: close\r\nUser-Agent: glance-tests\r\n",
        host_of(ready)
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    tls.write_all(req.as_bytes()).await?;
    tls.flush().await?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw).await {
        Ok(_) => {}
        // Servers may close without close_notify after the response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| TestError::Protocol(format!("no end of headers in {text:?}")))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TestError::Protocol(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s
            .split_once("\r\n")
            .ok_or_else(|| TestError::Protocol("bad chunked body".into()))?;
        let n = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| TestError::Protocol(format!("bad chunk size {size:?}")))?;
        if n == 0 {
            return Ok(out);
        }
        let chunk = rest
            .get(..n)
            .ok_or_else(|| TestError::Protocol("truncated chunk".into()))?;
        out.push_str(chunk);
        s = rest.get(n + 2..).unwrap_or("");
    }
}
