//! Owns the direct TLS stream's framing as both ends read it: the visitor's
//! `transport::conn::read_message` (what the server sends) and the server's
//! `direct::read_message` (what a visitor sends), over `framing::parse_header` and
//! `decode_payload`. The stream arrives in input-chosen chunks. Checks that both readers
//! agree message for message with a plain reading of the same bytes whatever the chunking,
//! that binary payloads come back byte for byte and control messages re-encode to the same
//! message, and that errors carry the right code.
//!
//! Input: one byte n, then n % 8 chunk sizes, then the stream.
#![no_main]

use std::time::Duration;

use glance_fuzz::{runtime, ChunkedReader, Input};
use glance_protocol::framing::{self, FramingError, Kind, Message, HEADER_LEN};
use glance_server::direct;
use glance_server::relay::visitor::{Incoming, RecvError};
use glance_visitor::transport::{conn, TransportError};
use libfuzzer_sys::fuzz_target;

/// How a plain reading of the stream ends.
#[derive(Debug, PartialEq)]
enum End {
    /// At a message boundary.
    Clean,
    /// Inside a header.
    InHeader,
    /// Inside a payload.
    InPayload,
    /// A header or payload breaks the protocol; the `error` code to send.
    Protocol(&'static str),
}

/// The reference: reads messages from a byte slice without any I/O.
fn plain(mut b: &[u8]) -> (Vec<(Kind, Vec<u8>, Message)>, End) {
    let mut out = Vec::new();
    loop {
        if b.is_empty() {
            return (out, End::Clean);
        }
        let Some(h) = b.get(..HEADER_LEN) else {
            return (out, End::InHeader);
        };
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(h);
        let (kind, len) = match framing::parse_header(header) {
            Ok(x) => x,
            Err(e) => return (out, End::Protocol(e.code())),
        };
        let Some(payload) = b.get(HEADER_LEN..HEADER_LEN + len) else {
            return (out, End::InPayload);
        };
        match framing::decode_payload(kind, payload.to_vec()) {
            Ok(m) => out.push((kind, payload.to_vec(), m)),
            Err(e) => return (out, End::Protocol(e.code())),
        }
        b = &b[HEADER_LEN + len..];
    }
}

thread_local! {
    static RT: tokio::runtime::Runtime = runtime();
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let n = input.u8() as usize % 8;
    let sizes = input.bytes(n).to_vec();
    let stream = input.rest();
    let (want, end) = plain(stream);

    // Every message read re-encodes to the bytes it came from.
    let mut rebuilt = Vec::new();
    for (kind, payload, m) in &want {
        match m {
            Message::Control(c) => {
                assert_eq!(*kind, Kind::Control);
                let bytes = framing::encode_control(c);
                let (k, len) =
                    match framing::parse_header([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]])
                    {
                        Ok(x) => x,
                        Err(e) => panic!("a re-encoded control message has a bad header: {e}"),
                    };
                assert_eq!((k, len), (Kind::Control, bytes.len() - HEADER_LEN));
                match framing::decode_payload(k, bytes[HEADER_LEN..].to_vec()) {
                    Ok(Message::Control(c2)) => assert_eq!(&c2, c),
                    other => panic!("a re-encoded control message reads as {other:?}"),
                }
            }
            Message::Update(p) | Message::CursorShape(p) => {
                assert_eq!(p, payload);
                assert_ne!(*kind, Kind::Control);
            }
        }
        rebuilt.extend_from_slice(&framing::encode(*kind, payload));
    }
    assert!(stream.starts_with(&rebuilt));

    RT.with(|rt| {
        rt.block_on(async {
            // The visitor's reader.
            let mut r = ChunkedReader::new(stream, &sizes);
            for (_, _, m) in &want {
                match conn::read_message(&mut r).await {
                    Ok(got) => assert_eq!(&got, m),
                    Err(e) => panic!("visitor reader failed on a good message: {e}"),
                }
            }
            let e = match conn::read_message(&mut r).await {
                Ok(m) => panic!("visitor reader read a message past the end: {m:?}"),
                Err(e) => e,
            };
            match (&end, &e) {
                // A header cut short reads as a close (read_exact's UnexpectedEof).
                (End::Clean | End::InHeader, TransportError::Closed) => {}
                (End::InPayload, TransportError::Io(_)) => {}
                (End::Protocol(code), TransportError::Protocol(f)) => {
                    assert_eq!(f.code(), *code);
                    if let FramingError::TooLarge { len, max, .. } = f {
                        assert!(len > max);
                    }
                }
                _ => panic!("visitor reader ended with {e:?} where {end:?} was expected"),
            }

            // The server's reader.
            let mut r = ChunkedReader::new(stream, &sizes);
            let idle = Duration::from_secs(3600);
            for (kind, payload, m) in &want {
                match (direct::read_message(&mut r, idle).await, m) {
                    (Ok(Incoming::Control(c)), Message::Control(w)) => assert_eq!(&c, w),
                    (Ok(Incoming::Update(b)), Message::Update(_))
                    | (Ok(Incoming::CursorShape(b)), Message::CursorShape(_)) => {
                        // The kind byte stays in front: the bytes agents get on their WebSocket.
                        assert_eq!(b[0], *kind as u8);
                        assert_eq!(&b[1..], &payload[..]);
                    }
                    (got, _) => panic!("server reader read {got:?} where {m:?} was expected"),
                }
            }
            match (direct::read_message(&mut r, idle).await, &end) {
                (Err(RecvError::Closed), End::Clean) => {}
                (Err(RecvError::Io(_)), End::InHeader | End::InPayload) => {}
                (Err(RecvError::Protocol { code, .. }), End::Protocol(want)) => {
                    assert_eq!(code, *want)
                }
                (got, _) => panic!("server reader ended with {got:?} where {end:?} was expected"),
            }
        })
    });
});
