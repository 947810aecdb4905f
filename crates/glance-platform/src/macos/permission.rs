//! The Screen Recording permission (macOS 10.15+, TCC service "ScreenCapture").
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! Apple's contract (CoreGraphics, CGWindow.h): `CGPreflightScreenCaptureAccess()` "checks
//! whether the current process already has screen capture access" without prompting;
//! `CGRequestScreenCaptureAccess()` "requests event listening access if absent, potentially
//! prompting" and returns at once with the current answer. A grant made in System Settings
//! usually takes effect only after the application is relaunched. Without the permission,
//! ScreenCaptureKit either fails (SCStreamErrorUserDeclined) or delivers frames holding only the
//! desktop wallpaper and the menu bar; this backend never lets it get that far: every capture
//! open checks here first and fails with [`CaptureError::Unsupported`] whose text starts with
//! `"permission: "`.

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
    // Safe wrappers: both functions take no arguments and only read (or request) the TCC
    // state of the calling process; available since macOS 10.15.
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
