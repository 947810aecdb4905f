//! The bounded per-peer send queue. Each agent has one: control messages and frame updates in
//! order, the updates counted in bytes against a bound. Update bytes are shared
//! ([`bytes::Bytes`]) between every agent of a session, never copied per agent. The visitor's
//! connection uses the same queue for its control messages only.
//!
//! When an update would overflow the bound the queue drops every queued update (control
//! messages stay) and reports [`PushOutcome::Overflow`]; the session then marks the agent as
//! needing a key frame. Cursor shapes count against the same bound and are dropped with the
//! updates. Cursor positions are latest-wins: a new one replaces one still queued, so an
//! agent that is behind gets only the latest position. Too many queued control messages (a peer that reads nothing at all)
//! aborts the queue, and with it the connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use glance_protocol::Control;
use tokio::sync::Notify;

/// Control messages a peer may leave unread before it is disconnected.
pub const MAX_QUEUED_CONTROLS: usize = 256;

/// One message waiting to be written.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Control(Control),
    /// A frame update: the kind byte (2) followed by the payload, as a WebSocket binary
    /// message carries it.
    Update(Bytes),
    /// A cursor shape: the kind byte (3) followed by the payload.
    Shape(Bytes),
}

/// What happened to a pushed update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Queued,
    /// It did not fit: every queued update was dropped, this one too.
    Overflow,
    /// The queue no longer accepts messages.
    Closed,
}

/// A snapshot of a queue's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Update bytes queued now.
    pub update_bytes: usize,
    /// The most update bytes ever queued at once.
    pub peak_update_bytes: usize,
    /// Control messages queued now.
    pub controls: usize,
    /// Updates dropped because of overflows.
    pub dropped_updates: u64,
    /// Times the queue overflowed.
    pub overflows: u64,
    /// Updates handed to the writer.
    pub updates_sent: u64,
    /// Cursor positions replaced by a newer one before the writer took them.
    pub cursors_replaced: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Send what is queued, then close.
    Closing,
    /// Drop everything and close now.
    Aborted,
}

#[derive(Debug)]
struct Inner {
    items: VecDeque<Outgoing>,
    state: State,
    stats: QueueStats,
}

/// See the module documentation.
#[derive(Debug)]
pub struct SendQueue {
    update_limit: usize,
    control_limit: usize,
    inner: Mutex<Inner>,
    /// Wakes the single consumer.
    wake: Notify,
    /// Wakes everyone waiting for the end of the queue.
    done: Notify,
    ping: AtomicBool,
}

impl SendQueue {
    /// A queue holding at most `update_limit` bytes of updates (one update larger than that
    /// is still accepted into an empty queue, or no key frame could ever pass) and
    /// `control_limit` control messages.
    pub fn new(update_limit: usize, control_limit: usize) -> SendQueue {
        SendQueue {
            update_limit,
            control_limit,
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                state: State::Open,
                stats: QueueStats::default(),
            }),
            wake: Notify::new(),
            done: Notify::new(),
            ping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a control message. Returns false if the queue is closed, or if the peer left
    /// too many unread: the queue is aborted then.
    pub fn push_control(&self, c: Control) -> bool {
        let mut g = self.lock();
        if g.state != State::Open {
            return false;
        }
        if g.stats.controls >= self.control_limit {
            log::warn!(
                "peer left {} control messages unread; disconnecting it",
                g.stats.controls
            );
            Self::abort_locked(&mut g);
            drop(g);
            self.wake.notify_one();
            self.done.notify_waiters();
            return false;
        }
        g.stats.controls += 1;
        g.items.push_back(Outgoing::Control(c));
        drop(g);
        self.wake.notify_one();
        true
    }

    /// Queues a `cursor` message, replacing one still queued (latest wins; the new one goes
    /// to the end, after any shape queued meanwhile). Returns false as
    /// [`SendQueue::push_control`] does.
    pub fn push_cursor(&self, c: Control) -> bool {
        {
            let mut g = self.lock();
            let before = g.items.len();
            g.items
                .retain(|i| !matches!(i, Outgoing::Control(Control::Cursor { .. })));
            let removed = before - g.items.len();
            g.stats.controls -= removed;
            g.stats.cursors_replaced += removed as u64;
        }
        self.push_control(c)
    }

    /// Queues an update (kind byte plus payload), or drops every queued update (and cursor
    /// shape) if it does not fit.
    pub fn push_update(&self, update: Bytes) -> PushOutcome {
        self.push_binary(Outgoing::Update(update))
    }

    /// Queues a cursor shape (kind byte plus payload); it counts against the same bound as
    /// updates and overflows the same way.
    pub fn push_shape(&self, shape: Bytes) -> PushOutcome {
        self.push_binary(Outgoing::Shape(shape))
    }

    fn push_binary(&self, item: Outgoing) -> PushOutcome {
        let len = match &item {
            Outgoing::Update(b) | Outgoing::Shape(b) => b.len(),
            Outgoing::Control(_) => 0,
        };
        let mut g = self.lock();
        if g.state != State::Open {
            return PushOutcome::Closed;
        }
        if g.stats.update_bytes > 0 && g.stats.update_bytes + len > self.update_limit {
            let before = g.items.len();
            g.items.retain(|i| matches!(i, Outgoing::Control(_)));
            g.stats.dropped_updates += (before - g.items.len()) as u64 + 1;
            g.stats.update_bytes = 0;
            g.stats.overflows += 1;
            return PushOutcome::Overflow;
        }
        g.stats.update_bytes += len;
        g.stats.peak_update_bytes = g.stats.peak_update_bytes.max(g.stats.update_bytes);
        g.items.push_back(item);
        drop(g);
        self.wake.notify_one();
        PushOutcome::Queued
    }

    /// Drops queued updates, queues `last` (if any) and closes once the writer sent it.
    pub fn close(&self, last: Option<Control>) {
        let mut g = self.lock();
        if g.state != State::Open {
            return;
        }
        g.items.retain(|i| matches!(i, Outgoing::Control(_)));
        g.stats.update_bytes = 0;
        if let Some(c) = last {
            g.stats.controls += 1;
            g.items.push_back(Outgoing::Control(c));
        }
        g.state = State::Closing;
        drop(g);
        self.wake.notify_one();
        self.done.notify_waiters();
    }

    /// Drops everything and closes now.
    pub fn abort(&self) {
        let mut g = self.lock();
        Self::abort_locked(&mut g);
        drop(g);
        self.wake.notify_one();
        self.done.notify_waiters();
    }

    fn abort_locked(g: &mut Inner) {
        g.state = State::Aborted;
        g.items.clear();
        g.stats.update_bytes = 0;
        g.stats.controls = 0;
    }

    /// Whether the queue still accepts messages.
    pub fn is_open(&self) -> bool {
        self.lock().state == State::Open
    }

    /// Whether the queue was aborted (the connection is to be dropped at once).
    pub fn is_aborted(&self) -> bool {
        self.lock().state == State::Aborted
    }

    /// Waits until the queue is closing or aborted.
    pub async fn wait_done(&self) {
        loop {
            let n = self.done.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if !self.is_open() {
                return;
            }
            n.await;
        }
    }

    /// The next message for the writer; `None` once the queue is closed and drained, or
    /// aborted. Cancel-safe. One consumer only.
    pub async fn pop(&self) -> Option<Outgoing> {
        loop {
            {
                let mut g = self.lock();
                if g.state == State::Aborted {
                    return None;
                }
                if let Some(item) = g.items.pop_front() {
                    match &item {
                        Outgoing::Control(_) => {
                            g.stats.controls = g.stats.controls.saturating_sub(1)
                        }
                        Outgoing::Update(b) => {
                            g.stats.update_bytes = g.stats.update_bytes.saturating_sub(b.len());
                            g.stats.updates_sent += 1;
                        }
                        Outgoing::Shape(b) => {
                            g.stats.update_bytes = g.stats.update_bytes.saturating_sub(b.len());
                        }
                    }
                    return Some(item);
                }
                if g.state == State::Closing {
                    return None;
                }
            }
            self.wake.notified().await;
        }
    }

    /// Turns on heartbeats: the writer queues a `ping` every interval from now on.
    pub fn enable_ping(&self) {
        self.ping.store(true, Ordering::SeqCst);
    }

    /// Whether heartbeats are on.
    pub fn ping_enabled(&self) -> bool {
        self.ping.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> QueueStats {
        self.lock().stats
    }

    /// The update-byte bound.
    pub fn update_limit(&self) -> usize {
        self.update_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_drops_updates_keeps_controls() {
        let q = SendQueue::new(10, 3);
        assert_eq!(
            q.push_update(Bytes::from_static(&[2; 6])),
            PushOutcome::Queued
        );
        assert!(q.push_control(Control::GuestCount { count: 1 }));
        assert_eq!(
            q.push_update(Bytes::from_static(&[2; 4])),
            PushOutcome::Queued
        );
        assert_eq!(q.stats().update_bytes, 10);
        assert_eq!(
            q.push_update(Bytes::from_static(&[2; 1])),
            PushOutcome::Overflow
        );
        let s = q.stats();
        assert_eq!(
            (s.update_bytes, s.peak_update_bytes, s.dropped_updates),
            (0, 10, 3)
        );
        assert!(matches!(q.pop().await, Some(Outgoing::Control(_))));
        // a single oversized update still enters an empty queue
        assert_eq!(
            q.push_update(Bytes::from_static(&[2; 20])),
            PushOutcome::Queued
        );
        assert!(matches!(q.pop().await, Some(Outgoing::Update(_))));
    }

    fn cursor(x: u16) -> Control {
        Control::Cursor {
            x,
            y: 0,
            visible: true,
            shape: 1,
        }
    }

    #[tokio::test]
    async fn cursor_positions_are_latest_wins_and_shapes_overflow_like_updates() {
        let q = SendQueue::new(10, 3);
        assert!(q.push_cursor(cursor(1)));
        assert!(q.push_control(Control::GuestCount { count: 1 }));
        assert_eq!(
            q.push_shape(Bytes::from_static(&[3; 6])),
            PushOutcome::Queued
        );
        // far more positions than the control limit: only the latest stays, after the shape
        for x in 2..100 {
            assert!(q.push_cursor(cursor(x)));
        }
        let s = q.stats();
        assert_eq!((s.controls, s.update_bytes, s.cursors_replaced), (2, 6, 98));
        assert!(matches!(
            q.pop().await,
            Some(Outgoing::Control(Control::GuestCount { .. }))
        ));
        assert!(matches!(q.pop().await, Some(Outgoing::Shape(_))));
        assert_eq!(
            q.pop().await.map(|o| format!("{o:?}")),
            Some(format!("{:?}", Outgoing::Control(cursor(99))))
        );
        assert_eq!(q.stats().update_bytes, 0);
        // a shape that does not fit drops queued updates and shapes, keeps controls
        q.push_update(Bytes::from_static(&[2; 8]));
        q.push_cursor(cursor(5));
        assert_eq!(
            q.push_shape(Bytes::from_static(&[3; 6])),
            PushOutcome::Overflow
        );
        assert_eq!(q.stats().update_bytes, 0);
        assert!(matches!(
            q.pop().await,
            Some(Outgoing::Control(Control::Cursor { x: 5, .. }))
        ));
    }

    #[tokio::test]
    async fn too_many_controls_abort() {
        let q = SendQueue::new(10, 2);
        assert!(q.push_control(Control::RefreshRequest));
        assert!(q.push_control(Control::RefreshRequest));
        assert!(!q.push_control(Control::RefreshRequest));
        assert!(q.is_aborted());
        assert!(q.pop().await.is_none());
        q.wait_done().await;
    }

    #[tokio::test]
    async fn close_drains_controls_then_ends() {
        let q = SendQueue::new(10, 8);
        q.push_update(Bytes::from_static(&[2; 3]));
        q.close(Some(Control::Leave));
        assert!(matches!(
            q.pop().await,
            Some(Outgoing::Control(Control::Leave))
        ));
        assert!(q.pop().await.is_none());
        assert_eq!(q.push_update(Bytes::from_static(&[2])), PushOutcome::Closed);
    }
}
