//! The macOS backend: displays through CoreGraphics ([`displays`]), capture through
//! ScreenCaptureKit ([`sck`], behind the Screen Recording permission of [`permission`]), the
//! pointer through Quartz Event Services ([`cursor`]), IdentifyMonitors windows through
//! AppKit ([`identify`]) and remote-control input through CGEvent ([`input`], behind the
//! Accessibility permission).
//!
//! Compiled and type-checked, not run: no Mac in CI. `scripts/cross-mac.sh` runs `cargo check`
//! and `cargo clippy -D warnings` for aarch64-apple-darwin and x86_64-apple-darwin on Linux;
//! every call was reviewed against Apple's documentation (cited in each module), but none has
//! executed. See docs/MACOS.md.

pub mod cursor;
pub mod displays;
pub mod identify;
pub mod input;
pub mod permission;
pub mod sck;

pub use cursor::MacCursorSource;
pub use displays::MacDisplay;
pub use sck::SckCapturer;

use crate::{Backend, CaptureError, Capturer, CursorSource, DisplayDesc, InputInjector};

/// The macOS backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct MacBackend;

impl Backend for MacBackend {
    fn name(&self) -> &'static str {
        "screencapturekit"
    }

    fn displays(&self) -> Result<Vec<DisplayDesc>, CaptureError> {
        Ok(displays::list()?.iter().map(MacDisplay::desc).collect())
    }

    fn open_capturer(&self, desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError> {
        Ok(Box::new(SckCapturer::open(displays::resolve(desc)?)?))
    }

    fn open_cursor(&self, desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError> {
        Ok(Box::new(MacCursorSource::open(displays::resolve(desc)?)))
    }

    fn identify(&self, displays: Vec<DisplayDesc>) -> Result<(), CaptureError> {
        identify::identify(displays)
    }

    fn open_injector(&self, desc: &DisplayDesc) -> Result<Box<dyn InputInjector>, CaptureError> {
        Ok(Box::new(input::MacInjector::open(displays::resolve(
            desc,
        )?)?))
    }
}
