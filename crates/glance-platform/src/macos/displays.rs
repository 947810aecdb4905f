//! macOS displays through CoreGraphics (Quartz Display Services).
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! - `CGGetActiveDisplayList(max, list, count)`: "the displays that are active (drawable)";
//!   called once with a NULL list for the count, then with a buffer of that size.
//! - `CGDisplayBounds(id)`: the display's rectangle in the global display coordinate space
//!   (points, origin at the upper-left corner of the main display, y down).
//! - `CGMainDisplayID()`: the display with the menu bar, origin (0, 0): the primary one.
//! - The size in pixels is that of the current display mode (`CGDisplayCopyDisplayMode` +
//!   `CGDisplayModeGetPixelWidth/Height`: "the width/height in pixels of the display mode").
//!   `CGDisplayPixelsWide/High` is the fallback: on HiDPI ("Retina") modes it answers in
//!   points, so it alone would capture at half resolution. The scale factor is pixels / points.
//!
//! [`DisplayDesc`] holds the position in points (the global space, as the pointer and the
//! IdentifyMonitors windows use it) and the size in captured pixels. The name is
//! `"Display <CGDirectDisplayID>"`: unique, and stable while the display stays connected
//! (the ID of a given monitor is normally the same across reboots too).

use objc2_core_graphics::{
    CGDirectDisplayID, CGDisplayBounds, CGDisplayCopyDisplayMode, CGDisplayMode,
    CGDisplayPixelsHigh, CGDisplayPixelsWide, CGError, CGGetActiveDisplayList, CGMainDisplayID,
};

use crate::{CaptureError, DisplayDesc, DisplayKind};

/// One active display as CoreGraphics describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacDisplay {
    pub id: CGDirectDisplayID,
    /// Global position and size in points.
    pub x: f64,
    pub y: f64,
    pub points_w: f64,
    pub points_h: f64,
    /// Size in pixels (what is captured).
    pub pixels_w: usize,
    pub pixels_h: usize,
    pub primary: bool,
}

impl MacDisplay {
    /// Reads display `id` (any id; CoreGraphics answers zeros for one that is gone).
    pub fn query(id: CGDirectDisplayID) -> MacDisplay {
        let b = CGDisplayBounds(id);
        let mode = CGDisplayCopyDisplayMode(id);
        let (mut pw, mut ph) = (
            CGDisplayMode::pixel_width(mode.as_deref()),
            CGDisplayMode::pixel_height(mode.as_deref()),
        );
        if pw == 0 || ph == 0 {
            (pw, ph) = (CGDisplayPixelsWide(id), CGDisplayPixelsHigh(id));
        }
        MacDisplay {
            id,
            x: b.origin.x,
            y: b.origin.y,
            points_w: b.size.width,
            points_h: b.size.height,
            pixels_w: pw,
            pixels_h: ph,
            primary: id == CGMainDisplayID(),
        }
    }

    /// Pixels a point, horizontally (1.0 when unknown).
    pub fn scale_x(&self) -> f64 {
        if self.points_w > 0.0 {
            self.pixels_w as f64 / self.points_w
        } else {
            1.0
        }
    }

    /// Pixels a point, vertically (1.0 when unknown).
    pub fn scale_y(&self) -> f64 {
        if self.points_h > 0.0 {
            self.pixels_h as f64 / self.points_h
        } else {
            1.0
        }
    }

    /// The captured size, limited to what the protocol carries.
    pub fn pixel_size(&self) -> (u16, u16) {
        (clamp_u16(self.pixels_w), clamp_u16(self.pixels_h))
    }

    pub fn desc(&self) -> DisplayDesc {
        let (width, height) = self.pixel_size();
        DisplayDesc {
            name: display_name(self.id),
            kind: DisplayKind::Monitor,
            primary: self.primary,
            x: self.x.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16,
            y: self.y.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16,
            width,
            height,
        }
    }
}

fn clamp_u16(v: usize) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// The name of display `id` in the display list.
pub fn display_name(id: CGDirectDisplayID) -> String {
    format!("Display {id}")
}

/// The CGDirectDisplayID in a name made by [`display_name`].
pub fn parse_name(name: &str) -> Option<CGDirectDisplayID> {
    name.strip_prefix("Display ")?.parse().ok()
}

/// The IDs of the active displays.
fn active_ids() -> Result<Vec<CGDirectDisplayID>, CaptureError> {
    let mut count: u32 = 0;
    // SAFETY: CGGetActiveDisplayList's documented contract: with a NULL list it only stores
    // the number of active displays in `display_count`, a valid pointer to our u32.
    let e = unsafe { CGGetActiveDisplayList(0, std::ptr::null_mut(), &mut count) };
    if e != CGError::Success {
        return Err(CaptureError::Open(format!(
            "CGGetActiveDisplayList failed: CGError {}",
            e.0
        )));
    }
    let mut ids: Vec<CGDirectDisplayID> = vec![0; count as usize];
    let mut got: u32 = 0;
    // SAFETY: `ids` holds `count` writable elements, and CoreGraphics writes at most
    // `max_displays` (= count) IDs into it and their number into `got`.
    let e = unsafe { CGGetActiveDisplayList(count, ids.as_mut_ptr(), &mut got) };
    if e != CGError::Success {
        return Err(CaptureError::Open(format!(
            "CGGetActiveDisplayList failed: CGError {}",
            e.0
        )));
    }
    ids.truncate((got as usize).min(ids.len()));
    Ok(ids)
}

/// Every active display with a size; the main display is primary (the first if none is).
pub fn list() -> Result<Vec<MacDisplay>, CaptureError> {
    let mut out: Vec<MacDisplay> = active_ids()?
        .into_iter()
        .map(MacDisplay::query)
        .filter(|d| d.pixels_w > 0 && d.pixels_h > 0)
        .collect();
    if !out.is_empty() && !out.iter().any(|d| d.primary) {
        out[0].primary = true;
    }
    Ok(out)
}

/// The active display `desc` names.
pub fn resolve(desc: &DisplayDesc) -> Result<MacDisplay, CaptureError> {
    let id =
        parse_name(&desc.name).ok_or_else(|| CaptureError::NoSuchDisplay(desc.name.clone()))?;
    list()?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| CaptureError::NoSuchDisplay(desc.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&display_name(69733378)), Some(69733378));
        assert_eq!(parse_name("Synthetic"), None);
        assert_eq!(parse_name("Display x"), None);
    }
}
