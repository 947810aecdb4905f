//! The presence agent REST API of seed 003 (/developer/presence/presence_rest_api):
//! `GET /lookupvisitor`, `GET /findvisitor`, `POST /signalvisitor`, each with
//! `Authorization: Bearer <token>` for the request's group, and CORS per the group's origins.
//! `/signalvisitor` also takes `mtype: confirm` (the confirmation step of seed 003
//! presence_security); signals wait for its right answer once one was asked (`unconfirmed`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::check_visitor_id;
use super::hub::{Delivery, SignalError, VisitorKey};
use crate::http::agent_api::{check_origin, error, reply};
use crate::http::AppState;

/// Largest `/signalvisitor` body.
const MAX_SIGNAL_BODY: usize = 8 * 1024;

#[derive(Debug, Deserialize)]
pub struct VisitorQuery {
    #[serde(default)]
    groupid: Option<u32>,
    #[serde(default)]
    visitorid: String,
}

/// Authorizes a request for `groupid`'s visitor `visitorid`: the key, and the origin to echo.
/// `Err` is the answer.
fn authorize(
    st: &AppState,
    headers: &HeaderMap,
    q: Result<Query<VisitorQuery>, QueryRejection>,
) -> Result<(VisitorKey, Option<String>), Box<Response>> {
    let q = q.map(|q| q.0).ok();
    let group = q.as_ref().and_then(|q| q.groupid);
    let allow = check_origin(
        st,
        headers,
        group.and_then(|g| st.auth.group(g)).map(|g| &**g),
    )
    .map_err(IntoResponse::into_response)?
    .map(str::to_string);
    let a = allow.as_deref();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let claims = st
        .auth
        .verify_agent(bearer.trim())
        .map_err(|_| Box::new(error(StatusCode::UNAUTHORIZED, "authorization", a)))?;
    let (Some(q), Some(group)) = (q, group) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "groupid and visitorid are required",
            a,
        )));
    };
    if claims.grp != group {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "authorization",
            a,
        )));
    }
    if !st.auth.group(group).is_some_and(|g| g.presence_enabled) {
        return Err(Box::new(error(StatusCode::NOT_FOUND, "notconfigured", a)));
    }
    if let Err(code) = check_visitor_id(&q.visitorid) {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, code, a)));
    }
    Ok(((group, q.visitorid), allow))
}

fn location(st: &AppState) -> Value {
    let host = &st.host;
    json!({
        "ds": format!("{host}/0"),
        "direct": crate::config::host_port(host, st.https_port),
        "directserver": host,
        "tlsport": st.direct_port,
        "httpsport": st.https_port,
    })
}

pub async fn lookup_visitor(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<VisitorQuery>, QueryRejection>,
) -> Response {
    let ((group, id), allow) = match authorize(&st, &headers, q) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match st.presence.lookup(&(group, id.clone())) {
        Some((since, presence, confirmed)) => {
            let mut v = location(&st);
            let ts = format!("{since}.0");
            if let Some(o) = v.as_object_mut() {
                o.insert("visitorpresent".into(), json!(ts));
                o.insert("timestamp".into(), json!(ts));
                o.insert("visitorid".into(), json!(id));
                o.insert("groupid".into(), json!(group.to_string()));
                o.insert("presence".into(), presence.unwrap_or_else(|| json!({})));
                if let Some(c) = confirmed {
                    o.insert("confirmed".into(), json!(c));
                }
            }
            reply(StatusCode::OK, v, allow.as_deref())
        }
        None => error(StatusCode::NOT_FOUND, "visitornotfound", allow.as_deref()),
    }
}

pub async fn find_visitor(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<VisitorQuery>, QueryRejection>,
) -> Response {
    let (key, allow) = match authorize(&st, &headers, q) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let body = if st.presence.lookup(&key).is_some() {
        let mut v = location(&st);
        if let Some(o) = v.as_object_mut() {
            o.insert("visitorfound".into(), json!(true));
        }
        v
    } else {
        json!({ "visitorfound": false })
    };
    reply(StatusCode::OK, body, allow.as_deref())
}

pub async fn signal_visitor(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<VisitorQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    let (key, allow) = match authorize(&st, &headers, q) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let a = allow.as_deref();
    if body.len() > MAX_SIGNAL_BODY {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "message too large", a);
    }
    let Ok(m) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body must be a JSON object", a);
    };
    let data = m.get("data").cloned().unwrap_or(Value::Null);
    let message = match m.get("mtype").and_then(Value::as_str) {
        Some("invoke") => {
            let Some(func) = data.get("func").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "invoke needs data.func", a);
            };
            if func.len() > 128 {
                return error(StatusCode::BAD_REQUEST, "data.func is too long", a);
            }
            let args = data.get("args").cloned().unwrap_or_else(|| json!({}));
            json!({ "type": "invoke", "func": func, "args": args })
        }
        Some("signal") => json!({ "type": "signal", "data": data }),
        Some("confirm") => {
            return match st.presence.start_confirm(&key) {
                Ok(code) => reply(
                    StatusCode::OK,
                    json!({ "result": "delivered", "code": code }),
                    a,
                ),
                Err(_) => error(StatusCode::NOT_FOUND, "visitornotconnected", a),
            }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "mtype must be invoke, signal or confirm",
                a,
            )
        }
    };
    match st.presence.signal(&key, message.to_string()) {
        Ok(Delivery::Delivered) => reply(StatusCode::OK, json!({ "result": "delivered" }), a),
        Ok(Delivery::Queued) => reply(StatusCode::OK, json!({ "result": "queued" }), a),
        Err(SignalError::Unconfirmed) => error(StatusCode::FORBIDDEN, "unconfirmed", a),
        Err(SignalError::NotConnected) => error(StatusCode::NOT_FOUND, "visitornotconnected", a),
    }
}
