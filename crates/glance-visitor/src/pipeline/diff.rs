//! Tile diff: which 32x32 tiles changed between two pictures, and the changed region as a few
//! rectangles. Unchanged rows are skipped with one slice compare (memcmp); only rows that
//! differ are compared tile by tile, and a band stops early once all its tiles are dirty.

use glance_protocol::Rect;

use crate::capture::FrameBuf;

/// Tile edge in pixels.
pub const TILE: usize = 32;

/// Largest raw RGB size of one rect (so that an encoded rect always fits in a message).
const MAX_RECT_RGB_BYTES: usize = 1 << 20;

/// Reusable diff state for pictures of one size.
#[derive(Debug, Default)]
pub struct TileDiff {
    tiles_x: usize,
    tiles_y: usize,
    dirty: Vec<bool>,
}

impl TileDiff {
    /// Compares `prev` and `cur` (same size) and returns the changed region as rects.
    pub fn diff(&mut self, prev: &FrameBuf, cur: &FrameBuf) -> Vec<Rect> {
        let (w, h) = (cur.width as usize, cur.height as usize);
        self.tiles_x = w.div_ceil(TILE);
        self.tiles_y = h.div_ceil(TILE);
        self.dirty.clear();
        self.dirty.resize(self.tiles_x * self.tiles_y, false);
        let row_bytes = w * 4;
        for ty in 0..self.tiles_y {
            let band = &mut self.dirty[ty * self.tiles_x..(ty + 1) * self.tiles_x];
            let mut left = self.tiles_x;
            for y in ty * TILE..((ty + 1) * TILE).min(h) {
                let a = &prev.data[y * prev.stride..y * prev.stride + row_bytes];
                let b = &cur.data[y * cur.stride..y * cur.stride + row_bytes];
                if a == b {
                    continue;
                }
                for (tx, d) in band.iter_mut().enumerate() {
                    if *d {
                        continue;
                    }
                    let s = tx * TILE * 4;
                    let e = ((tx + 1) * TILE * 4).min(row_bytes);
                    if a[s..e] != b[s..e] {
                        *d = true;
                        left -= 1;
                    }
                }
                if left == 0 {
                    break;
                }
            }
        }
        self.rects(w, h)
    }

    /// Like [`TileDiff::diff`], but only inside `region`, and comparing `cur` against `prev`
    /// as it looks after `mv` (a vertical move) is applied — without copying anything. Used
    /// after move detection: `region` is the box of the first diff, outside it nothing changed.
    pub fn diff_after_move(
        &mut self,
        prev: &FrameBuf,
        cur: &FrameBuf,
        region: Rect,
        mv: &super::scroll::Move,
    ) -> Vec<Rect> {
        let (w, h) = (cur.width as usize, cur.height as usize);
        self.tiles_x = w.div_ceil(TILE);
        self.tiles_y = h.div_ceil(TILE);
        self.dirty.clear();
        self.dirty.resize(self.tiles_x * self.tiles_y, false);
        let (rx0, rx1) = (region.x as usize, (region.x + region.w) as usize);
        let (ry0, ry1) = (region.y as usize, (region.y + region.h) as usize);
        let (mx0, mx1) = (mv.x as usize, (mv.x + mv.w) as usize);
        let (my0, my1) = (mv.y as usize, (mv.y + mv.h) as usize);
        let (tx0, tx1) = (rx0 / TILE, rx1.div_ceil(TILE));
        for y in ry0..ry1 {
            let ty = y / TILE;
            let b = &cur.data[y * cur.stride..y * cur.stride + w * 4];
            let same = &prev.data[y * prev.stride..y * prev.stride + w * 4];
            // The old row the moved columns come from, shifted so that column c of `cur`
            // compares with column c + dx of the old picture.
            let moved = (my0..my1).contains(&y).then(|| {
                let sy = (y as i32 + mv.dy) as usize;
                &prev.data[sy * prev.stride..sy * prev.stride + w * 4]
            });
            let dx4 = mv.dx as isize * 4;
            for tx in tx0..tx1 {
                let d = &mut self.dirty[ty * self.tiles_x + tx];
                if *d {
                    continue;
                }
                let (s, e) = ((tx * TILE).max(rx0), ((tx + 1) * TILE).min(rx1).min(w));
                // Columns inside the move come from the moved row, the rest from the same row.
                let differs = match moved {
                    Some(m) => {
                        let (ms, me) = (s.max(mx0), e.min(mx1));
                        if ms < me {
                            let (os, oe) = ((ms * 4) as isize + dx4, (me * 4) as isize + dx4);
                            m[os as usize..oe as usize] != b[ms * 4..me * 4]
                                || same[s * 4..ms * 4] != b[s * 4..ms * 4]
                                || same[me * 4..e * 4] != b[me * 4..e * 4]
                        } else {
                            same[s * 4..e * 4] != b[s * 4..e * 4]
                        }
                    }
                    None => same[s * 4..e * 4] != b[s * 4..e * 4],
                };
                if differs {
                    *d = true;
                }
            }
        }
        self.rects(w, h)
    }

    /// Merges dirty tiles: horizontal runs per band, then runs with the same span in
    /// consecutive bands, capped so a rect's raw RGB stays under 1 MiB.
    fn rects(&self, w: usize, h: usize) -> Vec<Rect> {
        let mut done: Vec<Rect> = Vec::new();
        // open rects: (x0 tile, x1 tile, y0 px, rows px)
        let mut open: Vec<(usize, usize, usize, usize)> = Vec::new();
        for ty in 0..self.tiles_y {
            let y0 = ty * TILE;
            let bh = TILE.min(h - y0);
            let band = &self.dirty[ty * self.tiles_x..(ty + 1) * self.tiles_x];
            let mut runs = Vec::new();
            let mut tx = 0;
            while tx < self.tiles_x {
                if band[tx] {
                    let s = tx;
                    while tx < self.tiles_x && band[tx] {
                        tx += 1;
                    }
                    runs.push((s, tx));
                } else {
                    tx += 1;
                }
            }
            let mut next_open = Vec::new();
            for r in runs {
                let px_w = (r.1 * TILE).min(w) - r.0 * TILE;
                match open.iter().position(|o| (o.0, o.1) == r && o.2 + o.3 == y0) {
                    Some(i) if px_w * 3 * (open[i].3 + bh) <= MAX_RECT_RGB_BYTES => {
                        let mut o = open.swap_remove(i);
                        o.3 += bh;
                        next_open.push(o);
                    }
                    _ => next_open.push((r.0, r.1, y0, bh)),
                }
            }
            for o in open.drain(..) {
                done.push(to_rect(o, w));
            }
            open = next_open;
        }
        done.extend(open.into_iter().map(|o| to_rect(o, w)));
        done
    }
}

fn to_rect(o: (usize, usize, usize, usize), w: usize) -> Rect {
    let x = o.0 * TILE;
    let x1 = (o.1 * TILE).min(w);
    Rect::new(x as u16, o.2 as u16, (x1 - x) as u16, o.3 as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u16, h: u16) -> FrameBuf {
        let mut f = FrameBuf::default();
        f.reshape(w, h);
        f
    }

    fn set(f: &mut FrameBuf, x: usize, y: usize, v: u8) {
        let i = y * f.stride + x * 4;
        f.data[i] = v;
    }

    #[test]
    fn finds_changed_tiles_and_merges() {
        let a = frame(100, 70);
        let mut b = a.clone();
        let mut d = TileDiff::default();
        assert!(d.diff(&a, &b).is_empty());
        set(&mut b, 99, 69, 1); // last partial tile
        assert_eq!(d.diff(&a, &b), vec![Rect::new(96, 64, 4, 6)]);
        set(&mut b, 0, 0, 1);
        set(&mut b, 40, 0, 1);
        set(&mut b, 0, 40, 1);
        set(&mut b, 40, 40, 1);
        let mut r = d.diff(&a, &b);
        r.sort_by_key(|r| (r.y, r.x));
        assert_eq!(
            r,
            vec![Rect::new(0, 0, 64, 64), Rect::new(96, 64, 4, 6)],
            "2x2 tiles merge into one rect"
        );
    }

    #[test]
    fn every_changed_pixel_is_covered() {
        let a = frame(257, 131);
        let mut b = a.clone();
        let pts = [(0, 0), (256, 130), (31, 31), (32, 32), (200, 5), (7, 120)];
        for &(x, y) in &pts {
            set(&mut b, x, y, 9);
        }
        let rects = TileDiff::default().diff(&a, &b);
        for &(x, y) in &pts {
            assert!(rects
                .iter()
                .any(|r| (r.x as usize..(r.x + r.w) as usize).contains(&x)
                    && (r.y as usize..(r.y + r.h) as usize).contains(&y)));
        }
    }
}
