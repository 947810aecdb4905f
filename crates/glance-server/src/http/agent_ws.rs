//! `GET /ws/agent`: the agent side of the protocol over a WebSocket. `hello`/`welcome`,
//! `join` (token, key), then `leave`, `end_session`, `input`, `agent_message` (custom
//! messages for the visitor: checked, rate-limited, and dropped with a log line when bad) and
//! `pong`; the server sends what the
//! agent's send queue holds (`joined`, `guest_count`, `paused`, updates, `session_ended`,
//! `ping`). Malformed or out-of-order messages get `error` and a close.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures_util::StreamExt;
use glance_protocol::framing::{self, Message as WireMessage};
use glance_protocol::limits::MAX_CONTROL_LEN;
use glance_protocol::{
    negotiate_version, AgentStatus, Control, EndReason, Role, PROTOCOL_VERSION_MAX,
    PROTOCOL_VERSION_MIN,
};
use tokio::time::{timeout, Instant};

use super::{AppState, PeerAddr};
use crate::direct::CLOSE_GRACE;
use crate::relay::agent_queue::{SendQueue, MAX_QUEUED_CONTROLS};
use crate::relay::session::{Ending, Session};
use crate::relay::visitor::server_name;

/// Largest message an agent may send: a control message, as text or as a kind-1 binary.
const MAX_AGENT_MESSAGE: usize = MAX_CONTROL_LEN + 1;

/// Custom `agent_message`s an agent may send in a burst, and how many a second refill it.
const AGENT_MESSAGE_BURST: f64 = 8.0;
const AGENT_MESSAGES_PER_SEC: f64 = 2.0;

/// One agent's budget of custom messages (a token bucket).
struct MessageBudget {
    tokens: f64,
    at: Instant,
}

impl MessageBudget {
    fn new() -> MessageBudget {
        MessageBudget {
            tokens: AGENT_MESSAGE_BURST,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.at).as_secs_f64() * AGENT_MESSAGES_PER_SEC)
            .min(AGENT_MESSAGE_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether `json` is an object whose `type` is `agent_message` (so that a malformed one is
/// dropped instead of closing the connection).
fn is_agent_message(json: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Tag>(json).is_ok_and(|t| t.kind == "agent_message")
}

pub async fn handler(
    State(st): State<Arc<AppState>>,
    Extension(peer): Extension<PeerAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = crate::http::agent_api::origin_of(&headers).map(str::to_string);
    // Sockets that have not joined are bounded by the connection budget and the handshake
    // deadline; an agent slot is taken only by a join that passed its token check.
    ws.max_message_size(MAX_AGENT_MESSAGE)
        .max_frame_size(MAX_AGENT_MESSAGE)
        .on_upgrade(move |socket| serve(st, socket, peer, origin))
}

enum Step {
    Continue,
    /// The connection is to close once the queue is written.
    Close,
}

struct Agent {
    st: Arc<AppState>,
    id: u64,
    queue: Arc<SendQueue>,
    welcomed: bool,
    session: Option<Arc<Session>>,
    /// The source address (throttle key).
    ip: String,
    /// The page's origin, if a browser sent one.
    origin: Option<String>,
    /// This agent's slot ([`AppState::agent_slots`]), held from a successful join.
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// A protocol error was logged for this connection already (one a connection).
    logged: bool,
    /// What is left of its budget of custom messages.
    messages: MessageBudget,
}

impl Agent {
    fn fail(&mut self, code: &str, message: impl Into<String>) -> Step {
        let message = message.into();
        if !self.logged {
            self.logged = true;
            crate::guard::logsafe::log_protocol_error(
                &format!("agent {}", self.id),
                code,
                &message,
            );
        }
        self.queue.push_control(Control::Error {
            code: code.into(),
            message,
        });
        self.queue.close(None);
        Step::Close
    }

    fn handle(&mut self, c: Control) -> Step {
        if !self.welcomed {
            return match c {
                Control::Hello {
                    role: Role::Agent,
                    min_version,
                    max_version,
                    ..
                } => match negotiate_version(min_version, max_version) {
                    Some(version) => {
                        self.queue.push_control(Control::Welcome {
                            version,
                            server: server_name(),
                            min_version: PROTOCOL_VERSION_MIN,
                            max_version: PROTOCOL_VERSION_MAX,
                            sdk_latest: String::new(),
                        });
                        self.queue.enable_ping();
                        self.welcomed = true;
                        Step::Continue
                    }
                    None => self.fail(
                        "version",
                        format!(
                            "this server speaks protocol versions {PROTOCOL_VERSION_MIN} to {PROTOCOL_VERSION_MAX}; the client offered {min_version} to {max_version}"
                        ),
                    ),
                },
                Control::Hello { role, .. } => self.fail(
                    "unexpected",
                    format!("this endpoint serves agents; hello.role was {role:?}"),
                ),
                other => self.fail(
                    "unexpected",
                    format!("the first message must be hello, not {}", other.name()),
                ),
            };
        }
        match (c, self.session.clone()) {
            (Control::Pong { .. }, _) => Step::Continue,
            (
                Control::Join {
                    key,
                    token,
                    group_id,
                },
                None,
            ) => self.join(&key, &token, group_id),
            (Control::Leave, Some(s)) => {
                self.st.registry.leave(&s, self.id);
                self.session = None;
                self.queue.close(None);
                Step::Close
            }
            (Control::EndSession, Some(s)) => {
                self.st.registry.end_session(
                    &s,
                    &Ending::new(
                        EndReason::OtherSide,
                        AgentStatus::SessionEnded,
                        "an agent ended the session",
                        true,
                    ),
                );
                Step::Close
            }
            (Control::Input { input }, Some(s)) => {
                if let Err(m) = input.validate() {
                    return self.fail("malformed", m);
                }
                s.forward_input(self.id, input);
                Step::Continue
            }
            (Control::AgentMessage { name, properties }, Some(s)) => {
                if let Err(m) =
                    glance_protocol::agent_message::validate_from_agent(&name, &properties)
                {
                    self.drop_message(&m);
                } else if !self.messages.take() {
                    self.drop_message("too many messages; at most 8 in a burst, 2 a second");
                } else if s.relay_agent_message(self.id, name, properties) {
                    log::debug!("agent {}: custom message relayed to the visitor", self.id);
                }
                Step::Continue
            }
            // A newer agent client's addition: logged and ignored (docs/PROTOCOL.md,
            // "Compatibility").
            (Control::Unknown, _) => {
                if crate::guard::logsafe::protocol_log_allowed().is_some() {
                    log::info!(
                        "agent {}: ignoring a message of a type this server does not know",
                        self.id
                    );
                }
                Step::Continue
            }
            (c, s) => self.fail(
                "unexpected",
                format!(
                    "{} is not expected from an agent {}",
                    c.name(),
                    if s.is_some() {
                        "in a session"
                    } else {
                        "before join"
                    }
                ),
            ),
        }
    }

    /// Drops a custom message the agent sent (malformed, too large or too frequent) with a
    /// log line (through the protocol-log limiter): never the end of the connection.
    fn drop_message(&self, why: &str) {
        if let Some(suppressed) = crate::guard::logsafe::protocol_log_allowed() {
            let more = if suppressed > 0 {
                format!(" ({suppressed} more protocol lines not logged)")
            } else {
                String::new()
            };
            log::info!(
                "agent {}: agent_message dropped: {}{more}",
                self.id,
                crate::guard::logsafe::redact(why)
            );
        }
    }

    /// Refuses the join; `log` may hold the client's text: it is redacted here, once.
    fn refuse(&self, status: AgentStatus, reason: &str, log: &str) -> Step {
        if crate::guard::logsafe::protocol_log_allowed().is_some() {
            log::info!(
                "agent {}: join refused ({}): {}",
                self.id,
                status.code(),
                crate::guard::logsafe::redact(log)
            );
        }
        self.queue.push_control(Control::JoinFailed {
            status: status.code(),
            reason: reason.into(),
        });
        self.queue.close(None);
        Step::Close
    }

    fn join(&mut self, key: &str, token: &str, group_id: Option<u32>) -> Step {
        let st = self.st.clone();
        let dev = st.registry.dev_group().id;
        let grant = match st.auth.authorize_join(token, group_id, key, dev) {
            Ok(g) => g,
            Err(e) => {
                return self.refuse(
                    AgentStatus::FailUnauthorized,
                    "unauthorized",
                    &e.to_string(),
                )
            }
        };
        if let Some(o) = &self.origin {
            let allowed = *o == st.own_origin
                || st
                    .auth
                    .group(grant.group)
                    .is_some_and(|g| g.allows_origin(o));
            if !allowed {
                return self.refuse(
                    AgentStatus::FailUnauthorized,
                    "unauthorized",
                    &format!("origin {o} is not allowed for group {}", grant.group),
                );
            }
        }
        if !st.auth.may_look_up(&grant.subject, &self.ip) {
            return self.refuse(
                AgentStatus::FailUnknown,
                "too many attempts; try again later",
                "throttled",
            );
        }
        let Ok(slot) = st.agent_slots.clone().try_acquire_owned() else {
            return self.refuse(
                AgentStatus::FailUnknown,
                "too many agents are connected; try again later",
                "every agent slot is taken",
            );
        };
        let Some(session) = st.registry.find(grant.group, key) else {
            st.auth.missed(&grant.subject, &self.ip);
            return self.refuse(
                AgentStatus::FailNoSession,
                "no such session",
                &format!("no session {key:?} in group {}", grant.group),
            );
        };
        match st
            .registry
            .join(&session, self.id, self.queue.clone(), &grant.identity)
        {
            Ok(()) => {
                log::info!(
                    "agent {} ({}) joined session {}/{}",
                    self.id,
                    grant.subject,
                    session.group_id(),
                    session.key()
                );
                self.session = Some(session);
                self.slot = Some(slot);
                Step::Continue
            }
            Err(r) => self.refuse(r.status, &r.reason, &r.reason),
        }
    }
}

async fn serve(st: Arc<AppState>, socket: WebSocket, peer: PeerAddr, origin: Option<String>) {
    let (sink, mut stream) = socket.split();
    let queue = Arc::new(SendQueue::new(
        st.registry.agent_queue_bytes(),
        MAX_QUEUED_CONTROLS,
    ));
    let mut writer = tokio::spawn(super::ws_queue::write_loop(
        sink,
        queue.clone(),
        st.timing.ping_interval,
        "agent",
    ));
    let mut shutdown = st.shutdown.clone();
    let timing = st.timing;
    let hello_deadline = Instant::now() + timing.handshake_timeout;
    let mut agent = Agent {
        id: st.registry.next_agent_id(),
        st,
        queue: queue.clone(),
        welcomed: false,
        session: None,
        ip: peer.ip(),
        origin,
        slot: None,
        logged: false,
        messages: MessageBudget::new(),
    };
    let mut writer_done = false;
    loop {
        // `hello` and `join` both within the handshake deadline; the idle timeout only once
        // joined.
        let wait = if agent.session.is_some() {
            timing.idle_timeout
        } else {
            hello_deadline.saturating_duration_since(Instant::now())
        };
        let step = tokio::select! {
            m = timeout(wait, stream.next()) => match m {
                Err(_) if agent.session.is_some() => agent.fail("timeout", "nothing received within the idle timeout"),
                Err(_) if agent.welcomed => agent.fail("timeout", "no join within the handshake timeout"),
                Err(_) => agent.fail("timeout", "no hello within the handshake timeout"),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    let text = e.to_string();
                    // tungstenite reports a message over max_message_size as a capacity error.
                    if text.contains("Space limit") {
                        agent.fail("too_large", format!("message refused: {text}"))
                    } else {
                        log::debug!("agent {}: read failed: {text}", agent.id);
                        break;
                    }
                }
                Ok(Some(Ok(msg))) => match msg {
                    Message::Text(t) => match glance_protocol::Control::from_json(t.as_bytes()) {
                        Ok(c) => agent.handle(c),
                        Err(e) if agent.session.is_some() && is_agent_message(t.as_bytes()) => {
                            agent.drop_message(&format!("malformed: {e}"));
                            Step::Continue
                        }
                        Err(e) => {
                            let e = framing::FramingError::from(e);
                            agent.fail(e.code(), format!("bad control message: {e}"))
                        }
                    },
                    Message::Binary(b) => match framing::decode_ws_binary(&b) {
                        Ok(WireMessage::Control(c)) => agent.handle(c),
                        Ok(WireMessage::Update(_)) => agent.fail("unexpected", "agents do not send frame updates"),
                        Ok(WireMessage::CursorShape(_)) => agent.fail("unexpected", "agents do not send cursor shapes"),
                        Err(e) if agent.session.is_some()
                            && b.first() == Some(&(framing::Kind::Control as u8))
                            && is_agent_message(&b[1..]) => {
                            agent.drop_message(&format!("malformed: {e}"));
                            Step::Continue
                        }
                        Err(e) => agent.fail(e.code(), e.to_string()),
                    },
                    Message::Ping(_) | Message::Pong(_) => Step::Continue,
                    Message::Close(_) => break,
                },
            },
            _ = queue.wait_done() => Step::Close,
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            _ = shutdown.changed() => agent.fail("shutdown", "the server is shutting down"),
        };
        if let Step::Close = step {
            break;
        }
    }
    if let Some(s) = agent.session.take() {
        agent.st.registry.leave(&s, agent.id);
    }
    queue.close(None);
    if !writer_done && (queue.is_aborted() || timeout(CLOSE_GRACE, &mut writer).await.is_err()) {
        writer.abort();
    }
}
