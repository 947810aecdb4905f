//! The server's error type: everything that can stop it from starting.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start (or a configuration could not be read).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration (file or options) is invalid; the message names the bad field.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Certificates or keys could not be generated, loaded or used.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The cluster engine (`--cluster`) could not be reached at start.
    #[error("cannot join the cluster: {0}")]
    Cluster(String),
}

impl ServerError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ServerError {
        ServerError::Io {
            path: path.into(),
            source,
        }
    }
}
