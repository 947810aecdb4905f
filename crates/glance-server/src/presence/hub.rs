//! The presence hub: which visitors are connected (per group and visitor id, every socket),
//! which socket has focus, their last presence data and visibility, signals waiting for a
//! visitor that dropped less than [`SIGNAL_HOLD`] ago, and the agents watching each visitor.
//! Messages to a socket go through a small bounded queue; a socket that does not keep up is
//! closed rather than buffered without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A signal to a visitor connected within this long is held for its next connection.
pub const SIGNAL_HOLD: Duration = Duration::from_secs(5);
/// A hidden (backgrounded) application stays signalable this long (seed 004).
pub const HIDDEN_SIGNALABLE: Duration = Duration::from_secs(600);
/// Messages queued for one socket before it is closed as too slow.
pub const SOCKET_QUEUE: usize = 64;

/// A message for a socket: JSON text, or the order to close.
#[derive(Debug, Clone)]
pub enum Out {
    Text(String),
    Close,
}

/// The sending half of a socket's queue.
pub type Tx = mpsc::Sender<Out>;

/// (group, visitor id).
pub type VisitorKey = (u32, String);

#[derive(Debug)]
struct Socket {
    id: u64,
    tx: Tx,
    visible: bool,
    hidden_since: Option<Instant>,
}

#[derive(Debug, Default)]
struct Visitor {
    sockets: Vec<Socket>,
    /// The socket that receives signals.
    focus: Option<u64>,
    presence: Option<Value>,
    connected_at: u64,
    /// When the last socket closed (None while connected).
    gone_since: Option<Instant>,
    /// Signals waiting for the next connection (only while `gone_since` is recent).
    held: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    visitors: HashMap<VisitorKey, Visitor>,
    agents: HashMap<VisitorKey, Vec<(u64, Tx)>>,
}

/// Why a signal was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalError {
    /// No socket now and none within [`SIGNAL_HOLD`] (or hidden too long).
    NotConnected,
}

/// What happened to a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Held for the visitor's next connection.
    Queued,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PresenceHub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

fn send(tx: &Tx, text: &str) {
    if tx.try_send(Out::Text(text.to_string())).is_err() {
        // Full or closed: a socket that cannot keep up is closed (the close may not fit
        // either; its reader then ends on its own).
        let _ = tx.try_send(Out::Close);
    }
}

fn agent_event(name: &str, data: Value) -> String {
    json!({ "event": name, "data": data }).to_string()
}

impl PresenceHub {
    pub fn new() -> PresenceHub {
        PresenceHub::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn tell_agents(g: &Inner, key: &VisitorKey, name: &str, data: Value) {
        if let Some(list) = g.agents.get(key) {
            let text = agent_event(name, data);
            for (_, tx) in list {
                send(tx, &text);
            }
        }
    }

    /// A visitor socket opened: it takes focus (the previous focus gets `blur`) and receives
    /// any held signals.
    pub fn visitor_connected(&self, key: &VisitorKey, id: u64, tx: Tx) {
        let mut g = self.lock();
        let now = Instant::now();
        let v = g.visitors.entry(key.clone()).or_default();
        let was_connected = !v.sockets.is_empty()
            || v.gone_since
                .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD);
        if let Some(old) = v.focus.and_then(|f| v.sockets.iter().find(|s| s.id == f)) {
            send(&old.tx, r#"{"type":"blur"}"#);
        }
        let held = if v
            .gone_since
            .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD)
        {
            std::mem::take(&mut v.held)
        } else {
            v.held.clear();
            Vec::new()
        };
        for m in &held {
            send(&tx, m);
        }
        v.sockets.push(Socket {
            id,
            tx,
            visible: true,
            hidden_since: None,
        });
        v.focus = Some(id);
        v.gone_since = None;
        if !was_connected {
            v.connected_at = crate::unix_millis() / 1000;
        }
        Self::tell_agents(&g, key, "onvisitorsock", json!({ "connected": true }));
        if !was_connected {
            Self::tell_agents(&g, key, "onvisitorconn", json!({ "connected": true }));
        }
    }

    /// A visitor socket closed. Agents hear `onvisitorsock`; `onvisitorconn` false follows
    /// only if no socket returns within [`SIGNAL_HOLD`] (see [`PresenceHub::sweep`]).
    pub fn visitor_closed(&self, key: &VisitorKey, id: u64) {
        let mut g = self.lock();
        let Some(v) = g.visitors.get_mut(key) else {
            return;
        };
        v.sockets.retain(|s| s.id != id);
        if v.focus == Some(id) {
            v.focus = v.sockets.last().map(|s| s.id);
            if let Some(s) = v.sockets.last() {
                send(&s.tx, r#"{"type":"focus"}"#);
            }
        }
        if v.sockets.is_empty() {
            v.gone_since = Some(Instant::now());
        }
        Self::tell_agents(&g, key, "onvisitorsock", json!({ "connected": false }));
    }

    /// Forgets visitors gone longer than [`SIGNAL_HOLD`], telling their agents. Called
    /// periodically.
    pub fn sweep(&self) {
        let mut g = self.lock();
        let now = Instant::now();
        let gone: Vec<VisitorKey> = g
            .visitors
            .iter()
            .filter(|(_, v)| {
                v.sockets.is_empty()
                    && v.gone_since
                        .is_some_and(|t| now.duration_since(t) >= SIGNAL_HOLD)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            g.visitors.remove(&k);
            Self::tell_agents(&g, &k, "onvisitorconn", json!({ "connected": false }));
        }
    }

    /// The socket `id` becomes the focus (it called presence, signalAgent or
    /// signalVisibility); the previous focus gets `blur`.
    pub fn take_focus(&self, key: &VisitorKey, id: u64) {
        let mut g = self.lock();
        let Some(v) = g.visitors.get_mut(key) else {
            return;
        };
        if v.focus == Some(id) {
            return;
        }
        if let Some(old) = v.focus.and_then(|f| v.sockets.iter().find(|s| s.id == f)) {
            send(&old.tx, r#"{"type":"blur"}"#);
        }
        if let Some(me) = v.sockets.iter().find(|s| s.id == id) {
            send(&me.tx, r#"{"type":"focus"}"#);
            v.focus = Some(id);
        }
    }

    /// New presence data from a visitor socket.
    pub fn presence(&self, key: &VisitorKey, id: u64, data: Value) {
        self.take_focus(key, id);
        let mut g = self.lock();
        if let Some(v) = g.visitors.get_mut(key) {
            v.presence = Some(data.clone());
        }
        Self::tell_agents(&g, key, "onpresence", data);
    }

    /// The visitor's application moved to the background (false) or foreground (true).
    pub fn visibility(&self, key: &VisitorKey, id: u64, visible: bool) {
        self.take_focus(key, id);
        let mut g = self.lock();
        if let Some(s) = g
            .visitors
            .get_mut(key)
            .and_then(|v| v.sockets.iter_mut().find(|s| s.id == id))
        {
            s.visible = visible;
            s.hidden_since = if visible { None } else { Some(Instant::now()) };
        }
        let state = if visible { "visible" } else { "hidden" };
        Self::tell_agents(&g, key, "onvisibility", json!({ "visibility": state }));
    }

    /// An event from the visitor for its agents (`onterms`, `onvisitorsessionstart`, ...).
    pub fn to_agents(&self, key: &VisitorKey, name: &str, data: Value) {
        let g = self.lock();
        Self::tell_agents(&g, key, name, data);
    }

    /// Sends `message` (a JSON text for the visitor) to the focused socket, or holds it for a
    /// visitor gone less than [`SIGNAL_HOLD`] ago.
    pub fn signal(&self, key: &VisitorKey, message: String) -> Result<Delivery, SignalError> {
        let mut g = self.lock();
        let now = Instant::now();
        let Some(v) = g.visitors.get_mut(key) else {
            return Err(SignalError::NotConnected);
        };
        if let Some(s) = v.focus.and_then(|f| v.sockets.iter().find(|s| s.id == f)) {
            if s.hidden_since
                .is_some_and(|t| now.duration_since(t) >= HIDDEN_SIGNALABLE)
            {
                return Err(SignalError::NotConnected);
            }
            send(&s.tx, &message);
            return Ok(Delivery::Delivered);
        }
        if v.gone_since
            .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD)
            && v.held.len() < 16
        {
            v.held.push(message);
            return Ok(Delivery::Queued);
        }
        Err(SignalError::NotConnected)
    }

    /// The visitor's presence record for `lookupvisitor`, if it is present.
    pub fn lookup(&self, key: &VisitorKey) -> Option<(u64, Option<Value>)> {
        let g = self.lock();
        let v = g.visitors.get(key)?;
        Some((v.connected_at, v.presence.clone()))
    }

    /// An agent starts watching a visitor; it hears `onvisitorconn` with the current state.
    pub fn agent_watch(&self, key: &VisitorKey, id: u64, tx: Tx) {
        let mut g = self.lock();
        let connected = g.visitors.contains_key(key);
        send(
            &tx,
            &agent_event("onvisitorconn", json!({ "connected": connected })),
        );
        g.agents.entry(key.clone()).or_default().push((id, tx));
    }

    pub fn agent_unwatch(&self, key: &VisitorKey, id: u64) {
        let mut g = self.lock();
        if let Some(list) = g.agents.get_mut(key) {
            list.retain(|(a, _)| *a != id);
            if list.is_empty() {
                g.agents.remove(key);
            }
        }
    }

    /// Visitor sockets and agent watchers open now.
    pub fn counts(&self) -> (usize, usize) {
        let g = self.lock();
        (
            g.visitors.values().map(|v| v.sockets.len()).sum(),
            g.agents.values().map(Vec::len).sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rx: &mut mpsc::Receiver<Out>) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(Out::Text(t)) = rx.try_recv() {
            v.push(t);
        }
        v
    }

    #[test]
    fn focus_moves_to_the_newest_then_to_the_active() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        let (a_tx, mut a) = mpsc::channel(SOCKET_QUEUE);
        let (b_tx, mut b) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 1, a_tx);
        hub.visitor_connected(&k, 2, b_tx);
        assert_eq!(texts(&mut a), vec![r#"{"type":"blur"}"#]);
        assert_eq!(hub.signal(&k, "s1".into()), Ok(Delivery::Delivered));
        assert_eq!(texts(&mut b), vec!["s1"]);
        hub.presence(&k, 1, json!({"url": "x"}));
        assert_eq!(texts(&mut a), vec![r#"{"type":"focus"}"#]);
        assert_eq!(texts(&mut b), vec![r#"{"type":"blur"}"#]);
        hub.signal(&k, "s2".into()).unwrap();
        assert_eq!(texts(&mut a), vec!["s2"]);
    }

    #[test]
    fn signals_are_held_briefly_for_a_dropped_visitor() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        assert_eq!(hub.signal(&k, "x".into()), Err(SignalError::NotConnected));
        let (tx, _rx) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 1, tx);
        hub.visitor_closed(&k, 1);
        assert_eq!(hub.signal(&k, "held".into()), Ok(Delivery::Queued));
        let (tx, mut rx) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 2, tx);
        assert_eq!(texts(&mut rx), vec!["held"]);
    }
}
