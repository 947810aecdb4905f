//! Remote control hits what the agent sees (issue 12): under a private Xvfb with two RandR
//! monitors, green targets are real X windows at known desktop coordinates. A Rust agent finds
//! each target in the picture it rebuilt (so the forward mapping is whatever capture did),
//! clicks it, and the X server must report the press inside that window at exactly the
//! desktop pixel the inverse mapping promises: at scale 0.5 on the left monitor, then after
//! ShowDisplay on the right monitor (origin 512,0) at scale 1 and at scale 0.5.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{config, runtime, Visitor, Xvfb};
use glance_protocol::{Control, InputEvent};
use glance_tests::{AgentState, TestAgent, TestServer};
use glance_visitor::capture::DisplaySource;
use glance_visitor::{DisplayParams, EventCode, StartParams};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask, Rectangle, WindowClass,
};
use x11rb::protocol::Event as XEvent;
use x11rb::rust_connection::RustConnection;

/// An X connection holding the targets and watching their button presses.
struct Targets {
    conn: RustConnection,
    root: u32,
}

impl Targets {
    fn new(display: &str) -> Targets {
        let (conn, screen) = RustConnection::connect(Some(display)).unwrap();
        let root = conn.setup().roots[screen].root;
        // The desktop: left monitor red, right blue (no window manager).
        for (i, color) in [0xC00000u32, 0x0000C0].into_iter().enumerate() {
            let gc = conn.generate_id().unwrap();
            conn.create_gc(gc, root, &CreateGCAux::new().foreground(color))
                .unwrap();
            let r = Rectangle {
                x: (i * 512) as i16,
                y: 0,
                width: 512,
                height: 768,
            };
            conn.poly_fill_rectangle(root, gc, &[r]).unwrap();
        }
        conn.get_input_focus().unwrap().reply().unwrap();
        Targets { conn, root }
    }

    /// A green override-redirect window at desktop (x, y), `size` pixels square, that reports
    /// button presses.
    fn add(&self, x: i16, y: i16, size: u16) -> u32 {
        let w = self.conn.generate_id().unwrap();
        self.conn
            .create_window(
                x11rb::COPY_DEPTH_FROM_PARENT,
                w,
                self.root,
                x,
                y,
                size,
                size,
                0,
                WindowClass::INPUT_OUTPUT,
                x11rb::COPY_FROM_PARENT,
                &CreateWindowAux::new()
                    .background_pixel(0x00C000)
                    .override_redirect(1)
                    .event_mask(EventMask::BUTTON_PRESS),
            )
            .unwrap();
        self.conn.map_window(w).unwrap();
        self.conn.get_input_focus().unwrap().reply().unwrap();
        w
    }

    fn remove(&self, w: u32) {
        self.conn.destroy_window(w).unwrap();
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }

    /// The next button press (window, root x, root y) within `secs`.
    fn next_press(&self, secs: u64) -> Option<(u32, i16, i16)> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            match self.conn.poll_for_event().unwrap() {
                Some(XEvent::ButtonPress(e)) => return Some((e.event, e.root_x, e.root_y)),
                Some(_) => {}
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        None
    }
}

/// Where the target is in the picture: the greenest pixel, the first one row by row if
/// several are as green (the scaler smooths, so at scale 0.5 a target's edges blend with the
/// desktop and only its core stays mostly green).
fn find_green(s: &AgentState) -> Option<(u16, u16)> {
    let w = usize::from(s.fb.width.max(1));
    let greenness = |p: &[u8]| i32::from(p[1]) - i32::from(p[0]) - i32::from(p[2]);
    let (i, best) = s.fb.rgba.chunks_exact(4).map(greenness).enumerate().fold(
        (0, i32::MIN),
        |(bi, bv), (i, v)| if v > bv { (i, v) } else { (bi, bv) },
    );
    // The desktop is red or blue: a target is there only if some pixel is mostly green.
    (best > 0x40).then(|| ((i % w) as u16, (i / w) as u16))
}

/// Waits for a `width`-wide picture showing a target, clicks the first target pixel and
/// returns where it clicked in the picture.
async fn click_target(agent: &TestAgent, width: u16, what: &str) -> (u16, u16) {
    agent
        .wait_until(what, Duration::from_secs(15), |s| {
            s.fb.width == width && find_green(s).is_some()
        })
        .await
        .unwrap();
    let (x, y) = agent.with_state(find_green).unwrap();
    for buttons in [1, 0] {
        agent
            .send(&Control::Input {
                input: InputEvent::Pointer { x, y, buttons },
            })
            .unwrap();
    }
    (x, y)
}

#[test]
fn clicks_land_on_the_target_the_agent_sees_through_scale_and_show_display() {
    let x = Xvfb::start("1024x768x24");
    common::two_monitors(&x.display);
    let targets = Targets::new(&x.display);
    // Left monitor, shared at scale 0.5: a 4x4 target at (100, 200) is a 2x2 green block at
    // picture (50, 100); that pixel's centre is desktop (101, 201).
    let t1 = targets.add(100, 200, 4);
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis
            .start_params(StartParams {
                key: glance_visitor::GLANCE_KEYTYPE_RANDOM.into(),
                display_params: DisplayParams {
                    display_name: "left".into(),
                    scale: 0.5,
                    ..Default::default()
                },
                ..Default::default()
            })
            .await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        vis.v.enable_rc(true).unwrap();
        common::agent_saw_rc_on(&agent).await;

        let at = click_target(&agent, 256, "left monitor at scale 0.5 with its target").await;
        assert_eq!(at, (50, 100), "where the agent saw the target");
        let press = targets.next_press(10).expect("the click reached no window");
        assert_eq!(
            press,
            (t1, 101, 201),
            "scale 0.5: window, desktop x, desktop y"
        );
        targets.remove(t1);

        // ShowDisplay to the right monitor at scale 1: a 1x1 target at desktop (812, 400) is
        // picture pixel (300, 400).
        let t2 = targets.add(812, 400, 1);
        vis.v
            .show_display(DisplayParams {
                display_name: "right".into(),
                ..Default::default()
            })
            .unwrap();
        let at = click_target(&agent, 512, "right monitor at scale 1 with its target").await;
        assert_eq!(at, (300, 400));
        let press = targets.next_press(10).expect("the click reached no window");
        assert_eq!(
            press,
            (t2, 812, 400),
            "right monitor: window, desktop x, desktop y"
        );
        targets.remove(t2);

        // The right monitor at scale 0.5: a 4x4 target at desktop (512+200, 300) is picture
        // (100, 150), whose centre is desktop (713, 301).
        let t3 = targets.add(712, 300, 4);
        vis.v
            .show_display(DisplayParams {
                display_name: "right".into(),
                scale: 0.5,
                ..Default::default()
            })
            .unwrap();
        let at = click_target(&agent, 256, "right monitor at scale 0.5 with its target").await;
        assert_eq!(at, (100, 150));
        let press = targets.next_press(10).expect("the click reached no window");
        assert_eq!(
            press,
            (t3, 713, 301),
            "right at 0.5: window, desktop x, desktop y"
        );

        // A click outside the picture is clamped to its last pixel, never beyond the monitor:
        // the press lands on the right monitor's bottom-right pixel (the root window).
        for buttons in [1, 0] {
            agent
                .send(&Control::Input {
                    input: InputEvent::Pointer {
                        x: 9000,
                        y: 9000,
                        buttons,
                    },
                })
                .unwrap();
        }
        // Root presses are not selected; the pointer position tells where it went.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let p = targets
            .conn
            .query_pointer(targets.root)
            .unwrap()
            .reply()
            .unwrap();
        assert_eq!((p.root_x, p.root_y), (1023, 767), "clamped to the monitor");
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

/// The colour of the default UI's "remote control is on" notice (x11/indicator.rs).
const NOTICE: [u8; 3] = [0xB0, 0x00, 0x20];

#[test]
fn the_remote_control_notice_shows_while_control_is_on_and_lets_clicks_through() {
    let x = Xvfb::start("1024x768x24");
    common::two_monitors(&x.display);
    let targets = Targets::new(&x.display);
    // Under where the notice will be (the right monitor's top right corner, 8 pixels in).
    let under = targets.add(1024 - 8 - 12, 8, 4);
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis
            .start_params(StartParams {
                key: glance_visitor::GLANCE_KEYTYPE_RANDOM.into(),
                display_params: DisplayParams {
                    display_name: "right".into(),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let at = |s: &AgentState, x: usize, y: usize| -> [u8; 3] {
            let i = (y * usize::from(s.fb.width) + x) * 4;
            [s.fb.rgba[i], s.fb.rgba[i + 1], s.fb.rgba[i + 2]]
        };
        // Picture (511 - 8 - 2, 8 + 2): inside the notice's padding once it is there.
        let (nx, ny) = (501usize, 10usize);
        agent
            .wait_until(
                "the right monitor, no notice",
                Duration::from_secs(15),
                |s| s.fb.width == 512 && at(s, nx, ny) == [0, 0, 0xC0],
            )
            .await
            .unwrap();
        vis.v.enable_rc(true).unwrap();
        common::agent_saw_rc_on(&agent).await;
        agent
            .wait_until("the notice", Duration::from_secs(10), |s| {
                at(s, nx, ny) == NOTICE
            })
            .await
            .unwrap();
        // Click-through: a click on the notice reaches the window under it.
        let (cx, cy) = (1024 - 8 - 12 + 1 - 512, 9u16);
        for buttons in [1, 0] {
            agent
                .send(&Control::Input {
                    input: InputEvent::Pointer {
                        x: cx,
                        y: cy,
                        buttons,
                    },
                })
                .unwrap();
        }
        let press = targets.next_press(10).expect("the click reached no window");
        assert_eq!(press, (under, 1024 - 8 - 12 + 1, 9), "through the notice");

        vis.v.enable_rc(false).unwrap();
        agent
            // (What shows there now is the root window's own background: the blue was
            // painted on it, not set as its background.)
            .wait_until("the notice gone", Duration::from_secs(10), |s| {
                at(s, nx, ny) != NOTICE
            })
            .await
            .unwrap();
        // With the default UI off, control comes without a notice.
        vis.v.set_default_ui(false).unwrap();
        vis.v.enable_rc(true).unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_ne!(agent.with_state(|s| at(s, nx, ny)), NOTICE, "no notice");
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}
