//! The visitor's network resilience end to end, through fault-injecting proxies on loopback
//! in front of the server's direct port and (for drops) its HTTPS port: falling back to the
//! tunnel, forceTunnel, pixel-exact sharing through the tunnel.

mod common;

use std::time::Duration;

use common::{agent_matches, runtime, Visitor};
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
