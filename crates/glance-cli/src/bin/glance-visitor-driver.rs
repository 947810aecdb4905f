//! `glance-visitor-driver`: the Rust visitor SDK driven line by line on stdin, for end-to-end
//! tests in other languages; the same commands and output as tests/c/visitor_driver.c (the C
//! ABI's twin), so one test can run a flow with both:
//!
//! `init GROUP SERVICE_URL CA_PATH [VISITOR_ID]`, `defaultui 0|1`, `start [KEY]`,
//! `startpresence`, `end`, `connect`, `disconnect`, `presence NAME=VALUE ...`,
//! `signal EVENT [NAME=VALUE ...]`, `visible 0|1`, `quit`. Every event is printed as one JSON
//! line `{"event","message","props"}`, every command's result as `{"result","cmd"}` (0, or the
//! C ABI's negative code: -3 invalid parameter, -4 invalid state, -7 internal).

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use glance_visitor::{CallError, Event, GlanceVisitor, StartParams, VisitorConfig};
use serde_json::json;

fn code(r: Result<(), CallError>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(CallError::InvalidParameter(_)) => -3,
        Err(CallError::InvalidState(_)) => -4,
        Err(CallError::Internal(_)) => -7,
    }
}

fn props(words: &[&str]) -> Vec<(String, String)> {
    words
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn main() {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let print = {
        let out = out.clone();
        move |v: serde_json::Value| {
            let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(o, "{v}");
            let _ = o.flush();
        }
    };
    let p2 = print.clone();
    let v = match GlanceVisitor::new(move |e: &Event| {
        let props: serde_json::Map<String, serde_json::Value> = e
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        p2(json!({"event": e.code.name(), "message": e.message, "props": props}));
    }) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("glance-visitor-driver: {e}");
            std::process::exit(2);
        }
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let w: Vec<&str> = line.split(' ').filter(|s| !s.is_empty()).collect();
        let Some(&cmd) = w.first() else { continue };
        let r = match (cmd, w.len()) {
            ("quit", _) => break,
            ("init", n) if n >= 4 => code(v.init(VisitorConfig {
                group_id: w[1].parse().unwrap_or(0),
                service_url: Some(w[2].to_string()),
                ca_cert_path: Some(w[3].into()),
                name: "Rust driver".into(),
                visitor_id: w.get(4).map(|s| s.to_string()),
                ..Default::default()
            })),
            ("defaultui", 2) => code(v.set_default_ui(w[1] != "0")),
            ("start", 1) => code(v.start_session()),
            ("start", _) => code(v.start_session_key(w[1])),
            ("startpresence", _) => code(v.start_session_params(StartParams {
                presence_start: true,
                ..Default::default()
            })),
            ("end", _) => code(v.end_session()),
            ("connect", _) => code(v.presence_connect()),
            ("disconnect", _) => code(v.presence_disconnect()),
            ("presence", _) => code(v.presence_data(&props(&w[1..]))),
            ("signal", n) if n >= 2 => code(v.presence_signal_agent(w[1], &props(&w[2..]))),
            ("visible", 2) => code(v.presence_signal_visibility(w[1] != "0")),
            _ => -3,
        };
        print(json!({"result": r, "cmd": cmd}));
    }
}
