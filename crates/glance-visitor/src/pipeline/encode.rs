//! Turns changed rects of a picture into frame-update payloads: one frame may span several
//! messages (each under the protocol's size limit), the last flagged FINAL.

use glance_protocol::update::{UpdateWriter, FLAG_FINAL};
use glance_protocol::{Encoding, Rect, RectEncoder};

use super::scroll::Move;
use crate::capture::FrameBuf;

/// Encodes frames with reusable buffers.
#[derive(Debug)]
pub struct FrameEncoder {
    rects: RectEncoder,
    seq: u32,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        FrameEncoder {
            rects: RectEncoder::new(1),
            seq: 0,
        }
    }
}

impl FrameEncoder {
    /// Encodes `rects` of `frame` as one frame with `flags` (FINAL is added to the last
    /// message) and appends the payloads to `out`.
    pub fn encode(&mut self, frame: &FrameBuf, rects: &[Rect], flags: u8, out: &mut Vec<Vec<u8>>) {
        self.encode_with_moves(frame, &[], rects, flags, out)
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
        self.seq = self.seq.wrapping_add(1);
        let view = frame.view();
        let mut w = UpdateWriter::new(flags, self.seq, frame.width, frame.height);
        for m in moves {
            let (sx, sy) = m.src();
            let mut src = [0u8; 4];
            src[..2].copy_from_slice(&sx.to_be_bytes());
            src[2..].copy_from_slice(&sy.to_be_bytes());
            w.push(m.rect(), Encoding::Copy, &src);
        }
        for r in rects {
            let (enc, data) = self.rects.encode_rect(&view, *r);
            if !w.is_empty() && !w.has_room(data.len()) {
                let full = std::mem::replace(
                    &mut w,
                    UpdateWriter::new(flags, self.seq, frame.width, frame.height),
                );
                out.push(full.finish());
            }
            w.push(*r, enc, data);
        }
        w.set_flags(flags | FLAG_FINAL);
        out.push(w.finish());
    }

    /// Encodes the whole picture.
    pub fn encode_full(&mut self, frame: &FrameBuf, flags: u8, out: &mut Vec<Vec<u8>>) {
        let bands = full_frame_rects(frame.width, frame.height);
        self.encode(frame, &bands, flags, out);
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
        FrameEncoder::default().encode_full(&f, FLAG_KEY, &mut out);
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
