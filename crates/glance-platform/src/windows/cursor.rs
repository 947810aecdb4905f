//! The pointer on Windows: GetCursorInfo for the position (virtual-screen pixels, made
//! relative to the shared monitor) and whether it is shown; the HCURSOR value is the shape
//! id. Shapes come from GetIconInfo + GetDIBits: a colour cursor's 32-bit bitmap (with its
//! alpha, or the AND mask when it has none) or a monochrome cursor's AND/XOR masks, as
//! straight RGBA.

use glance_protocol::CursorShape;
use windows::Win32::Graphics::Gdi::{
    DeleteObject, GetDC, GetDIBits, GetObjectW, ReleaseDC, BITMAP, BITMAPINFO, BITMAPINFOHEADER,
    BI_RGB, DIB_RGB_COLORS, HBITMAP,
};
use windows::Win32::UI::WindowsAndMessaging::{
    GetCursorInfo, GetIconInfo, CURSORINFO, CURSOR_SHOWING, HCURSOR, HICON, ICONINFO,
};

use super::displays;
use crate::{CaptureError, CursorSource, CursorState, DisplayDesc};

/// The pointer over one monitor.
#[derive(Debug)]
pub struct WindowsCursorSource {
    desc: DisplayDesc,
    /// The HCURSOR of the last poll (as an integer: the handle is process-independent).
    last: usize,
}

impl WindowsCursorSource {
    pub fn open(desc: &DisplayDesc) -> Result<WindowsCursorSource, CaptureError> {
        displays::set_dpi_awareness();
        Ok(WindowsCursorSource {
            desc: desc.clone(),
            last: 0,
        })
    }
}

impl CursorSource for WindowsCursorSource {
    fn poll(&mut self) -> Result<Option<CursorState>, CaptureError> {
        let mut ci = CURSORINFO {
            cbSize: std::mem::size_of::<CURSORINFO>() as u32,
            ..Default::default()
        };
        // SAFETY: `ci` is a CURSORINFO with cbSize set, valid for the call.
        unsafe { GetCursorInfo(&mut ci) }
            .map_err(|e| CaptureError::Capture(format!("GetCursorInfo: {e}")))?;
        let x = ci.ptScreenPos.x - self.desc.x as i32;
        let y = ci.ptScreenPos.y - self.desc.y as i32;
        let inside =
            (0..self.desc.width as i32).contains(&x) && (0..self.desc.height as i32).contains(&y);
        let showing = ci.flags.0 & CURSOR_SHOWING.0 != 0 && !ci.hCursor.is_invalid();
        self.last = ci.hCursor.0 as usize;
        Ok(Some(CursorState {
            x,
            y,
            visible: showing && inside,
            shape: self.last as u32,
        }))
    }

    fn shape(&mut self, id: u32) -> Result<Option<CursorShape>, CaptureError> {
        if self.last == 0 || self.last as u32 != id {
            return Ok(None);
        }
        Ok(cursor_image(
            HCURSOR(self.last as *mut core::ffi::c_void),
            id,
        ))
    }

    fn display_size(&self) -> (u16, u16) {
        (self.desc.width, self.desc.height)
    }
}

/// A bitmap's pixels as 32-bit top-down BGRA rows (GetDIBits converts monochrome bitmaps:
/// 0 → black, 1 → white).
fn bitmap_bgra(bm: HBITMAP) -> Option<(usize, usize, Vec<u8>)> {
    let mut info = BITMAP::default();
    // SAFETY: GetObjectW writes at most size_of::<BITMAP>() bytes into `info`.
    let n = unsafe {
        GetObjectW(
            bm.into(),
            std::mem::size_of::<BITMAP>() as i32,
            Some(&mut info as *mut BITMAP as *mut core::ffi::c_void),
        )
    };
    if n == 0 || info.bmWidth <= 0 || info.bmHeight <= 0 {
        return None;
    }
    let (w, h) = (info.bmWidth as usize, info.bmHeight as usize);
    let mut bmi = BITMAPINFO {
        bmiHeader: BITMAPINFOHEADER {
            biSize: std::mem::size_of::<BITMAPINFOHEADER>() as u32,
            biWidth: w as i32,
            biHeight: -(h as i32),
            biPlanes: 1,
            biBitCount: 32,
            biCompression: BI_RGB.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut out = vec![0u8; w * h * 4];
    // SAFETY: the screen DC is released below; `out` holds h rows of w 32-bit pixels, exactly
    // what `bmi` asks GetDIBits for (a BITMAPINFO has room for the colour table of 32-bit
    // BI_RGB, which is none).
    let lines = unsafe {
        let dc = GetDC(None);
        let lines = GetDIBits(
            dc,
            bm,
            0,
            h as u32,
            Some(out.as_mut_ptr() as *mut core::ffi::c_void),
            &mut bmi,
            DIB_RGB_COLORS,
        );
        ReleaseDC(None, dc);
        lines
    };
    (lines as usize == h).then_some((w, h, out))
}

/// The image of cursor `c` as straight RGBA, or `None` when Windows does not give it.
fn cursor_image(c: HCURSOR, id: u32) -> Option<CursorShape> {
    let mut ii = ICONINFO::default();
    // SAFETY: `ii` receives two bitmaps that this function owns and deletes below.
    unsafe { GetIconInfo(HICON::from(c), &mut ii) }.ok()?;
    let color = (!ii.hbmColor.is_invalid())
        .then(|| bitmap_bgra(ii.hbmColor))
        .flatten();
    let mask = (!ii.hbmMask.is_invalid())
        .then(|| bitmap_bgra(ii.hbmMask))
        .flatten();
    // SAFETY: GetIconInfo created these bitmaps for the caller; each is deleted once.
    unsafe {
        if !ii.hbmColor.is_invalid() {
            let _ = DeleteObject(ii.hbmColor.into());
        }
        if !ii.hbmMask.is_invalid() {
            let _ = DeleteObject(ii.hbmMask.into());
        }
    }
    let (w, h, rgba) = match (color, mask) {
        (Some((w, h, c)), m) => (w, h, color_to_rgba(&c, m.as_ref().map(|m| m.2.as_slice()))),
        (None, Some((w, h2, m))) => (w, h2 / 2, mono_to_rgba(&m, w, h2 / 2)),
        (None, None) => return None,
    };
    let shape = CursorShape {
        id,
        width: u16::try_from(w).ok()?,
        height: u16::try_from(h).ok()?,
        hot_x: (ii.xHotspot as usize).min(w.saturating_sub(1)) as u16,
        hot_y: (ii.yHotspot as usize).min(h.saturating_sub(1)) as u16,
        rgba,
    };
    shape.validate().ok()?;
    Some(shape)
}

/// A colour cursor: BGRA with its own alpha; when every alpha is 0 the AND mask says which
/// pixels are transparent (mask white).
pub fn color_to_rgba(bgra: &[u8], and_mask: Option<&[u8]>) -> Vec<u8> {
    let has_alpha = bgra.chunks_exact(4).any(|p| p[3] != 0);
    let mut out = Vec::with_capacity(bgra.len());
    for (i, p) in bgra.chunks_exact(4).enumerate() {
        let a = if has_alpha {
            p[3]
        } else {
            match and_mask.and_then(|m| m.get(i * 4)) {
                Some(&v) if v != 0 => 0,
                _ => 0xFF,
            }
        };
        if a == 0 {
            out.extend_from_slice(&[0, 0, 0, 0]);
        } else {
            out.extend_from_slice(&[p[2], p[1], p[0], a]);
        }
    }
    out
}

/// A monochrome cursor: the mask bitmap is the AND mask (top half) over the XOR mask (bottom
/// half), as BGRA from GetDIBits. AND 0: opaque, black or white as XOR says; AND 1 + XOR 0:
/// transparent; AND 1 + XOR 1 (screen inversion) is shown as opaque black.
pub fn mono_to_rgba(masks: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h * 4);
    for i in 0..w * h {
        let and = masks.get(i * 4).is_some_and(|&v| v != 0);
        let xor = masks.get((w * h + i) * 4).is_some_and(|&v| v != 0);
        out.extend_from_slice(match (and, xor) {
            (false, false) => &[0, 0, 0, 0xFF],
            (false, true) => &[0xFF, 0xFF, 0xFF, 0xFF],
            (true, false) => &[0, 0, 0, 0],
            (true, true) => &[0, 0, 0, 0xFF],
        });
    }
    out
}
