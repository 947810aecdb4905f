//! IdentifyMonitors on Windows: one topmost, click-through, layered popup a monitor
//! (WS_EX_LAYERED | WS_EX_TRANSPARENT | WS_EX_TOPMOST | WS_EX_TOOLWINDOW | WS_EX_NOACTIVATE:
//! no taskbar button, never takes focus or clicks) showing the monitor's number as
//! seven-segment bars ([`crate::identify::number_bars`]), on a thread of its own with a
//! message loop, for [`crate::identify::IDENTIFY_DURATION`].

use windows::core::w;
use windows::Win32::Foundation::{COLORREF, HWND, LPARAM, LRESULT, RECT, WPARAM};
use windows::Win32::Graphics::Gdi::{
    BeginPaint, CreateSolidBrush, DeleteObject, EndPaint, FillRect, PAINTSTRUCT,
};
use windows::Win32::System::LibraryLoader::GetModuleHandleW;
use windows::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DestroyWindow, DispatchMessageW, GetMessageW,
    GetWindowLongPtrW, KillTimer, RegisterClassW, SetLayeredWindowAttributes, SetTimer,
    SetWindowLongPtrW, ShowWindow, TranslateMessage, GWLP_USERDATA, LWA_ALPHA, MSG,
    SW_SHOWNOACTIVATE, WM_PAINT, WM_TIMER, WNDCLASSW, WS_EX_LAYERED, WS_EX_NOACTIVATE,
    WS_EX_TOOLWINDOW, WS_EX_TOPMOST, WS_EX_TRANSPARENT, WS_POPUP,
};

use crate::{CaptureError, DisplayDesc};

const BOX_W: i32 = 220;
const BOX_H: i32 = 180;

unsafe extern "system" fn wndproc(hwnd: HWND, msg: u32, wp: WPARAM, lp: LPARAM) -> LRESULT {
    if msg == WM_PAINT {
        let mut ps = PAINTSTRUCT::default();
        // SAFETY: painting our own window inside WM_PAINT, with the DC BeginPaint gives;
        // the brushes are created and deleted here.
        unsafe {
            let n = GetWindowLongPtrW(hwnd, GWLP_USERDATA) as usize;
            let dc = BeginPaint(hwnd, &mut ps);
            let bg = CreateSolidBrush(COLORREF(0x00202020));
            let fg = CreateSolidBrush(COLORREF(0x00FFFFFF));
            let whole = RECT {
                left: 0,
                top: 0,
                right: BOX_W,
                bottom: BOX_H,
            };
            FillRect(dc, &whole, bg);
            for (x, y, w, h) in crate::identify::number_bars(n.max(1)) {
                let r = RECT {
                    left: x as i32,
                    top: y as i32,
                    right: (x + w) as i32,
                    bottom: (y + h) as i32,
                };
                FillRect(dc, &r, fg);
            }
            let _ = DeleteObject(bg.into());
            let _ = DeleteObject(fg.into());
            let _ = EndPaint(hwnd, &ps);
        }
        return LRESULT(0);
    }
    // SAFETY: the default handling of every other message of our window.
    unsafe { DefWindowProcW(hwnd, msg, wp, lp) }
}

/// Creates the windows and runs their message loop until the deadline (on the calling thread).
fn show(monitors: &[DisplayDesc]) -> Result<(), CaptureError> {
    let class = w!("GlanceIdentifyMonitor");
    // SAFETY: the class points at a 'static name and a wndproc of the right signature; every
    // window is created, shown and destroyed on this thread, which pumps their messages.
    unsafe {
        let instance = GetModuleHandleW(None)
            .map_err(|e| CaptureError::Open(format!("GetModuleHandleW: {e}")))?;
        let wc = WNDCLASSW {
            lpfnWndProc: Some(wndproc),
            hInstance: instance.into(),
            lpszClassName: class,
            ..Default::default()
        };
        // 0 when already registered by an earlier IdentifyMonitors: fine
        RegisterClassW(&wc);
        let mut windows = Vec::new();
        for (i, m) in monitors.iter().enumerate() {
            let x = m.x as i32 + (m.width as i32 - BOX_W) / 2;
            let y = m.y as i32 + (m.height as i32 - BOX_H) / 2;
            let hwnd = CreateWindowExW(
                WS_EX_LAYERED
                    | WS_EX_TRANSPARENT
                    | WS_EX_TOPMOST
                    | WS_EX_TOOLWINDOW
                    | WS_EX_NOACTIVATE,
                class,
                w!("Glance"),
                WS_POPUP,
                x,
                y,
                BOX_W,
                BOX_H,
                None,
                None,
                Some(instance.into()),
                None,
            );
            let hwnd = match hwnd {
                Ok(h) => h,
                Err(e) => {
                    log::warn!("IdentifyMonitors window for {}: {e}", m.name);
                    continue;
                }
            };
            SetWindowLongPtrW(hwnd, GWLP_USERDATA, (i + 1) as isize);
            let _ = SetLayeredWindowAttributes(hwnd, COLORREF(0), 230, LWA_ALPHA);
            let _ = ShowWindow(hwnd, SW_SHOWNOACTIVATE);
            windows.push(hwnd);
        }
        if windows.is_empty() {
            return Err(CaptureError::Open(
                "no IdentifyMonitors window could be created".into(),
            ));
        }
        let ms = crate::identify::IDENTIFY_DURATION.as_millis() as u32;
        let timer = SetTimer(None, 0, ms, None);
        let mut msg = MSG::default();
        while GetMessageW(&mut msg, None, 0, 0).as_bool() {
            if msg.message == WM_TIMER && msg.hwnd.is_invalid() && msg.wParam.0 == timer {
                break;
            }
            let _ = TranslateMessage(&msg);
            DispatchMessageW(&msg);
        }
        let _ = KillTimer(None, timer);
        for h in windows {
            let _ = DestroyWindow(h);
        }
    }
    Ok(())
}

/// Shows each monitor's number (index + 1) on a thread of its own; returns at once.
pub fn identify(monitors: Vec<DisplayDesc>) -> Result<(), CaptureError> {
    std::thread::Builder::new()
        .name("glance-identify".into())
        .spawn(move || {
            if let Err(e) = show(&monitors) {
                log::warn!("IdentifyMonitors: {e}");
            }
        })
        .map_err(|e| CaptureError::Open(e.to_string()))?;
    Ok(())
}
