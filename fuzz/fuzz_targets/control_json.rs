//! Owns `Control::from_json`: every JSON control message a peer sends (direct stream kind 1,
//! WebSocket text, WebSocket kind-1 binary). Checks that whatever parses re-encodes to JSON
//! that parses back to the same message, that `name()` is the `type` tag that was read, and
//! that the field checks the server and visitor run on parsed messages (the agent_message
//! limits among them) never panic.
#![no_main]

use glance_protocol::agent_message::{validate_from_agent, MAX_PROPERTIES, MAX_VALUE_LEN};
use glance_protocol::control::validate_key;
use glance_protocol::cursor::validate_position;
use glance_protocol::limits::MAX_CONTROL_LEN;
use glance_protocol::{negotiate_version, Control};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = Control::from_json(data);
    if data.len() > MAX_CONTROL_LEN {
        assert!(parsed.is_err(), "an oversized control message was accepted");
        return;
    }
    let Ok(c) = parsed else { return };

    // The tag read is the tag reported; a type this build does not know reads as Unknown
    // (a newer peer's message: ignored by every receiver), and its tag is still a string.
    let v: serde_json::Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => panic!("from_json accepted what serde_json cannot read as a value: {e}"),
    };
    let tag = v.get("type").and_then(|t| t.as_str());
    if c == Control::Unknown {
        assert!(tag.is_some(), "Unknown without a string type");
        return;
    }
    assert_eq!(tag, Some(c.name()));

    // decode -> encode -> decode is the identity, and encoding is stable.
    let json = c.to_json();
    let again = match Control::from_json(json.as_bytes()) {
        Ok(a) => a,
        Err(e) => panic!("re-encoded message does not parse: {e}: {json}"),
    };
    assert_eq!(again, c);
    assert_eq!(again.to_json(), json);

    // What the receivers do next with the fields.
    match &c {
        Control::Hello {
            min_version,
            max_version,
            ..
        } => {
            if let Some(v) = negotiate_version(*min_version, *max_version) {
                assert!(v >= *min_version && v <= *max_version);
            }
        }
        Control::StartSession(s) => {
            for k in [&s.key, &s.visitor_id].into_iter().flatten() {
                if validate_key(k).is_ok() {
                    assert!(!k.is_empty() && k.len() <= 63 && k.is_ascii());
                }
            }
        }
        Control::Join { key, .. } => {
            let _ = validate_key(key);
        }
        Control::Cursor { x, y, .. } => {
            let _ = validate_position(*x, *y);
        }
        Control::AgentMessage { name, properties } => {
            if validate_from_agent(name, properties).is_ok() {
                assert!(!name.is_empty() && name.len() <= 63 && name.is_ascii());
                assert!(properties.len() <= MAX_PROPERTIES);
                assert!(properties.values().all(|v| v.len() <= MAX_VALUE_LEN));
            }
        }
        _ => {}
    }
});
