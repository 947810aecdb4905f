//! The synthetic display as a [`Backend`]: one primary monitor named
//! [`crate::displays::SYNTHETIC_NAME`], its scripted pointer, and IdentifyMonitors painted into
//! its picture; its on-screen notices are recorded ([`SyntheticDisplay::indicators`]).

use super::SyntheticDisplay;
use crate::displays::SYNTHETIC_NAME;
use crate::{
    Backend, CaptureError, Capturer, CursorSource, DisplayDesc, DisplayKind, Indicator,
    InputInjector,
};

impl Backend for SyntheticDisplay {
    fn name(&self) -> &'static str {
        "synthetic"
    }

    fn displays(&self) -> Result<Vec<DisplayDesc>, CaptureError> {
        if !self.is_plugged() {
            // Unplugged: no monitor at all (GetDisplayCount 0).
            return Ok(Vec::new());
        }
        let (width, height) = self.size();
        Ok(vec![DisplayDesc {
            name: SYNTHETIC_NAME.into(),
            kind: DisplayKind::Monitor,
            primary: true,
            x: 0,
            y: 0,
            width,
            height,
        }])
    }

    fn open_capturer(&self, _desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError> {
        self.check_plugged()?;
        if self.opens_refused() {
            return Err(CaptureError::Open(
                "the synthetic display refuses to be captured (SyntheticDisplay::refuse_opens)"
                    .into(),
            ));
        }
        Ok(Box::new(self.capturer()))
    }

    fn open_cursor(&self, _desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError> {
        self.check_plugged()?;
        Ok(Box::new(self.cursor_source()))
    }

    fn identify(&self, _displays: Vec<DisplayDesc>) -> Result<(), CaptureError> {
        crate::identify::identify_synthetic_async(self)
    }

    fn show_indicator(
        &self,
        _desc: &DisplayDesc,
        text: &str,
    ) -> Result<Box<dyn Indicator>, CaptureError> {
        self.check_plugged()?;
        Ok(Box::new(self.indicator(text)))
    }

    /// The synthetic display is painted by this process: one window of its own, the whole
    /// display.
    fn open_windows(&self) -> Result<Box<dyn crate::WindowSource>, CaptureError> {
        Ok(Box::new(OwnDisplay(self.clone())))
    }

    fn open_injector(&self, _desc: &DisplayDesc) -> Result<Box<dyn InputInjector>, CaptureError> {
        self.check_plugged()?;
        Ok(Box::new(self.injector()))
    }
}

/// The synthetic display's one window: the whole display at its current size, owned by this
/// process.
struct OwnDisplay(SyntheticDisplay);

impl crate::WindowSource for OwnDisplay {
    fn stack(&mut self, out: &mut Vec<crate::TopWindow>) -> Result<(), CaptureError> {
        let (w, h) = self.0.size();
        out.clear();
        out.push(crate::TopWindow {
            id: 0,
            rect: crate::Rect {
                x: 0,
                y: 0,
                w: w as u32,
                h: h as u32,
            },
            pid: Some(std::process::id()),
        });
        Ok(())
    }

    fn window_rect(&mut self, _id: u64) -> Result<Option<crate::Rect>, CaptureError> {
        Ok(None)
    }
}
