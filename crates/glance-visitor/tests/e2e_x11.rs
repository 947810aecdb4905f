//! End to end with real X11 capture: an xterm under a private Xvfb is shared through a real
//! glance-server to a Rust agent, whose picture must equal the X server's screen pixel for
//! pixel, while the xterm prints and after it stops.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{config, runtime, Visitor, Xvfb};
use glance_tests::{TestAgent, TestServer};
use glance_visitor::capture::x11::X11Capturer;
use glance_visitor::capture::{Capturer, DisplaySource, FrameBuf};
use glance_visitor::EventCode;

/// Waits until the agent shows exactly what the X server shows now (re-read each round).
async fn agent_matches_screen(agent: &TestAgent, cap: &mut X11Capturer, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = FrameBuf::default();
    loop {
        cap.capture(&mut screen).unwrap();
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
            "{what}: the agent never matched the screen; {}",
            agent.snapshot().summary()
        );
    }
}

#[test]
fn shares_an_xterm_pixel_exact() {
    let x = Xvfb::start("1024x768x24");
    let mut xterm = Command::new("xterm")
        .args([
            "-display",
            &x.display,
            "-geometry",
            "80x24+20+20",
            "-e",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do echo \"glance line $i: the quick brown fox\"; sleep 0.1; done; sleep 600",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm must be installed (scripts/setup.sh installs it)");
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
