//! Login keys: `$1$<expires>$<signature>`.
//!
//! `expires` is a Unix time in seconds (decimal, no sign, no leading zeros); `signature` is
//! the base64url encoding without padding of
//! `HMAC-SHA256(key = the group's API key as UTF-8, message = "<partnerid>|<partneruserid>|<expires>")`,
//! where `partnerid` is the decimal group id. The API key never leaves the integrator's
//! server; the login key is good until `expires` for that one partner user.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

use crate::AuthError;

/// The only version this crate signs and accepts.
pub const LOGIN_KEY_VERSION: u32 = 1;
/// Longest login key accepted (the real ones are about 60 characters).
pub const MAX_LOGIN_KEY_LEN: usize = 256;

fn message(partner_id: u32, partner_user_id: &str, expires: u64) -> String {
    format!("{partner_id}|{partner_user_id}|{expires}")
}

/// Signs a login key for `partner_user_id` of group `partner_id`, valid until `expires`
/// (Unix seconds).
pub fn sign_login_key(
    api_key: &str,
    partner_id: u32,
    partner_user_id: &str,
    expires: u64,
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes());
    let tag = hmac::sign(
        &key,
        message(partner_id, partner_user_id, expires).as_bytes(),
    );
    format!(
        "${LOGIN_KEY_VERSION}${expires}${}",
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    )
}

/// Checks `login_key` for `partner_user_id` of group `partner_id` against the group's
/// `api_key` at time `now`. Returns the key's expiry.
pub fn verify_login_key(
    api_key: &str,
    partner_id: u32,
    partner_user_id: &str,
    login_key: &str,
    now: u64,
) -> Result<u64, AuthError> {
    if login_key.len() > MAX_LOGIN_KEY_LEN {
        return Err(AuthError::Malformed("login key too long"));
    }
    let mut parts = login_key.split('$');
    let (Some(""), Some(version), Some(expires), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AuthError::Malformed("not $version$expires$signature"));
    };
    if version != LOGIN_KEY_VERSION.to_string() {
        return Err(AuthError::Unsupported);
    }
    let canonical = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    if !canonical(expires) {
        return Err(AuthError::Malformed("expires is not a decimal number"));
    }
    let expires: u64 = expires
        .parse()
        .map_err(|_| AuthError::Malformed("expires is out of range"))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| AuthError::Malformed("signature is not base64url"))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes());
    hmac::verify(
        &key,
        message(partner_id, partner_user_id, expires).as_bytes(),
        &sig,
    )
    .map_err(|_| AuthError::BadSignature)?;
    if expires <= now {
        return Err(AuthError::Expired);
    }
    Ok(expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "group-api-key-0123456789";

    #[test]
    fn round_trip_and_expiry() {
        let k = sign_login_key(KEY, 7, "alice", 2_000);
        assert!(k.starts_with("$1$2000$"), "{k}");
        assert_eq!(verify_login_key(KEY, 7, "alice", &k, 1_999), Ok(2_000));
        assert_eq!(
            verify_login_key(KEY, 7, "alice", &k, 2_000),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn known_vector() {
        // The same vector is checked against the JS signer (sdk/js/glance-loginkey.mjs).
        assert_eq!(
            sign_login_key("secret", 1, "u", 1_700_000_000),
            "$1$1700000000$z2HKQgjGjNrAz__ePFzRsMHLv7Ny0cLhRg44K7tbB0Y"
        );
    }

    #[test]
    fn anything_changed_is_refused() {
        let k = sign_login_key(KEY, 7, "alice", 2_000);
        let bad = |key: &str, pid: u32, user: &str, lk: &str| {
            verify_login_key(key, pid, user, lk, 1_000).unwrap_err()
        };
        assert_eq!(bad("other", 7, "alice", &k), AuthError::BadSignature);
        assert_eq!(bad(KEY, 8, "alice", &k), AuthError::BadSignature);
        assert_eq!(bad(KEY, 7, "alicE", &k), AuthError::BadSignature);
        // A later expiry with the old signature.
        let stretched = k.replacen("$2000$", "$9000$", 1);
        assert_eq!(bad(KEY, 7, "alice", &stretched), AuthError::BadSignature);
        // One flipped signature character.
        let mut t = k.clone().into_bytes();
        let last = t.len() - 2;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(t).unwrap();
        assert!(verify_login_key(KEY, 7, "alice", &tampered, 1_000).is_err());
        for junk in [
            "",
            "$1$",
            "$2$2000$abc",
            "1$2000$abc",
            "$1$02000$abc",
            "$1$-5$abc",
            "$1$20$ab$c",
            "$1$2000$***",
        ] {
            assert!(
                verify_login_key(KEY, 7, "alice", junk, 1_000).is_err(),
                "{junk}"
            );
        }
        assert!(verify_login_key(KEY, 7, "alice", &"x".repeat(300), 1_000).is_err());
    }
}
