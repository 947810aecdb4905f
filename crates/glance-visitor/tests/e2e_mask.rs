//! What leaves the process, end to end under a private Xvfb, through a real glance-server to a
//! Rust agent: a masked rectangle over a printing (scrolling) xterm shows the flat fill in
//! every frame the agent presents and the rest of the screen exactly; a masked window is
//! followed as it moves; the default display shows this process's own X window exactly and
//! nothing of another client beside and above it, also after both move and restack, and the
//! fill alone (with EventApplicationHidden) when the window is unmapped; `Applications` with
//! `application` and ShowDisplay switch between an application, `main` and back.
//!
//! The application is this test process: it owns an X window (with `_NET_WM_PID`, as toolkits
//! set it), so the pid rule is the one a C program over libglance meets.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{config, runtime, Visitor, Xvfb};
use glance_tests::{FlatWatch, TestAgent, TestServer};
use glance_visitor::capture::x11::X11Capturer;
use glance_visitor::capture::{Capturer, DisplaySource, FrameBuf};
use glance_visitor::pipeline::mask::MASK_FILL;
use glance_visitor::{DisplayParams, EventCode, StartParams};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, PropMode, StackMode, Window,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

const FILL_RGB: [u8; 3] = [MASK_FILL[2], MASK_FILL[1], MASK_FILL[0]];

use common::xterm;

/// Prints numbered lines forever-ish (scrolls), `n` of them.
fn printing(n: u32) -> String {
    format!("i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo \"masked line $i: the quick brown fox jumps\"; sleep 0.05; done; sleep 600")
}

/// The root-child window of process `pid` (by `_NET_WM_PID`), waiting for it to map.
fn window_of(conn: &RustConnection, root: Window, pid: u32) -> Window {
    let atom = conn
        .intern_atom(false, b"_NET_WM_PID")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for w in conn.query_tree(root).unwrap().reply().unwrap().children {
            let p = conn
                .get_property(false, w, atom, AtomEnum::CARDINAL, 0, 1)
                .unwrap()
                .reply();
            let mapped = conn
                .get_window_attributes(w)
                .unwrap()
                .reply()
                .is_ok_and(|a| a.map_state == x11rb::protocol::xproto::MapState::VIEWABLE);
            if mapped && p.is_ok_and(|p| p.value32().and_then(|mut v| v.next()) == Some(pid)) {
                return w;
            }
        }
        assert!(Instant::now() < deadline, "no window of pid {pid}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (x, y, w, h) of a root child, border included.
fn geometry(conn: &RustConnection, w: Window) -> (i32, i32, i32, i32) {
    let g = conn.get_geometry(w).unwrap().reply().unwrap();
    let b = g.border_width as i32;
    (
        g.x as i32,
        g.y as i32,
        g.width as i32 + 2 * b,
        g.height as i32 + 2 * b,
    )
}

fn inside((x0, y0, w, h): (i32, i32, i32, i32), x: i32, y: i32) -> bool {
    x >= x0 && y >= y0 && x < x0 + w && y < y0 + h
}

/// Waits until the agent's picture is the screen now with every pixel where `hidden` holds
/// replaced by the fill (re-read each round).
async fn agent_sees(
    agent: &TestAgent,
    cap: &mut X11Capturer,
    hidden: impl Fn(i32, i32) -> bool,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = FrameBuf::default();
    loop {
        cap.capture(&mut screen).unwrap();
        for y in 0..screen.height as i32 {
            for x in 0..screen.width as i32 {
                if hidden(x, y) {
                    let o = y as usize * screen.stride + x as usize * 4;
                    screen.data[o..o + 4].copy_from_slice(&MASK_FILL);
                }
            }
        }
        let ok = agent
            .wait_until(what, Duration::from_millis(700), |s| {
                s.fb.equals_bgrx(&screen.view())
            })
            .await
            .is_ok();
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the agent never showed the expected picture; {}",
            agent.snapshot().summary()
        );
    }
}

fn main_params(key: &str) -> StartParams {
    let mut p = StartParams {
        key: key.into(),
        ..Default::default()
    };
    p.display_params.display_name = "main".into();
    p
}

#[test]
fn a_masked_rectangle_over_scrolling_text_is_flat_in_every_frame() {
    let x = Xvfb::start("800x600x24");
    let mut term = xterm(&x.display, "80x24+10+10", &printing(200));
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;

        // Bad input changes nothing and names the argument.
        for (args, word) in [
            ((0, 0, 0, 10), "width"),
            ((0, 0, 10, -3), "height"),
            ((5_000_000, 0, 10, 10), "x"),
        ] {
            assert!(vis
                .v
                .add_masked_rect(args.0, args.1, args.2, args.3)
                .is_err());
            let e = vis.expect(EventCode::InvalidParameter, 5).await;
            assert!(e.message.contains(word), "{}", e.message);
        }
        assert!(vis.v.remove_mask(4242).is_err());
        let e = vis.expect(EventCode::InvalidParameter, 5).await;
        assert!(e.message.contains("mask_id"), "{}", e.message);
        assert!(vis.v.add_masked_window(0x7fff_fff0).is_err());
        let e = vis.expect(EventCode::InvalidParameter, 5).await;
        assert!(e.message.contains("native_window"), "{}", e.message);

        // The mask is the visitor's: added before the session, it applies in it. It crosses
        // the xterm's left edge and lies over the scrolling text.
        let (mx, my, mw, mh) = (0, 120, 300, 90);
        let id = vis.v.add_masked_rect(mx, my, mw, mh).unwrap();
        let masked = |x: i32, y: i32| inside((mx, my, mw, mh), x, y);
        let key = vis
            .start_params(main_params(glance_visitor::GLANCE_KEYTYPE_RANDOM))
            .await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent.set_watch(Some(FlatWatch {
            x: mx as u16,
            y: my as u16,
            w: mw as u16,
            h: mh as u16,
            rgb: FILL_RGB,
        }));
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("main")
            .unwrap();
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();
        agent_sees(&agent, &mut cap, masked, "masked while printing").await;
        // Printing 200 lines at 20 a second: ~10 s of scrolling.
        tokio::time::sleep(Duration::from_secs(11)).await;
        agent_sees(&agent, &mut cap, masked, "masked after printing").await;
        let s = agent.snapshot();
        assert_eq!(s.watch_violations, 0, "{:?}", s.first_violation);
        assert!(s.watched_frames > 20, "{} frames checked", s.watched_frames);
        let copies = s
            .rect_log
            .iter()
            .filter(|r| r.encoding == glance_protocol::Encoding::Copy)
            .count();
        assert!(copies > 0, "the scroll went as COPY across the mask's edge");
        eprintln!(
            "masked rect: {} frames checked, {copies} COPY rects, 0 violations",
            s.watched_frames
        );

        // Removed: the screen whole, exactly.
        agent.set_watch(None);
        vis.v.remove_mask(id).unwrap();
        agent_sees(&agent, &mut cap, |_, _| false, "mask removed").await;
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
    let _ = term.kill();
    let _ = term.wait();
}

#[test]
fn a_masked_window_is_followed_as_it_moves() {
    let x = Xvfb::start("800x600x24");
    let mut term = xterm(&x.display, "40x10+50+50", &printing(100_000));
    let (conn, screen) = RustConnection::connect(Some(&x.display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let w = window_of(&conn, root, term.id());
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        vis.v.add_masked_window(w as u64).unwrap();
        let key = vis
            .start_params(main_params(glance_visitor::GLANCE_KEYTYPE_RANDOM))
            .await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("main")
            .unwrap();
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();
        for (i, (nx, ny)) in [(50, 50), (400, 300), (120, 380)].into_iter().enumerate() {
            conn.configure_window(w, &ConfigureWindowAux::new().x(nx).y(ny))
                .unwrap();
            conn.sync().unwrap();
            let g = geometry(&conn, w);
            agent_sees(
                &agent,
                &mut cap,
                |x, y| inside(g, x, y),
                &format!("masked xterm at position {i}"),
            )
            .await;
            // Nothing of the xterm (white background, black text) shows: all fill there.
            let s = agent.snapshot();
            let fw = s.fb.width as i32;
            let filled = (g.1..g.1 + g.3)
                .flat_map(|y| (g.0..g.0 + g.2).map(move |x| (x, y)))
                .all(|(x, y)| s.fb.rgba[((y * fw + x) * 4) as usize..][..3] == FILL_RGB);
            assert!(filled, "position {i}");
        }
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
    let _ = term.kill();
    let _ = term.wait();
}

/// This process's own X window: green, with a blue child, `_NET_WM_PID` set.
fn own_window(conn: &RustConnection, root: Window, x: i16, y: i16) -> Window {
    let screen = &conn.setup().roots[0];
    let w = conn.generate_id().unwrap();
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        w,
        root,
        x,
        y,
        300,
        200,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new().background_pixel(0x00C000),
    )
    .unwrap();
    let child = conn.generate_id().unwrap();
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        child,
        w,
        40,
        30,
        100,
        60,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new().background_pixel(0x0000E0),
    )
    .unwrap();
    let atom = conn
        .intern_atom(false, b"_NET_WM_PID")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    conn.change_property32(
        PropMode::REPLACE,
        w,
        atom,
        AtomEnum::CARDINAL,
        &[std::process::id()],
    )
    .unwrap();
    conn.map_window(child).unwrap();
    conn.map_window(w).unwrap();
    conn.sync().unwrap();
    w
}

#[test]
fn the_default_display_is_this_application_only() {
    let x = Xvfb::start("800x600x24");
    let (conn, screen) = RustConnection::connect(Some(&x.display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let ours = own_window(&conn, root, 60, 60);
    // Another client beside and above ours (mapped later: on top), printing.
    let mut term = xterm(&x.display, "50x12+250+150", &printing(100_000));
    let other = window_of(&conn, root, term.id());
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis.start_random_default().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("main")
            .unwrap();
        assert_eq!(vis.v.session_info().display_name, desc.name);
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();

        // (our position, the xterm's, whether ours is raised above it)
        let steps = [
            ((60, 60), (250, 150), false),
            ((400, 250), (300, 200), false),
            ((400, 250), (300, 200), true),
            ((100, 300), (150, 350), true),
        ];
        for (i, (o, t, raised)) in steps.into_iter().enumerate() {
            conn.configure_window(ours, &ConfigureWindowAux::new().x(o.0).y(o.1))
                .unwrap();
            conn.configure_window(other, &ConfigureWindowAux::new().x(t.0).y(t.1))
                .unwrap();
            let top = if raised { ours } else { other };
            conn.configure_window(top, &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE))
                .unwrap();
            conn.sync().unwrap();
            let (og, tg) = (geometry(&conn, ours), geometry(&conn, other));
            let hidden = |x, y| !inside(og, x, y) || (!raised && inside(tg, x, y));
            agent_sees(&agent, &mut cap, hidden, &format!("step {i}")).await;
            // The xterm is behind the fill wherever it is not under our window; our window
            // (green and blue) is there.
            let s = agent.snapshot();
            let count = |rgb: [u8; 3]| s.fb.rgba.chunks_exact(4).filter(|p| p[..3] == rgb).count();
            let white = count([255, 255, 255]);
            assert_eq!(white, 0, "step {i}: nothing of the xterm (white) shows");
            let green = count([0, 0xC0, 0]);
            assert!(green > 10_000, "step {i}: our window shows ({green} green)");
            let fill = count(FILL_RGB);
            assert!(fill > 800 * 600 / 2, "step {i}: {fill} filled");
        }

        // Our window unmapped: nothing of ours is visible, agents see the fill alone, and
        // the application hears why.
        conn.unmap_window(ours).unwrap();
        conn.sync().unwrap();
        let e = vis.expect(EventCode::ApplicationHidden, 10).await;
        assert!(e.message.contains("no visible window"), "{}", e.message);
        agent_sees(&agent, &mut cap, |_, _| true, "unmapped").await;
        conn.map_window(ours).unwrap();
        conn.sync().unwrap();

        // ShowDisplay: the monitor whole, then another application (the xterm, by pid),
        // then back to this application.
        vis.v
            .show_display(DisplayParams {
                display_name: "main".into(),
                ..Default::default()
            })
            .unwrap();
        agent_sees(&agent, &mut cap, |_, _| false, "main whole").await;
        vis.v
            .show_display(DisplayParams {
                display_name: "Applications".into(),
                application: term.id().to_string(),
                ..Default::default()
            })
            .unwrap();
        let (og, tg) = (geometry(&conn, ours), geometry(&conn, other));
        // Ours was raised above the xterm.
        agent_sees(
            &agent,
            &mut cap,
            |x, y| !inside(tg, x, y) || inside(og, x, y),
            "the xterm by pid",
        )
        .await;
        // And by process name (the xterm's /proc/PID/comm).
        vis.v
            .show_display(DisplayParams {
                display_name: "Applications".into(),
                application: "xterm".into(),
                ..Default::default()
            })
            .unwrap();
        agent_sees(
            &agent,
            &mut cap,
            |x, y| !inside(tg, x, y) || inside(og, x, y),
            "the xterm by name",
        )
        .await;
        vis.v.show_display(DisplayParams::default()).unwrap();
        agent_sees(
            &agent,
            &mut cap,
            |x, y| !inside(og, x, y),
            "this application again",
        )
        .await;
        // "Applications" without an application is refused.
        assert!(vis
            .v
            .show_display(DisplayParams {
                display_name: "Applications".into(),
                ..Default::default()
            })
            .is_err());
        let e = vis.expect(EventCode::InvalidParameter, 5).await;
        assert!(e.message.contains("application"), "{}", e.message);

        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
    let _ = term.kill();
    let _ = term.wait();
}

#[test]
fn the_default_display_follows_the_application_to_another_monitor() {
    let x = Xvfb::start("1024x768x24");
    common::two_monitors(&x.display);
    let (conn, screen) = RustConnection::connect(Some(&x.display)).unwrap();
    let root = conn.setup().roots[screen].root;
    // Our window on the right monitor: the session starts there, not on the primary one.
    let ours = own_window(&conn, root, 600, 100);
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        let key = vis.start_random_default().await;
        assert_eq!(vis.v.session_info().display_name, "right");
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let source = DisplaySource::Platform(Some(x.display.clone()));
        let mut right =
            X11Capturer::open(Some(&x.display), &source.find("right").unwrap()).unwrap();
        let g = geometry(&conn, ours);
        agent_sees(
            &agent,
            &mut right,
            |x, y| !inside(g, x + 512, y),
            "on the right monitor",
        )
        .await;
        // Moved to the left monitor: the session follows it there.
        conn.configure_window(ours, &ConfigureWindowAux::new().x(100).y(200))
            .unwrap();
        conn.sync().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while vis.v.session_info().display_name != "left" {
            assert!(Instant::now() < deadline, "the session did not follow");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut left = X11Capturer::open(Some(&x.display), &source.find("left").unwrap()).unwrap();
        let g = geometry(&conn, ours);
        agent_sees(
            &agent,
            &mut left,
            |x, y| !inside(g, x, y),
            "followed to the left monitor",
        )
        .await;
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}
