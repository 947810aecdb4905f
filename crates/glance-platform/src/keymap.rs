//! The browser's `KeyboardEvent.code` (the physical key, layout-independent) mapped to X11
//! keysyms, and a character without a physical key mapped to its keysym. Platform backends
//! translate further (X11: keysym to keycode through the server's keyboard mapping).

/// The X keysym of the key at DOM `code` on a US layout (what the X server maps back to the
/// user's own layout through its keycodes), or `None` for codes we do not know.
pub fn x11_keysym(code: &str) -> Option<u32> {
    if let Some(c) = code.strip_prefix("Key") {
        let b = c.as_bytes();
        if b.len() == 1 && b[0].is_ascii_uppercase() {
            return Some(u32::from(b[0].to_ascii_lowercase()));
        }
    }
    if let Some(d) = code.strip_prefix("Digit") {
        let b = d.as_bytes();
        if b.len() == 1 && b[0].is_ascii_digit() {
            return Some(u32::from(b[0]));
        }
    }
    if let Some(n) = code.strip_prefix('F').and_then(|n| n.parse::<u32>().ok()) {
        if (1..=24).contains(&n) {
            return Some(0xffbe + n - 1);
        }
    }
    if let Some(d) = code.strip_prefix("Numpad") {
        if let Some(n) = d.parse::<u32>().ok().filter(|n| *n <= 9) {
            return Some(0xffb0 + n);
        }
    }
    Some(match code {
        "Enter" => 0xff0d,
        "NumpadEnter" => 0xff8d,
        "Backspace" => 0xff08,
        "Tab" => 0xff09,
        "Escape" => 0xff1b,
        "Space" => 0x20,
        "Delete" => 0xffff,
        "Insert" => 0xff63,
        "Home" => 0xff50,
        "End" => 0xff57,
        "PageUp" => 0xff55,
        "PageDown" => 0xff56,
        "ArrowLeft" => 0xff51,
        "ArrowUp" => 0xff52,
        "ArrowRight" => 0xff53,
        "ArrowDown" => 0xff54,
        "ShiftLeft" => 0xffe1,
        "ShiftRight" => 0xffe2,
        "ControlLeft" => 0xffe3,
        "ControlRight" => 0xffe4,
        "CapsLock" => 0xffe5,
        "MetaLeft" => 0xffeb,
        "MetaRight" => 0xffec,
        "AltLeft" => 0xffe9,
        "AltRight" => 0xfe03,
        "ContextMenu" => 0xff67,
        "Minus" => 0x2d,
        "Equal" => 0x3d,
        "BracketLeft" => 0x5b,
        "BracketRight" => 0x5d,
        "Backslash" => 0x5c,
        "Semicolon" => 0x3b,
        "Quote" => 0x27,
        "Backquote" => 0x60,
        "Comma" => 0x2c,
        "Period" => 0x2e,
        "Slash" => 0x2f,
        "NumpadAdd" => 0xffab,
        "NumpadSubtract" => 0xffad,
        "NumpadMultiply" => 0xffaa,
        "NumpadDivide" => 0xffaf,
        "NumpadDecimal" => 0xffae,
        "PrintScreen" => 0xff61,
        "ScrollLock" => 0xff14,
        "Pause" => 0xff13,
        "NumLock" => 0xff7f,
        _ => return None,
    })
}

/// The keysym of one character typed without a physical key (IME, dead keys, another
/// layout): Latin-1 characters are their own keysym, the rest Unicode keysyms.
pub fn char_keysym(c: char) -> u32 {
    let cp = u32::from(c);
    if (0x20..=0x7e).contains(&cp) || (0xa0..=0xff).contains(&cp) {
        cp
    } else {
        0x0100_0000 + cp
    }
}

/// The single character a DOM `key` names, if it is one ("a", "é", "ж"; not "Enter").
pub fn key_char(key: &str) -> Option<char> {
    let mut it = key.chars();
    let c = it.next()?;
    (it.next().is_none() && !c.is_control()).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_us_keysyms() {
        assert_eq!(x11_keysym("KeyA"), Some(u32::from(b'a')));
        assert_eq!(x11_keysym("Digit7"), Some(u32::from(b'7')));
        assert_eq!(x11_keysym("Enter"), Some(0xff0d));
        assert_eq!(x11_keysym("F1"), Some(0xffbe));
        assert_eq!(x11_keysym("F12"), Some(0xffc9));
        assert_eq!(x11_keysym("ShiftLeft"), Some(0xffe1));
        assert_eq!(x11_keysym("Numpad5"), Some(0xffb5));
        assert_eq!(x11_keysym("Keya"), None);
        assert_eq!(x11_keysym("Unknown"), None);
        assert_eq!(x11_keysym("F99"), None);
    }

    #[test]
    fn characters_map_to_latin1_or_unicode_keysyms() {
        assert_eq!(char_keysym('a'), 0x61);
        assert_eq!(char_keysym('é'), 0xe9);
        assert_eq!(char_keysym('ж'), 0x0100_0436);
        assert_eq!(key_char("ж"), Some('ж'));
        assert_eq!(key_char("Enter"), None);
        assert_eq!(key_char(""), None);
    }
}
