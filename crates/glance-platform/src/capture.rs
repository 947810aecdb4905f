//! What a capturer gives: a [`FrameBuf`] of BGRX pixels (the 4th byte is padding, normalised
//! to 0xFF) with a stride, and what the platform knows about what changed: "unchanged" (change
//! notifications, pushed frames), dirty rectangles and moved rectangles (DXGI and X11 give
//! them). The pointer is never in the pixels: [`crate::cursor`] reports it.

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
    /// The platform lacks the capability, or the user has not granted it (macOS Screen
    /// Recording, for one): never shared as a black or fake screen.
    #[error("{0}")]
    Unsupported(String),
    /// The display being captured is gone (unplugged, removed from the desktop, its output
    /// lost for good): it may come back under the same name. Other errors are not expected
    /// to heal by waiting.
    #[error("the display {0:?} is gone")]
    Gone(String),
}

impl CaptureError {
    /// Whether the captured display went away (see [`CaptureError::Gone`]), as opposed to a
    /// failure of capture itself.
    pub fn is_gone(&self) -> bool {
        matches!(self, CaptureError::Gone(_))
    }
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

    /// The rectangles the last [`Capturer::capture`] may have changed, in the display's
    /// coordinates, when the platform says (DXGI's dirty rects); `None`: unknown, the whole
    /// frame may have changed. Only hints, like moves: the pipeline still compares pixels.
    fn dirty_rects(&mut self) -> Option<Vec<DirtyRect>> {
        None
    }
}

/// A rectangle the platform reports as changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyRect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
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
