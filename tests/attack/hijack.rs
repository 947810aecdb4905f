//! Finding 1, session-key hijack: an anonymous visitor that starts a session with a live key
//! used to replace it (the real visitor got SessionEndReasonKilled, its agents status 36, and
//! a re-joining agent saw the attacker's screen), and one client could start 337 sessions a
//! second with chosen keys.

use std::time::{Duration, Instant};

use glance_protocol::{Control, StartFailReason};
use glance_tests::visitor::start_params;
use glance_tests::{Picture, RawVisitor, TestAgent, TestServer};

use crate::common::attacker_ip;

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_a_live_key_is_refused_and_the_session_goes_on() {
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let real = RawVisitor::start_dev(r, Some("482913"), 64, 48)
        .await
        .unwrap();
    let pic = Picture::pattern(64, 48, 1);
    let agent = TestAgent::join_dev(r, "482913").await.unwrap();
    real.send_frame(&pic.key_update(0, 1)).await.unwrap();
    agent
        .wait_until("the real screen", T, |s| pic.matches(&s.fb))
        .await
        .unwrap();

    // The attacker: another address, an empty token (the group default) and the live key;
    // also with the group's visitor token, which every visitor of the group has.
    for token in [String::new(), r.api_key.clone()] {
        let mut evil = RawVisitor::connect_from(r, Some(attacker_ip(0)))
            .await
            .unwrap();
        evil.hello().await.unwrap();
        let mut p = start_params(r, Some("482913"), 64, 48);
        p.token = token;
        match evil.start_session(p).await.unwrap() {
            Control::StartFailed { reason, .. } => assert_eq!(reason, StartFailReason::KeyInUse),
            other => panic!("the live key was handed out: {other:?}"),
        }
    }

    // Nothing changed for the live session: same agent, still joined, sees the real screen
    // change.
    let pic2 = Picture::pattern(64, 48, 2);
    real.send_frame(&pic2.key_update(0, 2)).await.unwrap();
    agent
        .wait_until("the real screen's next frame", T, |s| pic2.matches(&s.fb))
        .await
        .unwrap();
    assert!(agent.with_state(|s| s.ended_status().is_none() && !s.closed));
    assert!(!real
        .received()
        .iter()
        .any(|c| matches!(c, Control::SessionEnded { .. })));
    let again = TestAgent::join_dev(r, "482913").await.unwrap();
    // The new agent needs a key frame: the visitor's next one.
    real.send_frame(&pic2.key_update(0, 3)).await.unwrap();
    again
        .wait_until("a new agent sees the real screen", T, |s| {
            pic2.matches(&s.fb)
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_from_one_address_are_throttled() {
    let srv = TestServer::start().await.unwrap();
    let r = srv.ready();
    let t0 = Instant::now();
    let (mut started, mut throttled) = (0u32, 0u32);
    for i in 0..80 {
        let mut v = RawVisitor::connect_from(r, Some(attacker_ip(1)))
            .await
            .unwrap();
        v.hello().await.unwrap();
        let p = start_params(r, Some(&format!("{:06}", 100_000 + i)), 16, 16);
        match v.start_session(p).await.unwrap() {
            Control::SessionStarted { .. } => started += 1,
            Control::StartFailed {
                reason: StartFailReason::Throttled,
                ..
            } => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    // The default budget: a burst of 20, then 30 a minute.
    let allowed = 20.0 + secs * 30.0 / 60.0 + 1.0;
    assert!(
        f64::from(started) <= allowed,
        "{started} starts in {secs:.1} s from one address (at most {allowed:.0} allowed)"
    );
    assert!(
        throttled >= 50,
        "only {throttled} of 80 starts were throttled"
    );
    // Sweeping the 6-digit key space at that rate: at least this many days from one address.
    let days = 1_000_000.0 / (30.0 / 60.0) / 86_400.0;
    assert!(days > 20.0);
    // Another client is not affected.
    RawVisitor::start_dev(r, None, 16, 16).await.unwrap();
}
