//! A shared display that goes away mid-session (issue 11, "Bad input"), end to end: a real
//! glance-server over TLS on 127.0.0.1, a visitor on the synthetic display, real agents. The
//! display is unplugged: EventDeviceDisconnected, the session stays connected, the agents stay
//! in and keep the last picture (a late joiner gets it too), the pointer is hidden; it comes
//! back: EventDeviceReconnected and the agents' pictures equal the display again, pixel for
//! pixel.
//! A display that does not come back within the window ends the session with a clear reason.
//! ShowDisplay of a display that cannot be opened keeps the current one (EventException).

mod common;

use std::time::{Duration, Instant};

use common::{agent_matches, runtime, Visitor};
use glance_tests::TestServer;
use glance_tests::{AgentState, TestAgent};
use glance_visitor::EventCode;

/// Both tests run in one process: one window for both (the first stays well inside it).
const WINDOW_MS: &str = "4000";

fn short_window() {
    std::env::set_var("GLANCE_DISPLAY_RETURN_WINDOW_MS", WINDOW_MS);
}

/// Waits until the agent shows the pointer at `at` (None: hidden).
async fn pointer(a: &TestAgent, what: &str, at: Option<(u16, u16)>) {
    a.wait_until(what, Duration::from_secs(5), |s| match (s.cursor(), at) {
        (Some(c), Some((x, y))) => c.visible && (c.x, c.y) == (x, y),
        (Some(c), None) => !c.visible,
        (None, _) => false,
    })
    .await
    .unwrap();
}

fn updates(a: &TestAgent) -> u64 {
    a.with_state(|s: &AgentState| s.updates)
}

#[test]
fn an_unplugged_display_is_waited_for_and_comes_back_pixel_exact() {
    short_window();
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let a1 = TestAgent::join_dev(&ready, &key).await.unwrap();
        for n in 0..5 {
            d.step(n);
        }
        agent_matches(&a1, &d, "before the display goes").await;
        let last = d.snapshot();
        d.set_cursor(100, 120, true);
        pointer(&a1, "the pointer", Some((100, 120))).await;

        // Unplugged: the event names the display; nothing ends.
        let t = Instant::now();
        d.unplug();
        let e = vis.expect(EventCode::DeviceDisconnected, 5).await;
        let noticed = t.elapsed();
        assert_eq!(e.property("display"), Some("Synthetic"), "{e:?}");
        assert!(e.message.contains("waits up to 4 s"), "{}", e.message);
        assert_eq!(
            vis.v.display_count(),
            0,
            "an unplugged display is not listed"
        );
        pointer(&a1, "the pointer hidden", None).await;

        // While it is away: still connected, the agent still in, and nothing is sent (it
        // keeps the last picture) even though the picture is drawn on.
        for n in 5..10 {
            d.step(n);
        }
        let before = updates(&a1);
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            updates(&a1),
            before,
            "nothing is sent while the display is away"
        );
        assert!(a1.with_state(|s| s.fb.equals_bgrx(&last.view())));
        let info = vis.v.session_info();
        assert!(info.is_connected && info.n_guests == 1, "{info:?}");
        assert!(a1.with_state(|s| s.ended_status().is_none()));
        // A late joiner gets the last picture too.
        let a2 = TestAgent::join_dev(&ready, &key).await.unwrap();
        a2.wait_until("the last picture", Duration::from_secs(10), |s| {
            s.fb.equals_bgrx(&last.view())
        })
        .await
        .unwrap();

        // Back (within the window): EventDeviceReconnected, and both agents show the display
        // as it is now, pixel for pixel.
        d.plug();
        let e = vis.expect(EventCode::DeviceReconnected, 5).await;
        let away = t.elapsed();
        assert_eq!(e.property("display"), Some("Synthetic"), "{e:?}");
        agent_matches(&a1, &d, "after the display came back").await;
        pointer(&a1, "the pointer back", Some((100, 120))).await;
        agent_matches(&a2, &d, "the late joiner after the display came back").await;
        // And it keeps sharing.
        d.step(42);
        agent_matches(&a1, &d, "a change after the return").await;
        println!(
            "display loss noticed after {} ms; away for {} ms",
            noticed.as_millis(),
            away.as_millis()
        );
        assert!(vis.rx.try_iter().all(|e| e.code != EventCode::SessionEnded));
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn a_display_that_stays_away_ends_the_session_with_a_clear_reason() {
    short_window();
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent_matches(&a, &d, "first picture").await;
        d.unplug();
        vis.expect(EventCode::DeviceDisconnected, 5).await;
        let t = Instant::now();
        let e = vis.expect(EventCode::SessionEnded, 15).await;
        let after = t.elapsed();
        assert_eq!(e.property("reason"), Some("SessionEndReasonError"), "{e:?}");
        assert!(
            e.message.contains("Synthetic") && e.message.contains("did not come back within 4 s"),
            "{}",
            e.message
        );
        assert!(
            after >= Duration::from_millis(3000) && after < Duration::from_secs(8),
            "ended {after:?} after the loss"
        );
        // The agent is told the session is over.
        a.wait_until("ended", Duration::from_secs(10), |s| {
            s.ended_status().is_some()
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_show_display_that_cannot_open_keeps_the_current_display() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent_matches(&a, &d, "first picture").await;
        let half = glance_visitor::DisplayParams {
            display_name: "Synthetic".into(),
            scale: 0.5,
            ..Default::default()
        };
        // Listed, so the call is accepted; opening it fails in the session.
        d.refuse_opens(true);
        vis.v.show_display(half.clone()).unwrap();
        let e = vis.expect(EventCode::Exception, 10).await;
        assert_eq!(e.property("display"), Some("Synthetic"), "{e:?}");
        assert!(
            e.message.contains("cannot show Synthetic")
                && e.message.contains("still showing Synthetic"),
            "{}",
            e.message
        );
        assert!(
            e.property("error").unwrap_or_default().contains("refuses"),
            "{e:?}"
        );
        // The current display is still shared, at its old scale, pixel for pixel.
        d.step(1);
        agent_matches(&a, &d, "the current display, unscaled").await;
        assert_eq!(a.with_state(|s| s.fb.width), 640);
        assert!(vis
            .rx
            .try_iter()
            .all(|e| e.code != EventCode::DeviceDisconnected && e.code != EventCode::SessionEnded));
        // Once it can be opened, ShowDisplay works.
        d.refuse_opens(false);
        vis.v.show_display(half).unwrap();
        a.wait_until("half size", Duration::from_secs(10), |s| {
            (s.fb.width, s.fb.height) == (320, 240)
        })
        .await
        .unwrap();
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}
