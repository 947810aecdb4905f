//! [`TestAgent`]: an agent over WSS (tokio-rustls trusting the server's CA, tokio-tungstenite
//! on top). A background task records every control message, answers pings and applies
//! frame updates to a [`Framebuffer`] following the browser viewer's rule: a REFRESH_ONLY
//! frame is skipped when the agent is in step (a key frame completed and every frame since
//! arrived whole with consecutive `seq`); it logs the first rects it applied (encoding and
//! size). It records the cursor as well: every `cursor` message and every shape, with a shape
//! cache like the viewer's (the last [`CURSOR_SHAPE_CACHE`] shapes received), so tests see
//! whether each position's shape was there when it arrived.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use glance_protocol::framing::{self, Message as WireMessage};
use glance_protocol::limits::CURSOR_SHAPE_CACHE;
use glance_protocol::update::FrameUpdate;
use glance_protocol::{
    Control, CursorShape, Encoding, Framebuffer, Rect, Role, PROTOCOL_VERSION_MAX,
    PROTOCOL_VERSION_MIN,
};
use glance_server::ReadyInfo;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::{Result, TestError};

/// How long [`TestAgent::join`] waits for `joined`/`join_failed`.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// SO_RCVBUF for the agent's socket (small values make a stalled agent back up fast).
    pub recv_buffer: Option<u32>,
    /// Do not answer pings.
    pub no_pong: bool,
    /// The `Origin` header a browser page would send.
    pub origin: Option<String>,
}

/// A `cursor` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorPos {
    pub x: u16,
    pub y: u16,
    pub visible: bool,
    pub shape: u32,
}

/// One rect of an update the agent applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RectRecord {
    pub seq: u32,
    pub rect: Rect,
    pub encoding: Encoding,
    /// Bytes of the rect's data.
    pub len: usize,
    /// From a key frame.
    pub key: bool,
}

/// A rectangle of the picture that must show one flat colour in every frame presented (the
/// masking tests: a masked area never shows anything else, whatever the encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlatWatch {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
    pub rgb: [u8; 3],
}

/// How many rects [`AgentState::rect_log`] keeps (the first ones).
pub const RECT_LOG_CAP: usize = 4096;

/// Everything the agent has seen.
#[derive(Debug, Clone, Default)]
pub struct AgentState {
    /// Every control message received except `ping` and `cursor`, in order.
    pub events: Vec<Control>,
    /// Every `cursor` message received, in order.
    pub cursors: Vec<CursorPos>,
    /// Every cursor shape received, in order.
    pub shapes: Vec<CursorShape>,
    /// `cursor` messages whose shape was not in the cache when they arrived.
    pub cursors_without_shape: u64,
    /// Ids of the cached shapes, oldest first (at most [`CURSOR_SHAPE_CACHE`]).
    pub shape_cache: VecDeque<u32>,
    /// The rebuilt picture.
    pub fb: Framebuffer,
    /// Frame-update messages received.
    pub updates: u64,
    /// Update bytes received (kind byte included).
    pub update_bytes: u64,
    /// Where those bytes went (per encoding, headers).
    pub wire: glance_protocol::update::WireStats,
    /// The first [`RECT_LOG_CAP`] rects applied, in order.
    pub rect_log: Vec<RectRecord>,
    /// REFRESH_ONLY messages received.
    pub refresh_only_received: u64,
    /// REFRESH_ONLY messages skipped because the agent was in step.
    pub refresh_only_skipped: u64,
    /// Frames presented (FINAL messages applied).
    pub frames: u64,
    /// Whether the agent considers itself in step.
    pub in_step: bool,
    /// A message without FINAL was applied; its frame continues.
    pub frame_open: bool,
    skipping_seq: Option<u32>,
    /// Pings received.
    pub pings: u64,
    /// The connection ended (close frame, EOF or error).
    pub closed: bool,
    pub close_reason: Option<String>,
    /// A bad update or message from the server.
    pub error: Option<String>,
    /// See [`FlatWatch`]; set with [`TestAgent::set_watch`].
    pub watch: Option<FlatWatch>,
    /// Frames checked against [`AgentState::watch`], and those that broke it (the first
    /// one described).
    pub watched_frames: u64,
    pub watch_violations: u64,
    pub first_violation: Option<String>,
}

impl AgentState {
    /// The `joined` message, once received.
    pub fn joined(&self) -> Option<&Control> {
        self.events
            .iter()
            .find(|c| matches!(c, Control::Joined { .. }))
    }

    /// The `status` of `join_failed`, if refused.
    pub fn join_failed(&self) -> Option<u16> {
        self.events.iter().find_map(|c| match c {
            Control::JoinFailed { status, .. } => Some(*status),
            _ => None,
        })
    }

    /// The `status` of `session_ended`, if the session ended.
    pub fn ended_status(&self) -> Option<u16> {
        self.events.iter().find_map(|c| match c {
            Control::SessionEnded { status, .. } => Some(*status),
            _ => None,
        })
    }

    /// The last guest count announced (by `joined` or `guest_count`).
    pub fn guest_count(&self) -> Option<u32> {
        self.events.iter().rev().find_map(|c| match c {
            Control::GuestCount { count } => Some(*count),
            Control::Joined { guests, .. } => Some(*guests),
            _ => None,
        })
    }

    /// The pause state as last announced (by `joined` or `paused`).
    pub fn paused(&self) -> Option<bool> {
        self.events.iter().rev().find_map(|c| match c {
            Control::Paused { paused } => Some(*paused),
            Control::Joined { paused, .. } => Some(*paused),
            _ => None,
        })
    }

    /// The latest `cursor` message.
    pub fn cursor(&self) -> Option<CursorPos> {
        self.cursors.last().copied()
    }

    /// The cached shape `id` (the last one received with that id).
    pub fn shape(&self, id: u32) -> Option<&CursorShape> {
        if !self.shape_cache.contains(&id) {
            return None;
        }
        self.shapes.iter().rev().find(|s| s.id == id)
    }

    /// How many shapes with `id` arrived.
    pub fn shapes_received(&self, id: u32) -> usize {
        self.shapes.iter().filter(|s| s.id == id).count()
    }

    fn on_cursor(&mut self, c: CursorPos) {
        if !self.shape_cache.contains(&c.shape) {
            self.cursors_without_shape += 1;
        }
        self.cursors.push(c);
    }

    fn on_shape(&mut self, payload: &[u8]) -> Result<(), String> {
        let shape = CursorShape::parse(payload).map_err(|e| format!("bad cursor shape: {e}"))?;
        self.shape_cache.retain(|&id| id != shape.id);
        self.shape_cache.push_back(shape.id);
        if self.shape_cache.len() > CURSOR_SHAPE_CACHE {
            self.shape_cache.pop_front();
        }
        self.shapes.push(shape);
        Ok(())
    }

    /// The `error` message the server sent, if any.
    pub fn server_error(&self) -> Option<(&str, &str)> {
        self.events.iter().find_map(|c| match c {
            Control::Error { code, message } => Some((code.as_str(), message.as_str())),
            _ => None,
        })
    }

    /// A one-line summary for failure messages.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.events.iter().map(|c| c.name()).collect();
        format!(
            "events {names:?}; {} cursor messages (last {:?}), {} shapes; {} updates ({} refresh-only, {} skipped), {} frames, picture {}x{}, in_step {}, closed {} ({:?}), error {:?}",
            self.cursors.len(),
            self.cursor(),
            self.shapes.len(),
            self.updates,
            self.refresh_only_received,
            self.refresh_only_skipped,
            self.frames,
            self.fb.width,
            self.fb.height,
            self.in_step,
            self.closed,
            self.close_reason,
            self.error
        )
    }

    fn apply(&mut self, payload: &[u8]) -> Result<(), String> {
        let u = FrameUpdate::parse(payload).map_err(|e| format!("bad update: {e}"))?;
        self.updates += 1;
        self.update_bytes += payload.len() as u64 + 1;
        self.wire.record(&u);
        if u.is_refresh_only() {
            self.refresh_only_received += 1;
            let next = self.fb.seq.wrapping_add(1);
            if self.skipping_seq == Some(u.seq)
                || (self.skipping_seq.is_none()
                    && self.in_step
                    && !self.frame_open
                    && u.seq == next)
            {
                self.skipping_seq = (!u.is_final()).then_some(u.seq);
                self.fb.seq = u.seq;
                self.refresh_only_skipped += 1;
                return Ok(());
            }
        }
        self.skipping_seq = None;
        let expected = if self.frame_open {
            self.fb.seq
        } else {
            self.fb.seq.wrapping_add(1)
        };
        if u.seq != expected {
            self.in_step = false;
        }
        self.fb
            .apply(&u)
            .map_err(|e| format!("cannot apply update: {e}"))?;
        for r in u
            .rects
            .iter()
            .take(RECT_LOG_CAP.saturating_sub(self.rect_log.len()))
        {
            self.rect_log.push(RectRecord {
                seq: u.seq,
                rect: r.rect,
                encoding: r.encoding,
                len: r.data.len(),
                key: u.is_key(),
            });
        }
        self.frame_open = !u.is_final();
        if !self.frame_open {
            if u.is_key() {
                self.in_step = true;
            }
            self.frames += 1;
            self.check_watch(u.seq);
        }
        Ok(())
    }

    fn check_watch(&mut self, seq: u32) {
        let Some(w) = self.watch else { return };
        let (fw, fh) = (self.fb.width as usize, self.fb.height as usize);
        self.watched_frames += 1;
        for y in (w.y as usize)..(w.y as usize + w.h as usize).min(fh) {
            for x in (w.x as usize)..(w.x as usize + w.w as usize).min(fw) {
                let p = &self.fb.rgba[(y * fw + x) * 4..][..3];
                if p != w.rgb {
                    self.watch_violations += 1;
                    if self.first_violation.is_none() {
                        self.first_violation =
                            Some(format!("frame seq {seq}: pixel ({x},{y}) is {p:?}"));
                    }
                    return;
                }
            }
        }
    }
}

struct Shared {
    state: Mutex<AgentState>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, AgentState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut AgentState)) {
        f(&mut self.lock());
        self.changed.send_modify(|v| *v += 1);
    }
}

/// See the module documentation.
pub struct TestAgent {
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Message>,
    reading: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for TestAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAgent")
            .field("state", &self.shared.lock().summary())
            .finish()
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestAgent {
    /// Connects to `/ws/agent` and opens the WebSocket; nothing is sent yet.
    pub async fn open(ready: &ReadyInfo, opts: AgentOptions) -> Result<TestAgent> {
        let ws =
            crate::tls::websocket(ready, "/ws/agent", opts.origin.as_deref(), opts.recv_buffer)
                .await?;
        let shared = Arc::new(Shared {
            state: Mutex::new(AgentState::default()),
            changed: watch::channel(0).0,
        });
        let (out, out_rx) = mpsc::unbounded_channel();
        let (reading, reading_rx) = watch::channel(true);
        let task = tokio::spawn(run(ws, shared.clone(), out_rx, reading_rx, opts.no_pong));
        Ok(TestAgent {
            shared,
            out,
            reading,
            task,
        })
    }

    /// Opens the WebSocket and completes `hello`/`welcome`.
    pub async fn connect(ready: &ReadyInfo, opts: AgentOptions) -> Result<TestAgent> {
        let a = TestAgent::open(ready, opts).await?;
        a.send(&Control::Hello {
            role: Role::Agent,
            min_version: PROTOCOL_VERSION_MIN,
            max_version: PROTOCOL_VERSION_MAX,
            client: "glance-tests agent".into(),
            sdk_version: String::new(),
        })?;
        a.wait_until("welcome", JOIN_TIMEOUT, |s| {
            s.closed
                || s.events
                    .iter()
                    .any(|c| matches!(c, Control::Welcome { .. }))
        })
        .await?;
        Ok(a)
    }

    /// Connects and joins session `key`; returns once `joined` or `join_failed` arrived or
    /// the connection closed (check [`AgentState::joined`] / [`AgentState::join_failed`]).
    pub async fn join(
        ready: &ReadyInfo,
        key: &str,
        token: &str,
        group_id: Option<u32>,
    ) -> Result<TestAgent> {
        TestAgent::join_with(ready, key, token, group_id, AgentOptions::default()).await
    }

    /// [`TestAgent::join`] with options.
    pub async fn join_with(
        ready: &ReadyInfo,
        key: &str,
        token: &str,
        group_id: Option<u32>,
        opts: AgentOptions,
    ) -> Result<TestAgent> {
        let a = TestAgent::connect(ready, opts).await?;
        a.send(&Control::Join {
            key: key.into(),
            token: token.into(),
            group_id,
        })?;
        a.wait_until("joined or join_failed", JOIN_TIMEOUT, |s| {
            s.closed || s.joined().is_some() || s.join_failed().is_some()
        })
        .await?;
        Ok(a)
    }

    /// Joins with the ready line's development token and group.
    pub async fn join_dev(ready: &ReadyInfo, key: &str) -> Result<TestAgent> {
        TestAgent::join(ready, key, &ready.agent_token, Some(ready.group_id)).await
    }

    /// Sends a control message.
    pub fn send(&self, c: &Control) -> Result<()> {
        self.send_message(Message::text(c.to_json()))
    }

    /// Sends a text message as it is (e.g. a malformed control message).
    pub fn send_text(&self, json: &str) -> Result<()> {
        self.send_message(Message::text(json.to_string()))
    }

    /// Sends a raw WebSocket message.
    pub fn send_message(&self, m: Message) -> Result<()> {
        self.out
            .send(m)
            .map_err(|_| TestError::Closed("the agent's task has ended".into()))
    }

    /// Leaves the session without ending it.
    pub fn leave(&self) -> Result<()> {
        self.send(&Control::Leave)
    }

    /// Ends the session for everyone.
    pub fn end_session(&self) -> Result<()> {
        self.send(&Control::EndSession)
    }

    /// Stops (false) or resumes (true) reading from the connection; while stopped nothing is
    /// read, so the server's queue for this agent backs up.
    pub fn set_reading(&self, on: bool) {
        let _ = self.reading.send(on);
    }

    /// A copy of everything seen so far.
    pub fn snapshot(&self) -> AgentState {
        self.shared.lock().clone()
    }

    /// Looks at the state without copying it.
    pub fn with_state<R>(&self, f: impl FnOnce(&AgentState) -> R) -> R {
        f(&self.shared.lock())
    }

    /// Checks `w` in every frame presented from now on (see [`FlatWatch`]).
    pub fn set_watch(&self, w: Option<FlatWatch>) {
        self.shared.update(|s| s.watch = w);
    }

    /// Waits until `f` holds, at most `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&AgentState) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut rx = self.shared.changed.subscribe();
        loop {
            rx.borrow_and_update();
            if f(&self.shared.lock()) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(TestError::Timeout {
                    what: what.into(),
                    secs: timeout.as_secs_f64(),
                    detail: self.shared.lock().summary(),
                });
            }
        }
    }

    /// Waits until the connection is closed.
    pub async fn wait_closed(&self, timeout: Duration) -> Result<()> {
        self.wait_until("the connection to close", timeout, |s| s.closed)
            .await
    }
}

async fn run<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    shared: Arc<Shared>,
    mut out: mpsc::UnboundedReceiver<Message>,
    mut reading: watch::Receiver<bool>,
    no_pong: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let close = |reason: String| {
        shared.update(|s| {
            s.closed = true;
            s.close_reason.get_or_insert(reason);
        })
    };
    loop {
        let on = *reading.borrow_and_update();
        tokio::select! {
            m = out.recv() => match m {
                Some(m) => {
                    if let Err(e) = sink.send(m).await {
                        return close(format!("send failed: {e}"));
                    }
                }
                None => return,
            },
            r = reading.changed() => {
                if r.is_err() {
                    return;
                }
            }
            m = stream.next(), if on => {
                let m = match m {
                    None => return close("end of stream".into()),
                    Some(Err(e)) => return close(format!("read failed: {e}")),
                    Some(Ok(m)) => m,
                };
                match m {
                    Message::Text(t) => match Control::from_json(t.as_bytes()) {
                        Ok(Control::Ping { t }) => {
                            shared.update(|s| s.pings += 1);
                            if !no_pong {
                                let pong = Message::text(Control::Pong { t }.to_json());
                                if let Err(e) = sink.send(pong).await {
                                    return close(format!("send failed: {e}"));
                                }
                            }
                        }
                        Ok(Control::Cursor { x, y, visible, shape }) => {
                            shared.update(|s| s.on_cursor(CursorPos { x, y, visible, shape }));
                        }
                        Ok(c) => shared.update(|s| s.events.push(c)),
                        Err(e) => {
                            shared.update(|s| s.error = Some(format!("bad control message: {e}")));
                        }
                    },
                    Message::Binary(b) => match framing::decode_ws_binary(&b) {
                        Ok(WireMessage::Update(payload)) => {
                            let mut failed = None;
                            shared.update(|s| {
                                if let Err(e) = s.apply(&payload) {
                                    s.error = Some(e.clone());
                                    failed = Some(e);
                                }
                            });
                            if let Some(e) = failed {
                                let _ = sink.close().await;
                                return close(e);
                            }
                        }
                        Ok(WireMessage::CursorShape(payload)) => {
                            let mut failed = None;
                            shared.update(|s| {
                                if let Err(e) = s.on_shape(&payload) {
                                    s.error = Some(e.clone());
                                    failed = Some(e);
                                }
                            });
                            if let Some(e) = failed {
                                let _ = sink.close().await;
                                return close(e);
                            }
                        }
                        Ok(WireMessage::Control(c)) => shared.update(|s| s.events.push(c)),
                        Err(e) => shared.update(|s| s.error = Some(format!("bad binary message: {e}"))),
                    },
                    Message::Close(f) => {
                        return close(format!("close frame {f:?}"));
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Picture;
    use glance_protocol::update::FLAG_REFRESH_ONLY;
    use glance_protocol::Rect;

    fn feed(s: &mut AgentState, msgs: &[Vec<u8>]) {
        for m in msgs {
            s.apply(m).unwrap();
        }
    }

    #[test]
    fn refresh_only_is_skipped_in_step_and_applied_after_a_gap() {
        let mut s = AgentState::default();
        let a = Picture::pattern(40, 30, 1);
        feed(&mut s, &a.key_frame(0, 1, 8, 2));
        assert!(s.in_step && a.matches(&s.fb));
        // in step, next seq: a refresh-only frame (of another picture, to tell) is skipped
        let b = Picture::pattern(40, 30, 2);
        feed(&mut s, &b.key_frame(FLAG_REFRESH_ONLY, 2, 8, 2));
        assert_eq!(s.refresh_only_skipped, 2);
        assert!(a.matches(&s.fb));
        // a gap in seq: the agent is out of step and applies the next refresh-only frame
        let mut c = a.clone();
        c.fill(Rect::new(0, 0, 5, 5), [9, 9, 9]);
        feed(&mut s, &c.delta(5, &[Rect::new(0, 0, 5, 5)], 1));
        assert!(!s.in_step);
        feed(&mut s, &b.key_frame(FLAG_REFRESH_ONLY, 6, 8, 2));
        assert!(b.matches(&s.fb) && s.in_step);
        assert_eq!(s.refresh_only_skipped, 2);
    }
}
