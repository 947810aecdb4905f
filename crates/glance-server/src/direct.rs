//! The visitors' direct listener: TLS over TCP with the length-prefixed framing of
//! PROTOCOL.md. Each connection gets a reader task (framing, size checks before any payload
//! is read, the idle timeout), a writer task (the visitor's send queue, heartbeats) and the
//! transport-independent protocol logic of [`crate::relay::visitor`].

use std::sync::Arc;
use std::time::Duration;

use glance_protocol::framing::{self, Kind, Message, HEADER_LEN};
use glance_protocol::Control;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_rustls::TlsAcceptor;

use crate::config::Timing;
use crate::relay::agent_queue::{Outgoing, SendQueue, MAX_QUEUED_CONTROLS};
use crate::relay::visitor::{self, Incoming, RecvError};
use crate::relay::Registry;

/// How long a closing connection may take to flush its last messages.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Bytes read at a time while a payload arrives (the buffer grows as bytes arrive, never to
/// more than the header announced).
const READ_CHUNK: usize = 64 * 1024;

/// Accepts visitor connections until `shutdown` turns true.
pub async fn run_listener(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    registry: Arc<Registry>,
    timing: Timing,
    budget: Arc<crate::guard::conn::ConnBudget>,
    shutdown: watch::Receiver<bool>,
) {
    crate::listener::accept_tls(
        "direct",
        listener,
        acceptor,
        timing.handshake_timeout,
        budget,
        shutdown,
        move |tls, peer, deadline| serve(tls, registry.clone(), timing, deadline, peer.ip()),
    )
    .await
}

/// Serves one visitor connection; `deadline` (from accept) also bounds `hello` and
/// `start_session`.
async fn serve(
    tls: crate::listener::Conn,
    registry: Arc<Registry>,
    timing: Timing,
    deadline: Instant,
    peer: std::net::IpAddr,
) {
    let (r, w) = tokio::io::split(tls);
    let queue = Arc::new(SendQueue::new(0, MAX_QUEUED_CONTROLS));
    // Both helpers end with this task, even when it is aborted (server shutdown).
    let mut writer = AbortOnDrop(tokio::spawn(write_loop(
        w,
        queue.clone(),
        timing.ping_interval,
    )));
    let (tx, mut rx) = mpsc::channel(1);
    let _reader = AbortOnDrop(tokio::spawn(read_loop(r, tx, timing.visitor_idle_timeout)));
    visitor::run(registry, &mut rx, queue.clone(), deadline, peer).await;
    queue.close(None);
    let _ = timeout(CLOSE_GRACE, &mut writer.0).await;
    // Closing a socket with unread bytes resets it, and a reset can destroy our last
    // messages (session_ended, error) before the peer reads them: discard what the peer
    // still sends until it closes too, for a bounded time.
    let _ = timeout(LINGER, async { while let Some(Ok(_)) = rx.recv().await {} }).await;
}

/// How long a closed connection keeps reading (and discarding) until the peer closes.
const LINGER: Duration = Duration::from_secs(2);

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, queue: Arc<SendQueue>, ping: Duration) {
    let mut tick = tokio::time::interval_at(Instant::now() + ping, ping);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = queue.pop() => {
                let bytes = match item {
                    Some(Outgoing::Control(c)) => framing::encode_control(&c),
                    Some(Outgoing::Update(b)) => framing::encode(Kind::Update, b.get(1..).unwrap_or_default()),
                    Some(Outgoing::Shape(b)) => framing::encode(Kind::Cursor, b.get(1..).unwrap_or_default()),
                    None => break,
                };
                let sent = async {
                    w.write_all(&bytes).await?;
                    w.flush().await
                };
                if let Err(e) = sent.await {
                    log::debug!("direct: write failed: {e}");
                    queue.abort();
                    return;
                }
            }
            _ = tick.tick() => {
                if queue.ping_enabled() {
                    queue.push_control(Control::Ping { t: crate::unix_millis() });
                }
            }
        }
    }
    let _ = timeout(CLOSE_GRACE, w.shutdown()).await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    tx: mpsc::Sender<Result<Incoming, RecvError>>,
    idle: Duration,
) {
    loop {
        let m = read_message(&mut r, idle).await;
        let stop = m.is_err();
        if tx.send(m).await.is_err() || stop {
            return;
        }
    }
}

/// Reads into `buf` until it is full; `Ok(false)` if the stream ended before any byte.
async fn fill<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    idle: Duration,
) -> Result<bool, RecvError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = match timeout(idle, r.read(&mut buf[filled..])).await {
            Err(_) => return Err(RecvError::Idle),
            Ok(Err(e)) => return Err(RecvError::Io(e.to_string())),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            if filled == 0 {
                return Ok(false);
            }
            return Err(RecvError::Io(
                "the connection closed in the middle of a message".into(),
            ));
        }
        filled += n;
    }
    Ok(true)
}

/// Reads one message: the header is checked before any of the payload is read.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    idle: Duration,
) -> Result<Incoming, RecvError> {
    let mut h = [0u8; HEADER_LEN];
    if !fill(r, &mut h, idle).await? {
        return Err(RecvError::Closed);
    }
    let (kind, len) = framing::parse_header(h).map_err(|e| RecvError::Protocol {
        code: e.code(),
        message: e.to_string(),
    })?;
    // Binary kinds keep their kind byte: the bytes agents get on their WebSocket.
    let prefix = usize::from(kind != Kind::Control);
    let mut buf = Vec::with_capacity(prefix + len.min(READ_CHUNK));
    if prefix == 1 {
        buf.push(kind as u8);
    }
    let end = prefix + len;
    while buf.len() < end {
        let start = buf.len();
        let want = (end - start).min(READ_CHUNK);
        buf.resize(start + want, 0);
        if !fill(r, &mut buf[start..], idle).await? {
            return Err(RecvError::Io(
                "the connection closed in the middle of a message".into(),
            ));
        }
    }
    match kind {
        Kind::Update => Ok(Incoming::Update(buf.into())),
        Kind::Cursor => Ok(Incoming::CursorShape(buf.into())),
        Kind::Control => match framing::decode_payload(kind, buf) {
            Ok(Message::Control(c)) => Ok(Incoming::Control(c)),
            Ok(Message::Update(_) | Message::CursorShape(_)) => Err(RecvError::Protocol {
                code: "malformed",
                message: "a control message decoded as an update".into(),
            }),
            Err(e) => Err(RecvError::Protocol {
                code: e.code(),
                message: e.to_string(),
            }),
        },
    }
}
