//! The scripted desktop workload both sides see: a fresh Xvfb (1920x1080x24, black root, no
//! window manager) with three windows, then a fixed timeline driven by the wall clock.
//!
//! * a shell xterm (100x24, DejaVu Sans Mono 10, `sh` with prompt `$ `) with the keyboard
//!   focus, into which ten shell commands with fixed output are typed by `xdotool type` (40 ms
//!   a key, one command every 2.7 s); their output makes it scroll in the second half;
//! * a log xterm (90x44) running `cat` on a FIFO, into which this driver writes a
//!   deterministic build-log line every 200 ms, so it scrolls continuously;
//! * an `xmessage` box dragged by `xdotool windowmove` every 40 ms along a fixed path over
//!   both terminals from 27 % to 67 % of the run (300 steps for 30 s).
//!
//! That is [`Workload::Mixed`], the original benchmark workload. Three more of different
//! character (issue 14) use the same display and tools:
//!
//! * [`Workload::Terminal`]: three log xterms scrolling at very different rates (a line every
//!   40 ms, every 250 ms, and a burst of 12 lines every 1.5 s);
//! * [`Workload::Moves`]: four windows with static text jumped to new places every 0.8 s and
//!   restacked (`xdotool windowraise`) every third step, with no window manager;
//! * [`Workload::Small`]: small changes everywhere: six small xterms scattered over the screen
//!   (a clock each second, spinners every 100 ms, counters every 250/500 ms) and a focused
//!   shell with a blinking caret into which a key is typed every 600 ms.
//!
//! Everything (text, timings, path) is fixed, so two runs on fresh displays differ only by
//! scheduling jitter.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SCREEN: &str = "1920x1080x24";
const SHELL_TITLE: &str = "glance-bench-shell";
const LOG_TITLE: &str = "glance-bench-log";
const DRAG_TITLE: &str = "glance-bench-drag";
const FONT: &str = "DejaVu Sans Mono";
/// Milliseconds between typed keys.
const KEY_DELAY_MS: u32 = 40;
const LOG_EVERY: f64 = 0.2;
const TYPE_EVERY: f64 = 2.7;
const MOVE_EVERY: f64 = 0.04;
/// Where the dragged box starts and the corners of its path (it returns to the start).
const DRAG_PATH: [(f64, f64); 5] = [
    (200.0, 700.0),
    (1150.0, 720.0),
    (1200.0, 250.0),
    (350.0, 200.0),
    (200.0, 700.0),
];

/// Shell commands whose output depends on nothing but themselves.
const COMMANDS: [&str; 10] = [
    "echo \"Glance versus VNC: the same thirty seconds, twice\"",
    "seq 1 8",
    "printf '%s\\n' alpha beta gamma delta epsilon",
    "echo the quick brown fox jumps over the lazy dog",
    "expr 1234 '*' 5678",
    "yes 'all work and no play' | head -n 6",
    "echo $((6 * 7)) is the answer",
    "seq -s ' ' 10 10 200",
    "printf '%05d|%-8s|\\n' 1 one 22 two 333 three",
    "echo \"typing done: $(seq -s + 1 5)\"",
];

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(prog);
            f.is_file()
                && std::fs::metadata(&f).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

/// The programs the workload needs.
pub fn missing_tools() -> Vec<&'static str> {
    ["Xvfb", "xterm", "xdotool", "xmessage", "mkfifo"]
        .into_iter()
        .filter(|p| !have(p))
        .collect()
}

/// The n-th deterministic build-log line.
pub fn log_line(n: u32) -> String {
    const CRATES: [&str; 6] = [
        "glance-protocol",
        "glance-visitor",
        "glance-server",
        "glance-ffi",
        "glance-cli",
        "glance-bench",
    ];
    const STEPS: [&str; 5] = ["compiling", "checking", "linking", "testing", "documenting"];
    const MODS: [&str; 8] = [
        "pipeline::diff",
        "pipeline::encode",
        "capture::x11",
        "transport::ws",
        "relay::visitor",
        "http::agent",
        "update::tiles",
        "framing",
    ];
    // A small LCG keeps the numbers varied but fixed.
    let mut x = (n as u64 + 1).wrapping_mul(6364136223846793005);
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    format!(
        "[{n:04}] {:<11} {}::{:<17} ... ok ({:>5} us, crc {:08x})",
        STEPS[next(5) as usize],
        CRATES[next(6) as usize],
        MODS[next(8) as usize],
        next(90_000) + 100,
        next(u32::MAX as u64),
    )
}

/// Which scripted desktop runs (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Mixed,
    Terminal,
    Moves,
    Small,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Mixed,
        Workload::Terminal,
        Workload::Moves,
        Workload::Small,
    ];

    /// The short name used in keys and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Mixed => "mixed",
            Workload::Terminal => "terminal",
            Workload::Moves => "moves",
            Workload::Small => "small",
        }
    }

    pub fn from_name(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Workload::Mixed => "typing + scrolling xterms, window drag",
            Workload::Terminal => "three xterms scrolling at 25, 4 and 0.7 (bursts of 12) lines/s",
            Workload::Moves => "four text windows jumped every 0.8 s and restacked, no WM",
            Workload::Small => "clock, spinners, counters in six small xterms, a blinking caret",
        }
    }
}

/// Text written to feed `n` (a FIFO a terminal `cat`s) at step `i`.
fn small_feed(n: usize, i: u32) -> String {
    const SPIN: [char; 4] = ['|', '/', '-', '\\'];
    match n {
        0 => {
            let t = 9 * 3600 + 41 * 60 + i;
            format!("\r{:02}:{:02}:{:02}", t / 3600 % 24, t / 60 % 60, t % 60)
        }
        1 | 2 => format!("\r{} working", SPIN[i as usize % 4]),
        3 => format!("\r{:>8} events", i * 37),
        4 => format!("\r{:>3}% done", i % 101),
        _ => format!("\r[{:<10}]", "=".repeat(i as usize % 11)),
    }
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Text for the terminal fed by FIFO n.
    Feed(usize, String),
    Type(String),
    /// Window n to (x, y).
    Move(usize, i32, i32),
    /// Window n to the top of the stack.
    Raise(usize),
    /// A phase boundary for the caller's counters: 1 = the drag starts, 2 = it ended.
    Mark(u8),
}

/// The whole timeline of `w` for a run of `secs` seconds, sorted by time.
pub fn timeline(w: Workload, secs: f64) -> Vec<(f64, Action)> {
    let mut v = match w {
        Workload::Mixed => return mixed_timeline(secs),
        Workload::Terminal => {
            let mut v = Vec::new();
            let mut n = 0u32;
            // (feed, period, lines a step)
            for (feed, every, lines) in [(0usize, 0.04, 1u32), (1, 0.25, 1), (2, 1.5, 12)] {
                let mut k = 1;
                while every * (k as f64) < secs {
                    let mut text = String::new();
                    for _ in 0..lines {
                        text.push_str(&log_line(n));
                        text.push('\n');
                        n += 1;
                    }
                    v.push((every * k as f64, Action::Feed(feed, text)));
                    k += 1;
                }
            }
            v
        }
        Workload::Moves => {
            let mut v = Vec::new();
            let mut k = 1u32;
            while 0.8 * (k as f64) < secs {
                let t = 0.8 * k as f64;
                let win = (k % 4) as usize;
                // A fixed walk over the screen: positions from a small LCG.
                let h = (k as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let x = ((h >> 20) % 1200) as i32 + 10;
                let y = ((h >> 40) % 560) as i32 + 10;
                v.push((t, Action::Move(win, x, y)));
                if k.is_multiple_of(3) {
                    v.push((t + 0.4, Action::Raise((k as usize + 2) % 4)));
                }
                k += 1;
            }
            v
        }
        Workload::Small => {
            let mut v = Vec::new();
            for (feed, every) in [
                (0usize, 1.0),
                (1, 0.1),
                (2, 0.13),
                (3, 0.25),
                (4, 0.5),
                (5, 0.7),
            ] {
                let mut k = 1u32;
                while every * (k as f64) < secs {
                    v.push((every * k as f64, Action::Feed(feed, small_feed(feed, k))));
                    k += 1;
                }
            }
            let mut t = 0.5;
            for k in 0u32.. {
                if t + 0.6 >= secs {
                    break;
                }
                // One key every 600 ms; a line typed, then erased by the next one.
                let text = if k % 30 == 29 {
                    "\n".to_string()
                } else {
                    ((b'a' + (k % 26) as u8) as char).to_string()
                };
                v.push((t, Action::Type(text)));
                t += 0.6;
            }
            v
        }
    };
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn mixed_timeline(secs: f64) -> Vec<(f64, Action)> {
    let mut v = Vec::new();
    let mut n = 0u32;
    loop {
        let t = LOG_EVERY * (n + 1) as f64;
        if t >= secs {
            break;
        }
        v.push((t, Action::Feed(0, format!("{}\n", log_line(n)))));
        n += 1;
    }
    for (k, c) in COMMANDS.iter().enumerate() {
        let t = 0.5 + TYPE_EVERY * k as f64;
        // Leave time for the command to be typed inside the run.
        let typing = (c.len() + 1) as f64 * KEY_DELAY_MS as f64 / 1000.0;
        if t + typing + 0.5 < secs {
            v.push((t, Action::Type(c.to_string())));
        }
    }
    let (from, to) = (secs * 0.27, secs * 0.67);
    let steps = ((to - from) / MOVE_EVERY).round() as usize;
    let seg: Vec<f64> = DRAG_PATH
        .windows(2)
        .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
        .collect();
    let total: f64 = seg.iter().sum();
    v.push((from, Action::Mark(1)));
    v.push((from + MOVE_EVERY * (steps as f64 + 0.5), Action::Mark(2)));
    for i in 1..=steps {
        let mut d = total * i as f64 / steps as f64;
        let mut k = 0;
        while k + 1 < seg.len() && d > seg[k] {
            d -= seg[k];
            k += 1;
        }
        let f = (d / seg[k]).min(1.0);
        let (a, b) = (DRAG_PATH[k], DRAG_PATH[k + 1]);
        let (x, y) = (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
        v.push((
            from + MOVE_EVERY * i as f64,
            Action::Move(0, x.round() as i32, y.round() as i32),
        ));
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Feed writes (log lines, clock ticks...).
    pub log_lines: u32,
    pub typed_commands: u32,
    pub moves: u32,
    pub raises: u32,
    /// The latest any step started after its time.
    pub max_lag_ms: f64,
    pub secs: f64,
}

/// A fresh Xvfb with the three windows; everything is killed on drop.
pub struct Scene {
    pub display: String,
    xvfb: Child,
    children: Vec<Child>,
    typing: Option<Child>,
    dir: PathBuf,
    workload: Workload,
    /// FIFOs that terminals `cat`, by feed number.
    feeds: Vec<File>,
    /// Windows moved by the timeline, by number.
    windows: Vec<String>,
}

fn wait_kill(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.feeds.clear();
        if let Some(c) = &mut self.typing {
            wait_kill(c);
        }
        for c in &mut self.children {
            wait_kill(c);
        }
        wait_kill(&mut self.xvfb);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private scratch directory under the temp dir.
pub fn scratch_dir(tag: &str) -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "glance-bench-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

impl Scene {
    /// Starts Xvfb (it picks its display number), opens the windows of `workload` and waits
    /// until they show.
    pub fn start(workload: Workload) -> Result<Scene, String> {
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                SCREEN,
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("Xvfb: {e}"))?;
        let mut line = String::new();
        let stdout = xvfb.stdout.take().ok_or("Xvfb stdout")?;
        // Xvfb prints the display number once it accepts clients, or exits (EOF).
        let _ = BufReader::new(stdout).read_line(&mut line);
        let num = line.trim().to_string();
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            wait_kill(&mut xvfb);
            return Err(format!("Xvfb did not start (printed {line:?})"));
        }
        let dir = match scratch_dir("scene") {
            Ok(d) => d,
            Err(e) => {
                wait_kill(&mut xvfb);
                return Err(e);
            }
        };
        let mut scene = Scene {
            display: format!(":{num}"),
            xvfb,
            children: Vec::new(),
            typing: None,
            dir,
            workload,
            feeds: Vec::new(),
            windows: Vec::new(),
        };
        scene.open_windows()?;
        Ok(scene)
    }

    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.env("DISPLAY", &self.display)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn spawn(&mut self, prog: &str, args: &[&str]) -> Result<(), String> {
        let child = self
            .cmd(prog)
            .args(args)
            .spawn()
            .map_err(|e| format!("{prog}: {e}"))?;
        self.children.push(child);
        Ok(())
    }

    /// `xdotool ARGS`, waited for; its stdout.
    fn xdotool(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .cmd("xdotool")
            .args(args)
            .stdout(Stdio::piped())
            .output()
            .map_err(|e| format!("xdotool: {e}"))?;
        if !out.status.success() {
            return Err(format!("xdotool {args:?} failed ({})", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The id of the mapped window titled `title`, waiting up to 15 s.
    fn window(&self, title: &str) -> Result<String, String> {
        let t = Instant::now();
        let pattern = format!("^{title}$");
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(id) = self.xdotool(&["search", "--onlyvisible", "--name", &pattern]) {
                if let Some(id) = id.lines().next().filter(|l| !l.is_empty()) {
                    return Ok(id.to_string());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("window {title:?} never showed on {}", self.display))
    }

    /// A FIFO for feed number `self.feeds.len()`, opened for writing; its path.
    fn new_feed(&mut self) -> Result<String, String> {
        let fifo = self.dir.join(format!("feed{}.fifo", self.feeds.len()));
        let ok = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map_err(|e| format!("mkfifo: {e}"))?;
        if !ok.success() {
            return Err(format!("mkfifo {} failed", fifo.display()));
        }
        // Read and write: opening cannot block, and cat sees EOF only when we close it.
        self.feeds.push(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo)
                .map_err(|e| format!("{}: {e}", fifo.display()))?,
        );
        Ok(fifo.to_string_lossy().to_string())
    }

    /// An xterm titled `title` at `geometry` showing feed number `self.feeds.len()`.
    fn feed_term(&mut self, title: &str, geometry: &str, extra: &[&str]) -> Result<(), String> {
        let fifo = self.new_feed()?;
        let mut args = vec![
            "-title",
            title,
            "-geometry",
            geometry,
            "-fa",
            FONT,
            "-fs",
            "10",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-e", "cat", &fifo]);
        self.spawn("xterm", &args)
    }

    fn feed(&mut self, n: usize, text: &str) -> Result<(), String> {
        if let Some(f) = self.feeds.get_mut(n) {
            f.write_all(text.as_bytes())
                .map_err(|e| format!("feed {n}: {e}"))?;
        }
        Ok(())
    }

    /// The shell xterm with the keyboard focus, `sh` with prompt `$ `.
    fn shell(&mut self, geometry: &str, extra: &[&str]) -> Result<(), String> {
        let home = self.dir.to_string_lossy().to_string();
        let home_env = format!("HOME={home}");
        let mut args = vec![
            "-title",
            SHELL_TITLE,
            "-geometry",
            geometry,
            "-fa",
            FONT,
            "-fs",
            "10",
        ];
        args.extend_from_slice(extra);
        #[rustfmt::skip]
        args.extend_from_slice(&[
            "-e", "env", "-i", "PATH=/usr/bin:/bin", &home_env, "PS1=$ ", "TERM=xterm", "sh",
        ]);
        self.spawn("xterm", &args)
    }

    fn open_windows(&mut self) -> Result<(), String> {
        let mut focus = None;
        match self.workload {
            Workload::Mixed => {
                self.shell("100x24+30+40", &[])?;
                self.feed_term(LOG_TITLE, "90x44+940+40", &[])?;
                let (x, y) = DRAG_PATH[0];
                let geometry = format!("+{x}+{y}");
                self.spawn(
                    "xmessage",
                    &[
                        "-title",
                        DRAG_TITLE,
                        "-geometry",
                        &geometry,
                        "Glance benchmark\nThis box is dragged across the screen\nwhile a command is \
                         typed and a log scrolls.",
                    ],
                )?;
                focus = Some(self.window(SHELL_TITLE)?);
                self.window(LOG_TITLE)?;
                let drag = self.window(DRAG_TITLE)?;
                self.windows.push(drag);
            }
            Workload::Terminal => {
                self.feed_term("glance-bench-fast", "110x60+10+10", &[])?;
                self.feed_term("glance-bench-medium", "90x30+1000+10", &[])?;
                self.feed_term("glance-bench-burst", "90x24+1000+560", &[])?;
                for t in [
                    "glance-bench-fast",
                    "glance-bench-medium",
                    "glance-bench-burst",
                ] {
                    self.window(t)?;
                }
            }
            Workload::Moves => {
                let geoms = [
                    "80x30+20+20",
                    "70x24+700+100",
                    "60x20+300+500",
                    "90x16+900+600",
                ];
                for (i, g) in geoms.iter().enumerate() {
                    let title = format!("glance-bench-win{i}");
                    self.feed_term(&title, g, &[])?;
                    let mut text = String::new();
                    for n in 0..40 {
                        text.push_str(&log_line(n * 4 + i as u32));
                        text.push('\n');
                    }
                    self.feed(i, &text)?;
                }
                for i in 0..geoms.len() {
                    let id = self.window(&format!("glance-bench-win{i}"))?;
                    self.windows.push(id);
                }
            }
            Workload::Small => {
                let places = [
                    "+10+10",
                    "+1700+10",
                    "+10+1000",
                    "+1700+1000",
                    "+900+20",
                    "+300+700",
                ];
                for (i, p) in places.iter().enumerate() {
                    let title = format!("glance-bench-small{i}");
                    self.feed_term(&title, &format!("20x1{p}"), &[])?;
                }
                self.shell("80x10+700+450", &["-bc", "-bcf", "500", "-bcn", "500"])?;
                for i in 0..places.len() {
                    self.window(&format!("glance-bench-small{i}"))?;
                }
                focus = Some(self.window(SHELL_TITLE)?);
            }
        }
        if let Some(id) = focus {
            self.xdotool(&["windowfocus", &id])?;
        }
        // The pointer rests on the root in a corner (neither side draws it).
        self.xdotool(&["mousemove", "1910", "1070"])?;
        // Let the terminals start their programs and draw.
        std::thread::sleep(Duration::from_millis(1500));
        Ok(())
    }

    fn reap_typing(&mut self, limit: Duration) {
        if let Some(mut c) = self.typing.take() {
            let t = Instant::now();
            while t.elapsed() < limit {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!("  workload: xdotool type overran; killed");
            wait_kill(&mut c);
        }
    }

    /// Runs the timeline for `secs` seconds (blocking), calling `mark` at phase boundaries
    /// ([`Action::Mark`]).
    pub fn run(&mut self, secs: f64, mark: &mut dyn FnMut(u8)) -> Result<Report, String> {
        let steps = timeline(self.workload, secs);
        let mut rep = Report::default();
        let t0 = Instant::now();
        for (at, action) in steps {
            let due = t0 + Duration::from_secs_f64(at);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else {
                rep.max_lag_ms = rep.max_lag_ms.max((now - due).as_secs_f64() * 1000.0);
            }
            match action {
                Action::Feed(n, text) => {
                    self.feed(n, &text)?;
                    rep.log_lines += 1;
                }
                Action::Type(text) => {
                    self.reap_typing(Duration::from_secs(3));
                    let child = self
                        .cmd("xdotool")
                        .args(["type", "--delay", &KEY_DELAY_MS.to_string(), "--"])
                        .arg(format!("{text}\n"))
                        .spawn()
                        .map_err(|e| format!("xdotool type: {e}"))?;
                    self.typing = Some(child);
                    rep.typed_commands += 1;
                }
                Action::Move(n, x, y) => {
                    if let Some(id) = self.windows.get(n).cloned() {
                        self.xdotool(&["windowmove", &id, &x.to_string(), &y.to_string()])?;
                    }
                    rep.moves += 1;
                }
                Action::Raise(n) => {
                    if let Some(id) = self.windows.get(n).cloned() {
                        self.xdotool(&["windowraise", &id])?;
                    }
                    rep.raises += 1;
                }
                Action::Mark(n) => mark(n),
            }
        }
        let end = t0 + Duration::from_secs_f64(secs);
        let now = Instant::now();
        if end > now {
            std::thread::sleep(end - now);
        }
        self.reap_typing(Duration::from_secs(3));
        rep.secs = t0.elapsed().as_secs_f64();
        Ok(rep)
    }

    /// The scratch directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_is_fixed_and_inside_the_run() {
        let a = timeline(Workload::Mixed, 30.0);
        assert_eq!(a, timeline(Workload::Mixed, 30.0));
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(a.iter().all(|(t, _)| *t > 0.0 && *t < 30.0));
        let count = |f: fn(&Action) -> bool| a.iter().filter(|(_, x)| f(x)).count();
        assert_eq!(count(|x| matches!(x, Action::Feed(..))), 149);
        assert_eq!(count(|x| matches!(x, Action::Type(_))), 10);
        assert_eq!(count(|x| matches!(x, Action::Move(..))), 300);
        let marks: Vec<f64> = a
            .iter()
            .filter(|(_, x)| matches!(x, Action::Mark(_)))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(marks.len(), 2);
        assert!((marks[0] - 8.1).abs() < 1e-9 && (marks[1] - 20.12).abs() < 1e-9);
        // The drag ends where it started.
        let last = a.iter().rev().find_map(|(_, x)| match x {
            Action::Move(_, x, y) => Some((*x, *y)),
            _ => None,
        });
        assert_eq!(last, Some((200, 700)));
        assert_eq!(log_line(7), log_line(7));
        for w in Workload::ALL {
            let t = timeline(w, 20.0);
            assert!(t.len() > 20, "{w:?}");
            assert!(t.windows(2).all(|p| p[0].0 <= p[1].0), "{w:?}");
            assert!(t.iter().all(|(at, _)| *at > 0.0 && *at < 20.0), "{w:?}");
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        assert_ne!(log_line(7), log_line(8));
    }
}
