//! One-Click Connect on the service side (seeds 003 /developer/presence/*, 004; the wire
//! format is docs/PRESENCE.md): the visitor presence WebSocket, the agent REST API
//! (`/lookupvisitor`, `/findvisitor`, `/signalvisitor`) and the agent event WebSocket, over
//! one [`hub::PresenceHub`].

pub mod agent_ws;
pub mod hub;
pub mod rest;
pub mod visitor_ws;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Largest presence message, in bytes.
pub const MAX_PRESENCE_MESSAGE: usize = 16 * 1024;
pub use glance_protocol::presence::{MAX_NAME_LEN, MAX_PROPERTIES, MAX_PROPERTY_LEN};

/// `[presence]` in the configuration file: how many presence sockets may be open at once
/// (issue 18: 4,084 uncapped visitor sockets ran the server out of file descriptors). More are
/// answered 503 before the WebSocket upgrade. Unset: a share of the process's open-file
/// limit ([`PresenceLimits::resolved`]).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceLimits {
    /// Visitor sockets (`/ws/presence`), hello said or not.
    pub max_visitor_sockets: Option<usize>,
    /// Agent event sockets (`/ws/presence/agent`), authenticated or not.
    pub max_agent_sockets: Option<usize>,
}

/// The open-file limit assumed where the process's cannot be read.
pub const ASSUMED_FILE_LIMIT: u64 = 4096;

impl PresenceLimits {
    /// (visitor sockets, agent sockets): the configured values, else half and an eighth of
    /// the process's soft open-file limit (2,048 and 512 under the common 4,096), leaving the
    /// rest for sessions, agents and the listeners.
    pub fn resolved(&self) -> (usize, usize) {
        let files = usize::try_from(crate::guard::conn::file_limit().unwrap_or(ASSUMED_FILE_LIMIT))
            .unwrap_or(usize::MAX);
        (
            self.max_visitor_sockets.unwrap_or((files / 2).max(64)),
            self.max_agent_sockets.unwrap_or((files / 8).max(16)),
        )
    }
}

/// A visitor id: seed 000's key rules. Ids with a space, `*` or `>` are the seed's
/// `invalidprotocol` error; anything else invalid is `invalid`.
pub fn check_visitor_id(id: &str) -> Result<(), &'static str> {
    if id.contains([' ', '*', '>']) {
        return Err("invalidprotocol");
    }
    glance_protocol::control::validate_key(id).map_err(|_| "invalid")
}

/// The string properties of a JSON object, or why it is not an object of strings.
fn string_props(data: &Value) -> Result<Vec<(&str, &str)>, String> {
    let map: &Map<String, Value> = data.as_object().ok_or("the data must be an object")?;
    map.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.as_str(), s))
                .ok_or_else(|| format!("property {k:.64?} must be a string"))
        })
        .collect()
}

/// Checks presence data against seed 004's limits: a flat object of strings.
pub fn check_presence(data: &Value) -> Result<(), String> {
    glance_protocol::presence::check_presence(string_props(data)?.into_iter())
}

/// Checks a `signal_agent` message: the event name and its data (an object of strings).
pub fn check_signal(event: &str, data: &Value) -> Result<(), String> {
    glance_protocol::presence::check_signal(event, string_props(data)?.into_iter())
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
    fn socket_caps() {
        let set = PresenceLimits {
            max_visitor_sockets: Some(4),
            max_agent_sockets: Some(2),
        };
        assert_eq!(set.resolved(), (4, 2));
        let (v, a) = PresenceLimits::default().resolved();
        let files = crate::guard::conn::file_limit().unwrap_or(ASSUMED_FILE_LIMIT);
        assert!(v >= 64 && a >= 16 && v > a, "{v} {a}");
        assert!((v as u64) < files.max(128), "{v} of {files}");
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
        assert!(check_signal("terms", &json!({"status": "declined"})).is_ok());
        assert!(check_signal("c_chat", &json!({})).is_ok());
        assert!(check_signal("chat", &json!({})).is_err());
        assert!(check_signal("c_chat", &json!({"n": 1})).is_err());
    }
}
