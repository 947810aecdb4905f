//! X11 capture (Linux): RandR monitors and GetImage of a monitor's rectangle of the root
//! window, in pure Rust over the X protocol (x11rb). The server's 32-bit ZPixmap is BGRX on
//! little-endian servers; the padding byte is normalised to 0xFF while copying. Formats other
//! than 24/32-bit depth with 32 bits a pixel are refused with a clear error, never shared as
//! garbage. (MIT-SHM, for speed, belongs to the capture-performance work.)

use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use super::{CaptureError, Capturer, DisplayDesc, DisplayKind, FrameBuf};

fn open_conn(display: Option<&str>) -> Result<(RustConnection, usize), CaptureError> {
    RustConnection::connect(display).map_err(|e| CaptureError::Open(format!("X11: {e}")))
}

fn err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Capture(format!("X11: {e}"))
}

/// The monitors of the default X display (RandR), or the whole screen when RandR has none.
pub fn list_monitors(display: Option<&str>) -> Result<Vec<DisplayDesc>, CaptureError> {
    let (conn, screen_num) = open_conn(display)?;
    let screen = conn
        .setup()
        .roots
        .get(screen_num)
        .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?;
    let whole = DisplayDesc {
        name: format!("Screen {screen_num}"),
        kind: DisplayKind::Monitor,
        primary: true,
        x: 0,
        y: 0,
        width: screen.width_in_pixels,
        height: screen.height_in_pixels,
    };
    let monitors = match conn
        .randr_get_monitors(screen.root, true)
        .map(|c| c.reply())
    {
        Ok(Ok(r)) => r.monitors,
        _ => return Ok(vec![whole]),
    };
    let mut out = Vec::new();
    for (i, m) in monitors.iter().enumerate() {
        let name = conn
            .get_atom_name(m.name)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("Monitor {i}"));
        if m.width == 0 || m.height == 0 {
            continue;
        }
        out.push(DisplayDesc {
            name,
            kind: DisplayKind::Monitor,
            primary: m.primary,
            x: m.x,
            y: m.y,
            width: m.width,
            height: m.height,
        });
    }
    if out.is_empty() {
        return Ok(vec![whole]);
    }
    if !out.iter().any(|d| d.primary) {
        out[0].primary = true;
    }
    Ok(out)
}

/// Captures one monitor's rectangle of the root window.
pub struct X11Capturer {
    conn: RustConnection,
    root: Window,
    desc: DisplayDesc,
}

impl std::fmt::Debug for X11Capturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Capturer")
            .field("desc", &self.desc)
            .finish()
    }
}

impl X11Capturer {
    /// Connects to `$DISPLAY` and checks that its pixel format can be read as BGRX.
    pub fn open(display: Option<&str>, desc: &DisplayDesc) -> Result<X11Capturer, CaptureError> {
        let (conn, screen_num) = open_conn(display)?;
        let setup = conn.setup();
        let screen = setup
            .roots
            .get(screen_num)
            .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?;
        let depth = screen.root_depth;
        let bpp = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .map(|f| f.bits_per_pixel)
            .unwrap_or(0);
        if !(depth == 24 || depth == 32) || bpp != 32 {
            return Err(CaptureError::Format(format!(
                "root depth {depth} with {bpp} bits a pixel (24 or 32-bit depth at 32 bits a pixel is needed)"
            )));
        }
        if setup.image_byte_order != ImageOrder::LSB_FIRST {
            return Err(CaptureError::Format("MSB-first image byte order".into()));
        }
        let root = screen.root;
        Ok(X11Capturer {
            conn,
            root,
            desc: desc.clone(),
        })
    }
}

impl Capturer for X11Capturer {
    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        let (w, h) = (self.desc.width, self.desc.height);
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                self.desc.x,
                self.desc.y,
                w,
                h,
                !0,
            )
            .map_err(err)?
            .reply()
            .map_err(err)?;
        let row = w as usize * 4;
        if reply.data.len() < row * h as usize {
            return Err(CaptureError::Capture(format!(
                "X11 returned {} bytes for a {w}x{h} image",
                reply.data.len()
            )));
        }
        if buf.width != w || buf.height != h {
            buf.reshape(w, h);
        }
        for (dst, src) in buf
            .data
            .chunks_exact_mut(buf.stride)
            .zip(reply.data.chunks_exact(row))
        {
            for (d, s) in dst[..row].chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
                d[3] = 0xFF;
            }
        }
        Ok(())
    }
}
