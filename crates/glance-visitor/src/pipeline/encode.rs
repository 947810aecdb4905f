//! Turns changed rects of a picture into frame-update payloads: one frame may span several
//! messages (each under the protocol's size limit), the last flagged FINAL. Photographic
//! pieces go as JPEG (see [`super::lossy`]); the tiles they cover are remembered and re-sent
//! losslessly in a later delta once unchanged (see [`super::refresh`]).
//!
//! Lossless rects compress against history: one DEFLATE stream per session (the stream
//! encodings), started afresh by every key frame for everyone. A REFRESH_ONLY key frame (for
//! late joiners and agents that fell behind; agents in step never see it) stays out of the
//! stream and the delta after it starts a new one, so every agent that applies a delta has
//! the same history as the encoder.

use std::time::Instant;

use glance_protocol::update::{
    UpdateWriter, FLAG_FINAL, FLAG_KEY, FLAG_REFRESH_ONLY, FLAG_STREAM_RESET,
};
use glance_protocol::{Encoding, Rect, RectEncoder};

use super::lossy::{self, JpegEncoder, QUALITY_MAX, REFRESH_BUDGET_MAX};
use super::refresh::{LossyTiles, REFRESH_DELAY};
use super::scroll::Move;
use crate::capture::FrameBuf;

/// What the encoder has produced so far (tests and benchmarks read it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EncodeStats {
    /// JPEG rects and their data bytes.
    pub jpeg_rects: u64,
    pub jpeg_bytes: u64,
    /// Rects re-sent losslessly because they had been sent as JPEG, and their data bytes.
    pub refresh_rects: u64,
    pub refresh_bytes: u64,
}

/// Encodes frames with reusable buffers.
#[derive(Debug)]
pub struct FrameEncoder {
    rects: RectEncoder,
    jpeg: JpegEncoder,
    seq: u32,
    /// JPEG quality for photographic pieces; `None`: everything lossless.
    pub quality: Option<u8>,
    /// Lossless refresh bytes allowed in one delta frame (at least one rect always goes).
    pub refresh_budget: usize,
    tiles: LossyTiles,
    stats: EncodeStats,
    /// Lossless rects as the stream encodings (off: each rect compressed on its own).
    pub streaming: bool,
    /// zlib level of the stream, taken at each reset.
    pub stream_level: u32,
    /// The stream must start afresh at the next frame every agent applies.
    stream_reset_due: bool,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        FrameEncoder {
            rects: RectEncoder::new(1),
            jpeg: JpegEncoder::default(),
            seq: 0,
            quality: Some(QUALITY_MAX),
            refresh_budget: REFRESH_BUDGET_MAX,
            tiles: LossyTiles::default(),
            stats: EncodeStats::default(),
            streaming: true,
            stream_level: glance_protocol::update::DEFAULT_STREAM_LEVEL,
            stream_reset_due: true,
        }
    }
}

/// The messages of one frame being built.
struct Batch<'o> {
    w: UpdateWriter,
    flags: u8,
    seq: u32,
    width: u16,
    height: u16,
    out: &'o mut Vec<Vec<u8>>,
}

impl Batch<'_> {
    fn push(&mut self, rect: Rect, enc: Encoding, data: &[u8]) {
        if !self.w.is_empty() && !self.w.has_room(data.len()) {
            // `flags` lack STREAM_RESET: only the frame's first message carries it.
            let next = UpdateWriter::new(self.flags, self.seq, self.width, self.height);
            let full = std::mem::replace(&mut self.w, next);
            self.out.push(full.finish());
        }
        self.w.push(rect, enc, data);
    }

    fn finish(mut self) {
        let flags = self.w.flags();
        self.w.set_flags(flags | FLAG_FINAL);
        self.out.push(self.w.finish());
    }
}

impl FrameEncoder {
    /// Encodes `rects` of `frame` as one frame with `flags` (FINAL is added to the last
    /// message) and appends the payloads to `out`.
    pub fn encode(&mut self, frame: &FrameBuf, rects: &[Rect], flags: u8, out: &mut Vec<Vec<u8>>) {
        self.encode_frame(frame, &[], rects, flags, Instant::now(), out)
    }

    /// As [`FrameEncoder::encode`], with copy operations first (applied by agents before the
    /// rects).
    pub fn encode_with_moves(
        &mut self,
        frame: &FrameBuf,
        moves: &[Move],
        rects: &[Rect],
        flags: u8,
        out: &mut Vec<Vec<u8>>,
    ) {
        self.encode_frame(frame, moves, rects, flags, Instant::now(), out)
    }

    /// Encodes one frame at time `now`: the copies, then `rects` (photographic pieces as JPEG
    /// when [`FrameEncoder::quality`] is set), then, in a delta, the lossy tiles due for their
    /// lossless refresh, within [`FrameEncoder::refresh_budget`].
    pub fn encode_frame(
        &mut self,
        frame: &FrameBuf,
        moves: &[Move],
        rects: &[Rect],
        flags: u8,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) {
        self.seq = self.seq.wrapping_add(1);
        let key = flags & FLAG_KEY != 0;
        // Who applies this frame: every agent, except for a REFRESH_ONLY key frame, which
        // agents in step skip (what it sends losslessly changes nothing for them).
        let for_all = flags & FLAG_REFRESH_ONLY == 0;
        if key && for_all {
            self.tiles.reset(frame.width, frame.height);
        } else {
            self.tiles.ensure_size(frame.width, frame.height);
        }
        let mut first_flags = flags;
        if !self.streaming {
            self.rects.set_streaming(false);
            self.stream_reset_due = true;
        } else if !for_all {
            // Self-contained rects; agents in step never see this frame.
            self.rects.set_streaming(false);
            self.stream_reset_due = true;
        } else {
            if key || self.stream_reset_due {
                self.rects.set_stream_level(self.stream_level);
                self.rects.reset_stream();
                first_flags |= FLAG_STREAM_RESET;
                self.stream_reset_due = false;
            }
            self.rects.set_streaming(true);
        }
        let view = frame.view();
        let mut batch = Batch {
            w: UpdateWriter::new(first_flags, self.seq, frame.width, frame.height),
            flags,
            seq: self.seq,
            width: frame.width,
            height: frame.height,
            out,
        };
        for m in moves {
            let (sx, sy) = m.src();
            let mut src = [0u8; 4];
            src[..2].copy_from_slice(&sx.to_be_bytes());
            src[2..].copy_from_slice(&sy.to_be_bytes());
            batch.push(m.rect(), Encoding::Copy, &src);
            self.tiles.apply_move(m, now);
        }
        let pieces = match self.quality {
            Some(_) => lossy::split(frame, rects),
            None => rects.iter().map(|&r| (r, false)).collect(),
        };
        for (r, photo) in pieces {
            if let (true, Some(q)) = (photo, self.quality) {
                // Few colours after all (a dithered or palette picture): lossless is better.
                if let Some((enc, data)) = self.rects.encode_few_colours(&view, r) {
                    batch.push(r, enc, data);
                    if for_all {
                        self.tiles.mark_exact(r);
                    }
                    continue;
                }
                match self.jpeg.encode(frame, r, q) {
                    Ok(data) => {
                        self.stats.jpeg_rects += 1;
                        self.stats.jpeg_bytes += data.len() as u64;
                        batch.push(r, Encoding::Jpeg, data);
                        self.tiles.mark_lossy(r, now);
                        continue;
                    }
                    Err(e) => log::debug!("JPEG of {r:?} failed ({e}); sent losslessly"),
                }
            }
            let (enc, data) = self.rects.encode_rect(&view, r);
            batch.push(r, enc, data);
            if for_all {
                self.tiles.mark_exact(r);
            }
        }
        if !key {
            let mut spent = 0;
            for r in self.tiles.due(now, REFRESH_DELAY) {
                if spent >= self.refresh_budget {
                    break;
                }
                let (enc, data) = self.rects.encode_rect(&view, r);
                spent += data.len();
                self.stats.refresh_rects += 1;
                self.stats.refresh_bytes += data.len() as u64;
                batch.push(r, enc, data);
                self.tiles.mark_exact(r);
            }
        }
        batch.finish();
    }

    /// Encodes the whole picture.
    pub fn encode_full(&mut self, frame: &FrameBuf, flags: u8, out: &mut Vec<Vec<u8>>) {
        self.encode_full_at(frame, flags, Instant::now(), out)
    }

    /// Encodes the whole picture at time `now`.
    pub fn encode_full_at(
        &mut self,
        frame: &FrameBuf,
        flags: u8,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) {
        let bands = full_frame_rects(frame.width, frame.height);
        self.encode_frame(frame, &[], &bands, flags, now, out);
    }

    /// Whether some lossy tile is due for its lossless refresh at `now`.
    pub fn refresh_due(&self, now: Instant) -> bool {
        self.tiles.any_due(now, REFRESH_DELAY)
    }

    /// The agents' lossy tiles.
    pub fn lossy_tiles(&self) -> &LossyTiles {
        &self.tiles
    }

    /// Totals since this encoder was made.
    pub fn stats(&self) -> EncodeStats {
        self.stats
    }
}

/// The whole display as horizontal bands of 32 rows.
pub fn full_frame_rects(width: u16, height: u16) -> Vec<Rect> {
    (0..height)
        .step_by(32)
        .map(|y| Rect::new(0, y, width, 32.min(height - y)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glance_protocol::update::{FrameUpdate, FLAG_KEY};
    use glance_protocol::Framebuffer;

    #[test]
    fn big_noisy_frame_splits_and_reconstructs() {
        let mut f = FrameBuf::default();
        f.reshape(1500, 1000);
        let mut x = 0x1234_5678u32;
        for b in f.data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let mut out = Vec::new();
        // Lossless: noise would otherwise go as JPEG.
        let mut e = FrameEncoder {
            quality: None,
            ..Default::default()
        };
        e.encode_full(&f, FLAG_KEY, &mut out);
        assert!(out.len() > 1, "4.5 MB of noise needs several messages");
        let mut fb = Framebuffer::new();
        for (i, m) in out.iter().enumerate() {
            assert!(m.len() < glance_protocol::limits::MAX_BINARY_LEN);
            let u = FrameUpdate::parse(m).unwrap();
            assert_eq!(u.is_final(), i == out.len() - 1);
            assert!(u.is_key());
            fb.apply(&u).unwrap();
        }
        assert!(fb.equals_bgrx(&f.view()));
        assert_eq!(fb.frames, 1);
    }
}
