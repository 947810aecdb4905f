//! Remote-control input on macOS through Quartz Event Services (CGEvent).
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! - Permission: posting events into other applications needs the user's Accessibility
//!   permission ("Privacy & Security > Accessibility"). `CGPreflightPostEventAccess()` says
//!   whether the process has it (macOS 10.15+); without it the system drops posted events
//!   silently, so opening the injector fails instead, with a `permission:` error, after one
//!   `CGRequestPostEventAccess()` (which shows the system's prompt). EnableRC then fires
//!   EventRCDisabled with that message.
//! - Events come from a `CGEventSourceCreate(kCGEventSourceStateHIDSystemState)` source and
//!   are posted with `CGEventPost(kCGHIDEventTap, ...)`, where hardware events enter. The
//!   source is made for each event (CoreGraphics objects are not `Send`, and the injector
//!   moves to the session's thread; at most 250 events a second makes that cheap).
//! - The pointer: agent coordinates are captured pixels of the display; they are divided by
//!   the display's scale factor (pixels per point) and offset by its `CGDisplayBounds` origin
//!   (read again for every event: the arrangement may change) into the global display space
//!   (points, origin at the main display's upper-left, y down), clamped to the display.
//!   `CGEventCreateMouseEvent(source, type, point, button)`: a move while a button is held
//!   is a *Dragged* event (applications track drags by them); presses carry
//!   `kCGMouseEventClickState` (1, or 2 and 3 for double and triple clicks at the same spot
//!   within 0.5 s) so that double-clicks work.
//! - The wheel: `CGEventCreateScrollWheelEvent2(source, kCGScrollEventUnitPixel, 2, wheel1,
//!   wheel2, 0)`: wheel1 is vertical, wheel2 horizontal, positive values scroll up / left, the
//!   opposite of the browser's `deltaY` / `deltaX`.
//! - Keys: `CGEventCreateKeyboardEvent(source, kVK_*, down)` with the virtual key of the DOM
//!   `code` ([`crate::keymap::mac_keycode`]); the modifier flags of the keys this injector
//!   holds (Shift, Control, Option, Command, Caps Lock) are set on every key and mouse event
//!   with `CGEventSetFlags`, since posted modifier key events alone do not reliably change the
//!   flags later events carry. A character without a key (IME, dead keys, other scripts) is
//!   a key down and up with virtual key 0 whose text is replaced by
//!   `CGEventKeyboardSetUnicodeString` (UTF-16, surrogate pairs included).
//! - Every key and button held is released by [`InputInjector::release_all`] and on drop.

use std::time::{Duration, Instant};

use glance_protocol::InputEvent;
use objc2_core_foundation::{CFRetained, CGPoint};
use objc2_core_graphics::{
    CGDisplayBounds, CGEvent, CGEventField, CGEventFlags, CGEventSource, CGEventSourceStateID,
    CGEventTapLocation, CGEventType, CGMouseButton, CGPreflightPostEventAccess,
    CGRequestPostEventAccess, CGScrollEventUnit,
};

use super::displays::MacDisplay;
use crate::keymap::{key_char, mac_keycode};
use crate::{CaptureError, InputInjector, PERMISSION_PREFIX};

/// Wheel pixels one event may scroll at most (ten browser notches).
const MAX_WHEEL: i32 = 1000;
/// Presses of one button at one spot within this long count as a double (triple) click.
const MULTI_CLICK: Duration = Duration::from_millis(500);

/// The three buttons: (bit in the agent's mask, CGMouseButton, down type, up type, drag type).
const BUTTONS: [(u8, CGMouseButton, CGEventType, CGEventType, CGEventType); 3] = [
    (
        1,
        CGMouseButton::Left,
        CGEventType::LeftMouseDown,
        CGEventType::LeftMouseUp,
        CGEventType::LeftMouseDragged,
    ),
    (
        2,
        CGMouseButton::Center,
        CGEventType::OtherMouseDown,
        CGEventType::OtherMouseUp,
        CGEventType::OtherMouseDragged,
    ),
    (
        4,
        CGMouseButton::Right,
        CGEventType::RightMouseDown,
        CGEventType::RightMouseUp,
        CGEventType::RightMouseDragged,
    ),
];

/// The flag a modifier key's virtual key sets while held.
fn modifier_flag(keycode: u16) -> CGEventFlags {
    match keycode {
        0x38 | 0x3C => CGEventFlags::MaskShift,
        0x3B | 0x3E => CGEventFlags::MaskControl,
        0x3A | 0x3D => CGEventFlags::MaskAlternate,
        0x37 | 0x36 => CGEventFlags::MaskCommand,
        0x39 => CGEventFlags::MaskAlphaShift,
        _ => CGEventFlags::empty(),
    }
}

/// A new HID-system-state event source (see the module documentation).
fn source() -> Option<CFRetained<CGEventSource>> {
    CGEventSource::new(CGEventSourceStateID::HIDSystemState)
}

/// See the module documentation.
pub struct MacInjector {
    display: MacDisplay,
    held_keys: Vec<u16>,
    held_buttons: u8,
    /// The last position (points) and the last press: (button bit, where, when, count).
    at: CGPoint,
    last_press: Option<(u8, CGPoint, Instant, i64)>,
}

impl std::fmt::Debug for MacInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacInjector")
            .field("display", &self.display.id)
            .field("held_keys", &self.held_keys)
            .field("held_buttons", &self.held_buttons)
            .finish_non_exhaustive()
    }
}

impl MacInjector {
    /// Checks the Accessibility permission (asking once when it is missing) and makes the
    /// event source.
    pub fn open(display: MacDisplay) -> Result<MacInjector, CaptureError> {
        if !CGPreflightPostEventAccess() {
            // Shows the system's prompt the first time; the user's answer applies to later
            // attempts (the process may have to be restarted, as for Screen Recording).
            if !CGRequestPostEventAccess() {
                return Err(CaptureError::Unsupported(format!(
                    "{PERMISSION_PREFIX} remote control needs the Accessibility permission: \
                     allow this application in System Settings > Privacy & Security > \
                     Accessibility"
                )));
            }
        }
        source().ok_or_else(|| {
            CaptureError::Open("CGEventSourceCreate returned no event source".into())
        })?;
        Ok(MacInjector {
            display,
            held_keys: Vec::new(),
            held_buttons: 0,
            at: CGPoint { x: 0.0, y: 0.0 },
            last_press: None,
        })
    }

    /// Captured display pixels to a point in the global display space, inside the display.
    fn point(&self, x: u16, y: u16) -> CGPoint {
        let b = CGDisplayBounds(self.display.id);
        let (sx, sy) = (self.display.scale_x(), self.display.scale_y());
        // The centre of the pixel, in points; the last point inside the display at most.
        let px = ((f64::from(x) + 0.5) / sx).min((b.size.width - 0.5).max(0.0));
        let py = ((f64::from(y) + 0.5) / sy).min((b.size.height - 0.5).max(0.0));
        CGPoint {
            x: b.origin.x + px.floor(),
            y: b.origin.y + py.floor(),
        }
    }

    fn flags(&self) -> CGEventFlags {
        self.held_keys
            .iter()
            .fold(CGEventFlags::empty(), |f, k| f | modifier_flag(*k))
    }

    fn post(&self, event: Option<CFRetained<CGEvent>>) -> Result<(), CaptureError> {
        let event =
            event.ok_or_else(|| CaptureError::Open("CGEventCreate* returned no event".into()))?;
        CGEvent::set_flags(Some(&event), self.flags());
        CGEvent::post(CGEventTapLocation::HIDEventTap, Some(&event));
        Ok(())
    }

    fn mouse(
        &self,
        kind: CGEventType,
        button: CGMouseButton,
        clicks: Option<i64>,
    ) -> Result<(), CaptureError> {
        let e = CGEvent::new_mouse_event(source().as_deref(), kind, self.at, button);
        if let (Some(e), Some(n)) = (&e, clicks) {
            CGEvent::set_integer_value_field(Some(e), CGEventField::MouseEventClickState, n);
        }
        self.post(e)
    }

    fn pointer(&mut self, x: u16, y: u16, buttons: u8) -> Result<(), CaptureError> {
        let to = self.point(x, y);
        let moved = to.x != self.at.x || to.y != self.at.y;
        self.at = to;
        if moved {
            // A drag while the lowest held button is down, else a plain move.
            let (kind, button) = BUTTONS
                .iter()
                .find(|b| self.held_buttons & b.0 != 0)
                .map(|b| (b.4, b.1))
                .unwrap_or((CGEventType::MouseMoved, CGMouseButton::Left));
            self.mouse(kind, button, None)?;
        }
        for (bit, button, down, up, _) in BUTTONS {
            let (was, now) = (self.held_buttons & bit != 0, buttons & bit != 0);
            if was == now {
                continue;
            }
            if now {
                let count = match self.last_press {
                    Some((b, p, t, n))
                        if b == bit
                            && t.elapsed() < MULTI_CLICK
                            && (p.x - to.x).abs() <= 2.0
                            && (p.y - to.y).abs() <= 2.0 =>
                    {
                        (n % 3) + 1
                    }
                    _ => 1,
                };
                self.last_press = Some((bit, to, Instant::now(), count));
                self.held_buttons |= bit;
                self.mouse(down, button, Some(count))?;
            } else {
                let count = self.last_press.map(|p| p.3).unwrap_or(1);
                self.held_buttons &= !bit;
                self.mouse(up, button, Some(count))?;
            }
        }
        Ok(())
    }

    fn wheel(&mut self, x: u16, y: u16, dx: i16, dy: i16) -> Result<(), CaptureError> {
        self.pointer(x, y, self.held_buttons)?;
        let clamp = |d: i16| (-i32::from(d)).clamp(-MAX_WHEEL, MAX_WHEEL);
        let e = CGEvent::new_scroll_wheel_event2(
            source().as_deref(),
            CGScrollEventUnit::Pixel,
            2,
            clamp(dy),
            clamp(dx),
            0,
        );
        self.post(e)
    }

    fn key(&mut self, code: &str, key: &str, down: bool) -> Result<(), CaptureError> {
        let Some(keycode) = mac_keycode(code) else {
            // No physical key: the character itself, on key down.
            let Some(c) = key_char(key) else {
                log::debug!("remote control: no key for code {code:?} / key {key:?}");
                return Ok(());
            };
            return if down { self.type_char(c) } else { Ok(()) };
        };
        if down {
            if !self.held_keys.contains(&keycode) {
                self.held_keys.push(keycode);
            }
        } else {
            self.held_keys.retain(|k| *k != keycode);
        }
        self.post(CGEvent::new_keyboard_event(
            source().as_deref(),
            keycode,
            down,
        ))
    }

    fn type_char(&mut self, c: char) -> Result<(), CaptureError> {
        let mut units = [0u16; 2];
        let units = c.encode_utf16(&mut units);
        for down in [true, false] {
            let e = CGEvent::new_keyboard_event(source().as_deref(), 0, down)
                .ok_or_else(|| CaptureError::Open("CGEventCreateKeyboardEvent failed".into()))?;
            // SAFETY: `units` is a live array of `units.len()` (1 or 2) UTF-16 code units for
            // the duration of the call, which copies them into the event
            // (CGEventKeyboardSetUnicodeString: "the length of the array" and "the Unicode
            // string"); `e` is a valid keyboard event.
            unsafe {
                CGEvent::keyboard_set_unicode_string(Some(&e), units.len() as _, units.as_ptr())
            };
            self.post(Some(e))?;
        }
        Ok(())
    }
}

impl InputInjector for MacInjector {
    fn inject(&mut self, event: &InputEvent) -> Result<(), CaptureError> {
        match event {
            InputEvent::Pointer { x, y, buttons } => self.pointer(*x, *y, *buttons & 7),
            InputEvent::Wheel { x, y, dx, dy } => self.wheel(*x, *y, *dx, *dy),
            InputEvent::Key { code, key, down } => self.key(code, key, *down),
        }
    }

    fn release_all(&mut self) {
        for k in std::mem::take(&mut self.held_keys).into_iter().rev() {
            let _ = self.post(CGEvent::new_keyboard_event(source().as_deref(), k, false));
        }
        for (bit, button, _, up, _) in BUTTONS {
            if self.held_buttons & bit != 0 {
                self.held_buttons &= !bit;
                let _ = self.mouse(up, button, Some(1));
            }
        }
    }
}

impl Drop for MacInjector {
    fn drop(&mut self) {
        self.release_all();
    }
}
