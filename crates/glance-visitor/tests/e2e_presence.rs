//! PresenceVisitor against a real glance-server over TLS on 127.0.0.1, with an agent on the
//! presence REST API and event socket: connect rules, presence data and its limits, invoke
//! (EventPresenceShowTerms) and signals, terms reaching the agent, focus and blur between two
//! apps with one visitor id (the first holds it while in the foreground), the agent's
//! confirmation step, session start/end notices, send failures while disconnected, a group
//! without presence, a group that requires the visitor token, and reconnecting after the
//! link drops.

mod common;

use std::time::Duration;

use common::{agent_token, config, runtime, Visitor};
use glance_server::ReadyInfo;
use glance_tests::http::request;
use glance_tests::jsonws::JsonWs;
use glance_tests::{FaultProxy, TestServer};
use glance_visitor::{DisplaySource, EventCode, StartParams, SyntheticDisplay};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

const CONFIG: &str = r#"
[[group]]
id = 7
api_key = "k7"

[[group]]
id = 8
api_key = "k8"
presence_enabled = false

[[group]]
id = 9
api_key = "k9"
require_visitor_token = true
"#;

async fn signal(r: &ReadyInfo, token: &str, id: &str, body: Value) -> Value {
    let auth = format!("Bearer {token}");
    let resp = request(
        r,
        "POST",
        &format!("/signalvisitor?groupid=7&visitorid={id}"),
        &[("Authorization", &auth)],
        Some(&body.to_string()),
    )
    .await
    .unwrap();
    resp.json().unwrap()
}

/// A visitor of group `group` initialised with `visitor_id`, its service reached at `url`.
async fn app(r: &ReadyInfo, group: i32, visitor_id: Option<&str>, url: Option<String>) -> Visitor {
    let d = SyntheticDisplay::new(160, 120);
    let mut v = Visitor::with_source(DisplaySource::Synthetic(d.clone()));
    v.display = Some(d);
    let mut cfg = config(r, visitor_id);
    cfg.group_id = group;
    if let Some(u) = url {
        cfg.service_url = Some(u);
    }
    v.v.init(cfg).unwrap();
    v.expect(EventCode::VisitorInitialized, 5).await;
    // The application's own terms UI, as in seed 002 (tests/e2e_default_ui.rs covers the SDK's).
    v.v.set_default_ui(false).unwrap();
    v
}

fn props(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn presence_end_to_end() {
    runtime().block_on(async {
        let s = TestServer::with_config(CONFIG).await.unwrap();
        let r = s.ready().clone();
        let token = agent_token(&r, "k7").await;

        // Pre-login: no visitor id, no presence.
        let a = app(&r, 7, None, None).await;
        assert!(a.v.presence_connect().is_err());
        a.expect(EventCode::InvalidState, 5).await;
        // After login: init again with the visitor id, then connect (twice is harmless).
        let mut cfg = config(&r, Some("alice"));
        cfg.group_id = 7;
        a.v.init(cfg).unwrap();
        a.expect(EventCode::VisitorInitialized, 5).await;
        let mut watcher = JsonWs::connect(&r, "/ws/presence/agent", None)
            .await
            .unwrap();
        watcher
            .send(&json!({"token": token, "groupid": 7, "visitorid": "alice"}))
            .await
            .unwrap();
        a.v.presence_connect().unwrap();
        a.expect(EventCode::PresenceConnected, 10).await;
        a.v.presence_connect().unwrap();
        watcher
            .recv_until(T, |v| {
                v["event"] == "onvisitorconn" && v["data"]["connected"] == true
            })
            .await
            .unwrap();

        // Presence data reaches the agent; over the limits it is refused locally.
        a.v.presence_data(&props(&[("url", "app://orders"), ("c_cart", "2")]))
            .unwrap();
        let p = watcher
            .recv_until(T, |v| v["event"] == "onpresence")
            .await
            .unwrap();
        assert_eq!(p["data"], json!({"url": "app://orders", "c_cart": "2"}));
        assert!(a.v.presence_data(&props(&[("cart", "2")])).is_err());
        a.expect(EventCode::InvalidParameter, 5).await;
        let many: Vec<(String, String)> = (0..21).map(|i| (format!("c_{i}"), "v".into())).collect();
        assert!(a.v.presence_data(&many).is_err());
        a.expect(EventCode::InvalidParameter, 5).await;

        // The agent invokes: EventPresenceShowTerms with the key and the terms URL.
        let res = signal(
            &r,
            &token,
            "alice",
            json!({"mtype": "invoke", "data": {
            "func": "GLANCE.PresenceVisitor.showTerms",
            "args": {"sessionkey": "alice", "onetermsurl": "https://terms.example/t"}}}),
        )
        .await;
        assert_eq!(res["result"], "delivered");
        let e = a.expect(EventCode::PresenceShowTerms, 10).await;
        assert_eq!(e.property("sessionkey"), Some("alice"));
        assert_eq!(e.property("onetermsurl"), Some("https://terms.example/t"));
        // Terms displayed and accepted reach the agent as onterms.
        for status in ["displayed", "accepted"] {
            a.v.presence_signal_agent("terms", &props(&[("status", status)]))
                .unwrap();
            let t = watcher
                .recv_until(T, |v| v["event"] == "onterms")
                .await
                .unwrap();
            assert_eq!(t["data"]["status"], status);
        }
        assert!(a.v.presence_signal_agent("chat", &[]).is_err());
        a.expect(EventCode::InvalidParameter, 5).await;
        // A custom signal from the agent.
        signal(
            &r,
            &token,
            "alice",
            json!({"mtype": "signal", "data": {"command": "startchat"}}),
        )
        .await;
        let e = a.expect(EventCode::PresenceSignal, 10).await;
        assert_eq!(e.property("command"), Some("startchat"));

        // The screen-share session started from presence is announced to the agent.
        a.v.start_session_params(StartParams {
            presence_start: true,
            ..Default::default()
        })
        .unwrap();
        let c = a.expect(EventCode::ConnectedToSession, 20).await;
        assert_eq!(c.property("sessionkey"), Some("alice"));
        let st = watcher
            .recv_until(T, |v| v["event"] == "onvisitorsessionstart")
            .await
            .unwrap();
        assert_eq!(st["data"]["sessionkey"], "alice");
        a.v.end_session().unwrap();
        a.expect(EventCode::SessionEnded, 10).await;
        watcher
            .recv_until(T, |v| v["event"] == "onvisitorsessionend")
            .await
            .unwrap();

        // The agent confirms the visitor: EventPresenceSignal mtype=confirm with the choices;
        // invokes wait for the right answer.
        let res = signal(&r, &token, "alice", json!({"mtype": "confirm"})).await;
        let code = res["code"].as_str().unwrap().to_string();
        let e = a.expect(EventCode::PresenceSignal, 10).await;
        assert_eq!(e.property("mtype"), Some("confirm"));
        assert!(e
            .property("choices")
            .unwrap_or_default()
            .split(',')
            .any(|c| c == code));
        let res = signal(&r, &token, "alice", json!({"mtype": "signal", "data": {}})).await;
        assert_eq!(res["error"], "unconfirmed");
        a.v.presence_signal_agent("confirm", &props(&[("choice", &code)]))
            .unwrap();
        let e = a.expect(EventCode::PresenceSignal, 10).await;
        assert_eq!(
            (e.property("mtype"), e.property("confirmed")),
            (Some("confirm_result"), Some("true"))
        );

        // A second app with the same visitor id while the first is in the foreground: a
        // bystander (EventPresenceBlur at once); signals still go to the first.
        let b = app(&r, 7, Some("alice"), None).await;
        b.v.presence_connect().unwrap();
        b.expect(EventCode::PresenceConnected, 10).await;
        b.expect(EventCode::PresenceBlur, 10).await;
        b.v.presence_data(&props(&[("url", "app://b")])).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        signal(
            &r,
            &token,
            "alice",
            json!({"mtype": "signal", "data": {"to": "a0"}}),
        )
        .await;
        assert_eq!(
            a.expect(EventCode::PresenceSignal, 10).await.property("to"),
            Some("a0")
        );

        // Visibility.
        a.v.presence_signal_visibility(false).unwrap();
        let vis = watcher
            .recv_until(T, |v| v["event"] == "onvisibility")
            .await
            .unwrap();
        assert_eq!(vis["data"]["visibility"], "hidden");

        // The first in the background: the second takes the visitor id when it acts (a new
        // holder must be confirmed again), and keeps it while in the foreground.
        b.v.presence_data(&props(&[("url", "app://b")])).unwrap();
        a.expect(EventCode::PresenceBlur, 10).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let res = signal(&r, &token, "alice", json!({"mtype": "signal", "data": {}})).await;
        assert_eq!(res["error"], "unconfirmed");
        let res = signal(&r, &token, "alice", json!({"mtype": "confirm"})).await;
        let code = res["code"].as_str().unwrap().to_string();
        assert_eq!(
            b.expect(EventCode::PresenceSignal, 10)
                .await
                .property("mtype"),
            Some("confirm")
        );
        b.v.presence_confirm(&code).unwrap();
        b.expect(EventCode::PresenceSignal, 10).await;
        signal(
            &r,
            &token,
            "alice",
            json!({"mtype": "signal", "data": {"to": "b"}}),
        )
        .await;
        assert_eq!(
            b.expect(EventCode::PresenceSignal, 10).await.property("to"),
            Some("b")
        );
        b.v.presence_signal_visibility(false).unwrap();
        a.v.presence_data(&props(&[("url", "app://back")])).unwrap();
        b.expect(EventCode::PresenceBlur, 10).await;
        // Give the focus change a moment to land, confirm again, then signal.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let res = signal(&r, &token, "alice", json!({"mtype": "confirm"})).await;
        let code = res["code"].as_str().unwrap().to_string();
        a.expect(EventCode::PresenceSignal, 10).await;
        a.v.presence_confirm(&code).unwrap();
        a.expect(EventCode::PresenceSignal, 10).await;
        signal(
            &r,
            &token,
            "alice",
            json!({"mtype": "signal", "data": {"to": "a"}}),
        )
        .await;
        assert_eq!(
            a.expect(EventCode::PresenceSignal, 10).await.property("to"),
            Some("a")
        );

        // Disconnect; sending afterwards fails with EventPresenceSendFail and queues nothing.
        a.v.presence_disconnect().unwrap();
        a.expect(EventCode::PresenceDisconnected, 10).await;
        a.v.presence_data(&props(&[("url", "x")])).unwrap();
        a.expect(EventCode::PresenceSendFail, 5).await;
        assert!(a.v.presence_disconnect().is_err());
        a.expect(EventCode::InvalidState, 5).await;
        b.v.presence_disconnect().unwrap();
        b.expect(EventCode::PresenceDisconnected, 10).await;

        // A group without presence.
        let c = app(&r, 8, Some("bob"), None).await;
        c.v.presence_connect().unwrap();
        c.expect(EventCode::PresenceNotConfigured, 10).await;

        // A group that requires the visitor token: without it, refused and not retried.
        let d = app(&r, 9, Some("erin"), None).await;
        d.v.presence_connect().unwrap();
        let f = d.expect(EventCode::PresenceConnectFail, 10).await;
        assert_eq!(f.property("reason"), Some("unauthorized"));
        let mut cfg = config(&r, Some("erin"));
        cfg.group_id = 9;
        cfg.token = "k9".into();
        d.v.init(cfg).unwrap();
        d.expect(EventCode::VisitorInitialized, 5).await;
        d.v.presence_connect().unwrap();
        d.expect(EventCode::PresenceConnected, 10).await;
    });
}

#[test]
fn presence_reconnects_after_a_drop() {
    runtime().block_on(async {
        let s = TestServer::with_config(CONFIG).await.unwrap();
        let r = s.ready().clone();
        let proxy = FaultProxy::start(r.https_addr.parse().unwrap())
            .await
            .unwrap();
        let url = format!("https://{}", proxy.addr());
        let a = app(&r, 7, Some("carol"), Some(url)).await;
        a.v.presence_connect().unwrap();
        a.expect(EventCode::PresenceConnected, 10).await;
        proxy.set_refusing(true);
        proxy.drop_all();
        let fail = a.expect(EventCode::PresenceConnectFail, 10).await;
        assert!(!fail.property("reason").unwrap_or_default().is_empty());
        // While it is down, sends fail at once.
        a.v.presence_data(&props(&[("url", "x")])).unwrap();
        a.expect(EventCode::PresenceSendFail, 5).await;
        proxy.set_refusing(false);
        a.expect(EventCode::PresenceConnected, 20).await;
        let token = agent_token(&r, "k7").await;
        let res = signal(
            &r,
            &token,
            "carol",
            json!({"mtype": "signal", "data": {"after": "reconnect"}}),
        )
        .await;
        assert_eq!(res["result"], "delivered");
        assert_eq!(
            a.expect(EventCode::PresenceSignal, 10)
                .await
                .property("after"),
            Some("reconnect")
        );
    });
}

#[test]
fn presence_declines_and_reconnects_after_the_service_restarts() {
    runtime().block_on(async {
        let state = tempfile::tempdir().unwrap();
        let opts = |listen| glance_tests::TestServerOptions {
            config_toml: Some(CONFIG.into()),
            state_dir: Some(state.path().to_path_buf()),
            listen,
            ..Default::default()
        };
        let s1 = TestServer::start_with(opts(None)).await.unwrap();
        let r = s1.ready().clone();
        let a = app(&r, 7, Some("dave"), None).await;
        a.v.presence_connect().unwrap();
        a.expect(EventCode::PresenceConnected, 10).await;

        // The decline path: terms shown, declined, no session.
        let token = agent_token(&r, "k7").await;
        let mut watcher = JsonWs::connect(&r, "/ws/presence/agent", None).await.unwrap();
        watcher
            .send(&json!({"token": token, "groupid": 7, "visitorid": "dave"}))
            .await
            .unwrap();
        watcher.recv_until(T, |v| v["event"] == "onvisitorconn").await.unwrap();
        signal(&r, &token, "dave", json!({"mtype": "invoke", "data": {
            "func": "GLANCE.PresenceVisitor.showTerms", "args": {"sessionkey": "dave", "onetermsurl": "https://t.example"}}}))
        .await;
        a.expect(EventCode::PresenceShowTerms, 10).await;
        a.v.presence_signal_agent("terms", &props(&[("status", "declined")])).unwrap();
        let t = watcher.recv_until(T, |v| v["event"] == "onterms").await.unwrap();
        assert_eq!(t["data"]["status"], "declined");
        assert_eq!(a.v.session_info().call_id, 0);

        // The service restarts on the same address: the SDK reconnects by itself.
        let listen = s1.server().https_addr();
        drop(watcher);
        drop(s1);
        a.expect(EventCode::PresenceConnectFail, 15).await;
        let s2 = TestServer::start_with(opts(Some(listen))).await.unwrap();
        a.expect(EventCode::PresenceConnected, 40).await;
        let token = agent_token(s2.ready(), "k7").await;
        let res = signal(s2.ready(), &token, "dave", json!({"mtype": "signal", "data": {"n": "after-restart"}})).await;
        assert_eq!(res["result"], "delivered");
        assert_eq!(
            a.expect(EventCode::PresenceSignal, 10).await.property("n"),
            Some("after-restart")
        );
    });
}
