//! Finding 6, a bearer token in the log: a join whose group_id is a string was logged
//! verbatim with the agent's token, and one unauthenticated client grew the log by 6.3 MB/s
//! with 60 KB malformed messages. Run against the real binary, whose log is its stderr.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{attacker_ip, Spawned};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_log_and_malformed_floods_do_not_grow_it() {
    let srv = Spawned::start(&[], &[("RUST_LOG", "info")]);
    let r = srv.ready.clone();
    let secret = r.agent_token.clone();
    assert!(secret.len() >= 24);

    // A join with the token in the right field and in a wrong-typed one.
    let mut ws =
        glance_tests::tls::websocket_from(&r, "/ws/agent", None, None, Some(attacker_ip(6)))
            .await
            .unwrap();
    let hello = r#"{"type":"hello","role":"agent","min_version":1,"max_version":1,"client":"x"}"#;
    ws.send(Message::Text(hello.into())).await.unwrap();
    let join =
        format!(r#"{{"type":"join","key":"123456","token":"{secret}","group_id":"{secret}"}}"#);
    ws.send(Message::Text(join.into())).await.unwrap();
    drop(ws);
    // The same on the visitor tunnel and the direct port: a start_session with the group's
    // visitor token in a wrong-typed field.
    let start = format!(
        r#"{{"type":"start_session","group_id":"{k}","token":"{k}","display":{{"name":"m","width":1,"height":1}}}}"#,
        k = r.api_key
    );
    let mut t =
        glance_tests::tls::websocket_from(&r, "/ws/visitor", None, None, Some(attacker_ip(6)))
            .await
            .unwrap();
    let vhello =
        r#"{"type":"hello","role":"visitor","min_version":1,"max_version":1,"client":"x"}"#;
    t.send(Message::Text(vhello.into())).await.unwrap();
    t.send(Message::Text(start.clone().into())).await.unwrap();
    drop(t);

    // The flood: 60 KB malformed messages (an unknown type, which serde echoes whole), one a
    // connection, on every socket kind, for 5 s.
    let junk = format!(r#"{{"type":"{}"}}"#, "A".repeat(60_000));
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed() < Duration::from_secs(5) {
        let path = ["/ws/agent", "/ws/visitor", "/ws/presence"][(sent % 3) as usize];
        if let Ok(mut ws) =
            glance_tests::tls::websocket_from(&r, path, None, None, Some(attacker_ip(7))).await
        {
            let first = if path == "/ws/agent" {
                hello
            } else if path == "/ws/visitor" {
                vhello
            } else {
                r#"{"type":"hello","group_id":1,"visitor_id":"v1"}"#
            };
            let _ = ws.send(Message::Text(first.into())).await;
            if ws.send(Message::Text(junk.clone().into())).await.is_ok() {
                sent += 1;
            }
        }
        if let Ok(mut d) =
            glance_tests::tls::connect_from(&r, &r.direct_addr, None, Some(attacker_ip(8))).await
        {
            let frame = glance_protocol::framing::encode(
                glance_protocol::framing::Kind::Control,
                junk.as_bytes(),
            );
            if d.write_all(&frame).await.is_ok() {
                sent += 1;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = srv.stderr();
    assert!(!log.contains(&secret), "the agent token is in the log");
    assert!(!log.contains(&r.api_key), "the visitor token is in the log");
    assert!(
        !log.contains(&"A".repeat(200)),
        "a client's bytes are logged untruncated"
    );
    assert!(!log.contains('\u{1b}'));
    let per_sec = log.len() as f64 / 5.5;
    assert!(
        per_sec < 20_000.0,
        "{sent} malformed messages grew the log by {per_sec:.0} bytes/s"
    );
}
