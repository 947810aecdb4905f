//! Agent authorization for Glance (docs/AUTH.md is the contract):
//!
//! - [`loginkey`]: login keys, an expiring HMAC-SHA256 signature over a partner id and a
//!   partner user id made with the group's API key. Integrators sign them on their own server;
//!   glance-server verifies them.
//! - [`jwt`]: the group-specific authorization token (HS256 JSON Web Token, at most 120
//!   minutes) that glance-server issues for valid credentials and checks on every agent
//!   request.

pub mod jwt;
pub mod loginkey;

pub use jwt::{Claims, JwtKey, AUD_AGENT, AUD_JOIN, ISSUER, MAX_TOKEN_LEN};
pub use loginkey::{sign_login_key, verify_login_key, LOGIN_KEY_VERSION, MAX_LOGIN_KEY_LEN};

/// Why credentials or a token were refused. The server answers every variant the same way
/// (401 "unauthorized"); the variants exist for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("unsupported version or algorithm")]
    Unsupported,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("issued for another audience")]
    WrongAudience,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
