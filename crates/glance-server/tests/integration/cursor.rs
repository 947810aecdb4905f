//! The cursor beside the pixels: `cursor` messages and kind-3 shapes from a raw visitor reach
//! agents; each agent gets a shape once, before the first position that uses it; a late
//! joiner gets the current shape and position; positions are latest-wins for an agent that
//! is behind; nothing of the cursor is relayed while paused; malformed cursor input closes
//! the visitor with an error while other sessions go on.

use std::time::Duration;

use glance_protocol::cursor::MAX_SHAPE_LEN;
use glance_protocol::framing::{self, Kind};
use glance_protocol::limits::MAX_DISPLAY_DIM;
use glance_protocol::update::FLAG_REFRESH_ONLY;
use glance_protocol::{Control, CursorShape, Rect};
use glance_tests::{
    CursorPos, Picture, RawVisitor, TestAgent, TestServer, TestServerOptions, VisitorEvent,
};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{join_slow, logs, Live, T};

fn shape(id: u32, w: u16, h: u16) -> CursorShape {
    CursorShape {
        id,
        width: w,
        height: h,
        hot_x: w / 2,
        hot_y: h / 2,
        rgba: (0..w as usize * h as usize * 4)
            .map(|i| (i as u32 * 7 + id) as u8)
            .collect(),
    }
}

fn pos(x: u16, y: u16, visible: bool, shape: u32) -> CursorPos {
    CursorPos {
        x,
        y,
        visible,
        shape,
    }
}

/// Waits until the agent's latest cursor is `want`.
async fn cursor_is(a: &TestAgent, want: CursorPos, what: &str) {
    a.wait_until(what, T, |s| s.cursor() == Some(want))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_reaches_agents_shape_once_late_joiner_and_pause() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("cursor")).await;
    let v = &live.visitor;
    let a1 = &live.agent;

    // A shape, then positions that use it.
    let s5 = shape(5, 16, 24);
    v.send_cursor_shape(&s5).await.unwrap();
    v.send_cursor(10, 20, true, 5).await.unwrap();
    cursor_is(a1, pos(10, 20, true, 5), "the first position").await;
    assert_eq!(a1.with_state(|s| s.shape(5).cloned()), Some(s5.clone()));
    for x in 11..40 {
        v.send_cursor(x, 20, true, 5).await.unwrap();
    }
    cursor_is(a1, pos(39, 20, true, 5), "the last move").await;
    // The visitor sends the shape again (as after a change back): the agent has it already.
    v.send_cursor_shape(&s5).await.unwrap();
    v.send_cursor(40, 21, true, 5).await.unwrap();
    cursor_is(a1, pos(40, 21, true, 5), "a move after the same shape").await;
    assert_eq!(a1.with_state(|s| s.shapes_received(5)), 1, "shape 5 once");

    // Another shape.
    let s6 = shape(6, 8, 8);
    v.send_cursor_shape(&s6).await.unwrap();
    v.send_cursor(50, 30, true, 6).await.unwrap();
    cursor_is(a1, pos(50, 30, true, 6), "the second shape").await;

    // A late joiner: the current shape (only), then the current position.
    let a2 = TestAgent::join_dev(r, "cursor").await.unwrap();
    cursor_is(&a2, pos(50, 30, true, 6), "the late joiner's position").await;
    let s = a2.snapshot();
    assert_eq!(s.shapes, vec![s6.clone()], "{}", s.summary());
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors_without_shape, 0);

    // Back to shape 5: the visitor sends it again; only the agent that lacks it gets it.
    v.send_cursor_shape(&s5).await.unwrap();
    v.send_cursor(60, 30, true, 5).await.unwrap();
    for a in [a1, &a2] {
        cursor_is(a, pos(60, 30, true, 5), "shape 5 again").await;
    }
    assert_eq!(a1.with_state(|s| s.shapes.len()), 2, "a1 had both");
    assert_eq!(a2.with_state(|s| s.shapes_received(5)), 1, "a2 lacked 5");

    // Off the shared display.
    v.send_cursor(0, 0, false, 5).await.unwrap();
    cursor_is(&a2, pos(0, 0, false, 5), "hidden").await;

    // Paused: nothing of the cursor goes to agents, and a joiner meanwhile gets none.
    v.pause(true).await.unwrap();
    a1.wait_until("paused", T, |s| s.paused() == Some(true))
        .await
        .unwrap();
    let before = a1.with_state(|s| s.cursors.len());
    v.send_cursor(70, 40, true, 5).await.unwrap();
    let a3 = TestAgent::join_dev(r, "cursor").await.unwrap();
    a3.wait_until("joined paused", T, |s| s.paused() == Some(true))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a1.with_state(|s| s.cursors.len()),
        before,
        "no cursor while paused"
    );
    let s = a3.snapshot();
    assert!(
        s.cursors.is_empty() && s.shapes.is_empty(),
        "{}",
        s.summary()
    );
    // Resumed: the visitor tells where the pointer is (its shape again).
    v.pause(false).await.unwrap();
    v.send_cursor_shape(&s5).await.unwrap();
    v.send_cursor(71, 41, true, 5).await.unwrap();
    for a in [a1, &a2, &a3] {
        cursor_is(a, pos(71, 41, true, 5), "after resume").await;
        assert_eq!(a.with_state(|s| s.cursors_without_shape), 0);
    }
    assert_eq!(a1.with_state(|s| s.shapes_received(5)), 1);
    assert_eq!(a3.with_state(|s| s.shapes_received(5)), 1);
    live.still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_agent_gets_the_latest_position_and_its_shape() {
    logs();
    const BOUND: usize = 64 * 1024;
    let srv = TestServer::start_with(TestServerOptions {
        agent_queue_bytes: Some(BOUND),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = srv.ready();
    let (w, h) = (320u16, 240u16);
    let mut v = RawVisitor::start_dev(r, Some("stall"), w, h).await.unwrap();
    let slow = join_slow(r, "stall").await;
    let mut pic = Picture::solid(w, h, [10, 20, 30]);
    let mut seq = 1;
    v.send_frame(&pic.key_update(0, seq)).await.unwrap();
    let p = pic.clone();
    slow.wait_until("the first picture", T, |s| p.matches(&s.fb))
        .await
        .unwrap();
    v.send_cursor_shape(&shape(1, 32, 32)).await.unwrap();
    v.send_cursor(1, 1, true, 1).await.unwrap();
    cursor_is(&slow, pos(1, 1, true, 1), "the first position").await;

    slow.set_reading(false);
    // Many more positions than the server lets an agent leave unread as control messages.
    // (The kernel's socket buffers take the first tens of thousands, up to some MiB: what
    // does not fit waits in the server's queue, where a newer position replaces it.)
    const MOVES: u32 = 80_000;
    for i in 0..MOVES {
        let (x, y) = ((i % w as u32) as u16, (i / w as u32) as u16);
        v.send_cursor(x, y, true, 1).await.unwrap();
    }
    // Frames that overflow the stalled agent's queue (dropping the shapes queued with them),
    // then a new shape.
    for i in 0..6u32 {
        seq += 1;
        let rect = Rect::new(0, 0, w, h);
        pic.copy_from(&Picture::noise(w, h, u64::from(i) + 1), rect);
        v.send_frame(&pic.delta(seq, &[rect], 1)).await.unwrap();
    }
    let s2 = shape(2, 24, 24);
    v.send_cursor_shape(&s2).await.unwrap();
    v.send_cursor(300, 200, true, 2).await.unwrap();
    let last = pos(300, 200, true, 2);

    let stats = srv.stats();
    let q = &stats.session(r.group_id, "stall").unwrap().agents[0].queue;
    assert!(
        q.cursors_replaced >= u64::from(MOVES / 10) && q.controls < 64,
        "positions did not coalesce: {q:?}"
    );

    slow.set_reading(true);
    // It catches up: the latest position with its shape, and the latest picture.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let mut refresh = false;
        while let Some(e) = v.try_recv() {
            refresh |= e == VisitorEvent::Control(Control::RefreshRequest);
        }
        if refresh {
            seq += 1;
            v.send_frame(&pic.key_frame(FLAG_REFRESH_ONLY, seq, 40, 1))
                .await
                .unwrap();
        }
        let p = pic.clone();
        let done = slow
            .wait_until("catching up", Duration::from_millis(200), |s| {
                s.cursor() == Some(last) && p.matches(&s.fb)
            })
            .await
            .is_ok();
        if done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{slow:?}");
    }
    let s = slow.snapshot();
    assert!(!s.closed && s.error.is_none(), "{}", s.summary());
    assert!(
        s.cursors.len() < MOVES as usize,
        "the stalled agent got every position: {}",
        s.cursors.len()
    );
    assert_eq!(s.cursors_without_shape, 0, "{}", s.summary());
    assert_eq!(s.shape(2), Some(&s2));
}

/// A started session with an agent in it, for one bad-input case.
async fn victim(r: &glance_server::ReadyInfo, key: &str) -> (RawVisitor, TestAgent) {
    let v = RawVisitor::start_dev(r, Some(key), 64, 48).await.unwrap();
    let a = TestAgent::join_dev(r, key).await.unwrap();
    (v, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cursor_input_closes_only_that_visitor() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("healthy")).await;
    let good = shape(3, 4, 4).encode();

    let mut too_big = shape(3, 4, 4).encode();
    too_big[4..6].copy_from_slice(&257u16.to_be_bytes());
    let mut short = good.clone();
    short.pop();
    let mut bad_hot = good.clone();
    bad_hot[8..10].copy_from_slice(&4u16.to_be_bytes());
    let mut over = (MAX_SHAPE_LEN as u32 + 1).to_be_bytes().to_vec();
    over.push(3);
    let big_x = Control::Cursor {
        x: MAX_DISPLAY_DIM,
        y: 0,
        visible: true,
        shape: 3,
    };
    // (what, bytes sent after a valid shape or not, expected code, text in the message)
    let cases: Vec<(&str, bool, Vec<u8>, &str, &str)> = vec![
        (
            "a shape over 256 pixels wide",
            false,
            framing::encode(Kind::Cursor, &too_big),
            "malformed",
            "257x4",
        ),
        (
            "a shape one byte short",
            false,
            framing::encode(Kind::Cursor, &short),
            "malformed",
            "pixels",
        ),
        (
            "a hot spot outside the shape",
            false,
            framing::encode(Kind::Cursor, &bad_hot),
            "malformed",
            "hot spot",
        ),
        (
            "a shape header over the limit",
            false,
            over,
            "too_large",
            "exceeds the limit",
        ),
        (
            "a position before any shape",
            false,
            framing::encode_control(&Control::Cursor {
                x: 1,
                y: 1,
                visible: true,
                shape: 3,
            }),
            "malformed",
            "before any cursor shape",
        ),
        (
            "a position with another shape",
            true,
            framing::encode_control(&Control::Cursor {
                x: 1,
                y: 1,
                visible: true,
                shape: 4,
            }),
            "malformed",
            "uses shape 4",
        ),
        (
            "a position beyond any display",
            true,
            framing::encode_control(&big_x),
            "malformed",
            "beyond the largest display",
        ),
        (
            "a negative position",
            true,
            framing::encode(
                Kind::Control,
                br#"{"type":"cursor","x":-5,"y":1,"visible":true,"shape":3}"#,
            ),
            "malformed",
            "malformed control message",
        ),
    ];
    for (i, (what, after_shape, bytes, code, text)) in cases.into_iter().enumerate() {
        let (mut v, a) = victim(r, &format!("bad{i}")).await;
        if after_shape {
            v.send_raw(&framing::encode(Kind::Cursor, &good))
                .await
                .unwrap();
        }
        v.send_raw(&bytes).await.unwrap();
        let seen = v.wait_closed(T).await.unwrap();
        let (c, m) = seen
            .into_iter()
            .find_map(|c| match c {
                Control::Error { code, message } => Some((code, message)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{what}: no error before the close"));
        assert_eq!(c, code, "{what}: {m}");
        assert!(m.contains(text), "{what}: {m:?} lacks {text:?}");
        a.wait_until("session_ended", T, |s| s.ended_status().is_some())
            .await
            .unwrap();
        assert_eq!(a.with_state(|s| s.ended_status()), Some(29), "{what}");
        assert!(a.with_state(|s| s.cursors.is_empty()), "{what}");
        live.still_works().await;
    }

    // Agents send no cursor shapes.
    let a = TestAgent::join_dev(r, "healthy").await.unwrap();
    let mut b = vec![3u8];
    b.extend_from_slice(&good);
    a.send_message(Message::binary(b)).unwrap();
    a.wait_closed(T).await.unwrap();
    assert_eq!(
        a.with_state(|s| s.server_error().map(|(c, _)| c.to_string())),
        Some("unexpected".into())
    );
    live.still_works().await;
}
