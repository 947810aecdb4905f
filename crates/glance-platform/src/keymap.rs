//! The browser's `KeyboardEvent.code` (the physical key, layout-independent) mapped to X11
//! keysyms and to PC (set 1) scan codes, and a character without a physical key mapped to its
//! keysym. Platform backends translate further (X11: keysym to keycode through the server's
//! keyboard mapping; Windows: the scan code goes to SendInput as it is).

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

/// The PC keyboard scan code (set 1, as Windows' `KEYBDINPUT.wScan` takes it) of the key at
/// DOM `code`; extended keys (the E0 prefix) are `0xE0xx`. `None` for codes we do not know.
/// Windows' own oddities are kept: NumLock is `E0 45` and Pause is `45` (what
/// MapVirtualKey reports and what Chromium's `dom_code_data` lists for Windows).
pub fn pc_scancode(code: &str) -> Option<u16> {
    const LETTERS: &[u8; 26] = b"\x1e\x30\x2e\x20\x12\x21\x22\x23\x17\x24\x25\x26\x32\x31\x18\x19\x10\x13\x1f\x14\x16\x2f\x11\x2d\x15\x2c";
    if let Some(c) = code.strip_prefix("Key") {
        let b = c.as_bytes();
        if b.len() == 1 && b[0].is_ascii_uppercase() {
            return Some(u16::from(LETTERS[usize::from(b[0] - b'A')]));
        }
    }
    if let Some(d) = code.strip_prefix("Digit") {
        let b = d.as_bytes();
        if b.len() == 1 && b[0].is_ascii_digit() {
            // 1..9 are 0x02..0x0A, 0 is 0x0B
            return Some(if b[0] == b'0' {
                0x0b
            } else {
                u16::from(b[0] - b'1') + 0x02
            });
        }
    }
    if let Some(n) = code.strip_prefix('F').and_then(|n| n.parse::<u16>().ok()) {
        return match n {
            1..=10 => Some(0x3b + n - 1),
            11 => Some(0x57),
            12 => Some(0x58),
            13..=23 => Some(0x64 + n - 13),
            24 => Some(0x76),
            _ => None,
        };
    }
    Some(match code {
        "Escape" => 0x01,
        "Minus" => 0x0c,
        "Equal" => 0x0d,
        "Backspace" => 0x0e,
        "Tab" => 0x0f,
        "BracketLeft" => 0x1a,
        "BracketRight" => 0x1b,
        "Enter" => 0x1c,
        "ControlLeft" => 0x1d,
        "Semicolon" => 0x27,
        "Quote" => 0x28,
        "Backquote" => 0x29,
        "ShiftLeft" => 0x2a,
        "Backslash" => 0x2b,
        "Comma" => 0x33,
        "Period" => 0x34,
        "Slash" => 0x35,
        "ShiftRight" => 0x36,
        "NumpadMultiply" => 0x37,
        "AltLeft" => 0x38,
        "Space" => 0x39,
        "CapsLock" => 0x3a,
        "Pause" => 0x45,
        "ScrollLock" => 0x46,
        "Numpad7" => 0x47,
        "Numpad8" => 0x48,
        "Numpad9" => 0x49,
        "NumpadSubtract" => 0x4a,
        "Numpad4" => 0x4b,
        "Numpad5" => 0x4c,
        "Numpad6" => 0x4d,
        "NumpadAdd" => 0x4e,
        "Numpad1" => 0x4f,
        "Numpad2" => 0x50,
        "Numpad3" => 0x51,
        "Numpad0" => 0x52,
        "NumpadDecimal" => 0x53,
        "IntlBackslash" => 0x56,
        "NumpadEqual" => 0x59,
        "IntlRo" => 0x73,
        "IntlYen" => 0x7d,
        "NumpadComma" => 0x7e,
        "NumpadEnter" => 0xe01c,
        "ControlRight" => 0xe01d,
        "NumpadDivide" => 0xe035,
        "PrintScreen" => 0xe037,
        "AltRight" => 0xe038,
        "NumLock" => 0xe045,
        "Home" => 0xe047,
        "ArrowUp" => 0xe048,
        "PageUp" => 0xe049,
        "ArrowLeft" => 0xe04b,
        "ArrowRight" => 0xe04d,
        "End" => 0xe04f,
        "ArrowDown" => 0xe050,
        "PageDown" => 0xe051,
        "Insert" => 0xe052,
        "Delete" => 0xe053,
        "MetaLeft" => 0xe05b,
        "MetaRight" => 0xe05c,
        "ContextMenu" => 0xe05d,
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

/// The macOS virtual key code (`kVK_*` of Carbon's HIToolbox/Events.h, the ANSI-layout
/// position) of the key at DOM `code`, or `None` for codes we do not know. Both name the
/// physical key, so the user's own layout gives it its meaning, as on X11.
pub fn mac_keycode(code: &str) -> Option<u16> {
    // kVK_ANSI_A .. kVK_ANSI_Z, in letter order.
    const LETTERS: [u16; 26] = [
        0x00, 0x0B, 0x08, 0x02, 0x0E, 0x03, 0x05, 0x04, 0x22, 0x26, 0x28, 0x25, 0x2E, 0x2D, 0x1F,
        0x23, 0x0C, 0x0F, 0x01, 0x11, 0x20, 0x09, 0x0D, 0x07, 0x10, 0x06,
    ];
    // kVK_ANSI_0 .. kVK_ANSI_9 and kVK_ANSI_Keypad0 .. 9.
    const DIGITS: [u16; 10] = [0x1D, 0x12, 0x13, 0x14, 0x15, 0x17, 0x16, 0x1A, 0x1C, 0x19];
    const KEYPAD: [u16; 10] = [0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5B, 0x5C];
    // kVK_F1 .. kVK_F20.
    const FKEYS: [u16; 20] = [
        0x7A, 0x78, 0x63, 0x76, 0x60, 0x61, 0x62, 0x64, 0x65, 0x6D, 0x67, 0x6F, 0x69, 0x6B, 0x71,
        0x6A, 0x40, 0x4F, 0x50, 0x5A,
    ];
    let one = |s: &str| -> Option<u8> {
        let b = s.as_bytes();
        (b.len() == 1).then(|| b[0])
    };
    if let Some(c) = code.strip_prefix("Key").and_then(one) {
        return c
            .is_ascii_uppercase()
            .then(|| LETTERS[usize::from(c - b'A')]);
    }
    if let Some(c) = code.strip_prefix("Digit").and_then(one) {
        return c.is_ascii_digit().then(|| DIGITS[usize::from(c - b'0')]);
    }
    if let Some(c) = code.strip_prefix("Numpad").and_then(one) {
        if c.is_ascii_digit() {
            return Some(KEYPAD[usize::from(c - b'0')]);
        }
    }
    if let Some(n) = code.strip_prefix('F').and_then(|n| n.parse::<usize>().ok()) {
        return (1..=20).contains(&n).then(|| FKEYS[n - 1]);
    }
    Some(match code {
        "Enter" => 0x24,
        "Tab" => 0x30,
        "Space" => 0x31,
        "Backspace" => 0x33,
        "Escape" => 0x35,
        "MetaRight" => 0x36,
        "MetaLeft" => 0x37,
        "ShiftLeft" => 0x38,
        "CapsLock" => 0x39,
        "AltLeft" => 0x3A,
        "ControlLeft" => 0x3B,
        "ShiftRight" => 0x3C,
        "AltRight" => 0x3D,
        "ControlRight" => 0x3E,
        "Fn" => 0x3F,
        "Minus" => 0x1B,
        "Equal" => 0x18,
        "BracketLeft" => 0x21,
        "BracketRight" => 0x1E,
        "Backslash" => 0x2A,
        "Semicolon" => 0x29,
        "Quote" => 0x27,
        "Backquote" => 0x32,
        "Comma" => 0x2B,
        "Period" => 0x2F,
        "Slash" => 0x2C,
        "IntlBackslash" => 0x0A,
        "NumpadDecimal" => 0x41,
        "NumpadMultiply" => 0x43,
        "NumpadAdd" => 0x45,
        "NumLock" => 0x47, // kVK_ANSI_KeypadClear sits where NumLock is
        "NumpadDivide" => 0x4B,
        "NumpadEnter" => 0x4C,
        "NumpadSubtract" => 0x4E,
        "NumpadEqual" => 0x51,
        "Insert" => 0x72, // kVK_Help, where Apple keyboards put Insert
        "Home" => 0x73,
        "PageUp" => 0x74,
        "Delete" => 0x75, // kVK_ForwardDelete
        "End" => 0x77,
        "PageDown" => 0x79,
        "ArrowLeft" => 0x7B,
        "ArrowRight" => 0x7C,
        "ArrowDown" => 0x7D,
        "ArrowUp" => 0x7E,
        "AudioVolumeUp" => 0x48,
        "AudioVolumeDown" => 0x49,
        "AudioVolumeMute" => 0x4A,
        _ => return None,
    })
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
    fn codes_map_to_pc_scancodes() {
        assert_eq!(pc_scancode("Escape"), Some(0x01));
        assert_eq!(pc_scancode("Digit1"), Some(0x02));
        assert_eq!(pc_scancode("Digit9"), Some(0x0a));
        assert_eq!(pc_scancode("Digit0"), Some(0x0b));
        assert_eq!(pc_scancode("KeyQ"), Some(0x10));
        assert_eq!(pc_scancode("KeyA"), Some(0x1e));
        assert_eq!(pc_scancode("KeyZ"), Some(0x2c));
        assert_eq!(pc_scancode("KeyM"), Some(0x32));
        assert_eq!(pc_scancode("KeyP"), Some(0x19));
        assert_eq!(pc_scancode("F1"), Some(0x3b));
        assert_eq!(pc_scancode("F10"), Some(0x44));
        assert_eq!(pc_scancode("F11"), Some(0x57));
        assert_eq!(pc_scancode("F13"), Some(0x64));
        assert_eq!(pc_scancode("F24"), Some(0x76));
        assert_eq!(pc_scancode("F25"), None);
        assert_eq!(pc_scancode("Enter"), Some(0x1c));
        assert_eq!(pc_scancode("NumpadEnter"), Some(0xe01c));
        assert_eq!(pc_scancode("ArrowLeft"), Some(0xe04b));
        assert_eq!(pc_scancode("AltRight"), Some(0xe038));
        assert_eq!(pc_scancode("Keya"), None);
        assert_eq!(pc_scancode("Unidentified"), None);
        // every code X11 knows has a scan code too, and no two codes share one
        let mut all = Vec::new();
        for code in ALL_CODES {
            assert!(x11_keysym(code).is_some(), "{code}");
            let sc = pc_scancode(code).unwrap_or_else(|| panic!("{code}"));
            assert!(!all.contains(&sc), "{code} {sc:#x}");
            all.push(sc);
        }
    }

    const ALL_CODES: &[&str] = &[
        "KeyA",
        "KeyB",
        "KeyC",
        "KeyD",
        "KeyE",
        "KeyF",
        "KeyG",
        "KeyH",
        "KeyI",
        "KeyJ",
        "KeyK",
        "KeyL",
        "KeyM",
        "KeyN",
        "KeyO",
        "KeyP",
        "KeyQ",
        "KeyR",
        "KeyS",
        "KeyT",
        "KeyU",
        "KeyV",
        "KeyW",
        "KeyX",
        "KeyY",
        "KeyZ",
        "Digit0",
        "Digit1",
        "Digit2",
        "Digit3",
        "Digit4",
        "Digit5",
        "Digit6",
        "Digit7",
        "Digit8",
        "Digit9",
        "F1",
        "F2",
        "F3",
        "F4",
        "F5",
        "F6",
        "F7",
        "F8",
        "F9",
        "F10",
        "F11",
        "F12",
        "Numpad0",
        "Numpad1",
        "Numpad2",
        "Numpad3",
        "Numpad4",
        "Numpad5",
        "Numpad6",
        "Numpad7",
        "Numpad8",
        "Numpad9",
        "Enter",
        "NumpadEnter",
        "Backspace",
        "Tab",
        "Escape",
        "Space",
        "Delete",
        "Insert",
        "Home",
        "End",
        "PageUp",
        "PageDown",
        "ArrowLeft",
        "ArrowUp",
        "ArrowRight",
        "ArrowDown",
        "ShiftLeft",
        "ShiftRight",
        "ControlLeft",
        "ControlRight",
        "CapsLock",
        "MetaLeft",
        "MetaRight",
        "AltLeft",
        "AltRight",
        "ContextMenu",
        "Minus",
        "Equal",
        "BracketLeft",
        "BracketRight",
        "Backslash",
        "Semicolon",
        "Quote",
        "Backquote",
        "Comma",
        "Period",
        "Slash",
        "NumpadAdd",
        "NumpadSubtract",
        "NumpadMultiply",
        "NumpadDivide",
        "NumpadDecimal",
        "PrintScreen",
        "ScrollLock",
        "Pause",
        "NumLock",
    ];

    #[test]
    fn characters_map_to_latin1_or_unicode_keysyms() {
        assert_eq!(char_keysym('a'), 0x61);
        assert_eq!(char_keysym('é'), 0xe9);
        assert_eq!(char_keysym('ж'), 0x0100_0436);
        assert_eq!(key_char("ж"), Some('ж'));
        assert_eq!(key_char("Enter"), None);
        assert_eq!(key_char(""), None);
    }

    #[test]
    fn codes_map_to_mac_virtual_keys() {
        assert_eq!(mac_keycode("KeyA"), Some(0x00));
        assert_eq!(mac_keycode("KeyS"), Some(0x01));
        assert_eq!(mac_keycode("KeyZ"), Some(0x06));
        assert_eq!(mac_keycode("KeyQ"), Some(0x0C));
        assert_eq!(mac_keycode("Digit0"), Some(0x1D));
        assert_eq!(mac_keycode("Digit5"), Some(0x17));
        assert_eq!(mac_keycode("Numpad9"), Some(0x5C));
        assert_eq!(mac_keycode("F1"), Some(0x7A));
        assert_eq!(mac_keycode("F12"), Some(0x6F));
        assert_eq!(mac_keycode("F21"), None);
        assert_eq!(mac_keycode("Enter"), Some(0x24));
        assert_eq!(mac_keycode("MetaLeft"), Some(0x37));
        assert_eq!(mac_keycode("Keya"), None);
        assert_eq!(mac_keycode("Unknown"), None);
        // No two codes share a virtual key.
        let mut codes: Vec<String> = ["Key", "Digit", "Numpad"]
            .iter()
            .flat_map(|p| {
                let set: Vec<char> = if *p == "Key" {
                    ('A'..='Z').collect()
                } else {
                    ('0'..='9').collect()
                };
                set.into_iter().map(move |c| format!("{p}{c}"))
            })
            .collect();
        codes.extend((1..=20).map(|n| format!("F{n}")));
        for c in [
            "Enter",
            "Tab",
            "Space",
            "Backspace",
            "Escape",
            "MetaRight",
            "MetaLeft",
            "ShiftLeft",
            "CapsLock",
            "AltLeft",
            "ControlLeft",
            "ShiftRight",
            "AltRight",
            "ControlRight",
            "Minus",
            "Equal",
            "BracketLeft",
            "BracketRight",
            "Backslash",
            "Semicolon",
            "Quote",
            "Backquote",
            "Comma",
            "Period",
            "Slash",
            "Home",
            "End",
            "Delete",
            "ArrowLeft",
        ] {
            codes.push(c.to_string());
        }
        let mut seen = std::collections::HashMap::new();
        for c in &codes {
            let k = mac_keycode(c).unwrap_or_else(|| panic!("{c} has no key"));
            if let Some(other) = seen.insert(k, c.clone()) {
                panic!("{c} and {other} share virtual key {k:#x}");
            }
        }
    }
}
