//! `glance-presence-load`: the presence load test (issue 6). Starts the real `glance-server`
//! binary on 127.0.0.1, connects N idle visitor presence sockets (default 5,000, over TLS),
//! then has an agent signal S of them one at a time through `POST /signalvisitor` and times
//! each signal from the request to its arrival at the visitor's socket. Prints the server's
//! memory per connection and the signal round-trip p50/p99, measured in this run. Bounded;
//! not part of the test command.
//!
//! Usage: glance-presence-load [--visitors N] [--signals S] [--out FILE]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glance_server::ReadyInfo;
use glance_tests::http::request;
use glance_tests::jsonws::JsonWs;
use serde_json::json;

fn arg(name: &str, default: u64) -> u64 {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn out_path() -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == "--out")
        .and_then(|i| a.get(i + 1))
        .cloned()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = arg("--visitors", 5000) as usize;
    let signals = arg("--signals", 500) as usize;
    let dir = std::env::temp_dir().join(format!("glance-presence-load-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let exe = std::env::current_exe().unwrap_or_default();
    // Every visitor connection comes from 127.0.0.1: the per-address budgets are raised.
    let limits = dir.join("limits.toml");
    let _ = std::fs::write(
        &limits,
        "connections_per_address = 1000000\naccepts_per_address_burst = 1000000\n\
         accepts_per_address_per_second = 1000000\n",
    );
    let mut child = match Command::new(exe.with_file_name("glance-server"))
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&dir)
        .arg("--limits")
        .arg(&limits)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("glance-presence-load: cannot start glance-server next to this binary: {e}");
            std::process::exit(1);
        }
    };
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let ready: ReadyInfo = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("glance-presence-load: no ready line ({e}): {line:?}");
            let _ = child.kill();
            std::process::exit(1);
        }
    };
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = rss_kib(pid);

    eprintln!("connecting {n} presence visitors ...");
    let t_open = Instant::now();
    let mut visitors = Vec::with_capacity(n);
    let mut errors = 0usize;
    for i in 0..n {
        let id = format!("v{i}");
        let r = async {
            let mut v = JsonWs::connect(&ready, "/ws/presence", None).await?;
            v.send(&json!({"type": "hello", "group_id": ready.group_id, "visitor_id": id}))
                .await?;
            v.recv(Duration::from_secs(20)).await?;
            v.send(&json!({"type": "presence", "data": {"url": format!("app://page/{i}")}}))
                .await?;
            Ok::<_, glance_tests::TestError>(v)
        };
        match r.await {
            Ok(v) => visitors.push(v),
            Err(e) => {
                errors += 1;
                if errors <= 5 {
                    eprintln!("visitor {i}: {e}");
                }
            }
        }
    }
    let open_secs = t_open.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kib(pid);
    eprintln!(
        "{} connected in {open_secs:.1} s; RSS {rss0} -> {rss1} KiB",
        visitors.len()
    );

    // An agent token for the development group, from a login key signed with its API key.
    let lk = glance_auth::sign_login_key(
        &ready.api_key,
        ready.group_id,
        "load-agent",
        glance_auth::unix_now() + 600,
    );
    let body = json!({"partnerid": ready.group_id, "partneruserid": "load-agent", "loginkey": lk});
    let token = match request(
        &ready,
        "POST",
        "/api/auth/token",
        &[],
        Some(&body.to_string()),
    )
    .await
    {
        Ok(r) if r.status == 200 => r
            .json()
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_string))
            .unwrap_or_default(),
        other => {
            eprintln!("glance-presence-load: token request failed: {other:?}");
            String::new()
        }
    };
    let auth = format!("Bearer {token}");
    let mut rtt = Vec::with_capacity(signals);
    let count = visitors.len().max(1);
    for s in 0..signals.min(visitors.len() * 10) {
        let i = (s * 7919) % count;
        let path = format!("/signalvisitor?groupid={}&visitorid=v{i}", ready.group_id);
        let want = s.to_string();
        let msg = json!({"mtype": "signal", "data": {"n": want}}).to_string();
        let t0 = Instant::now();
        let ok = matches!(
            request(&ready, "POST", &path, &[("Authorization", &auth)], Some(&msg)).await,
            Ok(ref r) if r.status == 200
        );
        let got = ok
            && visitors[i]
                .recv_until(Duration::from_secs(10), |v| v["type"] == "signal")
                .await
                .is_ok_and(|v| v["data"]["n"] == want.as_str());
        if got {
            rtt.push(t0.elapsed().as_secs_f64() * 1000.0);
        } else {
            errors += 1;
        }
    }
    let rss2 = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    rtt.sort_by(|a, b| a.total_cmp(b));
    let report = json!({
        "visitors": visitors.len(),
        "connect_seconds": open_secs,
        "server_rss_kib_idle": rss0,
        "server_rss_kib_connected": rss1,
        "server_rss_kib_after_signals": rss2,
        "server_rss_kib_per_connection": rss1.saturating_sub(rss0) as f64 / visitors.len().max(1) as f64,
        "signals": rtt.len(),
        "signal_rtt_ms_p50": pct(&rtt, 0.5),
        "signal_rtt_ms_p99": pct(&rtt, 0.99),
        "errors": errors,
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    if let Some(p) = out_path() {
        let _ = std::fs::write(p, text);
    }
}
