//! The masking functions of the C ABI (../shared/design/C-API.md): glance_visitor_add_masked_rect,
//! glance_visitor_add_masked_window and glance_visitor_remove_mask. A masked area is replaced by
//! a flat fill before anything is encoded; masks belong to the visitor and persist across
//! sessions until removed.

use crate::guard::GlanceResult;
use crate::handles::GlanceVisitor;
use crate::visitor::with_visitor;

/// Writes `id` through `out` (checked non-NULL by the caller).
///
/// # Safety
/// `out` points to a writable uint32_t.
unsafe fn put(out: *mut u32, id: u32) {
    // SAFETY: forwarded contract.
    unsafe { out.write(id) }
}

/// Masks the rectangle `x, y, width, height` of the virtual desktop (pixels, the union of all
/// monitors as the OS reports them) in every session until glance_visitor_remove_mask; its id
/// goes to `*out_mask_id`. Zero or negative sizes and absurd coordinates:
/// EventInvalidParameter naming the argument, nothing changes.
///
/// # Safety
/// `out_mask_id` is NULL (rejected) or points to a writable uint32_t.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_add_masked_rect(
    visitor: *mut GlanceVisitor,
    x: i32,
    y: i32,
    width: i32,
    height: i32,
    out_mask_id: *mut u32,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        if out_mask_id.is_null() {
            v.invalid_parameter("add_masked_rect: out_mask_id must not be NULL");
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        }
        match v.add_masked_rect(x, y, width, height) {
            Ok(id) => {
                // SAFETY: non-NULL, and the caller's contract.
                unsafe { put(out_mask_id, id) };
                GlanceResult::GLANCE_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// Masks a window by native handle (HWND, X11 Window, or macOS CGWindowID), following it as it
/// moves, in every session until glance_visitor_remove_mask; its id goes to `*out_mask_id`.
/// An unknown or destroyed window: EventInvalidParameter, nothing changes.
///
/// # Safety
/// `out_mask_id` is NULL (rejected) or points to a writable uint32_t.
#[no_mangle]
pub unsafe extern "C" fn glance_visitor_add_masked_window(
    visitor: *mut GlanceVisitor,
    native_window: u64,
    out_mask_id: *mut u32,
) -> GlanceResult {
    with_visitor(visitor, |v| {
        if out_mask_id.is_null() {
            v.invalid_parameter("add_masked_window: out_mask_id must not be NULL");
            return GlanceResult::GLANCE_ERROR_NULL_ARGUMENT;
        }
        match v.add_masked_window(native_window) {
            Ok(id) => {
                // SAFETY: non-NULL, and the caller's contract.
                unsafe { put(out_mask_id, id) };
                GlanceResult::GLANCE_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// Removes a mask; an unknown id: EventInvalidParameter, nothing changes.
#[no_mangle]
pub extern "C" fn glance_visitor_remove_mask(
    visitor: *mut GlanceVisitor,
    mask_id: u32,
) -> GlanceResult {
    with_visitor(visitor, |v| v.remove_mask(mask_id).into())
}
