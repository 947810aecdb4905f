//! Result codes and the panic guard every entry point runs inside: no panic crosses the C ABI.

use std::panic::{catch_unwind, AssertUnwindSafe};

use glance_visitor::CallError;

/// 0 when a call is accepted; a negative code when it is rejected at once.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlanceResult {
    /// Accepted: the outcome arrives as events.
    GLANCE_OK = 0,
    /// A required pointer (handle, struct or string) was NULL.
    GLANCE_ERROR_NULL_ARGUMENT = -1,
    /// A string was not valid UTF-8 (EventInvalidParameter fired).
    GLANCE_ERROR_INVALID_UTF8 = -2,
    /// An argument was invalid (EventInvalidParameter fired).
    GLANCE_ERROR_INVALID_PARAMETER = -3,
    /// The call is not allowed now (EventInvalidState fired).
    GLANCE_ERROR_INVALID_STATE = -4,
    /// The handle is not a live visitor (freed, or never created by this library).
    GLANCE_ERROR_INVALID_HANDLE = -5,
    /// The library hit an internal error and caught it; the handle stays usable.
    GLANCE_ERROR_PANIC = -6,
    /// The library could not do what was asked (e.g. start a thread).
    GLANCE_ERROR_INTERNAL = -7,
}

impl From<CallError> for GlanceResult {
    fn from(e: CallError) -> Self {
        match e {
            CallError::InvalidParameter(_) => GlanceResult::GLANCE_ERROR_INVALID_PARAMETER,
            CallError::InvalidState(_) => GlanceResult::GLANCE_ERROR_INVALID_STATE,
            CallError::Internal(_) => GlanceResult::GLANCE_ERROR_INTERNAL,
        }
    }
}

impl From<Result<(), CallError>> for GlanceResult {
    fn from(r: Result<(), CallError>) -> Self {
        match r {
            Ok(()) => GlanceResult::GLANCE_OK,
            Err(e) => e.into(),
        }
    }
}

/// Runs `f`, turning a panic into `on_panic`.
pub fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!("caught a panic at the C boundary: {what}");
            on_panic
        }
    }
}

/// Runs `f` for a call that returns a [`GlanceResult`].
pub fn guard_result(f: impl FnOnce() -> GlanceResult) -> GlanceResult {
    guard(GlanceResult::GLANCE_ERROR_PANIC, f)
}
