//! Custom messages from agents (`agent_message`, relayed by the service): what the
//! application hears of them, seed 000's EventMessageReceived. Its properties are the ones
//! the agent gave, the service's `agent` (who sent it) and `remoteAssist` (whether that
//! agent's role may take remote control), and `message`: the message's name (e.g.
//! `requestRC`, which the viewer's "Ask for control" sends; the application may answer it by
//! calling EnableRC). A message that breaks the limits is logged and ignored.

use std::collections::BTreeMap;

use glance_protocol::agent_message::{
    self, AGENT_PROPERTY, MESSAGE_PROPERTY, REMOTE_ASSIST_PROPERTY,
};

use crate::events::{Event, EventCode};

/// The event for an `agent_message`, or `None` (logged) when it is malformed.
pub(super) fn received(name: String, mut properties: BTreeMap<String, String>) -> Option<Event> {
    let agent = properties.remove(AGENT_PROPERTY);
    let remote_assist = properties.remove(REMOTE_ASSIST_PROPERTY);
    if let Err(e) = agent_message::validate_from_agent(&name, &properties) {
        log::warn!("ignoring a malformed agent_message from the service: {e}");
        return None;
    }
    let who = agent.clone().unwrap_or_else(|| "an agent".into());
    let mut ev = Event::new(
        EventCode::MessageReceived,
        format!("{who} sent the message {name:?}"),
    )
    .with(MESSAGE_PROPERTY, name);
    for (k, v) in properties {
        ev = ev.with(&k, v);
    }
    if let Some(a) = agent {
        ev = ev.with(AGENT_PROPERTY, a);
    }
    if let Some(r) = remote_assist {
        ev = ev.with(REMOTE_ASSIST_PROPERTY, r);
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_name_and_sender() {
        let props: BTreeMap<String, String> = [
            ("why", "printer"),
            (AGENT_PROPERTY, "ann.7.glance"),
            (REMOTE_ASSIST_PROPERTY, "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let e = received("requestRC".into(), props).expect("a valid message");
        assert_eq!(e.code, EventCode::MessageReceived);
        assert_eq!(e.property(MESSAGE_PROPERTY), Some("requestRC"));
        assert_eq!(e.property("why"), Some("printer"));
        assert_eq!(e.property(AGENT_PROPERTY), Some("ann.7.glance"));
        assert_eq!(e.property(REMOTE_ASSIST_PROPERTY), Some("true"));
        assert!(e.message.contains("ann.7.glance"), "{}", e.message);
    }

    #[test]
    fn malformed_is_ignored() {
        assert!(received("bad name".into(), BTreeMap::new()).is_none());
        let spoof: BTreeMap<String, String> = [(MESSAGE_PROPERTY.to_string(), "x".to_string())]
            .into_iter()
            .collect();
        assert!(received("m".into(), spoof).is_none());
    }
}
