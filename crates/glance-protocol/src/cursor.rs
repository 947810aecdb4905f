//! The mouse pointer, sent as its own messages rather than drawn into the shared pixels: a
//! kind-3 binary message carries a cursor *shape* (an RGBA image with a hot spot, named by a
//! u32 id) and the `cursor` control message carries the position, visibility and the id of
//! the current shape.
//!
//! Shape layout (all integers big-endian):
//!
//! ```text
//! u32 id | u16 width | u16 height | u16 hot_x | u16 hot_y | width*height*4 bytes RGBA
//! ```
//!
//! RGBA is straight (not premultiplied) alpha, rows top to bottom. Width and height are 1 to
//! [`MAX_CURSOR_DIM`]; the hot spot lies inside the image.

use crate::limits::{MAX_CURSOR_DIM, MAX_DISPLAY_DIM};

/// Bytes of the shape header.
pub const SHAPE_HEADER_LEN: usize = 12;
/// The largest shape payload.
pub const MAX_SHAPE_LEN: usize =
    SHAPE_HEADER_LEN + MAX_CURSOR_DIM as usize * MAX_CURSOR_DIM as usize * 4;

/// Why a cursor shape or position was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    #[error("cursor shape truncated: {0} bytes, at least {SHAPE_HEADER_LEN} needed")]
    Truncated(usize),
    #[error("cursor shape of {0}x{1} is out of range (1 to {MAX_CURSOR_DIM} each)")]
    BadSize(u16, u16),
    #[error("cursor hot spot ({0},{1}) lies outside the {2}x{3} shape")]
    BadHotSpot(u16, u16, u16, u16),
    #[error("cursor shape pixels of {got} bytes where {want} were expected")]
    BadLength { got: usize, want: usize },
    #[error("cursor position ({0},{1}) is beyond the largest display")]
    BadPosition(u16, u16),
}

/// A cursor shape: straight-alpha RGBA, `width * height * 4` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorShape {
    pub id: u32,
    pub width: u16,
    pub height: u16,
    pub hot_x: u16,
    pub hot_y: u16,
    pub rgba: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The header fields of a shape payload, checked against the payload's length. The server
/// uses this to validate and route a shape without copying its pixels.
pub fn peek_shape(b: &[u8]) -> Result<(u32, u16, u16), CursorError> {
    if b.len() < SHAPE_HEADER_LEN {
        return Err(CursorError::Truncated(b.len()));
    }
    let id = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (width, height) = (be16(b, 4), be16(b, 6));
    let (hot_x, hot_y) = (be16(b, 8), be16(b, 10));
    if width == 0 || height == 0 || width > MAX_CURSOR_DIM || height > MAX_CURSOR_DIM {
        return Err(CursorError::BadSize(width, height));
    }
    if hot_x >= width || hot_y >= height {
        return Err(CursorError::BadHotSpot(hot_x, hot_y, width, height));
    }
    let want = SHAPE_HEADER_LEN + width as usize * height as usize * 4;
    if b.len() != want {
        return Err(CursorError::BadLength {
            got: b.len() - SHAPE_HEADER_LEN,
            want: want - SHAPE_HEADER_LEN,
        });
    }
    Ok((id, width, height))
}

impl CursorShape {
    /// Parses and checks a kind-3 payload.
    pub fn parse(b: &[u8]) -> Result<CursorShape, CursorError> {
        let (id, width, height) = peek_shape(b)?;
        Ok(CursorShape {
            id,
            width,
            height,
            hot_x: be16(b, 8),
            hot_y: be16(b, 10),
            rgba: b[SHAPE_HEADER_LEN..].to_vec(),
        })
    }

    /// Checks sizes, hot spot and pixel length.
    pub fn validate(&self) -> Result<(), CursorError> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 || w > MAX_CURSOR_DIM || h > MAX_CURSOR_DIM {
            return Err(CursorError::BadSize(w, h));
        }
        if self.hot_x >= w || self.hot_y >= h {
            return Err(CursorError::BadHotSpot(self.hot_x, self.hot_y, w, h));
        }
        let want = w as usize * h as usize * 4;
        if self.rgba.len() != want {
            return Err(CursorError::BadLength {
                got: self.rgba.len(),
                want,
            });
        }
        Ok(())
    }

    /// The kind-3 payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SHAPE_HEADER_LEN + self.rgba.len());
        out.extend_from_slice(&self.id.to_be_bytes());
        for v in [self.width, self.height, self.hot_x, self.hot_y] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.rgba);
        out
    }

    /// The RGBA pixel at (x, y).
    pub fn pixel(&self, x: u16, y: u16) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// Checks the fields of a `cursor` control message: positions are display pixels, so below
/// the largest display dimension.
pub fn validate_position(x: u16, y: u16) -> Result<(), CursorError> {
    if x >= MAX_DISPLAY_DIM || y >= MAX_DISPLAY_DIM {
        return Err(CursorError::BadPosition(x, y));
    }
    Ok(())
}

/// Converts one premultiplied ARGB pixel (X11's XFixes cursor images: alpha in the top byte)
/// to straight RGBA.
pub fn premultiplied_argb_to_rgba(p: u32) -> [u8; 4] {
    let a = (p >> 24) & 0xFF;
    if a == 0 {
        return [0, 0, 0, 0];
    }
    let un = |c: u32| ((c * 255 + a / 2) / a).min(255) as u8;
    [
        un((p >> 16) & 0xFF),
        un((p >> 8) & 0xFF),
        un(p & 0xFF),
        a as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(w: u16, h: u16) -> CursorShape {
        CursorShape {
            id: 7,
            width: w,
            height: h,
            hot_x: 1,
            hot_y: 2,
            rgba: (0..w as usize * h as usize * 4).map(|i| i as u8).collect(),
        }
    }

    #[test]
    fn round_trip() {
        let s = shape(5, 3);
        let b = s.encode();
        assert_eq!(b.len(), SHAPE_HEADER_LEN + 60);
        assert_eq!(&b[..4], &[0, 0, 0, 7]);
        assert_eq!(CursorShape::parse(&b).unwrap(), s);
        assert_eq!(peek_shape(&b).unwrap(), (7, 5, 3));
        assert_eq!(s.pixel(1, 0), [4, 5, 6, 7]);
        let big = shape(MAX_CURSOR_DIM, MAX_CURSOR_DIM).encode();
        assert_eq!(big.len(), MAX_SHAPE_LEN);
        assert!(CursorShape::parse(&big).is_ok());
    }

    #[test]
    fn malformed_shapes_are_refused() {
        let good = shape(4, 4).encode();
        assert_eq!(CursorShape::parse(&[]), Err(CursorError::Truncated(0)));
        assert_eq!(
            CursorShape::parse(&good[..11]),
            Err(CursorError::Truncated(11))
        );
        // pixels missing, one byte short, one byte extra
        assert!(matches!(
            CursorShape::parse(&good[..12]),
            Err(CursorError::BadLength { got: 0, want: 64 })
        ));
        assert!(matches!(
            CursorShape::parse(&good[..good.len() - 1]),
            Err(CursorError::BadLength { .. })
        ));
        let mut extra = good.clone();
        extra.push(0);
        assert!(matches!(
            CursorShape::parse(&extra),
            Err(CursorError::BadLength { .. })
        ));
        // sizes: zero and over the limit
        for (w, h) in [(0, 4), (4, 0), (MAX_CURSOR_DIM + 1, 1), (1, 300)] {
            let mut b = good.clone();
            b[4..6].copy_from_slice(&u16::to_be_bytes(w));
            b[6..8].copy_from_slice(&u16::to_be_bytes(h));
            assert_eq!(
                CursorShape::parse(&b),
                Err(CursorError::BadSize(w, h)),
                "{w}x{h}"
            );
        }
        // a hot spot outside the image
        let mut b = good.clone();
        b[8..10].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(
            CursorShape::parse(&b),
            Err(CursorError::BadHotSpot(4, 2, 4, 4))
        );
        let mut s = shape(3, 3);
        assert!(s.validate().is_ok());
        s.rgba.pop();
        assert!(s.validate().is_err());
    }

    #[test]
    fn positions_and_premultiplied_pixels() {
        assert!(validate_position(0, 0).is_ok());
        assert!(validate_position(MAX_DISPLAY_DIM - 1, 5).is_ok());
        assert!(validate_position(MAX_DISPLAY_DIM, 5).is_err());
        assert_eq!(premultiplied_argb_to_rgba(0), [0, 0, 0, 0]);
        assert_eq!(
            premultiplied_argb_to_rgba(0xFF10_2030),
            [0x10, 0x20, 0x30, 255]
        );
        // half-transparent white, premultiplied: 0x80 0x80 0x80 -> straight 255
        assert_eq!(
            premultiplied_argb_to_rgba(0x8080_8080),
            [255, 255, 255, 0x80]
        );
        // colour channels larger than alpha (invalid premultiplication) saturate
        assert_eq!(premultiplied_argb_to_rgba(0x10FF_0000), [255, 0, 0, 0x10]);
    }
}
