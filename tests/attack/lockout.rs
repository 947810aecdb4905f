//! Finding 2, lock-out by one anonymous client: one client filled a group's 1,000-session
//! limit in 3.2 s; 4,096 slow POSTs or 4,095 token-less /ws/agent sockets filled the HTTPS
//! listener's or the agent cap (503, TLS EOF for everyone); /ws/presence sockets counted
//! against no cap and ran the server out of file descriptors.

use std::time::{Duration, Instant};

use glance_protocol::{Control, Role, StartFailReason};
use glance_tests::visitor::start_params;
use glance_tests::{RawVisitor, TestAgent, TestServer, TestServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::attacker_ip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_its_share_of_the_group_limit() {
    // The start budget raised so that only the share is tested: 10 % of 200 sessions.
    let srv = TestServer::with_config(
        "[[group]]\nid = 1\napi_key = \"visitor-token-1\"\nmax_sessions = 200\n\
         [limits]\nstarts_per_address_burst = 1000\nstarts_per_token_burst = 1000\n",
    )
    .await
    .unwrap();
    let r = srv.ready();
    let mut held = Vec::new();
    let refused = loop {
        let mut v = RawVisitor::connect_from(r, Some(attacker_ip(2)))
            .await
            .unwrap();
        v.hello().await.unwrap();
        match v
            .start_session(start_params(r, None, 16, 16))
            .await
            .unwrap()
        {
            Control::SessionStarted { .. } => held.push(v),
            Control::StartFailed { reason, .. } => break reason,
            other => panic!("unexpected {other:?}"),
        }
        assert!(held.len() <= 200, "one address took the whole group");
    };
    assert_eq!(refused, StartFailReason::Throttled);
    assert_eq!(held.len(), 20, "10 % of 200 (the floor is 20 too)");
    // Every other visitor of the group still starts.
    for _ in 0..3 {
        RawVisitor::start_dev(r, None, 16, 16).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_like_a_slow_header() {
    let srv = TestServer::with_config("[[group]]\nid = 1\n[limits]\nrequest_timeout_secs = 2\n")
        .await
        .unwrap();
    let r = srv.ready();
    let mut tls = glance_tests::tls::connect_from(r, &r.https_addr, None, Some(attacker_ip(3)))
        .await
        .unwrap();
    tls.write_all(
        b"POST /api/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    let t0 = Instant::now();
    let mut answer = Vec::new();
    // Trickle a byte every 300 ms for at most 8 s; the server must answer and close first.
    let cut = tokio::time::timeout(Duration::from_secs(8), async {
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                n = tls.read(&mut buf) => match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                _ = tokio::time::sleep(Duration::from_millis(300)) => {
                    if tls.write_all(b" ").await.is_err() || tls.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "a body trickled for 8 s was never cut");
    let secs = t0.elapsed().as_secs_f64();
    assert!(secs < 4.0, "cut after {secs:.1} s (deadline 2 s)");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_less_agent_sockets_cannot_fill_the_listener() {
    let timing = glance_server::Timing {
        handshake_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let srv = TestServer::start_with(TestServerOptions {
        config_toml: Some("[[group]]\nid = 1\n[limits]\nconnections_per_address = 30\n".into()),
        timing: Some(timing),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = srv.ready();
    let real = RawVisitor::start_dev(r, Some("555001"), 16, 16)
        .await
        .unwrap();
    // The attacker opens 100 agent sockets from one address and never joins.
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..100 {
        match glance_tests::tls::websocket_from(r, "/ws/agent", None, None, Some(attacker_ip(4)))
            .await
        {
            Ok(ws) => open.push(ws),
            Err(_) => refused += 1,
        }
    }
    assert!(open.len() <= 30, "{} sockets from one address", open.len());
    assert!(refused >= 70);
    let (now, cap) = srv.server().connections();
    assert!(now <= 31 + 2 && cap > now, "{now} open, cap {cap}");
    // A real agent still joins at once.
    let t0 = Instant::now();
    let a = TestAgent::join_dev(r, "555001").await.unwrap();
    assert!(a.with_state(|s| s.joined().is_some()));
    assert!(t0.elapsed() < Duration::from_secs(2));
    // A socket that says hello but never joins is closed at the handshake deadline.
    let hello_only = TestAgent::connect(r, Default::default()).await.unwrap();
    hello_only
        .wait_closed(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        hello_only.with_state(|s| s.server_error().map(|(c, _)| c.to_string())),
        Some("timeout".to_string())
    );
    drop(real);
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_sockets_count_against_the_connection_budget() {
    let srv =
        TestServer::with_config("[[group]]\nid = 1\n[limits]\nconnections_per_address = 25\n")
            .await
            .unwrap();
    let r = srv.ready();
    let mut open = Vec::new();
    for i in 0..80 {
        if let Ok(mut ws) =
            glance_tests::tls::websocket_from(r, "/ws/presence", None, None, Some(attacker_ip(5)))
                .await
        {
            use futures_util::SinkExt;
            let hello =
                serde_json::json!({"type":"hello","group_id":1,"visitor_id":format!("v{i}")});
            let _ = ws
                .send(tokio_tungstenite::tungstenite::Message::Text(
                    hello.to_string().into(),
                ))
                .await;
            open.push(ws);
        }
    }
    assert!(
        open.len() <= 25,
        "{} presence sockets from one address",
        open.len()
    );
    let (now, cap) = srv.server().connections();
    assert!(now <= 27 && now < cap, "{now} open, cap {cap}");
    // The healthy side is untouched: a visitor from another address starts.
    let mut v = RawVisitor::connect(r).await.unwrap();
    assert!(matches!(
        v.hello_with(Role::Visitor, 1, 1).await.unwrap(),
        Control::Welcome { .. }
    ));
    assert!(matches!(
        v.start_session(start_params(r, None, 16, 16))
            .await
            .unwrap(),
        Control::SessionStarted { .. }
    ));
}
