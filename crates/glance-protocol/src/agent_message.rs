//! Custom agent-to-visitor messages (`agent_message`): their limits and the check every
//! receiver applies. The agent names a message and gives it string properties; the service
//! checks them here, adds who sent it ([`AGENT_PROPERTY`], [`REMOTE_ASSIST_PROPERTY`]) and
//! relays it to the visitor, whose SDK fires seed 000's EventMessageReceived with the
//! properties and the name as [`MESSAGE_PROPERTY`].

use std::collections::BTreeMap;

/// Longest message name and property name, in bytes (the key rules: `A-Z a-z 0-9 - _ .`).
pub const MAX_NAME_LEN: usize = 63;
/// Most properties an agent may give one message.
pub const MAX_PROPERTIES: usize = 16;
/// Longest property value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most bytes of names and values in one message, all counted.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Set by the service: who sent the message (the agent's user name, or `agent-<n>` for an
/// agent without one).
pub const AGENT_PROPERTY: &str = "agent";
/// Set by the service: `"true"` when the sender's role may take remote control.
pub const REMOTE_ASSIST_PROPERTY: &str = "remoteAssist";
/// Set by the visitor SDK in EventMessageReceived: the message's name.
pub const MESSAGE_PROPERTY: &str = "message";

/// The property names an agent may not set itself.
pub const RESERVED_PROPERTIES: [&str; 3] =
    [AGENT_PROPERTY, REMOTE_ASSIST_PROPERTY, MESSAGE_PROPERTY];

/// The conventional name of "please enable remote control" (the viewer's Ask for control).
pub const REQUEST_RC: &str = "requestRC";

fn name_ok(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(format!(
            "{what} must be 1 to {MAX_NAME_LEN} bytes, not {}",
            s.len()
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "{what} may hold only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// Checks a message as an agent sent it: the name and property names follow the key rules,
/// at most [`MAX_PROPERTIES`] properties, values at most [`MAX_VALUE_LEN`] bytes without
/// control characters, at most [`MAX_MESSAGE_BYTES`] in all, no reserved property.
pub fn validate_from_agent(
    name: &str,
    properties: &BTreeMap<String, String>,
) -> Result<(), String> {
    name_ok("the message name", name)?;
    if properties.len() > MAX_PROPERTIES {
        return Err(format!(
            "{} properties; at most {MAX_PROPERTIES} are allowed",
            properties.len()
        ));
    }
    let mut total = name.len();
    for (k, v) in properties {
        name_ok("a property name", k)?;
        if RESERVED_PROPERTIES.contains(&k.as_str()) {
            return Err(format!("the property name {k:?} is set by the service"));
        }
        if v.len() > MAX_VALUE_LEN {
            return Err(format!(
                "property {k:?} is {} bytes; at most {MAX_VALUE_LEN} are allowed",
                v.len()
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("property {k:?} holds a control character"));
        }
        total += k.len() + v.len();
    }
    if total > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the message holds {total} bytes of names and values; at most {MAX_MESSAGE_BYTES} are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn accepts_ordinary_messages() {
        assert!(validate_from_agent(REQUEST_RC, &BTreeMap::new()).is_ok());
        assert!(validate_from_agent("note", &props(&[("text", "hello there: é")])).is_ok());
        let many: Vec<(String, String)> = (0..MAX_PROPERTIES)
            .map(|i| (format!("p{i}"), "v".repeat(200)))
            .collect();
        assert!(validate_from_agent("x", &many.into_iter().collect()).is_ok());
    }

    #[test]
    fn refuses_bad_names_sizes_and_reserved_properties() {
        for bad in ["", "has space", "star*", "é"] {
            assert!(
                validate_from_agent(bad, &BTreeMap::new()).is_err(),
                "{bad:?}"
            );
        }
        assert!(validate_from_agent(&"n".repeat(64), &BTreeMap::new()).is_err());
        assert!(validate_from_agent("m", &props(&[("bad key", "v")])).is_err());
        assert!(validate_from_agent("m", &props(&[("k", "line\nbreak")])).is_err());
        let long = "v".repeat(MAX_VALUE_LEN + 1);
        assert!(validate_from_agent("m", &props(&[("k", &long)])).is_err());
        for r in RESERVED_PROPERTIES {
            assert!(
                validate_from_agent("m", &props(&[(r, "me")])).is_err(),
                "{r}"
            );
        }
        let too_many: BTreeMap<String, String> = (0..=MAX_PROPERTIES)
            .map(|i| (format!("p{i}"), String::new()))
            .collect();
        assert!(validate_from_agent("m", &too_many).is_err());
        let too_big: BTreeMap<String, String> = (0..5)
            .map(|i| (format!("p{i}"), "v".repeat(MAX_VALUE_LEN)))
            .collect();
        assert!(validate_from_agent("m", &too_big).is_err());
    }
}
