//! End to end: every EventSessionEnded reason the service can produce, EventStartSessionFailed,
//! maxGuests and persist, with the real visitor against a real glance-server.

mod common;

use std::time::Duration;

use common::{config, runtime, Visitor};
use glance_tests::{TestAgent, TestServer};
use glance_visitor::{EventCode, StartParams};

fn group_toml(extra: &str) -> String {
    format!("[[group]]\nid = 1\napi_key = \"k1\"\n{extra}\n")
}

#[test]
fn agent_ending_gives_other_side() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        let key = vis.start_random().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        vis.expect(EventCode::GuestCountChange, 10).await;
        a.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonOtherSide");
        a.wait_until("ended", Duration::from_secs(10), |s| {
            s.ended_status().is_some()
        })
        .await
        .unwrap();
        assert_eq!(a.with_state(|s| s.ended_status()), Some(23));
    });
}

#[test]
fn last_agent_leaving_ends_unless_persist() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        // persist = false (the default): the last agent leaving ends the session.
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        let key = vis.start_random().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        vis.expect(EventCode::GuestCountChange, 10).await;
        a.leave().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonOtherSide");

        // persist = true: the session stays, the count drops to 0, a new agent can join.
        let key = vis
            .start_params(StartParams {
                persist: true,
                key: "persist-me".into(),
                ..Default::default()
            })
            .await;
        assert_eq!(key, "persist-me");
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        vis.expect(EventCode::GuestCountChange, 10).await;
        a.leave().unwrap();
        let g = vis.expect(EventCode::GuestCountChange, 10).await;
        assert_eq!(g.property("count"), Some("0"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            vis.v.session_info().is_connected,
            "persisted session still runs"
        );
        let b = TestAgent::join_dev(&ready, &key).await.unwrap();
        assert!(b.with_state(|s| s.joined().is_some()));
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}

#[test]
fn no_agent_within_timeout_gives_timed_out() {
    runtime().block_on(async {
        let server = TestServer::with_config(&group_toml("no_agent_timeout_secs = 1"))
            .await
            .unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        vis.start_random().await;
        assert_eq!(vis.ended(15).await, "SessionEndTimedout");
    });
}

#[test]
fn group_over_its_limit_is_killed_and_a_live_key_is_refused() {
    runtime().block_on(async {
        let server = TestServer::with_config(&group_toml("max_sessions = 1"))
            .await
            .unwrap();
        let ready = server.ready().clone();
        let first = Visitor::synthetic(&ready, 160, 120).await;
        first.v.start_session_key("the-key").unwrap();
        first.expect(EventCode::ConnectedToSession, 20).await;
        // A second session in the group: over the limit.
        let second = Visitor::synthetic(&ready, 160, 120).await;
        second.start_random_fails().await;
        assert_eq!(second.ended(10).await, "SessionEndReasonKilled");
        // The same key from another visitor is refused (issue 18: a live key belongs to the
        // visitor that holds it); the first session goes on.
        let a = TestAgent::join_dev(&ready, "the-key").await.unwrap();
        first.expect(EventCode::GuestCountChange, 10).await;
        second.v.start_session_key("the-key").unwrap();
        let f = second.expect(EventCode::StartSessionFailed, 20).await;
        assert_eq!(f.property("error"), Some("key_in_use"), "{}", f.message);
        assert_eq!(second.ended(10).await, "SessionEndReasonError");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(a.with_state(|s| s.ended_status().is_none() && !s.closed));
        assert!(first.v.session_info().is_connected);
        first.v.end_session().unwrap();
        first.ended(10).await;
    });
}

trait StartFails {
    async fn start_random_fails(&self);
}

impl StartFails for Visitor {
    async fn start_random_fails(&self) {
        self.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let f = self.expect(EventCode::StartSessionFailed, 20).await;
        assert_eq!(f.property("error"), Some("group_limit"), "{}", f.message);
    }
}

#[test]
fn max_guests_refuses_the_next_agent_with_session_full() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        let key = vis
            .start_params(StartParams {
                max_guests: 1,
                ..Default::default()
            })
            .await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        assert!(a.with_state(|s| s.joined().is_some()));
        let b = TestAgent::join_dev(&ready, &key).await.unwrap();
        assert_eq!(b.with_state(|s| s.join_failed()), Some(35));
        assert!(!b.with_state(|s| s.fb.has_picture()));
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn unknown_group_fails_to_start() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::with_source(glance_visitor::DisplaySource::Synthetic(
            glance_visitor::SyntheticDisplay::new(64, 64),
        ));
        let mut cfg = config(&ready, None);
        cfg.group_id = 4242;
        vis.v.init(cfg).unwrap();
        vis.v.start_session().unwrap();
        let f = vis.expect(EventCode::StartSessionFailed, 20).await;
        assert_eq!(f.property("error"), Some("unknown_group"), "{}", f.message);
        assert_eq!(vis.ended(10).await, "SessionEndReasonError");
    });
}

#[test]
fn server_vanishing_gives_conn_drop() {
    // Reconnecting is given up after 1 s here (60 s by default).
    std::env::set_var("GLANCE_RECONNECT_WINDOW_MS", "1000");
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 160, 120).await;
        vis.start_random().await;
        drop(server);
        assert_eq!(vis.ended(20).await, "SessionEndReasonConnDrop");
    });
}
