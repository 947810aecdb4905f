//! The event catalog of seeds 000 and 004: every event code with the seed's name and type, and
//! the [`Event`] value delivered to the application's handler.

/// The seed's event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Assert,
    Info,
    Warning,
    Error,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::Assert => "Assert",
            EventType::Info => "Info",
            EventType::Warning => "Warning",
            EventType::Error => "Error",
        }
    }
}

macro_rules! event_codes {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal, $name:literal, $ty:ident; )*) => {
        /// Every event the SDK fires. Numbers are stable: the C header carries them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum EventCode {
            $( $(#[$doc])* $variant = $num, )*
        }

        impl EventCode {
            /// Every code, in number order.
            pub const ALL: &'static [EventCode] = &[$(EventCode::$variant,)*];

            /// The seed's name, e.g. "EventConnectedToSession".
            pub fn name(self) -> &'static str {
                match self { $(EventCode::$variant => $name,)* }
            }

            /// The seed's type for this event.
            pub fn event_type(self) -> EventType {
                match self { $(EventCode::$variant => EventType::$ty,)* }
            }

            /// The code with this number, if any.
            pub fn from_i32(n: i32) -> Option<EventCode> {
                match n { $($num => Some(EventCode::$variant),)* _ => None }
            }
        }
    };
}

event_codes! {
    /// A parameter passed to an SDK method is not valid.
    InvalidParameter = 1, "EventInvalidParameter", Assert;
    /// A method was called and the application was in an invalid state.
    InvalidState = 2, "EventInvalidState", Assert;
    /// Visitor initialization has completed.
    VisitorInitialized = 3, "EventVisitorInitialized", Info;
    /// The application attempted an operation not allowed by the group settings.
    PrivilegeViolation = 4, "EventPrivilegeViolation", Error;
    /// An upgrade to the Glance SDK is available.
    UpgradeAvailable = 5, "EventUpgradeAvailable", Info;
    /// The Glance SDK must be upgraded in order to connect to the Glance service.
    UpgradeRequired = 6, "EventUpgradeRequired", Error;
    /// Windows Desktop Composition was disabled to improve capture performance.
    CompositionDisabled = 7, "EventCompositionDisabled", Info;
    /// The SDK successfully connected to the session. Property: `sessionkey`.
    ConnectedToSession = 8, "EventConnectedToSession", Info;
    /// The agent is switching to show and the application to view.
    SwitchingToView = 9, "EventSwitchingToView", Info;
    /// StartSession was called and the session failed to start. Property: `error`.
    StartSessionFailed = 10, "EventStartSessionFailed", Error;
    /// The session and any child sessions have ended. Property: `reason`.
    SessionEnded = 11, "EventSessionEnded", Info;
    /// Connected through the tunneling protocol.
    Tunneling = 12, "EventTunneling", Info;
    /// The connection dropped; the SDK reconnects for up to a minute.
    ConnectionWarning = 13, "EventConnectionWarning", Warning;
    /// The dropped connection has been re-established.
    ClearWarning = 14, "EventClearWarning", Info;
    /// An agent joined or left. Property: `count`.
    GuestCountChange = 15, "EventGuestCountChange", Info;
    /// Remote control was allowed but is not enabled for the account.
    RCDisabled = 16, "EventRCDisabled", Info;
    /// The shared device was disconnected.
    DeviceDisconnected = 17, "EventDeviceDisconnected", Info;
    /// The shared device was reconnected.
    DeviceReconnected = 18, "EventDeviceReconnected", Info;
    /// An unexpected error has occurred.
    Exception = 19, "EventException", Error;
    /// Not used with the GlanceVisitor API.
    ScreenshareInvitation = 20, "EventScreenshareInvitation", Info;
    /// The agent sent a custom message through the session.
    MessageReceived = 21, "EventMessageReceived", Info;
    /// A child session started. Properties: `sessionkey`, `sessiontype`, `timestamp`, `username`.
    ChildSessionStarted = 22, "EventChildSessionStarted", Info;
    /// A child session ended. Property: `sessiontype`.
    ChildSessionEnded = 23, "EventChildSessionEnded", Info;
    /// An invitation to a child session could not be followed.
    JoinChildSessionFailed = 24, "EventJoinChildSessionFailed", Info;
    /// Connected (or reconnected) to the presence service.
    PresenceConnected = 25, "EventPresenceConnected", Info;
    /// The presence connection dropped; the SDK reconnects. Property: `reason`.
    PresenceConnectFail = 26, "EventPresenceConnectFail", Warning;
    /// The agent asks to show the terms. Properties: `sessionkey`, `onetermsurl`.
    PresenceShowTerms = 27, "EventPresenceShowTerms", Info;
    /// A custom signal from the agent.
    PresenceSignal = 28, "EventPresenceSignal", Info;
    /// Another connection of this visitor took the focus.
    PresenceBlur = 29, "EventPresenceBlur", Info;
    /// A signal could not be sent: the presence connection is down.
    PresenceSendFail = 30, "EventPresenceSendFail", Warning;
    /// Presence is disabled or not configured for the group.
    PresenceNotConfigured = 31, "EventPresenceNotConfigured", Warning;
    /// Disconnected from the presence service.
    PresenceDisconnected = 32, "EventPresenceDisconnected", Info;
    /// The shared application has no visible window (or its windows cannot be listed):
    /// agents see a flat fill, never another application (beyond the seeds).
    ApplicationHidden = 33, "EventApplicationHidden", Warning;
}

/// One event: a code, a human-readable message and the seed's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub code: EventCode,
    pub message: String,
    pub properties: Vec<(String, String)>,
}

impl Event {
    pub fn new(code: EventCode, message: impl Into<String>) -> Event {
        Event {
            code,
            message: message.into(),
            properties: Vec::new(),
        }
    }

    /// Adds a property (builder style).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Event {
        self.properties.push((name.to_string(), value.into()));
        self
    }

    pub fn event_type(&self) -> EventType {
        self.code.event_type()
    }

    /// The value of property `name`, if present.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_types_and_numbers() {
        assert_eq!(
            EventCode::ConnectedToSession.name(),
            "EventConnectedToSession"
        );
        assert_eq!(EventCode::InvalidState.event_type(), EventType::Assert);
        assert_eq!(
            EventCode::ConnectionWarning.event_type(),
            EventType::Warning
        );
        assert_eq!(EventCode::StartSessionFailed.event_type(), EventType::Error);
        for (i, c) in EventCode::ALL.iter().enumerate() {
            assert_eq!(*c as i32, i as i32 + 1);
            assert_eq!(EventCode::from_i32(*c as i32), Some(*c));
        }
        assert_eq!(EventCode::from_i32(0), None);
        let e = Event::new(EventCode::SessionEnded, "x").with("reason", "SessionEndTimedout");
        assert_eq!(e.property("reason"), Some("SessionEndTimedout"));
        assert_eq!(e.property("nope"), None);
    }
}
