//! The lossless refresh: which 32x32 tiles of the agents' picture hold lossy (JPEG) pixels,
//! since when, and which are due to be sent again losslessly because they have not changed for
//! [`REFRESH_DELAY`]. Copies (scrolls, dragged windows) carry lossiness to their destination;
//! a key frame for every agent starts over.

use std::time::{Duration, Instant};

use glance_protocol::Rect;

use super::diff::TILE;
use super::scroll::Move;

/// How long lossy pixels must stay unchanged before they are re-sent losslessly. Long enough
/// that a video or an animation is not refreshed frame after frame (which would cost more than
/// sending it losslessly in the first place), short enough that a still photo is exact before
/// anyone studies it. See docs/DECISIONS.md.
pub const REFRESH_DELAY: Duration = Duration::from_millis(400);

/// Widest refresh rect, in tiles: refresh rects are one tile row high and at most this wide,
/// so that a byte budget is overshot by at most one small rect.
const MAX_REFRESH_RUN: usize = 16;

/// Lossy tiles of one picture size.
#[derive(Debug, Default, Clone)]
pub struct LossyTiles {
    width: u16,
    height: u16,
    tiles_x: usize,
    tiles_y: usize,
    /// Per tile: when it was last sent lossy (or last had lossy pixels copied into it);
    /// `None` when every agent has it exactly.
    since: Vec<Option<Instant>>,
    lossy: usize,
}

impl LossyTiles {
    /// All tiles exact, for a `width` x `height` picture (a key frame for every agent).
    pub fn reset(&mut self, width: u16, height: u16) {
        self.width = width;
        self.height = height;
        self.tiles_x = (width as usize).div_ceil(TILE);
        self.tiles_y = (height as usize).div_ceil(TILE);
        self.since.clear();
        self.since.resize(self.tiles_x * self.tiles_y, None);
        self.lossy = 0;
    }

    /// Starts over unless the size is already `width` x `height`.
    pub fn ensure_size(&mut self, width: u16, height: u16) {
        if (width, height) != (self.width, self.height) || self.since.is_empty() {
            self.reset(width, height);
        }
    }

    /// Tiles holding lossy pixels.
    pub fn lossy_count(&self) -> usize {
        self.lossy
    }

    pub fn is_exact(&self) -> bool {
        self.lossy == 0
    }

    /// Whether the tile holding pixel (x, y) is lossy.
    pub fn is_lossy_at(&self, x: u16, y: u16) -> bool {
        let (tx, ty) = (x as usize / TILE, y as usize / TILE);
        tx < self.tiles_x && ty < self.tiles_y && self.since[ty * self.tiles_x + tx].is_some()
    }

    /// The tile range (x0..x1, y0..y1) touched by `r`, clipped to the picture.
    fn touched(&self, r: Rect) -> (usize, usize, usize, usize) {
        let x1 = (r.x as usize + r.w as usize).min(self.width as usize);
        let y1 = (r.y as usize + r.h as usize).min(self.height as usize);
        if r.w == 0 || r.h == 0 || r.x as usize >= x1 || r.y as usize >= y1 {
            return (0, 0, 0, 0);
        }
        (
            r.x as usize / TILE,
            x1.div_ceil(TILE),
            r.y as usize / TILE,
            y1.div_ceil(TILE),
        )
    }

    fn set(&mut self, i: usize, v: Option<Instant>) {
        match (self.since[i].is_some(), v.is_some()) {
            (false, true) => self.lossy += 1,
            (true, false) => self.lossy -= 1,
            _ => {}
        }
        self.since[i] = v;
    }

    /// Every tile `r` touches was just sent lossy.
    pub fn mark_lossy(&mut self, r: Rect, now: Instant) {
        let (x0, x1, y0, y1) = self.touched(r);
        for ty in y0..y1 {
            for tx in x0..x1 {
                self.set(ty * self.tiles_x + tx, Some(now));
            }
        }
    }

    /// `r` was just sent losslessly to every agent: the tiles it covers whole are exact (a
    /// tile it covers only in part keeps its state).
    pub fn mark_exact(&mut self, r: Rect) {
        if self.lossy == 0 {
            return;
        }
        let (x0, x1, y0, y1) = self.touched(r);
        let (rx1, ry1) = (r.x as usize + r.w as usize, r.y as usize + r.h as usize);
        for ty in y0..y1 {
            for tx in x0..x1 {
                let (px0, py0) = (tx * TILE, ty * TILE);
                let px1 = ((tx + 1) * TILE).min(self.width as usize);
                let py1 = ((ty + 1) * TILE).min(self.height as usize);
                if px0 >= r.x as usize && py0 >= r.y as usize && px1 <= rx1 && py1 <= ry1 {
                    self.set(ty * self.tiles_x + tx, None);
                }
            }
        }
    }

    /// Agents copied `m` (from the picture as it was): each destination tile takes on the
    /// lossiness of the source pixels that land in it, keeping its own when not covered whole.
    /// Lossy destinations count from `now`: the picture just changed there.
    pub fn apply_move(&mut self, m: &Move, now: Instant) {
        if self.lossy == 0 {
            return;
        }
        let before = self.since.clone();
        let (tiles_x, tiles_y) = (self.tiles_x, self.tiles_y);
        let lossy_in = |x0: i64, y0: i64, x1: i64, y1: i64| -> bool {
            // Source pixels x0..x1, y0..y1 (inside the picture: moves are clipped).
            let (tx0, tx1) = (
                (x0.max(0) as usize) / TILE,
                (x1.max(0) as usize).div_ceil(TILE),
            );
            let (ty0, ty1) = (
                (y0.max(0) as usize) / TILE,
                (y1.max(0) as usize).div_ceil(TILE),
            );
            (ty0..ty1.min(tiles_y))
                .any(|ty| (tx0..tx1.min(tiles_x)).any(|tx| before[ty * tiles_x + tx].is_some()))
        };
        let (x0, x1, y0, y1) = self.touched(m.rect());
        let (mx0, my0) = (m.x as i64, m.y as i64);
        let (mx1, my1) = (mx0 + m.w as i64, my0 + m.h as i64);
        for ty in y0..y1 {
            for tx in x0..x1 {
                let (px0, py0) = ((tx * TILE) as i64, (ty * TILE) as i64);
                let px1 = (((tx + 1) * TILE).min(self.width as usize)) as i64;
                let py1 = (((ty + 1) * TILE).min(self.height as usize)) as i64;
                // The part of this tile the copy writes, and where it comes from.
                let (cx0, cy0, cx1, cy1) = (px0.max(mx0), py0.max(my0), px1.min(mx1), py1.min(my1));
                if cx0 >= cx1 || cy0 >= cy1 {
                    continue;
                }
                let whole = (cx0, cy0, cx1, cy1) == (px0, py0, px1, py1);
                let from_lossy = lossy_in(
                    cx0 + m.dx as i64,
                    cy0 + m.dy as i64,
                    cx1 + m.dx as i64,
                    cy1 + m.dy as i64,
                );
                let i = ty * self.tiles_x + tx;
                if from_lossy {
                    self.set(i, Some(now));
                } else if whole {
                    self.set(i, None);
                }
            }
        }
    }

    /// Whether some lossy tile has been unchanged for `delay` at `now`.
    pub fn any_due(&self, now: Instant, delay: Duration) -> bool {
        self.lossy > 0
            && self
                .since
                .iter()
                .any(|s| s.is_some_and(|t| now.saturating_duration_since(t) >= delay))
    }

    /// The tiles due at `now` as rects (runs of at most 16 tiles along one tile row), top to
    /// bottom. They stay marked until [`LossyTiles::mark_exact`].
    pub fn due(&self, now: Instant, delay: Duration) -> Vec<Rect> {
        let mut out = Vec::new();
        if self.lossy == 0 {
            return out;
        }
        let due =
            |i: usize| self.since[i].is_some_and(|t| now.saturating_duration_since(t) >= delay);
        for ty in 0..self.tiles_y {
            let mut tx = 0;
            while tx < self.tiles_x {
                if !due(ty * self.tiles_x + tx) {
                    tx += 1;
                    continue;
                }
                let start = tx;
                while tx < self.tiles_x
                    && tx - start < MAX_REFRESH_RUN
                    && due(ty * self.tiles_x + tx)
                {
                    tx += 1;
                }
                let x = start * TILE;
                let x1 = (tx * TILE).min(self.width as usize);
                let y = ty * TILE;
                let y1 = ((ty + 1) * TILE).min(self.height as usize);
                out.push(Rect::new(
                    x as u16,
                    y as u16,
                    (x1 - x) as u16,
                    (y1 - y) as u16,
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = REFRESH_DELAY;

    fn tiles(w: u16, h: u16) -> LossyTiles {
        let mut t = LossyTiles::default();
        t.reset(w, h);
        t
    }

    #[test]
    fn lossy_tiles_come_due_after_the_delay_and_a_lossless_resend_clears_them() {
        let t0 = Instant::now();
        let mut t = tiles(100, 70); // 4 x 3 tiles, the last column 4 px, the last row 6 px
        assert!(t.is_exact());
        t.mark_lossy(Rect::new(32, 0, 68, 64), t0);
        assert_eq!(t.lossy_count(), 6);
        assert!(t.due(t0 + D / 2, D).is_empty(), "not before the delay");
        assert!(!t.any_due(t0 + D / 2, D));
        assert!(t.any_due(t0 + D, D));
        assert_eq!(
            t.due(t0 + D, D),
            vec![Rect::new(32, 0, 68, 32), Rect::new(32, 32, 68, 32)]
        );
        // Changed again (sent lossy again): the clock restarts for those tiles only.
        t.mark_lossy(Rect::new(64, 32, 32, 32), t0 + D / 2);
        assert_eq!(
            t.due(t0 + D, D),
            vec![
                Rect::new(32, 0, 68, 32),
                Rect::new(32, 32, 32, 32),
                Rect::new(96, 32, 4, 32)
            ]
        );
        // A lossless rect clears the tiles it covers whole, not the ones it only touches.
        t.mark_exact(Rect::new(32, 0, 68, 40));
        assert_eq!(t.lossy_count(), 3);
        assert!(t.is_lossy_at(40, 40));
        for r in t.due(t0 + 2 * D, D) {
            t.mark_exact(r);
        }
        assert!(t.is_exact());
        // A new size (or a key frame for everyone) starts exact.
        t.mark_lossy(Rect::new(0, 0, 10, 10), t0);
        t.ensure_size(100, 70);
        assert_eq!(t.lossy_count(), 1);
        t.ensure_size(120, 70);
        assert!(t.is_exact());
    }

    #[test]
    fn refresh_rects_are_runs_of_at_most_sixteen_tiles() {
        let t0 = Instant::now();
        let mut t = tiles(1920, 40);
        t.mark_lossy(Rect::new(0, 0, 1920, 40), t0);
        let due = t.due(t0 + D, D);
        assert_eq!(due.len(), 8, "60 tiles a row: 16 + 16 + 16 + 12, two rows");
        assert!(due.iter().all(|r| r.w as usize <= 16 * TILE && r.h <= 32));
        let covered: usize = due.iter().map(|r| r.area()).sum();
        assert_eq!(covered, 1920 * 40);
    }

    #[test]
    fn copies_carry_lossiness_to_their_destination() {
        let t0 = Instant::now();
        let t1 = t0 + D;
        // A lossy photo in tiles (0..2, 0..2); the copy moves it right by 64 px and down by
        // 10 px (not tile-aligned): destinations partly covered keep their own state.
        let mut t = tiles(256, 128);
        t.mark_lossy(Rect::new(0, 0, 64, 64), t0);
        t.mark_lossy(Rect::new(192, 96, 32, 32), t0); // lossy, and covered whole by the copy
        let m = Move {
            x: 64,
            y: 10,
            w: 160,
            h: 118,
            dx: -64,
            dy: -10,
        };
        t.apply_move(&m, t1);
        // From lossy sources: tiles of x 64..128, y 0..96 (rows 10..74 come from 0..64).
        for (x, y) in [(64, 10), (100, 40), (127, 70), (64, 95)] {
            assert!(t.is_lossy_at(x, y), "({x}, {y}) got lossy pixels");
        }
        // From exact sources, covered whole: exact now (was lossy).
        assert!(!t.is_lossy_at(200, 100));
        // The source stays as it was (the copy does not change it).
        assert!(t.is_lossy_at(0, 0) && t.is_lossy_at(40, 40));
        // Destinations count from the move: not due before t1 + D.
        let due = t.due(t1 + D / 2, D);
        assert!(due.iter().all(|r| r.x < 64), "{due:?}");
        assert!(t.due(t1 + D, D).iter().any(|r| r.x == 64));
        // A copy of exact pixels over a lossy tile covered only in part leaves it lossy.
        let mut t = tiles(128, 128);
        t.mark_lossy(Rect::new(64, 64, 32, 32), t0);
        t.apply_move(
            &Move {
                x: 70,
                y: 64,
                w: 26,
                h: 32,
                dx: -70,
                dy: -64,
            },
            t1,
        );
        assert!(t.is_lossy_at(64, 64));
        // ... and covered whole, it becomes exact.
        t.apply_move(
            &Move {
                x: 64,
                y: 64,
                w: 32,
                h: 32,
                dx: -64,
                dy: -64,
            },
            t1,
        );
        assert!(t.is_exact());
    }
}
