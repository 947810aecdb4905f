//! Helpers for the visitor's end-to-end tests: a visitor whose events land in a queue, and
//! bounded waits for events and for an agent's picture.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use glance_server::ReadyInfo;
use glance_tests::TestAgent;
use glance_visitor::{
    DisplaySource, Event, EventCode, GlanceVisitor, SyntheticDisplay, VisitorConfig,
};

pub struct Visitor {
    pub v: GlanceVisitor,
    pub rx: mpsc::Receiver<Event>,
    pub display: Option<SyntheticDisplay>,
}

pub fn config(ready: &ReadyInfo, visitor_id: Option<&str>) -> VisitorConfig {
    VisitorConfig {
        group_id: ready.group_id as i32,
        name: "E2E Visitor".into(),
        visitor_id: visitor_id.map(str::to_string),
        service_url: Some(ready.session_url.clone()),
        ca_cert_path: Some(ready.ca_cert.clone().into()),
        ..Default::default()
    }
}

impl Visitor {
    /// A visitor sharing a synthetic display, initialised against `ready`.
    pub async fn synthetic(ready: &ReadyInfo, w: u16, h: u16) -> Visitor {
        let d = SyntheticDisplay::new(w, h);
        let mut v = Visitor::with_source(DisplaySource::Synthetic(d.clone()));
        v.display = Some(d);
        v.v.init(config(ready, None)).unwrap();
        v.expect(EventCode::VisitorInitialized, 5).await;
        v
    }

    pub fn with_source(source: DisplaySource) -> Visitor {
        let (tx, rx) = mpsc::channel();
        let v = GlanceVisitor::with_source(
            move |e: &Event| {
                let _ = tx.send(e.clone());
            },
            source,
        )
        .unwrap();
        Visitor {
            v,
            rx,
            display: None,
        }
    }

    pub fn display(&self) -> &SyntheticDisplay {
        self.display.as_ref().unwrap()
    }

    /// The next event with `code`, skipping others; panics after `secs`.
    pub async fn expect(&self, code: EventCode, secs: u64) -> Event {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut skipped = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(e) if e.code == code => return e,
                Ok(e) => skipped.push(format!("{} ({})", e.code.name(), e.message)),
                Err(_) => {
                    assert!(
                        Instant::now() < deadline,
                        "no {} within {secs} s; skipped {skipped:?}",
                        code.name()
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Starts a random-key session and returns the key.
    /// Starts a session with a random key and returns it. On a platform display it shares the
    /// main monitor whole (`main`): the default display is the test process's own windows
    /// (the tests of that are in e2e_app.rs).
    pub async fn start_random(&self) -> String {
        if self.display.is_none() {
            let mut p = glance_visitor::StartParams {
                key: glance_visitor::GLANCE_KEYTYPE_RANDOM.into(),
                ..Default::default()
            };
            p.display_params.display_name = "main".into();
            return self.start_params(p).await;
        }
        self.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = self.expect(EventCode::ConnectedToSession, 20).await;
        e.property("sessionkey").unwrap().to_string()
    }

    /// Starts a session with a random key on the default display (this application) and
    /// returns the key.
    pub async fn start_random_default(&self) -> String {
        self.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = self.expect(EventCode::ConnectedToSession, 20).await;
        e.property("sessionkey").unwrap().to_string()
    }

    /// Starts a session with `params` and returns its key.
    pub async fn start_params(&self, params: glance_visitor::StartParams) -> String {
        self.v.start_session_params(params).unwrap();
        let e = self.expect(EventCode::ConnectedToSession, 20).await;
        e.property("sessionkey").unwrap().to_string()
    }

    /// Waits until the session ends and returns the reason.
    pub async fn ended(&self, secs: u64) -> String {
        let e = self.expect(EventCode::SessionEnded, secs).await;
        e.property("reason").unwrap_or_default().to_string()
    }
}

/// Waits until `agent` shows exactly the synthetic display's current picture.
pub async fn agent_matches(agent: &TestAgent, d: &SyntheticDisplay, what: &str) {
    let snap = d.snapshot();
    agent
        .wait_until(what, Duration::from_secs(15), |s| {
            s.fb.equals_bgrx(&snap.view())
        })
        .await
        .unwrap();
}

/// A server whose direct port and tunnel (HTTPS port) are announced through two fault
/// proxies, so a test can drop, stall or refuse either.
pub async fn server_behind_two_proxies(
    timing: Option<glance_server::Timing>,
) -> (
    glance_tests::TestServer,
    glance_tests::FaultProxy,
    glance_tests::FaultProxy,
) {
    let direct = glance_tests::FaultProxy::bind().await.unwrap();
    let tunnel = glance_tests::FaultProxy::bind().await.unwrap();
    let server = glance_tests::TestServer::start_with(glance_tests::TestServerOptions {
        advertise_direct: Some(direct.addr().to_string()),
        advertise_tunnel: Some(tunnel.addr().to_string()),
        timing,
        ..Default::default()
    })
    .await
    .unwrap();
    direct
        .set_target(server.ready().direct_addr.parse().unwrap())
        .unwrap();
    tunnel
        .set_target(server.ready().https_addr.parse().unwrap())
        .unwrap();
    (server, direct, tunnel)
}

/// An agent authorization token for group 7 (API key `api_key`) from a login key.
pub async fn agent_token(r: &ReadyInfo, api_key: &str) -> String {
    let body = serde_json::json!({"partnerid": 7, "partneruserid": "agent1",
        "loginkey": glance_auth::sign_login_key(api_key, 7, "agent1", glance_auth::unix_now() + 600)});
    let resp =
        glance_tests::http::request(r, "POST", "/api/auth/token", &[], Some(&body.to_string()))
            .await
            .unwrap();
    resp.json().unwrap()["token"].as_str().unwrap().to_string()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An Xvfb on a free display number, killed on drop.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a display number it picks itself (-displayfd), so parallel tests never
    /// share one.
    pub fn start(size: &str) -> Xvfb {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                size,
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb must be installed (scripts/setup.sh installs it)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("Xvfb stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("Xvfb prints its display");
        let display = format!(":{}", line.trim());
        let x = Xvfb { child, display };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if x11rb::rust_connection::RustConnection::connect(Some(&x.display)).is_ok() {
                return x;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Xvfb on {} does not answer", x.display);
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Moves the X pointer to (x, y) of the root window (WarpPointer) and waits until the server
/// has done it.
#[cfg(target_os = "linux")]
pub fn warp_pointer(display: &str, x: i16, y: i16) {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::ConnectionExt as _;
    let (conn, screen) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    conn.warp_pointer(x11rb::NONE, root, 0, 0, 0, 0, x, y)
        .unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
}

/// Two RandR monitors on one 1024x768 Xvfb screen: "left" (primary, holding the screen's
/// output, so the server's automatic monitor gives way) and "right", 512 wide each.
#[cfg(target_os = "linux")]
pub fn two_monitors(display: &str) {
    use x11rb::connection::Connection;
    use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
    use x11rb::protocol::xproto::ConnectionExt as _;
    let (conn, screen) = x11rb::rust_connection::RustConnection::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let outputs = conn
        .randr_get_screen_resources(root)
        .unwrap()
        .reply()
        .unwrap()
        .outputs;
    for (i, name) in ["left", "right"].iter().enumerate() {
        let atom = conn
            .intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom;
        conn.randr_set_monitor(
            root,
            MonitorInfo {
                name: atom,
                primary: i == 0,
                automatic: false,
                x: (i * 512) as i16,
                y: 0,
                width: 512,
                height: 768,
                width_in_millimeters: 100,
                height_in_millimeters: 150,
                outputs: if i == 0 { outputs.clone() } else { vec![] },
            },
        )
        .unwrap();
    }
    conn.get_input_focus().unwrap().reply().unwrap();
}

/// Waits until the agent shows exactly what the X server shows now (re-read each round).
#[cfg(target_os = "linux")]
pub async fn agent_matches_screen(
    agent: &TestAgent,
    cap: &mut glance_visitor::capture::x11::X11Capturer,
    what: &str,
) {
    use glance_visitor::capture::{Capturer, FrameBuf};
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = FrameBuf::default();
    loop {
        cap.capture(&mut screen).unwrap();
        let ok = agent
            .wait_until(what, Duration::from_millis(700), |s| {
                s.fb.equals_bgrx(&screen.view())
            })
            .await
            .is_ok();
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the agent never matched the screen; {}",
            agent.snapshot().summary()
        );
    }
}

/// Waits (at most 5 s) until `agent` heard that the visitor turned remote control on.
pub async fn agent_saw_rc_on(agent: &glance_tests::TestAgent) {
    agent
        .wait_until("rc on", Duration::from_secs(5), |s| {
            s.events
                .iter()
                .any(|c| matches!(c, glance_protocol::Control::Rc { enabled: true }))
        })
        .await
        .unwrap();
}

/// Starts an xterm on X display `display` at `geometry` running `script` in sh.
pub fn xterm(display: &str, geometry: &str, script: &str) -> std::process::Child {
    std::process::Command::new("xterm")
        .args([
            "-display",
            display,
            "-geometry",
            geometry,
            "-e",
            "sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("xterm must be installed (scripts/setup.sh installs it)")
}
