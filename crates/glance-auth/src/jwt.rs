//! The authorization token: a JSON Web Token signed with HMAC-SHA256 (`alg` HS256 only; a
//! token naming any other algorithm, `none` included, is refused before its signature is
//! looked at). [`Claims`] lists what it says; [`JwtKey`] signs and verifies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// `iss` of every token glance-server issues.
pub const ISSUER: &str = "glance-server";
/// `aud` of an agent's authorization token (from `POST /api/auth/token`).
pub const AUD_AGENT: &str = "glance-agent";
/// `aud` of a join ticket: good for one session key only (the `agentjoinurl` of a lookup).
pub const AUD_JOIN: &str = "glance-join";
/// Longest token accepted.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated for `iat`.
const LEEWAY_SECS: u64 = 60;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a token says about its agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The partner user id.
    pub sub: String,
    /// The group the token is good for.
    pub grp: u32,
    /// The partner id the agent signed in with.
    pub pid: u32,
    /// The agent's role in the group.
    pub role: String,
    /// Whether the role may take remote control (seed 003 role setting `remoteAssist`).
    pub ra: bool,
    /// Display name (may be empty).
    #[serde(default)]
    pub name: String,
    pub iat: u64,
    pub exp: u64,
    /// Join tickets only: the one session key they open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

/// An HS256 signing and verifying key.
pub struct JwtKey(hmac::Key);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(..)")
    }
}

impl JwtKey {
    pub fn new(secret: &[u8]) -> JwtKey {
        JwtKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The compact serialization of `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let tag = hmac::sign(&self.0, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks the signature, the issuer, the audience and the time window; returns the claims.
    pub fn verify(&self, token: &str, audience: &str, now: u64) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("not three dot-separated parts"));
        };
        let header: Header = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AuthError::Malformed("bad header"))?;
        if header.alg != "HS256" || header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return Err(AuthError::Unsupported);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| AuthError::Malformed("signature is not base64url"))?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        hmac::verify(&self.0, signing_input.as_bytes(), &sig)
            .map_err(|_| AuthError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AuthError::Malformed("bad claims"))?;
        if claims.iss != ISSUER || claims.aud != audience {
            return Err(AuthError::WrongAudience);
        }
        if claims.exp <= now {
            return Err(AuthError::Expired);
        }
        if claims.iat > now + LEEWAY_SECS {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, iat: u64, exp: u64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            aud: aud.into(),
            sub: "alice".into(),
            grp: 7,
            pid: 7,
            role: "agent".into(),
            ra: true,
            name: "Alice A".into(),
            iat,
            exp,
            key: None,
        }
    }

    #[test]
    fn round_trip_and_window() {
        let k = JwtKey::new(b"0123456789abcdef0123456789abcdef");
        let c = claims(AUD_AGENT, 1_000, 2_000);
        let t = k.sign(&c);
        assert_eq!(k.verify(&t, AUD_AGENT, 1_500), Ok(c));
        assert_eq!(k.verify(&t, AUD_AGENT, 2_000), Err(AuthError::Expired));
        assert_eq!(k.verify(&t, AUD_AGENT, 900), Err(AuthError::NotYetValid));
        assert_eq!(k.verify(&t, AUD_JOIN, 1_500), Err(AuthError::WrongAudience));
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let k = JwtKey::new(b"0123456789abcdef0123456789abcdef");
        let other = JwtKey::new(b"another secret, just as long ...");
        let t = other.sign(&claims(AUD_AGENT, 1_000, 2_000));
        assert_eq!(k.verify(&t, AUD_AGENT, 1_500), Err(AuthError::BadSignature));

        // Claims swapped under a valid signature.
        let good = k.sign(&claims(AUD_AGENT, 1_000, 2_000));
        let mut evil = claims(AUD_AGENT, 1_000, 2_000);
        evil.grp = 8;
        let evil_payload = k.sign(&evil);
        let spliced: Vec<&str> = good.split('.').collect();
        let evil_parts: Vec<&str> = evil_payload.split('.').collect();
        let t = format!("{}.{}.{}", spliced[0], evil_parts[1], spliced[2]);
        assert_eq!(k.verify(&t, AUD_AGENT, 1_500), Err(AuthError::BadSignature));

        // alg none, with or without a signature.
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let t = format!("{none}.{}.", spliced[1]);
        assert_eq!(k.verify(&t, AUD_AGENT, 1_500), Err(AuthError::Unsupported));

        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"x".repeat(5000)] {
            assert!(k.verify(junk, AUD_AGENT, 1_500).is_err(), "{junk:.20}");
        }
    }
}
