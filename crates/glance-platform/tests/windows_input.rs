//! SendInput for real, under Wine on the Xvfb screen of scripts/cross-windows.sh (or on a
//! Windows desktop): the injector of `WindowsBackend` drives a window of this test and the
//! test checks what arrived: the pointer on the exact pixel (GetCursorPos), a click at the
//! right client coordinates, both wheels, keys by scan code with their virtual key and
//! character, characters without a key (surrogate pairs too), and everything held let go by
//! `release_all` (the clicks' MK_ flags say what the system holds). `pointer_ends_at_the_requested_pixel` leaves the pointer where
//! GLANCE_XCI_POINTER_END says, for the script to check the X pointer from Linux.
#![cfg(windows)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use glance_platform::windows::WindowsBackend;
use glance_platform::{Backend, DisplayDesc};
use glance_protocol::InputEvent;
use windows::core::w;
use windows::Win32::Foundation::{HWND, LPARAM, LRESULT, POINT, WPARAM};
use windows::Win32::System::LibraryLoader::GetModuleHandleW;
use windows::Win32::UI::Input::KeyboardAndMouse::{GetFocus, SetFocus};
use windows::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DestroyWindow, DispatchMessageW, GetCursorPos,
    GetForegroundWindow, PeekMessageW, RegisterClassW, SetForegroundWindow, TranslateMessage, MSG,
    PM_REMOVE, WM_CHAR, WM_KEYDOWN, WM_KEYUP, WM_LBUTTONDOWN, WM_LBUTTONUP, WM_MBUTTONDOWN,
    WM_MOUSEHWHEEL, WM_MOUSEWHEEL, WM_RBUTTONDOWN, WM_RBUTTONUP, WNDCLASSW, WS_EX_TOPMOST,
    WS_POPUP, WS_VISIBLE,
};

/// One message the test window received: (message, wParam, lParam).
type Seen = (u32, usize, isize);

/// What the test windows received (each test's window is its own thread's; tests run one
/// at a time under the script's --test-threads=1).
static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

fn seen() -> MutexGuard<'static, Vec<Seen>> {
    SEEN.lock().unwrap_or_else(|p| p.into_inner())
}

unsafe extern "system" fn record(hwnd: HWND, msg: u32, wp: WPARAM, lp: LPARAM) -> LRESULT {
    let kept = [
        WM_LBUTTONDOWN,
        WM_LBUTTONUP,
        WM_MBUTTONDOWN,
        WM_RBUTTONDOWN,
        WM_RBUTTONUP,
        WM_MOUSEWHEEL,
        WM_MOUSEHWHEEL,
        WM_KEYDOWN,
        WM_KEYUP,
        WM_CHAR,
    ];
    if kept.contains(&msg) {
        seen().push((msg, wp.0, lp.0));
    }
    // SAFETY: the default handling of every message of our own window.
    unsafe { DefWindowProcW(hwnd, msg, wp, lp) }
}

/// A visible, topmost, focused popup at (x, y) of the screen, recording input messages.
struct TestWindow {
    hwnd: HWND,
}

impl TestWindow {
    fn open(x: i32, y: i32, w: i32, h: i32) -> TestWindow {
        // SAFETY: the class names a 'static string and a wndproc of the right signature; the
        // window is created, used and destroyed on this thread, which pumps its messages.
        let hwnd = unsafe {
            let instance = GetModuleHandleW(None).unwrap();
            let wc = WNDCLASSW {
                lpfnWndProc: Some(record),
                hInstance: instance.into(),
                lpszClassName: w!("GlanceInputTest"),
                ..Default::default()
            };
            RegisterClassW(&wc);
            CreateWindowExW(
                WS_EX_TOPMOST,
                w!("GlanceInputTest"),
                w!("glance input test"),
                WS_POPUP | WS_VISIBLE,
                x,
                y,
                w,
                h,
                None,
                None,
                Some(instance.into()),
                None,
            )
            .unwrap()
        };
        let win = TestWindow { hwnd };
        // Keyboard input goes to the foreground window: make it ours, and wait until it
        // stays ours (under Wine, the focus events of the previous test's window arrive
        // late and can take it away again).
        let end = Instant::now() + Duration::from_secs(5);
        let mut stable = 0;
        while stable < 4 {
            // SAFETY: plain calls on our own window, on its thread.
            let ours = unsafe { GetForegroundWindow() == hwnd && GetFocus() == hwnd };
            if ours {
                stable += 1;
            } else {
                stable = 0;
                // SAFETY: as above.
                unsafe {
                    let _ = SetForegroundWindow(hwnd);
                    let _ = SetFocus(Some(hwnd));
                }
            }
            assert!(
                Instant::now() < end,
                "the test window never became the foreground one"
            );
            win.pump(Duration::from_millis(50));
        }
        seen().clear();
        win
    }

    /// Dispatches this thread's messages for `d`.
    fn pump(&self, d: Duration) {
        let end = Instant::now() + d;
        let mut msg = MSG::default();
        while Instant::now() < end {
            // SAFETY: a message loop on the thread that owns the window.
            unsafe {
                while PeekMessageW(&mut msg, None, 0, 0, PM_REMOVE).as_bool() {
                    let _ = TranslateMessage(&msg);
                    DispatchMessageW(&msg);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pumps until `n` messages of the kinds in `kinds` arrived (bounded: 3 s); returns them.
    fn wait(&self, kinds: &[u32], n: usize) -> Vec<Seen> {
        let end = Instant::now() + Duration::from_secs(3);
        loop {
            self.pump(Duration::from_millis(20));
            let got: Vec<Seen> = seen()
                .iter()
                .filter(|m| kinds.contains(&m.0))
                .copied()
                .collect();
            if got.len() >= n || Instant::now() > end {
                seen().clear();
                return got;
            }
        }
    }
}

impl Drop for TestWindow {
    fn drop(&mut self) {
        // SAFETY: our own window, destroyed on its thread.
        let _ = unsafe { DestroyWindow(self.hwnd) };
    }
}

fn main_display() -> DisplayDesc {
    let list = WindowsBackend.displays().unwrap();
    list.iter().find(|d| d.primary).unwrap().clone()
}

fn cursor() -> (i32, i32) {
    let mut p = POINT::default();
    // SAFETY: `p` is a live POINT.
    unsafe { GetCursorPos(&mut p) }.unwrap();
    (p.x, p.y)
}

fn pointer(x: u16, y: u16, buttons: u8) -> InputEvent {
    InputEvent::Pointer { x, y, buttons }
}

fn key(code: &str, key: &str, down: bool) -> InputEvent {
    InputEvent::Key {
        code: code.into(),
        key: key.into(),
        down,
    }
}

/// Client coordinates of a mouse message's lParam.
fn client_xy(lp: isize) -> (i16, i16) {
    (
        (lp & 0xffff) as u16 as i16,
        ((lp >> 16) & 0xffff) as u16 as i16,
    )
}

#[test]
fn absolute_moves_land_on_every_pixel_of_a_row_and_a_column() {
    let d = main_display();
    let mut inj = WindowsBackend.open_injector(&d).unwrap();
    let (ox, oy) = (i32::from(d.x), i32::from(d.y));
    let y = d.height / 3;
    let mut misses = Vec::new();
    for x in 0..d.width {
        inj.inject(&pointer(x, y, 0)).unwrap();
        let got = cursor();
        if got != (ox + i32::from(x), oy + i32::from(y)) {
            misses.push((x, y, got));
        }
    }
    let x = d.width / 3;
    for y in 0..d.height {
        inj.inject(&pointer(x, y, 0)).unwrap();
        let got = cursor();
        if got != (ox + i32::from(x), oy + i32::from(y)) {
            misses.push((x, y, got));
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {} moves missed, first {:?}",
        misses.len(),
        d.width + d.height,
        &misses[..misses.len().min(5)]
    );
    // beyond the monitor: clamped to its last pixel
    inj.inject(&pointer(u16::MAX, u16::MAX, 0)).unwrap();
    assert_eq!(
        cursor(),
        (ox + i32::from(d.width) - 1, oy + i32::from(d.height) - 1)
    );
}

#[test]
fn clicks_and_wheels_reach_the_window_under_the_pointer() {
    let d = main_display();
    let win = TestWindow::open(i32::from(d.x) + 200, i32::from(d.y) + 150, 300, 200);
    let mut inj = WindowsBackend.open_injector(&d).unwrap();
    inj.inject(&pointer(250, 180, 0)).unwrap();
    inj.inject(&pointer(250, 180, 1)).unwrap();
    inj.inject(&pointer(251, 181, 0)).unwrap();
    let got = win.wait(&[WM_LBUTTONDOWN, WM_LBUTTONUP], 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, client_xy(got[0].2)), (WM_LBUTTONDOWN, (50, 30)));
    assert_eq!((got[1].0, client_xy(got[1].2)), (WM_LBUTTONUP, (51, 31)));

    inj.inject(&pointer(260, 190, 4)).unwrap();
    inj.inject(&pointer(260, 190, 0)).unwrap();
    let got = win.wait(&[WM_RBUTTONDOWN, WM_RBUTTONUP], 2);
    assert_eq!(
        got.iter().map(|m| m.0).collect::<Vec<_>>(),
        [WM_RBUTTONDOWN, WM_RBUTTONUP]
    );
    assert_eq!(client_xy(got[0].2), (60, 40));

    inj.inject(&InputEvent::Wheel {
        x: 300,
        y: 200,
        dx: 0,
        dy: 100,
    })
    .unwrap();
    inj.inject(&InputEvent::Wheel {
        x: 300,
        y: 200,
        dx: -200,
        dy: 0,
    })
    .unwrap();
    let got = win.wait(&[WM_MOUSEWHEEL, WM_MOUSEHWHEEL], 2);
    let delta = |wp: usize| ((wp >> 16) & 0xffff) as u16 as i16;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, delta(got[0].1)), (WM_MOUSEWHEEL, -120), "down");
    assert_eq!((got[1].0, delta(got[1].1)), (WM_MOUSEHWHEEL, -240), "left");
}

#[test]
fn keys_go_by_scan_code_and_characters_by_unicode() {
    let d = main_display();
    let win = TestWindow::open(i32::from(d.x) + 100, i32::from(d.y) + 100, 200, 100);
    let mut inj = WindowsBackend.open_injector(&d).unwrap();
    inj.inject(&key("KeyA", "a", true)).unwrap();
    inj.inject(&key("KeyA", "a", false)).unwrap();
    inj.inject(&key("ArrowLeft", "ArrowLeft", true)).unwrap();
    inj.inject(&key("ArrowLeft", "ArrowLeft", false)).unwrap();
    let got = win.wait(&[WM_KEYDOWN, WM_KEYUP, WM_CHAR], 5);
    let scan = |lp: isize| ((lp >> 16) & 0xff, (lp >> 24) & 1);
    let kinds: Vec<(u32, usize)> = got.iter().map(|m| (m.0, m.1)).collect();
    assert_eq!(
        kinds,
        [
            (WM_KEYDOWN, 0x41),
            (WM_CHAR, 'a' as usize),
            (WM_KEYUP, 0x41),
            (WM_KEYDOWN, 0x25),
            (WM_KEYUP, 0x25)
        ],
        "{got:x?}"
    );
    assert_eq!(scan(got[0].2), (0x1e, 0), "A: scan code 1E, not extended");
    assert_eq!(scan(got[3].2), (0x4b, 1), "Left: scan code E0 4B");

    // characters without a key: Latin-1, Cyrillic, and one beyond the BMP (a surrogate pair)
    for (k, units) in [
        ("é", vec![0xe9]),
        ("ж", vec![0x436]),
        ("😀", vec![0xd83d, 0xde00]),
    ] {
        inj.inject(&key("", k, true)).unwrap();
        inj.inject(&key("", k, false)).unwrap();
        let chars: Vec<usize> = win
            .wait(&[WM_CHAR], units.len())
            .iter()
            .map(|m| m.1)
            .collect();
        assert_eq!(chars, units, "{k}");
    }
}

#[test]
fn release_all_lets_go_of_held_keys_and_buttons() {
    // What is held is read from the clicks: a button message's wParam carries the keys and
    // buttons down at that moment, as the system's input state has them.
    const MK_LBUTTON: usize = 0x01;
    const MK_SHIFT: usize = 0x04;
    const MK_CONTROL: usize = 0x08;
    let d = main_display();
    let win = TestWindow::open(i32::from(d.x) + 400, i32::from(d.y) + 300, 200, 200);
    let click_state = |inj: &mut Box<dyn glance_platform::InputInjector>| {
        inj.inject(&pointer(460, 360, 1)).unwrap();
        inj.inject(&pointer(460, 360, 0)).unwrap();
        let got = win.wait(&[WM_LBUTTONDOWN, WM_LBUTTONUP], 2);
        assert_eq!(got.len(), 2, "{got:x?}");
        got[0].1
    };
    let mut inj = WindowsBackend.open_injector(&d).unwrap();
    inj.inject(&key("ShiftLeft", "Shift", true)).unwrap();
    inj.inject(&key("ControlRight", "Control", true)).unwrap();
    inj.inject(&pointer(450, 350, 1)).unwrap();
    let got = win.wait(&[WM_KEYDOWN, WM_LBUTTONDOWN], 3);
    assert_eq!(got.len(), 3, "{got:x?}");
    assert_eq!(
        (got[0].0, got[0].1, (got[0].2 >> 16) & 0x1ff),
        (WM_KEYDOWN, 0x10, 0x2a)
    );
    assert_eq!(
        (got[1].0, got[1].1, (got[1].2 >> 16) & 0x1ff),
        (WM_KEYDOWN, 0x11, 0x11d)
    );
    assert_eq!(
        (got[2].0, got[2].1),
        (WM_LBUTTONDOWN, MK_LBUTTON | MK_SHIFT | MK_CONTROL),
        "Shift, right Ctrl and the left button down"
    );
    inj.release_all();
    let got = win.wait(&[WM_KEYUP, WM_LBUTTONUP], 3);
    let mut kinds: Vec<(u32, usize)> = got.iter().map(|m| (m.0, m.1 & 0xff)).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [(WM_KEYUP, 0x10), (WM_KEYUP, 0x11), (WM_LBUTTONUP, 0)],
        "{got:x?}"
    );
    assert_eq!(
        click_state(&mut inj),
        MK_LBUTTON,
        "Shift or Ctrl still down"
    );

    // dropping the injector releases too
    inj.inject(&key("ShiftLeft", "Shift", true)).unwrap();
    assert_eq!(win.wait(&[WM_KEYDOWN], 1).len(), 1);
    assert_eq!(click_state(&mut inj), MK_LBUTTON | MK_SHIFT);
    drop(inj);
    assert_eq!(win.wait(&[WM_KEYUP], 1).len(), 1, "no key up at drop");
    let mut again = WindowsBackend.open_injector(&d).unwrap();
    assert_eq!(
        click_state(&mut again),
        MK_LBUTTON,
        "Shift still down after drop"
    );
}

/// GLANCE_XCI_POINTER_END=XxY: click at that pixel of the main monitor (into a window of
/// this test, which must see it there) and leave the pointer on it; the script then asks
/// the X server where its pointer is.
#[test]
fn pointer_ends_at_the_requested_pixel() {
    let Some((x, y)) = std::env::var("GLANCE_XCI_POINTER_END")
        .ok()
        .and_then(|v| glance_platform::displays::parse_size(&v))
    else {
        return;
    };
    let d = main_display();
    let win = TestWindow::open(
        i32::from(d.x) + i32::from(x) - 20,
        i32::from(d.y) + i32::from(y) - 20,
        40,
        40,
    );
    let mut inj = WindowsBackend.open_injector(&d).unwrap();
    inj.inject(&pointer(x, y, 1)).unwrap();
    inj.inject(&pointer(x, y, 0)).unwrap();
    let got = win.wait(&[WM_LBUTTONDOWN, WM_LBUTTONUP], 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(client_xy(got[0].2), (20, 20));
    assert_eq!(
        cursor(),
        (i32::from(d.x) + i32::from(x), i32::from(d.y) + i32::from(y))
    );
    println!("POINTER_END {x} {y}");
}
