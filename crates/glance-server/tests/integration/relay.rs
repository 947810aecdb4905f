//! Relaying pictures: key frames and deltas reach every agent, late joiners get a
//! refresh-only key frame that agents in step never receive, multi-message frames stay whole.

use glance_protocol::update::FLAG_REFRESH_ONLY;
use glance_protocol::{Control, Rect};
use glance_tests::{Picture, RawVisitor, TestAgent, TestServer};

use crate::common::{is_refresh, logs, T};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_and_late_agents_end_with_the_visitors_picture() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let (w, h) = (320u16, 200u16);
    let mut v = RawVisitor::start_dev(r, None, w, h).await.unwrap();
    let key = v.key().to_string();

    let a = TestAgent::join_dev(r, &key).await.unwrap();
    let joined = a.with_state(|s| s.joined().cloned()).unwrap();
    match joined {
        Control::Joined {
            width,
            height,
            paused,
            guests,
            key: k,
            group_id,
            ..
        } => {
            assert_eq!(
                (width, height, paused, guests, k.as_str(), group_id),
                (w, h, false, 1, key.as_str(), r.group_id)
            );
        }
        other => panic!("{other:?}"),
    }
    v.recv_until("guest_count 1", T, |c| {
        *c == Control::GuestCount { count: 1 }
    })
    .await
    .unwrap();
    v.recv_until("refresh_request", T, is_refresh)
        .await
        .unwrap();

    // First frame: a KEY frame over five messages.
    let mut pic = Picture::pattern(w, h, 1);
    let mut seq = 1;
    let msgs = pic.key_frame(0, seq, 16, 3);
    assert!(msgs.len() >= 4);
    v.send_frame(&msgs).await.unwrap();
    let p = pic.clone();
    a.wait_until("the key frame", T, |s| p.matches(&s.fb) && s.frames == 1)
        .await
        .unwrap();

    // Deltas, one of them over several messages.
    for i in 0..5u16 {
        seq += 1;
        let rects = [
            Rect::new(10 * i, 5 * i, 40, 30),
            Rect::new(200, 100 + i, 50, 20),
        ];
        let src = Picture::pattern(w, h, 100 + i as u32);
        for r in rects {
            pic.copy_from(&src, r);
        }
        v.send_frame(&pic.delta(seq, &rects, 1)).await.unwrap();
    }
    let p = pic.clone();
    a.wait_until("five deltas", T, |s| p.matches(&s.fb) && s.frames == 6)
        .await
        .unwrap();

    // A late joiner makes the server ask for a key frame.
    let b = TestAgent::join_dev(r, &key).await.unwrap();
    assert!(b.with_state(|s| s.joined().is_some()));
    v.recv_until("refresh_request for the late joiner", T, is_refresh)
        .await
        .unwrap();
    for x in [&a, &b] {
        x.wait_until("guest_count 2", T, |s| s.guest_count() == Some(2))
            .await
            .unwrap();
    }
    // A delta sent before the refresh goes to the agent in step only.
    seq += 1;
    let r1 = Rect::new(0, 0, 64, 64);
    pic.fill(r1, [200, 10, 10]);
    v.send_frame(&pic.delta(seq, &[r1], 1)).await.unwrap();
    // The visitor answers with a refresh-only key frame (three messages).
    seq += 1;
    let refresh = pic.key_frame(FLAG_REFRESH_ONLY, seq, 64, 1);
    assert_eq!(refresh.len(), 4);
    v.send_frame(&refresh).await.unwrap();
    let p = pic.clone();
    b.wait_until("the refresh-only key frame", T, |s| p.matches(&s.fb))
        .await
        .unwrap();

    // More deltas reach both.
    for i in 0..3u16 {
        seq += 1;
        let r2 = Rect::new(100 + 20 * i, 50, 20, 100);
        pic.fill(r2, [i as u8 * 60, 255, 0]);
        v.send_frame(&pic.delta(seq, &[r2], 1)).await.unwrap();
    }
    let p = pic.clone();
    for x in [&a, &b] {
        x.wait_until("the latest picture", T, |s| p.matches(&s.fb))
            .await
            .unwrap();
    }
    let (sa, sb) = (a.snapshot(), b.snapshot());
    assert_eq!(
        sa.refresh_only_received,
        0,
        "the agent in step got a REFRESH_ONLY frame: {}",
        sa.summary()
    );
    assert_eq!(sb.refresh_only_received, 4, "{}", sb.summary());
    assert!(sa.error.is_none() && sb.error.is_none());
    assert_eq!(
        sb.frames, 4,
        "the late joiner got exactly the refresh and the later deltas"
    );

    // A refresh-only frame nobody needs reaches nobody; a new join then gets exactly one.
    seq += 1;
    v.send_frame(&pic.key_update(FLAG_REFRESH_ONLY, seq))
        .await
        .unwrap();
    seq += 1;
    let r3 = Rect::new(0, 150, 320, 50);
    pic.fill(r3, [1, 2, 3]);
    v.send_frame(&pic.delta(seq, &[r3], 1)).await.unwrap();
    let p = pic.clone();
    for x in [&a, &b] {
        x.wait_until("the last delta", T, |s| p.matches(&s.fb))
            .await
            .unwrap();
        assert_eq!(
            x.snapshot().refresh_only_received,
            if std::ptr::eq(x, &a) { 0 } else { 4 }
        );
    }
    let stats = srv.stats();
    let s = stats.session(r.group_id, &key).unwrap();
    assert_eq!(s.agents.len(), 2);
    assert!(s
        .agents
        .iter()
        .all(|a| !a.needs_key && a.queue.overflows == 0));
    assert!(!s.refresh_outstanding);
    // One request for each join, none more.
    assert_eq!(v.refresh_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_size_change_reaches_every_agent() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let v = RawVisitor::start_dev(r, None, 64, 48).await.unwrap();
    let a = TestAgent::join_dev(r, v.key()).await.unwrap();
    let small = Picture::pattern(64, 48, 3);
    v.send_frame(&small.key_update(0, 1)).await.unwrap();
    let p = small.clone();
    a.wait_until("small picture", T, |s| p.matches(&s.fb))
        .await
        .unwrap();
    let mut big = Picture::pattern(128, 80, 4);
    v.send_frame(&big.key_frame(0, 2, 20, 1)).await.unwrap();
    let r1 = Rect::new(100, 60, 28, 20);
    big.fill(r1, [0, 0, 255]);
    v.send_frame(&big.delta(3, &[r1], 1)).await.unwrap();
    let p = big.clone();
    a.wait_until("resized picture", T, |s| p.matches(&s.fb))
        .await
        .unwrap();
    // A late joiner's `joined` reports the current size.
    let b = TestAgent::join_dev(r, v.key()).await.unwrap();
    let joined = b.with_state(|s| s.joined().cloned()).unwrap();
    assert!(
        matches!(
            joined,
            Control::Joined {
                width: 128,
                height: 80,
                ..
            }
        ),
        "{joined:?}"
    );
}
