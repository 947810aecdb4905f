//! Owns `framing::decode_ws_binary`: every binary WebSocket message (the agent endpoint reads
//! them from agents, agents read them from the server). Checks that the kind byte and payload
//! come back unchanged, that a kind-1 binary and the same bytes as a text message decode
//! alike, and that the same message framed for the direct stream decodes to the same result.
#![no_main]

use glance_protocol::framing::{self, Kind, Message, HEADER_LEN};
use glance_protocol::Control;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ws = framing::decode_ws_binary(data);

    // The same message on the direct stream: header, then payload.
    if let Some((&k, payload)) = data.split_first() {
        if let Some(kind) = Kind::from_byte(k) {
            let direct = framing::encode(kind, payload);
            let h: [u8; HEADER_LEN] = match direct[..HEADER_LEN].try_into() {
                Ok(h) => h,
                Err(_) => unreachable!("encode writes a whole header"),
            };
            let d = framing::parse_header(h).and_then(|(kind, len)| {
                assert_eq!(len, payload.len());
                framing::decode_payload(kind, direct[HEADER_LEN..].to_vec())
            });
            match (&ws, &d) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code()),
                _ => panic!("WebSocket and direct framing disagree: {ws:?} vs {d:?}"),
            }
        }
    }

    match ws {
        Ok(Message::Control(c)) => {
            assert_eq!(data[0], Kind::Control as u8);
            // A text message with the same bytes means the same.
            assert_eq!(Control::from_json(&data[1..]).ok().as_ref(), Some(&c));
            let json = c.to_json();
            let mut again = vec![Kind::Control as u8];
            again.extend_from_slice(json.as_bytes());
            match framing::decode_ws_binary(&again) {
                Ok(Message::Control(c2)) => assert_eq!(c2, c),
                other => panic!("re-encoded control message reads as {other:?}"),
            }
        }
        Ok(Message::Update(p)) => {
            assert_eq!(data[0], Kind::Update as u8);
            assert_eq!(p, &data[1..]);
        }
        Ok(Message::CursorShape(p)) => {
            assert_eq!(data[0], Kind::Cursor as u8);
            assert_eq!(p, &data[1..]);
            assert!(p.len() <= Kind::Cursor.max_len());
        }
        Err(e) => {
            assert!(matches!(e.code(), "too_large" | "malformed"));
        }
    }
});
