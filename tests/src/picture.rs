//! [`Picture`]: a BGRX picture for tests to share, and its frame updates built with the
//! reference encoder (`RectEncoder`/`UpdateWriter`), split over several messages on request.

use glance_protocol::limits::MAX_BINARY_LEN;
use glance_protocol::update::{
    BgrxView, FrameUpdate, RectEncoder, UpdateWriter, FLAG_FINAL, FLAG_KEY,
};
use glance_protocol::{Framebuffer, Rect};

/// A picture: 4 bytes a pixel (B, G, R, padding), rows packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u16,
    pub height: u16,
    pub bgrx: Vec<u8>,
}

impl Picture {
    /// A picture of one colour.
    pub fn solid(width: u16, height: u16, rgb: [u8; 3]) -> Picture {
        let px = [rgb[2], rgb[1], rgb[0], 0];
        Picture {
            width,
            height,
            bgrx: px.repeat(width as usize * height as usize),
        }
    }

    /// A smooth pattern that compresses well, different for every `seed`.
    pub fn pattern(width: u16, height: u16, seed: u32) -> Picture {
        let mut p = Picture::solid(width, height, [0, 0, 0]);
        for y in 0..height as u32 {
            for x in 0..width as u32 {
                let i = (y as usize * width as usize + x as usize) * 4;
                let v = x.wrapping_mul(3) ^ y.wrapping_mul(5) ^ seed.wrapping_mul(40503);
                p.bgrx[i] = v as u8;
                p.bgrx[i + 1] = (v >> 3) as u8 ^ (seed as u8);
                p.bgrx[i + 2] = (x + y + seed) as u8;
            }
        }
        p
    }

    /// Pseudo-random pixels that barely compress (xorshift from `seed`).
    pub fn noise(width: u16, height: u16, seed: u64) -> Picture {
        let mut p = Picture::solid(width, height, [0, 0, 0]);
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for px in p.bgrx.chunks_exact_mut(4) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            px[..3].copy_from_slice(&s.to_le_bytes()[..3]);
        }
        p
    }

    /// Paints `rect` with one colour.
    pub fn fill(&mut self, rect: Rect, rgb: [u8; 3]) {
        for y in rect.y..rect.y + rect.h {
            for x in rect.x..rect.x + rect.w {
                let i = (y as usize * self.width as usize + x as usize) * 4;
                self.bgrx[i..i + 3].copy_from_slice(&[rgb[2], rgb[1], rgb[0]]);
            }
        }
    }

    /// Copies `rect` from `other` (same size) into this picture.
    pub fn copy_from(&mut self, other: &Picture, rect: Rect) {
        for y in rect.y..rect.y + rect.h {
            let s = (y as usize * self.width as usize + rect.x as usize) * 4;
            let e = s + rect.w as usize * 4;
            self.bgrx[s..e].copy_from_slice(&other.bgrx[s..e]);
        }
    }

    pub fn view(&self) -> BgrxView<'_> {
        BgrxView {
            data: &self.bgrx,
            stride: self.width as usize * 4,
            width: self.width,
            height: self.height,
        }
    }

    /// The whole picture.
    pub fn full_rect(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// A key frame: `extra` flags (e.g. REFRESH_ONLY) besides KEY, in bands of `band_rows`
    /// rows, at most `rects_per_message` rects a message (the last message has FINAL).
    pub fn key_frame(
        &self,
        extra: u8,
        seq: u32,
        band_rows: u16,
        rects_per_message: usize,
    ) -> Vec<Vec<u8>> {
        let mut rects = Vec::new();
        let mut y = 0;
        while y < self.height {
            let h = band_rows.max(1).min(self.height - y);
            rects.push(Rect::new(0, y, self.width, h));
            y += h;
        }
        self.encode(FLAG_KEY | extra, seq, &rects, rects_per_message)
    }

    /// A key frame in one message where it fits.
    pub fn key_update(&self, extra: u8, seq: u32) -> Vec<Vec<u8>> {
        self.key_frame(extra, seq, 64, usize::MAX)
    }

    /// A delta of `rects` of this picture, at most `rects_per_message` rects a message.
    pub fn delta(&self, seq: u32, rects: &[Rect], rects_per_message: usize) -> Vec<Vec<u8>> {
        self.encode(0, seq, rects, rects_per_message)
    }

    /// Encodes `rects` with `flags` (FINAL is added to the last message).
    pub fn encode(
        &self,
        flags: u8,
        seq: u32,
        rects: &[Rect],
        rects_per_message: usize,
    ) -> Vec<Vec<u8>> {
        let flags = flags & !FLAG_FINAL;
        let view = self.view();
        let mut enc = RectEncoder::new(1);
        let mut out = Vec::new();
        let mut w = UpdateWriter::new(flags, seq, self.width, self.height);
        for r in rects {
            // Encode alone first to learn its size, then move it into the message.
            let mut one = UpdateWriter::new(flags, seq, self.width, self.height);
            enc.encode(&view, *r, &mut one);
            let one = one.finish();
            let parsed = match FrameUpdate::parse(&one) {
                Ok(u) => u,
                Err(e) => panic!("the reference encoder produced a bad rect: {e}"),
            };
            let (e, data) = (parsed.rects[0].encoding, parsed.rects[0].data);
            if !w.is_empty()
                && (w.rect_count() as usize >= rects_per_message.max(1)
                    || !w.has_room(data.len())
                    || w.len() + data.len() + 13 >= MAX_BINARY_LEN - 1)
            {
                out.push(
                    std::mem::replace(
                        &mut w,
                        UpdateWriter::new(flags, seq, self.width, self.height),
                    )
                    .finish(),
                );
            }
            w.push(*r, e, data);
        }
        w.set_flags(flags | FLAG_FINAL);
        out.push(w.finish());
        out
    }

    /// Whether an agent's framebuffer shows exactly this picture.
    pub fn matches(&self, fb: &Framebuffer) -> bool {
        fb.equals_bgrx(&self.view())
    }
}
