//! The engine for the cluster tests: a private `redis-server` on a free loopback port
//! (installed quietly with apt-get when missing, as scripts/setup.sh does), stopped on drop.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `redis-server` can be run, installing the Debian package when it is missing.
/// `Err` says why not (the tests then skip with that message).
pub fn ensure_installed() -> Result<(), String> {
    let have = || {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have() {
        return Ok(());
    }
    eprintln!("cluster tests: installing redis-server (the cluster engine)");
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = [
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "redis-server",
    ];
    let installed = quiet(&install) || (quiet(&["update", "-qq"]) && quiet(&install));
    if !installed {
        return Err("redis-server is missing and `apt-get install redis-server` failed".into());
    }
    if have() {
        Ok(())
    } else {
        Err("redis-server is still missing after installing it".into())
    }
}

/// A running redis-server.
pub struct Engine {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Engine {
    /// Starts one on a free loopback port and waits (at most 10 s) until it answers.
    pub fn start() -> Engine {
        let port = crate::common::free_port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut e = Engine {
            child: None,
            port,
            dir,
        };
        e.restart();
        e
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on the same port, empty (nothing is saved: the instances must
    /// resynchronise the directory themselves).
    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("a log file");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} does not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it answers PING.
    pub fn answers(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}
