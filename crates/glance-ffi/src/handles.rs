//! The handle registry. A `GlanceVisitor *` is an opaque token, never dereferenced: calls look
//! the token up and hold a reference for their duration, so a handle freed on another thread
//! (or a stale or foreign pointer) gives GLANCE_ERROR_INVALID_HANDLE instead of a crash, and
//! the visitor is destroyed when the last call using it returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use glance_visitor::GlanceVisitor as Visitor;

/// Opaque handle type of the C API (never dereferenced; see the module doc).
pub struct GlanceVisitor {
    _private: [u8; 0],
}

fn registry() -> MutexGuard<'static, HashMap<usize, Arc<Visitor>>> {
    static R: OnceLock<Mutex<HashMap<usize, Arc<Visitor>>>> = OnceLock::new();
    R.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Tokens are never reused; they are multiples of 16 so that they look like aligned pointers.
static NEXT: AtomicUsize = AtomicUsize::new(1);

/// Registers a visitor and returns its handle.
pub fn insert(v: Visitor) -> *mut GlanceVisitor {
    let token = NEXT.fetch_add(1, Ordering::Relaxed) << 4;
    registry().insert(token, Arc::new(v));
    token as *mut GlanceVisitor
}

/// The visitor behind `h`, if it is live.
pub fn get(h: *const GlanceVisitor) -> Option<Arc<Visitor>> {
    if h.is_null() {
        return None;
    }
    registry().get(&(h as usize)).cloned()
}

/// Unregisters `h`; the visitor is dropped when the last user lets go.
pub fn remove(h: *const GlanceVisitor) -> Option<Arc<Visitor>> {
    registry().remove(&(h as usize))
}
