//! `GET /ws/presence`: a visitor application's presence connection (docs/PRESENCE.md).
//! `hello` first (group, visitor id, the group's visitor token, the app instance), then
//! presence data, signals for the agent, visibility, session start/end and confirmation
//! answers; the service sends `welcome`, `blur`/`focus`, `signal`, `invoke`, `confirm` and
//! `ping`. Malformed messages get `error` and a close; a missing or wrong token
//! `unauthorized`. At most [`super::PresenceLimits`] sockets are open; more get 503.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

use super::hub::{Identity, Out, PresenceHub, VisitorKey, SOCKET_QUEUE};
use super::{check_presence, check_signal, check_visitor_id, MAX_PRESENCE_MESSAGE};
use crate::http::AppState;

/// Read buffer of a presence socket.
pub(super) const PRESENCE_BUFFER: usize = 4096;

/// Longest app instance id in a hello.
const MAX_INSTANCE_LEN: usize = 64;

pub async fn handler(State(st): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    let Some(slot) = st.presence.visitor_slot() else {
        log::warn!("presence: visitor socket cap reached; answering 503");
        return crate::http::json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many presence connections",
        )
        .into_response();
    };
    // Presence messages are small and these sockets many: small buffers (tungstenite's
    // default read buffer alone is 128 KiB a socket).
    ws.read_buffer_size(PRESENCE_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_PRESENCE_MESSAGE)
        .max_frame_size(MAX_PRESENCE_MESSAGE)
        .on_upgrade(move |socket| async move {
            serve(st, socket).await;
            drop(slot);
        })
}

fn error(code: &str, message: &str) -> String {
    json!({ "type": "error", "code": code, "message": message }).to_string()
}

/// Writes the queue to the socket and pings every `ping`; ends on `Out::Close` or an error.
pub(super) async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Out>,
    ping: std::time::Duration,
    ping_text: fn(u64) -> Option<String>,
) {
    let mut tick = tokio::time::interval_at(Instant::now() + ping, ping);
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m {
                Some(Out::Text(t)) => Message::Text(t.into()),
                Some(Out::Close) | None => break,
            },
            _ = tick.tick() => match ping_text(crate::unix_millis()) {
                Some(t) => Message::Text(t.into()),
                None => Message::Ping(Vec::new().into()),
            },
        };
        if sink.send(msg).await.is_err() {
            return;
        }
    }
    let _ = timeout(crate::direct::CLOSE_GRACE, sink.send(Message::Close(None))).await;
}

/// Reads the hello: (group, visitor id) and what the socket proved, or the error to send.
fn hello(st: &AppState, m: &Value) -> Result<(VisitorKey, Identity), String> {
    if m.get("type").and_then(Value::as_str) != Some("hello") {
        return Err(error("unexpected", "the first message must be hello"));
    }
    let group = m
        .get("group_id")
        .and_then(Value::as_u64)
        .and_then(|g| u32::try_from(g).ok())
        .ok_or_else(|| error("malformed", "hello.group_id must be a group id"))?;
    let id = m
        .get("visitor_id")
        .and_then(Value::as_str)
        .ok_or_else(|| error("malformed", "hello.visitor_id must be a string"))?;
    check_visitor_id(id).map_err(|code| {
        error(
            code,
            "a visitor id is 1 to 63 letters, digits, '.', '-' or '_' (no space, * or >)",
        )
    })?;
    let g = st.registry.group(group).ok_or_else(|| {
        error(
            "notconfigured",
            &format!("group {group} is not configured on this service"),
        )
    })?;
    if !g.presence_enabled {
        return Err(error(
            "notconfigured",
            &format!("presence is not enabled for group {group}"),
        ));
    }
    let token = match m.get("token") {
        None | Some(Value::Null) => "",
        Some(t) => t
            .as_str()
            .ok_or_else(|| error("malformed", "hello.token must be a string"))?,
    };
    if token.is_empty() && g.require_visitor_token {
        return Err(error(
            "unauthorized",
            &format!("group {group} requires a visitor token"),
        ));
    }
    let authenticated = !token.is_empty();
    if authenticated && !crate::relay::registry::secret_eq(token, &g.api_key) {
        return Err(error(
            "unauthorized",
            &format!("the token is not valid for group {group}"),
        ));
    }
    let instance = match m.get("instance") {
        None | Some(Value::Null) => None,
        Some(i) => {
            let i = i.as_str().unwrap_or_default();
            if i.is_empty()
                || i.len() > MAX_INSTANCE_LEN
                || !i.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(error(
                    "malformed",
                    "hello.instance must be 1 to 64 printable ASCII characters",
                ));
            }
            Some(i.to_string())
        }
    };
    Ok((
        (group, id.to_string()),
        Identity {
            instance,
            authenticated,
        },
    ))
}

/// Handles one message after hello; `Err` is the error to send before closing.
fn handle(hub: &PresenceHub, key: &VisitorKey, id: u64, m: &Value) -> Result<(), String> {
    let t = m.get("type").and_then(Value::as_str).unwrap_or_default();
    match t {
        "pong" => {}
        "focus" => {
            hub.take_focus(key, id);
        }
        "confirm_reply" => {
            let choice = m
                .get("choice")
                .and_then(Value::as_str)
                .ok_or_else(|| error("malformed", "confirm_reply.choice must be a string"))?;
            hub.confirm_reply(key, id, choice);
        }
        "presence" => {
            let data = m.get("data").cloned().unwrap_or(Value::Null);
            check_presence(&data).map_err(|e| error("invalid", &e))?;
            hub.presence(key, id, data);
        }
        "visibility" => {
            let v = m
                .get("visible")
                .and_then(Value::as_bool)
                .ok_or_else(|| error("malformed", "visibility.visible must be a boolean"))?;
            hub.visibility(key, id, v);
        }
        "signal_agent" => {
            let event = m.get("event").and_then(Value::as_str).unwrap_or_default();
            let data = m.get("data").cloned().unwrap_or_else(|| json!({}));
            check_signal(event, &data).map_err(|e| error("invalid", &e))?;
            if !hub.take_focus(key, id) {
                // A bystander (another app holds the visitor id): not passed on.
            } else if event == "terms" {
                hub.to_agents(key, "onterms", json!({ "status": data["status"] }));
            } else {
                hub.to_agents(key, "onsignal", json!({ "event": event, "data": data }));
            }
        }
        "session_start" => {
            let k = m.get("key").and_then(Value::as_str).unwrap_or_default();
            if hub.holds(key, id) {
                hub.to_agents(key, "onvisitorsessionstart", json!({ "sessionkey": k }));
            }
        }
        "session_end" => {
            let r = m.get("reason").and_then(Value::as_str).unwrap_or_default();
            if hub.holds(key, id) {
                hub.to_agents(key, "onvisitorsessionend", json!({ "reason": r }));
            }
        }
        other => {
            return Err(error(
                "unexpected",
                &format!("{other:.40} is not a presence visitor message"),
            ))
        }
    }
    Ok(())
}

async fn serve(st: Arc<AppState>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
    let writer = tokio::spawn(write_loop(sink, rx, st.timing.ping_interval, |t| {
        Some(json!({ "type": "ping", "t": t }).to_string())
    }));
    let hub = st.presence.clone();
    let id = hub.next_id();
    let mut key: Option<VisitorKey> = None;
    let deadline = Instant::now() + st.timing.handshake_timeout;
    let mut shutdown = st.shutdown.clone();
    loop {
        let wait = if key.is_some() {
            st.timing.idle_timeout
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let msg = tokio::select! {
            m = timeout(wait, stream.next()) => m,
            _ = shutdown.changed() => break,
        };
        let text = match msg {
            Err(_) => {
                let _ = tx.try_send(Out::Text(error("timeout", "nothing received in time")));
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(Message::Binary(_)))) => {
                let _ = tx.try_send(Out::Text(error(
                    "malformed",
                    "presence messages are JSON text",
                )));
                break;
            }
            Ok(Some(Ok(_))) => continue,
        };
        let Ok(m) = serde_json::from_str::<Value>(&text) else {
            let _ = tx.try_send(Out::Text(error("malformed", "not a JSON object")));
            break;
        };
        match &key {
            None => match hello(&st, &m) {
                Ok((k, ident)) => {
                    let server = crate::relay::visitor::server_name();
                    let focus = hub.visitor_connected(&k, id, tx.clone(), ident, &server);
                    log::debug!(
                        "presence: visitor {}/{} connected (socket {id}, focus {focus})",
                        k.0,
                        k.1
                    );
                    key = Some(k);
                }
                Err(e) => {
                    let _ = tx.try_send(Out::Text(e));
                    break;
                }
            },
            Some(k) => {
                if let Err(e) = handle(&hub, k, id, &m) {
                    let _ = tx.try_send(Out::Text(e));
                    break;
                }
            }
        }
    }
    if let Some(k) = &key {
        hub.visitor_closed(k, id);
    }
    let _ = tx.try_send(Out::Close);
    drop(tx);
    let _ = timeout(crate::direct::CLOSE_GRACE * 2, writer).await;
}
