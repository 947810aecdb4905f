//! A visitor on a 1 Mbit/s uplink (a throttling proxy on loopback between it and the server's
//! direct port) while its screen changes faster than the link: changes coalesce instead of
//! queueing, and once the screen is still the agent ends with exactly the latest picture; a
//! photo changing faster than the link goes at a lower JPEG quality, and ends exact too.

mod common;

use std::time::{Duration, Instant};

use common::{runtime, Visitor};
use glance_tests::{TestAgent, TestServer, TestServerOptions, ThrottleProxy};

const ONE_MBIT: u64 = 125_000;

#[test]
fn a_slow_uplink_coalesces_and_converges_to_the_latest_frame() {
    runtime().block_on(async {
        let proxy = ThrottleProxy::bind(ONE_MBIT).await.unwrap();
        let server = TestServer::start_with(TestServerOptions {
            advertise_direct: Some(proxy.addr().to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
        proxy.set_target(server.ready().direct_addr.parse().unwrap());
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 1024, 768).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();

        // 4 s of changes at 60 ticks a second: typing, scrolling, a window drag, and a
        // video-like 320x200 area of coloured blocks redrawn every tick (far more than
        // 1 Mbit/s can carry).
        let start = Instant::now();
        let mut ticks = 0u32;
        let mut seed = 0x9e37_79b9u32;
        while start.elapsed() < Duration::from_secs(4) {
            d.workload_tick(ticks);
            for by in 0..50u16 {
                for bx in 0..80u16 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let c = seed.to_le_bytes();
                    d.fill_rect(600 + bx * 4, 400 + by * 4, 4, 4, [c[0], c[1], c[2]]);
                }
            }
            ticks += 1;
            tokio::time::sleep(Duration::from_millis(16)).await;
        }
        let changing_for = start.elapsed();
        let sent_while_changing = agent.snapshot();
        // The link really was the bottleneck: at most ~1 Mbit/s arrived (plus slack for the
        // first key frame and TCP buffers), and far fewer frames than changes.
        let rate = sent_while_changing.update_bytes as f64 / changing_for.as_secs_f64();
        assert!(rate < 2.0 * ONE_MBIT as f64, "{rate:.0} B/s over a 1 Mbit/s link");
        assert!(
            (sent_while_changing.frames as u32) < ticks / 2,
            "{} frames for {ticks} changes: changes must coalesce",
            sent_while_changing.frames
        );

        // Still screen: the agent converges to exactly the latest picture, quickly — there is
        // no backlog of stale frames to drain.
        let snap = d.snapshot();
        let t = Instant::now();
        agent
            .wait_until("latest picture", Duration::from_secs(20), |s| {
                s.fb.equals_bgrx(&snap.view())
            })
            .await
            .unwrap();
        let caught_up = t.elapsed();
        assert!(
            caught_up < Duration::from_secs(10),
            "caught up in {caught_up:?}: a backlog was queued"
        );
        eprintln!(
            "slow link: {ticks} changes in {changing_for:?} -> {} frames, {:.0} B/s; caught up {caught_up:?} after the screen stopped",
            sent_while_changing.frames, rate
        );
        vis.v.end_session().unwrap();
        vis.ended(20).await;
    });
}

#[test]
fn a_photo_changing_faster_than_the_link_goes_at_lower_jpeg_quality_then_exact() {
    use glance_protocol::Encoding;
    runtime().block_on(async {
        // Half a megabit: the send window (128 KiB) fills within the first second.
        let proxy = ThrottleProxy::bind(ONE_MBIT / 2).await.unwrap();
        let server = TestServer::start_with(TestServerOptions {
            advertise_direct: Some(proxy.addr().to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
        proxy.set_target(server.ready().direct_addr.parse().unwrap());
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let d = vis.display().clone();
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let snap = d.snapshot();
        agent
            .wait_until("first picture", Duration::from_secs(20), |s| {
                s.fb.equals_bgrx(&snap.view())
            })
            .await
            .unwrap();
        let start_log = agent.with_state(|s| s.rect_log.len());

        // A "video": photos in the same 320x224 area, 50 a second, far more than the link
        // carries at the quality of an idle link (painted once, shown in turn).
        let video: Vec<_> = (0..4)
            .map(|seed| {
                let v = glance_visitor::SyntheticDisplay::new(640, 480);
                v.paint_photo(160, 128, 320, 224, 100 + seed);
                v.snapshot()
            })
            .collect();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(4) {
            d.restore_rect(&video[n % video.len()], 160, 128, 320, 224);
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // JPEG bytes per frame, in order.
        let s = agent.snapshot();
        let mut frames: Vec<(u32, usize)> = Vec::new();
        for r in &s.rect_log[start_log..] {
            if r.encoding != Encoding::Jpeg {
                continue;
            }
            match frames.last_mut() {
                Some((seq, bytes)) if *seq == r.seq => *bytes += r.len,
                _ => frames.push((r.seq, r.len)),
            }
        }
        assert!(frames.len() >= 6, "{frames:?}");
        // The first photo went while the link was idle (the highest quality); once frames
        // wait for the link, the quality drops and so do the bytes of a similar picture.
        let first = frames[0].1;
        let mut later: Vec<usize> = frames[frames.len() / 2..].iter().map(|f| f.1).collect();
        later.sort_unstable();
        let median = later[later.len() / 2];
        assert!(
            median * 10 < first * 7,
            "JPEG bytes per frame: first {first}, later median {median}: {frames:?}"
        );

        // Still: the lossless refresh makes the agent exact.
        let snap = d.snapshot();
        agent
            .wait_until("exact photo", Duration::from_secs(20), |s| {
                s.fb.equals_bgrx(&snap.view())
            })
            .await
            .unwrap();
        eprintln!(
            "slow link photo: {} JPEG frames, first {first} B, later median {median} B",
            frames.len()
        );
    });
}
