//! The combined flood: one client (from four loopback addresses) tries every lock-out at
//! once for a bounded time — key sweeps, session hoarding, slow POST bodies, token-less agent
//! sockets, presence sockets and 60 KB malformed messages — against the real binary, while a
//! healthy session on 127.0.0.1 is watched: it keeps at least 90 % of its update rate, a new
//! agent joins and a new visitor starts within 2 s, and the server's open files stay below
//! its cap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use glance_protocol::Control;
use glance_server::ReadyInfo;
use glance_tests::visitor::start_params;
use glance_tests::{Picture, RawVisitor, TestAgent};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{attacker_ip, Spawned};

/// How long the flood runs.
const FLOOD: Duration = Duration::from_secs(20);
/// The healthy visitor's frame interval (20 a second).
const FRAME_EVERY: Duration = Duration::from_millis(50);

/// What the attacker managed, for the failure message.
#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    held: AtomicU64,
}

async fn attack(r: ReadyInfo, addr: std::net::IpAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut held: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let junk = format!(r#"{{"type":"{}"}}"#, "B".repeat(60_000));
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        tally.attempts.fetch_add(1, Ordering::Relaxed);
        match i % 5 {
            // A key sweep / hoarding: start a session with a chosen key and keep it.
            0 => {
                if let Ok(mut v) = RawVisitor::connect_from(&r, Some(addr)).await {
                    if v.hello().await.is_ok() {
                        let key = format!("{:06}", (i * 7919) % 1_000_000);
                        if let Ok(Control::SessionStarted { .. }) =
                            v.start_session(start_params(&r, Some(&key), 16, 16)).await
                        {
                            held.push(Box::new(v));
                        }
                    }
                }
            }
            // A slow POST: headers, then a body that never comes.
            1 => {
                if let Ok(mut tls) =
                    glance_tests::tls::connect_from(&r, &r.https_addr, None, Some(addr)).await
                {
                    let head = b"POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{";
                    if tls.write_all(head).await.is_ok() {
                        held.push(Box::new(tls));
                    }
                }
            }
            // A token-less agent socket, held.
            2 => {
                if let Ok(ws) =
                    glance_tests::tls::websocket_from(&r, "/ws/agent", None, None, Some(addr)).await
                {
                    held.push(Box::new(ws));
                }
            }
            // A presence socket with a hello, held.
            3 => {
                if let Ok(mut ws) =
                    glance_tests::tls::websocket_from(&r, "/ws/presence", None, None, Some(addr))
                        .await
                {
                    let hello = serde_json::json!({"type":"hello","group_id":r.group_id,"visitor_id":format!("p{i}")});
                    if ws
                        .send(Message::Text(hello.to_string().into()))
                        .await
                        .is_ok()
                    {
                        held.push(Box::new(ws));
                    }
                }
            }
            // A 60 KB malformed message.
            _ => {
                if let Ok(mut ws) =
                    glance_tests::tls::websocket_from(&r, "/ws/visitor", None, None, Some(addr))
                        .await
                {
                    let _ = ws.send(Message::Text(junk.clone().into())).await;
                }
            }
        }
        tally.held.store(held.len() as u64, Ordering::Relaxed);
        // One client, pacing itself a little so that the test machine's two cores are
        // shared with the server and the healthy session rather than spent in the client.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Frames the agent presented during `d`.
async fn frames_during(agent: &TestAgent, d: Duration) -> f64 {
    let f0 = agent.with_state(|s| s.frames);
    let t0 = Instant::now();
    tokio::time::sleep(d).await;
    let f1 = agent.with_state(|s| s.frames);
    (f1 - f0) as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_session_survives_every_lock_out_at_once() {
    let srv = Spawned::start(&[], &[("RUST_LOG", "warn")]);
    let r = srv.ready.clone();
    let real = Arc::new(
        RawVisitor::start_dev(&r, Some("700700"), 64, 48)
            .await
            .unwrap(),
    );
    let agent = TestAgent::join_dev(&r, "700700").await.unwrap();
    let sender = {
        let real = real.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FRAME_EVERY);
            for seq in 1u32.. {
                tick.tick().await;
                let pic = Picture::pattern(64, 48, seq);
                if real.send_frame(&pic.key_update(0, seq)).await.is_err() {
                    return;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = frames_during(&agent, Duration::from_secs(4)).await;
    assert!(baseline > 15.0, "baseline {baseline:.1} frames/s");

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let attacker = {
        let (r, stop, tally) = (r.clone(), stop.clone(), tally.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let tasks: Vec<_> = (0..4)
                    .map(|n| {
                        tokio::spawn(attack(
                            r.clone(),
                            attacker_ip(10 + n),
                            stop.clone(),
                            tally.clone(),
                        ))
                    })
                    .collect();
                tokio::time::sleep(FLOOD).await;
                stop.store(true, Ordering::Relaxed);
                for t in tasks {
                    let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
                }
            });
        })
    };
    // Let the flood build up, then measure.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = frames_during(&agent, Duration::from_secs(8)).await;

    let t0 = Instant::now();
    let late = TestAgent::join_dev(&r, "700700").await.unwrap();
    let join_secs = t0.elapsed().as_secs_f64();
    assert!(
        late.with_state(|s| s.joined().is_some()),
        "{}",
        late.with_state(|s| s.summary())
    );
    let t0 = Instant::now();
    let newcomer = RawVisitor::start_dev(&r, None, 16, 16).await;
    let start_secs = t0.elapsed().as_secs_f64();
    let files = srv.open_files();

    let attacker_done = tokio::task::spawn_blocking(move || attacker.join()).await;
    sender.abort();
    let (attempts, held) = (
        tally.attempts.load(Ordering::Relaxed),
        tally.held.load(Ordering::Relaxed),
    );
    eprintln!(
        "flood: baseline {baseline:.1} frames/s, during {during:.1} ({:.0} %); late join {join_secs:.2} s, \
         new visitor {start_secs:.2} s; open files {files:?}; attacker {attempts} attempts, {held} held",
        100.0 * during / baseline
    );
    assert!(attacker_done.is_ok());
    assert!(
        during >= 0.9 * baseline,
        "{during:.1} of {baseline:.1} frames/s under the flood"
    );
    assert!(join_secs < 2.0, "a new agent took {join_secs:.2} s to join");
    assert!(
        newcomer.is_ok(),
        "a new visitor could not start: {newcomer:?}"
    );
    assert!(
        start_secs < 2.0,
        "a new visitor took {start_secs:.2} s to start"
    );
    if let Some((open, soft)) = files {
        assert!(
            open + glance_server::guard::conn::FD_RESERVE / 2 < soft,
            "{open} open files, limit {soft}"
        );
    }
    assert!(agent.with_state(|s| s.ended_status().is_none() && !s.closed));
}
