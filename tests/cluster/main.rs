//! Two glance-server instances sharing one engine (issue 16): a real redis-server and two
//! real instances over TLS on loopback. A visitor shares through instance A; B's viewer sends
//! the agent to A and the agent's picture is pixel-exact; B's `/findvisitor` names A and a
//! signal posted to B reaches the visitor on A; random keys never collide across instances
//! and the group's session limit counts both; when A is killed its visitor's reconnect
//! (through one address in front of both, as a load balancer would) takes the session over on
//! B; when the engine stops for 10 s live sessions go on, lookups get a clear error, and
//! everything works again when it returns. Every wait is bounded.

#[path = "../attack/common.rs"]
mod common;
mod engine;

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use glance_protocol::Control;
use glance_server::ReadyInfo;
use glance_tests::fault::FaultProxy;
use glance_tests::http::request;
use glance_tests::jsonws::JsonWs;
use glance_tests::visitor::{start_params, RawVisitor};
use glance_tests::TestAgent;
use glance_visitor::{
    DisplaySource, Event, EventCode, GlanceVisitor, SyntheticDisplay, VisitorConfig,
};
use serde_json::{json, Value};

use common::ServerProc;

const CONFIG: &str = r#"
[auth]
jwt_secret = "cluster-test-secret-0123456789abcdef0123"

[limits]
starts_per_address_burst = 1000
starts_per_address_per_minute = 6000
address_session_percent = 100

[[group]]
id = 1
api_key = "visitor-token-1"
agent_tokens = ["agent-token-1"]

[[group]]
id = 2
random_key_length = 2
max_sessions = 95

[[group]]
id = 3
max_sessions = 3
"#;

/// The engine, or `None` (with the reason printed) when redis-server cannot be installed.
fn engine() -> Option<engine::Engine> {
    match engine::ensure_installed() {
        Ok(()) => Some(engine::Engine::start()),
        Err(why) => {
            eprintln!("SKIPPED: the cluster tests need redis-server: {why}");
            None
        }
    }
}

/// Two instances (`a`, `b`) of one cluster: one state dir (one CA, one set of secrets) and
/// one config file, visitors told to use `direct` (the address in front of both).
struct Pair {
    a: ServerProc,
    ra: ReadyInfo,
    _b: ServerProc,
    rb: ReadyInfo,
    dir: tempfile::TempDir,
}

fn start_instance(
    dir: &std::path::Path,
    name: &str,
    url: &str,
    direct: Option<std::net::SocketAddr>,
) -> (ServerProc, ReadyInfo) {
    let config = dir.join("glance.toml");
    let mut args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--state-dir".into(),
        dir.join("state").display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "--cluster".into(),
        url.into(),
        "--instance-name".into(),
        name.into(),
    ];
    if let Some(d) = direct {
        args.extend(["--advertise-direct".into(), d.to_string()]);
    }
    ServerProc::start(
        &args,
        &dir.join(format!("{name}.log")),
        Duration::from_secs(20),
    )
}

impl Pair {
    /// `auth_extra`: more `[auth]` settings.
    fn start(url: &str, direct: Option<std::net::SocketAddr>, auth_extra: &str) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let config = CONFIG.replacen("[auth]\n", &format!("[auth]\n{auth_extra}\n"), 1);
        std::fs::write(dir.path().join("glance.toml"), config).unwrap();
        // A first: it creates the CA and secrets that B then loads.
        let (a, ra) = start_instance(dir.path(), "a", url, direct);
        let (b, rb) = start_instance(dir.path(), "b", url, direct);
        Pair {
            a,
            ra,
            _b: b,
            rb,
            dir,
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

/// The app: a visitor of the SDK sharing a synthetic display.
struct App {
    v: GlanceVisitor,
    rx: mpsc::Receiver<Event>,
    seen: Vec<String>,
    display: SyntheticDisplay,
}

impl App {
    fn new(ready: &ReadyInfo) -> App {
        let display = SyntheticDisplay::new(160, 120);
        display.fill_rect(0, 0, 160, 120, [20, 60, 120]);
        display.draw_text(8, 8, "on A", [255, 255, 255]);
        let (tx, rx) = mpsc::channel();
        let v = GlanceVisitor::with_source(
            move |e: &Event| {
                let _ = tx.send(e.clone());
            },
            DisplaySource::Synthetic(display.clone()),
        )
        .unwrap();
        v.init(VisitorConfig {
            group_id: 1,
            token: "visitor-token-1".into(),
            name: "Cluster Visitor".into(),
            service_url: Some(ready.session_url.clone()),
            ca_cert_path: Some(ready.ca_cert.clone().into()),
            ..Default::default()
        })
        .unwrap();
        App {
            v,
            rx,
            seen: Vec::new(),
            display,
        }
    }

    async fn expect(&mut self, code: EventCode, secs: u64) -> Event {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            while let Ok(e) = self.rx.try_recv() {
                self.seen.push(format!("{} ({})", e.code.name(), e.message));
                if e.code == code {
                    return e;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {} within {secs} s; events so far: {:?}",
                code.name(),
                self.seen
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn pixel_exact(agent: &TestAgent, d: &SyntheticDisplay, within: Duration, what: &str) {
    let snap = d.snapshot();
    agent
        .wait_until(what, within, |s| s.fb.equals_bgrx(&snap.view()))
        .await
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn agent_token(r: &ReadyInfo) -> String {
    agent_token_of(r, "agent1").await
}

async fn agent_token_of(r: &ReadyInfo, user: &str) -> String {
    let body = json!({"partnerid": 1, "partneruserid": user,
        "loginkey": glance_auth::sign_login_key("visitor-token-1", 1, user, glance_auth::unix_now() + 600)});
    let resp = request(r, "POST", "/api/auth/token", &[], Some(&body.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json().unwrap()["token"].as_str().unwrap().to_string()
}

/// GET (or POST with `body`) a presence REST path with the agent's token.
async fn presence(r: &ReadyInfo, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let method = if body.is_some() { "POST" } else { "GET" };
    let b = body.map(|b| b.to_string());
    let resp = request(r, method, path, &[("Authorization", &auth)], b.as_deref())
        .await
        .unwrap();
    (resp.status, resp.json().unwrap_or(Value::Null))
}

/// Starts a session of `group` with a random key on `r` from a raw visitor.
async fn raw_start(r: &ReadyInfo, group: u32) -> Result<RawVisitor, String> {
    let mut p = start_params(r, None, 32, 32);
    p.group_id = group;
    p.token = String::new();
    let mut v = RawVisitor::connect(r).await.map_err(|e| e.to_string())?;
    v.hello().await.map_err(|e| e.to_string())?;
    match v.start_session(p).await.map_err(|e| e.to_string())? {
        Control::SessionStarted { key, .. } => {
            assert!(!key.is_empty());
            Ok(v)
        }
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn two_instances_share_sessions_presence_and_takeover() {
    let Some(engine) = engine() else { return };
    let rt = runtime();
    rt.block_on(async {
        // One address in front of both instances' direct ports, as a TCP load balancer.
        let front = FaultProxy::bind().await.unwrap();
        let mut pair = Pair::start(
            &engine.url(),
            Some(front.addr()),
            "lookup_burst = 8\nlookup_per_minute = 1",
        );
        let (ra, rb) = (pair.ra.clone(), pair.rb.clone());
        assert_eq!(ra.instance, "a");
        assert_eq!(rb.instance, "b");
        assert_eq!(ra.cluster, engine.url());
        assert_eq!(ra.ca_cert, rb.ca_cert, "one state dir, one CA");
        front.set_target(ra.direct_addr.parse().unwrap()).unwrap();

        // A visitor shares through A.
        let mut app = App::new(&ra);
        app.expect(EventCode::VisitorInitialized, 5).await;
        app.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = app.expect(EventCode::ConnectedToSession, 20).await;
        let key = e.property("sessionkey").unwrap().to_string();

        // B's viewer sends the agent to A, which holds the session.
        let t = Instant::now();
        let resp = glance_tests::http::get(&rb, &format!("/agent?key={key}")).await.unwrap();
        let redirect_took = t.elapsed();
        assert_eq!(resp.status, 307, "{}", resp.body);
        let location = resp.header("location").unwrap_or_default().to_string();
        assert_eq!(location, format!("{}/agent?key={key}", ra.session_url));
        let t = Instant::now();
        let agent = TestAgent::join_dev(&ra, &key).await.unwrap();
        assert!(agent.with_state(|s| s.joined().is_some()), "{}", agent.with_state(|s| s.summary()));
        pixel_exact(&agent, &app.display, Duration::from_secs(15), "the picture via B's viewer").await;
        eprintln!(
            "cluster: B's viewer redirect answered in {redirect_took:?}; the agent's picture from A was pixel-exact {:?} after joining",
            t.elapsed()
        );
        // A's own viewer serves the page (no redirect loop).
        let own = glance_tests::http::get(&ra, &format!("/agent?key={key}")).await.unwrap();
        assert_eq!(own.status, 200);

        // Presence: a visitor connected to A is found and signalled through B.
        let token = agent_token(&rb).await;
        let mut pv = JsonWs::connect(&ra, "/ws/presence", None).await.unwrap();
        pv.send(&json!({"type": "hello", "group_id": 1, "visitor_id": "vis-on-a", "client": "probe"}))
            .await
            .unwrap();
        let t = Instant::now();
        let found = loop {
            let (st, v) = presence(&rb, &token, "/findvisitor?groupid=1&visitorid=vis-on-a", None).await;
            assert_eq!(st, 200, "{v}");
            if v["visitorfound"] == true {
                break v;
            }
            assert!(t.elapsed() < Duration::from_secs(6), "B never found the visitor: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!("cluster: B's /findvisitor names A {:?} after the visitor connected", t.elapsed());
        assert_eq!(found["instance"], "a", "{found}");
        let a_port: u16 = ra.https_addr.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(found["httpsport"], a_port, "{found}");
        let (st, v) = presence(&rb, &token, "/lookupvisitor?groupid=1&visitorid=vis-on-a", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["visitorid"], "vis-on-a");
        assert_eq!(v["instance"], "a");
        let (st, v) = presence(&rb, &token, "/findvisitor?groupid=1&visitorid=nobody", None).await;
        assert_eq!((st, v["visitorfound"].clone()), (200, json!(false)));
        let t = Instant::now();
        let (st, v) = presence(
            &rb,
            &token,
            "/signalvisitor?groupid=1&visitorid=vis-on-a",
            Some(json!({"mtype": "signal", "data": {"command": "startchat", "chatid": "56789"}})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["result"], "delivered");
        let got = pv
            .recv_until(Duration::from_secs(5), |m| m["type"] == "signal")
            .await
            .unwrap();
        eprintln!("cluster: a signal posted to B reached the visitor on A in {:?}", t.elapsed());
        assert_eq!(got["data"]["chatid"], "56789", "{got}");

        // The lookup throttle counts both instances: 8 misses allowed to one agent, 4 spent on
        // A and 4 on B, then A refuses the 9th (alone, A would have allowed 4 more).
        let guesser = agent_token_of(&ra, "guesser").await;
        for (i, r) in [&ra, &rb, &ra, &rb, &ra, &rb, &ra, &rb].into_iter().enumerate() {
            let a = TestAgent::join(r, &format!("99000{i}"), &guesser, Some(1)).await.unwrap();
            assert_eq!(a.with_state(|s| s.join_failed()), Some(19), "miss {i}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = TestAgent::join(&ra, "990009", &guesser, Some(1)).await.unwrap();
        let status = a.with_state(|s| s.join_failed());
        assert!(status.is_some() && status != Some(19), "the 9th guess must be throttled: {status:?}");
        eprintln!("cluster: the 9th guess over both instances was throttled ({status:?})");

        // Random keys never collide across instances: 70 sessions in a 2-digit key space.
        let mut keys = HashSet::new();
        let mut held = Vec::new();
        let t = Instant::now();
        for i in 0..70 {
            let r = if i % 2 == 0 { &ra } else { &rb };
            let v = raw_start(r, 2).await.unwrap_or_else(|e| panic!("start {i}: {e}"));
            assert!(keys.insert(v.key().to_string()), "key {} given twice", v.key());
            held.push(v);
        }
        eprintln!("cluster: 70 random 2-digit keys over both instances, all distinct, in {:?}", t.elapsed());
        drop(held);

        // The group's session limit (3) counts both instances.
        let mut three = vec![
            raw_start(&ra, 3).await.unwrap(),
            raw_start(&ra, 3).await.unwrap(),
            raw_start(&rb, 3).await.unwrap(),
        ];
        let over = raw_start(&rb, 3).await.expect_err("a 4th session must be refused");
        assert!(over.contains("GroupLimit"), "{over}");
        three.clear();

        // Kill A: the visitor's reconnect reaches B through the address in front; B takes
        // the session over and a new agent on B sees the screen again.
        pair.a.kill();
        let killed = Instant::now();
        front.set_target(rb.direct_addr.parse().unwrap()).unwrap();
        front.drop_all();
        app.expect(EventCode::ConnectionWarning, 15).await;
        app.expect(EventCode::ClearWarning, 20).await;
        eprintln!("cluster: the visitor is back on B {:?} after A was killed", killed.elapsed());
        app.display.fill_rect(0, 60, 160, 60, [200, 40, 40]);
        app.display.draw_text(8, 70, "on B", [255, 255, 0]);
        let within = killed + Duration::from_secs(30);
        let agent2 = loop {
            let a = TestAgent::join_dev(&rb, &key).await.unwrap();
            if a.with_state(|s| s.joined().is_some()) {
                break a;
            }
            assert!(
                Instant::now() < within,
                "no session {key} on B; log of b:\n{}",
                pair.log("b")
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        pixel_exact(&agent2, &app.display, Duration::from_secs(15), "the picture on B").await;
        eprintln!("cluster: the agent on B sees the screen pixel-exact {:?} after A was killed", killed.elapsed());
        assert_eq!(app.v.session_info().key, key, "the key is unchanged");
        // B's viewer now serves the session itself.
        let own = glance_tests::http::get(&rb, &format!("/agent?key={key}")).await.unwrap();
        assert_eq!(own.status, 200);
        app.v.end_session().ok();
    });
}

#[test]
fn losing_the_engine_keeps_live_sessions_and_resynchronises() {
    let Some(mut engine) = engine() else { return };
    let rt = runtime();
    rt.block_on(async {
        let pair = Pair::start(&engine.url(), None, "");
        let (ra, rb) = (pair.ra.clone(), pair.rb.clone());
        let mut app = App::new(&ra);
        app.expect(EventCode::VisitorInitialized, 5).await;
        app.v
            .start_session_key(glance_visitor::GLANCE_KEYTYPE_RANDOM)
            .unwrap();
        let e = app.expect(EventCode::ConnectedToSession, 20).await;
        let key = e.property("sessionkey").unwrap().to_string();
        let agent = TestAgent::join_dev(&ra, &key).await.unwrap();
        pixel_exact(&agent, &app.display, Duration::from_secs(15), "before the outage").await;
        let token = agent_token(&rb).await;

        engine.stop();
        let stopped = Instant::now();
        // The live session goes on.
        app.display.fill_rect(0, 60, 160, 60, [10, 200, 10]);
        pixel_exact(&agent, &app.display, Duration::from_secs(5), "during the outage").await;
        // What needs the directory gets a clear error.
        let (st, v) = presence(&rb, &token, "/findvisitor?groupid=1&visitorid=someone", None).await;
        assert_eq!((st, v["error"].clone()), (503, json!("directoryunavailable")), "{v}");
        let refused = raw_start(&rb, 2).await.expect_err("no start without the directory");
        assert!(refused.contains("directory"), "{refused}");
        eprintln!("cluster: during the outage, lookups answered 503 and starts were refused with: {refused}");
        while stopped.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(agent.with_state(|s| s.ended_status().is_none()), "the agent stayed joined");

        engine.restart();
        let back = Instant::now();
        // Everything works again: the session is back in the directory (B's viewer sends the
        // agent to A), new starts succeed.
        let resynced = loop {
            let resp = glance_tests::http::get(&rb, &format!("/agent?key={key}")).await.unwrap();
            if resp.status == 307 {
                break back.elapsed();
            }
            assert!(back.elapsed() < Duration::from_secs(10), "no resync; log of a:\n{}", pair.log("a"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let t = Instant::now();
        let v = loop {
            match raw_start(&rb, 2).await {
                Ok(v) => break v,
                Err(e) => {
                    assert!(t.elapsed() < Duration::from_secs(10), "starts stay refused: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        drop(v);
        eprintln!("cluster: the engine came back; the directory was resynchronised within {resynced:?}");
        app.display.fill_rect(0, 0, 160, 60, [200, 200, 10]);
        pixel_exact(&agent, &app.display, Duration::from_secs(5), "after the outage").await;
        app.v.end_session().ok();
    });
}
