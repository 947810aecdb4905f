//! glance-tests: test support shared by the crates of the workspace.
//!
//! - [`TestServer`]: a `glance_server::Server` in-process on 127.0.0.1 with a temporary state
//!   directory and its own runtime.
//! - [`TestAgent`]: a Rust agent over WSS that rebuilds the shared picture exactly as the
//!   browser viewer does.
//! - [`RawVisitor`]: a minimal direct-protocol visitor for server tests.
//! - [`Picture`]: pictures to share, encoded with the reference encoder.
//! - [`ThrottleProxy`]: a loopback TCP proxy limiting the uplink to a byte rate.
//! - [`FaultProxy`]: a loopback TCP proxy that drops, stalls, throttles, cuts, resets or
//!   refuses on command.

pub mod agent;
pub mod fault;
pub mod http;
pub mod jsonws;
pub mod picture;
pub mod proxy;
pub mod server;
pub mod tls;
pub mod visitor;

pub use agent::{AgentOptions, AgentState, CursorPos, FlatWatch, RectRecord, TestAgent};
pub use fault::{Fault, FaultProxy};
pub use picture::Picture;
pub use proxy::ThrottleProxy;
pub use server::{TestServer, TestServerOptions};
pub use visitor::{RawVisitor, VisitorEvent};

/// Why a test helper failed.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("WebSocket: {0}")]
    Ws(String),
    #[error("server: {0}")]
    Server(#[from] glance_server::ServerError),
    #[error("timed out after {secs:.1} s waiting for {what}; {detail}")]
    Timeout {
        what: String,
        secs: f64,
        detail: String,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("the connection is closed: {0}")]
    Closed(String),
}

/// The result type of the helpers.
pub type Result<T, E = TestError> = std::result::Result<T, E>;
