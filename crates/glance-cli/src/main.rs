//! glance-share: shares this machine's screen (X11), or a synthetic display, through a Glance
//! service with the visitor SDK. Prints every SDK event as one JSON object a line on stdout
//! and a human summary (session key, agent URL) on stderr. Used by the README's main command
//! and by the browser tests.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use glance_visitor::capture::displays::parse_size;
use glance_visitor::{
    DisplaySource, Event, EventCode, GlanceVisitor, StartParams, SyntheticDisplay, VisitorConfig,
};

#[derive(Debug, Parser)]
#[command(version, about = "Share this screen through a Glance service")]
struct Args {
    /// The service URL (`session_url` of glance-server's ready line).
    #[arg(long)]
    service_url: String,
    /// An extra CA certificate (PEM) to trust, e.g. glance-server's `ca_cert`.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// The group id.
    #[arg(long, default_value_t = 1)]
    group: i32,
    /// Share a synthetic WIDTHxHEIGHT display instead of the screen.
    #[arg(long)]
    synthetic: Option<String>,
    /// The session key (default: a random key chosen by the service).
    #[arg(long)]
    key: Option<String>,
    /// A visitor id (the session key when --key is not given).
    #[arg(long)]
    visitor_id: Option<String>,
    /// The display to share ("main" by default).
    #[arg(long, default_value = "main")]
    display: String,
    /// Keep the session when the last agent leaves.
    #[arg(long)]
    persist: bool,
    /// Start paused.
    #[arg(long)]
    paused: bool,
    /// With --synthetic: once an agent joins, apply N deterministic changes.
    #[arg(long)]
    script: Option<u32>,
    /// With --script: write the final picture here as raw BGRX once static.
    #[arg(long)]
    dump_frame: Option<PathBuf>,
    /// With --synthetic: once an agent joins, stay static for --idle-secs, then run the scripted
    /// desktop workload (typing, scrolling, a window drag) at 30 ticks a second for this many
    /// seconds. Phases are printed as {"phase": ...} lines (used by glance-bench).
    #[arg(long)]
    workload_secs: Option<u64>,
    /// See --workload-secs.
    #[arg(long, default_value_t = 0)]
    idle_secs: u64,
    /// The agent viewer URL, printed with `?key=` once the session starts.
    #[arg(long)]
    agent_url: Option<String>,
}

fn json_line(e: &Event) -> String {
    let props: serde_json::Map<String, serde_json::Value> = e
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "event": e.code.name(),
        "type": e.event_type().name(),
        "message": e.message,
        "properties": props,
    })
    .to_string()
}

fn print_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    std::process::exit(match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("glance-share: {e}");
            2
        }
    });
}

fn run(args: Args) -> Result<i32, String> {
    let synthetic = match &args.synthetic {
        Some(s) => {
            let (w, h) =
                parse_size(s).ok_or(format!("--synthetic {s:?}: expected WIDTHxHEIGHT"))?;
            Some(SyntheticDisplay::new(w, h))
        }
        None => None,
    };
    let source = match &synthetic {
        Some(d) => DisplaySource::Synthetic(d.clone()),
        None => DisplaySource::Platform(None),
    };
    let (tx, rx) = mpsc::channel::<Event>();
    let visitor = GlanceVisitor::with_source(
        move |e: &Event| {
            print_stdout(&json_line(e));
            let _ = tx.send(e.clone());
        },
        source,
    )
    .map_err(|e| e.to_string())?;
    visitor
        .init(VisitorConfig {
            group_id: args.group,
            visitor_id: args.visitor_id.clone(),
            service_url: Some(args.service_url.clone()),
            ca_cert_path: args.ca_cert.clone(),
            ..VisitorConfig::default()
        })
        .map_err(|e| e.to_string())?;
    let mut params = StartParams {
        persist: args.persist,
        paused: args.paused,
        ..StartParams::default()
    };
    params.display_params.display_name = args.display.clone();
    if let Some(k) = &args.key {
        params.key = k.clone();
    }
    visitor
        .start_session_params(params)
        .map_err(|e| e.to_string())?;

    // Ctrl-C / SIGTERM end the session cleanly.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    if let Ok(mut term) = signal(SignalKind::terminate()) {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                        return;
                    }
                }
                let _ = tokio::signal::ctrl_c().await;
            });
        }
        let _ = stop_tx.send(());
    });

    let mut scripted = false;
    loop {
        if stop_rx.try_recv().is_ok() {
            eprintln!("glance-share: ending the session");
            let _ = visitor.end_session();
            visitor.wait_idle(Duration::from_secs(5));
            return Ok(0);
        }
        let e = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => e,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(1),
        };
        match e.code {
            EventCode::ConnectedToSession => {
                let key = e.property("sessionkey").unwrap_or_default();
                eprintln!("\n  Session key: {key}");
                if let Some(u) = &args.agent_url {
                    let sep = if u.contains('?') { '&' } else { '?' };
                    eprintln!("  Agent URL:   {u}{sep}key={key}\n");
                }
            }
            EventCode::GuestCountChange if !scripted && args.workload_secs.is_some() => {
                if let (Some(secs), Some(d)) = (args.workload_secs, synthetic.clone()) {
                    scripted = true;
                    let idle = args.idle_secs;
                    std::thread::spawn(move || {
                        print_stdout(r#"{"phase":"idle_start"}"#);
                        std::thread::sleep(Duration::from_secs(idle));
                        print_stdout(r#"{"phase":"workload_start"}"#);
                        let start = std::time::Instant::now();
                        let mut i = 0u32;
                        while start.elapsed() < Duration::from_secs(secs) {
                            d.workload_tick(i);
                            i += 1;
                            let next = start + Duration::from_millis(i as u64 * 1000 / 30);
                            std::thread::sleep(
                                next.saturating_duration_since(std::time::Instant::now()),
                            );
                        }
                        print_stdout(&format!(r#"{{"phase":"workload_end","ticks":{i}}}"#));
                    });
                }
            }
            EventCode::GuestCountChange if !scripted => {
                if let (Some(n), Some(d)) = (args.script, &synthetic) {
                    scripted = true;
                    for i in 0..n {
                        d.step(i);
                        std::thread::sleep(Duration::from_millis(60));
                    }
                    if let Some(path) = &args.dump_frame {
                        let f = d.snapshot();
                        std::fs::write(path, &f.data)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        print_stdout(
                            &serde_json::json!({"frame_dumped": path, "width": f.width, "height": f.height})
                                .to_string(),
                        );
                    }
                }
            }
            EventCode::SessionEnded => {
                eprintln!("glance-share: {}", e.message);
                return Ok(match e.property("reason") {
                    Some("SessionEndReasonThisSide") | Some("SessionEndReasonOtherSide") => 0,
                    _ => 1,
                });
            }
            _ => {}
        }
    }
}
