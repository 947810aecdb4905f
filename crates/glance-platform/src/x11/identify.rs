//! IdentifyMonitors on X11: one override-redirect window a monitor with its number drawn as
//! seven-segment bars, for [`crate::identify::IDENTIFY_DURATION`].

use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::capture::{err, open_conn};
use crate::{CaptureError, DisplayDesc};

/// Shows each monitor's number (index + 1) in an override-redirect window for
/// [`crate::identify::IDENTIFY_DURATION`], on a thread of its own.
pub fn identify(display: Option<String>, monitors: Vec<DisplayDesc>) -> Result<(), CaptureError> {
    use x11rb::protocol::xproto::{
        CreateGCAux, CreateWindowAux, EventMask, Rectangle, WindowClass,
    };
    let (conn, screen_num) = open_conn(display.as_deref())?;
    let screen = conn
        .setup()
        .roots
        .get(screen_num)
        .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?
        .clone();
    let mut windows = Vec::new();
    for (i, m) in monitors.iter().enumerate() {
        let (w, h) = (220u16, 180u16);
        let win = conn.generate_id().map_err(err)?;
        conn.create_window(
            screen.root_depth,
            win,
            screen.root,
            m.x + (m.width.saturating_sub(w) / 2) as i16,
            m.y + (m.height.saturating_sub(h) / 2) as i16,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(0x202020)
                .override_redirect(1)
                .event_mask(EventMask::EXPOSURE),
        )
        .map_err(err)?;
        let gc = conn.generate_id().map_err(err)?;
        conn.create_gc(gc, win, &CreateGCAux::new().foreground(0xFFFFFF))
            .map_err(err)?;
        conn.map_window(win).map_err(err)?;
        let bars: Vec<Rectangle> = crate::identify::number_bars(i + 1)
            .into_iter()
            .map(|(x, y, w, h)| Rectangle {
                x: x as i16,
                y: y as i16,
                width: w,
                height: h,
            })
            .collect();
        windows.push((win, gc, bars));
    }
    conn.flush().map_err(err)?;
    std::thread::Builder::new()
        .name("glance-identify".into())
        .spawn(move || {
            let deadline = std::time::Instant::now() + crate::identify::IDENTIFY_DURATION;
            // Draw now and again on every Expose until the deadline.
            let draw = |conn: &RustConnection| {
                for (win, gc, bars) in &windows {
                    let _ = conn.poly_fill_rectangle(*win, *gc, bars);
                }
                let _ = conn.flush();
            };
            draw(&conn);
            while std::time::Instant::now() < deadline {
                match conn.poll_for_event() {
                    Ok(Some(_)) => draw(&conn),
                    Ok(None) => std::thread::sleep(std::time::Duration::from_millis(30)),
                    Err(_) => break,
                }
            }
            for (win, gc, _) in &windows {
                let _ = conn.free_gc(*gc);
                let _ = conn.destroy_window(*win);
            }
            let _ = conn.flush();
        })
        .map_err(|e| CaptureError::Open(e.to_string()))?;
    Ok(())
}
