//! Finding 3 of issue 18, presence focus theft, and the presence part of finding 2: an
//! unauthenticated /ws/presence socket that says hello with someone's visitor id must not
//! take focus from the real visitor nor receive the agent's invokes; a group that requires
//! the visitor token refuses a hello without it; the agent's confirmation step (seed 003
//! presence_security) gates invokes, also while an attacker borrows the id of a visitor whose
//! app is in the background; and presence sockets beyond the cap are answered 503.

use std::time::Duration;

use glance_server::ReadyInfo;
use glance_tests::http::{request, HttpResponse};
use glance_tests::jsonws::JsonWs;
use glance_tests::TestServer;
use serde_json::{json, Value};

/// Longest wait for one expected message.
const T: Duration = Duration::from_secs(10);
/// How long to watch for a message that must not come.
const QUIET: Duration = Duration::from_millis(700);

const CONFIG: &str = r#"
[auth]
jwt_secret = "presence-attack-secret-0123456789abcdef"

[[group]]
id = 7
api_key = "k7"

[[group]]
id = 9
api_key = "k9"
require_visitor_token = true
"#;

async fn agent_token(r: &ReadyInfo, group: u32, key: &str) -> String {
    let body = json!({"partnerid": group, "partneruserid": "agent1",
        "loginkey": glance_auth::sign_login_key(key, group, "agent1", glance_auth::unix_now() + 600)});
    let resp = request(r, "POST", "/api/auth/token", &[], Some(&body.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json().unwrap()["token"].as_str().unwrap().to_string()
}

async fn signal(r: &ReadyInfo, group: u32, token: &str, id: &str, body: Value) -> HttpResponse {
    let auth = format!("Bearer {token}");
    request(
        r,
        "POST",
        &format!("/signalvisitor?groupid={group}&visitorid={id}"),
        &[("Authorization", &auth)],
        Some(&body.to_string()),
    )
    .await
    .unwrap()
}

/// A presence socket that said `hello` (extra fields merged in); returns it and the answer.
async fn hello(r: &ReadyInfo, group: u32, id: &str, extra: Value) -> (JsonWs, Value) {
    let mut v = JsonWs::connect(r, "/ws/presence", None).await.unwrap();
    let mut h = json!({"type": "hello", "group_id": group, "visitor_id": id, "client": "probe"});
    if let (Some(h), Some(e)) = (h.as_object_mut(), extra.as_object()) {
        h.extend(e.clone());
    }
    v.send(&h).await.unwrap();
    let answer = v.recv(T).await.unwrap().unwrap_or(Value::Null);
    (v, answer)
}

fn invoke(n: &str) -> Value {
    json!({"mtype": "invoke", "data": {"func": "GLANCE.PresenceVisitor.showTerms",
        "args": {"sessionkey": n, "onetermsurl": "https://t.example/terms"}}})
}

/// The next `invoke` or `signal` on `v` within `wait`, if any.
/// An agent's invoke `n` for visitor `id` is delivered, reaches `real` and not `evil`.
async fn invoke_reaches_only(
    r: &ReadyInfo,
    t: &str,
    id: &str,
    n: &str,
    real: &mut JsonWs,
    evil: &mut JsonWs,
) {
    let res = signal(r, 7, t, id, invoke(n)).await;
    assert_eq!(res.json().unwrap(), json!({"result": "delivered"}));
    assert_eq!(
        next_signal(real, T)
            .await
            .map(|m| m["args"]["sessionkey"].clone()),
        Some(json!(n))
    );
    assert!(next_signal(evil, QUIET).await.is_none());
}

/// The status of the next `onconfirm` past `displayed` that `watcher` hears.
async fn confirm_outcome(watcher: &mut JsonWs) -> Value {
    let e = watcher
        .recv_until(T, |m| {
            m["event"] == "onconfirm" && m["data"]["status"] != "displayed"
        })
        .await
        .unwrap();
    e["data"]["status"].clone()
}

async fn next_signal(v: &mut JsonWs, wait: Duration) -> Option<Value> {
    v.recv_until(wait, |m| m["type"] == "invoke" || m["type"] == "signal")
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_with_the_visitor_id_neither_takes_focus_nor_reads_invokes() {
    let s = TestServer::with_config(CONFIG).await.unwrap();
    let r = s.ready();
    let t = agent_token(r, 7, "k7").await;

    let (mut real, w) = hello(r, 7, "alice", json!({"instance": "real-app-A"})).await;
    assert_eq!(
        (w["type"].as_str(), w["focus"].as_bool()),
        (Some("welcome"), Some(true))
    );
    real.send(&json!({"type": "presence", "data": {"url": "app://real"}}))
        .await
        .unwrap();

    // Two attackers: another instance, and none at all.
    let (mut evil_b, wb) = hello(r, 7, "alice", json!({"instance": "evil-B"})).await;
    let (mut evil_c, wc) = hello(r, 7, "alice", json!({})).await;
    for w in [&wb, &wc] {
        assert_eq!(w["type"], "welcome", "{w}");
        assert_eq!(
            w["focus"], false,
            "a second instance must not get focus: {w}"
        );
    }
    // Everything that took focus before the fix.
    for evil in [&mut evil_b, &mut evil_c] {
        evil.send(&json!({"type": "presence", "data": {"url": "app://evil"}}))
            .await
            .unwrap();
        evil.send(&json!({"type": "focus"})).await.unwrap();
        evil.send(&json!({"type": "visibility", "visible": true}))
            .await
            .unwrap();
        evil.send(&json!({"type": "signal_agent", "event": "c_x", "data": {}}))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let res = signal(r, 7, &t, "alice", invoke("one")).await;
    assert_eq!(res.json().unwrap(), json!({"result": "delivered"}));
    let got = next_signal(&mut real, T).await;
    assert_eq!(
        got.as_ref().map(|m| m["args"]["sessionkey"].clone()),
        Some(json!("one")),
        "the real visitor must receive the invoke"
    );
    assert!(
        next_signal(&mut evil_b, QUIET).await.is_none(),
        "an attacker socket (other instance) received the invoke"
    );
    assert!(
        next_signal(&mut evil_c, QUIET).await.is_none(),
        "an attacker socket (no instance) received the invoke"
    );
    // The attackers' presence data never replaced the visitor's.
    let auth = format!("Bearer {t}");
    let look = request(
        r,
        "GET",
        "/lookupvisitor?groupid=7&visitorid=alice",
        &[("Authorization", &auth)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(look.json().unwrap()["presence"]["url"], "app://real");

    // The real visitor's app drops and reconnects (same instance): its focus comes back,
    // the attackers still get nothing.
    drop(real);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut real, w) = hello(r, 7, "alice", json!({"instance": "real-app-A"})).await;
    assert_eq!(
        w["focus"], true,
        "the reconnect must get its focus back: {w}"
    );
    evil_b.send(&json!({"type": "focus"})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = signal(
        r,
        7,
        &t,
        "alice",
        json!({"mtype": "signal", "data": {"n": "two"}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        next_signal(&mut real, T)
            .await
            .map(|m| m["data"]["n"].clone()),
        Some(json!("two"))
    );
    assert!(next_signal(&mut evil_b, QUIET).await.is_none());
    assert!(next_signal(&mut evil_c, QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_requires_the_visitor_token_refuses_a_hello_without_it() {
    let s = TestServer::with_config(CONFIG).await.unwrap();
    let r = s.ready();
    let (mut real, w) = hello(r, 9, "bob", json!({"token": "k9", "instance": "A"})).await;
    assert_eq!(w["focus"], true, "{w}");
    for extra in [
        json!({"instance": "B"}),
        json!({"instance": "B", "token": ""}),
        json!({"instance": "B", "token": "k7"}),
    ] {
        let (mut evil, w) = hello(r, 9, "bob", extra.clone()).await;
        assert_eq!(
            (w["type"].as_str(), w["code"].as_str()),
            (Some("error"), Some("unauthorized")),
            "{extra}: {w}"
        );
        assert!(evil.until_closed(T).await.is_ok());
    }
    // A wrong token is refused in a group that does not require one too.
    let (_e, w) = hello(r, 7, "bob", json!({"token": "guess"})).await;
    assert_eq!(w["code"], "unauthorized", "{w}");
    let t = agent_token(r, 9, "k9").await;
    let res = signal(r, 9, &t, "bob", json!({"mtype": "signal", "data": {}})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(next_signal(&mut real, T).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirmation_step_gates_invokes() {
    let s = TestServer::with_config(CONFIG).await.unwrap();
    let r = s.ready();
    let t = agent_token(r, 7, "k7").await;
    let (mut real, _) = hello(r, 7, "carol", json!({"instance": "A"})).await;
    let mut watcher = JsonWs::connect(r, "/ws/presence/agent", None)
        .await
        .unwrap();
    watcher
        .send(&json!({"token": t, "groupid": 7, "visitorid": "carol"}))
        .await
        .unwrap();
    watcher
        .recv_until(T, |m| m["event"] == "onvisitorconn")
        .await
        .unwrap();

    // Ask, answer wrong: invokes stay refused.
    let res = signal(r, 7, &t, "carol", json!({"mtype": "confirm"})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let code = res.json().unwrap()["code"].as_str().unwrap().to_string();
    let ask = real
        .recv_until(T, |m| m["type"] == "confirm")
        .await
        .unwrap();
    let choices: Vec<String> = ask["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(choices.contains(&code) && choices.len() >= 3, "{ask}");
    let res = signal(r, 7, &t, "carol", invoke("x")).await;
    assert_eq!(
        (res.status, res.json().unwrap()["error"].clone()),
        (403, json!("unconfirmed"))
    );
    let wrong = choices.iter().find(|c| **c != code).unwrap();
    real.send(&json!({"type": "confirm_reply", "choice": wrong}))
        .await
        .unwrap();
    assert_eq!(confirm_outcome(&mut watcher).await, "failed");
    let res = signal(r, 7, &t, "carol", invoke("x")).await;
    assert_eq!(res.status, 403, "{}", res.body);

    // Again over the agent socket, answered right: invokes flow.
    watcher.send(&json!({"type": "confirm"})).await.unwrap();
    let p = watcher
        .recv_until(T, |m| {
            m["event"] == "onconfirm" && m["data"]["status"] == "pending"
        })
        .await
        .unwrap();
    let code = p["data"]["code"].as_str().unwrap().to_string();
    // An attacker with the id cannot answer for the visitor.
    let (mut evil, _) = hello(r, 7, "carol", json!({"instance": "B"})).await;
    evil.send(&json!({"type": "confirm_reply", "choice": code}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(signal(r, 7, &t, "carol", invoke("x")).await.status, 403);
    real.send(&json!({"type": "confirm_reply", "choice": code}))
        .await
        .unwrap();
    assert_eq!(confirm_outcome(&mut watcher).await, "confirmed");
    invoke_reaches_only(r, &t, "carol", "ok", &mut real, &mut evil).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backgrounded_visitor_gets_the_id_back_and_keeps_its_confirmation() {
    let s = TestServer::with_config(CONFIG).await.unwrap();
    let r = s.ready();
    let t = agent_token(r, 7, "k7").await;
    let (mut real, _) = hello(r, 7, "frank", json!({"instance": "A"})).await;
    let (mut evil, w) = hello(r, 7, "frank", json!({"instance": "B"})).await;
    assert_eq!(w["focus"], false);
    // The agent confirms the real visitor.
    let res = signal(r, 7, &t, "frank", json!({"mtype": "confirm"})).await;
    let code = res.json().unwrap()["code"].as_str().unwrap().to_string();
    real.recv_until(T, |m| m["type"] == "confirm")
        .await
        .unwrap();
    real.send(&json!({"type": "confirm_reply", "choice": code}))
        .await
        .unwrap();
    real.recv_until(T, |m| m["type"] == "confirm_result")
        .await
        .unwrap();

    // The real app goes to the background; the attacker acts and gets the id, but the
    // confirmation stays with the real app: nothing reaches the attacker.
    real.send(&json!({"type": "visibility", "visible": false}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    evil.send(&json!({"type": "focus"})).await.unwrap();
    real.recv_until(T, |m| m["type"] == "blur").await.unwrap();
    let res = signal(r, 7, &t, "frank", invoke("stolen")).await;
    assert_eq!(
        (res.status, res.json().unwrap()["error"].clone()),
        (403, json!("unconfirmed"))
    );
    assert!(next_signal(&mut evil, QUIET).await.is_none());

    // Back in the foreground, the real app takes the id back and is still confirmed.
    real.send(&json!({"type": "visibility", "visible": true}))
        .await
        .unwrap();
    real.recv_until(T, |m| m["type"] == "focus").await.unwrap();
    invoke_reaches_only(r, &t, "frank", "back", &mut real, &mut evil).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_sockets_beyond_the_cap_are_refused() {
    let config = format!("{CONFIG}\n[presence]\nmax_visitor_sockets = 4\nmax_agent_sockets = 2\n");
    let s = TestServer::with_config(&config).await.unwrap();
    let r = s.ready();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(JsonWs::connect(r, "/ws/presence", None).await.unwrap());
    }
    let over = JsonWs::connect(r, "/ws/presence", None).await;
    let err = over.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("503"),
        "the fifth socket must get 503: {err:?}"
    );
    let mut agents = Vec::new();
    for _ in 0..2 {
        agents.push(
            JsonWs::connect(r, "/ws/presence/agent", None)
                .await
                .unwrap(),
        );
    }
    let over = JsonWs::connect(r, "/ws/presence/agent", None).await;
    assert!(over.is_err(), "the third agent socket must be refused");
    // A closed socket frees its slot.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if let Ok(mut v) = JsonWs::connect(r, "/ws/presence", None).await {
            v.send(&json!({"type": "hello", "group_id": 7, "visitor_id": "dan"}))
                .await
                .unwrap();
            assert_eq!(v.recv(T).await.unwrap().unwrap()["type"], "welcome");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
