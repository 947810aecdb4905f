//! Starting a session: discovery over HTTPS, a connection (direct TLS first, the WebSocket
//! tunnel when the direct port cannot be reached or the connection is cut before `welcome`;
//! the tunnel only with forceTunnel), version negotiation and `start_session` (or `resume`
//! on a reconnect), each step bounded in time.

use std::sync::Arc;

use glance_protocol::framing::Message;
use glance_protocol::{Control, DisplayInfo, Role, StartFailReason, StartSession};
use serde::Deserialize;

use super::SessionSpec;
use crate::capture::{CaptureError, Capturer, DisplayDesc, FrameBuf};
use crate::params::{parse_https_url, KeyChoice};
use crate::pipeline::scale::ScaleSpec;
use crate::transport::conn;
use crate::transport::link::Link;
use crate::transport::{http, tls, with_timeout, ws, TransportError};
use crate::visitor::Core;
use rustls::ClientConfig;

/// Seconds allowed for each step of starting.
const STEP_TIMEOUT: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("refused: {1}")]
    Rejected(StartFailReason, String),
    #[error("{0}")]
    Version(String),
    /// The service needs a newer SDK (EventUpgradeRequired).
    #[error("{0}")]
    UpgradeRequired(String),
    #[error("{0}")]
    NoDisplay(String),
    /// The default UI's terms confirmation was declined (true) or could not be shown.
    #[error("{1}")]
    Terms(bool, String),
}

/// A running session's connection and capture source.
pub(crate) struct Started {
    pub stream: Link,
    /// The connection is the tunnel.
    pub tunneled: bool,
    /// Where the service is (kept for reconnecting).
    pub endpoints: Endpoints,
    /// For `resume` after a drop; `None` if the service cannot resume.
    pub resume_token: Option<String>,
    pub call_id: u64,
    pub key: String,
    pub capturer: Box<dyn Capturer>,
    pub display: DisplayDesc,
    /// The display as `start_session` announced it (sent again if the session must be
    /// started again after the service lost it).
    pub shown: DisplayInfo,
}

#[derive(Debug, Deserialize)]
struct VisitorConfigReply {
    direct: String,
    tunnel: String,
    /// The group's terms and conditions page ("" when it has none).
    #[serde(default)]
    terms_url: String,
    /// The protocol versions the service speaks (0: it does not say).
    #[serde(default)]
    min_version: u32,
    #[serde(default)]
    max_version: u32,
}

/// Where the service is, from discovery.
#[derive(Clone)]
pub(crate) struct Endpoints {
    tls: Arc<ClientConfig>,
    /// The service URL's host: the name the direct port's certificate is checked against.
    host: String,
    /// The group's terms URL from discovery.
    terms_url: String,
    direct: String,
    tunnel: String,
}

#[derive(Debug, Deserialize)]
struct ErrorReply {
    error: String,
}

pub(crate) async fn start(core: &Arc<Core>, spec: &SessionSpec) -> Result<Started, StartError> {
    // The display first: no point in a session that cannot show anything.
    let display = spec.display.clone().map_err(StartError::NoDisplay)?;
    let core2 = core.clone();
    let d2 = display.clone();
    let (capturer, first) = tokio::task::spawn_blocking(move || {
        // Behind the mask stage: nothing the visitor may not share leaves the process.
        let mut c = crate::masking::open_masked(&core2, &d2)?;
        let mut f = FrameBuf::default();
        c.capture(&mut f)?;
        Ok::<_, CaptureError>((c, f))
    })
    .await
    .map_err(|e| StartError::NoDisplay(e.to_string()))?
    .map_err(|e| StartError::NoDisplay(e.to_string()))?;

    let cfg = &spec.config;
    let ep = discover(cfg).await?;
    confirm_terms(core, spec, &ep.terms_url).await?;
    let Opened {
        link: mut stream,
        sdk_latest,
        ..
    } = open(&ep, spec.params.force_tunnel).await?;
    core.upgrade_available(&sdk_latest);
    let p = &spec.params;
    let shown = {
        let (width, height) =
            ScaleSpec::from_params(&p.display_params).target(first.width, first.height);
        DisplayInfo {
            name: display.name.clone(),
            width,
            height,
        }
    };
    let key = match &spec.key {
        KeyChoice::Random => None,
        KeyChoice::Given(k) => Some(k.clone()),
    };
    let started = start_session(&mut stream, spec, key, shown.clone(), None).await?;
    Ok(Started {
        tunneled: stream.is_tunnel(),
        stream,
        resume_token: started.resume_token,
        endpoints: ep,
        call_id: started.call_id,
        key: started.key,
        capturer,
        display,
        shown,
    })
}

/// What `session_started` said.
pub(crate) struct SessionStarted {
    pub call_id: u64,
    pub key: String,
    pub resume_token: Option<String>,
}

/// Sends `start_session` for `spec` on a negotiated `link` (with `key`, the display as
/// `shown`, and `previous_call_id` when the session starts again after the service lost it)
/// and reads the answer.
pub(crate) async fn start_session(
    link: &mut Link,
    spec: &SessionSpec,
    key: Option<String>,
    shown: DisplayInfo,
    previous_call_id: Option<u64>,
) -> Result<SessionStarted, StartError> {
    let cfg = &spec.config;
    let p = &spec.params;
    link.write_control(&Control::StartSession(StartSession {
        group_id: cfg.group_id as u32,
        token: cfg.token.clone(),
        key,
        visitor_id: cfg.visitor_id().map(str::to_string),
        name: cfg.name.clone(),
        email: cfg.email.clone(),
        phone: cfg.phone.clone(),
        max_guests: p.max_guests,
        persist: p.persist,
        paused: p.paused,
        main_call_id: p.main_call_id,
        presence_start: p.presence_start,
        display: shown,
        previous_call_id,
    }))
    .await?;
    match read_known(link).await? {
        Message::Control(Control::SessionStarted {
            call_id,
            key,
            resume_token,
            ..
        }) => Ok(SessionStarted {
            call_id,
            key,
            resume_token,
        }),
        Message::Control(Control::StartFailed { reason, message }) => {
            Err(StartError::Rejected(reason, message))
        }
        other => Err(TransportError::Malformed(format!(
            "expected session_started, got {}",
            match other {
                Message::Control(c) => c.name().to_string(),
                Message::Update(_) => "a frame update".into(),
                Message::CursorShape(_) => "a cursor shape".into(),
            }
        ))
        .into()),
    }
}

/// The default UI's terms confirmation before a session the visitor starts (not one an agent
/// asked for: that dialog was shown already): only when the group has a terms URL. A
/// confirmation that cannot be shown refuses the start rather than share unconfirmed.
async fn confirm_terms(core: &Core, spec: &SessionSpec, terms_url: &str) -> Result<(), StartError> {
    if terms_url.is_empty() || spec.params.presence_start || !core.default_ui() {
        return Ok(());
    }
    crate::default_ui::available().map_err(|why| {
        StartError::Terms(
            false,
            format!(
                "the group's terms must be confirmed, but the default UI cannot be shown: {why}"
            ),
        )
    })?;
    let shared = crate::default_ui::shared_text(&spec.params.display_params);
    let text = crate::default_ui::terms_text(terms_url, false, &shared);
    let accepted =
        tokio::task::spawn_blocking(move || crate::default_ui::ask("Screen sharing", &text))
            .await
            .unwrap_or(false);
    if accepted {
        Ok(())
    } else {
        Err(StartError::Terms(
            true,
            "the visitor declined the terms".into(),
        ))
    }
}

/// Asks the service where its direct port and tunnel are.
pub(crate) async fn discover(cfg: &crate::params::VisitorConfig) -> Result<Endpoints, StartError> {
    let url = cfg.service_url();
    let (host, port, path) =
        parse_https_url(url).map_err(|m| TransportError::Malformed(format!("service URL: {m}")))?;
    let tls = tls::client_config(cfg.ca_cert_path.as_deref()).map_err(TransportError::Tls)?;
    let (status, body) = with_timeout(
        STEP_TIMEOUT,
        http::get(
            tls.clone(),
            &host,
            port,
            &format!("{path}/api/visitor/config?groupid={}", cfg.group_id),
        ),
    )
    .await?;
    if status == 404 {
        let msg = serde_json::from_slice::<ErrorReply>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("group {} is not known to the service", cfg.group_id));
        return Err(StartError::Rejected(StartFailReason::UnknownGroup, msg));
    }
    if status != 200 {
        return Err(TransportError::Http {
            status,
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        }
        .into());
    }
    let reply: VisitorConfigReply = serde_json::from_slice(&body)
        .map_err(|e| TransportError::Malformed(format!("visitor config: {e}")))?;
    check_versions(reply.min_version, reply.max_version)?;
    Ok(Endpoints {
        tls,
        host,
        direct: reply.direct,
        tunnel: reply.tunnel,
        terms_url: reply.terms_url,
    })
}

/// The service's protocol range against ours: a service that only speaks newer versions
/// needs a newer SDK (EventUpgradeRequired); one that only speaks older ones is older than
/// this SDK (EventStartSessionFailed `error=version`). 0 (a service that does not say)
/// leaves it to `hello`.
fn check_versions(min: u32, max: u32) -> Result<(), StartError> {
    use glance_protocol::{PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};
    if min > PROTOCOL_VERSION_MAX {
        return Err(StartError::UpgradeRequired(format!(
            "the Glance service speaks protocol versions {min} to {max}, this SDK {PROTOCOL_VERSION_MIN} to {PROTOCOL_VERSION_MAX}: upgrade the SDK"
        )));
    }
    if max != 0 && max < PROTOCOL_VERSION_MIN {
        return Err(StartError::Version(format!(
            "the Glance service speaks protocol versions {min} to {max}, older than this SDK's {PROTOCOL_VERSION_MIN} to {PROTOCOL_VERSION_MAX}"
        )));
    }
    Ok(())
}

/// Reads the next message that this build knows, skipping (with a log line) up to 32 that a
/// newer service sends and this SDK does not know (docs/PROTOCOL.md, "Compatibility").
pub(crate) async fn read_known(link: &mut Link) -> Result<Message, TransportError> {
    for _ in 0..32 {
        match with_timeout(STEP_TIMEOUT, link.read_message()).await? {
            Message::Control(Control::Unknown) => {
                log::info!("ignoring a service message of a type this SDK does not know")
            }
            m => return Ok(m),
        }
    }
    Err(TransportError::Malformed(
        "the service sent 32 messages this SDK does not know in a row".into(),
    ))
}

/// `hello`, then `welcome` (or the service's refusal of our versions or of this release).
/// Returns the newest SDK release the service knows ("" when it does not say).
async fn negotiate(link: &mut Link) -> Result<String, StartError> {
    link.write_control(&Control::Hello {
        role: Role::Visitor,
        min_version: glance_protocol::PROTOCOL_VERSION_MIN,
        max_version: glance_protocol::PROTOCOL_VERSION_MAX,
        client: format!(
            "glance-visitor {} ({})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS
        ),
        sdk_version: glance_protocol::version::THIS.to_string(),
    })
    .await?;
    match read_known(link).await? {
        Message::Control(Control::Welcome {
            min_version,
            max_version,
            sdk_latest,
            ..
        }) => {
            check_versions(min_version, max_version)?;
            Ok(sdk_latest)
        }
        Message::Control(Control::Error { code, message }) if code == "upgrade_required" => {
            Err(StartError::UpgradeRequired(message))
        }
        Message::Control(Control::Error { code, message }) if code == "version" => {
            Err(StartError::Version(format!(
                "the service speaks another protocol version: {message}"
            )))
        }
        other => Err(TransportError::Malformed(format!("expected welcome, got {other:?}")).into()),
    }
}

/// What opening a connection gave.
pub(crate) struct Opened {
    pub link: Link,
    /// Why the direct attempt failed, when the link is the tunnel after it.
    #[allow(dead_code)]
    pub direct_error: Option<String>,
    /// The newest SDK release the service knows ("" when it does not say).
    pub sdk_latest: String,
}

/// A negotiated connection: direct first, then the tunnel if the direct attempt failed at the
/// transport level (refused, reset, TLS cut, no `welcome` in time); only the tunnel when
/// `force_tunnel`. Returns the link and, when the direct attempt failed, why.
pub(crate) async fn open(ep: &Endpoints, force_tunnel: bool) -> Result<Opened, StartError> {
    let mut direct_error = None;
    if !force_tunnel {
        let attempt = async {
            let s = with_timeout(
                STEP_TIMEOUT,
                conn::connect(ep.tls.clone(), &ep.direct, &ep.host),
            )
            .await?;
            let mut link = Link::Direct(Box::new(s));
            let sdk_latest = negotiate(&mut link).await?;
            Ok::<_, StartError>(Opened {
                link,
                direct_error: None,
                sdk_latest,
            })
        };
        match attempt.await {
            Ok(o) => return Ok(o),
            Err(StartError::Transport(e)) => {
                log::info!(
                    "direct connection to {} failed ({e}); trying the tunnel",
                    ep.direct
                );
                direct_error = Some(e.to_string());
            }
            Err(other) => return Err(other),
        }
    }
    let s = with_timeout(STEP_TIMEOUT, ws::connect(ep.tls.clone(), &ep.tunnel)).await?;
    let mut link = Link::Tunnel(Box::new(s));
    let sdk_latest = negotiate(&mut link).await?;
    Ok(Opened {
        link,
        direct_error,
        sdk_latest,
    })
}
