//! Size limits every side enforces on what it reads. A peer that exceeds one is closed with
//! `error{code:"too_large"}`; nothing is buffered past these bounds.

/// Largest JSON control message, in bytes.
pub const MAX_CONTROL_LEN: usize = 64 * 1024;
/// Largest binary message (kind byte plus payload), in bytes. A frame that needs more is
/// split over several messages (see [`crate::update`]).
pub const MAX_BINARY_LEN: usize = 4 * 1024 * 1024;
/// Largest width or height of a shared display, in pixels.
pub const MAX_DISPLAY_DIM: u16 = 16_384;
/// Largest number of pixels of a shared display (8K UHD).
pub const MAX_DISPLAY_PIXELS: u64 = 7680 * 4320;
/// Longest session key (the visitor-id rules: 1 to 63 characters).
pub const MAX_KEY_LEN: usize = 63;
/// Longest free-text field in a control message (names, tokens, messages).
pub const MAX_TEXT_LEN: usize = 1024;
/// Largest width or height of a cursor shape, in pixels.
pub const MAX_CURSOR_DIM: u16 = 256;
/// Cursor shapes every agent keeps (at least): the ones it received last. The server relies
/// on it to send each agent a shape only once while it stays among them.
pub const CURSOR_SHAPE_CACHE: usize = 64;
