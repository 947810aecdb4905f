//! One screen-share session as an async task: discover the service, connect, start, then
//! relay between the API's commands, the service's messages and the capture pipeline until
//! the session ends, firing the seed's events on the way.

mod connect;
mod cursor;
mod remote;

use std::sync::Arc;

use glance_protocol::framing::Message;
use glance_protocol::{Control, EndReason, StartFailReason};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::capture::DisplayDesc;
use crate::events::{Event, EventCode};
use crate::params::{KeyChoice, StartParams, VisitorConfig};
use crate::pipeline::scale::ScaleSpec;
use crate::pipeline::{self, PipelineCtl};
use std::time::Duration;

use crate::transport::link::{Link, LinkReader, LinkWriter};
use crate::transport::with_timeout;
use crate::transport::TransportError;
use crate::visitor::{Core, Phase};

pub(crate) use connect::Started;

/// What the API asks of a running session.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    End,
    Pause(bool),
    /// ShowDisplay: share this display from now on, sized so.
    Show(DisplayDesc, ScaleSpec),
    /// EnableRC(enable).
    EnableRc(bool),
}

/// Everything a session needs, fixed at StartSession.
pub(crate) struct SessionSpec {
    pub generation: u64,
    pub config: VisitorConfig,
    pub key: KeyChoice,
    pub params: StartParams,
    /// The display to share, or why none could be found.
    pub display: Result<DisplayDesc, String>,
}

/// How a session came to its end.
enum Outcome {
    /// Ended while running (or by EndSession while starting).
    Ended(EndReason, String),
    /// Never started: EventStartSessionFailed first.
    Failed {
        error: String,
        message: String,
        reason: EndReason,
    },
}

fn ended(reason: EndReason, message: impl Into<String>) -> Event {
    Event::new(EventCode::SessionEnded, message).with("reason", reason.seed_name())
}

/// Stops the capture thread when the session task ends, however it ends.
struct StopOnDrop(Arc<PipelineCtl>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The session task.
pub(crate) async fn run(core: Arc<Core>, spec: SessionSpec, mut cmds: UnboundedReceiver<Command>) {
    let generation = spec.generation;
    let outcome = run_inner(&core, spec, &mut cmds).await;
    core.set_reporter(None);
    let events = match outcome {
        Outcome::Ended(reason, msg) => vec![ended(reason, msg)],
        Outcome::Failed {
            error,
            message,
            reason,
        } => vec![
            Event::new(EventCode::StartSessionFailed, message.clone()).with("error", error),
            ended(reason, message),
        ],
    };
    core.finish(generation, events);
}

/// The wire name of a `start_failed` reason (EventStartSessionFailed's `error`).
fn refusal_name(reason: StartFailReason) -> &'static str {
    match reason {
        StartFailReason::UnknownGroup => "unknown_group",
        StartFailReason::Unauthorized => "unauthorized",
        StartFailReason::InvalidKey => "invalid_key",
        StartFailReason::GroupLimit => "group_limit",
        StartFailReason::NoKeyAvailable => "no_key_available",
        StartFailReason::KeyInUse => "key_in_use",
        StartFailReason::Throttled => "throttled",
    }
}

fn start_failure(e: &connect::StartError) -> Outcome {
    use connect::StartError as S;
    match e {
        S::Transport(t) => Outcome::Failed {
            error: match t {
                TransportError::Timeout(_) => "timeout",
                TransportError::Tls(_) => "tls",
                TransportError::Http { .. } | TransportError::Malformed(_) => "service",
                _ => "connect",
            }
            .into(),
            message: format!("cannot connect to the Glance service: {t}"),
            reason: EndReason::CantConnect,
        },
        S::Rejected(reason, message) => Outcome::Failed {
            error: refusal_name(*reason).into(),
            message: format!("the service refused the session: {message}"),
            reason: if *reason == StartFailReason::GroupLimit {
                EndReason::Killed
            } else {
                EndReason::Error
            },
        },
        S::Version(m) => Outcome::Failed {
            error: "version".into(),
            message: m.clone(),
            reason: EndReason::Error,
        },
        S::NoDisplay(m) => Outcome::Failed {
            // A platform that needs the user's permission to capture (macOS Screen
            // Recording) says so: the app can send the user to the setting.
            error: if m.contains(glance_platform::PERMISSION_PREFIX) {
                "permission"
            } else {
                "display"
            }
            .into(),
            message: format!("no display can be captured: {m}"),
            reason: EndReason::Error,
        },
        S::Terms(declined, m) => Outcome::Failed {
            error: if *declined {
                "declined"
            } else {
                "terms_unavailable"
            }
            .into(),
            message: m.clone(),
            reason: EndReason::ThisSide,
        },
    }
}

async fn run_inner(
    core: &Arc<Core>,
    spec: SessionSpec,
    cmds: &mut UnboundedReceiver<Command>,
) -> Outcome {
    let generation = spec.generation;
    // Connect, unless EndSession comes first.
    let started = tokio::select! {
        r = connect::start(core, &spec) => r,
        _ = wait_end(cmds) => {
            return Outcome::Ended(EndReason::ThisSide, "the session was ended by EndSession".into());
        }
    };
    let Started {
        stream,
        tunneled,
        endpoints,
        mut resume_token,
        mut call_id,
        mut key,
        capturer,
        display,
        shown,
    } = match started {
        Ok(s) => s,
        Err(e) => return start_failure(&e),
    };
    let paused_now = {
        let mut connected = false;
        let mut paused = spec.params.paused;
        core.update(generation, |st| {
            st.phase = if st.phase == Phase::Ending {
                Phase::Ending
            } else {
                Phase::Active
            };
            paused = st.info.is_paused;
            st.info.call_id = call_id;
            st.info.key = key.clone();
            st.info.is_connected = true;
            st.info.is_showing = !paused;
            st.info.display_name = display.name.clone();
            connected = true;
        });
        if !connected {
            return Outcome::Ended(EndReason::ThisSide, "ended".into());
        }
        paused
    };
    core.fire(
        Event::new(
            EventCode::ConnectedToSession,
            format!("connected to session {key}"),
        )
        .with("sessionkey", key.clone())
        .with("callid", call_id.to_string()),
    );
    if tunneled {
        core.fire(Event::new(
            EventCode::Tunneling,
            "connected to the Glance service through the tunnel (WebSocket over HTTPS)",
        ));
    }

    let mut remote = remote::RemoteControl::new(
        display.clone(),
        ScaleSpec::from_params(&spec.params.display_params),
    );
    let ctl = Arc::new(PipelineCtl::default());
    let _stop = StopOnDrop(ctl.clone());
    ctl.set_scale(ScaleSpec::from_params(&spec.params.display_params));
    ctl.set_paused(paused_now);
    let pointer = Arc::new(cursor::CursorCtl::default());
    let _stop_pointer = cursor::StopCursorOnDrop(pointer.clone());
    pointer.set_scale(ScaleSpec::from_params(&spec.params.display_params));
    pointer.set_paused(paused_now);
    let mut conn = Conn::spawn(stream, &ctl, &pointer);
    let mut out_tx = conn.out_tx.clone();
    let mut tunneled = tunneled;
    let (err_tx, mut err_rx) = unbounded_channel::<String>();
    if paused_now != spec.params.paused {
        let _ = out_tx.send(Control::Pause { paused: paused_now });
    }
    let capture = pipeline::spawn(capturer, ctl.clone(), move |e| {
        let _ = err_tx.send(e);
    });
    if let Err(e) = capture {
        let _ = out_tx.send(Control::EndSession);
        return Outcome::Ended(EndReason::Error, format!("cannot start capture: {e}"));
    }
    // The pointer travels beside the pixels; a display without one is still shared.
    let pointer_source = {
        let source = core.source.clone();
        let d = display.clone();
        match tokio::task::spawn_blocking(move || source.open_cursor(&d)).await {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                log::warn!("the pointer is not shared: {e}");
                None
            }
            Err(e) => {
                log::warn!("the pointer is not shared: {e}");
                None
            }
        }
    };
    if let Err(e) = cursor::spawn(pointer_source, pointer.clone()) {
        log::warn!("the pointer is not shared: cannot start its thread: {e}");
    }

    // reportErrors: warnings and errors fired from now on go to the service's session record
    // (those fired while reconnecting wait here and are sent after the resume).
    let (report_tx, mut report_rx) = unbounded_channel::<(String, String)>();
    if spec.params.report_errors {
        core.set_reporter(Some(report_tx));
    } else {
        drop(report_tx);
    }
    let outcome = loop {
        tokio::select! {
            Some((event, message)) = report_rx.recv() => {
                let _ = out_tx.send(Control::ReportError { event, message });
            }
            c = cmds.recv() => match c {
                Some(Command::Pause(p)) => {
                    ctl.set_paused(p);
                    pointer.set_paused(p);
                    if p {
                        remote.release();
                    }
                    let _ = out_tx.send(Control::Pause { paused: p });
                }
                Some(Command::EnableRc(on)) => {
                    if on {
                        match remote.enable(&core.source) {
                            Ok(()) => {
                                log::info!("remote control is on: agents with the privilege may use this desktop");
                                let _ = out_tx.send(Control::Rc { enabled: true });
                                core.update(generation, |st| st.info.rc_enabled = true);
                            }
                            Err(e) => core.fire(Event::new(EventCode::RCDisabled, format!("remote control cannot be enabled here: {e}"))),
                        }
                    } else {
                        remote.disable();
                        log::info!("remote control is off");
                        let _ = out_tx.send(Control::Rc { enabled: false });
                        core.update(generation, |st| st.info.rc_enabled = false);
                    }
                }
                Some(Command::Show(desc, spec)) => {
                    remote.show(desc.clone(), spec, &core.source);
                    ctl.set_scale(spec);
                    pointer.set_scale(spec);
                    let (source, core2) = (core.source.clone(), core.clone());
                    let d2 = desc.clone();
                    let opened = tokio::task::spawn_blocking(move || {
                        crate::masking::open_masked(&core2, &d2).map(|c| (c, source.open_cursor(&d2)))
                    });
                    match opened.await {
                        Ok(Ok((c, p))) => {
                            ctl.switch_capturer(c);
                            pointer.switch_source(p.map_err(|e| log::warn!("the pointer is not shared: {e}")).ok());
                            core.update(generation, |st| st.info.display_name = desc.name.clone());
                        }
                        Ok(Err(e)) => core.fire(Event::new(EventCode::DeviceDisconnected, format!("cannot show {}: {e}", desc.name))),
                        Err(e) => core.fire(Event::new(EventCode::Exception, format!("cannot show {}: {e}", desc.name))),
                    }
                }
                Some(Command::End) | None => {
                    ctl.stop();
                    pointer.stop();
                    let _ = out_tx.send(Control::EndSession);
                    // Wait (bounded) for the service to confirm, so agents learn why.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), async {
                        while let Some(m) = conn.net_rx.recv().await {
                            if matches!(m, Ok(Message::Control(Control::SessionEnded { .. })) | Err(_)) {
                                break;
                            }
                        }
                    }).await;
                    break Outcome::Ended(EndReason::ThisSide, "the session was ended by EndSession".into());
                }
            },
            m = conn.net_rx.recv() => match m {
                Some(Ok(Message::Control(c))) => match c {
                    Control::GuestCount { count } => {
                        if count == 0 {
                            // The last agent left: nothing it held stays held.
                            remote.release();
                        }
                        core.update(generation, |st| st.info.n_guests = count);
                        core.fire(Event::new(EventCode::GuestCountChange, format!("{count} agent(s) in the session"))
                            .with("count", count.to_string()));
                    }
                    Control::RefreshRequest => ctl.request_refresh(),
                    Control::Ack { seq } => ctl.acked(seq),
                    Control::SessionEnded { reason, message, .. } => {
                        break Outcome::Ended(reason, if message.is_empty() { "the session ended".into() } else { message });
                    }
                    Control::Ping { t } => { let _ = out_tx.send(Control::Pong { t }); }
                    Control::Pong { .. } => {}
                    Control::Error { code, message } => {
                        break Outcome::Ended(EndReason::Error, format!("the service reported a protocol error ({code}): {message}"));
                    }
                    Control::Input { input } => remote.inject(input, ctl.is_paused()),
                    Control::RcDisabled { message } => {
                        remote.disable();
                        core.update(generation, |st| st.info.rc_enabled = false);
                        core.fire(Event::new(EventCode::RCDisabled, message));
                    }
                    // A message this SDK does not expect (a newer service, or one meant for
                    // others) is logged and ignored, never the end of the session.
                    other => log::warn!("ignoring an unexpected {} from the service", other.name()),
                },
                Some(Ok(Message::Update(_) | Message::CursorShape(_))) => {
                    break Outcome::Ended(EndReason::Error, "the service sent a binary message to the visitor".into());
                }
                Some(Err(e)) => {
                    let why = format!("the connection to the service dropped: {e}");
                    let Some(token) = &resume_token else {
                        break Outcome::Ended(EndReason::ConnDrop, why);
                    };
                    conn.stop();
                    let was = Current { key: &key, call_id, shown: &shown };
                    match reconnect(core, &spec, &endpoints, token, &was, cmds, &ctl, &pointer, &why).await {
                        Ok(Reconnected { link, restarted }) => {
                            if link.is_tunnel() && !tunneled {
                                core.fire(Event::new(EventCode::Tunneling, "reconnected to the Glance service through the tunnel"));
                            }
                            tunneled = link.is_tunnel();
                            ctl.link_reset();
                            conn = Conn::spawn(link, &ctl, &pointer);
                            out_tx = conn.out_tx.clone();
                            // What the service may have missed: the pause state, remote control
                            // (EnableRC(false) while away took effect in the session info) and
                            // the pointer.
                            let _ = out_tx.send(Control::Pause { paused: ctl.is_paused() });
                            let mut rc_wanted = false;
                            core.update(generation, |st| rc_wanted = st.info.rc_enabled);
                            if !rc_wanted {
                                remote.disable();
                            }
                            if remote.is_on() {
                                let _ = out_tx.send(Control::Rc { enabled: true });
                            }
                            pointer.resend();
                            let mut clear = Event::new(EventCode::ClearWarning, "the connection to the Glance service is re-established");
                            let mut guests_reset = false;
                            if let Some(st) = restarted {
                                if st.key != key {
                                    log::warn!("the service started the session again as {} instead of {key}", st.key);
                                }
                                log::info!("session {} started again as call {} (was {call_id})", st.key, st.call_id);
                                clear = Event::new(EventCode::ClearWarning, format!(
                                    "the connection to the Glance service is re-established; the service had lost the session and it was started again (call {}, was {call_id})",
                                    st.call_id
                                ))
                                .with("callid", st.call_id.to_string())
                                .with("previouscallid", call_id.to_string());
                                key = st.key;
                                call_id = st.call_id;
                                resume_token = st.resume_token;
                                core.update(generation, |s| {
                                    guests_reset = s.info.n_guests != 0;
                                    s.info.call_id = call_id;
                                    s.info.key = key.clone();
                                    s.info.n_guests = 0;
                                });
                            }
                            core.update(generation, |st| st.info.is_connected = true);
                            core.fire(clear);
                            if guests_reset {
                                core.fire(Event::new(EventCode::GuestCountChange, "0 agent(s) in the session").with("count", "0"));
                            }
                        }
                        Err(o) => break o,
                    }
                }
                None => break Outcome::Ended(EndReason::ConnDrop, "the connection to the service dropped".into()),
            },
            e = err_rx.recv() => {
                let msg = e.unwrap_or_else(|| "capture stopped".into());
                let _ = out_tx.send(Control::EndSession);
                break Outcome::Ended(EndReason::Error, format!("screen capture failed: {msg}"));
            }
        }
    };
    ctl.stop();
    pointer.stop();
    drop(out_tx);
    conn.finish().await;
    outcome
}

async fn wait_end(cmds: &mut UnboundedReceiver<Command>) {
    loop {
        match cmds.recv().await {
            Some(Command::End) | None => return,
            // A pause before connecting is already recorded in the session info; ShowDisplay
            // is refused before the session is connected.
            Some(Command::Pause(_)) | Some(Command::Show(..)) | Some(Command::EnableRc(_)) => {}
        }
    }
}

/// The visitor's heartbeat: a `ping` this often...
const PING_EVERY: Duration = Duration::from_secs(2);
/// ...and a connection from which nothing (not even the `pong`s) arrives for this long is
/// dead, even when TCP does not say so.
const DEAD_AFTER: Duration = Duration::from_secs(6);
/// How long the SDK tries to reconnect after a drop (seed 000: "up to one minute").
pub const DEFAULT_RECONNECT_WINDOW: Duration = Duration::from_secs(60);

/// One connection's tasks and channels.
struct Conn {
    out_tx: UnboundedSender<Control>,
    net_rx: UnboundedReceiver<Result<Message, TransportError>>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

impl Conn {
    fn spawn(link: Link, ctl: &Arc<PipelineCtl>, pointer: &Arc<cursor::CursorCtl>) -> Conn {
        let (net_tx, net_rx) = unbounded_channel::<Result<Message, TransportError>>();
        let (out_tx, out_rx) = unbounded_channel::<Control>();
        let (rd, wr) = link.split();
        let reader = tokio::spawn(read_loop(rd, net_tx.clone()));
        let writer = tokio::spawn(write_loop(wr, out_rx, ctl.clone(), pointer.clone(), net_tx));
        Conn {
            out_tx,
            net_rx,
            reader,
            writer,
        }
    }

    /// Abandons a dead connection.
    fn stop(&self) {
        self.reader.abort();
        self.writer.abort();
    }

    /// Lets the writer flush what is queued (the end_session message), bounded.
    async fn finish(self) {
        drop(self.out_tx);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.writer).await;
        self.reader.abort();
    }
}

/// How long to try reconnecting: `GLANCE_RECONNECT_WINDOW_MS` (tests shorten it), else 60 s.
fn reconnect_window() -> Duration {
    std::env::var("GLANCE_RECONNECT_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_RECONNECT_WINDOW)
}

/// What the session is when its connection drops.
struct Current<'a> {
    key: &'a str,
    call_id: u64,
    /// The display as `start_session` announced it.
    shown: &'a glance_protocol::DisplayInfo,
}

/// A re-established connection.
struct Reconnected {
    link: Link,
    /// `Some` when the service no longer knew the session (`resume_failed`: it lost its
    /// state) and it was started again with the same key: the new call id and resume token.
    restarted: Option<connect::SessionStarted>,
}

/// One reconnect attempt's answer from the service.
enum Step {
    Done(Reconnected),
    /// `resume_failed`: start the session again.
    Lost(String),
    /// Starting it again was refused.
    Refused(StartFailReason, String),
    /// The session ended while the visitor was away (`session_ended` instead of `resumed`).
    Over(EndReason, String),
}

/// After a drop: EventConnectionWarning, then attempts with growing pauses (0.25 s doubling
/// to 4 s) to open a new connection (direct, then the tunnel) and `resume`, until the
/// reconnect window is over. When the service answers `resume_failed` (it no longer knows the
/// session: restarted without its journal) the session is started again at once on a fresh
/// connection, with the same key and `previous_call_id`; a refusal of that start ends the
/// session with conn_drop. EndSession meanwhile ends the session; a pause is recorded and
/// sent after the reconnect.
#[allow(clippy::too_many_arguments)]
async fn reconnect(
    core: &Arc<Core>,
    spec: &SessionSpec,
    ep: &connect::Endpoints,
    token: &str,
    was: &Current<'_>,
    cmds: &mut UnboundedReceiver<Command>,
    ctl: &Arc<PipelineCtl>,
    pointer: &Arc<cursor::CursorCtl>,
    why: &str,
) -> Result<Reconnected, Outcome> {
    let generation = spec.generation;
    log::warn!("{why}; reconnecting");
    core.update(generation, |st| st.info.is_connected = false);
    core.fire(Event::new(
        EventCode::ConnectionWarning,
        format!(
            "{why}; reconnecting for up to {} s",
            reconnect_window().as_secs()
        ),
    ));
    let deadline = tokio::time::Instant::now() + reconnect_window();
    let mut pause = Duration::from_millis(250);
    let mut last_error = why.to_string();
    // Set once the service said it does not know the session any more.
    let mut start_again = false;
    loop {
        let again = start_again;
        let attempt = async {
            let (mut link, _) = connect::open(ep, spec.params.force_tunnel).await?;
            if again {
                return match connect::start_session(
                    &mut link,
                    spec,
                    Some(was.key.to_string()),
                    was.shown.clone(),
                    Some(was.call_id),
                )
                .await
                {
                    Ok(st) => Ok(Step::Done(Reconnected {
                        link,
                        restarted: Some(st),
                    })),
                    Err(connect::StartError::Rejected(reason, message)) => {
                        Ok(Step::Refused(reason, message))
                    }
                    Err(e) => Err(e),
                };
            }
            link.write_control(&Control::Resume {
                token: token.to_string(),
            })
            .await?;
            match with_timeout(10, link.read_message()).await? {
                Message::Control(Control::Resumed { .. }) => Ok(Step::Done(Reconnected {
                    link,
                    restarted: None,
                })),
                Message::Control(Control::ResumeFailed { message }) => Ok(Step::Lost(message)),
                // The session ended while we were away (an agent ended it, a timeout): so be it.
                Message::Control(Control::SessionEnded {
                    reason, message, ..
                }) => Ok(Step::Over(reason, message)),
                other => Err(connect::StartError::Transport(TransportError::Malformed(
                    format!("expected resumed, got {other:?}"),
                ))),
            }
        };
        let r = tokio::select! {
            r = tokio::time::timeout_at(deadline, attempt) => r,
            c = cmds.recv() => match c {
                Some(Command::Pause(p)) => {
                    ctl.set_paused(p);
                    pointer.set_paused(p);
                    core.update(generation, |st| { st.info.is_paused = p; st.info.is_showing = !p; });
                    continue;
                }
                Some(Command::Show(desc, _)) => {
                    log::warn!("ShowDisplay({}) ignored while reconnecting", desc.name);
                    continue;
                }
                Some(Command::EnableRc(on)) => {
                    log::warn!("EnableRC({on}) while reconnecting: applied to the session info; input waits for the link");
                    continue;
                }
                Some(Command::End) | None => {
                    return Err(Outcome::Ended(EndReason::ThisSide, "the session was ended by EndSession".into()));
                }
            },
        };
        match r {
            Err(_) => break,
            Ok(Ok(Step::Done(r))) => return Ok(r),
            Ok(Ok(Step::Lost(message))) => {
                log::warn!(
                    "the service no longer knows session {} ({message}); starting it again",
                    was.key
                );
                last_error = format!("the service lost the session: {message}");
                start_again = true;
                // At once: the service answered, it is up.
                continue;
            }
            Ok(Ok(Step::Over(reason, message))) => {
                return Err(Outcome::Ended(
                    reason,
                    if message.is_empty() {
                        "the session ended while the connection was down".into()
                    } else {
                        message
                    },
                ))
            }
            Ok(Ok(Step::Refused(reason, message))) => {
                return Err(Outcome::Ended(
                    EndReason::ConnDrop,
                    format!(
                        "the connection dropped, the service had lost the session, and it refused to start it again ({}): {message}",
                        refusal_name(reason)
                    ),
                ))
            }
            Ok(Err(e)) => {
                log::info!("reconnect attempt failed: {e}");
                last_error = e.to_string();
            }
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::select! {
            // The last attempt is made at the deadline at the latest.
            _ = tokio::time::sleep_until((tokio::time::Instant::now() + pause).min(deadline)) => {}
            c = cmds.recv() => match c {
                Some(Command::Pause(p)) => {
                    ctl.set_paused(p);
                    pointer.set_paused(p);
                    core.update(generation, |st| { st.info.is_paused = p; st.info.is_showing = !p; });
                }
                Some(Command::Show(desc, _)) => log::warn!("ShowDisplay({}) ignored while reconnecting", desc.name),
                Some(Command::EnableRc(on)) => log::warn!("EnableRC({on}) while reconnecting: applied to the session info; input waits for the link"),
                Some(Command::End) | None => {
                    return Err(Outcome::Ended(EndReason::ThisSide, "the session was ended by EndSession".into()));
                }
            },
        }
        pause = (pause * 2).min(Duration::from_secs(4));
    }
    Err(Outcome::Ended(
        EndReason::ConnDrop,
        format!(
            "the connection dropped and could not be re-established within {} s: {last_error}",
            reconnect_window().as_secs()
        ),
    ))
}

async fn read_loop(mut rd: LinkReader, tx: UnboundedSender<Result<Message, TransportError>>) {
    loop {
        let m = match tokio::time::timeout(DEAD_AFTER, rd.read_message()).await {
            Ok(m) => m,
            Err(_) => Err(TransportError::Timeout(DEAD_AFTER.as_secs())),
        };
        let stop = m.is_err();
        if tx.send(m).is_err() || stop {
            return;
        }
    }
}

async fn write_loop(
    mut wr: LinkWriter,
    mut out: UnboundedReceiver<Control>,
    ctl: Arc<PipelineCtl>,
    pointer: Arc<cursor::CursorCtl>,
    errs: UnboundedSender<Result<Message, TransportError>>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let r: Result<(), TransportError> = async {
        loop {
            tokio::select! {
                biased;
                _ = tick.tick() => {
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                    wr.write_control(&Control::Ping { t }).await?;
                }
                c = out.recv() => match c {
                    Some(c) => wr.write_control(&c).await?,
                    None => {
                        wr.shutdown().await;
                        return Ok(());
                    }
                },
                // The pointer before frames: a few bytes, and latest-wins.
                news = pointer.take() => {
                    if let Some(shape) = &news.shape {
                        wr.write_shape(shape).await?;
                    }
                    if let Some(c) = &news.cursor {
                        wr.write_control(c).await?;
                    }
                }
                frames = ctl.take() => {
                    ctl.sent(&frames);
                    for f in &frames {
                        wr.write_update(f).await?;
                    }
                    wr.flush().await?;
                }
            }
        }
    }
    .await;
    if let Err(e) = r {
        let _ = errs.send(Err(e));
    }
}
