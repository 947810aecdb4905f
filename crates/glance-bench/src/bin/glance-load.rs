//! `glance-load`: the service load test (issue 7). Starts the real `glance-server` binary on
//! 127.0.0.1, opens N sessions (default 500), each with one visitor (the raw protocol
//! visitor of glance-tests, over TLS) and one agent (a WebSocket client over TLS), and has
//! every visitor change a region of its synthetic screen F times a second. It prints
//! throughput, end-to-end frame latency (visitor send to agent receive, p50/p99), and the
//! server's CPU and memory per session, all measured in this run. Bounded: it stops after
//! the measuring window and kills the server. Not part of the test command.
//!
//! Usage: glance-load [--sessions N] [--fps F] [--seconds S] [--out FILE]

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use glance_protocol::update::FLAG_FINAL;
use glance_protocol::{Control, Rect, Role, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};
use glance_server::ReadyInfo;
use glance_tests::visitor::start_params;
use glance_tests::{Picture, RawVisitor};
use tokio_tungstenite::tungstenite::Message;

const W: u16 = 320;
const H: u16 = 200;
/// The region each visitor changes per frame.
const PATCH: u16 = 64;

struct Args {
    sessions: usize,
    fps: u32,
    seconds: u64,
    out: Option<String>,
}

fn args() -> Args {
    let a: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        a.iter()
            .position(|x| x == name)
            .and_then(|i| a.get(i + 1))
            .cloned()
    };
    let num = |name: &str, d: u64| get(name).and_then(|v| v.parse().ok()).unwrap_or(d);
    Args {
        sessions: num("--sessions", 500) as usize,
        fps: num("--fps", 5).clamp(1, 60) as u32,
        seconds: num("--seconds", 20).clamp(1, 600),
        out: get("--out"),
    }
}

/// Send times of frames in flight: (session, seq) -> when the visitor sent it.
type SendTimes = Arc<Mutex<HashMap<(usize, u32), Instant>>>;

/// What every session's tasks share.
#[derive(Clone)]
struct Shared {
    sent: SendTimes,
    lat: Arc<Mutex<Vec<f64>>>,
    totals: Arc<Totals>,
    stop: tokio::sync::watch::Receiver<bool>,
}

#[derive(Default)]
struct Totals {
    frames: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// CPU seconds (user + system) and resident memory of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // USER_HZ is 100 on Linux.
    Some((ticks / 100.0, rss_kb))
}

fn start_server(dir: &std::path::Path, sessions: usize) -> Result<(Child, ReadyInfo), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let server = exe.with_file_name("glance-server");
    let cfg = dir.join("load.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[group]]\nid = 1\nmax_sessions = {}\nno_agent_timeout_secs = 600\n{}",
            sessions + 10,
            LOOPBACK_LIMITS
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut child = Command::new(&server)
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir)
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "{}: {e} (build it: cargo build --release --bins)",
                server.display()
            )
        })?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let ready: ReadyInfo =
        serde_json::from_str(&line).map_err(|e| format!("ready line {line:?}: {e}"))?;
    Ok((child, ready))
}

/// One agent: joins `key`, answers pings, and records the latency of every FINAL update.
async fn agent(
    ready: ReadyInfo,
    idx: usize,
    key: String,
    sh: Shared,
    joined: tokio::sync::oneshot::Sender<()>,
) -> Result<(), String> {
    let Shared {
        sent,
        lat,
        totals,
        stop,
    } = sh;
    let tls = glance_tests::tls::connect(&ready, &ready.https_addr, None)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("wss://{}/ws/agent", ready.https_addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .map_err(|e| e.to_string())?;
    let hello = Control::Hello {
        role: Role::Agent,
        min_version: PROTOCOL_VERSION_MIN,
        max_version: PROTOCOL_VERSION_MAX,
        client: "glance-load".into(),
        sdk_version: String::new(),
    };
    let join = Control::Join {
        key,
        token: ready.agent_token.clone(),
        group_id: Some(ready.group_id),
    };
    for c in [hello, join] {
        ws.send(Message::Text(c.to_json().into()))
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut joined = Some(joined);
    let mut stop = stop;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = stop.changed() => return Ok(()),
        };
        let Some(msg) = msg else { return Ok(()) };
        match msg.map_err(|e| e.to_string())? {
            Message::Text(t) => match Control::from_json(t.as_bytes()) {
                Ok(Control::Ping { t }) => {
                    let pong = Control::Pong { t }.to_json();
                    ws.send(Message::Text(pong.into()))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(Control::Joined { .. }) => {
                    if let Some(j) = joined.take() {
                        let _ = j.send(());
                    }
                }
                Ok(Control::JoinFailed { status, reason }) => {
                    return Err(format!("join failed {status}: {reason}"))
                }
                Ok(Control::SessionEnded { .. }) => return Ok(()),
                _ => {}
            },
            Message::Binary(b) => {
                let now = Instant::now();
                totals.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                // Kind 2 (update): flags at 1, seq at 2..6.
                if b.len() >= 6 && b[0] == 2 && b[1] & FLAG_FINAL != 0 {
                    let seq = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
                    totals.frames.fetch_add(1, Ordering::Relaxed);
                    let t0 = sent
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&(idx, seq));
                    if let Some(t0) = t0 {
                        lat.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(now.duration_since(t0).as_secs_f64() * 1000.0);
                    }
                }
            }
            _ => {}
        }
    }
}

/// One visitor: a key frame once its agent has joined, then a changed patch `fps` times a
/// second until stopped.
async fn visitor(
    v: RawVisitor,
    idx: usize,
    fps: u32,
    sh: Shared,
    joined: tokio::sync::oneshot::Receiver<()>,
) {
    let Shared {
        sent, totals, stop, ..
    } = sh;
    let mut pic = Picture::pattern(W, H, idx as u32);
    if tokio::time::timeout(Duration::from_secs(60), joined)
        .await
        .is_err()
    {
        totals.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if v.send_frame(&pic.key_update(0, 1)).await.is_err() {
        totals.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    // Spread the sessions' ticks over the period.
    tokio::time::sleep(Duration::from_millis(
        (idx as u64 * 7) % (1000 / u64::from(fps)),
    ))
    .await;
    // The deltas are encoded before the clock starts (the generator shares the machine with
    // the server); each send patches its sequence number into a pre-encoded delta.
    let deltas = precomputed_deltas(&mut pic, idx);
    let mut seq = 1u32;
    while !*stop.borrow() {
        tick.tick().await;
        seq += 1;
        let mut msgs = deltas[seq as usize % deltas.len()].clone();
        for m in &mut msgs {
            if let Some(b) = m.get_mut(1..5) {
                b.copy_from_slice(&seq.to_be_bytes());
            }
        }
        sent.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((idx, seq), Instant::now());
        if v.send_frame(&msgs).await.is_err() {
            totals.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// Eight deltas of a moving 64x64 patch (update payloads: flags, then seq at bytes 1..5).
fn precomputed_deltas(pic: &mut Picture, idx: usize) -> Vec<Vec<Vec<u8>>> {
    (0..8u32)
        .map(|i| {
            let x = (i as u16 * 29) % (W - PATCH);
            let y = (i as u16 * 17) % (H - PATCH);
            let r = Rect::new(x, y, PATCH, PATCH);
            let other = Picture::pattern(W, H, i.wrapping_mul(31).wrapping_add(idx as u32));
            pic.copy_from(&other, r);
            pic.delta(0, &[r], 1)
        })
        .collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Every load client comes from 127.0.0.1: the per-address budgets are raised (their
/// defaults are for a public service; docs/DECISIONS.md).
const LOOPBACK_LIMITS: &str = "[limits]\nconnections_per_address = 100000\n\
    accepts_per_address_burst = 1000000\naccepts_per_address_per_second = 1000000\n\
    starts_per_address_burst = 1000000\nstarts_per_address_per_minute = 1000000\n\
    starts_per_token_burst = 1000000\nstarts_per_token_per_minute = 1000000\n\
    address_min_sessions = 1000000\n";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let dir = std::env::temp_dir().join(format!("glance-load-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (mut child, ready) = match start_server(&dir, a.sessions) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("glance-load: {e}");
            std::process::exit(1);
        }
    };
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cpu0, rss0) = proc_usage(pid).unwrap_or((0.0, 0));
    eprintln!(
        "server pid {pid}, RSS {rss0} KiB before sessions; opening {} sessions ...",
        a.sessions
    );

    let sent: SendTimes = Arc::new(Mutex::new(HashMap::new()));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shared = Shared {
        sent: sent.clone(),
        lat: lat.clone(),
        totals: totals.clone(),
        stop: stop_rx,
    };
    let mut tasks = Vec::new();
    let t_open = Instant::now();
    for i in 0..a.sessions {
        let key = format!("L{i}");
        let v = match RawVisitor::start(&ready, start_params(&ready, Some(&key), W, H)).await {
            Ok(v) => v,
            Err(e) => {
                eprintln!("session {i}: visitor: {e}");
                totals.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let (jtx, jrx) = tokio::sync::oneshot::channel();
        tasks.push(tokio::spawn(visitor(v, i, a.fps, shared.clone(), jrx)));
        let (r, sh, t) = (ready.clone(), shared.clone(), totals.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = agent(r, i, key, sh, jtx).await {
                eprintln!("session {i}: agent: {e}");
                t.errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    eprintln!(
        "opened in {:.1} s; warming up 3 s ...",
        t_open.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    lat.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let f0 = totals.frames.load(Ordering::Relaxed);
    let b0 = totals.bytes.load(Ordering::Relaxed);
    let (cpu1, _) = proc_usage(pid).unwrap_or((0.0, 0));
    let t0 = Instant::now();
    eprintln!("measuring {} s ...", a.seconds);
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let secs = t0.elapsed().as_secs_f64();
    let (cpu2, rss2) = proc_usage(pid).unwrap_or((0.0, 0));
    let frames = totals.frames.load(Ordering::Relaxed) - f0;
    let bytes = totals.bytes.load(Ordering::Relaxed) - b0;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let own = proc_usage(std::process::id()).map(|u| u.0).unwrap_or(0.0);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let mut l = lat.lock().unwrap_or_else(|p| p.into_inner()).clone();
    l.sort_by(|x, y| x.total_cmp(y));
    let n = a.sessions.max(1) as f64;
    let report = serde_json::json!({
        "sessions": a.sessions,
        "fps_per_session": a.fps,
        "seconds": secs,
        "frames_per_sec": frames as f64 / secs,
        "expected_frames_per_sec": a.sessions as f64 * f64::from(a.fps),
        "agent_bytes_per_sec": bytes as f64 / secs,
        "latency_ms_p50": pct(&l, 0.50),
        "latency_ms_p99": pct(&l, 0.99),
        "latency_samples": l.len(),
        "server_cpu_percent_of_one_core": (cpu2 - cpu1) / secs * 100.0,
        "server_cpu_seconds_total": cpu2 - cpu0,
        "server_rss_kib_idle": rss0,
        "server_rss_kib_loaded": rss2,
        "server_rss_kib_per_session": (rss2.saturating_sub(rss0)) as f64 / n,
        "errors": totals.errors.load(Ordering::Relaxed),
        "generator_cpu_seconds_total": own,
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    if let Some(out) = a.out {
        if let Err(e) = std::fs::write(&out, &text) {
            eprintln!("glance-load: writing {out}: {e}");
        }
    }
}
