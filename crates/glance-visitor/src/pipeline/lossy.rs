//! Lossy encoding of photographic regions: which tiles look like a photograph (the
//! classifier), the JPEG encoder for them, and the JPEG quality chosen from how hard the link
//! is pushing back (flow control). Text and UI never go lossy. The numbers and the
//! measurements behind them are in docs/DECISIONS.md.

use std::time::Duration;

use glance_protocol::Rect;
use jpeg_encoder::{ColorType, Encoder, EncodingError, SamplingFactor};

use super::diff::TILE;
use crate::capture::FrameBuf;

/// A tile is photographic when fewer than this share (in percent) of its pixels repeat their
/// left neighbour exactly. Text and UI repeat most pixels (measured on screenshots: over 50 %,
/// mostly over 90 %); photographs few (measured: under 30 % for half their tiles).
pub const MAX_REPEAT_PERCENT: usize = 30;
/// ... or when fewer than this share repeat, but the pixels that change do so in small steps
/// (see [`MIN_SMALL_STEP_PERCENT`]): the smooth, darker or out-of-focus parts of photographs.
/// Coarse gradients (a wallpaper changing every few pixels) stay above it.
pub const SMOOTH_MAX_REPEAT_PERCENT: usize = 70;
/// Smooth means: at least this share (in percent) of the pixels that differ from their left
/// neighbour differ by at most [`SMALL_STEP`] in every channel. Measured: text and UI under
/// 20 % (anti-aliased edges jump), photographs' smooth tiles nearly 100 %.
pub const MIN_SMALL_STEP_PERCENT: usize = 80;
/// See [`MIN_SMALL_STEP_PERCENT`].
pub const SMALL_STEP: u8 = 8;
/// Tiles smaller than this (slivers at the picture's right or bottom edge) are never
/// photographic: too few pixels to judge, and too small for JPEG's ~600 header bytes.
pub const MIN_PHOTO_TILE_PIXELS: usize = 256;

/// JPEG quality when the link keeps up (no waiting for acknowledgements).
pub const QUALITY_MAX: u8 = 85;
/// JPEG quality when the link is the bottleneck (the encoder keeps waiting for the window).
pub const QUALITY_MIN: u8 = 35;
/// Lossless refresh bytes per frame when the link keeps up.
pub const REFRESH_BUDGET_MAX: usize = 1 << 20;
/// Lossless refresh bytes per frame when the link is the bottleneck (a quarter of the send
/// window, so that new changes are never stuck behind a long refresh).
pub const REFRESH_BUDGET_MIN: usize = 32 * 1024;

/// Largest raw RGB size of one JPEG rect after merging (as for every rect: its encoding must
/// fit in one message).
const MAX_JPEG_RECT_RGB_BYTES: usize = 1 << 20;

/// Whether the tile `t` of `f` looks photographic (see [`MAX_REPEAT_PERCENT`] and
/// [`SMOOTH_MAX_REPEAT_PERCENT`]).
pub fn is_photographic(f: &FrameBuf, t: Rect) -> bool {
    let (w, h) = (t.w as usize, t.h as usize);
    if w * h < MIN_PHOTO_TILE_PIXELS || w < 2 {
        return false;
    }
    let rows = || {
        (t.y as usize..t.y as usize + h).map(move |y| {
            let s = y * f.stride + t.x as usize * 4;
            &f.data[s..s + w * 4]
        })
    };
    let pairs = (w - 1) * h;
    // First the repeats alone (one compare a pixel), which settle most tiles.
    let word = |p: &[u8]| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) & 0x00FF_FFFF;
    let mut repeats = 0usize;
    for row in rows() {
        repeats += row
            .chunks_exact(4)
            .zip(row[4..].chunks_exact(4))
            .map(|(a, b)| (word(a) == word(b)) as usize)
            .sum::<usize>();
    }
    if repeats * 100 < pairs * MAX_REPEAT_PERCENT {
        return true;
    }
    if repeats * 100 >= pairs * SMOOTH_MAX_REPEAT_PERCENT {
        return false;
    }
    // In between: smooth (a photograph's soft parts) or jumpy (text, UI)?
    let mut small = 0usize;
    for row in rows() {
        for (a, b) in row.chunks_exact(4).zip(row[4..].chunks_exact(4)) {
            let step = a[0]
                .abs_diff(b[0])
                .max(a[1].abs_diff(b[1]))
                .max(a[2].abs_diff(b[2]));
            small += (step != 0 && step <= SMALL_STEP) as usize;
        }
    }
    small * 100 >= (pairs - repeats) * MIN_SMALL_STEP_PERCENT
}

/// Splits `rects` into pieces that are wholly photographic or wholly not, classifying their
/// tiles (32x32, counted from each rect's corner, which is the picture's tile grid for the
/// pipeline's tile-aligned rects). A rect with no photographic tile comes back unchanged;
/// photographic pieces of the same columns in consecutive rects are merged (key frames come
/// as 32-row bands), up to 1 MiB of raw RGB each. Pieces never overlap when `rects` do not.
pub fn split(f: &FrameBuf, rects: &[Rect]) -> Vec<(Rect, bool)> {
    let mut plain = Vec::new();
    let mut photo: Vec<Rect> = Vec::new();
    let mut classes = Vec::new();
    for &r in rects {
        let (nx, ny) = ((r.w as usize).div_ceil(TILE), (r.h as usize).div_ceil(TILE));
        classes.clear();
        for ty in 0..ny {
            for tx in 0..nx {
                let (x, y) = (r.x as usize + tx * TILE, r.y as usize + ty * TILE);
                let tw = TILE.min(r.x as usize + r.w as usize - x);
                let th = TILE.min(r.y as usize + r.h as usize - y);
                classes.push(is_photographic(
                    f,
                    Rect::new(x as u16, y as u16, tw as u16, th as u16),
                ));
            }
        }
        if !classes.contains(&true) {
            plain.push((r, false));
            continue;
        }
        if !classes.contains(&false) {
            photo.push(r);
            continue;
        }
        // Runs of one class along each tile row, then runs with the same columns and class
        // in consecutive tile rows merged: (x0 tile, x1 tile, class, y px, h px).
        let mut open: Vec<(usize, usize, bool, usize, usize)> = Vec::new();
        let mut done = Vec::new();
        for ty in 0..ny {
            let y = r.y as usize + ty * TILE;
            let th = TILE.min(r.y as usize + r.h as usize - y);
            let row = &classes[ty * nx..(ty + 1) * nx];
            let mut next = Vec::new();
            let mut tx = 0;
            while tx < nx {
                let (start, c) = (tx, row[tx]);
                while tx < nx && row[tx] == c {
                    tx += 1;
                }
                match open
                    .iter()
                    .position(|o| (o.0, o.1, o.2) == (start, tx, c) && o.3 + o.4 == y)
                {
                    Some(i) => {
                        let mut o = open.swap_remove(i);
                        o.4 += th;
                        next.push(o);
                    }
                    None => next.push((start, tx, c, y, th)),
                }
            }
            done.append(&mut open);
            open = next;
        }
        done.append(&mut open);
        for (x0, x1, c, y, h) in done {
            let x = r.x as usize + x0 * TILE;
            let w = (r.x as usize + x1 * TILE).min(r.x as usize + r.w as usize) - x;
            let piece = Rect::new(x as u16, y as u16, w as u16, h as u16);
            if c {
                photo.push(piece);
            } else {
                plain.push((piece, false));
            }
        }
    }
    // Merge photographic pieces of the same columns that touch vertically.
    photo.sort_by_key(|r| (r.x, r.w, r.y));
    let mut merged: Vec<Rect> = Vec::with_capacity(photo.len());
    for r in photo {
        match merged.last_mut() {
            Some(m)
                if (m.x, m.w) == (r.x, r.w)
                    && m.y as usize + m.h as usize == r.y as usize
                    && m.w as usize * (m.h as usize + r.h as usize) * 3
                        <= MAX_JPEG_RECT_RGB_BYTES =>
            {
                m.h += r.h
            }
            _ => merged.push(r),
        }
    }
    plain.extend(merged.into_iter().map(|r| (r, true)));
    plain
}

/// Encodes rects of a picture as baseline JPEG (4:2:0), reusing its buffers.
#[derive(Debug, Default)]
pub struct JpegEncoder {
    bgrx: Vec<u8>,
    out: Vec<u8>,
}

impl JpegEncoder {
    /// `r` of `f` as a JPEG at `quality` (1..=100); the bytes borrow the encoder until the
    /// next call.
    pub fn encode(&mut self, f: &FrameBuf, r: Rect, quality: u8) -> Result<&[u8], EncodingError> {
        let (x, w) = (r.x as usize, r.w as usize);
        self.bgrx.clear();
        self.bgrx.reserve(w * r.h as usize * 4);
        for y in r.y as usize..r.y as usize + r.h as usize {
            let s = y * f.stride + x * 4;
            self.bgrx.extend_from_slice(&f.data[s..s + w * 4]);
        }
        self.out.clear();
        let mut e = Encoder::new(&mut self.out, quality.clamp(1, 100));
        // 4:2:0 at every quality: half the chroma bytes, and the refresh restores detail.
        e.set_sampling_factor(SamplingFactor::F_2_2);
        // The padding byte is read as alpha, which JPEG leaves out.
        e.encode(&self.bgrx, r.w, r.h, ColorType::Bgra)?;
        Ok(&self.out)
    }
}

/// How hard the link pushes back, 0 (it keeps up) to 1 (it is the bottleneck), from two
/// signs seen before each frame: how long the encoder waited for the link (against the frame
/// interval), and how full the send window still was (acknowledgements come in bursts, so a
/// slow link does not make every frame wait, but it keeps the window full). Smoothed over
/// frames; picks the JPEG quality and the refresh budget.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkPressure {
    pressure: f32,
}

impl LinkPressure {
    /// Weight of the newest observation.
    const ALPHA: f32 = 0.3;

    /// Records that the encoder waited `waited` for the link before this frame, against a
    /// frame interval of `interval`, and that then `window_fill` (0..1) of the send window
    /// was still unacknowledged.
    pub fn observe(&mut self, waited: Duration, interval: Duration, window_fill: f32) {
        let wait = waited.as_secs_f32() / interval.as_secs_f32().max(1e-3);
        let sample = wait.max(window_fill).clamp(0.0, 1.0);
        self.pressure += Self::ALPHA * (sample - self.pressure);
    }

    /// 0 (the link keeps up) to 1 (the link is the bottleneck).
    pub fn pressure(&self) -> f32 {
        self.pressure
    }

    /// JPEG quality: [`QUALITY_MAX`] when the link keeps up, down to [`QUALITY_MIN`].
    pub fn quality(&self) -> u8 {
        let span = (QUALITY_MAX - QUALITY_MIN) as f32;
        QUALITY_MAX - (span * self.pressure).round() as u8
    }

    /// Lossless refresh bytes for the next frame: [`REFRESH_BUDGET_MAX`] when the link keeps
    /// up, down to [`REFRESH_BUDGET_MIN`].
    pub fn refresh_budget(&self) -> usize {
        let span = (REFRESH_BUDGET_MAX - REFRESH_BUDGET_MIN) as f32;
        REFRESH_BUDGET_MAX - (span * self.pressure) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::SyntheticDisplay;

    fn frame(w: u16, h: u16, f: impl Fn(usize, usize) -> [u8; 3]) -> FrameBuf {
        let mut b = FrameBuf::default();
        b.reshape(w, h);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let c = f(x, y);
                let i = y * b.stride + x * 4;
                b.data[i..i + 4].copy_from_slice(&[c[2], c[1], c[0], 0xFF]);
            }
        }
        b
    }

    #[test]
    fn photographs_are_photographic_text_ui_and_gradients_are_not() {
        let d = SyntheticDisplay::new(640, 480);
        for n in 0..30 {
            d.step(n);
        }
        d.paint_photo(320, 224, 256, 192, 7);
        let f = d.snapshot();
        let tile = |x, y| Rect::new(x, y, 32, 32);
        // The synthetic photo.
        for (x, y) in [(320, 224), (480, 320), (544, 384)] {
            assert!(is_photographic(&f, tile(x, y)), "photo tile at ({x}, {y})");
        }
        // Wallpaper gradient, the panel with text, the terminal with text, flat fill.
        for (x, y) in [(0, 448), (0, 0), (64, 96), (96, 160), (608, 200)] {
            assert!(!is_photographic(&f, tile(x, y)), "tile at ({x}, {y})");
        }
        // Anti-aliased-looking text: a few grey levels on white.
        let text = frame(32, 32, |x, y| {
            let v = if (x / 3 + y / 5) % 4 == 0 {
                40 + (x % 3) as u8 * 60
            } else {
                255
            };
            [v, v, v]
        });
        assert!(!is_photographic(&text, tile(0, 0)));
        // A per-pixel gradient (every pixel differs from its neighbour) is photographic: zlib
        // does poorly on it, JPEG very well.
        let fine = frame(32, 32, |x, y| [(x * 7) as u8, (y * 5) as u8, (x + y) as u8]);
        assert!(is_photographic(&fine, tile(0, 0)));
        // A smooth, posterised photo area (half the pixels repeat, the rest step by 1 or 2)
        // is photographic; a wallpaper gradient changing every 6 pixels is not; neither is
        // text with many repeats whose edges jump.
        let smooth = frame(32, 32, |x, y| {
            let v = (40 + (x + y) / 2 + (x * y) % 3 / 2) as u8;
            [v, v + 3, v / 2]
        });
        assert!(is_photographic(&smooth, tile(0, 0)));
        let coarse = frame(32, 32, |x, y| [(60 + x / 6) as u8, (40 + y / 6) as u8, 30]);
        assert!(!is_photographic(&coarse, tile(0, 0)));
        let jumpy = frame(32, 32, |x, y| {
            let v = if (x / 2 + y) % 3 == 0 {
                30 + (x % 2) as u8 * 90
            } else {
                230
            };
            [v, v, v]
        });
        assert!(!is_photographic(&jumpy, tile(0, 0)));
        // Slivers are never photographic.
        assert!(!is_photographic(&f, Rect::new(320, 224, 4, 32)));
    }

    #[test]
    fn mixed_rects_split_into_photo_and_plain_pieces_covering_them_exactly() {
        let d = SyntheticDisplay::new(640, 480);
        d.paint_photo(64, 96, 128, 96, 3); // tiles x 2..6, y 3..6
        let f = d.snapshot();
        // A diff-like rect holding the photo and plain tiles around it.
        let r = Rect::new(0, 64, 320, 160);
        let pieces = split(&f, &[r]);
        let photo: Vec<Rect> = pieces.iter().filter(|p| p.1).map(|p| p.0).collect();
        assert_eq!(photo, vec![Rect::new(64, 96, 128, 96)]);
        let mut covered = vec![0u8; 640 * 480];
        for (p, _) in &pieces {
            for y in p.y..p.y + p.h {
                for x in p.x..p.x + p.w {
                    covered[y as usize * 640 + x as usize] += 1;
                }
            }
        }
        for y in 0..480 {
            for x in 0..640 {
                let inside = (r.x..r.x + r.w).contains(&x) && (r.y..r.y + r.h).contains(&y);
                assert_eq!(
                    covered[y as usize * 640 + x as usize],
                    inside as u8,
                    "({x}, {y})"
                );
            }
        }
        // Plain rects come back as they were; key-frame bands over a photo merge into one
        // JPEG rect per column span.
        assert_eq!(
            split(&f, &[Rect::new(320, 0, 64, 64)]),
            vec![(Rect::new(320, 0, 64, 64), false)]
        );
        let bands: Vec<Rect> = (96..192)
            .step_by(32)
            .map(|y| Rect::new(64, y, 128, 32))
            .collect();
        assert_eq!(split(&f, &bands), vec![(Rect::new(64, 96, 128, 96), true)]);
    }

    #[test]
    fn jpeg_of_a_photo_is_much_smaller_than_raw_and_decodes_to_its_size() {
        let d = SyntheticDisplay::new(400, 300);
        d.paint_photo(0, 0, 400, 300, 11);
        let f = d.snapshot();
        let r = Rect::new(37, 20, 203, 117);
        let mut e = JpegEncoder::default();
        let data = e.encode(&f, r, QUALITY_MAX).unwrap().to_vec();
        assert!(data.len() * 8 < r.area() * 3, "{} bytes", data.len());
        let rgb = glance_protocol::jpeg::decode_rgb(&data, r.w, r.h).unwrap();
        // Close to the source (a smooth photo at quality 85).
        let mut err = 0u64;
        for y in 0..r.h as usize {
            for x in 0..r.w as usize {
                let s = (r.y as usize + y) * f.stride + (r.x as usize + x) * 4;
                let o = (y * r.w as usize + x) * 3;
                for c in 0..3 {
                    err += (rgb[o + c] as i64 - f.data[s + 2 - c] as i64).unsigned_abs();
                }
            }
        }
        let mean = err as f64 / (r.area() * 3) as f64;
        assert!(mean < 3.0, "mean error {mean}");
        let low = e.encode(&f, r, QUALITY_MIN).unwrap().len();
        assert!(
            low < data.len(),
            "lower quality, fewer bytes: {low} vs {}",
            data.len()
        );
    }

    #[test]
    fn quality_follows_the_link() {
        let frame = Duration::from_millis(33);
        let mut p = LinkPressure::default();
        assert_eq!(
            (p.quality(), p.refresh_budget()),
            (QUALITY_MAX, REFRESH_BUDGET_MAX)
        );
        // A fast link: acknowledgements back within a millisecond or two.
        for _ in 0..50 {
            p.observe(Duration::from_millis(1), frame, 0.02);
        }
        assert!(p.quality() >= QUALITY_MAX - 2, "{}", p.quality());
        // A slow link: every frame waits longer than a frame interval.
        for _ in 0..20 {
            p.observe(Duration::from_millis(400), frame, 1.0);
        }
        assert!(p.quality() <= QUALITY_MIN + 1, "{}", p.quality());
        assert!(p.refresh_budget() < 2 * REFRESH_BUDGET_MIN);
        // Half way: in between, and it recovers once the link keeps up again.
        let mut q = LinkPressure::default();
        for _ in 0..50 {
            q.observe(frame / 2, frame, 0.1);
        }
        assert!((QUALITY_MIN + 10..=QUALITY_MAX - 10).contains(&q.quality()));
        for _ in 0..30 {
            p.observe(Duration::ZERO, frame, 0.0);
        }
        assert!(p.quality() >= QUALITY_MAX - 1);
        assert!(p.refresh_budget() > REFRESH_BUDGET_MAX - REFRESH_BUDGET_MAX / 50);
        // A slow link whose acknowledgements come in bursts: every other frame goes at once,
        // but the window stays nearly full.
        let mut b = LinkPressure::default();
        for i in 0..40 {
            let waited = if i % 2 == 0 {
                frame * 3
            } else {
                Duration::ZERO
            };
            b.observe(waited, frame, 0.9);
        }
        assert!(b.quality() <= QUALITY_MIN + 6, "{}", b.quality());
    }
}
