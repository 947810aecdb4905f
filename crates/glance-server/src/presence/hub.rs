//! The presence hub: which visitors are connected (per group and visitor id, every socket),
//! which of them holds the visitor id and which socket has focus, their last presence data
//! and visibility, the agent's confirmation of the visitor, signals waiting for a visitor
//! that dropped less than [`SIGNAL_HOLD`] ago, and the agents watching each visitor.
//! Messages to a socket go through a small bounded queue; a socket that does not keep up is
//! closed rather than buffered without bound.
//!
//! **Holding a visitor id** (issue 18): the first socket of an id holds it for its app
//! instance (the `instance` of its hello; a socket without one holds it alone): that
//! instance is the id's *primary*. Sockets of the holding instance share it as before (the
//! newest active one has focus); any other socket is a bystander: no focus, no signals, its
//! messages are not passed to agents. The id passes to another socket only when the holder
//! has no visible socket (all hidden), or its last socket closed more than [`SIGNAL_HOLD`]
//! ago; the primary takes it back whenever it acts, and becomes another instance only once
//! it has been gone past that grace. A socket that proved the group's visitor token
//! outranks one that did not. See docs/PRESENCE.md and DECISIONS.md.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::PresenceLimits;

/// A signal to a visitor connected within this long is held for its next connection; the
/// holder of a visitor id keeps it this long after its last socket closed.
pub const SIGNAL_HOLD: Duration = Duration::from_secs(5);
/// A hidden (backgrounded) application stays signalable this long (seed 004).
pub const HIDDEN_SIGNALABLE: Duration = Duration::from_secs(600);
/// Messages queued for one socket before it is closed as too slow.
pub const SOCKET_QUEUE: usize = 64;
/// Wrong choices offered with the confirmation code: whoever has focus without being on the
/// phone guesses right one time in six (and the agent hears of every wrong pick).
const CONFIRM_DECOYS: usize = 5;

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

/// What a visitor socket said about itself in its hello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The app instance (random, made once per SDK instance); `None`: this socket alone.
    pub instance: Option<String>,
    /// It carried the group's visitor token.
    pub authenticated: bool,
}

/// Who holds a visitor id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Instance(String),
    Socket(u64),
}

#[derive(Debug, Clone)]
struct Holder {
    owner: Owner,
    authenticated: bool,
    /// When its last socket closed (None while it has one).
    gone_since: Option<Instant>,
}

#[derive(Debug)]
struct Socket {
    id: u64,
    tx: Tx,
    visible: bool,
    hidden_since: Option<Instant>,
    ident: Identity,
}

impl Socket {
    fn owner(&self) -> Owner {
        match &self.ident.instance {
            Some(i) => Owner::Instance(i.clone()),
            None => Owner::Socket(self.id),
        }
    }
}

/// A confirmation the agent started (seed 003 presence_security, "Visitor Authentication").
#[derive(Debug)]
struct Pending {
    code: String,
    socket: u64,
}

#[derive(Debug, Default)]
struct Visitor {
    sockets: Vec<Socket>,
    /// The socket that receives signals (always one of the holder's).
    focus: Option<u64>,
    holder: Option<Holder>,
    /// The instance that holds the id by right (first, promoted, or authenticated); it may
    /// lend the id while hidden and takes it back when it acts.
    primary: Option<Holder>,
    presence: Option<Value>,
    connected_at: u64,
    /// When the last socket closed (None while connected).
    gone_since: Option<Instant>,
    /// Signals waiting for the next connection (only while `gone_since` is recent).
    held: Vec<String>,
    /// An agent asked for a confirmation: signals wait for `confirmed`.
    confirm_required: bool,
    pending: Option<Pending>,
    /// The holder that answered the confirmation right.
    confirmed: Option<Owner>,
}

/// Agent events to send once the visitor is no longer borrowed.
type Notices = Vec<(&'static str, Value)>;

fn owns(h: &Holder, s: &Socket) -> bool {
    match &h.owner {
        Owner::Instance(i) => s.ident.instance.as_deref() == Some(i.as_str()),
        Owner::Socket(id) => s.id == *id,
    }
}

fn within_grace(h: &Holder, now: Instant) -> bool {
    h.gone_since
        .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD)
}

impl Visitor {
    fn belongs(&self, s: &Socket) -> bool {
        self.holder.as_ref().is_some_and(|h| owns(h, s))
    }

    fn is_primary(&self, s: &Socket) -> bool {
        self.primary.as_ref().is_some_and(|h| owns(h, s))
    }

    /// The primary has a socket, or lost its last one less than [`SIGNAL_HOLD`] ago.
    fn primary_alive(&self, now: Instant) -> bool {
        self.primary
            .as_ref()
            .is_some_and(|p| self.sockets.iter().any(|s| owns(p, s)) || within_grace(p, now))
    }

    fn socket(&self, id: u64) -> Option<&Socket> {
        self.sockets.iter().find(|s| s.id == id)
    }

    /// May socket `s` take the visitor id (and focus) now?
    fn may_claim(&self, s: &Socket, now: Instant) -> bool {
        let Some(h) = &self.holder else {
            return true;
        };
        if self.belongs(s) {
            return true;
        }
        let present: Vec<&Socket> = self.sockets.iter().filter(|o| self.belongs(o)).collect();
        if present.is_empty() {
            // Gone: the primary at once, anyone else after the holder's grace.
            return self.is_primary(s) || !within_grace(h, now);
        }
        if h.authenticated && !s.ident.authenticated {
            return false;
        }
        if self.is_primary(s) || (s.ident.authenticated && !h.authenticated) {
            return true;
        }
        // Its "blur": every socket of the holder is in the background.
        present.iter().all(|o| !o.visible)
    }

    /// Makes socket `id` the holder and the focus; the previous focus gets `blur`, `id`
    /// gets `focus` if `tell_focus`. Agents hear of a new holder.
    fn claim(&mut self, id: u64, tell_focus: bool, notices: &mut Notices) {
        let Some(s) = self.socket(id) else {
            return;
        };
        let (owner, authenticated) = (s.owner(), s.ident.authenticated);
        let now = Instant::now();
        let outranks = authenticated && self.primary.as_ref().is_some_and(|p| !p.authenticated);
        if self.is_primary(s) {
            if let Some(p) = &mut self.primary {
                p.gone_since = None;
            }
        } else if !self.primary_alive(now) || outranks {
            self.primary = Some(Holder {
                owner: owner.clone(),
                authenticated,
                gone_since: None,
            });
        }
        let changed = self.holder.as_ref().map(|h| &h.owner) != Some(&owner);
        if changed {
            let had = self.holder.is_some();
            self.holder = Some(Holder {
                owner,
                authenticated,
                gone_since: None,
            });
            if self.pending.take().is_some() {
                notices.push((
                    "onconfirm",
                    json!({"status": "failed", "reason": "another connection took the visitor id"}),
                ));
            }
            if had {
                notices.push((
                    "onvisitorsock",
                    json!({"connected": true, "focus": true, "handover": true,
                        "authenticated": authenticated}),
                ));
            }
        } else if let Some(h) = &mut self.holder {
            h.gone_since = None;
        }
        if self.focus != Some(id) {
            if let Some(old) = self.focus.and_then(|f| self.socket(f)) {
                send(&old.tx, r#"{"type":"blur"}"#);
            }
            if tell_focus {
                if let Some(me) = self.socket(id) {
                    send(&me.tx, r#"{"type":"focus"}"#);
                }
            }
            self.focus = Some(id);
        }
    }

    /// The holder has been gone past its grace and other sockets remain: the best of them
    /// (authenticated first, then the newest) takes the id.
    fn promote(&mut self, now: Instant, notices: &mut Notices) {
        if !self.primary_alive(now) {
            // The primary is gone for good: a connected holder holds the id by right now.
            if let Some(h) = &self.holder {
                if self.sockets.iter().any(|s| owns(h, s)) {
                    self.primary = Some(Holder {
                        gone_since: None,
                        ..h.clone()
                    });
                }
            }
        }
        if self.focus.is_some() || self.sockets.is_empty() {
            return;
        }
        let primary_here = self.sockets.iter().any(|s| self.is_primary(s));
        if !primary_here && self.holder.as_ref().is_some_and(|h| within_grace(h, now)) {
            return;
        }
        let best = self
            .sockets
            .iter()
            .rev()
            .find(|s| self.is_primary(s))
            .or_else(|| self.sockets.iter().rev().find(|s| s.ident.authenticated))
            .or_else(|| self.sockets.last())
            .map(|s| s.id);
        if let Some(id) = best {
            self.held.clear();
            self.claim(id, true, notices);
        }
    }

    /// Signals may go to the holder: no confirmation asked, or the holder answered it.
    fn confirmed_now(&self) -> bool {
        !self.confirm_required
            || (self.pending.is_none()
                && self.confirmed.is_some()
                && self.confirmed.as_ref() == self.holder.as_ref().map(|h| &h.owner))
    }
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
    /// An agent asked for a confirmation and the visitor has not answered it right.
    Unconfirmed,
}

/// What happened to a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Held for the visitor's next connection.
    Queued,
}

/// See the module documentation.
#[derive(Debug)]
pub struct PresenceHub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    visitor_slots: Arc<Semaphore>,
    agent_slots: Arc<Semaphore>,
}

impl Default for PresenceHub {
    fn default() -> Self {
        PresenceHub::with_limits(&PresenceLimits::default())
    }
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

fn tell(agents: &HashMap<VisitorKey, Vec<(u64, Tx)>>, key: &VisitorKey, name: &str, data: Value) {
    if let Some(list) = agents.get(key) {
        let text = agent_event(name, data);
        for (_, tx) in list {
            send(tx, &text);
        }
    }
}

/// Lets the visitor id pass on if its holder is gone or hidden ([`Visitor::promote`]) and
/// tells the watching agents what changed.
fn promote_and_tell(
    v: &mut Visitor,
    agents: &HashMap<VisitorKey, Vec<(u64, Tx)>>,
    key: &VisitorKey,
    now: Instant,
) {
    let mut notices = Notices::new();
    v.promote(now, &mut notices);
    tell_all(agents, key, notices);
}

fn tell_all(agents: &HashMap<VisitorKey, Vec<(u64, Tx)>>, key: &VisitorKey, notices: Notices) {
    for (name, data) in notices {
        tell(agents, key, name, data);
    }
}

impl PresenceHub {
    pub fn new() -> PresenceHub {
        PresenceHub::default()
    }

    /// A hub admitting at most `limits` sockets of each kind.
    pub fn with_limits(limits: &PresenceLimits) -> PresenceHub {
        let (visitors, agents) = limits.resolved();
        log::debug!("presence: at most {visitors} visitor and {agents} agent sockets");
        PresenceHub {
            inner: Mutex::default(),
            next_id: AtomicU64::new(0),
            visitor_slots: Arc::new(Semaphore::new(visitors.min(Semaphore::MAX_PERMITS))),
            agent_slots: Arc::new(Semaphore::new(agents.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A slot for one more visitor socket, or `None` when all are taken.
    pub fn visitor_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.visitor_slots.clone().try_acquire_owned().ok()
    }

    /// A slot for one more agent event socket, or `None` when all are taken.
    pub fn agent_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.agent_slots.clone().try_acquire_owned().ok()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A visitor socket said hello. It is sent `welcome` with `focus` (`server` names this
    /// service); if it may hold the visitor id it takes focus (the previous focus gets
    /// `blur`) and receives any held signals, else it is a bystander. Returns the focus.
    pub fn visitor_connected(
        &self,
        key: &VisitorKey,
        id: u64,
        tx: Tx,
        ident: Identity,
        server: &str,
    ) -> bool {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let now = Instant::now();
        let v = visitors.entry(key.clone()).or_default();
        let was_connected = !v.sockets.is_empty()
            || v.gone_since
                .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD);
        let authenticated = ident.authenticated;
        let sock = Socket {
            id,
            tx: tx.clone(),
            visible: true,
            hidden_since: None,
            ident,
        };
        let focus = v.may_claim(&sock, now);
        send(
            &tx,
            &json!({ "type": "welcome", "focus": focus, "server": server }).to_string(),
        );
        // Held signals are for the holder back within its grace (or a first connection).
        let for_me = v.holder.is_none() || v.belongs(&sock);
        v.sockets.push(sock);
        let mut notices = Notices::new();
        if focus {
            let held = if for_me {
                std::mem::take(&mut v.held)
            } else {
                v.held.clear();
                Vec::new()
            };
            for m in &held {
                send(&tx, m);
            }
            v.claim(id, false, &mut notices);
        }
        v.gone_since = None;
        if !was_connected {
            v.connected_at = crate::unix_millis() / 1000;
        }
        tell(
            agents,
            key,
            "onvisitorsock",
            json!({ "connected": true, "focus": focus, "authenticated": authenticated }),
        );
        if !was_connected {
            tell(agents, key, "onvisitorconn", json!({ "connected": true }));
        }
        tell_all(agents, key, notices);
        focus
    }

    /// A visitor socket closed. Agents hear `onvisitorsock`; `onvisitorconn` false follows
    /// only if no socket returns within [`SIGNAL_HOLD`] (see [`PresenceHub::sweep`]).
    pub fn visitor_closed(&self, key: &VisitorKey, id: u64) {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let Some(v) = visitors.get_mut(key) else {
            return;
        };
        let now = Instant::now();
        v.sockets.retain(|s| s.id != id);
        if let Some(p) = &mut v.primary {
            if !v.sockets.iter().any(|s| owns(p, s)) && p.gone_since.is_none() {
                p.gone_since = Some(now);
            }
        }
        if v.pending.as_ref().is_some_and(|p| p.socket == id) {
            v.pending = None;
            tell(
                agents,
                key,
                "onconfirm",
                json!({"status": "failed", "reason": "the visitor's connection closed"}),
            );
        }
        if v.focus == Some(id) {
            // The newest other socket of the holder, if any.
            let next = v
                .sockets
                .iter()
                .rev()
                .find(|s| v.belongs(s))
                .map(|s| (s.id, s.tx.clone()));
            v.focus = next.as_ref().map(|(i, _)| *i);
            match next {
                Some((_, tx)) => send(&tx, r#"{"type":"focus"}"#),
                None => {
                    if let Some(h) = &mut v.holder {
                        h.gone_since = Some(now);
                    }
                    // The primary, if it lent the id, has it back at once.
                    promote_and_tell(v, agents, key, now);
                }
            }
        }
        if v.sockets.is_empty() {
            v.gone_since = Some(now);
        }
        tell(agents, key, "onvisitorsock", json!({ "connected": false }));
    }

    /// Forgets visitors gone longer than [`SIGNAL_HOLD`], telling their agents, and passes
    /// an id whose holder is gone to a remaining socket. Called periodically.
    pub fn sweep(&self) {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let now = Instant::now();
        let gone: Vec<VisitorKey> = visitors
            .iter()
            .filter(|(_, v)| {
                v.sockets.is_empty()
                    && v.gone_since
                        .is_some_and(|t| now.duration_since(t) >= SIGNAL_HOLD)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            visitors.remove(&k);
            tell(agents, &k, "onvisitorconn", json!({ "connected": false }));
        }
        for (k, v) in visitors.iter_mut() {
            promote_and_tell(v, agents, k, now);
        }
    }

    /// The socket `id` acted (presence, signalAgent, signalVisibility, focus): it takes focus
    /// if it may hold the id (the previous focus gets `blur`). Returns whether it now holds
    /// the id (a bystander's messages are not passed on).
    pub fn take_focus(&self, key: &VisitorKey, id: u64) -> bool {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let Some(v) = visitors.get_mut(key) else {
            return false;
        };
        if v.focus == Some(id) {
            return true;
        }
        let Some(s) = v.socket(id) else {
            return false;
        };
        if !v.may_claim(s, Instant::now()) {
            return false;
        }
        let mut notices = Notices::new();
        v.claim(id, true, &mut notices);
        tell_all(agents, key, notices);
        true
    }

    /// Whether socket `id` belongs to the holder of the id (without taking focus).
    pub fn holds(&self, key: &VisitorKey, id: u64) -> bool {
        let g = self.lock();
        g.visitors
            .get(key)
            .is_some_and(|v| v.socket(id).is_some_and(|s| v.belongs(s)))
    }

    /// New presence data from a visitor socket; ignored from a bystander.
    pub fn presence(&self, key: &VisitorKey, id: u64, data: Value) {
        if !self.take_focus(key, id) {
            return;
        }
        let mut g = self.lock();
        if let Some(v) = g.visitors.get_mut(key) {
            v.presence = Some(data.clone());
        }
        tell(&g.agents, key, "onpresence", data);
    }

    /// The visitor's application moved to the background (false) or foreground (true).
    /// Hidden, the holder lets another app instance take the id; a bystander's visibility
    /// is recorded but not passed to agents.
    pub fn visibility(&self, key: &VisitorKey, id: u64, visible: bool) {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let Some(v) = visitors.get_mut(key) else {
            return;
        };
        if let Some(s) = v.sockets.iter_mut().find(|s| s.id == id) {
            s.visible = visible;
            s.hidden_since = if visible { None } else { Some(Instant::now()) };
        }
        let mut holds = v.socket(id).is_some_and(|s| v.belongs(s));
        if visible && !holds {
            if let Some(s) = v.socket(id) {
                if v.may_claim(s, Instant::now()) {
                    let mut notices = Notices::new();
                    v.claim(id, true, &mut notices);
                    tell_all(agents, key, notices);
                    holds = true;
                }
            }
        } else if holds && v.focus != Some(id) && visible {
            let mut notices = Notices::new();
            v.claim(id, true, &mut notices);
            tell_all(agents, key, notices);
        }
        if holds {
            let state = if visible { "visible" } else { "hidden" };
            tell(agents, key, "onvisibility", json!({ "visibility": state }));
        }
    }

    /// An event from the visitor for its agents (`onterms`, `onvisitorsessionstart`, ...).
    pub fn to_agents(&self, key: &VisitorKey, name: &str, data: Value) {
        let g = self.lock();
        tell(&g.agents, key, name, data);
    }

    /// Sends `message` (a JSON text for the visitor) to the focused socket, or holds it for a
    /// visitor gone less than [`SIGNAL_HOLD`] ago. Refused while a confirmation the agent
    /// asked for is unanswered (or answered by another holder).
    pub fn signal(&self, key: &VisitorKey, message: String) -> Result<Delivery, SignalError> {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let now = Instant::now();
        let Some(v) = visitors.get_mut(key) else {
            return Err(SignalError::NotConnected);
        };
        promote_and_tell(v, agents, key, now);
        if !v.confirmed_now() {
            return Err(SignalError::Unconfirmed);
        }
        if let Some(s) = v.focus.and_then(|f| v.socket(f)) {
            if s.hidden_since
                .is_some_and(|t| now.duration_since(t) >= HIDDEN_SIGNALABLE)
            {
                return Err(SignalError::NotConnected);
            }
            send(&s.tx, &message);
            return Ok(Delivery::Delivered);
        }
        let holder_recent = v.holder.as_ref().is_some_and(|h| {
            h.gone_since
                .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD)
        });
        let all_recent = v
            .gone_since
            .is_some_and(|t| now.duration_since(t) < SIGNAL_HOLD);
        if (holder_recent || all_recent) && v.held.len() < 16 {
            v.held.push(message);
            return Ok(Delivery::Queued);
        }
        Err(SignalError::NotConnected)
    }

    /// An agent asks the service to confirm the visitor (seed 003 presence_security): the
    /// focused socket is sent `confirm` with a short random code among decoys; the code is
    /// returned for the agent to read out. Until the visitor picks it, signals are refused
    /// ([`SignalError::Unconfirmed`]). A new request replaces one still open.
    pub fn start_confirm(&self, key: &VisitorKey) -> Result<String, SignalError> {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let now = Instant::now();
        let Some(v) = visitors.get_mut(key) else {
            return Err(SignalError::NotConnected);
        };
        promote_and_tell(v, agents, key, now);
        let Some(s) = v.focus.and_then(|f| v.socket(f)) else {
            return Err(SignalError::NotConnected);
        };
        let mut rng = rand::rng();
        let code: u32 = rng.random_range(10..100);
        let mut choices = vec![code];
        while choices.len() < 1 + CONFIRM_DECOYS {
            let d = rng.random_range(10..100);
            if !choices.contains(&d) {
                choices.push(d);
            }
        }
        choices.shuffle(&mut rng);
        let choices: Vec<String> = choices.iter().map(u32::to_string).collect();
        send(
            &s.tx,
            &json!({ "type": "confirm", "choices": choices }).to_string(),
        );
        let code = code.to_string();
        v.pending = Some(Pending {
            code: code.clone(),
            socket: s.id,
        });
        v.confirm_required = true;
        v.confirmed = None;
        tell(agents, key, "onconfirm", json!({ "status": "displayed" }));
        Ok(code)
    }

    /// The visitor's answer to a confirmation from socket `id`. The right choice from the
    /// socket that was asked confirms its holder; anything else ends the confirmation (the
    /// agent may start another). A reply with nothing asked is ignored.
    pub fn confirm_reply(&self, key: &VisitorKey, id: u64, choice: &str) {
        let mut g = self.lock();
        let Inner { visitors, agents } = &mut *g;
        let Some(v) = visitors.get_mut(key) else {
            return;
        };
        if v.pending.as_ref().is_none_or(|p| p.socket != id) {
            return;
        }
        let right = v
            .pending
            .take()
            .is_some_and(|p| crate::relay::registry::secret_eq(&p.code, choice));
        let holds = v.socket(id).is_some_and(|s| v.belongs(s));
        let ok = right && holds;
        if ok {
            v.confirmed = v.holder.as_ref().map(|h| h.owner.clone());
        }
        if let Some(s) = v.socket(id) {
            send(
                &s.tx,
                &json!({ "type": "confirm_result", "confirmed": ok }).to_string(),
            );
        }
        let status = if ok { "confirmed" } else { "failed" };
        tell(agents, key, "onconfirm", json!({ "status": status }));
    }

    /// The visitor's presence record for `lookupvisitor`, if it is present: since when, the
    /// presence data, and whether a confirmation asked for stands.
    pub fn lookup(&self, key: &VisitorKey) -> Option<(u64, Option<Value>, Option<bool>)> {
        let g = self.lock();
        let v = g.visitors.get(key)?;
        let confirmed = v.confirm_required.then(|| v.confirmed_now());
        Some((v.connected_at, v.presence.clone(), confirmed))
    }

    /// Every present visitor with its [`PresenceHub::lookup`] record (the cluster's presence
    /// directory publishes them).
    pub fn entries(&self) -> Vec<(VisitorKey, u64, Option<Value>, Option<bool>)> {
        let g = self.lock();
        g.visitors
            .iter()
            .map(|(k, v)| {
                let confirmed = v.confirm_required.then(|| v.confirmed_now());
                (k.clone(), v.connected_at, v.presence.clone(), confirmed)
            })
            .collect()
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

    fn app(instance: &str) -> Identity {
        Identity {
            instance: (!instance.is_empty()).then(|| instance.to_string()),
            authenticated: false,
        }
    }

    fn welcome(focus: bool) -> String {
        json!({"type": "welcome", "focus": focus, "server": "s"}).to_string()
    }

    #[test]
    fn focus_moves_to_the_newest_then_to_the_active_within_one_instance() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        let (a_tx, mut a) = mpsc::channel(SOCKET_QUEUE);
        let (b_tx, mut b) = mpsc::channel(SOCKET_QUEUE);
        assert!(hub.visitor_connected(&k, 1, a_tx, app("A"), "s"));
        assert!(hub.visitor_connected(&k, 2, b_tx, app("A"), "s"));
        assert_eq!(
            texts(&mut a),
            vec![welcome(true), r#"{"type":"blur"}"#.into()]
        );
        assert_eq!(hub.signal(&k, "s1".into()), Ok(Delivery::Delivered));
        assert_eq!(texts(&mut b), vec![welcome(true), "s1".into()]);
        hub.presence(&k, 1, json!({"url": "x"}));
        assert_eq!(texts(&mut a), vec![r#"{"type":"focus"}"#]);
        assert_eq!(texts(&mut b), vec![r#"{"type":"blur"}"#]);
        hub.signal(&k, "s2".into()).unwrap();
        assert_eq!(texts(&mut a), vec!["s2"]);
    }

    #[test]
    fn another_instance_cannot_take_the_id_from_a_visible_holder() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        let (a_tx, mut a) = mpsc::channel(SOCKET_QUEUE);
        let (b_tx, mut b) = mpsc::channel(SOCKET_QUEUE);
        let (c_tx, mut c) = mpsc::channel(SOCKET_QUEUE);
        assert!(hub.visitor_connected(&k, 1, a_tx, app("A"), "s"));
        assert!(!hub.visitor_connected(&k, 2, b_tx, app("B"), "s"));
        assert!(!hub.visitor_connected(&k, 3, c_tx, app(""), "s"));
        assert_eq!(texts(&mut b), vec![welcome(false)]);
        assert_eq!(texts(&mut c), vec![welcome(false)]);
        assert!(!hub.take_focus(&k, 2));
        hub.presence(&k, 3, json!({"url": "fake"}));
        hub.visibility(&k, 2, true);
        hub.signal(&k, "s1".into()).unwrap();
        assert_eq!(texts(&mut a), vec![welcome(true), "s1".into()]);
        assert!(texts(&mut b).is_empty());
        assert!(texts(&mut c).is_empty());
        assert_eq!(hub.lookup(&k).map(|l| l.1), Some(None));

        // Hidden, the holder lets another instance take the id when that one acts.
        hub.visibility(&k, 1, false);
        assert!(hub.take_focus(&k, 2));
        assert_eq!(texts(&mut a), vec![r#"{"type":"blur"}"#]);
        assert_eq!(texts(&mut b), vec![r#"{"type":"focus"}"#]);
        // Now B holds it: C cannot take it while B is visible, but A, the primary, takes it
        // back when it acts.
        assert!(!hub.take_focus(&k, 3));
        hub.visibility(&k, 1, true);
        assert_eq!(texts(&mut b), vec![r#"{"type":"blur"}"#]);
        hub.signal(&k, "s2".into()).unwrap();
        assert_eq!(texts(&mut a), vec![r#"{"type":"focus"}"#, "s2"]);
        assert!(texts(&mut c).is_empty());
    }

    #[test]
    fn a_holder_keeps_the_id_through_a_quick_reconnect_then_it_passes_on() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        let (a_tx, _a) = mpsc::channel(SOCKET_QUEUE);
        let (b_tx, mut b) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 1, a_tx, app("A"), "s");
        hub.visitor_connected(&k, 2, b_tx, app("B"), "s");
        hub.visitor_closed(&k, 1);
        // Within the grace the bystander gets nothing and cannot take focus.
        assert!(!hub.take_focus(&k, 2));
        assert_eq!(hub.signal(&k, "held".into()), Ok(Delivery::Queued));
        let (a2_tx, mut a2) = mpsc::channel(SOCKET_QUEUE);
        assert!(hub.visitor_connected(&k, 3, a2_tx, app("A"), "s"));
        assert_eq!(texts(&mut a2), vec![welcome(true), "held".into()]);
        assert_eq!(texts(&mut b), vec![welcome(false)]);
        // The holder gone past its grace: the bystander is promoted.
        hub.visitor_closed(&k, 3);
        if let Some(h) = hub
            .lock()
            .visitors
            .get_mut(&k)
            .and_then(|v| v.holder.as_mut())
        {
            h.gone_since = Some(Instant::now() - SIGNAL_HOLD);
        }
        hub.sweep();
        assert_eq!(texts(&mut b), vec![r#"{"type":"focus"}"#]);
    }

    #[test]
    fn an_authenticated_socket_outranks_an_unauthenticated_holder() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        let (a_tx, mut a) = mpsc::channel(SOCKET_QUEUE);
        let (b_tx, mut b) = mpsc::channel(SOCKET_QUEUE);
        let (c_tx, mut c) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 1, a_tx, app("X"), "s");
        let proved = Identity {
            instance: Some("P".into()),
            authenticated: true,
        };
        assert!(hub.visitor_connected(&k, 2, b_tx, proved, "s"));
        assert_eq!(
            texts(&mut a),
            vec![welcome(true), r#"{"type":"blur"}"#.into()]
        );
        // Hidden, the authenticated holder still outranks an unauthenticated one.
        hub.visibility(&k, 2, false);
        assert!(!hub.visitor_connected(&k, 3, c_tx, app("Y"), "s"));
        assert!(!hub.take_focus(&k, 1));
        hub.signal(&k, "s".into()).unwrap();
        assert_eq!(texts(&mut b), vec![welcome(true), "s".into()]);
        assert_eq!(texts(&mut c), vec![welcome(false)]);
    }

    #[test]
    fn confirmation_gates_signals() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        let (a_tx, mut a) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 1, a_tx, app("A"), "s");
        texts(&mut a);
        let code = hub.start_confirm(&k).unwrap();
        let m: Value = serde_json::from_str(&texts(&mut a)[0]).unwrap();
        assert_eq!(m["type"], "confirm");
        let choices: Vec<&str> = m["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(choices.len(), 1 + CONFIRM_DECOYS);
        assert!(choices.contains(&code.as_str()));
        assert_eq!(hub.signal(&k, "x".into()), Err(SignalError::Unconfirmed));
        let wrong = choices.iter().find(|c| **c != code).unwrap();
        hub.confirm_reply(&k, 1, wrong);
        assert_eq!(hub.signal(&k, "x".into()), Err(SignalError::Unconfirmed));
        let code = hub.start_confirm(&k).unwrap();
        hub.confirm_reply(&k, 1, &code);
        assert_eq!(hub.signal(&k, "ok".into()), Ok(Delivery::Delivered));
        assert_eq!(hub.lookup(&k).and_then(|l| l.2), Some(true));
    }

    #[test]
    fn signals_are_held_briefly_for_a_dropped_visitor() {
        let hub = PresenceHub::new();
        let k: VisitorKey = (1, "v".into());
        assert_eq!(hub.signal(&k, "x".into()), Err(SignalError::NotConnected));
        let (tx, _rx) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 1, tx, app("A"), "s");
        hub.visitor_closed(&k, 1);
        assert_eq!(hub.signal(&k, "held".into()), Ok(Delivery::Queued));
        let (tx, mut rx) = mpsc::channel(SOCKET_QUEUE);
        hub.visitor_connected(&k, 2, tx, app("A"), "s");
        assert_eq!(texts(&mut rx), vec![welcome(true), "held".into()]);
    }
}
