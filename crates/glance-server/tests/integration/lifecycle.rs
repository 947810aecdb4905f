//! Session lifecycle: keys, replacement, limits, joining rules, and every way a session ends.

use std::collections::HashSet;
use std::time::Duration;

use glance_protocol::{Control, EndReason, StartFailReason};
use glance_tests::visitor::start_params;
use glance_tests::{Picture, RawVisitor, TestAgent, TestServer, TestServerOptions};

use crate::common::{logs, Live, T};

fn ended(c: &Control) -> bool {
    matches!(c, Control::SessionEnded { .. })
}

fn end_of(c: &Control) -> (EndReason, u16) {
    match c {
        Control::SessionEnded { reason, status, .. } => (*reason, *status),
        other => panic!("expected session_ended, got {other:?}"),
    }
}

async fn start_failed(srv: &TestServer, p: glance_protocol::StartSession) -> StartFailReason {
    let mut v = RawVisitor::connect(srv.ready()).await.unwrap();
    assert!(matches!(v.hello().await.unwrap(), Control::Welcome { .. }));
    match v.start_session(p).await.unwrap() {
        Control::StartFailed { reason, .. } => {
            v.wait_closed(T).await.unwrap();
            reason
        }
        other => panic!("expected start_failed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_keys_are_digits_of_the_groups_length_and_unique() {
    logs();
    let srv = TestServer::with_config(
        "[[group]]\nid = 4\napi_key = \"k4\"\nrandom_key_length = 4\n\n[[group]]\nid = 9\napi_key = \"k9\"\nrandom_key_length = 9\n",
    )
    .await
    .unwrap();
    let r = srv.ready();
    assert_eq!((r.group_id, r.api_key.as_str()), (4, "k4"));
    let mut keys = HashSet::new();
    let mut visitors = Vec::new();
    for _ in 0..6 {
        let v = RawVisitor::start_dev(r, None, 16, 16).await.unwrap();
        assert_eq!(v.key().len(), 4, "{}", v.key());
        assert!(v.key().bytes().all(|b| b.is_ascii_digit()));
        assert!(keys.insert(v.key().to_string()));
        visitors.push(v);
    }
    let mut p = start_params(r, None, 16, 16);
    p.group_id = 9;
    p.token = "k9".into();
    let v = RawVisitor::start(r, p).await.unwrap();
    assert_eq!(v.key().len(), 9);
    assert!(v.key().bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(srv.stats().sessions.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_key_space_gives_no_key_available() {
    logs();
    let srv = TestServer::with_config("[[group]]\nid = 1\nrandom_key_length = 1\n")
        .await
        .unwrap();
    let r = srv.ready();
    let mut visitors = Vec::new();
    for _ in 0..10 {
        visitors.push(RawVisitor::start_dev(r, None, 16, 16).await.unwrap());
    }
    let keys: HashSet<&str> = visitors.iter().map(|v| v.key()).collect();
    assert_eq!(keys.len(), 10);
    let reason = start_failed(&srv, start_params(r, None, 16, 16)).await;
    assert_eq!(reason, StartFailReason::NoKeyAvailable);
    // A specified key is still accepted.
    RawVisitor::start_dev(r, Some("named"), 16, 16)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_key_is_refused_and_the_live_session_goes_on() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let old = RawVisitor::start_dev(r, Some("support-1"), 32, 32)
        .await
        .unwrap();
    let a = TestAgent::join_dev(r, "support-1").await.unwrap();
    let call = srv.stats().sessions[0].call_id;
    // With the group's token or without, another visitor cannot take the key.
    for token in [String::new(), r.api_key.clone()] {
        let mut p = start_params(r, Some("support-1"), 32, 32);
        p.token = token;
        assert_eq!(start_failed(&srv, p).await, StartFailReason::KeyInUse);
    }
    let stats = srv.stats();
    assert_eq!(stats.sessions.len(), 1);
    assert_eq!(stats.sessions[0].call_id, call);
    assert_eq!(stats.sessions[0].agents.len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!old
        .received()
        .iter()
        .any(|c| matches!(c, Control::SessionEnded { .. })));
    assert!(a.with_state(|s| s.ended_status().is_none() && !s.closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_proved_visitor_replaces_its_lost_session_and_agents_see_36() {
    logs();
    let srv = TestServer::with_config(
        "[[group]]\nid = 4\napi_key = \"visitor-token-4\"\nrequire_visitor_token = true\n",
    )
    .await
    .unwrap();
    let r = srv.ready();
    let mut p = start_params(r, Some("cust-9"), 32, 32);
    p.visitor_id = Some("cust-9".into());
    let old = RawVisitor::start(r, p.clone()).await.unwrap();
    let a = TestAgent::join_dev(r, "cust-9").await.unwrap();
    // While its link is up, even the same identity is refused: it must resume instead.
    assert_eq!(
        start_failed(&srv, p.clone()).await,
        StartFailReason::KeyInUse
    );
    drop(old);
    let deadline = tokio::time::Instant::now() + T;
    let new = loop {
        let mut v = RawVisitor::connect(r).await.unwrap();
        v.hello().await.unwrap();
        match v.start_session(p.clone()).await.unwrap() {
            Control::SessionStarted { .. } => break v,
            Control::StartFailed { reason, .. } => {
                assert_eq!(reason, StartFailReason::KeyInUse);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the lost link was never noticed"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(new.key(), "cust-9");
    a.wait_until("session_ended 36", T, |s| {
        s.ended_status() == Some(36) && s.closed
    })
    .await
    .unwrap();
    assert_eq!(srv.stats().sessions.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_session_limit_is_enforced() {
    logs();
    let srv = TestServer::with_config("[[group]]\nid = 2\nmax_sessions = 2\n")
        .await
        .unwrap();
    let r = srv.ready();
    let _a = RawVisitor::start_dev(r, Some("one"), 16, 16).await.unwrap();
    let _b = RawVisitor::start_dev(r, None, 16, 16).await.unwrap();
    assert_eq!(
        start_failed(&srv, start_params(r, None, 16, 16)).await,
        StartFailReason::GroupLimit
    );
    assert_eq!(
        start_failed(&srv, start_params(r, Some("three"), 16, 16)).await,
        StartFailReason::GroupLimit
    );
    // A live key is refused as in use, whatever the limit.
    assert_eq!(
        start_failed(&srv, start_params(r, Some("one"), 16, 16)).await,
        StartFailReason::KeyInUse
    );
    assert_eq!(srv.stats().sessions.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_group_bad_token_and_bad_key_are_refused() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut p = start_params(r, None, 16, 16);
    p.group_id = 99;
    assert_eq!(start_failed(&srv, p).await, StartFailReason::UnknownGroup);
    let mut p = start_params(r, None, 16, 16);
    p.token = "wrong".into();
    assert_eq!(start_failed(&srv, p).await, StartFailReason::Unauthorized);
    assert_eq!(
        start_failed(&srv, start_params(r, Some("has space"), 16, 16)).await,
        StartFailReason::InvalidKey
    );
    assert_eq!(
        start_failed(&srv, start_params(r, Some(&"k".repeat(64)), 16, 16)).await,
        StartFailReason::InvalidKey
    );
    assert!(srv.stats().sessions.is_empty());
    // An empty visitor token is accepted by default.
    let mut p = start_params(r, Some("no-token"), 16, 16);
    p.token = String::new();
    let _v = RawVisitor::start(r, p).await.unwrap();
    assert_eq!(srv.stats().sessions.len(), 1);

    // A group may require the token.
    let srv = TestServer::with_config(
        "[[group]]\nid = 1\napi_key = \"secret\"\nrequire_visitor_token = true\n",
    )
    .await
    .unwrap();
    let r = srv.ready();
    let mut p = start_params(r, None, 16, 16);
    p.token = String::new();
    assert_eq!(start_failed(&srv, p).await, StartFailReason::Unauthorized);
    let _w = RawVisitor::start(r, start_params(r, None, 16, 16))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_without_a_valid_token_get_18_and_never_a_pixel() {
    logs();
    let srv = TestServer::with_config(
        "[[group]]\nid = 1\n\n[[group]]\nid = 2\napi_key = \"g2\"\nagent_tokens = [\"agent-of-2\"]\n",
    )
    .await
    .unwrap();
    let r = srv.ready();
    let v = RawVisitor::start_dev(r, Some("k1"), 48, 32).await.unwrap();
    let pic = Picture::pattern(48, 32, 5);
    v.send_frame(&pic.key_update(0, 1)).await.unwrap();
    let mut refused = Vec::new();
    for (token, group) in [
        ("wrong", Some(1)),
        ("", Some(1)),
        ("", None),
        ("agent-of-2", Some(1)),
        ("nope", None),
    ] {
        let a = TestAgent::join(r, "k1", token, group).await.unwrap();
        a.wait_closed(T).await.unwrap();
        let s = a.snapshot();
        assert_eq!(
            s.join_failed(),
            Some(18),
            "token {token:?} group {group:?}: {}",
            s.summary()
        );
        refused.push(a);
    }
    // A token of group 2 without group_id looks in group 2, where there is no "k1".
    let a = TestAgent::join(r, "k1", "agent-of-2", None).await.unwrap();
    a.wait_closed(T).await.unwrap();
    assert_eq!(a.snapshot().join_failed(), Some(19));
    refused.push(a);
    // The session keeps sending pictures (to a good agent); refused agents never get any.
    let good = TestAgent::join_dev(r, "k1").await.unwrap();
    v.send_frame(&pic.key_update(glance_protocol::update::FLAG_REFRESH_ONLY, 2))
        .await
        .unwrap();
    let p = pic.clone();
    good.wait_until("the picture", T, |s| p.matches(&s.fb))
        .await
        .unwrap();
    for a in &refused {
        let s = a.snapshot();
        assert_eq!((s.updates, s.update_bytes), (0, 0), "{}", s.summary());
        assert!(s.joined().is_none());
    }
    // A group's own agent token works for that group, with or without group_id.
    let mut p2 = start_params(r, Some("k2"), 16, 16);
    p2.group_id = 2;
    p2.token = "g2".into();
    let _v2 = RawVisitor::start(r, p2).await.unwrap();
    for group in [Some(2), None] {
        let a = TestAgent::join(r, "k2", "agent-of-2", group).await.unwrap();
        assert!(a.with_state(|s| s.joined().is_some()), "{a:?}");
    }
    // The development token is valid for every group.
    let a = TestAgent::join(r, "k2", &r.agent_token, Some(2))
        .await
        .unwrap();
    assert!(a.with_state(|s| s.joined().is_some()), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_give_19_and_full_sessions_35() {
    logs();
    let srv = TestServer::with_config("[[group]]\nid = 1\nmax_guests = 3\n")
        .await
        .unwrap();
    let r = srv.ready();
    let a = TestAgent::join_dev(r, "no-such-key").await.unwrap();
    a.wait_closed(T).await.unwrap();
    assert_eq!(a.snapshot().join_failed(), Some(19));
    let mut p = start_params(r, Some("two"), 16, 16);
    p.max_guests = 2;
    let _v = RawVisitor::start(r, p).await.unwrap();
    let a1 = TestAgent::join_dev(r, "two").await.unwrap();
    let a2 = TestAgent::join_dev(r, "two").await.unwrap();
    let a3 = TestAgent::join_dev(r, "two").await.unwrap();
    assert!(a1.with_state(|s| s.joined().is_some()) && a2.with_state(|s| s.joined().is_some()));
    a3.wait_closed(T).await.unwrap();
    assert_eq!(a3.snapshot().join_failed(), Some(35));
    // The group's limit applies when the visitor asks for more (or for no limit).
    let _w = RawVisitor::start_dev(r, Some("group-limit"), 16, 16)
        .await
        .unwrap();
    let mut agents = Vec::new();
    for _ in 0..3 {
        let a = TestAgent::join_dev(r, "group-limit").await.unwrap();
        assert!(a.with_state(|s| s.joined().is_some()));
        agents.push(a);
    }
    let a4 = TestAgent::join_dev(r, "group-limit").await.unwrap();
    a4.wait_closed(T).await.unwrap();
    assert_eq!(a4.snapshot().join_failed(), Some(35));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_counts_and_persist_false_ending_when_the_last_agent_leaves() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut p = start_params(r, Some("brief"), 16, 16);
    p.persist = false;
    let mut v = RawVisitor::start(r, p).await.unwrap();
    let a = TestAgent::join_dev(r, "brief").await.unwrap();
    v.recv_until("guest_count 1", T, |c| {
        *c == Control::GuestCount { count: 1 }
    })
    .await
    .unwrap();
    let b = TestAgent::join_dev(r, "brief").await.unwrap();
    v.recv_until("guest_count 2", T, |c| {
        *c == Control::GuestCount { count: 2 }
    })
    .await
    .unwrap();
    a.wait_until("guest_count 2", T, |s| s.guest_count() == Some(2))
        .await
        .unwrap();
    a.leave().unwrap();
    a.wait_closed(T).await.unwrap();
    v.recv_until("guest_count 1", T, |c| {
        *c == Control::GuestCount { count: 1 }
    })
    .await
    .unwrap();
    b.wait_until("guest_count 1", T, |s| s.guest_count() == Some(1))
        .await
        .unwrap();
    assert!(
        a.snapshot().ended_status().is_none(),
        "leaving does not end the session"
    );
    b.leave().unwrap();
    let c = v.recv_until("session_ended", T, ended).await.unwrap();
    assert_eq!(end_of(&c), (EndReason::OtherSide, 24));
    v.wait_closed(T).await.unwrap();
    assert!(srv.stats().sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_ends_the_session_for_everyone() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut v = RawVisitor::start_dev(r, Some("end-by-agent"), 16, 16)
        .await
        .unwrap();
    let a = TestAgent::join_dev(r, "end-by-agent").await.unwrap();
    let b = TestAgent::join_dev(r, "end-by-agent").await.unwrap();
    a.end_session().unwrap();
    let c = v.recv_until("session_ended", T, ended).await.unwrap();
    assert_eq!(end_of(&c), (EndReason::OtherSide, 23));
    v.wait_closed(T).await.unwrap();
    for x in [&a, &b] {
        x.wait_until("session_ended 23 and close", T, |s| {
            s.ended_status() == Some(23) && s.closed
        })
        .await
        .unwrap();
    }
    assert!(srv.stats().sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_agents_time_out() {
    logs();
    let srv = TestServer::with_config("[[group]]\nid = 1\nno_agent_timeout_secs = 1\n")
        .await
        .unwrap();
    let r = srv.ready();
    // Nobody ever joins.
    let mut v = RawVisitor::start_dev(r, None, 16, 16).await.unwrap();
    let c = v.recv_until("session_ended", T, ended).await.unwrap();
    assert_eq!(end_of(&c), (EndReason::TimedOut, 25));
    v.wait_closed(T).await.unwrap();

    // The timer does not run while an agent is present, and restarts when the last leaves.
    let mut v = RawVisitor::start_dev(r, Some("stay"), 16, 16)
        .await
        .unwrap();
    let a = TestAgent::join_dev(r, "stay").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(
        srv.stats().session(1, "stay").is_some(),
        "the session ended with an agent present"
    );
    assert!(!v.received().iter().any(ended));
    a.leave().unwrap();
    let c = v.recv_until("session_ended", T, ended).await.unwrap();
    assert_eq!(end_of(&c), (EndReason::TimedOut, 25));
    assert!(srv.stats().sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_visitor_connection_gives_27() {
    logs();
    // The session waits this long for a resume before it ends.
    let srv = TestServer::start_with(TestServerOptions {
        timing: Some(glance_server::Timing {
            resume_window: std::time::Duration::from_millis(300),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = srv.ready();
    // A clean TLS close without end_session.
    let v = RawVisitor::start_dev(r, Some("gone"), 16, 16)
        .await
        .unwrap();
    let a = TestAgent::join_dev(r, "gone").await.unwrap();
    v.shutdown().await.unwrap();
    a.wait_until("session_ended 27", T, |s| {
        s.ended_status() == Some(27) && s.closed
    })
    .await
    .unwrap();
    assert!(srv.stats().sessions.is_empty());
    // An abrupt drop.
    let v = RawVisitor::start_dev(r, Some("dropped"), 16, 16)
        .await
        .unwrap();
    let a = TestAgent::join_dev(r, "dropped").await.unwrap();
    drop(v);
    a.wait_until("session_ended 27", T, |s| s.ended_status() == Some(27))
        .await
        .unwrap();
    let s = a.snapshot();
    assert!(matches!(
        s.events.iter().find(|c| ended(c)),
        Some(Control::SessionEnded { iserror: true, .. })
    ));
    assert!(srv.stats().sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_ends_the_session() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut v = RawVisitor::start_dev(r, Some("bye"), 16, 16).await.unwrap();
    let a = TestAgent::join_dev(r, "bye").await.unwrap();
    v.end_session().await.unwrap();
    let c = v.recv_until("session_ended", T, ended).await.unwrap();
    assert_eq!(end_of(&c), (EndReason::ThisSide, 24));
    v.wait_closed(T).await.unwrap();
    a.wait_until("session_ended 24", T, |s| {
        s.ended_status() == Some(24) && s.closed
    })
    .await
    .unwrap();
    assert!(srv.stats().sessions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_is_relayed_and_reported_to_late_joiners() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("pausing")).await;
    live.visitor.pause(true).await.unwrap();
    live.agent
        .wait_until("paused", T, |s| s.paused() == Some(true))
        .await
        .unwrap();
    let late = TestAgent::join_dev(r, "pausing").await.unwrap();
    let joined = late.with_state(|s| s.joined().cloned()).unwrap();
    assert!(
        matches!(
            joined,
            Control::Joined {
                paused: true,
                guests: 2,
                ..
            }
        ),
        "{joined:?}"
    );
    live.visitor.pause(false).await.unwrap();
    for a in [&live.agent, &late] {
        a.wait_until("resumed", T, |s| s.paused() == Some(false))
            .await
            .unwrap();
    }
    // After resume the late joiner gets its key frame.
    live.visitor
        .recv_until("refresh_request", T, crate::common::is_refresh)
        .await
        .unwrap();
    live.seq += 1;
    live.visitor
        .send_frame(
            &live
                .picture
                .key_update(glance_protocol::update::FLAG_REFRESH_ONLY, live.seq),
        )
        .await
        .unwrap();
    let p = live.picture.clone();
    late.wait_until("the picture after resume", T, |s| p.matches(&s.fb))
        .await
        .unwrap();
    live.still_works().await;

    // A session started paused says so in `joined`.
    let mut p = start_params(r, Some("starts-paused"), 16, 16);
    p.paused = true;
    let _v = RawVisitor::start(r, p).await.unwrap();
    let a = TestAgent::join_dev(r, "starts-paused").await.unwrap();
    assert_eq!(a.snapshot().paused(), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ended_reaches_a_visitor_that_is_still_sending() {
    logs();
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let mut live = Live::start(r, Some("busy")).await;
    let noise = Picture::noise(96, 64, 3);
    let rect = glance_protocol::Rect::new(0, 0, 96, 64);
    let deltas: Vec<Vec<u8>> = (0..200u32)
        .flat_map(|i| noise.delta(live.seq + 1 + i, &[rect], 1))
        .collect();
    let visitor = &live.visitor;
    let agent = &live.agent;
    tokio::join!(
        async {
            for d in &deltas {
                if visitor.send_update(d).await.is_err() {
                    break;
                }
            }
        },
        async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            agent.end_session().unwrap();
        }
    );
    let c = live
        .visitor
        .recv_until("session_ended", T, ended)
        .await
        .unwrap();
    assert_eq!(end_of(&c), (EndReason::OtherSide, 23));
    live.seq = 0;
}

/// The server side of the heartbeat: a visitor link that stalls (no bytes either way, no
/// socket closed) is declared dead after `visitor_idle_timeout`, held for the resume window,
/// and then ended with conn_drop: agents get 27. A healthy but quiet visitor (answering
/// pings) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_visitor_link_is_detected_by_the_server() {
    logs();
    let timing = glance_server::config::Timing {
        ping_interval: std::time::Duration::from_millis(300),
        visitor_idle_timeout: std::time::Duration::from_millis(1500),
        resume_window: std::time::Duration::from_millis(1000),
        ..Default::default()
    };
    let s = glance_tests::TestServer::start_with(glance_tests::TestServerOptions {
        timing: Some(timing),
        ..Default::default()
    })
    .await
    .unwrap();
    let proxy = glance_tests::FaultProxy::start(s.ready().direct_addr.parse().unwrap())
        .await
        .unwrap();
    let mut via_proxy = s.ready().clone();
    via_proxy.direct_addr = proxy.addr().to_string();
    let mut live = Live::start(&via_proxy, None).await;
    // Quiet but healthy for twice the idle timeout: still running.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    live.still_works().await;
    let t = std::time::Instant::now();
    proxy.set_stalled(true);
    live.agent
        .wait_until("status 27", T, |st| st.ended_status().is_some())
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(live.agent.with_state(|st| st.ended_status()), Some(27));
    // Idle timeout (1.5 s) plus the resume window (1 s), with scheduling slack.
    assert!(
        took >= std::time::Duration::from_millis(2300) && took < std::time::Duration::from_secs(6),
        "{took:?}"
    );
    eprintln!("stalled visitor link: agents told after {took:?}");
}
