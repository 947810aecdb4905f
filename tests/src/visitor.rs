//! [`RawVisitor`]: a minimal visitor speaking the direct protocol (TLS, length-prefixed
//! framing) for server tests that do not need the real SDK. A background task reads the
//! server's control messages into a channel and answers pings.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use glance_protocol::framing::{self, Kind, Message, HEADER_LEN};
use glance_protocol::{
    Control, CursorShape, DisplayInfo, Role, StartSession, PROTOCOL_VERSION_MAX,
    PROTOCOL_VERSION_MIN,
};
use glance_server::ReadyInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::{Result, TestError};

type Writer = Arc<tokio::sync::Mutex<WriteHalf<TlsStream<TcpStream>>>>;

/// What the reader task saw.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitorEvent {
    /// A control message (pings are answered and not reported).
    Control(Control),
    /// A frame update (servers never send one to visitors).
    Update(Vec<u8>),
    /// A cursor shape payload (servers never send one to visitors either).
    CursorShape(Vec<u8>),
    /// The connection ended; the text says how.
    Closed(String),
}

/// See the module documentation.
pub struct RawVisitor {
    writer: Writer,
    rx: mpsc::UnboundedReceiver<VisitorEvent>,
    log: Arc<Mutex<Vec<Control>>>,
    reader: JoinHandle<()>,
    /// The key of the started session.
    pub key: Option<String>,
}

impl Drop for RawVisitor {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for RawVisitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawVisitor")
            .field("key", &self.key)
            .finish()
    }
}

/// `start_session` parameters for the ready line's development group.
pub fn start_params(ready: &ReadyInfo, key: Option<&str>, width: u16, height: u16) -> StartSession {
    StartSession {
        group_id: ready.group_id,
        token: ready.api_key.clone(),
        key: key.map(str::to_string),
        visitor_id: None,
        name: "Test Visitor".into(),
        email: String::new(),
        phone: String::new(),
        max_guests: 0,
        persist: true,
        paused: false,
        main_call_id: 0,
        presence_start: false,
        display: DisplayInfo {
            name: "main".into(),
            width,
            height,
        },
        previous_call_id: None,
    }
}

impl RawVisitor {
    /// Connects TLS to the direct address; nothing is sent yet.
    pub async fn connect(ready: &ReadyInfo) -> Result<RawVisitor> {
        RawVisitor::connect_from(ready, None).await
    }

    /// [`RawVisitor::connect`] from the local address `source` (another loopback address:
    /// another client to the server's per-address budgets).
    pub async fn connect_from(
        ready: &ReadyInfo,
        source: Option<std::net::IpAddr>,
    ) -> Result<RawVisitor> {
        let tls = crate::tls::connect_from(ready, &ready.direct_addr, None, source).await?;
        let (r, w) = tokio::io::split(tls);
        let writer: Writer = Arc::new(tokio::sync::Mutex::new(w));
        let (tx, rx) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let reader = tokio::spawn(read_loop(r, writer.clone(), tx, log.clone()));
        Ok(RawVisitor {
            writer,
            rx,
            log,
            reader,
            key: None,
        })
    }

    /// Sends `hello` (role visitor, this build's versions) and returns the answer.
    pub async fn hello(&mut self) -> Result<Control> {
        self.hello_with(Role::Visitor, PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX)
            .await
    }

    /// Sends `hello` with the given role and versions and returns the answer.
    pub async fn hello_with(&mut self, role: Role, min: u32, max: u32) -> Result<Control> {
        self.send_control(&Control::Hello {
            role,
            min_version: min,
            max_version: max,
            client: "glance-tests raw visitor".into(),
            sdk_version: String::new(),
        })
        .await?;
        self.recv_control(Duration::from_secs(10)).await
    }

    /// Sends `start_session` and returns the answer (`session_started` or `start_failed`).
    pub async fn start_session(&mut self, s: StartSession) -> Result<Control> {
        self.send_control(&Control::StartSession(s)).await?;
        let c = self.recv_control(Duration::from_secs(10)).await?;
        if let Control::SessionStarted { key, .. } = &c {
            self.key = Some(key.clone());
        }
        Ok(c)
    }

    /// Connects, says hello and starts a session in the development group; fails unless it
    /// started. Returns the visitor (its `key` set).
    pub async fn start(ready: &ReadyInfo, s: StartSession) -> Result<RawVisitor> {
        let mut v = RawVisitor::connect(ready).await?;
        match v.hello().await? {
            Control::Welcome { .. } => {}
            other => {
                return Err(TestError::Protocol(format!(
                    "expected welcome, got {other:?}"
                )))
            }
        }
        match v.start_session(s).await? {
            Control::SessionStarted { .. } => Ok(v),
            other => Err(TestError::Protocol(format!(
                "expected session_started, got {other:?}"
            ))),
        }
    }

    /// [`RawVisitor::start`] with [`start_params`].
    pub async fn start_dev(
        ready: &ReadyInfo,
        key: Option<&str>,
        width: u16,
        height: u16,
    ) -> Result<RawVisitor> {
        RawVisitor::start(ready, start_params(ready, key, width, height)).await
    }

    /// The started session's key.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }

    /// Writes raw bytes.
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<()> {
        let mut w = self.writer.lock().await;
        w.write_all(bytes).await?;
        w.flush().await?;
        Ok(())
    }

    pub async fn send_control(&self, c: &Control) -> Result<()> {
        self.send_raw(&framing::encode_control(c)).await
    }

    /// Sends one frame-update payload.
    pub async fn send_update(&self, payload: &[u8]) -> Result<()> {
        self.send_raw(&framing::encode(Kind::Update, payload)).await
    }

    /// Sends every message of a frame.
    pub async fn send_frame(&self, messages: &[Vec<u8>]) -> Result<()> {
        for m in messages {
            self.send_update(m).await?;
        }
        Ok(())
    }

    /// Sends a cursor shape (kind 3).
    pub async fn send_cursor_shape(&self, shape: &CursorShape) -> Result<()> {
        self.send_raw(&framing::encode(Kind::Cursor, &shape.encode()))
            .await
    }

    /// Sends a `cursor` message.
    pub async fn send_cursor(&self, x: u16, y: u16, visible: bool, shape: u32) -> Result<()> {
        self.send_control(&Control::Cursor {
            x,
            y,
            visible,
            shape,
        })
        .await
    }

    pub async fn pause(&self, paused: bool) -> Result<()> {
        self.send_control(&Control::Pause { paused }).await
    }

    pub async fn end_session(&self) -> Result<()> {
        self.send_control(&Control::EndSession).await
    }

    /// Closes the write side (TLS close_notify) without `end_session`.
    pub async fn shutdown(&self) -> Result<()> {
        self.writer.lock().await.shutdown().await?;
        Ok(())
    }

    /// The next event, at most `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Result<VisitorEvent> {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Err(_) => Err(TestError::Timeout {
                what: "a message from the server".into(),
                secs: timeout.as_secs_f64(),
                detail: format!("received so far: {:?}", self.received()),
            }),
            Ok(None) => Err(TestError::Closed("the reader has ended".into())),
            Ok(Some(e)) => Ok(e),
        }
    }

    /// The next event if one has arrived already.
    pub fn try_recv(&mut self) -> Option<VisitorEvent> {
        self.rx.try_recv().ok()
    }

    /// The next control message; an error if the connection closed first.
    pub async fn recv_control(&mut self, timeout: Duration) -> Result<Control> {
        match self.recv(timeout).await? {
            VisitorEvent::Control(c) => Ok(c),
            VisitorEvent::Update(_) | VisitorEvent::CursorShape(_) => {
                Err(TestError::Protocol("a binary message to a visitor".into()))
            }
            VisitorEvent::Closed(why) => Err(TestError::Closed(why)),
        }
    }

    /// Skips messages until one satisfies `f`, at most `timeout` in all.
    pub async fn recv_until(
        &mut self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Control) -> bool,
    ) -> Result<Control> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Ok(VisitorEvent::Control(c)) if f(&c) => return Ok(c),
                Ok(VisitorEvent::Closed(why)) => {
                    return Err(TestError::Closed(format!("{why} (waiting for {what})")))
                }
                Ok(_) => {}
                Err(TestError::Timeout { secs, detail, .. }) => {
                    return Err(TestError::Timeout {
                        what: what.into(),
                        secs,
                        detail,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until the connection closes; returns the control messages seen meanwhile.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Result<Vec<Control>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await? {
                VisitorEvent::Control(c) => seen.push(c),
                VisitorEvent::Update(_) | VisitorEvent::CursorShape(_) => {}
                VisitorEvent::Closed(_) => return Ok(seen),
            }
        }
    }

    /// Every control message received so far (pings excluded), whether consumed or not.
    pub fn received(&self) -> Vec<Control> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many `refresh_request`s arrived so far.
    pub fn refresh_requests(&self) -> usize {
        self.received()
            .iter()
            .filter(|c| matches!(c, Control::RefreshRequest))
            .count()
    }
}

async fn read_loop(
    mut r: ReadHalf<TlsStream<TcpStream>>,
    writer: Writer,
    tx: mpsc::UnboundedSender<VisitorEvent>,
    log: Arc<Mutex<Vec<Control>>>,
) {
    loop {
        let mut h = [0u8; HEADER_LEN];
        if let Err(e) = r.read_exact(&mut h).await {
            let _ = tx.send(VisitorEvent::Closed(format!("read: {e}")));
            return;
        }
        let (kind, len) = match framing::parse_header(h) {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.send(VisitorEvent::Closed(format!("bad header: {e}")));
                return;
            }
        };
        let mut payload = vec![0u8; len];
        if let Err(e) = r.read_exact(&mut payload).await {
            let _ = tx.send(VisitorEvent::Closed(format!("read: {e}")));
            return;
        }
        match framing::decode_payload(kind, payload) {
            Ok(Message::Control(Control::Ping { t })) => {
                let pong = framing::encode_control(&Control::Pong { t });
                let mut w = writer.lock().await;
                let _ = w.write_all(&pong).await;
                let _ = w.flush().await;
            }
            Ok(Message::Control(c)) => {
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(c.clone());
                let _ = tx.send(VisitorEvent::Control(c));
            }
            Ok(Message::Update(u)) => {
                let _ = tx.send(VisitorEvent::Update(u));
            }
            Ok(Message::CursorShape(s)) => {
                let _ = tx.send(VisitorEvent::CursorShape(s));
            }
            Err(e) => {
                let _ = tx.send(VisitorEvent::Closed(format!("bad message: {e}")));
                return;
            }
        }
    }
}
