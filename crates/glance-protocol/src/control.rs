//! Control messages: small JSON objects tagged by `type`, sent as kind-1 messages on the direct
//! stream and as text messages on WebSockets. Unknown fields are ignored (forward
//! compatibility); unknown `type`s are a protocol error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_CONTROL_LEN, MAX_KEY_LEN};
use crate::status::EndReason;

/// Who is speaking on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Visitor,
    Agent,
}

/// Why the service refused to start a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFailReason {
    /// The group id is not configured on this service.
    UnknownGroup,
    /// The visitor token was refused.
    Unauthorized,
    /// The key breaks the visitor-id rules.
    InvalidKey,
    /// The group already runs its limit of simultaneous sessions.
    GroupLimit,
    /// The service could not allocate a random key.
    NoKeyAvailable,
    /// The key is live in the group and held by another visitor: a session key is taken
    /// over only by the visitor that holds it (its `resume` token).
    KeyInUse,
    /// This client (its address or its visitor token) started too many sessions too fast,
    /// or holds its share of the group's session limit already; try again later.
    Throttled,
}

/// What the visitor shares: the size of the display as first captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayInfo {
    pub name: String,
    pub width: u16,
    pub height: u16,
}

/// The visitor's request to start a session (seed 000 StartParams, as the service needs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartSession {
    pub group_id: u32,
    #[serde(default)]
    pub token: String,
    /// `None`: the service chooses a random digits-only key.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub visitor_id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    /// 0: no limit beyond the group's.
    #[serde(default)]
    pub max_guests: u32,
    #[serde(default)]
    pub persist: bool,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub main_call_id: u64,
    #[serde(default)]
    pub presence_start: bool,
    pub display: DisplayInfo,
    /// Set when the SDK starts its session again after the service lost it (a restart
    /// without its journal): the call id the session had, recorded to link the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_call_id: Option<u64>,
}

/// The agent as its authorization token names it (seed 001 `agentinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub username: String,
    pub partnerid: u32,
    pub partneruserid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub title: String,
}

/// One remote-control input event; coordinates are pixels of the shared picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputEvent {
    /// The pointer moved or its buttons changed (bit 0 left, 1 middle, 2 right).
    Pointer { x: u16, y: u16, buttons: u8 },
    /// The wheel turned at (x, y); positive dy scrolls down.
    Wheel { x: u16, y: u16, dx: i16, dy: i16 },
    /// A key went down or up: DOM `code` (physical key) and `key` (meaning), each at most
    /// 32 characters.
    Key {
        code: String,
        key: String,
        down: bool,
    },
}

impl InputEvent {
    /// Checks the lengths the type cannot.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            InputEvent::Key { code, key, .. } if code.len() > 32 || key.len() > 32 => {
                Err("key code and key are at most 32 bytes".into())
            }
            _ => Ok(()),
        }
    }
}

/// Every control message. `type` is the snake_case variant name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// First message of every connection, from the client.
    Hello {
        role: Role,
        min_version: u32,
        max_version: u32,
        /// Free text: SDK or browser version and OS.
        #[serde(default)]
        client: String,
        /// The SDK's release version ("1.4.2"; visitors only, absent from older SDKs): the
        /// service refuses one older than its minimum with `error{code:"upgrade_required"}`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        sdk_version: String,
    },
    /// The server's answer to `hello`: the version both now speak, the range the server
    /// accepts (0 from servers older than these fields) and, for visitors, the newest SDK
    /// release it knows ("" when it does not say).
    Welcome {
        version: u32,
        server: String,
        #[serde(default)]
        min_version: u32,
        #[serde(default)]
        max_version: u32,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        sdk_latest: String,
    },

    // ----- visitor -> server -----
    StartSession(StartSession),
    /// Pause (true) or resume (false); agents see the paused screen meanwhile.
    Pause {
        paused: bool,
    },
    /// End the session (from the visitor, or from an agent).
    EndSession,
    /// reportErrors: an SDK warning or error for the session's record (visitor -> server).
    /// `event` is the seed event name, `message` its text (at most 1,000 bytes kept).
    ReportError {
        event: String,
        message: String,
    },
    /// The mouse pointer (visitor -> server -> agents): its position in pixels of the shared
    /// picture, whether it is over the shared display (false: hidden; x and y are then 0),
    /// and the id of its shape (a kind-3 message sent before, see [`crate::cursor`]).
    Cursor {
        x: u16,
        y: u16,
        visible: bool,
        shape: u32,
    },

    /// Instead of `start_session` on a new connection: continue the session whose
    /// `session_started` carried this token.
    Resume {
        token: String,
    },

    // ----- server -> visitor -----
    SessionStarted {
        call_id: u64,
        key: String,
        ssnid: String,
        /// Presented in `resume` on a new connection after this one drops (absent from
        /// services that cannot resume).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
    },
    /// The session was resumed on this connection (answer to `resume`).
    Resumed {
        call_id: u64,
        key: String,
    },
    /// The session cannot be resumed (it ended, or the token is unknown); a close follows.
    ResumeFailed {
        message: String,
    },
    StartFailed {
        reason: StartFailReason,
        message: String,
    },
    /// The number of agents in the session changed.
    GuestCount {
        count: u32,
    },
    /// An agent needs a whole picture: send a key frame (flag REFRESH_ONLY).
    RefreshRequest,
    /// Flow control: the service has read every update up to and including the last message
    /// (FINAL) of frame `seq`. The visitor bounds the bytes it has sent but not seen acked,
    /// so that no backlog builds up in socket buffers on a slow link.
    Ack {
        seq: u32,
    },

    // ----- agent -> server -----
    /// Join the session `key` of `group_id` (the token's group when absent).
    Join {
        key: String,
        token: String,
        #[serde(default)]
        group_id: Option<u32>,
    },
    /// Leave the session without ending it.
    Leave,

    // ----- server -> agent -----
    Joined {
        call_id: u64,
        key: String,
        ssnid: String,
        group_id: u32,
        width: u16,
        height: u16,
        paused: bool,
        guests: u32,
        visitor_version: String,
        display_name: String,
        /// Who the agent is (from its authorization token); absent for static tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentInfo>,
        /// The agent's role may take remote control.
        #[serde(default)]
        remote_assist: bool,
        /// The visitor has enabled remote control.
        #[serde(default)]
        rc: bool,
    },
    /// The join was refused; `status` is a seed-001 code (18, 19, 35 ...).
    JoinFailed {
        status: u16,
        reason: String,
    },
    /// The visitor paused or resumed.
    Paused {
        paused: bool,
    },
    /// The visitor enabled or disabled remote control (visitor -> server -> agents).
    Rc {
        enabled: bool,
    },
    /// The answer to `rc{enabled:true}` in a group that does not allow remote control
    /// (server -> visitor): remote control stays off (seed 000 EventRCDisabled).
    RcDisabled {
        message: String,
    },
    /// Remote-control input from an agent (agent -> server -> visitor). The server forwards it
    /// only while the visitor has remote control enabled and the agent's role allows it.
    Input {
        input: InputEvent,
    },
    /// A custom message of an agent for the visitor's application (agent -> server ->
    /// visitor; seed 000 EventMessageReceived), e.g. `requestRC`. The service checks it
    /// ([`crate::agent_message::validate_from_agent`]: a bad one is dropped with a log line,
    /// never the end of the connection), rate-limits it per agent and adds the sender's
    /// identity (`agent`, `remoteAssist`) to the properties it relays.
    AgentMessage {
        name: String,
        #[serde(default)]
        properties: BTreeMap<String, String>,
    },

    // ----- server -> both -----
    /// The session is over. `reason` is the visitor-side reason; `status` the agent-side
    /// code (seed 001) and `iserror` its error flag.
    SessionEnded {
        reason: EndReason,
        status: u16,
        iserror: bool,
        message: String,
    },
    /// Heartbeat; answered by `pong` with the same `t`.
    Ping {
        t: u64,
    },
    Pong {
        t: u64,
    },
    /// A protocol error; the sender closes the connection after it.
    Error {
        code: String,
        message: String,
    },

    /// A message whose `type` this build does not know (a newer peer's addition). Never
    /// sent; every receiver logs and ignores it (docs/PROTOCOL.md, "Compatibility").
    #[serde(other)]
    Unknown,
}

/// Why a control message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control message of {0} bytes exceeds the limit of {MAX_CONTROL_LEN}")]
    TooLarge(usize),
    #[error("malformed control message: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl Control {
    /// Parses one JSON control message, enforcing the size limit first.
    pub fn from_json(bytes: &[u8]) -> Result<Control, ControlError> {
        if bytes.len() > MAX_CONTROL_LEN {
            return Err(ControlError::TooLarge(bytes.len()));
        }
        let c: Control = serde_json::from_slice(bytes)?;
        if c == Control::Unknown {
            // serde also reads a tagged enum from an array (`["x"]`): only an object with a
            // string `type` is a message of a newer peer.
            let v: serde_json::Value = serde_json::from_slice(bytes)?;
            if !v.get("type").is_some_and(|t| t.is_string()) {
                return Err(ControlError::from(
                    <serde_json::Error as serde::de::Error>::custom(
                        "a control message is an object with a string `type`",
                    ),
                ));
            }
        }
        Ok(c)
    }

    /// Serializes to JSON. Control messages hold only strings and numbers, so this cannot
    /// fail; the message is a protocol constant if it somehow did.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":"encode"}"#.into())
    }

    /// The `type` tag, for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Control::Hello { .. } => "hello",
            Control::Welcome { .. } => "welcome",
            Control::StartSession(_) => "start_session",
            Control::Pause { .. } => "pause",
            Control::EndSession => "end_session",
            Control::ReportError { .. } => "report_error",
            Control::Cursor { .. } => "cursor",
            Control::SessionStarted { .. } => "session_started",
            Control::Resumed { .. } => "resumed",
            Control::ResumeFailed { .. } => "resume_failed",
            Control::Resume { .. } => "resume",
            Control::StartFailed { .. } => "start_failed",
            Control::GuestCount { .. } => "guest_count",
            Control::RefreshRequest => "refresh_request",
            Control::Ack { .. } => "ack",
            Control::Join { .. } => "join",
            Control::Leave => "leave",
            Control::Joined { .. } => "joined",
            Control::JoinFailed { .. } => "join_failed",
            Control::Paused { .. } => "paused",
            Control::Rc { .. } => "rc",
            Control::RcDisabled { .. } => "rc_disabled",
            Control::Input { .. } => "input",
            Control::AgentMessage { .. } => "agent_message",
            Control::SessionEnded { .. } => "session_ended",
            Control::Ping { .. } => "ping",
            Control::Pong { .. } => "pong",
            Control::Error { .. } => "error",
            Control::Unknown => "unknown",
        }
    }
}

/// Checks a session key or visitor id against seed 000's rules: 1 to 63 characters, each an
/// ASCII letter, digit, '-', '_' or '.'. Returns a message naming the problem.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("must not be empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!(
            "is {} characters long; at most {MAX_KEY_LEN} are allowed",
            key.chars().count()
        ));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "contains {c:?}; only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_newer_peers_messages_and_fields_are_read_not_refused() {
        // A type this build does not know: Unknown (the receiver logs and ignores it).
        let m = Control::from_json(br#"{"type":"future_feature","x":{"deep":[1,2]}}"#).unwrap();
        assert_eq!(m, Control::Unknown);
        // Extra fields on a known message are ignored.
        let m = Control::from_json(br#"{"type":"guest_count","count":2,"since":"v2"}"#).unwrap();
        assert_eq!(m, Control::GuestCount { count: 2 });
        // An older server's welcome (no range, no release) still reads.
        let m = Control::from_json(br#"{"type":"welcome","version":1,"server":"old"}"#).unwrap();
        assert!(matches!(
            m,
            Control::Welcome { min_version: 0, max_version: 0, ref sdk_latest, .. } if sdk_latest.is_empty()
        ));
        // Not an object, or no type at all: still an error.
        assert!(Control::from_json(br#"{"count":2}"#).is_err());
        assert!(Control::from_json(b"[1]").is_err());
        assert!(
            Control::from_json(br#"["Wttyp"]"#).is_err(),
            "an array is no message"
        );
    }

    use super::*;

    #[test]
    fn round_trips_and_tags() {
        let m = Control::Pause { paused: true };
        let j = m.to_json();
        assert_eq!(j, r#"{"type":"pause","paused":true}"#);
        assert_eq!(Control::from_json(j.as_bytes()).unwrap(), m);
        let end = Control::EndSession.to_json();
        assert_eq!(end, r#"{"type":"end_session"}"#);
    }

    #[test]
    fn reads_unknown_types_as_unknown_and_rejects_oversize_and_garbage() {
        assert_eq!(
            Control::from_json(br#"{"type":"nope"}"#).unwrap(),
            Control::Unknown
        );
        assert!(Control::from_json(br#"{"type":7}"#).is_err());
        assert!(Control::from_json(b"\xff\xfe").is_err());
        let big = vec![b' '; MAX_CONTROL_LEN + 1];
        assert!(matches!(
            Control::from_json(&big),
            Err(ControlError::TooLarge(_))
        ));
    }

    #[test]
    fn cursor_message() {
        let m = Control::Cursor {
            x: 10,
            y: 20,
            visible: true,
            shape: 3,
        };
        let j = m.to_json();
        assert_eq!(
            j,
            r#"{"type":"cursor","x":10,"y":20,"visible":true,"shape":3}"#
        );
        assert_eq!(Control::from_json(j.as_bytes()).unwrap(), m);
        assert_eq!(m.name(), "cursor");
        // unknown fields are ignored
        assert!(Control::from_json(
            br#"{"type":"cursor","x":1,"y":2,"visible":false,"shape":0,"later":1}"#
        )
        .is_ok());
        for bad in [
            &br#"{"type":"cursor","x":-1,"y":2,"visible":true,"shape":1}"#[..],
            br#"{"type":"cursor","x":70000,"y":2,"visible":true,"shape":1}"#,
            br#"{"type":"cursor","x":1.5,"y":2,"visible":true,"shape":1}"#,
            br#"{"type":"cursor","x":1,"y":2,"visible":"yes","shape":1}"#,
            br#"{"type":"cursor","x":1,"y":2,"visible":true,"shape":-1}"#,
            br#"{"type":"cursor","x":1,"y":2,"visible":true}"#,
            br#"{"type":"cursor","y":2,"visible":true,"shape":1}"#,
        ] {
            assert!(
                Control::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn agent_message() {
        let m = Control::from_json(
            br#"{"type":"agent_message","name":"requestRC","properties":{"why":"help"}}"#,
        )
        .unwrap();
        let Control::AgentMessage { name, properties } = &m else {
            panic!("{m:?}")
        };
        assert_eq!(
            (name.as_str(), properties["why"].as_str()),
            ("requestRC", "help")
        );
        assert_eq!(m.name(), "agent_message");
        // properties may be left out; non-string values are not a message of this type
        assert!(Control::from_json(br#"{"type":"agent_message","name":"x"}"#).is_ok());
        assert!(
            Control::from_json(br#"{"type":"agent_message","name":"x","properties":{"n":1}}"#)
                .is_err()
        );
    }

    #[test]
    fn key_rules() {
        assert!(validate_key("abc-DEF_1.2").is_ok());
        assert!(validate_key(&"a".repeat(63)).is_ok());
        assert!(validate_key(&"a".repeat(64)).is_err());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key("star*").is_err());
        assert!(validate_key("é").is_err());
    }
}
