//! The writing half of a relay WebSocket (agents and the visitor tunnel): the connection's
//! [`SendQueue`] drained into the socket, with the protocol's pings.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use glance_protocol::Control;
use tokio::time::{timeout, Instant};

use crate::direct::CLOSE_GRACE;
use crate::relay::agent_queue::{Outgoing, SendQueue};

/// Writes what `queue` holds to the WebSocket and queues a `ping` every `ping` while pings
/// are enabled; ends when the queue closes (sending a close frame unless aborted) or a write
/// fails (aborting the queue). `who` names the peer in logs.
pub async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    queue: Arc<SendQueue>,
    ping: Duration,
    who: &'static str,
) {
    let mut tick = tokio::time::interval_at(Instant::now() + ping, ping);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = queue.pop() => {
                let msg = match item {
                    Some(Outgoing::Control(c)) => Message::Text(c.to_json().into()),
                    Some(Outgoing::Update(b) | Outgoing::Shape(b)) => Message::Binary(b),
                    None => break,
                };
                if let Err(e) = sink.send(msg).await {
                    log::debug!("{who}: write failed: {e}");
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
    if !queue.is_aborted() {
        let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(None))).await;
    }
    let _ = timeout(CLOSE_GRACE, sink.close()).await;
}
