//! The hot path, on its own thread: capture -> diff -> encode -> hand over to the network.
//!
//! Between encoder and network sits a one-frame slot. The capture thread encodes a new frame
//! only when the slot is empty, and diffs against the last picture it encoded, so a slow link
//! coalesces changes instead of queueing stale frames; memory stays at two frame buffers plus
//! one encoded frame, whatever the link does.

pub mod diff;
pub mod encode;
pub mod scale;
pub mod scroll;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glance_protocol::update::{FLAG_KEY, FLAG_REFRESH_ONLY};

use crate::capture::{Capturer, FrameBuf};
use diff::TileDiff;
use encode::FrameEncoder;
use scale::{ScaleSpec, Scaler};
use scroll::{bounding_box, ScrollDetector};

/// Frame interval while the screen changes (30 fps).
pub const ACTIVE_INTERVAL: Duration = Duration::from_millis(33);
/// Poll interval once the screen has been static for [`IDLE_AFTER`].
pub const IDLE_INTERVAL: Duration = Duration::from_millis(200);
/// How long without change before polling slows down.
pub const IDLE_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Slot {
    /// Encoded payloads of the next frame(s), waiting for the network.
    pending: Option<Vec<Vec<u8>>>,
    /// Frames written but not yet acknowledged by the service: (seq of the FINAL message,
    /// bytes), oldest first.
    inflight: std::collections::VecDeque<(u32, usize)>,
    inflight_bytes: usize,
}

/// Bytes sent but not acknowledged before the next frame waits (one frame may always go when
/// nothing is outstanding). See the flow control of docs/PROTOCOL.md.
pub const SEND_WINDOW: usize = 128 * 1024;

/// Shared between the capture thread, the network writer and the session.
#[derive(Default)]
pub struct PipelineCtl {
    stop: AtomicBool,
    paused: AtomicBool,
    refresh: AtomicBool,
    force_key: AtomicBool,
    slot: Mutex<Slot>,
    cond: Condvar,
    ready: tokio::sync::Notify,
    /// A capturer to switch to (ShowDisplay), taken by the capture thread.
    next_capturer: Mutex<Option<Box<dyn Capturer>>>,
    /// How frames are sized (DisplayParams scale / capture box).
    scale: Mutex<ScaleSpec>,
}

impl std::fmt::Debug for PipelineCtl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineCtl")
            .field("paused", &self.is_paused())
            .field("stopped", &self.stopped())
            .finish_non_exhaustive()
    }
}

impl PipelineCtl {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a key frame for agents that need one (REFRESH_ONLY).
    pub fn request_refresh(&self) {
        self.refresh.store(true, Ordering::SeqCst);
        self.cond.notify_all();
    }

    /// Pauses (drops a frame not yet sent; the first frame after resume is a key frame for
    /// every agent) or resumes.
    pub fn set_paused(&self, paused: bool) {
        {
            // Under the slot lock, so that `put` sees either the old or the new state whole.
            let mut slot = self.slot();
            self.paused.store(paused, Ordering::SeqCst);
            if paused {
                self.force_key.store(true, Ordering::SeqCst);
                slot.pending = None;
            }
        }
        self.cond.notify_all();
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Switches capture to another display (ShowDisplay): the next frame is a key frame of
    /// the new display for every agent.
    pub fn switch_capturer(&self, c: Box<dyn Capturer>) {
        *self.next_capturer.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
        self.force_key.store(true, Ordering::SeqCst);
        self.cond.notify_all();
    }

    /// Sets how frames are sized; the next frame is a key frame when the size changes.
    pub fn set_scale(&self, spec: ScaleSpec) {
        *self.scale.lock().unwrap_or_else(|p| p.into_inner()) = spec;
        self.cond.notify_all();
    }

    fn scale_spec(&self) -> ScaleSpec {
        *self.scale.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the capture thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cond.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Takes the next encoded frame, waiting until there is one.
    pub async fn take(&self) -> Vec<Vec<u8>> {
        loop {
            if let Some(p) = self.slot().pending.take() {
                self.cond.notify_all();
                return p;
            }
            self.ready.notified().await;
        }
    }

    /// A new connection replaced a lost one: frames not yet written and acknowledgements
    /// still awaited are forgotten, and the next frame is a key frame for everyone.
    pub fn link_reset(&self) {
        {
            let mut g = self.slot();
            g.pending = None;
            g.inflight.clear();
            g.inflight_bytes = 0;
        }
        self.force_key.store(true, Ordering::SeqCst);
        self.cond.notify_all();
    }

    /// Records frames just written to the network (for flow control).
    pub fn sent(&self, frames: &[Vec<u8>]) {
        let mut g = self.slot();
        let mut bytes = 0;
        for f in frames {
            bytes += f.len() + glance_protocol::framing::HEADER_LEN;
            if let Ok((flags, seq, _, _)) = glance_protocol::update::peek_header(f) {
                if flags & glance_protocol::update::FLAG_FINAL != 0 {
                    g.inflight.push_back((seq, bytes));
                    g.inflight_bytes += bytes;
                    bytes = 0;
                }
            }
        }
    }

    /// The service has read every frame up to `seq`.
    pub fn acked(&self, seq: u32) {
        {
            let mut g = self.slot();
            while let Some(&(s, b)) = g.inflight.front() {
                // seq numbers wrap: "s is not after seq"
                if (s.wrapping_sub(seq) as i32) > 0 {
                    break;
                }
                g.inflight.pop_front();
                g.inflight_bytes -= b;
            }
        }
        self.cond.notify_all();
    }

    /// Bytes sent and not yet acknowledged.
    pub fn inflight_bytes(&self) -> usize {
        self.slot().inflight_bytes
    }

    /// Waits (bounded) until the slot is empty and the send window has room, or something
    /// needs attention.
    fn wait_slot_free(&self, timeout: Duration) -> bool {
        let busy = |s: &Slot| s.pending.is_some() || s.inflight_bytes >= SEND_WINDOW;
        let g = self.slot();
        let (g, _) = self
            .cond
            .wait_timeout_while(g, timeout, |s| {
                busy(s) && !self.stopped() && !self.is_paused()
            })
            .unwrap_or_else(|p| p.into_inner());
        !busy(&g)
    }

    fn sleep(&self, d: Duration) {
        let g = self.slot();
        let _ = self.cond.wait_timeout_while(g, d, |_| {
            !self.stopped() && !self.refresh.load(Ordering::SeqCst)
        });
    }

    fn put(&self, msgs: Vec<Vec<u8>>) {
        let mut slot = self.slot();
        if self.is_paused() {
            // Dropped: agents never get it, so the first frame after resume must be whole.
            self.force_key.store(true, Ordering::SeqCst);
            return;
        }
        slot.pending = Some(msgs);
        drop(slot);
        self.ready.notify_one();
    }
}

/// Runs the capture loop on a new thread until [`PipelineCtl::stop`]. `on_error` is called
/// once if capture fails; the thread then ends.
pub fn spawn(
    capturer: Box<dyn Capturer>,
    ctl: Arc<PipelineCtl>,
    on_error: impl FnOnce(String) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("glance-capture".into())
        .spawn(move || {
            if let Err(e) = run(capturer, &ctl) {
                on_error(e);
            }
        })
}

/// The per-frame work after capture: diff against the last encoded picture, detect moves,
/// encode. Holds the reference picture and reusable buffers; no allocation per frame in steady
/// state beyond the encoded output.
#[derive(Debug, Default)]
pub struct FrameProcessor {
    /// Benchmarks turn move detection off to measure what it saves.
    pub no_moves: bool,
    prev: FrameBuf,
    have_prev: bool,
    diff: TileDiff,
    scroll: ScrollDetector,
    enc: FrameEncoder,
}

impl FrameProcessor {
    /// Whether a reference picture exists (something was encoded before).
    pub fn has_reference(&self) -> bool {
        self.have_prev
    }

    /// Encodes what changed in `cur` since the last picture processed, appending payloads to
    /// `out`. A key frame for everyone when there is no reference yet, the size changed or
    /// `force_key`; a REFRESH_ONLY key frame after the delta when `refresh`. When something
    /// was produced, `cur` becomes the reference and `cur` receives the old buffer for reuse.
    /// Returns whether anything was produced.
    pub fn process(
        &mut self,
        cur: &mut FrameBuf,
        force_key: bool,
        refresh: bool,
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        self.process_with_hints(cur, force_key, refresh, &[], out)
    }

    /// [`FrameProcessor::process`] with window-move hints from the capturer: a hint that the
    /// pixels confirm travels as a copy (a dragged window), before scroll detection is tried.
    pub fn process_with_hints(
        &mut self,
        cur: &mut FrameBuf,
        force_key: bool,
        refresh: bool,
        hints: &[crate::capture::MoveHint],
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        let before = out.len();
        let resized = cur.width != self.prev.width || cur.height != self.prev.height;
        if !self.have_prev || resized || force_key {
            self.enc.encode_full(cur, FLAG_KEY, out);
        } else {
            let mut rects = self.diff.diff(&self.prev, cur);
            let mut moves = Vec::new();
            let bbox = bounding_box(&rects);
            let found = if self.no_moves || bbox.is_none() {
                None
            } else {
                hints
                    .iter()
                    .filter_map(|h| hint_to_move(h, cur.width, cur.height))
                    .filter(|m| m.verify(&self.prev, cur, 4) >= 0.5)
                    .max_by_key(|m| m.rect().area())
                    .or_else(|| bbox.and_then(|bb| self.scroll.detect(&self.prev, cur, bb)))
            };
            if let (Some(m), Some(bb)) = (found, bbox) {
                // Agents copy first; what is left to send is the diff against the moved
                // picture, inside the box that changed plus everything the copy overwrites.
                let region = bounding_box(&[bb, m.rect()]).unwrap_or(bb);
                rects = self.diff.diff_after_move(&self.prev, cur, region, &m);
                moves.push(m);
            }
            if !rects.is_empty() || !moves.is_empty() {
                self.enc.encode_with_moves(cur, &moves, &rects, 0, out);
            }
            if refresh {
                self.enc.encode_full(cur, FLAG_KEY | FLAG_REFRESH_ONLY, out);
            }
        }
        if out.len() == before {
            return false;
        }
        std::mem::swap(&mut self.prev, cur);
        self.have_prev = true;
        true
    }
}

/// A window-move hint as a copy within a `w` x `h` picture: destination = the new position,
/// source = the old one, both clipped to the picture. None when too small to be worth it.
fn hint_to_move(h: &crate::capture::MoveHint, w: u16, hgt: u16) -> Option<scroll::Move> {
    let (fw, fh) = (w as i32, hgt as i32);
    let c_lo = 0.max(-h.x).max(-(h.x + h.dx));
    let c_hi = (h.w as i32).min(fw - h.x).min(fw - (h.x + h.dx));
    let r_lo = 0.max(-h.y).max(-(h.y + h.dy));
    let r_hi = (h.h as i32).min(fh - h.y).min(fh - (h.y + h.dy));
    if c_hi - c_lo < 32 || r_hi - r_lo < 32 {
        return None;
    }
    Some(scroll::Move {
        x: (h.x + h.dx + c_lo) as u16,
        y: (h.y + h.dy + r_lo) as u16,
        w: (c_hi - c_lo) as u16,
        h: (r_hi - r_lo) as u16,
        dx: -h.dx,
        dy: -h.dy,
    })
}

fn run(mut capturer: Box<dyn Capturer>, ctl: &PipelineCtl) -> Result<(), String> {
    let mut raw = FrameBuf::default();
    let mut cur = FrameBuf::default();
    let mut scaler = Scaler::default();
    let mut proc = FrameProcessor::default();
    let mut last_change = Instant::now();
    while !ctl.stopped() {
        if ctl.is_paused() {
            ctl.sleep(IDLE_INTERVAL);
            continue;
        }
        if !ctl.wait_slot_free(IDLE_INTERVAL) {
            continue;
        }
        if let Some(c) = ctl
            .next_capturer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            capturer = c;
        }
        let force_key = ctl.force_key.swap(false, Ordering::SeqCst);
        let refresh = ctl.refresh.swap(false, Ordering::SeqCst);
        if !force_key && !refresh && proc.has_reference() && !capturer.may_have_changed() {
            // Nothing changed (damage events / generation): no capture at all. The check is
            // cheap, so poll it at the active rate and keep the latency of the next change low.
            ctl.sleep(ACTIVE_INTERVAL);
            continue;
        }
        let started = Instant::now();
        capturer.capture(&mut raw).map_err(|e| e.to_string())?;
        // Window moves are tracked every frame, and used only at full scale (a scaled copy
        // would not match the resampled pixels).
        let mut hints = capturer.move_hints();
        let spec = ctl.scale_spec();
        if spec.is_identity(raw.width, raw.height) {
            std::mem::swap(&mut raw, &mut cur);
        } else {
            scaler.scale(&raw, spec, &mut cur)?;
            hints.clear();
        }
        let mut out = Vec::new();
        if !proc.process_with_hints(&mut cur, force_key, refresh, &hints, &mut out) {
            let idle = last_change.elapsed() > IDLE_AFTER;
            ctl.sleep(
                if idle { IDLE_INTERVAL } else { ACTIVE_INTERVAL }
                    .saturating_sub(started.elapsed()),
            );
            continue;
        }
        last_change = Instant::now();
        ctl.put(out);
        ctl.sleep(ACTIVE_INTERVAL.saturating_sub(started.elapsed()));
    }
    Ok(())
}
