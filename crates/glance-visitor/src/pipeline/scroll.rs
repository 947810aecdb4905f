//! Moved-content detection (VNC's CopyRect idea): when a region scrolled vertically, find the
//! shift by matching row hashes of the new picture against the old one, and send a copy of
//! the moved band plus the newly exposed strip instead of re-encoding every pixel.
//!
//! The search runs only over the bounding box of what changed, and only when that box is
//! large enough for a copy to pay off, so typing never pays for it.

use std::collections::HashMap;

use glance_protocol::Rect;

use crate::capture::FrameBuf;

/// Fewest rows a copy must move to be worth sending.
const MIN_COPY_ROWS: usize = 24;
/// Smallest changed box (rows) worth searching.
const MIN_SEARCH_ROWS: usize = 64;

/// A detected move: the rect `x, y, w, h` of the new picture equals the rect at
/// `x+dx, y+dy` of the old one (a scroll has `dx == 0`; a dragged window has both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub x: u16,
    pub w: u16,
    pub y: u16,
    pub h: u16,
    pub dx: i32,
    pub dy: i32,
}

impl Move {
    /// The destination rect.
    pub fn rect(&self) -> Rect {
        Rect::new(self.x, self.y, self.w, self.h)
    }

    /// The source position (top-left) in the old picture.
    pub fn src(&self) -> (u16, u16) {
        (
            (self.x as i32 + self.dx) as u16,
            (self.y as i32 + self.dy) as u16,
        )
    }

    /// Whether rows match under this move, checked on the rows' hashes (every `step`-th row):
    /// the fraction of sampled rows that match.
    pub fn verify(&self, prev: &FrameBuf, cur: &FrameBuf, step: usize) -> f64 {
        let (sx, sy) = self.src();
        let (mut n, mut ok) = (0usize, 0usize);
        for i in (0..self.h as usize).step_by(step.max(1)) {
            let d = (self.y as usize + i) * cur.stride + self.x as usize * 4;
            let s = (sy as usize + i) * prev.stride + sx as usize * 4;
            let len = self.w as usize * 4;
            n += 1;
            if row_hash(&cur.data[d..d + len]) == row_hash(&prev.data[s..s + len]) {
                ok += 1;
            }
        }
        if n == 0 {
            0.0
        } else {
            ok as f64 / n as f64
        }
    }
}

fn row_hash(row: &[u8]) -> u64 {
    // Four independent multiply-xor lanes over 8-byte words (instruction-level parallelism),
    // the padding byte of each pixel masked out, folded at the end. Only every other 32-byte
    // block is read: a collision can only cost bytes, never correctness, because what is
    // left after a move is diffed and sent exactly.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    const MASK: u64 = 0x00FF_FFFF_00FF_FFFF;
    let mut h = [K, K ^ 1, K ^ 2, K ^ 3];
    for c in row.chunks_exact(32).step_by(2) {
        for (lane, w) in h.iter_mut().zip(c.chunks_exact(8)) {
            let w = u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or([0; 8])) & MASK;
            *lane = (*lane ^ w).wrapping_mul(K).rotate_left(29);
        }
    }
    let mut tail = h[0] ^ h[1].rotate_left(17) ^ h[2].rotate_left(31) ^ h[3].rotate_left(47);
    for &b in &row[row.len() - row.len() % 32..] {
        tail = (tail ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    tail
}

/// Reusable buffers for the search.
#[derive(Debug, Default)]
pub struct ScrollDetector {
    old: Vec<u64>,
    new: Vec<u64>,
    index: HashMap<u64, u32>,
    votes: HashMap<i32, u32>,
}

impl ScrollDetector {
    /// Looks for a vertical move inside `bbox` (the tile-aligned box of what changed) between
    /// `prev` and `cur`.
    pub fn detect(&mut self, prev: &FrameBuf, cur: &FrameBuf, bbox: Rect) -> Option<Move> {
        if (bbox.h as usize) < MIN_SEARCH_ROWS {
            return None;
        }
        // Narrow to the columns that really changed: a window's border or the desktop around
        // it must not spoil the row hashes.
        let bbox = exact_columns(prev, cur, bbox)?;
        let (x0, w) = (bbox.x as usize, bbox.w as usize);
        let (y0, h) = (bbox.y as usize, bbox.h as usize);
        if h < MIN_SEARCH_ROWS || w < 16 {
            return None;
        }
        let hashes = |f: &FrameBuf, out: &mut Vec<u64>| {
            out.clear();
            out.extend((y0..y0 + h).map(|y| {
                let s = y * f.stride + x0 * 4;
                row_hash(&f.data[s..s + w * 4])
            }));
        };
        hashes(prev, &mut self.old);
        hashes(cur, &mut self.new);
        // Index old rows whose hash is unique enough (first occurrence wins); skip runs of
        // identical rows (blank lines), which say nothing about the shift.
        self.index.clear();
        for (i, &hv) in self.old.iter().enumerate() {
            if i > 0 && self.old[i - 1] == hv {
                continue;
            }
            self.index.entry(hv).or_insert(i as u32);
        }
        self.votes.clear();
        for (i, &hv) in self.new.iter().enumerate() {
            if (i > 0 && self.new[i - 1] == hv) || self.old[i] == hv {
                continue;
            }
            if let Some(&j) = self.index.get(&hv) {
                let dy = j as i32 - i as i32;
                if dy != 0 {
                    *self.votes.entry(dy).or_insert(0) += 1;
                }
            }
        }
        let (&dy, &n) = self.votes.iter().max_by_key(|(dy, n)| (**n, -dy.abs()))?;
        if (n as usize) < MIN_COPY_ROWS / 4 {
            return None;
        }
        // The longest run of rows that match under this shift.
        let (mut best, mut run_start, mut run) = ((0usize, 0usize), 0usize, 0usize);
        for i in 0..h {
            let j = i as i32 + dy;
            let ok = j >= 0 && (j as usize) < h && self.new[i] == self.old[j as usize];
            if ok {
                if run == 0 {
                    run_start = i;
                }
                run += 1;
                if run > best.1 {
                    best = (run_start, run);
                }
            } else {
                run = 0;
            }
        }
        if best.1 < MIN_COPY_ROWS {
            return None;
        }
        // Only a move if the rows really differ from what is there now (not a static band).
        let moved = (best.0..best.0 + best.1).any(|i| self.new[i] != self.old[i]);
        if !moved {
            return None;
        }
        Some(Move {
            x: bbox.x,
            w: bbox.w,
            y: (y0 + best.0) as u16,
            h: best.1 as u16,
            dx: 0,
            dy,
        })
    }
}

/// `bbox` narrowed to the first and last pixel columns that differ in any of its rows. Each
/// row only searches outside the columns already known to differ, with a slice compare
/// first, so the cost is close to one memcmp of the unchanged margins.
fn exact_columns(prev: &FrameBuf, cur: &FrameBuf, bbox: Rect) -> Option<Rect> {
    let (x0, x1) = (bbox.x as usize, (bbox.x + bbox.w) as usize);
    let (mut lo, mut hi) = (x1, x0); // differing columns are lo..hi
    let differs = |p: &[u8], q: &[u8]| p[..3] != q[..3];
    for y in bbox.y as usize..(bbox.y + bbox.h) as usize {
        let a = &prev.data[y * prev.stride..y * prev.stride + x1 * 4];
        let b = &cur.data[y * cur.stride..y * cur.stride + x1 * 4];
        // Left margin x0..lo (or the whole row while nothing is known yet).
        let left_end = lo.max(x0);
        if a[x0 * 4..left_end * 4] != b[x0 * 4..left_end * 4] {
            if let Some(f) = a[x0 * 4..left_end * 4]
                .chunks_exact(4)
                .zip(b[x0 * 4..left_end * 4].chunks_exact(4))
                .position(|(p, q)| differs(p, q))
            {
                lo = x0 + f;
                hi = hi.max(lo + 1);
            }
        }
        // Right margin hi..x1.
        let right_start = hi.max(x0);
        if right_start < x1 && a[right_start * 4..] != b[right_start * 4..] {
            if let Some(l) = a[right_start * 4..]
                .chunks_exact(4)
                .zip(b[right_start * 4..].chunks_exact(4))
                .rposition(|(p, q)| differs(p, q))
            {
                hi = right_start + l + 1;
                lo = lo.min(hi - 1);
            }
        }
    }
    (lo < hi).then(|| Rect::new(lo as u16, bbox.y, (hi - lo) as u16, bbox.h))
}

/// Applies `m` to `f` as the agent will (copy from the picture as it is).
pub fn apply_move(f: &mut FrameBuf, m: &Move) {
    let row = m.w as usize * 4;
    let (sx, sy) = m.src();
    let mut tmp = Vec::with_capacity(row * m.h as usize);
    for i in 0..m.h as usize {
        let s = (sy as usize + i) * f.stride + sx as usize * 4;
        tmp.extend_from_slice(&f.data[s..s + row]);
    }
    for i in 0..m.h as usize {
        let d = (m.y as usize + i) * f.stride + m.x as usize * 4;
        f.data[d..d + row].copy_from_slice(&tmp[i * row..(i + 1) * row]);
    }
}

/// The bounding box of `rects`.
pub fn bounding_box(rects: &[Rect]) -> Option<Rect> {
    let first = rects.first()?;
    let (mut x0, mut y0) = (first.x, first.y);
    let (mut x1, mut y1) = (first.x + first.w, first.y + first.h);
    for r in rects {
        x0 = x0.min(r.x);
        y0 = y0.min(r.y);
        x1 = x1.max(r.x + r.w);
        y1 = y1.max(r.y + r.h);
    }
    Some(Rect::new(x0, y0, x1 - x0, y1 - y0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::SyntheticDisplay;
    use crate::pipeline::diff::TileDiff;

    #[test]
    fn finds_a_terminal_scroll_and_the_copy_reproduces_it() {
        let d = SyntheticDisplay::new(800, 600);
        for n in 0..40 {
            d.step(n);
        }
        let prev = d.snapshot();
        let (tx, ty, tw, th) = d.terminal_rect();
        d.scroll_up(tx, ty, tw, th, 54, [16, 16, 16]);
        d.draw_text(tx + 4, ty + th - 40, "$ new line", [200, 200, 200]);
        let cur = d.snapshot();
        let rects = TileDiff::default().diff(&prev, &cur);
        let bbox = bounding_box(&rects).unwrap();
        let m = ScrollDetector::default()
            .detect(&prev, &cur, bbox)
            .expect("a scroll");
        assert_eq!(m.dy, 54);
        assert!(
            m.h as usize > th as usize / 2,
            "most of the terminal moves: {m:?}"
        );
        let mut predicted = prev.clone();
        apply_move(&mut predicted, &m);
        // After the copy, only the exposed strip and the new text differ.
        let rest: usize = TileDiff::default()
            .diff(&predicted, &cur)
            .iter()
            .map(|r| r.area())
            .sum();
        let all: usize = rects.iter().map(|r| r.area()).sum();
        assert!(rest * 4 < all, "copy saves most pixels: {rest} of {all}");
    }

    #[test]
    fn no_move_for_typing_or_unrelated_change() {
        let d = SyntheticDisplay::new(640, 480);
        let prev = d.snapshot();
        d.step(0);
        let cur = d.snapshot();
        let rects = TileDiff::default().diff(&prev, &cur);
        let bbox = bounding_box(&rects).unwrap();
        assert_eq!(ScrollDetector::default().detect(&prev, &cur, bbox), None);
    }
}
