//! A deterministic synthetic display: a desktop-like picture (background, title bar, a
//! terminal window with text) that tests change step by step. The same steps always give the
//! same pixels, so a test can compare what an agent rebuilt with [`SyntheticDisplay::snapshot`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{CaptureError, Capturer, FrameBuf};

mod backend;
mod input;

pub use input::{Injected, InputLog};

/// A shared handle: clones see the same picture.
#[derive(Debug, Clone)]
pub struct SyntheticDisplay {
    inner: Arc<Mutex<FrameBuf>>,
    /// The scripted pointer ([`SyntheticDisplay::set_cursor`]); never drawn into the picture.
    pub(super) cursor: Arc<Mutex<super::cursor::SyntheticPointer>>,
    /// Bumped by every change, so a capturer can skip an unchanged picture (the synthetic
    /// counterpart of X11's damage events).
    generation: Arc<AtomicU64>,
    /// What remote control injected, in order ([`SyntheticDisplay::injected`]).
    pub(super) input: Arc<Mutex<input::InputLog>>,
    /// False while the display is "unplugged" ([`SyntheticDisplay::unplug`]).
    plugged: Arc<AtomicBool>,
    /// Opening a capturer fails ([`SyntheticDisplay::refuse_opens`]).
    refuse_open: Arc<AtomicBool>,
}

/// 5x7 glyph rows for a few characters; other characters get a pattern from their code.
fn glyph(c: u8) -> [u8; 7] {
    match c {
        b' ' => [0; 7],
        b'$' => [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04],
        b'>' => [0x10, 0x08, 0x04, 0x02, 0x04, 0x08, 0x10],
        _ => {
            let mut g = [0u8; 7];
            for (i, row) in g.iter_mut().enumerate() {
                *row = (c.wrapping_mul(31).wrapping_add(i as u8 * 17) ^ (c >> 1)) & 0x1F;
            }
            g
        }
    }
}

impl SyntheticDisplay {
    /// A new display showing the step-0 desktop.
    pub fn new(width: u16, height: u16) -> SyntheticDisplay {
        let mut f = FrameBuf::default();
        f.reshape(width.max(16), height.max(16));
        let d = SyntheticDisplay {
            inner: Arc::new(Mutex::new(f)),
            cursor: Arc::default(),
            generation: Arc::new(AtomicU64::new(0)),
            input: Arc::default(),
            plugged: Arc::new(AtomicBool::new(true)),
            refuse_open: Arc::default(),
        };
        d.paint_desktop();
        d
    }

    fn lock(&self) -> MutexGuard<'_, FrameBuf> {
        // A poisoned lock only means a test panicked while drawing; the pixels are still valid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock for a change: bumps the generation.
    fn lock_mut(&self) -> MutexGuard<'_, FrameBuf> {
        let g = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        g
    }

    pub fn size(&self) -> (u16, u16) {
        let f = self.lock();
        (f.width, f.height)
    }

    /// A copy of the current picture.
    pub fn snapshot(&self) -> FrameBuf {
        self.lock().clone()
    }

    /// Fills a rect (clipped to the display) with an RGB colour.
    pub fn fill_rect(&self, x: u16, y: u16, w: u16, h: u16, rgb: [u8; 3]) {
        let mut f = self.lock_mut();
        fill(&mut f, x, y, w, h, rgb);
    }

    /// Draws `text` with the built-in 5x7 font, 2x scaled, at (x, y).
    pub fn draw_text(&self, x: u16, y: u16, text: &str, fg: [u8; 3]) {
        let mut f = self.lock_mut();
        for (i, c) in text.bytes().enumerate() {
            let g = glyph(c);
            for (gy, row) in g.iter().enumerate() {
                for gx in 0..5u16 {
                    if row & (0x10 >> gx) != 0 {
                        fill(
                            &mut f,
                            x + (i as u16 * 12) + gx * 2,
                            y + gy as u16 * 2,
                            2,
                            2,
                            fg,
                        );
                    }
                }
            }
        }
    }

    /// Copies a rect of `from` (a snapshot of this display) back into the picture.
    pub fn restore_rect(&self, from: &FrameBuf, x: u16, y: u16, w: u16, h: u16) {
        let mut f = self.lock_mut();
        if f.width != from.width || f.height != from.height {
            return;
        }
        let x1 = (x as usize + w as usize).min(f.width as usize);
        for yy in y as usize..(y as usize + h as usize).min(f.height as usize) {
            let s = yy * f.stride + x as usize * 4;
            let e = yy * f.stride + x1 * 4;
            f.data[s..e].copy_from_slice(&from.data[s..e]);
        }
    }

    /// Scrolls the rect up by `dy` pixels, filling the exposed strip with `bg`.
    pub fn scroll_up(&self, x: u16, y: u16, w: u16, h: u16, dy: u16, bg: [u8; 3]) {
        let mut f = self.lock_mut();
        let (x, y) = (x.min(f.width), y.min(f.height));
        let w = w.min(f.width - x) as usize;
        let h = h.min(f.height - y);
        let dy = dy.min(h);
        let stride = f.stride;
        for row in y..y + h - dy {
            let dst = row as usize * stride + x as usize * 4;
            let src = (row + dy) as usize * stride + x as usize * 4;
            f.data.copy_within(src..src + w * 4, dst);
        }
        fill(&mut f, x, y + h - dy, w as u16, dy, bg);
    }

    /// Paints a photograph-like picture into a rect (clipped to the display): soft shapes and
    /// gradients from a few octaves of value noise, plus fine grain, so that neighbouring
    /// pixels almost never repeat, as in a camera picture. `seed` picks the picture.
    pub fn paint_photo(&self, x: u16, y: u16, w: u16, h: u16, seed: u32) {
        let mut f = self.lock_mut();
        let x1 = (x as usize + w as usize).min(f.width as usize);
        let y1 = (y as usize + h as usize).min(f.height as usize);
        for py in y as usize..y1 {
            for px in x as usize..x1 {
                let mut c = [0u8; 3];
                for (ch, v) in c.iter_mut().enumerate() {
                    let s = seed.wrapping_mul(7).wrapping_add(ch as u32 * 131);
                    let mut sum = 0.0f32;
                    let mut amp = 0.5f32;
                    let mut period = 128.0f32;
                    for o in 0..6 {
                        sum += amp * value_noise(px as f32 / period, py as f32 / period, s + o);
                        amp *= 0.55;
                        period /= 2.0;
                    }
                    let grain = (lattice(px as i32, py as i32, s ^ 0xA5A5) - 0.5) * 3.0;
                    *v = (sum * 240.0 + grain + 10.0).clamp(0.0, 255.0) as u8;
                }
                let i = py * f.stride + px * 4;
                f.data[i..i + 4].copy_from_slice(&[c[2], c[1], c[0], 0xFF]);
            }
        }
    }

    /// Changes the display size and repaints the desktop.
    pub fn resize(&self, width: u16, height: u16) {
        self.lock_mut().reshape(width.max(16), height.max(16));
        self.paint_desktop();
    }

    fn paint_desktop(&self) {
        let (w, h) = self.size();
        {
            let mut f = self.lock_mut();
            // a gradient background, like a wallpaper
            for y in 0..h {
                for x in 0..w {
                    let i = y as usize * f.stride + x as usize * 4;
                    let px = [
                        (60 + (x as u32 * 80 / w as u32)) as u8,
                        (40 + (y as u32 * 60 / h as u32)) as u8,
                        30,
                        0xFF,
                    ];
                    f.data[i..i + 4].copy_from_slice(&px);
                }
            }
        }
        // a panel at the top and a terminal window
        self.fill_rect(0, 0, w, 24, [40, 40, 48]);
        self.draw_text(8, 5, "Glance synthetic display", [220, 220, 220]);
        let (tx, ty, tw, th) = self.terminal_rect();
        self.fill_rect(tx, ty - 20, tw, 20, [70, 70, 90]);
        self.draw_text(tx + 6, ty - 17, "terminal", [240, 240, 240]);
        self.fill_rect(tx, ty, tw, th, [16, 16, 16]);
    }

    /// The terminal window's text area.
    pub fn terminal_rect(&self) -> (u16, u16, u16, u16) {
        let (w, h) = self.size();
        let tx = w / 10;
        let ty = (h / 10).max(48);
        (tx, ty, w - 2 * tx, h.saturating_sub(ty + h / 10).max(32))
    }

    /// Applies deterministic change number `n`: typing a line of text into the terminal,
    /// scrolling it when full, and every fifth step moving a coloured "window".
    pub fn step(&self, n: u32) {
        let (tx, ty, tw, th) = self.terminal_rect();
        let line_h = 18u16;
        let lines = (th / line_h).max(1);
        let line = (n as u16) % lines;
        if n > 0 && line == 0 {
            self.scroll_up(tx, ty, tw, th, line_h * 3, [16, 16, 16]);
        }
        let row = if n as u16 >= lines {
            lines.saturating_sub(3) + (line % 3)
        } else {
            line
        };
        let text = format!("$ echo step {n} > out{}.txt", n % 7);
        self.draw_text(tx + 4, ty + 2 + row * line_h, &text, [180, 230, 180]);
        if n % 5 == 4 {
            let (w, h) = self.size();
            let bx = ((n * 37) % (w as u32 / 2).max(1)) as u16;
            let by = ((n * 23) % (h as u32 / 2).max(1)) as u16 + 24;
            let c = [(n * 50) as u8, (n * 90) as u8, 200];
            self.fill_rect(bx, by, w / 5, h / 6, c);
        }
    }

    /// One tick of the scripted desktop workload (benchmarks): typing a character every tick,
    /// Enter every 40 characters (the terminal scrolls when full), and a window dragged
    /// across the desktop by 6 pixels a tick for 30 of every 100 ticks.
    pub fn workload_tick(&self, i: u32) {
        let (tx, ty, tw, th) = self.terminal_rect();
        let line_h = 18u16;
        let lines = (th / line_h).max(1) as u32;
        let col = i % 40;
        let line = i / 40;
        if col == 0 && line > 0 && line >= lines {
            self.scroll_up(tx, ty, tw, th, line_h, [16, 16, 16]);
        }
        let row = line.min(lines - 1) as u16;
        let c = b"the quick brown fox jumps over the lazy dog"[(i as usize) % 43];
        let text = [c];
        let text = std::str::from_utf8(&text).unwrap_or("x");
        self.draw_text(
            tx + 4 + col as u16 * 12,
            ty + 2 + row * line_h,
            text,
            [200, 220, 200],
        );
        let phase = i % 100;
        if phase < 30 {
            let (w, h) = self.size();
            let (ww, wh) = (w / 4, h / 4);
            let y = h - wh - 10;
            let x_old = 10 + (phase.saturating_sub(1) * 6) as u16;
            let x_new = 10 + (phase * 6) as u16;
            if phase > 0 {
                // restore what the window covered, then draw it moved
                self.fill_rect(x_old, y, ww, wh, [60, 90, 70]);
            }
            self.fill_rect(x_new, y, ww, wh, [90, 110, 200]);
            self.fill_rect(x_new, y, ww, 16, [40, 50, 120]);
            self.draw_text(x_new + 4, y + 2, "window", [255, 255, 255]);
        }
    }

    /// Takes the display away, as unplugging a monitor would: it leaves the display list,
    /// and its capturers, pointer and injectors fail with [`CaptureError::Gone`] until
    /// [`SyntheticDisplay::plug`]. The picture is kept (and may still be drawn on).
    pub fn unplug(&self) {
        self.plugged.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Brings an unplugged display back.
    pub fn plug(&self) {
        self.plugged.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the display is plugged in (see [`SyntheticDisplay::unplug`]).
    pub fn is_plugged(&self) -> bool {
        self.plugged.load(Ordering::SeqCst)
    }

    /// While `refuse` is true, opening a capturer fails with [`CaptureError::Open`] although
    /// the display stays listed (a display that is there but cannot be captured).
    pub fn refuse_opens(&self, refuse: bool) {
        self.refuse_open.store(refuse, Ordering::SeqCst);
    }

    pub(crate) fn opens_refused(&self) -> bool {
        self.refuse_open.load(Ordering::SeqCst)
    }

    /// `Err(Gone)` while unplugged.
    pub(crate) fn check_plugged(&self) -> Result<(), CaptureError> {
        if self.is_plugged() {
            Ok(())
        } else {
            Err(CaptureError::Gone(crate::displays::SYNTHETIC_NAME.into()))
        }
    }

    /// A capturer reading this display.
    pub fn capturer(&self) -> SyntheticCapturer {
        SyntheticCapturer {
            display: self.clone(),
            seen: None,
        }
    }
}

/// A pseudo-random value in 0..1 for lattice point (x, y) of noise `seed`.
fn lattice(x: i32, y: i32, seed: u32) -> f32 {
    let mut v = (x as u32).wrapping_mul(0x9E37_79B1)
        ^ (y as u32).wrapping_mul(0x85EB_CA77)
        ^ seed.wrapping_mul(0xC2B2_AE3D);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v ^= v >> 12;
    (v & 0xFFFF) as f32 / 65535.0
}

/// Smooth value noise in 0..1: the lattice values interpolated with a smoothstep.
fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let (xi, yi) = (x.floor() as i32, y.floor() as i32);
    let (fx, fy) = (x - xi as f32, y - yi as f32);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let top = lattice(xi, yi, seed) + (lattice(xi + 1, yi, seed) - lattice(xi, yi, seed)) * sx;
    let bottom = lattice(xi, yi + 1, seed)
        + (lattice(xi + 1, yi + 1, seed) - lattice(xi, yi + 1, seed)) * sx;
    top + (bottom - top) * sy
}

fn fill(f: &mut FrameBuf, x: u16, y: u16, w: u16, h: u16, rgb: [u8; 3]) {
    let x1 = (x as usize + w as usize).min(f.width as usize);
    let y1 = (y as usize + h as usize).min(f.height as usize);
    let px = [rgb[2], rgb[1], rgb[0], 0xFF];
    for yy in y as usize..y1 {
        let row = yy * f.stride;
        for xx in x as usize..x1 {
            f.data[row + xx * 4..row + xx * 4 + 4].copy_from_slice(&px);
        }
    }
}

/// Captures a [`SyntheticDisplay`].
#[derive(Debug)]
pub struct SyntheticCapturer {
    display: SyntheticDisplay,
    /// The generation of the last capture.
    seen: Option<u64>,
}

impl Capturer for SyntheticCapturer {
    fn may_have_changed(&mut self) -> bool {
        self.seen != Some(self.display.generation.load(Ordering::SeqCst))
    }

    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        self.display.check_plugged()?;
        let f = self.display.lock();
        // Read under the lock: a change after this is seen by the next may_have_changed.
        self.seen = Some(self.display.generation.load(Ordering::SeqCst));
        if buf.width != f.width || buf.height != f.height {
            buf.reshape(f.width, f.height);
        }
        buf.data.copy_from_slice(&f.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_deterministic_and_change_pixels() {
        let a = SyntheticDisplay::new(320, 200);
        let b = SyntheticDisplay::new(320, 200);
        let before = a.snapshot();
        for n in 0..12 {
            a.step(n);
            b.step(n);
        }
        assert_eq!(a.snapshot(), b.snapshot());
        assert_ne!(a.snapshot(), before);
        let mut buf = FrameBuf::default();
        a.capturer().capture(&mut buf).unwrap();
        assert_eq!(buf, a.snapshot());
        a.resize(100, 50);
        let mut c = a.capturer();
        assert!(c.may_have_changed(), "nothing captured yet");
        c.capture(&mut buf).unwrap();
        assert_eq!((buf.width, buf.height), (100, 50));
        assert!(!c.may_have_changed(), "unchanged since the capture");
        let _ = a.snapshot();
        assert!(!c.may_have_changed(), "reading is not a change");
        a.step(3);
        assert!(c.may_have_changed());
        c.capture(&mut buf).unwrap();
        // Unplugged: the capture says so (and the next poll lets it), until plugged again.
        a.unplug();
        assert!(c.may_have_changed());
        assert!(c.capture(&mut buf).unwrap_err().is_gone());
        a.plug();
        c.capture(&mut buf).unwrap();
        assert_eq!(buf, a.snapshot());
    }
}
