//! The macOS pointer through Quartz Event Services.
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! `CGEventCreate(NULL)` "returns a new Quartz event" whose location is the current mouse
//! location, and `CGEventGetLocation` gives it in the global display space (points, origin at
//! the upper-left of the main display): no Accessibility permission is needed to read it. It
//! is made relative to the shared display's `CGDisplayBounds` and scaled to captured pixels.
//! Visible means over this display (macOS has no public call that says whether another
//! application hid the pointer: `CGCursorIsVisible` is deprecated).
//!
//! The shape: `+[NSCursor currentSystemCursor]` is deprecated ("will always be nil in a future
//! version of macOS", AppKit) and main-thread-only, so the standard arrow is reported as the
//! one shape (id 1).

use glance_protocol::CursorShape;
use objc2_core_graphics::{CGDisplayBounds, CGEvent};

use super::displays::MacDisplay;
use crate::cursor::SyntheticCursorShape;
use crate::{CaptureError, CursorSource, CursorState};

/// The pointer over one display.
#[derive(Debug)]
pub struct MacCursorSource {
    display: MacDisplay,
}

impl MacCursorSource {
    pub fn open(display: MacDisplay) -> MacCursorSource {
        MacCursorSource { display }
    }
}

/// The shape id of the arrow.
const ARROW_ID: u32 = 1;

impl CursorSource for MacCursorSource {
    fn poll(&mut self) -> Result<Option<CursorState>, CaptureError> {
        // Safe wrappers: CGEventCreate(NULL) makes an event from no source (NULL is allowed)
        // and CGEventGetLocation reads its location; both accept NULL.
        let Some(event) = CGEvent::new(None) else {
            return Ok(None);
        };
        let p = CGEvent::location(Some(&*event));
        // The display may have moved in the arrangement: read its bounds again.
        let b = CGDisplayBounds(self.display.id);
        let (px, py) = (p.x - b.origin.x, p.y - b.origin.y);
        let inside = (0.0..b.size.width).contains(&px) && (0.0..b.size.height).contains(&py);
        let x = (px * self.display.scale_x()).floor();
        let y = (py * self.display.scale_y()).floor();
        Ok(Some(CursorState {
            x: x.clamp(i32::MIN as f64, i32::MAX as f64) as i32,
            y: y.clamp(i32::MIN as f64, i32::MAX as f64) as i32,
            visible: inside,
            shape: ARROW_ID,
        }))
    }

    fn shape(&mut self, id: u32) -> Result<Option<CursorShape>, CaptureError> {
        Ok((id == ARROW_ID).then(|| SyntheticCursorShape::Arrow.image()))
    }

    fn display_size(&self) -> (u16, u16) {
        self.display.pixel_size()
    }
}
