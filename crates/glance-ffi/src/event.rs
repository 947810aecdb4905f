//! GlanceEvent: an event as the C callback sees it, valid until the callback returns, and its
//! accessors.

use std::ffi::{c_char, c_void, CString};

use glance_visitor::{Event, EventType};

use crate::guard::guard;
use crate::strings::{borrow_str, to_cstring};
use crate::types::{GlanceEventCode, GlanceEventType};

/// Called on the SDK's event thread for every event, in order. `event` is valid until the
/// callback returns. The callback may call any glance_ function, including
/// glance_visitor_free.
pub type GlanceEventCallback =
    Option<unsafe extern "C" fn(event: *const GlanceEvent, user_data: *mut c_void)>;

/// An event (opaque; read it with the glance_event_ functions).
pub struct GlanceEvent {
    code: GlanceEventCode,
    kind: GlanceEventType,
    message: CString,
    names: Vec<CString>,
    values: Vec<CString>,
}

impl GlanceEvent {
    pub(crate) fn from_rust(e: &Event) -> GlanceEvent {
        GlanceEvent {
            code: GlanceEventCode::from_rust(e.code),
            kind: match e.event_type() {
                EventType::Assert => GlanceEventType::EventTypeAssert,
                EventType::Info => GlanceEventType::EventTypeInfo,
                EventType::Warning => GlanceEventType::EventTypeWarning,
                EventType::Error => GlanceEventType::EventTypeError,
            },
            message: to_cstring(&e.message),
            names: e.properties.iter().map(|(n, _)| to_cstring(n)).collect(),
            values: e.properties.iter().map(|(_, v)| to_cstring(v)).collect(),
        }
    }
}

/// # Safety
/// `e` is NULL or an event passed to the callback, during the callback.
unsafe fn ev<'a>(e: *const GlanceEvent) -> Option<&'a GlanceEvent> {
    // SAFETY: the caller passes the pointer it received in the callback, still valid.
    unsafe { e.as_ref() }
}

/// The event's code; EventNone for NULL.
#[no_mangle]
pub unsafe extern "C" fn glance_event_code(event: *const GlanceEvent) -> GlanceEventCode {
    // SAFETY: see ev().
    guard(GlanceEventCode::EventNone, || {
        unsafe { ev(event) }.map_or(GlanceEventCode::EventNone, |e| e.code)
    })
}

/// The event's type (Assert, Info, Warning, Error); Info for NULL.
#[no_mangle]
pub unsafe extern "C" fn glance_event_type(event: *const GlanceEvent) -> GlanceEventType {
    // SAFETY: see ev().
    guard(GlanceEventType::EventTypeInfo, || {
        unsafe { ev(event) }.map_or(GlanceEventType::EventTypeInfo, |e| e.kind)
    })
}

/// A human-readable message; "" for NULL. Valid until the callback returns.
#[no_mangle]
pub unsafe extern "C" fn glance_event_message(event: *const GlanceEvent) -> *const c_char {
    // SAFETY: see ev().
    guard(c"".as_ptr(), || {
        unsafe { ev(event) }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// How many properties the event has.
#[no_mangle]
pub unsafe extern "C" fn glance_event_property_count(event: *const GlanceEvent) -> usize {
    // SAFETY: see ev().
    guard(0, || unsafe { ev(event) }.map_or(0, |e| e.names.len()))
}

/// The name of property `i`, or NULL when out of range.
#[no_mangle]
pub unsafe extern "C" fn glance_event_property_name(
    event: *const GlanceEvent,
    i: usize,
) -> *const c_char {
    // SAFETY: see ev().
    guard(std::ptr::null(), || {
        unsafe { ev(event) }
            .and_then(|e| e.names.get(i))
            .map_or(std::ptr::null(), |n| n.as_ptr())
    })
}

/// The value of property `name`, or NULL when absent.
#[no_mangle]
pub unsafe extern "C" fn glance_event_property(
    event: *const GlanceEvent,
    name: *const c_char,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: see ev(); `name` is a caller-provided C string valid for the call.
        let (Some(e), Ok(name)) = (unsafe { ev(event) }, unsafe { borrow_str(name) }) else {
            return std::ptr::null();
        };
        e.names
            .iter()
            .position(|n| n.to_bytes() == name.as_bytes())
            .map_or(std::ptr::null(), |i| e.values[i].as_ptr())
    })
}

/// The seed's name of an event code, e.g. "EventConnectedToSession"; "EventNone" for 0 and
/// "EventUnknown" for a number no event has. Static: do not free.
#[no_mangle]
///
/// `code` is a GlanceEventCode; it is taken as a plain integer so that any value a C caller
/// passes is safe.
pub extern "C" fn glance_event_code_name(code: i32) -> *const c_char {
    guard(c"EventUnknown".as_ptr(), || {
        let n = code;
        static NAMES: std::sync::OnceLock<Vec<CString>> = std::sync::OnceLock::new();
        let names = NAMES.get_or_init(|| {
            glance_visitor::EventCode::ALL
                .iter()
                .map(|c| to_cstring(c.name()))
                .collect()
        });
        match n {
            0 => c"EventNone".as_ptr(),
            n => glance_visitor::EventCode::from_i32(n)
                .and_then(|c| names.get(c as usize - 1))
                .map_or(c"EventUnknown".as_ptr(), |s| s.as_ptr()),
        }
    })
}
