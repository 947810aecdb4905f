//! A slow agent: one agent stops reading while the visitor sends many large updates. The
//! fast agent keeps up, the slow agent's queue never exceeds its bound, and once the slow
//! agent reads again it ends with the latest picture.

use glance_protocol::update::FLAG_REFRESH_ONLY;
use glance_protocol::{Control, Rect};
use glance_tests::{Picture, RawVisitor, TestAgent, TestServer, TestServerOptions};

use crate::common::{join_slow, logs, T};

const BOUND: usize = 256 * 1024;

/// Answers every refresh_request that has arrived with a refresh-only key frame.
async fn answer_refreshes(v: &mut RawVisitor, pic: &Picture, seq: &mut u32) -> usize {
    let mut n = 0;
    while let Some(e) = v.try_recv() {
        if e == glance_tests::VisitorEvent::Control(Control::RefreshRequest) {
            n += 1;
        }
    }
    if n > 0 {
        *seq += 1;
        // In bands, so that every message is well under the bound.
        v.send_frame(&pic.key_frame(FLAG_REFRESH_ONLY, *seq, 40, 1))
            .await
            .unwrap();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_agent_neither_slows_others_nor_grows_its_queue() {
    logs();
    let srv = TestServer::start_with(TestServerOptions {
        agent_queue_bytes: Some(BOUND),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(srv.server().agent_queue_bytes(), BOUND);
    let r = srv.ready();
    let (w, h) = (480u16, 320u16);
    let mut v = RawVisitor::start_dev(r, Some("slow"), w, h).await.unwrap();
    let fast = TestAgent::join_dev(r, "slow").await.unwrap();
    let slow = join_slow(r, "slow").await;
    let mut pic = Picture::solid(w, h, [30, 60, 90]);
    let mut seq = 1;
    v.send_frame(&pic.key_update(0, seq)).await.unwrap();
    let p = pic.clone();
    for a in [&fast, &slow] {
        a.wait_until("the first picture", T, |s| p.matches(&s.fb))
            .await
            .unwrap();
    }

    slow.set_reading(false);
    let mut refreshes = 0;
    let mut max_peak = 0;
    for i in 0..90u32 {
        seq += 1;
        // ~140 KiB of incompressible pixels a frame
        let rect = Rect::new((i % 5) as u16 * 40, (i % 4) as u16 * 30, 240, 200);
        let noise = Picture::noise(w, h, u64::from(i) + 1);
        pic.copy_from(&noise, rect);
        v.send_frame(&pic.delta(seq, &[rect], 1)).await.unwrap();
        refreshes += answer_refreshes(&mut v, &pic, &mut seq).await;
        let p = pic.clone();
        fast.wait_until("the fast agent to keep up", T, |s| p.matches(&s.fb))
            .await
            .unwrap();
        let stats = srv.stats();
        let s = stats.session(r.group_id, "slow").unwrap();
        assert_eq!(s.agents.len(), 2);
        for a in &s.agents {
            assert!(
                a.queue.peak_update_bytes <= BOUND,
                "agent {} queued {} bytes (bound {BOUND}) at frame {i}: {s:#?}",
                a.agent_id,
                a.queue.peak_update_bytes
            );
            max_peak = max_peak.max(a.queue.peak_update_bytes);
        }
    }
    let stats = srv.stats();
    let s = stats.session(r.group_id, "slow").unwrap();
    let (f, sl) = (&s.agents[0], &s.agents[1]);
    assert_eq!(f.queue.overflows, 0, "the fast agent fell behind: {f:?}");
    assert!(
        sl.queue.overflows >= 1,
        "the slow agent never overflowed: {sl:?}"
    );
    assert!(refreshes >= 1, "no refresh_request for the slow agent");
    assert!(max_peak > 0);
    assert!(s.visitor_queue.controls < 16, "{:?}", s.visitor_queue);

    // The slow agent reads again and catches up with the latest picture, not a backlog.
    slow.set_reading(true);
    let p = pic.clone();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        answer_refreshes(&mut v, &pic, &mut seq).await;
        if slow
            .wait_until(
                "the slow agent to catch up",
                std::time::Duration::from_millis(200),
                |s| p.matches(&s.fb),
            )
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{slow:?}");
    }
    let ss = slow.snapshot();
    assert!(ss.error.is_none(), "{}", ss.summary());
    assert!(
        ss.updates < 90,
        "the slow agent got every update: {}",
        ss.summary()
    );
    assert!(fast.snapshot().error.is_none());
    let stats = srv.stats();
    let s = stats.session(r.group_id, "slow").unwrap();
    assert!(s.agents.iter().all(|a| a.queue.peak_update_bytes <= BOUND));
}
