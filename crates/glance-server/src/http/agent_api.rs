//! The agent REST API that `agent.js` calls from a CRM page (docs/AUTH.md, docs/AGENT.md):
//! `POST /api/auth/token` (login key -> authorization token), `GET /api/agent/lookup`
//! (session key -> `agentjoinurl` with a join ticket), and their CORS preflights. Pages of
//! other origins get answers only when the group whitelists their origin.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use glance_protocol::control::validate_key;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{AppState, PeerAddr};
use crate::auth::{username, Refused, TokenRequest, MAX_TOKEN_MINUTES};
use crate::config::{host_port, GroupConfig};

/// Largest token request body.
const MAX_TOKEN_BODY: usize = 8 * 1024;

/// The request's `Origin` header, if a browser sent a readable one.
pub(crate) fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// A JSON answer, with the CORS header when the origin may read it.
pub(crate) fn reply(status: StatusCode, body: Value, allow: Option<&str>) -> Response {
    let mut r = (status, Json(body)).into_response();
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = allow.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    r
}

pub(crate) fn error(status: StatusCode, message: &str, allow: Option<&str>) -> Response {
    reply(status, json!({ "error": message }), allow)
}

/// A page of an origin the group does not whitelist: 403, without CORS headers.
pub(crate) struct OriginRefused;

impl IntoResponse for OriginRefused {
    fn into_response(self) -> Response {
        error(StatusCode::FORBIDDEN, "origin not allowed", None)
    }
}

/// The origin to echo in `Access-Control-Allow-Origin`, or why not. No `Origin` header (a
/// server-side caller): allowed, nothing to echo.
pub(crate) fn check_origin<'a>(
    st: &AppState,
    headers: &'a HeaderMap,
    group: Option<&GroupConfig>,
) -> Result<Option<&'a str>, OriginRefused> {
    let Some(origin) = origin_of(headers) else {
        return Ok(None);
    };
    if origin == st.own_origin || group.is_some_and(|g| g.allows_origin(origin)) {
        Ok(Some(origin))
    } else {
        log::info!(
            "agent API: origin {} refused",
            crate::guard::logsafe::redact(origin)
        );
        Err(OriginRefused)
    }
}

/// `OPTIONS` on the API: allowed when some group whitelists the origin.
pub async fn preflight(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let origin = origin_of(&headers).unwrap_or_default();
    if origin != st.own_origin && !st.auth.any_group_allows(origin) {
        return error(StatusCode::FORBIDDEN, "origin not allowed", None);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// A number, or a string of digits (seed 003 shows partner ids both ways).
fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) if !s.is_empty() && s.len() <= 10 => s.parse().ok(),
        _ => None,
    }
}

fn parse_token_request(body: &[u8]) -> Result<TokenRequest, &'static str> {
    if body.len() > MAX_TOKEN_BODY {
        return Err("request body too large");
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| "the body must be a JSON object")?;
    let partner_id = v
        .get("partnerid")
        .and_then(as_u32)
        .ok_or("partnerid must be a group id")?;
    let text = |name: &'static str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let partner_user_id = text("partneruserid").ok_or("partneruserid must be a string")?;
    let login_key = text("loginkey").ok_or("loginkey must be a string")?;
    let duration_minutes = match v.get("duration") {
        None | Some(Value::Null) => MAX_TOKEN_MINUTES,
        Some(d) => match as_u32(d) {
            Some(m) if (1..=MAX_TOKEN_MINUTES).contains(&u64::from(m)) => u64::from(m),
            _ => return Err("duration must be 1 to 120 minutes"),
        },
    };
    Ok(TokenRequest {
        partner_id,
        partner_user_id,
        login_key,
        duration_minutes,
    })
}

/// `POST /api/auth/token`.
pub async fn token(
    State(st): State<Arc<AppState>>,
    Extension(peer): Extension<PeerAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match parse_token_request(&body) {
        Ok(r) => r,
        Err(m) => {
            let allow =
                origin_of(&headers).filter(|o| st.auth.any_group_allows(o) || *o == st.own_origin);
            return error(StatusCode::BAD_REQUEST, m, allow);
        }
    };
    let allow = match check_origin(&st, &headers, st.auth.group(req.partner_id).map(|g| &**g)) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match st.auth.issue(&req, &peer.ip()) {
        Ok(issued) => {
            let c = &issued.claims;
            log::info!(
                "agent API: token issued to {}/{} ({})",
                c.grp,
                c.sub,
                c.role
            );
            reply(
                StatusCode::OK,
                json!({
                    "token": issued.token,
                    "expires": c.exp,
                    "groupid": c.grp,
                    "partnerid": c.pid,
                    "partneruserid": c.sub,
                    "username": username(c),
                    "role": c.role,
                    "remoteAssist": c.ra,
                }),
                allow,
            )
        }
        Err(Refused::Throttled) => error(StatusCode::TOO_MANY_REQUESTS, "too many requests", allow),
        Err(e) => {
            log::info!(
                "agent API: token refused from {}: {}",
                peer.0,
                crate::guard::logsafe::redact(&e.to_string())
            );
            error(StatusCode::UNAUTHORIZED, "unauthorized", allow)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    key: String,
}

/// `GET /api/agent/lookup?key=K` with `Authorization: Bearer <token>`.
pub async fn lookup(
    State(st): State<Arc<AppState>>,
    Extension(peer): Extension<PeerAddr>,
    headers: HeaderMap,
    query: Result<Query<LookupQuery>, QueryRejection>,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let claims = st.auth.verify_agent(bearer.trim());
    let group = claims.as_ref().ok().and_then(|c| st.auth.group(c.grp));
    let allow = match check_origin(&st, &headers, group.map(|g| &**g)) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let claims = match claims {
        Ok(c) if st.auth.may_view(&c) => c,
        Ok(c) => {
            log::info!("agent API: {}/{} may not view sessions", c.grp, c.sub);
            return error(StatusCode::UNAUTHORIZED, "unauthorized", allow);
        }
        Err(e) => {
            log::info!(
                "agent API: lookup refused from {}: {}",
                peer.0,
                crate::guard::logsafe::redact(&e.to_string())
            );
            return error(StatusCode::UNAUTHORIZED, "unauthorized", allow);
        }
    };
    let key = query.map(|q| q.0.key).unwrap_or_default();
    if let Err(m) = validate_key(&key) {
        return error(StatusCode::BAD_REQUEST, &format!("the key {m}"), allow);
    }
    let subject = format!("{}/{}", claims.grp, claims.sub);
    let ip = peer.ip();
    if !st.auth.may_look_up(&subject, &ip) {
        return error(StatusCode::TOO_MANY_REQUESTS, "too many requests", allow);
    }
    match st.registry.find(claims.grp, &key) {
        Some(_) => {
            let url = format!(
                "https://{}/agent?key={key}&group={}#ticket={}",
                host_port(&st.host, st.https_port),
                claims.grp,
                st.auth.ticket(&claims, &key)
            );
            reply(
                StatusCode::OK,
                json!({ "found": true, "ssnkey": key, "groupid": claims.grp, "agentjoinurl": url }),
                allow,
            )
        }
        None => {
            st.auth.missed(&subject, &ip);
            reply(StatusCode::OK, json!({ "found": false }), allow)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_parsing() {
        let r = parse_token_request(br#"{"partnerid":"7","partneruserid":"a","loginkey":"k"}"#)
            .unwrap();
        assert_eq!((r.partner_id, r.duration_minutes), (7, 120));
        let r = parse_token_request(
            br#"{"partnerid":7,"partneruserid":"a","loginkey":"k","duration":5}"#,
        )
        .unwrap();
        assert_eq!(r.duration_minutes, 5);
        for bad in [
            &br#"{"partnerid":-1,"partneruserid":"a","loginkey":"k"}"#[..],
            br#"{"partnerid":7,"loginkey":"k"}"#,
            br#"{"partnerid":7,"partneruserid":"a","loginkey":"k","duration":121}"#,
            br#"{"partnerid":7,"partneruserid":"a","loginkey":"k","duration":0}"#,
            br#"[1,2]"#,
            b"not json",
        ] {
            assert!(
                parse_token_request(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_token_request(&vec![b' '; MAX_TOKEN_BODY + 1]).is_err());
    }
}
