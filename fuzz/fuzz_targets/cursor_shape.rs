//! Owns the cursor-shape payload (kind 3): `cursor::peek_shape`, which the server uses to
//! check and route a visitor's shape, and `CursorShape::parse`, which agents use. Checks that
//! both accept exactly the same payloads with the same header, that an accepted shape
//! validates, re-encodes byte for byte and can be read at every pixel, and that the
//! premultiplied-ARGB conversion the visitor applies to X11 cursor pixels keeps alpha.
#![no_main]

use glance_protocol::cursor::{
    peek_shape, premultiplied_argb_to_rgba, validate_position, CursorShape, MAX_SHAPE_LEN,
};
use glance_protocol::limits::MAX_CURSOR_DIM;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let peek = peek_shape(data);
    let parsed = CursorShape::parse(data);
    match (&peek, &parsed) {
        (Ok((id, w, h)), Ok(s)) => {
            assert_eq!((*id, *w, *h), (s.id, s.width, s.height));
            assert!(data.len() <= MAX_SHAPE_LEN);
            assert!(s.width >= 1 && s.width <= MAX_CURSOR_DIM);
            assert!(s.height >= 1 && s.height <= MAX_CURSOR_DIM);
            assert!(s.hot_x < s.width && s.hot_y < s.height);
            assert_eq!(s.validate(), Ok(()));
            assert_eq!(s.encode(), data);
            // Every pixel (and the hot spot) can be read.
            let _ = s.pixel(s.hot_x, s.hot_y);
            let _ = s.pixel(s.width - 1, s.height - 1);
            let _ = validate_position(s.hot_x, s.hot_y);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("peek_shape and parse disagree: {peek:?} vs {parsed:?}"),
    }

    // The visitor's conversion of X11's premultiplied pixels, on any 32-bit values.
    for p in data.chunks_exact(4).take(64) {
        let argb = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        let rgba = premultiplied_argb_to_rgba(argb);
        assert_eq!(rgba[3], p[0]);
        if p[0] == 0 {
            assert_eq!(rgba, [0, 0, 0, 0]);
        }
        if p[0] == 255 {
            assert_eq!(&rgba[..3], &p[1..]);
        }
    }
});
