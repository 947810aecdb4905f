//! One-Click Connect on the service side (seeds 003 /developer/presence/*, 004; the wire
//! format is docs/PRESENCE.md): the visitor presence WebSocket, the agent REST API
//! (`/lookupvisitor`, `/findvisitor`, `/signalvisitor`) and the agent event WebSocket, over
//! one [`hub::PresenceHub`].

pub mod agent_ws;
pub mod hub;
pub mod rest;
pub mod visitor_ws;

use serde_json::{Map, Value};

/// Largest presence message, in bytes.
pub const MAX_PRESENCE_MESSAGE: usize = 16 * 1024;
/// Seed 004's limits on presence data.
pub const MAX_PROPERTIES: usize = 20;
pub const MAX_PROPERTY_LEN: usize = 2_000;
pub const MAX_PRESENCE_TOTAL: usize = 10_000;
pub const MAX_NAME_LEN: usize = 64;

/// Standard presence properties; others must start with `c_`.
const STANDARD_PROPERTIES: &[&str] = &["url", "title", "page", "app", "platform", "version"];

/// A visitor id: seed 000's key rules. Ids with a space, `*` or `>` are the seed's
/// `invalidprotocol` error; anything else invalid is `invalid`.
pub fn check_visitor_id(id: &str) -> Result<(), &'static str> {
    if id.contains([' ', '*', '>']) {
        return Err("invalidprotocol");
    }
    glance_protocol::control::validate_key(id).map_err(|_| "invalid")
}

/// Checks presence data against seed 004's limits: a flat object of strings.
pub fn check_presence(data: &Value) -> Result<(), String> {
    let map: &Map<String, Value> = data.as_object().ok_or("presence data must be an object")?;
    if map.len() > MAX_PROPERTIES {
        return Err(format!("at most {MAX_PROPERTIES} properties"));
    }
    let mut total = 0;
    for (k, v) in map {
        if k.is_empty() || k.chars().count() > MAX_NAME_LEN {
            return Err(format!("property names are 1 to {MAX_NAME_LEN} characters"));
        }
        if !k.starts_with("c_") && !STANDARD_PROPERTIES.contains(&k.as_str()) {
            return Err(format!("custom property {k:?} must start with c_"));
        }
        let s = v
            .as_str()
            .ok_or_else(|| format!("property {k:?} must be a string"))?;
        let n = s.chars().count();
        if n > MAX_PROPERTY_LEN {
            return Err(format!(
                "property {k:?} is longer than {MAX_PROPERTY_LEN} characters"
            ));
        }
        total += n + k.chars().count();
    }
    if total > MAX_PRESENCE_TOTAL {
        return Err(format!(
            "presence data is longer than {MAX_PRESENCE_TOTAL} characters in all"
        ));
    }
    Ok(())
}

/// A `signalAgent` event name: `terms`, or a custom name starting with `c_`.
pub fn check_signal_event(name: &str) -> Result<(), String> {
    if name == "terms" || (name.starts_with("c_") && name.len() > 2 && name.len() <= MAX_NAME_LEN) {
        Ok(())
    } else {
        Err(format!(
            "event {name:.64} is not \"terms\" and does not start with c_"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visitor_ids() {
        assert_eq!(check_visitor_id("alice-1"), Ok(()));
        assert_eq!(check_visitor_id("a b"), Err("invalidprotocol"));
        assert_eq!(check_visitor_id("a*"), Err("invalidprotocol"));
        assert_eq!(check_visitor_id("a>b"), Err("invalidprotocol"));
        assert_eq!(check_visitor_id(""), Err("invalid"));
        assert_eq!(check_visitor_id("a;b"), Err("invalid"));
    }

    #[test]
    fn presence_limits() {
        assert!(check_presence(&json!({"url": "x", "c_cart": "3"})).is_ok());
        assert!(check_presence(&json!({"cart": "3"})).is_err());
        assert!(check_presence(&json!({"url": 3})).is_err());
        assert!(check_presence(&json!(["url"])).is_err());
        let many: Map<String, Value> = (0..21).map(|i| (format!("c_{i}"), json!("v"))).collect();
        assert!(check_presence(&Value::Object(many)).is_err());
        assert!(check_presence(&json!({"url": "x".repeat(2001)})).is_err());
        let big: Map<String, Value> = (0..6)
            .map(|i| (format!("c_{i}"), json!("y".repeat(1900))))
            .collect();
        assert!(check_presence(&Value::Object(big)).is_err());
        assert!(check_presence(&json!({ "c_".to_string() + &"n".repeat(63): "v" })).is_err());
        assert!(check_signal_event("terms").is_ok() && check_signal_event("c_chat").is_ok());
        assert!(check_signal_event("chat").is_err() && check_signal_event("c_").is_err());
    }
}
