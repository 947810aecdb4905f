//! Remote control end to end: a visitor on the synthetic display (which records what is
//! injected), a real glance-server over TLS on 127.0.0.1, real agents. EnableRC gates the
//! input, the service lets through only roles with the privilege, a group that forbids it
//! answers EventRCDisabled, picture pixels map back through the scale, and stopping control
//! releases what the agent held.

mod common;

use std::time::Duration;

use common::{runtime, Visitor};
use glance_auth::loginkey::sign_login_key;
use glance_platform::synthetic::Injected;
use glance_protocol::{Control, InputEvent};
use glance_tests::{http::request, TestAgent, TestServer};
use glance_visitor::{DisplayParams, EventCode, StartParams};

const API_KEY: &str = "rc-group-api-key";

fn config(rc_allowed: bool) -> String {
    format!(
        "[[group]]\nid = 1\napi_key = \"{API_KEY}\"\nrc_allowed = {rc_allowed}\n\
         [group.roles.observer]\nview = true\nremoteAssist = false\n[group.users]\nolga = \"observer\"\n"
    )
}

async fn token_for(r: &glance_server::ReadyInfo, user: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let body = serde_json::json!({"partnerid": 1, "partneruserid": user,
        "loginkey": sign_login_key(API_KEY, 1, user, exp)});
    let resp = request(r, "POST", "/api/auth/token", &[], Some(&body.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json().unwrap()["token"].as_str().unwrap().to_string()
}

fn events(vis: &Visitor) -> Vec<InputEvent> {
    vis.display()
        .injected()
        .into_iter()
        .filter_map(|i| match i {
            Injected::Event(e) => Some(e),
            Injected::Released { .. } => None,
        })
        .collect()
}

async fn rc_on(vis: &Visitor, on: bool) {
    for _ in 0..100 {
        if vis.v.session_info().rc_enabled == on {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rc_enabled never became {on}");
}

fn key(code: &str, down: bool) -> Control {
    Control::Input {
        input: InputEvent::Key {
            code: code.into(),
            key: code.into(),
            down,
        },
    }
}

#[test]
fn enable_rc_gates_input_and_only_privileged_roles_inject() {
    runtime().block_on(async {
        let server = TestServer::with_config(&config(true)).await.unwrap();
        let r = server.ready().clone();
        let vis = Visitor::synthetic(&r, 200, 100).await;
        // Half size: agent pixel (50, 25) is display pixel (101, 51).
        let key_ = vis
            .start_params(StartParams {
                display_params: DisplayParams {
                    scale: 0.5,
                    ..Default::default()
                },
                ..Default::default()
            })
            .await;
        let alice = TestAgent::join(&r, &key_, &token_for(&r, "alice").await, Some(1))
            .await
            .unwrap();
        let olga = TestAgent::join(&r, &key_, &token_for(&r, "olga").await, Some(1))
            .await
            .unwrap();
        assert!(alice.with_state(|s| s.joined().is_some()));
        let click = |x, y, buttons| Control::Input {
            input: InputEvent::Pointer { x, y, buttons },
        };

        // Before EnableRC nothing is injected.
        alice.send(&click(10, 10, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(events(&vis).is_empty());
        assert!(!vis.v.session_info().rc_enabled);

        vis.v.enable_rc(true).unwrap();
        rc_on(&vis, true).await;
        common::agent_saw_rc_on(&alice).await;
        alice.send(&click(50, 25, 1)).unwrap();
        alice.send(&key("ShiftLeft", true)).unwrap();
        // The observer's input never arrives, whatever it sends.
        olga.send(&click(5, 5, 4)).unwrap();
        olga.send(&key("KeyQ", true)).unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            events(&vis),
            vec![
                InputEvent::Pointer {
                    x: 101,
                    y: 51,
                    buttons: 1
                },
                InputEvent::Key {
                    code: "ShiftLeft".into(),
                    key: "ShiftLeft".into(),
                    down: true
                },
            ]
        );
        assert_eq!(vis.display().held(), (vec!["ShiftLeft".to_string()], 1));

        // Stopping control releases the held Shift and button; later input is dropped.
        vis.v.enable_rc(false).unwrap();
        assert!(!vis.v.session_info().rc_enabled, "off at once");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(vis.display().held(), (vec![], 0));
        assert!(vis.display().injected().iter().any(|i| matches!(
            i,
            Injected::Released { keys, buttons: 1 } if keys == &["ShiftLeft".to_string()]
        )));
        let n = events(&vis).len();
        alice.send(&click(60, 30, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(events(&vis).len(), n);

        // While paused nothing is injected either.
        vis.v.enable_rc(true).unwrap();
        rc_on(&vis, true).await;
        vis.v.pause(true).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        alice.send(&click(70, 30, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(events(&vis).len(), n);
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn a_group_without_remote_control_answers_rc_disabled() {
    runtime().block_on(async {
        let server = TestServer::with_config(&config(false)).await.unwrap();
        let r = server.ready().clone();
        let vis = Visitor::synthetic(&r, 64, 64).await;
        let key_ = vis.start_random().await;
        let a = TestAgent::join(&r, &key_, &token_for(&r, "alice").await, Some(1))
            .await
            .unwrap();
        vis.v.enable_rc(true).unwrap();
        let e = vis.expect(EventCode::RCDisabled, 10).await;
        assert!(e.message.contains("not enabled"), "{}", e.message);
        rc_on(&vis, false).await;
        a.send(&Control::Input {
            input: InputEvent::Pointer {
                x: 1,
                y: 1,
                buttons: 1,
            },
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(vis.display().injected().is_empty());
        assert!(!a.with_state(|s| s
            .events
            .iter()
            .any(|c| matches!(c, Control::Rc { enabled: true }))));
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn input_while_the_display_is_away_is_dropped_and_control_follows_it_back() {
    runtime().block_on(async {
        let server = TestServer::with_config(&config(true)).await.unwrap();
        let r = server.ready().clone();
        let vis = Visitor::synthetic(&r, 200, 100).await;
        let key_ = vis.start_random().await;
        let alice = TestAgent::join(&r, &key_, &token_for(&r, "alice").await, Some(1))
            .await
            .unwrap();
        vis.v.enable_rc(true).unwrap();
        rc_on(&vis, true).await;
        common::agent_saw_rc_on(&alice).await;
        let click = |x, y, buttons| Control::Input {
            input: InputEvent::Pointer { x, y, buttons },
        };
        alice.send(&key("ShiftLeft", true)).unwrap();
        alice.send(&click(20, 20, 1)).unwrap();
        for _ in 0..50 {
            if vis.display().held() == (vec!["ShiftLeft".to_string()], 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(vis.display().held(), (vec!["ShiftLeft".to_string()], 1));

        // The display goes: what the agent held is let go, its input is dropped.
        vis.display().unplug();
        vis.expect(EventCode::DeviceDisconnected, 5).await;
        assert_eq!(vis.display().held(), (vec![], 0), "no stuck Shift");
        let n = events(&vis).len();
        alice.send(&click(30, 30, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            events(&vis).len(),
            n,
            "nothing injected while the display is away"
        );
        assert!(vis.v.session_info().rc_enabled, "consent stays");

        // Back: control is re-opened on it.
        vis.display().plug();
        vis.expect(EventCode::DeviceReconnected, 5).await;
        alice.send(&click(40, 50, 0)).unwrap();
        for _ in 0..50 {
            if events(&vis).len() > n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            events(&vis)[n..],
            [InputEvent::Pointer {
                x: 40,
                y: 50,
                buttons: 0
            }]
        );
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}

#[test]
fn input_aimed_at_a_masked_area_is_never_injected() {
    runtime().block_on(async {
        let server = TestServer::with_config(&config(true)).await.unwrap();
        let r = server.ready().clone();
        let vis = Visitor::synthetic(&r, 200, 100).await;
        // The right half of the display is masked (display pixels 100..200).
        let mask = vis.v.add_masked_rect(100, 0, 100, 100).unwrap();
        let key_ = vis.start_random().await;
        let alice = TestAgent::join(&r, &key_, &token_for(&r, "alice").await, Some(1))
            .await
            .unwrap();
        vis.v.enable_rc(true).unwrap();
        rc_on(&vis, true).await;
        common::agent_saw_rc_on(&alice).await;
        let ptr = |x, y, buttons| Control::Input {
            input: InputEvent::Pointer { x, y, buttons },
        };
        let wheel = |x, y| Control::Input {
            input: InputEvent::Wheel {
                x,
                y,
                dx: 0,
                dy: 100,
            },
        };
        // A press on the visible half, a drag into the mask, a wheel over it, a release.
        alice.send(&ptr(40, 40, 1)).unwrap();
        alice.send(&ptr(150, 40, 1)).unwrap();
        alice.send(&wheel(180, 50)).unwrap();
        alice.send(&ptr(160, 60, 0)).unwrap();
        alice.send(&ptr(60, 60, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            events(&vis),
            vec![
                InputEvent::Pointer {
                    x: 40,
                    y: 40,
                    buttons: 1
                },
                InputEvent::Pointer {
                    x: 60,
                    y: 60,
                    buttons: 0
                },
            ],
            "nothing aimed at the mask"
        );
        // The drag into the mask let go of the button at once.
        assert!(vis
            .display()
            .injected()
            .iter()
            .any(|i| matches!(i, Injected::Released { buttons: 1, .. })));
        assert_eq!(vis.display().held(), (vec![], 0));
        // Without the mask the same spot takes input.
        vis.v.remove_mask(mask).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        alice.send(&ptr(150, 40, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            events(&vis).last(),
            Some(&InputEvent::Pointer {
                x: 150,
                y: 40,
                buttons: 0
            })
        );
        vis.v.end_session().unwrap();
        vis.ended(10).await;
    });
}
