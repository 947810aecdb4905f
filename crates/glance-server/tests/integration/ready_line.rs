//! The binary: the ready line comes first on stdout with every field, and its URLs answer.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use glance_server::ReadyInfo;
use glance_tests::{http, RawVisitor, TestAgent};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{logs, T};

const FIELDS: [&str; 11] = [
    "session_url",
    "presence_url",
    "agent_js",
    "agent_url",
    "ca_cert",
    "agent_token",
    "group_id",
    "api_key",
    "direct_addr",
    "https_addr",
    "version",
];

/// Starts the glance-server binary on ephemeral ports with `state_dir`, stdout piped.
fn spawn_server(state_dir: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_glance-server"))
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_the_ready_line_first_and_its_urls_answer() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_server(dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(T, lines.next_line())
        .await
        .expect("a ready line within 10 s")
        .unwrap()
        .expect("stdout has a first line");
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    for f in FIELDS {
        let x = v
            .get(f)
            .unwrap_or_else(|| panic!("ready line lacks {f}: {first}"));
        assert!(!x.is_null() && x != "", "{f} is empty in {first}");
    }
    let ready: ReadyInfo = serde_json::from_value(v).unwrap();

    let https: SocketAddr = ready.https_addr.parse().unwrap();
    let direct: SocketAddr = ready.direct_addr.parse().unwrap();
    assert!(https.port() != 0 && direct.port() != 0 && https.port() != direct.port());
    assert_eq!(
        ready.session_url,
        format!("https://127.0.0.1:{}", https.port())
    );
    assert_eq!(ready.agent_url, format!("{}/agent", ready.session_url));
    assert!(Path::new(&ready.ca_cert).is_absolute());
    assert_eq!(
        std::fs::canonicalize(&ready.ca_cert).unwrap(),
        std::fs::canonicalize(dir.path().join("ca.pem")).unwrap()
    );
    assert!(dir.path().join("ca.key.pem").exists());
    assert_eq!(ready.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(ready.group_id, 1);

    let r = http::get(&ready, "/healthz").await.unwrap();
    assert_eq!(r.status, 200);

    let r = http::get(&ready, "/api/visitor/config?groupid=1")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json().unwrap();
    assert_eq!(j["direct"], format!("127.0.0.1:{}", direct.port()));
    assert_eq!(
        j["tunnel"],
        format!("wss://127.0.0.1:{}/ws/visitor", https.port())
    );
    assert_eq!(j["min_version"], 1);
    assert_eq!(j["max_version"], 1);
    assert!(j["server"].as_str().unwrap().starts_with("glance-server "));

    let r = http::get(&ready, "/api/visitor/config?groupid=7")
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json().unwrap(),
        serde_json::json!({"error": "unknown group 7"})
    );
    let r = http::get(&ready, "/api/visitor/config?groupid=x")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = http::get(&ready, "/api/visitor/config").await.unwrap();
    assert_eq!(r.status, 400);

    let r = http::get(&ready, "/agent").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.body.contains(&ready.agent_token));
    assert!(!r.body.contains("__GLANCE_DEV_TOKEN__") && !r.body.contains("__GLANCE_GROUP_ID__"));
    let r = http::get(&ready, "/agent/viewer.js").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/javascript"));
    assert!(!r.body.is_empty());

    // The credentials work: a visitor starts a session, the development agent joins it.
    let v = RawVisitor::start_dev(&ready, None, 32, 32).await.unwrap();
    let a = TestAgent::join_dev(&ready, v.key()).await.unwrap();
    assert!(a.with_state(|s| s.joined().is_some()), "{:?}", a);

    // Restarting on the same state dir reuses the CA and the credentials (secrets.json).
    let ca_before = std::fs::read(&ready.ca_cert).unwrap();
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(T, child.wait()).await;
    let mut child = spawn_server(dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(T, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ready2: ReadyInfo = serde_json::from_str(&line).unwrap();
    assert_eq!(std::fs::read(&ready2.ca_cert).unwrap(), ca_before);
    assert_eq!(ready2.agent_token, ready.agent_token);
    assert_eq!(ready2.api_key, ready.api_key);
    assert_eq!(http::get(&ready2, "/healthz").await.unwrap().status, 200);
    child.start_kill().unwrap();
}

#[tokio::test]
async fn a_bad_config_file_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("glance.toml");
    std::fs::write(&cfg, "[[group]]\nid = 3\nmax_guests = 0\n").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_glance-server"))
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&cfg)
        .output();
    let out = tokio::time::timeout(T, out).await.unwrap().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group[0].max_guests"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_certificate_replaces_the_development_ca() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let srv = glance_tests::TestServer::start_with(glance_tests::TestServerOptions {
        cert: Some((cert.clone(), key)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(srv.ready().ca_cert, "");
    assert!(!srv.state_dir().join("ca.pem").exists());
    let mut ready = srv.ready().clone();
    ready.ca_cert = cert.display().to_string();
    assert_eq!(http::get(&ready, "/healthz").await.unwrap().status, 200);
    let v = RawVisitor::start_dev(&ready, None, 16, 16).await.unwrap();
    let a = TestAgent::join_dev(&ready, v.key()).await.unwrap();
    assert!(a.with_state(|s| s.joined().is_some()));
    // /ws/visitor is the tunnel: a plain GET (no WebSocket upgrade) is refused.
    let r = http::get(&ready, "/ws/visitor").await.unwrap();
    assert_eq!(r.status, 400);
}
