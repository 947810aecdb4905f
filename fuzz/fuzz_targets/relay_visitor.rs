//! Owns the server's handling of a visitor's direct stream after framing: `direct::read_message`
//! feeding `relay::visitor::run` (hello, start_session, updates, cursor shapes and positions,
//! pause, end) with a real `Registry`, while up to two agents join at input-chosen moments
//! (one reads its queue as it fills, one only at the end, so that its queue overflows).
//! Checks what each agent receives: `joined` first, every update and shape well-formed, no
//! delta before a key frame or of another size than the last key frame, whole frames when
//! nothing was dropped, no `cursor` naming a shape the agent cannot have, `session_ended`
//! last; and that the visitor's `error`, when sent, is the last thing it gets.
//!
//! Input: the message index after which agent 1 joins, one byte (agent 2's index in the low
//! nibble, the agents' queue bound in the high one), then the visitor's stream.
#![no_main]

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use glance_fuzz::{runtime, Input};
use glance_protocol::cursor::{validate_position, CursorShape};
use glance_protocol::limits::CURSOR_SHAPE_CACHE;
use glance_protocol::update::{FrameUpdate, FLAG_FINAL, FLAG_KEY, FLAG_REFRESH_ONLY};
use glance_protocol::Control;
use glance_server::direct;
use glance_server::relay::agent_queue::MAX_QUEUED_CONTROLS;
use glance_server::relay::session::AgentIdentity;
use glance_server::relay::{visitor, Outgoing, Registry, SendQueue};
use glance_server::{Config, GroupConfig};
use libfuzzer_sys::fuzz_target;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;

const DEV_TOKEN: &str = "dev-token";
const QUEUE_BOUNDS: [usize; 4] = [64, 2048, 64 * 1024, 4 << 20];

type Log = Arc<Mutex<Vec<Outgoing>>>;

struct Agent {
    queue: Arc<SendQueue>,
    got: Log,
    reader: Option<tokio::task::JoinHandle<()>>,
}

fn drain(queue: Arc<SendQueue>, got: Log) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(m) = queue.pop().await {
            got.lock().unwrap_or_else(|p| p.into_inner()).push(m);
        }
    })
}

/// Joins the live session as an agent with the development token, if there is one.
fn join(registry: &Registry, eager: bool) -> Option<Agent> {
    let s = registry.stats().into_iter().next()?;
    // Authorization is not this target's business (auth has its own tests): find by key.
    let session = registry.find(s.group_id, &s.key)?;
    let queue = Arc::new(SendQueue::new(
        registry.agent_queue_bytes(),
        MAX_QUEUED_CONTROLS,
    ));
    let id = registry.next_agent_id();
    registry
        .join(&session, id, queue.clone(), &AgentIdentity::default())
        .ok()?;
    let got = Log::default();
    let reader = eager.then(|| drain(queue.clone(), got.clone()));
    Some(Agent { queue, got, reader })
}

/// Lets the other tasks run until they wait again.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

fn check_agent(got: &[Outgoing], overflowed: bool) {
    match got.first() {
        Some(Outgoing::Control(Control::Joined { .. })) => {}
        other => panic!("an agent's first message is {other:?}, not joined"),
    }
    // The picture the agent has: its size once a key frame arrived.
    let mut size: Option<(u16, u16)> = None;
    // The frame in progress (seq, KEY|REFRESH_ONLY bits) after a message without FINAL.
    let mut open: Option<(u32, u8)> = None;
    let mut shapes: VecDeque<u32> = VecDeque::new();
    for (i, m) in got.iter().enumerate() {
        match m {
            Outgoing::Update(b) => {
                assert_eq!(b.first(), Some(&2));
                let u = match FrameUpdate::parse(&b[1..]) {
                    Ok(u) => u,
                    Err(e) => panic!("an agent got an update it cannot parse: {e}"),
                };
                let bits = u.flags & (FLAG_KEY | FLAG_REFRESH_ONLY);
                if !overflowed {
                    if let Some((seq, b)) = open {
                        assert_eq!((u.seq, bits), (seq, b), "frame {seq} was cut");
                    }
                }
                if u.is_key() {
                    size = Some((u.width, u.height));
                } else {
                    match size {
                        None => panic!("an agent got a delta before any key frame"),
                        Some(s) => assert_eq!(
                            s,
                            (u.width, u.height),
                            "an agent got a delta of another size than its picture"
                        ),
                    }
                }
                open = (u.flags & FLAG_FINAL == 0).then_some((u.seq, bits));
            }
            Outgoing::Shape(b) => {
                assert_eq!(b.first(), Some(&3));
                let s = match CursorShape::parse(&b[1..]) {
                    Ok(s) => s,
                    Err(e) => panic!("an agent got a cursor shape it cannot parse: {e}"),
                };
                shapes.retain(|&id| id != s.id);
                shapes.push_back(s.id);
                if shapes.len() > CURSOR_SHAPE_CACHE {
                    shapes.pop_front();
                }
            }
            Outgoing::Control(Control::Cursor { x, y, shape, .. }) => {
                assert!(validate_position(*x, *y).is_ok());
                // Shapes go only with updates when a queue drops them (overflow, close):
                // without an overflow, a cursor followed by more binaries must be usable.
                let more = got[i + 1..]
                    .iter()
                    .any(|m| !matches!(m, Outgoing::Control(_)));
                if !overflowed && more {
                    assert!(
                        shapes.contains(shape),
                        "cursor names shape {shape} the agent lacks"
                    );
                }
            }
            Outgoing::Control(Control::SessionEnded { .. }) => {
                assert_eq!(i, got.len() - 1, "messages after session_ended");
            }
            Outgoing::Control(_) => {}
        }
    }
}

async fn run(join_at: [usize; 2], bound: usize, stream: &[u8]) {
    let config = Config {
        groups: vec![GroupConfig::development(1)],
        auth: Default::default(),
        limits: Default::default(),
        presence: Default::default(),
        cluster: Default::default(),
        sdk: Default::default(),
    };
    // A lost visitor's session is held for a resume (issue 7); with no window it ends as soon
    // as the hold's task runs, so "no session outlives its visitor" still holds after settling.
    let registry = Arc::new(
        Registry::new(&config, DEV_TOKEN.into(), bound).with_resume_window(Duration::ZERO),
    );

    // The messages as the server's reader hands them over, its error (if any) last.
    let mut reader = stream;
    let mut msgs = Vec::new();
    loop {
        let m = direct::read_message(&mut reader, Duration::from_secs(3600)).await;
        let stop = m.is_err();
        msgs.push(m);
        if stop {
            break;
        }
    }

    let vq = Arc::new(SendQueue::new(0, MAX_QUEUED_CONTROLS));
    let visitor_got = Log::default();
    let visitor_reader = drain(vq.clone(), visitor_got.clone());
    let (tx, mut rx) = mpsc::channel(1);
    let mut agents: [Option<Agent>; 2] = [None, None];
    // Set when the visitor's handler returns: it reads nothing more (the real reader task is
    // aborted then), so the feeder stops.
    let done = Cell::new(false);
    let feeder = async {
        for (i, mut m) in msgs.into_iter().enumerate() {
            loop {
                match tx.try_send(m) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) if !done.get() => {
                        m = back;
                        tokio::task::yield_now().await;
                    }
                    Err(_) => return,
                }
            }
            settle().await;
            for (a, slot) in agents.iter_mut().enumerate() {
                if slot.is_none() && join_at[a] == i {
                    *slot = join(&registry, a == 0);
                    settle().await;
                }
            }
        }
        drop(tx);
    };
    let deadline = Instant::now() + Duration::from_secs(3600);
    let visitor = async {
        visitor::run(
            registry.clone(),
            &mut rx,
            vq.clone(),
            deadline,
            std::net::IpAddr::from([127, 0, 0, 1]),
        )
        .await;
        done.set(true);
    };
    tokio::join!(visitor, feeder);
    settle().await;
    // A held session ends when its (zero) resume window's timer fires: let the timer run.
    for _ in 0..200 {
        if registry.stats().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The visitor has gone: its session has ended and every queue is closing.
    assert!(
        registry.stats().is_empty(),
        "a session outlived its visitor"
    );
    let _ = visitor_reader.await;
    for a in agents.iter_mut().flatten() {
        let reader = a
            .reader
            .take()
            .unwrap_or_else(|| drain(a.queue.clone(), a.got.clone()));
        let _ = reader.await;
        let got = a.got.lock().unwrap_or_else(|p| p.into_inner());
        check_agent(&got, a.queue.stats().overflows > 0);
    }
    let got = visitor_got.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = got
        .iter()
        .position(|m| matches!(m, Outgoing::Control(Control::Error { .. })))
    {
        assert_eq!(i, got.len() - 1, "messages after error");
    }
    assert!(got.iter().all(|m| matches!(m, Outgoing::Control(_))));
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let first = input.u8() as usize;
    let opts = input.u8();
    let join_at = [first, (opts & 0x0f) as usize];
    let bound = QUEUE_BOUNDS[(opts >> 4) as usize % QUEUE_BOUNDS.len()];
    // A runtime per input: tasks left behind (no-agent timers) go with it.
    runtime().block_on(run(join_at, bound, input.rest()));
});
