//! Bytes on the wire against a VNC server on the same X11 workload.
//!
//! The scripted desktop workload of [`workload`] (typing into an xterm that scrolls, a
//! continuously scrolling log xterm, a window drag) runs on a fresh Xvfb once per measured
//! stream:
//!
//! * x11vnc (polling, no password, loopback only) to our RFB 3.8 client ([`rfb`]) asking for
//!   ZRLE, then for Tight; each also advertises CopyRect and compression level 9, and Tight is
//!   asked for without any JPEG quality level, so it stays lossless (JPEG rects are counted);
//! * the real `glance-share` sharing the X display through an in-process glance-server to a
//!   `TestAgent`, whose update bytes are counted.
//!
//! * TigerVNC's `x0vncserver` (Debian package tigervnc-scraping-server) asked for ZRLE, when
//!   installed.
//!
//! Each side first gets its initial picture and settles; the count covers the workload plus a
//! 2 s tail. Without x11vnc (or the X tools) the keys are left out and a line says why.
//!
//! Every workload of [`workload::Workload`] runs (or those named by `--workloads a,b`). The
//! mixed workload keeps its original keys (`vnc_zrle_bytes`, `glance_same_workload_bytes`,
//! ...); every workload also writes `<workload>_<peer>_bytes`, `<workload>_glance_bytes`, the
//! Glance bytes per encoding and of headers (`<workload>_glance_bytes_<encoding>`), and
//! `<workload>_glance_vs_best_vnc_ratio`.

pub mod rfb;
pub mod workload;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use glance_protocol::update::WireStats;
use glance_protocol::Encoding;
use glance_tests::{TestAgent, TestServer};
use glance_visitor::capture::FrameBuf;
use glance_visitor::DisplaySource;
use serde_json::{json, Map, Value};

use rfb::{Client, Request, Stats, ENC_TIGHT, ENC_ZRLE};
use workload::{have, missing_tools, Report, Scene, Workload};

/// Seconds of scripted workload per run (the mixed workload; `--vnc-secs` changes it).
pub const WORKLOAD_SECS: f64 = 30.0;
/// Seconds of the other workloads.
pub const OTHER_WORKLOAD_SECS: f64 = 20.0;
/// Counting goes on this long after the workload, for the last changes to arrive.
const TAIL: Duration = Duration::from_secs(2);

/// x11vnc's flags besides display, port and log: loopback, no password, shared, and poll the
/// screen (Xvfb's DAMAGE is not needed) at its normal pace without the "bogged down" naps that
/// would skip frames of a streaming terminal; the pointer is not drawn (Glance does not draw
/// it either); no ~/.x11vncrc.
pub const X11VNC_FLAGS: [&str; 13] = [
    "-localhost",
    "-no6",
    "-nopw",
    "-shared",
    "-forever",
    "-norc",
    "-noxdamage",
    "-nocursor",
    "-nowf",
    "-nonap",
    "-nowait_bog",
    "-sb",
    "0",
];

/// One VNC measurement.
struct VncRun {
    label: &'static str,
    window: Stats,
    initial: Stats,
    secs: f64,
    report: Report,
    server: String,
    /// Bytes before, during and after the drag.
    split: [u64; 3],
}

/// The VNC servers measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    X11vnc,
    /// TigerVNC's x0vncserver.
    Tiger,
}

/// The Glance measurement.
struct GlanceRun {
    wire: WireStats,
    bytes: u64,
    updates: u64,
    frames: u64,
    initial_bytes: u64,
    sent_bytes: Option<u64>,
    secs: f64,
    pixel_exact: bool,
    report: Report,
    split: [u64; 3],
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn kill(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

/// Waits (up to `max`) until `count` has not moved for `quiet`, after `ready` holds.
fn settle(
    max: Duration,
    quiet: Duration,
    mut ready: impl FnMut() -> bool,
    mut count: impl FnMut() -> u64,
) -> bool {
    let t = Instant::now();
    while !ready() {
        if t.elapsed() > max {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut last, mut since) = (count(), Instant::now());
    while t.elapsed() < max {
        std::thread::sleep(Duration::from_millis(50));
        let c = count();
        if c != last {
            (last, since) = (c, Instant::now());
        } else if since.elapsed() >= quiet {
            return true;
        }
    }
    true
}

/// Starts x11vnc on `display` and waits for its PORT= line.
fn start_x11vnc(display: &str, port: u16, log: &Path) -> Result<Child, String> {
    let mut child = Command::new("x11vnc")
        .args(["-display", display, "-rfbport", &port.to_string(), "-o"])
        .arg(log)
        .args(X11VNC_FLAGS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("x11vnc: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().ok_or("x11vnc stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.starts_with("PORT=") => return Ok(child),
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    kill(&mut child);
    Err(format!(
        "x11vnc did not start listening: {}",
        tail_of(log, 3)
    ))
}

/// Starts TigerVNC's x0vncserver on `display` (no authentication, loopback) and waits until
/// its port accepts connections.
fn start_x0vnc(display: &str, port: u16, log: &Path) -> Result<Child, String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new("x0vncserver")
        .args(["-display", display, "-rfbport", &port.to_string()])
        .args([
            "-SecurityTypes",
            "None",
            "-localhost",
            "yes",
            "-AlwaysShared",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .map_err(|e| format!("x0vncserver: {e}"))?;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(&mut child);
    Err(format!(
        "x0vncserver did not start listening: {}",
        tail_of(log, 3)
    ))
}

fn vnc_run(
    label: &'static str,
    peer: Peer,
    req: Request,
    secs: f64,
    wl: Workload,
) -> Result<VncRun, String> {
    let mut scene = Scene::start(wl)?;
    let log = scene.dir().join("vnc.log");
    let port = free_port()?;
    let mut server = match peer {
        Peer::X11vnc => start_x11vnc(&scene.display, port, &log)?,
        Peer::Tiger => start_x0vnc(&scene.display, port, &log)?,
    };
    let result = (|| -> Result<VncRun, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let life = Duration::from_secs_f64(secs + 120.0);
        let mut client = Client::connect(addr, req, Duration::from_secs(60), life)?;
        let first = settle(
            Duration::from_secs(20),
            Duration::from_secs(1),
            || client.snapshot().updates > 0 || !client.alive(),
            || client.snapshot().bytes,
        );
        if !first || !client.alive() {
            return Err(format!(
                "no first picture from x11vnc: {}",
                client.stop().err().unwrap_or_default()
            ));
        }
        let s0 = client.snapshot();
        let t0 = Instant::now();
        let mut marks = [s0.bytes; 2];
        let report = scene.run(secs, &mut |n| {
            marks[(n as usize - 1).min(1)] = client.snapshot().bytes
        })?;
        std::thread::sleep(TAIL);
        let s1 = client.snapshot();
        let measured = t0.elapsed().as_secs_f64();
        client
            .stop()
            .map_err(|e| format!("the VNC connection failed during the run: {e}"))?;
        Ok(VncRun {
            label,
            window: s1.since(&s0),
            secs: measured,
            report,
            server: format!("{} {:?}", client.info.version, client.info.name),
            split: split(s0.bytes, marks, s1.bytes),
            initial: s0,
        })
    })();
    kill(&mut server);
    result.map_err(|e| format!("{e} (server log: {})", tail_of(&log, 2)))
}

/// Bytes the process has written (all write calls: its TLS connection, plus a few event lines
/// on stdout).
fn written_bytes(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// One Glance run of `wl`; `no_stream`: every rect compressed on its own (the encoder before
/// the stream encodings, `GLANCE_NO_STREAM=1`).
fn glance_run(share: &Path, secs: f64, wl: Workload, no_stream: bool) -> Result<GlanceRun, String> {
    let mut scene = Scene::start(wl)?;
    let rt = crate::runtime();
    rt.block_on(async {
        let server = TestServer::start()
            .await
            .map_err(|e| format!("glance-server: {e}"))?;
        let ready = server.ready().clone();
        let key = "bench-vnc-workload";
        let mut child = crate::share_command(share, &ready)
            .env("DISPLAY", &scene.display)
            .env("GLANCE_NO_STREAM", if no_stream { "1" } else { "0" })
            .args(["--key", key, "--persist"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", share.display()))?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().ok_or("glance-share stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let result: Result<GlanceRun, String> = async {
            let t = Instant::now();
            loop {
                match rx.try_recv() {
                    Ok(l) if l.contains("EventConnectedToSession") => break,
                    Ok(l) if l.contains("EventSessionEnded") => {
                        return Err(format!("glance-share ended: {l}"))
                    }
                    Ok(_) => {}
                    Err(mpsc::TryRecvError::Disconnected) => {
                        return Err("glance-share exited before connecting".to_string())
                    }
                    Err(mpsc::TryRecvError::Empty) => {
                        if t.elapsed() > Duration::from_secs(30) {
                            return Err("glance-share did not connect in 30 s".into());
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            let agent = TestAgent::join_dev(&ready, key)
                .await
                .map_err(|e| format!("agent: {e}"))?;
            // The first picture, then quiet (the same rule as for VNC).
            let t = Instant::now();
            while agent.snapshot().frames == 0 {
                if t.elapsed() > Duration::from_secs(20) {
                    return Err(format!("no first picture: {}", agent.snapshot().summary()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let (mut last, mut since) = (agent.snapshot().update_bytes, Instant::now());
            while since.elapsed() < Duration::from_secs(1) && t.elapsed() < Duration::from_secs(20)
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let b = agent.snapshot().update_bytes;
                if b != last {
                    (last, since) = (b, Instant::now());
                }
            }
            let s0 = agent.snapshot();
            let w0 = written_bytes(pid);
            let t0 = Instant::now();
            // The timeline blocks this thread; the agent and the server run on the workers.
            let mut marks = [s0.update_bytes; 2];
            let report = scene.run(secs, &mut |n| {
                marks[(n as usize - 1).min(1)] = agent.snapshot().update_bytes
            })?;
            tokio::time::sleep(TAIL).await;
            let s1 = agent.snapshot();
            let w1 = written_bytes(pid);
            let measured = t0.elapsed().as_secs_f64();
            if s1.closed || s1.error.is_some() {
                return Err(format!("the agent failed: {}", s1.summary()));
            }
            // Lossless check: the agent's picture equals the X server's screen.
            let src = DisplaySource::Platform(Some(scene.display.clone()));
            let desc = src.find("main").map_err(|e| format!("capture: {e}"))?;
            let mut cap = src.open(&desc).map_err(|e| format!("capture: {e}"))?;
            let mut screen = FrameBuf::default();
            cap.capture(&mut screen)
                .map_err(|e| format!("capture: {e}"))?;
            let pixel_exact = agent
                .wait_until("the screen", Duration::from_secs(5), |s| {
                    s.fb.equals_bgrx(&screen.view())
                })
                .await
                .is_ok();
            Ok(GlanceRun {
                wire: s1.wire.since(&s0.wire),
                bytes: s1.update_bytes - s0.update_bytes,
                updates: s1.updates - s0.updates,
                frames: s1.frames - s0.frames,
                initial_bytes: s0.update_bytes,
                sent_bytes: w0.zip(w1).map(|(a, b)| b - a),
                secs: measured,
                pixel_exact,
                report,
                split: split(s0.update_bytes, marks, s1.update_bytes),
            })
        }
        .await;
        kill(&mut child);
        drop(server);
        result
    })
}

/// Bytes before, during and after the drag from the counter at start, at the marks and at end.
fn split(start: u64, marks: [u64; 2], end: u64) -> [u64; 3] {
    [marks[0] - start, marks[1] - marks[0], end - marks[1]]
}

fn show_split(s: [u64; 3]) -> String {
    format!(
        "split: {} B before the drag (typing + log), {} B during it, {} B after",
        s[0], s[1], s[2]
    )
}

fn describe(r: &Report) -> String {
    let busy = if r.max_lag_ms > 100.0 {
        "; WARNING: the machine was busy (steps ran late), so updates coalesce and the figures \
         of this run compare less well"
    } else {
        ""
    };
    format!(
        "{} typed commands, {} feed writes, {} window moves, {} raises in {:.1} s (latest step {:.0} ms late){busy}",
        r.typed_commands, r.log_lines, r.moves, r.raises, r.secs, r.max_lag_ms
    )
}

/// The keys of the mixed workload from before there were several workloads.
pub const KEYS: [&str; 10] = [
    "vnc_workload_secs",
    "vnc_zrle_bytes",
    "vnc_zrle_updates",
    "vnc_tight_bytes",
    "vnc_tight_updates",
    "glance_same_workload_bytes",
    "glance_same_workload_updates",
    "glance_same_workload_sent_bytes",
    "glance_same_workload_pixel_exact",
    "glance_vs_best_vnc_ratio",
];

/// Whether this module writes key `k` for one of `run` (the original keys go with the mixed
/// workload).
fn own_key(k: &str, run: &[Workload]) -> bool {
    (run.contains(&Workload::Mixed) && KEYS.contains(&k))
        || run.iter().any(|w| k.starts_with(&format!("{}_", w.name())))
}

/// For `--vnc-only`: the figures already in `path` except those of the workloads in `run`, so
/// a VNC-only run updates its keys without dropping the others.
pub fn kept_figures(path: &str, run: &[Workload]) -> Map<String, Value> {
    let mut m = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
        .unwrap_or_default();
    m.retain(|k, _| !own_key(k, run));
    if !m.is_empty() {
        println!("--vnc-only: {} other figures kept from {path}", m.len());
    }
    m
}

/// The workloads named by `--workloads a,b` (all without it); an unknown name is an error.
pub fn workloads_arg(args: &[String]) -> Result<Vec<Workload>, String> {
    let Some(i) = args.iter().position(|a| a == "--workloads") else {
        return Ok(Workload::ALL.to_vec());
    };
    let list = args.get(i + 1).ok_or("--workloads needs a list")?;
    list.split(',')
        .map(|n| Workload::from_name(n).ok_or(format!("unknown workload {n:?}")))
        .collect()
}

/// "name N B (r rects)" for every encoding with rects, then the headers.
fn wire_summary(w: &WireStats) -> String {
    let mut parts = Vec::new();
    for id in 0..glance_protocol::update::ENCODING_SLOTS {
        if w.rects[id] > 0 {
            let name = Encoding::from_byte(id as u8).map_or("other", |e| e.name());
            parts.push(format!(
                "{name} {} B ({} rects)",
                w.data_bytes[id], w.rects[id]
            ));
        }
    }
    parts.push(format!(
        "headers {} B ({} updates)",
        w.header_bytes, w.updates
    ));
    parts.join(", ")
}

/// Runs the comparison on every workload of `run` and adds its keys to `out` (none when
/// x11vnc is missing).
pub fn measure(out: &mut Map<String, Value>, share: &Path, run: &[Workload]) {
    let missing = missing_tools();
    if !missing.is_empty() {
        println!(
            "VNC comparison skipped: {} not installed (scripts/bench-vnc.sh installs them); no vnc_* keys",
            missing.join(", ")
        );
        return;
    }
    if !have("x11vnc") {
        println!(
            "VNC comparison skipped: x11vnc is not installed (apt-get install -y x11vnc, or \
             scripts/bench-vnc.sh); no vnc_* keys written"
        );
        return;
    }
    for &wl in run {
        let secs = if wl == Workload::Mixed {
            WORKLOAD_SECS
        } else {
            OTHER_WORKLOAD_SECS
        };
        measure_one(out, share, wl, secs);
    }
}

fn measure_one(out: &mut Map<String, Value>, share: &Path, wl: Workload, secs: f64) {
    let name = wl.name();
    println!(
        "VNC comparison, workload {name}: {secs:.0} s scripted on Xvfb {} ({}); x11vnc {}",
        workload::SCREEN,
        wl.describe(),
        X11VNC_FLAGS.join(" ")
    );
    let zrle = Request {
        encoding: ENC_ZRLE,
        copyrect: true,
        compress_level_9: true,
    };
    let tight = Request {
        encoding: ENC_TIGHT,
        ..zrle
    };
    let mut runs = vec![
        ("ZRLE", "zrle", Peer::X11vnc, zrle),
        ("Tight", "tight", Peer::X11vnc, tight),
    ];
    if have("x0vncserver") {
        runs.push(("TigerVNC ZRLE", "tigervnc_zrle", Peer::Tiger, zrle));
    } else {
        println!("  x0vncserver not installed (tigervnc-scraping-server): TigerVNC left out");
    }
    let mixed = wl == Workload::Mixed;
    let mut best: Option<(u64, &str)> = None;
    for (label, key, peer, req) in runs {
        eprintln!("  [{name}] VNC {label}: one workload run ...");
        match vnc_run(label, peer, req, secs, wl) {
            Ok(r) => {
                let w = &r.window;
                let lossless = if req.encoding == ENC_TIGHT {
                    format!(
                        "; lossless Tight (no JPEG quality level asked): JPEG {} , fill {}, copy {}, palette {}, gradient {}, uncompressed {}",
                        w.tight.jpeg, w.tight.fill, w.tight.copy, w.tight.palette,
                        w.tight.gradient, w.tight.uncompressed
                    )
                } else {
                    String::new()
                };
                println!(
                    "  [{name}] VNC {} (SetEncodings {:?}, server {}): {} B in {:.1} s, {} FramebufferUpdates; rects: {}{lossless}; first picture {} B; {}; {}",
                    r.label,
                    req.encodings(),
                    r.server,
                    w.bytes,
                    r.secs,
                    w.updates,
                    w.rect_summary(),
                    r.initial.bytes,
                    show_split(r.split),
                    describe(&r.report)
                );
                if w.tight.jpeg > 0 {
                    println!("  [{name}] VNC {label}: the server sent JPEG (lossy) rects; figure not comparable, left out");
                    continue;
                }
                if w.updates == 0 || w.bytes == 0 {
                    println!(
                        "  [{name}] VNC {label}: no updates during the workload; figure left out"
                    );
                    continue;
                }
                if mixed && peer == Peer::X11vnc {
                    out.insert(format!("vnc_{key}_bytes"), json!(w.bytes));
                    out.insert(format!("vnc_{key}_updates"), json!(w.updates));
                }
                out.insert(format!("{name}_{key}_bytes"), json!(w.bytes));
                out.insert(
                    format!("{name}_{key}_updates_per_s"),
                    json!(w.updates as f64 / r.secs),
                );
                if best.is_none_or(|(b, _)| w.bytes < b) {
                    best = Some((w.bytes, label));
                }
            }
            Err(e) => {
                println!("  [{name}] VNC {label}: measurement failed, no {name}_{key}_bytes: {e}")
            }
        }
    }
    if best.is_some() {
        out.insert(format!("{name}_secs"), json!(secs));
        if mixed {
            out.insert("vnc_workload_secs".into(), json!(secs));
        }
    }
    if !share.is_file() {
        println!(
            "  Glance side skipped: {} not found (cargo build --release -p glance-cli)",
            share.display()
        );
        return;
    }
    for no_stream in [true, false] {
        glance_one(out, share, wl, secs, no_stream, mixed, best);
    }
}

/// The Glance side of one workload: `no_stream` is the encoder without the stream encodings
/// (keys `<workload>_glance_nostream_*`), else the current one (`<workload>_glance_*`).
fn glance_one(
    out: &mut Map<String, Value>,
    share: &Path,
    wl: Workload,
    secs: f64,
    no_stream: bool,
    mixed: bool,
    best: Option<(u64, &str)>,
) {
    let name = wl.name();
    let (label, glance) = if no_stream {
        ("Glance, each rect on its own", "glance_nostream")
    } else {
        ("Glance, stream encodings", "glance")
    };
    // The original keys stay with the current encoder.
    let mixed = mixed && !no_stream;
    eprintln!("  [{name}] {label}: one workload run ...");
    match glance_run(share, secs, wl, no_stream) {
        Ok(g) => {
            println!(
                "  [{name}] {label} (glance-share on the same display): {} B in {:.1} s, {} updates, {} frames; process wrote {} B (TLS + WebSocket framing); first picture {} B; agent picture equals the X screen afterwards: {}; {}; {}",
                g.bytes,
                g.secs,
                g.updates,
                g.frames,
                g.sent_bytes.map_or("?".into(), |b| b.to_string()),
                g.initial_bytes,
                g.pixel_exact,
                show_split(g.split),
                describe(&g.report)
            );
            println!(
                "  [{name}] {label}: bytes by kind: {}",
                wire_summary(&g.wire)
            );
            if g.bytes == 0 {
                println!("  [{name}] Glance: no update bytes during the workload; figure left out");
                return;
            }
            if mixed {
                out.insert("glance_same_workload_bytes".into(), json!(g.bytes));
                out.insert("glance_same_workload_updates".into(), json!(g.updates));
                if let Some(b) = g.sent_bytes {
                    out.insert("glance_same_workload_sent_bytes".into(), json!(b));
                }
                out.insert(
                    "glance_same_workload_pixel_exact".into(),
                    json!(g.pixel_exact as u8),
                );
            }
            out.insert(format!("{name}_{glance}_bytes"), json!(g.bytes));
            out.insert(
                format!("{name}_{glance}_frames_per_s"),
                json!(g.frames as f64 / g.secs),
            );
            out.insert(
                format!("{name}_{glance}_pixel_exact"),
                json!(g.pixel_exact as u8),
            );
            out.insert(
                format!("{name}_{glance}_bytes_headers"),
                json!(g.wire.header_bytes),
            );
            for id in 0..glance_protocol::update::ENCODING_SLOTS {
                if let Some(e) = Encoding::from_byte(id as u8) {
                    out.insert(
                        format!("{name}_{glance}_bytes_{}", e.name()),
                        json!(g.wire.data_bytes[id]),
                    );
                }
            }
            if let Some((b, best_label)) = best {
                let ratio = g.bytes as f64 / b as f64;
                if mixed {
                    out.insert("glance_vs_best_vnc_ratio".into(), json!(ratio));
                }
                out.insert(format!("{name}_{glance}_vs_best_vnc_ratio"), json!(ratio));
                println!("  [{name}] {label} / best VNC ({best_label}) = {ratio:.3}");
            }
        }
        Err(e) => println!("  [{name}] {label}: measurement failed, no {name}_{glance}_bytes: {e}"),
    }
}
