//! Owns the presence messages (docs/PRESENCE.md): what a visitor's presence socket sends the
//! service (hello ids, presence data, signal_agent events) and what an agent's signal carries.
//! Checks that the service's and the SDK's rules agree (one set of rules in glance-protocol),
//! that no input panics them, and that accepted data stays inside seed 004's limits.
#![no_main]

use glance_protocol::presence::{
    check_presence, check_signal, MAX_NAME_LEN, MAX_PRESENCE_TOTAL, MAX_PROPERTIES,
    MAX_PROPERTY_LEN,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // The visitor id of a hello.
    if let Some(id) = v.get("visitor_id").and_then(Value::as_str) {
        let r = glance_server::presence::check_visitor_id(id);
        if id.contains([' ', '*', '>']) {
            assert_eq!(r, Err("invalidprotocol"));
        }
        if r.is_ok() {
            assert!(!id.is_empty() && id.len() <= 63, "{id:?}");
        }
    }
    let payload = v.get("data").cloned().unwrap_or(Value::Null);
    // Presence data: the service's check (a JSON object) and the SDK's (a property list) agree.
    let server = glance_server::presence::check_presence(&payload);
    if let Some(map) = payload.as_object() {
        if map.values().all(Value::is_string) {
            let props: Vec<(String, String)> = map
                .iter()
                .map(|(k, s)| (k.clone(), s.as_str().unwrap_or_default().to_string()))
                .collect();
            let sdk = glance_visitor::presence::check_presence(&props);
            assert_eq!(server.is_ok(), sdk.is_ok(), "{server:?} vs {sdk:?}");
            let direct = check_presence(props.iter().map(|(k, s)| (k.as_str(), s.as_str())));
            assert_eq!(direct.is_ok(), sdk.is_ok());
            if sdk.is_ok() {
                assert!(props.len() <= MAX_PROPERTIES);
                let total: usize = props
                    .iter()
                    .map(|(k, s)| k.chars().count() + s.chars().count())
                    .sum();
                assert!(total <= MAX_PRESENCE_TOTAL);
                assert!(props.iter().all(|(k, s)| k.chars().count() <= MAX_NAME_LEN
                    && s.chars().count() <= MAX_PROPERTY_LEN
                    && (k.starts_with("c_") || glance_protocol::presence::STANDARD_PROPERTIES.contains(&k.as_str()))));
            }
        } else {
            assert!(server.is_err(), "non-string presence values were accepted");
        }
    } else {
        assert!(server.is_err(), "non-object presence data was accepted");
    }
    // signal_agent: the event name and its data.
    if let Some(event) = v.get("event").and_then(Value::as_str) {
        let server = glance_server::presence::check_signal(event, &payload);
        if let Some(map) = payload.as_object().filter(|m| m.values().all(Value::is_string)) {
            let props: Vec<(String, String)> = map
                .iter()
                .map(|(k, s)| (k.clone(), s.as_str().unwrap_or_default().to_string()))
                .collect();
            let sdk = glance_visitor::presence::check_signal(event, &props);
            assert_eq!(server.is_ok(), sdk.is_ok(), "{server:?} vs {sdk:?}");
            let direct = check_signal(event, props.iter().map(|(k, s)| (k.as_str(), s.as_str())));
            assert_eq!(direct.is_ok(), sdk.is_ok());
            if sdk.is_ok() && event == "terms" {
                let st = map.get("status").and_then(Value::as_str);
                assert!(matches!(st, Some("displayed" | "accepted" | "declined")));
            }
        }
        if server.is_ok() {
            assert!(event == "terms" || event.starts_with("c_"));
        }
    }
});
