//! The mouse pointer, beside the pixels: captured pictures never contain it (X11's GetImage
//! and MIT-SHM leave it out; the synthetic display never draws it), so it travels as its own
//! messages. A [`CursorSource`] reports where the pointer is over one display and what it
//! looks like; the session turns that into `cursor` messages and kind-3 shapes.
//!
//! Backends: the synthetic display's scripted pointer (here) and X11 with XFixes
//! (`crate::x11::cursor`).

use std::sync::MutexGuard;

use glance_protocol::CursorShape;

use crate::{CaptureError, DisplayDesc, DisplaySource, SyntheticDisplay};

/// Where the pointer is, relative to the top-left corner of the shared display, in its
/// captured pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorState {
    pub x: i32,
    pub y: i32,
    /// Over this display and shown (false when it is on another monitor or hidden).
    pub visible: bool,
    /// The source's id of the current shape (see [`CursorSource::shape`]).
    pub shape: u32,
}

/// A pointer backend for one display.
pub trait CursorSource: Send {
    /// The pointer now; `None` when nothing is known at the moment.
    fn poll(&mut self) -> Result<Option<CursorState>, CaptureError>;

    /// The image of shape `id` as the last [`CursorSource::poll`] reported it, straight-alpha
    /// RGBA (its `id` is the source's); `None` when it is no longer available.
    fn shape(&mut self, id: u32) -> Result<Option<CursorShape>, CaptureError>;

    /// The display's size in captured pixels.
    fn display_size(&self) -> (u16, u16);
}

impl DisplaySource {
    /// Opens a pointer source for `desc` (the display being shared).
    pub fn open_cursor(&self, desc: &DisplayDesc) -> Result<Box<dyn CursorSource>, CaptureError> {
        self.backend().open_cursor(desc)
    }
}

// ----- the synthetic display's pointer -----------------------------------------------------

/// The built-in shapes of the synthetic pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyntheticCursorShape {
    /// The classic arrow, hot spot at its tip (id 1).
    #[default]
    Arrow,
    /// A text I-beam, hot spot in its middle (id 2).
    IBeam,
}

const ARROW: [&str; 19] = [
    "#           ",
    "##          ",
    "#.#         ",
    "#..#        ",
    "#...#       ",
    "#....#      ",
    "#.....#     ",
    "#......#    ",
    "#.......#   ",
    "#........#  ",
    "#.........# ",
    "#......#####",
    "#...#..#    ",
    "#..##..#    ",
    "#.#  #..#   ",
    "##   #..#   ",
    "#     #..#  ",
    "      #..#  ",
    "       ##   ",
];

const IBEAM: [&str; 16] = [
    "###.###", "...#...", "...#...", "...#...", "...#...", "...#...", "...#...", "...#...",
    "...#...", "...#...", "...#...", "...#...", "...#...", "...#...", "...#...", "###.###",
];

impl SyntheticCursorShape {
    /// The id the synthetic source reports for it.
    pub fn id(self) -> u32 {
        match self {
            SyntheticCursorShape::Arrow => 1,
            SyntheticCursorShape::IBeam => 2,
        }
    }

    /// Its image: '#' black, '.' white, ' ' transparent.
    pub fn image(self) -> CursorShape {
        let (art, hot_x, hot_y): (&[&str], u16, u16) = match self {
            SyntheticCursorShape::Arrow => (&ARROW, 0, 0),
            // the I-beam's '.' are transparent too: a thin black beam
            SyntheticCursorShape::IBeam => (&IBEAM, 3, 8),
        };
        let width = art[0].len() as u16;
        let mut rgba = Vec::with_capacity(width as usize * art.len() * 4);
        for row in art {
            for c in row.bytes() {
                rgba.extend_from_slice(match (c, self) {
                    (b'#', _) => &[0, 0, 0, 255],
                    (b'.', SyntheticCursorShape::Arrow) => &[255, 255, 255, 255],
                    _ => &[0, 0, 0, 0],
                });
            }
        }
        CursorShape {
            id: self.id(),
            width,
            height: art.len() as u16,
            hot_x,
            hot_y,
            rgba,
        }
    }
}

/// The synthetic display's pointer state; hidden at (0, 0) with the arrow until a test
/// moves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyntheticPointer {
    pub x: i32,
    pub y: i32,
    pub visible: bool,
    pub shape: SyntheticCursorShape,
}

impl SyntheticDisplay {
    fn pointer(&self) -> MutexGuard<'_, SyntheticPointer> {
        // A poisoned lock only means a test panicked while moving it; the state is whole.
        self.cursor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the pointer to (x, y) (display pixels; outside the display it is not visible)
    /// and shows or hides it. Nothing is drawn into the picture.
    pub fn set_cursor(&self, x: i32, y: i32, visible: bool) {
        let mut p = self.pointer();
        (p.x, p.y, p.visible) = (x, y, visible);
    }

    /// Changes the pointer's shape.
    pub fn set_cursor_shape(&self, shape: SyntheticCursorShape) {
        self.pointer().shape = shape;
    }

    /// The pointer as last set.
    pub fn cursor(&self) -> SyntheticPointer {
        *self.pointer()
    }

    /// A pointer source reading this display's scripted pointer.
    pub fn cursor_source(&self) -> SyntheticCursorSource {
        SyntheticCursorSource {
            display: self.clone(),
            last: None,
        }
    }
}

/// Reports a [`SyntheticDisplay`]'s scripted pointer.
#[derive(Debug)]
pub struct SyntheticCursorSource {
    display: SyntheticDisplay,
    /// The shape the last poll reported.
    last: Option<SyntheticCursorShape>,
}

impl CursorSource for SyntheticCursorSource {
    fn poll(&mut self) -> Result<Option<CursorState>, CaptureError> {
        self.display.check_plugged()?;
        let p = self.display.cursor();
        let (w, h) = self.display.size();
        let inside = (0..w as i32).contains(&p.x) && (0..h as i32).contains(&p.y);
        self.last = Some(p.shape);
        Ok(Some(CursorState {
            x: p.x,
            y: p.y,
            visible: p.visible && inside,
            shape: p.shape.id(),
        }))
    }

    fn shape(&mut self, id: u32) -> Result<Option<CursorShape>, CaptureError> {
        Ok(self.last.filter(|s| s.id() == id).map(|s| s.image()))
    }

    fn display_size(&self) -> (u16, u16) {
        self.display.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_pointer_is_scripted_and_never_in_the_pixels() {
        let d = SyntheticDisplay::new(200, 100);
        let before = d.snapshot();
        let mut src = DisplaySource::Synthetic(d.clone())
            .open_cursor(&DisplaySource::Synthetic(d.clone()).find("main").unwrap())
            .unwrap();
        let s = src.poll().unwrap().unwrap();
        assert_eq!((s.x, s.y, s.visible, s.shape), (0, 0, false, 1));
        d.set_cursor(50, 60, true);
        let s = src.poll().unwrap().unwrap();
        assert_eq!((s.x, s.y, s.visible), (50, 60, true));
        assert_eq!(d.snapshot(), before, "the pointer is not drawn");
        // outside the display: not visible
        d.set_cursor(250, 60, true);
        assert!(!src.poll().unwrap().unwrap().visible);
        d.set_cursor(-1, 0, true);
        assert!(!src.poll().unwrap().unwrap().visible);
        d.set_cursor_shape(SyntheticCursorShape::IBeam);
        let s = src.poll().unwrap().unwrap();
        assert_eq!(s.shape, 2);
        assert!(src.shape(1).unwrap().is_none(), "not the current shape");
        let img = src.shape(2).unwrap().unwrap();
        img.validate().unwrap();
        assert_eq!((img.width, img.height, img.hot_x, img.hot_y), (7, 16, 3, 8));
        let arrow = SyntheticCursorShape::Arrow.image();
        arrow.validate().unwrap();
        assert_eq!(arrow.pixel(0, 0), [0, 0, 0, 255]);
        assert_eq!(arrow.pixel(1, 2), [255, 255, 255, 255]);
        assert_eq!(arrow.pixel(11, 0), [0, 0, 0, 0]);
        assert_eq!(src.display_size(), (200, 100));
    }
}
