//! What is shown: the one owner of the shared picture's geometry and state for a session —
//! the display being shared, how its pictures are sized ([`ScaleSpec`]), whether the session
//! is paused and whether the display is there at all — with a generation counter bumped by
//! every change.
//!
//! The session task is the only writer (it holds the [`ShownWriter`], which cannot be
//! cloned); the capture thread, the pointer thread and remote control read the same
//! [`Shown`]. The forward mapping (display pixels to picture pixels: frames and pointer) and
//! the inverse (agent input back to display pixels) both come from [`View::transform`], so
//! they cannot drift apart. Readers that must react at once to a change (wake a sleeping
//! thread, drop a frame on pause) register a [`Watch`].
//!
//! A new aspect of what is shown (the masks of a later issue) is one more field of [`View`].

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::capture::DisplayDesc;
use crate::pipeline::scale::ScaleSpec;

/// What is shown now.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The display being shared (its origin and size on the desktop).
    pub display: DisplayDesc,
    /// How its pictures are sized (DisplayParams scale / capture box).
    pub scale: ScaleSpec,
    /// The session is paused: nothing is captured, sent or injected.
    pub paused: bool,
    /// False while the display is gone (unplugged, removed): nothing is captured or injected
    /// until it is back.
    pub available: bool,
}

impl View {
    /// A shown, running display.
    pub fn new(display: DisplayDesc, scale: ScaleSpec) -> View {
        View {
            display,
            scale,
            paused: false,
            available: true,
        }
    }

    /// The mapping between the display's pixels and the agents' picture.
    pub fn transform(&self) -> Transform {
        Transform::new(self.scale, self.display.width, self.display.height)
    }

    /// Whether agent input may be injected now (as far as what is shown goes).
    pub fn takes_input(&self) -> bool {
        !self.paused && self.available
    }
}

/// The mapping between a display of `display` pixels and its picture of `picture` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    display: (u16, u16),
    picture: (u16, u16),
}

impl Transform {
    /// For a `w` x `h` display sized by `spec`.
    pub fn new(spec: ScaleSpec, w: u16, h: u16) -> Transform {
        let (w, h) = (w.max(1), h.max(1));
        Transform {
            display: (w, h),
            picture: spec.target(w, h),
        }
    }

    /// The display's size in pixels.
    pub fn display_size(&self) -> (u16, u16) {
        self.display
    }

    /// The picture's size in pixels.
    pub fn picture_size(&self) -> (u16, u16) {
        self.picture
    }

    /// A display pixel (may lie outside: clamped) in picture pixels: the picture pixel that
    /// holds the display pixel's centre. With [`Transform::to_display`] (centre to centre)
    /// a picture pixel comes back to itself whenever the picture is not enlarged.
    pub fn to_picture(&self, x: i32, y: i32) -> (u16, u16) {
        let f = |v: i32, from: u16, to: u16| -> u16 {
            let from = i64::from(from);
            let v = i64::from(v).clamp(0, from - 1);
            ((2 * v + 1) * i64::from(to) / (2 * from)).clamp(0, i64::from(to.saturating_sub(1)))
                as u16
        };
        (
            f(x, self.display.0, self.picture.0),
            f(y, self.display.1, self.picture.1),
        )
    }

    /// A picture pixel (what agents see; clamped) in display pixels: the centre of the picture
    /// pixel, so that a click lands inside what the agent clicked on.
    pub fn to_display(&self, x: u16, y: u16) -> (u16, u16) {
        let f = |v: u16, p: u16, d: u16| -> u16 {
            let p = u32::from(p.max(1));
            let v = u32::from(v).min(p - 1);
            (((2 * v + 1) * u32::from(d)) / (2 * p)).min(u32::from(d) - 1) as u16
        };
        (
            f(x, self.picture.0, self.display.0),
            f(y, self.picture.1, self.display.1),
        )
    }
}

/// Told of every change, on the writer's thread, after the change is visible to readers.
pub trait Watch: Send + Sync {
    fn shown_changed(&self, was: &View, now: &View);
}

#[derive(Debug)]
struct State {
    view: View,
    generation: u64,
}

/// The read side (see the module documentation).
pub struct Shown {
    state: Mutex<State>,
    watchers: Mutex<Vec<Weak<dyn Watch>>>,
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shown")
            .field("state", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl Shown {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is shown now.
    pub fn view(&self) -> View {
        self.lock().view.clone()
    }

    /// What is shown now and its generation.
    pub fn snapshot(&self) -> (View, u64) {
        let g = self.lock();
        (g.view.clone(), g.generation)
    }

    /// Bumped by every change.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// How pictures are sized now (read every frame: no allocation).
    pub fn scale(&self) -> ScaleSpec {
        self.lock().view.scale
    }

    pub fn paused(&self) -> bool {
        self.lock().view.paused
    }

    /// Tells `w` of every change from now on (until it is dropped).
    pub fn watch(&self, w: Weak<dyn Watch>) {
        let mut g = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|w| w.strong_count() > 0);
        g.push(w);
    }
}

/// The one writer of a [`Shown`] (the session task); not `Clone`.
#[derive(Debug)]
pub struct ShownWriter(Arc<Shown>);

impl ShownWriter {
    pub fn new(view: View) -> ShownWriter {
        ShownWriter(Arc::new(Shown {
            state: Mutex::new(State {
                view,
                generation: 0,
            }),
            watchers: Mutex::new(Vec::new()),
        }))
    }

    /// A handle for a reader.
    pub fn reader(&self) -> Arc<Shown> {
        self.0.clone()
    }

    /// What is shown now.
    pub fn view(&self) -> View {
        self.0.view()
    }

    /// Changes what is shown; the watchers hear of it when something changed (then true).
    pub fn update(&self, f: impl FnOnce(&mut View)) -> bool {
        let (was, now) = {
            let mut g = self.0.lock();
            let was = g.view.clone();
            f(&mut g.view);
            if g.view == was {
                return false;
            }
            g.generation += 1;
            (was, g.view.clone())
        };
        let watchers: Vec<_> = self
            .0
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for w in watchers {
            w.shown_changed(&was, &now);
        }
        true
    }

    /// Pauses or resumes.
    pub fn set_paused(&self, paused: bool) -> bool {
        self.update(|v| v.paused = paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::DisplayKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn display(w: u16, h: u16) -> DisplayDesc {
        DisplayDesc {
            name: "d".into(),
            kind: DisplayKind::Monitor,
            primary: true,
            x: 0,
            y: 0,
            width: w,
            height: h,
        }
    }

    #[test]
    fn the_inverse_mapping_lands_on_the_pixel_the_forward_one_came_from() {
        for (w, h, scale) in [
            (200, 100, 0.5f32),
            (1024, 768, 0.3),
            (640, 480, 1.0),
            (97, 61, 0.77),
        ] {
            let t = Transform::new(
                ScaleSpec {
                    scale,
                    width: 0,
                    height: 0,
                },
                w,
                h,
            );
            let (pw, ph) = t.picture_size();
            // Every picture pixel comes back to itself through the display (when the picture
            // is not larger than the display).
            for py in 0..ph {
                for px in (0..pw).step_by(3) {
                    let (dx, dy) = t.to_display(px, py);
                    assert!(dx < w && dy < h);
                    assert_eq!(
                        t.to_picture(dx.into(), dy.into()),
                        (px, py),
                        "{w}x{h}@{scale}"
                    );
                }
            }
            // A click where the pointer is shown lands on the pixel under it.
            for y in (0..h).step_by(5) {
                for x in 0..w {
                    let p = t.to_picture(x.into(), y.into());
                    let (dx, dy) = t.to_display(p.0, p.1);
                    assert_eq!(t.to_picture(dx.into(), dy.into()), p, "{w}x{h}@{scale}");
                }
            }
            assert_eq!(
                t.to_display(u16::MAX, u16::MAX),
                t.to_display(pw - 1, ph - 1),
                "clamped"
            );
            assert_eq!(t.to_picture(-5, i32::MAX), (0, ph - 1), "clamped");
        }
        let t = Transform::new(ScaleSpec::default(), 200, 100);
        assert_eq!(
            (t.to_display(50, 25), t.to_picture(50, 25)),
            ((50, 25), (50, 25))
        );
    }

    struct Count(AtomicUsize);
    impl Watch for Count {
        fn shown_changed(&self, was: &View, now: &View) {
            assert_ne!(was, now);
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn changes_bump_the_generation_and_reach_the_watchers() {
        let w = ShownWriter::new(View::new(display(64, 32), ScaleSpec::default()));
        let r = w.reader();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let weak: Weak<dyn Watch> = Arc::downgrade(&(c.clone() as Arc<dyn Watch>));
        r.watch(weak);
        assert!(w.set_paused(true));
        assert!(!w.set_paused(true), "no change, no news");
        assert!(r.paused() && !r.view().takes_input());
        assert!(w.update(|v| v.scale.scale = 0.5));
        assert_eq!(r.view().transform().picture_size(), (32, 16));
        assert_eq!(r.generation(), 2);
        assert_eq!(c.0.load(Ordering::SeqCst), 2);
        drop(c);
        assert!(
            w.update(|v| v.available = false),
            "a dropped watcher is skipped"
        );
    }
}
