//! The default UI (seeds 002 and 004) end to end: a real glance-server, a presence agent on
//! the REST API and event socket, and the SDK's own terms dialogs. The dialog program is a
//! stand-in `zenity` on PATH that records its arguments and answers Accept (exit 0) or
//! Decline (exit 1) as the test tells it, so the rfd dialog path runs for real without a
//! person. One test, because PATH and DISPLAY are process-wide.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{agent_token, config, Visitor};

use glance_server::ReadyInfo;
use glance_tests::http::request;
use glance_tests::jsonws::JsonWs;
use glance_tests::TestServer;
use glance_visitor::{DisplaySource, EventCode, StartParams, SyntheticDisplay};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);
const CONFIG: &str = r#"
[[group]]
id = 7
api_key = "k7"
terms_url = "https://terms.example/group7"
"#;

async fn invoke_terms(r: &ReadyInfo, token: &str) {
    let auth = format!("Bearer {token}");
    let body = json!({"mtype": "invoke", "data": {"func": "GLANCE.PresenceVisitor.showTerms",
        "args": {"sessionkey": "erin", "onetermsurl": "https://terms.example/one-click"}}});
    let resp = request(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=erin",
        &[("Authorization", &auth)],
        Some(&body.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
}

/// The stand-in dialog program's answer for its next runs.
fn answer(dir: &Path, accept: bool) {
    std::fs::write(dir.join("answer"), if accept { "0" } else { "1" }).unwrap();
}

fn dialog_runs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn terms_status(w: &mut JsonWs) -> String {
    let v: Value = w.recv_until(T, |v| v["event"] == "onterms").await.unwrap();
    v["data"]["status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn default_ui_terms_dialogs() {
    let fake = tempfile::tempdir().unwrap();
    let dir = fake.path().to_path_buf();
    let script = dir.join("zenity");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s ' \"$@\" | tr '\\n' ' ' >> '{d}/calls'\necho >> '{d}/calls'\nexit $(cat '{d}/answer')\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let plain_path = std::env::var("PATH").unwrap_or_default();
    let with_fake = format!("{}:{plain_path}", dir.display());
    // SAFETY (std): this test binary runs this one test; nothing else reads the environment
    // concurrently except the SDK's own threads, which only read it.
    std::env::set_var("PATH", &with_fake);
    std::env::set_var("DISPLAY", ":97");
    std::env::remove_var("GLANCE_DEFAULT_UI");

    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let s = TestServer::with_config(CONFIG).await.unwrap();
            let r = s.ready().clone();
            let token = agent_token(&r, "k7").await;
            let d = SyntheticDisplay::new(160, 120);
            let mut a = Visitor::with_source(DisplaySource::Synthetic(d.clone()));
            a.display = Some(d);
            a.v.init(config(&r, Some("erin"))).unwrap();
            a.expect(EventCode::VisitorInitialized, 5).await;
            a.v.presence_connect().unwrap();
            a.expect(EventCode::PresenceConnected, 10).await;
            let mut w = JsonWs::connect(&r, "/ws/presence/agent", None)
                .await
                .unwrap();
            w.send(&json!({"token": token, "groupid": 7, "visitorid": "erin"}))
                .await
                .unwrap();
            w.recv_until(T, |v| v["event"] == "onvisitorconn")
                .await
                .unwrap();

            // 1. The agent asks; the visitor accepts in the SDK's dialog: the session starts
            //    with the visitor id as key, without a second confirmation.
            answer(&dir, true);
            invoke_terms(&r, &token).await;
            let e = a.expect(EventCode::PresenceShowTerms, 10).await;
            assert_eq!(e.property("defaultui"), Some("on"));
            assert_eq!(terms_status(&mut w).await, "displayed");
            assert_eq!(terms_status(&mut w).await, "accepted");
            let c = a.expect(EventCode::ConnectedToSession, 20).await;
            assert_eq!(c.property("sessionkey"), Some("erin"));
            let calls = dialog_runs(&dir);
            assert_eq!(calls.len(), 1, "{calls:?}");
            assert!(
                calls[0].contains("--question")
                    && calls[0].contains("https://terms.example/one-click"),
                "{calls:?}"
            );
            a.v.end_session().unwrap();
            a.expect(EventCode::SessionEnded, 10).await;

            // 2. Declined: the agent hears it and nothing starts.
            answer(&dir, false);
            invoke_terms(&r, &token).await;
            a.expect(EventCode::PresenceShowTerms, 10).await;
            assert_eq!(terms_status(&mut w).await, "displayed");
            assert_eq!(terms_status(&mut w).await, "declined");
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(a.v.session_info().call_id, 0);

            // 3. StartSession by the visitor: the group's terms are confirmed first.
            a.v.start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
                .unwrap();
            let f = a.expect(EventCode::StartSessionFailed, 10).await;
            assert_eq!(f.property("error"), Some("declined"));
            a.expect(EventCode::SessionEnded, 10).await;
            assert!(dialog_runs(&dir)
                .last()
                .unwrap()
                .contains("https://terms.example/group7"));
            answer(&dir, true);
            a.v.start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
                .unwrap();
            a.expect(EventCode::ConnectedToSession, 20).await;
            a.v.end_session().unwrap();
            a.expect(EventCode::SessionEnded, 10).await;
            let runs = dialog_runs(&dir).len();

            // 4. No dialog program: reported through the events, never blocking or sharing.
            std::env::set_var("PATH", &plain_path);
            invoke_terms(&r, &token).await;
            let e = a.expect(EventCode::PresenceShowTerms, 10).await;
            assert_eq!(e.property("defaultui"), Some("unavailable"));
            assert!(e.message.contains("zenity"), "{}", e.message);
            a.v.start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
                .unwrap();
            let f = a.expect(EventCode::StartSessionFailed, 10).await;
            assert_eq!(f.property("error"), Some("terms_unavailable"));
            a.expect(EventCode::SessionEnded, 10).await;

            // 5. setDefaultUI(false): everything goes to the application, no dialog runs.
            std::env::set_var("PATH", &with_fake);
            a.v.set_default_ui(false).unwrap();
            invoke_terms(&r, &token).await;
            let e = a.expect(EventCode::PresenceShowTerms, 10).await;
            assert_eq!(e.property("defaultui"), None);
            a.v.start_session_params(StartParams {
                presence_start: true,
                ..Default::default()
            })
            .unwrap();
            a.expect(EventCode::ConnectedToSession, 20).await;
            a.v.end_session().unwrap();
            a.expect(EventCode::SessionEnded, 10).await;
            a.v.start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
                .unwrap();
            a.expect(EventCode::ConnectedToSession, 20).await;
            assert_eq!(
                dialog_runs(&dir).len(),
                runs,
                "no dialog with the default UI off"
            );
            a.v.end_session().unwrap();
            a.expect(EventCode::SessionEnded, 10).await;
        });
}
