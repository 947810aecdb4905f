//! Screen capture behind one trait. Every backend fills a [`FrameBuf`] with BGRX pixels (the
//! 4th byte is padding, normalised to 0xFF) and a stride; nothing platform-specific leaks
//! above this module. Backends: [`synthetic`] (deterministic, for tests and headless
//! machines) and [`x11`] (Linux). [`displays`] enumerates what can be shared. The pointer is
//! not in the pixels: [`cursor`] reports it separately ([`CursorSource`]).

pub mod cursor;
pub mod displays;
pub mod identify;
pub mod synthetic;
#[cfg(target_os = "linux")]
pub mod x11;
#[cfg(target_os = "linux")]
pub mod x11_cursor;

pub use cursor::{CursorSource, CursorState};
pub use displays::{DisplayDesc, DisplayKind, DisplaySource};
pub use synthetic::SyntheticDisplay;

/// Why a capture failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open the display: {0}")]
    Open(String),
    #[error("capture failed: {0}")]
    Capture(String),
    #[error("the display's pixel format is not supported: {0}")]
    Format(String),
    #[error("no display named {0:?}")]
    NoSuchDisplay(String),
}

/// One captured picture: BGRX, `stride` bytes a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameBuf {
    pub data: Vec<u8>,
    pub stride: usize,
    pub width: u16,
    pub height: u16,
}

impl FrameBuf {
    /// Resizes to `width` x `height` with a packed stride, reusing the allocation.
    pub fn reshape(&mut self, width: u16, height: u16) {
        self.width = width;
        self.height = height;
        self.stride = width as usize * 4;
        self.data.resize(self.stride * height as usize, 0xFF);
    }

    /// A protocol view of the picture.
    pub fn view(&self) -> glance_protocol::update::BgrxView<'_> {
        glance_protocol::update::BgrxView {
            data: &self.data,
            stride: self.stride,
            width: self.width,
            height: self.height,
        }
    }
}

/// A capture backend for one display.
pub trait Capturer: Send {
    /// Captures the current picture into `buf` (reshaping it when the display size changed).
    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError>;

    /// Whether the picture may have changed since the last capture. Backends that get change
    /// notifications (X11 damage, the synthetic display's generation) answer cheaply and let
    /// an idle screen cost nearly nothing; the default says "maybe", so every poll captures.
    fn may_have_changed(&mut self) -> bool {
        true
    }

    /// Windows that moved since the previous call, in the display's coordinates, as the
    /// platform knows them (X11: top-level window geometry). Only hints: the pipeline verifies
    /// each against the pixels before sending a copy. The default knows none.
    fn move_hints(&mut self) -> Vec<MoveHint> {
        Vec::new()
    }
}

/// A window that moved: the rect `x, y, w, h` (old position, display coordinates) now stands
/// at `x + dx, y + dy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveHint {
    pub x: i32,
    pub y: i32,
    pub w: u16,
    pub h: u16,
    pub dx: i32,
    pub dy: i32,
}
