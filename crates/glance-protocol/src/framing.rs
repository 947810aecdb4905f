//! Framing of the direct TLS stream, and the mapping of the same messages onto WebSockets.
//!
//! Direct stream: every message is a 5-byte header — payload length (u32, big-endian) and a
//! kind byte — followed by the payload. On a WebSocket a text message is a control message and
//! a binary message is the kind byte followed by the payload, so the server forwards the same
//! bytes to agents without re-encoding.

use crate::control::{Control, ControlError};
use crate::cursor::MAX_SHAPE_LEN;
use crate::limits::{MAX_BINARY_LEN, MAX_CONTROL_LEN};

/// Length of the direct-stream header.
pub const HEADER_LEN: usize = 5;

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// UTF-8 JSON, a [`Control`].
    Control = 1,
    /// A frame update ([`crate::update`]).
    Update = 2,
    /// A cursor shape ([`crate::cursor`]).
    Cursor = 3,
}

impl Kind {
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Control),
            2 => Some(Kind::Update),
            3 => Some(Kind::Cursor),
            _ => None,
        }
    }

    /// The largest payload this kind may carry.
    pub fn max_len(self) -> usize {
        match self {
            Kind::Control => MAX_CONTROL_LEN,
            Kind::Update => MAX_BINARY_LEN - 1,
            Kind::Cursor => MAX_SHAPE_LEN,
        }
    }
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Control(Control),
    /// The payload of a frame update, still encoded (see [`crate::update::FrameUpdate::parse`]).
    Update(Vec<u8>),
    /// The payload of a cursor shape, not yet checked (see [`crate::cursor::CursorShape::parse`]).
    CursorShape(Vec<u8>),
}

/// Why bytes could not be read as a message.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("{kind:?} message of {len} bytes exceeds the limit of {max}")]
    TooLarge { kind: Kind, len: usize, max: usize },
    #[error("empty binary message")]
    Empty,
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl FramingError {
    /// The `code` of the `error` control message a peer sends before closing.
    pub fn code(&self) -> &'static str {
        match self {
            FramingError::TooLarge { .. } | FramingError::Control(ControlError::TooLarge(_)) => {
                "too_large"
            }
            _ => "malformed",
        }
    }
}

/// Reads a direct-stream header: the kind and the payload length still to read.
pub fn parse_header(h: [u8; HEADER_LEN]) -> Result<(Kind, usize), FramingError> {
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let kind = Kind::from_byte(h[4]).ok_or(FramingError::UnknownKind(h[4]))?;
    if len > kind.max_len() {
        return Err(FramingError::TooLarge {
            kind,
            len,
            max: kind.max_len(),
        });
    }
    Ok((kind, len))
}

/// Decodes a payload whose header was accepted by [`parse_header`].
pub fn decode_payload(kind: Kind, payload: Vec<u8>) -> Result<Message, FramingError> {
    match kind {
        Kind::Control => Ok(Message::Control(Control::from_json(&payload)?)),
        Kind::Update => Ok(Message::Update(payload)),
        Kind::Cursor => Ok(Message::CursorShape(payload)),
    }
}

/// A whole direct-stream message: header and payload.
pub fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
    out
}

/// A control message framed for the direct stream.
pub fn encode_control(c: &Control) -> Vec<u8> {
    encode(Kind::Control, c.to_json().as_bytes())
}

/// Reads a WebSocket binary message (kind byte plus payload).
pub fn decode_ws_binary(data: &[u8]) -> Result<Message, FramingError> {
    let (&k, payload) = data.split_first().ok_or(FramingError::Empty)?;
    let kind = Kind::from_byte(k).ok_or(FramingError::UnknownKind(k))?;
    if payload.len() > kind.max_len() {
        return Err(FramingError::TooLarge {
            kind,
            len: payload.len(),
            max: kind.max_len(),
        });
    }
    decode_payload(kind, payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_limits() {
        let bytes = encode_control(&Control::EndSession);
        let (kind, len) = parse_header(bytes[..5].try_into().unwrap()).unwrap();
        assert_eq!(kind, Kind::Control);
        assert_eq!(len, bytes.len() - 5);
        let m = decode_payload(kind, bytes[5..].to_vec()).unwrap();
        assert_eq!(m, Message::Control(Control::EndSession));

        let mut big = [0u8; 5];
        big[..4].copy_from_slice(&((MAX_CONTROL_LEN + 1) as u32).to_be_bytes());
        big[4] = 1;
        assert_eq!(parse_header(big).unwrap_err().code(), "too_large");
        assert!(matches!(
            parse_header([0, 0, 0, 0, 9]),
            Err(FramingError::UnknownKind(9))
        ));
        assert!(decode_ws_binary(&[]).is_err());
        assert!(decode_ws_binary(&[7, 1]).is_err());
    }

    #[test]
    fn cursor_kind_has_its_own_limit() {
        use crate::cursor::CursorShape;
        let shape = CursorShape {
            id: 9,
            width: 2,
            height: 1,
            hot_x: 0,
            hot_y: 0,
            rgba: vec![1, 2, 3, 4, 5, 6, 7, 8],
        };
        let bytes = encode(Kind::Cursor, &shape.encode());
        let (kind, len) = parse_header(bytes[..5].try_into().unwrap()).unwrap();
        assert_eq!((kind, len), (Kind::Cursor, 20));
        let Message::CursorShape(p) = decode_payload(kind, bytes[5..].to_vec()).unwrap() else {
            panic!("not a cursor shape");
        };
        assert_eq!(CursorShape::parse(&p).unwrap(), shape);
        // over 256x256 RGBA plus the header: refused before any payload is read
        let mut h = [0u8; 5];
        h[..4].copy_from_slice(&((MAX_SHAPE_LEN + 1) as u32).to_be_bytes());
        h[4] = 3;
        let e = parse_header(h).unwrap_err();
        assert_eq!(e.code(), "too_large");
        h[..4].copy_from_slice(&(MAX_SHAPE_LEN as u32).to_be_bytes());
        assert_eq!(parse_header(h).unwrap(), (Kind::Cursor, MAX_SHAPE_LEN));
        // the same on a WebSocket
        let mut ws = vec![3u8];
        ws.extend_from_slice(&shape.encode());
        assert!(matches!(
            decode_ws_binary(&ws).unwrap(),
            Message::CursorShape(_)
        ));
        let mut big = vec![3u8];
        big.resize(MAX_SHAPE_LEN + 2, 0);
        assert!(matches!(
            decode_ws_binary(&big),
            Err(FramingError::TooLarge {
                kind: Kind::Cursor,
                ..
            })
        ));
    }
}
