//! The mask stage's cost per 1080p frame against memcmp of the frame, measured in the same
//! run: applying the fill of three masked rectangles (display mode), of an application with
//! one 1200 x 800 window and a window above it (application mode: about half the frame filled),
//! and computing the fill plan of a 40-window desktop (done only when geometry changes).

use std::hint::black_box;

use glance_visitor::capture::FrameBuf;
use glance_visitor::pipeline::mask::{FillPlan, Layer};
use serde_json::{json, Map, Value};

use crate::{desktop, time_ms};

/// The figures this part writes.
pub const KEYS: &[&str] = &[
    "memcmp_1080p_ms",
    "mask_rects_1080p_ms",
    "mask_rects_1080p_ratio",
    "mask_app_1080p_ms",
    "mask_app_1080p_ratio",
    "mask_app_1080p_filled",
    "mask_plan_40_windows_ms",
];

fn layer(x0: u32, y0: u32, x1: u32, y1: u32, allowed: bool) -> Layer {
    Layer {
        x0,
        y0,
        x1,
        y1,
        allowed,
    }
}

pub fn measure(out: &mut Map<String, Value>, reps: usize) {
    let a = desktop(1920, 1080, 30).snapshot();
    let b = a.clone();
    let memcmp = time_ms(reps, || {
        black_box(black_box(&a.data) == black_box(&b.data));
    });
    out.insert("memcmp_1080p_ms".into(), json!(memcmp));
    let mut f: FrameBuf = a.clone();

    let mut rects = FillPlan::default();
    rects.compute(
        1920,
        1080,
        true,
        &[
            layer(100, 100, 500, 160, false),
            layer(800, 600, 1200, 700, false),
            layer(1500, 40, 1900, 90, false),
        ],
    );
    let ms = time_ms(reps, || rects.apply(black_box(&mut f)));
    out.insert("mask_rects_1080p_ms".into(), json!(ms));
    out.insert("mask_rects_1080p_ratio".into(), json!(ms / memcmp));

    let mut app = FillPlan::default();
    app.compute(
        1920,
        1080,
        false,
        &[
            layer(0, 0, 1920, 1080, false),
            layer(300, 150, 1500, 950, true),
            layer(1200, 700, 1700, 1000, false),
        ],
    );
    let ms = time_ms(reps, || app.apply(black_box(&mut f)));
    out.insert("mask_app_1080p_ms".into(), json!(ms));
    out.insert("mask_app_1080p_ratio".into(), json!(ms / memcmp));
    out.insert(
        "mask_app_1080p_filled".into(),
        json!(app.filled_pixels() as f64 / (1920.0 * 1080.0)),
    );

    let windows: Vec<Layer> = (0..40u32)
        .map(|i| {
            let (x, y) = ((i * 97) % 1500, (i * 61) % 800);
            layer(x, y, x + 400, y + 250, i % 3 == 0)
        })
        .collect();
    let mut plan = FillPlan::default();
    let ms = time_ms(reps, || {
        plan.compute(1920, 1080, false, black_box(&windows))
    });
    out.insert("mask_plan_40_windows_ms".into(), json!(ms));
}
