//! Helpers the attack tests share.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A loopback source address for attacker number `n` (127.0.0.66 + n), distinct from the
/// healthy session's 127.0.0.1.
pub fn attacker_ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66u8.saturating_add(n)))
}

/// Connects a TCP socket to `to` from `from` (any port).
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = match from {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(to).await
}

/// The `glance-server` binary beside this test's executable (`scripts/test.sh` builds every
/// binary before the tests: `cargo build --workspace --bins`).
pub fn server_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/attack-HASH -> target/<profile>/glance-server
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = dir.join(format!("glance-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

/// A `glance-server` process with a state dir of its own: its ready line, stderr collected
/// into a file, killed on drop (a [`ServerProc`] started for one test).
pub struct Spawned {
    pub proc: ServerProc,
    pub ready: glance_server::ReadyInfo,
    pub stderr_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Spawned {
    /// Starts the binary with `args` (a `--state-dir` and, unless given, `--listen
    /// 127.0.0.1:0` are added) and waits (at most 20 s) for its ready line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Spawned {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stderr_path = dir.path().join("stderr.log");
        let mut all: Vec<String> = vec![
            "--state-dir".into(),
            dir.path().join("state").display().to_string(),
        ];
        if !args.contains(&"--listen") {
            all.extend(["--listen".into(), "127.0.0.1:0".into()]);
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let (proc, ready) =
            ServerProc::start_with_env(&all, &stderr_path, env, std::time::Duration::from_secs(20));
        Spawned {
            proc,
            ready,
            stderr_path,
            _dir: dir,
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Open file descriptors of the server process and its soft file limit (Linux).
    pub fn open_files(&self) -> Option<(usize, usize)> {
        let pid = self.proc.child.id();
        let n = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let soft = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))?
            .split_whitespace()
            .nth(3)?
            .parse()
            .ok()?;
        Some((n, soft))
    }
}

/// A config file's text with one group (id 1, visitor token `visitor-token-1`) and the given
/// extra TOML (e.g. a `[limits]` table), written into `dir`.
pub fn config_file(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("glance.toml");
    std::fs::write(
        &p,
        format!("[[group]]\nid = 1\napi_key = \"visitor-token-1\"\nagent_tokens = [\"agent-token-1\"]\n{extra}\n"),
    )
    .expect("write the config file");
    p
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `glance-server` process; SIGKILLed on drop.
pub struct ServerProc {
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl ServerProc {
    /// Starts the binary with `args`, its stderr going to `log` (at log level info).
    pub fn spawn(args: &[String], log: &std::path::Path) -> ServerProc {
        ServerProc::spawn_with_env(args, log, &[])
    }

    /// [`ServerProc::spawn`] with more environment (e.g. another `RUST_LOG`).
    pub fn spawn_with_env(
        args: &[String],
        log: &std::path::Path,
        env: &[(&str, &str)],
    ) -> ServerProc {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the server's log file");
        let child = std::process::Command::new(server_bin())
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("glance-server starts");
        ServerProc {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Starts the binary and waits (at most `within`) for its ready line.
    pub fn start(
        args: &[String],
        log: &std::path::Path,
        within: std::time::Duration,
    ) -> (ServerProc, glance_server::ReadyInfo) {
        ServerProc::start_with_env(args, log, &[], within)
    }

    /// [`ServerProc::start`] with more environment.
    pub fn start_with_env(
        args: &[String],
        log: &std::path::Path,
        env: &[(&str, &str)],
        within: std::time::Duration,
    ) -> (ServerProc, glance_server::ReadyInfo) {
        let mut p = ServerProc::spawn_with_env(args, log, env);
        match p.ready_line(within) {
            Ok(r) => (p, r),
            Err(e) => panic!(
                "no ready line: {e}; the server's log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }

    /// The first line of stdout, parsed, within `within`.
    pub fn ready_line(
        &mut self,
        within: std::time::Duration,
    ) -> Result<glance_server::ReadyInfo, String> {
        use std::io::BufRead;
        let out = self.child.stdout.take().ok_or("stdout already taken")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(out);
            let mut line = String::new();
            let r = reader.read_line(&mut line);
            let _ = tx.send(r.map(|_| line));
            // Keep reading so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(within)
            .map_err(|_| format!("nothing within {within:?}"))?
            .map_err(|e| e.to_string())?;
        if line.is_empty() {
            let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(format!("stdout closed without a line ({status})"));
        }
        serde_json::from_str(&line).map_err(|e| format!("{e}: {line:?}"))
    }

    /// kill -9, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}
