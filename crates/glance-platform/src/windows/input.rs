//! Remote-control input on Windows through SendInput: absolute pointer moves over the whole
//! virtual screen (MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK, never accelerated), the
//! left, middle and right buttons, both wheels (WHEEL / HWHEEL), keys by scan code from the
//! DOM `code` (KEYEVENTF_SCANCODE, E0-prefixed keys with KEYEVENTF_EXTENDEDKEY, so the
//! user's own layout decides what a physical key types), and characters without a key
//! through KEYEVENTF_UNICODE (one UTF-16 unit an event: surrogate pairs as two). Every key
//! and button this injector pressed is released by [`InputInjector::release_all`] and on
//! drop, so control that stops never leaves a Ctrl held down.

use glance_protocol::InputEvent;
use windows::Win32::UI::Input::KeyboardAndMouse::{
    MapVirtualKeyW, SendInput, INPUT, INPUT_0, INPUT_KEYBOARD, INPUT_MOUSE, KEYBDINPUT,
    KEYBD_EVENT_FLAGS, KEYEVENTF_EXTENDEDKEY, KEYEVENTF_KEYUP, KEYEVENTF_SCANCODE,
    KEYEVENTF_UNICODE, MAPVK_VSC_TO_VK_EX, MOUSEEVENTF_ABSOLUTE, MOUSEEVENTF_HWHEEL,
    MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP, MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP,
    MOUSEEVENTF_MOVE, MOUSEEVENTF_RIGHTDOWN, MOUSEEVENTF_RIGHTUP, MOUSEEVENTF_VIRTUALDESK,
    MOUSEEVENTF_WHEEL, MOUSEINPUT, MOUSE_EVENT_FLAGS, VIRTUAL_KEY,
};
use windows::Win32::UI::WindowsAndMessaging::{
    GetSystemMetrics, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN, SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN,
    WHEEL_DELTA,
};

use crate::keymap::{key_char, pc_scancode};
use crate::{CaptureError, DisplayDesc, InputInjector};

/// Wheel notches one event may turn at most (a browser reports about 100 pixels a notch).
const MAX_WHEEL_STEPS: i32 = 10;

/// The normalised absolute coordinate (0..=65535) that lands on pixel `p` of an axis
/// `extent` pixels long (`p` counted from the virtual screen's edge, clamped to it).
///
/// Windows maps it back as `floor(n * extent / 65536)` (win32k and ReactOS; Wine 8 does the
/// same: scripts/cross-windows.sh's test moves to every pixel of a row and a column, and a
/// one-off scan of every third n on 1024- and 1280-pixel screens, not kept in the
/// repository, missed none). The values sent to
/// `p` are `[ceil(p * 65536 / extent), ceil((p + 1) * 65536 / extent))`; the one returned is
/// the centre of the pixel, `floor((2p + 1) * 32768 / extent)`, inside that range for every
/// extent up to 32768. The often-quoted `p * 65535 / (extent - 1)`, rounded, misses some
/// pixels (pixel 1 of 1280 lands on 0).
pub fn absolute_coord(p: i32, extent: i32) -> i32 {
    let w = i64::from(extent.max(1));
    let p = i64::from(p).clamp(0, w - 1);
    (((2 * p + 1) * 32768) / w).min(65535) as i32
}

/// The virtual screen: (left, top, width, height).
fn virtual_screen() -> (i32, i32, i32, i32) {
    // SAFETY: plain metric queries, no memory passed.
    unsafe {
        (
            GetSystemMetrics(SM_XVIRTUALSCREEN),
            GetSystemMetrics(SM_YVIRTUALSCREEN),
            GetSystemMetrics(SM_CXVIRTUALSCREEN),
            GetSystemMetrics(SM_CYVIRTUALSCREEN),
        )
    }
}

fn mouse(dx: i32, dy: i32, data: i32, flags: MOUSE_EVENT_FLAGS) -> INPUT {
    INPUT {
        r#type: INPUT_MOUSE,
        Anonymous: INPUT_0 {
            mi: MOUSEINPUT {
                dx,
                dy,
                // a signed wheel delta travels in the unsigned field
                mouseData: data as u32,
                dwFlags: flags,
                time: 0,
                dwExtraInfo: 0,
            },
        },
    }
}

fn keyboard(vk: u16, scan: u16, flags: KEYBD_EVENT_FLAGS) -> INPUT {
    INPUT {
        r#type: INPUT_KEYBOARD,
        Anonymous: INPUT_0 {
            ki: KEYBDINPUT {
                wVk: VIRTUAL_KEY(vk),
                wScan: scan,
                dwFlags: flags,
                time: 0,
                dwExtraInfo: 0,
            },
        },
    }
}

/// The inputs that press (or release) the key with scan code `sc` (`0xE0xx`: extended).
/// The virtual key is filled in too (the layout's, through MapVirtualKeyW, or
/// [`fixed_vk`]): Windows ignores it under KEYEVENTF_SCANCODE, Wine 8 reads it.
pub fn scancode_input(sc: u16, down: bool) -> INPUT {
    let extended = sc & 0xff00 == 0xe000;
    let mut flags = KEYEVENTF_SCANCODE;
    if extended {
        flags |= KEYEVENTF_EXTENDEDKEY;
    }
    if !down {
        flags |= KEYEVENTF_KEYUP;
    }
    let vk = fixed_vk(sc).unwrap_or_else(|| {
        // SAFETY: a pure table lookup in the current keyboard layout; no memory passed.
        unsafe { MapVirtualKeyW(u32::from(sc), MAPVK_VSC_TO_VK_EX) as u16 }
    });
    keyboard(vk, sc & 0xff, flags)
}

/// The virtual key of the keys whose scan code MapVirtualKeyW cannot tell apart from
/// another key's (the E0 keys share their low byte with the keypad; Pause is NumLock's 45):
/// these do not depend on the layout.
pub fn fixed_vk(sc: u16) -> Option<u16> {
    Some(match sc {
        0x45 => 0x13,   // Pause: VK_PAUSE
        0xe01c => 0x0d, // NumpadEnter: VK_RETURN
        0xe01d => 0xa3, // VK_RCONTROL
        0xe035 => 0x6f, // VK_DIVIDE
        0xe037 => 0x2c, // VK_SNAPSHOT
        0xe038 => 0xa5, // VK_RMENU
        0xe045 => 0x90, // VK_NUMLOCK
        0xe047 => 0x24, // VK_HOME
        0xe048 => 0x26, // VK_UP
        0xe049 => 0x21, // VK_PRIOR
        0xe04b => 0x25, // VK_LEFT
        0xe04d => 0x27, // VK_RIGHT
        0xe04f => 0x23, // VK_END
        0xe050 => 0x28, // VK_DOWN
        0xe051 => 0x22, // VK_NEXT
        0xe052 => 0x2d, // VK_INSERT
        0xe053 => 0x2e, // VK_DELETE
        0xe05b => 0x5b, // VK_LWIN
        0xe05c => 0x5c, // VK_RWIN
        0xe05d => 0x5d, // VK_APPS
        _ => return None,
    })
}

/// The inputs that type `c` without a physical key: down and up of each UTF-16 unit.
pub fn unicode_inputs(c: char) -> Vec<INPUT> {
    let mut units = [0u16; 2];
    c.encode_utf16(&mut units)
        .iter()
        .flat_map(|&u| {
            [
                keyboard(0, u, KEYEVENTF_UNICODE),
                keyboard(0, u, KEYEVENTF_UNICODE | KEYEVENTF_KEYUP),
            ]
        })
        .collect()
}

/// The wheel delta (WHEEL_DELTA units) for `d` browser pixels: whole notches, at most
/// [`MAX_WHEEL_STEPS`]; `down_is_negative` for the vertical wheel (positive turns away from
/// the user, scrolling up; a browser's positive deltaY scrolls down).
pub fn wheel_delta(d: i16, down_is_negative: bool) -> i32 {
    if d == 0 {
        return 0;
    }
    let steps = ((i32::from(d).abs() + 99) / 100).clamp(1, MAX_WHEEL_STEPS);
    let v = steps * WHEEL_DELTA as i32;
    let positive = (d > 0) != down_is_negative;
    if positive {
        v
    } else {
        -v
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct WindowsInjector {
    /// The shared monitor's origin and size in virtual-screen pixels.
    origin: (i32, i32),
    size: (u16, u16),
    held_keys: Vec<u16>,
    held_buttons: u8,
}

impl WindowsInjector {
    /// An injector for `desc` (SendInput needs no handle; it fails only at send time, e.g.
    /// when UIPI blocks input into an elevated window).
    pub fn open(desc: &DisplayDesc) -> Result<WindowsInjector, CaptureError> {
        super::displays::set_dpi_awareness();
        Ok(WindowsInjector {
            origin: (i32::from(desc.x), i32::from(desc.y)),
            size: (desc.width, desc.height),
            held_keys: Vec::new(),
            held_buttons: 0,
        })
    }

    fn send(inputs: &[INPUT]) -> Result<(), CaptureError> {
        if inputs.is_empty() {
            return Ok(());
        }
        // SAFETY: `inputs` is a live slice of fully initialised INPUT structures and the
        // size passed is that of one INPUT, as SendInput requires.
        let n = unsafe { SendInput(inputs, std::mem::size_of::<INPUT>() as i32) };
        if n as usize != inputs.len() {
            return Err(CaptureError::Capture(format!(
                "SendInput injected {n} of {} events: {}",
                inputs.len(),
                windows::core::Error::from_thread()
            )));
        }
        Ok(())
    }

    /// The absolute move to pixel (x, y) of the shared monitor (clamped to it).
    pub fn move_input(&self, x: u16, y: u16) -> INPUT {
        let x = self.origin.0 + i32::from(x.min(self.size.0.saturating_sub(1)));
        let y = self.origin.1 + i32::from(y.min(self.size.1.saturating_sub(1)));
        let (vx, vy, vw, vh) = virtual_screen();
        mouse(
            absolute_coord(x - vx, vw),
            absolute_coord(y - vy, vh),
            0,
            MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK,
        )
    }

    fn button_inputs(&mut self, buttons: u8, out: &mut Vec<INPUT>) {
        let table = [
            (1u8, MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP),
            (2, MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP),
            (4, MOUSEEVENTF_RIGHTDOWN, MOUSEEVENTF_RIGHTUP),
        ];
        for (bit, down, up) in table {
            let (was, now) = (self.held_buttons & bit != 0, buttons & bit != 0);
            if was != now {
                out.push(mouse(0, 0, 0, if now { down } else { up }));
            }
        }
        self.held_buttons = buttons & 7;
    }

    fn key(&mut self, code: &str, key: &str, down: bool) -> Result<(), CaptureError> {
        let Some(sc) = pc_scancode(code) else {
            // No physical key: the character itself, on key down.
            let Some(c) = key_char(key) else {
                log::debug!("remote control: no key for code {code:?} / key {key:?}");
                return Ok(());
            };
            if !down {
                return Ok(());
            }
            return Self::send(&unicode_inputs(c));
        };
        if down {
            if !self.held_keys.contains(&sc) {
                self.held_keys.push(sc);
            }
        } else {
            self.held_keys.retain(|k| *k != sc);
        }
        Self::send(&[scancode_input(sc, down)])
    }
}

impl InputInjector for WindowsInjector {
    fn inject(&mut self, event: &InputEvent) -> Result<(), CaptureError> {
        match event {
            InputEvent::Pointer { x, y, buttons } => {
                let mut v = vec![self.move_input(*x, *y)];
                self.button_inputs(*buttons, &mut v);
                Self::send(&v)
            }
            InputEvent::Wheel { x, y, dx, dy } => {
                let mut v = vec![self.move_input(*x, *y)];
                let vertical = wheel_delta(*dy, true);
                if vertical != 0 {
                    v.push(mouse(0, 0, vertical, MOUSEEVENTF_WHEEL));
                }
                let horizontal = wheel_delta(*dx, false);
                if horizontal != 0 {
                    v.push(mouse(0, 0, horizontal, MOUSEEVENTF_HWHEEL));
                }
                Self::send(&v)
            }
            InputEvent::Key { code, key, down } => self.key(code, key, *down),
        }
    }

    fn release_all(&mut self) {
        let mut v: Vec<INPUT> = std::mem::take(&mut self.held_keys)
            .into_iter()
            .map(|sc| scancode_input(sc, false))
            .collect();
        self.button_inputs(0, &mut v);
        if let Err(e) = Self::send(&v) {
            log::warn!("remote control: releasing held keys and buttons: {e}");
        }
    }
}

impl Drop for WindowsInjector {
    fn drop(&mut self) {
        self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows' mapping back to a pixel (win32k, ReactOS): floor(n * extent / 65536).
    fn windows_pixel(n: i32, extent: i32) -> i32 {
        ((i64::from(n) * i64::from(extent)) >> 16) as i32
    }

    /// The mapping many programs assume, for the comparison.
    fn naive_coord(p: i32, extent: i32) -> i32 {
        ((i64::from(p) * 65535 + i64::from(extent) / 2) / (i64::from(extent) - 1)) as i32
    }

    #[test]
    fn absolute_coords_hit_every_pixel() {
        let extents = (1..=4100).chain([5120, 7680, 10240, 15360, 32767, 32768]);
        for w in extents {
            for p in 0..w {
                let n = absolute_coord(p, w);
                assert!((0..=65535).contains(&n), "w {w} p {p}: {n}");
                assert_eq!(windows_pixel(n, w), p, "w {w} p {p}: n {n}");
            }
        }
        // what the naive formula gets wrong
        assert_eq!(windows_pixel(naive_coord(1, 1280), 1280), 0);
        // out of range clamps to the edges
        assert_eq!(absolute_coord(-5, 1280), absolute_coord(0, 1280));
        assert_eq!(absolute_coord(5000, 1280), absolute_coord(1279, 1280));
        // a degenerate extent is one pixel wide
        assert_eq!(windows_pixel(absolute_coord(0, 0), 1), 0);
    }

    #[test]
    fn wheel_deltas_are_whole_notches_with_the_right_sign() {
        assert_eq!(wheel_delta(0, true), 0);
        assert_eq!(wheel_delta(100, true), -120, "deltaY > 0 scrolls down");
        assert_eq!(wheel_delta(-100, true), 120);
        assert_eq!(wheel_delta(1, true), -120, "a small turn is one notch");
        assert_eq!(wheel_delta(250, false), 360, "deltaX > 0 scrolls right");
        assert_eq!(wheel_delta(i16::MIN, false), -1200, "at most ten notches");
    }

    #[test]
    fn unicode_input_sends_each_utf16_unit_down_and_up() {
        let units = |c: char| -> Vec<(u16, bool)> {
            unicode_inputs(c)
                .iter()
                .map(|i| {
                    // SAFETY: unicode_inputs builds keyboard inputs only.
                    let ki = unsafe { i.Anonymous.ki };
                    assert_eq!(i.r#type, INPUT_KEYBOARD);
                    assert!(ki.dwFlags.contains(KEYEVENTF_UNICODE));
                    assert_eq!(ki.wVk, VIRTUAL_KEY(0));
                    (ki.wScan, ki.dwFlags.contains(KEYEVENTF_KEYUP))
                })
                .collect()
        };
        assert_eq!(units('é'), vec![(0xe9, false), (0xe9, true)]);
        assert_eq!(
            units('😀'),
            vec![
                (0xd83d, false),
                (0xd83d, true),
                (0xde00, false),
                (0xde00, true)
            ]
        );
    }

    #[test]
    fn extended_keys_carry_the_flag_and_a_fixed_virtual_key() {
        // SAFETY: scancode_input builds a keyboard input.
        let ki = |sc, down| unsafe { scancode_input(sc, down).Anonymous.ki };
        let left = ki(0xe04b, true);
        assert_eq!(left.wScan, 0x4b);
        assert!(left
            .dwFlags
            .contains(KEYEVENTF_SCANCODE | KEYEVENTF_EXTENDEDKEY));
        assert!(!left.dwFlags.contains(KEYEVENTF_KEYUP));
        assert_eq!(left.wVk, VIRTUAL_KEY(0x25));
        let a_up = ki(0x1e, false);
        assert_eq!(a_up.wScan, 0x1e);
        assert!(a_up.dwFlags.contains(KEYEVENTF_SCANCODE | KEYEVENTF_KEYUP));
        assert!(!a_up.dwFlags.contains(KEYEVENTF_EXTENDEDKEY));
        if std::env::var_os("GLANCE_XCI_SCREEN").is_some() {
            // Wine on Xvfb has a US layout: the A key is VK 'A'
            assert_eq!(a_up.wVk, VIRTUAL_KEY(u16::from(b'A')));
        }
    }
}
