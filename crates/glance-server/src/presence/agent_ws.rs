//! `GET /ws/presence/agent`: an agent watching one visitor (seed 003 `GLANCE.Presence.Agent`
//! `connect`). The first message carries the token, group and visitor id; then the service
//! sends `{"event": "on...", "data": {...}}` for every visitor event (docs/PRESENCE.md).
//! Failures are `onerror` events (`authfail`, `invalidprotocol`, `error`) followed by a close.
//! After the hello the agent may send `{"type": "confirm"}` to confirm the visitor (seed 003
//! presence_security): the code comes back to it alone as `onconfirm` `{"status": "pending",
//! "code": ...}`, the outcome to every watcher as `onconfirm`. At most
//! [`super::PresenceLimits`] agent sockets are open; more get 503.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

use super::check_visitor_id;
use super::hub::{Out, PresenceHub, SignalError, VisitorKey, SOCKET_QUEUE};
use super::visitor_ws::{write_loop, PRESENCE_BUFFER};
use crate::http::AppState;

pub async fn handler(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(slot) = st.presence.agent_slot() else {
        log::warn!("presence: agent socket cap reached; answering 503");
        return crate::http::json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many presence agent connections",
        )
        .into_response();
    };
    let origin = crate::http::agent_api::origin_of(&headers).map(str::to_string);
    // Presence messages are small and these sockets many: small buffers (tungstenite's
    // default read buffer alone is 128 KiB a socket).
    ws.read_buffer_size(PRESENCE_BUFFER)
        .write_buffer_size(0)
        .max_message_size(super::MAX_PRESENCE_MESSAGE)
        .max_frame_size(super::MAX_PRESENCE_MESSAGE)
        .on_upgrade(move |socket| async move {
            serve(st, socket, origin).await;
            drop(slot);
        })
}

fn onerror(code: &str, detail: &str) -> String {
    json!({ "event": "onerror", "data": { "error": code, "detail": detail } }).to_string()
}

fn hello(st: &AppState, m: &Value, origin: Option<&str>) -> Result<VisitorKey, String> {
    let token = m.get("token").and_then(Value::as_str).unwrap_or_default();
    let claims = st
        .auth
        .verify_agent(token)
        .map_err(|_| onerror("authfail", "authorization token missing, bad, or expired"))?;
    let group = m
        .get("groupid")
        .and_then(|g| {
            g.as_u64()
                .or_else(|| g.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(u64::from(claims.grp));
    if group != u64::from(claims.grp) {
        return Err(onerror("authfail", "the token is for another group"));
    }
    let g = st
        .auth
        .group(claims.grp)
        .ok_or_else(|| onerror("authfail", "unknown group"))?;
    if let Some(o) = origin {
        if o != st.own_origin && !g.allows_origin(o) {
            return Err(onerror("authfail", "origin not allowed"));
        }
    }
    if !g.presence_enabled {
        return Err(onerror("error", "presence is not enabled for this group"));
    }
    let id = m
        .get("visitorid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    check_visitor_id(id).map_err(|code| onerror(code, "bad visitor id"))?;
    Ok((claims.grp, id.to_string()))
}

/// A message from an agent after its hello: `confirm`, or ignored.
fn after_hello(hub: &PresenceHub, key: &VisitorKey, text: &str) -> Option<String> {
    let m: Value = serde_json::from_str(text).ok()?;
    let t = m.get("type").or_else(|| m.get("mtype"))?.as_str()?;
    if t != "confirm" {
        return None;
    }
    let data = match hub.start_confirm(key) {
        Ok(code) => json!({ "status": "pending", "code": code }),
        Err(SignalError::NotConnected) => {
            json!({ "status": "failed", "reason": "visitornotconnected" })
        }
        Err(SignalError::Unconfirmed) => json!({ "status": "failed", "reason": "unconfirmed" }),
    };
    Some(json!({ "event": "onconfirm", "data": data }).to_string())
}

async fn serve(st: Arc<AppState>, socket: WebSocket, origin: Option<String>) {
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
    let writer = tokio::spawn(write_loop(sink, rx, st.timing.ping_interval, |_| None));
    let hub = st.presence.clone();
    let id = hub.next_id();
    let mut key: Option<VisitorKey> = None;
    let deadline = Instant::now() + st.timing.handshake_timeout;
    let mut shutdown = st.shutdown.clone();
    loop {
        let wait = if key.is_some() {
            // Agents may stay silent; the WebSocket pings keep the connection checked.
            st.timing.idle_timeout * 4
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let msg = tokio::select! {
            m = timeout(wait, stream.next()) => m,
            _ = shutdown.changed() => break,
        };
        let text = match msg {
            Err(_) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(_))) => continue,
        };
        if let Some(k) = &key {
            // Only `confirm` is expected from agents; anything else is ignored.
            if let Some(reply) = after_hello(&hub, k, &text) {
                let _ = tx.try_send(Out::Text(reply));
            }
            continue;
        }
        let parsed = serde_json::from_str::<Value>(&text)
            .map_err(|_| onerror("invalidprotocol", "not a JSON object"))
            .and_then(|m| hello(&st, &m, origin.as_deref()));
        match parsed {
            Ok(k) => {
                hub.agent_watch(&k, id, tx.clone());
                key = Some(k);
            }
            Err(e) => {
                let _ = tx.try_send(Out::Text(e));
                break;
            }
        }
    }
    if let Some(k) = &key {
        hub.agent_unwatch(k, id);
    }
    let _ = tx.try_send(Out::Close);
    drop(tx);
    let _ = timeout(crate::direct::CLOSE_GRACE * 2, writer).await;
}
