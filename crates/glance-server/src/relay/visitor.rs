//! The visitor side of the protocol, independent of the transport (the direct listener and
//! the `/ws/visitor` tunnel both feed it): `hello`/`welcome`, `start_session` or `resume`
//! (once), heartbeats both ways, then updates, `pause`, `end_session` and `pong`. A transport
//! feeds decoded messages through a channel and writes what the visitor's [`SendQueue`]
//! holds; this module decides what they mean.

use std::sync::Arc;

use bytes::Bytes;
use glance_protocol::cursor::{peek_shape, validate_position};
use glance_protocol::limits::MAX_TEXT_LEN;
use glance_protocol::update::{FrameUpdate, FLAG_FINAL};
use glance_protocol::{
    negotiate_version, AgentStatus, Control, EndReason, Role, StartSession, PROTOCOL_VERSION_MAX,
    PROTOCOL_VERSION_MIN,
};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use super::agent_queue::SendQueue;
use super::registry::Registry;
use super::session::{Ending, Session, UpdateHeader};

/// A decoded message from a visitor.
#[derive(Debug)]
pub enum Incoming {
    Control(Control),
    /// A frame update: the kind byte (2) followed by the payload.
    Update(Bytes),
    /// A cursor shape: the kind byte (3) followed by the payload.
    CursorShape(Bytes),
}

/// Why no further message can be read.
#[derive(Debug)]
pub enum RecvError {
    /// The peer closed the connection between messages.
    Closed,
    /// The connection failed (or closed in the middle of a message).
    Io(String),
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The bytes break the protocol; `code` is the `error` code to send.
    Protocol { code: &'static str, message: String },
}

/// What a transport hands to [`run`].
pub type IncomingRx = mpsc::Receiver<Result<Incoming, RecvError>>;

/// The server's name and version, as `welcome` and the discovery endpoint report it.
pub fn server_name() -> String {
    format!("glance-server {}", env!("CARGO_PKG_VERSION"))
}

fn send_error(queue: &SendQueue, code: &str, message: impl Into<String>) {
    let message = message.into();
    crate::guard::logsafe::log_protocol_error("visitor", code, &message);
    queue.push_control(Control::Error {
        code: code.into(),
        message,
    });
    queue.close(None);
}

/// Reads the next message before `deadline`; `None` when the connection is to close (an
/// error has been queued when one is owed).
async fn next_before(
    rx: &mut IncomingRx,
    queue: &SendQueue,
    deadline: Instant,
    waiting_for: &str,
) -> Option<Incoming> {
    match timeout_at(deadline, rx.recv()).await {
        Err(_) => {
            send_error(
                queue,
                "timeout",
                format!("no {waiting_for} within the handshake timeout"),
            );
            None
        }
        Ok(None) | Ok(Some(Err(RecvError::Closed | RecvError::Io(_) | RecvError::Idle))) => None,
        Ok(Some(Err(RecvError::Protocol { code, message }))) => {
            send_error(queue, code, message);
            None
        }
        Ok(Some(Ok(m))) => Some(m),
    }
}

fn describe(m: &Incoming) -> String {
    match m {
        Incoming::Control(c) => c.name().to_string(),
        Incoming::Update(_) => "a frame update".into(),
        Incoming::CursorShape(_) => "a cursor shape".into(),
    }
}

fn check_texts(s: &StartSession) -> Result<(), String> {
    let fields: [(&str, Option<&str>); 7] = [
        ("token", Some(&s.token)),
        ("key", s.key.as_deref()),
        ("visitor_id", s.visitor_id.as_deref()),
        ("name", Some(&s.name)),
        ("email", Some(&s.email)),
        ("phone", Some(&s.phone)),
        ("display.name", Some(&s.display.name)),
    ];
    for (name, v) in fields {
        if v.is_some_and(|v| v.len() > MAX_TEXT_LEN) {
            return Err(format!(
                "start_session.{name} is longer than {MAX_TEXT_LEN} bytes"
            ));
        }
    }
    Ok(())
}

/// Serves one visitor connection from `peer` until it is to close. `deadline` bounds the
/// handshake (`hello` and `start_session`). On return the queue is closing or aborted.
pub async fn run(
    registry: Arc<Registry>,
    rx: &mut IncomingRx,
    queue: Arc<SendQueue>,
    deadline: Instant,
    peer: std::net::IpAddr,
) {
    let Some(first) = next_before(rx, &queue, deadline, "hello").await else {
        queue.close(None);
        return;
    };
    let client = match first {
        Incoming::Control(Control::Hello {
            role: Role::Visitor,
            min_version,
            max_version,
            client,
            sdk_version,
        }) => match (
            negotiate_version(min_version, max_version),
            registry.sdk().refuses(&sdk_version),
        ) {
            // The protocol fits, the release is too old (`[sdk] minimum`).
            (Some(_), Some(why)) => return send_error(&queue, "upgrade_required", why),
            (Some(version), None) => {
                queue.push_control(Control::Welcome {
                    version,
                    server: server_name(),
                    min_version: PROTOCOL_VERSION_MIN,
                    max_version: PROTOCOL_VERSION_MAX,
                    sdk_latest: registry.sdk().latest(),
                });
                client
            }
            (None, _) => {
                return send_error(
                    &queue,
                    "version",
                    format!(
                        "this server speaks protocol versions {PROTOCOL_VERSION_MIN} to {PROTOCOL_VERSION_MAX}; the client offered {min_version} to {max_version}"
                    ),
                )
            }
        },
        Incoming::Control(Control::Hello { role, .. }) => {
            return send_error(
                &queue,
                "unexpected",
                format!("this port serves visitors; hello.role was {role:?}"),
            )
        }
        other => {
            return send_error(
                &queue,
                "unexpected",
                format!("the first message must be hello, not {}", describe(&other)),
            )
        }
    };
    let req = loop {
        let Some(m) = next_before(rx, &queue, deadline, "start_session").await else {
            queue.close(None);
            return;
        };
        match m {
            Incoming::Control(Control::Pong { .. }) => continue,
            Incoming::Control(Control::Ping { t }) => {
                queue.push_control(Control::Pong { t });
            }
            // A newer SDK's addition: ignored (the handshake deadline still holds).
            Incoming::Control(Control::Unknown) => {
                if crate::guard::logsafe::protocol_log_allowed().is_some() {
                    log::info!("ignoring a visitor message of a type this server does not know");
                }
            }
            Incoming::Control(Control::StartSession(req)) => break req,
            Incoming::Control(Control::Resume { token }) => {
                let attached = registry
                    .find_by_resume_token(&token)
                    .and_then(|s| s.attach(queue.clone()).map(|epoch| (s, epoch)));
                let Some((session, epoch)) = attached else {
                    if let Some(e) = registry.ended_by_token(&token) {
                        // It ended while its visitor was away: say how, so that the visitor
                        // ends too instead of starting it again.
                        log::info!(
                            "resume refused: the session ended meanwhile ({:?})",
                            e.reason
                        );
                        queue.close(Some(e.control()));
                        return;
                    }
                    log::info!("resume refused: no live session has that token");
                    queue.push_control(Control::ResumeFailed {
                        message: "the session is over or the token is unknown".into(),
                    });
                    queue.close(None);
                    return;
                };
                log::info!(
                    "session {}/{} resumed by its visitor (connection {epoch})",
                    session.group_id(),
                    session.key()
                );
                queue.enable_ping();
                serve_session(&registry, &session, rx, &queue, epoch).await;
                queue.close(None);
                return;
            }
            other => {
                return send_error(
                    &queue,
                    "unexpected",
                    format!("expected start_session, got {}", describe(&other)),
                )
            }
        }
    };
    if let Err(m) = check_texts(&req) {
        return send_error(&queue, "malformed", m);
    }
    // In a cluster the key is claimed across every instance first (crate::cluster).
    let (req, claimed) = match crate::cluster::claim_start(&registry, req).await {
        Ok(x) => x,
        Err(r) => {
            log::info!("start_session refused: {:?}: {}", r.reason, r.message);
            queue.push_control(Control::StartFailed {
                reason: r.reason,
                message: r.message,
            });
            queue.close(None);
            return;
        }
    };
    let session = match registry.start_session(&req, queue.clone(), &client, peer) {
        Ok(s) => s,
        Err(r) => {
            if let (Some(c), true) = (registry.cluster(), claimed) {
                if let Some(k) = req
                    .key
                    .as_ref()
                    .filter(|k| registry.find(req.group_id, k).is_none())
                {
                    c.release(req.group_id, k).await;
                }
            }
            log::info!("start_session refused: {:?}: {}", r.reason, r.message);
            queue.push_control(Control::StartFailed {
                reason: r.reason,
                message: r.message,
            });
            queue.close(None);
            return;
        }
    };
    if let Some(prev) = req.previous_call_id {
        log::info!(
            "session {}/{} (call {}) starts again the visitor's call {prev}, which the service no longer knew",
            session.group_id(),
            session.key(),
            session.params().call_id
        );
    }
    queue.enable_ping();
    let epoch = session.link_epoch();
    serve_session(&registry, &session, rx, &queue, epoch).await;
    queue.close(None);
}

/// The visitor's connection `epoch` is lost: the session waits for a `resume` for the
/// registry's resume window, then ends with `conn_drop` (agents see 27). Agents stay joined
/// meanwhile and are not told; their picture simply stops changing.
pub(crate) fn hold_for_resume(
    registry: &Arc<Registry>,
    session: &Arc<Session>,
    epoch: u64,
    why: &str,
) {
    if !session.detach(epoch) {
        return;
    }
    let window = registry.resume_window();
    log::info!(
        "session {}/{}: the visitor's connection was lost ({why}); waiting {} ms for it to resume",
        session.group_id(),
        session.key(),
        window.as_millis()
    );
    let (registry, session, why) = (registry.clone(), session.clone(), why.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        if session.still_detached(epoch) {
            registry.end_session(
                &session,
                &Ending::new(
                    EndReason::ConnDrop,
                    AgentStatus::SessionEndedConnDead,
                    format!(
                        "the visitor's connection was lost ({why}) and not re-established within {} s",
                        window.as_secs()
                    ),
                    false,
                ),
            );
        }
    });
}

async fn serve_session(
    registry: &Arc<Registry>,
    session: &Arc<Session>,
    rx: &mut IncomingRx,
    queue: &SendQueue,
    epoch: u64,
) {
    let conn_drop = |why: &str| hold_for_resume(registry, session, epoch, why);
    let protocol_error = |code: &str, message: String| {
        send_error(queue, code, message.clone());
        registry.end_session(
            session,
            &Ending::new(
                EndReason::Error,
                AgentStatus::SessionEndedError,
                format!("the visitor broke the protocol: {message}"),
                false,
            ),
        )
    };
    loop {
        let m = tokio::select! {
            m = rx.recv() => m,
            _ = queue.wait_done() => {
                if queue.is_aborted() {
                    conn_drop("it stopped reading");
                }
                return;
            }
        };
        let m = match m {
            None => return conn_drop("closed"),
            Some(Err(RecvError::Closed)) => return conn_drop("closed without end_session"),
            Some(Err(RecvError::Io(e))) => return conn_drop(&e),
            Some(Err(RecvError::Idle)) => {
                return conn_drop("nothing received within the idle timeout")
            }
            Some(Err(RecvError::Protocol { code, message })) => {
                return protocol_error(code, message)
            }
            Some(Ok(m)) => m,
        };
        match m {
            Incoming::Update(bytes) => {
                let header = match FrameUpdate::parse(bytes.get(1..).unwrap_or_default()) {
                    Ok(u) => UpdateHeader {
                        flags: u.flags,
                        seq: u.seq,
                        width: u.width,
                        height: u.height,
                    },
                    Err(e) => return protocol_error("malformed", format!("bad frame update: {e}")),
                };
                let (seq, last) = (header.seq, header.flags & FLAG_FINAL != 0);
                if let Err(m) = session.route_update(bytes, header) {
                    return protocol_error("malformed", m);
                }
                if last {
                    // Flow control: the visitor may send more once this frame is read.
                    queue.push_control(Control::Ack { seq });
                }
            }
            Incoming::CursorShape(bytes) => match peek_shape(bytes.get(1..).unwrap_or_default()) {
                Ok((id, _, _)) => session.set_cursor_shape(id, bytes),
                Err(e) => return protocol_error("malformed", format!("bad cursor shape: {e}")),
            },
            Incoming::Control(Control::Cursor {
                x,
                y,
                visible,
                shape,
            }) => {
                if let Err(e) = validate_position(x, y) {
                    return protocol_error("malformed", format!("bad cursor message: {e}"));
                }
                let c = Control::Cursor {
                    x,
                    y,
                    visible,
                    shape,
                };
                if let Err(m) = session.route_cursor(c) {
                    return protocol_error("malformed", m);
                }
            }
            Incoming::Control(Control::Pause { paused }) => session.set_paused(paused),
            Incoming::Control(Control::Rc { enabled }) => {
                if enabled && !session.params().group.rc_allowed {
                    log::info!(
                        "session {}/{}: remote control refused: group {} does not allow it",
                        session.group_id(),
                        session.key(),
                        session.group_id()
                    );
                    queue.push_control(Control::RcDisabled {
                        message: format!(
                            "remote control is not enabled for group {}",
                            session.group_id()
                        ),
                    });
                } else {
                    session.set_rc(enabled);
                }
            }
            Incoming::Control(Control::ReportError { event, message }) => {
                session.record_error(&event, &message)
            }
            Incoming::Control(Control::Pong { .. }) => {}
            // The visitor's heartbeat: it detects a dead service by the answers.
            Incoming::Control(Control::Ping { t }) => {
                queue.push_control(Control::Pong { t });
            }
            Incoming::Control(Control::EndSession) => {
                return registry.end_session(
                    session,
                    &Ending::new(
                        EndReason::ThisSide,
                        AgentStatus::SessionEndedQuit,
                        "the visitor ended the session",
                        true,
                    ),
                );
            }
            Incoming::Control(Control::StartSession(_) | Control::Resume { .. }) => {
                return protocol_error(
                    "unexpected",
                    "start_session or resume may be sent only once per connection".into(),
                )
            }
            // A newer SDK's addition: logged and ignored (docs/PROTOCOL.md, "Compatibility").
            Incoming::Control(Control::Unknown) => {
                if crate::guard::logsafe::protocol_log_allowed().is_some() {
                    log::info!("ignoring a visitor message of a type this server does not know");
                }
            }
            Incoming::Control(c) => {
                return protocol_error(
                    "unexpected",
                    format!("{} is not expected from a visitor here", c.name()),
                )
            }
        }
    }
}
