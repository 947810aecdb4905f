//! One screen-share session as an async task: discover the service, connect, start, then
//! relay between the API's commands, the service's messages and the capture pipeline until
//! the session ends, firing the seed's events on the way. This module starts the session and
//! owns the connection's tasks; the running session's event handlers are in [`task`].

mod connect;
mod cursor;
mod messages;
mod remote;
mod task;

use std::sync::Arc;

use glance_protocol::framing::Message;
use glance_protocol::{Control, EndReason, StartFailReason};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::capture::DisplayDesc;
use crate::events::{Event, EventCode};
use crate::params::{KeyChoice, StartParams, VisitorConfig};
use crate::pipeline::scale::ScaleSpec;
use crate::pipeline::{self, CaptureFailure, PipelineCtl};
use crate::shown::{ShownWriter, View};
use std::time::Duration;

use crate::transport::link::{Link, LinkReader, LinkWriter};
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
    /// The service needs a newer SDK: EventUpgradeRequired instead of
    /// EventStartSessionFailed, then EventSessionEnded (SessionEndReasonError).
    UpgradeRequired(String),
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
        Outcome::UpgradeRequired(message) => vec![
            Event::new(EventCode::UpgradeRequired, message.clone())
                .with("version", glance_protocol::version::THIS),
            ended(EndReason::Error, message),
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
        S::UpgradeRequired(m) => Outcome::UpgradeRequired(m.clone()),
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
    let mut rc_wanted = None;
    let started = tokio::select! {
        r = connect::start(core, &spec) => r,
        _ = wait_end(cmds, &mut rc_wanted) => {
            return Outcome::Ended(EndReason::ThisSide, "the session was ended by EndSession".into());
        }
    };
    let Started {
        stream,
        tunneled,
        endpoints,
        resume_token,
        call_id,
        key,
        capturer,
        display,
        shown: announced,
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

    // What is shown: set here once, read by capture, the pointer and remote control.
    let shown = ShownWriter::new(View {
        paused: paused_now,
        ..View::new(
            display.clone(),
            ScaleSpec::from_params(&spec.params.display_params),
        )
    });
    let ctl = PipelineCtl::new(shown.reader());
    let _stop = StopOnDrop(ctl.clone());
    let pointer = cursor::CursorCtl::new(shown.reader());
    let _stop_pointer = cursor::StopCursorOnDrop(pointer.clone());
    let conn = Conn::spawn(stream, &ctl, &pointer);
    if paused_now != spec.params.paused {
        let _ = conn.out_tx.send(Control::Pause { paused: paused_now });
    }
    let (err_tx, mut err_rx) = unbounded_channel::<CaptureFailure>();
    if let Err(e) = pipeline::spawn(capturer, ctl.clone(), move |f| {
        let _ = err_tx.send(f);
    }) {
        let _ = conn.out_tx.send(Control::EndSession);
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
    let link = task::LinkInfo {
        conn,
        tunneled,
        endpoints,
        resume_token,
        call_id,
        key,
        announced,
    };
    let mut session = task::Session::new(core, &spec, link, shown, ctl, pointer);
    // EnableRC before the session was connected takes effect now.
    let mut outcome = None;
    if let Some(on) = rc_wanted {
        if let task::Flow::End(o) = session.on_command(Some(Command::EnableRc(on))).await {
            outcome = Some(o);
        }
    }
    let outcome = match outcome {
        Some(o) => o,
        None => session.run(cmds, &mut err_rx, &mut report_rx).await,
    };
    session.finish().await;
    outcome
}

/// Before the session is connected: only EndSession matters. A pause is already recorded in
/// the session info, ShowDisplay is refused by the API, and the last EnableRC is kept for
/// the session's command handler.
async fn wait_end(cmds: &mut UnboundedReceiver<Command>, rc_wanted: &mut Option<bool>) {
    loop {
        match cmds.recv().await {
            Some(Command::End) | None => return,
            Some(Command::EnableRc(on)) => *rc_wanted = Some(on),
            Some(Command::Pause(_)) | Some(Command::Show(..)) => {}
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
