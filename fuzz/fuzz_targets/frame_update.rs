//! Owns `FrameUpdate::parse` and `Framebuffer::apply`: the frame-update payload (kind 2)
//! that the server checks and forwards and that every agent decodes and draws, with its four
//! encodings (SOLID, ZLIB_RGB, COPY, PALETTE, JPEG, and the stream encodings ZLIB_STREAM and
//! PALETTE_STREAM, whose stream state the reference keeps by the rules of PROTOCOL.md). Checks that whatever parses re-encodes byte
//! for byte with `UpdateWriter`, that every rect lies inside the display, and that applying
//! it never panics and leaves exactly the picture (and error) a naive pixel-by-pixel
//! reference gives, whether it succeeds or fails half-way.
//!
//! Input: one setup byte (what the agent's picture holds before), then the update payload.
//! Displays over 65 536 pixels are parsed but not drawn, to keep runs fast.
#![no_main]

use glance_fuzz::Input;
use glance_protocol::update::{
    inflate_exact, peek_header, Encoding, FrameUpdate, Framebuffer, Rect, UpdateError,
    UpdateWriter, FLAG_FINAL, FLAG_KEY, FLAG_STREAM_RESET,
};
use libfuzzer_sys::fuzz_target;

/// Most pixels of a display that is drawn.
const MAX_DRAWN: usize = 1 << 16;

/// A picture of `w` x `h` with a pattern, alpha 255.
fn picture(w: u16, h: u16, seed: u8) -> Framebuffer {
    let mut rgba = Vec::with_capacity(w as usize * h as usize * 4);
    for y in 0..h {
        for x in 0..w {
            rgba.extend_from_slice(&[
                x as u8 ^ seed,
                y as u8,
                (x as u8).wrapping_add(y as u8),
                255,
            ]);
        }
    }
    Framebuffer {
        width: w,
        height: h,
        rgba,
        seq: 7,
        frames: 3,
        ..Default::default()
    }
}

fn put(fb: &mut Framebuffer, x: usize, y: usize, c: [u8; 3]) {
    let i = (y * fb.width as usize + x) * 4;
    fb.rgba[i..i + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
}

fn get(fb: &Framebuffer, x: usize, y: usize) -> [u8; 3] {
    let i = (y * fb.width as usize + x) * 4;
    [fb.rgba[i], fb.rgba[i + 1], fb.rgba[i + 2]]
}

/// The reference: what PROTOCOL.md says an agent does, one pixel at a time.
fn reference(fb: &mut Framebuffer, u: &FrameUpdate<'_>) -> Result<(), UpdateError> {
    if u.is_key() && (u.width != fb.width || u.height != fb.height || fb.rgba.is_empty()) {
        let (stream, open_frame) = (std::mem::take(&mut fb.stream), fb.open_frame);
        *fb = Framebuffer {
            width: u.width,
            height: u.height,
            rgba: vec![255; u.width as usize * u.height as usize * 4],
            seq: fb.seq,
            frames: fb.frames,
            stream,
            open_frame,
        };
    } else if fb.rgba.is_empty() {
        return Err(UpdateError::NoPicture);
    } else if (u.width, u.height) != (fb.width, fb.height) {
        return Err(UpdateError::SizeMismatch(
            u.width, u.height, fb.width, fb.height,
        ));
    }
    // The stream: reset or dropped at the first message of a frame.
    if fb.open_frame != Some(u.seq) {
        if u.flags & FLAG_STREAM_RESET != 0 {
            fb.stream.reset();
        } else if u.is_key() {
            fb.stream.invalidate();
        }
    }
    fb.open_frame = (!u.is_final()).then_some(u.seq);
    for r in &u.rects {
        let Rect { x, y, w, h } = r.rect;
        let (x, y, w, h) = (x as usize, y as usize, w as usize, h as usize);
        let pixels = (0..h).flat_map(|j| (0..w).map(move |i| (x + i, y + j)));
        match r.encoding {
            Encoding::Solid => {
                let c = [r.data[0], r.data[1], r.data[2]];
                for (px, py) in pixels {
                    put(fb, px, py, c);
                }
            }
            Encoding::ZlibRgb | Encoding::ZlibStream => {
                let rgb = if r.encoding == Encoding::ZlibStream {
                    fb.stream.inflate(r.data, w * h * 3)?
                } else {
                    inflate_exact(r.data, w * h * 3)?
                };
                for ((px, py), c) in pixels.zip(rgb.chunks_exact(3)) {
                    put(fb, px, py, [c[0], c[1], c[2]]);
                }
            }
            Encoding::Jpeg => {
                // The reference takes the decoder's pixels (decoders may differ in rounding);
                // what it checks is where they land and that failures leave the same state.
                let rgb = glance_protocol::jpeg::decode_rgb(r.data, r.rect.w, r.rect.h)?;
                assert_eq!(rgb.len(), w * h * 3, "decoded JPEG of another size");
                for ((px, py), c) in pixels.zip(rgb.chunks_exact(3)) {
                    put(fb, px, py, [c[0], c[1], c[2]]);
                }
            }
            Encoding::Palette | Encoding::PaletteStream => {
                let n = r.data[0] as usize + 1;
                let (pal, idx) = if r.encoding == Encoding::PaletteStream {
                    let all = fb.stream.inflate(&r.data[1..], 3 * n + w * h)?;
                    (all[..3 * n].to_vec(), all[3 * n..].to_vec())
                } else {
                    (
                        r.data[1..1 + 3 * n].to_vec(),
                        inflate_exact(&r.data[1 + 3 * n..], w * h)?,
                    )
                };
                for ((px, py), &i) in pixels.zip(idx.iter()) {
                    let i = i as usize;
                    if i >= n {
                        return Err(UpdateError::BadPalette);
                    }
                    put(fb, px, py, [pal[3 * i], pal[3 * i + 1], pal[3 * i + 2]]);
                }
            }
            Encoding::Copy => {
                let sx = u16::from_be_bytes([r.data[0], r.data[1]]);
                let sy = u16::from_be_bytes([r.data[2], r.data[3]]);
                let src = Rect::new(sx, sy, r.rect.w, r.rect.h);
                if !src.fits(fb.width, fb.height) {
                    return Err(UpdateError::OutOfBounds(src, fb.width, fb.height));
                }
                let (sx, sy) = (sx as usize, sy as usize);
                let taken: Vec<[u8; 3]> = (0..h)
                    .flat_map(|j| (0..w).map(move |i| (sx + i, sy + j)))
                    .map(|(px, py)| get(fb, px, py))
                    .collect();
                for ((px, py), c) in pixels.zip(taken) {
                    put(fb, px, py, c);
                }
            }
        }
    }
    fb.seq = u.seq;
    if u.is_final() {
        fb.frames += 1;
    }
    Ok(())
}

fn same(a: &Framebuffer, b: &Framebuffer) -> bool {
    (a.width, a.height, a.seq, a.frames) == (b.width, b.height, b.seq, b.frames) && a.rgba == b.rgba
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let setup = input.u8();
    let bytes = input.rest();

    let parsed = FrameUpdate::parse(bytes);
    let Ok(u) = parsed else { return };

    // Structure: header agrees with peek_header, rects fit, fixed-size data has its size.
    assert_eq!(peek_header(bytes), Ok((u.flags, u.seq, u.width, u.height)));
    for r in &u.rects {
        assert!(r.rect.fits(u.width, u.height), "{:?} outside", r.rect);
        match r.encoding {
            Encoding::Solid => assert_eq!(r.data.len(), 3),
            Encoding::Copy => assert_eq!(r.data.len(), 4),
            Encoding::Palette => assert!(r.data.len() > 3 * (r.data[0] as usize + 1)),
            Encoding::PaletteStream => assert!(!r.data.is_empty() && r.data[0] > 0),
            Encoding::ZlibRgb | Encoding::Jpeg | Encoding::ZlibStream => {}
        }
    }
    // Round trip through the writer.
    let mut w = UpdateWriter::new(u.flags, u.seq, u.width, u.height);
    for r in &u.rects {
        w.push(r.rect, r.encoding, r.data);
    }
    assert_eq!(w.finish(), bytes);

    if u.width as usize * u.height as usize > MAX_DRAWN {
        return;
    }
    let seed = setup >> 2;
    let mut fb = match setup & 3 {
        0 => Framebuffer::new(),
        // The agent holds a picture of another size.
        1 => picture(u.width, u.height.saturating_add(1).min(256), seed),
        _ => picture(u.width, u.height, seed),
    };
    // Mode 3 applies the update twice (the second time onto its own result).
    let rounds = if setup & 3 == 3 { 2 } else { 1 };
    // The reference evolves beside `fb` (a clone would lose the stream's state).
    let mut want = fb.clone();
    for _ in 0..rounds {
        let frames = fb.frames;
        let want_r = reference(&mut want, &u);
        let got_r = fb.apply(&u);
        assert_eq!(got_r, want_r);
        assert!(
            same(&fb, &want),
            "apply and the reference drew different pictures"
        );
        if fb.has_picture() {
            assert_eq!(fb.rgba.len(), fb.width as usize * fb.height as usize * 4);
            assert!(fb.rgba.chunks_exact(4).all(|p| p[3] == 255));
        }
        if got_r.is_ok() {
            assert!(fb.has_picture());
            assert_eq!(fb.seq, u.seq);
            if u.flags & FLAG_KEY != 0 {
                assert_eq!((fb.width, fb.height), (u.width, u.height));
            }
            assert_eq!(fb.frames, frames + u64::from(u.flags & FLAG_FINAL != 0));
        }
    }
});
