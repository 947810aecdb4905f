//! The ready line: the JSON object the binary prints as its first stdout line once both
//! listeners are bound, telling tests and tools where everything is.

use serde::{Deserialize, Serialize};

/// Where a running server can be reached, and the development credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyInfo {
    /// `https://HOST:PORT`: what a visitor uses as its service URL.
    pub session_url: String,
    /// `wss://HOST:PORT/ws/presence`: the presence service's visitor endpoint
    /// (docs/PRESENCE.md).
    #[serde(default)]
    pub presence_url: String,
    /// `https://HOST:PORT/agent/agent.js`: the GLANCE.Agent script for CRM pages.
    #[serde(default)]
    pub agent_js: String,
    /// `https://HOST:PORT/agent`: the viewer page, signed in as the development agent;
    /// append `?key=KEY` to join that session.
    pub agent_url: String,
    /// Absolute path of the development CA certificate (PEM); empty with an operator
    /// certificate.
    pub ca_cert: String,
    /// The development agent token, valid for every group while the process runs.
    pub agent_token: String,
    /// The development (first configured) group.
    pub group_id: u32,
    /// That group's api_key: the visitor token `start_session` may carry (an empty token is
    /// accepted unless the group sets `require_visitor_token`; any other is refused).
    pub api_key: String,
    /// The bound address of the visitors' direct TLS listener.
    pub direct_addr: String,
    /// The bound address of the HTTPS listener.
    pub https_addr: String,
    /// The server's version.
    pub version: String,
    /// This instance's name (`--instance-name`, or `HOST-PORT`): what the cluster and
    /// `/findvisitor` call it.
    #[serde(default)]
    pub instance: String,
    /// The cluster engine's URL (`--cluster`); empty when the server stands alone.
    #[serde(default)]
    pub cluster: String,
}

impl ReadyInfo {
    /// The ready line (one JSON object, no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
