//! The presence service against a real server: visitor sockets, focus and blur, presence data
//! and its limits, the agent REST API (lookup, find, signal with invoke and signal), held
//! signals, the agent event socket, authorization, visitor tokens and bad visitor ids.
//! (Focus theft by another app instance is tests/attack/presence_focus.rs.)

use std::time::Duration;

use glance_auth::{sign_login_key, unix_now};
use glance_server::ReadyInfo;
use glance_tests::http::{request, HttpResponse};
use glance_tests::jsonws::JsonWs;
use glance_tests::TestServer;
use serde_json::{json, Value};

use crate::common::{logs, T};

const CONFIG: &str = r#"
[auth]
jwt_secret = "presence-test-secret-0123456789abcdef"

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

async fn token(r: &ReadyInfo, group: u32, key: &str) -> String {
    let body = json!({"partnerid": group, "partneruserid": "agent1",
        "loginkey": sign_login_key(key, group, "agent1", unix_now() + 600)});
    let resp = request(r, "POST", "/api/auth/token", &[], Some(&body.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json().unwrap()["token"].as_str().unwrap().to_string()
}

async fn rest(
    r: &ReadyInfo,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> HttpResponse {
    let auth = format!("Bearer {token}");
    let b = body.map(|b| b.to_string());
    request(r, method, path, &[("Authorization", &auth)], b.as_deref())
        .await
        .unwrap()
}

/// A visitor socket of app instance `instance`, welcomed.
async fn visitor(r: &ReadyInfo, group: u32, id: &str, instance: &str) -> JsonWs {
    let mut v = JsonWs::connect(r, "/ws/presence", None).await.unwrap();
    v.send(
        &json!({"type": "hello", "group_id": group, "visitor_id": id, "client": "test",
        "instance": instance}),
    )
    .await
    .unwrap();
    let w = v.recv(T).await.unwrap().unwrap();
    assert_eq!(w["type"], "welcome", "{w}");
    v
}

async fn agent(r: &ReadyInfo, token: &str, id: &str) -> JsonWs {
    let mut a = JsonWs::connect(r, "/ws/presence/agent", None)
        .await
        .unwrap();
    a.send(&json!({"token": token, "groupid": 7, "visitorid": id}))
        .await
        .unwrap();
    a
}

fn event(name: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_signals_focus_and_agent_events() {
    logs();
    let s = TestServer::with_config(CONFIG).await.unwrap();
    let r = s.ready();
    let t = token(r, 7, "k7").await;

    // An agent watching before the visitor connects.
    let mut a = agent(r, &t, "alice").await;
    let first = a.recv(T).await.unwrap().unwrap();
    assert_eq!(
        first,
        json!({"event": "onvisitorconn", "data": {"connected": false}})
    );
    assert_eq!(
        rest(r, "GET", "/findvisitor?groupid=7&visitorid=alice", &t, None)
            .await
            .json()
            .unwrap(),
        json!({"visitorfound": false})
    );
    let none = rest(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=alice",
        &t,
        Some(json!({"mtype": "signal", "data": {"x": "1"}})),
    )
    .await;
    assert_eq!(none.status, 404);

    let mut v1 = visitor(r, 7, "alice", "app-1").await;
    a.recv_until(T, |v| {
        v["event"] == "onvisitorconn" && v["data"]["connected"] == true
    })
    .await
    .unwrap();
    v1.send(&json!({"type": "presence", "data": {"url": "app://orders", "c_cart": "3"}}))
        .await
        .unwrap();
    let p = a.recv_until(T, event("onpresence")).await.unwrap();
    assert_eq!(p["data"], json!({"url": "app://orders", "c_cart": "3"}));
    let found = rest(r, "GET", "/findvisitor?groupid=7&visitorid=alice", &t, None)
        .await
        .json()
        .unwrap();
    assert_eq!(found["visitorfound"], true);
    let look = rest(
        r,
        "GET",
        "/lookupvisitor?groupid=7&visitorid=alice",
        &t,
        None,
    )
    .await
    .json()
    .unwrap();
    assert_eq!(
        (look["visitorid"].as_str(), look["groupid"].as_str()),
        (Some("alice"), Some("7"))
    );
    assert_eq!(look["presence"]["url"], "app://orders");

    // invoke reaches the focused socket.
    let ok = rest(r, "POST", "/signalvisitor?groupid=7&visitorid=alice", &t, Some(json!({
        "mtype": "invoke",
        "data": {"func": "GLANCE.PresenceVisitor.showTerms", "args": {"sessionkey": "alice", "onetermsurl": "https://t.example/terms"}}
    }))).await;
    assert_eq!(ok.json().unwrap(), json!({"result": "delivered"}));
    let inv = v1.recv_until(T, |v| v["type"] == "invoke").await.unwrap();
    assert_eq!(inv["args"]["onetermsurl"], "https://t.example/terms");

    // Terms and session events reach the agent.
    for status in ["displayed", "accepted"] {
        v1.send(&json!({"type": "signal_agent", "event": "terms", "data": {"status": status}}))
            .await
            .unwrap();
        let e = a.recv_until(T, event("onterms")).await.unwrap();
        assert_eq!(e["data"]["status"], status);
    }
    v1.send(&json!({"type": "session_start", "key": "alice"}))
        .await
        .unwrap();
    assert_eq!(
        a.recv_until(T, event("onvisitorsessionstart"))
            .await
            .unwrap()["data"]["sessionkey"],
        "alice"
    );
    v1.send(&json!({"type": "visibility", "visible": false}))
        .await
        .unwrap();
    assert_eq!(
        a.recv_until(T, event("onvisibility")).await.unwrap()["data"]["visibility"],
        "hidden"
    );

    // A second socket of the same app instance takes focus; the first is blurred until it
    // acts.
    let mut v2 = visitor(r, 7, "alice", "app-1").await;
    v1.recv_until(T, |v| v["type"] == "blur").await.unwrap();
    rest(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=alice",
        &t,
        Some(json!({"mtype": "signal", "data": {"n": "to-v2"}})),
    )
    .await;
    assert_eq!(
        v2.recv_until(T, |v| v["type"] == "signal").await.unwrap()["data"]["n"],
        "to-v2"
    );
    v1.send(&json!({"type": "presence", "data": {"url": "app://back"}}))
        .await
        .unwrap();
    v1.recv_until(T, |v| v["type"] == "focus").await.unwrap();
    v2.recv_until(T, |v| v["type"] == "blur").await.unwrap();
    rest(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=alice",
        &t,
        Some(json!({"mtype": "signal", "data": {"n": "to-v1"}})),
    )
    .await;
    assert_eq!(
        v1.recv_until(T, |v| v["type"] == "signal").await.unwrap()["data"]["n"],
        "to-v1"
    );

    // Both gone: a signal within 5 s is held for the next connection; later ones fail.
    drop(v1);
    drop(v2);
    a.recv_until(T, |v| {
        v["event"] == "onvisitorsock" && v["data"]["connected"] == false
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = rest(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=alice",
        &t,
        Some(json!({"mtype": "signal", "data": {"n": "held"}})),
    )
    .await;
    assert_eq!(held.json().unwrap(), json!({"result": "queued"}));
    let mut v3 = visitor(r, 7, "alice", "app-1").await;
    assert_eq!(
        v3.recv_until(T, |v| v["type"] == "signal").await.unwrap()["data"]["n"],
        "held"
    );
    drop(v3);
    a.recv_until(Duration::from_secs(10), |v| {
        v["event"] == "onvisitorconn" && v["data"]["connected"] == false
    })
    .await
    .unwrap();
    let late = rest(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=alice",
        &t,
        Some(json!({"mtype": "signal", "data": {}})),
    )
    .await;
    assert_eq!(late.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_authorization() {
    logs();
    let s = TestServer::with_config(CONFIG).await.unwrap();
    let r = s.ready();
    let t7 = token(r, 7, "k7").await;
    let t8 = token(r, 8, "k8").await;

    // Visitor hello errors.
    for (hello, code) in [
        (
            json!({"type": "hello", "group_id": 7, "visitor_id": "a b"}),
            "invalidprotocol",
        ),
        (
            json!({"type": "hello", "group_id": 7, "visitor_id": "a*"}),
            "invalidprotocol",
        ),
        (
            json!({"type": "hello", "group_id": 8, "visitor_id": "bob"}),
            "notconfigured",
        ),
        (
            json!({"type": "hello", "group_id": 99, "visitor_id": "bob"}),
            "notconfigured",
        ),
        (json!({"type": "presence", "data": {}}), "unexpected"),
        // Visitor tokens: required and missing, or wrong in any group.
        (
            json!({"type": "hello", "group_id": 9, "visitor_id": "bob"}),
            "unauthorized",
        ),
        (
            json!({"type": "hello", "group_id": 9, "visitor_id": "bob", "token": "k7"}),
            "unauthorized",
        ),
        (
            json!({"type": "hello", "group_id": 7, "visitor_id": "bob", "token": "nope"}),
            "unauthorized",
        ),
        (
            json!({"type": "hello", "group_id": 7, "visitor_id": "bob", "instance": ""}),
            "malformed",
        ),
    ] {
        let mut v = JsonWs::connect(r, "/ws/presence", None).await.unwrap();
        v.send(&hello).await.unwrap();
        let seen = v.until_closed(T).await.unwrap();
        assert_eq!(
            seen.first().map(|m| m["code"].clone()),
            Some(json!(code)),
            "{hello}: {seen:?}"
        );
    }
    // The right token is welcomed in a group that requires one.
    let mut v = JsonWs::connect(r, "/ws/presence", None).await.unwrap();
    v.send(&json!({"type": "hello", "group_id": 9, "visitor_id": "bob", "token": "k9"}))
        .await
        .unwrap();
    assert_eq!(v.recv(T).await.unwrap().unwrap()["type"], "welcome");
    drop(v);

    // Presence over the limits closes with an error; the agent never sees it.
    let mut a = agent(r, &t7, "carol").await;
    a.recv(T).await.unwrap();
    let mut v = visitor(r, 7, "carol", "app-c").await;
    let too_many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("c_{i}"), json!("v"))).collect();
    v.send(&json!({"type": "presence", "data": too_many}))
        .await
        .unwrap();
    let seen = v.until_closed(T).await.unwrap();
    assert!(seen.iter().any(|m| m["code"] == "invalid"), "{seen:?}");

    // REST: no token, a token of another group, a bad id, a bad mtype.
    assert_eq!(
        rest(r, "GET", "/findvisitor?groupid=7&visitorid=carol", "", None)
            .await
            .status,
        401
    );
    assert_eq!(
        rest(
            r,
            "GET",
            "/findvisitor?groupid=7&visitorid=carol",
            &t8,
            None
        )
        .await
        .status,
        401
    );
    let bad = rest(
        r,
        "GET",
        "/lookupvisitor?groupid=7&visitorid=a%20b",
        &t7,
        None,
    )
    .await;
    assert_eq!(
        (bad.status, bad.json().unwrap()["error"].clone()),
        (400, json!("invalidprotocol"))
    );
    let bad = rest(
        r,
        "POST",
        "/signalvisitor?groupid=7&visitorid=carol",
        &t7,
        Some(json!({"mtype": "eval", "data": {}})),
    )
    .await;
    assert_eq!(bad.status, 400);

    // Agent socket: a bad token and a bad visitor id are onerror events.
    for (tok, id, code) in [
        ("nope", "carol", "authfail"),
        (t8.as_str(), "carol", "authfail"),
        (t7.as_str(), "a>b", "invalidprotocol"),
    ] {
        let mut a = JsonWs::connect(r, "/ws/presence/agent", None)
            .await
            .unwrap();
        a.send(&json!({"token": tok, "groupid": 7, "visitorid": id}))
            .await
            .unwrap();
        let seen = a.until_closed(T).await.unwrap();
        assert_eq!(
            seen.first().map(|m| m["data"]["error"].clone()),
            Some(json!(code)),
            "{seen:?}"
        );
    }
    // The agent socket checks the page's origin like the rest of the agent API.
    let mut a = JsonWs::connect(r, "/ws/presence/agent", Some("https://evil.example.test"))
        .await
        .unwrap();
    a.send(&json!({"token": t7, "groupid": 7, "visitorid": "carol"}))
        .await
        .unwrap();
    let seen = a.until_closed(T).await.unwrap();
    assert_eq!(
        seen.first().map(|m| m["data"]["error"].clone()),
        Some(json!("authfail"))
    );
}
