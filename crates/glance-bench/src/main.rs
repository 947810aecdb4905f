//! glance-bench: measures the hot path and writes target/glance-bench.json plus a table.
//!
//! Every figure is a median over repeated runs in this same run, and speeds are also given as
//! ratios to a floor measured here (memcmp of the frame), because the machines are shared and
//! noisy. End-to-end figures go through a real glance-server on loopback; the idle and
//! workload figures measure a separate `glance-share` process (CPU from /proc).
//!
//!   cargo run --release -p glance-bench [-- --quick] [-- --out PATH] [-- --vnc-only]
//!       [-- --photo FILE.jpg] [-- --photo-only] [-- --mask-only]
//!
//! mask.rs measures the mask stage (the fill of masked areas) against memcmp;
//! `--mask-only` runs just that part and updates its keys in the existing output file.
//!
//! photo.rs measures a photographic 1080p region, lossy (JPEG) against lossless, and the
//! lossless refresh after it (`--photo` tiles a baseline JPEG instead of the synthetic photo;
//! `--photo-only` runs just that part and updates its keys in the existing output file).
//!
//! The last part (vnc.rs, ~2 minutes) compares bytes on the wire with x11vnc's ZRLE and Tight
//! (and TigerVNC's x0vncserver ZRLE) on four scripted X11 workloads; `--vnc-only` runs just
//! that part and updates its keys in the existing output file; `--workloads mixed,terminal`
//! picks workloads (mixed, terminal, moves, small).

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glance_tests::{TestAgent, TestServer};
use glance_visitor::capture::FrameBuf;
use glance_visitor::pipeline::diff::TileDiff;
use glance_visitor::pipeline::FrameProcessor;
use glance_visitor::{
    DisplaySource, Event, EventCode, GlanceVisitor, SyntheticDisplay, VisitorConfig,
    GLANCE_KEYTYPE_RANDOM,
};
use serde_json::{json, Map, Value};

mod mask;
mod photo;
mod vnc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Median milliseconds of `f` over `reps` runs (after one warm-up).
fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn desktop(w: u16, h: u16, steps: u32) -> SyntheticDisplay {
    let d = SyntheticDisplay::new(w, h);
    for n in 0..steps {
        d.step(n);
    }
    d
}

/// Changes one pixel in every 50th tile (2 % of the tiles).
fn two_percent(f: &FrameBuf) -> FrameBuf {
    let mut g = f.clone();
    let (tx, ty) = (
        (f.width as usize).div_ceil(32),
        (f.height as usize).div_ceil(32),
    );
    for t in (0..tx * ty).step_by(50) {
        let (x, y) = ((t % tx) * 32 + 5, (t / tx) * 32 + 5);
        if x < f.width as usize && y < f.height as usize {
            let i = y * f.stride + x * 4;
            g.data[i] ^= 0x5a;
        }
    }
    g
}

fn memcmp_and_diff(out: &mut Map<String, Value>, w: u16, h: u16, tag: &str, reps: usize) {
    let a = desktop(w, h, 30).snapshot();
    let b = a.clone();
    let memcmp = time_ms(reps, || {
        black_box(black_box(&a.data) == black_box(&b.data));
    });
    let mut d = TileDiff::default();
    let nochange = time_ms(reps, || {
        black_box(d.diff(black_box(&a), black_box(&b)));
    });
    out.insert(format!("memcmp_{tag}_ms"), json!(memcmp));
    out.insert(format!("diff_nochange_{tag}_ms"), json!(nochange));
    out.insert(
        format!("diff_nochange_{tag}_ratio"),
        json!(nochange / memcmp),
    );
    if tag == "1080p" {
        let c = two_percent(&a);
        let two = time_ms(reps, || {
            black_box(d.diff(black_box(&a), black_box(&c)));
        });
        out.insert("diff_2pct_1080p_ms".into(), json!(two));
        out.insert("diff_2pct_1080p_ratio".into(), json!(two / memcmp));
    }
}

/// Times FrameProcessor::process for `change` applied to a primed processor; returns median
/// ms and median bytes.
fn encode_case(
    reps: usize,
    no_moves: bool,
    setup: impl Fn() -> SyntheticDisplay,
    change: impl Fn(&SyntheticDisplay, usize),
) -> (f64, f64) {
    let (mut ms, mut bytes) = (Vec::new(), Vec::new());
    for r in 0..reps + 1 {
        let d = setup();
        let mut p = FrameProcessor::default();
        p.no_moves = no_moves;
        let mut out = Vec::new();
        let mut cur = d.snapshot();
        p.process(&mut cur, false, false, &mut out);
        change(&d, r);
        let mut cur = d.snapshot();
        out.clear();
        let t = Instant::now();
        p.process(&mut cur, false, false, &mut out);
        let e = t.elapsed().as_secs_f64() * 1000.0;
        if r > 0 {
            ms.push(e);
            bytes.push(out.iter().map(|m| m.len() as f64).sum());
        }
    }
    (median(ms), median(bytes))
}

fn encodes(out: &mut Map<String, Value>, reps: usize) {
    // Typing: a line of text appears in a terminal.
    let (ms, bytes) = encode_case(
        reps,
        false,
        || desktop(1920, 1080, 5),
        |d, r| d.step(5 + (r as u32 % 20)),
    );
    out.insert("encode_typing_1080p_ms".into(), json!(ms));
    out.insert("encode_typing_1080p_bytes".into(), json!(bytes));
    // Scrolling: a full terminal scrolls by 3 lines (54 px) and a new line appears.
    let full = || desktop(1920, 1080, 60);
    let scroll = |d: &SyntheticDisplay, _r: usize| {
        let (tx, ty, tw, th) = d.terminal_rect();
        d.scroll_up(tx, ty, tw, th, 54, [16, 16, 16]);
        d.draw_text(tx + 4, ty + th - 20, "$ ls -la /var/log", [180, 230, 180]);
    };
    let (ms, bytes) = encode_case(reps, false, full, scroll);
    let (ms_nc, bytes_nc) = encode_case(reps, true, full, scroll);
    out.insert("encode_scroll_1080p_ms".into(), json!(ms));
    out.insert("encode_scroll_1080p_bytes".into(), json!(bytes));
    out.insert("encode_scroll_nocopy_1080p_ms".into(), json!(ms_nc));
    out.insert("encode_scroll_nocopy_1080p_bytes".into(), json!(bytes_nc));
    out.insert(
        "scroll_bytes_ratio_vs_nocopy".into(),
        json!(bytes / bytes_nc),
    );
    // A new desktop: every pixel changes (colours inverted, windows and text kept).
    let (ms, bytes) = encode_case(
        reps.min(9),
        false,
        || desktop(1920, 1080, 30),
        |d, _| {
            let f = d.snapshot();
            let (w, h) = (f.width, f.height);
            for y in 0..h {
                for x in 0..w {
                    let i = y as usize * f.stride + x as usize * 4;
                    d.fill_rect(
                        x,
                        y,
                        1,
                        1,
                        [255 - f.data[i + 2], 255 - f.data[i + 1], 255 - f.data[i]],
                    );
                }
            }
        },
    );
    out.insert("encode_fullchange_1080p_ms".into(), json!(ms));
    out.insert("encode_fullchange_1080p_bytes".into(), json!(bytes));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn e2e_latency(out: &mut Map<String, Value>, samples: usize) {
    let rt = runtime();
    rt.block_on(async {
        let server = TestServer::start().await.expect("server");
        let ready = server.ready().clone();
        let d = desktop(1920, 1080, 3);
        let (tx, rx) = std::sync::mpsc::channel::<Event>();
        let v = GlanceVisitor::with_source(
            move |e: &Event| {
                let _ = tx.send(e.clone());
            },
            DisplaySource::Synthetic(d.clone()),
        )
        .expect("visitor");
        v.init(VisitorConfig {
            group_id: ready.group_id as i32,
            service_url: Some(ready.session_url.clone()),
            ca_cert_path: Some(ready.ca_cert.clone().into()),
            ..Default::default()
        })
        .expect("init");
        v.start_session_key(GLANCE_KEYTYPE_RANDOM).expect("start");
        let key = loop {
            let e = rx.recv_timeout(Duration::from_secs(20)).expect("event");
            if e.code == EventCode::ConnectedToSession {
                break e.property("sessionkey").unwrap_or_default().to_string();
            }
            assert_ne!(e.code, EventCode::SessionEnded, "{}", e.message);
        };
        let agent = TestAgent::join_dev(&ready, &key).await.expect("agent");
        let snap = d.snapshot();
        agent
            .wait_until("first picture", Duration::from_secs(30), |s| {
                s.fb.equals_bgrx(&snap.view())
            })
            .await
            .expect("first picture");
        let mut lat = Vec::new();
        for i in 0..samples as u32 {
            d.workload_tick(i % 30 + 1000);
            d.step(3 + i % 40);
            let snap = d.snapshot();
            let t = Instant::now();
            agent
                .wait_until("typed", Duration::from_secs(10), |s| {
                    s.fb.equals_bgrx(&snap.view())
                })
                .await
                .expect("agent caught up");
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out.insert(
            "e2e_latency_p50_ms".into(),
            json!(percentile(lat.clone(), 0.5)),
        );
        out.insert("e2e_latency_p99_ms".into(), json!(percentile(lat, 0.99)));
        let _ = v.end_session();
        drop(agent);
        drop(v);
        drop(server);
    });
}

/// A `glance-share` command pointed at the server of `ready` (stdout piped, stderr dropped);
/// callers add what to share.
pub(crate) fn share_command(
    share: impl AsRef<std::ffi::OsStr>,
    ready: &glance_server::ReadyInfo,
) -> Command {
    let mut c = Command::new(share);
    c.args([
        "--service-url",
        &ready.session_url,
        "--ca-cert",
        &ready.ca_cert,
    ])
    .args(["--group", &ready.group_id.to_string()])
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    c
}

/// utime + stime of `pid` in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn process_figures(out: &mut Map<String, Value>, share: &str, idle_secs: u64, work_secs: u64) {
    let rt = runtime();
    rt.block_on(async {
        let server = TestServer::start().await.expect("server");
        let ready = server.ready().clone();
        let mut child = share_command(share, &ready)
            .args([
                "--synthetic",
                "1920x1080",
                "--key",
                "bench-key",
                "--persist",
                "--idle-secs",
                &idle_secs.to_string(),
                "--workload-secs",
                &work_secs.to_string(),
            ])
            .spawn()
            .expect("glance-share (build it with cargo build --release -p glance-cli)");
        let pid = child.id();
        let (ltx, mut lrx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = ltx.send(line);
            }
        });
        let next_phase = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
                          p: &'static str| {
            let deadline = Instant::now() + Duration::from_secs(idle_secs + work_secs + 60);
            loop {
                assert!(Instant::now() < deadline, "no {p} from glance-share");
                match rx.try_recv() {
                    Ok(l) if l.contains(p) => return,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        };
        next_phase(&mut lrx, "EventConnectedToSession");
        let agent = TestAgent::join_dev(&ready, "bench-key")
            .await
            .expect("agent");
        next_phase(&mut lrx, "idle_start");
        // Let the first picture settle before measuring idle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (c0, t0) = (cpu_secs(pid), Instant::now());
        next_phase(&mut lrx, "workload_start");
        let idle = (cpu_secs(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0;
        let (c1, t1, b1) = (cpu_secs(pid), Instant::now(), agent.snapshot().update_bytes);
        next_phase(&mut lrx, "workload_end");
        let secs = t1.elapsed().as_secs_f64();
        let cpu = (cpu_secs(pid) - c1) / secs * 100.0;
        let bytes = (agent.snapshot().update_bytes - b1) as f64 / secs;
        out.insert("idle_cpu_pct".into(), json!(idle));
        out.insert("workload_cpu_pct".into(), json!(cpu));
        out.insert("workload_bytes_per_s".into(), json!(bytes));
        out.insert("visitor_peak_rss_mb".into(), json!(peak_rss_mb(pid)));
        let _ = child.kill();
        let _ = child.wait();
        drop(agent);
        drop(server);
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out_path = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "target/glance-bench.json".into());
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_default();
    let share = exe_dir.join("glance-share");
    let reps = if quick { 9 } else { 31 };
    let vnc_only = args.iter().any(|a| a == "--vnc-only");
    let photo_only = args.iter().any(|a| a == "--photo-only");
    if args.iter().any(|a| a == "--mask-only") {
        let mut out = std::fs::read_to_string(&out_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
            .unwrap_or_default();
        eprintln!("measuring the mask stage ...");
        mask::measure(&mut out, reps);
        write_and_print(&out_path, &out, mask::KEYS);
        return;
    }
    let photo_file = args
        .iter()
        .position(|a| a == "--photo")
        .and_then(|i| args.get(i + 1).cloned());
    if photo_only {
        let mut out = std::fs::read_to_string(&out_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
            .unwrap_or_default();
        eprintln!("measuring a photographic 1080p region ...");
        if let Err(e) = photo::measure(&mut out, reps.min(15), photo_file.as_deref()) {
            eprintln!("photo figures: {e}");
            std::process::exit(1);
        }
        write_and_print(&out_path, &out, photo::KEYS);
        return;
    }

    let workloads = match vnc::workloads_arg(&args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut out = if vnc_only {
        vnc::kept_figures(&out_path, &workloads)
    } else {
        Map::new()
    };
    if !vnc_only {
        eprintln!("measuring memcmp and diff ...");
        memcmp_and_diff(&mut out, 1920, 1080, "1080p", reps);
        memcmp_and_diff(&mut out, 3840, 2160, "4k", reps);
        eprintln!("measuring the mask stage ...");
        mask::measure(&mut out, reps);
        eprintln!("measuring encodes ...");
        encodes(&mut out, reps.min(15));
        eprintln!("measuring a photographic 1080p region ...");
        if let Err(e) = photo::measure(&mut out, reps.min(15), photo_file.as_deref()) {
            eprintln!("photo figures skipped: {e}");
        }
        eprintln!("measuring end-to-end latency through glance-server ...");
        e2e_latency(&mut out, if quick { 20 } else { 60 });
        eprintln!("measuring the visitor process: idle, workload, memory ...");
        process_figures(
            &mut out,
            &share.to_string_lossy(),
            if quick { 4 } else { 10 },
            if quick { 8 } else { 30 },
        );
    }
    eprintln!("measuring bytes against a VNC server on the same X11 workload ...");
    vnc::measure(&mut out, &share, &workloads);

    write_and_print(&out_path, &out, &[]);
}

/// Writes `out` to `path` and prints it as a table (only `keys` when not empty).
fn write_and_print(path: &str, out: &Map<String, Value>, keys: &[&str]) {
    let text = serde_json::to_string_pretty(&Value::Object(out.clone())).unwrap_or_default();
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(path, &text) {
        eprintln!("cannot write {path}: {e}");
    }
    println!("{:<36} {:>14}", "figure", "value");
    for (k, v) in out {
        if !keys.is_empty() && !keys.contains(&k.as_str()) {
            continue;
        }
        match v.as_f64() {
            Some(f) => println!("{k:<36} {f:>14.3}"),
            None => println!("{k:<36} {:>14}", v.as_str().unwrap_or("?")),
        }
    }
    println!("(written to {path})");
}
