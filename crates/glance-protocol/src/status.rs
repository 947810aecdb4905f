//! Why sessions end: the visitor-side reasons of seed 000 and the agent-side status codes of
//! seed 001, and how one maps to the other.

use serde::{Deserialize, Serialize};

/// Why a session ended, as the service reports it to the visitor. The SDK turns each into
/// the seed's `reason` property value with [`EndReason::seed_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The visitor called EndSession.
    ThisSide,
    /// An agent ended it, or the last agent left a non-persistent session.
    OtherSide,
    /// The SDK never reached the service.
    CantConnect,
    /// The connection dropped and could not be re-established.
    ConnDrop,
    /// Killed: too many simultaneous sessions in the group, or replaced by a newer session
    /// with the same key.
    Killed,
    /// No agent joined within the group's timeout.
    TimedOut,
    /// An unexpected error.
    Error,
}

impl EndReason {
    /// The seed's value of the `reason` property of EventSessionEnded.
    pub fn seed_name(self) -> &'static str {
        match self {
            EndReason::ThisSide => "SessionEndReasonThisSide",
            EndReason::OtherSide => "SessionEndReasonOtherSide",
            EndReason::CantConnect => "SessionEndReasonCantConnect",
            EndReason::ConnDrop => "SessionEndReasonConnDrop",
            EndReason::Killed => "SessionEndReasonKilled",
            EndReason::TimedOut => "SessionEndTimedout",
            EndReason::Error => "SessionEndReasonError",
        }
    }
}

/// Numeric status codes of the agent's `sessionEnded` event and of join failures (seed 001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum AgentStatus {
    FailVersion = 17,
    FailUnauthorized = 18,
    FailNoSession = 19,
    FailRejectEncrypt = 20,
    FailUnknown = 21,
    SessionEnded = 23,
    SessionEndedQuit = 24,
    SessionEndedTimeout = 25,
    SessionEndedKilled = 26,
    SessionEndedConnDead = 27,
    SessionEndedCallDead = 28,
    SessionEndedError = 29,
    SessionEndedUnknown = 30,
    SessionEndedDeclined = 31,
    CantConnect = 32,
    CantReconnect = 34,
    SessionFull = 35,
    SessionEndedReplaced = 36,
}

impl AgentStatus {
    /// The numeric code sent on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Whether the agent's `sessionEnded` event carries `iserror: true` for this status.
    pub fn is_error(self) -> bool {
        !matches!(
            self,
            AgentStatus::SessionEnded
                | AgentStatus::SessionEndedQuit
                | AgentStatus::SessionEndedTimeout
                | AgentStatus::SessionEndedDeclined
        )
    }

    /// The status agents see when a session ends for `reason` (from the visitor's side).
    pub fn for_end(reason: EndReason, by_agent: bool) -> AgentStatus {
        match reason {
            _ if by_agent => AgentStatus::SessionEnded,
            EndReason::ThisSide | EndReason::OtherSide => AgentStatus::SessionEndedQuit,
            EndReason::TimedOut => AgentStatus::SessionEndedTimeout,
            EndReason::Killed => AgentStatus::SessionEndedKilled,
            EndReason::ConnDrop | EndReason::CantConnect => AgentStatus::SessionEndedConnDead,
            EndReason::Error => AgentStatus::SessionEndedError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_status_codes_match_seed_001() {
        assert_eq!(AgentStatus::FailUnauthorized.code(), 18);
        assert_eq!(AgentStatus::SessionFull.code(), 35);
        assert_eq!(AgentStatus::SessionEndedReplaced.code(), 36);
        assert_eq!(
            AgentStatus::for_end(EndReason::ThisSide, false),
            AgentStatus::SessionEndedQuit
        );
        assert_eq!(
            AgentStatus::for_end(EndReason::OtherSide, true),
            AgentStatus::SessionEnded
        );
        assert!(!AgentStatus::SessionEndedQuit.is_error());
        assert!(AgentStatus::SessionEndedConnDead.is_error());
    }

    #[test]
    fn end_reasons_use_seed_names() {
        assert_eq!(EndReason::TimedOut.seed_name(), "SessionEndTimedout");
        assert_eq!(EndReason::Killed.seed_name(), "SessionEndReasonKilled");
    }
}
