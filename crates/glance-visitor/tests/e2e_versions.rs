//! SDK versions against a real glance-server (issue 17): a service that knows a newer SDK
//! release tells the SDK (EventUpgradeAvailable, once per init, the session goes on); a
//! service whose minimum is above this release refuses it (EventUpgradeRequired instead of
//! EventStartSessionFailed, and no session).

mod common;

use std::time::Duration;

use common::{config, runtime, Visitor};
use glance_tests::TestServer;
use glance_visitor::EventCode;

fn group_toml(sdk: &str) -> String {
    format!("[[group]]\nid = 1\napi_key = \"k1\"\n\n[sdk]\n{sdk}\n")
}

/// Every event that arrives within `ms` milliseconds.
async fn drain(vis: &Visitor, ms: u64) -> Vec<EventCode> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let mut out = Vec::new();
    while let Ok(e) = vis.rx.try_recv() {
        out.push(e.code);
    }
    out
}

#[test]
fn a_newer_release_is_announced_once_per_init_and_the_session_goes_on() {
    runtime().block_on(async {
        let server = TestServer::with_config(&group_toml("latest = \"99.0.0\""))
            .await
            .unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        vis.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = vis.expect(EventCode::UpgradeAvailable, 20).await;
        assert_eq!(e.property("latest"), Some("99.0.0"));
        assert_eq!(e.property("version"), Some(env!("CARGO_PKG_VERSION")));
        vis.expect(EventCode::ConnectedToSession, 20).await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;

        // A second session after the same init: not again.
        vis.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        vis.expect(EventCode::ConnectedToSession, 20).await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;
        let later = drain(&vis, 300).await;
        assert!(!later.contains(&EventCode::UpgradeAvailable), "{later:?}");

        // init again: once more.
        vis.v.init(config(&ready, None)).unwrap();
        vis.expect(EventCode::VisitorInitialized, 5).await;
        vis.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        vis.expect(EventCode::UpgradeAvailable, 20).await;
        vis.expect(EventCode::ConnectedToSession, 20).await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn the_same_release_is_not_announced() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        let _ = vis.start_random().await;
        vis.v.end_session().unwrap();
        vis.ended(10).await;
        let all = drain(&vis, 200).await;
        assert!(!all.contains(&EventCode::UpgradeAvailable), "{all:?}");
    });
}

#[test]
fn a_release_below_the_minimum_gets_upgrade_required_and_no_session() {
    runtime().block_on(async {
        let server = TestServer::with_config(&group_toml("minimum = \"99.0\""))
            .await
            .unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        vis.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = vis.expect(EventCode::UpgradeRequired, 20).await;
        assert!(e.message.contains("99.0"), "{}", e.message);
        assert_eq!(vis.ended(10).await, "SessionEndReasonError");
        let rest = drain(&vis, 300).await;
        assert!(
            !rest.contains(&EventCode::ConnectedToSession)
                && !rest.contains(&EventCode::StartSessionFailed),
            "{rest:?}"
        );
        assert!(
            server.stats().sessions.is_empty(),
            "no session on the service"
        );
        // The SDK is idle again: another attempt gets the same answer.
        vis.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        vis.expect(EventCode::UpgradeRequired, 20).await;
        vis.ended(10).await;
    });
}
