//! Windows' windows for the mask stage: EnumWindows lists the top-level windows top to bottom
//! (the Z order; reversed here to bottom first), the visible, not minimised, not cloaked ones
//! with their owning process (GetWindowThreadProcessId) and their visible bounds
//! (DwmGetWindowAttribute(DWMWA_EXTENDED_FRAME_BOUNDS): GetWindowRect would include the
//! invisible resize borders, letting a sliver of what lies below through), in virtual-screen
//! pixels (the process is per-monitor DPI aware).

use windows::core::BOOL;
use windows::Win32::Foundation::{HWND, LPARAM, RECT};
use windows::Win32::Graphics::Dwm::{
    DwmGetWindowAttribute, DWMWA_CLOAKED, DWMWA_EXTENDED_FRAME_BOUNDS,
};
use windows::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GetWindowRect, GetWindowThreadProcessId, IsIconic, IsWindow, IsWindowVisible,
};

use crate::{CaptureError, Rect, TopWindow, WindowSource};

/// The desktop's windows.
#[derive(Debug, Default)]
pub struct WindowsWindows {
    /// Scratch for EnumWindows: handles as integers (an HWND is a pointer, not Send).
    handles: Vec<isize>,
}

unsafe extern "system" fn collect(w: HWND, data: LPARAM) -> BOOL {
    // SAFETY: `data` is the `&mut Vec<isize>` that `stack` passed to EnumWindows, alive and
    // not otherwise borrowed for the whole enumeration.
    let v = unsafe { &mut *(data.0 as *mut Vec<isize>) };
    v.push(w.0 as isize);
    BOOL(1)
}

/// The visible bounds of `w`.
fn bounds(w: HWND) -> Option<Rect> {
    let mut r = RECT::default();
    // SAFETY: `r` is a RECT, the size passed; a stale handle makes the call fail, no more.
    let dwm = unsafe {
        DwmGetWindowAttribute(
            w,
            DWMWA_EXTENDED_FRAME_BOUNDS,
            &mut r as *mut RECT as *mut core::ffi::c_void,
            std::mem::size_of::<RECT>() as u32,
        )
    };
    if dwm.is_err() {
        // No DWM (Wine, old systems): the window rectangle.
        // SAFETY: `r` is a writable RECT.
        unsafe { GetWindowRect(w, &mut r) }.ok()?;
    }
    Some(Rect {
        x: r.left,
        y: r.top,
        w: (r.right - r.left).max(0) as u32,
        h: (r.bottom - r.top).max(0) as u32,
    })
}

/// Whether `w` is shown: visible, not minimised, not cloaked (another virtual desktop, a
/// suspended store app).
fn shown(w: HWND) -> bool {
    // SAFETY: plain queries on a window handle; a stale one answers false.
    if !unsafe { IsWindowVisible(w) }.as_bool() || unsafe { IsIconic(w) }.as_bool() {
        return false;
    }
    let mut cloaked: u32 = 0;
    // SAFETY: `cloaked` is a u32, the size passed.
    let r = unsafe {
        DwmGetWindowAttribute(
            w,
            DWMWA_CLOAKED,
            &mut cloaked as *mut u32 as *mut core::ffi::c_void,
            4,
        )
    };
    r.is_err() || cloaked == 0
}

impl WindowSource for WindowsWindows {
    fn stack(&mut self, out: &mut Vec<TopWindow>) -> Result<(), CaptureError> {
        out.clear();
        self.handles.clear();
        // SAFETY: `collect` only pushes into the Vec passed as LPARAM, which outlives the call.
        unsafe {
            EnumWindows(
                Some(collect),
                LPARAM(&mut self.handles as *mut Vec<isize> as isize),
            )
        }
        .map_err(|e| CaptureError::Capture(format!("EnumWindows: {e}")))?;
        // EnumWindows goes top to bottom; the stack is bottom first.
        for &h in self.handles.iter().rev() {
            let w = HWND(h as *mut core::ffi::c_void);
            if !shown(w) {
                continue;
            }
            let Some(rect) = bounds(w) else { continue };
            let mut pid = 0u32;
            // SAFETY: `pid` is a writable u32.
            unsafe { GetWindowThreadProcessId(w, Some(&mut pid)) };
            out.push(TopWindow {
                id: w.0 as usize as u64,
                rect,
                pid: (pid != 0).then_some(pid),
            });
        }
        Ok(())
    }

    fn window_rect(&mut self, id: u64) -> Result<Option<Rect>, CaptureError> {
        let w = HWND(id as usize as *mut core::ffi::c_void);
        // SAFETY: IsWindow accepts any value and says whether it is a window now.
        if id == 0 || !unsafe { IsWindow(Some(w)) }.as_bool() {
            return Ok(None);
        }
        if !shown(w) {
            return Ok(Some(Rect::default()));
        }
        Ok(bounds(w).or(Some(Rect::default())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_windows_bottom_first_and_refuses_unknown_handles() {
        let mut ws = WindowsWindows::default();
        let mut out = Vec::new();
        ws.stack(&mut out).unwrap();
        for t in &out {
            assert!(t.pid.is_some(), "{t:?}");
            assert!(ws.window_rect(t.id).unwrap().is_some(), "{t:?}");
        }
        assert_eq!(ws.window_rect(0).unwrap(), None);
        assert_eq!(ws.window_rect(0x7fff_fff0).unwrap(), None);
    }
}
