//! `GET /ws/visitor`: the tunnel. A WebSocket carrying exactly the direct protocol's messages
//! (PROTOCOL.md, "WebSocket mapping": a text message is a control message, a binary message
//! is the kind byte followed by the payload), for visitors whose network refuses the direct
//! port. Only the transport lives here: a reader task turns WebSocket messages into
//! [`Incoming`] (limits checked per kind), a writer task writes the visitor's [`SendQueue`]
//! and the heartbeat, and [`crate::relay::visitor::run`] — the same code as the direct
//! listener's — decides what the messages mean.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use glance_protocol::framing::{self, Kind};
use glance_protocol::limits::MAX_BINARY_LEN;
use glance_protocol::Control;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

use super::{AppState, PeerAddr};
use crate::direct::CLOSE_GRACE;
use crate::relay::agent_queue::{SendQueue, MAX_QUEUED_CONTROLS};
use crate::relay::visitor::{self, Incoming, RecvError};

/// The largest WebSocket message a visitor may send: the kind byte and the largest payload.
const MAX_VISITOR_MESSAGE: usize = MAX_BINARY_LEN;

pub async fn handler(
    State(st): State<Arc<AppState>>,
    Extension(peer): Extension<PeerAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    // The handshake deadline runs from the upgrade request, like the direct port's from
    // accept.
    let deadline = Instant::now() + st.timing.handshake_timeout;
    ws.max_message_size(MAX_VISITOR_MESSAGE)
        .max_frame_size(MAX_VISITOR_MESSAGE)
        .on_upgrade(move |socket| serve(st, socket, deadline, peer.0.ip()))
}

async fn serve(st: Arc<AppState>, socket: WebSocket, deadline: Instant, peer: std::net::IpAddr) {
    let (sink, stream) = socket.split();
    let queue = Arc::new(SendQueue::new(0, MAX_QUEUED_CONTROLS));
    let mut writer = tokio::spawn(super::ws_queue::write_loop(
        sink,
        queue.clone(),
        st.timing.ping_interval,
        "visitor tunnel",
    ));
    let (tx, mut rx) = mpsc::channel(1);
    let reader = tokio::spawn(read_loop(stream, tx, st.timing.visitor_idle_timeout));
    visitor::run(st.registry.clone(), &mut rx, queue.clone(), deadline, peer).await;
    queue.close(None);
    if queue.is_aborted() || timeout(CLOSE_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
    // As on the direct port: read (and discard) until the peer closes, bounded, so our last
    // messages are not destroyed by a reset.
    let _ = timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = rx.recv().await {}
    })
    .await;
    reader.abort();
}

/// Turns one WebSocket message into what the relay reads; `None` for messages that carry
/// nothing (WebSocket ping and pong).
fn decode(msg: Message) -> Option<Result<Incoming, RecvError>> {
    let protocol = |e: framing::FramingError| RecvError::Protocol {
        code: e.code(),
        message: e.to_string(),
    };
    Some(match msg {
        Message::Text(t) => Control::from_json(t.as_bytes())
            .map(Incoming::Control)
            .map_err(|e| protocol(e.into())),
        Message::Binary(b) => decode_binary(b).map_err(protocol),
        Message::Ping(_) | Message::Pong(_) => return None,
        Message::Close(_) => Err(RecvError::Closed),
    })
}

/// A binary message: kind 2 and 3 keep their bytes (the agents get them unchanged), kind 1
/// is a control message.
fn decode_binary(b: Bytes) -> Result<Incoming, framing::FramingError> {
    let (&k, payload) = b.split_first().ok_or(framing::FramingError::Empty)?;
    let kind = Kind::from_byte(k).ok_or(framing::FramingError::UnknownKind(k))?;
    if payload.len() > kind.max_len() {
        return Err(framing::FramingError::TooLarge {
            kind,
            len: payload.len(),
            max: kind.max_len(),
        });
    }
    Ok(match kind {
        Kind::Update => Incoming::Update(b),
        Kind::Cursor => Incoming::CursorShape(b),
        Kind::Control => Incoming::Control(Control::from_json(payload)?),
    })
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    tx: mpsc::Sender<Result<Incoming, RecvError>>,
    idle: Duration,
) {
    loop {
        let m = match timeout(idle, stream.next()).await {
            Err(_) => Err(RecvError::Idle),
            Ok(None) => Err(RecvError::Closed),
            Ok(Some(Err(e))) => {
                let text = e.to_string();
                // tungstenite reports a message over max_message_size as a capacity error.
                if text.contains("Space limit") {
                    Err(RecvError::Protocol {
                        code: "too_large",
                        message: format!("message refused: {text}"),
                    })
                } else {
                    Err(RecvError::Io(text))
                }
            }
            Ok(Some(Ok(msg))) => match decode(msg) {
                Some(m) => m,
                None => continue,
            },
        };
        let stop = m.is_err();
        if tx.send(m).await.is_err() || stop {
            return;
        }
    }
}
