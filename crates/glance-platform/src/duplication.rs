//! Frame bookkeeping for duplication-style capture APIs (DXGI Desktop Duplication on Windows):
//! the OS hands out a new desktop frame when something changed (or a timeout when nothing
//! did), together with the rectangles it moved and the rectangles it redrew since the previous
//! frame. [`DuplicationCapturer`] turns such a [`DuplicationSource`] into a [`Capturer`]:
//!
//! - **unchanged**: a timeout, or a frame that only moved the pointer (DXGI's
//!   `LastPresentTime == 0`), makes [`Capturer::may_have_changed`] answer `false`, so an idle
//!   screen costs one non-blocking call a poll and no copy;
//! - **dirty and move rectangles** are clipped to the monitor and handed out as
//!   [`Capturer::dirty_rects`] (every redrawn rectangle plus every move destination) and
//!   [`Capturer::move_hints`]; only those regions are read back from the OS;
//! - the whole picture is read (and `dirty_rects` is `None`) on the first frame, after the
//!   size changed and after the duplication was lost and re-created (DXGI's ACCESS_LOST on a
//!   mode change, a desktop switch, a full-screen application);
//! - a lost duplication that cannot be re-created at once is retried on every call; for a
//!   short grace period the last picture is served as unchanged (a UAC prompt, a lock screen),
//!   then the capture fails with a clear error. Never a black picture.
//!
//! This module is platform-neutral on purpose: its unit tests drive it with a fake source on
//! every OS. `crate::windows::dxgi` is the real source.

use std::time::{Duration, Instant};

use crate::{CaptureError, Capturer, DirtyRect, FrameBuf, MoveHint};

/// A rectangle as the OS reports it (DXGI's RECT): `left..right` x `top..bottom` in the
/// desktop image's coordinates (the monitor's top-left corner is 0, 0); may be empty or reach
/// outside the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrcRect {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

/// A move as the OS reports it (DXGI_OUTDUPL_MOVE_RECT): the pixels at `src_x, src_y` of
/// the size of `dst` now stand at `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrcMove {
    pub src_x: i32,
    pub src_y: i32,
    pub dst: SrcRect,
}

/// What one acquire gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Nothing new within the timeout.
    Timeout,
    /// A frame is held until [`DuplicationSource::release`]; `picture_updated` is false when
    /// only the pointer changed (DXGI: `LastPresentTime == 0`).
    Frame { picture_updated: bool },
}

/// Why a source call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The duplication is gone (DXGI_ERROR_ACCESS_LOST: mode change, desktop switch…); it
    /// must be re-created with [`DuplicationSource::recreate`].
    AccessLost(String),
    /// The output itself no longer exists (the monitor was unplugged or disabled): re-creating
    /// the duplication cannot work until it comes back, so it is reported at once as
    /// [`CaptureError::Gone`] with this display name.
    Gone(String),
    /// Anything else.
    Failed(String),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::AccessLost(s) => write!(f, "duplication lost: {s}"),
            SourceError::Gone(name) => write!(f, "no output named {name} any more"),
            SourceError::Failed(s) => f.write_str(s),
        }
    }
}

/// The OS side of a duplication capture (DXGI's IDXGIOutputDuplication), one monitor.
pub trait DuplicationSource: Send {
    /// The monitor's size in pixels (the desktop image's size).
    fn size(&self) -> (u16, u16);
    /// Waits up to `timeout_ms` for a new frame.
    fn acquire(&mut self, timeout_ms: u32) -> Result<Acquired, SourceError>;
    /// The held frame's moves, in the order the OS applied them.
    fn move_rects(&mut self) -> Result<Vec<SrcMove>, SourceError>;
    /// The held frame's redrawn rectangles.
    fn dirty_rects(&mut self) -> Result<Vec<SrcRect>, SourceError>;
    /// Copies the held frame's pixels inside `regions` (all of them when `None`) into `image`,
    /// which is shaped to [`DuplicationSource::size`]: BGRX, padding byte 0xFF.
    fn read(
        &mut self,
        image: &mut FrameBuf,
        regions: Option<&[DirtyRect]>,
    ) -> Result<(), SourceError>;
    /// Gives the held frame back.
    fn release(&mut self) -> Result<(), SourceError>;
    /// Re-creates the duplication after [`SourceError::AccessLost`]; the size may change.
    fn recreate(&mut self) -> Result<(), SourceError>;
}

/// Clips `r` to a `w` x `h` monitor; `None` when nothing is left.
pub fn clip_rect(r: SrcRect, w: u16, h: u16) -> Option<DirtyRect> {
    let (l, t) = (r.left.max(0), r.top.max(0));
    let (rr, b) = (r.right.min(w as i32), r.bottom.min(h as i32));
    (rr > l && b > t).then(|| DirtyRect {
        x: l as u16,
        y: t as u16,
        w: (rr - l) as u16,
        h: (b - t) as u16,
    })
}

/// Maps a move to a [`MoveHint`], clipped so both its source and destination lie inside a
/// `w` x `h` monitor; `None` when nothing is left or it does not move.
pub fn clip_move(m: SrcMove, w: u16, h: u16) -> Option<MoveHint> {
    let (dx, dy) = (m.dst.left - m.src_x, m.dst.top - m.src_y);
    if dx == 0 && dy == 0 {
        return None;
    }
    // destination inside the monitor, and its source (destination - d) inside too
    let l = m.dst.left.max(0).max(dx);
    let t = m.dst.top.max(0).max(dy);
    let r = m.dst.right.min(w as i32).min(w as i32 + dx);
    let b = m.dst.bottom.min(h as i32).min(h as i32 + dy);
    (r > l && b > t).then(|| MoveHint {
        x: l - dx,
        y: t - dy,
        w: (r - l) as u16,
        h: (b - t) as u16,
        dx,
        dy,
    })
}

/// More rectangles than this between two captures: the whole picture counts as dirty.
pub const MAX_PENDING_RECTS: usize = 512;

/// How long a lost duplication that cannot be re-created is bridged with the last picture.
pub const LOST_GRACE: Duration = Duration::from_secs(10);

/// A [`Capturer`] over a [`DuplicationSource`]. See the module documentation.
pub struct DuplicationCapturer<S: DuplicationSource> {
    src: S,
    /// The desktop as of the last frame read.
    image: FrameBuf,
    have_image: bool,
    /// Read the whole picture from the next frame (first frame, after a re-creation).
    need_full: bool,
    /// New pixels in `image` since the last capture.
    changed: bool,
    /// What changed since the last capture (`None`: everything may have).
    pending_dirty: Option<Vec<DirtyRect>>,
    pending_moves: Vec<MoveHint>,
    /// What the last capture changed, for [`Capturer::dirty_rects`] / [`Capturer::move_hints`].
    last_dirty: Option<Vec<DirtyRect>>,
    last_moves: Vec<MoveHint>,
    /// Since when the duplication is lost and not re-created.
    lost_since: Option<Instant>,
    grace: Duration,
    /// How long the first capture waits for the first frame.
    first_frame_wait: Duration,
}

impl<S: DuplicationSource> DuplicationCapturer<S> {
    pub fn new(src: S) -> Self {
        DuplicationCapturer {
            src,
            image: FrameBuf::default(),
            have_image: false,
            need_full: true,
            changed: false,
            pending_dirty: None,
            pending_moves: Vec::new(),
            last_dirty: None,
            last_moves: Vec::new(),
            lost_since: None,
            grace: LOST_GRACE,
            first_frame_wait: Duration::from_secs(2),
        }
    }

    /// Sets how long a lost duplication is bridged with the last picture.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The source (tests look at it).
    pub fn source(&self) -> &S {
        &self.src
    }

    fn err(e: SourceError) -> CaptureError {
        match e {
            SourceError::Gone(name) => CaptureError::Gone(name),
            e => CaptureError::Capture(format!("desktop duplication: {e}")),
        }
    }

    /// Re-creates a lost duplication; the next frame is read whole.
    fn recover(&mut self) -> Result<(), CaptureError> {
        let since = *self.lost_since.get_or_insert_with(Instant::now);
        match self.src.recreate() {
            Ok(()) => {
                if since.elapsed() > Duration::from_millis(100) {
                    log::info!("desktop duplication re-created after {:?}", since.elapsed());
                }
                self.lost_since = None;
                self.need_full = true;
                Ok(())
            }
            Err(e) => Err(Self::err(e)),
        }
    }

    fn note_lost(&mut self, e: &SourceError) {
        if let SourceError::AccessLost(why) = e {
            if self.lost_since.is_none() {
                log::info!("desktop duplication lost ({why}); re-creating it");
                self.lost_since = Some(Instant::now());
            }
        }
    }

    /// Takes the next frame if one comes within `timeout_ms`; true when the picture changed.
    fn poll(&mut self, timeout_ms: u32) -> Result<bool, CaptureError> {
        if self.lost_since.is_some() {
            self.recover()?;
        }
        let acquired = match self.src.acquire(timeout_ms) {
            Ok(a) => a,
            Err(e @ SourceError::AccessLost(_)) => {
                self.note_lost(&e);
                self.recover()?;
                match self.src.acquire(timeout_ms) {
                    Ok(a) => a,
                    Err(e) => {
                        self.note_lost(&e);
                        return Err(Self::err(e));
                    }
                }
            }
            Err(e) => return Err(Self::err(e)),
        };
        let Acquired::Frame { picture_updated } = acquired else {
            return Ok(false);
        };
        let taken = if picture_updated {
            self.take_frame()
        } else {
            Ok(false)
        };
        let released = self.src.release();
        let changed = taken
            .inspect_err(|e| self.note_lost(e))
            .map_err(Self::err)?;
        if let Err(e) = released {
            // The frame was read; a lost duplication is re-created on the next call.
            self.note_lost(&e);
            if !matches!(e, SourceError::AccessLost(_)) {
                return Err(Self::err(e));
            }
        }
        Ok(changed)
    }

    /// Reads the held frame into `image`; true when pixels changed.
    fn take_frame(&mut self) -> Result<bool, SourceError> {
        let (w, h) = self.src.size();
        if self.need_full || !self.have_image || (self.image.width, self.image.height) != (w, h) {
            self.image.reshape(w, h);
            self.src.read(&mut self.image, None)?;
            self.pending_dirty = None;
            self.pending_moves.clear();
            self.have_image = true;
            self.need_full = false;
            self.changed = true;
            return Ok(true);
        }
        let moves: Vec<MoveHint> = self
            .src
            .move_rects()?
            .into_iter()
            .filter_map(|m| clip_move(m, w, h))
            .collect();
        let mut regions: Vec<DirtyRect> = self
            .src
            .dirty_rects()?
            .into_iter()
            .filter_map(|r| clip_rect(r, w, h))
            .collect();
        regions.extend(moves.iter().map(|m| DirtyRect {
            x: (m.x + m.dx) as u16,
            y: (m.y + m.dy) as u16,
            w: m.w,
            h: m.h,
        }));
        if regions.is_empty() {
            return Ok(false);
        }
        self.src.read(&mut self.image, Some(&regions))?;
        if let Some(p) = &mut self.pending_dirty {
            p.extend_from_slice(&regions);
            if p.len() > MAX_PENDING_RECTS {
                self.pending_dirty = None;
            }
        }
        if self.pending_moves.len() + moves.len() <= MAX_PENDING_RECTS {
            self.pending_moves.extend(moves);
        }
        self.changed = true;
        Ok(true)
    }
}

impl<S: DuplicationSource> Capturer for DuplicationCapturer<S> {
    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        if !self.have_image {
            let deadline = Instant::now() + self.first_frame_wait;
            while !self.have_image && Instant::now() < deadline {
                self.poll(100)?;
            }
            if !self.have_image {
                return Err(CaptureError::Capture(
                    "desktop duplication delivered no frame".into(),
                ));
            }
        } else if !self.changed {
            match self.poll(0) {
                Ok(_) => {}
                Err(e) => match self.lost_since {
                    // A monitor that is gone is not bridged: it will not come back by waiting.
                    Some(since) if since.elapsed() < self.grace && !e.is_gone() => {
                        log::debug!("serving the last picture while the duplication is lost: {e}");
                    }
                    _ => return Err(e),
                },
            }
        }
        buf.reshape(self.image.width, self.image.height);
        buf.data.copy_from_slice(&self.image.data);
        if self.changed {
            self.last_dirty = self.pending_dirty.replace(Vec::new());
            self.last_moves = std::mem::take(&mut self.pending_moves);
            self.changed = false;
        } else {
            self.last_dirty = Some(Vec::new());
            self.last_moves.clear();
        }
        Ok(())
    }

    fn may_have_changed(&mut self) -> bool {
        if !self.have_image || self.changed || self.lost_since.is_some() {
            return true;
        }
        // a failure is reported by the capture that follows
        self.poll(0).unwrap_or(true)
    }

    fn move_hints(&mut self) -> Vec<MoveHint> {
        std::mem::take(&mut self.last_moves)
    }

    fn dirty_rects(&mut self) -> Option<Vec<DirtyRect>> {
        self.last_dirty.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// One scripted answer of the fake source to `acquire`.
    enum Step {
        Timeout,
        PointerOnly,
        Frame {
            dirty: Vec<SrcRect>,
            moves: Vec<SrcMove>,
        },
        Lost,
    }

    /// A fake duplication: a screen the test paints, and a script of acquires.
    struct Fake {
        screen: FrameBuf,
        steps: VecDeque<Step>,
        held: Option<(Vec<SrcRect>, Vec<SrcMove>)>,
        reads: Vec<Option<Vec<DirtyRect>>>,
        acquires: usize,
        releases: usize,
        recreate_failures: usize,
        /// `recreate` answers that the output is gone.
        output_gone: bool,
        recreated: usize,
        resize_on_recreate: Option<(u16, u16)>,
    }

    impl Fake {
        fn new(w: u16, h: u16, steps: Vec<Step>) -> Fake {
            let mut screen = FrameBuf::default();
            screen.reshape(w, h);
            paint(&mut screen, 0, 0, w, h, 10);
            Fake {
                screen,
                steps: steps.into(),
                held: None,
                reads: Vec::new(),
                acquires: 0,
                releases: 0,
                recreate_failures: 0,
                output_gone: false,
                recreated: 0,
                resize_on_recreate: None,
            }
        }
    }

    fn paint(f: &mut FrameBuf, x: u16, y: u16, w: u16, h: u16, v: u8) {
        for row in y..y + h {
            for col in x..x + w {
                let i = row as usize * f.stride + col as usize * 4;
                f.data[i..i + 4].copy_from_slice(&[v, v, v, 0xFF]);
            }
        }
    }

    fn r(left: i32, top: i32, right: i32, bottom: i32) -> SrcRect {
        SrcRect {
            left,
            top,
            right,
            bottom,
        }
    }

    impl DuplicationSource for Fake {
        fn size(&self) -> (u16, u16) {
            (self.screen.width, self.screen.height)
        }
        fn acquire(&mut self, _timeout_ms: u32) -> Result<Acquired, SourceError> {
            assert!(self.held.is_none(), "acquire while a frame is held");
            self.acquires += 1;
            match self.steps.pop_front().unwrap_or(Step::Timeout) {
                Step::Timeout => Ok(Acquired::Timeout),
                Step::PointerOnly => {
                    self.held = Some((Vec::new(), Vec::new()));
                    Ok(Acquired::Frame {
                        picture_updated: false,
                    })
                }
                Step::Frame { dirty, moves } => {
                    self.held = Some((dirty, moves));
                    Ok(Acquired::Frame {
                        picture_updated: true,
                    })
                }
                Step::Lost => Err(SourceError::AccessLost("mode change".into())),
            }
        }
        fn move_rects(&mut self) -> Result<Vec<SrcMove>, SourceError> {
            Ok(self.held.as_ref().expect("held").1.clone())
        }
        fn dirty_rects(&mut self) -> Result<Vec<SrcRect>, SourceError> {
            Ok(self.held.as_ref().expect("held").0.clone())
        }
        fn read(
            &mut self,
            image: &mut FrameBuf,
            regions: Option<&[DirtyRect]>,
        ) -> Result<(), SourceError> {
            assert!(self.held.is_some(), "read without a frame");
            assert_eq!((image.width, image.height), self.size());
            match regions {
                None => image.data.copy_from_slice(&self.screen.data),
                Some(rs) => {
                    for d in rs {
                        for row in d.y..d.y + d.h {
                            let a = row as usize * image.stride + d.x as usize * 4;
                            let b = a + d.w as usize * 4;
                            image.data[a..b].copy_from_slice(&self.screen.data[a..b]);
                        }
                    }
                }
            }
            self.reads.push(regions.map(<[_]>::to_vec));
            Ok(())
        }
        fn release(&mut self) -> Result<(), SourceError> {
            assert!(self.held.take().is_some(), "release without a frame");
            self.releases += 1;
            Ok(())
        }
        fn recreate(&mut self) -> Result<(), SourceError> {
            if self.output_gone {
                return Err(SourceError::Gone("\\\\.\\DISPLAY2".into()));
            }
            if self.recreate_failures > 0 {
                self.recreate_failures -= 1;
                return Err(SourceError::AccessLost("secure desktop".into()));
            }
            self.recreated += 1;
            if let Some((w, h)) = self.resize_on_recreate.take() {
                self.screen.reshape(w, h);
                paint(&mut self.screen, 0, 0, w, h, 77);
            }
            Ok(())
        }
    }

    fn frame(dirty: Vec<SrcRect>, moves: Vec<SrcMove>) -> Step {
        Step::Frame { dirty, moves }
    }

    #[test]
    fn rects_are_clipped_to_the_monitor() {
        assert_eq!(
            clip_rect(r(-5, 10, 20, 30), 100, 50),
            Some(DirtyRect {
                x: 0,
                y: 10,
                w: 20,
                h: 20
            })
        );
        assert_eq!(
            clip_rect(r(90, 40, 120, 80), 100, 50),
            Some(DirtyRect {
                x: 90,
                y: 40,
                w: 10,
                h: 10
            })
        );
        assert_eq!(clip_rect(r(100, 0, 120, 10), 100, 50), None);
        assert_eq!(clip_rect(r(10, 10, 10, 20), 100, 50), None, "empty");
        assert_eq!(clip_rect(r(30, 20, 10, 10), 100, 50), None, "inverted");
    }

    #[test]
    fn moves_become_hints_with_source_and_destination_inside() {
        // a 40x20 window moved from (10, 5) to (30, 15)
        let m = SrcMove {
            src_x: 10,
            src_y: 5,
            dst: r(30, 15, 70, 35),
        };
        assert_eq!(
            clip_move(m, 200, 100),
            Some(MoveHint {
                x: 10,
                y: 5,
                w: 40,
                h: 20,
                dx: 20,
                dy: 10
            })
        );
        // destination partly beyond the right edge: cut there
        let m = SrcMove {
            src_x: 150,
            src_y: 0,
            dst: r(180, 0, 220, 10),
        };
        assert_eq!(
            clip_move(m, 200, 100),
            Some(MoveHint {
                x: 150,
                y: 0,
                w: 20,
                h: 10,
                dx: 30,
                dy: 0
            })
        );
        // source partly above the top edge (moved down from y = -5): only the part whose
        // source was on the monitor remains
        let m = SrcMove {
            src_x: 0,
            src_y: -5,
            dst: r(0, 5, 10, 25),
        };
        assert_eq!(
            clip_move(m, 200, 100),
            Some(MoveHint {
                x: 0,
                y: 0,
                w: 10,
                h: 15,
                dx: 0,
                dy: 10
            })
        );
        let still = SrcMove {
            src_x: 5,
            src_y: 5,
            dst: r(5, 5, 10, 10),
        };
        assert_eq!(clip_move(still, 200, 100), None, "no movement");
        let off = SrcMove {
            src_x: 0,
            src_y: 0,
            dst: r(300, 0, 310, 10),
        };
        assert_eq!(clip_move(off, 200, 100), None, "off the monitor");
    }

    #[test]
    fn first_frame_is_read_whole_then_only_dirty_regions() {
        let fake = Fake::new(64, 32, vec![frame(vec![r(0, 0, 64, 32)], vec![])]);
        let mut c = DuplicationCapturer::new(fake);
        assert!(c.may_have_changed(), "nothing captured yet");
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        assert_eq!((buf.width, buf.height, buf.stride), (64, 32, 256));
        assert_eq!(buf.data, c.source().screen.data);
        assert_eq!(c.dirty_rects(), None, "first picture: everything");
        assert_eq!(c.source().reads, vec![None]);

        // idle: a timeout is "unchanged", nothing is read
        assert!(!c.may_have_changed());
        assert!(!c.may_have_changed());
        // a pointer-only frame is "unchanged" too (and given back)
        c.src.steps.push_back(Step::PointerOnly);
        assert!(!c.may_have_changed());
        assert_eq!(c.source().reads.len(), 1);
        assert_eq!((c.source().acquires, c.source().releases), (4, 2));

        // a redraw of (4, 4, 8, 8), reaching beyond the monitor at the bottom right too
        paint(&mut c.src.screen, 4, 4, 8, 8, 200);
        paint(&mut c.src.screen, 60, 30, 4, 2, 201);
        c.src
            .steps
            .push_back(frame(vec![r(4, 4, 12, 12), r(60, 30, 70, 40)], vec![]));
        assert!(c.may_have_changed());
        let mut buf2 = FrameBuf::default();
        c.capture(&mut buf2).unwrap();
        assert_eq!(buf2.data, c.source().screen.data, "the new picture");
        let want = vec![
            DirtyRect {
                x: 4,
                y: 4,
                w: 8,
                h: 8,
            },
            DirtyRect {
                x: 60,
                y: 30,
                w: 4,
                h: 2,
            },
        ];
        assert_eq!(c.dirty_rects(), Some(want.clone()));
        assert_eq!(c.source().reads.last().unwrap(), &Some(want));
        assert!(c.move_hints().is_empty());

        // a capture with nothing new (a refresh): the same picture, nothing dirty
        c.capture(&mut buf).unwrap();
        assert_eq!(buf.data, buf2.data);
        assert_eq!(c.dirty_rects(), Some(vec![]));
        assert_eq!((c.source().acquires, c.source().releases), (6, 3));
    }

    #[test]
    fn moves_are_hints_and_their_destinations_are_dirty() {
        let fake = Fake::new(100, 60, vec![frame(vec![], vec![])]);
        let mut c = DuplicationCapturer::new(fake);
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        // a window of 20x10 at (5, 5) moves to (40, 30); the uncovered area is redrawn
        paint(&mut c.src.screen, 40, 30, 20, 10, 150);
        paint(&mut c.src.screen, 5, 5, 20, 10, 20);
        c.src.steps.push_back(frame(
            vec![r(5, 5, 25, 15)],
            vec![SrcMove {
                src_x: 5,
                src_y: 5,
                dst: r(40, 30, 60, 40),
            }],
        ));
        assert!(c.may_have_changed());
        c.capture(&mut buf).unwrap();
        assert_eq!(buf.data, c.source().screen.data);
        assert_eq!(
            c.move_hints(),
            vec![MoveHint {
                x: 5,
                y: 5,
                w: 20,
                h: 10,
                dx: 35,
                dy: 25
            }]
        );
        assert!(c.move_hints().is_empty(), "handed out once");
        let dirty = c.dirty_rects().unwrap();
        assert!(dirty.contains(&DirtyRect {
            x: 40,
            y: 30,
            w: 20,
            h: 10
        }));
        assert!(dirty.contains(&DirtyRect {
            x: 5,
            y: 5,
            w: 20,
            h: 10
        }));
    }

    #[test]
    fn frames_between_captures_accumulate() {
        let fake = Fake::new(50, 50, vec![frame(vec![], vec![])]);
        let mut c = DuplicationCapturer::new(fake);
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        c.src.steps.push_back(frame(vec![r(0, 0, 5, 5)], vec![]));
        assert!(c.may_have_changed());
        // another frame arrives before the capture (capture polls once more when unchanged
        // only; here the next poll comes from may_have_changed after a capture)
        c.capture(&mut buf).unwrap();
        c.src
            .steps
            .push_back(frame(vec![r(10, 10, 15, 15)], vec![]));
        c.src
            .steps
            .push_back(frame(vec![r(20, 20, 25, 25)], vec![]));
        assert!(c.may_have_changed());
        assert!(c.may_have_changed(), "still changed: not captured yet");
        // the capture takes what is pending; the second frame waits for the next poll
        c.capture(&mut buf).unwrap();
        assert_eq!(c.dirty_rects().unwrap().len(), 1);
        assert!(c.may_have_changed());
        c.capture(&mut buf).unwrap();
        assert_eq!(
            c.dirty_rects(),
            Some(vec![DirtyRect {
                x: 20,
                y: 20,
                w: 5,
                h: 5
            }])
        );
    }

    #[test]
    fn access_lost_recreates_and_rereads_whole_even_when_the_size_changed() {
        let fake = Fake::new(40, 30, vec![frame(vec![], vec![])]);
        let mut c = DuplicationCapturer::new(fake);
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        c.src.resize_on_recreate = Some((80, 20));
        c.src.steps.push_back(Step::Lost);
        c.src.steps.push_back(frame(vec![r(0, 0, 1, 1)], vec![]));
        assert!(c.may_have_changed());
        assert_eq!(c.source().recreated, 1);
        c.capture(&mut buf).unwrap();
        assert_eq!((buf.width, buf.height), (80, 20), "reshaped");
        assert_eq!(buf.data, c.source().screen.data);
        assert_eq!(c.dirty_rects(), None, "after a re-creation: everything");
        assert_eq!(c.source().reads.last().unwrap(), &None);
        assert_eq!(
            c.source().acquires,
            c.source().releases + 1,
            "Lost holds none"
        );
    }

    #[test]
    fn a_lost_duplication_is_bridged_then_reported() {
        let fake = Fake::new(16, 16, vec![frame(vec![], vec![])]);
        let mut c = DuplicationCapturer::new(fake);
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        let first = buf.clone();
        // lost, and the secure desktop keeps it from coming back twice
        c.src.steps.push_back(Step::Lost);
        c.src.recreate_failures = 2;
        assert!(c.may_have_changed(), "lost: let the capture see it");
        c.capture(&mut buf).unwrap();
        assert_eq!(buf, first, "the last picture, within the grace period");
        assert_eq!(c.dirty_rects(), Some(vec![]));
        // back: recreated, read whole
        c.src.steps.push_back(frame(vec![], vec![]));
        assert!(c.may_have_changed());
        c.capture(&mut buf).unwrap();
        assert_eq!(c.source().recreated, 1);
        assert_eq!(c.dirty_rects(), None);

        // with no grace, the error comes out (never a silent stale or black picture)
        let fake = Fake::new(16, 16, vec![frame(vec![], vec![])]);
        let mut c = DuplicationCapturer::new(fake).with_grace(Duration::ZERO);
        c.capture(&mut buf).unwrap();
        c.src.steps.push_back(Step::Lost);
        c.src.recreate_failures = 5;
        let e = c.capture(&mut buf).unwrap_err();
        assert!(e.to_string().contains("secure desktop"), "{e}");
    }

    #[test]
    fn a_lost_duplication_whose_output_is_gone_reports_gone_at_once() {
        let fake = Fake::new(16, 16, vec![frame(vec![], vec![])]);
        let mut c = DuplicationCapturer::new(fake);
        let mut buf = FrameBuf::default();
        c.capture(&mut buf).unwrap();
        // unplugged: ACCESS_LOST, and the output is no longer enumerated
        c.src.steps.push_back(Step::Lost);
        c.src.output_gone = true;
        assert!(c.may_have_changed());
        let e = c.capture(&mut buf).unwrap_err();
        assert!(e.is_gone(), "not bridged by the grace period: {e}");
        assert!(
            matches!(&e, CaptureError::Gone(n) if n.ends_with("DISPLAY2")),
            "{e}"
        );
        // plugged back: the same capturer recovers, reading the whole picture
        c.src.output_gone = false;
        c.src.steps.push_back(frame(vec![], vec![]));
        c.capture(&mut buf).unwrap();
        assert_eq!(c.source().recreated, 1);
        assert_eq!(c.dirty_rects(), None);
    }

    #[test]
    fn no_first_frame_is_an_error_not_a_black_picture() {
        let fake = Fake::new(16, 16, vec![]);
        let mut c = DuplicationCapturer::new(fake);
        c.first_frame_wait = Duration::from_millis(1);
        let mut buf = FrameBuf::default();
        assert!(matches!(c.capture(&mut buf), Err(CaptureError::Capture(_))));
    }
}
