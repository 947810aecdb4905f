//! Owns the server's discovery endpoint, `GET /api/visitor/config?groupid=N`, as a visitor's
//! request reaches it: the query string (any bytes, percent-encoded where a URI needs it)
//! goes through the server's real axum router and handler. Checks that the answer is always
//! JSON, that the status follows the documented rules (400 for a missing or bad groupid,
//! 404 for an unknown group, 200 with the addresses otherwise) and that a 200 names both
//! addresses and the protocol versions.
#![no_main]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{Request, StatusCode, Uri};
use glance_fuzz::runtime;
use glance_server::http::{router, AppState, MAX_AGENT_CONNECTIONS};
use glance_server::auth::AuthService;
use glance_server::presence::hub::PresenceHub;
use glance_server::relay::Registry;
use glance_server::{Config, GroupConfig, Timing};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const GROUPS: [u32; 2] = [1, 4_000_000_000];

fn app() -> axum::Router {
    let config = Config {
        groups: GROUPS
            .iter()
            .map(|&g| GroupConfig::development(g))
            .collect(),
        auth: Default::default(),
        limits: Default::default(),
        presence: Default::default(),
        cluster: Default::default(),
        sdk: Default::default(),
    };
    let registry = Arc::new(Registry::new(&config, "dev-token".into(), 1 << 20));
    let auth = Arc::new(AuthService::new(&config, registry.clone()));
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    router(Arc::new(AppState {
        registry,
        host: "127.0.0.1".into(),
        https_port: 8443,
        direct_port: 8444,
        advertise_direct: None,
        timing: Timing::default(),
        shutdown,
        agent_slots: Arc::new(tokio::sync::Semaphore::new(MAX_AGENT_CONNECTIONS)),
        auth,
        own_origin: "https://127.0.0.1:8443".into(),
        dev_mode: true,
        presence: Arc::new(PresenceHub::new()),
        advertise_tunnel: None,
        request_timeout: std::time::Duration::from_secs(10),
        cluster: None,
    }))
}

thread_local! {
    static RT: tokio::runtime::Runtime = runtime();
    static APP: axum::Router = app();
}

/// The query as a URI carries it: bytes a URI cannot hold are percent-encoded, the rest
/// (including '%', '&', '=' and '+') are left for the query parser.
fn query(data: &[u8]) -> String {
    let mut q = String::new();
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-._~%&=+!$'()*,;:@/?".contains(&b) {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    q
}

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = format!("/api/visitor/config?{}", query(data)).parse::<Uri>() else {
        return;
    };
    // The documented rules, from the same query reading the handler uses.
    let want = match Query::<HashMap<String, String>>::try_from_uri(&uri) {
        Err(_) => StatusCode::BAD_REQUEST,
        Ok(Query(q)) => match q.get("groupid").map(|g| g.trim().parse::<u32>()) {
            None | Some(Err(_)) => StatusCode::BAD_REQUEST,
            Some(Ok(g)) if GROUPS.contains(&g) => StatusCode::OK,
            Some(Ok(_)) => StatusCode::NOT_FOUND,
        },
    };
    let req = match Request::get(uri).body(Body::empty()) {
        Ok(r) => r,
        Err(e) => panic!("a parsed URI makes no request: {e}"),
    };
    let app = APP.with(|a| a.clone());
    let (status, body) = RT.with(|rt| {
        rt.block_on(async {
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            let status = resp.status();
            match axum::body::to_bytes(resp.into_body(), 1 << 16).await {
                Ok(b) => (status, b),
                Err(e) => panic!("the response body cannot be read: {e}"),
            }
        })
    });
    assert_eq!(status, want);
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => panic!("the answer is not JSON: {e}"),
    };
    if status == StatusCode::OK {
        for k in ["direct", "tunnel", "server"] {
            assert!(v.get(k).is_some_and(|s| s.is_string()), "no {k}");
        }
        for k in ["min_version", "max_version"] {
            assert!(v.get(k).is_some_and(|s| s.is_u64()), "no {k}");
        }
    } else {
        assert!(v.get("error").is_some_and(|s| s.is_string()));
    }
});
