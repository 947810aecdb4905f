//! The X11 backend (Linux): RandR monitors, MIT-SHM/GetImage capture with DAMAGE and window
//! move hints ([`capture`]), the windows and their owners ([`windows`]), the pointer through XFixes ([`cursor`]), and IdentifyMonitors
//! windows ([`identify`]).

pub mod capture;
pub mod cursor;
pub mod identify;
pub mod indicator;
pub mod input;
pub mod windows;

pub use capture::{list_monitors, X11Capturer};
pub use cursor::X11CursorSource;

use crate::{Backend, CaptureError, Capturer, CursorSource, DisplayDesc, InputInjector};

/// The X display named `display` (`None`: `$DISPLAY`).
#[derive(Debug, Clone, Default)]
pub struct X11Backend {
    pub display: Option<String>,
}

impl Backend for X11Backend {
    fn name(&self) -> &'static str {
        "x11"
    }

    fn displays(&self) -> Result<Vec<DisplayDesc>, CaptureError> {
        capture::list_monitors(self.display.as_deref())
    }

    fn open_capturer(&self, desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError> {
        Ok(Box::new(X11Capturer::open(self.display.as_deref(), desc)?))
    }

    fn open_cursor(&self, desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError> {
        Ok(Box::new(X11CursorSource::open(
            self.display.as_deref(),
            desc,
        )?))
    }

    fn identify(&self, displays: Vec<DisplayDesc>) -> Result<(), CaptureError> {
        identify::identify(self.display.clone(), displays)
    }

    fn show_indicator(
        &self,
        desc: &DisplayDesc,
        text: &str,
    ) -> Result<Box<dyn crate::Indicator>, CaptureError> {
        Ok(Box::new(indicator::X11Indicator::show(
            self.display.as_deref(),
            desc,
            text,
        )?))
    }

    fn open_windows(&self) -> Result<Box<dyn crate::WindowSource>, CaptureError> {
        Ok(Box::new(windows::X11Windows::open(
            self.display.as_deref(),
        )?))
    }

    fn open_injector(&self, desc: &DisplayDesc) -> Result<Box<dyn InputInjector>, CaptureError> {
        Ok(Box::new(input::X11Injector::open(
            self.display.as_deref(),
            desc,
        )?))
    }
}
