//! Finding 5: a first start killed at the wrong moment (40 kills in the first 30 ms) once
//! left an empty ca.pem beside a key, and the next start refused ("no CERTIFICATE block").
//! Now every state file is replaced atomically (the CA key before its certificate), and a
//! certificate file without a certificate beside a key means "no CA yet".

use std::time::Duration;

use rand::Rng;

use crate::common::ServerProc;

fn args(state: &std::path::Path) -> Vec<String> {
    vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--state-dir".into(),
        state.display().to_string(),
    ]
}

#[test]
fn a_first_start_killed_at_any_moment_leaves_a_state_dir_that_starts() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let mut rng = rand::rng();
    for i in 0..40 {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("state");
        let mut first = ServerProc::spawn(&args(&dir), &log);
        // 0 to 30 ms, half of them in the first 6 ms: a debug build is ready within a few
        // milliseconds, and the CA is written in that window.
        let max_us = if i % 2 == 0 { 6_000 } else { 30_000 };
        std::thread::sleep(Duration::from_micros(rng.random_range(0..max_us)));
        first.kill();
        let mut next = ServerProc::spawn(&args(&dir), &log);
        if let Err(e) = next.ready_line(Duration::from_secs(10)) {
            let files: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| {
                            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                            format!("{} ({len} bytes)", e.file_name().to_string_lossy())
                        })
                        .collect()
                })
                .unwrap_or_default();
            panic!(
                "start {i} after a killed first start failed: {e}; state dir {files:?}; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
}

#[test]
fn an_empty_ca_pem_beside_a_key_starts_with_a_new_ca() {
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("server.log");
    let dir = state.path().join("state");
    let (mut s, ready) = ServerProc::start(&args(&dir), &log, Duration::from_secs(10));
    s.kill();
    let key_pem = std::fs::read(dir.join("ca.key.pem")).unwrap();
    assert!(!key_pem.is_empty());
    // What an interrupted first start of the old code left.
    std::fs::write(dir.join("ca.pem"), b"").unwrap();
    let (mut s, ready2) = ServerProc::start(&args(&dir), &log, Duration::from_secs(10));
    let pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "{pem:?}");
    assert_eq!(ready2.ca_cert, ready.ca_cert);
    s.kill();
    // A certificate that is there but corrupt still refuses, saying which file.
    std::fs::write(
        dir.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut s = ServerProc::spawn(&args(&dir), &log);
    assert!(s.ready_line(Duration::from_secs(10)).is_err());
    let status = s.child.wait().unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("ca.pem is corrupt"), "{text}");
}
