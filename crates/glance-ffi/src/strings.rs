//! Strings across the boundary: borrowed UTF-8 in, owned out (freed with
//! `glance_string_free`), and the library version.

use std::ffi::{c_char, CStr, CString};

use crate::guard::guard;

/// Why a C string could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrError {
    Null,
    Utf8,
}

/// Borrows a C string as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn borrow_str<'a>(p: *const c_char) -> Result<&'a str, StrError> {
    if p.is_null() {
        return Err(StrError::Null);
    }
    // SAFETY: the caller guarantees `p` is a valid NUL-terminated string for this call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| StrError::Utf8)
}

/// Like [`borrow_str`], with NULL read as "".
///
/// # Safety
/// As for [`borrow_str`].
pub(crate) unsafe fn borrow_opt_str<'a>(p: *const c_char) -> Result<&'a str, StrError> {
    if p.is_null() {
        return Ok("");
    }
    // SAFETY: forwarded contract.
    unsafe { borrow_str(p) }
}

/// A CString from Rust text; interior NULs (never expected) are dropped rather than failing.
pub(crate) fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Frees a string returned by this library. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string returned by a `glance_` function and not freed before.
#[no_mangle]
pub unsafe extern "C" fn glance_string_free(s: *mut c_char) {
    guard((), || {
        if !s.is_null() {
            // SAFETY: `s` came from CString::into_raw in this library (caller's contract).
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// The library version, e.g. "0.1.0". Static: do not free.
#[no_mangle]
pub extern "C" fn glance_version() -> *const c_char {
    static V: &[u8] = concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes();
    V.as_ptr().cast()
}

/// Test-only: panics inside the library and returns GLANCE_ERROR_PANIC, proving that no panic
/// crosses the C boundary. Has no other effect.
#[no_mangle]
pub extern "C" fn glance_test_panic() -> crate::GlanceResult {
    crate::guard::guard_result(|| panic!("glance_test_panic: a deliberate panic"))
}
