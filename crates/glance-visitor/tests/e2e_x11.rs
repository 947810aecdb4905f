//! End to end with real X11 capture: an xterm under a private Xvfb is shared through a real
//! glance-server to a Rust agent, whose picture must equal the X server's screen pixel for
//! pixel, while the xterm prints and after it stops.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{agent_matches_screen, config, runtime, Visitor, Xvfb};
use glance_tests::{TestAgent, TestServer};
use glance_visitor::capture::x11::X11Capturer;
use glance_visitor::capture::{Capturer, DisplaySource, FrameBuf};
use glance_visitor::EventCode;

use common::xterm;

#[test]
fn shares_an_xterm_pixel_exact() {
    let x = Xvfb::start("1024x768x24");
    let mut xterm = xterm(&x.display, "80x24+20+20", "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do echo \"glance line $i: the quick brown fox\"; sleep 0.1; done; sleep 600");
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        assert_eq!(vis.v.display_count(), 1);
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis.start_random().await;
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("main")
            .unwrap();
        assert_eq!(vis.v.session_info().display_name, desc.name);
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();

        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent_matches_screen(&agent, &mut cap, "xterm while printing").await;
        // The xterm keeps printing for ~3 s (and scrolls); afterwards the screen is static.
        tokio::time::sleep(Duration::from_secs(4)).await;
        agent_matches_screen(&agent, &mut cap, "xterm after printing").await;
        let s = agent.snapshot();
        assert_eq!((s.fb.width, s.fb.height), (1024, 768));
        assert!(s.frames > 1, "changes arrived as several frames");
        // Something beyond the black background is there: the xterm's white window.
        let white =
            s.fb.rgba
                .chunks_exact(4)
                .filter(|p| p[..3] == [255, 255, 255])
                .count();
        assert!(
            white > 10_000,
            "the xterm is visible ({white} white pixels)"
        );

        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
    let _ = xterm.kill();
    let _ = xterm.wait();
}

/// Two RandR monitors (see [`common::two_monitors`]) painted left red, right blue.
fn two_painted_monitors(display: &str) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, Rectangle};
    common::two_monitors(display);
    let (conn, screen) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
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
}

#[test]
fn show_display_switches_monitors_mid_session() {
    let x = Xvfb::start("1024x768x24");
    two_painted_monitors(&x.display);
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        assert_eq!(vis.v.display_count(), 2);
        assert_eq!(vis.v.display_name(0).unwrap(), "left");
        assert_eq!(vis.v.display_name(1).unwrap(), "right");
        assert_eq!(vis.v.main_monitor(), Some(0));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        // ShowDisplay before a session is a state error.
        let right = glance_visitor::DisplayParams {
            display_name: "right".into(),
            ..Default::default()
        };
        assert!(vis.v.show_display(right.clone()).is_err());
        vis.expect(EventCode::InvalidState, 5).await;

        let key = vis.start_random().await;
        assert_eq!(vis.v.session_info().display_name, "left");
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let red = |s: &glance_tests::AgentState| {
            s.fb.width == 512 && s.fb.rgba.chunks_exact(4).all(|p| p[..3] == [0xC0, 0, 0])
        };
        agent
            .wait_until("left monitor", Duration::from_secs(15), red)
            .await
            .unwrap();

        // Unknown names are parameter errors; the session keeps showing the left monitor.
        let bogus = glance_visitor::DisplayParams {
            display_name: "HDMI-9".into(),
            ..Default::default()
        };
        assert!(vis.v.show_display(bogus).is_err());
        vis.expect(EventCode::InvalidParameter, 5).await;

        vis.v.show_display(right).unwrap();
        let blue = |s: &glance_tests::AgentState| {
            s.fb.width == 512 && s.fb.rgba.chunks_exact(4).all(|p| p[..3] == [0, 0, 0xC0])
        };
        agent
            .wait_until("right monitor", Duration::from_secs(15), blue)
            .await
            .unwrap();
        assert_eq!(vis.v.session_info().display_name, "right");
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

/// Runs `xrandr -d display args...` and checks that it succeeded.
fn xrandr(display: &str, args: &[&str]) {
    let st = Command::new("xrandr")
        .arg("-d")
        .arg(display)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("xrandr must be installed (scripts/setup.sh installs x11-xserver-utils)");
    assert!(st.success(), "xrandr {args:?}: {st}");
}

/// Fills the root window's rect with `color` (0xRRGGBB).
fn paint(display: &str, x: i16, w: u16, color: u32) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, Rectangle};
    let (conn, screen) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, root, &CreateGCAux::new().foreground(color))
        .unwrap();
    let r = Rectangle {
        x,
        y: 0,
        width: w,
        height: 768,
    };
    conn.poly_fill_rectangle(root, gc, &[r]).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
}

#[test]
fn a_monitor_removed_with_delmonitor_is_waited_for_and_comes_back() {
    let x = Xvfb::start("1024x768x24");
    two_painted_monitors(&x.display);
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis
            .start_params(glance_visitor::StartParams {
                display_params: glance_visitor::DisplayParams {
                    display_name: "right".into(),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await;
        assert_eq!(vis.v.session_info().display_name, "right");
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let all = |rgb: [u8; 3]| {
            move |s: &glance_tests::AgentState| {
                s.fb.width == 512 && s.fb.rgba.chunks_exact(4).all(|p| p[..3] == rgb)
            }
        };
        agent
            .wait_until("right monitor", Duration::from_secs(15), all([0, 0, 0xC0]))
            .await
            .unwrap();

        // The monitor goes: EventDeviceDisconnected, the session stays.
        let t = Instant::now();
        xrandr(&x.display, &["--delmonitor", "right"]);
        let e = vis.expect(EventCode::DeviceDisconnected, 10).await;
        let noticed = t.elapsed();
        assert_eq!(e.property("display"), Some("right"), "{e:?}");
        assert!(vis.v.session_info().is_connected);
        assert_eq!(vis.v.display_count(), 1, "only the left monitor is listed");
        // What was its area changes meanwhile; the agent keeps the last picture.
        paint(&x.display, 512, 512, 0x00C000);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            agent.with_state(all([0, 0, 0xC0])),
            "the last picture stays"
        );

        // It comes back: EventDeviceReconnected, and the agent shows it as it is now.
        xrandr(
            &x.display,
            &["--setmonitor", "right", "512/100x768/150+512+0", "none"],
        );
        let e = vis.expect(EventCode::DeviceReconnected, 10).await;
        assert_eq!(e.property("display"), Some("right"), "{e:?}");
        agent
            .wait_until(
                "right monitor, back",
                Duration::from_secs(15),
                all([0, 0xC0, 0]),
            )
            .await
            .unwrap();
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("right")
            .unwrap();
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();
        agent_matches_screen(&agent, &mut cap, "the monitor that came back").await;
        println!("monitor removal noticed after {} ms", noticed.as_millis());
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn identify_monitors_draws_each_number_then_removes_it() {
    let x = Xvfb::start("1024x768x24");
    common::two_monitors(&x.display);
    let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
    let source = DisplaySource::Platform(Some(x.display.clone()));
    let monitors = source.list().unwrap();
    let mut caps: Vec<X11Capturer> = monitors
        .iter()
        .map(|m| X11Capturer::open(Some(&x.display), m).unwrap())
        .collect();
    let white_in = |cap: &mut X11Capturer| {
        let mut f = FrameBuf::default();
        cap.capture(&mut f).unwrap();
        f.data
            .chunks_exact(4)
            .filter(|p| p[..3] == [255, 255, 255])
            .count()
    };
    assert!(caps.iter_mut().all(|c| white_in(c) == 0));
    vis.v.identify_monitors().unwrap();
    // Each monitor shows its number: "1" lights 2 bars, "2" lights 5.
    let deadline = Instant::now() + Duration::from_secs(2);
    let counts = loop {
        let c: Vec<usize> = caps.iter_mut().map(&white_in).collect();
        if c.iter().all(|&n| n > 0) || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        counts[0] > 1000 && counts[1] > counts[0],
        "white pixels per monitor: {counts:?}"
    );
    std::thread::sleep(
        glance_visitor::capture::identify::IDENTIFY_DURATION + Duration::from_millis(800),
    );
    assert!(
        caps.iter_mut().all(|c| white_in(c) == 0),
        "the numbers are gone afterwards"
    );
}

/// Moves a top-level window, as a window manager does during a drag.
fn move_window(display: &str, win: u32, x: i32, y: i32) {
    use x11rb::protocol::xproto::{ConfigureWindowAux, ConnectionExt as _};
    let (conn, _) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
    conn.configure_window(win, &ConfigureWindowAux::new().x(x).y(y))
        .unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
}

fn first_top_level(display: &str) -> Option<u32> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt as _, MapState};
    let (conn, screen) = x11rb::rust_connection::RustConnection::connect(Some(display)).ok()?;
    let root = conn.setup().roots[screen].root;
    let tree = conn.query_tree(root).ok()?.reply().ok()?;
    tree.children.into_iter().find(|&w| {
        conn.get_window_attributes(w)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|a| a.map_state == MapState::VIEWABLE)
    })
}

#[test]
fn a_dragged_window_travels_as_a_copy() {
    let x = Xvfb::start("1024x768x24");
    let mut xterm = xterm(
        &x.display,
        "70x20+40+40",
        "ls -la /usr/bin | head -18; sleep 600",
    );
    runtime().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        let win = loop {
            if let Some(w) = first_top_level(&x.display) {
                break w;
            }
            assert!(Instant::now() < deadline, "the xterm never mapped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(800)).await; // let it print
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis.start_random().await;
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("main")
            .unwrap();
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent_matches_screen(&agent, &mut cap, "before the drag").await;

        // Drag the window in 12 steps of (24, 12) px; after each step the agent must show
        // exactly the screen, and the step must cost far less than re-sending the window.
        let mut per_step = Vec::new();
        for i in 1..=12 {
            let before = agent.snapshot().update_bytes;
            move_window(&x.display, win, 40 + i * 24, 40 + i * 12);
            agent_matches_screen(&agent, &mut cap, "after a drag step").await;
            per_step.push(agent.snapshot().update_bytes - before);
        }
        per_step.sort_unstable();
        let median = per_step[per_step.len() / 2];
        // The xterm is about 430x280 px of text: re-encoded it costs well over 10 KB.
        // Measured: about 3 KB a step with the copy, 24 KB without.
        assert!(
            median < 8_000,
            "a drag step cost {median} bytes: {per_step:?}"
        );
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
    let _ = xterm.kill();
    let _ = xterm.wait();
}

/// A directory removed on drop.
struct TempPath(std::path::PathBuf);

impl TempPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Types `text` (letters, digits, '/', '-', ' ', '.') through agent key events, then Enter.
fn type_line(agent: &TestAgent, text: &str) {
    use glance_protocol::{Control, InputEvent};
    for c in text.chars().chain(std::iter::once('\n')) {
        let code = match c {
            'a'..='z' => format!("Key{}", c.to_ascii_uppercase()),
            '0'..='9' => format!("Digit{c}"),
            '/' => "Slash".into(),
            '-' => "Minus".into(),
            '.' => "Period".into(),
            ' ' => "Space".into(),
            '\n' => "Enter".into(),
            other => panic!("type_line cannot type {other:?}"),
        };
        for down in [true, false] {
            agent
                .send(&Control::Input {
                    input: InputEvent::Key {
                        code: code.clone(),
                        key: c.to_string(),
                        down,
                    },
                })
                .unwrap();
        }
    }
}

#[test]
fn an_agent_types_a_command_into_an_xterm_only_after_enable_rc() {
    use glance_protocol::{Control, InputEvent};
    let x = Xvfb::start("1024x768x24");
    let mut xterm = xterm(&x.display, "80x24+20+20", "exec sh");
    // A directory whose path holds only what type_line can type.
    let base = std::path::PathBuf::from(format!("/tmp/glancerc{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dir = TempPath(base);
    let before = dir.path().join("typedbefore");
    let after = dir.path().join("typedafter");
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Into the xterm (no window manager: the keyboard follows the pointer), a click.
        let click = |buttons| Control::Input {
            input: InputEvent::Pointer {
                x: 200,
                y: 120,
                buttons,
            },
        };
        agent.send(&click(1)).unwrap();
        agent.send(&click(0)).unwrap();
        type_line(&agent, &format!("touch {}", before.display()));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!before.exists(), "typed before EnableRC");

        vis.v.enable_rc(true).unwrap();
        common::agent_saw_rc_on(&agent).await;
        agent.send(&click(1)).unwrap();
        agent.send(&click(0)).unwrap();
        type_line(&agent, &format!("touch {}", after.display()));
        let t0 = std::time::Instant::now();
        while !after.exists() && t0.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(after.exists(), "the typed command did not run");

        vis.v.enable_rc(false).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let later = dir.path().join("typedlater");
        type_line(&agent, &format!("touch {}", later.display()));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!later.exists(), "typed after EnableRC(false)");
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
    let _ = xterm.kill();
    let _ = xterm.wait();
}
