//! The relay: the registry of live sessions, each session's routing of frame updates to its
//! agents, the bounded per-peer send queues, and the visitor-side protocol logic shared by
//! every visitor transport.

pub mod agent_queue;
pub mod registry;
pub mod session;
pub mod visitor;

pub use agent_queue::{Outgoing, PushOutcome, QueueStats, SendQueue};
pub use registry::Registry;
pub use session::{AgentStats, SessionStats};
