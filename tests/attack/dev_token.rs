//! Finding 7, the development token on the agent page: a server started without a config
//! file (the README's main job), also on 0.0.0.0, handed its all-groups agent token to anyone
//! who GET /agent. Such a server now listens on loopback only unless told otherwise.

use std::time::Duration;

use crate::common::server_bin;

#[test]
fn a_server_without_config_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(server_bin())
        .args(["--listen", "0.0.0.0:0", "--state-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It must exit by itself, at once, before binding anything.
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("a development server started on 0.0.0.0");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert!(!status.success());
    assert!(out.stdout.is_empty(), "it printed a ready line");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--dev-insecure") && err.contains("--config"),
        "{err}"
    );
}

#[test]
fn the_options_allow_it_only_when_told() {
    let mut o = glance_server::ServerOptions::new(([0, 0, 0, 0], 0).into(), "/nonexistent");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(glance_server::Server::start(o.clone()))
        .unwrap_err();
    assert!(e.to_string().contains("--dev-insecure"), "{e}");
    // With a config file there is no development token to hand out: allowed (checked
    // without binding: validation passes and the state directory is what fails).
    o.config = Some(glance_server::Config::from_toml("[[group]]\nid = 1\n").unwrap());
    o.state_dir = "/proc/nonexistent/state".into();
    let e = rt
        .block_on(glance_server::Server::start(o.clone()))
        .unwrap_err();
    assert!(!e.to_string().contains("--dev-insecure"), "{e}");
    o.config = None;
    o.dev_insecure = true;
    let e = rt.block_on(glance_server::Server::start(o)).unwrap_err();
    assert!(!e.to_string().contains("--dev-insecure"), "{e}");
}
