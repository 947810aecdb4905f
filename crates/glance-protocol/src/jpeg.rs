//! JPEG rects (encoding 4): the header check every receiver does before decoding, and the
//! decoder of the Rust agent ([`decode_rgb`], zune-jpeg underneath). Only what the visitor
//! sends is accepted: baseline sequential JPEG (SOF0), 8-bit, one (grey) or three (YCbCr)
//! components, exactly the rect's size. Anything else is refused with an [`UpdateError`],
//! never a panic.

use crate::update::UpdateError;

/// What a JPEG's frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegHeader {
    pub width: u16,
    pub height: u16,
    /// 1 (greyscale) or 3 (YCbCr).
    pub components: u8,
}

fn bad(why: &'static str) -> UpdateError {
    UpdateError::BadJpeg(why)
}

/// Walks the markers up to the frame header (SOF) and checks it: SOI first and EOI last (so a
/// truncated JPEG is refused by every decoder alike), SOF0 (baseline) before any scan,
/// precision 8, 1 or 3 components, a height given in the header (not 0).
pub fn parse_header(data: &[u8]) -> Result<JpegHeader, UpdateError> {
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(bad("no start-of-image marker"));
    }
    if data.len() < 4 || !data.ends_with(&[0xFF, 0xD9]) {
        return Err(bad("no end-of-image marker at the end"));
    }
    let mut at = 2;
    loop {
        if *data
            .get(at)
            .ok_or(bad("truncated before the frame header"))?
            != 0xFF
        {
            return Err(bad("marker expected"));
        }
        // Fill bytes: any number of 0xFF before the marker code.
        while data.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = *data
            .get(at + 1)
            .ok_or(bad("truncated before the frame header"))?;
        at += 2;
        match marker {
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8..=0xDA => return Err(bad("no frame header before the image data")),
            0x00 => return Err(bad("marker expected")),
            _ => {}
        }
        let len = data
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or(bad("truncated before the frame header"))?;
        if len < 2 {
            return Err(bad("segment length below 2"));
        }
        let seg = data
            .get(at + 2..at + len)
            .ok_or(bad("truncated before the frame header"))?;
        match marker {
            0xC0 => {
                if seg.len() < 6 {
                    return Err(bad("short frame header"));
                }
                if seg[0] != 8 {
                    return Err(bad("sample precision is not 8 bits"));
                }
                let height = u16::from_be_bytes([seg[1], seg[2]]);
                let width = u16::from_be_bytes([seg[3], seg[4]]);
                let components = seg[5];
                if components != 1 && components != 3 {
                    return Err(bad("not 1 or 3 components"));
                }
                if height == 0 || width == 0 {
                    return Err(bad("zero width or height in the frame header"));
                }
                return Ok(JpegHeader {
                    width,
                    height,
                    components,
                });
            }
            // Every other start-of-frame: progressive, lossless, arithmetic, 12-bit, ...
            0xC1..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(bad("not a baseline JPEG"))
            }
            _ => at += len,
        }
    }
}

/// Decodes a JPEG rect of `w` x `h` pixels into packed RGB (w*h*3 bytes). The header is
/// checked first, so nothing is allocated for a JPEG of another size.
pub fn decode_rgb(data: &[u8], w: u16, h: u16) -> Result<Vec<u8>, UpdateError> {
    let hd = parse_header(data)?;
    if (hd.width, hd.height) != (w, h) {
        return Err(UpdateError::JpegSize {
            got_w: hd.width,
            got_h: hd.height,
            want_w: w,
            want_h: h,
        });
    }
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(w as usize)
        .set_max_height(h as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let want = w as usize * h as usize * 3;
    // The decoder is third-party code fed with bytes from the network: should it ever panic
    // on a corrupt stream, that is one more corrupt update, not a crashed agent.
    let decoded = std::panic::catch_unwind(|| {
        let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
        let mut out = vec![0u8; want];
        d.decode_into(&mut out).map(|_| (out, d.dimensions()))
    });
    match decoded {
        Ok(Ok((out, Some(dims)))) if dims == (w as usize, h as usize) => Ok(out),
        Ok(Ok(_)) => Err(bad("decoded size differs from the frame header")),
        Ok(Err(e)) => Err(UpdateError::CorruptJpeg(format!("{e:?}"))),
        Err(_) => Err(bad("the decoder failed on corrupt data")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::{Encoding, FrameUpdate, Framebuffer, Rect, UpdateWriter};
    use crate::update::{FLAG_FINAL, FLAG_KEY};

    /// A smooth RGB picture (what JPEG is for).
    fn smooth(w: u16, h: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h as u32 {
            for x in 0..w as u32 {
                v.extend_from_slice(&[
                    (40 + x * 150 / w as u32) as u8,
                    (200 - y * 120 / h as u32) as u8,
                    ((x + y) * 100 / (w as u32 + h as u32) + 60) as u8,
                ]);
            }
        }
        v
    }

    fn jpeg(
        rgb: &[u8],
        w: u16,
        h: u16,
        setup: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, 90);
        setup(&mut e);
        e.encode(rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    fn apply_one(w: u16, h: u16, rect: Rect, data: &[u8]) -> Result<Framebuffer, UpdateError> {
        let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, w, h);
        wr.push(rect, Encoding::Jpeg, data);
        let bytes = wr.finish();
        let mut fb = Framebuffer::new();
        fb.apply(&FrameUpdate::parse(&bytes)?)?;
        Ok(fb)
    }

    #[test]
    fn jpeg_rect_decodes_close_to_the_source_and_only_inside_the_rect() {
        let (w, h) = (37u16, 21u16);
        let rgb = smooth(w, h);
        for sub in [
            jpeg_encoder::SamplingFactor::F_1_1,
            jpeg_encoder::SamplingFactor::F_2_2,
        ] {
            let data = jpeg(&rgb, w, h, |e| e.set_sampling_factor(sub));
            assert_eq!(
                parse_header(&data).unwrap(),
                JpegHeader {
                    width: w,
                    height: h,
                    components: 3
                }
            );
            // Placed at (5, 3) of a 50x30 display: the rest stays white.
            let fb = apply_one(50, 30, Rect::new(5, 3, w, h), &data).unwrap();
            let mut worst = 0;
            for y in 0..30usize {
                for x in 0..50usize {
                    let p = &fb.rgba[(y * 50 + x) * 4..(y * 50 + x) * 4 + 4];
                    assert_eq!(p[3], 255);
                    let inside =
                        (5..5 + w as usize).contains(&x) && (3..3 + h as usize).contains(&y);
                    if !inside {
                        assert_eq!(p, [255, 255, 255, 255], "({x}, {y}) outside the rect");
                        continue;
                    }
                    let s = ((y - 3) * w as usize + (x - 5)) * 3;
                    for c in 0..3 {
                        worst = worst.max((p[c] as i32 - rgb[s + c] as i32).abs());
                    }
                }
            }
            assert!(worst <= 12, "{sub:?}: largest error {worst}");
        }
    }

    #[test]
    fn grey_jpeg_gives_grey_pixels() {
        let (w, h) = (16u16, 9u16);
        let luma: Vec<u8> = (0..w as usize * h as usize)
            .map(|i| (i * 3) as u8)
            .collect();
        let mut data = Vec::new();
        jpeg_encoder::Encoder::new(&mut data, 95)
            .encode(&luma, w, h, jpeg_encoder::ColorType::Luma)
            .unwrap();
        assert_eq!(parse_header(&data).unwrap().components, 1);
        let fb = apply_one(w, h, Rect::new(0, 0, w, h), &data).unwrap();
        for p in fb.rgba.chunks_exact(4) {
            assert!(p[0] == p[1] && p[1] == p[2], "{p:?}");
        }
    }

    #[test]
    fn refuses_other_sizes_and_non_baseline_jpegs() {
        let (w, h) = (20u16, 10u16);
        let data = jpeg(&smooth(w, h), w, h, |_| {});
        assert_eq!(
            apply_one(30, 30, Rect::new(0, 0, 21, 10), &data).unwrap_err(),
            UpdateError::JpegSize {
                got_w: 20,
                got_h: 10,
                want_w: 21,
                want_h: 10
            }
        );
        assert!(matches!(
            apply_one(30, 30, Rect::new(0, 0, 0, 0), &data),
            Err(UpdateError::JpegSize { .. })
        ));
        let progressive = jpeg(&smooth(w, h), w, h, |e| e.set_progressive(true));
        assert_eq!(
            apply_one(w, h, Rect::new(0, 0, w, h), &progressive).unwrap_err(),
            UpdateError::BadJpeg("not a baseline JPEG")
        );
        assert_eq!(
            apply_one(w, h, Rect::new(0, 0, w, h), &[]).unwrap_err(),
            UpdateError::BadJpeg("no start-of-image marker")
        );
        assert_eq!(
            apply_one(w, h, Rect::new(0, 0, w, h), &data[..data.len() - 1]).unwrap_err(),
            UpdateError::BadJpeg("no end-of-image marker at the end")
        );
        assert_eq!(
            apply_one(
                w,
                h,
                Rect::new(0, 0, w, h),
                b"\xFF\xD8\xFF\xDA\x00\x02\xFF\xD9"
            )
            .unwrap_err(),
            UpdateError::BadJpeg("no frame header before the image data")
        );
        // A 12-bit frame header.
        let mut twelve = data.clone();
        let sof = twelve.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        twelve[sof + 4] = 12;
        assert_eq!(
            apply_one(w, h, Rect::new(0, 0, w, h), &twelve).unwrap_err(),
            UpdateError::BadJpeg("sample precision is not 8 bits")
        );
    }

    /// `data` without its first segment with marker `m`.
    fn without_segment(data: &[u8], m: u8) -> Vec<u8> {
        let at = data.windows(2).position(|w| w == [0xFF, m]).unwrap();
        let len = u16::from_be_bytes([data[at + 2], data[at + 3]]) as usize;
        [&data[..at], &data[at + 2 + len..]].concat()
    }

    #[test]
    fn undecodable_jpegs_are_refused() {
        let (w, h) = (16u16, 16u16);
        let data = jpeg(&smooth(w, h), w, h, |_| {});
        // No quantisation tables.
        assert!(matches!(
            decode_rgb(&without_segment(&data, 0xDB), w, h),
            Err(UpdateError::CorruptJpeg(_))
        ));
        // The scan names a component the frame lacks.
        let mut bad = data.clone();
        let sos = bad.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
        bad[sos + 5] = 9;
        assert!(matches!(
            decode_rgb(&bad, w, h),
            Err(UpdateError::CorruptJpeg(_))
        ));
    }

    #[test]
    fn truncated_or_damaged_jpegs_are_errors_never_panics() {
        let (w, h) = (48u16, 32u16);
        let data = jpeg(&smooth(w, h), w, h, |_| {});
        assert!(decode_rgb(&data, w, h).is_ok());
        // Every truncation.
        for n in 0..data.len() - 1 {
            assert!(
                decode_rgb(&data[..n], w, h).is_err(),
                "truncated to {n} bytes"
            );
        }
        // Random damage: whatever the decoder makes of it, a result comes back.
        let mut x = 0x2545_F491u32;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..2000 {
            let mut d = data.clone();
            for _ in 0..1 + rnd() % 4 {
                let i = rnd() as usize % d.len();
                d[i] = rnd() as u8;
            }
            if let Ok(rgb) = decode_rgb(&d, w, h) {
                assert_eq!(rgb.len(), w as usize * h as usize * 3);
            }
        }
    }
}
