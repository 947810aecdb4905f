//! [`GlanceVisitor`]: the public API of seed 000 (init, StartSession, EndSession, Pause,
//! GetSessionInfo, displays) and the shared state behind it.
//!
//! Threading: each visitor owns a one-worker tokio runtime for the network and one event
//! thread that runs the application's handler, in order. Every call validates, updates the
//! shared state and enqueues; none blocks on the network, so a handler may call back in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::capture::{CaptureError, DisplayDesc, DisplayKind, DisplaySource};
use crate::events::{Event, EventCode, EventType};
use crate::params::{DisplayParams, SessionInfo, StartParams, VisitorConfig};
use crate::presence::{self, PresenceCmd};
use crate::session::{self, Command, SessionSpec};

/// Why a call was rejected at once. The matching event fires too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// EventInvalidParameter fired.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// EventInvalidState fired.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The visitor could not start its threads.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Starting,
    Active,
    Ending,
}

pub(crate) struct State {
    pub config: Option<VisitorConfig>,
    pub phase: Phase,
    pub info: SessionInfo,
    pub cmds: Option<UnboundedSender<Command>>,
    /// Incremented per session, so a finished session's task cannot touch the next one.
    pub generation: u64,
    /// EventUpgradeAvailable was fired since the last init.
    pub upgrade_told: bool,
}

/// State shared by the API, the session task and the capture thread.
pub(crate) struct Core {
    events: Mutex<Option<mpsc::Sender<Event>>>,
    /// reportErrors: where the running session takes warnings and errors for the service's
    /// session record (None when the session does not report them).
    reporter: Mutex<Option<tokio::sync::mpsc::UnboundedSender<(String, String)>>>,
    /// The presence task's commands while PresenceVisitor is connected or reconnecting.
    presence: Mutex<Option<tokio::sync::mpsc::UnboundedSender<PresenceCmd>>>,
    /// The presence socket is up now.
    presence_up: AtomicBool,
    /// It was up since the last check (the reconnect backoff starts over).
    presence_was_up: AtomicBool,
    /// The SDK shows its own terms dialogs (seed 002/004 default UI); on by default.
    default_ui: AtomicBool,
    /// This GlanceVisitor's app instance on the presence service: random, the same on every
    /// presence connection, so a reconnect keeps the visitor id it held (docs/PRESENCE.md).
    presence_instance: String,
    /// The network runtime, for sessions started by the SDK itself (the default UI).
    rt: tokio::runtime::Handle,
    state: Mutex<State>,
    idle: Condvar,
    pub source: DisplaySource,
    /// The visitor's masks and what it asked to show, read by the mask stage each frame.
    pub masks: Arc<crate::pipeline::mask::MaskSet>,
}

impl Core {
    /// The service named `latest` as the newest SDK release: EventUpgradeAvailable when it
    /// is newer than this one, once per init.
    pub fn upgrade_available(&self, latest: &str) {
        use glance_protocol::version::{compare, THIS};
        if compare(latest, THIS) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        {
            let mut st = self.state();
            if st.upgrade_told {
                return;
            }
            st.upgrade_told = true;
        }
        self.fire(
            Event::new(
                EventCode::UpgradeAvailable,
                format!("Glance SDK {latest} is available; this is {THIS}"),
            )
            .with("version", THIS)
            .with("latest", latest),
        );
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an event for the application's handler. Warnings and errors also go to the
    /// log and, with reportErrors, to the service's session record.
    pub fn fire(&self, e: Event) {
        match e.code.event_type() {
            EventType::Warning | EventType::Error => {
                log::warn!("event {} {}", e.code.name(), e.message);
                if let Some(r) = self
                    .reporter
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    let _ = r.send((e.code.name().to_string(), e.message.clone()));
                }
            }
            _ => log::debug!("event {} {}", e.code.name(), e.message),
        }
        // The presence service hears of screen-share sessions (visitorsessionstart/end).
        let notice = match e.code {
            EventCode::ConnectedToSession => Some(serde_json::json!({
                "type": "session_start",
                "key": e.property("sessionkey").unwrap_or_default(),
            })),
            EventCode::SessionEnded => Some(serde_json::json!({
                "type": "session_end",
                "reason": e.property("reason").unwrap_or_default(),
            })),
            _ => None,
        };
        if let Some(n) = notice {
            if self.presence_up.load(Ordering::SeqCst) {
                self.presence_send(n);
            }
        }
        if let Some(tx) = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            // The receiver lives until the visitor is freed.
            let _ = tx.send(e);
        }
    }

    /// The app instance id sent in every presence hello.
    pub fn presence_instance(&self) -> &str {
        &self.presence_instance
    }

    /// Queues a message for the presence service; false when presence is not connected.
    pub fn presence_send(&self, v: serde_json::Value) -> bool {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(PresenceCmd::Send(v)).is_ok())
    }

    pub fn set_presence_connected(&self, up: bool) {
        self.presence_up.store(up, Ordering::SeqCst);
        if up {
            self.presence_was_up.store(true, Ordering::SeqCst);
        }
    }

    pub fn take_presence_was_connected(&self) -> bool {
        self.presence_was_up.swap(false, Ordering::SeqCst)
    }

    /// The presence task has ended.
    pub fn clear_presence(&self) {
        self.presence_up.store(false, Ordering::SeqCst);
        *self.presence.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Sets (or clears) where warnings and errors are reported during a session.
    pub fn set_reporter(&self, r: Option<tokio::sync::mpsc::UnboundedSender<(String, String)>>) {
        *self.reporter.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }

    /// StartSession(StartParams), for the API and for the default UI.
    pub fn start_session(self: &Arc<Self>, params: StartParams) -> Result<(), CallError> {
        let mut st = self.state();
        let Some(cfg) = st.config.clone() else {
            drop(st);
            return self.reject(CallError::InvalidState(
                "init must be called before StartSession".into(),
            ));
        };
        if st.phase != Phase::Idle {
            drop(st);
            return self.reject(CallError::InvalidState(
                "a session is already running; wait for EventSessionEnded".into(),
            ));
        }
        let key = match params.validate(&cfg) {
            Ok(k) => k,
            Err(m) => {
                drop(st);
                return self.reject(CallError::InvalidParameter(m));
            }
        };
        let display = match crate::masking::resolve(&self.source, &params.display_params) {
            Ok((d, showing)) => {
                self.masks.set_shown(&d.name, showing);
                self.masks.set_request(&params.display_params);
                Ok(d)
            }
            Err(CaptureError::NoSuchDisplay(n)) => {
                drop(st);
                return self.reject(CallError::InvalidParameter(format!(
                    "displayName {n:?} is not a connected display (see GetDisplayName)"
                )));
            }
            Err(e) => Err(e.to_string()),
        };
        let (tx, rx) = unbounded_channel();
        st.phase = Phase::Starting;
        st.generation += 1;
        st.cmds = Some(tx);
        st.info = SessionInfo {
            is_paused: params.paused,
            ..SessionInfo::default()
        };
        let spec = SessionSpec {
            generation: st.generation,
            config: cfg,
            key,
            params,
            display,
        };
        drop(st);
        self.rt.spawn(session::run(self.clone(), spec, rx));
        Ok(())
    }

    /// Fires EventInvalidParameter or EventInvalidState for a call rejected at once, and
    /// returns the error.
    pub fn reject(&self, e: CallError) -> Result<(), CallError> {
        let code = match &e {
            CallError::InvalidParameter(_) => EventCode::InvalidParameter,
            CallError::InvalidState(_) | CallError::Internal(_) => EventCode::InvalidState,
        };
        let msg = match &e {
            CallError::InvalidParameter(m)
            | CallError::InvalidState(m)
            | CallError::Internal(m) => m.clone(),
        };
        self.fire(Event::new(code, msg));
        Err(e)
    }

    pub fn default_ui(&self) -> bool {
        self.default_ui.load(Ordering::SeqCst)
    }

    /// Updates the running session's info, if `generation` is still the current session.
    pub fn update(&self, generation: u64, f: impl FnOnce(&mut State)) -> bool {
        let mut st = self.state();
        if st.generation != generation || st.phase == Phase::Idle {
            return false;
        }
        f(&mut st);
        true
    }

    /// Ends session `generation`: back to idle, then the events (in order).
    pub fn finish(&self, generation: u64, events: Vec<Event>) {
        {
            let mut st = self.state();
            if st.generation != generation || st.phase == Phase::Idle {
                return;
            }
            st.phase = Phase::Idle;
            st.info = SessionInfo::default();
            st.cmds = None;
        }
        self.idle.notify_all();
        for e in events {
            self.fire(e);
        }
    }
}

type Handler = Box<dyn FnMut(&Event) + Send + 'static>;

/// The visitor side of Glance screen sharing (seed 000's GlanceVisitor).
pub struct GlanceVisitor {
    core: Arc<Core>,
    rt: Option<tokio::runtime::Runtime>,
    dispatcher: Option<JoinHandle<()>>,
    dispatcher_id: ThreadId,
    /// Set when the visitor is dropped on its own event thread.
    closed: Arc<AtomicBool>,
}

impl std::fmt::Debug for GlanceVisitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlanceVisitor").finish_non_exhaustive()
    }
}

impl GlanceVisitor {
    /// A visitor whose events go to `handler` on the SDK's event thread. Displays come from
    /// [`DisplaySource::from_env`].
    pub fn new(handler: impl FnMut(&Event) + Send + 'static) -> Result<GlanceVisitor, CallError> {
        Self::with_source(handler, DisplaySource::from_env())
    }

    /// A visitor sharing from `source` (e.g. a [`crate::SyntheticDisplay`] in tests).
    pub fn with_source(
        handler: impl FnMut(&Event) + Send + 'static,
        source: DisplaySource,
    ) -> Result<GlanceVisitor, CallError> {
        let (tx, rx) = mpsc::channel::<Event>();
        let mut handler: Handler = Box::new(handler);
        let closed = Arc::new(AtomicBool::new(false));
        let closed2 = closed.clone();
        let dispatcher = std::thread::Builder::new()
            .name("glance-events".into())
            .spawn(move || {
                while let Ok(e) = rx.recv() {
                    // Freed from inside a callback: deliver nothing more.
                    if closed2.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&e)));
                    if r.is_err() {
                        log::error!("the event handler panicked on {}", e.code.name());
                    }
                }
            })
            .map_err(|e| CallError::Internal(format!("cannot start the event thread: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("glance-net")
            .enable_all()
            .build()
            .map_err(|e| CallError::Internal(format!("cannot start the network runtime: {e}")))?;
        Ok(GlanceVisitor {
            core: Arc::new(Core {
                events: Mutex::new(Some(tx)),
                reporter: Mutex::new(None),
                presence: Mutex::new(None),
                presence_up: AtomicBool::new(false),
                presence_was_up: AtomicBool::new(false),
                default_ui: AtomicBool::new(true),
                presence_instance: presence::new_instance(),
                rt: rt.handle().clone(),
                state: Mutex::new(State {
                    config: None,
                    phase: Phase::Idle,
                    info: SessionInfo::default(),
                    cmds: None,
                    generation: 0,
                    upgrade_told: false,
                }),
                idle: Condvar::new(),
                source,
                masks: Arc::default(),
            }),
            rt: Some(rt),
            dispatcher_id: dispatcher.thread().id(),
            closed,
            dispatcher: Some(dispatcher),
        })
    }

    fn reject(&self, e: CallError) -> Result<(), CallError> {
        self.core.reject(e)
    }

    /// Fires EventInvalidParameter with `m` and returns the error.
    fn rejected(&self, m: String) -> CallError {
        let e = CallError::InvalidParameter(m);
        let _ = self.core.reject(e.clone());
        e
    }

    /// Fires EventInvalidParameter for an argument a binding rejected before calling in
    /// (NULL or non-UTF-8 strings), and returns the matching error.
    pub fn invalid_parameter(&self, message: impl Into<String>) -> CallError {
        let m = message.into();
        self.core
            .fire(Event::new(EventCode::InvalidParameter, m.clone()));
        CallError::InvalidParameter(m)
    }

    /// init: stores the configuration and fires EventVisitorInitialized. May be called again
    /// (e.g. after login with a visitor id, seed 002) while no session runs.
    pub fn init(&self, config: VisitorConfig) -> Result<(), CallError> {
        if let Err(m) = config.validate() {
            return self.reject(CallError::InvalidParameter(m));
        }
        {
            let mut st = self.core.state();
            if st.phase != Phase::Idle {
                drop(st);
                return self.reject(CallError::InvalidState(
                    "init cannot be called while a session is running".into(),
                ));
            }
            st.config = Some(config);
            st.upgrade_told = false;
        }
        self.core.fire(Event::new(
            EventCode::VisitorInitialized,
            "visitor initialized",
        ));
        Ok(())
    }

    /// defaultUI(enabled) (seed 002; also PresenceVisitor setDefaultUI): with it on (the
    /// default) the SDK shows the terms dialog itself when an agent asks to start
    /// (EventPresenceShowTerms) and a terms confirmation before StartSession when the group has
    /// a terms URL; off hands both to the application.
    pub fn set_default_ui(&self, enabled: bool) -> Result<(), CallError> {
        self.core.default_ui.store(enabled, Ordering::SeqCst);
        Ok(())
    }

    /// PresenceVisitor connect (seed 004): after EventVisitorInitialized with a visitor id.
    /// EventPresenceConnected follows (or EventPresenceConnectFail, retried with backoff, or
    /// EventPresenceNotConfigured). Calling it while connected does nothing.
    pub fn presence_connect(&self) -> Result<(), CallError> {
        let cfg = self.core.state().config.clone();
        let Some(cfg) = cfg else {
            return self.reject(CallError::InvalidState(
                "presence connect needs init first".into(),
            ));
        };
        let Some(id) = cfg.visitor_id().map(str::to_string) else {
            return self.reject(CallError::InvalidState(
                "presence connect needs a visitor id: call init with one first".into(),
            ));
        };
        let mut p = self.core.presence.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_some() {
            return Ok(());
        }
        let Some(rt) = self.rt.as_ref() else {
            return Err(CallError::Internal("the network runtime is gone".into()));
        };
        *p = Some(presence::spawn(rt.handle(), self.core.clone(), cfg, id));
        Ok(())
    }

    /// PresenceVisitor disconnect: EventPresenceDisconnected follows.
    pub fn presence_disconnect(&self) -> Result<(), CallError> {
        let sent = self
            .core
            .presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(PresenceCmd::Disconnect).is_ok());
        if sent {
            Ok(())
        } else {
            self.reject(CallError::InvalidState("presence is not connected".into()))
        }
    }

    /// Sends `v` if the presence socket is up; otherwise fires EventPresenceSendFail and
    /// queues nothing.
    fn presence_message(&self, v: serde_json::Value) -> Result<(), CallError> {
        if !(self.core.presence_up.load(Ordering::SeqCst) && self.core.presence_send(v)) {
            self.core.fire(Event::new(
                EventCode::PresenceSendFail,
                "not connected to the presence service",
            ));
        }
        Ok(())
    }

    /// PresenceVisitor presence(map): data for the agent's CRM (seed 004 limits, else
    /// EventInvalidParameter).
    pub fn presence_data(&self, props: &[(String, String)]) -> Result<(), CallError> {
        if let Err(m) = presence::check_presence(props) {
            return self.reject(CallError::InvalidParameter(m));
        }
        self.presence_message(
            serde_json::json!({"type": "presence", "data": presence::object(props)}),
        )
    }

    /// PresenceVisitor signalAgent(event, map): `terms` with a status, or a `c_` event;
    /// `confirm` with a `choice` property answers the agent's confirmation
    /// ([`GlanceVisitor::presence_confirm`]), so C and the bindings need no new call.
    pub fn presence_signal_agent(
        &self,
        event: &str,
        props: &[(String, String)],
    ) -> Result<(), CallError> {
        if event == "confirm" {
            let choice = props
                .iter()
                .find(|(k, _)| k == "choice")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            return self.presence_confirm(choice);
        }
        if let Err(m) = presence::check_signal(event, props) {
            return self.reject(CallError::InvalidParameter(m));
        }
        self.presence_message(serde_json::json!({
            "type": "signal_agent", "event": event, "data": presence::object(props)
        }))
    }

    /// Answers the agent's confirmation (EventPresenceSignal with `mtype=confirm` and its
    /// `choices`): the choice the visitor picked, as the agent read it out on the phone.
    pub fn presence_confirm(&self, choice: &str) -> Result<(), CallError> {
        if choice.is_empty() || choice.len() > 16 {
            return self.reject(CallError::InvalidParameter(
                "confirm needs a choice of 1 to 16 characters".into(),
            ));
        }
        self.presence_message(serde_json::json!({"type": "confirm_reply", "choice": choice}))
    }

    /// PresenceVisitor signalVisibility(visible): the agent sees hidden/visible.
    pub fn presence_signal_visibility(&self, visible: bool) -> Result<(), CallError> {
        self.presence_message(serde_json::json!({"type": "visibility", "visible": visible}))
    }

    /// StartSession(): the visitor id as key when init had one, else a random key.
    pub fn start_session(&self) -> Result<(), CallError> {
        self.start_session_params(StartParams::default())
    }

    /// StartSession(key): that key, or [`crate::GLANCE_KEYTYPE_RANDOM`].
    pub fn start_session_key(&self, key: &str) -> Result<(), CallError> {
        if key.is_empty() {
            return self.reject(CallError::InvalidParameter(
                "key must not be empty (pass GLANCE_KEYTYPE_RANDOM for a random key)".into(),
            ));
        }
        self.start_session_params(StartParams {
            key: key.to_string(),
            ..StartParams::default()
        })
    }

    /// StartSession(StartParams). Outcome: EventConnectedToSession, or EventStartSessionFailed
    /// then EventSessionEnded.
    pub fn start_session_params(&self, params: StartParams) -> Result<(), CallError> {
        if self.rt.is_none() {
            return self.reject(CallError::InvalidState(
                "the visitor is shutting down".into(),
            ));
        }
        self.core.start_session(params)
    }

    fn send(&self, what: &str, cmd: Command) -> Result<(), CallError> {
        let mut st = self.core.state();
        match (st.phase, &st.cmds) {
            (Phase::Starting | Phase::Active, Some(tx)) => {
                // The session task owns the receiver until it finishes (phase Idle).
                let _ = tx.send(cmd.clone());
                if let Command::End = cmd {
                    st.phase = Phase::Ending;
                }
                if let Command::Pause(p) = cmd {
                    st.info.is_paused = p;
                    st.info.is_showing = st.info.is_connected && !p;
                }
                // Consent withdrawn counts at once; enabling is recorded by the session once
                // the platform takes input and the service was told.
                if let Command::EnableRc(false) = cmd {
                    st.info.rc_enabled = false;
                }
                Ok(())
            }
            _ => {
                drop(st);
                self.reject(CallError::InvalidState(format!(
                    "{what} needs a running session"
                )))
            }
        }
    }

    /// EndSession: ends the session; EventSessionEnded (SessionEndReasonThisSide) follows.
    pub fn end_session(&self) -> Result<(), CallError> {
        self.send("EndSession", Command::End)
    }

    /// Pause(true) hides the screen from agents (they see a white paused screen); Pause(false)
    /// resumes.
    pub fn pause(&self, pause: bool) -> Result<(), CallError> {
        self.send("Pause", Command::Pause(pause))
    }

    /// EnableRC(enable): let agents whose role has the remote-control privilege drive this
    /// desktop's pointer and keyboard (true), or stop it (false: every held key and button is
    /// released). A group that does not allow remote control answers EventRCDisabled, and so
    /// does a platform that cannot inject input. SessionInfo.rcEnabled is true exactly while
    /// it is on.
    pub fn enable_rc(&self, enable: bool) -> Result<(), CallError> {
        self.send("EnableRC", Command::EnableRc(enable))
    }

    /// ShowDisplay(displayParams): share another display in the running session. Agents get
    /// a whole picture of it next.
    pub fn show_display(&self, params: DisplayParams) -> Result<(), CallError> {
        if let Err(m) = params.validate() {
            return self.reject(CallError::InvalidParameter(m));
        }
        let (desc, showing) = match crate::masking::resolve(&self.core.source, &params) {
            Ok(found) => found,
            Err(e) => {
                return self.reject(CallError::InvalidParameter(format!(
                    "displayName {:?} cannot be shown: {e}",
                    params.display_name
                )))
            }
        };
        let st = self.core.state();
        match (st.phase, &st.cmds) {
            (Phase::Active, Some(tx)) => {
                // Recorded before the session opens the display, so its mask stage knows.
                self.core.masks.set_shown(&desc.name, showing);
                self.core.masks.set_request(&params);
                let _ = tx.send(Command::Show(
                    desc,
                    crate::pipeline::scale::ScaleSpec::from_params(&params),
                ));
                Ok(())
            }
            _ => {
                drop(st);
                self.reject(CallError::InvalidState(
                    "ShowDisplay needs a connected session (wait for EventConnectedToSession)"
                        .into(),
                ))
            }
        }
    }

    /// Masks a rectangle of the virtual desktop (pixels, the union of all monitors as the OS
    /// reports them) in every session from now on, until [`GlanceVisitor::remove_mask`]:
    /// its pixels are replaced by a flat fill before anything is encoded. Returns the mask id.
    pub fn add_masked_rect(
        &self,
        x: i32,
        y: i32,
        width: i32,
        height: i32,
    ) -> Result<u32, CallError> {
        match crate::pipeline::mask::check_rect(x, y, width, height) {
            Ok(r) => Ok(self.core.masks.add(crate::pipeline::mask::Mask::Rect(r))),
            Err(m) => Err(self.rejected(format!("add_masked_rect: {m}"))),
        }
    }

    /// Masks a window by native handle (X11 Window, HWND, CGWindowID), following it as it
    /// moves, in every session until [`GlanceVisitor::remove_mask`]. The window must exist.
    pub fn add_masked_window(&self, native_window: u64) -> Result<u32, CallError> {
        match crate::masking::check_window(&self.core.source, native_window) {
            Ok(()) => Ok(self
                .core
                .masks
                .add(crate::pipeline::mask::Mask::Window(native_window))),
            Err(m) => Err(self.rejected(format!("add_masked_window: {m}"))),
        }
    }

    /// Removes a mask added by [`GlanceVisitor::add_masked_rect`] or
    /// [`GlanceVisitor::add_masked_window`].
    pub fn remove_mask(&self, mask_id: u32) -> Result<(), CallError> {
        if self.core.masks.remove(mask_id) {
            Ok(())
        } else {
            self.reject(CallError::InvalidParameter(format!(
                "remove_mask: mask_id {mask_id} is not a mask of this visitor"
            )))
        }
    }

    /// GetSessionInfo (call_id 0 when no session runs).
    pub fn session_info(&self) -> SessionInfo {
        self.core.state().info.clone()
    }

    fn displays(&self) -> Vec<DisplayDesc> {
        self.core.source.list().unwrap_or_default()
    }

    /// GetDisplayCount.
    pub fn display_count(&self) -> usize {
        self.displays().len()
    }

    /// GetMainMonitor: the primary monitor's index, or None without displays.
    pub fn main_monitor(&self) -> Option<usize> {
        let d = self.displays();
        d.iter()
            .position(|d| d.primary)
            .or(if d.is_empty() { None } else { Some(0) })
    }

    /// GetDisplayType(n).
    pub fn display_type(&self, n: usize) -> Result<DisplayKind, CallError> {
        match self.displays().get(n) {
            Some(d) => Ok(d.kind),
            None => self
                .reject(CallError::InvalidParameter(format!(
                    "display index {n} is out of range"
                )))
                .map(|_| DisplayKind::Monitor),
        }
    }

    /// GetDisplayName(n): pass it as DisplayParams.displayName.
    pub fn display_name(&self, n: usize) -> Result<String, CallError> {
        match self.displays().get(n) {
            Some(d) => Ok(d.name.clone()),
            None => self
                .reject(CallError::InvalidParameter(format!(
                    "display index {n} is out of range"
                )))
                .map(|_| String::new()),
        }
    }

    /// IdentifyMonitors: draws each display's number (index + 1) on it for a few seconds.
    /// Returns at once.
    pub fn identify_monitors(&self) -> Result<(), CallError> {
        match crate::capture::identify::identify(&self.core.source) {
            Ok(()) => Ok(()),
            Err(e) => self.reject(CallError::InvalidState(format!(
                "no display can be identified: {e}"
            ))),
        }
    }

    /// Waits (bounded) until no session runs; true if idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let st = self.core.state();
        let (st, _) = self
            .core
            .idle
            .wait_timeout_while(st, timeout, |s| s.phase != Phase::Idle)
            .unwrap_or_else(|p| p.into_inner());
        st.phase == Phase::Idle
    }
}

impl Drop for GlanceVisitor {
    fn drop(&mut self) {
        let running = self.core.state().phase != Phase::Idle;
        if running {
            let _ = self.end_session();
            self.wait_idle(Duration::from_secs(3));
        }
        if let Some(rt) = self.rt.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Dropped inside the application's own async code: a runtime may not be shut
                // down from there, so do it on a thread of its own.
                let _ =
                    std::thread::spawn(move || rt.shutdown_timeout(Duration::from_secs(2))).join();
            } else {
                rt.shutdown_timeout(Duration::from_secs(2));
            }
        }
        // Closing the channel lets the event thread drain what is queued and exit.
        self.core
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = self.dispatcher.take() {
            if std::thread::current().id() != self.dispatcher_id {
                let _ = h.join();
            } else {
                // Dropped inside a callback: no callback may run after this returns.
                self.closed.store(true, Ordering::SeqCst);
            }
        }
    }
}
