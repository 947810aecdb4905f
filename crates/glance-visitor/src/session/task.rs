//! The running session as one [`Session`] value with one handler per kind of event: the
//! API's commands ([`Session::on_command`], the same handler whether the link is up or being
//! re-established: the link state says what a command may do), the service's control messages
//! ([`Session::on_control`]: one arm each, unknown ones logged and ignored), the loss of the
//! link ([`Session::on_link_lost`]: reconnect or resume), capture failures
//! ([`Session::on_capture_error`]: a display that went away is waited for, see
//! [`Session::on_display_lost`]) and errors reported to the service's session record.
//!
//! It owns what is shown (the [`ShownWriter`]): it is the one writer; capture, the pointer and
//! remote control read it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use glance_protocol::framing::Message;
use glance_protocol::{Control, DisplayInfo, EndReason, StartFailReason};
use tokio::sync::mpsc::UnboundedReceiver;

use super::connect::{self, SessionStarted};
use super::{
    cursor, messages, reconnect_window, refusal_name, remote, Command, Conn, Outcome, SessionSpec,
};
use crate::capture::{CaptureError, Capturer, CursorSource, DisplayDesc};
use crate::events::{Event, EventCode};
use crate::pipeline::scale::ScaleSpec;
use crate::pipeline::{CaptureFailure, PipelineCtl};
use crate::shown::ShownWriter;
use crate::transport::link::Link;
use crate::transport::TransportError;
use crate::visitor::Core;

/// How long a display that went away is waited for before the session ends:
/// `GLANCE_DISPLAY_RETURN_WINDOW_MS` (tests shorten it), else 60 s.
pub const DEFAULT_DISPLAY_RETURN_WINDOW: Duration = Duration::from_secs(60);
/// The first try to re-open a display that went away, and the longest pause between tries.
const DISPLAY_RETRY_FIRST: Duration = Duration::from_millis(500);
const DISPLAY_RETRY_MAX: Duration = Duration::from_secs(2);

fn display_return_window() -> Duration {
    std::env::var("GLANCE_DISPLAY_RETURN_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_DISPLAY_RETURN_WINDOW)
}

/// Whether the link to the service is up: what a command may do depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Up,
    /// The connection dropped and is being re-established: nothing can be sent; ShowDisplay
    /// is refused; a pause and EnableRC are applied here and told to the service after.
    Reconnecting,
}

/// What a handler says: go on, or the session is over.
pub(super) enum Flow {
    Go,
    End(Outcome),
}

fn end(reason: EndReason, message: impl Into<String>) -> Flow {
    Flow::End(Outcome::Ended(reason, message.into()))
}

/// A display that went away and is waited for.
#[derive(Debug)]
struct Lost {
    name: String,
    since: Instant,
    next_try: tokio::time::Instant,
    pause: Duration,
}

/// One event for the session, as the main loop receives it.
enum Ev {
    Command(Option<Command>),
    Net(Option<Result<Message, TransportError>>),
    Capture(Option<CaptureFailure>),
    Report(String, String),
    RetryDisplay,
}

/// The connection and the session's identity at the service.
pub(super) struct LinkInfo {
    pub conn: Conn,
    pub tunneled: bool,
    pub endpoints: connect::Endpoints,
    pub resume_token: Option<String>,
    pub call_id: u64,
    pub key: String,
    /// The display as `start_session` announced it (sent again if the service lost the
    /// session and it is started again).
    pub announced: DisplayInfo,
}

/// See the module documentation.
pub(super) struct Session<'a> {
    pub core: &'a Arc<Core>,
    pub spec: &'a SessionSpec,
    pub link: LinkInfo,
    state: LinkState,
    shown: ShownWriter,
    ctl: Arc<PipelineCtl>,
    pointer: Arc<cursor::CursorCtl>,
    remote: remote::RemoteControl,
    /// EnableRC(true) while reconnecting: done once the link is back.
    rc_after_reconnect: bool,
    /// The service was last told that remote control is on.
    rc_told: bool,
    lost: Option<Lost>,
}

impl<'a> Session<'a> {
    pub fn new(
        core: &'a Arc<Core>,
        spec: &'a SessionSpec,
        link: LinkInfo,
        shown: ShownWriter,
        ctl: Arc<PipelineCtl>,
        pointer: Arc<cursor::CursorCtl>,
    ) -> Session<'a> {
        let remote = remote::RemoteControl::new(shown.reader()).with_masks(core.masks.clone());
        Session {
            core,
            spec,
            link,
            state: LinkState::Up,
            shown,
            ctl,
            pointer,
            remote,
            rc_after_reconnect: false,
            rc_told: false,
            lost: None,
        }
    }

    fn generation(&self) -> u64 {
        self.spec.generation
    }

    /// Sends `c` to the service when the link is up (else it is dropped: what matters is
    /// sent again after the reconnect).
    fn send(&self, c: Control) {
        if self.state == LinkState::Up {
            let _ = self.link.conn.out_tx.send(c);
        }
    }

    /// The main loop: one event at a time to its handler, until one ends the session.
    pub async fn run(
        &mut self,
        cmds: &mut UnboundedReceiver<Command>,
        errs: &mut UnboundedReceiver<CaptureFailure>,
        reports: &mut UnboundedReceiver<(String, String)>,
    ) -> Outcome {
        loop {
            let retry_at = self.lost.as_ref().map(|l| l.next_try);
            let ev = tokio::select! {
                Some((event, message)) = reports.recv() => Ev::Report(event, message),
                c = cmds.recv() => Ev::Command(c),
                m = self.link.conn.net_rx.recv() => Ev::Net(m),
                e = errs.recv() => Ev::Capture(e),
                _ = sleep_until(retry_at) => Ev::RetryDisplay,
            };
            let flow = match ev {
                Ev::Report(event, message) => self.on_report(event, message),
                Ev::Command(c) => self.on_command(c).await,
                Ev::Net(Some(Ok(Message::Control(c)))) => self.on_control(c),
                Ev::Net(Some(Ok(Message::Update(_) | Message::CursorShape(_)))) => end(
                    EndReason::Error,
                    "the service sent a binary message to the visitor",
                ),
                Ev::Net(Some(Err(e))) => self.on_link_lost(e, cmds).await,
                Ev::Net(None) => end(EndReason::ConnDrop, "the connection to the service dropped"),
                Ev::Capture(e) => self.on_capture_error(e),
                Ev::RetryDisplay => self.on_display_retry().await,
            };
            if let Flow::End(o) = flow {
                return o;
            }
        }
    }

    /// reportErrors: a warning or error fired by the SDK goes to the service's record.
    fn on_report(&mut self, event: String, message: String) -> Flow {
        self.send(Control::ReportError { event, message });
        Flow::Go
    }

    /// A command from the API, whether the link is up or being re-established.
    pub async fn on_command(&mut self, c: Option<Command>) -> Flow {
        match c {
            Some(Command::Pause(p)) => {
                self.shown.set_paused(p);
                if p {
                    self.remote.release();
                }
                // While reconnecting it is sent once the link is back.
                self.send(Control::Pause { paused: p });
                Flow::Go
            }
            Some(Command::EnableRc(on)) => {
                self.set_rc(on);
                Flow::Go
            }
            Some(Command::Show(desc, scale)) => {
                if self.state == LinkState::Reconnecting {
                    log::warn!("ShowDisplay({}) ignored while reconnecting", desc.name);
                } else {
                    self.show(desc, scale).await;
                }
                Flow::Go
            }
            Some(Command::End) | None => {
                self.ctl.stop();
                self.pointer.stop();
                if self.state == LinkState::Up {
                    let _ = self.link.conn.out_tx.send(Control::EndSession);
                    // Wait (bounded) for the service to confirm, so agents learn why.
                    let net = &mut self.link.conn.net_rx;
                    let _ = tokio::time::timeout(Duration::from_secs(3), async {
                        while let Some(m) = net.recv().await {
                            if matches!(
                                m,
                                Ok(Message::Control(Control::SessionEnded { .. })) | Err(_)
                            ) {
                                break;
                            }
                        }
                    })
                    .await;
                }
                end(EndReason::ThisSide, "the session was ended by EndSession")
            }
        }
    }

    /// EnableRC(on). Enabling opens the platform's injector for the shown display and tells
    /// the service (while reconnecting: once the link is back); disabling releases all held
    /// at once.
    fn set_rc(&mut self, on: bool) {
        let generation = self.generation();
        if !on {
            self.rc_after_reconnect = false;
            self.remote.disable();
            log::info!("remote control is off");
            if self.state == LinkState::Up {
                self.send(Control::Rc { enabled: false });
                self.rc_told = false;
            }
            self.core
                .update(generation, |st| st.info.rc_enabled = false);
            return;
        }
        if self.state == LinkState::Reconnecting {
            log::info!("EnableRC(true) while reconnecting: done once the link is back");
            self.rc_after_reconnect = true;
            return;
        }
        match self
            .remote
            .enable(&self.core.source, self.core.default_ui())
        {
            Ok(()) => {
                log::info!("remote control is on: agents with the privilege may use this desktop");
                self.send(Control::Rc { enabled: true });
                self.rc_told = true;
                self.core.update(generation, |st| st.info.rc_enabled = true);
            }
            Err(e) => self.core.fire(Event::new(
                EventCode::RCDisabled,
                format!("remote control cannot be enabled here: {e}"),
            )),
        }
    }

    /// ShowDisplay: opens the display first; only once it is open does it become what is
    /// shown. A display that cannot be opened leaves the current one shown (EventException).
    async fn show(&mut self, desc: DisplayDesc, scale: ScaleSpec) {
        let core = self.core.clone();
        let d2 = desc.clone();
        let opened = tokio::task::spawn_blocking(move || {
            // Behind the mask stage: what may leave is decided before anything else.
            crate::masking::open_masked(&core, &d2).map(|c| (c, core.source.open_cursor(&d2)))
        })
        .await;
        match opened {
            Ok(Ok((c, p))) => {
                if self.lost.take().is_some() {
                    log::info!(
                        "ShowDisplay({}) replaces the display that went away",
                        desc.name
                    );
                }
                self.switch_to(desc, Some(scale), c, p);
            }
            Ok(Err(e)) => self.show_failed(&desc, &e.to_string()),
            Err(e) => self.show_failed(&desc, &e.to_string()),
        }
    }

    fn show_failed(&self, desc: &DisplayDesc, e: &str) {
        let shown = self.shown.view().display.name;
        log::warn!(
            "ShowDisplay({}) failed: {e}; still showing {shown}",
            desc.name
        );
        self.core.fire(
            Event::new(
                EventCode::Exception,
                format!("cannot show {}: {e}; still showing {shown}", desc.name),
            )
            .with("display", desc.name.clone())
            .with("error", e),
        );
    }

    /// Makes `desc` (opened: `c`, `p`) what is shown, at `scale` (None: the same).
    fn switch_to(
        &mut self,
        desc: DisplayDesc,
        scale: Option<ScaleSpec>,
        c: Box<dyn Capturer>,
        p: Result<Box<dyn CursorSource>, CaptureError>,
    ) {
        let name = desc.name.clone();
        // What is shown changes together with the capturer (see switch_capturer): no frame
        // of one display is ever sized for the other.
        let shown = &mut self.shown;
        self.ctl.switch_capturer(c, || {
            shown.update(|v| {
                v.display = desc;
                if let Some(s) = scale {
                    v.scale = s;
                }
                v.available = true;
            });
        });
        self.pointer.switch_source(
            p.map_err(|e| log::warn!("the pointer is not shared: {e}"))
                .ok(),
        );
        self.remote.follow(&self.core.source);
        self.core
            .update(self.generation(), |st| st.info.display_name = name);
    }

    /// A control message from the service: one arm each; unknown ones are logged and
    /// ignored, never the end of the session.
    fn on_control(&mut self, c: Control) -> Flow {
        match c {
            Control::GuestCount { count } => self.on_guest_count(count),
            Control::RefreshRequest => self.ctl.request_refresh(),
            Control::Ack { seq } => self.ctl.acked(seq),
            Control::Ping { t } => self.send(Control::Pong { t }),
            Control::Pong { .. } => {}
            Control::Input { input } => self.remote.inject(input),
            Control::RcDisabled { message } => self.on_rc_disabled(message),
            Control::AgentMessage { name, properties } => {
                if let Some(e) = messages::received(name, properties) {
                    self.core.fire(e)
                }
            }
            Control::SessionEnded {
                reason, message, ..
            } => {
                return end(
                    reason,
                    if message.is_empty() {
                        "the session ended".into()
                    } else {
                        message
                    },
                )
            }
            Control::Error { code, message } => {
                return end(
                    EndReason::Error,
                    format!("the service reported a protocol error ({code}): {message}"),
                )
            }
            // A newer service, or a message meant for others.
            other => log::warn!("ignoring an unexpected {} from the service", other.name()),
        }
        Flow::Go
    }

    fn on_guest_count(&mut self, count: u32) {
        if count == 0 {
            // The last agent left: nothing it held stays held.
            self.remote.release();
        }
        self.core
            .update(self.generation(), |st| st.info.n_guests = count);
        self.core.fire(
            Event::new(
                EventCode::GuestCountChange,
                format!("{count} agent(s) in the session"),
            )
            .with("count", count.to_string()),
        );
    }

    fn on_rc_disabled(&mut self, message: String) {
        self.remote.disable();
        self.rc_told = false;
        self.core
            .update(self.generation(), |st| st.info.rc_enabled = false);
        self.core.fire(Event::new(EventCode::RCDisabled, message));
    }

    /// The capture thread failed. A display that went away is waited for; anything else
    /// ends the session. A failure of a capturer already replaced is stale.
    fn on_capture_error(&mut self, e: Option<CaptureFailure>) -> Flow {
        let Some(f) = e else {
            self.send(Control::EndSession);
            return end(EndReason::Error, "screen capture failed: capture stopped");
        };
        if f.capturer != self.ctl.latest_capturer() {
            log::debug!("a replaced capturer failed: {}", f.error);
            return Flow::Go;
        }
        if f.error.is_gone() {
            self.on_display_lost(&f.error);
            return Flow::Go;
        }
        self.send(Control::EndSession);
        end(
            EndReason::Error,
            format!("screen capture failed: {}", f.error),
        )
    }

    /// The shown display went away: EventDeviceDisconnected; the connection stays, agents
    /// keep the last picture (nothing is sent, the pointer is hidden), held keys are released
    /// and input is dropped; the display is looked for by name every 0.5 to 2 s.
    fn on_display_lost(&mut self, e: &CaptureError) {
        let name = self.shown.view().display.name;
        let window = display_return_window();
        log::warn!(
            "the shared display {name} went away ({e}); waiting up to {} s for it",
            window.as_secs()
        );
        self.shown.update(|v| v.available = false);
        self.remote.release();
        self.pointer.switch_source(None);
        self.core.fire(
            Event::new(
                EventCode::DeviceDisconnected,
                format!(
                    "the shared display {name} is gone; the session waits up to {} s for it to come back",
                    window.as_secs()
                ),
            )
            .with("display", name.clone()),
        );
        self.lost = Some(Lost {
            name,
            since: Instant::now(),
            next_try: tokio::time::Instant::now() + DISPLAY_RETRY_FIRST,
            pause: DISPLAY_RETRY_FIRST,
        });
    }

    /// A try to re-open the display that went away (by name); when it is back:
    /// EventDeviceReconnected and a key frame. Past the window the session ends.
    async fn on_display_retry(&mut self) -> Flow {
        let Some(lost) = &self.lost else {
            return Flow::Go;
        };
        let name = lost.name.clone();
        let window = display_return_window();
        if lost.since.elapsed() >= window {
            self.send(Control::EndSession);
            return end(
                EndReason::Error,
                format!(
                    "the shared display {name} was disconnected and did not come back within {} s",
                    window.as_secs()
                ),
            );
        }
        let core = self.core.clone();
        let n2 = name.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let d = core.source.find(&n2)?;
            let c = crate::masking::open_masked(&core, &d)?;
            let p = core.source.open_cursor(&d);
            Ok::<_, CaptureError>((d, c, p))
        })
        .await;
        match opened {
            Ok(Ok((desc, c, p))) => {
                let away = lost.since.elapsed();
                self.lost = None;
                log::info!("the shared display {name} is back after {away:?}");
                self.switch_to(desc, None, c, p);
                self.core.fire(
                    Event::new(
                        EventCode::DeviceReconnected,
                        format!("the shared display {name} is back"),
                    )
                    .with("display", name),
                );
            }
            Ok(Err(e)) => self.retry_later(&e.to_string()),
            Err(e) => self.retry_later(&e.to_string()),
        }
        Flow::Go
    }

    fn retry_later(&mut self, why: &str) {
        if let Some(l) = &mut self.lost {
            log::debug!("the display {} is not back yet: {why}", l.name);
            l.next_try = tokio::time::Instant::now() + l.pause;
            l.pause = (l.pause * 2).min(DISPLAY_RETRY_MAX);
        }
    }

    /// The connection dropped: without a resume token the session ends; otherwise
    /// reconnect (commands are handled meanwhile) and carry on, or end with conn_drop.
    async fn on_link_lost(
        &mut self,
        e: TransportError,
        cmds: &mut UnboundedReceiver<Command>,
    ) -> Flow {
        let why = format!("the connection to the service dropped: {e}");
        let Some(token) = self.link.resume_token.clone() else {
            return end(EndReason::ConnDrop, why);
        };
        self.link.conn.stop();
        self.state = LinkState::Reconnecting;
        match self.reconnect(&token, cmds, &why).await {
            Ok(r) => {
                self.state = LinkState::Up;
                self.on_reconnected(r);
                Flow::Go
            }
            Err(o) => Flow::End(o),
        }
    }

    /// The link is back: what the service may have missed is sent again (the pause state,
    /// remote control, the pointer), and a key frame for everyone.
    fn on_reconnected(&mut self, r: Reconnected) {
        let generation = self.generation();
        let Reconnected { link, restarted } = r;
        if link.is_tunnel() && !self.link.tunneled {
            self.core.fire(Event::new(
                EventCode::Tunneling,
                "reconnected to the Glance service through the tunnel",
            ));
        }
        self.link.tunneled = link.is_tunnel();
        self.ctl.link_reset();
        self.link.conn = Conn::spawn(link, &self.ctl, &self.pointer);
        self.send(Control::Pause {
            paused: self.shown.view().paused,
        });
        if std::mem::take(&mut self.rc_after_reconnect) {
            self.set_rc(true);
        } else if self.remote.is_on() {
            self.send(Control::Rc { enabled: true });
            self.rc_told = true;
        } else if self.rc_told {
            // EnableRC(false) while away.
            self.send(Control::Rc { enabled: false });
            self.rc_told = false;
        }
        self.pointer.resend();
        let mut clear = Event::new(
            EventCode::ClearWarning,
            "the connection to the Glance service is re-established",
        );
        let mut guests_reset = false;
        if let Some(st) = restarted {
            let (key, call_id) = (&self.link.key, self.link.call_id);
            if &st.key != key {
                log::warn!(
                    "the service started the session again as {} instead of {key}",
                    st.key
                );
            }
            log::info!(
                "session {} started again as call {} (was {call_id})",
                st.key,
                st.call_id
            );
            clear = Event::new(
                EventCode::ClearWarning,
                format!(
                    "the connection to the Glance service is re-established; the service had lost the session and it was started again (call {}, was {call_id})",
                    st.call_id
                ),
            )
            .with("callid", st.call_id.to_string())
            .with("previouscallid", call_id.to_string());
            self.link.key = st.key;
            self.link.call_id = st.call_id;
            self.link.resume_token = st.resume_token;
            let (key, call_id) = (self.link.key.clone(), self.link.call_id);
            self.core.update(generation, |s| {
                guests_reset = s.info.n_guests != 0;
                s.info.call_id = call_id;
                s.info.key = key;
                s.info.n_guests = 0;
            });
            // No agent is in the new session: nothing stays held.
            self.remote.release();
        }
        let paused = self.shown.view().paused;
        self.core.update(generation, |st| {
            st.info.is_connected = true;
            // A pause or resume while away counted as "not showing": the link is back.
            st.info.is_showing = !paused;
        });
        self.core.fire(clear);
        if guests_reset {
            self.core.fire(
                Event::new(EventCode::GuestCountChange, "0 agent(s) in the session")
                    .with("count", "0"),
            );
        }
    }

    /// After a drop: EventConnectionWarning, then attempts with growing pauses (0.25 s
    /// doubling to 4 s) to open a new connection (direct, then the tunnel) and `resume`,
    /// until the reconnect window is over. When the service answers `resume_failed` (it no
    /// longer knows the session: restarted without its journal) the session is started again
    /// at once on a fresh connection, with the same key and `previous_call_id`; a refusal of
    /// that start ends the session with conn_drop. Commands go to [`Session::on_command`]
    /// meanwhile (an attempt in progress goes on).
    async fn reconnect(
        &mut self,
        token: &str,
        cmds: &mut UnboundedReceiver<Command>,
        why: &str,
    ) -> Result<Reconnected, Outcome> {
        let generation = self.generation();
        log::warn!("{why}; reconnecting");
        self.core
            .update(generation, |st| st.info.is_connected = false);
        self.core.fire(Event::new(
            EventCode::ConnectionWarning,
            format!(
                "{why}; reconnecting for up to {} s",
                reconnect_window().as_secs()
            ),
        ));
        // What an attempt needs, owned here: commands change the session meanwhile.
        let spec: &SessionSpec = self.spec;
        let ep = self.link.endpoints.clone();
        let was = Was {
            key: self.link.key.clone(),
            call_id: self.link.call_id,
            announced: self.link.announced.clone(),
        };
        let deadline = tokio::time::Instant::now() + reconnect_window();
        let mut pause = Duration::from_millis(250);
        let mut last_error = why.to_string();
        // Set once the service said it does not know the session any more.
        let mut start_again = false;
        loop {
            let attempt = attempt(spec, &ep, token, start_again, &was);
            tokio::pin!(attempt);
            let r = loop {
                tokio::select! {
                    r = tokio::time::timeout_at(deadline, &mut attempt) => break r,
                    c = cmds.recv() => {
                        if let Flow::End(o) = self.on_command(c).await {
                            return Err(o);
                        }
                    }
                }
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
                // The service was upgraded meanwhile and no longer takes this SDK.
                Ok(Err(connect::StartError::UpgradeRequired(m))) => {
                    return Err(Outcome::UpgradeRequired(m));
                }
                Ok(Err(e)) => {
                    log::info!("reconnect attempt failed: {e}");
                    last_error = e.to_string();
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            // The last attempt is made at the deadline at the latest.
            let wake = (tokio::time::Instant::now() + pause).min(deadline);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    c = cmds.recv() => {
                        if let Flow::End(o) = self.on_command(c).await {
                            return Err(o);
                        }
                    }
                }
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

    /// The session is over: capture and the pointer stop, the writer flushes (bounded).
    pub async fn finish(self) {
        self.ctl.stop();
        self.pointer.stop();
        self.link.conn.finish().await;
    }
}

/// Sleeps until `at`, or forever when `None`.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the session was when its connection dropped.
struct Was {
    key: String,
    call_id: u64,
    announced: DisplayInfo,
}

/// A re-established connection.
pub(super) struct Reconnected {
    link: Link,
    /// `Some` when the service no longer knew the session (`resume_failed`: it lost its
    /// state) and it was started again with the same key: the new call id and resume token.
    restarted: Option<SessionStarted>,
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

/// One reconnect attempt: a new connection, then `resume` (or, `again`, a new start of the
/// session with the same key).
async fn attempt(
    spec: &SessionSpec,
    ep: &connect::Endpoints,
    token: &str,
    again: bool,
    was: &Was,
) -> Result<Step, connect::StartError> {
    let mut link = connect::open(ep, spec.params.force_tunnel).await?.link;
    if again {
        return match connect::start_session(
            &mut link,
            spec,
            Some(was.key.clone()),
            was.announced.clone(),
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
    match connect::read_known(&mut link).await? {
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
}
