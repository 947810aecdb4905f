//! End to end: the stream encodings (one DEFLATE stream per session, reset at key frames)
//! through the real relay over TLS. The visitor's own encoder (`FrameProcessor`) feeds a raw
//! visitor connection, so the test controls the volume and answers refresh requests itself.
//! An agent whose queue overflows loses frames, and with them its copy of the stream: it gets
//! a REFRESH_ONLY key frame and starts again at the next STREAM_RESET; a late joiner likewise;
//! the agent in step keeps decoding against history. Every picture ends equal to the source.

use std::time::Duration;

use glance_protocol::{Control, Encoding, Rect};
use glance_tests::{
    AgentOptions, AgentState, Picture, RawVisitor, TestAgent, TestServer, TestServerOptions,
    VisitorEvent,
};
use glance_visitor::capture::FrameBuf;
use glance_visitor::pipeline::FrameProcessor;

const BOUND: usize = 256 * 1024;
const T: Duration = Duration::from_secs(15);

fn frame_of(p: &Picture) -> FrameBuf {
    let mut f = FrameBuf::default();
    f.reshape(p.width, p.height);
    f.data.copy_from_slice(&p.bgrx);
    f
}

fn streamed(s: &AgentState) -> u64 {
    s.wire.rects[Encoding::ZlibStream as usize] + s.wire.rects[Encoding::PaletteStream as usize]
}

/// Encodes `pic` as the next frame (with a REFRESH_ONLY key frame after it when a
/// refresh_request arrived) and sends it.
async fn send(v: &mut RawVisitor, p: &mut FrameProcessor, pic: &Picture) -> bool {
    let mut refresh = false;
    while let Some(e) = v.try_recv() {
        refresh |= e == VisitorEvent::Control(Control::RefreshRequest);
    }
    let mut out = Vec::new();
    let mut cur = frame_of(pic);
    p.process(&mut cur, false, refresh, &mut out);
    v.send_frame(&out).await.unwrap();
    refresh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_survives_a_slow_agent_and_a_late_joiner() {
    let srv = TestServer::start_with(TestServerOptions {
        agent_queue_bytes: Some(BOUND),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = srv.ready().clone();
    let (w, h) = (480u16, 320u16);
    let mut v = RawVisitor::start_dev(&r, Some("strm"), w, h).await.unwrap();
    let fast = TestAgent::join_dev(&r, "strm").await.unwrap();
    let slow = TestAgent::join_with(
        &r,
        "strm",
        &r.agent_token,
        None,
        AgentOptions {
            recv_buffer: Some(4096),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Lossless only, so that every picture must match exactly at every step.
    let mut p = FrameProcessor::default();
    p.no_lossy = true;
    let mut pic = Picture::pattern(w, h, 1);
    send(&mut v, &mut p, &pic).await;
    for a in [&fast, &slow] {
        let want = pic.clone();
        a.wait_until("the first picture", T, |s| want.matches(&s.fb))
            .await
            .unwrap();
    }

    slow.set_reading(false);
    let mut late = None;
    let mut refreshes = 0;
    for i in 0..90u32 {
        // ~140 KiB of incompressible pixels a frame, and a smooth band that repeats.
        let rect = Rect::new((i % 5) as u16 * 40, (i % 4) as u16 * 30, 240, 200);
        pic.copy_from(&Picture::noise(w, h, u64::from(i) + 1), rect);
        let band = Rect::new(0, 280, w, 40);
        pic.copy_from(&Picture::pattern(w, h, i % 3), band);
        refreshes += send(&mut v, &mut p, &pic).await as u32;
        let want = pic.clone();
        fast.wait_until("the fast agent to keep up", T, |s| want.matches(&s.fb))
            .await
            .unwrap();
        if i == 45 {
            late = Some(TestAgent::join_dev(&r, "strm").await.unwrap());
        }
    }
    slow.set_reading(true);
    let late = late.unwrap();
    // A few more frames (answering the refresh requests), then everyone is exact.
    for i in 0..40u32 {
        let rect = Rect::new(10 + (i % 7) as u16 * 20, 10, 100, 60);
        pic.copy_from(&Picture::pattern(w, h, 10 + i), rect);
        refreshes += send(&mut v, &mut p, &pic).await as u32;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (name, a) in [("fast", &fast), ("slow", &slow), ("late", &late)] {
        let want = pic.clone();
        let t = std::time::Instant::now();
        // Refresh requests may still come: keep answering them until the agent is exact.
        while !want.matches(&a.snapshot().fb) {
            assert!(t.elapsed() < T, "{name}: {}", a.snapshot().summary());
            refreshes += send(&mut v, &mut p, &pic).await as u32;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let s = a.snapshot();
        assert!(s.error.is_none() && !s.closed, "{name}: {}", s.summary());
    }
    let stats = srv.stats();
    let s = stats.session(r.group_id, "strm").unwrap();
    assert!(
        s.agents.iter().any(|a| a.queue.overflows >= 1),
        "the slow agent never overflowed: {s:?}"
    );
    assert!(refreshes >= 1, "no refresh_request");
    let (fs, ss, ls) = (fast.snapshot(), slow.snapshot(), late.snapshot());
    assert!(streamed(&fs) > 100, "the fast agent decodes stream rects");
    assert!(ss.refresh_only_received >= 1, "{}", ss.summary());
    assert!(ls.refresh_only_received >= 1, "{}", ls.summary());
    assert!(streamed(&ls) > 0, "the late joiner decodes stream rects");
    // The slow agent decoded stream rects after its REFRESH_ONLY key frame too.
    assert!(streamed(&ss) > 0);
}
