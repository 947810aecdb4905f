//! IdentifyMonitors: a large number drawn on each display for a few seconds, so the user can
//! tell which index is which monitor. The number is the display's index + 1 (as operating
//! systems number monitors); GetDisplayName(n) is the display showing n + 1.
//!
//! X11: one override-redirect window a monitor, digits drawn as seven-segment bars. Synthetic:
//! the same drawing painted into the picture and restored afterwards.

use std::time::Duration;

use crate::{CaptureError, DisplaySource, FrameBuf, SyntheticDisplay};

/// How long the numbers stay.
pub const IDENTIFY_DURATION: Duration = Duration::from_secs(3);

/// Box size of the drawing.
const BOX_W: u16 = 220;
const BOX_H: u16 = 180;

/// The seven segments (a..g) lit for each digit.
fn segments(d: u8) -> [bool; 7] {
    const S: [u8; 10] = [
        0b0111111, 0b0000110, 0b1011011, 0b1001111, 0b1100110, 0b1101101, 0b1111101, 0b0000111,
        0b1111111, 0b1101111,
    ];
    let bits = S[(d % 10) as usize];
    std::array::from_fn(|i| bits & (1 << i) != 0)
}

/// Bars (x, y, w, h) relative to the box for the number `n` (1 or 2 digits).
pub fn number_bars(n: usize) -> Vec<(u16, u16, u16, u16)> {
    let digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').take(2).collect();
    let (dw, dh, t) = (60u16, 120u16, 12u16);
    let total = digits.len() as u16 * dw + (digits.len() as u16 - 1) * 20;
    let mut x0 = (BOX_W - total) / 2;
    let y0 = (BOX_H - dh) / 2;
    let mut bars = Vec::new();
    for d in digits {
        let s = segments(d);
        let half = dh / 2;
        let seg = [
            (x0, y0, dw, t),                   // a: top
            (x0 + dw - t, y0, t, half),        // b: top right
            (x0 + dw - t, y0 + half, t, half), // c: bottom right
            (x0, y0 + dh - t, dw, t),          // d: bottom
            (x0, y0 + half, t, half),          // e: bottom left
            (x0, y0, t, half),                 // f: top left
            (x0, y0 + half - t / 2, dw, t),    // g: middle
        ];
        bars.extend(seg.iter().zip(s).filter(|(_, on)| *on).map(|(r, _)| *r));
        x0 += dw + 20;
    }
    bars
}

/// Shows the numbers on every display of `source`, on a thread of its own; returns at once.
pub fn identify(source: &DisplaySource) -> Result<(), CaptureError> {
    let backend = source.backend();
    backend.identify(backend.displays()?)
}

/// The synthetic display's IdentifyMonitors: the drawing painted into its picture for
/// [`IDENTIFY_DURATION`], then restored, on a thread of its own.
pub(crate) fn identify_synthetic_async(d: &SyntheticDisplay) -> Result<(), CaptureError> {
    let d = d.clone();
    std::thread::Builder::new()
        .name("glance-identify".into())
        .spawn(move || identify_synthetic(&d))
        .map_err(|e| CaptureError::Open(e.to_string()))?;
    Ok(())
}

fn identify_synthetic(d: &SyntheticDisplay) {
    let before: FrameBuf = d.snapshot();
    let (w, h) = d.size();
    let (bx, by) = (w.saturating_sub(BOX_W) / 2, h.saturating_sub(BOX_H) / 2);
    d.fill_rect(bx, by, BOX_W, BOX_H, [32, 32, 32]);
    for (x, y, bw, bh) in number_bars(1) {
        d.fill_rect(bx + x, by + y, bw, bh, [255, 255, 255]);
    }
    std::thread::sleep(IDENTIFY_DURATION);
    d.restore_rect(&before, bx, by, BOX_W, BOX_H);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_light_the_right_segments() {
        assert_eq!(number_bars(1).len(), 2);
        assert_eq!(number_bars(8).len(), 7);
        assert_eq!(number_bars(10).len(), 2 + 6);
        for (x, y, w, h) in number_bars(88) {
            assert!(x + w <= BOX_W && y + h <= BOX_H);
        }
    }
}
