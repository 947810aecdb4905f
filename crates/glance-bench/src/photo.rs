//! A photographic 1080p region: the frame that brings it, lossy (JPEG at the highest and the
//! lowest quality) against lossless, the lossless refresh that follows once it stays still,
//! and what the photo classifier costs. Bytes and milliseconds, each also as a ratio to the
//! memcmp floor of the same run.
//!
//! The photo is the synthetic display's `paint_photo` unless `--photo FILE.jpg` names a
//! baseline JPEG, whose picture is then tiled over the 1080p screen.

use std::hint::black_box;
use std::time::{Duration, Instant};

use glance_protocol::update::FrameUpdate;
use glance_protocol::{Encoding, Rect};
use glance_visitor::capture::FrameBuf;
use glance_visitor::pipeline::encode::full_frame_rects;
use glance_visitor::pipeline::refresh::REFRESH_DELAY;
use glance_visitor::pipeline::{lossy, FrameProcessor, ACTIVE_INTERVAL};
use glance_visitor::SyntheticDisplay;
use serde_json::{json, Map, Value};

use crate::{desktop, median, time_ms};

/// The keys this part writes.
pub const KEYS: &[&str] = &[
    "photo_source",
    "photo_lossless_1080p_ms",
    "photo_lossless_1080p_bytes",
    "photo_lossless_1080p_ratio",
    "photo_jpeg_q85_1080p_ms",
    "photo_jpeg_q85_1080p_bytes",
    "photo_jpeg_q85_1080p_ratio",
    "photo_jpeg_q35_1080p_ms",
    "photo_jpeg_q35_1080p_bytes",
    "photo_jpeg_q35_1080p_ratio",
    "photo_jpeg_q85_bytes_vs_lossless",
    "photo_refresh_1080p_ms",
    "photo_refresh_1080p_bytes",
    "photo_refresh_1080p_frames",
    "classify_desktop_1080p_ms",
    "classify_desktop_1080p_ratio",
    "classify_photo_1080p_ms",
    "classify_photo_1080p_ratio",
];

/// How a case prepares its processor.
type Setup = fn(&mut FrameProcessor);

/// The photo to show: a 1920x1080 BGRX picture.
fn photo_frame(file: Option<&str>, seed: u32) -> Result<FrameBuf, String> {
    let Some(path) = file else {
        let d = SyntheticDisplay::new(1920, 1080);
        d.paint_photo(0, 0, 1920, 1080, seed);
        return Ok(d.snapshot());
    };
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let hd = glance_protocol::jpeg::parse_header(&data).map_err(|e| format!("{path}: {e}"))?;
    let rgb = glance_protocol::jpeg::decode_rgb(&data, hd.width, hd.height)
        .map_err(|e| format!("{path}: {e}"))?;
    let (pw, ph) = (hd.width as usize, hd.height as usize);
    let mut f = FrameBuf::default();
    f.reshape(1920, 1080);
    // Tiled, and shifted a little per seed so that each repetition changes every pixel.
    let shift = seed as usize * 7;
    for y in 0..1080 {
        for x in 0..1920 {
            let s = (((y + shift) % ph) * pw + (x + shift) % pw) * 3;
            let d = y * f.stride + x * 4;
            f.data[d..d + 4].copy_from_slice(&[rgb[s + 2], rgb[s + 1], rgb[s], 0xFF]);
        }
    }
    Ok(f)
}

/// One repetition: a processor primed with the desktop, then the photo over the whole screen.
/// Returns (ms, bytes) of that frame, and the processor.
fn photo_frame_case(
    photo: &FrameBuf,
    setup: impl Fn(&mut FrameProcessor),
) -> (f64, f64, FrameProcessor) {
    let d = desktop(1920, 1080, 5);
    let mut p = FrameProcessor::default();
    setup(&mut p);
    let mut out = Vec::new();
    let mut cur = d.snapshot();
    p.process(&mut cur, false, false, &mut out);
    d.restore_rect(photo, 0, 0, 1920, 1080);
    let mut cur = d.snapshot();
    out.clear();
    let t = Instant::now();
    p.process(&mut cur, false, false, &mut out);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let bytes: usize = out.iter().map(|m| m.len()).sum();
    let jpeg = out.iter().any(|m| {
        FrameUpdate::parse(m).is_ok_and(|u| u.rects.iter().any(|r| r.encoding == Encoding::Jpeg))
    });
    if jpeg != p.quality().is_some() {
        eprintln!(
            "warning: lossy is {:?} but the photo frame has JPEG: {jpeg}",
            p.quality()
        );
    }
    (ms, bytes as f64, p)
}

pub fn measure(
    out: &mut Map<String, Value>,
    reps: usize,
    file: Option<&str>,
) -> Result<(), String> {
    let memcmp = out
        .get("memcmp_1080p_ms")
        .and_then(Value::as_f64)
        .unwrap_or_else(|| {
            let a = desktop(1920, 1080, 3).snapshot();
            let b = a.clone();
            time_ms(reps, || {
                black_box(black_box(&a.data) == black_box(&b.data));
            })
        });
    out.insert(
        "photo_source".into(),
        json!(file.unwrap_or("SyntheticDisplay::paint_photo")),
    );
    let photos: Vec<FrameBuf> = (0..3)
        .map(|s| photo_frame(file, s))
        .collect::<Result<_, _>>()?;
    let photo = |r: usize| &photos[r % photos.len()];
    let cases: [(&str, Setup); 3] = [
        ("lossless", |p| p.no_lossy = true),
        ("jpeg_q85", |_| {}),
        ("jpeg_q35", |p| {
            // The link is the bottleneck: the lowest quality.
            for _ in 0..50 {
                p.observe_link(Duration::from_secs(1), ACTIVE_INTERVAL, 1.0);
            }
        }),
    ];
    let mut lossless_bytes = 0.0;
    for (name, setup) in cases {
        let (mut ms, mut bytes) = (Vec::new(), Vec::new());
        for r in 0..reps + 1 {
            let (m, b, _) = photo_frame_case(photo(r), setup);
            if r > 0 {
                ms.push(m);
                bytes.push(b);
            }
        }
        let (ms, bytes) = (median(ms), median(bytes));
        out.insert(format!("photo_{name}_1080p_ms"), json!(ms));
        out.insert(format!("photo_{name}_1080p_bytes"), json!(bytes));
        out.insert(format!("photo_{name}_1080p_ratio"), json!(ms / memcmp));
        match name {
            "lossless" => lossless_bytes = bytes,
            "jpeg_q85" => {
                out.insert(
                    "photo_jpeg_q85_bytes_vs_lossless".into(),
                    json!(bytes / lossless_bytes),
                );
            }
            _ => {}
        }
    }
    // The lossless refresh once the photo stays still: all frames until exact.
    let (mut ms, mut bytes, mut frames) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..reps.min(9) + 1 {
        let (_, _, mut p) = photo_frame_case(photo(r), |_| {});
        let later = Instant::now() + REFRESH_DELAY;
        let (mut m, mut b, mut n) = (0.0, 0usize, 0usize);
        while !p.lossy_tiles().is_exact() && n < 1000 {
            let mut o = Vec::new();
            let t = Instant::now();
            p.refresh_lossy(later, &mut o);
            m += t.elapsed().as_secs_f64() * 1000.0;
            b += o.iter().map(|x| x.len()).sum::<usize>();
            n += 1;
        }
        if r > 0 {
            ms.push(m);
            bytes.push(b as f64);
            frames.push(n as f64);
        }
    }
    out.insert("photo_refresh_1080p_ms".into(), json!(median(ms)));
    out.insert("photo_refresh_1080p_bytes".into(), json!(median(bytes)));
    out.insert("photo_refresh_1080p_frames".into(), json!(median(frames)));
    // The classifier alone over a whole 1080p key frame: text and UI, then the photo.
    let bands: Vec<Rect> = full_frame_rects(1920, 1080);
    let d = desktop(1920, 1080, 30).snapshot();
    let ms = time_ms(reps, || {
        black_box(lossy::split(black_box(&d), &bands));
    });
    out.insert("classify_desktop_1080p_ms".into(), json!(ms));
    out.insert("classify_desktop_1080p_ratio".into(), json!(ms / memcmp));
    let ms = time_ms(reps, || {
        black_box(lossy::split(black_box(photo(0)), &bands));
    });
    out.insert("classify_photo_1080p_ms".into(), json!(ms));
    out.insert("classify_photo_1080p_ratio".into(), json!(ms / memcmp));
    Ok(())
}
