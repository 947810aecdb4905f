//! The visitor's network resilience end to end, through fault-injecting proxies on loopback
//! in front of the server's direct port and (for drops) its HTTPS port: falling back to the
//! tunnel, forceTunnel, pixel-exact sharing through the tunnel.

mod common;

use std::time::Duration;

use common::{agent_matches, runtime, server_behind_two_proxies, Visitor};
use glance_tests::{Fault, FaultProxy, TestAgent, TestServer, TestServerOptions};
use glance_visitor::{EventCode, StartParams};

/// A server whose direct port is announced through a fault proxy.
async fn server_behind_direct_proxy() -> (TestServer, FaultProxy) {
    let proxy = FaultProxy::bind().await.unwrap();
    let server = TestServer::start_with(TestServerOptions {
        advertise_direct: Some(proxy.addr().to_string()),
        ..Default::default()
    })
    .await
    .unwrap();
    proxy
        .set_target(server.ready().direct_addr.parse().unwrap())
        .unwrap();
    (server, proxy)
}

/// Draws something recognisable, then waits until the agent shows exactly it.
async fn share_and_check(vis: &Visitor, agent: &TestAgent, what: &str) {
    let d = vis.display();
    d.fill_rect(10, 10, 200, 120, [200, 30, 40]);
    d.fill_rect(300, 200, 64, 64, [10, 220, 90]);
    agent_matches(agent, d, what).await;
}

/// Whether `code` fired among the events so far (consumes them).
fn fired(vis: &Visitor, code: EventCode) -> bool {
    let mut seen = false;
    while let Ok(e) = vis.rx.try_recv() {
        seen |= e.code == code;
    }
    seen
}

#[test]
fn falls_back_to_the_tunnel_when_the_direct_port_is_refused() {
    runtime().block_on(async {
        let (server, proxy) = server_behind_direct_proxy().await;
        proxy.set_refusing(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let key = vis.start_random().await;
        vis.expect(EventCode::Tunneling, 5).await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture through the tunnel").await;
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn falls_back_to_the_tunnel_when_the_direct_tls_handshake_is_reset() {
    runtime().block_on(async {
        let (server, proxy) = server_behind_direct_proxy().await;
        proxy.set_fault(Fault::ResetHandshake);
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let key = vis.start_random().await;
        vis.expect(EventCode::Tunneling, 5).await;
        assert!(proxy.accepted() >= 1, "the direct port was tried first");
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture through the tunnel").await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn falls_back_to_the_tunnel_when_the_direct_connection_is_cut_mid_handshake() {
    runtime().block_on(async {
        let (server, proxy) = server_behind_direct_proxy().await;
        // Enough for the ClientHello, not for the handshake.
        proxy.set_fault(Fault::CutAfter(600));
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        vis.start_random().await;
        vis.expect(EventCode::Tunneling, 5).await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn a_working_direct_port_is_used_without_tunneling() {
    runtime().block_on(async {
        let (server, proxy) = server_behind_direct_proxy().await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture over the direct port").await;
        assert!(!fired(&vis, EventCode::Tunneling));
        assert_eq!(proxy.accepted(), 1);
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn force_tunnel_never_tries_the_direct_port() {
    runtime().block_on(async {
        let (server, proxy) = server_behind_direct_proxy().await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 800, 600).await;
        let key = vis
            .start_params(StartParams {
                force_tunnel: true,
                ..Default::default()
            })
            .await;
        vis.expect(EventCode::Tunneling, 5).await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture through the forced tunnel").await;
        // A screen change after the first key frame travels as a delta, pixel-exact too.
        vis.display().fill_rect(100, 400, 50, 50, [1, 2, 3]);
        agent_matches(&agent, vis.display(), "delta through the tunnel").await;
        assert_eq!(
            proxy.accepted(),
            0,
            "forceTunnel must not touch the direct port"
        );
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn a_five_second_drop_is_recovered_pixel_exact() {
    runtime().block_on(async {
        let (server, direct, tunnel) = server_behind_two_proxies(None).await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture before the drop").await;
        let call_id = vis.v.session_info().call_id;

        // Cut everything for 5 s; the screen changes meanwhile.
        let t = std::time::Instant::now();
        direct.set_refusing(true);
        tunnel.set_refusing(true);
        direct.drop_all();
        tunnel.drop_all();
        vis.expect(EventCode::ConnectionWarning, 10).await;
        let warned = t.elapsed();
        vis.display().fill_rect(50, 300, 300, 100, [250, 250, 0]);
        tokio::time::sleep(Duration::from_secs(5).saturating_sub(t.elapsed())).await;
        direct.set_refusing(false);
        tunnel.set_refusing(false);
        let back = std::time::Instant::now();
        vis.expect(EventCode::ClearWarning, 15).await;
        let resumed = back.elapsed();
        agent_matches(&agent, vis.display(), "picture after the resume").await;
        let exact = back.elapsed();
        eprintln!("drop: warning after {warned:?}; resumed {resumed:?} after the network came back; agent pixel-exact after {exact:?}");
        // The same session: same key and call id, the agent never left.
        let info = vis.v.session_info();
        assert_eq!(info.call_id, call_id);
        assert_eq!(info.key, key);
        assert!(agent.snapshot().ended_status().is_none());
        // And it keeps working.
        vis.display().fill_rect(0, 0, 30, 30, [9, 9, 9]);
        agent_matches(&agent, vis.display(), "picture after more changes").await;
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn a_stalled_connection_is_detected_by_heartbeat_and_resumed() {
    runtime().block_on(async {
        let (server, direct, tunnel) = server_behind_two_proxies(None).await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture before the stall").await;
        // Nothing moves, but no socket closes: only the heartbeat can tell.
        direct.set_stalled(true);
        tunnel.set_stalled(true);
        let t = std::time::Instant::now();
        vis.expect(EventCode::ConnectionWarning, 15).await;
        let detected = t.elapsed();
        eprintln!("stall detected after {detected:?}");
        assert!(detected < Duration::from_secs(10), "{detected:?}");
        direct.set_stalled(false);
        tunnel.set_stalled(false);
        vis.expect(EventCode::ClearWarning, 20).await;
        vis.display().fill_rect(5, 5, 40, 40, [0, 0, 255]);
        agent_matches(&agent, vis.display(), "picture after the stall").await;
        // Without reportErrors the warning stays local: the session record has none.
        let stats = server.stats();
        let rec = stats
            .session(ready.group_id, &key)
            .expect("the session is live");
        assert!(rec.reported_errors.is_empty(), "{:?}", rec.reported_errors);
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn report_errors_puts_warnings_in_the_session_record() {
    runtime().block_on(async {
        let (server, direct, tunnel) = server_behind_two_proxies(None).await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        let key = vis
            .start_params(glance_visitor::StartParams {
                key: glance_visitor::GLANCE_KEYTYPE_RANDOM.into(),
                report_errors: true,
                ..Default::default()
            })
            .await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture before the drop").await;
        direct.drop_all();
        tunnel.drop_all();
        vis.expect(EventCode::ConnectionWarning, 15).await;
        vis.expect(EventCode::ClearWarning, 20).await;
        // The warning fired while the link was down reaches the record after the resume.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stats = server.stats();
            let rec = stats
                .session(ready.group_id, &key)
                .expect("the session is live");
            if rec
                .reported_errors
                .iter()
                .any(|(e, m)| e == "EventConnectionWarning" && !m.is_empty())
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no report in {:?}",
                rec.reported_errors
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

/// A session that ends while its visitor is away (here an agent ends it) stays ended: the
/// service answers the visitor's `resume` with how it ended, and the SDK reports that rather
/// than starting the session again (which it does only when the service lost the session).
#[test]
fn a_session_ended_while_the_visitor_is_away_is_not_started_again() {
    runtime().block_on(async {
        let (server, direct, tunnel) = server_behind_two_proxies(None).await;
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 320, 240).await;
        let key = vis.start_random().await;
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        share_and_check(&vis, &agent, "picture before the drop").await;
        direct.set_refusing(true);
        tunnel.set_refusing(true);
        direct.drop_all();
        tunnel.drop_all();
        vis.expect(EventCode::ConnectionWarning, 10).await;
        agent.end_session().unwrap();
        agent
            .wait_until("session_ended", Duration::from_secs(10), |s| {
                s.ended_status().is_some()
            })
            .await
            .unwrap();
        direct.set_refusing(false);
        tunnel.set_refusing(false);
        let e = vis.expect(EventCode::SessionEnded, 15).await;
        assert_eq!(
            e.property("reason"),
            Some("SessionEndReasonOtherSide"),
            "{}",
            e.message
        );
        assert!(!fired(&vis, EventCode::ClearWarning));
        assert!(server.stats().session(ready.group_id, &key).is_none());
    });
}
