//! One-Click Connect (seed 004) in the C ABI: `glance_presence_*` over the Rust
//! PresenceVisitor. Property maps arrive as arrays of [`GlanceProperty`].

use std::ffi::c_char;

use crate::guard::GlanceResult;
use crate::visitor::{arg, with_visitor};
use glance_visitor::GlanceVisitor as Visitor;

/// One name/value pair of a property map (seed 004 presence data, signalAgent properties).
/// Both are NUL-terminated UTF-8, borrowed for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GlanceProperty {
    pub name: *const c_char,
    pub value: *const c_char,
}

/// Largest array accepted (the seed allows 20 properties; more are an invalid parameter
/// reported by the SDK, but absurd counts are refused before reading them).
const MAX_PROPERTIES_READ: usize = 1024;

/// Reads `n` properties, firing EventInvalidParameter on a NULL array, name or value, or
/// invalid UTF-8.
///
/// # Safety
/// `props` is NULL or points to `n` readable `GlanceProperty` values whose strings are
/// NUL-terminated and valid for the call.
unsafe fn read_props(
    v: &Visitor,
    props: *const GlanceProperty,
    n: usize,
) -> Result<Vec<(String, String)>, GlanceResult> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if props.is_null() {
        v.invalid_parameter("props must not be NULL when n > 0");
        return Err(GlanceResult::GLANCE_ERROR_NULL_ARGUMENT);
    }
    if n > MAX_PROPERTIES_READ {
        v.invalid_parameter(format!("{n} properties; at most 20 are allowed"));
        return Err(GlanceResult::GLANCE_ERROR_INVALID_PARAMETER);
    }
    // SAFETY: the caller promises `n` readable elements at `props`.
    let slice = unsafe { std::slice::from_raw_parts(props, n) };
    let mut out = Vec::with_capacity(n);
    for (i, p) in slice.iter().enumerate() {
        // SAFETY: the caller's contract on each string.
        let name = unsafe { arg(v, p.name, &format!("props[{i}].name"), true) }?;
        // SAFETY: as above.
        let value = unsafe { arg(v, p.value, &format!("props[{i}].value"), true) }?;
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// PresenceVisitor connect: after EventVisitorInitialized with a visitor id (else
/// EventInvalidState). EventPresenceConnected follows, or EventPresenceConnectFail (retried
/// with backoff) or EventPresenceNotConfigured. Does nothing when already connected.
#[no_mangle]
pub extern "C" fn glance_presence_connect(
    visitor: *mut crate::handles::GlanceVisitor,
) -> GlanceResult {
    with_visitor(visitor, |v| v.presence_connect().into())
}

/// PresenceVisitor disconnect: EventPresenceDisconnected follows; EventInvalidState when not
/// connected.
#[no_mangle]
pub extern "C" fn glance_presence_disconnect(
    visitor: *mut crate::handles::GlanceVisitor,
) -> GlanceResult {
    with_visitor(visitor, |v| v.presence_disconnect().into())
}

/// presence(map): at most 20 properties, 2,000 characters each, 10,000 in all, names up to
/// 64 characters, custom names prefixed c_ (else EventInvalidParameter). While disconnected,
/// EventPresenceSendFail fires and nothing is queued.
///
/// # Safety
/// `props` is NULL (with `n` 0) or points to `n` properties valid for the call.
#[no_mangle]
pub unsafe extern "C" fn glance_presence_send(
    visitor: *mut crate::handles::GlanceVisitor,
    props: *const GlanceProperty,
    n: usize,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        // SAFETY: the caller's contract on `props`.
        match unsafe { read_props(v, props, n) } {
            Ok(p) => v.presence_data(&p).into(),
            Err(e) => e,
        }
    })
}

/// signalAgent(event, map): `"terms"` with `status` displayed/accepted/declined, or a custom
/// event prefixed c_. `"confirm"` with `choice` answers the agent's confirmation
/// (EventPresenceSignal `mtype=confirm`, docs/PRESENCE.md).
///
/// # Safety
/// `event` is a NUL-terminated string and `props` NULL (with `n` 0) or `n` properties, all
/// valid for the call.
#[no_mangle]
pub unsafe extern "C" fn glance_presence_signal_agent(
    visitor: *mut crate::handles::GlanceVisitor,
    event: *const c_char,
    props: *const GlanceProperty,
    n: usize,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        // SAFETY: the caller's contract on `event`.
        let event = match unsafe { arg(v, event, "event", true) } {
            Ok(e) => e,
            Err(e) => return e,
        };
        // SAFETY: the caller's contract on `props`.
        match unsafe { read_props(v, props, n) } {
            Ok(p) => v.presence_signal_agent(event, &p).into(),
            Err(e) => e,
        }
    })
}

/// signalVisibility(visible): the agent is told the application is hidden or visible.
#[no_mangle]
pub extern "C" fn glance_presence_signal_visibility(
    visitor: *mut crate::handles::GlanceVisitor,
    visible: bool,
) -> GlanceResult {
    with_visitor(visitor, |v| v.presence_signal_visibility(visible).into())
}

/// PresenceVisitor setDefaultUI(enabled): the same switch as glance_visitor_set_default_ui.
#[no_mangle]
pub extern "C" fn glance_presence_set_default_ui(
    visitor: *mut crate::handles::GlanceVisitor,
    enabled: bool,
) -> GlanceResult {
    with_visitor(visitor, |v| v.set_default_ui(enabled).into())
}
