//! Agent authorization against a real server: login keys for tokens, lookups with tickets,
//! joins with every kind of token, roles, the origin whitelist, the throttles, remote-control
//! forwarding, and the development token kept off configured servers' pages.

use glance_auth::{sign_login_key, unix_now, Claims, JwtKey, AUD_AGENT, ISSUER};
use glance_protocol::{Control, InputEvent};
use glance_server::ReadyInfo;
use glance_tests::http::{get, request, HttpResponse};
use glance_tests::visitor::start_params;
use glance_tests::{AgentOptions, RawVisitor, TestAgent, TestServer};
use serde_json::{json, Value};

use crate::common::{logs, T};

const SECRET: &str = "test-jwt-secret-0123456789-abcdefghij";
const API_KEY: &str = "group7-api-key";
const CRM: &str = "https://crm.example.test";

fn config(lookup_burst: u32) -> String {
    format!(
        r#"
[auth]
jwt_secret = "{SECRET}"
lookup_burst = {lookup_burst}
lookup_per_minute = 1

[[group]]
id = 7
api_key = "{API_KEY}"
allowed_origins = ["{CRM}"]

[group.roles.observer]
view = true
remoteAssist = false

[group.roles.none]
view = false
remoteAssist = false

[group.users]
bob = "observer"
mallory = "none"

[[group]]
id = 8
api_key = "group8-api-key"
"#
    )
}

fn login_key(user: &str, expires_in: i64) -> String {
    let exp = (unix_now() as i64 + expires_in).max(0) as u64;
    sign_login_key(API_KEY, 7, user, exp)
}

async fn token_request(r: &ReadyInfo, body: &Value, origin: Option<&str>) -> HttpResponse {
    let mut h = Vec::new();
    if let Some(o) = origin {
        h.push(("Origin", o));
    }
    request(r, "POST", "/api/auth/token", &h, Some(&body.to_string()))
        .await
        .unwrap()
}

async fn token_for(r: &ReadyInfo, user: &str) -> String {
    let resp = token_request(
        r,
        &json!({"partnerid": 7, "partneruserid": user, "loginkey": login_key(user, 600)}),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json().unwrap()["token"].as_str().unwrap().to_string()
}

async fn lookup(r: &ReadyInfo, token: &str, key: &str, origin: Option<&str>) -> HttpResponse {
    let auth = format!("Bearer {token}");
    let mut h = vec![("Authorization", auth.as_str())];
    if let Some(o) = origin {
        h.push(("Origin", o));
    }
    request(r, "GET", &format!("/api/agent/lookup?key={key}"), &h, None)
        .await
        .unwrap()
}

async fn visitor(r: &ReadyInfo, key: &str) -> RawVisitor {
    let mut p = start_params(r, Some(key), 64, 48);
    p.group_id = 7;
    p.token = API_KEY.into();
    RawVisitor::start(r, p).await.unwrap()
}

fn joined_info(a: &TestAgent) -> Option<Control> {
    a.with_state(|s| s.joined().cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_key_token_lookup_and_ticket_join() {
    logs();
    let s = TestServer::with_config(&config(60)).await.unwrap();
    let r = s.ready();
    let _v = visitor(r, "4321").await;

    let resp = token_request(
        r,
        &json!({"partnerid": "7", "partneruserid": "alice", "loginkey": login_key("alice", 600), "duration": 30}),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let t = resp.json().unwrap();
    assert_eq!(t["groupid"], 7);
    assert_eq!(t["username"], "alice.7.glance");
    assert_eq!(t["remoteAssist"], true);
    let exp = t["expires"].as_u64().unwrap();
    assert!(
        (unix_now() + 29 * 60..=unix_now() + 30 * 60).contains(&exp),
        "{exp}"
    );
    let token = t["token"].as_str().unwrap();

    // Not found: {"found": false}; found: a join URL with a ticket for that key only.
    let miss = lookup(r, token, "9999", None).await;
    assert_eq!(
        (miss.status, miss.json().unwrap()),
        (200, json!({"found": false}))
    );
    let hit = lookup(r, token, "4321", None).await.json().unwrap();
    assert_eq!(hit["found"], true);
    let url = hit["agentjoinurl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/agent?key=4321&group=7#ticket=", r.session_url)),
        "{url}"
    );
    let ticket = url.rsplit("#ticket=").next().unwrap();

    let a = TestAgent::join(r, "4321", ticket, Some(7)).await.unwrap();
    match joined_info(&a) {
        Some(Control::Joined {
            agent: Some(info),
            remote_assist,
            rc,
            ..
        }) => {
            assert_eq!(
                (
                    info.partnerid,
                    info.partneruserid.as_str(),
                    info.username.as_str()
                ),
                (7, "alice", "alice.7.glance")
            );
            assert!(remote_assist && !rc);
        }
        other => panic!("not joined: {other:?}"),
    }
    // The agent token itself joins too; the ticket does not open another session.
    let a2 = TestAgent::join(r, "4321", token, None).await.unwrap();
    assert!(
        joined_info(&a2).is_some(),
        "{}",
        a2.with_state(|s| s.summary())
    );
    let _v2 = visitor(r, "5555").await;
    let a3 = TestAgent::join(r, "5555", ticket, Some(7)).await.unwrap();
    assert_eq!(a3.with_state(|s| s.join_failed()), Some(18));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_all_read_unauthorized() {
    logs();
    let s = TestServer::with_config(&config(60)).await.unwrap();
    let r = s.ready();
    let good = login_key("alice", 600);
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = [
        json!({"partnerid": 7, "partneruserid": "alice", "loginkey": tampered}),
        json!({"partnerid": 7, "partneruserid": "alice", "loginkey": login_key("alice", -5)}),
        json!({"partnerid": 7, "partneruserid": "eve", "loginkey": good}),
        json!({"partnerid": 8, "partneruserid": "alice", "loginkey": good}),
        json!({"partnerid": 99, "partneruserid": "alice", "loginkey": good}),
        json!({"partnerid": 7, "partneruserid": "alice", "loginkey": sign_login_key("wrong", 7, "alice", unix_now() + 600)}),
    ];
    for c in &cases {
        let resp = token_request(r, c, None).await;
        assert_eq!(
            (resp.status, resp.body.as_str()),
            (401, r#"{"error":"unauthorized"}"#),
            "{c}"
        );
    }
    let resp = token_request(r, &json!({"partnerid": 7}), None).await;
    assert_eq!(resp.status, 400, "{}", resp.body);

    // Forged, expired, wrong-audience and missing tokens on lookup and join.
    let _v = visitor(r, "4321").await;
    let now = unix_now();
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUD_AGENT.into(),
        sub: "alice".into(),
        grp: 7,
        pid: 7,
        role: "agent".into(),
        ra: true,
        name: String::new(),
        iat: now - 7200,
        exp: now - 60,
        key: None,
    };
    let expired = JwtKey::new(SECRET.as_bytes()).sign(&claims);
    let forged = JwtKey::new(b"not the server's secret, 32 bytes+").sign(&Claims {
        exp: now + 600,
        iat: now,
        ..claims.clone()
    });
    for bad in [expired.as_str(), forged.as_str(), "", "a.b.c"] {
        let resp = lookup(r, bad, "4321", None).await;
        assert_eq!(
            (resp.status, resp.body.as_str()),
            (401, r#"{"error":"unauthorized"}"#)
        );
        let a = TestAgent::join(r, "4321", bad, Some(7)).await.unwrap();
        assert_eq!(
            a.with_state(|s| s.join_failed()),
            Some(18),
            "{}",
            a.with_state(|s| s.summary())
        );
        assert_eq!(a.with_state(|s| s.updates), 0);
    }
    // A valid token of group 7 does not open group 8's sessions.
    let token = token_for(r, "alice").await;
    let a = TestAgent::join(r, "4321", &token, Some(8)).await.unwrap();
    assert_eq!(a.with_state(|s| s.join_failed()), Some(18));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_view_and_remote_control() {
    logs();
    let s = TestServer::with_config(&config(60)).await.unwrap();
    let r = s.ready();
    let mut v = visitor(r, "4321").await;

    // mallory's role may not view: a token, but no lookup and no join.
    let m = token_for(r, "mallory").await;
    assert_eq!(lookup(r, &m, "4321", None).await.status, 401);
    let a = TestAgent::join(r, "4321", &m, Some(7)).await.unwrap();
    assert_eq!(a.with_state(|s| s.join_failed()), Some(18));

    let alice = TestAgent::join(r, "4321", &token_for(r, "alice").await, Some(7))
        .await
        .unwrap();
    let bob = TestAgent::join(r, "4321", &token_for(r, "bob").await, Some(7))
        .await
        .unwrap();
    assert!(matches!(
        joined_info(&bob),
        Some(Control::Joined {
            remote_assist: false,
            ..
        })
    ));

    // Before the visitor enables remote control nothing is forwarded.
    let click = |x| Control::Input {
        input: InputEvent::Pointer {
            x,
            y: 2,
            buttons: 1,
        },
    };
    alice.send(&click(1)).unwrap();
    // Two connections have no common order: give alice's message time to be handled first.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    v.send_control(&Control::Rc { enabled: true })
        .await
        .unwrap();
    for a in [&alice, &bob] {
        a.wait_until("rc enabled", T, |s| {
            s.events
                .iter()
                .any(|c| matches!(c, Control::Rc { enabled: true }))
        })
        .await
        .unwrap();
    }
    bob.send(&click(2)).unwrap();
    alice.send(&click(3)).unwrap();
    let got = v
        .recv_until("input", T, |c| matches!(c, Control::Input { .. }))
        .await
        .unwrap();
    assert_eq!(got, click(3), "only alice's input after rc was enabled");
    // A malformed input closes the agent's connection with an error.
    alice
        .send(&Control::Input {
            input: InputEvent::Key {
                code: "x".repeat(40),
                key: "a".into(),
                down: true,
            },
        })
        .unwrap();
    alice.wait_closed(T).await.unwrap();
    assert!(!v
        .received()
        .iter()
        .any(|c| *c == click(1) || *c == click(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_outside_the_whitelist_get_nothing() {
    logs();
    let s = TestServer::with_config(&config(60)).await.unwrap();
    let r = s.ready();
    let body =
        json!({"partnerid": 7, "partneruserid": "alice", "loginkey": login_key("alice", 600)});
    let ok = token_request(r, &body, Some(CRM)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("access-control-allow-origin"), Some(CRM));
    let evil = token_request(r, &body, Some("https://evil.example.test")).await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.header("access-control-allow-origin"), None);
    assert!(!evil.body.contains("token\""), "{}", evil.body);
    // The whitelist is per group: group 8 has none.
    let g8 = json!({"partnerid": 8, "partneruserid": "x", "loginkey": sign_login_key("group8-api-key", 8, "x", unix_now() + 60)});
    assert_eq!(token_request(r, &g8, Some(CRM)).await.status, 403);
    assert_eq!(token_request(r, &g8, None).await.status, 200);

    let token = ok.json().unwrap()["token"].as_str().unwrap().to_string();
    assert_eq!(lookup(r, &token, "1", Some(CRM)).await.status, 200);
    assert_eq!(
        lookup(r, &token, "1", Some("http://127.0.0.1:1"))
            .await
            .status,
        403
    );

    for (origin, status) in [(CRM, 204), ("https://evil.example.test", 403)] {
        let p = request(
            r,
            "OPTIONS",
            "/api/auth/token",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
            None,
        )
        .await
        .unwrap();
        assert_eq!(p.status, status, "{origin}");
        assert_eq!(
            p.header("access-control-allow-origin").is_some(),
            status == 204
        );
    }

    // Over the WebSocket: the server's own pages and whitelisted origins join, others not.
    let _v = visitor(r, "4321").await;
    for (origin, joins) in [
        (r.session_url.clone(), true),
        (CRM.to_string(), true),
        ("https://evil.example.test".to_string(), false),
    ] {
        let opts = AgentOptions {
            origin: Some(origin.clone()),
            ..Default::default()
        };
        let a = TestAgent::join_with(r, "4321", &token, Some(7), opts)
            .await
            .unwrap();
        if joins {
            assert!(
                joined_info(&a).is_some(),
                "{origin}: {}",
                a.with_state(|s| s.summary())
            );
        } else {
            assert_eq!(a.with_state(|s| s.join_failed()), Some(18), "{origin}");
            assert_eq!(a.with_state(|s| s.updates), 0);
        }
    }
    let page = get(r, "/agent").await.unwrap();
    assert!(
        !page.body.contains(&r.agent_token),
        "a configured server keeps its dev token off the page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_keys_is_throttled() {
    logs();
    let s = TestServer::with_config(&config(3)).await.unwrap();
    let r = s.ready();
    let _v = visitor(r, "4321").await;
    let token = token_for(r, "alice").await;
    for k in ["1", "2", "3"] {
        assert_eq!(
            lookup(r, &token, k, None).await.json().unwrap()["found"],
            false
        );
    }
    let t = lookup(r, &token, "4", None).await;
    assert_eq!(
        (t.status, t.body.as_str()),
        (429, r#"{"error":"too many requests"}"#)
    );
    // Even the right key is refused while throttled: guessing learns nothing.
    assert_eq!(lookup(r, &token, "4321", None).await.status, 429);
    let a = TestAgent::join(r, "4321", &token, Some(7)).await.unwrap();
    assert_eq!(a.with_state(|s| s.join_failed()), Some(21));
    // Another agent (same address) still has its own allowance for now.
    let other = token_for(r, "carol").await;
    assert_eq!(
        lookup(r, &other, "4321", None).await.json().unwrap()["found"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_server_page_carries_the_dev_token() {
    logs();
    let s = TestServer::start().await.unwrap();
    let page = get(s.ready(), "/agent").await.unwrap();
    assert!(page.body.contains(&s.ready().agent_token));
}
