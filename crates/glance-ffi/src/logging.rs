//! Routing the SDK's log into the host application's log: `glance_set_log_callback`.
//!
//! The SDK logs through the `log` facade. The first call installs a forwarding logger for
//! the process; later calls swap the callback and the level. Messages at or below the level
//! reach the callback on whichever SDK thread logged them, one at a time.

use std::ffi::{c_char, c_void, CString};
use std::sync::{Mutex, OnceLock};

use crate::guard::{guard_result, GlanceResult};

/// Severity of a log message (the `log` crate's levels).
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlanceLogLevel {
    /// Nothing is logged.
    GLANCE_LOG_OFF = 0,
    GLANCE_LOG_ERROR = 1,
    GLANCE_LOG_WARN = 2,
    GLANCE_LOG_INFO = 3,
    GLANCE_LOG_DEBUG = 4,
    GLANCE_LOG_TRACE = 5,
}

/// Receives one log message: its level, the SDK module it comes from (`target`) and the
/// text, both UTF-8 and valid until the callback returns. Called on SDK threads, never two at
/// a time. It must not call glance_set_log_callback.
pub type GlanceLogCallback = Option<
    unsafe extern "C" fn(
        level: GlanceLogLevel,
        target: *const c_char,
        message: *const c_char,
        user_data: *mut c_void,
    ),
>;

#[derive(Clone, Copy)]
struct Sink {
    cb: unsafe extern "C" fn(GlanceLogLevel, *const c_char, *const c_char, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the application promises (in glance.h) that its callback and user_data may be used
// from SDK threads; the pointer is only handed back to that callback.
unsafe impl Send for Sink {}

/// The current sink; the mutex also serializes calls into it.
static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

struct Forwarder;

fn level_of(l: log::Level) -> GlanceLogLevel {
    match l {
        log::Level::Error => GlanceLogLevel::GLANCE_LOG_ERROR,
        log::Level::Warn => GlanceLogLevel::GLANCE_LOG_WARN,
        log::Level::Info => GlanceLogLevel::GLANCE_LOG_INFO,
        log::Level::Debug => GlanceLogLevel::GLANCE_LOG_DEBUG,
        log::Level::Trace => GlanceLogLevel::GLANCE_LOG_TRACE,
    }
}

/// A C string of `s`, with interior NULs replaced.
fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

impl log::Log for Forwarder {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = *sink else { return };
        let target = c_text(r.target());
        let message = c_text(&r.args().to_string());
        // SAFETY: the application's callback with NUL-terminated strings that live until it
        // returns and the user_data it registered. A panic cannot unwind out of a C function.
        unsafe {
            (s.cb)(
                level_of(r.level()),
                target.as_ptr(),
                message.as_ptr(),
                s.user_data,
            )
        };
    }

    fn flush(&self) {}
}

fn filter_of(l: GlanceLogLevel) -> log::LevelFilter {
    match l {
        GlanceLogLevel::GLANCE_LOG_OFF => log::LevelFilter::Off,
        GlanceLogLevel::GLANCE_LOG_ERROR => log::LevelFilter::Error,
        GlanceLogLevel::GLANCE_LOG_WARN => log::LevelFilter::Warn,
        GlanceLogLevel::GLANCE_LOG_INFO => log::LevelFilter::Info,
        GlanceLogLevel::GLANCE_LOG_DEBUG => log::LevelFilter::Debug,
        GlanceLogLevel::GLANCE_LOG_TRACE => log::LevelFilter::Trace,
    }
}

/// Sends the SDK's log messages up to `max_level` to `cb` (with `user_data`). NULL `cb` or
/// GLANCE_LOG_OFF stops logging. Returns GLANCE_ERROR_INVALID_PARAMETER for a level outside
/// the enum, GLANCE_ERROR_INTERNAL if the process already has another logger of the `log`
/// facade (a Rust host that set its own). May be called at any time, from any thread, but
/// not from inside the log callback.
#[no_mangle]
pub extern "C" fn glance_set_log_callback(
    cb: GlanceLogCallback,
    max_level: i32,
    user_data: *mut c_void,
) -> GlanceResult {
    guard_result(|| {
        let level = match max_level {
            0 => GlanceLogLevel::GLANCE_LOG_OFF,
            1 => GlanceLogLevel::GLANCE_LOG_ERROR,
            2 => GlanceLogLevel::GLANCE_LOG_WARN,
            3 => GlanceLogLevel::GLANCE_LOG_INFO,
            4 => GlanceLogLevel::GLANCE_LOG_DEBUG,
            5 => GlanceLogLevel::GLANCE_LOG_TRACE,
            _ => return GlanceResult::GLANCE_ERROR_INVALID_PARAMETER,
        };
        let installed = INSTALLED.get_or_init(|| {
            static FORWARDER: Forwarder = Forwarder;
            log::set_logger(&FORWARDER).map_err(|e| e.to_string())
        });
        if installed.is_err() {
            return GlanceResult::GLANCE_ERROR_INTERNAL;
        }
        let sink = cb.map(|cb| Sink { cb, user_data });
        *SINK.lock().unwrap_or_else(|p| p.into_inner()) = sink;
        log::set_max_level(if sink.is_some() {
            filter_of(level)
        } else {
            log::LevelFilter::Off
        });
        GlanceResult::GLANCE_OK
    })
}
