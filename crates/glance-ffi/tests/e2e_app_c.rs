//! Issue 13's "Done when" #1 with a real C application: tests/c/app_window.c, built here
//! against this crate's libglance, opens its own X window under a private Xvfb and shares with
//! no display name (the default: this application). Another X client (an xterm) stands beside
//! and above it. Through a real glance-server, a Rust agent's picture must show the
//! application's window exactly and nothing of the xterm (one flat colour wherever the
//! application's window is not), also after both windows move and restack.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use glance_tests::{TestAgent, TestServer};
use glance_visitor::capture::x11::X11Capturer;
use glance_visitor::capture::{Capturer, DisplaySource, FrameBuf};
use glance_visitor::pipeline::mask::MASK_FILL;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConfigureWindowAux, ConnectionExt as _, MapState, StackMode, Window,
};
use x11rb::rust_connection::RustConnection;

/// An Xvfb on a display number it picks itself, killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start(size: &str) -> Xvfb {
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
        let x = Xvfb {
            child,
            display: format!(":{}", line.trim()),
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if RustConnection::connect(Some(&x.display)).is_ok() {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The directory holding libglance.so: the target profile directory once cargo has copied
/// it there (`cargo build`), else `deps/` beside this test (`cargo test` alone leaves it
/// there).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
    match deps.parent() {
        Some(profile) if profile.join("libglance.so").exists() => profile.to_path_buf(),
        _ => deps,
    }
}

fn build_app() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = lib_dir();
    assert!(lib.join("libglance.so").exists(), "libglance.so in {lib:?}");
    let out = std::env::temp_dir().join(format!("glance_app_window_{}", std::process::id()));
    let st = Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-D_DEFAULT_SOURCE",
        ])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(root.join("tests/c/app_window.c"))
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", lib.display()))
        .args(["-lglance", "-lX11", "-lpthread", "-ldl", "-lm"])
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .status()
        .expect("cc must be installed");
    assert!(
        st.success(),
        "building tests/c/app_window.c (libx11-dev: scripts/setup.sh)"
    );
    out
}

struct App {
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl App {
    fn next(&self, prefix: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].trim().to_string(),
                Ok(_) => {}
                Err(_) => panic!("app_window did not print {prefix:?} within {secs} s"),
            }
        }
    }

    fn cmd(&mut self, c: &str) {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        self.next(&format!("OK {c}"), 10);
    }
}

fn xterm(display: &str, geometry: &str) -> Child {
    Command::new("xterm")
        .args([
            "-display",
            display,
            "-geometry",
            geometry,
            "-e",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo \"other client line $i\"; sleep 0.1; done",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm must be installed (scripts/setup.sh installs it)")
}

/// The mapped root child of process `pid` (by `_NET_WM_PID`).
fn window_of(conn: &RustConnection, root: Window, pid: u32) -> Window {
    let atom = conn
        .intern_atom(false, b"_NET_WM_PID")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for w in conn.query_tree(root).unwrap().reply().unwrap().children {
            let mapped = conn
                .get_window_attributes(w)
                .unwrap()
                .reply()
                .is_ok_and(|a| a.map_state == MapState::VIEWABLE);
            let p = conn
                .get_property(false, w, atom, AtomEnum::CARDINAL, 0, 1)
                .unwrap()
                .reply();
            if mapped && p.is_ok_and(|p| p.value32().and_then(|mut v| v.next()) == Some(pid)) {
                return w;
            }
        }
        assert!(Instant::now() < deadline, "no window of pid {pid}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn geometry(conn: &RustConnection, w: Window) -> (i32, i32, i32, i32) {
    let g = conn.get_geometry(w).unwrap().reply().unwrap();
    let b = g.border_width as i32;
    (
        g.x as i32,
        g.y as i32,
        g.width as i32 + 2 * b,
        g.height as i32 + 2 * b,
    )
}

fn inside((x0, y0, w, h): (i32, i32, i32, i32), x: i32, y: i32) -> bool {
    x >= x0 && y >= y0 && x < x0 + w && y < y0 + h
}

async fn agent_sees(
    agent: &TestAgent,
    cap: &mut X11Capturer,
    hidden: impl Fn(i32, i32) -> bool,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = FrameBuf::default();
    loop {
        cap.capture(&mut screen).unwrap();
        for y in 0..screen.height as i32 {
            for x in 0..screen.width as i32 {
                if hidden(x, y) {
                    let o = y as usize * screen.stride + x as usize * 4;
                    screen.data[o..o + 4].copy_from_slice(&MASK_FILL);
                }
            }
        }
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
            "{what}: the agent never showed the expected picture; {}",
            agent.snapshot().summary()
        );
    }
}

#[test]
fn a_c_application_shares_its_own_window_and_nothing_else() {
    let app_bin = build_app();
    let x = Xvfb::start("800x600x24");
    let (conn, screen) = RustConnection::connect(Some(&x.display)).unwrap();
    let root = conn.setup().roots[screen].root;
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let mut child = Command::new(&app_bin)
            .arg(ready.group_id.to_string())
            .arg(&ready.session_url)
            .arg(&ready.ca_cert)
            .env("DISPLAY", &x.display)
            .env_remove("GLANCE_SYNTHETIC_DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("app_window runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut app = App {
            child,
            stdin,
            lines,
        };
        let ours: Window = app.next("WINDOW ", 10).parse().unwrap();
        // Another client beside and above ours (mapped later: on top).
        let mut term = xterm(&x.display, "50x12+250+150");
        let other = window_of(&conn, root, term.id());
        let key = app.next("KEY ", 30);
        let agent = TestAgent::join_dev(&ready, &key).await.unwrap();
        let desc = DisplaySource::Platform(Some(x.display.clone()))
            .find("main")
            .unwrap();
        let mut cap = X11Capturer::open(Some(&x.display), &desc).unwrap();

        // (our position, the xterm's, whether ours is raised above it)
        let steps = [
            ((60, 60), (250, 150), false),
            ((380, 240), (300, 200), false),
            ((380, 240), (300, 200), true),
            ((120, 320), (200, 360), true),
            ((120, 320), (200, 360), false),
        ];
        for (i, (o, t, raised)) in steps.into_iter().enumerate() {
            app.cmd(&format!("move {} {}", o.0, o.1));
            conn.configure_window(other, &ConfigureWindowAux::new().x(t.0).y(t.1))
                .unwrap();
            if raised {
                app.cmd("raise");
            } else {
                conn.configure_window(
                    other,
                    &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
                )
                .unwrap();
            }
            conn.get_input_focus().unwrap().reply().unwrap();
            let (og, tg) = (geometry(&conn, ours), geometry(&conn, other));
            assert!(
                (0..800).any(|x| (0..600).any(|y| inside(og, x, y) && inside(tg, x, y))),
                "step {i}: the windows overlap"
            );
            let hidden = |x, y| !inside(og, x, y) || (!raised && inside(tg, x, y));
            agent_sees(&agent, &mut cap, hidden, &format!("step {i}")).await;
            let s = agent.snapshot();
            let count = |rgb: [u8; 3]| s.fb.rgba.chunks_exact(4).filter(|p| p[..3] == rgb).count();
            assert_eq!(
                count([255, 255, 255]),
                0,
                "step {i}: nothing of the xterm (white)"
            );
            assert!(
                count([0, 0xC0, 0]) > 10_000,
                "step {i}: the application's window shows"
            );
            if raised {
                assert!(
                    count([0, 0, 0xE0]) > 5000,
                    "step {i}: its child window shows"
                );
            }
            let fill = count([MASK_FILL[2], MASK_FILL[1], MASK_FILL[0]]);
            assert!(fill > 800 * 600 / 2, "step {i}: {fill} pixels filled");
        }
        writeln!(app.stdin, "quit").unwrap();
        app.next("QUIT", 20);
        assert!(app.child.wait().unwrap().success());
        let _ = term.kill();
        let _ = term.wait();
    });
    let _ = std::fs::remove_file(&app_bin);
}
