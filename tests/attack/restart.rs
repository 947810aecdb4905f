//! Finding 4: kill -9 the server mid-session and restart it on the same ports. Before, the
//! visitor's app saw EventConnectionWarning, then SessionEndReasonConnDrop, and a new agent
//! found no session (19). Now the session journal brings the session back (the visitor
//! resumes), and when the journal is lost too the SDK starts the same session again (same
//! key, a new call id); either way the app sees EventConnectionWarning then
//! EventClearWarning, and an agent with the old credentials sees the screen again within
//! 10 s of the restart.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use glance_server::ReadyInfo;
use glance_tests::TestAgent;
use glance_visitor::{
    DisplaySource, Event, EventCode, GlanceVisitor, SyntheticDisplay, VisitorConfig,
};

use crate::common::{free_port, ServerProc};

/// The app: a visitor sharing a synthetic display, every event kept in order.
struct App {
    v: GlanceVisitor,
    rx: mpsc::Receiver<Event>,
    seen: std::cell::RefCell<Vec<Event>>,
    display: SyntheticDisplay,
}

impl App {
    fn new(ready: &ReadyInfo) -> App {
        let display = SyntheticDisplay::new(160, 120);
        display.fill_rect(0, 0, 160, 120, [20, 60, 120]);
        display.draw_text(8, 8, "before", [255, 255, 255]);
        let (tx, rx) = mpsc::channel();
        let v = GlanceVisitor::with_source(
            move |e: &Event| {
                let _ = tx.send(e.clone());
            },
            DisplaySource::Synthetic(display.clone()),
        )
        .unwrap();
        v.init(VisitorConfig {
            group_id: ready.group_id as i32,
            name: "Restart Visitor".into(),
            service_url: Some(ready.session_url.clone()),
            ca_cert_path: Some(ready.ca_cert.clone().into()),
            ..Default::default()
        })
        .unwrap();
        App {
            v,
            rx,
            seen: Default::default(),
            display,
        }
    }

    /// The next event with `code` (others are kept too); panics after `secs`.
    async fn expect(&self, code: EventCode, secs: u64) -> Event {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            while let Ok(e) = self.rx.try_recv() {
                self.seen.borrow_mut().push(e.clone());
                if e.code == code {
                    return e;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {} within {secs} s; events so far: {:?}",
                code.name(),
                self.names()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn names(&self) -> Vec<String> {
        while let Ok(e) = self.rx.try_recv() {
            self.seen.borrow_mut().push(e);
        }
        self.seen
            .borrow()
            .iter()
            .map(|e| format!("{} ({})", e.code.name(), e.message))
            .collect()
    }

    fn fired(&self, code: EventCode) -> bool {
        self.names();
        self.seen.borrow().iter().any(|e| e.code == code)
    }
}

async fn pixel_exact(agent: &TestAgent, d: &SyntheticDisplay, until: Instant, what: &str) {
    let snap = d.snapshot();
    agent
        .wait_until(what, until.saturating_duration_since(Instant::now()), |s| {
            s.fb.equals_bgrx(&snap.view())
        })
        .await
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Arguments for a server on fixed free ports (a restart takes the same ones) with its state
/// in `dir`, then `extra`.
fn fixed_port_args(dir: &std::path::Path, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--listen".into(),
        format!("127.0.0.1:{}", free_port()),
        "--direct-listen".into(),
        format!("127.0.0.1:{}", free_port()),
        "--state-dir".into(),
        dir.display().to_string(),
    ];
    args.extend_from_slice(extra);
    args
}

/// kill -9 mid-session, restart on the same ports and state dir (without its journal when
/// `lose_journal`), and check what the app and a new agent see.
fn kill_and_restart(lose_journal: bool) {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("state");
    let log = state.path().join("server.log");
    let args = fixed_port_args(&dir, &[]);
    let (mut first, ready) = ServerProc::start(&args, &log, Duration::from_secs(10));
    runtime().block_on(async {
        let app = App::new(&ready);
        app.expect(EventCode::VisitorInitialized, 5).await;
        app.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = app.expect(EventCode::ConnectedToSession, 20).await;
        let key = e.property("sessionkey").unwrap().to_string();
        let before = app.v.session_info();
        assert_eq!(before.key, key);
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        assert!(agent.with_state(|s| s.joined().is_some()));
        pixel_exact(
            &agent,
            &app.display,
            Instant::now() + Duration::from_secs(15),
            "the picture before the kill",
        )
        .await;
        // Let the journal take the session (it is written within ~200 ms of a change); a
        // server without one is left to fail the checks below.
        let journal = dir.join("sessions.json");
        let t = Instant::now();
        while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains(&key))
            && t.elapsed() < Duration::from_secs(3)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        first.kill();
        if lose_journal {
            let _ = std::fs::remove_file(&journal);
        }
        let restart = Instant::now();
        let (_second, ready2) = ServerProc::start(&args, &log, Duration::from_secs(10));
        eprintln!("restarted in {:?}", restart.elapsed());
        assert_eq!(
            ready2.agent_token, ready.agent_token,
            "the agent token survives"
        );
        assert_eq!(ready2.api_key, ready.api_key, "the visitor token survives");

        app.expect(EventCode::ConnectionWarning, 10).await;
        app.expect(EventCode::ClearWarning, 10).await;
        eprintln!(
            "the visitor is back {:?} after the restart",
            restart.elapsed()
        );
        // Something new on the screen: the agent must see the live picture, not an old one.
        app.display.fill_rect(0, 60, 160, 60, [200, 40, 40]);
        app.display.draw_text(8, 70, "after", [255, 255, 0]);

        // A new agent with the old ready line's credentials, rejoining as the viewer does.
        let within = restart + Duration::from_secs(10);
        let agent2 = loop {
            let a = TestAgent::join_dev(&ready, &key).await.unwrap();
            if a.with_state(|s| s.joined().is_some()) {
                break a;
            }
            let status = a.with_state(|s| s.join_failed());
            assert!(
                Instant::now() < within,
                "no session {key} within 10 s of the restart (last: {status:?}); log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            assert_eq!(status, Some(19), "{}", a.with_state(|s| s.summary()));
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        pixel_exact(
            &agent2,
            &app.display,
            within,
            "the picture after the restart",
        )
        .await;
        let took = restart.elapsed();
        eprintln!(
            "restart (journal {}): the agent's picture is pixel-exact {took:?} after the restart",
            if lose_journal { "lost" } else { "kept" }
        );
        assert!(took < Duration::from_secs(10), "{took:?}");

        let after = app.v.session_info();
        assert_eq!(after.key, before.key, "the key is unchanged");
        if lose_journal {
            assert_ne!(
                after.call_id, before.call_id,
                "a new call, linked to the old one"
            );
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(
                text.contains(&format!(
                    "starts again the visitor's call {}",
                    before.call_id
                )),
                "the server links the calls: {text}"
            );
        } else {
            assert_eq!(after.call_id, before.call_id, "the same call, resumed");
        }
        assert!(
            !app.fired(EventCode::SessionEnded),
            "the session must not end: {:?}",
            app.names()
        );
        let names = app.names();
        let warn = names
            .iter()
            .position(|n| n.starts_with("EventConnectionWarning"));
        let clear = names
            .iter()
            .position(|n| n.starts_with("EventClearWarning"));
        assert!(warn < clear, "{names:?}");
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("EventConnectedToSession"))
                .count(),
            1,
            "{names:?}"
        );
        app.v.end_session().unwrap();
        app.expect(EventCode::SessionEnded, 10).await;
    });
}

#[test]
fn kill_9_and_restart_resumes_the_session_from_the_journal() {
    kill_and_restart(false);
}

#[test]
fn kill_9_and_restart_without_the_journal_starts_the_same_session_again() {
    kill_and_restart(true);
}

/// The service lost the session, and by the time the visitor starts it again the group is
/// full: the SDK ends with SessionEndReasonConnDrop, saying why.
#[test]
fn a_refused_start_again_ends_with_conn_drop_naming_the_refusal() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("state");
    let log = state.path().join("server.log");
    let config = state.path().join("glance.toml");
    std::fs::write(
        &config,
        "[[group]]\nid = 1\napi_key = \"restart-test-key\"\nmax_sessions = 1\n",
    )
    .unwrap();
    let args = fixed_port_args(&dir, &["--config".into(), config.display().to_string()]);
    let (mut first, ready) = ServerProc::start(&args, &log, Duration::from_secs(10));
    runtime().block_on(async {
        let app = App::new(&ready);
        app.expect(EventCode::VisitorInitialized, 5).await;
        app.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        app.expect(EventCode::ConnectedToSession, 20).await;
        first.kill();
        let _ = std::fs::remove_file(dir.join("sessions.json"));
        app.expect(EventCode::ConnectionWarning, 10).await;
        // The SDK retries after 0.25, 0.5, 1 s...: restart between two attempts and let
        // someone else take the group's only session first.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let (_second, ready2) = ServerProc::start(&args, &log, Duration::from_secs(10));
        let _other = glance_tests::RawVisitor::start_dev(&ready2, None, 16, 16)
            .await
            .unwrap();
        let e = app.expect(EventCode::SessionEnded, 20).await;
        assert_eq!(
            e.property("reason"),
            Some("SessionEndReasonConnDrop"),
            "{}",
            e.message
        );
        assert!(e.message.contains("group_limit"), "{}", e.message);
        assert!(!app.fired(EventCode::ClearWarning), "{:?}", app.names());
    });
}
