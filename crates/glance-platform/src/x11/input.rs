//! Remote-control input on X11 through the XTEST extension: absolute pointer moves on the
//! root window (the monitor's origin added), buttons 1-3, the wheel as buttons 4-7, keys by
//! keysym through the server's keyboard mapping, and characters without a key by mapping a
//! spare keycode to their keysym for the keystroke. Every key and button this injector
//! pressed is released by [`InputInjector::release_all`] and on drop, so control that stops
//! never leaves a Ctrl held down. No `unsafe`.

use std::collections::HashMap;

use glance_protocol::InputEvent;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::capture::{err, open_conn};
use crate::keymap::{char_keysym, key_char, x11_keysym};
use crate::{CaptureError, DisplayDesc, InputInjector};

const KEY_PRESS: u8 = 2;
const KEY_RELEASE: u8 = 3;
const BUTTON_PRESS: u8 = 4;
const BUTTON_RELEASE: u8 = 5;
const MOTION_NOTIFY: u8 = 6;
/// Wheel notches one event may turn at most (a browser reports about 100 pixels a notch).
const MAX_WHEEL_STEPS: i32 = 10;

/// See the module documentation.
pub struct X11Injector {
    conn: RustConnection,
    root: Window,
    /// The shared monitor's origin and size on the root window.
    origin: (i32, i32),
    size: (u16, u16),
    keycodes: HashMap<u32, u8>,
    /// A keycode with no keysym, borrowed for characters without a key.
    spare: Option<u8>,
    keysyms_per_keycode: u8,
    held_keys: Vec<u8>,
    held_buttons: u8,
}

impl std::fmt::Debug for X11Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Injector")
            .field("origin", &self.origin)
            .field("held_keys", &self.held_keys)
            .finish_non_exhaustive()
    }
}

impl X11Injector {
    /// Opens the X display and checks XTEST.
    pub fn open(display: Option<&str>, desc: &DisplayDesc) -> Result<X11Injector, CaptureError> {
        let (conn, screen_num) = open_conn(display)?;
        let screen = conn
            .setup()
            .roots
            .get(screen_num)
            .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?
            .clone();
        conn.xtest_get_version(2, 2)
            .map_err(err)?
            .reply()
            .map_err(|e| {
                CaptureError::Unsupported(format!(
                    "remote control needs the X server's XTEST extension: {e}"
                ))
            })?;
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let map = conn
            .get_keyboard_mapping(min, max - min + 1)
            .map_err(err)?
            .reply()
            .map_err(err)?;
        let per = map.keysyms_per_keycode.max(1);
        let mut keycodes = HashMap::new();
        let mut spare = None;
        for (i, syms) in map.keysyms.chunks(usize::from(per)).enumerate() {
            let code = min.saturating_add(i as u8);
            if syms.iter().all(|s| *s == 0) {
                spare = spare.or(Some(code));
                continue;
            }
            for s in syms.iter().filter(|s| **s != 0) {
                keycodes.entry(*s).or_insert(code);
            }
        }
        Ok(X11Injector {
            conn,
            root: screen.root,
            origin: (i32::from(desc.x), i32::from(desc.y)),
            size: (desc.width, desc.height),
            keycodes,
            spare,
            keysyms_per_keycode: per,
            held_keys: Vec::new(),
            held_buttons: 0,
        })
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), CaptureError> {
        self.conn
            .xtest_fake_input(kind, detail, 0, self.root, x, y, 0)
            .map_err(err)?;
        Ok(())
    }

    fn move_to(&self, x: u16, y: u16) -> Result<(), CaptureError> {
        let x = self.origin.0 + i32::from(x.min(self.size.0.saturating_sub(1)));
        let y = self.origin.1 + i32::from(y.min(self.size.1.saturating_sub(1)));
        let clamp = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        self.fake(MOTION_NOTIFY, 0, clamp(x), clamp(y))
    }

    fn key(&mut self, code: &str, key: &str, down: bool) -> Result<(), CaptureError> {
        let keycode = match x11_keysym(code).and_then(|s| self.keycodes.get(&s).copied()) {
            Some(k) => k,
            None => {
                // No physical key: a character typed through a spare keycode, on key down.
                let Some(c) = key_char(key) else {
                    log::debug!("remote control: no key for code {code:?} / key {key:?}");
                    return Ok(());
                };
                if !down {
                    return Ok(());
                }
                return self.type_char(c);
            }
        };
        if down {
            if !self.held_keys.contains(&keycode) {
                self.held_keys.push(keycode);
            }
            self.fake(KEY_PRESS, keycode, 0, 0)
        } else {
            self.held_keys.retain(|k| *k != keycode);
            self.fake(KEY_RELEASE, keycode, 0, 0)
        }
    }

    fn type_char(&mut self, c: char) -> Result<(), CaptureError> {
        let sym = char_keysym(c);
        let keycode = match self.keycodes.get(&sym) {
            Some(k) => *k,
            None => {
                let Some(spare) = self.spare else {
                    log::debug!("remote control: no spare keycode to type {c:?}");
                    return Ok(());
                };
                let syms = vec![sym; usize::from(self.keysyms_per_keycode)];
                self.conn
                    .change_keyboard_mapping(1, spare, self.keysyms_per_keycode, &syms)
                    .map_err(err)?
                    .check()
                    .map_err(err)?;
                spare
            }
        };
        self.fake(KEY_PRESS, keycode, 0, 0)?;
        self.fake(KEY_RELEASE, keycode, 0, 0)
    }

    fn buttons(&mut self, buttons: u8) -> Result<(), CaptureError> {
        for (bit, button) in [(1u8, 1u8), (2, 2), (4, 3)] {
            let (was, now) = (self.held_buttons & bit != 0, buttons & bit != 0);
            if was != now {
                self.fake(
                    if now { BUTTON_PRESS } else { BUTTON_RELEASE },
                    button,
                    0,
                    0,
                )?;
            }
        }
        self.held_buttons = buttons & 7;
        Ok(())
    }

    fn wheel(&self, dx: i16, dy: i16) -> Result<(), CaptureError> {
        let steps = |d: i16| (i32::from(d).abs() + 99) / 100;
        for (d, neg, pos) in [(dy, 4u8, 5u8), (dx, 6, 7)] {
            if d == 0 {
                continue;
            }
            let button = if d < 0 { neg } else { pos };
            for _ in 0..steps(d).clamp(1, MAX_WHEEL_STEPS) {
                self.fake(BUTTON_PRESS, button, 0, 0)?;
                self.fake(BUTTON_RELEASE, button, 0, 0)?;
            }
        }
        Ok(())
    }
}

impl InputInjector for X11Injector {
    fn inject(&mut self, event: &InputEvent) -> Result<(), CaptureError> {
        match event {
            InputEvent::Pointer { x, y, buttons } => {
                self.move_to(*x, *y)?;
                self.buttons(*buttons)?;
            }
            InputEvent::Wheel { x, y, dx, dy } => {
                self.move_to(*x, *y)?;
                self.wheel(*dx, *dy)?;
            }
            InputEvent::Key { code, key, down } => self.key(code, key, *down)?,
        }
        self.conn.flush().map_err(err)
    }

    fn release_all(&mut self) {
        for k in std::mem::take(&mut self.held_keys) {
            let _ = self.fake(KEY_RELEASE, k, 0, 0);
        }
        let _ = self.buttons(0);
        let _ = self.conn.flush();
    }
}

impl Drop for X11Injector {
    fn drop(&mut self) {
        self.release_all();
    }
}
