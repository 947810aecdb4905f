//! The C structs and enums of the API: configuration, StartParams, DisplayParams,
//! SessionInfo, event codes and types, display types.

use std::ffi::c_char;

/// Pass as the session key to have the service choose a random digits-only key.
pub const GLANCE_KEYTYPE_RANDOM: &str = "GLANCE_KEYTYPE_RANDOM";

/// init's configuration (seed 000 init; seed 002 init with a visitor id).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GlanceVisitorConfig {
    pub group_id: i32,
    /// NULL or "" when unknown.
    pub token: *const c_char,
    pub name: *const c_char,
    pub email: *const c_char,
    pub phone: *const c_char,
    /// NULL or "": no visitor id (before login).
    pub visitor_id: *const c_char,
    /// NULL: the default service.
    pub service_url: *const c_char,
    /// NULL: system roots only; else an extra PEM trust anchor.
    pub ca_cert_path: *const c_char,
}

/// DisplayParams: what to show.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GlanceDisplayParams {
    /// NULL, "" or "main": the primary monitor; else a name from glance_visitor_get_display_name.
    pub display_name: *const c_char,
    /// 1.0: full resolution.
    pub scale: f32,
    pub capture_width: i32,
    pub capture_height: i32,
    pub video: bool,
    /// NULL or "": no application.
    pub application: *const c_char,
}

/// StartParams; fill with glance_start_params_init first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GlanceStartParams {
    /// The parent session's call id for a child session; 0 for a main session.
    pub main_call_id: i64,
    /// 0: no limit beyond the group's.
    pub max_guests: i32,
    /// NULL or "": the visitor id when init had one, else random; GLANCE_KEYTYPE_RANDOM:
    /// random; else that key.
    pub key: *const c_char,
    pub display_params: GlanceDisplayParams,
    pub force_tunnel: bool,
    pub report_errors: bool,
    pub persist: bool,
    pub paused: bool,
    pub presence_start: bool,
}

/// Longest session key plus its NUL.
pub const GLANCE_KEY_CAPACITY: usize = 64;
/// Capacity of the other text fields of GlanceSessionInfo, with the NUL.
pub const GLANCE_TEXT_CAPACITY: usize = 256;

/// GetSessionInfo: every field of seed 000's table. Strings are NUL-terminated in place;
/// nothing to free.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GlanceSessionInfo {
    /// 0 when no session runs.
    pub call_id: i64,
    pub n_guests: i32,
    pub glance_address: [c_char; GLANCE_TEXT_CAPACITY],
    pub key: [c_char; GLANCE_KEY_CAPACITY],
    pub host_name: [c_char; GLANCE_TEXT_CAPACITY],
    pub rc_requested: bool,
    pub is_guest: bool,
    pub is_reverse: bool,
    pub rc_enabled: bool,
    pub sb_enabled: bool,
    pub gestures_enabled: bool,
    pub is_paused: bool,
    pub is_connected: bool,
    pub is_showing: bool,
    pub is_viewing: bool,
    pub display_name: [c_char; GLANCE_TEXT_CAPACITY],
}

/// The seed's event types.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlanceEventType {
    EventTypeAssert = 0,
    EventTypeInfo = 1,
    EventTypeWarning = 2,
    EventTypeError = 3,
}

/// The seed's display types. GLANCE_DISPLAY_NONE answers an invalid index.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlanceDisplayType {
    GLANCE_DISPLAY_NONE = -1,
    GLANCE_DISPLAY_MONITOR = 0,
    GLANCE_DISPLAY_DEVICE = 1,
}

/// Every event code, with the seed's names (seeds 000 and 004).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlanceEventCode {
    EventNone = 0,
    EventInvalidParameter = 1,
    EventInvalidState = 2,
    EventVisitorInitialized = 3,
    EventPrivilegeViolation = 4,
    EventUpgradeAvailable = 5,
    EventUpgradeRequired = 6,
    EventCompositionDisabled = 7,
    EventConnectedToSession = 8,
    EventSwitchingToView = 9,
    EventStartSessionFailed = 10,
    EventSessionEnded = 11,
    EventTunneling = 12,
    EventConnectionWarning = 13,
    EventClearWarning = 14,
    EventGuestCountChange = 15,
    EventRCDisabled = 16,
    EventDeviceDisconnected = 17,
    EventDeviceReconnected = 18,
    EventException = 19,
    EventScreenshareInvitation = 20,
    EventMessageReceived = 21,
    EventChildSessionStarted = 22,
    EventChildSessionEnded = 23,
    EventJoinChildSessionFailed = 24,
    EventPresenceConnected = 25,
    EventPresenceConnectFail = 26,
    EventPresenceShowTerms = 27,
    EventPresenceSignal = 28,
    EventPresenceBlur = 29,
    EventPresenceSendFail = 30,
    EventPresenceNotConfigured = 31,
    EventPresenceDisconnected = 32,
    /// The shared application has no visible window: agents see a flat fill.
    EventApplicationHidden = 33,
}

impl GlanceEventCode {
    /// The C code for a Rust event code (numbers are shared).
    pub fn from_rust(c: glance_visitor::EventCode) -> GlanceEventCode {
        use glance_visitor::EventCode as E;
        use GlanceEventCode as G;
        match c {
            E::InvalidParameter => G::EventInvalidParameter,
            E::InvalidState => G::EventInvalidState,
            E::VisitorInitialized => G::EventVisitorInitialized,
            E::PrivilegeViolation => G::EventPrivilegeViolation,
            E::UpgradeAvailable => G::EventUpgradeAvailable,
            E::UpgradeRequired => G::EventUpgradeRequired,
            E::CompositionDisabled => G::EventCompositionDisabled,
            E::ConnectedToSession => G::EventConnectedToSession,
            E::SwitchingToView => G::EventSwitchingToView,
            E::StartSessionFailed => G::EventStartSessionFailed,
            E::SessionEnded => G::EventSessionEnded,
            E::Tunneling => G::EventTunneling,
            E::ConnectionWarning => G::EventConnectionWarning,
            E::ClearWarning => G::EventClearWarning,
            E::GuestCountChange => G::EventGuestCountChange,
            E::RCDisabled => G::EventRCDisabled,
            E::DeviceDisconnected => G::EventDeviceDisconnected,
            E::DeviceReconnected => G::EventDeviceReconnected,
            E::Exception => G::EventException,
            E::ScreenshareInvitation => G::EventScreenshareInvitation,
            E::MessageReceived => G::EventMessageReceived,
            E::ChildSessionStarted => G::EventChildSessionStarted,
            E::ChildSessionEnded => G::EventChildSessionEnded,
            E::JoinChildSessionFailed => G::EventJoinChildSessionFailed,
            E::PresenceConnected => G::EventPresenceConnected,
            E::PresenceConnectFail => G::EventPresenceConnectFail,
            E::PresenceShowTerms => G::EventPresenceShowTerms,
            E::PresenceSignal => G::EventPresenceSignal,
            E::PresenceBlur => G::EventPresenceBlur,
            E::PresenceSendFail => G::EventPresenceSendFail,
            E::PresenceNotConfigured => G::EventPresenceNotConfigured,
            E::PresenceDisconnected => G::EventPresenceDisconnected,
            E::ApplicationHidden => G::EventApplicationHidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_codes_share_the_rust_numbers() {
        for c in glance_visitor::EventCode::ALL {
            assert_eq!(GlanceEventCode::from_rust(*c) as i32, *c as i32);
        }
    }
}
