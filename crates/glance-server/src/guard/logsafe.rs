//! What the log may say about what a client sent: never a secret (tokens, API keys, login
//! keys, passwords, resume tokens: redacted by field name in JSON and by shape anywhere else),
//! never more than [`LOGGED_TEXT`] characters of it, always escaped (no control characters or
//! terminal escapes reach the log), and protocol errors at most [`PROTOCOL_LOGS_PER_SEC`] a
//! second in all, so that a client cannot grow the log at speed. Session keys are kept: they
//! are how an operator finds a session, and they give no access without an agent token.

use std::sync::Mutex;
use std::time::Instant;

/// Characters of a client's text the log keeps.
pub const LOGGED_TEXT: usize = 160;
/// Protocol-error lines the whole server writes per second (after a burst of
/// [`PROTOCOL_LOG_BURST`]); the rest are counted and reported with the next line.
pub const PROTOCOL_LOGS_PER_SEC: f64 = 20.0;
pub const PROTOCOL_LOG_BURST: f64 = 100.0;

const REDACTED: &str = "<redacted>";

/// Field names whose values are secrets.
fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "loginkey",
        "login_key",
        "authorization",
        "ticket",
        "credential",
        "jwt",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Whether a word looks like a secret: a JWT (three base64url parts), or a long run of
/// letters and digits such as the service's 32-character tokens and API keys.
fn looks_secret(word: &str) -> bool {
    let b64 = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'=')
    };
    let parts: Vec<&str> = word.split('.').collect();
    if parts.len() == 3 && word.len() >= 20 && parts.iter().all(|p| b64(p)) {
        return true;
    }
    word.len() >= 24
        && b64(word)
        && word.bytes().any(|c| c.is_ascii_digit())
        && word.bytes().any(|c| c.is_ascii_alphabetic())
}

/// Replaces secret-shaped words of free text.
fn scrub_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_secret(word) {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '.') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn redact_value(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_field(k) && !v.is_null() {
                    *v = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_value(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_value),
        serde_json::Value::String(s) => *s = scrub_words(s),
        _ => {}
    }
}

/// `s` cut to `max` characters (with the length it had) and escaped.
pub fn snippet(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push_str(&format!("... ({} bytes in all)", s.len()));
            return out;
        }
        out.extend(c.escape_debug());
    }
    out
}

/// A client's text as the log may show it: secrets redacted, cut, escaped.
pub fn redact(s: &str) -> String {
    // Only a text that could be a whole JSON message is parsed (bounded by the message
    // limits of every socket).
    let cleaned = match serde_json::from_str::<serde_json::Value>(s) {
        Ok(mut v) if v.is_object() || v.is_array() => {
            redact_value(&mut v);
            v.to_string()
        }
        _ => scrub_words(s),
    };
    snippet(&cleaned, LOGGED_TEXT)
}

struct Bucket {
    tokens: f64,
    at: Instant,
    suppressed: u64,
}

static PROTOCOL_LOG: Mutex<Option<Bucket>> = Mutex::new(None);

/// Whether a protocol-error line may be written now; `Some(n)` with the number of lines
/// suppressed since the last one written.
pub fn protocol_log_allowed() -> Option<u64> {
    let mut g = PROTOCOL_LOG.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let b = g.get_or_insert(Bucket {
        tokens: PROTOCOL_LOG_BURST,
        at: now,
        suppressed: 0,
    });
    b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * PROTOCOL_LOGS_PER_SEC)
        .min(PROTOCOL_LOG_BURST);
    b.at = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        Some(std::mem::take(&mut b.suppressed))
    } else {
        b.suppressed += 1;
        None
    }
}

/// Logs a client's protocol error at info level, through the limiter; `what` is ours, the
/// `detail` may hold client bytes and is redacted.
pub fn log_protocol_error(who: &str, code: &str, detail: &str) {
    if let Some(suppressed) = protocol_log_allowed() {
        let more = if suppressed > 0 {
            format!(" ({suppressed} more protocol errors not logged)")
        } else {
            String::new()
        };
        log::info!("{who}: protocol error ({code}): {}{more}", redact(detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJncnAiOjF9.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn secrets_never_survive() {
        let msg = format!(r#"{{"type":"join","key":"123456","token":"{JWT}","group_id":"x"}}"#);
        let r = redact(&msg);
        assert!(
            !r.contains(JWT) && r.contains("123456") && r.contains(REDACTED),
            "{r}"
        );
        // serde's error text echoes the wrong-typed value: scrubbed by shape.
        let e = format!("invalid type: string \"{JWT}\", expected u32 at line 1 column 9");
        assert!(!redact(&e).contains("eyJ"), "{}", redact(&e));
        let api = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";
        assert!(!redact(&format!("apikey {api} refused")).contains(api));
        let nested = r#"{"a":[{"loginKey":"$1$x$y"}],"password":"hunter2"}"#;
        let r = redact(nested);
        assert!(!r.contains("hunter2") && !r.contains("$1$x$y"), "{r}");
    }

    #[test]
    fn cut_and_escaped() {
        let long = "a".repeat(60_000);
        let r = redact(&long);
        assert!(r.len() < 250, "{}", r.len());
        assert!(r.contains("60000 bytes"));
        let r = redact("bad\u{1b}[31m\nline");
        assert!(!r.contains('\u{1b}') && !r.contains('\n'), "{r}");
    }

    #[test]
    fn the_limiter_counts_what_it_drops() {
        let mut allowed = 0;
        for _ in 0..1000 {
            if protocol_log_allowed().is_some() {
                allowed += 1;
            }
        }
        assert!(allowed <= PROTOCOL_LOG_BURST as usize + 5, "{allowed}");
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert!(protocol_log_allowed().is_some_and(|n| n > 0));
    }
}
