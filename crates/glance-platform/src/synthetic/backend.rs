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

    fn open_injector(&self, _desc: &DisplayDesc) -> Result<Box<dyn InputInjector>, CaptureError> {
        self.check_plugged()?;
        Ok(Box::new(self.injector()))
    }
}
