//! The Screen Recording permission (macOS 10.15+, TCC service "ScreenCapture").
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! Apple's contract (CoreGraphics, CGWindow.h; macOS 10.15+, in practice 11.0+):
//! `CGPreflightScreenCaptureAccess()` tells whether the calling process may already capture
//! the screen, and never prompts. `CGRequestScreenCaptureAccess()` asks for the permission when
//! the process lacks it: the system shows its prompt, or points the user to System Settings.
//! It returns at once with the same answer the preflight call would give. A grant made in
//! System Settings usually takes effect only after the application is relaunched. This backend
//! never starts a stream without the permission: every capture open checks here first. When
//! the permission is missing, the open fails with [`CaptureError::Unsupported`], and its text
//! starts with `"permission: "`.

use std::sync::atomic::{AtomicBool, Ordering};

use objc2_core_graphics::{CGPreflightScreenCaptureAccess, CGRequestScreenCaptureAccess};

use crate::CaptureError;

/// Set once this process has asked (the system prompt is shown at most once a process).
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The prefix of every permission error's text (the SDK maps it to `error=permission`).
pub const PERMISSION_PREFIX: &str = "permission: ";

/// The error for a missing Screen Recording permission.
pub fn denied() -> CaptureError {
    CaptureError::Unsupported(format!(
        "{PERMISSION_PREFIX}this application may not record the screen; allow it in System \
         Settings > Privacy & Security > Screen Recording, then quit and reopen it"
    ))
}

/// Ok when the process may capture the screen. The first call that finds the permission
/// missing asks for it (the system shows its prompt); later calls only check again.
pub fn ensure_screen_capture() -> Result<(), CaptureError> {
    // Safe wrappers (no unsafe needed): neither function takes arguments; both read (the
    // request also asks for) the calling process's Screen Recording (TCC) state.
    if CGPreflightScreenCaptureAccess() {
        return Ok(());
    }
    if !REQUESTED.swap(true, Ordering::AcqRel) && CGRequestScreenCaptureAccess() {
        return Ok(());
    }
    log::warn!("macOS: Screen Recording permission is not granted");
    Err(denied())
}

/// Whether `e` is the permission error of this module.
pub fn is_permission_error(e: &CaptureError) -> bool {
    matches!(e, CaptureError::Unsupported(m) if m.starts_with(PERMISSION_PREFIX))
}
