//! The agent viewer page (`/agent`, with the group and, on a development server, the
//! development token injected), its script (`/agent/viewer.js`), and the Browser Agent API
//! for CRM pages (`/agent/agent.js`, docs/AGENT.md). The assets are compiled in.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;

const VIEWER_HTML: &str = include_str!("../../assets/viewer.html");
const VIEWER_JS: &str = include_str!("../../assets/viewer.js");
/// GLANCE.Agent (seed 001) followed by GLANCE.Presence.Agent and GLANCE.Authorization (seed 003).
const AGENT_JS: &str = concat!(
    include_str!("../../assets/agent.js"),
    "\n",
    include_str!("../../assets/presence_agent.js")
);

/// Placeholder in viewer.html replaced by the development agent token.
pub const TOKEN_PLACEHOLDER: &str = "__GLANCE_DEV_TOKEN__";
/// Placeholder in viewer.html replaced by the development group id.
pub const GROUP_PLACEHOLDER: &str = "__GLANCE_GROUP_ID__";

pub async fn agent_page(State(st): State<Arc<AppState>>) -> Response {
    // Only a development server (no config file) hands its all-groups token to the page.
    let token = if st.dev_mode {
        st.registry.dev_token()
    } else {
        ""
    };
    let html = VIEWER_HTML
        .replace(TOKEN_PLACEHOLDER, token)
        .replace(GROUP_PLACEHOLDER, &st.registry.dev_group().id.to_string());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

pub async fn viewer_js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        VIEWER_JS,
    )
        .into_response()
}

/// `GLANCE.Agent` for CRM pages of any origin (`<script src="https://HOST/agent/agent.js">`).
/// Public and secret-free, so any page may also fetch it (subresource integrity).
pub async fn agent_js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        AGENT_JS,
    )
        .into_response()
}
