//! The X11 pointer through the XFixes extension: `QueryPointer` for the position (relative to
//! the shared monitor's origin), `GetCursorImage` for the image, fetched again only when a
//! `CursorNotify` event says the displayed cursor changed. XFixes images are premultiplied
//! ARGB; they are converted to straight RGBA. The cursor serial is the shape id. No `unsafe`.

use glance_protocol::cursor::premultiplied_argb_to_rgba;
use glance_protocol::CursorShape;
use x11rb::connection::Connection;
use x11rb::protocol::xfixes::{ConnectionExt as _, CursorNotifyMask};
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use crate::cursor::{CursorSource, CursorState};
use crate::{CaptureError, DisplayDesc};

fn err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Capture(format!("X11 pointer: {e}"))
}

/// The pointer over one monitor of an X display.
pub struct X11CursorSource {
    conn: RustConnection,
    root: Window,
    desc: DisplayDesc,
    /// The current image (its id is the XFixes cursor serial).
    image: Option<CursorShape>,
    /// Whether the current image is fully transparent (an application hid the pointer).
    blank: bool,
    /// A cursor change was announced since the image was fetched.
    stale: bool,
}

impl std::fmt::Debug for X11CursorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11CursorSource")
            .field("desc", &self.desc)
            .field("shape", &self.image.as_ref().map(|i| i.id))
            .finish()
    }
}

impl X11CursorSource {
    /// Connects to `display` (`$DISPLAY` when None) and asks for cursor-change events.
    pub fn open(
        display: Option<&str>,
        desc: &DisplayDesc,
    ) -> Result<X11CursorSource, CaptureError> {
        let (conn, screen_num) = RustConnection::connect(display)
            .map_err(|e| CaptureError::Open(format!("X11: {e}")))?;
        let root = conn
            .setup()
            .roots
            .get(screen_num)
            .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?
            .root;
        // XFixes must be told which version the client speaks before any other request.
        conn.xfixes_query_version(5, 0)
            .map_err(err)?
            .reply()
            .map_err(|e| CaptureError::Open(format!("X11: XFixes is not available: {e}")))?;
        conn.xfixes_select_cursor_input(root, CursorNotifyMask::DISPLAY_CURSOR)
            .map_err(err)?
            .check()
            .map_err(err)?;
        Ok(X11CursorSource {
            conn,
            root,
            desc: desc.clone(),
            image: None,
            blank: false,
            stale: true,
        })
    }

    /// Reads the displayed cursor's image.
    fn fetch_image(&mut self) -> Result<(), CaptureError> {
        let r = self
            .conn
            .xfixes_get_cursor_image()
            .map_err(err)?
            .reply()
            .map_err(err)?;
        let n = r.width as usize * r.height as usize;
        if r.cursor_image.len() < n {
            return Err(err(format!(
                "{} pixels for a {}x{} cursor",
                r.cursor_image.len(),
                r.width,
                r.height
            )));
        }
        let mut shape = CursorShape {
            id: r.cursor_serial,
            width: r.width,
            height: r.height,
            hot_x: r.xhot.min(r.width.saturating_sub(1)),
            hot_y: r.yhot.min(r.height.saturating_sub(1)),
            rgba: r.cursor_image[..n]
                .iter()
                .flat_map(|&p| premultiplied_argb_to_rgba(p))
                .collect(),
        };
        if n == 0 {
            // No image at all: a transparent pixel.
            (shape.width, shape.height, shape.rgba) = (1, 1, vec![0; 4]);
        }
        self.blank = shape.rgba.chunks_exact(4).all(|p| p[3] == 0);
        self.image = Some(shape);
        self.stale = false;
        Ok(())
    }
}

impl CursorSource for X11CursorSource {
    fn poll(&mut self) -> Result<Option<CursorState>, CaptureError> {
        loop {
            match self.conn.poll_for_event().map_err(err)? {
                Some(Event::XfixesCursorNotify(ev)) => {
                    if self.image.as_ref().map(|i| i.id) != Some(ev.cursor_serial) {
                        self.stale = true;
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        if self.stale || self.image.is_none() {
            self.fetch_image()?;
        }
        let Some(shape) = self.image.as_ref().map(|i| i.id) else {
            return Ok(None);
        };
        let p = self
            .conn
            .query_pointer(self.root)
            .map_err(err)?
            .reply()
            .map_err(err)?;
        let x = p.root_x as i32 - self.desc.x as i32;
        let y = p.root_y as i32 - self.desc.y as i32;
        let inside =
            (0..self.desc.width as i32).contains(&x) && (0..self.desc.height as i32).contains(&y);
        Ok(Some(CursorState {
            x,
            y,
            visible: p.same_screen && inside && !self.blank,
            shape,
        }))
    }

    fn shape(&mut self, id: u32) -> Result<Option<CursorShape>, CaptureError> {
        Ok(self.image.clone().filter(|i| i.id == id))
    }

    fn display_size(&self) -> (u16, u16) {
        (self.desc.width, self.desc.height)
    }
}
