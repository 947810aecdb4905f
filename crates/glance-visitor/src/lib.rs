//! glance-visitor: the Glance visitor SDK core in Rust.
//!
//! [`GlanceVisitor`] is seed 000's API: init, StartSession in its three forms, EndSession,
//! Pause, GetSessionInfo and the displays; outcomes arrive as [`Event`]s on the SDK's event
//! thread. Modules: [`params`] (StartParams, DisplayParams, SessionInfo and their rules),
//! [`events`] (the event catalog), [`capture`] (displays and capture backends), [`pipeline`]
//! (diff and encode on the capture thread), [`transport`] (TLS, discovery, framing) and the
//! session task.

/// The platform seam (crate `glance-platform`): displays, capture backends, the pointer.
pub use glance_platform as capture;
mod default_ui;
pub mod events;
mod masking;
pub mod params;
pub mod pipeline;
pub mod presence;
mod session;
pub mod shown;
pub mod transport;
mod visitor;

pub use capture::{DisplayDesc, DisplayKind, DisplaySource, SyntheticDisplay};
pub use events::{Event, EventCode, EventType};
pub use params::{
    DisplayParams, SessionInfo, StartParams, VisitorConfig, DEFAULT_SERVICE_URL,
    GLANCE_KEYTYPE_RANDOM,
};
pub use visitor::{CallError, GlanceVisitor};
