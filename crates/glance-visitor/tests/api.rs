//! The GlanceVisitor API without a service: argument and state errors fire
//! EventInvalidParameter / EventInvalidState with a message naming the problem, and a service
//! that cannot be reached gives EventStartSessionFailed then SessionEndReasonCantConnect.

use std::sync::mpsc;
use std::time::Duration;

use glance_visitor::{
    DisplaySource, Event, EventCode, GlanceVisitor, StartParams, SyntheticDisplay, VisitorConfig,
    GLANCE_KEYTYPE_RANDOM,
};

fn visitor() -> (GlanceVisitor, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let v = GlanceVisitor::with_source(
        move |e: &Event| {
            let _ = tx.send(e.clone());
        },
        DisplaySource::Synthetic(SyntheticDisplay::new(64, 48)),
    )
    .unwrap();
    (v, rx)
}

fn next(rx: &mpsc::Receiver<Event>) -> Event {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("an event within 20 s")
}

fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("https://127.0.0.1:{port}")
}

#[test]
fn state_errors_before_init_and_without_session() {
    let (v, rx) = visitor();
    assert!(v.start_session().is_err());
    let e = next(&rx);
    assert_eq!(e.code, EventCode::InvalidState);
    assert!(e.message.contains("init"), "{}", e.message);
    for r in [v.end_session(), v.pause(true)] {
        assert!(r.is_err());
        assert_eq!(next(&rx).code, EventCode::InvalidState);
    }
    assert_eq!(v.session_info().call_id, 0);
}

#[test]
fn parameter_errors_name_the_argument() {
    let (v, rx) = visitor();
    assert!(v.init(VisitorConfig::default()).is_err());
    let e = next(&rx);
    assert_eq!(e.code, EventCode::InvalidParameter);
    assert!(e.message.contains("groupId"));

    v.init(VisitorConfig {
        group_id: 7,
        service_url: Some(closed_port_url()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(next(&rx).code, EventCode::VisitorInitialized);

    for (key, word) in [
        ("has space", "key"),
        ("semi;colon", "key"),
        (&"k".repeat(64) as &str, "key"),
        ("", "key"),
    ] {
        assert!(v.start_session_key(key).is_err());
        let e = next(&rx);
        assert_eq!(e.code, EventCode::InvalidParameter, "{key}");
        assert!(e.message.contains(word), "{}", e.message);
    }
    let mut p = StartParams::default();
    p.display_params.display_name = "HDMI-7".into();
    assert!(v.start_session_params(p).is_err());
    let e = next(&rx);
    assert_eq!(e.code, EventCode::InvalidParameter);
    assert!(e.message.contains("displayName"));
    let mut p = StartParams::default();
    p.display_params.video = true;
    assert!(v.start_session_params(p).is_err());
    assert!(next(&rx).message.contains("video"));
    // Nothing started.
    assert_eq!(v.session_info().call_id, 0);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn unreachable_service_fails_then_ends_cant_connect() {
    let (v, rx) = visitor();
    v.init(VisitorConfig {
        group_id: 1,
        service_url: Some(closed_port_url()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(next(&rx).code, EventCode::VisitorInitialized);
    v.start_session_key(GLANCE_KEYTYPE_RANDOM).unwrap();
    // A second start while the first is starting is a state error.
    assert!(v.start_session().is_err());
    assert_eq!(next(&rx).code, EventCode::InvalidState);
    let f = next(&rx);
    assert_eq!(f.code, EventCode::StartSessionFailed);
    assert_eq!(f.property("error"), Some("connect"));
    let e = next(&rx);
    assert_eq!(e.code, EventCode::SessionEnded);
    assert_eq!(e.property("reason"), Some("SessionEndReasonCantConnect"));
    // Idle again: a new start is accepted.
    assert!(v.wait_idle(Duration::from_secs(1)));
    v.start_session().unwrap();
    assert_eq!(next(&rx).code, EventCode::StartSessionFailed);
}

#[test]
fn end_session_while_starting_ends_this_side() {
    // A listener that accepts TCP but never answers TLS: the start hangs until EndSession.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://127.0.0.1:{}", l.local_addr().unwrap().port());
    let (v, rx) = visitor();
    v.init(VisitorConfig {
        group_id: 1,
        service_url: Some(url),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(next(&rx).code, EventCode::VisitorInitialized);
    v.start_session().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    v.end_session().unwrap();
    let e = next(&rx);
    assert_eq!(e.code, EventCode::SessionEnded);
    assert_eq!(e.property("reason"), Some("SessionEndReasonThisSide"));
    drop(l);
}

#[test]
fn free_from_inside_the_handler_does_not_deadlock() {
    let (tx, rx) = mpsc::channel::<()>();
    let slot: std::sync::Arc<std::sync::Mutex<Option<GlanceVisitor>>> = Default::default();
    let slot2 = slot.clone();
    let v = GlanceVisitor::with_source(
        move |e: &Event| {
            if e.code == EventCode::VisitorInitialized {
                // Drop the visitor on its own event thread.
                let taken = slot2.lock().unwrap().take();
                drop(taken);
                let _ = tx.send(());
            }
        },
        DisplaySource::Synthetic(SyntheticDisplay::new(32, 32)),
    )
    .unwrap();
    *slot.lock().unwrap() = Some(v);
    let cfg = VisitorConfig {
        group_id: 1,
        ..Default::default()
    };
    slot.lock().unwrap().as_ref().unwrap().init(cfg).unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("handler ran and freed");
}
