//! GDI capture of one monitor: BitBlt (SRCCOPY | CAPTUREBLT, so layered windows are included)
//! from the screen DC into a top-down 32-bit DIB section, then a copy into the [`FrameBuf`]
//! with the padding byte set to 0xFF. The fallback when Desktop Duplication is unavailable
//! (Wine, some RDP sessions, old drivers). GDI has no change notification: every poll
//! captures, and the pipeline compares pixels. The monitor's bounds are re-read on every
//! capture, so a resolution change reshapes the frame; a failing BitBlt (a secure desktop, a
//! disconnected session) is an error, never a black frame.

use windows::Win32::Foundation::HANDLE;
use windows::Win32::Graphics::Gdi::{
    BitBlt, CreateCompatibleDC, CreateDIBSection, DeleteDC, DeleteObject, GdiFlush, GetDC,
    ReleaseDC, SelectObject, BITMAPINFO, BITMAPINFOHEADER, BI_RGB, CAPTUREBLT, DIB_RGB_COLORS,
    HBITMAP, HDC, HGDIOBJ, SRCCOPY,
};

use super::displays;
use crate::{CaptureError, Capturer, DisplayDesc, FrameBuf};

/// The DIB section the screen is blitted into.
struct Dib {
    mem_dc: HDC,
    bitmap: HBITMAP,
    old: HGDIOBJ,
    bits: *const u8,
    width: u16,
    height: u16,
}

impl Dib {
    fn new(screen: HDC, width: u16, height: u16) -> Result<Dib, CaptureError> {
        // SAFETY: `screen` is the live screen DC; a failure gives a null DC, checked.
        let mem_dc = unsafe { CreateCompatibleDC(Some(screen)) };
        if mem_dc.is_invalid() {
            return Err(CaptureError::Open("CreateCompatibleDC failed".into()));
        }
        let info = BITMAPINFO {
            bmiHeader: BITMAPINFOHEADER {
                biSize: std::mem::size_of::<BITMAPINFOHEADER>() as u32,
                biWidth: width as i32,
                biHeight: -(height as i32), // negative: top-down rows
                biPlanes: 1,
                biBitCount: 32,
                biCompression: BI_RGB.0,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut bits: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `info` describes a 32-bit top-down DIB and lives across the call; `bits`
        // receives the section's pixel pointer, owned by the bitmap until DeleteObject.
        let bitmap = unsafe {
            CreateDIBSection(
                Some(mem_dc),
                &info,
                DIB_RGB_COLORS,
                &mut bits,
                None::<HANDLE>,
                0,
            )
        };
        let bitmap = match bitmap {
            Ok(b) if !bits.is_null() => b,
            other => {
                // SAFETY: `mem_dc` was created above and is deleted once, here.
                unsafe {
                    let _ = DeleteDC(mem_dc);
                }
                return Err(CaptureError::Open(format!(
                    "CreateDIBSection {width}x{height} failed: {:?}",
                    other.err()
                )));
            }
        };
        // SAFETY: both handles were just created; the previous bitmap is put back in Drop.
        let old = unsafe { SelectObject(mem_dc, bitmap.into()) };
        Ok(Dib {
            mem_dc,
            bitmap,
            old,
            bits: bits as *const u8,
            width,
            height,
        })
    }
}

impl Drop for Dib {
    fn drop(&mut self) {
        // SAFETY: the handles were created by `Dib::new` and are released exactly once; the
        // original bitmap is selected back before the DIB section is deleted.
        unsafe {
            SelectObject(self.mem_dc, self.old);
            let _ = DeleteObject(self.bitmap.into());
            let _ = DeleteDC(self.mem_dc);
        }
    }
}

/// GDI capturer for one monitor.
pub struct GdiCapturer {
    name: String,
    screen: HDC,
    dib: Option<Dib>,
    /// The monitor's bounds in virtual-screen pixels.
    x: i32,
    y: i32,
}

// SAFETY: the DCs and the bitmap are process-wide GDI handles, usable from any thread; the
// capturer owns them and is only used through `&mut self`, from one thread at a time.
unsafe impl Send for GdiCapturer {}

impl GdiCapturer {
    /// A capturer for `desc` (a monitor of [`displays::list`]).
    pub fn open(desc: &DisplayDesc) -> Result<GdiCapturer, CaptureError> {
        displays::set_dpi_awareness();
        // SAFETY: GetDC(NULL) returns the screen DC (released in Drop); null is checked.
        let screen = unsafe { GetDC(None) };
        if screen.is_invalid() {
            return Err(CaptureError::Open("GetDC(NULL) failed".into()));
        }
        let mut c = GdiCapturer {
            name: desc.name.clone(),
            screen,
            dib: None,
            x: desc.x as i32,
            y: desc.y as i32,
        };
        c.ensure(desc.width, desc.height)?;
        Ok(c)
    }

    fn ensure(&mut self, width: u16, height: u16) -> Result<&Dib, CaptureError> {
        if !matches!(&self.dib, Some(d) if (d.width, d.height) == (width, height)) {
            self.dib = None;
            self.dib = Some(Dib::new(self.screen, width, height)?);
        }
        Ok(self.dib.as_ref().expect("just made"))
    }
}

impl Drop for GdiCapturer {
    fn drop(&mut self) {
        self.dib = None;
        // SAFETY: the screen DC came from GetDC(NULL) in `open` and is released once.
        unsafe {
            ReleaseDC(None, self.screen);
        }
    }
}

impl Capturer for GdiCapturer {
    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        // the monitor's bounds now: a resolution change reshapes the frame
        // (a monitor no longer listed is gone: unplugged or disabled)
        let m = displays::find(&self.name).map_err(|e| match e {
            CaptureError::NoSuchDisplay(name) => CaptureError::Gone(name),
            e => e,
        })?;
        let (x, y, w, h) = displays::bounds(&m.rect).ok_or_else(|| {
            CaptureError::Format(format!("monitor {} bounds {:?}", self.name, m.rect))
        })?;
        (self.x, self.y) = (x as i32, y as i32);
        let screen = self.screen;
        let (sx, sy) = (self.x, self.y);
        let name = self.name.clone();
        let dib = self.ensure(w, h)?;
        // SAFETY: both DCs are live; the blit writes only into the DIB section selected into
        // `mem_dc`, which is exactly w x h.
        let blit = unsafe {
            BitBlt(
                dib.mem_dc,
                0,
                0,
                w as i32,
                h as i32,
                Some(screen),
                sx,
                sy,
                SRCCOPY | CAPTUREBLT,
            )
        };
        blit.map_err(|e| CaptureError::Capture(format!("BitBlt of {name}: {e}")))?;
        // SAFETY: flushes this thread's GDI batch so the DIB bits are complete.
        unsafe {
            let _ = GdiFlush();
        }
        buf.reshape(w, h);
        let row = w as usize * 4;
        // SAFETY: the DIB section holds h top-down rows of w 32-bit pixels (stride w * 4, as
        // 32-bit rows are DWORD-aligned already) and stays alive and unaliased while `dib` is
        // borrowed.
        let src = unsafe { std::slice::from_raw_parts(dib.bits, row * h as usize) };
        for (d, s) in buf
            .data
            .chunks_exact_mut(buf.stride)
            .zip(src.chunks_exact(row))
        {
            d[..row].copy_from_slice(s);
            for px in d[..row].chunks_exact_mut(4) {
                px[3] = 0xFF;
            }
        }
        Ok(())
    }
}
