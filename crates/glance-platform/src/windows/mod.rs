//! The Windows backend: monitors through EnumDisplayMonitors ([`displays`]), capture through
//! DXGI Desktop Duplication ([`dxgi`], with dirty and move rectangles) falling back to GDI
//! BitBlt ([`gdi`]) where duplication is unavailable (Wine, some RDP sessions, old drivers),
//! the pointer through GetCursorInfo ([`cursor`]), IdentifyMonitors windows
//! ([`identify`]), the windows and their owners for the mask stage ([`windows_list`]) and
//! remote-control input through SendInput ([`input`]). The process is made per-monitor DPI
//! aware (V2) on first use.
//!
//! `GLANCE_WINDOWS_CAPTURE=gdi` forces the GDI path (`dxgi` forbids the fallback).

pub mod cursor;
pub mod displays;
pub mod dxgi;
pub mod gdi;
pub mod identify;
pub mod input;
pub mod windows_list;

pub use cursor::WindowsCursorSource;
pub use gdi::GdiCapturer;
pub use input::WindowsInjector;

use crate::duplication::DuplicationCapturer;
use crate::{Backend, CaptureError, Capturer, CursorSource, DisplayDesc, InputInjector};

/// Which capture path a capturer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapturePath {
    Dxgi,
    Gdi,
}

/// The Windows backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowsBackend;

/// Opens a capturer for `desc`: Desktop Duplication first, GDI when that fails; says which.
pub fn open_capturer_path(
    desc: &DisplayDesc,
) -> Result<(Box<dyn Capturer>, CapturePath), CaptureError> {
    let want = std::env::var("GLANCE_WINDOWS_CAPTURE").unwrap_or_default();
    if !want.eq_ignore_ascii_case("gdi") {
        match dxgi::DxgiSource::open(&desc.name) {
            Ok(src) => {
                log::info!("capturing {} with DXGI Desktop Duplication", desc.name);
                return Ok((Box::new(DuplicationCapturer::new(src)), CapturePath::Dxgi));
            }
            Err(e) if want.eq_ignore_ascii_case("dxgi") => return Err(e),
            Err(e) => {
                log::info!(
                    "DXGI Desktop Duplication is not available for {} ({e}); capturing with GDI",
                    desc.name
                );
            }
        }
    }
    let c = GdiCapturer::open(desc)?;
    log::info!("capturing {} with GDI BitBlt", desc.name);
    Ok((Box::new(c), CapturePath::Gdi))
}

impl Backend for WindowsBackend {
    fn name(&self) -> &'static str {
        "windows"
    }

    fn displays(&self) -> Result<Vec<DisplayDesc>, CaptureError> {
        displays::list()
    }

    fn open_capturer(&self, desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError> {
        open_capturer_path(desc).map(|(c, _)| c)
    }

    fn open_cursor(&self, desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError> {
        Ok(Box::new(WindowsCursorSource::open(desc)?))
    }

    fn identify(&self, displays: Vec<DisplayDesc>) -> Result<(), CaptureError> {
        identify::identify(displays)
    }

    fn open_windows(&self) -> Result<Box<dyn crate::WindowSource>, CaptureError> {
        displays::set_dpi_awareness();
        Ok(Box::new(windows_list::WindowsWindows::default()))
    }

    fn open_injector(&self, desc: &DisplayDesc) -> Result<Box<dyn InputInjector>, CaptureError> {
        Ok(Box::new(WindowsInjector::open(desc)?))
    }
}

/// These run under Wine on an Xvfb screen (scripts/cross-windows.sh sets GLANCE_XCI_SCREEN to
/// its size and puts an xterm on it), or on real Windows.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DisplayKind, FrameBuf};

    fn xci_screen() -> Option<(u16, u16)> {
        crate::displays::parse_size(&std::env::var("GLANCE_XCI_SCREEN").ok()?)
    }

    fn under_wine() -> bool {
        std::env::var_os("WINEPREFIX").is_some() || xci_screen().is_some()
    }

    #[test]
    fn displays_lists_the_monitors() {
        let list = WindowsBackend.displays().unwrap();
        assert!(!list.is_empty());
        assert_eq!(list.iter().filter(|d| d.primary).count(), 1, "{list:?}");
        for d in &list {
            assert_eq!(d.kind, DisplayKind::Monitor);
            assert!(d.name.starts_with(r"\\.\DISPLAY"), "{}", d.name);
            assert!(d.width > 0 && d.height > 0);
        }
        if let Some((w, h)) = xci_screen() {
            assert_eq!(list.len(), 1, "{list:?}");
            let d = &list[0];
            assert_eq!((d.x, d.y, d.width, d.height), (0, 0, w, h));
        }
        let main = crate::DisplaySource::Platform(None).find("main").unwrap();
        assert!(main.primary);
    }

    #[test]
    fn gdi_captures_the_screen_not_a_black_frame() {
        let d = WindowsBackend.displays().unwrap().remove(0);
        let mut c = GdiCapturer::open(&d).unwrap();
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        assert_eq!((buf.width, buf.height), (d.width, d.height));
        assert_eq!(buf.stride, d.width as usize * 4);
        assert!(
            buf.data.chunks_exact(4).all(|p| p[3] == 0xFF),
            "padding byte"
        );
        let first = u32::from_le_bytes(buf.data[..4].try_into().unwrap());
        let mut colours: Vec<u32> = buf
            .data
            .chunks_exact(4)
            .map(|p| u32::from_le_bytes(p.try_into().unwrap()))
            .filter(|&p| p != first)
            .take(10_000)
            .collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(
            !colours.is_empty(),
            "every pixel is {first:08x}: nothing on the screen?"
        );
        if xci_screen().is_some() {
            // the script's xterm at (100, 100): navy background
            let px = |x: usize, y: usize| &buf.data[y * buf.stride + x * 4..][..3];
            assert_eq!(px(105, 105), [0x80, 0, 0], "navy xterm (BGR) at 105,105");
        }
        // a second capture into another buffer gives the same still picture
        let mut again = FrameBuf::default();
        c.capture(&mut again).unwrap();
        assert_eq!(again.width, buf.width);
    }

    #[test]
    fn duplication_falls_back_to_gdi_when_unavailable() {
        let d = WindowsBackend.displays().unwrap().remove(0);
        let (mut c, path) = open_capturer_path(&d).unwrap();
        if under_wine() {
            // Wine's IDXGIOutput1::DuplicateOutput is E_NOTIMPL
            assert_eq!(path, CapturePath::Gdi);
            assert!(matches!(
                dxgi::DxgiSource::open(&d.name),
                Err(CaptureError::Open(_))
            ));
        }
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        assert_eq!((buf.width, buf.height), (d.width, d.height));
    }

    #[test]
    fn cursor_position_polls() {
        let d = WindowsBackend.displays().unwrap().remove(0);
        let mut src = WindowsBackend.open_cursor(&d).unwrap();
        assert_eq!(src.display_size(), (d.width, d.height));
        for _ in 0..3 {
            let s = src.poll().unwrap().expect("a pointer state");
            if s.visible {
                assert!((0..d.width as i32).contains(&s.x) && (0..d.height as i32).contains(&s.y));
                if let Some(img) = src.shape(s.shape).unwrap() {
                    img.validate().unwrap();
                }
            }
        }
        assert!(src.shape(0xDEAD_BEEF).unwrap().is_none() || src.poll().is_ok());
    }

    #[test]
    fn cursor_bitmaps_become_straight_rgba() {
        // colour with alpha: kept, BGRA → RGBA
        assert_eq!(
            cursor::color_to_rgba(&[1, 2, 3, 255, 9, 9, 9, 0], None),
            vec![3, 2, 1, 255, 0, 0, 0, 0]
        );
        // colour without alpha: the AND mask (white = transparent) decides
        assert_eq!(
            cursor::color_to_rgba(
                &[1, 2, 3, 0, 4, 5, 6, 0],
                Some(&[0, 0, 0, 0, 255, 255, 255, 0])
            ),
            vec![3, 2, 1, 255, 0, 0, 0, 0]
        );
        // monochrome 4x1: AND row then XOR row
        let and = [0u8, 0, 255, 255];
        let xor = [0u8, 255, 0, 255];
        let masks: Vec<u8> = and.iter().chain(&xor).flat_map(|&v| [v, v, v, 0]).collect();
        assert_eq!(
            cursor::mono_to_rgba(&masks, 4, 1),
            vec![0, 0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 255]
        );
    }

    #[test]
    fn identify_shows_windows_and_returns_at_once() {
        let list = WindowsBackend.displays().unwrap();
        let t = std::time::Instant::now();
        WindowsBackend.identify(list).unwrap();
        assert!(t.elapsed() < crate::identify::IDENTIFY_DURATION);
    }
}
