//! End to end: the real visitor shares the synthetic display through a real glance-server over
//! TLS on 127.0.0.1 to Rust agents whose rebuilt framebuffer must equal the visitor's picture
//! pixel for pixel, after a sequence of changes, a pause and resume, and a late second agent;
//! a photographic region goes as JPEG first and is exact after the lossless refresh.

mod common;

use std::time::Duration;

use common::{agent_matches, runtime, Visitor};
use glance_protocol::Control;
use glance_tests::{TestAgent, TestServer};
use glance_visitor::EventCode;

#[test]
fn synthetic_display_pixel_exact_through_pause_and_late_joiner() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 800, 600).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        assert!(key.chars().all(|c| c.is_ascii_digit()), "random key {key}");
        let info = vis.v.session_info();
        assert!(info.call_id > 0 && info.is_connected && info.key == key);

        let a1 = TestAgent::join_dev(&ready, &key).await.unwrap();
        assert!(
            a1.with_state(|s| s.joined().is_some()),
            "{}",
            a1.snapshot().summary()
        );
        let g = vis.expect(EventCode::GuestCountChange, 10).await;
        assert_eq!(g.property("count"), Some("1"));
        assert_eq!(vis.v.session_info().n_guests, 1);
        agent_matches(&a1, &d, "first picture").await;

        // A sequence of changes: typing, scrolling, windows.
        for n in 0..40 {
            d.step(n);
            if n % 7 == 6 {
                agent_matches(&a1, &d, "after changes").await;
            }
        }
        agent_matches(&a1, &d, "after 40 changes").await;

        // Pause: the agent is told, and no pixel of what changes meanwhile reaches it.
        vis.v.pause(true).unwrap();
        a1.wait_until("paused", Duration::from_secs(10), |s| {
            s.paused() == Some(true)
        })
        .await
        .unwrap();
        let before = a1.snapshot();
        d.step(200);
        d.fill_rect(10, 300, 300, 100, [250, 0, 250]);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let during = a1.snapshot();
        assert_eq!(before.fb.rgba, during.fb.rgba, "no pixels while paused");
        assert_eq!(before.updates, during.updates, "no updates while paused");
        assert!(vis.v.session_info().is_paused);

        // A second agent joins late, while paused: told it is paused, no pixels yet.
        let a2 = TestAgent::join_dev(&ready, &key).await.unwrap();
        a2.wait_until("joined paused", Duration::from_secs(10), |s| {
            s.paused() == Some(true)
        })
        .await
        .unwrap();
        assert_eq!(
            vis.expect(EventCode::GuestCountChange, 10)
                .await
                .property("count"),
            Some("2")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !a2.with_state(|s| s.fb.has_picture()),
            "a paused session shows nothing"
        );

        vis.v.pause(false).unwrap();
        agent_matches(&a1, &d, "first agent after resume").await;
        agent_matches(&a2, &d, "late agent after resume").await;
        for n in 40..60 {
            d.step(n);
        }
        agent_matches(&a1, &d, "first agent after more changes").await;
        agent_matches(&a2, &d, "late agent after more changes").await;

        // The second agent leaves; the first sees the count drop.
        a2.leave().unwrap();
        assert_eq!(
            vis.expect(EventCode::GuestCountChange, 10)
                .await
                .property("count"),
            Some("1")
        );
        a1.wait_until("count 1", Duration::from_secs(10), |s| {
            s.guest_count() == Some(1)
        })
        .await
        .unwrap();

        // The visitor ends: SessionEndReasonThisSide; the agent sees status 24.
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
        a1.wait_until("ended", Duration::from_secs(10), |s| {
            s.ended_status().is_some()
        })
        .await
        .unwrap();
        assert_eq!(a1.with_state(|s| s.ended_status()), Some(24));
        assert_eq!(vis.v.session_info().call_id, 0);
    });
}

#[test]
fn display_resize_reaches_agents_as_a_key_frame() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent_matches(&a, &d, "first picture").await;
        d.resize(400, 300);
        d.step(3);
        agent_matches(&a, &d, "resized picture").await;
        assert_eq!(a.with_state(|s| (s.fb.width, s.fb.height)), (400, 300));
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn wrong_or_missing_token_never_sees_pixels() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let key = vis.start_random().await;
        for token in ["", "not-the-token", &format!("{}x", ready.agent_token)] {
            let a = TestAgent::join(&ready, &key, token, Some(ready.group_id))
                .await
                .unwrap();
            a.wait_closed(Duration::from_secs(10)).await.unwrap();
            let s = a.snapshot();
            assert_eq!(s.join_failed(), Some(18), "{}", s.summary());
            assert_eq!(s.updates, 0);
            assert!(!s.fb.has_picture());
            assert!(!s.events.iter().any(|c| matches!(c, Control::Joined { .. })));
        }
        // The visitor never saw a guest.
        assert_eq!(vis.v.session_info().n_guests, 0);
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn scale_and_capture_box_resize_what_agents_see() {
    use glance_visitor::pipeline::scale::{ScaleSpec, Scaler};
    use glance_visitor::{DisplayParams, StartParams};
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 800, 600).await;
        let d = vis.display().clone();
        let half = DisplayParams {
            scale: 0.5,
            ..Default::default()
        };
        let key = vis
            .start_params(StartParams {
                display_params: half.clone(),
                ..Default::default()
            })
            .await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        let expect = |spec: ScaleSpec| {
            let mut out = glance_visitor::capture::FrameBuf::default();
            Scaler::default()
                .scale(&d.snapshot(), spec, &mut out)
                .unwrap();
            out
        };
        for n in 0..10 {
            d.step(n);
        }
        let want = expect(ScaleSpec::from_params(&half));
        assert_eq!((want.width, want.height), (400, 300));
        a.wait_until("half-size picture", Duration::from_secs(15), |s| {
            s.fb.equals_bgrx(&want.view())
        })
        .await
        .unwrap();
        // ShowDisplay with a capture box: fit 320x320 keeping 4:3 -> 320x240.
        let boxed = DisplayParams {
            capture_width: 320,
            capture_height: 320,
            ..Default::default()
        };
        vis.v.show_display(boxed.clone()).unwrap();
        let want = expect(ScaleSpec::from_params(&boxed));
        assert_eq!((want.width, want.height), (320, 240));
        a.wait_until("boxed picture", Duration::from_secs(15), |s| {
            s.fb.equals_bgrx(&want.view())
        })
        .await
        .unwrap();
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn photographic_region_goes_as_jpeg_then_pixel_exact_and_text_stays_lossless() {
    use glance_protocol::{Encoding, Rect, RectEncoder};
    use glance_visitor::pipeline::refresh::REFRESH_DELAY;
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        agent_matches(&a, &d, "first picture").await;
        let desktop = a.with_state(|s| s.rect_log.clone());
        assert!(
            desktop.iter().all(|r| r.encoding != Encoding::Jpeg),
            "a desktop of text and gradients goes lossless"
        );

        // A photo appears (10 x 7 tiles, tile-aligned).
        let photo = Rect::new(160, 128, 320, 224);
        d.paint_photo(photo.x, photo.y, photo.w, photo.h, 3);
        let want = d.snapshot();
        let t = std::time::Instant::now();
        a.wait_until("a JPEG rect", Duration::from_secs(15), |s| {
            s.rect_log[desktop.len()..]
                .iter()
                .any(|r| r.encoding == Encoding::Jpeg)
        })
        .await
        .unwrap();
        let s = a.snapshot();
        let log = &s.rect_log[desktop.len()..];
        let overlaps = |r: &Rect| {
            r.x < photo.x + photo.w
                && photo.x < r.x + r.w
                && r.y < photo.y + photo.h
                && photo.y < r.y + r.h
        };
        // The first update that touches the photo sends it as JPEG, all of it.
        let first = log.iter().find(|r| overlaps(&r.rect)).unwrap();
        let frame: Vec<_> = log.iter().filter(|r| r.seq == first.seq).collect();
        assert!(
            frame.iter().all(|r| r.encoding == Encoding::Jpeg),
            "{frame:?}"
        );
        let covered: usize = frame.iter().map(|r| r.rect.area()).sum();
        assert_eq!(covered, photo.area(), "{frame:?}");
        // ... in far fewer bytes than the same rects sent losslessly.
        let jpeg_bytes: usize = frame.iter().map(|r| r.len).sum();
        let mut enc = RectEncoder::new(1);
        let lossless: usize = frame
            .iter()
            .map(|r| enc.encode_rect(&want.view(), r.rect).1.len())
            .sum();
        assert!(
            jpeg_bytes * 4 < lossless,
            "JPEG {jpeg_bytes} bytes, lossless {lossless}"
        );
        // Lossy for now (unless the lossless refresh came already).
        if t.elapsed() < REFRESH_DELAY / 2 {
            assert!(
                !s.fb.equals_bgrx(&want.view()),
                "a JPEG picture is not exact"
            );
        }

        // Left alone, the photo is re-sent losslessly: the agent's picture ends exact.
        agent_matches(&a, &d, "photo after the lossless refresh").await;
        let exact_after = t.elapsed();
        assert!(
            exact_after >= REFRESH_DELAY / 2,
            "exact after {exact_after:?}: the refresh waits for the photo to stay still"
        );
        let s = a.snapshot();
        let refresh: Vec<_> = s.rect_log[desktop.len() + log.len()..]
            .iter()
            .filter(|r| overlaps(&r.rect))
            .collect();
        assert!(
            refresh.iter().all(|r| r.encoding != Encoding::Jpeg),
            "{refresh:?}"
        );
        let refreshed: usize = refresh.iter().map(|r| r.rect.area()).sum();
        assert!(refreshed >= photo.area(), "{refresh:?}");

        // Text typed beside it travels losslessly.
        let before = s.rect_log.len();
        d.draw_text(70, 446, "plain text", [250, 250, 250]);
        agent_matches(&a, &d, "typed text").await;
        let typed: Vec<_> = a.with_state(|s| s.rect_log[before..].to_vec());
        assert!(!typed.is_empty());
        assert!(
            typed.iter().all(|r| r.encoding != Encoding::Jpeg),
            "{typed:?}"
        );

        // The photo scrolls twice in a row (copies of lossy pixels), new rows coming in.
        for seed in [20, 21] {
            d.scroll_up(photo.x, photo.y, photo.w, photo.h, 40, [0, 0, 0]);
            d.paint_photo(photo.x, photo.y + photo.h - 40, photo.w, 40, seed);
        }
        agent_matches(&a, &d, "scrolled photo").await;

        // Changed while paused: the key frame after resume may be lossy, and ends exact too.
        vis.v.pause(true).unwrap();
        a.wait_until("paused", Duration::from_secs(10), |s| {
            s.paused() == Some(true)
        })
        .await
        .unwrap();
        let before = a.with_state(|s| s.rect_log.len());
        d.paint_photo(photo.x, photo.y, photo.w, photo.h, 4);
        vis.v.pause(false).unwrap();
        agent_matches(&a, &d, "photo after resume").await;
        assert!(a.with_state(|s| s.rect_log[before..]
            .iter()
            .any(|r| r.key && r.encoding == Encoding::Jpeg)));

        // A new display size: a new key frame, a new photo, exact again.
        d.resize(560, 400);
        d.paint_photo(32, 64, 200, 150, 6);
        agent_matches(&a, &d, "photo after a resize").await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}
