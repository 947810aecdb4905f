//! Writes the seed corpus of every fuzz target into `<dir>/<target>/` (default
//! `fuzz/corpus`), built with the project's own encoders so that each seed is a real message
//! or a real mistake. Deterministic: running it again rewrites the same files.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use glance_protocol::cursor::CursorShape;
use glance_protocol::framing::{self, Kind};
use glance_protocol::update::{
    BgrxView, Encoding, Rect, RectEncoder, UpdateWriter, FLAG_FINAL, FLAG_KEY, FLAG_REFRESH_ONLY,
};
use glance_protocol::{
    AgentStatus, Control, DisplayInfo, EndReason, Role, StartFailReason, StartSession,
};

struct Out {
    root: PathBuf,
}

impl Out {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
}

fn start_session(key: Option<&str>) -> Control {
    Control::StartSession(StartSession {
        group_id: 1,
        token: String::new(),
        key: key.map(str::to_string),
        visitor_id: None,
        name: "Ann Example".into(),
        email: "ann@example.com".into(),
        phone: "555-0100".into(),
        max_guests: 0,
        persist: false,
        paused: false,
        main_call_id: 0,
        presence_start: false,
        display: DisplayInfo {
            name: "synthetic".into(),
            width: 16,
            height: 8,
        },
        previous_call_id: None,
    })
}

fn controls() -> Vec<(&'static str, Control)> {
    vec![
        (
            "hello",
            Control::Hello {
                role: Role::Visitor,
                min_version: 1,
                max_version: 1,
                client: "glance-visitor 0.1.0 (linux)".into(),
                sdk_version: String::new(),
            },
        ),
        (
            "welcome",
            Control::Welcome {
                version: 1,
                server: "glance-server 0.1.0".into(),
                min_version: 1,
                max_version: 1,
                sdk_latest: "0.1.0".into(),
            },
        ),
        ("start_session", start_session(Some("fz-1"))),
        ("start_session_random", start_session(None)),
        ("pause", Control::Pause { paused: true }),
        ("end_session", Control::EndSession),
        (
            "cursor",
            Control::Cursor {
                x: 3,
                y: 2,
                visible: true,
                shape: 7,
            },
        ),
        (
            "session_started",
            Control::SessionStarted {
                call_id: 42,
                key: "123456".into(),
                ssnid: "00000000deadbeef".into(),
                resume_token: Some("resume-token".into()),
            },
        ),
        (
            "start_failed",
            Control::StartFailed {
                reason: StartFailReason::InvalidKey,
                message: "the key is bad".into(),
            },
        ),
        ("guest_count", Control::GuestCount { count: 2 }),
        ("refresh_request", Control::RefreshRequest),
        ("ack", Control::Ack { seq: 9 }),
        (
            "join",
            Control::Join {
                key: "123456".into(),
                token: "dev".into(),
                group_id: Some(1),
            },
        ),
        ("leave", Control::Leave),
        (
            "joined",
            Control::Joined {
                call_id: 42,
                key: "123456".into(),
                ssnid: "00000000deadbeef".into(),
                group_id: 1,
                width: 16,
                height: 8,
                paused: false,
                guests: 1,
                visitor_version: "glance-visitor 0.1.0".into(),
                display_name: "synthetic".into(),
                agent: None,
                remote_assist: true,
                rc: false,
            },
        ),
        (
            "join_failed",
            Control::JoinFailed {
                status: AgentStatus::FailNoSession.code(),
                reason: "no session".into(),
            },
        ),
        ("paused", Control::Paused { paused: false }),
        (
            "session_ended",
            Control::SessionEnded {
                reason: EndReason::ThisSide,
                status: AgentStatus::SessionEndedQuit.code(),
                iserror: false,
                message: "the visitor ended the session \u{e9}\u{1F600}".into(),
            },
        ),
        (
            "agent_message",
            Control::AgentMessage {
                name: "requestRC".into(),
                properties: [("why".to_string(), "printer \u{e9}".to_string())]
                    .into_iter()
                    .collect(),
            },
        ),
        ("ping", Control::Ping { t: u64::MAX }),
        ("pong", Control::Pong { t: 1 }),
        (
            "error",
            Control::Error {
                code: "malformed".into(),
                message: "bad \"quoted\" \\ text\n".into(),
            },
        ),
    ]
}

/// A BGRX picture with few colours on the left and many on the right.
fn picture(w: u16, h: u16) -> Vec<u8> {
    let mut v = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let c = if x < w / 2 {
                [(x / 4 % 2) as u8 * 200, 10, 20]
            } else {
                [x as u8 * 13, y as u8 * 29, (x ^ y) as u8]
            };
            v.extend_from_slice(&[c[2], c[1], c[0], 0xFF]);
        }
    }
    v
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(data).expect("zlib into a Vec");
    z.finish().expect("zlib into a Vec")
}

/// Updates: (name, payload).
fn updates() -> Vec<(&'static str, Vec<u8>)> {
    let (w, h) = (16u16, 8u16);
    let pic = picture(w, h);
    let view = BgrxView {
        data: &pic,
        stride: w as usize * 4,
        width: w,
        height: h,
    };
    let mut enc = RectEncoder::new(1);
    let mut out = Vec::new();

    // A key frame: palette on the left, zlib on the right, a solid strip.
    let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 1, w, h);
    enc.encode(&view, Rect::new(0, 0, 8, 8), &mut wr);
    enc.encode(&view, Rect::new(8, 0, 8, 8), &mut wr);
    wr.push(Rect::new(0, 7, 16, 1), Encoding::Solid, &[1, 2, 3]);
    out.push(("key_palette_zlib_solid", wr.finish()));

    // A delta: copy (overlapping scroll) and solid.
    let mut wr = UpdateWriter::new(FLAG_FINAL, 2, w, h);
    wr.push(Rect::new(0, 0, 16, 6), Encoding::Copy, &[0, 0, 0, 2]);
    wr.push(Rect::new(2, 2, 3, 3), Encoding::Solid, &[9, 8, 7]);
    out.push(("delta_copy_solid", wr.finish()));

    // First message of a two-message frame, and a refresh-only key frame.
    let mut wr = UpdateWriter::new(0, 3, w, h);
    wr.push(Rect::new(4, 4, 2, 2), Encoding::Solid, &[0, 0, 0]);
    out.push(("delta_not_final", wr.finish()));
    let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_REFRESH_ONLY | FLAG_FINAL, 4, w, h);
    wr.push(Rect::new(0, 0, w, h), Encoding::Solid, &[255, 255, 255]);
    out.push(("key_refresh_only", wr.finish()));

    // A palette whose indices go past the palette (refused while drawing).
    let mut data = vec![1, 0, 0, 0, 255, 255, 255];
    data.extend_from_slice(&zlib(&[0, 1, 2, 1]));
    let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 5, 2, 2);
    wr.push(Rect::new(0, 0, 2, 2), Encoding::Palette, &data);
    out.push(("key_bad_palette_index", wr.finish()));

    // Zlib that inflates to too few bytes.
    let mut wr = UpdateWriter::new(FLAG_KEY | FLAG_FINAL, 6, 2, 2);
    wr.push(Rect::new(0, 0, 2, 2), Encoding::ZlibRgb, &zlib(&[7; 11]));
    out.push(("key_short_zlib", wr.finish()));

    // A copy from outside the picture.
    let mut wr = UpdateWriter::new(FLAG_FINAL, 7, w, h);
    wr.push(Rect::new(0, 0, 4, 4), Encoding::Copy, &[0, 14, 0, 0]);
    out.push(("delta_copy_out_of_bounds", wr.finish()));
    out
}

fn shapes() -> Vec<(&'static str, CursorShape)> {
    let rgba = |w: u16, h: u16| -> Vec<u8> {
        (0..w as usize * h as usize * 4)
            .map(|i| (i * 37 % 251) as u8)
            .collect()
    };
    vec![
        (
            "shape_1x1",
            CursorShape {
                id: 1,
                width: 1,
                height: 1,
                hot_x: 0,
                hot_y: 0,
                rgba: rgba(1, 1),
            },
        ),
        (
            "shape_7x5",
            CursorShape {
                id: 7,
                width: 7,
                height: 5,
                hot_x: 6,
                hot_y: 4,
                rgba: rgba(7, 5),
            },
        ),
        (
            "shape_32x32",
            CursorShape {
                id: u32::MAX,
                width: 32,
                height: 32,
                hot_x: 3,
                hot_y: 1,
                rgba: rgba(32, 32),
            },
        ),
    ]
}

fn control_json(out: &Out) {
    for (name, c) in controls() {
        out.put("control_json", name, c.to_json().as_bytes());
    }
    out.put(
        "control_json",
        "unknown_field",
        br#"{"type":"cursor","x":1,"y":2,"visible":false,"shape":0,"later":[1,{"a":null}]}"#,
    );
    out.put("control_json", "unknown_type", br#"{"type":"nope"}"#);
}

fn ws_binary(out: &Out) {
    for (name, c) in controls().into_iter().take(6) {
        let mut b = vec![Kind::Control as u8];
        b.extend_from_slice(c.to_json().as_bytes());
        out.put("ws_binary", &format!("control_{name}"), &b);
    }
    for (name, u) in updates().into_iter().take(3) {
        let mut b = vec![Kind::Update as u8];
        b.extend_from_slice(&u);
        out.put("ws_binary", &format!("update_{name}"), &b);
    }
    for (name, s) in shapes().into_iter().take(2) {
        let mut b = vec![Kind::Cursor as u8];
        b.extend_from_slice(&s.encode());
        out.put("ws_binary", name, &b);
    }
    out.put("ws_binary", "unknown_kind", &[9, 1, 2]);
}

/// A visitor's whole session on the direct stream.
fn visitor_stream() -> Vec<u8> {
    let c = controls();
    let find = |n: &str| {
        c.iter()
            .find(|(name, _)| *name == n)
            .map(|(_, c)| c.clone())
            .expect("a seed control message")
    };
    let u = updates();
    let s = shapes();
    let mut b = Vec::new();
    b.extend(framing::encode_control(&find("hello")));
    b.extend(framing::encode_control(&find("start_session")));
    b.extend(framing::encode(Kind::Update, &u[0].1));
    b.extend(framing::encode(Kind::Cursor, &s[1].1.encode()));
    b.extend(framing::encode_control(&find("cursor")));
    // Frame 2 in two messages.
    let mut first = UpdateWriter::new(0, 2, 16, 8);
    first.push(Rect::new(4, 4, 2, 2), Encoding::Solid, &[0, 0, 0]);
    b.extend(framing::encode(Kind::Update, &first.finish()));
    b.extend(framing::encode(Kind::Update, &u[1].1));
    b.extend(framing::encode(Kind::Cursor, &s[0].1.encode()));
    b.extend(framing::encode_control(&Control::Cursor {
        x: 0,
        y: 0,
        visible: false,
        shape: 1,
    }));
    b.extend(framing::encode_control(&Control::Pause { paused: true }));
    b.extend(framing::encode(Kind::Update, &u[1].1));
    b.extend(framing::encode_control(&Control::Pause { paused: false }));
    b.extend(framing::encode(Kind::Update, &u[3].1));
    b.extend(framing::encode_control(&find("pong")));
    b.extend(framing::encode_control(&find("end_session")));
    b
}

fn direct_framing(out: &Out) {
    let stream = visitor_stream();
    let with = |sizes: &[u8], tail: &[u8]| {
        let mut b = vec![sizes.len() as u8];
        b.extend_from_slice(sizes);
        b.extend_from_slice(tail);
        b
    };
    out.put("direct_framing", "session_whole", &with(&[], &stream));
    out.put(
        "direct_framing",
        "session_chunks",
        &with(&[3, 1, 7, 0, 2], &stream),
    );
    out.put(
        "direct_framing",
        "session_cut_in_payload",
        &with(&[5], &stream[..stream.len() - 3]),
    );
    out.put("direct_framing", "cut_in_header", &with(&[1], &stream[..3]));
    let mut big = vec![0, 1, 0, 1, 1];
    big.extend_from_slice(b"{}");
    out.put("direct_framing", "control_too_large", &with(&[], &big));
    let mut bad = framing::encode(Kind::Control, br#"{"type":"pause"}"#);
    bad.extend(framing::encode(Kind::Cursor, &[0; 12]));
    out.put("direct_framing", "control_malformed", &with(&[2], &bad));
}

fn frame_update(out: &Out) {
    for (i, (name, u)) in updates().into_iter().enumerate() {
        // Setup byte: 0 no picture, 1 another size, 2 same size, 3 same size and twice.
        let mut b = vec![[0u8, 2, 3, 1][i % 4] | (i as u8) << 2];
        b.extend_from_slice(&u);
        out.put("frame_update", name, &b);
    }
}

fn cursor_shape(out: &Out) {
    for (name, s) in shapes() {
        out.put("cursor_shape", name, &s.encode());
    }
    let mut hot = shapes()[1].1.encode();
    hot[8..10].copy_from_slice(&7u16.to_be_bytes());
    out.put("cursor_shape", "hot_spot_outside", &hot);
}

fn http_response(out: &Out) {
    let json = br#"{"direct":"127.0.0.1:8444","tunnel":"wss://127.0.0.1:8443/ws/visitor","min_version":1,"max_version":1,"server":"glance-server 0.1.0"}"#;
    let mut ok = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n",
        json.len()
    )
    .into_bytes();
    ok.extend_from_slice(json);
    out.put("http_response", "ok", &ok);
    out.put(
        "http_response",
        "not_found",
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 29\r\n\r\n{\"error\":\"unknown group 7\"}xx",
    );
    out.put(
        "http_response",
        "no_length",
        b"HTTP/1.0 503 Service Unavailable\r\n\r\n{\"error\":\"busy\"}",
    );
}

fn visitor_config_query(out: &Out) {
    for (name, q) in [
        ("group_1", "groupid=1"),
        ("group_big", "groupid=4000000000"),
        ("group_spaces", "groupid=%201%20"),
        ("group_unknown", "groupid=2"),
        ("group_missing", "other=1"),
        ("group_not_a_number", "groupid=one"),
        ("group_twice", "a=b&groupid=1&groupid=7"),
        ("empty", ""),
    ] {
        out.put("visitor_config_query", name, q.as_bytes());
    }
}

fn relay_visitor(out: &Out) {
    let stream = visitor_stream();
    // [agent 1 joins after message n] [agent 2's index | queue bound index << 4] stream
    for (name, first, opts) in [
        ("agents_early_big_queues", 1u8, 0x33u8),
        ("agents_early_tiny_queues", 1, 0x02),
        ("agent_mid_frame", 5, 0x1f),
        ("no_agent", 255, 0x3f),
    ] {
        let mut b = vec![first, opts];
        b.extend_from_slice(&stream);
        out.put("relay_visitor", name, &b);
    }
    let mut b = vec![0, 0x30];
    b.extend(framing::encode_control(&Control::Hello {
        role: Role::Agent,
        min_version: 1,
        max_version: 1,
        client: String::new(),
        sdk_version: String::new(),
    }));
    out.put("relay_visitor", "wrong_role", &b);
}

/// The header of an ffi_strings input (see that target's documentation).
fn ffi_header(group: u32, scale: f32, flags: u8, null_mask: u16, index: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&group.to_be_bytes());
    b.extend_from_slice(&scale.to_bits().to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.push(flags);
    b.extend_from_slice(&null_mask.to_be_bytes());
    b.extend_from_slice(&index.to_be_bytes());
    b.extend_from_slice(&8u32.to_be_bytes());
    b.extend_from_slice(&12345u32.to_be_bytes());
    b.push(0);
    b.push(0);
    b
}

fn ffi_strings(out: &Out) {
    let strings = |s: &[&[u8]]| s.join(&0u8);
    let good: &[&[u8]] = &[
        b"token",
        b"Ann",
        b"ann@example.com",
        b"555",
        b"cust-42",
        b"https://127.0.0.1:9",
        b"",
        b"my.key_1",
        b"main",
        b"",
        b"sessionkey",
    ];
    let mut b = ffi_header(1, 1.0, 0, 0, 0);
    b.extend(strings(good));
    out.put("ffi_strings", "all_good", &b);

    let mut bad = good.to_vec();
    bad[1] = b"Ann \xff\xfe";
    bad[7] = b"\xc3\x28";
    let mut b = ffi_header(1, 1.0, 0, 0, 0);
    b.extend(strings(&bad));
    out.put("ffi_strings", "invalid_utf8", &b);

    let long = vec![b'a'; 1100];
    let mut over = good.to_vec();
    over[2] = &long;
    over[7] = b"GLANCE_KEYTYPE_RANDOM";
    let mut b = ffi_header(7, 0.5, 2, 0, 3);
    b.extend(strings(&over));
    out.put("ffi_strings", "over_long_random_key", &b);

    let mut b = ffi_header(0, f32::NAN, 0x3f, 0b101_0101_0101, 0xffff);
    b.extend(strings(good));
    out.put("ffi_strings", "nulls_and_bad_numbers", &b);
}

fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("fuzz/corpus").to_path_buf());
    let out = Out { root };
    control_json(&out);
    ws_binary(&out);
    direct_framing(&out);
    frame_update(&out);
    cursor_shape(&out);
    http_response(&out);
    visitor_config_query(&out);
    relay_visitor(&out);
    ffi_strings(&out);
}
