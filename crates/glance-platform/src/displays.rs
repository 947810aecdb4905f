//! Which displays can be shared: enumeration (GetDisplayCount, GetDisplayName,
//! GetDisplayType, GetMainMonitor) and opening a capturer for one of them.
//!
//! The source is chosen once per visitor: the synthetic display when the application asks
//! for it (Rust: [`DisplaySource::Synthetic`]; any language: the environment variable
//! `GLANCE_SYNTHETIC_DISPLAY=WIDTHxHEIGHT`), otherwise the platform's monitors. A machine with
//! no reachable display has no displays; the SDK never shares a fake screen on its own.

use crate::{Backend, CaptureError, Capturer, SyntheticDisplay};

/// The seed's display types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayKind {
    Monitor,
    Device,
}

/// One shareable display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayDesc {
    /// The name to pass as DisplayParams.displayName.
    pub name: String,
    pub kind: DisplayKind,
    pub primary: bool,
    pub x: i16,
    pub y: i16,
    pub width: u16,
    pub height: u16,
}

/// Where pixels come from.
#[derive(Debug, Clone)]
pub enum DisplaySource {
    /// A synthetic display (tests, demos on headless machines).
    Synthetic(SyntheticDisplay),
    /// The platform's monitors. On Linux: the X display of that name, or `$DISPLAY` when
    /// `None`.
    Platform(Option<String>),
}

/// Name of the synthetic display in the display list.
pub const SYNTHETIC_NAME: &str = "Synthetic";

/// Parses "WIDTHxHEIGHT".
pub fn parse_size(s: &str) -> Option<(u16, u16)> {
    let (w, h) = s.trim().split_once(['x', 'X'])?;
    let (w, h) = (w.parse::<u16>().ok()?, h.parse::<u16>().ok()?);
    (w >= 16 && h >= 16).then_some((w, h))
}

impl DisplaySource {
    /// The source for a new visitor: `GLANCE_SYNTHETIC_DISPLAY` or the platform.
    pub fn from_env() -> DisplaySource {
        match std::env::var("GLANCE_SYNTHETIC_DISPLAY")
            .ok()
            .and_then(|v| parse_size(&v))
        {
            Some((w, h)) => DisplaySource::Synthetic(SyntheticDisplay::new(w, h)),
            None => DisplaySource::Platform(None),
        }
    }

    /// The backend behind this source: the one seam every platform call goes through.
    pub fn backend(&self) -> Box<dyn Backend> {
        match self {
            DisplaySource::Synthetic(d) => Box::new(d.clone()),
            DisplaySource::Platform(d) => crate::native(d.as_deref()),
        }
    }

    /// Every display that can be shared now; the first primary one is the main monitor.
    pub fn list(&self) -> Result<Vec<DisplayDesc>, CaptureError> {
        self.backend().displays()
    }

    /// Resolves DisplayParams.displayName ("" or "main": the primary monitor).
    pub fn find(&self, name: &str) -> Result<DisplayDesc, CaptureError> {
        let list = self.list()?;
        let found = if name.is_empty() || name.eq_ignore_ascii_case("main") {
            list.iter().find(|d| d.primary).or(list.first())
        } else {
            list.iter().find(|d| d.name == name)
        };
        found
            .cloned()
            .ok_or_else(|| CaptureError::NoSuchDisplay(name.to_string()))
    }

    /// Opens a capturer for `desc`.
    pub fn open(&self, desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError> {
        self.backend().open_capturer(desc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_source_lists_one_main_display() {
        let s = DisplaySource::Synthetic(SyntheticDisplay::new(64, 32));
        let l = s.list().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(s.find("main").unwrap().width, 64);
        assert_eq!(s.find("").unwrap().name, SYNTHETIC_NAME);
        assert!(matches!(
            s.find("HDMI-9"),
            Err(CaptureError::NoSuchDisplay(_))
        ));
        assert_eq!(parse_size("640x480"), Some((640, 480)));
        assert_eq!(parse_size("1x1"), None);
        assert_eq!(parse_size("axb"), None);
    }
}
