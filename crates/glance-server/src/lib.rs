//! glance-server: the relay between a visitor sharing its screen and the agents watching it.
//!
//! [`Server::start`] binds an HTTPS listener (visitor discovery, the agents' WebSocket, the
//! viewer page) and a direct TLS listener for visitors, both with certificates from a
//! development CA kept in the state directory. Sessions, routing and back-pressure live in
//! [`relay`]; the wire format is `glance-protocol`'s, described in docs/PROTOCOL.md.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod direct;
pub mod error;
pub mod guard;
pub mod http;
pub mod listener;
pub mod presence;
pub mod ready;
pub mod relay;
pub mod server;
pub mod state;
pub mod tls;

pub use config::{Cli, Config, GroupConfig, ServerOptions, Timing};
pub use error::ServerError;
pub use ready::ReadyInfo;
pub use relay::{AgentStats, QueueStats, SessionStats};
pub use server::{Server, ServerStats};

/// Milliseconds since the Unix epoch (the `t` of pings).
pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
