//! The mask stage: the one place that owns "what may leave the process".
//!
//! It sits between capture and everything else (scale, diff, move detection, encoding, key
//! frames, the lossless refresh): [`MaskedCapturer`] wraps the display's capturer, and every
//! frame it hands on already has each pixel that may not leave replaced by [`MASK_FILL`].
//! What may not leave: the visitor's masked rectangles and masked windows ([`MaskSet`], owned
//! by the GlanceVisitor, kept across sessions), and in application mode everything that is
//! not one of the application's visible windows: other applications' windows, the desktop,
//! and windows stacked above the application's.
//!
//! Since the frames the pipeline keeps (its reference picture, the key frames, the refresh,
//! the JPEG input) are all masked ones, nothing derived from a masked pixel can be encoded,
//! and a COPY (which moves pixels the agents already hold) can only move masked-fill or
//! shareable pixels. The stage also drops the capturer's move hints whose source or
//! destination touches a filled area, so a dragged window's copy never crosses a mask edge.
//!
//! Geometry (window positions, stacking) is read from the platform after each capture; when
//! it changed, the fill of the previous geometry is applied too (the union), so a window that
//! moved during the capture is covered at both places. The fill is a list of row spans,
//! recomputed only when the geometry changes; applying it writes only the filled pixels and
//! allocates nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::capture::{
    AppRef, CaptureError, Capturer, DirtyRect, DisplayDesc, FrameBuf, MoveHint, Rect, TopWindow,
    WindowSource,
};

/// The flat fill of everything that may not leave: BGRX mid-dark grey (#505050). Chosen to
/// be unlike the usual window backgrounds (white, black) so agents see "hidden", and neutral
/// so it does not read as an error colour.
pub const MASK_FILL: [u8; 4] = [0x50, 0x50, 0x50, 0xFF];

/// Coordinates beyond this (virtual-desktop pixels, either sign) are refused as absurd.
pub const MAX_COORD: i32 = 1 << 20;

/// One mask the visitor asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// A rectangle of the virtual desktop.
    Rect(Rect),
    /// A window by native handle, followed as it moves.
    Window(u64),
}

/// What a display shows: the whole display, or one application's windows on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Showing {
    /// The monitor whole (`main` or a monitor's name).
    Display,
    /// Only this application's visible windows (the default display: [`AppRef::Current`]).
    App(AppRef),
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u32,
    masks: Vec<(u32, Mask)>,
    /// The display name and mode the API last asked for (StartSession, ShowDisplay).
    shown: Option<(String, Showing)>,
    /// The DisplayParams of that request (an application that moves to another monitor is
    /// followed by resolving them again).
    request: Option<crate::params::DisplayParams>,
}

/// The visitor's masks and what it asked to show: shared by the API (which changes them) and
/// the capture thread (which reads them each frame). Outlives sessions.
#[derive(Debug, Default)]
pub struct MaskSet {
    inner: Mutex<Inner>,
    /// Bumped on every change, so the capture thread notices without locking.
    generation: AtomicU64,
    /// The fill of the last captured frame and its display, published by the capture thread
    /// whenever it changes, so that remote control drops input aimed at what agents cannot
    /// see ([`MaskSet::input_allowed`]).
    input_plan: Mutex<Option<(String, FillPlan)>>,
}

impl MaskSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The capture thread's new fill for `display` (called only when it changed).
    pub fn publish_plan(&self, display: &str, plan: &FillPlan) {
        let mut g = self.input_plan.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some((display.to_string(), plan.clone()));
    }

    /// Whether input may reach pixel (x, y) of `display` (display pixels): false where the
    /// last captured frame was filled (masks, other applications in application mode), so an
    /// agent can never act on what it was not shown. A display not captured yet takes no
    /// input until its first frame says what it shows.
    pub fn input_allowed(&self, display: &str, x: u16, y: u16) -> bool {
        let g = self.input_plan.lock().unwrap_or_else(|p| p.into_inner());
        match &*g {
            Some((d, plan)) if d == display => !plan.touches(i32::from(x), i32::from(y), 1, 1),
            _ => false,
        }
    }

    /// Adds a mask; returns its id (never 0).
    pub fn add(&self, m: Mask) -> u32 {
        let mut g = self.lock();
        g.next_id = g.next_id.wrapping_add(1).max(1);
        let id = g.next_id;
        g.masks.push((id, m));
        drop(g);
        self.bump();
        id
    }

    /// Removes mask `id`; false when there is none.
    pub fn remove(&self, id: u32) -> bool {
        let mut g = self.lock();
        let before = g.masks.len();
        g.masks.retain(|(i, _)| *i != id);
        let removed = g.masks.len() != before;
        drop(g);
        if removed {
            self.bump();
        }
        removed
    }

    /// The masks now (copied into `out`, reusing it).
    pub fn masks_into(&self, out: &mut Vec<Mask>) {
        out.clear();
        out.extend(self.lock().masks.iter().map(|(_, m)| *m));
    }

    /// Records what the API asked to show (before the session switches to it).
    pub fn set_shown(&self, display: &str, showing: Showing) {
        self.lock().shown = Some((display.to_string(), showing));
        self.bump();
    }

    /// Records the DisplayParams of the last StartSession/ShowDisplay.
    pub fn set_request(&self, p: &crate::params::DisplayParams) {
        self.lock().request = Some(p.clone());
    }

    /// The DisplayParams of the last StartSession/ShowDisplay.
    pub fn request(&self) -> Option<crate::params::DisplayParams> {
        self.lock().request.clone()
    }

    /// How `desc` is to be shown: the last request when it was for `desc`; otherwise (a
    /// newer request for another display is on its way) nothing of it is shown meanwhile.
    pub fn showing_for(&self, desc: &DisplayDesc) -> Showing {
        match &self.lock().shown {
            Some((name, s)) if *name == desc.name => s.clone(),
            None => Showing::Display,
            Some(_) => Showing::App(AppRef::Pid(u32::MAX)),
        }
    }
}

/// Checks a masked rectangle from the API; the error names the argument.
pub fn check_rect(x: i32, y: i32, w: i32, h: i32) -> Result<Rect, String> {
    if w <= 0 {
        return Err(format!("width must be positive (got {w})"));
    }
    if h <= 0 {
        return Err(format!("height must be positive (got {h})"));
    }
    for (name, v) in [("x", x), ("y", y), ("width", w), ("height", h)] {
        if !(-MAX_COORD..=MAX_COORD).contains(&v) {
            return Err(format!(
                "{name} = {v} is outside the virtual desktop's possible range (±{MAX_COORD})"
            ));
        }
    }
    Ok(Rect {
        x,
        y,
        w: w as u32,
        h: h as u32,
    })
}

/// A run of filled pixels in a band of rows: columns `x0..x1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    x0: u32,
    x1: u32,
}

/// Rows `y0..y1` fill the spans `spans[s0..s1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Band {
    y0: u32,
    y1: u32,
    s0: usize,
    s1: usize,
}

/// A layer of the picture, bottom to top: a rectangle (frame pixels, clipped) that is shown
/// (`allowed`) or filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    pub allowed: bool,
}

impl Layer {
    /// `r` (virtual-desktop pixels) in a `w` x `h` frame whose origin is at `(ox, oy)`;
    /// None when it misses the frame.
    pub fn from_rect(r: Rect, ox: i32, oy: i32, w: u16, h: u16, allowed: bool) -> Option<Layer> {
        let clip = |v: i64, max: u16| v.clamp(0, max as i64) as u32;
        let (x, y) = (r.x as i64 - ox as i64, r.y as i64 - oy as i64);
        let l = Layer {
            x0: clip(x, w),
            y0: clip(y, h),
            x1: clip(x + r.w as i64, w),
            y1: clip(y + r.h as i64, h),
            allowed,
        };
        (l.x1 > l.x0 && l.y1 > l.y0).then_some(l)
    }
}

/// Which pixels of a `width` x `height` frame are filled, as row bands of column spans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FillPlan {
    width: u32,
    height: u32,
    bands: Vec<Band>,
    spans: Vec<Span>,
    /// Scratch (kept to reuse the allocations).
    ys: Vec<u32>,
    xs: Vec<u32>,
}

impl FillPlan {
    /// Computes the plan: each pixel shows the topmost layer covering it; uncovered pixels
    /// are shown when `base_allowed`.
    pub fn compute(&mut self, width: u16, height: u16, base_allowed: bool, layers: &[Layer]) {
        self.width = width as u32;
        self.height = height as u32;
        self.bands.clear();
        self.spans.clear();
        self.ys.clear();
        self.ys.extend([0, self.height]);
        for l in layers {
            self.ys.extend([l.y0, l.y1]);
        }
        self.ys.sort_unstable();
        self.ys.dedup();
        for i in 0..self.ys.len().saturating_sub(1) {
            let (y0, y1) = (self.ys[i], self.ys[i + 1]);
            let active = |l: &&Layer| l.y0 <= y0 && l.y1 >= y1;
            self.xs.clear();
            self.xs.extend([0, self.width]);
            for l in layers.iter().filter(active) {
                self.xs.extend([l.x0, l.x1]);
            }
            self.xs.sort_unstable();
            self.xs.dedup();
            let s0 = self.spans.len();
            for j in 0..self.xs.len().saturating_sub(1) {
                let (x0, x1) = (self.xs[j], self.xs[j + 1]);
                let allowed = layers
                    .iter()
                    .filter(active)
                    .rev()
                    .find(|l| l.x0 <= x0 && l.x1 >= x1)
                    .map_or(base_allowed, |l| l.allowed);
                if allowed {
                    continue;
                }
                let n = self.spans.len();
                match self.spans.last_mut() {
                    Some(s) if n > s0 && s.x1 == x0 => s.x1 = x1,
                    _ => self.spans.push(Span { x0, x1 }),
                }
            }
            let s1 = self.spans.len();
            // Bands with the same spans as the one above merge.
            if let Some(b) = self.bands.last_mut() {
                if b.y1 == y0 && self.spans[b.s0..b.s1] == self.spans[s0..s1] {
                    b.y1 = y1;
                    self.spans.truncate(s0);
                    continue;
                }
            }
            if s1 > s0 {
                self.bands.push(Band { y0, y1, s0, s1 });
            }
        }
    }

    /// Whether nothing is filled.
    pub fn is_clear(&self) -> bool {
        self.bands.is_empty()
    }

    /// The number of filled pixels.
    pub fn filled_pixels(&self) -> u64 {
        self.bands
            .iter()
            .map(|b| {
                (b.y1 - b.y0) as u64
                    * self.spans[b.s0..b.s1]
                        .iter()
                        .map(|s| (s.x1 - s.x0) as u64)
                        .sum::<u64>()
            })
            .sum()
    }

    /// Whether the frame rectangle `x, y, w, h` touches a filled pixel.
    pub fn touches(&self, x: i32, y: i32, w: u32, h: u32) -> bool {
        let (x0, y0) = (x.max(0) as i64, y.max(0) as i64);
        let (x1, y1) = (x as i64 + w as i64, y as i64 + h as i64);
        self.bands.iter().any(|b| {
            (b.y0 as i64) < y1
                && (b.y1 as i64) > y0
                && self.spans[b.s0..b.s1]
                    .iter()
                    .any(|s| (s.x0 as i64) < x1 && (s.x1 as i64) > x0)
        })
    }

    /// Writes [`MASK_FILL`] over every filled pixel of `f` (a frame of the plan's size; a
    /// frame of another size is filled whole: never shared unmasked).
    pub fn apply(&self, f: &mut FrameBuf) {
        if f.width as u32 != self.width || f.height as u32 != self.height {
            fill_rows(f, 0, f.height as u32, 0, f.width as u32);
            return;
        }
        for b in &self.bands {
            for s in &self.spans[b.s0..b.s1] {
                fill_rows(f, b.y0, b.y1, s.x0, s.x1);
            }
        }
    }
}

fn fill_rows(f: &mut FrameBuf, y0: u32, y1: u32, x0: u32, x1: u32) {
    let stride = f.stride;
    for y in y0..y1 {
        let row = y as usize * stride;
        if let Some(px) = f.data.get_mut(row + x0 as usize * 4..row + x1 as usize * 4) {
            for p in px.chunks_exact_mut(4) {
                p.copy_from_slice(&MASK_FILL);
            }
        }
    }
}

/// Something the stage tells the session (fired as an event there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The shared application has no visible window on this display: agents see the fill.
    AppHidden(String),
    /// It is visible again.
    AppVisible,
    /// A masked window no longer exists (its mask stays, covering nothing, until removed).
    WindowGone(u64),
    /// The platform cannot list windows: everything of the application mode is filled.
    NoWindows(String),
    /// The application's main window (its largest visible one) now stands on another
    /// display: the session follows it.
    AppElsewhere,
}

/// The capturer of one display with the mask stage applied; see the module documentation.
pub struct MaskedCapturer {
    inner: Box<dyn Capturer>,
    desc: DisplayDesc,
    set: Arc<MaskSet>,
    showing: Showing,
    windows: Option<Box<dyn WindowSource>>,
    on_notice: Box<dyn FnMut(Notice) + Send>,
    seen_generation: u64,
    masks: Vec<Mask>,
    stack: Vec<TopWindow>,
    layers: Vec<Layer>,
    prev_layers: Vec<Layer>,
    plan: FillPlan,
    prev_plan: FillPlan,
    /// The geometry changed at the last capture: the previous plan was applied too.
    changed: bool,
    app_visible: Option<bool>,
    /// Where the main window was when its centre was last seen off this display (a notice
    /// goes once per position: following may find this display still the best one).
    app_elsewhere: Option<Rect>,
    gone: Vec<u64>,
    window_error: bool,
}

impl std::fmt::Debug for MaskedCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskedCapturer")
            .field("desc", &self.desc)
            .field("showing", &self.showing)
            .finish_non_exhaustive()
    }
}

impl MaskedCapturer {
    /// Wraps `inner` (capturing `desc`). `windows` lists the desktop's windows (None: the
    /// platform cannot; application mode then fills everything and says so).
    pub fn new(
        inner: Box<dyn Capturer>,
        desc: DisplayDesc,
        set: Arc<MaskSet>,
        windows: Result<Box<dyn WindowSource>, CaptureError>,
        on_notice: Box<dyn FnMut(Notice) + Send>,
    ) -> MaskedCapturer {
        let showing = set.showing_for(&desc);
        let mut on_notice = on_notice;
        let windows = match windows {
            Ok(w) => Some(w),
            Err(e) => {
                if matches!(showing, Showing::App(_)) {
                    on_notice(Notice::NoWindows(e.to_string()));
                }
                None
            }
        };
        MaskedCapturer {
            inner,
            desc,
            set,
            showing,
            windows,
            on_notice,
            seen_generation: u64::MAX,
            masks: Vec::new(),
            stack: Vec::new(),
            layers: Vec::new(),
            prev_layers: Vec::new(),
            plan: FillPlan::default(),
            prev_plan: FillPlan::default(),
            changed: true,
            app_visible: None,
            app_elsewhere: None,
            gone: Vec::new(),
            window_error: false,
        }
    }

    /// What this capturer shows.
    pub fn showing(&self) -> &Showing {
        &self.showing
    }

    /// The current layers, from the masks and (when needed) the platform's windows.
    fn build_layers(&mut self, w: u16, h: u16) {
        let (ox, oy) = (self.desc.x as i32, self.desc.y as i32);
        let generation = self.set.generation();
        if generation != self.seen_generation {
            self.set.masks_into(&mut self.masks);
            self.seen_generation = generation;
        }
        self.layers.clear();
        let needs_windows = matches!(self.showing, Showing::App(_))
            || self.masks.iter().any(|m| matches!(m, Mask::Window(_)));
        let mut listed = false;
        if needs_windows {
            if let Some(ws) = self.windows.as_mut() {
                match ws.stack(&mut self.stack) {
                    Ok(()) => {
                        listed = true;
                        self.window_error = false;
                    }
                    Err(e) => {
                        if !self.window_error {
                            (self.on_notice)(Notice::NoWindows(e.to_string()));
                        }
                        self.window_error = true;
                    }
                }
            }
        }
        if let Showing::App(app) = &self.showing {
            let mut visible = false;
            if listed {
                let main = self
                    .stack
                    .iter()
                    .filter(|t| app.owns(t.pid))
                    .max_by_key(|t| t.rect.w as u64 * t.rect.h as u64);
                let elsewhere = main.map(|t| t.rect).filter(|r| {
                    let cx = r.x as i64 + r.w as i64 / 2;
                    let cy = r.y as i64 + r.h as i64 / 2;
                    let (dx, dy) = (self.desc.x as i64, self.desc.y as i64);
                    !(cx >= dx
                        && cy >= dy
                        && cx < dx + self.desc.width as i64
                        && cy < dy + self.desc.height as i64)
                });
                if elsewhere.is_some() && elsewhere != self.app_elsewhere {
                    (self.on_notice)(Notice::AppElsewhere);
                }
                self.app_elsewhere = elsewhere;
                for t in &self.stack {
                    let mine = app.owns(t.pid);
                    if let Some(l) = Layer::from_rect(t.rect, ox, oy, w, h, mine) {
                        visible |= mine;
                        self.layers.push(l);
                    }
                }
            }
            if self.app_visible != Some(visible) {
                self.app_visible = Some(visible);
                (self.on_notice)(if visible {
                    Notice::AppVisible
                } else {
                    Notice::AppHidden(format!(
                        "{app} has no visible window on {}: agents see a flat fill",
                        self.desc.name
                    ))
                });
            }
        }
        for i in 0..self.masks.len() {
            let r = match self.masks[i] {
                Mask::Rect(r) => Some(r),
                Mask::Window(id) => {
                    let found = match self.windows.as_mut() {
                        // Top-level windows come from the listing; others are asked for.
                        Some(ws) => match self.stack.iter().find(|t| listed && t.id == id) {
                            Some(t) => Ok(Some(t.rect)),
                            None => ws.window_rect(id),
                        },
                        None => Err(CaptureError::Unsupported("no window source".into())),
                    };
                    match found {
                        Ok(Some(r)) => Some(r),
                        Ok(None) => {
                            if !self.gone.contains(&id) {
                                self.gone.push(id);
                                (self.on_notice)(Notice::WindowGone(id));
                            }
                            None
                        }
                        // Where it is cannot be known: fill the whole display.
                        Err(_) => Some(Rect {
                            x: ox,
                            y: oy,
                            w: w as u32,
                            h: h as u32,
                        }),
                    }
                }
            };
            if let Some(l) = r.and_then(|r| Layer::from_rect(r, ox, oy, w, h, false)) {
                self.layers.push(l);
            }
        }
        if matches!(self.showing, Showing::App(_)) && !listed {
            // Application mode without a listing: nothing is shown.
            self.layers.clear();
        }
    }

    fn base_allowed(&self) -> bool {
        matches!(self.showing, Showing::Display)
    }
}

impl Capturer for MaskedCapturer {
    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        self.inner.capture(buf)?;
        // Geometry after the capture; with the previous one it brackets what was captured.
        std::mem::swap(&mut self.layers, &mut self.prev_layers);
        self.build_layers(buf.width, buf.height);
        let resized = self.plan.width != buf.width as u32 || self.plan.height != buf.height as u32;
        self.changed = resized || self.layers != self.prev_layers;
        if self.changed {
            std::mem::swap(&mut self.plan, &mut self.prev_plan);
            let base = self.base_allowed();
            self.plan.compute(buf.width, buf.height, base, &self.layers);
            if resized {
                self.prev_plan = self.plan.clone();
            }
            self.prev_plan.apply(buf);
            self.set.publish_plan(&self.desc.name, &self.plan);
        }
        self.plan.apply(buf);
        Ok(())
    }

    fn may_have_changed(&mut self) -> bool {
        // Mask changes show at once; window moves and restacks come with damage; after a
        // geometry change one more capture settles the fill on the new geometry alone.
        self.changed
            || self.inner.may_have_changed()
            || self.set.generation() != self.seen_generation
    }

    fn move_hints(&mut self) -> Vec<MoveHint> {
        let mut hints = self.inner.move_hints();
        let (plan, prev) = (&self.plan, &self.prev_plan);
        let changed = self.changed;
        hints.retain(|h| {
            let touches = |p: &FillPlan| {
                p.touches(h.x, h.y, h.w as u32, h.h as u32)
                    || p.touches(h.x + h.dx, h.y + h.dy, h.w as u32, h.h as u32)
            };
            !(touches(plan) || (changed && touches(prev)))
        });
        hints
    }

    fn dirty_rects(&mut self) -> Option<Vec<DirtyRect>> {
        if self.changed {
            // The fill moved: anything may differ.
            return None;
        }
        self.inner.dirty_rects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Backend, SyntheticDisplay};

    trait Desc {
        fn displays_desc(&self) -> DisplayDesc;
    }

    impl Desc for SyntheticDisplay {
        fn displays_desc(&self) -> DisplayDesc {
            self.displays().unwrap().remove(0)
        }
    }

    fn px(f: &FrameBuf, x: u32, y: u32) -> [u8; 4] {
        let o = y as usize * f.stride + x as usize * 4;
        [f.data[o], f.data[o + 1], f.data[o + 2], f.data[o + 3]]
    }

    fn layer(x0: u32, y0: u32, x1: u32, y1: u32, allowed: bool) -> Layer {
        Layer {
            x0,
            y0,
            x1,
            y1,
            allowed,
        }
    }

    /// The plan against a per-pixel painter's algorithm.
    fn reference(w: u32, h: u32, base: bool, layers: &[Layer]) -> Vec<bool> {
        let mut shown = vec![base; (w * h) as usize];
        for l in layers {
            for y in l.y0..l.y1 {
                for x in l.x0..l.x1 {
                    shown[(y * w + x) as usize] = l.allowed;
                }
            }
        }
        shown
    }

    #[test]
    fn plan_matches_painters_algorithm_pixel_for_pixel() {
        let cases: Vec<(bool, Vec<Layer>)> = vec![
            (true, vec![]),
            (true, vec![layer(10, 10, 50, 30, false)]),
            (
                false,
                vec![
                    layer(0, 0, 60, 40, true),
                    layer(30, 20, 90, 70, false),
                    layer(40, 25, 50, 35, true),
                    layer(5, 5, 15, 15, false),
                ],
            ),
            (
                false,
                vec![layer(0, 0, 100, 80, true), layer(99, 79, 100, 80, false)],
            ),
        ];
        for (base, layers) in cases {
            let mut plan = FillPlan::default();
            plan.compute(100, 80, base, &layers);
            let mut f = FrameBuf::default();
            f.reshape(100, 80);
            f.data.fill(0x11);
            plan.apply(&mut f);
            let want = reference(100, 80, base, &layers);
            let mut filled = 0;
            for y in 0..80 {
                for x in 0..100 {
                    let shown = want[(y * 100 + x) as usize];
                    let p = px(&f, x, y);
                    if shown {
                        assert_eq!(p, [0x11; 4], "({x},{y}) shown, {layers:?}");
                    } else {
                        assert_eq!(p, MASK_FILL, "({x},{y}) filled, {layers:?}");
                        filled += 1;
                    }
                    assert_eq!(plan.touches(x as i32, y as i32, 1, 1), !shown);
                }
            }
            assert_eq!(plan.filled_pixels(), filled);
        }
    }

    #[test]
    fn rect_arguments_are_checked() {
        assert!(check_rect(0, 0, 0, 5).unwrap_err().contains("width"));
        assert!(check_rect(0, 0, 5, -1).unwrap_err().contains("height"));
        assert!(check_rect(-(1 << 21), 0, 5, 5)
            .unwrap_err()
            .starts_with("x "));
        assert!(check_rect(0, 1 << 21, 5, 5).unwrap_err().starts_with("y "));
        assert_eq!(
            check_rect(-10, 20, 30, 40),
            Ok(Rect {
                x: -10,
                y: 20,
                w: 30,
                h: 40
            })
        );
        let set = MaskSet::default();
        let a = set.add(Mask::Window(7));
        let b = set.add(Mask::Window(8));
        assert!(a != b && a != 0);
        assert!(set.remove(a));
        assert!(!set.remove(a), "unknown id");
    }

    /// A fake window source: a fixed stack.
    struct Stack(Vec<TopWindow>);

    impl WindowSource for Stack {
        fn stack(&mut self, out: &mut Vec<TopWindow>) -> Result<(), CaptureError> {
            out.clear();
            out.extend(self.0.iter().copied());
            Ok(())
        }
        fn window_rect(&mut self, id: u64) -> Result<Option<Rect>, CaptureError> {
            Ok(self.0.iter().find(|t| t.id == id).map(|t| t.rect))
        }
    }

    fn win(id: u64, x: i32, y: i32, w: u32, h: u32, pid: u32) -> TopWindow {
        TopWindow {
            id,
            rect: Rect { x, y, w, h },
            pid: Some(pid),
        }
    }

    #[test]
    fn application_mode_shows_only_the_apps_windows_not_those_above() {
        let d = SyntheticDisplay::new(200, 100);
        // A display whose origin is (1000, 50) on the virtual desktop.
        let desc = DisplayDesc {
            x: 1000,
            y: 50,
            ..d.displays_desc()
        };
        let set = Arc::new(MaskSet::default());
        set.set_shown(&desc.name, Showing::App(AppRef::Current));
        let me = std::process::id();
        let stack = Stack(vec![
            win(1, 1000, 50, 200, 100, me + 1), // another app, whole display, bottom
            win(2, 1010, 60, 100, 50, me),      // ours
            win(3, 1050, 70, 20, 10, me + 1),   // another app above ours
        ]);
        let notices = Arc::new(Mutex::new(Vec::new()));
        let n2 = notices.clone();
        let mut c = MaskedCapturer::new(
            Box::new(d.capturer()),
            desc,
            set.clone(),
            Ok(Box::new(stack)),
            Box::new(move |n| n2.lock().unwrap().push(n)),
        );
        let mut f = FrameBuf::default();
        c.capture(&mut f).unwrap();
        let raw = d.snapshot();
        for y in 0..100 {
            for x in 0..200 {
                let ours = (10..110).contains(&x) && (10..60).contains(&y);
                let above = (50..70).contains(&x) && (20..30).contains(&y);
                if ours && !above {
                    assert_eq!(px(&f, x, y), px(&raw, x, y), "({x},{y})");
                } else {
                    assert_eq!(px(&f, x, y), MASK_FILL, "({x},{y})");
                }
            }
        }
        assert_eq!(notices.lock().unwrap().as_slice(), &[Notice::AppVisible]);
        // A masked rectangle (virtual desktop) inside our window.
        let id = set.add(Mask::Rect(Rect {
            x: 1020,
            y: 65,
            w: 5,
            h: 5,
        }));
        assert!(c.may_have_changed());
        c.capture(&mut f).unwrap();
        assert_eq!(px(&f, 22, 17), MASK_FILL);
        assert_eq!(px(&f, 26, 17), px(&raw, 26, 17));
        set.remove(id);
        // The frame of a geometry change is filled under both geometries (the old one may be
        // what was captured); the next one under the new one only.
        c.capture(&mut f).unwrap();
        assert_eq!(px(&f, 22, 17), MASK_FILL);
        c.capture(&mut f).unwrap();
        assert_eq!(px(&f, 22, 17), px(&raw, 22, 17));
    }

    #[test]
    fn display_mode_masks_windows_and_drops_move_hints_across_the_edge() {
        let d = SyntheticDisplay::new(200, 100);
        let desc = d.displays_desc();
        let set = Arc::new(MaskSet::default());
        set.set_shown(&desc.name, Showing::Display);
        set.add(Mask::Window(5));
        set.add(Mask::Window(6)); // gone
        let stack = Stack(vec![win(5, 150, 0, 50, 40, 1)]);
        let gone = Arc::new(Mutex::new(Vec::new()));
        let g2 = gone.clone();
        let mut c = MaskedCapturer::new(
            Box::new(Hinting(d.capturer())),
            desc,
            set,
            Ok(Box::new(stack)),
            Box::new(move |n| g2.lock().unwrap().push(n)),
        );
        let mut f = FrameBuf::default();
        c.capture(&mut f).unwrap();
        assert_eq!(px(&f, 150, 0), MASK_FILL);
        assert_eq!(px(&f, 199, 39), MASK_FILL);
        assert_ne!(px(&f, 149, 0), MASK_FILL);
        assert_eq!(gone.lock().unwrap().as_slice(), &[Notice::WindowGone(6)]);
        let hints = c.move_hints();
        assert_eq!(
            hints,
            vec![MoveHint {
                x: 0,
                y: 50,
                w: 40,
                h: 40,
                dx: 10,
                dy: 0
            }],
            "the hint into the masked window is dropped"
        );
    }

    /// A capturer that reports two move hints: one clear of the mask, one into it.
    struct Hinting(crate::capture::synthetic::SyntheticCapturer);

    impl Capturer for Hinting {
        fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
            self.0.capture(buf)
        }
        fn move_hints(&mut self) -> Vec<MoveHint> {
            vec![
                MoveHint {
                    x: 0,
                    y: 50,
                    w: 40,
                    h: 40,
                    dx: 10,
                    dy: 0,
                },
                MoveHint {
                    x: 100,
                    y: 0,
                    w: 40,
                    h: 40,
                    dx: 30,
                    dy: 0,
                },
            ]
        }
    }
}
