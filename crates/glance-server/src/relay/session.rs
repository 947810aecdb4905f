//! One live session: its visitor's send queue, its agents and their routing state, the
//! pause state, the no-agent timer, and how frame updates are routed (PROTOCOL.md, "How the
//! server routes updates").
//!
//! Each agent is *in step* or *needs a key frame*. A multi-message frame is routed as one
//! unit: which agents get it is decided at its first message and kept until FINAL.
//!
//! The cursor: the session keeps the visitor's last shape (one, whatever its size within the
//! protocol's limit) and last position. Each `cursor` must use the last shape (the visitor
//! sends the shape again whenever it changes). Every agent's record of the shapes it has been
//! sent mirrors the agent's cache (the [`CURSOR_SHAPE_CACHE`] shapes it received last), so a
//! shape goes to an agent only when it lacks it, right before the first position that uses
//! it. Positions are latest-wins in each agent's queue. A late joiner gets the shape and the
//! last position after `joined`. While paused nothing of the cursor is relayed or kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use bytes::Bytes;
use glance_protocol::limits::CURSOR_SHAPE_CACHE;
use glance_protocol::update::{FLAG_FINAL, FLAG_KEY, FLAG_REFRESH_ONLY};
use glance_protocol::{agent_message, AgentInfo, AgentStatus, Control, EndReason, InputEvent};
use tokio::sync::Notify;

use super::agent_queue::{PushOutcome, QueueStats, SendQueue};
use super::registry::Registry;
use crate::config::GroupConfig;

/// Why an agent could not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// The session is over (19).
    NoSession,
    /// The session has its maximum of agents (35).
    Full,
}

/// How a session ends.
#[derive(Debug, Clone)]
pub struct Ending {
    /// The visitor-side reason.
    pub reason: EndReason,
    /// The agent-side status code.
    pub status: AgentStatus,
    pub message: String,
    /// Whether the visitor is sent `session_ended` and its connection closed.
    pub notify_visitor: bool,
}

impl Ending {
    pub fn new(
        reason: EndReason,
        status: AgentStatus,
        message: impl Into<String>,
        notify_visitor: bool,
    ) -> Ending {
        Ending {
            reason,
            status,
            message: message.into(),
            notify_visitor,
        }
    }

    pub(crate) fn control(&self) -> Control {
        Control::SessionEnded {
            reason: self.reason,
            status: self.status.code(),
            iserror: self.status.is_error(),
            message: self.message.clone(),
        }
    }
}

/// The header fields of an update the router needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateHeader {
    pub flags: u8,
    pub seq: u32,
    pub width: u16,
    pub height: u16,
}

/// What the session was started with.
#[derive(Debug, Clone)]
pub struct SessionParams {
    pub group: Arc<GroupConfig>,
    pub key: String,
    pub call_id: u64,
    pub ssnid: String,
    pub persist: bool,
    /// Effective limit: the lower of the visitor's and the group's.
    pub max_guests: u32,
    pub paused: bool,
    pub width: u16,
    pub height: u16,
    pub display_name: String,
    /// The visitor's `hello.client`.
    pub visitor_client: String,
    /// What a visitor presents in `resume` to continue the session on a new connection.
    pub resume_token: String,
    /// The call id of the session this one starts again (`start_session.previous_call_id`:
    /// the visitor's service lost the session, e.g. restarted without its journal).
    pub previous_call_id: Option<u64>,
    /// The address the visitor started the session from (its share of the group's limit).
    pub visitor_addr: std::net::IpAddr,
    /// `start_session.visitor_id`, if any.
    pub visitor_id: Option<String>,
    /// The visitor presented the group's visitor token.
    pub token_verified: bool,
}

#[derive(Debug)]
struct AgentSlot {
    id: u64,
    queue: Arc<SendQueue>,
    needs_key: bool,
    /// Whether the frame in progress goes to this agent.
    in_frame: bool,
    /// Ids of the cursor shapes queued for this agent, oldest first: what its shape cache
    /// holds (at most [`CURSOR_SHAPE_CACHE`]).
    shapes: VecDeque<u32>,
    /// The agent's role may take remote control.
    remote_assist: bool,
    /// Who the agent is, as its custom messages tell the visitor: its user name, or
    /// `agent-<id>` when its token names nobody.
    label: String,
}

/// Who joins: what the agent's authorization says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentIdentity {
    pub info: Option<AgentInfo>,
    pub remote_assist: bool,
}

impl AgentSlot {
    /// Queues the cursor (its shape first when the agent lacks it). Returns true if the
    /// agent's queue overflowed: the agent then needs a key frame.
    fn send_cursor(&mut self, shape: &(u32, Bytes), cursor: &Control) -> bool {
        let (id, bytes) = shape;
        let mut overflowed = false;
        if !self.shapes.contains(id) {
            match self.queue.push_shape(bytes.clone()) {
                PushOutcome::Queued => {}
                PushOutcome::Closed => return false,
                PushOutcome::Overflow => {
                    // Queued updates and shapes are gone: forget the shapes, catch up.
                    overflowed = true;
                    self.overflowed();
                    if self.queue.push_shape(bytes.clone()) != PushOutcome::Queued {
                        return true;
                    }
                }
            }
            self.shapes.push_back(*id);
            if self.shapes.len() > CURSOR_SHAPE_CACHE {
                self.shapes.pop_front();
            }
        }
        self.queue.push_cursor(cursor.clone());
        overflowed
    }

    /// The queue dropped its updates and shapes: the agent needs a key frame, and the shapes
    /// it was sent may not reach it.
    fn overflowed(&mut self) {
        self.needs_key = true;
        self.in_frame = false;
        self.shapes.clear();
    }
}

#[derive(Debug, Clone, Copy)]
struct FrameInProgress {
    seq: u32,
    /// KEY and REFRESH_ONLY bits of its first message.
    bits: u8,
}

#[derive(Debug)]
struct Inner {
    ended: bool,
    /// How it ended (for a visitor that comes back to resume it).
    ending: Option<Ending>,
    reported_errors: VecDeque<(String, String)>,
    /// The visitor has enabled remote control.
    rc: bool,
    agents: Vec<AgentSlot>,
    paused: bool,
    width: u16,
    height: u16,
    have_key: bool,
    frame: Option<FrameInProgress>,
    refresh_outstanding: bool,
    /// Since when no agent is present (`None` while one is).
    no_agent_since: Option<Instant>,
    /// The visitor's last cursor shape: its id and the message (kind byte and payload).
    cursor_shape: Option<(u32, Bytes)>,
    /// The last `cursor` message; `None` before any and while paused.
    cursor: Option<Control>,
    /// Counts the visitor connections the session has had (a `resume` adds one).
    link_epoch: u64,
    /// The visitor connection dropped and no `resume` came yet.
    detached: bool,
}

/// Counters of one agent of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStats {
    pub agent_id: u64,
    pub needs_key: bool,
    pub queue: QueueStats,
}

/// A snapshot of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStats {
    pub group_id: u32,
    pub key: String,
    pub call_id: u64,
    pub paused: bool,
    pub width: u16,
    pub height: u16,
    pub refresh_outstanding: bool,
    pub agents: Vec<AgentStats>,
    /// The per-agent bound on queued update bytes.
    pub agent_queue_limit: usize,
    /// The visitor connection's queue.
    pub visitor_queue: QueueStats,
    /// Errors the visitor reported (reportErrors), oldest first: (event, message).
    pub reported_errors: Vec<(String, String)>,
}

/// Reported errors kept per session (the oldest are dropped).
pub const MAX_REPORTED_ERRORS: usize = 32;

/// See the module documentation.
#[derive(Debug)]
pub struct Session {
    params: SessionParams,
    /// The current visitor connection's queue (replaced on `resume`).
    visitor: Mutex<Arc<SendQueue>>,
    agent_queue_limit: usize,
    inner: Mutex<Inner>,
    timer: Notify,
}

impl Session {
    pub fn new(
        params: SessionParams,
        visitor: Arc<SendQueue>,
        agent_queue_limit: usize,
    ) -> Session {
        let inner = Inner {
            ended: false,
            ending: None,
            agents: Vec::new(),
            reported_errors: VecDeque::new(),
            rc: false,
            paused: params.paused,
            width: params.width,
            height: params.height,
            have_key: false,
            frame: None,
            refresh_outstanding: false,
            no_agent_since: Some(Instant::now()),
            cursor_shape: None,
            cursor: None,
            link_epoch: 0,
            detached: false,
        };
        Session {
            params,
            visitor: Mutex::new(visitor),
            agent_queue_limit,
            inner: Mutex::new(inner),
            timer: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn visitor(&self) -> Arc<SendQueue> {
        self.visitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current visitor connection's number (see [`Session::attach`]).
    pub fn link_epoch(&self) -> u64 {
        self.lock().link_epoch
    }

    /// The visitor connection `epoch` dropped: the session waits for a `resume` (agents stay
    /// joined). False if the session ended or another connection replaced that one.
    pub fn detach(&self, epoch: u64) -> bool {
        let mut g = self.lock();
        if g.ended || g.link_epoch != epoch || g.detached {
            return false;
        }
        g.detached = true;
        true
    }

    /// Whether the visitor's connection is lost and no `resume` came since.
    pub fn is_detached(&self) -> bool {
        let g = self.lock();
        !g.ended && g.detached
    }

    /// Whether connection `epoch` dropped and no `resume` came since.
    pub fn still_detached(&self, epoch: u64) -> bool {
        let g = self.lock();
        !g.ended && g.detached && g.link_epoch == epoch
    }

    /// A `resume`: `queue` becomes the visitor's connection (an older one still open is
    /// closed). Queues `resumed` and the guest count on it; any frame cut by the drop is
    /// abandoned (the visitor starts again with a key frame for everyone). Returns the new
    /// connection's epoch, or `None` if the session has ended.
    pub fn attach(&self, queue: Arc<SendQueue>) -> Option<u64> {
        let mut g = self.lock();
        if g.ended {
            return None;
        }
        queue.push_control(Control::Resumed {
            call_id: self.params.call_id,
            key: self.params.key.clone(),
        });
        queue.push_control(Control::GuestCount {
            count: g.agents.len() as u32,
        });
        let old = std::mem::replace(
            &mut *self.visitor.lock().unwrap_or_else(|p| p.into_inner()),
            queue,
        );
        old.close(None);
        g.link_epoch += 1;
        g.detached = false;
        g.frame = None;
        for a in &mut g.agents {
            a.in_frame = false;
        }
        g.refresh_outstanding = false;
        Some(g.link_epoch)
    }

    pub fn group_id(&self) -> u32 {
        self.params.group.id
    }

    pub fn key(&self) -> &str {
        &self.params.key
    }

    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// Adds an agent: queues `joined` for it, tells everyone the new count and asks the
    /// visitor for a key frame.
    pub fn add_agent(
        &self,
        id: u64,
        queue: Arc<SendQueue>,
        who: &AgentIdentity,
    ) -> Result<(), JoinError> {
        let mut g = self.lock();
        if g.ended {
            return Err(JoinError::NoSession);
        }
        if g.agents.len() >= self.params.max_guests as usize {
            return Err(JoinError::Full);
        }
        let mut slot = AgentSlot {
            id,
            queue: queue.clone(),
            needs_key: true,
            in_frame: false,
            shapes: VecDeque::new(),
            remote_assist: who.remote_assist,
            label: who
                .info
                .as_ref()
                .map(|i| i.username.clone())
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| format!("agent-{id}")),
        };
        let count = g.agents.len() as u32 + 1;
        queue.push_control(Control::Joined {
            call_id: self.params.call_id,
            key: self.params.key.clone(),
            ssnid: self.params.ssnid.clone(),
            group_id: self.params.group.id,
            width: g.width,
            height: g.height,
            paused: g.paused,
            guests: count,
            visitor_version: self.params.visitor_client.clone(),
            display_name: self.params.display_name.clone(),
            agent: who.info.clone(),
            remote_assist: who.remote_assist,
            rc: g.rc,
        });
        // A late joiner sees the cursor where it is now (its shape first).
        if let (Some(shape), Some(c)) = (&g.cursor_shape, &g.cursor) {
            slot.send_cursor(shape, c);
        }
        g.agents.push(slot);
        self.broadcast_guest_count(&g);
        if g.no_agent_since.take().is_some() {
            self.timer.notify_one();
        }
        self.request_refresh(&mut g);
        Ok(())
    }

    /// Removes an agent. Returns true if that ended the session (the last agent left a
    /// non-persistent session); the caller then forgets it in the registry.
    pub fn remove_agent(&self, id: u64) -> bool {
        let mut g = self.lock();
        if g.ended {
            return false;
        }
        let Some(pos) = g.agents.iter().position(|a| a.id == id) else {
            return false;
        };
        g.agents.remove(pos);
        self.broadcast_guest_count(&g);
        if g.agents.is_empty() {
            if !self.params.persist {
                return self.end_locked(
                    &mut g,
                    &Ending::new(
                        EndReason::OtherSide,
                        AgentStatus::SessionEndedQuit,
                        "the last agent left",
                        true,
                    ),
                );
            }
            g.no_agent_since = Some(Instant::now());
            self.timer.notify_one();
        }
        false
    }

    fn broadcast_guest_count(&self, g: &Inner) {
        let count = g.agents.len() as u32;
        self.visitor().push_control(Control::GuestCount { count });
        for a in &g.agents {
            a.queue.push_control(Control::GuestCount { count });
        }
    }

    fn request_refresh(&self, g: &mut Inner) {
        if !g.refresh_outstanding {
            g.refresh_outstanding = true;
            self.visitor().push_control(Control::RefreshRequest);
        }
    }

    /// Relays a pause or resume to every agent and remembers it for late joiners.
    pub fn set_paused(&self, paused: bool) {
        let mut g = self.lock();
        if g.ended {
            return;
        }
        g.paused = paused;
        if paused {
            // Where the cursor was before the pause is nobody's business after it.
            g.cursor = None;
        }
        for a in &g.agents {
            a.queue.push_control(Control::Paused { paused });
        }
        if !paused && g.agents.iter().any(|a| a.needs_key) {
            // A request made while paused may have been dropped: ask again.
            g.refresh_outstanding = false;
            self.request_refresh(&mut g);
        }
    }

    /// Records an error the visitor reported (reportErrors) in the session's record.
    pub fn record_error(&self, event: &str, message: &str) {
        let cut = |t: &str, n: usize| {
            let mut end = t.len().min(n);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t[..end].to_string()
        };
        let mut g = self.lock();
        log::warn!(
            "session {}/{}: the visitor reports {}: {}",
            self.params.group.id,
            self.params.key,
            cut(event, 64),
            cut(message, 1000)
        );
        if g.reported_errors.len() == MAX_REPORTED_ERRORS {
            g.reported_errors.pop_front();
        }
        g.reported_errors
            .push_back((cut(event, 64), cut(message, 1000)));
    }

    /// The visitor enabled or disabled remote control; every agent is told.
    pub fn set_rc(&self, enabled: bool) {
        let mut g = self.lock();
        if g.ended || g.rc == enabled {
            return;
        }
        g.rc = enabled;
        for a in &g.agents {
            a.queue.push_control(Control::Rc { enabled });
        }
    }

    /// Forwards an agent's input to the visitor if remote control is on and the agent's role
    /// allows it. Returns whether it was forwarded.
    pub fn forward_input(&self, agent_id: u64, input: InputEvent) -> bool {
        let g = self.lock();
        let allowed = !g.ended
            && g.rc
            && !g.paused
            && g.agents.iter().any(|a| a.id == agent_id && a.remote_assist);
        if allowed {
            self.visitor().push_control(Control::Input { input });
        } else if g
            .agents
            .iter()
            .any(|a| a.id == agent_id && !a.remote_assist)
        {
            // A role without the privilege: dropped whatever it sends, and said so (once a
            // burst, through the protocol-log limiter).
            if crate::guard::logsafe::protocol_log_allowed().is_some() {
                log::info!(
                    "session {}/{}: input from agent {agent_id} dropped: its role may not take remote control",
                    self.params.group.id,
                    self.params.key
                );
            }
        }
        allowed
    }

    /// Relays an agent's custom message (checked by the caller) to the visitor, with who sent
    /// it: [`agent_message::AGENT_PROPERTY`] and [`agent_message::REMOTE_ASSIST_PROPERTY`].
    /// Returns false when the session is over or the agent is not in it. A visitor away
    /// (waiting for its `resume`) does not get it.
    pub fn relay_agent_message(
        &self,
        agent_id: u64,
        name: String,
        mut properties: BTreeMap<String, String>,
    ) -> bool {
        let g = self.lock();
        if g.ended || g.detached {
            return false;
        }
        let Some(a) = g.agents.iter().find(|a| a.id == agent_id) else {
            return false;
        };
        properties.insert(agent_message::AGENT_PROPERTY.into(), a.label.clone());
        properties.insert(
            agent_message::REMOTE_ASSIST_PROPERTY.into(),
            a.remote_assist.to_string(),
        );
        self.visitor()
            .push_control(Control::AgentMessage { name, properties });
        true
    }

    /// Remembers the visitor's cursor shape (`shape` is the kind byte followed by the payload,
    /// already checked); agents get it with the first position that uses it.
    pub fn set_cursor_shape(&self, id: u32, shape: Bytes) {
        let mut g = self.lock();
        if !g.ended {
            g.cursor_shape = Some((id, shape));
        }
    }

    /// Relays a `cursor` message (latest wins for each agent). An error if it does not use
    /// the last shape the visitor sent. Dropped while paused.
    pub fn route_cursor(&self, c: Control) -> Result<(), String> {
        let Control::Cursor { shape, .. } = c else {
            return Err(format!("{} is not a cursor message", c.name()));
        };
        let mut g = self.lock();
        if g.ended {
            return Ok(());
        }
        let Some(current) = g.cursor_shape.clone() else {
            return Err(format!(
                "a cursor message uses shape {shape} before any cursor shape was sent"
            ));
        };
        if current.0 != shape {
            return Err(format!(
                "a cursor message uses shape {shape}, but the last cursor shape sent is {}",
                current.0
            ));
        }
        if g.paused {
            return Ok(());
        }
        let mut need_refresh = false;
        for a in &mut g.agents {
            need_refresh |= a.send_cursor(&current, &c);
        }
        g.cursor = Some(c);
        if need_refresh {
            self.request_refresh(&mut g);
        }
        Ok(())
    }

    /// Routes one update (`update` is the kind byte followed by the payload, already checked
    /// with `FrameUpdate::parse`). An error describes why the update breaks the protocol.
    pub fn route_update(&self, update: Bytes, h: UpdateHeader) -> Result<(), String> {
        let mut g = self.lock();
        if g.ended {
            return Ok(());
        }
        let bits = h.flags & (FLAG_KEY | FLAG_REFRESH_ONLY);
        let size_matches = h.width == g.width && h.height == g.height;
        if let Some(f) = g.frame {
            if f.seq != h.seq || f.bits != bits {
                return Err(format!(
                    "an update of frame {} (flags {}) arrived before frame {} (flags {}) had its FINAL message",
                    h.seq, h.flags, f.seq, f.bits
                ));
            }
            if !size_matches {
                return Err(format!(
                    "the display size changed to {}x{} inside frame {}",
                    h.width, h.height, h.seq
                ));
            }
        } else if bits & FLAG_KEY != 0 {
            let everyone = bits & FLAG_REFRESH_ONLY == 0;
            // A refresh-only key frame that changes the size (a visitor should send a plain
            // KEY then): agents in step skip it and could not apply the deltas that follow,
            // so they wait for the next key frame like agents that fell behind.
            let resized = g.have_key && !size_matches;
            for a in &mut g.agents {
                if !everyone && resized && !a.needs_key {
                    a.needs_key = true;
                    a.in_frame = false;
                    continue;
                }
                a.in_frame = everyone || a.needs_key;
                if a.in_frame {
                    a.needs_key = false;
                }
            }
            g.width = h.width;
            g.height = h.height;
            g.have_key = true;
            g.refresh_outstanding = false;
            if g.agents.iter().any(|a| a.needs_key) {
                self.request_refresh(&mut g);
            }
        } else {
            if !g.have_key {
                return Err("a delta update arrived before any key frame".into());
            }
            if !size_matches {
                return Err(format!(
                    "a delta update of {}x{} does not match the {}x{} display of the last key frame",
                    h.width, h.height, g.width, g.height
                ));
            }
            for a in &mut g.agents {
                a.in_frame = !a.needs_key;
            }
        }
        g.frame = if h.flags & FLAG_FINAL != 0 {
            None
        } else {
            Some(FrameInProgress { seq: h.seq, bits })
        };
        let mut need_refresh = false;
        let Inner {
            agents,
            cursor_shape,
            cursor,
            ..
        } = &mut *g;
        for a in agents.iter_mut().filter(|a| a.in_frame) {
            match a.queue.push_update(update.clone()) {
                PushOutcome::Queued => {}
                PushOutcome::Overflow => {
                    log::debug!(
                        "session {}/{}: agent {} is slow; it waits for a key frame",
                        self.params.group.id,
                        self.params.key,
                        a.id
                    );
                    a.overflowed();
                    need_refresh = true;
                    // The cursor shapes queued for it went too: send the current one again.
                    if let (Some(shape), Some(c)) = (&*cursor_shape, &*cursor) {
                        a.send_cursor(shape, c);
                    }
                }
                PushOutcome::Closed => a.in_frame = false,
            }
        }
        if need_refresh {
            self.request_refresh(&mut g);
        }
        Ok(())
    }

    /// Ends the session: every agent gets `session_ended` and is closed, the visitor too if
    /// `notify_visitor`. Returns false if it had already ended.
    pub fn end(&self, e: &Ending) -> bool {
        let mut g = self.lock();
        self.end_locked(&mut g, e)
    }

    fn end_locked(&self, g: &mut Inner, e: &Ending) -> bool {
        if g.ended {
            return false;
        }
        g.ended = true;
        g.ending = Some(e.clone());
        log::info!(
            "session {}/{} ended: {:?} (status {}): {}",
            self.params.group.id,
            self.params.key,
            e.reason,
            e.status.code(),
            e.message
        );
        let msg = e.control();
        for a in g.agents.drain(..) {
            a.queue.close(Some(msg.clone()));
        }
        if e.notify_visitor {
            self.visitor().close(Some(msg));
        }
        self.timer.notify_one();
        true
    }

    /// Ends the session with `timed_out` once no agent has been present for the group's
    /// no-agent timeout. Returns when the session ends.
    pub async fn run_no_agent_timer(self: Arc<Self>, registry: Weak<Registry>) {
        let timeout = self.params.group.no_agent_timeout();
        loop {
            let deadline = {
                let g = self.lock();
                if g.ended {
                    return;
                }
                g.no_agent_since.map(|t| t + timeout)
            };
            let Some(deadline) = deadline else {
                self.timer.notified().await;
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = self.timer.notified() => continue,
            }
            let due = {
                let g = self.lock();
                !g.ended
                    && g.no_agent_since
                        .is_some_and(|t| t + timeout <= Instant::now())
            };
            if due {
                let e = Ending::new(
                    EndReason::TimedOut,
                    AgentStatus::SessionEndedTimeout,
                    format!("no agent was present for {} s", timeout.as_secs()),
                    true,
                );
                match registry.upgrade() {
                    Some(r) => r.end_session(&self, &e),
                    None => {
                        self.end(&e);
                    }
                }
                return;
            }
        }
    }

    pub fn stats(&self) -> SessionStats {
        let g = self.lock();
        SessionStats {
            group_id: self.params.group.id,
            key: self.params.key.clone(),
            call_id: self.params.call_id,
            paused: g.paused,
            width: g.width,
            height: g.height,
            refresh_outstanding: g.refresh_outstanding,
            agents: g
                .agents
                .iter()
                .map(|a| AgentStats {
                    agent_id: a.id,
                    needs_key: a.needs_key,
                    queue: a.queue.stats(),
                })
                .collect(),
            agent_queue_limit: self.agent_queue_limit,
            visitor_queue: self.visitor().stats(),
            reported_errors: g.reported_errors.iter().cloned().collect(),
        }
    }
}

/// Sessions restored from the journal after a restart (issue 18).
impl Session {
    /// A session restored from the journal: its visitor has no connection yet (the caller
    /// detaches it, so the resume window runs from now, as after a dropped visitor link).
    pub fn restored(params: SessionParams, agent_queue_limit: usize) -> Session {
        let none = Arc::new(SendQueue::new(1, 1));
        none.close(None);
        Session::new(params, none, agent_queue_limit)
    }

    /// The session's current pause state and display size, or `None` once it has ended.
    pub fn journal_state(&self) -> Option<(bool, u16, u16)> {
        let g = self.lock();
        (!g.ended).then_some((g.paused, g.width, g.height))
    }

    /// How the session ended, once it has.
    pub fn ending(&self) -> Option<Ending> {
        self.lock().ending.clone()
    }
}
