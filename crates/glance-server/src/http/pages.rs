//! The agent viewer page (`/agent`, with the group and, on a development server, the
//! development token injected), its script (`/agent/viewer.js`), and the Browser Agent API
//! for CRM pages (`/agent/agent.js`, docs/AGENT.md). The assets are compiled in.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{AppState, PeerAddr};

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

/// In a cluster, `/agent?key=KEY` of a session held by another instance is redirected (307)
/// to that instance's `/agent` with the same query (the fragment, where credentials travel,
/// is kept by the browser). Each such directory lookup spends the address's lookup budget
/// when the key is nowhere, like a failed join.
async fn owner_redirect(st: &AppState, peer: PeerAddr, query: &str) -> Option<Response> {
    let c = st.cluster.as_ref()?;
    let mut key = None;
    let mut group = st.registry.dev_group().id;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("key", v)) => key = Some(v.trim()),
            Some(("group", v)) => group = v.parse().ok()?,
            _ => {}
        }
    }
    let key = key.filter(|k| glance_protocol::control::validate_key(k).is_ok())?;
    // The page is public: its lookups are counted against the address alone.
    let subject = format!("page:{}", peer.ip());
    if st.registry.find(group, key).is_some() || !st.auth.may_look_up(&subject, &peer.ip()) {
        return None;
    }
    match c.owner(group, key).await {
        Ok(crate::cluster::Owner::Other(i)) => {
            log::info!(
                "viewer for {group}/{key}: sent to instance {}, which holds it",
                i.name
            );
            let to = format!("{}/agent?{query}", i.session_url);
            Some(
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [
                        (header::LOCATION, to),
                        (header::CACHE_CONTROL, "no-store".into()),
                    ],
                )
                    .into_response(),
            )
        }
        Ok(_) => {
            st.auth.missed(&subject, &peer.ip());
            None
        }
        Err(e) => {
            log::warn!("viewer for {group}/{key}: {e}");
            None
        }
    }
}

pub async fn agent_page(
    State(st): State<Arc<AppState>>,
    Extension(peer): Extension<PeerAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(q) = &query {
        if let Some(r) = owner_redirect(&st, peer, q).await {
            return r;
        }
    }
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
