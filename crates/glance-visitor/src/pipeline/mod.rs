//! The hot path, on its own thread: capture -> diff -> encode -> hand over to the network.
//! Photographic regions go as JPEG at a quality that follows the link, and are re-sent
//! losslessly once they stop changing, so agents' pictures end exact.
//!
//! Between encoder and network sits a one-frame slot. The capture thread encodes a new frame
//! only when the slot is empty, and diffs against the last picture it encoded, so a slow link
//! coalesces changes instead of queueing stale frames; memory stays at two frame buffers plus
//! one encoded frame, whatever the link does.

pub mod diff;
pub mod encode;
pub mod lossy;
pub mod mask;
pub mod refresh;
pub mod scale;
pub mod scroll;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glance_protocol::update::{FLAG_KEY, FLAG_REFRESH_ONLY};

use crate::capture::{CaptureError, Capturer, FrameBuf};
use crate::shown::{Shown, View, Watch};
use diff::TileDiff;
use encode::{EncodeStats, FrameEncoder};
use lossy::LinkPressure;
use refresh::LossyTiles;
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

/// Shared between the capture thread, the network writer and the session. What is shown
/// (scale, pause) is read from the session's [`Shown`].
pub struct PipelineCtl {
    stop: AtomicBool,
    refresh: AtomicBool,
    force_key: AtomicBool,
    slot: Mutex<Slot>,
    cond: Condvar,
    ready: tokio::sync::Notify,
    /// A capturer to switch to (ShowDisplay, a display back), with its number, taken by the
    /// capture thread.
    next_capturer: Mutex<Option<(u64, Box<dyn Capturer>)>>,
    has_next: AtomicBool,
    /// The number of the last capturer handed over (the first one is 0).
    latest: AtomicU64,
    shown: Arc<Shown>,
}

/// A capture failure, as the capture thread reports it: which capturer (see
/// [`PipelineCtl::switch_capturer`]) and why. After a [`CaptureError::Gone`] the thread waits
/// for another capturer; after anything else it ends.
#[derive(Debug)]
pub struct CaptureFailure {
    pub capturer: u64,
    pub error: CaptureError,
}

impl std::fmt::Display for CaptureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl Watch for PipelineCtl {
    fn shown_changed(&self, was: &View, now: &View) {
        if was.paused != now.paused {
            // Under the slot lock, so that `put` sees either the old or the new state whole.
            let mut slot = self.slot();
            if now.paused {
                // Dropped: the first frame after resume is a key frame for every agent.
                self.force_key.store(true, Ordering::SeqCst);
                slot.pending = None;
            }
        }
        // A new scale: the next frame has the new size (a key frame when it changed).
        self.cond.notify_all();
    }
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
    /// A controller reading (and watching) `shown`.
    pub fn new(shown: Arc<Shown>) -> Arc<PipelineCtl> {
        let ctl = Arc::new(PipelineCtl {
            stop: AtomicBool::new(false),
            refresh: AtomicBool::new(false),
            force_key: AtomicBool::new(false),
            slot: Mutex::default(),
            cond: Condvar::new(),
            ready: tokio::sync::Notify::new(),
            next_capturer: Mutex::new(None),
            has_next: AtomicBool::new(false),
            latest: AtomicU64::new(0),
            shown,
        });
        let weak: std::sync::Weak<dyn Watch> = Arc::downgrade(&(ctl.clone() as Arc<dyn Watch>));
        ctl.shown.watch(weak);
        ctl
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a key frame for agents that need one (REFRESH_ONLY).
    pub fn request_refresh(&self) {
        self.refresh.store(true, Ordering::SeqCst);
        self.cond.notify_all();
    }

    /// Paused (what is shown says so): frames are dropped, the first after resume is whole.
    pub fn is_paused(&self) -> bool {
        self.shown.paused()
    }

    /// Switches capture to another capturer (ShowDisplay, a display that came back): the
    /// next frame is a key frame of it for every agent. Returns its number (failures name it).
    ///
    /// `then` (the change of what is shown that goes with it) runs after the capturer is
    /// marked as waiting and before the capture thread can take it, so the thread never
    /// processes a frame of the new capturer with the old view, nor (it drops a frame when a
    /// capturer is waiting) a frame of the old capturer with the new view.
    pub fn switch_capturer(&self, c: Box<dyn Capturer>, then: impl FnOnce()) -> u64 {
        let id = self.latest.fetch_add(1, Ordering::SeqCst) + 1;
        let mut next = self.next_capturer.lock().unwrap_or_else(|p| p.into_inner());
        *next = Some((id, c));
        self.has_next.store(true, Ordering::SeqCst);
        then();
        drop(next);
        self.force_key.store(true, Ordering::SeqCst);
        self.cond.notify_all();
        id
    }

    /// The number of the capturer handed over last: a failure of an older one is stale.
    pub fn latest_capturer(&self) -> u64 {
        self.latest.load(Ordering::SeqCst)
    }

    fn take_next(&self) -> Option<(u64, Box<dyn Capturer>)> {
        if !self.has_next.swap(false, Ordering::SeqCst) {
            return None;
        }
        self.next_capturer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn scale_spec(&self) -> ScaleSpec {
        self.shown.scale()
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
    /// needs attention. True when the slot is free.
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
            !self.stopped()
                && !self.refresh.load(Ordering::SeqCst)
                && !self.has_next.load(Ordering::SeqCst)
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

/// Runs the capture loop on a new thread until [`PipelineCtl::stop`] (`capturer` is number
/// 0). `on_error` is called when capture fails: after [`CaptureError::Gone`] the thread waits
/// for [`PipelineCtl::switch_capturer`] (agents keep the last picture, late joiners get it
/// too); after any other error the thread ends.
pub fn spawn(
    capturer: Box<dyn Capturer>,
    ctl: Arc<PipelineCtl>,
    mut on_error: impl FnMut(CaptureFailure) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("glance-capture".into())
        .spawn(move || run(capturer, &ctl, &mut on_error))
}

/// The per-frame work after capture: diff against the last encoded picture, detect moves,
/// encode. Holds the reference picture and reusable buffers; no allocation per frame in steady
/// state beyond the encoded output.
#[derive(Debug, Default)]
pub struct FrameProcessor {
    /// Benchmarks turn move detection off to measure what it saves.
    pub no_moves: bool,
    /// Everything lossless (benchmarks compare; photographic regions go as JPEG otherwise).
    pub no_lossy: bool,
    /// Every lossless rect compressed on its own, not against the session's stream
    /// (benchmarks compare; `GLANCE_NO_STREAM=1` in the environment sets it).
    pub no_stream: bool,
    /// The stream's zlib level when set (`GLANCE_STREAM_LEVEL`, benchmarks).
    pub stream_level: Option<u32>,
    link: LinkPressure,
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

    /// A REFRESH_ONLY key frame of the reference picture (late joiners while nothing can be
    /// captured). Returns whether anything was produced.
    pub fn refresh_reference(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) -> bool {
        if !self.have_prev {
            return false;
        }
        self.configure();
        let before = out.len();
        self.enc
            .encode_full_at(&self.prev, FLAG_KEY | FLAG_REFRESH_ONLY, now, out);
        out.len() > before
    }

    /// Records how long the capture thread waited for the link before this frame and how full
    /// the send window then was, 0..1 (see [`LinkPressure`]): they set the JPEG quality and
    /// the refresh budget of what follows.
    pub fn observe_link(&mut self, waited: Duration, interval: Duration, window_fill: f32) {
        self.link.observe(waited, interval, window_fill);
    }

    /// The JPEG quality the next frame will use (None: lossless only).
    pub fn quality(&self) -> Option<u8> {
        (!self.no_lossy).then(|| self.link.quality())
    }

    /// The agents' tiles that hold lossy pixels.
    pub fn lossy_tiles(&self) -> &LossyTiles {
        self.enc.lossy_tiles()
    }

    /// What the encoder produced so far (JPEG and refresh counts).
    pub fn stats(&self) -> EncodeStats {
        self.enc.stats()
    }

    fn configure(&mut self) {
        self.enc.quality = self.quality();
        self.enc.streaming = !self.no_stream;
        if let Some(l) = self.stream_level {
            self.enc.stream_level = l;
        }
        self.enc.refresh_budget = self.link.refresh_budget();
    }

    /// When nothing was captured: the lossless refresh of lossy tiles that have been unchanged
    /// long enough, as a delta of the reference picture. Returns whether anything was produced.
    pub fn refresh_lossy(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) -> bool {
        if !self.have_prev || !self.enc.refresh_due(now) {
            return false;
        }
        self.configure();
        self.enc.encode_frame(&self.prev, &[], &[], 0, now, out);
        true
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

    /// [`FrameProcessor::process`] at time `now` (when lossy tiles come due for their
    /// lossless refresh; tests pass their own clock).
    pub fn process_at(
        &mut self,
        cur: &mut FrameBuf,
        force_key: bool,
        refresh: bool,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        self.process_inner(cur, force_key, refresh, &[], now, out)
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
        self.process_inner(cur, force_key, refresh, hints, Instant::now(), out)
    }

    fn process_inner(
        &mut self,
        cur: &mut FrameBuf,
        force_key: bool,
        refresh: bool,
        hints: &[crate::capture::MoveHint],
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        self.configure();
        let before = out.len();
        let resized = cur.width != self.prev.width || cur.height != self.prev.height;
        if !self.have_prev || resized || force_key {
            self.enc.encode_full_at(cur, FLAG_KEY, now, out);
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
            // Unchanged lossy tiles due for their lossless refresh go with this delta (or
            // make one on their own).
            if !rects.is_empty() || !moves.is_empty() || self.enc.refresh_due(now) {
                self.enc.encode_frame(cur, &moves, &rects, 0, now, out);
            }
            if refresh {
                self.enc
                    .encode_full_at(cur, FLAG_KEY | FLAG_REFRESH_ONLY, now, out);
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

fn run(first: Box<dyn Capturer>, ctl: &PipelineCtl, on_error: &mut dyn FnMut(CaptureFailure)) {
    // None while the display is gone, until the session hands over another capturer.
    let mut capturer: Option<(u64, Box<dyn Capturer>)> = Some((0, first));
    let mut raw = FrameBuf::default();
    let mut cur = FrameBuf::default();
    let mut scaler = Scaler::default();
    let mut proc = FrameProcessor {
        no_stream: std::env::var_os("GLANCE_NO_STREAM").is_some_and(|v| v == "1"),
        stream_level: std::env::var("GLANCE_STREAM_LEVEL")
            .ok()
            .and_then(|v| v.parse().ok()),
        ..FrameProcessor::default()
    };
    let mut last_change = Instant::now();
    // Since when this frame has been waiting for the link (slot and send window).
    let mut waiting_since: Option<Instant> = None;
    while !ctl.stopped() {
        if ctl.is_paused() {
            waiting_since = None;
            ctl.sleep(IDLE_INTERVAL);
            continue;
        }
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if !ctl.wait_slot_free(IDLE_INTERVAL) {
            continue;
        }
        waiting_since = None;
        let fill = ctl.inflight_bytes() as f32 / SEND_WINDOW as f32;
        proc.observe_link(since.elapsed(), ACTIVE_INTERVAL, fill);
        if let Some(c) = ctl.take_next() {
            capturer = Some(c);
        }
        let Some((id, cap)) = capturer.as_mut() else {
            // Nothing to capture: agents keep the last picture; one who joins gets it too.
            if ctl.refresh.swap(false, Ordering::SeqCst) {
                let mut out = Vec::new();
                if proc.refresh_reference(Instant::now(), &mut out) {
                    ctl.put(out);
                }
            }
            ctl.sleep(IDLE_INTERVAL);
            continue;
        };
        let force_key = ctl.force_key.swap(false, Ordering::SeqCst);
        let refresh = ctl.refresh.swap(false, Ordering::SeqCst);
        if !force_key && !refresh && proc.has_reference() && !cap.may_have_changed() {
            // Nothing changed (damage events / generation): no capture at all. The check is
            // cheap, so poll it at the active rate and keep the latency of the next change low.
            // Lossy tiles that have stayed unchanged long enough are refreshed meanwhile.
            let mut out = Vec::new();
            if proc.refresh_lossy(Instant::now(), &mut out) {
                ctl.put(out);
            }
            ctl.sleep(ACTIVE_INTERVAL);
            continue;
        }
        let started = Instant::now();
        if let Err(error) = cap.capture(&mut raw) {
            let gone = error.is_gone();
            if gone {
                log::warn!("capture stops until the display is back: {error}");
            }
            // What could not be sent is sent whole once capture resumes.
            ctl.force_key.store(force_key, Ordering::SeqCst);
            ctl.refresh.store(refresh, Ordering::SeqCst);
            on_error(CaptureFailure {
                capturer: *id,
                error,
            });
            if !gone {
                return;
            }
            capturer = None;
            continue;
        }
        // Window moves are tracked every frame, and used only at full scale (a scaled copy
        // would not match the resampled pixels).
        let mut hints = cap.move_hints();
        let spec = ctl.scale_spec();
        if ctl.has_next.load(Ordering::SeqCst) {
            // ShowDisplay hands over the new capturer before it changes what is shown, so a
            // frame of the old display is never sized for the new one: drop it and capture
            // the new display (whole: the switch forces a key frame).
            continue;
        }
        if spec.is_identity(raw.width, raw.height) {
            std::mem::swap(&mut raw, &mut cur);
        } else {
            if let Err(e) = scaler.scale(&raw, spec, &mut cur) {
                on_error(CaptureFailure {
                    capturer: *id,
                    error: CaptureError::Capture(format!("scaling: {e}")),
                });
                return;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::SyntheticDisplay;
    use glance_protocol::update::FrameUpdate;
    use glance_protocol::{Encoding, Framebuffer};
    use refresh::REFRESH_DELAY;

    /// Applies `out` to `fb` (as an agent in step would, skipping REFRESH_ONLY frames when
    /// `in_step`); returns the encodings seen.
    fn apply(fb: &mut Framebuffer, out: &[Vec<u8>], in_step: bool) -> Vec<Encoding> {
        let mut seen = Vec::new();
        for m in out {
            let u = FrameUpdate::parse(m).unwrap();
            if u.is_refresh_only() && in_step {
                continue;
            }
            seen.extend(u.rects.iter().map(|r| r.encoding));
            fb.apply(&u).unwrap();
        }
        seen
    }

    /// Whether `fb` equals `f` outside the tiles of `lossy` (and differs nowhere else).
    fn exact_outside_lossy(fb: &Framebuffer, f: &FrameBuf, lossy: &LossyTiles) -> bool {
        (0..f.height).all(|y| {
            (0..f.width).all(|x| {
                let a = &fb.rgba[(y as usize * f.width as usize + x as usize) * 4..][..3];
                let b = &f.data[y as usize * f.stride + x as usize * 4..][..3];
                lossy.is_lossy_at(x, y) || a == [b[2], b[1], b[0]]
            })
        })
    }

    #[test]
    fn photo_goes_as_jpeg_then_exact_after_the_refresh_delay_also_through_copies() {
        let d = SyntheticDisplay::new(640, 480);
        for n in 0..20 {
            d.step(n);
        }
        d.paint_photo(64, 96, 256, 192, 1);
        let mut p = FrameProcessor::default();
        let mut fb = Framebuffer::new();
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut cur = d.snapshot();
        assert!(p.process_at(&mut cur, false, false, t0, &mut out));
        let seen = apply(&mut fb, &out, false);
        assert!(seen.contains(&Encoding::Jpeg), "{seen:?}");
        assert!(!fb.equals_bgrx(&d.snapshot().view()), "JPEG is lossy");
        assert_eq!(
            p.lossy_tiles().lossy_count(),
            8 * 6,
            "the photo's 8 x 6 tiles"
        );
        assert!(exact_outside_lossy(&fb, &d.snapshot(), p.lossy_tiles()));

        // Unchanged, not yet due: nothing. Due: a lossless delta of the photo, and exact.
        out.clear();
        let mut cur = d.snapshot();
        assert!(!p.process_at(&mut cur, false, false, t0 + REFRESH_DELAY / 2, &mut out));
        assert!(!p.refresh_lossy(t0 + REFRESH_DELAY / 2, &mut out));
        assert!(p.refresh_lossy(t0 + REFRESH_DELAY, &mut out));
        let seen = apply(&mut fb, &out, true);
        assert!(
            !seen.contains(&Encoding::Jpeg) && !seen.is_empty(),
            "{seen:?}"
        );
        assert!(fb.equals_bgrx(&d.snapshot().view()));
        assert!(p.lossy_tiles().is_exact());
        let stats = p.stats();
        assert_eq!(stats.refresh_rects, 6, "6 tile rows of 8 tiles");

        // Typing stays lossless.
        let t1 = t0 + 2 * REFRESH_DELAY;
        d.step(20);
        out.clear();
        let mut cur = d.snapshot();
        assert!(p.process_at(&mut cur, false, false, t1, &mut out));
        let seen = apply(&mut fb, &out, true);
        assert!(!seen.contains(&Encoding::Jpeg), "{seen:?}");
        assert!(fb.equals_bgrx(&d.snapshot().view()));

        // The photo scrolls by 40 rows and new photo rows appear (sent as JPEG); then it
        // scrolls again before the refresh: the copy carries the lossy rows up.
        let t2 = t1 + Duration::from_millis(50);
        for (i, t) in [(0u32, t2), (1, t2 + Duration::from_millis(50))] {
            d.scroll_up(64, 96, 256, 192, 40, [0, 0, 0]);
            d.paint_photo(64, 248, 256, 40, 10 + i);
            out.clear();
            let mut cur = d.snapshot();
            assert!(p.process_at(&mut cur, false, false, t, &mut out));
            let seen = apply(&mut fb, &out, true);
            assert!(seen.contains(&Encoding::Copy), "a scroll: {seen:?}");
            assert!(seen.contains(&Encoding::Jpeg), "new photo rows: {seen:?}");
            assert!(exact_outside_lossy(&fb, &d.snapshot(), p.lossy_tiles()));
        }
        // The second copy moved lossy rows (from the first strip) up: those tiles are lossy.
        assert!(p.lossy_tiles().is_lossy_at(64, 208));
        let t3 = t2 + Duration::from_millis(50) + REFRESH_DELAY;
        out.clear();
        assert!(p.refresh_lossy(t3, &mut out));
        apply(&mut fb, &out, true);
        assert!(fb.equals_bgrx(&d.snapshot().view()));
        assert!(p.lossy_tiles().is_exact());
    }

    #[test]
    fn stream_history_survives_deltas_and_late_joiners_start_at_the_next_reset() {
        let d = SyntheticDisplay::new(640, 480);
        let mut p = FrameProcessor {
            no_lossy: true,
            ..Default::default()
        };
        let (mut a, mut late) = (Framebuffer::new(), Framebuffer::new());
        let mut out = Vec::new();
        let mut cur = d.snapshot();
        assert!(p.process(&mut cur, false, false, &mut out));
        let first = FrameUpdate::parse(&out[0]).unwrap();
        assert!(first.flags & glance_protocol::update::FLAG_STREAM_RESET != 0);
        apply(&mut a, &out, false);
        let mut streamed = 0;
        for n in 0..12u32 {
            d.step(n);
            out.clear();
            let mut cur = d.snapshot();
            // A late joiner at step 5: a REFRESH_ONLY key frame after the delta.
            let refresh = n == 5;
            if !p.process(&mut cur, false, refresh, &mut out) {
                continue;
            }
            let seen = apply(&mut a, &out, true);
            streamed += seen
                .iter()
                .filter(|e| matches!(e, Encoding::ZlibStream | Encoding::PaletteStream))
                .count();
            assert!(a.equals_bgrx(&d.snapshot().view()), "step {n}");
            if n >= 5 {
                // The late joiner: from the REFRESH_ONLY key frame on (which holds no
                // stream rects), then every delta.
                for m in &out {
                    let u = FrameUpdate::parse(m).unwrap();
                    if n == 5 && !u.is_refresh_only() {
                        continue;
                    }
                    if u.is_refresh_only() {
                        assert!(u.rects.iter().all(|r| !matches!(
                            r.encoding,
                            Encoding::ZlibStream | Encoding::PaletteStream
                        )));
                    }
                    late.apply(&u).unwrap();
                }
                assert!(late.equals_bgrx(&d.snapshot().view()), "late, step {n}");
            }
            if n == 6 {
                let u = FrameUpdate::parse(&out[0]).unwrap();
                assert!(
                    u.flags & glance_protocol::update::FLAG_STREAM_RESET != 0,
                    "the delta after a REFRESH_ONLY key frame starts a new stream"
                );
            }
        }
        assert!(streamed > 0, "deltas use the stream encodings");
        // Off: the self-contained encodings only, and no resets.
        let mut q = FrameProcessor {
            no_lossy: true,
            no_stream: true,
            ..Default::default()
        };
        out.clear();
        let mut cur = d.snapshot();
        q.process(&mut cur, false, false, &mut out);
        let mut b = Framebuffer::new();
        let seen = apply(&mut b, &out, false);
        assert!(!seen
            .iter()
            .any(|e| matches!(e, Encoding::ZlibStream | Encoding::PaletteStream)));
        assert!(b.equals_bgrx(&d.snapshot().view()));
    }

    #[test]
    fn late_joiners_key_frame_may_be_lossy_and_is_refreshed_for_everyone() {
        let d = SyntheticDisplay::new(320, 240);
        d.paint_photo(0, 0, 320, 240, 5);
        let mut p = FrameProcessor::default();
        let (mut a, mut late) = (Framebuffer::new(), Framebuffer::new());
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut cur = d.snapshot();
        p.process_at(&mut cur, false, false, t0, &mut out);
        apply(&mut a, &out, false);
        out.clear();
        assert!(p.refresh_lossy(t0 + REFRESH_DELAY, &mut out));
        apply(&mut a, &out, true);
        assert!(a.equals_bgrx(&d.snapshot().view()) && p.lossy_tiles().is_exact());
        // A late joiner: the REFRESH_ONLY key frame goes as JPEG; the agent in step skips it.
        let t1 = t0 + 2 * REFRESH_DELAY;
        out.clear();
        let mut cur = d.snapshot();
        assert!(p.process_at(&mut cur, false, true, t1, &mut out));
        assert!(apply(&mut late, &out, false).contains(&Encoding::Jpeg));
        apply(&mut a, &out, true);
        assert!(!late.equals_bgrx(&d.snapshot().view()));
        assert!(!p.lossy_tiles().is_exact());
        // After the delay, a delta refreshes them: both agents exact.
        out.clear();
        assert!(p.refresh_lossy(t1 + REFRESH_DELAY, &mut out));
        apply(&mut late, &out, true);
        apply(&mut a, &out, true);
        assert!(late.equals_bgrx(&d.snapshot().view()));
        assert!(a.equals_bgrx(&d.snapshot().view()));
        // Lossless only: no JPEG at all.
        let mut q = FrameProcessor {
            no_lossy: true,
            ..Default::default()
        };
        out.clear();
        let mut cur = d.snapshot();
        q.process_at(&mut cur, false, false, t0, &mut out);
        let mut b = Framebuffer::new();
        assert!(!apply(&mut b, &out, false).contains(&Encoding::Jpeg));
        assert!(b.equals_bgrx(&d.snapshot().view()));
    }

    #[test]
    fn refresh_budget_spreads_a_large_refresh_over_frames() {
        let d = SyntheticDisplay::new(1024, 512);
        d.paint_photo(0, 0, 1024, 512, 9);
        let mut p = FrameProcessor::default();
        let mut fb = Framebuffer::new();
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut cur = d.snapshot();
        p.process_at(&mut cur, false, false, t0, &mut out);
        apply(&mut fb, &out, false);
        // The link is the bottleneck: the smallest budget.
        for _ in 0..50 {
            p.observe_link(Duration::from_secs(1), ACTIVE_INTERVAL, 1.0);
        }
        assert_eq!(p.quality(), Some(lossy::QUALITY_MIN));
        let mut frames = 0;
        while !p.lossy_tiles().is_exact() {
            out.clear();
            assert!(p.refresh_lossy(t0 + REFRESH_DELAY, &mut out));
            let bytes: usize = out.iter().map(|m| m.len()).sum();
            assert!(
                bytes < lossy::REFRESH_BUDGET_MIN + 64 * 1024,
                "{bytes} bytes"
            );
            apply(&mut fb, &out, true);
            frames += 1;
            assert!(frames < 200);
        }
        assert!(frames > 4, "spread over {frames} frames");
        assert!(fb.equals_bgrx(&d.snapshot().view()));
    }
}
