//! A drop longer than the reconnect window ends the session with SessionEndReasonConnDrop
//! (windows shortened: the SDK's to 3 s, the server's to 3 s), and a service that cannot be
//! reached at all gives SessionEndReasonCantConnect after EventStartSessionFailed. In a file
//! of its own: the SDK's window is set through the process environment.

mod common;

use std::time::{Duration, Instant};

use common::{runtime, server_behind_two_proxies, Visitor};
use glance_tests::TestAgent;
use glance_visitor::EventCode;

#[test]
fn a_drop_longer_than_the_window_ends_with_conn_drop() {
    std::env::set_var("GLANCE_RECONNECT_WINDOW_MS", "3000");
    runtime().block_on(async {
        let (server, direct, tunnel) = server_behind_two_proxies(Some(glance_server::Timing {
            resume_window: Duration::from_secs(3),
            ..Default::default()
        }))
        .await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        direct.set_refusing(true);
        tunnel.set_refusing(true);
        direct.drop_all();
        tunnel.drop_all();
        let t = Instant::now();
        vis.expect(EventCode::ConnectionWarning, 10).await;
        let e = vis.expect(EventCode::SessionEnded, 15).await;
        eprintln!("ended: {} {:?}", e.message, e.property("reason"));
        assert_eq!(e.property("reason"), Some("SessionEndReasonConnDrop"));
        let after = t.elapsed();
        assert!(after >= Duration::from_secs(3), "gave up after {after:?}");
        // The service let the session go too: the agent sees status 27.
        agent
            .wait_until("session_ended 27", Duration::from_secs(10), |s| {
                s.ended_status() == Some(27)
            })
            .await
            .unwrap();
        eprintln!("conn drop reported {after:?} after the drop");
    });
}

#[test]
fn an_unreachable_service_gives_cant_connect() {
    runtime().block_on(async {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let vis = Visitor::with_source(glance_visitor::DisplaySource::Synthetic(
            glance_visitor::SyntheticDisplay::new(64, 64),
        ));
        vis.v
            .init(glance_visitor::VisitorConfig {
                group_id: 1,
                service_url: Some(format!("https://127.0.0.1:{port}")),
                ..Default::default()
            })
            .unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        vis.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let failed = vis.expect(EventCode::StartSessionFailed, 20).await;
        assert!(failed.property("error").is_some_and(|e| !e.is_empty()));
        assert_eq!(vis.ended(5).await, "SessionEndReasonCantConnect");
    });
}
