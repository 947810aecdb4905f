//! Real X11 capture under a private Xvfb: monitors are listed, MIT-SHM is used, pixels drawn
//! on the root window come back exactly, and the MIT-SHM and GetImage paths agree.
#![cfg(target_os = "linux")]

mod common;

use common::Xvfb;
use glance_visitor::capture::x11::{list_monitors, X11Capturer};
use glance_visitor::capture::{Capturer, FrameBuf};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateGCAux, Rectangle};
use x11rb::rust_connection::RustConnection;

fn fill_root(display: &str, rect: Rectangle, rgb: u32) {
    let (conn, screen) = RustConnection::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let gc = conn.generate_id().unwrap();
    conn.create_gc(
        gc,
        root,
        &CreateGCAux::new()
            .foreground(rgb)
            .subwindow_mode(x11rb::protocol::xproto::SubwindowMode::INCLUDE_INFERIORS),
    )
    .unwrap();
    conn.poly_fill_rectangle(root, gc, &[rect]).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap(); // round trip: drawn before we return
}

fn pixel(f: &FrameBuf, x: usize, y: usize) -> [u8; 4] {
    let i = y * f.stride + x * 4;
    [f.data[i], f.data[i + 1], f.data[i + 2], f.data[i + 3]]
}

#[test]
fn captures_exact_pixels_through_shm_and_get_image() {
    let x = Xvfb::start("640x480x24");
    let monitors = list_monitors(Some(&x.display)).unwrap();
    assert!(!monitors.is_empty());
    let m = monitors.iter().find(|m| m.primary).unwrap().clone();
    assert_eq!((m.width, m.height), (640, 480));

    fill_root(
        &x.display,
        Rectangle {
            x: 0,
            y: 0,
            width: 640,
            height: 480,
        },
        0x102030,
    );
    fill_root(
        &x.display,
        Rectangle {
            x: 100,
            y: 50,
            width: 40,
            height: 30,
        },
        0xFF8000,
    );

    let mut shm = X11Capturer::open(Some(&x.display), &m).unwrap();
    assert!(
        shm.uses_shm(),
        "Xvfb offers MIT-SHM; the fast path must be used"
    );
    let mut plain = X11Capturer::open_with(Some(&x.display), &m, false).unwrap();
    assert!(!plain.uses_shm());

    let (mut a, mut b) = (FrameBuf::default(), FrameBuf::default());
    shm.capture(&mut a).unwrap();
    plain.capture(&mut b).unwrap();
    assert_eq!((a.width, a.height), (640, 480));
    assert_eq!(a, b, "MIT-SHM and GetImage give the same pixels");
    // BGRX with the padding normalised: orange inside the rect, dark blue-grey outside.
    assert_eq!(pixel(&a, 100, 50), [0x00, 0x80, 0xFF, 0xFF]);
    assert_eq!(pixel(&a, 139, 79), [0x00, 0x80, 0xFF, 0xFF]);
    assert_eq!(pixel(&a, 140, 80), [0x30, 0x20, 0x10, 0xFF]);
    assert_eq!(pixel(&a, 0, 0), [0x30, 0x20, 0x10, 0xFF]);

    // A later change is seen by the same capturer (the segment is re-read, not cached).
    fill_root(
        &x.display,
        Rectangle {
            x: 0,
            y: 0,
            width: 10,
            height: 10,
        },
        0x00FF00,
    );
    shm.capture(&mut a).unwrap();
    assert_eq!(pixel(&a, 5, 5), [0x00, 0xFF, 0x00, 0xFF]);
}

#[test]
fn a_missing_display_is_a_clear_error() {
    let e = list_monitors(Some(":239")).unwrap_err();
    assert!(e.to_string().contains("X11"), "{e}");
}

#[test]
fn damage_events_tell_when_the_screen_changed() {
    let x = Xvfb::start("320x240x24");
    let m = list_monitors(Some(&x.display)).unwrap().remove(0);
    let mut cap = X11Capturer::open(Some(&x.display), &m).unwrap();
    let mut f = FrameBuf::default();
    cap.capture(&mut f).unwrap();
    // Settle: whatever was pending before is consumed.
    let _ = cap.may_have_changed();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!cap.may_have_changed(), "an idle screen reports no damage");
    fill_root(
        &x.display,
        Rectangle {
            x: 5,
            y: 5,
            width: 20,
            height: 20,
        },
        0xFFFFFF,
    );
    let t = std::time::Instant::now();
    let mut seen = false;
    while t.elapsed() < std::time::Duration::from_secs(5) && !seen {
        seen = cap.may_have_changed();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(seen, "a drawing reports damage");
    assert!(!cap.may_have_changed(), "and only once");
}
