//! HTTPS: the axum router (discovery, agent WebSocket, visitor tunnel, viewer page, health) served over a
//! manual tokio-rustls accept loop with hyper-util (HTTP/1.1 with upgrades).

pub mod agent_api;
pub mod agent_ws;
pub mod pages;
pub mod visitor_config;
pub mod visitor_ws;
pub mod ws_queue;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::auth::AuthService;
use crate::config::Timing;
use crate::presence;
use crate::relay::Registry;

/// What every handler needs.
#[derive(Debug)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// Public host name used in URLs.
    pub host: String,
    pub https_port: u16,
    pub direct_port: u16,
    /// Overrides the direct address announced to visitors.
    pub advertise_direct: Option<String>,
    /// Overrides the HOST:PORT of the tunnel URL announced to visitors.
    pub advertise_tunnel: Option<String>,
    pub timing: Timing,
    pub shutdown: watch::Receiver<bool>,
    /// One permit per open agent WebSocket ([`MAX_AGENT_CONNECTIONS`]).
    pub agent_slots: Arc<Semaphore>,
    pub auth: Arc<AuthService>,
    /// `https://host:port` of this server: its own pages may always call it.
    pub own_origin: String,
    /// Started without a config file: the /agent page carries the development token.
    pub dev_mode: bool,
    pub presence: Arc<crate::presence::hub::PresenceHub>,
    /// How long one HTTP request may take, body included (`limits.request_timeout_secs`).
    pub request_timeout: std::time::Duration,
    /// The engine shared with other instances (`--cluster`), if any.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// The remote address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl PeerAddr {
    /// The source IP as text (the throttle key).
    pub fn ip(&self) -> String {
        self.0.ip().to_string()
    }
}

/// Agent WebSockets open at once; more are answered 503.
pub const MAX_AGENT_CONNECTIONS: usize = 4096;

/// A JSON error body `{"error": message}`.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// The router of every HTTPS endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/visitor/config", get(visitor_config::handler))
        .route("/ws/agent", get(agent_ws::handler))
        .route("/agent", get(pages::agent_page))
        .route("/agent/", get(pages::agent_page))
        .route("/agent/viewer.js", get(pages::viewer_js))
        .route("/agent/agent.js", get(pages::agent_js))
        .route(
            "/api/auth/token",
            post(agent_api::token).options(agent_api::preflight),
        )
        .route(
            "/api/agent/lookup",
            get(agent_api::lookup).options(agent_api::preflight),
        )
        .route("/ws/visitor", get(visitor_ws::handler))
        .route("/ws/presence", get(presence::visitor_ws::handler))
        .route("/ws/presence/agent", get(presence::agent_ws::handler))
        .route(
            "/lookupvisitor",
            get(presence::rest::lookup_visitor).options(agent_api::preflight),
        )
        .route(
            "/findvisitor",
            get(presence::rest::find_visitor).options(agent_api::preflight),
        )
        .route(
            "/signalvisitor",
            post(presence::rest::signal_visitor).options(agent_api::preflight),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not found") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        .with_state(state)
}

/// Every request is answered within the request timeout, reading its body included: a body
/// trickled in slowly is cut like a slow header (408, and the connection closes). WebSocket
/// upgrades answer at once; the socket's own deadlines govern it afterwards.
async fn request_deadline(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(st.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut r = json_error(
                StatusCode::REQUEST_TIMEOUT,
                "the request was not received in time",
            );
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            r
        }
    }
}

/// Accepts HTTPS connections until `shutdown` turns true.
pub async fn run_listener(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    timing: Timing,
    budget: Arc<crate::guard::conn::ConnBudget>,
    shutdown: watch::Receiver<bool>,
) {
    crate::listener::accept_tls(
        "https",
        listener,
        acceptor,
        timing.handshake_timeout,
        budget,
        shutdown,
        move |tls, peer, _deadline| {
            let service =
                TowerToHyperService::new(router.clone().layer(axum::Extension(PeerAddr(peer))));
            async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(timing.handshake_timeout)
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    log::debug!("https: connection with {peer}: {e}");
                }
            }
        },
    )
    .await
}
