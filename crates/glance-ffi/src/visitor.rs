//! The glance_visitor_ functions: GlanceVisitor of seed 000 over the C ABI.

use std::ffi::{c_char, c_void};
use std::path::PathBuf;

use glance_visitor::{
    DisplayKind, DisplayParams, Event, GlanceVisitor as Visitor, SessionInfo, StartParams,
    VisitorConfig,
};

use crate::event::{GlanceEvent, GlanceEventCallback};
use crate::guard::{guard, guard_result, GlanceResult};
use crate::handles::{self, GlanceVisitor};
use crate::strings::{borrow_opt_str, borrow_str, to_cstring, StrError};
use crate::types::{
    GlanceDisplayParams, GlanceDisplayType, GlanceSessionInfo, GlanceStartParams,
    GlanceVisitorConfig, GLANCE_KEY_CAPACITY, GLANCE_TEXT_CAPACITY,
};

/// The application's callback and its user data, moved to the event thread.
struct Callback {
    cb: unsafe extern "C" fn(*const GlanceEvent, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the C API documents that the callback runs, with its user_data, on the SDK's event
// thread; by registering it the application states that this is allowed. The pointer is only
// passed back to the application, never dereferenced here.
unsafe impl Send for Callback {}

impl Callback {
    fn call(&self, e: &Event) {
        let ev = GlanceEvent::from_rust(e);
        // SAFETY: `cb` is the application's function pointer; `ev` lives until it returns.
        unsafe { (self.cb)(&ev, self.user_data) }
    }
}

/// Creates a visitor whose events go to `cb` (with `user_data`) on the SDK's event thread.
/// `cb` may be NULL (events are dropped). Returns NULL if the SDK's threads cannot start.
/// Free with glance_visitor_free.
#[no_mangle]
pub extern "C" fn glance_visitor_new(
    cb: GlanceEventCallback,
    user_data: *mut c_void,
) -> *mut GlanceVisitor {
    guard(std::ptr::null_mut(), || {
        let callback = cb.map(|cb| Callback { cb, user_data });
        let handler = move |e: &Event| {
            if let Some(c) = &callback {
                c.call(e);
            }
        };
        match Visitor::new(handler) {
            Ok(v) => {
                log::info!(
                    "libglance {}: visitor created",
                    crate::GLANCE_VERSION_STRING
                );
                handles::insert(v)
            }
            Err(e) => {
                log::error!("glance_visitor_new: {e}");
                std::ptr::null_mut()
            }
        }
    })
}

/// Ends any session (EventSessionEnded is delivered first), stops the SDK's threads and frees
/// the visitor. NULL or an already-freed handle is a no-op. May be called from the callback.
#[no_mangle]
pub extern "C" fn glance_visitor_free(visitor: *mut GlanceVisitor) {
    guard((), || {
        // Dropped here, or by the last call still using it on another thread.
        drop(handles::remove(visitor));
    })
}

/// Looks up the handle and runs `f` with it.
pub(crate) fn with_visitor(
    h: *const GlanceVisitor,
    f: impl FnOnce(&Visitor) -> GlanceResult,
) -> GlanceResult {
    guard_result(|| {
        if h.is_null() {
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        }
        match handles::get(h) {
            Some(v) => f(&v),
            None => GlanceResult::GLANCE_ERROR_INVALID_HANDLE,
        }
    })
}

/// Reads a string argument, firing EventInvalidParameter naming `arg` when it is unusable.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn arg<'a>(
    v: &Visitor,
    p: *const c_char,
    arg: &str,
    required: bool,
) -> Result<&'a str, GlanceResult> {
    // SAFETY: forwarded contract.
    let r = if required {
        unsafe { borrow_str(p) }
    } else {
        unsafe { borrow_opt_str(p) }
    };
    r.map_err(|e| match e {
        StrError::Null => {
            v.invalid_parameter(format!("{arg} must not be NULL"));
            GlanceResult::GLANCE_ERROR_NULL_ARGUMENT
        }
        StrError::Utf8 => {
            v.invalid_parameter(format!("{arg} is not valid UTF-8"));
            GlanceResult::GLANCE_ERROR_INVALID_UTF8
        }
    })
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// init: fires EventVisitorInitialized, or EventInvalidParameter naming the bad field. May be
/// called again with a visitor id after login (seed 002) while no session runs.
///
/// # Safety
/// `config` is NULL or points to a GlanceVisitorConfig whose strings are NULL or valid
/// NUL-terminated strings for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_init(
    visitor: *mut GlanceVisitor,
    config: *const GlanceVisitorConfig,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        // SAFETY: the caller guarantees `config` is NULL or valid for the call.
        let Some(c) = (unsafe { config.as_ref() }) else {
            v.invalid_parameter("config must not be NULL");
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        };
        // SAFETY (all `arg` calls): the struct's strings are NULL or valid for the call.
        let r = (|| {
            Ok::<_, GlanceResult>(VisitorConfig {
                group_id: c.group_id,
                token: unsafe { arg(v, c.token, "token", false) }?.to_string(),
                name: unsafe { arg(v, c.name, "name", false) }?.to_string(),
                email: unsafe { arg(v, c.email, "email", false) }?.to_string(),
                phone: unsafe { arg(v, c.phone, "phone", false) }?.to_string(),
                visitor_id: opt(unsafe { arg(v, c.visitor_id, "visitor_id", false) }?),
                service_url: opt(unsafe { arg(v, c.service_url, "service_url", false) }?),
                ca_cert_path: opt(unsafe { arg(v, c.ca_cert_path, "ca_cert_path", false) }?)
                    .map(PathBuf::from),
            })
        })();
        match r {
            Ok(cfg) => v.init(cfg).into(),
            Err(e) => e,
        }
    })
}

/// StartSession(): the visitor id as key when init had one, else a random key. Outcome:
/// EventConnectedToSession (property sessionkey) or EventStartSessionFailed.
#[no_mangle]
pub extern "C" fn glance_visitor_start_session(visitor: *mut GlanceVisitor) -> GlanceResult {
    with_visitor(visitor, |v| v.start_session().into())
}

/// StartSession(key): that key (visitor-id rules), or GLANCE_KEYTYPE_RANDOM.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string valid for the call.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_start_session_key(
    visitor: *mut GlanceVisitor,
    key: *const c_char,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        // SAFETY: caller's contract on `key`.
        match unsafe { arg(v, key, "key", true) } {
            Ok(k) => v.start_session_key(k).into(),
            Err(e) => e,
        }
    })
}

/// Fills `params` with the seed's defaults (everything 0/false/NULL, scale 1.0).
///
/// # Safety
/// `params` is NULL or points to writable memory for a GlanceStartParams.
#[no_mangle]
pub unsafe extern "C" fn glance_start_params_init(params: *mut GlanceStartParams) {
    guard((), || {
        if params.is_null() {
            return;
        }
        let d = GlanceStartParams {
            main_call_id: 0,
            max_guests: 0,
            key: std::ptr::null(),
            display_params: GlanceDisplayParams {
                display_name: std::ptr::null(),
                scale: 1.0,
                capture_width: 0,
                capture_height: 0,
                video: false,
                application: std::ptr::null(),
            },
            force_tunnel: false,
            report_errors: false,
            persist: false,
            paused: false,
            presence_start: false,
        };
        // SAFETY: `params` is non-NULL and writable (caller's contract); write() does not
        // read the possibly uninitialised old value.
        unsafe { params.write(d) }
    })
}

/// Converts C DisplayParams.
///
/// # Safety
/// The strings are NULL or valid for the call.
unsafe fn display_params(
    v: &Visitor,
    d: &GlanceDisplayParams,
) -> Result<DisplayParams, GlanceResult> {
    Ok(DisplayParams {
        // SAFETY: forwarded contract.
        display_name: unsafe { arg(v, d.display_name, "display_params.display_name", false) }?
            .to_string(),
        scale: d.scale,
        capture_width: d.capture_width,
        capture_height: d.capture_height,
        video: d.video,
        // SAFETY: forwarded contract.
        application: unsafe { arg(v, d.application, "display_params.application", false) }?
            .to_string(),
    })
}

/// StartSession(StartParams).
///
/// # Safety
/// `params` is NULL or points to an initialised GlanceStartParams whose strings are NULL or
/// valid for the call.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_start_session_params(
    visitor: *mut GlanceVisitor,
    params: *const GlanceStartParams,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        // SAFETY: caller's contract on `params`.
        let Some(p) = (unsafe { params.as_ref() }) else {
            v.invalid_parameter("params must not be NULL");
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        };
        if p.main_call_id < 0 || p.max_guests < 0 {
            return v
                .invalid_parameter("main_call_id and max_guests must not be negative")
                .into();
        }
        // SAFETY: the struct's strings are NULL or valid for the call.
        let key = match unsafe { arg(v, p.key, "key", false) } {
            Ok(k) => k.to_string(),
            Err(e) => return e,
        };
        // SAFETY: as above.
        let display_params = match unsafe { display_params(v, &p.display_params) } {
            Ok(d) => d,
            Err(e) => return e,
        };
        v.start_session_params(StartParams {
            main_call_id: p.main_call_id as u64,
            max_guests: p.max_guests as u32,
            key,
            display_params,
            force_tunnel: p.force_tunnel,
            report_errors: p.report_errors,
            persist: p.persist,
            paused: p.paused,
            presence_start: p.presence_start,
        })
        .into()
    })
}

/// ShowDisplay(displayParams): share another display in the running session (a name from
/// glance_visitor_get_display_name, or "main").
///
/// # Safety
/// `params` is NULL or points to a GlanceDisplayParams whose strings are NULL or valid for
/// the call.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_show_display(
    visitor: *mut GlanceVisitor,
    params: *const GlanceDisplayParams,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        // SAFETY: caller's contract on `params`.
        let Some(p) = (unsafe { params.as_ref() }) else {
            v.invalid_parameter("params must not be NULL");
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        };
        // SAFETY: the struct's strings are NULL or valid for the call.
        match unsafe { display_params(v, p) } {
            Ok(d) => v.show_display(d).into(),
            Err(e) => e,
        }
    })
}

/// EndSession: EventSessionEnded (SessionEndReasonThisSide) follows.
#[no_mangle]
pub extern "C" fn glance_visitor_end_session(visitor: *mut GlanceVisitor) -> GlanceResult {
    with_visitor(visitor, |v| v.end_session().into())
}

/// defaultUI(enabled) (seed 002): on (the default), the SDK shows the terms dialog itself when
/// an agent asks to start (EventPresenceShowTerms, property `defaultui`) and a terms
/// confirmation before StartSession when the group has a terms URL; off hands both to the
/// application.
#[no_mangle]
pub extern "C" fn glance_visitor_set_default_ui(
    visitor: *mut GlanceVisitor,
    enabled: bool,
) -> GlanceResult {
    with_visitor(visitor, |v| v.set_default_ui(enabled).into())
}

/// Pause(pause): agents see a white screen with a message while paused.
#[no_mangle]
pub extern "C" fn glance_visitor_pause(visitor: *mut GlanceVisitor, pause: bool) -> GlanceResult {
    with_visitor(visitor, |v| v.pause(pause).into())
}

/// EnableRC(enable): lets agents whose role has the remote-control privilege drive this
/// desktop's pointer and keyboard (true) or stops it (false; held keys and buttons are
/// released). EventRCDisabled when the group does not allow it or the platform cannot inject
/// input; GlanceSessionInfo.rc_enabled is true exactly while it is on. Needs a running
/// session (GLANCE_ERR_INVALID_STATE and EventInvalidState otherwise).
#[no_mangle]
pub extern "C" fn glance_visitor_enable_rc(
    visitor: *mut GlanceVisitor,
    enable: bool,
) -> GlanceResult {
    with_visitor(visitor, |v| v.enable_rc(enable).into())
}

fn copy_text<const N: usize>(dst: &mut [c_char; N], s: &str) {
    // Truncate on a character boundary so the C side always gets valid UTF-8.
    let mut end = s.len().min(N - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    for (d, b) in dst.iter_mut().zip(s.as_bytes()[..end].iter()) {
        *d = *b as c_char;
    }
    dst[end] = 0;
}

/// GetSessionInfo: fills `out` (call_id 0 when no session runs).
///
/// # Safety
/// `out` is NULL or points to writable memory for a GlanceSessionInfo.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_get_session_info(
    visitor: *mut GlanceVisitor,
    out: *mut GlanceSessionInfo,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        if out.is_null() {
            v.invalid_parameter("out must not be NULL");
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        }
        let i: SessionInfo = v.session_info();
        let mut c = GlanceSessionInfo {
            call_id: i.call_id as i64,
            n_guests: i.n_guests as i32,
            glance_address: [0; GLANCE_TEXT_CAPACITY],
            key: [0; GLANCE_KEY_CAPACITY],
            host_name: [0; GLANCE_TEXT_CAPACITY],
            rc_requested: i.rc_requested,
            is_guest: i.is_guest,
            is_reverse: i.is_reverse,
            rc_enabled: i.rc_enabled,
            sb_enabled: i.sb_enabled,
            gestures_enabled: i.gestures_enabled,
            is_paused: i.is_paused,
            is_connected: i.is_connected,
            is_showing: i.is_showing,
            is_viewing: i.is_viewing,
            display_name: [0; GLANCE_TEXT_CAPACITY],
        };
        copy_text(&mut c.glance_address, &i.glance_address);
        copy_text(&mut c.key, &i.key);
        copy_text(&mut c.host_name, &i.host_name);
        copy_text(&mut c.display_name, &i.display_name);
        // SAFETY: `out` is non-NULL and writable (caller's contract).
        unsafe { out.write(c) };
        GlanceResult::GLANCE_OK
    })
}

/// GetDisplayCount: the number of displays that can be shared (negative: a GlanceResult).
#[no_mangle]
pub extern "C" fn glance_visitor_get_display_count(visitor: *mut GlanceVisitor) -> i32 {
    let mut n = 0;
    let r = with_visitor(visitor, |v| {
        n = v.display_count() as i32;
        GlanceResult::GLANCE_OK
    });
    if r == GlanceResult::GLANCE_OK {
        n
    } else {
        r as i32
    }
}

/// GetMainMonitor: the primary monitor's index; -1 without displays (negative: an error).
#[no_mangle]
pub extern "C" fn glance_visitor_get_main_monitor(visitor: *mut GlanceVisitor) -> i32 {
    let mut n = -1;
    let r = with_visitor(visitor, |v| {
        n = v.main_monitor().map_or(-1, |m| m as i32);
        GlanceResult::GLANCE_OK
    });
    if r == GlanceResult::GLANCE_OK {
        n
    } else {
        r as i32
    }
}

fn index(v: &Visitor, n: i32) -> Option<usize> {
    if n < 0 {
        v.invalid_parameter(format!("display index {n} is out of range"));
        return None;
    }
    Some(n as usize)
}

/// IdentifyMonitors: draws each display's number (its index + 1) on it for a few seconds.
/// Returns at once; GLANCE_ERROR_INVALID_STATE (and EventInvalidState) when no display can be
/// reached.
#[no_mangle]
pub extern "C" fn glance_visitor_identify_monitors(visitor: *mut GlanceVisitor) -> GlanceResult {
    with_visitor(visitor, |v| v.identify_monitors().into())
}

/// GetDisplayType(n); GLANCE_DISPLAY_NONE (and EventInvalidParameter) for a bad index.
#[no_mangle]
pub extern "C" fn glance_visitor_get_display_type(
    visitor: *mut GlanceVisitor,
    n: i32,
) -> GlanceDisplayType {
    let mut t = GlanceDisplayType::GLANCE_DISPLAY_NONE;
    with_visitor(visitor, |v| {
        if let Some(Ok(k)) = index(v, n).map(|i| v.display_type(i)) {
            t = match k {
                DisplayKind::Monitor => GlanceDisplayType::GLANCE_DISPLAY_MONITOR,
                DisplayKind::Device => GlanceDisplayType::GLANCE_DISPLAY_DEVICE,
            };
        }
        GlanceResult::GLANCE_OK
    });
    t
}

/// GetDisplayName(n): free with glance_string_free. NULL (and EventInvalidParameter) for a bad
/// index.
#[no_mangle]
pub extern "C" fn glance_visitor_get_display_name(
    visitor: *mut GlanceVisitor,
    n: i32,
) -> *mut c_char {
    let mut out = std::ptr::null_mut();
    with_visitor(visitor, |v| {
        if let Some(Ok(name)) = index(v, n).map(|i| v.display_name(i)) {
            out = to_cstring(&name).into_raw();
        }
        GlanceResult::GLANCE_OK
    });
    out
}
