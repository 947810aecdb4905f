//! glance-platform: everything the visitor SDK needs from the operating system, behind one
//! seam. A [`Backend`] enumerates the displays, opens a [`Capturer`] and a [`CursorSource`]
//! for one of them, shows IdentifyMonitors and the default UI's on-screen notice, and (for
//! remote control) opens an input injector. Each platform implements it whole, in a folder of its own: [`x11`] (Linux),
//! `windows`, `macos`, and [`synthetic`] (a deterministic display for tests and headless
//! machines). Nothing platform-specific leaks above this crate, and it has no TLS or network
//! dependency, so it type-checks for every target.

pub mod apps;
pub mod capture;
pub mod cursor;
pub mod displays;
pub mod duplication;
pub mod identify;
pub mod keymap;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod synthetic;
#[cfg(windows)]
pub mod windows;
#[cfg(target_os = "linux")]
pub mod x11;

pub use apps::{AppRef, Rect, TopWindow, WindowSource};
pub use capture::{CaptureError, Capturer, DirtyRect, FrameBuf, MoveHint};
pub use cursor::{CursorSource, CursorState};
pub use displays::{DisplayDesc, DisplayKind, DisplaySource};
pub use synthetic::SyntheticDisplay;

/// How a [`CaptureError::Unsupported`] caused by a permission the user has not granted
/// begins (`"permission: ..."`); the SDK reports it as StartSession's `error=permission`.
pub const PERMISSION_PREFIX: &str = "permission:";

/// A small notice the default UI keeps on the visitor's screen while something the visitor
/// should know about goes on ("Remote control is on"). It disappears when dropped.
pub trait Indicator: Send {}

/// Remote-control input into the shared display (the remote-control issue fills the
/// platforms in).
pub trait InputInjector: Send {
    /// Injects one agent input event; coordinates are the display's captured pixels (the
    /// backend adds the monitor's origin and clamps to the monitor).
    fn inject(&mut self, event: &glance_protocol::InputEvent) -> Result<(), CaptureError>;

    /// Releases every key and button this injector holds down (control stops, the agent
    /// leaves, the session pauses or ends).
    fn release_all(&mut self);
}

/// One platform's access to its displays. See the crate documentation.
pub trait Backend: Send + Sync {
    /// A short name for logs ("x11", "gdi", "screencapturekit", "synthetic").
    fn name(&self) -> &'static str;

    /// Every display that can be shared now; the first primary one is the main monitor.
    fn displays(&self) -> Result<Vec<DisplayDesc>, CaptureError>;

    /// A capturer for `desc` (one of [`Backend::displays`]).
    fn open_capturer(&self, desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError>;

    /// The pointer over `desc`.
    fn open_cursor(&self, desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError>;

    /// IdentifyMonitors: each display's number (index + 1) shown for
    /// [`identify::IDENTIFY_DURATION`] on a thread of the backend's; returns at once.
    fn identify(&self, displays: Vec<DisplayDesc>) -> Result<(), CaptureError>;

    /// Shows `text` in a small always-on-top, click-through notice at the top right of `desc`
    /// until the returned handle is dropped.
    fn show_indicator(
        &self,
        desc: &DisplayDesc,
        text: &str,
    ) -> Result<Box<dyn Indicator>, CaptureError> {
        let _ = (desc, text);
        Err(CaptureError::Unsupported(format!(
            "on-screen notices are not available on the {} backend",
            self.name()
        )))
    }

    /// The desktop's windows (which application owns what, stacking), for sharing one
    /// application and following masked windows.
    fn open_windows(&self) -> Result<Box<dyn WindowSource>, CaptureError> {
        Err(CaptureError::Unsupported(format!(
            "listing windows is not available on the {} backend",
            self.name()
        )))
    }

    /// Remote-control input into `desc`.
    fn open_injector(&self, desc: &DisplayDesc) -> Result<Box<dyn InputInjector>, CaptureError> {
        let _ = desc;
        Err(CaptureError::Unsupported(format!(
            "remote-control input is not available on the {} backend",
            self.name()
        )))
    }
}

/// The platform's own backend; `display` names the X display on Linux (`None`: `$DISPLAY`)
/// and is ignored elsewhere.
pub fn native(display: Option<&str>) -> Box<dyn Backend> {
    #[cfg(target_os = "linux")]
    {
        Box::new(x11::X11Backend {
            display: display.map(str::to_string),
        })
    }
    #[cfg(target_os = "macos")]
    {
        let _ = display;
        Box::new(macos::MacBackend)
    }
    #[cfg(windows)]
    {
        let _ = display;
        Box::new(windows::WindowsBackend)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = display;
        Box::new(Unsupported)
    }
}

/// The backend of a platform that has none (yet): every call is a clear error.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
#[derive(Debug, Clone, Copy)]
struct Unsupported;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
impl Unsupported {
    fn error(what: &str) -> CaptureError {
        CaptureError::Unsupported(format!(
            "{what} on {} is not available in this build",
            std::env::consts::OS
        ))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
impl Backend for Unsupported {
    fn name(&self) -> &'static str {
        "none"
    }

    fn displays(&self) -> Result<Vec<DisplayDesc>, CaptureError> {
        Err(Self::error("screen capture"))
    }

    fn open_capturer(&self, _desc: &DisplayDesc) -> Result<Box<dyn Capturer>, CaptureError> {
        Err(Self::error("screen capture"))
    }

    fn open_cursor(&self, _desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError> {
        Err(Self::error("the pointer"))
    }

    fn identify(&self, _displays: Vec<DisplayDesc>) -> Result<(), CaptureError> {
        Err(Self::error("identifying monitors"))
    }
}
