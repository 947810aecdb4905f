//! The default UI's on-screen notice on X11: a small override-redirect window at the top
//! right of the shared monitor with one line of text in the core font `fixed` (every X server
//! has it), click-through (an empty input shape from the SHAPE extension, when the server has
//! it) and redrawn on every Expose by a thread of its own until the handle is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::protocol::shape::{ConnectionExt as _, SK, SO};
use x11rb::protocol::xproto::{
    ClipOrdering, ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask,
    StackMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use super::capture::{err, open_conn};
use crate::{CaptureError, DisplayDesc, Indicator};

/// The `fixed` font's cell (6x13) and the notice's padding, in pixels.
const CELL_W: u16 = 6;
const CELL_H: u16 = 13;
const PAD: u16 = 6;
/// The notice's distance from the monitor's top right corner.
const MARGIN: i16 = 8;
/// Longest text shown (longer text is cut).
const MAX_CHARS: usize = 80;

/// See the module documentation.
#[derive(Debug)]
pub struct X11Indicator {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl X11Indicator {
    /// Shows `text` over `desc` on the X display `display` (`None`: `$DISPLAY`).
    pub fn show(
        display: Option<&str>,
        desc: &DisplayDesc,
        text: &str,
    ) -> Result<X11Indicator, CaptureError> {
        let text: Vec<u8> = text
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c as u8
                } else {
                    b'?'
                }
            })
            .take(MAX_CHARS)
            .collect();
        let (conn, screen_num) = open_conn(display)?;
        let screen = conn
            .setup()
            .roots
            .get(screen_num)
            .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?
            .clone();
        let (w, h) = (text.len() as u16 * CELL_W + 2 * PAD, CELL_H + 2 * PAD);
        let x = (i32::from(desc.x) + i32::from(desc.width) - i32::from(w) - i32::from(MARGIN))
            .max(i32::from(desc.x)) as i16;
        let y = desc.y.saturating_add(MARGIN);
        let win = conn.generate_id().map_err(err)?;
        conn.create_window(
            screen.root_depth,
            win,
            screen.root,
            x,
            y,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(0xB00020)
                .override_redirect(1)
                .event_mask(EventMask::EXPOSURE | EventMask::VISIBILITY_CHANGE),
        )
        .map_err(err)?;
        // Click-through: an empty input region. Without SHAPE the notice takes the clicks on
        // its few pixels, which is all.
        if conn
            .extension_information(x11rb::protocol::shape::X11_EXTENSION_NAME)
            .ok()
            .flatten()
            .is_some()
        {
            conn.shape_rectangles(SO::SET, SK::INPUT, ClipOrdering::UNSORTED, win, 0, 0, &[])
                .map_err(err)?;
        }
        let font = conn.generate_id().map_err(err)?;
        conn.open_font(font, b"fixed").map_err(err)?;
        let gc = conn.generate_id().map_err(err)?;
        conn.create_gc(
            gc,
            win,
            &CreateGCAux::new()
                .foreground(0xFFFFFF)
                .background(0xB00020)
                .font(font),
        )
        .map_err(err)?;
        conn.map_window(win).map_err(err)?;
        // Any X error so far (no font `fixed`, a bad window) shows here, not in the thread.
        conn.get_input_focus().map_err(err)?.reply().map_err(err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("glance-indicator".into())
            .spawn(move || {
                let draw = |conn: &RustConnection| {
                    // Text baseline: the font's ascent is 10 of its 13 rows.
                    let _ = conn.image_text8(win, gc, PAD as i16, (PAD + 10) as i16, &text);
                    let _ = conn.flush();
                };
                draw(&conn);
                while !stopping.load(Ordering::SeqCst) {
                    match conn.poll_for_event() {
                        Ok(Some(x11rb::protocol::Event::VisibilityNotify(_))) => {
                            // Covered by another override-redirect window: on top again.
                            let _ = conn.configure_window(
                                win,
                                &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
                            );
                            draw(&conn);
                        }
                        Ok(Some(_)) => draw(&conn),
                        Ok(None) => std::thread::sleep(Duration::from_millis(30)),
                        Err(_) => return,
                    }
                }
                let _ = conn.free_gc(gc);
                let _ = conn.close_font(font);
                let _ = conn.destroy_window(win);
                let _ = conn.get_input_focus().map(|c| c.reply());
            })
            .map_err(|e| CaptureError::Open(format!("cannot start the notice's thread: {e}")))?;
        Ok(X11Indicator {
            stop,
            thread: Some(thread),
        })
    }
}

impl Indicator for X11Indicator {}

impl Drop for X11Indicator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Bounded: the thread checks the flag every 30 ms; the window is gone when this
        // returns (tests and agents see it disappear at once).
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
