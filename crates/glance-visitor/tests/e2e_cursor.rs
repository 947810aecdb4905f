//! End to end: the pointer travels as its own messages, not in the pixels. The real visitor
//! shares a synthetic display whose scripted pointer moves, through a real glance-server, to
//! Rust agents: they get each position (at most 30 a second, only changes), each shape once,
//! a late joiner gets shape and position, a paused session sends nothing, positions and
//! shapes follow the picture's scale, and the agents' pictures still equal the display pixel
//! for pixel. Under a private Xvfb, pointer warps reach the agent the same way (XFixes).

mod common;

use std::time::{Duration, Instant};

use common::{agent_matches, runtime, Visitor};
use glance_tests::{AgentState, CursorPos, TestAgent, TestServer};
use glance_visitor::capture::cursor::SyntheticCursorShape;
use glance_visitor::EventCode;

const T: Duration = Duration::from_secs(15);

fn pos(x: u16, y: u16, visible: bool, shape: u32) -> CursorPos {
    CursorPos {
        x,
        y,
        visible,
        shape,
    }
}

/// Waits until the agent's latest cursor satisfies `f`; returns it.
async fn cursor_where(a: &TestAgent, what: &str, f: impl Fn(CursorPos) -> bool) -> CursorPos {
    a.wait_until(what, T, |s| s.cursor().is_some_and(&f))
        .await
        .unwrap();
    a.with_state(|s| s.cursor()).unwrap()
}

fn counts(a: &TestAgent) -> (usize, usize) {
    a.with_state(|s: &AgentState| (s.cursors.len(), s.shapes.len()))
}

#[test]
fn synthetic_pointer_reaches_agents_beside_the_pixels() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let a1 = TestAgent::join_dev(&ready, &key).await.unwrap();

        // At first the pointer is hidden (the synthetic default); its shape came first.
        let first = cursor_where(&a1, "the first cursor", |c| !c.visible).await;
        let arrow = first.shape;
        let s = a1.snapshot();
        assert_eq!(s.shapes.len(), 1, "{}", s.summary());
        let img = s.shape(arrow).unwrap();
        let want = SyntheticCursorShape::Arrow.image();
        assert_eq!(
            (img.width, img.height, img.hot_x, img.hot_y, &img.rgba),
            (want.width, want.height, want.hot_x, want.hot_y, &want.rgba)
        );

        // Moves arrive as positions; the pixels never contain the pointer.
        d.set_cursor(100, 150, true);
        cursor_where(&a1, "the first move", |c| c == pos(100, 150, true, arrow)).await;
        let moves: Vec<(u16, u16)> = (1..=20).map(|i| (100 + i * 10, 150 + i * 5)).collect();
        for &(x, y) in &moves {
            d.set_cursor(x.into(), y.into(), true);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        cursor_where(&a1, "the last move", |c| c == pos(300, 250, true, arrow)).await;
        let s = a1.snapshot();
        for c in &s.cursors[1..] {
            assert!(
                c.x == 100 && c.y == 150 || moves.contains(&(c.x, c.y)),
                "a position never set: {c:?}"
            );
        }
        assert_eq!(s.shapes_received(arrow), 1, "the shape once");
        d.step(0);
        agent_matches(&a1, &d, "the picture, with the pointer over it").await;

        // At most 30 messages a second, however fast the pointer moves.
        let (before, _) = counts(&a1);
        let t = Instant::now();
        let mut i = 0i32;
        while t.elapsed() < Duration::from_secs(1) {
            d.set_cursor(10 + i % 600, 10 + (i / 600) % 400, true);
            i += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = counts(&a1).0 - before;
        assert!(
            (10..=36).contains(&sent),
            "{sent} cursor messages for {i} moves in a second"
        );
        // Nothing changes, nothing is sent.
        let (before, _) = counts(&a1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(counts(&a1).0, before, "an idle pointer sends nothing");

        // A new shape arrives once, before the position that uses it; back to the arrow,
        // the agent already has it.
        d.set_cursor(200, 100, true);
        d.set_cursor_shape(SyntheticCursorShape::IBeam);
        let c = cursor_where(&a1, "the I-beam", |c| c.shape != arrow).await;
        let ibeam = c.shape;
        assert_eq!(c, pos(200, 100, true, ibeam));
        assert_eq!(a1.with_state(|s| s.shape(ibeam).map(|i| i.width)), Some(7));
        d.set_cursor_shape(SyntheticCursorShape::Arrow);
        cursor_where(&a1, "the arrow again", |c| c == pos(200, 100, true, arrow)).await;
        assert_eq!(a1.with_state(|s| s.shapes.len()), 2, "each shape once");

        // Off the display: hidden, and where it is is not told.
        d.set_cursor(700, 10, true);
        cursor_where(&a1, "off the display", |c| c == pos(0, 0, false, arrow)).await;
        d.set_cursor(320, 240, true);
        cursor_where(&a1, "back", |c| c == pos(320, 240, true, arrow)).await;

        // A late joiner: the shape, then the position.
        let a2 = TestAgent::join_dev(&ready, &key).await.unwrap();
        cursor_where(&a2, "the late joiner", |c| c == pos(320, 240, true, arrow)).await;
        let s = a2.snapshot();
        assert_eq!(s.shapes.len(), 1, "{}", s.summary());
        assert_eq!(s.cursors_without_shape, 0);
        agent_matches(&a2, &d, "the late joiner's picture").await;

        // Paused: no cursor message at all, whatever the pointer does.
        vis.v.pause(true).unwrap();
        for a in [&a1, &a2] {
            a.wait_until("paused", T, |s| s.paused() == Some(true))
                .await
                .unwrap();
        }
        let (c1, c2) = (counts(&a1), counts(&a2));
        d.set_cursor(50, 50, true);
        tokio::time::sleep(Duration::from_millis(150)).await;
        d.set_cursor_shape(SyntheticCursorShape::IBeam);
        d.set_cursor(60, 70, true);
        let a3 = TestAgent::join_dev(&ready, &key).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!((counts(&a1), counts(&a2)), (c1, c2), "nothing while paused");
        assert_eq!(
            counts(&a3),
            (0, 0),
            "a joiner during the pause gets no cursor"
        );

        // Resumed: everyone learns where the pointer is now.
        vis.v.pause(false).unwrap();
        for a in [&a1, &a2, &a3] {
            cursor_where(a, "after resume", |c| c == pos(60, 70, true, ibeam)).await;
            agent_matches(a, &d, "the picture after resume").await;
            assert_eq!(a.with_state(|s| s.cursors_without_shape), 0);
            assert!(a.with_state(|s| s.error.is_none()));
        }
        assert_eq!(a1.with_state(|s| s.shapes_received(ibeam)), 1);

        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn pointer_follows_the_picture_scale() {
    use glance_visitor::{DisplayParams, StartParams};
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 800, 600).await;
        let d = vis.display().clone();
        d.set_cursor(400, 300, true);
        let key = vis
            .start_params(StartParams {
                display_params: DisplayParams {
                    scale: 0.5,
                    ..Default::default()
                },
                ..Default::default()
            })
            .await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        let c = cursor_where(&a, "the scaled position", |c| c.visible).await;
        assert_eq!((c.x, c.y), (200, 150));
        let img = a.with_state(|s| s.shape(c.shape).cloned()).unwrap();
        assert_eq!((img.width, img.height), (6, 10), "the arrow at half size");
        d.set_cursor(799, 599, true);
        cursor_where(&a, "the corner", |c| (c.x, c.y) == (399, 299)).await;
        a.wait_until("the half-size picture", T, |s| s.fb.width == 400)
            .await
            .unwrap();
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[cfg(target_os = "linux")]
mod x11 {
    use super::*;
    use common::{agent_matches_screen, config, two_monitors, warp_pointer, Xvfb};
    use glance_visitor::capture::x11::X11Capturer;
    use glance_visitor::capture::DisplaySource;
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt as _, CreateWindowAux, WindowClass};

    /// A window at (x, y) whose pointer is the cursor font's I-beam (XC_xterm); keep the
    /// connection alive while the window is needed.
    fn text_window(
        display: &str,
        x: i16,
        y: i16,
        w: u16,
        h: u16,
    ) -> x11rb::rust_connection::RustConnection {
        let (conn, screen) =
            x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
        let s = conn.setup().roots[screen].clone();
        let font = conn.generate_id().unwrap();
        conn.open_font(font, b"cursor").unwrap();
        let cursor = conn.generate_id().unwrap();
        const XC_XTERM: u16 = 152;
        conn.create_glyph_cursor(
            cursor,
            font,
            font,
            XC_XTERM,
            XC_XTERM + 1,
            0,
            0,
            0,
            0xFFFF,
            0xFFFF,
            0xFFFF,
        )
        .unwrap();
        let win = conn.generate_id().unwrap();
        conn.create_window(
            s.root_depth,
            win,
            s.root,
            x,
            y,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(s.white_pixel)
                .override_redirect(1)
                .cursor(cursor),
        )
        .unwrap();
        conn.map_window(win).unwrap();
        conn.get_input_focus().unwrap().reply().unwrap();
        conn
    }

    #[test]
    fn x11_pointer_moves_and_shapes_reach_the_agent() {
        let x = Xvfb::start("1024x768x24");
        runtime().block_on(async {
            let server = TestServer::start().await.unwrap();
            let ready = server.ready().clone();
            let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
            vis.v.init(config(&ready, None)).unwrap();
            vis.expect(EventCode::VisitorInitialized, 5).await;
            warp_pointer(&x.display, 100, 200);
            let key = vis.start_random().await;
            let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
            let c = cursor_where(&agent, "the pointer", |c| (c.x, c.y) == (100, 200)).await;
            assert!(c.visible);
            let root_shape = agent.with_state(|s| s.shape(c.shape).cloned()).unwrap();
            assert!(
                root_shape.rgba.chunks_exact(4).any(|p| p[3] == 255),
                "the root cursor has opaque pixels"
            );

            warp_pointer(&x.display, 700, 500);
            cursor_where(&agent, "a warp", |c| c == pos(700, 500, true, c.shape)).await;

            // Over a window with another cursor: a new shape, then positions with it.
            let _win = text_window(&x.display, 300, 300, 200, 200);
            warp_pointer(&x.display, 400, 380);
            let c = cursor_where(&agent, "the text window's cursor", |c| {
                (c.x, c.y) == (400, 380) && c.shape != root_shape.id
            })
            .await;
            let ibeam = agent.with_state(|s| s.shape(c.shape).cloned()).unwrap();
            assert_ne!(ibeam.rgba, root_shape.rgba, "a different image");
            assert!(ibeam.width <= 256 && ibeam.height <= 256);
            assert_eq!(agent.with_state(|s| s.cursors_without_shape), 0);

            // The shared pixels never contain the pointer.
            let desc = DisplaySource::Platform(Some(x.display.clone()))
                .find("main")
                .unwrap();
            let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();
            agent_matches_screen(&agent, &mut cap, "the screen without the pointer").await;
            vis.v.end_session().unwrap();
            vis.ended(10).await;
        });
    }

    #[test]
    fn x11_pointer_is_relative_to_the_shared_monitor() {
        let x = Xvfb::start("1024x768x24");
        two_monitors(&x.display);
        runtime().block_on(async {
            let server = TestServer::start().await.unwrap();
            let ready = server.ready().clone();
            let vis = Visitor::with_source(DisplaySource::Platform(Some(x.display.clone())));
            vis.v.init(config(&ready, None)).unwrap();
            vis.expect(EventCode::VisitorInitialized, 5).await;
            warp_pointer(&x.display, 50, 60);
            let key = vis.start_random().await;
            assert_eq!(vis.v.session_info().display_name, "left");
            let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
            let c = cursor_where(&agent, "on the left monitor", |c| c.visible).await;
            assert_eq!((c.x, c.y), (50, 60));
            // On the other monitor: hidden, position not told.
            warp_pointer(&x.display, 600, 100);
            cursor_where(&agent, "off the shared monitor", |c| {
                c == pos(0, 0, false, c.shape)
            })
            .await;
            // Share the right monitor: positions are relative to its origin.
            vis.v
                .show_display(glance_visitor::DisplayParams {
                    display_name: "right".into(),
                    ..Default::default()
                })
                .unwrap();
            cursor_where(&agent, "on the right monitor", |c| {
                c == pos(88, 100, true, c.shape)
            })
            .await;
            warp_pointer(&x.display, 20, 20);
            cursor_where(&agent, "now off it", |c| !c.visible).await;
            assert_eq!(agent.with_state(|s| s.cursors_without_shape), 0);
            vis.v.end_session().unwrap();
            vis.ended(10).await;
        });
    }
}
