//! [`JsonWs`]: a WebSocket client over TLS to the test server that sends and receives JSON
//! text messages (the presence endpoints), with bounded waits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use glance_server::ReadyInfo;
use tokio_tungstenite::tungstenite::Message;

use crate::{Result, TestError};

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// See the module documentation.
pub struct JsonWs {
    ws: Stream,
}

impl JsonWs {
    /// Opens `wss://host:port{path}`, sending `origin` as the Origin header if given.
    pub async fn connect(ready: &ReadyInfo, path: &str, origin: Option<&str>) -> Result<JsonWs> {
        Ok(JsonWs {
            ws: crate::tls::websocket(ready, path, origin, None).await?,
        })
    }

    pub async fn send(&mut self, v: &serde_json::Value) -> Result<()> {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .map_err(|e| TestError::Ws(e.to_string()))
    }

    /// The next JSON message other than a `ping` (answered with `pong`); `None` if the
    /// connection closed.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Option<serde_json::Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = tokio::time::timeout(left, self.ws.next())
                .await
                .map_err(|_| TestError::Timeout {
                    what: "a presence message".into(),
                    secs: timeout.as_secs_f64(),
                    detail: String::new(),
                })?;
            match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t)
                        .map_err(|e| TestError::Protocol(format!("not JSON ({e}): {t}")))?;
                    if v["type"] == "ping" {
                        self.send(&serde_json::json!({"type": "pong", "t": v["t"]}))
                            .await?;
                        continue;
                    }
                    return Ok(Some(v));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Skips messages until one satisfies `f`.
    pub async fn recv_until(
        &mut self,
        timeout: Duration,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Some(v) if f(&v) => return Ok(v),
                Some(_) => {}
                None => return Err(TestError::Closed("closed while waiting".into())),
            }
        }
    }

    /// Reads until the close; returns the messages seen.
    pub async fn until_closed(&mut self, timeout: Duration) -> Result<Vec<serde_json::Value>> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Some(v) => seen.push(v),
                None => return Ok(seen),
            }
        }
    }
}
