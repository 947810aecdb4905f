//! Windows monitors: EnumDisplayMonitors + GetMonitorInfoW. A monitor's name is its GDI
//! device name (`\\.\DISPLAY1`, what GetMonitorInfoW and DXGI's output description report),
//! its bounds are `rcMonitor` in virtual-screen pixels. The process is made per-monitor DPI
//! aware (V2) once, before the first enumeration, so bounds, capture and the pointer are all
//! in physical pixels.

use std::sync::Once;

use windows::core::BOOL;
use windows::Win32::Foundation::{LPARAM, RECT};
use windows::Win32::Graphics::Gdi::{
    EnumDisplayMonitors, GetMonitorInfoW, HDC, HMONITOR, MONITORINFO, MONITORINFOEXW,
};
use windows::Win32::UI::HiDpi::{
    SetProcessDpiAwarenessContext, DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2,
};
use windows::Win32::UI::WindowsAndMessaging::MONITORINFOF_PRIMARY;

use crate::{CaptureError, DisplayDesc, DisplayKind};

/// Makes the process per-monitor DPI aware (V2), once. A failure (already set by the
/// application or its manifest, or an old Windows) is ignored: the application's choice wins.
pub fn set_dpi_awareness() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a plain call with a predefined pseudo-handle; no memory is passed.
        let r =
            unsafe { SetProcessDpiAwarenessContext(DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2) };
        if let Err(e) = r {
            log::debug!("SetProcessDpiAwarenessContext(PER_MONITOR_AWARE_V2): {e}");
        }
    });
}

unsafe extern "system" fn collect(m: HMONITOR, _: HDC, _: *mut RECT, data: LPARAM) -> BOOL {
    // SAFETY: `data` is the `&mut Vec<HMONITOR>` that `monitors` passed to
    // EnumDisplayMonitors, alive and not otherwise borrowed for the whole enumeration.
    let v = unsafe { &mut *(data.0 as *mut Vec<HMONITOR>) };
    v.push(m);
    BOOL(1)
}

/// One monitor as GetMonitorInfoW reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorInfo {
    pub name: String,
    pub rect: RECT,
    pub primary: bool,
}

/// Every monitor, in enumeration order.
pub fn monitors() -> Result<Vec<MonitorInfo>, CaptureError> {
    set_dpi_awareness();
    let mut handles: Vec<HMONITOR> = Vec::new();
    // SAFETY: the callback only pushes into `handles`, which outlives the call; no clip
    // rectangle and no DC are passed.
    let ok = unsafe {
        EnumDisplayMonitors(
            None,
            None,
            Some(collect),
            LPARAM(&mut handles as *mut Vec<HMONITOR> as isize),
        )
    };
    if !ok.as_bool() {
        return Err(CaptureError::Open(format!(
            "EnumDisplayMonitors failed: {}",
            windows::core::Error::from_thread()
        )));
    }
    let mut out = Vec::new();
    for h in handles {
        let mut mi = MONITORINFOEXW::default();
        mi.monitorInfo.cbSize = std::mem::size_of::<MONITORINFOEXW>() as u32;
        // SAFETY: `mi` is a MONITORINFOEXW with cbSize set to its size, so GetMonitorInfoW
        // may write the extended structure through the MONITORINFO pointer.
        let ok = unsafe { GetMonitorInfoW(h, &mut mi as *mut MONITORINFOEXW as *mut MONITORINFO) };
        if !ok.as_bool() {
            // unplugged between the enumeration and now
            continue;
        }
        let len = mi
            .szDevice
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(mi.szDevice.len());
        out.push(MonitorInfo {
            name: String::from_utf16_lossy(&mi.szDevice[..len]),
            rect: mi.monitorInfo.rcMonitor,
            primary: mi.monitorInfo.dwFlags & MONITORINFOF_PRIMARY != 0,
        });
    }
    Ok(out)
}

/// The monitor named `name` now (its bounds may have changed since it was listed).
pub fn find(name: &str) -> Result<MonitorInfo, CaptureError> {
    monitors()?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| CaptureError::NoSuchDisplay(name.to_string()))
}

/// A monitor's bounds as a [`DisplayDesc`]'s (x, y, width, height); `None` when they do not
/// fit (beyond ±32767 or wider than 65535).
pub fn bounds(r: &RECT) -> Option<(i16, i16, u16, u16)> {
    let x = i16::try_from(r.left).ok()?;
    let y = i16::try_from(r.top).ok()?;
    let w = u16::try_from(r.right.checked_sub(r.left)?).ok()?;
    let h = u16::try_from(r.bottom.checked_sub(r.top)?).ok()?;
    (w > 0 && h > 0).then_some((x, y, w, h))
}

/// The shareable displays: every monitor, kind Monitor; the first one is primary when
/// Windows marks none.
pub fn list() -> Result<Vec<DisplayDesc>, CaptureError> {
    let mut out: Vec<DisplayDesc> = monitors()?
        .into_iter()
        .filter_map(|m| {
            let Some((x, y, width, height)) = bounds(&m.rect) else {
                log::warn!("monitor {} has bounds out of range: {:?}", m.name, m.rect);
                return None;
            };
            Some(DisplayDesc {
                name: m.name,
                kind: DisplayKind::Monitor,
                primary: m.primary,
                x,
                y,
                width,
                height,
            })
        })
        .collect();
    if !out.is_empty() && !out.iter().any(|d| d.primary) {
        out[0].primary = true;
    }
    Ok(out)
}
