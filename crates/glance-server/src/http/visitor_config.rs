//! `GET /api/visitor/config?groupid=N`: where a visitor of group N connects (direct address,
//! tunnel URL) and which protocol versions the server speaks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use glance_protocol::{PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};

use super::{json_error, AppState};
use crate::config::host_port;
use crate::relay::visitor::server_name;

pub async fn handler(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(raw) = q.get("groupid") else {
        return json_error(StatusCode::BAD_REQUEST, "missing groupid");
    };
    let Ok(id) = raw.trim().parse::<u32>() else {
        return json_error(StatusCode::BAD_REQUEST, format!("bad groupid {raw:?}"));
    };
    let Some(group) = st.registry.group(id) else {
        return json_error(StatusCode::NOT_FOUND, format!("unknown group {id}"));
    };
    Json(serde_json::json!({
        "direct": st
            .advertise_direct
            .clone()
            .unwrap_or_else(|| host_port(&st.host, st.direct_port)),
        "tunnel": format!(
            "wss://{}/ws/visitor",
            st.advertise_tunnel
                .clone()
                .unwrap_or_else(|| host_port(&st.host, st.https_port))
        ),
        "min_version": PROTOCOL_VERSION_MIN,
        "max_version": PROTOCOL_VERSION_MAX,
        "server": server_name(),
        "terms_url": group.terms_url,
    }))
    .into_response()
}
