//! Custom agent messages end to end: real agents send `agent_message` through a real
//! glance-server (TLS on 127.0.0.1) to a visitor on the synthetic display, which fires
//! EventMessageReceived with the agent's properties, `message` (the name) and the service's
//! `agent` and `remoteAssist`. Malformed, oversized, spoofing and too-frequent messages are
//! dropped by the service without closing the agent's connection or ending the session.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{runtime, Visitor};
use glance_auth::loginkey::sign_login_key;
use glance_protocol::Control;
use glance_tests::{http::request, TestAgent, TestServer};
use glance_visitor::{Event, EventCode};

const API_KEY: &str = "message-group-api-key";
const CONFIG: &str = "[[group]]\nid = 1\napi_key = \"message-group-api-key\"\nrc_allowed = true\n\
     [group.roles.observer]\nview = true\nremoteAssist = false\n[group.users]\nolga = \"observer\"\n";

async fn join(r: &glance_server::ReadyInfo, key: &str, user: &str) -> (TestAgent, String) {
    let exp = glance_auth::unix_now() + 600;
    let body = serde_json::json!({"partnerid": 1, "partneruserid": user,
        "loginkey": sign_login_key(API_KEY, 1, user, exp)});
    let resp = request(r, "POST", "/api/auth/token", &[], Some(&body.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    let json = resp.json().unwrap();
    let token = json["token"].as_str().unwrap().to_string();
    let username = json["username"].as_str().unwrap().to_string();
    let agent = TestAgent::join(r, key, &token, Some(1)).await.unwrap();
    assert!(agent.with_state(|s| s.joined().is_some()), "{user} joined");
    (agent, username)
}

fn message(name: &str, props: &[(&str, &str)]) -> Control {
    Control::AgentMessage {
        name: name.into(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn props(e: &Event) -> BTreeMap<&str, &str> {
    e.properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn agent_messages_reach_the_visitor_with_their_sender() {
    runtime().block_on(async {
        let server = TestServer::with_config(CONFIG).await.unwrap();
        let r = server.ready().clone();
        let vis = Visitor::synthetic(&r, 160, 100).await;
        let key = vis.start_random().await;
        let (alice, alice_name) = join(&r, &key, "alice").await;
        let (olga, olga_name) = join(&r, &key, "olga").await;

        alice
            .send(&message("requestRC", &[("why", "the printer dialog")]))
            .unwrap();
        let e = vis.expect(EventCode::MessageReceived, 10).await;
        assert_eq!(
            props(&e),
            BTreeMap::from([
                ("message", "requestRC"),
                ("why", "the printer dialog"),
                ("agent", alice_name.as_str()),
                ("remoteAssist", "true"),
            ])
        );
        assert!(e.message.contains(&alice_name), "{}", e.message);

        // An observer may send messages too; the application sees its role may not control.
        olga.send(&message("note", &[])).unwrap();
        let e = vis.expect(EventCode::MessageReceived, 10).await;
        assert_eq!(
            props(&e),
            BTreeMap::from([
                ("message", "note"),
                ("agent", olga_name.as_str()),
                ("remoteAssist", "false"),
            ])
        );

        // Dropped by the service, each with a log line; the connection stays open and the
        // next message that arrives is the marker sent after them.
        let long = "v".repeat(1025);
        for bad in [
            r#"{"type":"agent_message","name":"x","properties":{"n":1}}"#.to_string(),
            r#"{"type":"agent_message","name":7}"#.to_string(),
            r#"{"type":"agent_message","name":"bad name"}"#.to_string(),
            r#"{"type":"agent_message","name":"x","properties":{"agent":"mallory"}}"#.to_string(),
            r#"{"type":"agent_message","name":"x","properties":{"message":"other"}}"#.to_string(),
            format!(r#"{{"type":"agent_message","name":"x","properties":{{"k":"{long}"}}}}"#),
        ] {
            olga.send_text(&bad).unwrap();
        }
        olga.send(&message("marker", &[])).unwrap();
        let e = vis.expect(EventCode::MessageReceived, 10).await;
        assert_eq!(e.property("message"), Some("marker"), "{:?}", e.properties);
        assert!(olga.with_state(|s| s.server_error().is_none() && !s.closed));

        // Too frequent: a burst of 20 from one agent; 8 (the burst) get through, perhaps one
        // more refilled meanwhile, the others are dropped.
        tokio::time::sleep(Duration::from_secs(5)).await; // alice's budget is full again
        for i in 0..20 {
            alice
                .send(&message("burst", &[("n", &i.to_string())]))
                .unwrap();
        }
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
        while tokio::time::Instant::now() < deadline {
            match vis.rx.try_recv() {
                Ok(e) if e.code == EventCode::MessageReceived => {
                    got.push(e.property("n").unwrap_or("").to_string())
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        assert!(
            (8..=9).contains(&got.len()),
            "{} of the burst arrived: {got:?}",
            got.len()
        );
        assert_eq!(got[..8], ["0", "1", "2", "3", "4", "5", "6", "7"]);
        assert!(alice.with_state(|s| s.server_error().is_none() && !s.closed));
        assert!(vis.v.session_info().call_id != 0, "the session still runs");
        alice.leave().unwrap();
        olga.leave().unwrap();
    });
}
