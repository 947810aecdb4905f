//! Bad input closes only the offending connection, with a clear `error`, while another
//! session keeps being served.

use std::time::Duration;

use glance_protocol::framing::{self, Kind};
use glance_protocol::limits::{MAX_BINARY_LEN, MAX_CONTROL_LEN};
use glance_protocol::update::{UpdateWriter, FLAG_FINAL, FLAG_KEY};
use glance_protocol::{Control, Encoding, Rect, Role};
use glance_server::Timing;
use glance_tests::visitor::start_params;
use glance_tests::{Picture, RawVisitor, TestAgent, TestServer, TestServerOptions};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{logs, Live, T};

/// Reads until the close; returns the `error` sent before it.
async fn error_then_close(v: &mut RawVisitor) -> (String, String) {
    let seen = v.wait_closed(T).await.unwrap();
    seen.into_iter()
        .find_map(|c| match c {
            Control::Error { code, message } => Some((code, message)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no error before the close; received {:?}", v.received()))
}

fn header(len: u32, kind: u8) -> Vec<u8> {
    let mut h = len.to_be_bytes().to_vec();
    h.push(kind);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_visitor_messages_close_only_that_connection() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("healthy")).await;

    // (what is sent after hello, expected code, text the message must contain)
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "malformed JSON",
            framing::encode(Kind::Control, b"{not json"),
            "malformed",
            "malformed control message",
        ),
        (
            "type not a string",
            framing::encode(Kind::Control, br#"{"type":7}"#),
            "malformed",
            "malformed control message",
        ),
        (
            "oversized control header",
            header(MAX_CONTROL_LEN as u32 + 1, 1),
            "too_large",
            "exceeds the limit",
        ),
        (
            "oversized update header",
            header(MAX_BINARY_LEN as u32, 2),
            "too_large",
            "exceeds the limit",
        ),
        (
            "unknown kind",
            header(3, 9),
            "malformed",
            "unknown message kind 9",
        ),
        (
            "update before start_session",
            framing::encode(Kind::Update, &[FLAG_KEY, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0]),
            "unexpected",
            "start_session",
        ),
        (
            "server message",
            framing::encode_control(&Control::RefreshRequest),
            "unexpected",
            "refresh_request",
        ),
    ];
    for (what, bytes, code, text) in cases {
        let mut v = RawVisitor::connect(r).await.unwrap();
        assert!(
            matches!(v.hello().await.unwrap(), Control::Welcome { .. }),
            "{what}"
        );
        v.send_raw(&bytes).await.unwrap();
        let (c, m) = error_then_close(&mut v).await;
        assert_eq!(c, code, "{what}: {m}");
        assert!(m.contains(text), "{what}: {m:?} lacks {text:?}");
        live.still_works().await;
    }

    // A message of a type this server does not know (a newer SDK's) is ignored, before
    // start_session and in a session: the connection stays and the session starts.
    let mut v = RawVisitor::connect(r).await.unwrap();
    assert!(matches!(v.hello().await.unwrap(), Control::Welcome { .. }));
    v.send_raw(&framing::encode(
        Kind::Control,
        br#"{"type":"future_feature","x":1}"#,
    ))
    .await
    .unwrap();
    let started = v
        .start_session(start_params(r, None, 16, 16))
        .await
        .unwrap();
    assert!(
        matches!(started, Control::SessionStarted { .. }),
        "{started:?}"
    );
    v.send_raw(&framing::encode(
        Kind::Control,
        br#"{"type":"future_feature"}"#,
    ))
    .await
    .unwrap();
    v.send_control(&Control::Ping { t: 77 }).await.unwrap();
    let pong = v.recv_control(T).await;
    assert!(
        matches!(pong, Ok(Control::Pong { t: 77 })),
        "the connection survived: {pong:?}"
    );
    v.end_session().await.unwrap();

    // Before hello.
    let mut v = RawVisitor::connect(r).await.unwrap();
    v.send_control(&Control::StartSession(start_params(r, None, 16, 16)))
        .await
        .unwrap();
    let (c, m) = error_then_close(&mut v).await;
    assert_eq!(c, "unexpected");
    assert!(m.contains("hello"), "{m}");
    // The agent role on the direct port.
    let mut v = RawVisitor::connect(r).await.unwrap();
    let reply = v.hello_with(Role::Agent, 1, 1).await.unwrap();
    assert!(
        matches!(reply, Control::Error { ref code, .. } if code == "unexpected"),
        "{reply:?}"
    );
    v.wait_closed(T).await.unwrap();
    // Version mismatch.
    let mut v = RawVisitor::connect(r).await.unwrap();
    let reply = v.hello_with(Role::Visitor, 2, 3).await.unwrap();
    match reply {
        Control::Error { code, message } => {
            assert_eq!(code, "version");
            assert!(message.contains("2 to 3"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    v.wait_closed(T).await.unwrap();
    live.still_works().await;
    assert_eq!(srv.stats().sessions.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_updates_end_only_their_session() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("healthy")).await;

    let out_of_bounds = {
        let mut w = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, 16, 16);
        w.push(Rect::new(10, 10, 10, 1), Encoding::Solid, &[1, 2, 3]);
        w.finish()
    };
    let truncated = {
        let mut b = Picture::solid(16, 16, [1, 1, 1]).key_update(0, 1).remove(0);
        b.pop();
        b
    };
    let delta_first = Picture::solid(16, 16, [1, 1, 1])
        .delta(1, &[Rect::new(0, 0, 4, 4)], 1)
        .remove(0);
    let cases: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        ("rect outside the display", vec![out_of_bounds], "outside"),
        ("truncated update", vec![truncated], "truncated"),
        (
            "delta before any key frame",
            vec![delta_first],
            "before any key frame",
        ),
        (
            "delta of another size",
            vec![
                Picture::solid(16, 16, [1, 1, 1]).key_update(0, 1).remove(0),
                Picture::solid(20, 16, [1, 1, 1])
                    .delta(2, &[Rect::new(0, 0, 4, 4)], 1)
                    .remove(0),
            ],
            "does not match",
        ),
        (
            "a new frame before FINAL",
            vec![
                Picture::solid(16, 16, [1, 1, 1])
                    .key_frame(0, 1, 4, 1)
                    .remove(0),
                Picture::solid(16, 16, [1, 1, 1]).key_update(0, 2).remove(0),
            ],
            "FINAL",
        ),
    ];
    for (i, (what, updates, text)) in cases.into_iter().enumerate() {
        let key = format!("bad-{i}");
        let mut v = RawVisitor::start_dev(r, Some(&key), 16, 16).await.unwrap();
        let a = TestAgent::join_dev(r, &key).await.unwrap();
        for u in &updates {
            v.send_update(u).await.unwrap();
        }
        let (c, m) = error_then_close(&mut v).await;
        assert_eq!(c, "malformed", "{what}: {m}");
        assert!(m.contains(text), "{what}: {m:?} lacks {text:?}");
        a.wait_until("session_ended 29", T, |s| {
            s.ended_status() == Some(29) && s.closed
        })
        .await
        .unwrap();
        live.still_works().await;
    }
    // start_session twice.
    let mut v = RawVisitor::start_dev(r, Some("twice"), 16, 16)
        .await
        .unwrap();
    v.send_control(&Control::StartSession(start_params(
        r,
        Some("again"),
        16,
        16,
    )))
    .await
    .unwrap();
    let (c, _) = error_then_close(&mut v).await;
    assert_eq!(c, "unexpected");
    live.still_works().await;
    let stats = srv.stats();
    assert_eq!(stats.sessions.len(), 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_agent_messages_close_only_that_agent() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("healthy")).await;
    let hello = Control::Hello {
        role: Role::Agent,
        min_version: 1,
        max_version: 1,
        client: "t".into(),
        sdk_version: String::new(),
    };
    let join = Control::Join {
        key: "healthy".into(),
        token: r.agent_token.clone(),
        group_id: None,
    };
    let cases: Vec<(&str, Vec<Message>, &str)> = vec![
        (
            "join before hello",
            vec![Message::text(join.to_json())],
            "unexpected",
        ),
        (
            "malformed JSON",
            vec![Message::text(hello.to_json()), Message::text("{{{")],
            "malformed",
        ),
        (
            "type not a string",
            vec![
                Message::text(hello.to_json()),
                Message::text(r#"{"type":["dance"]}"#),
            ],
            "malformed",
        ),
        (
            "visitor role",
            vec![Message::text(
                r#"{"type":"hello","role":"visitor","min_version":1,"max_version":1}"#,
            )],
            "unexpected",
        ),
        (
            "version",
            vec![Message::text(
                r#"{"type":"hello","role":"agent","min_version":5,"max_version":6}"#,
            )],
            "version",
        ),
        (
            "an update from an agent",
            vec![
                Message::text(hello.to_json()),
                Message::binary(vec![2u8, 0, 0]),
            ],
            "unexpected",
        ),
        (
            "join twice",
            vec![
                Message::text(hello.to_json()),
                Message::text(join.to_json()),
                Message::text(join.to_json()),
            ],
            "unexpected",
        ),
        (
            "leave before join",
            vec![
                Message::text(hello.to_json()),
                Message::text(Control::Leave.to_json()),
            ],
            "unexpected",
        ),
    ];
    for (what, msgs, code) in cases {
        let a = TestAgent::open(r, Default::default()).await.unwrap();
        for m in msgs {
            a.send_message(m).unwrap();
        }
        a.wait_closed(T)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let s = a.snapshot();
        let (c, m) = s
            .server_error()
            .unwrap_or_else(|| panic!("{what}: no error: {}", s.summary()));
        assert_eq!(c, code, "{what}: {m}");
        live.still_works().await;
    }
    // A message over the size limit is refused.
    let a = TestAgent::open(r, Default::default()).await.unwrap();
    a.send_message(Message::text(hello.to_json())).unwrap();
    a.send_message(Message::text(format!(
        "{{\"type\":\"pong\",\"t\":1,\"pad\":\"{}\"}}",
        "x".repeat(MAX_CONTROL_LEN + 10)
    )))
    .unwrap();
    a.wait_closed(T).await.unwrap();
    live.still_works().await;
    // The healthy session only ever had its own agent.
    let stats = srv.stats();
    assert_eq!(
        stats.session(1, "healthy").unwrap().agents.len(),
        1,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_by_the_handshake_and_idle_timeouts() {
    logs();
    let timing = Timing {
        ping_interval: Duration::from_secs(60),
        idle_timeout: Duration::from_millis(1500),
        handshake_timeout: Duration::from_millis(1000),
        visitor_idle_timeout: Duration::from_millis(1500),
        resume_window: Duration::from_millis(500),
    };
    let srv = TestServer::start_with(TestServerOptions {
        timing: Some(timing),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = srv.ready();
    // No hello.
    let mut v = RawVisitor::connect(r).await.unwrap();
    let (c, _) = error_then_close(&mut v).await;
    assert_eq!(c, "timeout");
    // A session whose visitor goes silent ends as a lost connection.
    let v = RawVisitor::start_dev(r, Some("quiet"), 16, 16)
        .await
        .unwrap();
    let a = TestAgent::join_dev(r, "quiet").await.unwrap();
    // (The agent keeps talking so that only the visitor is silent.)
    let deadline = tokio::time::Instant::now() + T;
    while a.snapshot().ended_status().is_none() && tokio::time::Instant::now() < deadline {
        a.send(&Control::Pong { t: 0 }).unwrap();
        let _ = a
            .wait_until("session_ended", Duration::from_millis(300), |s| {
                s.ended_status().is_some()
            })
            .await;
    }
    assert_eq!(a.snapshot().ended_status(), Some(27), "{a:?}");
    drop(v);
    // A silent agent is closed too.
    let a = TestAgent::connect(r, Default::default()).await.unwrap();
    a.wait_closed(T).await.unwrap();
    assert_eq!(
        a.snapshot().server_error().map(|(c, _)| c.to_string()),
        Some("timeout".into())
    );
}
