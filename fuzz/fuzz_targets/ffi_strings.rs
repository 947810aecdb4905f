//! Owns the C ABI's string and parameter paths: the exported `glance_*` functions of libglance
//! called directly, as a C program calls them, with NUL-terminated strings of arbitrary bytes
//! (invalid UTF-8, over-long, NULL) inside `GlanceVisitorConfig`, `GlanceStartParams` and
//! `GlanceDisplayParams`, arbitrary numbers beside them, arbitrary handles, display indices
//! and event codes, and an arbitrary property name looked up on every event delivered.
//! Checks that each call answers exactly the result code the documented rules give
//! (computed here from the same bytes with the Rust validation), fires exactly one event of
//! the matching code (naming the argument that is not UTF-8), and that every string handed
//! back is valid NUL-terminated UTF-8.
//!
//! No call here can start a session: visitor B is never initialised, and visitor C is only
//! asked to start with parameters that its validation refuses; the display variables are
//! cleared so that no display is found.
//!
//! Input: a 24-byte header of numbers and flags, then up to 11 strings separated by NUL
//! bytes (a missing string, or one whose bit is set in the NULL mask, is passed as NULL).
#![no_main]

use std::ffi::{c_char, c_void, CStr};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use glance::handles::GlanceVisitor;
use glance::{
    glance_event_code, glance_event_code_name, glance_event_message, glance_event_property,
    glance_event_property_count, glance_event_property_name, glance_string_free,
    glance_visitor_get_display_name, glance_visitor_get_display_type,
    glance_visitor_get_session_info, glance_visitor_init, glance_visitor_new,
    glance_visitor_show_display, glance_visitor_start_session_key,
    glance_visitor_start_session_params, GlanceDisplayParams, GlanceDisplayType, GlanceEvent,
    GlanceEventCode, GlanceResult, GlanceSessionInfo, GlanceStartParams, GlanceVisitorConfig,
};
use glance_fuzz::Input;
use glance_visitor::{DisplayParams, StartParams, VisitorConfig};
use libfuzzer_sys::fuzz_target;

/// Where each visitor's events go (user_data is the index).
struct Seen {
    events: Mutex<Vec<(GlanceEventCode, String)>>,
    arrived: Condvar,
}

static SEEN: [Seen; 3] = [Seen::new(), Seen::new(), Seen::new()];

impl Seen {
    const fn new() -> Seen {
        Seen {
            events: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
        }
    }

    /// Waits until `n` events arrived, and takes them.
    fn take(&self, n: usize) -> Vec<(GlanceEventCode, String)> {
        let g = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, _) = self
            .arrived
            .wait_timeout_while(g, Duration::from_secs(20), |e| e.len() < n)
            .unwrap_or_else(|p| p.into_inner());
        assert_eq!(g.len(), n, "events fired: {:?}", *g);
        std::mem::take(&mut *g)
    }
}

/// The property name looked up on every event (NUL-terminated), or None for NULL.
static PROBE: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn c_str_ok(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the library hands out NUL-terminated strings valid during the callback.
    match unsafe { CStr::from_ptr(p) }.to_str() {
        Ok(s) => s.to_string(),
        Err(_) => panic!("the library returned a string that is not UTF-8"),
    }
}

unsafe extern "C" fn on_event(ev: *const GlanceEvent, user_data: *mut c_void) {
    let who = user_data as usize;
    // SAFETY (all calls): `ev` is the event passed to this callback, valid until it returns.
    let code = unsafe { glance_event_code(ev) };
    let message = c_str_ok(unsafe { glance_event_message(ev) });
    let n = unsafe { glance_event_property_count(ev) };
    let mut props = Vec::new();
    for i in 0..n {
        let name_ptr = unsafe { glance_event_property_name(ev, i) };
        let name = c_str_ok(name_ptr);
        let value = c_str_ok(unsafe { glance_event_property(ev, name_ptr) });
        props.push((name, value));
    }
    assert!(unsafe { glance_event_property_name(ev, n) }.is_null());
    let probe = PROBE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let found = match &probe {
        Some(b) => unsafe { glance_event_property(ev, b.as_ptr().cast()) },
        None => unsafe { glance_event_property(ev, std::ptr::null()) },
    };
    match &probe {
        Some(b) if !found.is_null() => {
            let name = &b[..b.len() - 1];
            let v = c_str_ok(found);
            assert!(props.iter().any(|(n, pv)| n.as_bytes() == name && *pv == v));
        }
        _ => {
            // Absent names and NULL find nothing; a name that is present is found.
            if let Some(b) = &probe {
                let name = &b[..b.len() - 1];
                assert!(!props.iter().any(|(n, _)| n.as_bytes() == name));
            }
            assert!(found.is_null() || probe.is_some());
        }
    }
    let s = &SEEN[who];
    s.events
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((code, message));
    s.arrived.notify_all();
}

/// Handles of the three visitors, created once.
struct Visitors {
    a: usize,
    b: usize,
    c: usize,
}

const SAFE_SERVICE: &CStr = c"https://127.0.0.1:9";

fn visitors() -> &'static Visitors {
    static V: OnceLock<Visitors> = OnceLock::new();
    V.get_or_init(|| {
        // No display can be found: nothing is captured, no X server is contacted.
        std::env::remove_var("DISPLAY");
        std::env::remove_var("GLANCE_SYNTHETIC_DISPLAY");
        let new = |i: usize| {
            let h = glance_visitor_new(Some(on_event), i as *mut c_void);
            assert!(!h.is_null());
            h as usize
        };
        let v = Visitors {
            a: new(0),
            b: new(1),
            c: new(2),
        };
        let cfg = GlanceVisitorConfig {
            group_id: 1,
            token: std::ptr::null(),
            name: std::ptr::null(),
            email: std::ptr::null(),
            phone: std::ptr::null(),
            visitor_id: std::ptr::null(),
            service_url: SAFE_SERVICE.as_ptr(),
            ca_cert_path: std::ptr::null(),
        };
        // SAFETY: a live handle and a config whose strings are static.
        let r = unsafe { glance_visitor_init(v.c as *mut GlanceVisitor, &cfg) };
        assert_eq!(r, GlanceResult::GLANCE_OK);
        let _ = SEEN[2].take(1);
        v
    })
}

fn safe_config() -> VisitorConfig {
    VisitorConfig {
        group_id: 1,
        service_url: Some(SAFE_SERVICE.to_string_lossy().into_owned()),
        ..VisitorConfig::default()
    }
}

const NAMES: [&str; 11] = [
    "token",
    "name",
    "email",
    "phone",
    "visitor_id",
    "service_url",
    "ca_cert_path",
    "key",
    "display_params.display_name",
    "display_params.application",
    "probe",
];

/// The strings of one input: NUL-terminated bytes, or None for NULL.
struct Strings(Vec<Option<Vec<u8>>>);

impl Strings {
    fn ptr(&self, i: usize) -> *const c_char {
        self.0[i]
            .as_ref()
            .map_or(std::ptr::null(), |b| b.as_ptr().cast())
    }

    /// What the library reads: NULL is `Ok(None)`, bad UTF-8 is `Err`.
    fn read(&self, i: usize) -> Result<Option<&str>, &'static str> {
        match &self.0[i] {
            None => Ok(None),
            Some(b) => std::str::from_utf8(&b[..b.len() - 1])
                .map(Some)
                .map_err(|_| NAMES[i]),
        }
    }

    /// Reads an optional argument (NULL is "").
    fn opt(&self, i: usize) -> Result<String, &'static str> {
        Ok(self.read(i)?.unwrap_or_default().to_string())
    }
}

fn utf8_event(arg: &str) -> (GlanceEventCode, String) {
    (
        GlanceEventCode::EventInvalidParameter,
        format!("{arg} is not valid UTF-8"),
    )
}

fn check_events(who: usize, want: &[(GlanceEventCode, Option<String>)]) {
    let got = SEEN[who].take(want.len());
    for ((code, msg), (wcode, wmsg)) in got.iter().zip(want) {
        assert_eq!(code, wcode, "event {msg:?}");
        if let Some(w) = wmsg {
            assert_eq!(msg, w);
        }
    }
}

fn code_of(r: GlanceResult) -> GlanceEventCode {
    match r {
        GlanceResult::GLANCE_OK => GlanceEventCode::EventVisitorInitialized,
        GlanceResult::GLANCE_ERROR_INVALID_STATE => GlanceEventCode::EventInvalidState,
        _ => GlanceEventCode::EventInvalidParameter,
    }
}

fuzz_target!(|data: &[u8]| {
    let v = visitors();
    let mut input = Input::new(data);
    let group_id = input.u32() as i32;
    let scale = f32::from_bits(input.u32());
    let capture_width = input.u16() as i16 as i32;
    let capture_height = input.u16() as i16 as i32;
    let flags = input.u8();
    let null_mask = input.u16();
    let index = input.u16() as i16 as i32;
    let event_code = input.u32() as i32;
    let handle = input.u32() as usize;
    let max_guests = input.u8() as i8 as i32 * 16;
    let main_call_id = input.u8() as i8 as i64;
    let mut strings = Strings(Vec::new());
    let mut parts = input.rest().split(|&b| b == 0);
    for i in 0..NAMES.len() {
        let s = parts.next().map(|p| {
            let mut b = p.to_vec();
            b.push(0);
            b
        });
        strings
            .0
            .push(if null_mask & (1 << i) != 0 { None } else { s });
    }
    *PROBE.lock().unwrap_or_else(|p| p.into_inner()) = strings.0[10].clone();

    // ----- init on A: any bytes in every field of GlanceVisitorConfig -----
    let cfg = GlanceVisitorConfig {
        group_id,
        token: strings.ptr(0),
        name: strings.ptr(1),
        email: strings.ptr(2),
        phone: strings.ptr(3),
        visitor_id: strings.ptr(4),
        service_url: strings.ptr(5),
        ca_cert_path: strings.ptr(6),
    };
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let want = (|| {
        Ok::<_, &'static str>(VisitorConfig {
            group_id,
            token: strings.opt(0)?,
            name: strings.opt(1)?,
            email: strings.opt(2)?,
            phone: strings.opt(3)?,
            visitor_id: opt(strings.opt(4)?),
            service_url: opt(strings.opt(5)?),
            ca_cert_path: opt(strings.opt(6)?).map(PathBuf::from),
        })
    })();
    // SAFETY: a live handle; the strings are NULL or NUL-terminated and outlive the call.
    let r = unsafe { glance_visitor_init(v.a as *mut GlanceVisitor, &cfg) };
    let ev = match want {
        Err(arg) => {
            assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_UTF8);
            let (c, m) = utf8_event(arg);
            (c, Some(m))
        }
        Ok(c) => {
            let want_r = match c.validate() {
                Ok(()) => GlanceResult::GLANCE_OK,
                Err(_) => GlanceResult::GLANCE_ERROR_INVALID_PARAMETER,
            };
            assert_eq!(r, want_r);
            (code_of(r), c.validate().err())
        }
    };
    check_events(0, &[ev]);

    // ----- B (never initialised): StartSession(key), StartSession(params), ShowDisplay -----
    let mut b_events = Vec::new();
    // SAFETY (every call on B and C below): a live handle, strings NULL or NUL-terminated.
    let r = unsafe { glance_visitor_start_session_key(v.b as *mut GlanceVisitor, strings.ptr(7)) };
    match strings.read(7) {
        Ok(None) => assert_eq!(r, GlanceResult::GLANCE_ERROR_NULL_ARGUMENT),
        Err(_) => assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_UTF8),
        Ok(Some("")) => assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_PARAMETER),
        Ok(Some(_)) => assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_STATE),
    }
    b_events.push((code_of(r), None));

    let display = GlanceDisplayParams {
        display_name: strings.ptr(8),
        scale,
        capture_width,
        capture_height,
        video: flags & 1 != 0,
        application: strings.ptr(9),
    };
    let params = GlanceStartParams {
        main_call_id,
        max_guests,
        key: strings.ptr(7),
        display_params: display,
        force_tunnel: flags & 2 != 0,
        report_errors: flags & 4 != 0,
        persist: flags & 8 != 0,
        paused: flags & 16 != 0,
        presence_start: flags & 32 != 0,
    };
    let rust_display = (|| {
        Ok::<_, &'static str>(DisplayParams {
            display_name: strings.opt(8)?,
            scale,
            capture_width,
            capture_height,
            video: display.video,
            application: strings.opt(9)?,
        })
    })();
    let rust_params = strings.opt(7).and_then(|key| {
        Ok(StartParams {
            main_call_id: main_call_id as u64,
            max_guests: max_guests as u32,
            key,
            display_params: rust_display.clone()?,
            force_tunnel: params.force_tunnel,
            report_errors: params.report_errors,
            persist: params.persist,
            paused: params.paused,
            presence_start: params.presence_start,
        })
    });
    let negative = main_call_id < 0 || max_guests < 0;
    let r = unsafe { glance_visitor_start_session_params(v.b as *mut GlanceVisitor, &params) };
    let want_r = match &rust_params {
        _ if negative => GlanceResult::GLANCE_ERROR_INVALID_PARAMETER,
        Err(_) => GlanceResult::GLANCE_ERROR_INVALID_UTF8,
        Ok(_) => GlanceResult::GLANCE_ERROR_INVALID_STATE,
    };
    assert_eq!(r, want_r);
    b_events.push((
        code_of(r),
        match &rust_params {
            Err(arg) if !negative => Some(utf8_event(arg).1),
            _ => None,
        },
    ));

    let r = unsafe { glance_visitor_show_display(v.b as *mut GlanceVisitor, &display) };
    match &rust_display {
        Err(_) => assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_UTF8),
        Ok(d) if d.validate().is_err() => {
            assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_PARAMETER)
        }
        // No display exists: the name cannot be shown.
        Ok(_) => assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_PARAMETER),
    }
    b_events.push((code_of(r), None));

    // Display queries with any index: no display exists, so each is refused with an event.
    let name = glance_visitor_get_display_name(v.b as *mut GlanceVisitor, index);
    assert!(name.is_null());
    // SAFETY: NULL is a no-op.
    unsafe { glance_string_free(name) };
    b_events.push((GlanceEventCode::EventInvalidParameter, None));
    assert_eq!(
        glance_visitor_get_display_type(v.b as *mut GlanceVisitor, index),
        GlanceDisplayType::GLANCE_DISPLAY_NONE
    );
    b_events.push((GlanceEventCode::EventInvalidParameter, None));
    let mut info = std::mem::MaybeUninit::<GlanceSessionInfo>::uninit();
    let r =
        unsafe { glance_visitor_get_session_info(v.b as *mut GlanceVisitor, info.as_mut_ptr()) };
    assert_eq!(r, GlanceResult::GLANCE_OK);
    // SAFETY: GLANCE_OK means the struct was written.
    let info = unsafe { info.assume_init() };
    assert_eq!(info.call_id, 0);
    for f in [
        &info.key[..],
        &info.glance_address[..],
        &info.host_name[..],
        &info.display_name[..],
    ] {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        assert!(bytes.len() < f.len() && std::str::from_utf8(&bytes).is_ok());
    }
    check_events(1, &b_events);

    // ----- C (initialised): StartParams that its validation refuses -----
    let refused = match &rust_params {
        Err(_) => true,
        Ok(p) => negative || p.validate(&safe_config()).is_err(),
    };
    if refused {
        let r = unsafe { glance_visitor_start_session_params(v.c as *mut GlanceVisitor, &params) };
        let want_r = match &rust_params {
            _ if negative => GlanceResult::GLANCE_ERROR_INVALID_PARAMETER,
            Err(_) => GlanceResult::GLANCE_ERROR_INVALID_UTF8,
            Ok(_) => GlanceResult::GLANCE_ERROR_INVALID_PARAMETER,
        };
        assert_eq!(r, want_r);
        let msg = match &rust_params {
            Ok(p) if !negative => p.validate(&safe_config()).err(),
            _ => None,
        };
        check_events(2, &[(code_of(r), msg)]);
    }

    // ----- handles that are not live, event code names -----
    if ![0, v.a, v.b, v.c].contains(&handle) {
        let r = unsafe {
            glance_visitor_start_session_key(handle as *mut GlanceVisitor, strings.ptr(7))
        };
        assert_eq!(r, GlanceResult::GLANCE_ERROR_INVALID_HANDLE);
    }
    let r = unsafe { glance_visitor_init(std::ptr::null_mut(), &cfg) };
    assert_eq!(r, GlanceResult::GLANCE_ERROR_NULL_ARGUMENT);
    let name = c_str_ok(glance_event_code_name(event_code));
    assert!(name.starts_with("Event"));
});
