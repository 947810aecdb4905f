//! glance-protocol: the wire contract between the visitor SDK, glance-server and agents.
//!
//! It owns the message types ([`Control`]), custom agent messages ([`agent_message`]), the framing of the direct TLS stream
//! ([`framing`]), the binary frame-update format and its reference codec ([`update`]), cursor
//! shapes ([`cursor`]), the JPEG rect check and decoder ([`jpeg`]), the session-end reasons and agent status codes ([`status`]) and every
//! size limit ([`limits`]).
//! It does no I/O: transports live in glance-visitor and glance-server. docs/PROTOCOL.md
//! describes the same bytes for JavaScript.

pub mod agent_message;
pub mod control;
pub mod cursor;
pub mod framing;
pub mod jpeg;
pub mod limits;
pub mod presence;
pub mod status;
pub mod update;
pub mod version;

pub use control::{
    AgentInfo, Control, DisplayInfo, InputEvent, Role, StartFailReason, StartSession,
};
pub use cursor::{CursorError, CursorShape};
pub use framing::{Kind, Message};
pub use status::{AgentStatus, EndReason};
pub use update::{Encoding, FrameUpdate, Framebuffer, Rect, RectEncoder, UpdateError};

/// The protocol versions this build speaks. Peers announce a range in `hello`; the server
/// picks the highest version both sides speak or closes with `error{code:"version"}`.
pub const PROTOCOL_VERSION_MIN: u32 = 1;
/// See [`PROTOCOL_VERSION_MIN`].
pub const PROTOCOL_VERSION_MAX: u32 = 1;

/// Picks the highest version inside both ranges.
pub fn negotiate_version(peer_min: u32, peer_max: u32) -> Option<u32> {
    let hi = peer_max.min(PROTOCOL_VERSION_MAX);
    let lo = peer_min.max(PROTOCOL_VERSION_MIN);
    (lo <= hi).then_some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_highest_common_version() {
        assert_eq!(negotiate_version(1, 9), Some(PROTOCOL_VERSION_MAX));
        assert_eq!(negotiate_version(1, 1), Some(1));
        assert_eq!(negotiate_version(PROTOCOL_VERSION_MAX + 1, 99), None);
        assert_eq!(negotiate_version(0, 0), None);
    }
}
