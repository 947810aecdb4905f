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
    let name = st.cluster.as_ref().map(|c| c.name().to_string());
    location_of(&st.host, st.https_port, st.direct_port, name.as_deref())
}

/// The seed's location fields for an instance, plus its cluster name (`instance`).
fn location_of(host: &str, https_port: u16, direct_port: u16, instance: Option<&str>) -> Value {
    let mut v = json!({
        "ds": format!("{host}/0"),
        "direct": crate::config::host_port(host, https_port),
        "directserver": host,
        "tlsport": direct_port,
        "httpsport": https_port,
    });
    if let (Some(o), Some(i)) = (v.as_object_mut(), instance) {
        o.insert("instance".into(), json!(i));
    }
    v
}

/// The visitor as another instance of the cluster holds it: `Ok(None)` when no instance
/// does (or there is no cluster), `Err` (503) when the engine is unreachable.
async fn remote(
    st: &AppState,
    key: &VisitorKey,
    allow: Option<&str>,
) -> Result<Option<(crate::cluster::VisitorEntry, crate::cluster::InstanceInfo)>, Box<Response>> {
    let Some(c) = &st.cluster else {
        return Ok(None);
    };
    c.find_visitor(key).await.map_err(|e| {
        log::warn!("presence directory: {e}");
        Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "directoryunavailable",
            allow,
        ))
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
        None => match remote(&st, &(group, id.clone()), allow.as_deref()).await {
            Ok(Some((e, i))) => {
                let mut v = location_of(&i.host, i.https_port, i.direct_port, Some(&i.name));
                let ts = format!("{}.0", e.since);
                if let Some(o) = v.as_object_mut() {
                    o.insert("visitorpresent".into(), json!(ts));
                    o.insert("timestamp".into(), json!(ts));
                    o.insert("visitorid".into(), json!(id));
                    o.insert("groupid".into(), json!(group.to_string()));
                    o.insert("presence".into(), e.presence.unwrap_or_else(|| json!({})));
                    if let Some(c) = e.confirmed {
                        o.insert("confirmed".into(), json!(c));
                    }
                }
                reply(StatusCode::OK, v, allow.as_deref())
            }
            Ok(None) => error(StatusCode::NOT_FOUND, "visitornotfound", allow.as_deref()),
            Err(r) => *r,
        },
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
        match remote(&st, &key, allow.as_deref()).await {
            Ok(Some((_, i))) => {
                let mut v = location_of(&i.host, i.https_port, i.direct_port, Some(&i.name));
                if let Some(o) = v.as_object_mut() {
                    o.insert("visitorfound".into(), json!(true));
                }
                v
            }
            Ok(None) => json!({ "visitorfound": false }),
            Err(r) => return *r,
        }
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
    // A visitor held by another instance: the signal goes there through the engine.
    if st.presence.lookup(&key).is_none() {
        match remote(&st, &key, a).await {
            Ok(Some((e, _))) => return forward(&st, &e.instance, &key, &m, a).await,
            Ok(None) => {}
            Err(r) => return *r,
        }
    }
    let message = match signal_message(&m, a) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return match st.presence.start_confirm(&key) {
                Ok(code) => reply(
                    StatusCode::OK,
                    json!({ "result": "delivered", "code": code }),
                    a,
                ),
                Err(_) => error(StatusCode::NOT_FOUND, "visitornotconnected", a),
            }
        }
        Err(r) => return *r,
    };
    match st.presence.signal(&key, message.to_string()) {
        Ok(Delivery::Delivered) => reply(StatusCode::OK, json!({ "result": "delivered" }), a),
        Ok(Delivery::Queued) => reply(StatusCode::OK, json!({ "result": "queued" }), a),
        Err(SignalError::Unconfirmed) => error(StatusCode::FORBIDDEN, "unconfirmed", a),
        Err(SignalError::NotConnected) => error(StatusCode::NOT_FOUND, "visitornotconnected", a),
    }
}

/// The message a `/signalvisitor` body asks for (`Ok(None)`: a confirmation), or the error
/// answer.
fn signal_message(m: &Value, a: Option<&str>) -> Result<Option<Value>, Box<Response>> {
    let data = m.get("data").cloned().unwrap_or(Value::Null);
    match m.get("mtype").and_then(Value::as_str) {
        Some("invoke") => {
            let Some(func) = data.get("func").and_then(Value::as_str) else {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    "invoke needs data.func",
                    a,
                )));
            };
            if func.len() > 128 {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    "data.func is too long",
                    a,
                )));
            }
            let args = data.get("args").cloned().unwrap_or_else(|| json!({}));
            Ok(Some(
                json!({ "type": "invoke", "func": func, "args": args }),
            ))
        }
        Some("signal") => Ok(Some(json!({ "type": "signal", "data": data }))),
        Some("confirm") => Ok(None),
        _ => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "mtype must be invoke, signal or confirm",
            a,
        ))),
    }
}

/// Forwards a `/signalvisitor` to `instance`, which holds the visitor, and answers as it did.
async fn forward(
    st: &AppState,
    instance: &str,
    key: &VisitorKey,
    m: &Value,
    a: Option<&str>,
) -> Response {
    use crate::cluster::Forwarded;
    let message = match signal_message(m, a) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(c) = &st.cluster else {
        return error(StatusCode::NOT_FOUND, "visitornotconnected", a);
    };
    match c
        .forward_signal(instance, key, message.map(|v| v.to_string()))
        .await
    {
        Ok(Forwarded::Delivered) => reply(StatusCode::OK, json!({ "result": "delivered" }), a),
        Ok(Forwarded::Queued) => reply(StatusCode::OK, json!({ "result": "queued" }), a),
        Ok(Forwarded::Confirm(code)) => reply(
            StatusCode::OK,
            json!({ "result": "delivered", "code": code }),
            a,
        ),
        Ok(Forwarded::Unconfirmed) => error(StatusCode::FORBIDDEN, "unconfirmed", a),
        Ok(Forwarded::NotConnected) => error(StatusCode::NOT_FOUND, "visitornotconnected", a),
        Err(e) => {
            log::warn!("signal to instance {instance}: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, "directoryunavailable", a)
        }
    }
}
