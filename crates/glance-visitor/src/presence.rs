//! PresenceVisitor (seed 004, One-Click Connect): one connection task per visitor to the
//! service's presence socket (docs/PRESENCE.md), reconnecting with backoff, and the rules on
//! what the application may send. Outcomes arrive as the seed's EventPresence* events.
//! Every hello carries the group's visitor token and this SDK instance's random app instance
//! id, which bind the visitor id to this app (issue 18); the agent's confirmation request
//! arrives as EventPresenceSignal `mtype=confirm`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_tungstenite::tungstenite::Message;

use crate::default_ui;
use crate::events::{Event, EventCode};
use crate::params::{parse_https_url, StartParams, VisitorConfig};
use crate::transport::{tls, ws};
use crate::visitor::Core;

pub use glance_protocol::presence::{
    MAX_NAME_LEN, MAX_PRESENCE_TOTAL, MAX_PROPERTIES, MAX_PROPERTY_LEN, STANDARD_PROPERTIES,
};

/// Nothing heard from the service for this long: the connection is dead (it pings every 5 s).
const DEAD_AFTER: Duration = Duration::from_secs(15);
/// Waits between reconnect attempts: from the first to the last, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the API asks of the presence task.
#[derive(Debug)]
pub(crate) enum PresenceCmd {
    /// A JSON message for the service.
    Send(Value),
    Disconnect,
}

/// Checks presence data (property name -> value) against seed 004's limits.
pub fn check_presence(props: &[(String, String)]) -> Result<(), String> {
    glance_protocol::presence::check_presence(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Checks a signalAgent event: `terms` with status displayed/accepted/declined, or `c_...`.
pub fn check_signal(event: &str, props: &[(String, String)]) -> Result<(), String> {
    glance_protocol::presence::check_signal(
        event,
        props.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// A JSON object of the properties.
pub(crate) fn object(props: &[(String, String)]) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
    )
}

/// The presence socket URL of a service URL: `https://h:p/...` -> `wss://h:p/ws/presence`.
pub fn presence_url(service_url: &str) -> Result<String, String> {
    let (host, port, _) = parse_https_url(service_url)?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(format!("wss://{host}:{port}/ws/presence"))
}

/// A new random app instance id (128 bits, hex).
pub(crate) fn new_instance() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

/// Starts the presence task on the SDK's runtime; returns its command channel.
pub(crate) fn spawn(
    rt: &tokio::runtime::Handle,
    core: Arc<Core>,
    cfg: VisitorConfig,
    visitor_id: String,
) -> UnboundedSender<PresenceCmd> {
    let (tx, rx) = unbounded_channel();
    rt.spawn(run(core, cfg, visitor_id, rx));
    tx
}

enum Ended {
    /// disconnect was called (or the visitor is going away).
    Asked,
    /// The service refused for good (not configured, bad id): the event to fire.
    Refused(Event),
    /// The link dropped: reconnect.
    Dropped(String),
}

async fn run(
    core: Arc<Core>,
    cfg: VisitorConfig,
    visitor_id: String,
    mut cmds: UnboundedReceiver<PresenceCmd>,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        let ended = connect_once(&core, &cfg, &visitor_id, &mut cmds).await;
        core.set_presence_connected(false);
        let reason = match ended {
            Ended::Asked => {
                // Cleared first: an application that reacts to the event sees the new state.
                core.clear_presence();
                core.fire(Event::new(
                    EventCode::PresenceDisconnected,
                    "disconnected from the presence service",
                ));
                return;
            }
            Ended::Refused(e) => {
                core.clear_presence();
                core.fire(e);
                return;
            }
            Ended::Dropped(reason) => reason,
        };
        if core.take_presence_was_connected() {
            backoff = BACKOFF_FIRST;
        }
        core.fire(
            Event::new(
                EventCode::PresenceConnectFail,
                format!("presence connection failed: {reason}; retrying"),
            )
            .with("reason", reason),
        );
        // Wait, but a disconnect meanwhile ends it at once; sends meanwhile fail.
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                c = cmds.recv() => match c {
                    Some(PresenceCmd::Send(_)) => core.fire(Event::new(
                        EventCode::PresenceSendFail,
                        "not connected to the presence service",
                    )),
                    Some(PresenceCmd::Disconnect) | None => {
                        core.clear_presence();
                        core.fire(Event::new(EventCode::PresenceDisconnected, "disconnected from the presence service"));
                        return;
                    }
                },
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn connect_once(
    core: &Arc<Core>,
    cfg: &VisitorConfig,
    visitor_id: &str,
    cmds: &mut UnboundedReceiver<PresenceCmd>,
) -> Ended {
    let url = match presence_url(cfg.service_url()) {
        Ok(u) => u,
        Err(e) => return Ended::Dropped(e),
    };
    let tls = match tls::client_config(cfg.ca_cert_path.as_deref()) {
        Ok(t) => t,
        Err(e) => return Ended::Dropped(format!("TLS: {e}")),
    };
    let mut sock = match tokio::time::timeout(Duration::from_secs(10), ws::connect(tls, &url)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Ended::Dropped(e.to_string()),
        Err(_) => return Ended::Dropped("timed out connecting".into()),
    };
    let hello = json!({
        "type": "hello",
        "group_id": cfg.group_id,
        "visitor_id": visitor_id,
        "token": cfg.token,
        "instance": core.presence_instance(),
        "client": format!("glance-visitor {} ({})", env!("CARGO_PKG_VERSION"), std::env::consts::OS),
    });
    if let Err(e) = sock.send(Message::Text(hello.to_string().into())).await {
        return Ended::Dropped(e.to_string());
    }
    // welcome, or the reason the service refuses.
    let first = tokio::time::timeout(Duration::from_secs(10), sock.next()).await;
    let m = match first {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(&t).unwrap_or(Value::Null),
        Ok(Some(Ok(_))) => Value::Null,
        Ok(Some(Err(e))) => return Ended::Dropped(e.to_string()),
        Ok(None) => return Ended::Dropped("the service closed the connection".into()),
        Err(_) => return Ended::Dropped("no answer to hello".into()),
    };
    let focus = match m["type"].as_str() {
        Some("welcome") => m["focus"].as_bool().unwrap_or(true),
        Some("error") => {
            let code = m["code"].as_str().unwrap_or_default();
            let msg = m["message"].as_str().unwrap_or_default().to_string();
            return match code {
                "notconfigured" => {
                    Ended::Refused(Event::new(EventCode::PresenceNotConfigured, msg))
                }
                "invalidprotocol" | "invalid" => Ended::Refused(Event::new(
                    EventCode::InvalidParameter,
                    format!("visitor id: {msg}"),
                )),
                // The token will not change by retrying: not retried.
                "unauthorized" => Ended::Refused(
                    Event::new(
                        EventCode::PresenceConnectFail,
                        format!("presence connection refused: {msg}; not retrying"),
                    )
                    .with("reason", "unauthorized"),
                ),
                _ => Ended::Dropped(format!("{code}: {msg}")),
            };
        }
        _ => return Ended::Dropped("unexpected answer to hello".into()),
    };
    core.set_presence_connected(true);
    core.fire(Event::new(
        EventCode::PresenceConnected,
        "connected to the presence service",
    ));
    if !focus {
        core.fire(Event::new(
            EventCode::PresenceBlur,
            "another application with this visitor id has focus",
        ));
    }
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                Some(PresenceCmd::Send(v)) => {
                    if let Err(e) = sock.send(Message::Text(v.to_string().into())).await {
                        core.fire(Event::new(EventCode::PresenceSendFail, format!("not sent: {e}")));
                        return Ended::Dropped(e.to_string());
                    }
                }
                Some(PresenceCmd::Disconnect) | None => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), sock.close(None)).await;
                    return Ended::Asked;
                }
            },
            m = tokio::time::timeout(DEAD_AFTER, sock.next()) => {
                let text = match m {
                    Err(_) => return Ended::Dropped("nothing heard from the service (heartbeat)".into()),
                    Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                        return Ended::Dropped("the connection was closed".into())
                    }
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(_))) => continue,
                };
                let Ok(m) = serde_json::from_str::<Value>(&text) else {
                    return Ended::Dropped("the service sent a malformed message".into());
                };
                match m["type"].as_str().unwrap_or_default() {
                    "ping" => {
                        let pong = json!({"type": "pong", "t": m["t"]}).to_string();
                        if sock.send(Message::Text(pong.into())).await.is_err() {
                            return Ended::Dropped("the connection was closed".into());
                        }
                    }
                    "blur" => core.fire(Event::new(
                        EventCode::PresenceBlur,
                        "another application with this visitor id has focus",
                    )),
                    "focus" => {}
                    "invoke" => {
                        let e = invoke_event(&m);
                        if e.code == EventCode::PresenceShowTerms {
                            show_terms(core, e);
                        } else {
                            core.fire(e);
                        }
                    }
                    "confirm" => core.fire(confirm_event(&m)),
                    "confirm_result" => {
                        let ok = m["confirmed"].as_bool().unwrap_or(false);
                        core.fire(
                            Event::new(
                                EventCode::PresenceSignal,
                                if ok { "the agent's confirmation succeeded" } else { "the agent's confirmation failed" },
                            )
                            .with("mtype", "confirm_result")
                            .with("confirmed", if ok { "true" } else { "false" }),
                        );
                    }
                    "signal" => core.fire(with_properties(
                        Event::new(EventCode::PresenceSignal, "a signal from the agent"),
                        &m["data"],
                    )),
                    "error" => {
                        let msg = m["message"].as_str().unwrap_or_default();
                        return Ended::Dropped(format!("the service reported: {msg}"));
                    }
                    other => log::debug!("presence: ignoring {other:.40}"),
                }
            }
        }
    }
}

/// An agent asks to start screen sharing. With the default UI the SDK shows the terms
/// dialog itself on a thread of its own (the event still fires, with `defaultui` = `on`):
/// the agent hears `terms` displayed, then accepted or declined, and on accept the session
/// starts with presenceStart and the key the agent asked for. Where no dialog can be shown
/// the event fires with `defaultui` = `unavailable` and the application must answer. Without
/// the default UI the event alone goes to the application.
fn show_terms(core: &Arc<Core>, e: Event) {
    if !core.default_ui() {
        core.fire(e);
        return;
    }
    if let Err(why) = default_ui::available() {
        let mut e = e.with("defaultui", "unavailable");
        e.message = format!("{} (the default UI cannot be shown: {why})", e.message);
        core.fire(e);
        return;
    }
    let key = e.property("sessionkey").unwrap_or_default().to_string();
    let url = e.property("onetermsurl").unwrap_or_default().to_string();
    core.fire(e.with("defaultui", "on"));
    let core = core.clone();
    let spawned = std::thread::Builder::new()
        .name("glance-terms".into())
        .spawn(move || {
            let status = |s: &str| {
                core.presence_send(
                    json!({"type": "signal_agent", "event": "terms", "data": {"status": s}}),
                );
            };
            status("displayed");
            // The session it starts shows the default display: this application.
            let shared = default_ui::shared_text(&crate::params::DisplayParams::default());
            let accepted = default_ui::ask(
                "Screen sharing",
                &default_ui::terms_text(&url, true, &shared),
            );
            status(if accepted { "accepted" } else { "declined" });
            if accepted {
                let params = StartParams {
                    key,
                    presence_start: true,
                    ..Default::default()
                };
                // A refusal (a session already running, say) fires its own event.
                let _ = core.start_session(params);
            }
        });
    if let Err(e) = spawned {
        log::warn!("the terms dialog cannot start its thread: {e}");
    }
}

/// The event for an agent's invoke: the terms dialog for `...showTerms`, else a signal
/// naming the function.
fn invoke_event(m: &Value) -> Event {
    let func = m["func"].as_str().unwrap_or_default();
    let args = &m["args"];
    let arg = |k: &str| args[k].as_str().unwrap_or_default().to_string();
    if func.ends_with("showTerms") || func.ends_with("startSession") {
        Event::new(
            EventCode::PresenceShowTerms,
            "the agent asks to start screen sharing",
        )
        .with("sessionkey", arg("sessionkey"))
        .with("onetermsurl", arg("onetermsurl"))
    } else {
        let e = Event::new(
            EventCode::PresenceSignal,
            format!("the agent invoked {func:.100}"),
        )
        .with("func", func);
        with_properties(e, args)
    }
}

/// The agent asks the visitor to confirm (seed 003 presence_security): EventPresenceSignal
/// with `mtype=confirm` and `choices` (comma-separated, as shown); the application shows them
/// and answers with `presence_confirm(choice)` (or signalAgent `confirm` with `choice`).
fn confirm_event(m: &Value) -> Event {
    let choices: Vec<&str> = m["choices"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).take(16).collect())
        .unwrap_or_default();
    Event::new(
        EventCode::PresenceSignal,
        "the agent asks the visitor to pick the code read out on the phone",
    )
    .with("mtype", "confirm")
    .with("choices", choices.join(","))
}

/// `e` with the members of the JSON object `data` as properties (strings as they are, other
/// values as JSON text); anything but an object adds nothing.
fn with_properties(mut e: Event, data: &Value) -> Event {
    if let Some(o) = data.as_object() {
        for (k, v) in o {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            e = e.with(k, v);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_apply_to_property_lists() {
        assert!(check_presence(&p(&[("url", "a"), ("c_x", "b")])).is_ok());
        assert!(check_presence(&p(&[("cart", "1")])).is_err());
        assert!(check_signal("terms", &p(&[("status", "accepted")])).is_ok());
        assert!(check_signal("chat", &[]).is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            presence_url("https://127.0.0.1:8443").unwrap(),
            "wss://127.0.0.1:8443/ws/presence"
        );
        assert_eq!(
            presence_url("https://[::1]:9/x").unwrap(),
            "wss://[::1]:9/ws/presence"
        );
        assert!(presence_url("http://a").is_err());
    }
}
