//! The pointer, on a small thread of its own beside the capture thread (it never waits for
//! frames, nor frames for it): it polls the [`CursorSource`] at most [`CURSOR_HZ`] times a
//! second (10 once it has been still for 2 s) and, when the position, the visibility or the
//! shape changed, leaves the news in a one-message slot that the network writer sends before
//! any frame. The slot is latest-wins: on a slow link only the newest position waits, never a
//! backlog.
//!
//! Positions and shapes are in pixels of the shared picture: scaled as the frames are, through
//! the same [`Transform`] of what is [`Shown`] (DisplayParams scale / capture box), shapes
//! nearest-neighbour. The wire shape id names one
//! (source shape, scale) pair; a shape is sent whenever the cursor's shape id changes (the
//! server keeps only the last one and checks that each `cursor` uses it), and again after
//! every pause. While paused nothing is polled or sent.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glance_protocol::limits::MAX_CURSOR_DIM;
use glance_protocol::{Control, CursorShape};

use crate::capture::{CaptureError, CursorSource};
use crate::pipeline::scale::ScaleSpec;
use crate::shown::{Shown, Transform, View, Watch};

/// Most cursor messages a second.
pub const CURSOR_HZ: u32 = 30;
/// Poll interval of the pointer.
pub const CURSOR_INTERVAL: Duration = Duration::from_millis(1000 / CURSOR_HZ as u64);
/// Poll interval once the pointer has been still for [`CURSOR_IDLE_AFTER`].
pub const CURSOR_IDLE_INTERVAL: Duration = Duration::from_millis(100);
/// How long without change before polling slows down.
pub const CURSOR_IDLE_AFTER: Duration = Duration::from_secs(2);
/// Distinct (shape, scale) pairs remembered before ids start afresh.
const MAX_IDS: usize = 256;

/// What the writer sends next: a shape (kind-3 payload) if any, then the `cursor` message.
#[derive(Debug, Default)]
pub struct CursorOut {
    pub shape: Option<Vec<u8>>,
    pub cursor: Option<Control>,
}

#[derive(Default)]
struct Inner {
    stopped: bool,
    /// Bumped by pause, resume and source switches: the thread then forgets what it sent.
    epoch: u64,
    out: CursorOut,
    /// A source to switch to (`Some(None)`: no pointer any more).
    next_source: Option<Option<Box<dyn CursorSource>>>,
}

/// Shared by the session, the pointer thread and the network writer. What is shown (scale,
/// pause) is read from the session's [`Shown`].
pub struct CursorCtl {
    inner: Mutex<Inner>,
    cond: Condvar,
    ready: tokio::sync::Notify,
    shown: Arc<Shown>,
}

impl std::fmt::Debug for CursorCtl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("CursorCtl")
            .field("paused", &self.shown.paused())
            .field("stopped", &g.stopped)
            .finish_non_exhaustive()
    }
}

impl Watch for CursorCtl {
    /// A pause drops whatever waits to be sent; a resume sends the current state, shape
    /// included, again; a new scale is picked up at the next poll.
    fn shown_changed(&self, was: &View, now: &View) {
        let mut g = self.lock();
        if was.paused != now.paused {
            g.epoch += 1;
            g.out = CursorOut::default();
        }
        drop(g);
        self.cond.notify_all();
    }
}

impl CursorCtl {
    /// A controller reading (and watching) `shown`.
    pub fn new(shown: Arc<Shown>) -> Arc<CursorCtl> {
        let ctl = Arc::new(CursorCtl {
            inner: Mutex::default(),
            cond: Condvar::new(),
            ready: tokio::sync::Notify::new(),
            shown,
        });
        let weak: std::sync::Weak<dyn Watch> = Arc::downgrade(&(ctl.clone() as Arc<dyn Watch>));
        ctl.shown.watch(weak);
        ctl
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends the current state, shape included, again (after a reconnect: the new connection
    /// starts with nothing of the pointer).
    pub fn resend(&self) {
        let mut g = self.lock();
        g.epoch += 1;
        g.out = CursorOut::default();
        drop(g);
        self.cond.notify_all();
    }

    /// Reads the pointer from another source from now on (ShowDisplay); `None`: there is no
    /// pointer to share (a visible cursor is hidden).
    pub fn switch_source(&self, source: Option<Box<dyn CursorSource>>) {
        let mut g = self.lock();
        g.next_source = Some(source);
        drop(g);
        self.cond.notify_all();
    }

    /// Ends the pointer thread.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.cond.notify_all();
    }

    /// The next news for the network, waiting until there is some. Cancel-safe.
    pub async fn take(&self) -> CursorOut {
        loop {
            {
                let mut g = self.lock();
                if g.out.cursor.is_some() {
                    return std::mem::take(&mut g.out);
                }
            }
            self.ready.notified().await;
        }
    }

    /// Leaves news for the writer unless a pause or switch came since `epoch` was read. A
    /// shape replaces one not yet sent: the cursor that needed it is replaced too.
    fn publish(&self, epoch: u64, shape: Option<Vec<u8>>, cursor: Control) -> bool {
        let mut g = self.lock();
        if g.epoch != epoch || g.stopped || self.shown.paused() {
            return false;
        }
        if shape.is_some() {
            g.out.shape = shape;
        }
        g.out.cursor = Some(cursor);
        drop(g);
        self.ready.notify_one();
        true
    }

    fn sleep(&self, d: Duration) {
        let g = self.lock();
        let _ = self
            .cond
            .wait_timeout_while(g, d, |g| !g.stopped && g.next_source.is_none());
    }
}

/// Stops the pointer thread when dropped.
pub struct StopCursorOnDrop(pub Arc<CursorCtl>);

impl Drop for StopCursorOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Runs the pointer loop on a new thread until [`CursorCtl::stop`].
pub fn spawn(
    source: Option<Box<dyn CursorSource>>,
    ctl: Arc<CursorCtl>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("glance-cursor".into())
        .spawn(move || run(source, &ctl))
}

/// Wire ids of (source shape id, display size, picture size) pairs.
#[derive(Debug, Default)]
struct ShapeIds {
    ids: HashMap<(u32, u16, u16, u16, u16), u32>,
    next: u32,
}

impl ShapeIds {
    fn get(&mut self, key: (u32, u16, u16, u16, u16)) -> u32 {
        if self.ids.len() >= MAX_IDS && !self.ids.contains_key(&key) {
            // New ids from here on; old ones are never reused.
            self.ids.clear();
        }
        let next = &mut self.next;
        *self.ids.entry(key).or_insert_with(|| {
            *next = next.wrapping_add(1);
            *next
        })
    }
}

/// What the loop has sent since the last reset.
#[derive(Debug, Default)]
struct Sent {
    cursor: Option<Control>,
    shape: Option<u32>,
}

fn run(mut source: Option<Box<dyn CursorSource>>, ctl: &CursorCtl) {
    let mut ids = ShapeIds::default();
    let mut sent = Sent::default();
    let mut epoch = None;
    let mut last_change = Instant::now();
    loop {
        let (paused, scale, now) = {
            let mut g = ctl.lock();
            if g.stopped {
                return;
            }
            if let Some(s) = g.next_source.take() {
                source = s;
                ids = ShapeIds::default();
                g.epoch += 1;
            }
            (ctl.shown.paused(), ctl.shown.scale(), g.epoch)
        };
        if epoch != Some(now) {
            // A pause, resume or switch: what was sent no longer counts; send it all again.
            if source.is_none() {
                if let Some(Control::Cursor {
                    visible: true,
                    shape,
                    ..
                }) = sent.cursor
                {
                    let hidden = Control::Cursor {
                        x: 0,
                        y: 0,
                        visible: false,
                        shape,
                    };
                    ctl.publish(now, None, hidden);
                }
            }
            epoch = Some(now);
            sent = Sent::default();
        }
        if !paused {
            if let Some(src) = source.as_mut() {
                match step(src.as_mut(), scale, &mut ids, &mut sent, ctl, now) {
                    Ok(true) => last_change = Instant::now(),
                    Ok(false) => {}
                    Err(e) => {
                        log::warn!("the pointer is no longer shared: {e}");
                        source = None;
                    }
                }
            }
        }
        ctl.sleep(if last_change.elapsed() > CURSOR_IDLE_AFTER {
            CURSOR_IDLE_INTERVAL
        } else {
            CURSOR_INTERVAL
        });
    }
}

/// One poll: publishes the pointer if it changed (then true).
fn step(
    src: &mut dyn CursorSource,
    scale: ScaleSpec,
    ids: &mut ShapeIds,
    sent: &mut Sent,
    ctl: &CursorCtl,
    epoch: u64,
) -> Result<bool, CaptureError> {
    let Some(st) = src.poll()? else {
        return Ok(false);
    };
    let (w, h) = src.display_size();
    // The same mapping as the frames' (and, inverted, as remote control's).
    let t = Transform::new(scale, w, h);
    let (tw, th) = t.picture_size();
    let wire = ids.get((st.shape, w, h, tw, th));
    let (x, y) = if st.visible {
        t.to_picture(st.x, st.y)
    } else {
        // Where the pointer is on another monitor is not shared.
        (0, 0)
    };
    let cursor = Control::Cursor {
        x,
        y,
        visible: st.visible,
        shape: wire,
    };
    if sent.cursor.as_ref() == Some(&cursor) {
        return Ok(false);
    }
    let shape = if sent.shape != Some(wire) {
        let Some(img) = src.shape(st.shape)? else {
            return Ok(false); // changed meanwhile: the next poll sees the new one
        };
        Some(scale_shape(&img, (w, h), (tw, th), wire).encode())
    } else {
        None
    };
    let with_shape = shape.is_some();
    if ctl.publish(epoch, shape, cursor.clone()) {
        sent.cursor = Some(cursor);
        if with_shape {
            sent.shape = Some(wire);
        }
    }
    Ok(true)
}

/// The shape as it appears in a picture scaled from `from` to `to` (nearest neighbour), at
/// most [`MAX_CURSOR_DIM`] each way, hot spot inside, named `id`.
pub fn scale_shape(img: &CursorShape, from: (u16, u16), to: (u16, u16), id: u32) -> CursorShape {
    let (iw, ih) = (img.width.max(1) as f64, img.height.max(1) as f64);
    let mut fx = to.0 as f64 / from.0.max(1) as f64;
    let mut fy = to.1 as f64 / from.1.max(1) as f64;
    let biggest = (iw * fx).max(ih * fy);
    if biggest > MAX_CURSOR_DIM as f64 {
        let k = MAX_CURSOR_DIM as f64 / biggest;
        fx *= k;
        fy *= k;
    }
    let sw = (iw * fx).round().clamp(1.0, MAX_CURSOR_DIM as f64) as u16;
    let sh = (ih * fy).round().clamp(1.0, MAX_CURSOR_DIM as f64) as u16;
    let whole = img.rgba.len() == img.width as usize * img.height as usize * 4;
    if sw == img.width && sh == img.height && whole {
        return CursorShape {
            id,
            hot_x: img.hot_x.min(sw - 1),
            hot_y: img.hot_y.min(sh - 1),
            ..img.clone()
        };
    }
    let mut rgba = Vec::with_capacity(sw as usize * sh as usize * 4);
    for dy in 0..sh as usize {
        let sy = ((dy as f64 + 0.5) * ih / sh as f64) as usize;
        for dx in 0..sw as usize {
            let sx = ((dx as f64 + 0.5) * iw / sw as f64) as usize;
            let i = (sy.min(ih as usize - 1) * img.width as usize + sx.min(iw as usize - 1)) * 4;
            rgba.extend_from_slice(img.rgba.get(i..i + 4).unwrap_or(&[0, 0, 0, 0]));
        }
    }
    let hot =
        |v: u16, from: f64, to: u16| ((v as f64 * to as f64 / from).round() as u16).min(to - 1);
    CursorShape {
        id,
        width: sw,
        height: sh,
        hot_x: hot(img.hot_x, iw, sw),
        hot_y: hot(img.hot_y, ih, sh),
        rgba,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::cursor::SyntheticCursorShape;
    use crate::capture::SyntheticDisplay;

    #[test]
    fn coordinates_and_shapes_follow_the_scale() {
        let half = ScaleSpec {
            scale: 0.5,
            width: 0,
            height: 0,
        };
        let t = Transform::new(half, 800, 600);
        assert_eq!(t.to_picture(0, 0), (0, 0));
        assert_eq!(t.to_picture(799, 599), (399, 299));
        assert_eq!(t.to_picture(401, 5000), (200, 299));
        assert_eq!(
            Transform::new(ScaleSpec::default(), 100, 100).to_picture(5, -3),
            (5, 0)
        );
        let arrow = SyntheticCursorShape::Arrow.image();
        let same = scale_shape(&arrow, (100, 100), (100, 100), 9);
        assert_eq!((same.id, same.rgba == arrow.rgba), (9, true));
        let half = scale_shape(&arrow, (800, 600), (400, 300), 10);
        half.validate().unwrap();
        assert_eq!((half.width, half.height), (6, 10));
        let double = scale_shape(&arrow, (100, 100), (200, 200), 11);
        double.validate().unwrap();
        assert_eq!((double.width, double.height), (24, 38));
        assert_eq!(double.pixel(3, 5), arrow.pixel(1, 2));
        // never over the limit, whatever the scale
        let big = CursorShape {
            id: 1,
            width: 200,
            height: 100,
            hot_x: 199,
            hot_y: 99,
            rgba: vec![7; 200 * 100 * 4],
        };
        let s = scale_shape(&big, (100, 100), (400, 400), 12);
        s.validate().unwrap();
        assert_eq!((s.width, s.height), (256, 128));
    }

    #[test]
    fn sends_only_changes_and_nothing_while_paused() {
        let d = SyntheticDisplay::new(200, 100);
        let desc = crate::capture::DisplaySource::Synthetic(d.clone())
            .find("main")
            .unwrap();
        let shown = crate::shown::ShownWriter::new(View::new(desc, ScaleSpec::default()));
        let ctl = CursorCtl::new(shown.reader());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let take = |ms| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(ms), ctl.take())
                    .await
                    .ok()
            })
        };
        let t = spawn(Some(Box::new(d.cursor_source())), ctl.clone()).unwrap();
        let first = take(2000).unwrap();
        let shape = CursorShape::parse(&first.shape.unwrap()).unwrap();
        assert_eq!(
            shape,
            CursorShape {
                id: 1,
                ..SyntheticCursorShape::Arrow.image()
            }
        );
        assert_eq!(
            first.cursor,
            Some(Control::Cursor {
                x: 0,
                y: 0,
                visible: false,
                shape: 1
            })
        );
        assert!(take(200).is_none(), "nothing changed, nothing sent");
        d.set_cursor(10, 20, true);
        let m = take(2000).unwrap();
        assert!(m.shape.is_none(), "the shape went out already");
        assert_eq!(
            m.cursor,
            Some(Control::Cursor {
                x: 10,
                y: 20,
                visible: true,
                shape: 1
            })
        );
        shown.set_paused(true);
        d.set_cursor(11, 21, true);
        assert!(take(300).is_none(), "paused: nothing");
        shown.set_paused(false);
        let m = take(2000).unwrap();
        assert!(m.shape.is_some(), "the shape again after a pause");
        assert_eq!(
            m.cursor,
            Some(Control::Cursor {
                x: 11,
                y: 21,
                visible: true,
                shape: 1
            })
        );
        // a new scale: a new wire id with the scaled shape
        shown.update(|v| {
            v.scale = ScaleSpec {
                scale: 0.5,
                width: 0,
                height: 0,
            }
        });
        let m = take(2000).unwrap();
        let s = CursorShape::parse(&m.shape.unwrap()).unwrap();
        assert_eq!((s.id, s.width, s.height), (2, 6, 10));
        assert_eq!(
            m.cursor,
            Some(Control::Cursor {
                x: 5,
                y: 10,
                visible: true,
                shape: 2
            })
        );
        // no source any more: the pointer is hidden
        ctl.switch_source(None);
        let m = take(2000).unwrap();
        assert_eq!(
            m.cursor,
            Some(Control::Cursor {
                x: 0,
                y: 0,
                visible: false,
                shape: 2
            })
        );
        ctl.stop();
        t.join().unwrap();
    }
}
