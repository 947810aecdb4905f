//! Owns the visitor's HTTP/1.x response reader, `transport::http::parse_response`, which reads
//! the discovery answer (`/api/visitor/config`) from the network. Checks that an accepted
//! response's status is the status line's and its body is the bytes after the headers, cut
//! to Content-Length when one is given.
#![no_main]

use glance_visitor::transport::http::parse_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((status, body)) = parse_response(data) else {
        return;
    };
    let end = match data.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(e) => e,
        None => panic!("a response without the end of its headers was accepted"),
    };
    let after = &data[end + 4..];
    assert!(
        after.starts_with(&body),
        "the body is not what follows the headers"
    );
    let head = match std::str::from_utf8(&data[..end]) {
        Ok(h) => h,
        Err(_) => panic!("headers that are not UTF-8 were accepted"),
    };
    let status_line = head.split("\r\n").next().unwrap_or_default();
    assert_eq!(
        status_line.split(' ').nth(1).map(str::parse::<u16>),
        Some(Ok(status))
    );
    let lengths: Vec<&str> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim())
        .collect();
    match lengths.last() {
        None => assert_eq!(body.len(), after.len()),
        Some(_) => {
            let smallest = lengths.iter().filter_map(|v| v.parse::<usize>().ok()).min();
            assert_eq!(Some(body.len()), smallest);
        }
    }
});
